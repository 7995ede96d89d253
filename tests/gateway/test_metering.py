"""Metering a person can look at, over HTTP against the scripted provider (the one stand-in:
no model provider is reachable here): the account page's spend and recent completions,
``GET /api/v1/key``'s usage, and ``/metrics``."""

from __future__ import annotations

import html
import re
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from modelgates.server.services import keys
from modelgates.server.services.secrets import new_api_key
from modelgates.server.store import Transaction
from tests.conftest import UPSTREAM_KEY, Account, run, utcnow
from tests.gateway.conftest import Gateway, serving, usd
from tests.gateway.upstream import INPUT_PRICE, OUTPUT_PRICE, Upstream
from tests.server.pages import PageClient, fast_password_hashing

#: What a call to script/echo with one message and max_tokens=5 costs: 7 prompt tokens and 5
#: completion tokens at the scripted prices, in micro-dollars.
ECHO_5 = 7 * INPUT_PRICE + 5 * OUTPUT_PRICE


@pytest.fixture(scope="module", autouse=True)
def _fast_password_hashing() -> Iterator[None]:
    with fast_password_hashing():
        yield


def app_key(gateway: Gateway, user: Account, title: str) -> str:
    """A key of ``user``'s held by an app titled ``title`` (as the consent page would have
    issued it; that path has tests of its own)."""

    async def make(store: Any) -> str:
        now, key = utcnow(), new_api_key()
        origin = f"https://{secrets.token_hex(4)}.example"

        def insert(tx: Transaction) -> str:
            app = tx.apps.upsert(origin, None, now)
            tx.apps.claim_title(app.id, user.user_id, title, now)
            issued = keys.insert_new_key(
                tx, key=key, user_id=user.user_id, label=f"{title}'s key", now=now, app_id=app.id
            )
            return issued.key

        result: str = await store.run(insert)
        return result

    return run(make, gateway.database_url)


def spend_some(gateway: Gateway, user: Account, app: str) -> None:
    """Two paid completions (the user's own key and the app's), and one the provider failed."""
    for key in (user.key, app_key(gateway, user, app)):
        answer = gateway.chat(key, model="script/echo", max_tokens=5)
        assert answer.status_code == 200, answer.text
        assert answer.json()["usage"]["cost"] == usd(ECHO_5)
    assert gateway.chat(user.key, model="script/fail").status_code == 500


def account_page(gateway: Gateway, user: Account) -> httpx.Response:
    client = PageClient(gateway.base_url).signed_in(user.email)
    try:
        page = client.get("/account")
    finally:
        client.close()
    assert page.status_code == 200, page.text
    return page


def section(page: str, heading: str) -> str:
    match = re.search(rf'<h2 id="{heading}">.*?</section>', page, re.S)
    assert match is not None, page
    return match.group(0)


def cells(markup: str) -> list[list[str]]:
    """Each table row's cells, as text."""
    rows = re.findall(r"<tr>(.*?)</tr>", markup, re.S)
    return [
        [
            html.unescape(re.sub(r"<[^>]+>|\s+", " ", cell)).strip()
            for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        ]
        for row in rows
    ]


def test_the_account_page_shows_what_each_app_and_key_spent(gateway: Gateway) -> None:
    user = gateway.key(limit=1)
    spend_some(gateway, user, "Notebook")
    page = account_page(gateway, user)
    assert "unsafe-inline" not in page.headers["content-security-policy"]
    spending = section(page.text, "spending-heading")
    total = usd(2 * ECHO_5)
    assert f"${total:f}".rstrip("0") in spending  # exact: $0.01014
    chart = re.search(r'<svg class="chart".*?</svg>', spending, re.S)
    assert chart is not None
    assert 'role="img"' in chart.group(0) and "<desc" in chart.group(0)
    assert len(re.findall("<rect ", chart.group(0))) == 2  # today: the app's and the user's own
    rows = cells(spending)
    assert ["Notebook", "$0.00507", ""] in rows  # by app
    assert ["Your own keys", "$0.00507", ""] in rows
    assert ["Notebook's key", "Notebook", "$0.00507", ""] in rows  # by key
    assert ["gateway key", "Your own keys", "$0.00507", ""] in rows

    recent = cells(section(page.text, "recent-heading"))
    assert recent[0] == ["Model", "Tokens", "Cost", "App", "When", "Status"]
    newest_first = recent[1:]
    assert [row[0] for row in newest_first] == ["script/fail", "script/echo", "script/echo"]
    assert newest_first[0][1:3] == ["0 + 0", "$0"] and newest_first[0][5] == "provider error"
    assert newest_first[1][1:4] == ["7 + 5", "$0.00507", "Notebook"]
    assert newest_first[2][1:4] == ["7 + 5", "$0.00507", "Your own keys"]
    assert all(row[5] != "in progress" for row in newest_first)
    assert UPSTREAM_KEY not in page.text


