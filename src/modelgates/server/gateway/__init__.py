"""The gateway: the operator's providers and the relay to them.

Nothing here knows about money beyond calling :mod:`modelgates.server.services.ceiling`; nothing
here speaks HTTP to a client (the route in :mod:`modelgates.server.api.gateway` does).
"""
