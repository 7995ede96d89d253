"""The account page over HTTP, on SQLite and PostgreSQL: a user sees, revokes and creates only
their own keys; and sign-up where the operator allows it."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Iterator

import httpx
import pytest

from modelgates import pkce
from modelgates.models.base import MAX_KEY_LABEL_LENGTH
from modelgates.server.settings import Settings
from tests.conftest import Account, LiveServer, free_port, new_account, start_server
from tests.server.pages import (
    PageClient,
    assert_loads_the_copy_script_only,
    auth_query,
    callback_params,
    csrf_of,
    fast_password_hashing,
)
from tests.server.test_audit import events_of


@pytest.fixture(scope="module", autouse=True)
def _fast_password_hashing() -> Iterator[None]:
    with fast_password_hashing():
        yield


@pytest.fixture(scope="module")
def user(live_server: LiveServer) -> Account:
    return new_account(live_server.database_url)


@pytest.fixture(scope="module")
def signed_in(live_server: LiveServer, user: Account) -> Iterator[PageClient]:
    client = PageClient(live_server.base_url).signed_in(user.email)
    yield client
    client.close()


def key_status(server: LiveServer, key: str) -> int:
    return server.client.get("/key", headers={"Authorization": f"Bearer {key}"}).status_code


def app_key(server: LiveServer, client: PageClient, callback: str, label: str) -> str:
    """A key issued to the app at ``callback``'s origin through the consent page."""
    verifier = pkce.create_verifier()
    query = auth_query(verifier, callback_url=callback, key_label=label, limit="4")
    approved = client.decide(query, "approve")
    assert approved.status_code == 303, approved.text
    code = re.search(r"[?&]code=([^&]+)", approved.headers["location"])
    assert code is not None
    exchanged = server.client.post(
        "/auth/keys",
        json={"code": code.group(1), "code_verifier": verifier, "code_challenge_method": "S256"},
    )
    assert exchanged.status_code == 200, exchanged.text
    key: str = exchanged.json()["key"]
    return key


def revoke_link(page: str, label: str) -> str:
    """Where the Revoke link in the row labelled ``label`` leads."""
    row = re.search(
        rf'<th scope="row" data-label="Label">{re.escape(label)}.*?href="([^"]+)"', page, re.S
    )
    assert row is not None, page
    return row.group(1)


def confirmation(client: PageClient, link: str) -> httpx.Response:
    """The page a Revoke link leads to, with its one form posting back to that address."""
    page = client.get(link)
    assert page.status_code == 200, page.text
    assert re.findall(r'<form method="post" action="([^"]+)"', page.text) == ["/sign-out", link]
    assert '<button type="submit" class="destructive">Revoke</button>' in page.text
    assert '<a class="button" href="/account">Cancel</a>' in page.text
    return page


def test_the_account_page_lists_the_users_keys_and_their_apps(
    live_server: LiveServer, signed_in: PageClient, user: Account
) -> None:
    app_key(live_server, signed_in, "https://listed.example/cb", "Listed key")
    stranger = new_account(live_server.database_url)
    page = signed_in.get("/account")
    assert page.status_code == 200
    assert user.email in page.text
    assert "Listed key" in page.text and "listed.example" in page.text
    assert "own key" in page.text  # the user's own key, made by the test fixture
    assert "$4" in page.text
    assert user.key not in page.text  # hashes in forms, never the keys
    assert stranger.key_hash not in page.text
    assert "Revoke<span" in page.text


def test_revoking_a_key_makes_it_401(
    live_server: LiveServer, signed_in: PageClient, user: Account
) -> None:
    key = app_key(live_server, signed_in, "https://revoked.example/cb", "Doomed key")
    assert key_status(live_server, key) == 200
    link = revoke_link(signed_in.get("/account").text, "Doomed key")
    page = confirmation(signed_in, link)
    assert key_status(live_server, key) == 200  # asking revokes nothing
    revoked = signed_in.post(link, {"csrf": csrf_of(page)})
    assert revoked.status_code == 303
    assert revoked.headers["location"] == "/account"
    assert key_status(live_server, key) == 401
    assert "Doomed key" not in signed_in.get("/account").text
    (event,) = events_of(
        live_server.database_url,
        event="key_deleted",
        key_hash=hashlib.sha256(key.encode()).hexdigest(),
    )
    assert (event["user_id"], event["detail"]) == (user.user_id, "account")


def test_the_confirmation_says_which_key_and_which_app(
    live_server: LiveServer, signed_in: PageClient
) -> None:
    key = app_key(live_server, signed_in, "https://named.example/cb", "Named key")
    page = confirmation(signed_in, revoke_link(signed_in.get("/account").text, "Named key"))
    assert "<h1>Revoke the key “Named key”?</h1>" in page.text
    assert '<span class="origin">https://named.example</span>' in page.text
    assert "<dd>$4</dd>" in page.text  # its limit
    assert key not in page.text
    assert key_status(live_server, key) == 200


