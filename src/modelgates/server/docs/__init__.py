"""The documentation, served: pages at ``/docs`` and an MCP server at ``/docs/_mcp/server``.

``pages`` finds and parses the Markdown (README, docs/, the API reference from ``reference``),
``markdown`` renders it, ``search`` indexes it, ``mcp_server`` exposes it to AI clients and
``endpoint`` mounts that in the app without importing ``mcp`` until it is asked for.
"""
