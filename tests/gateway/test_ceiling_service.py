"""The ceiling's rules, straight through the service (no HTTP), on each database."""

from __future__ import annotations

import json
import math
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from modelgates.models.keys import CreateKeyRequest
from modelgates.models.usage import RecordUsageRequest
from modelgates.server.gateway.completions import Gateway, StreamedAnswer
from modelgates.server.gateway.providers import load_catalogue
from modelgates.server.services import ceiling, keys, usage
from modelgates.server.services.errors import PaymentRequired, Unauthenticated
from modelgates.server.settings import provider_key
from modelgates.server.store import KeyRow, Store
from tests.conftest import create_account, run, utcnow
from tests.gateway.upstream import Upstream

#: Micro-dollars per token: 1 for the prompt, 10 for the output; at most 100 output tokens.
PRICE = ceiling.Price(
    input_per_million=Decimal(1),
    output_per_million=Decimal(10),
    output_cap=100,
    context_length=None,
)


async def _key(store: Store, limit: str | None, reset: str | None = None) -> KeyRow:
    account = await create_account(store)
    request = CreateKeyRequest.model_validate(
        {"name": "k", "limit": None if limit is None else Decimal(limit), "limit_reset": reset}
    )
    issued = await keys.create_key_for_user(
        store, email=account.email, request=request, now=utcnow()
    )
    return issued.row


async def _hold(store: Store, key: KeyRow, body_bytes: int, requested: int | None) -> ceiling.Hold:
    return await ceiling.hold(
        store,
        keys.Credential(key.hash),
        model="m/x",
        price=PRICE,
        body_bytes=body_bytes,
        requested_max_tokens=requested,
        streamed=False,
        referer_origin=None,
        now=utcnow(),
    )


async def _row(store: Store, key: KeyRow) -> KeyRow:
    row = await store.run(lambda tx: tx.keys.by_id(key.id))
    assert row is not None
    return row


async def _settle(
    store: Store, held: ceiling.Hold, prompt: int, completion: int
) -> ceiling.Settlement:
    return await ceiling.settle(
        store,
        held,
        PRICE,
        outcome="completed",
        tokens_prompt=prompt,
        tokens_completion=completion,
        usage_estimated=False,
        provider_status=200,
        now=utcnow(),
    )


def test_a_hold_is_the_worst_case_and_its_settlement_the_cost(database_url: str) -> None:
    async def go(store: Store) -> None:
        key = await _key(store, "0.001")  # 1,000 micro-dollars
        held = await _hold(store, key, body_bytes=100, requested=20)
        assert held.amount == 100 * 1 + 20 * 10 and held.prompt_amount == 100
        assert held.max_tokens is None  # the request's own cap fits, and stays
        assert (await _row(store, key)).held_micros == 300
        settled = await _settle(store, held, prompt=30, completion=12)
        assert (settled.cost, settled.charged, settled.applied) == (150, 150, True)
        row = await _row(store, key)
        assert (row.held_micros, row.usage_micros, row.month_micros) == (0, 150, 150)
        # Settling again changes nothing: no completion is charged twice.
        again = await _settle(store, held, prompt=30, completion=12)
        assert not again.applied
        assert (await _row(store, key)).usage_micros == 150

    run(go, database_url)


def test_open_holds_count_against_the_limit(database_url: str) -> None:
    async def go(store: Store) -> None:
        key = await _key(store, "0.001")
        await _hold(store, key, body_bytes=100, requested=60)  # 700 held
        with pytest.raises(PaymentRequired) as refused:
            await _hold(store, key, body_bytes=100, requested=30)  # 400 more: 1,100 > 1,000
        assert refused.value.metadata == {"reason": "limit_exceeded", "limit_remaining": 0.0003}
        # Without its own cap, a request gets what remains can buy: (1000-700-100) / 10.
        third = await _hold(store, key, body_bytes=100, requested=None)
        assert third.max_tokens == 20 and third.amount == 300
        # The metering endpoint's charges see the holds too.
        with pytest.raises(PaymentRequired):
            await usage.record(
                store,
                RecordUsageRequest(key_hash=key.hash, amount=Decimal("0.000001"), request_id="r1"),
                utcnow(),
            )

    run(go, database_url)


def test_a_charge_never_exceeds_the_hold_on_a_limited_key(database_url: str) -> None:
    async def go(store: Store) -> None:
        limited = await _key(store, "1")
        held = await _hold(store, limited, body_bytes=10, requested=5)  # 60
        # A provider that reports more than it was allowed to produce.
        settled = await _settle(store, held, prompt=1000, completion=1000)
        assert settled.cost == 11_000 and settled.charged == 60
        unlimited = await _key(store, None)
        held = await _hold(store, unlimited, body_bytes=10, requested=5)
        assert held.max_tokens is None and not held.limited
        settled = await _settle(store, held, prompt=1000, completion=1000)
        assert settled.charged == 11_000
        row = await _row(store, unlimited)
        assert (row.usage_micros, row.held_micros) == (11_000, 0)

    run(go, database_url)


