"""The consent and account pages: server-rendered HTML, one stylesheet, no JavaScript needed
(one small script adds Copy buttons where it can)."""

from modelgates.server.web.routes import routes

__all__ = ["routes"]
