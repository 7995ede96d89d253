"""The rate limiter behaves the same in memory and on the real Redis at 127.0.0.1:6379."""

from __future__ import annotations

import os
import secrets

import pytest

from modelgates.server.ratelimit import RateLimiter

pytestmark = pytest.mark.anyio

REDIS_URL = os.environ.get("MODELGATES_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REQUIRE_REDIS = os.environ.get("MODELGATES_TEST_REQUIRE_REDIS") == "1"


@pytest.fixture(params=["memory", "redis"])
async def limiter(request: pytest.FixtureRequest) -> RateLimiter:
    if request.param == "memory":
        return RateLimiter()
    limiter = RateLimiter(REDIS_URL)
    try:
        reachable = await limiter.check_storage()
    except Exception:
        reachable = False
    if not reachable:
        if REQUIRE_REDIS:
            pytest.fail(f"Redis is required but unreachable at {REDIS_URL}")
        pytest.skip(f"Redis unreachable at {REDIS_URL}")
    return limiter


async def test_allows_up_to_the_limit_then_refuses_with_retry_after(limiter: RateLimiter) -> None:
    key = secrets.token_hex(8)
    decisions = [await limiter.hit("3/minute", "test", key) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert 1 <= decisions[-1].retry_after <= 60
    # Another key has its own budget.
    assert (await limiter.hit("3/minute", "test", secrets.token_hex(8))).allowed


async def test_clear_forgets_the_attempts(limiter: RateLimiter) -> None:
    key = secrets.token_hex(8)
    for _ in range(2):
        await limiter.hit("2/minute", "test", key)
    assert not (await limiter.hit("2/minute", "test", key)).allowed
    await limiter.clear("2/minute", "test", key)
    assert (await limiter.hit("2/minute", "test", key)).allowed


async def test_redis_counters_are_shared_between_limiters() -> None:
    first, second = RateLimiter(REDIS_URL), RateLimiter(REDIS_URL)
    try:
        if not await first.check_storage():
            raise ConnectionError
    except Exception:
        if REQUIRE_REDIS:
            pytest.fail(f"Redis is required but unreachable at {REDIS_URL}")
        pytest.skip(f"Redis unreachable at {REDIS_URL}")
    key = secrets.token_hex(8)
    assert (await first.hit("1/minute", "shared", key)).allowed
    assert not (await second.hit("1/minute", "shared", key)).allowed