def test_a_cap_above_the_models_is_lowered_and_a_limit_too_small_refuses(
    database_url: str,
) -> None:
    async def go(store: Store) -> None:
        key = await _key(store, "1")
        held = await _hold(store, key, body_bytes=10, requested=10_000)
        assert held.capped and held.max_tokens == 100
        tiny = await _key(store, "0.00001")  # 10 micro-dollars: the prompt alone
        with pytest.raises(PaymentRequired):
            await _hold(store, tiny, body_bytes=10, requested=None)
        row = await _row(store, tiny)
        assert row.held_micros == 0

    run(go, database_url)


def test_a_revoked_key_cannot_hold(database_url: str) -> None:
    async def go(store: Store) -> None:
        key = await _key(store, "1")
        await store.run(lambda tx: tx.keys.revoke(key.id, utcnow()))
        with pytest.raises(Unauthenticated):
            await _hold(store, key, body_bytes=10, requested=1)

    run(go, database_url)


def test_the_sweeper_settles_only_holds_older_than_any_request_lives(database_url: str) -> None:
    async def go(store: Store) -> None:
        key = await _key(store, "1")
        stale = await _hold(store, key, body_bytes=50, requested=10)  # 50 + 100
        done = await _hold(store, key, body_bytes=50, requested=10)
        await _settle(store, done, prompt=5, completion=5)
        later = utcnow() + timedelta(minutes=10)
        await ceiling.abandon_stale(store, later, older_than=timedelta(hours=1))
        assert (await _row(store, key)).held_micros == 150  # not old enough yet
        # (Other tests' holds on this shared database may be swept along with it.)
        assert await ceiling.abandon_stale(store, later, older_than=timedelta(minutes=5)) >= 1
        row = await _row(store, key)
        assert row.held_micros == 0 and row.usage_micros == 55 + 50
        record = await ceiling.generation_of(store, key, stale.generation_id)
        assert record.status == "abandoned" and record.charged_micros == 50
        # The process that served it, had it lived, finds it settled: nothing is charged twice.
        assert not (await _settle(store, stale, prompt=50, completion=10)).applied
        assert (await _row(store, key)).usage_micros == 105

    run(go, database_url)


def test_a_daily_limit_counts_only_todays_usage(database_url: str) -> None:
    async def go(store: Store) -> None:
        key = await _key(store, "0.0002", reset="daily")  # 200 micro-dollars a day
        held = await _hold(store, key, body_bytes=50, requested=10)
        await _settle(store, held, prompt=50, completion=10)  # 150 today
        with pytest.raises(PaymentRequired):
            await _hold(store, key, body_bytes=50, requested=10)
        tomorrow = utcnow() + timedelta(days=1)
        again = await ceiling.hold(
            store,
            keys.Credential(key.hash),
            model="m/x",
            price=PRICE,
            body_bytes=50,
            requested_max_tokens=10,
            streamed=False,
            referer_origin=None,
            now=tomorrow,
        )
        assert again.amount == 150

    run(go, database_url)


@pytest.mark.parametrize(
    ("input_price", "output_price"),
    [("0.5", "1.5"), ("0", "0"), ("3", "15"), ("0.000001", "123.456789"), ("1E+1", "0.10")],
)
def test_a_cost_is_the_exact_price_of_its_tokens_rounded_up(
    input_price: str, output_price: str
) -> None:
    price = ceiling.Price(Decimal(input_price), Decimal(output_price), 100, None)
    for prompt, completion in [(0, 0), (1, 0), (0, 1), (7, 16), (999_999, 3), (10**9, 10**9)]:
        exact = prompt * Decimal(input_price) + completion * Decimal(output_price)
        assert price.cost(prompt, completion) == math.ceil(exact)


def test_a_stream_left_before_its_first_event_is_settled_and_its_provider_closed(
    database_url: str, upstream: Upstream, providers_file: Path
) -> None:
    """The client can leave between the provider's answer and the first event sent (the
    server's EventStream then closes the answer without reading it): the hold must not wait
    for the sweeper, nor the provider keep generating. Through the gateway itself, against the
    scripted provider, without HTTP on the client's side."""
    cancelled = upstream.cancelled

    async def go(store: Store) -> None:
        gateway = Gateway(load_catalogue(str(providers_file), provider_key))
        try:
            account = await create_account(store)
            body = {"model": "script/slow", "messages": [{"role": "user", "content": "x"}]}
            request = gateway.read(json.dumps({**body, "stream": True}).encode())
            answer = await gateway.complete(
                store,
                keys.Credential(account.key_hash),
                request,
                now=utcnow(),
                clock=utcnow,
                referer_origin=None,
            )
            assert isinstance(answer, StreamedAnswer)
            await answer.aclose()
            key = await store.run(lambda tx: tx.keys.by_hash(account.key_hash))
            assert key is not None and key.held_micros == 0
            (generation,) = await store.run(
                lambda tx: tx.generations.recent_of_user(key.user_id, 5)
            )
            assert generation.status == "cancelled" and generation.tokens_completion == 0
            assert generation.charged_micros == key.usage_micros > 0  # the prompt, estimated
        finally:
            await gateway.aclose()

    run(go, database_url)
    deadline = time.monotonic() + 5
    while upstream.cancelled == cancelled and time.monotonic() < deadline:
        time.sleep(0.02)
    assert upstream.cancelled == cancelled + 1  # the provider saw its stream closed
