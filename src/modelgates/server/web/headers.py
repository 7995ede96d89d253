"""Headers every page carries (everything outside ``/api/``); ``outer.OuterLayer`` adds them.

No page may be cached (they show keys, codes and CSRF tokens), leak its URL to the next site
(``/auth``'s query names the app's callback), be framed (clickjacking the Approve button) or load
anything from another origin.
"""

from __future__ import annotations

#: The pages' Content-Security-Policy; a page may widen ``form-action`` (see :func:`csp`).
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)

#: Set on every page, whatever the page set.
PAGE_HEADERS = (
    (b"cache-control", b"no-store"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
)
#: Set on a page that did not set its own (the consent page widens ``form-action``).
PAGE_DEFAULT_HEADERS = ((b"content-security-policy", CSP.encode("latin-1")),)


def csp(form_action: str | None = None, *, scripts: bool = False) -> str:
    """The policy, with ``form-action`` also allowing ``form_action`` (a source expression),
    and with ``scripts``, the site's own script files (never inline code)."""
    policy = CSP
    if form_action is not None:
        policy = policy.replace("form-action 'self'", f"form-action 'self' {form_action}")
    if scripts:
        policy = policy.replace("style-src", "script-src 'self'; style-src")
    return policy
