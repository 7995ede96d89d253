"""The pages' routes, and nothing else: the handlers live in consent, sign_in, account and
docs."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from modelgates.server.web import account, consent, docs, sign_in, static
from modelgates.server.web.pages import page, post_only


def routes() -> list[BaseRoute]:
    acting = [("/sign-out", sign_in.sign_out), ("/account/keys", account.create_key)]
    # Revoking is a GET that asks, then the POST of the page it showed.
    revoking = [
        ("/account/keys/{hash}/revoke", account.confirm_revoke_key, account.revoke_key),
        ("/account/apps/{app_id}/revoke", account.confirm_revoke_app, account.revoke_app),
    ]
    return [
        Route("/", page(account.home), methods=["GET"]),
        Route("/auth", page(consent.auth_page), methods=["GET"]),
        Route("/auth", page(consent.auth_decide), methods=["POST"]),
        Route("/sign-in", page(sign_in.sign_in_page), methods=["GET"]),
        Route("/sign-in", page(sign_in.sign_in), methods=["POST"]),
        Route("/sign-up", page(sign_in.sign_up_page), methods=["GET"]),
        Route("/sign-up", page(sign_in.sign_up), methods=["POST"]),
        Route("/account", page(account.account_page), methods=["GET"]),
        *(Route(path, page(handler), methods=["POST"]) for path, handler in acting),
        *(Route(path, page(post_only), methods=["GET"]) for path, _ in acting),
        *(Route(path, page(ask), methods=["GET"]) for path, ask, _ in revoking),
        *(Route(path, page(act), methods=["POST"]) for path, _, act in revoking),
        Route("/docs", docs.index, methods=["GET"]),
        Route("/docs/_assets/{name}", docs.asset, methods=["GET"]),
        Route("/docs/{page}", docs.page, methods=["GET"]),
        Route("/static/modelgates.css", static.stylesheet, methods=["GET"]),
        Route("/static/copy.js", static.copy_script, methods=["GET"]),
    ]
