"""The audit trail records who did what and when, and never a secret."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from modelgates import pkce
from modelgates.server.services import audit
from tests.conftest import LiveServer, new_account, run


def events_of(database_url: str, **match: object) -> list[dict[str, object]]:
    rows = run(lambda store: audit.tail(store, 10_000), database_url)
    events = [audit.as_json(row) for row in rows]
    return [e for e in events if all(e.get(k) == v for k, v in match.items())]


def test_the_flow_leaves_a_trail_without_secrets(live_server: LiveServer) -> None:
    account = new_account(live_server.database_url)
    verifier = pkce.create_verifier()
    headers = {"Authorization": f"Bearer {account.key}"}
    code = live_server.client.post(
        "/auth/keys/code",
        json={
            "callback_url": "https://app.example/cb",
            "code_challenge": pkce.s256_challenge(verifier),
            "code_challenge_method": "S256",
        },
        headers=headers,
    ).json()["data"]["id"]
    for _ in range(2):
        live_server.client.post(
            "/auth/keys", json={"code": code, "code_verifier": pkce.create_verifier()}
        )
    key = live_server.client.post(
        "/auth/keys", json={"code": code, "code_verifier": verifier}
    ).json()["key"]
    live_server.client.post("/auth/keys", json={"code": code, "code_verifier": verifier})  # a retry
    live_server.client.post(
        "/auth/keys", json={"code": code, "code_verifier": pkce.create_verifier()}
    )
    live_server.client.delete("/key", headers={"Authorization": f"Bearer {key}"})

    trail = [e["event"] for e in events_of(live_server.database_url, user_id=account.user_id)]
    assert trail == [
        "code_created",
        "verifier_rejected",
        "verifier_rejected",
        "key_issued",
        "exchange_retried",
        "replay_refused",
        "key_deleted",
    ]
    everything = json.dumps(events_of(live_server.database_url))
    for secret in (code, verifier, key, account.key):
        assert secret not in everything
    issued = events_of(live_server.database_url, user_id=account.user_id, event="key_issued")[0]
    assert issued["client_address"] == "127.0.0.1" and len(str(issued["key_hash"])) == 64


def test_burn_and_replay_revocation_are_recorded(live_server: LiveServer) -> None:
    account = new_account(live_server.database_url)
    headers = {"Authorization": f"Bearer {account.key}"}
    burnt = live_server.client.post(
        "/auth/keys/code",
        json={"callback_url": "https://a.example/cb", "code_challenge": pkce.create_verifier()},
        headers=headers,
    ).json()["data"]["id"]
    for _ in range(5):
        live_server.client.post(
            "/auth/keys", json={"code": burnt, "code_verifier": pkce.create_verifier()}
        )
    plain = live_server.client.post(
        "/auth/keys/code", json={"callback_url": "https://a.example/cb"}, headers=headers
    ).json()["data"]["id"]
    live_server.client.post("/auth/keys", json={"code": plain})
    live_server.client.post("/auth/keys", json={"code": plain})
    events = [e["event"] for e in events_of(live_server.database_url, user_id=account.user_id)]
    assert events.count("code_burnt") == 1 and events.count("verifier_rejected") == 4
    assert "key_revoked_by_replay" in events


def test_audit_tail_prints_json_lines(live_server: LiveServer) -> None:
    new_account(live_server.database_url)
    result = subprocess.run(
        [sys.executable, "-m", "modelgates.cli", "audit", "tail", "-n", "3"],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "MODELGATES_DATABASE_URL": live_server.database_url},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert 1 <= len(lines) <= 3
    assert all({"id", "at", "event"} <= set(line) for line in lines)
    assert [line["id"] for line in lines] == sorted(line["id"] for line in lines)


def test_sign_in_failures_are_recorded_without_what_was_typed(live_server: LiveServer) -> None:
    from tests.server.pages import PageClient

    account = new_account(live_server.database_url)
    browser = PageClient(live_server.base_url)
    try:
        assert browser.sign_in(account.email, "not the password").status_code != 303
        assert browser.sign_in("nobody-" + account.email, "typed secret").status_code != 303
    finally:
        browser.close()
    failures = events_of(live_server.database_url, event="sign_in_failed")
    mine = [e for e in failures if e.get("user_id") == account.user_id]
    assert (
        mine
        and mine[-1]["detail"] == "wrong password"
        and mine[-1]["client_address"] == "127.0.0.1"
    )
    assert any(e["detail"] == "unknown e-mail" for e in failures)
    text = json.dumps(failures)
    assert (
        "not the password" not in text and "typed secret" not in text and account.email not in text
    )