def test_there_is_no_confirmation_for_a_key_one_cannot_revoke(
    live_server: LiveServer, signed_in: PageClient
) -> None:
    stranger = new_account(live_server.database_url)
    refused = signed_in.get(f"/account/keys/{stranger.key_hash}/revoke")
    assert refused.status_code == 404
    assert "Revoke</button>" not in refused.text
    key = app_key(live_server, signed_in, "https://gone.example/cb", "Gone key")
    link = revoke_link(signed_in.get("/account").text, "Gone key")
    page = confirmation(signed_in, link)
    assert signed_in.post(link, {"csrf": csrf_of(page)}).status_code == 303
    assert signed_in.get(link).status_code == 404  # revoked already
    assert signed_in.get("/account/apps/999999/revoke").status_code == 404
    assert key_status(live_server, key) == 401


def test_revoking_an_app_revokes_all_its_keys(
    live_server: LiveServer, signed_in: PageClient
) -> None:
    keys = [
        app_key(live_server, signed_in, "https://twice.example/cb", f"Twice {n}") for n in (1, 2)
    ]
    listed = signed_in.get("/account").text
    link = re.search(r'href="(/account/apps/\d+/revoke)">Revoke<span[^>]*> twice\.example', listed)
    assert link is not None, listed
    page = confirmation(signed_in, link.group(1))
    assert 'Revoke access for <span class="app">twice.example</span>?' in page.text
    assert "all 2 keys of yours" in page.text
    assert "Twice 1" in page.text and "Twice 2" in page.text
    assert [key_status(live_server, key) for key in keys] == [200, 200]
    assert signed_in.post(link.group(1), {"csrf": csrf_of(page)}).status_code == 303
    assert [key_status(live_server, key) for key in keys] == [401, 401]
    deleted = events_of(live_server.database_url, event="key_deleted", detail="account")
    hashes = {hashlib.sha256(key.encode()).hexdigest() for key in keys}
    assert hashes <= {event["key_hash"] for event in deleted}  # each key, in the audit trail


def test_another_users_key_cannot_be_revoked(
    live_server: LiveServer, signed_in: PageClient
) -> None:
    stranger = new_account(live_server.database_url)
    page = signed_in.get("/account")
    refused = signed_in.post(f"/account/keys/{stranger.key_hash}/revoke", {"csrf": csrf_of(page)})
    assert refused.status_code == 404
    assert key_status(live_server, stranger.key) == 200


def test_revoking_needs_the_csrf_token(
    live_server: LiveServer, signed_in: PageClient, user: Account
) -> None:
    refused = signed_in.post(f"/account/keys/{user.key_hash}/revoke", {"csrf": "0" * 64})
    assert refused.status_code == 403
    assert key_status(live_server, user.key) == 200


def test_a_management_key_of_ones_own_is_shown_once(
    live_server: LiveServer, signed_in: PageClient
) -> None:
    page = signed_in.get("/account")
    made = signed_in.post("/account/keys", {"csrf": csrf_of(page), "name": "Ops key"})
    assert made.status_code == 200, made.text
    found = re.search(r'id="key"[^>]*>(sk-mg-v1-[0-9a-f]{64})</textarea>', made.text)
    assert found is not None, made.text
    key = found.group(1)
    assert_loads_the_copy_script_only(made)
    assert 'data-copy="Copy key"' in made.text
    assert "script-src" not in signed_in.get("/account").headers["content-security-policy"]
    record = live_server.client.get("/key", headers={"Authorization": f"Bearer {key}"})
    assert record.json()["data"]["is_management_key"] is True
    assert record.json()["data"]["label"] == "Ops key"
    listed = signed_in.get("/account").text
    assert "Ops key" in listed and key not in listed


def test_a_management_key_needs_a_name(signed_in: PageClient) -> None:
    page = signed_in.get("/account")
    refused = signed_in.post("/account/keys", {"csrf": csrf_of(page), "name": "  "})
    assert refused.status_code == 400
    assert "The name must be 1 to 100 printable characters." in refused.text


def test_signed_out_the_account_page_asks_to_sign_in_and_forms_do_nothing(
    live_server: LiveServer, user: Account
) -> None:
    client = PageClient(live_server.base_url)
    page = client.get("/account")
    assert ">Sign in</button>" in page.text
    assert 'name="next" value="/account"' in page.text
    refused = client.post(f"/account/keys/{user.key_hash}/revoke", {"csrf": csrf_of(page)})
    assert refused.status_code == 403
    asked = client.get(f"/account/keys/{user.key_hash}/revoke")
    assert ">Sign in</button>" in asked.text and "own key" not in asked.text
    assert key_status(live_server, user.key) == 200
    client.close()


# --- sign-up, where the operator allows it ----------------------------------------------------


