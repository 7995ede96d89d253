"""Schema fuzzing: schemathesis against a live server, held to its own ``/api/v1/openapi.json``.

Every operation of the document gets a few hundred generated requests (valid and invalid bodies,
queries, path parameters and headers), seeded and derandomized so that CI sends the same cases
every run. Each answer must not be a 5XX, must carry a documented status, content type and
headers, and must match the documented schema of that status; a request the document forbids
must be refused; an undocumented method must get 405 with an honest ``Allow``.

Run it alone with ``pytest tests/server/test_schema_fuzz.py -s`` (``-s`` prints the figures);
``MODELGATES_FUZZ_MAX_EXAMPLES`` changes the number of cases per operation.

The bearer is a user's management key (a service token for ``/usage``). Two things would poison
the cases after them, so they are fenced: ``DELETE /key`` revokes the key that calls it, so each
of its cases calls it with a fresh key of its own; and a ``PATCH`` or ``DELETE`` of
``/keys/{hash}`` aimed at the bearer's own hash is pointed at a spare key instead. The server's
rate limits are off: a few thousand requests a minute from one address is what a fuzzer does.

It runs on SQLite and on PostgreSQL, which refuses what SQLite keeps (NUL in text, strings longer
than their column): besides schemathesis' own cases, bodies get NUL, control characters and
overlong text in their strings (to be refused with a documented 4XX, never a 5XX or a dropped
connection), and ``HTTP-Referer`` overlong values (a 200,000-character referer was a 500 when the
referer named the app; it names nothing now, and must stay harmless).
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import os
import pathlib
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import strategies as st
from schemathesis.config import SchemathesisConfig

from modelgates.models.endpoints import ENDPOINTS
from modelgates.server.api.openapi import openapi_document
from modelgates.server.services import usage
from modelgates.server.settings import Settings
from modelgates.server.store.migrate import upgrade
from tests.conftest import (
    BACKENDS,
    NO_RATE_LIMITS,
    Account,
    free_port,
    new_account,
    run,
    start_server,
    utcnow,
)

#: Cases per operation in the fuzzing phase (Hypothesis max_examples); the examples and coverage
#: phases add theirs on top.
MAX_EXAMPLES = int(os.environ.get("MODELGATES_FUZZ_MAX_EXAMPLES", "300"))
#: One seed, and Hypothesis derandomized: the same cases on every run.
SEED = 82026
#: Operations with neither parameters nor a body have nothing to vary but the credential: they
#: get this many cases, which keeps the run short.
FIXED_INPUT_EXAMPLES = min(MAX_EXAMPLES, 30)
FIXED_INPUT = (
    "GET /api/v1/models",
    "GET /api/v1/key",
    "GET /api/v1/auth/key",
    "DELETE /api/v1/key",
    "GET /api/v1/openapi.json",
)
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    # What the document forbids, the server refuses: the document is not stricter than the server.
    "negative_data_rejection",
    # An undocumented method on a documented path gets 405, with an Allow naming the others.
    "unsupported_method",
    "allow_header_conformance",
)
#: Keys of the fuzzed user that the /keys/{hash} operations sometimes aim at, so that they reach
#: more than 404; and the key that /usage charges.
SPARE_KEYS = 4
SPARE_HASHES: list[str] = []
METERED_HASH: list[str] = []

# Names of credentials in generated cases; the test puts the real ones in (see _Bearer).
_MANAGEMENT_KEY, _SERVICE_TOKEN, _FRESH_KEY = "{management key}", "{service token}", "{fresh key}"
# (The metered key's stand-in is a well-formed hash: the document's pattern applies to examples.)
_FRESH_CODE, _METERED_HASH = "{fresh code}", "0" * 64
#: A completion of the bearer's, for GET /generation to find.
_GENERATION_ID = "{generation}"
GENERATION_IDS: list[str] = []

CHAT_EXAMPLE = {
    "model": "script/echo",
    "messages": [{"role": "user", "content": "fuzz"}],
    "max_tokens": 2,
}

#: The credentials (and the metered hash) of the runs on the databases before, by the names they
#: stand for.
EARLIER_CREDENTIALS: dict[str, str] = {}

#: What the run did, for the summary test: cases and statuses per operation, and when it ran.
#: By database backend.
FIGURES: collections.defaultdict[str, collections.defaultdict[str, collections.Counter[int]]] = (
    collections.defaultdict(lambda: collections.defaultdict(collections.Counter))
)
TIMES: collections.defaultdict[str, dict[str, float]] = collections.defaultdict(dict)
#: What PostgreSQL cannot store, or no column holds, put into generated strings.
POISONS = ("\x00", "a\x00b", "\x01\x1f\x7f", "line\nbreak", "\u202e", "x" * 3000)


@dataclasses.dataclass(frozen=True)
class FuzzTarget:
    backend: str
    base_url: str
    manager: Account
    service_token: str
    session: requests.Session

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.session.post(
            f"{self.base_url}/api/v1{path}",
            json=body,
            headers={"Authorization": f"Bearer {self.manager.key}"},
            timeout=30,
        )
        assert response.status_code in (200, 201), response.text
        answer = response.json()
        assert isinstance(answer, dict)
        return answer

    def fresh_key(self) -> str:
        return str(self._post("/keys", {"name": "fuzz: revoked by DELETE /key"})["key"])

    def fresh_code(self) -> str:
        body = {"callback_url": "https://fuzz.example/callback"}
        return str(self._post("/auth/keys/code", body)["data"]["id"])

    def credential(self, name: str) -> str:
        if name == _FRESH_KEY:
            return self.fresh_key()
        return {_MANAGEMENT_KEY: self.manager.key, _SERVICE_TOKEN: self.service_token}[name]


@pytest.fixture(scope="module", params=BACKENDS)
def fuzz_target(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    new_database: Callable[[str], str],
    providers_file: pathlib.Path,
) -> Iterator[FuzzTarget]:
    """The server on each database, its gateway in front of the scripted provider
    (tests/gateway/upstream.py)."""
    scratch = _scratch_dir(tmp_path_factory)
    if request.param == "sqlite":
        database_url = f"sqlite:///{scratch / 'fuzz.db'}"
        upgrade(database_url)
    else:
        database_url = new_database(request.param)
    port = free_port()
    server, thread = start_server(
        Settings(
            database_url=database_url,
            host="127.0.0.1",
            port=port,
            secret_key=os.environ["MODELGATES_SECRET_KEY"],
            providers_file=str(providers_file),
            **NO_RATE_LIMITS,
        )
    )
    manager = new_account(database_url, management=True)
    token = run(lambda store: usage.create_service_token(store, "fuzz", utcnow()), database_url)
    target = FuzzTarget(
        request.param, f"http://127.0.0.1:{port}", manager, token, requests.Session()
    )
    SPARE_HASHES[:] = [
        target._post("/keys", {"name": f"spare {n}", "limit": 5})["data"]["hash"]
        for n in range(SPARE_KEYS)
    ]
    # Charged by /usage; out of the /keys/{hash} operations' reach, so it stays live.
    METERED_HASH[:] = [target._post("/keys", {"name": "metered"})["data"]["hash"]]
    GENERATION_IDS[:] = [target._post("/chat/completions", CHAT_EXAMPLE)["id"]]
    try:
        yield target
    finally:
        # schemathesis reuses values it saw (Authorization headers, the example's key_hash): in
        # the next database's run, these stand for their names again.
        EARLIER_CREDENTIALS.update(
            {
                manager.key: _MANAGEMENT_KEY,
                token: _SERVICE_TOKEN,
                METERED_HASH[0]: _METERED_HASH,
                GENERATION_IDS[0]: _GENERATION_ID,
            }
        )
        target.session.close()
        server.should_exit = True
        thread.join(timeout=10)
        shutil.rmtree(scratch, ignore_errors=True)


def _scratch_dir(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    # SQLite on tmpfs where there is one: thousands of commits need not wait for a disk.
    shm = "/dev/shm"  # noqa: S108 - a private directory is made in it
    if pathlib.Path(shm).is_dir():
        return pathlib.Path(tempfile.mkdtemp(prefix="modelgates-fuzz-", dir=shm))
    return tmp_path_factory.mktemp("fuzz")


def _document() -> dict[str, Any]:
    """The served document (built in this process: test_openapi.py checks that the server serves
    the same), plus request examples that only this test can make real: a fresh code for the
    exchange and a spare key for metering, so that those operations reach their 200s too."""
    document = copy.deepcopy(openapi_document())
    examples = {
        "/api/v1/auth/keys": {"code": _FRESH_CODE},
        "/api/v1/usage": {"key_hash": _METERED_HASH, "amount": 0.25, "request_id": "fuzz-1"},
        "/api/v1/chat/completions": CHAT_EXAMPLE,
    }
    for path, example in examples.items():
        media = document["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        media["examples"] = {"fuzz": {"value": example}}
    for parameter in document["paths"]["/api/v1/generation"]["get"]["parameters"]:
        if parameter["name"] == "id":
            parameter["examples"] = {"fuzz": {"value": _GENERATION_ID}}
    return document


schema = schemathesis.openapi.from_dict(
    _document(),
    config=SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "generation": {
                "mode": "all",
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                "database": "none",
            },
            "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
            "operations": [
                {
                    "include-name": list(FIXED_INPUT),
                    "generation": {"max-examples": FIXED_INPUT_EXAMPLES},
                }
            ],
        }
    ),
)


@schema.hook("before_generate_path_parameters")
def _spare_hashes_too(_context: Any, strategy: st.SearchStrategy[Any]) -> Any:
    """Aim at real keys now and then, not only at random (404) hashes."""
    spare = st.integers(0, SPARE_KEYS - 1).map(lambda index: {"hash": SPARE_HASHES[index]})
    return st.one_of(strategy, spare)


def _poisoned(body: Any, poison: str, pick: int) -> Any:
    """``body`` with ``poison`` added to one of its strings (or put in place of a field)."""
    if not isinstance(body, dict) or not body:
        return body
    strings = [name for name, value in body.items() if isinstance(value, str)]
    names = strings or list(body)
    name = names[pick % len(names)]
    value = body[name]
    return {**body, name: value + poison if isinstance(value, str) else poison}


@schema.hook("flatmap_body")
def _nul_and_overlong_strings(_context: Any, body: Any) -> st.SearchStrategy[Any]:
    """The body as generated, or with NUL, control characters or overlong text in a string."""
    poisoned = st.builds(_poisoned, st.just(body), st.sampled_from(POISONS), st.integers(0, 50))
    return st.one_of(st.just(body), poisoned)


@schema.hook("flatmap_headers")
def _overlong_referers(_context: Any, headers: Any) -> st.SearchStrategy[Any]:
    """The headers as generated, or with a referer longer than any URL (NUL cannot be sent in a
    header: the HTTP parser refuses it before the application runs)."""
    if headers is not None and not isinstance(headers, dict):
        return st.just(headers)
    referer = st.integers(2041, 6000).map(lambda n: f"https://{'r' * n}.example/")
    with_referer = referer.map(lambda value: {**(headers or {}), "HTTP-Referer": value})
    return st.one_of(st.just(headers), with_referer)


@schema.auth(refresh_interval=None, retry_on=[])
class _Bearer:
    """The bearer of each case, unless the case is about leaving it out. Some cases are built at
    collection, before the server runs, so this names the credential and the test puts the real
    one in: the management key, the service token for /usage, and for ``DELETE /key`` (which
    revokes the key that calls it) a fresh key every time."""

    def get(self, case: Any, _context: Any) -> str | None:
        if case.method.upper() == "DELETE" and case.path == "/api/v1/key":
            return _FRESH_KEY
        security = case.operation.definition.raw.get("security") or [{}]
        scheme = next(iter(security[0]), "")
        return {"apiKey": _MANAGEMENT_KEY, "serviceToken": _SERVICE_TOKEN}.get(scheme)

    def set(self, case: Any, data: str | None, _context: Any) -> None:
        if data is not None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@schema.parametrize()
def test_api_answers_as_documented(case: Any, fuzz_target: FuzzTarget) -> None:
    times, figures = TIMES[fuzz_target.backend], FIGURES[fuzz_target.backend]
    times.setdefault("start", time.monotonic())
    _make_real(case, fuzz_target)
    response = case.call(base_url=fuzz_target.base_url, session=fuzz_target.session)
    # The coverage phase also probes each path with methods it does not document.
    documented = case.method.upper() == case.operation.method.upper()
    figures[case.operation.label if documented else "undocumented"][response.status_code] += 1
    times["end"] = time.monotonic()
    case.validate_response(response)


def _make_real(case: Any, target: FuzzTarget) -> None:
    """Put real credentials, codes and hashes in place of the names that stand for them: in new
    dicts, since cases made at collection share theirs between the two databases' runs."""
    bearer = (case.headers or {}).get("Authorization", "").removeprefix("Bearer ")
    bearer = EARLIER_CREDENTIALS.get(bearer, bearer)
    if bearer in (_MANAGEMENT_KEY, _SERVICE_TOKEN, _FRESH_KEY):
        case.headers = {**case.headers, "Authorization": f"Bearer {target.credential(bearer)}"}
    if isinstance(case.body, dict):
        if case.body.get("code") == _FRESH_CODE:
            case.body = {**case.body, "code": target.fresh_code()}
        key_hash = case.body.get("key_hash")
        if (
            isinstance(key_hash, str)
            and EARLIER_CREDENTIALS.get(key_hash, key_hash) == _METERED_HASH
        ):
            case.body = {**case.body, "key_hash": METERED_HASH[0]}
    generation = (case.query or {}).get("id")
    if isinstance(generation, str) and EARLIER_CREDENTIALS.get(generation, generation) == (
        _GENERATION_ID
    ):
        case.query = {**case.query, "id": GENERATION_IDS[0]}
    hashed = (case.path_parameters or {}).get("hash")
    if case.method.upper() in ("PATCH", "DELETE") and hashed == target.manager.key_hash:
        # Never disable or delete the bearer.
        case.path_parameters = {**case.path_parameters, "hash": SPARE_HASHES[0]}