def test_without_spend_the_page_says_so(gateway: Gateway) -> None:
    page = account_page(gateway, gateway.key())
    assert "Nothing spent in the last 30 days" in section(page.text, "spending-heading")
    assert "No completions yet" in section(page.text, "recent-heading")
    assert '<svg class="chart"' not in page.text


def key_record(gateway: Gateway, key: str) -> dict[str, Any]:
    response = gateway.client.get("/key", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def test_the_keys_usage_counts_gateway_spend_and_its_remaining_limit_its_holds(
    gateway: Gateway,
) -> None:
    user = gateway.key(limit=1, reset="daily")
    assert gateway.chat(user.key, model="script/echo", max_tokens=5).status_code == 200
    record = key_record(gateway, user.key)
    for field in ("usage", "usage_daily", "usage_weekly", "usage_monthly"):
        assert record[field] == usd(ECHO_5), field
    assert record["limit_remaining"] == usd(1_000_000 - ECHO_5)

    # While a stream is open, its hold is not what the key may still spend.
    with gateway.stream(user.key, model="script/slow") as stream:
        assert stream.status_code == 200
        lines = stream.iter_lines()  # one iterator: a dropped one would close the stream
        assert next(lines).startswith("data: ")
        held = gateway.key_row(user.key_hash).held_micros
        assert held > 0
        during = key_record(gateway, user.key)
        assert during["usage"] == usd(ECHO_5)  # nothing charged yet
        assert during["limit_remaining"] == usd(1_000_000 - ECHO_5 - held)
        for _line in lines:  # to its end (this provider's timeout cuts it short: no matter)
            pass

    after = key_record(gateway, user.key)
    charged = gateway.key_row(user.key_hash).usage_micros
    assert gateway.key_row(user.key_hash).held_micros == 0 and charged > ECHO_5
    assert after["usage"] == after["usage_daily"] == usd(charged)
    assert after["limit_remaining"] == usd(1_000_000 - charged)


METRICS_TOKEN = "metrics-token-for-gateway-tests"


@pytest.fixture(scope="module")
def metered(
    new_database: Callable[[str], str], providers_file: Path, upstream: Upstream
) -> Iterator[Gateway]:
    """A server of this module's own, so that its counters count these tests' calls alone."""
    with serving(
        new_database("sqlite"), providers_file, upstream, metrics_token=METRICS_TOKEN
    ) as served:
        yield served


Sample = tuple[str, tuple[tuple[str, str], ...]]


def sample(name: str, **labels: str) -> Sample:
    return f"modelgates_gateway_{name}_total", tuple(sorted(labels.items()))


def samples(base_url: str) -> dict[Sample, float]:
    page = httpx.get(f"{base_url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert page.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(page.text)
        for sample in family.samples
        if sample.name.startswith("modelgates_gateway_") and sample.name.endswith("_total")
    }


def test_metrics_count_completions_tokens_and_cost_by_model_and_status(metered: Gateway) -> None:
    user = metered.key(limit=1)
    for _ in range(2):
        assert metered.chat(user.key, model="script/echo", max_tokens=5).status_code == 200
    with metered.stream(
        user.key, model="script/echo", max_tokens=4, stream_options={"include_usage": True}
    ) as stream:
        assert stream.status_code == 200
        list(stream.iter_lines())
    assert metered.chat(user.key, model="script/fail").status_code == 500
    # Refused before anything was held: counted with the HTTP requests, not as a completion.
    assert metered.chat(user.key, model="no/such-model").status_code == 400

    echo = {"model": "script/echo", "status": "completed"}
    fail = {"model": "script/fail", "status": "provider_error"}
    streamed = 7 * INPUT_PRICE + 4 * OUTPUT_PRICE
    assert samples(metered.base_url) == {
        sample("completions", **echo): 3,
        sample("tokens", **echo, kind="prompt"): 21,
        sample("tokens", **echo, kind="completion"): 14,
        sample("cost_microdollars", **echo): 2 * ECHO_5 + streamed,
        sample("completions", **fail): 1,
        sample("tokens", **fail, kind="prompt"): 0,
        sample("tokens", **fail, kind="completion"): 0,
        sample("cost_microdollars", **fail): 0,
    }
    # The sum of what was charged is what the key's usage says.
    assert metered.key_row(user.key_hash).usage_micros == 2 * ECHO_5 + streamed