@pytest.fixture
def open_server(new_database: Callable[[str], str]) -> Iterator[str]:
    """A server with sign-up on (SQLite: the setting, not the database, is under test), one a
    test, so that each has the 10 sign-ups an hour of its address."""
    port = free_port()
    url = new_database("sqlite")
    server, thread = start_server(
        Settings(database_url=url, host="127.0.0.1", port=port, allow_signup=True)
    )
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_sign_up_creates_an_account_then_the_owner_signs_in(open_server: str) -> None:
    client = PageClient(open_server)
    query = auth_query()
    sign_in = client.get(f"/auth?{query}")
    assert "Create an account" in sign_in.text
    form = client.get("/sign-up", params={"next": f"/auth?{query}"})
    assert '<label for="email">Email</label>' in form.text
    made = client.post(
        "/sign-up",
        {
            "csrf": csrf_of(form),
            "email": "New.Person@Example.com",
            "password": "a long password",
            "next": f"/auth?{query}",
        },
    )
    # The sign-in form, whatever became of the address (so the answer tells no one).
    assert made.status_code == 200, made.text
    assert "its account is ready" in made.text and ">Sign in</button>" in made.text
    assert "mg_session" not in made.headers.get("set-cookie", "")
    signed_in = client.sign_in("new.person@example.com", "a long password", f"/auth?{query}")
    assert signed_in.headers["location"] == f"/auth?{query}"
    consent = client.consent(query)
    assert "new.person@example.com" in consent.text
    assert callback_params(client.decide(query, "deny"))["error"] == ["access_denied"]
    client.close()


@pytest.mark.parametrize(
    ("email", "password", "message"),
    [
        ("not-an-email", "a long password", "The email is not an e-mail address."),
        # Lookalike, invisible, control characters and markup (each became an account once).
        ("\u0430lice@example.com", "a long password", "The email is not an e-mail address."),
        ("alice\u200b@example.com", "a long password", "The email is not an e-mail address."),
        ("eve\x00@example.com", "a long password", "The email is not an e-mail address."),
        ('"><script>@x.y', "a long password", "The email is not an e-mail address."),
        ("short@example.com", "short", "The password must be at least 8 characters."),
    ],
)
def test_sign_up_refuses_bad_input(
    open_server: str, email: str, password: str, message: str
) -> None:
    client = PageClient(open_server)
    form = client.get("/sign-up")
    refused = client.post("/sign-up", {"csrf": csrf_of(form), "email": email, "password": password})
    assert refused.status_code == 400
    assert message in refused.text
    client.close()


def sign_up(server: str, email: str, password: str) -> httpx.Response:
    client = PageClient(server)
    form = client.get("/sign-up")
    answer = client.post("/sign-up", {"csrf": csrf_of(form), "email": email, "password": password})
    client.close()
    assert answer.status_code == 200, answer.text
    return answer


def test_sign_up_answers_alike_whether_or_not_the_email_is_taken(open_server: str) -> None:
    taken = f"taken-{secrets.token_hex(4)}@example.com"
    fresh = f"fresh-{secrets.token_hex(4)}@example.com"
    assert sign_up(open_server, taken, "the owner's password").status_code == 200
    answers = {
        "taken": sign_up(open_server, taken, "someone else's try"),
        "fresh": sign_up(open_server, fresh, "someone else's try"),
    }

    def seen(answer: httpx.Response, email: str) -> tuple[int, str, list[str]]:
        page = re.sub(r'name="csrf" value="[^"]*"', "", answer.text).replace(email, "EMAIL")
        cookies = sorted(c.split("=")[0] for c in answer.headers.get_list("set-cookie"))
        return answer.status_code, page, cookies

    assert seen(answers["taken"], taken) == seen(answers["fresh"], fresh)
    assert "exists" not in answers["taken"].text


def test_the_owner_learns_of_a_sign_up_with_their_email(open_server: str) -> None:
    email = f"owner-{secrets.token_hex(4)}@example.com"
    sign_up(open_server, email, "the owner's password")
    owner = PageClient(open_server)
    assert owner.sign_in(email, "the owner's password").status_code == 303
    assert "tried to create an account" not in owner.get("/account").text
    sign_up(open_server, email, "a stranger's password")
    notice = owner.get("/account").text
    assert "Someone tried to create an account with your email" in notice
    owner.close()


def test_sign_up_needs_the_csrf_token(open_server: str) -> None:
    refused = httpx.post(
        f"{open_server}/sign-up",
        data={"email": "forged@example.com", "password": "a long password"},
    )
    assert refused.status_code == 403


def test_the_key_name_field_takes_what_the_api_takes(signed_in: PageClient) -> None:
    page = signed_in.get("/account").text
    assert f'name="name" type="text" maxlength="{MAX_KEY_LABEL_LENGTH}"' in page