def test_every_operation_was_fuzzed_and_reached_success(fuzz_target: FuzzTarget) -> None:
    """After the fuzzing (pytest keeps the file's order): every documented operation was fuzzed,
    those with inputs at least MAX_EXAMPLES times, each reached a 2XX at least once (so the
    cases got past authentication), and the bearer survived."""
    figures, times = FIGURES[fuzz_target.backend], TIMES[fuzz_target.backend]
    if not figures:
        pytest.skip("the fuzzing did not run (deselected?)")
    print(f"\nschema fuzzing on {fuzz_target.backend}: {times['end'] - times['start']:.1f} s")
    for label, statuses in sorted(figures.items()):
        print(f"  {label}: {sum(statuses.values())} cases, {dict(sorted(statuses.items()))}")
    documented = {f"{op.method} {op.full_path}" for op in ENDPOINTS}
    assert set(figures) - {"undocumented"} == documented
    cases = {label: sum(figures[label].values()) for label in documented}
    few = {label: n for label, n in cases.items() if label not in FIXED_INPUT and n < MAX_EXAMPLES}
    assert not few, f"fewer than {MAX_EXAMPLES} cases: {few}"
    unsuccessful = {
        label for label in documented if not any(200 <= s < 300 for s in figures[label])
    }
    assert not unsuccessful, f"never answered 2XX: {unsuccessful}"
    response = httpx.get(
        f"{fuzz_target.base_url}/api/v1/key",
        headers={"Authorization": f"Bearer {fuzz_target.manager.key}"},
    )
    assert response.status_code == 200, response.text


