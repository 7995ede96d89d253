"""The callbacks the SDK accepts: a native app's own scheme and anything whose host only a browser's
parser (the server's) can judge; it refuses what is surely wrong, without a URL parser of its
own."""

from __future__ import annotations

import subprocess
import sys
from urllib.parse import parse_qs, urlsplit

import pytest

from modelgates import ModelGates, RequestValidationError
from tests.sdk.data import CHALLENGE


@pytest.mark.parametrize(
    "callback_url",
    [
        "vscode://saoudrizwan.claude-dev/openrouter",
        "cursor://rooveterinaryinc.roo-cline/openrouter?x=1",
        "com.example.app:/oauth2redirect/example-provider",
        # Only the server knows whether its operator allows private-network callbacks ...
        "http://192.168.1.20:8000/oauth/callback",
        "http://[fd00::20]:8000/cb",
        # ... and only a browser's parser says where these go (127.0.0.1, localhost).
        "http://0x7f.1:8000/cb",
        "http://local%68ost:8000/cb",
    ],
)
def test_the_sdk_leaves_what_needs_a_browsers_parser_to_the_server(callback_url: str) -> None:
    url = ModelGates().o_auth.create_authorization_url(
        callback_url, code_challenge=CHALLENGE, code_challenge_method="S256"
    )
    assert parse_qs(urlsplit(url).query)["callback_url"] == [callback_url]


@pytest.mark.parametrize(
    "callback_url",
    [
        "http://myapp.example/cb",
        "http://localhost.evil.example/cb",
        "javascript:alert(1)",
        "INTENT://scan/;scheme=zxing;end",
        "ms-msdt:/id?PCWDiagnostic",
        "data:text/html,hi",
        "vscode://user@saoudrizwan.claude-dev/cb",
        "vscode://saoudrizwan.claude-dev/cb#frag",
        "https:app.example/cb",
    ],
)
def test_the_sdk_refuses_what_is_surely_no_callback(callback_url: str) -> None:
    with pytest.raises(RequestValidationError) as caught:
        ModelGates().o_auth.create_authorization_url(callback_url)
    assert "callback_url" in str(caught.value)
    assert callback_url not in str(caught.value)


def test_the_sdk_needs_no_url_parser_of_the_servers() -> None:
    # ada is the server's; with it unimportable, the SDK builds and checks consent URLs alike.
    script = (
        "import sys; sys.modules['ada_url'] = None\n"
        "from modelgates import ModelGates\n"
        "print(ModelGates().o_auth.create_authorization_url('vscode://a.b/cb'))\n"
        "import modelgates.models.endpoints, modelgates.funcs.o_auth\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "callback_url=vscode%3A%2F%2Fa.b%2Fcb" in done.stdout
