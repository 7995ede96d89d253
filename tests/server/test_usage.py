"""Metering over HTTP: ``POST /api/v1/usage`` with a service token, limits with resets, and
charges racing against one key across several server processes."""

from __future__ import annotations

import asyncio
import secrets
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import httpx
import pytest

from modelgates.server.services import usage, windows
from tests.conftest import Account, LiveServer, new_account, run, utcnow
from tests.server.test_api_oauth import assert_error


def service_token(server: LiveServer) -> str:
    return run(
        lambda store: usage.create_service_token(store, "gateway", utcnow()), server.database_url
    )


def charge(
    server: LiveServer, token: str, key_hash: str, amount: Any, request_id: str | None = None
) -> httpx.Response:
    return server.client.post(
        "/usage",
        json={
            "key_hash": key_hash,
            "amount": amount,
            "request_id": request_id or secrets.token_hex(8),
        },
        headers={"Authorization": f"Bearer {token}"},
    )


def limited_key(
    server: LiveServer, limit: float | None, reset: str | None = None
) -> dict[str, Any]:
    manager = new_account(server.database_url, management=True)
    body: dict[str, Any] = {"name": "metered", "limit": limit, "limit_reset": reset}
    response = server.client.post(
        "/keys",
        json={k: v for k, v in body.items() if v is not None},
        headers={"Authorization": f"Bearer {manager.key}"},
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


@pytest.fixture(scope="module")
def token(live_server: LiveServer) -> str:
    return service_token(live_server)


def test_charge_adds_usage_and_reports_it(live_server: LiveServer, token: str) -> None:
    key = limited_key(live_server, 10, "monthly")
    response = charge(live_server, token, key["data"]["hash"], 2.5, "req-1-" + secrets.token_hex(4))
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["amount"] == 2.5 and data["usage"] == 2.5 and data["limit_remaining"] == 7.5
    record = live_server.client.get(
        "/key", headers={"Authorization": f"Bearer {key['key']}"}
    ).json()["data"]
    assert (
        record["usage"]
        == record["usage_daily"]
        == record["usage_weekly"]
        == record["usage_monthly"]
        == 2.5
    )
    assert record["limit_remaining"] == 7.5


def test_same_request_id_charges_once_and_answers_the_same(
    live_server: LiveServer, token: str
) -> None:
    key = limited_key(live_server, None)
    request_id = secrets.token_hex(8)
    first = charge(live_server, token, key["data"]["hash"], 1, request_id)
    second = charge(live_server, token, key["data"]["hash"], 1, request_id)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    conflicting = charge(live_server, token, key["data"]["hash"], 2, request_id)
    assert_error(conflicting, 409, "request_id")
    record = live_server.client.get(
        "/key", headers={"Authorization": f"Bearer {key['key']}"}
    ).json()["data"]
    assert record["usage"] == 1


def test_a_thousand_tenths_of_a_cent_make_exactly_one_dollar(
    live_server: LiveServer, token: str
) -> None:
    from modelgates.models.usage import RecordUsageRequest

    key = limited_key(live_server, 1)
    key_hash = key["data"]["hash"]

    async def thousand(store: Any) -> None:
        # Straight through the service (the HTTP path is the same call, tested above), ten at a
        # time so that the sums are also exact when charges interleave.
        async def charges(worker: int) -> None:
            for i in range(100):
                request = RecordUsageRequest(
                    key_hash=key_hash,
                    amount=Decimal("0.001"),
                    request_id=f"{key_hash}-{worker}-{i}",
                )
                await usage.record(store, request, utcnow())

        await asyncio.gather(*(charges(worker) for worker in range(10)))

    run(thousand, live_server.database_url)
    refused = charge(live_server, token, key_hash, 0.001)
    error = assert_error(refused, 402)
    assert error["metadata"] == {"reason": "limit_exceeded", "limit_remaining": 0}
    record = live_server.client.get(
        "/key", headers={"Authorization": f"Bearer {key['key']}"}
    ).json()["data"]
    assert record["usage"] == 1 and record["limit_remaining"] == 0


def test_refused_charge_reports_what_is_left_and_changes_nothing(
    live_server: LiveServer, token: str
) -> None:
    key = limited_key(live_server, 5)
    assert charge(live_server, token, key["data"]["hash"], 3).status_code == 200
    request_id = secrets.token_hex(8)
    error = assert_error(charge(live_server, token, key["data"]["hash"], 2.000001, request_id), 402)
    assert error["metadata"]["limit_remaining"] == 2
    # The refused request_id was not spent: once it fits, the same id charges.
    assert charge(live_server, token, key["data"]["hash"], 2, request_id).status_code == 200


def test_inactive_keys_cannot_be_charged(live_server: LiveServer, token: str) -> None:
    key = limited_key(live_server, None)
    live_server.client.delete("/key", headers={"Authorization": f"Bearer {key['key']}"})
    error = assert_error(charge(live_server, token, key["data"]["hash"], 1), 402)
    assert error["metadata"]["reason"] == "key_inactive"


def test_unknown_key_is_404(live_server: LiveServer, token: str) -> None:
    assert_error(charge(live_server, token, "0" * 64, 1), 404)


@pytest.mark.parametrize("amount", [0, -1, "1", True, 1e-7, 1e12, None])
def test_bad_amounts(live_server: LiveServer, token: str, amount: Any) -> None:
    key = limited_key(live_server, None)
    assert_error(charge(live_server, token, key["data"]["hash"], amount), 400, "amount")


@pytest.mark.parametrize(
    "body",
    [
        {"key_hash": "ABC", "amount": 1, "request_id": "r"},
        {"key_hash": "a" * 64, "amount": 1, "request_id": ""},
    ],
)
def test_bad_bodies(live_server: LiveServer, token: str, body: dict[str, Any]) -> None:
    response = live_server.client.post(
        "/usage", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert_error(response, 400)


def test_only_service_tokens_may_charge(live_server: LiveServer, account: Account) -> None:
    key = limited_key(live_server, None)
    for headers in (
        {},
        {"Authorization": f"Bearer {account.key}"},
        {"Authorization": "Bearer mg-svc-v1-" + "0" * 64},
    ):
        response = live_server.client.post(
            "/usage",
            json={"key_hash": key["data"]["hash"], "amount": 1, "request_id": "x"},
            headers=headers,
        )
        assert_error(response, 401)


# --- windows, at the service level -------------------------------------------------------------


def test_periods_start_on_utc_days_mondays_and_months() -> None:
    sunday = windows.periods_at(datetime(2030, 1, 6, 23, 59, tzinfo=timezone.utc))
    monday = windows.periods_at(datetime(2030, 1, 7, 0, 0, tzinfo=timezone.utc))
    assert monday.day == sunday.day + 1 and monday.week == sunday.week + 1
    assert monday.month == sunday.month
    jan31 = windows.periods_at(datetime(2030, 1, 31, 12, tzinfo=timezone.utc))
    feb1 = windows.periods_at(datetime(2030, 2, 1, 0, tzinfo=timezone.utc))
    assert feb1.month == jan31.month + 1 and feb1.week == jan31.week


def test_daily_limit_resets_at_utc_midnight(live_server: LiveServer) -> None:
    from modelgates.models.usage import RecordUsageRequest
    from modelgates.server.services.errors import PaymentRequired

    key = limited_key(live_server, 1, "daily")
    key_hash = key["data"]["hash"]
    late = datetime(2030, 3, 4, 23, 59, tzinfo=timezone.utc)
    next_day = datetime(2030, 3, 5, 0, 1, tzinfo=timezone.utc)

    async def scenario(store: Any) -> list[Any]:
        def body(amount: str) -> RecordUsageRequest:
            return RecordUsageRequest(
                key_hash=key_hash, amount=Decimal(amount), request_id=secrets.token_hex(8)
            )

        results = [await usage.record(store, body("1"), late)]
        with pytest.raises(PaymentRequired):
            await usage.record(store, body("0.5"), late)
        results.append(await usage.record(store, body("0.5"), next_day))
        return results

    first, after_midnight = run(scenario, live_server.database_url)
    assert first.limit_remaining == 0
    assert after_midnight.limit_remaining == 0.5 and after_midnight.usage == 1.5


# --- the race ----------------------------------------------------------------------------------

CHARGERS = 200


def test_concurrent_charges_never_overdraw(servers: list[str], database_url: str) -> None:
    """200 charges of $0.10 race against a $7.00 limit over three processes: exactly 70 pass."""
    server = LiveServer(
        base_url=servers[0],
        database_url=database_url,
        client=httpx.Client(base_url=f"{servers[0]}/api/v1"),
    )
    try:
        key = limited_key(server, 7)
        token = service_token(server)
    finally:
        server.client.close()

    async def race() -> list[httpx.Response]:
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=64), timeout=60) as client:
            return await asyncio.gather(
                *(
                    client.post(
                        f"{servers[i % len(servers)]}/api/v1/usage",
                        json={
                            "key_hash": key["data"]["hash"],
                            "amount": 0.1,
                            "request_id": f"race-{i}-{secrets.token_hex(4)}",
                        },
                        headers={"Authorization": f"Bearer {token}"},
                    )
                    for i in range(CHARGERS)
                )
            )

    responses = asyncio.run(race())
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 70, sorted(statuses)
    assert statuses.count(402) == CHARGERS - 70
    record = httpx.get(
        f"{servers[0]}/api/v1/key", headers={"Authorization": f"Bearer {key['key']}"}
    ).json()["data"]
    assert record["usage"] == 7 and record["limit_remaining"] == 0