# --- bugs the fuzzing (or probing around it) found, kept fixed --------------------------------


def _call(target: FuzzTarget, method: str, path: str, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {target.manager.key}", **kwargs.pop("headers", {})}
    return httpx.request(method, f"{target.base_url}/api/v1{path}", headers=headers, **kwargs)


@pytest.mark.parametrize("offset", ["²", "١٢", "0x1", "-1", "1e3", " 1"])
def test_an_offset_that_is_not_ascii_digits_is_400(fuzz_target: FuzzTarget, offset: str) -> None:
    # "²".isdigit() is True, and int("²") raised: a 500.
    response = _call(fuzz_target, "GET", "/keys", params={"offset": offset})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["metadata"]["field"] == "offset"


@pytest.mark.parametrize(
    ("path", "body"),
    [("/keys", {"name": "n"}), ("/auth/keys/code", {"callback_url": "https://a.example/cb"})],
)
@pytest.mark.parametrize(
    "expires_at", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00", 4102444800, 4.1e9]
)
def test_an_expiry_past_the_calendar_or_not_a_string_is_400(
    fuzz_target: FuzzTarget, path: str, body: dict[str, Any], expires_at: object
) -> None:
    # A time zone that carries the date past year 9999 in UTC raised OverflowError: a 500. A JSON
    # number was read as a Unix time, though the document (and the contract) say date-time.
    response = _call(fuzz_target, "POST", path, json={**body, "expires_at": expires_at})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["metadata"]["field"] == "expires_at"


def test_405_allows_every_method_of_the_path(fuzz_target: FuzzTarget) -> None:
    # /api/v1/key has one route for GET and one for DELETE; Starlette's Allow named only GET.
    response = _call(fuzz_target, "PUT", "/key")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == 405
    assert set(response.headers["allow"].split(", ")) == {"DELETE", "GET", "HEAD"}
