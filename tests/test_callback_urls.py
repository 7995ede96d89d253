"""The callback URL rules, read as a browser reads a URL: the wire model's checks (which the SDK
runs too), then the server's WHATWG reading (ada), on the cases where Python's ``urllib.parse``
and a browser disagree."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from pydantic import TypeAdapter, ValidationError

from modelgates.models.callbacks import REFUSED_SCHEMES
from modelgates.models.oauth import CallbackUrl
from modelgates.server.services import apps, callbacks

_MODEL: TypeAdapter[str] = TypeAdapter(CallbackUrl)


def verdict(url: str, *, allow_private_http: bool = False) -> tuple[str, str]:
    """``(kind, origin)`` of an accepted callback, or ``("refused", message)``: what the API
    and the consent page decide."""
    try:
        _MODEL.validate_python(url)
    except ValidationError as error:
        (item,) = error.errors(include_input=False, include_url=False)
        return "refused", item["msg"]
    try:
        callback = callbacks.read(url, allow_private_http=allow_private_http)
    except callbacks.CallbackRefused as refused:
        return "refused", str(refused)
    return callback.kind, callback.origin


# (url, what urllib.parse says the host is, what a browser does: the kind and origin it visits,
# or None where a browser refuses the URL, or where it would visit a host we do not send codes to)
DISAGREEMENTS: list[tuple[str, str | None, tuple[str, str] | None]] = [
    # urllib: host "::1", loopback. A browser: no valid URL ("]" must end the host).
    ("http://[::1]evil.example/cb", "::1", None),
    # urllib: host "v1.secret". A browser: IPvFuture is no host it can visit.
    ("https://[v1.secret]/cb", "v1.secret", None),
    ("https://[::1%2]/cb", "::1%2", None),
    ("http://[fe80::1%25eth0]/cb", "fe80::1%25eth0", None),
    # urllib: the host "evil%2eexample"; a browser visits evil.example.
    ("https://evil%2eexample/cb", "evil%2eexample", ("web", "https://evil.example")),
    ("https://%65vil.example/cb", "%65vil.example", ("web", "https://evil.example")),
    ("https://EVIL.example:443/cb", "evil.example", ("web", "https://evil.example")),
    # A "/" or a NUL decoded into the host: no URL at all for a browser.
    ("https://evil.example%2f.app.example/cb", "evil.example%2f.app.example", None),
    ("https://evil.example%00.app.example/cb", "evil.example%00.app.example", None),
    # Numbers that end a host make it an IPv4 address, in any base, or nothing.
    ("https://1.2.3.4.5/cb", "1.2.3.4.5", None),
    ("https://999.1.1.1/cb", "999.1.1.1", None),
    ("http://0x7f.1:8000/cb", "0x7f.1", ("loopback", "http://127.0.0.1:8000")),
    ("http://127.1/cb", "127.1", ("loopback", "http://127.0.0.1")),
    ("http://2130706433/cb", "2130706433", ("loopback", "http://127.0.0.1")),
    ("http://[0:0:0:0:0:0:0:1]:9/cb", "0:0:0:0:0:0:0:1", ("loopback", "http://[::1]:9")),
    ("http://local%68ost:5000/cb", "local%68ost", ("loopback", "http://localhost:5000")),
    # Loopback is what the browser visits, not what the text looks like.
    ("http://127.0.0.1.evil.example/cb", "127.0.0.1.evil.example", None),
    ("http://localhost%2eevil.example/cb", "localhost%2eevil.example", None),
]


@pytest.mark.parametrize(("url", "urllib_host", "browser"), DISAGREEMENTS)
def test_callbacks_are_read_as_a_browser_reads_them(
    url: str, urllib_host: str | None, browser: tuple[str, str] | None
) -> None:
    assert urlsplit(url).hostname == urllib_host  # what the old reading believed
    kind, detail = verdict(url)
    if browser is None:
        assert kind == "refused", detail
        assert_says_nothing_of(url, detail)
    else:
        assert (kind, detail) == browser
        assert apps.identify(callback_url=url, title=None, categories=None).origin == browser[1]


def assert_says_nothing_of(url: str, message: str) -> None:
    host = url.partition("//")[2].split("/")[0]  # not urlsplit: it quotes a bad IPv6 host
    assert url not in message and (not host or host not in message), message
    for word in ("evil", "secret", "eth0", "999", "1.2.3.4.5"):
        assert word not in message, message


@pytest.mark.parametrize(
    "url",
    [
        "https://[2001:db8::zz]/cb",  # urllib's ipaddress error quoted the host
        "https://secret.example:99999/cb",
        "http://secret.example/cb",
        "https://user:secret@app.example/cb",
        "javascript:alert('secret')",
        "https://secret.example/cb#frag",
        "https://secret.example/ cb",
    ],
)
def test_refusals_never_echo_the_url(url: str) -> None:
    kind, message = verdict(url)
    assert kind == "refused"
    assert_says_nothing_of(url, message)


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        # Cline, Roo Code, Kilo Code: the editor's own scheme, an extension id as the authority.
        ("vscode://saoudrizwan.claude-dev/openrouter", "vscode://saoudrizwan.claude-dev"),
        ("cursor://RooVeterinaryInc.roo-cline/openrouter", "cursor://rooveterinaryinc.roo-cline"),
        ("windsurf://kilocode.kilo-code/openrouter?x=1", "windsurf://kilocode.kilo-code"),
        # RFC 8252 §7.1's own example: a reverse domain name, no authority.
        ("com.example.app:/oauth2redirect/example-provider", "com.example.app:"),
        ("VSCode://saoudrizwan.claude-dev/cb", "vscode://saoudrizwan.claude-dev"),
    ],
)
def test_a_native_apps_own_scheme_is_a_callback(url: str, origin: str) -> None:
    assert verdict(url) == ("native", origin)
    assert verdict(url, allow_private_http=True) == ("native", origin)


@pytest.mark.parametrize("scheme", sorted(REFUSED_SCHEMES))
def test_schemes_a_browser_handles_itself_are_refused_in_any_case(scheme: str) -> None:
    for written in (scheme, scheme.upper()):
        for url in (f"{written}://app.example/cb", f"{written}:alert(1)"):
            kind, message = verdict(url)
            assert kind == "refused", url
            assert "app.example" not in message and "alert" not in message


def test_the_contracts_scheme_list_is_all_refused() -> None:
    contract = "javascript data file blob about vbscript filesystem view-source intent ms-msdt"
    assert {*contract.split(), "ws", "wss", "ftp"} <= REFUSED_SCHEMES


@pytest.mark.parametrize(
    "url",
    [
        "vscode:",  # nothing after the scheme
        "vscode://u:p@saoudrizwan.claude-dev/cb",
        "vscode://@saoudrizwan.claude-dev/cb",
        "vscode://saoudrizwan.claude-dev:70000/cb",
        "vscode://saoudrizwan.claude-dev/cb#x",
        "1vscode://saoudrizwan.claude-dev/cb",
        "https:app.example/cb",  # a browser reads https://app.example/cb; we want it written so
        "https:///app.example/cb",
        "//app.example/cb",
    ],
)
def test_malformed_native_and_web_urls_are_refused(url: str) -> None:
    assert verdict(url)[0] == "refused"


PRIVATE = [
    ("http://192.168.1.20:8000/cb", "http://192.168.1.20:8000"),
    ("http://10.0.0.7/cb", "http://10.0.0.7"),
    ("http://172.16.0.1/cb", "http://172.16.0.1"),
    ("http://172.31.255.254/cb", "http://172.31.255.254"),
    ("http://169.254.10.20/cb", "http://169.254.10.20"),
    ("http://[fd12:3456:789a::1]:8080/cb", "http://[fd12:3456:789a::1]:8080"),
    ("http://[fe80::1]/cb", "http://[fe80::1]"),
    # Written as a browser reads them too: octal, and a trailing dot.
    ("http://0300.0250.1.20/cb", "http://192.168.1.20"),
    ("http://192.168.1.20./cb", "http://192.168.1.20"),
]


@pytest.mark.parametrize(("url", "origin"), PRIVATE)
def test_private_network_http_callbacks_only_where_the_operator_allows_them(
    url: str, origin: str
) -> None:
    kind, message = verdict(url)
    assert kind == "refused"
    assert "private-network" in message  # says what the operator could allow
    assert verdict(url, allow_private_http=True) == ("private_network", origin)


@pytest.mark.parametrize(
    "url",
    [
        "http://172.32.0.1/cb",  # just outside 172.16.0.0/12
        "http://100.64.0.1/cb",  # shared address space (RFC 6598) is not a private network
        "http://8.8.8.8/cb",
        "http://[2001:db8::1]/cb",
        "http://[::ffff:192.168.1.20]/cb",
        "http://192.168.1.20.nip.io/cb",  # a name, not an address: DNS decides where it goes
        "http://nas.local/cb",
    ],
)
def test_other_http_hosts_stay_refused_even_where_private_ones_are_allowed(url: str) -> None:
    assert verdict(url, allow_private_http=True)[0] == "refused"


def test_https_on_any_host_is_a_web_callback() -> None:
    assert verdict("https://192.168.1.20/cb") == ("web", "https://192.168.1.20")
    assert verdict("https://localhost:8443/cb") == ("loopback", "https://localhost:8443")
    assert verdict("https://app.example:8443/cb?next=/home") == (
        "web",
        "https://app.example:8443",
    )


def test_the_operators_commands_read_an_apps_url_as_the_consent_page_does() -> None:
    assert apps.origin_of("https://evil%2eexample/page") == "https://evil.example"
    assert apps.origin_of("http://[::1]evil.example/") is None
    assert apps.origin_of("vscode://saoudrizwan.claude-dev") == "vscode://saoudrizwan.claude-dev"
    assert apps.origin_of("http://192.168.1.20:8000/") == "http://192.168.1.20:8000"
    assert apps.origin_of("https://user@app.example/") is None
    assert apps.origin_of("javascript:alert(1)") is None
