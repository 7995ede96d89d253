"""``/api/v1/key`` and the management API ``/api/v1/keys`` over HTTP against a real server."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import Account, LiveServer, new_account
from tests.server.test_api_oauth import assert_error


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def manager(live_server: LiveServer) -> Account:
    return new_account(live_server.database_url, management=True)


def create_key(server: LiveServer, manager: Account, **body: Any) -> dict[str, Any]:
    response = server.client.post(
        "/keys", json={"name": "made by test", **body}, headers=auth(manager.key)
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


# --- GET and DELETE /key ---------------------------------------------------------------------


def test_current_key_record_has_every_contract_field(
    live_server: LiveServer, account: Account
) -> None:
    response = live_server.client.get("/key", headers=auth(account.key))
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    data = response.json()["data"]
    assert set(data) == {
        "label", "limit", "limit_remaining", "limit_reset", "usage", "usage_daily",
        "usage_weekly", "usage_monthly", "expires_at", "created_at", "is_management_key",
        "app_id", "creator_user_id",
    }  # fmt: skip
    assert data["limit"] is None and data["limit_remaining"] is None
    assert data["usage"] == 0 and data["creator_user_id"] == account.user_id


def test_legacy_alias_serves_the_same_record(live_server: LiveServer, account: Account) -> None:
    new = live_server.client.get("/key", headers=auth(account.key)).json()
    old = live_server.client.get("/auth/key", headers=auth(account.key)).json()
    assert new == old


def test_a_key_revokes_itself(live_server: LiveServer) -> None:
    own = new_account(live_server.database_url)
    response = live_server.client.delete("/key", headers=auth(own.key))
    assert response.status_code == 200 and response.json() == {"deleted": True}
    assert_error(live_server.client.get("/key", headers=auth(own.key)), 401)
    assert_error(live_server.client.delete("/key", headers=auth(own.key)), 401)


# --- management ------------------------------------------------------------------------------


def test_create_shows_the_key_once_and_it_works(live_server: LiveServer, manager: Account) -> None:
    created = create_key(
        live_server, manager, limit=5, limit_reset="weekly", expires_at="2099-01-01T00:00:00Z"
    )
    assert created["key"].startswith("sk-mg-v1-")
    data = created["data"]
    assert data["name"] == "made by test" and data["limit"] == 5 and data["limit_reset"] == "weekly"
    assert data["expires_at"] == "2099-01-01T00:00:00Z" and data["disabled"] is False
    import hashlib

    assert data["hash"] == hashlib.sha256(created["key"].encode()).hexdigest()
    record = live_server.client.get("/key", headers=auth(created["key"]))
    assert record.status_code == 200 and record.json()["data"]["limit_remaining"] == 5
    # Never shown again.
    listed = live_server.client.get("/keys", headers=auth(manager.key))
    assert created["key"] not in listed.text


def test_list_get_update_delete(live_server: LiveServer) -> None:
    manager = new_account(live_server.database_url, management=True)
    created = create_key(live_server, manager, name="to change")
    key_hash = created["data"]["hash"]

    listed = live_server.client.get("/keys", headers=auth(manager.key)).json()["data"]
    assert {k["hash"] for k in listed} == {manager.key_hash, key_hash}

    got = live_server.client.get(f"/keys/{key_hash}", headers=auth(manager.key))
    assert got.status_code == 200 and got.json()["data"]["name"] == "to change"

    patched = live_server.client.patch(
        f"/keys/{key_hash}",
        json={"name": "renamed", "limit": 3, "limit_reset": "daily"},
        headers=auth(manager.key),
    )
    assert patched.status_code == 200, patched.text
    assert (
        patched.json()["data"] | {"name": "renamed", "limit": 3, "limit_reset": "daily"}
        == patched.json()["data"]
    )

    removed_limit = live_server.client.patch(
        f"/keys/{key_hash}", json={"limit": None}, headers=auth(manager.key)
    )
    assert removed_limit.json()["data"]["limit"] is None
    assert removed_limit.json()["data"]["limit_reset"] == "daily"  # untouched: not in the body

    disabled = live_server.client.patch(
        f"/keys/{key_hash}", json={"disabled": True}, headers=auth(manager.key)
    )
    assert disabled.json()["data"]["disabled"] is True
    assert_error(live_server.client.get("/key", headers=auth(created["key"])), 401)
    hidden = live_server.client.get("/keys", headers=auth(manager.key)).json()["data"]
    assert key_hash not in {k["hash"] for k in hidden}
    shown = live_server.client.get(
        "/keys", params={"include_disabled": "true"}, headers=auth(manager.key)
    )
    assert key_hash in {k["hash"] for k in shown.json()["data"]}
    enabled = live_server.client.patch(
        f"/keys/{key_hash}", json={"disabled": False}, headers=auth(manager.key)
    )
    assert enabled.json()["data"]["disabled"] is False
    assert live_server.client.get("/key", headers=auth(created["key"])).status_code == 200

    deleted = live_server.client.delete(f"/keys/{key_hash}", headers=auth(manager.key))
    assert deleted.status_code == 200 and deleted.json() == {"deleted": True}
    assert_error(live_server.client.get("/key", headers=auth(created["key"])), 401)
    assert_error(live_server.client.get(f"/keys/{key_hash}", headers=auth(manager.key)), 404)
    # A retried delete (its first answer lost) answers the same.
    again = live_server.client.delete(f"/keys/{key_hash}", headers=auth(manager.key))
    assert again.status_code == 200 and again.json() == {"deleted": True}


def test_pages_of_one_hundred(live_server: LiveServer) -> None:
    manager = new_account(live_server.database_url, management=True)
    for i in range(104):
        create_key(live_server, manager, name=f"k{i}")
    first = live_server.client.get("/keys", headers=auth(manager.key)).json()["data"]
    second = live_server.client.get(
        "/keys", params={"offset": 100}, headers=auth(manager.key)
    ).json()["data"]
    assert len(first) == 100 and len(second) == 5
    assert not {k["hash"] for k in first} & {k["hash"] for k in second}


def test_other_users_keys_are_invisible(live_server: LiveServer, manager: Account) -> None:
    stranger = new_account(live_server.database_url)
    for method in ("get", "delete"):
        assert_error(
            getattr(live_server.client, method)(
                f"/keys/{stranger.key_hash}", headers=auth(manager.key)
            ),
            404,
        )
    assert_error(
        live_server.client.patch(
            f"/keys/{stranger.key_hash}", json={"disabled": True}, headers=auth(manager.key)
        ),
        404,
    )
    assert live_server.client.get("/key", headers=auth(stranger.key)).status_code == 200
    listed = live_server.client.get("/keys", headers=auth(manager.key)).json()["data"]
    assert stranger.key_hash not in {k["hash"] for k in listed}


def test_ordinary_keys_cannot_manage(live_server: LiveServer, account: Account) -> None:
    assert_error(live_server.client.get("/keys", headers=auth(account.key)), 403)
    assert_error(
        live_server.client.post("/keys", json={"name": "x"}, headers=auth(account.key)), 403
    )


def test_limit_below_usage_is_allowed_and_leaves_nothing(
    live_server: LiveServer, manager: Account
) -> None:
    from tests.server.test_usage import charge, service_token

    created = create_key(live_server, manager, limit=10)
    token = service_token(live_server)
    assert charge(live_server, token, created["data"]["hash"], 4).status_code == 200
    patched = live_server.client.patch(
        f"/keys/{created['data']['hash']}", json={"limit": 1}, headers=auth(manager.key)
    )
    assert patched.status_code == 200
    assert patched.json()["data"]["limit_remaining"] == 0 and patched.json()["data"]["usage"] == 4


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("post", "/keys", {}, "name"),
        ("post", "/keys", {"name": ""}, "name"),
        ("post", "/keys", {"name": "x", "limit": -1}, "limit"),
        ("post", "/keys", {"name": "x", "limit": "5"}, "limit"),
        ("post", "/keys", {"name": "x", "limit_reset": "hourly"}, "limit_reset"),
        ("post", "/keys", {"name": "x", "expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
        ("post", "/keys", {"name": "x", "is_management": True}, "is_management"),
        ("patch", "/keys/{hash}", {"disabled": "yes"}, "disabled"),
        ("patch", "/keys/{hash}", {"disabled": None}, "disabled"),
        ("patch", "/keys/{hash}", {"name": None}, "name"),
        ("patch", "/keys/{hash}", {"usage": 0}, "usage"),
        ("patch", "/keys/{hash}", {"limit": float("inf")}, "limit"),
    ],
)
def test_bad_management_bodies(
    live_server: LiveServer,
    manager: Account,
    method: str,
    path: str,
    body: dict[str, Any],
    field: str,
) -> None:
    from tests.conftest import table_counts

    target = create_key(live_server, manager)["data"]["hash"] if "{hash}" in path else ""
    before = table_counts(live_server.database_url)
    response = live_server.client.request(
        method.upper(),
        path.format(hash=target),
        content=httpx.Request("POST", "/", json=body).content
        if body.get("limit") != float("inf")
        else b'{"limit": Infinity}',
        headers={**auth(manager.key), "Content-Type": "application/json"},
    )
    assert_error(response, 400, field)
    assert table_counts(live_server.database_url) == before


@pytest.mark.parametrize(
    "query", [{"offset": "-1"}, {"offset": "x"}, {"include_disabled": "maybe"}]
)
def test_bad_list_queries(live_server: LiveServer, manager: Account, query: dict[str, str]) -> None:
    assert_error(
        live_server.client.get("/keys", params=query, headers=auth(manager.key)),
        400,
        next(iter(query)),
    )


def test_malformed_hash_is_not_found(live_server: LiveServer, manager: Account) -> None:
    assert_error(live_server.client.get("/keys/not-a-hash", headers=auth(manager.key)), 404)


def test_expired_key_is_refused_everywhere(live_server: LiveServer) -> None:
    from datetime import timedelta

    from tests.conftest import run, utcnow

    own = new_account(live_server.database_url, management=True)

    async def shorten(store: Any) -> None:
        def expire(tx: Any) -> None:
            row = tx.keys.by_hash(own.key_hash)
            tx.keys.update(row.id, expires_at=utcnow() - timedelta(seconds=1))

        await store.run(expire)

    run(shorten, live_server.database_url)
    for method, path in [
        ("GET", "/key"),
        ("DELETE", "/key"),
        ("GET", "/keys"),
        ("GET", "/auth/key"),
    ]:
        assert_error(live_server.client.request(method, path, headers=auth(own.key)), 401)
    response = live_server.client.post(
        "/auth/keys/code", json={"callback_url": "https://app.example/cb"}, headers=auth(own.key)
    )
    assert_error(response, 401)
