"""The gateway against LiteLLM's proxy and against the upstream itself: chat completions/s.

    .venv/bin/python bench/gateway.py [--quick] [--db sqlite,postgresql] [--rounds N]
                                      [--seconds S] [--conns 16,64] [--modes json,stream]
                                      [--no-scaling] [--profile] [--ab DIR]
                                      [--server granian]

One upstream, the peers' ``fake_openai.py`` (16 completion tokens, answered at once, so what a
gateway costs is all that is measured), and in front of it, all on 127.0.0.1: ModelGates'
``POST /api/v1/chat/completions`` with 1 worker (and with 2, for the scaling ratio), LiteLLM's
proxy with 1 worker (the peers' ``litellm/serve.sh``), and nothing (the upstream directly). For
each mode (a JSON answer; a stream of 16 tokens) and each number of connections, wrk drives each
contender in turn, the order rotating every round; the figures are medians of rounds.

ModelGates checks, holds and settles a real key on every request: a user and a key with a
$1,000,000 limit made through the CLI, SQLite in a file with the library's default durability
(``synchronous=FULL``: an fsync per commit), and, with ``--db sqlite,postgresql``, PostgreSQL
with its defaults. LiteLLM runs with its master key and no database: it checks and charges
nothing (its README says why), so it does strictly less per request.

Then, at half ModelGates' peak rate, an open-loop run (``_paced.py``) against the upstream and
ModelGates alternately, for the latency ModelGates adds (p50, p99; for streams also the time to
the first streamed byte); each worker's peak RSS; and the ceiling, read from the database once
everything settled: the key's usage equals the sum of its generations' charges, each completed
generation is charged its tokens' price, and nothing is held. ``--profile`` samples ModelGates'
worker with py-spy during one more round of each mode (``pip install -e '.[bench]'``). ``--ab
DIR`` adds ModelGates served from a copy of ``src/`` (a proposed change) as one more contender;
``--server granian``, ModelGates (1 worker) served by granian instead of uvicorn.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import (
    PEERS,
    ROOT,
    SERVERS,
    WORK,
    WRK_LUA,
    Service,
    free_port,
    machine,
    median,
    pg_available,
    pg_drop,
    pg_recreate,
    python,
    remove_sqlite,
    require_peers,
    run_wrk_on,
    say,
    serve_argv,
    table,
)
from _paced import paced

UPSTREAM_SCRIPT = PEERS / "fake_openai.py"
LITELLM = PEERS / "litellm"
LITELLM_KEY = "sk-litellm-master"
TOKENS = 16
#: The model's prices (USD per million tokens) and output bound, as the providers file says.
INPUT_PER_MILLION, OUTPUT_PER_MILLION, MAX_OUTPUT_TOKENS = 0.5, 1.5, 64
LIMIT_USD = 1_000_000
PROMPT = "Say hello to the benchmark in five words."


def body(model: str, mode: str) -> str:
    """One request body, the same for every contender but the model's name."""
    request: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": TOKENS,
    }
    if mode == "stream":
        request["stream"] = True
        request["stream_options"] = {"include_usage": True}
    return json.dumps(request, separators=(",", ":"))


def load() -> str:
    return Path("/proc/loadavg").read_text().split(" ", 1)[0]


class Contender:
    name = ""
    path = "/v1/chat/completions"
    model = "fake-model"
    service: Service
    headers: dict[str, str]

    def __init__(self) -> None:
        self.headers = {}
        #: (mode, conns) -> wrk results, one per round.
        self.rounds: dict[tuple[str, int], list[dict[str, float]]] = {}
        #: requests/s, to size the next bodies file; a guess, then the best seen.
        self.estimate = 500.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.service.port}{self.path}"

    def bodies(self, mode: str, n: int) -> Path:
        """``n`` copies of this contender's body: wrk_bodies.lua sends each line once."""
        out = WORK / f"gateway-{self.service.port}-{mode}.txt"
        line = body(self.model, mode) + "\n"
        if not out.exists() or out.stat().st_size < n * len(line):
            out.write_text(line * n)
        return out

    def measure(
        self, mode: str, conns: int, seconds: float, *, record: bool = True
    ) -> dict[str, float]:
        bodies = self.bodies(mode, int(self.estimate * seconds * 2) + 200)
        result = run_wrk_on(
            self.service, self.url, bodies, seconds=seconds, conns=conns,
            content_type="application/json", headers=self.headers,
        )  # fmt: skip
        if result["exhausted"] or result["non2xx"] or result["sockerr"]:
            say(f"  ! {self.name} {mode} c{conns}: {result}")
        self.estimate = max(result["rate2xx"], self.estimate)
        if record:
            self.rounds.setdefault((mode, conns), []).append(result)
        return result

    def median(self, mode: str, conns: int, key: str = "rate2xx") -> float:
        return median(r[key] for r in self.rounds[(mode, conns)])

    def stop(self) -> None:
        self.service.stop()


class Upstream(Contender):
    name = "upstream"

    def __init__(self) -> None:
        super().__init__()
        port = free_port()
        argv = [python(), str(UPSTREAM_SCRIPT), str(port), "--tokens", str(TOKENS)]
        self.service = Service("upstream", argv, port, dict(os.environ))
        self.estimate = 2000.0


class LiteLLM(Contender):
    name = "litellm"

    def __init__(self, upstream: Upstream, workers: int) -> None:
        super().__init__()
        self.headers = {"Authorization": f"Bearer {LITELLM_KEY}"}
        port = free_port()
        argv = ["bash", str(LITELLM / "serve.sh"), str(port), str(upstream.service.port)]
        self.service = Service("litellm", [*argv, str(workers)], port, dict(os.environ))
        self.estimate = 60.0


@dataclass
class CeilingCheck:
    generations: int
    completed: int
    unsettled: int
    usage: int
    charged: int
    held: int
    mispriced: int

    @property
    def exact(self) -> bool:
        return (
            self.usage == self.charged
            and self.held == 0
            and self.unsettled == 0
            and self.mispriced == 0
        )


class ModelGates(Contender):
    path = "/api/v1/chat/completions"
    model = "bench/fake-model"

    def __init__(
        self,
        db: str,
        workers: int,
        upstream: Upstream,
        src: Path | None = None,
        server: str = "uvicorn",
    ) -> None:
        super().__init__()
        suffix = f"{db}-{workers}w" + ("" if src is None else "-ab")
        self.name = f"modelgates-{db}" + (f"x{workers}" if workers > 1 else "")
        if src is not None:
            self.name += f"@{src.parent.name}"
        if server != "uvicorn":
            suffix += f"-{server}"
            self.name += f"-{server}"
        self.database = f"mg_gateway_{suffix.replace('-', '_')}"
        if db == "sqlite":
            file = WORK / f"{self.database}.sqlite3"
            remove_sqlite(file)
            self.database_url = f"sqlite:///{file}"
        else:
            self.database_url = pg_recreate(self.database)
        providers = WORK / f"providers-{upstream.service.port}.toml"
        providers.write_text(
            "[providers.bench]\n"
            f'base_url = "http://127.0.0.1:{upstream.service.port}/v1"\n'
            "[[providers.bench.models]]\n"
            'id = "fake-model"\n'
            f"input_per_million = {INPUT_PER_MILLION}\n"
            f"output_per_million = {OUTPUT_PER_MILLION}\n"
            f"max_output_tokens = {MAX_OUTPUT_TOKENS}\n"
        )
        self.env = dict(
            os.environ,
            MODELGATES_DATABASE_URL=self.database_url,
            MODELGATES_SECRET_KEY_FILE=str(WORK / "modelgates.secret"),
            MODELGATES_PROVIDERS_FILE=str(providers),
        )
        if src is not None:
            self.env["PYTHONPATH"] = str(src)
        cli = [python(), "-m", "modelgates.cli"]

        def admin(*argv: str, stdin: bytes | None = None) -> str:
            done = subprocess.run(
                [*cli, *argv], env=self.env, cwd=WORK, input=stdin, check=True, capture_output=True
            )
            return done.stdout.decode().strip()

        admin("db", "upgrade")
        admin("users", "create", "bench@example.com", "--password-stdin", stdin=b"bench-pw-1\n")
        key = admin(
            "keys", "create", "--user", "bench@example.com", "--name", "bench",
            "--limit", str(LIMIT_USD),
        )  # fmt: skip
        self.headers = {"Authorization": f"Bearer {key}"}
        port = free_port()
        self.service = Service(self.database, serve_argv(server, port, workers), port, self.env)

    def check_ceiling(self, timeout: float = 30) -> CeilingCheck:
        """Once every hold has settled (or ``timeout``): the key's usage, holds and charges,
        read straight from the database."""
        from sqlalchemy import create_engine, func, select

        from modelgates.server.services.ceiling import Price
        from modelgates.server.store.engine import normalize_url
        from modelgates.server.store.tables import api_keys, generations

        price = Price(
            input_per_million=_decimal(INPUT_PER_MILLION),
            output_per_million=_decimal(OUTPUT_PER_MILLION),
            output_cap=MAX_OUTPUT_TOKENS,
            context_length=None,
        )
        engine = create_engine(normalize_url(self.database_url))
        deadline = time.monotonic() + timeout
        try:
            while True:
                with engine.connect() as conn:
                    key = conn.execute(
                        select(api_keys.c.id, api_keys.c.usage_micros, api_keys.c.held_micros)
                        .where(api_keys.c.is_management.is_(False))
                    ).one()  # fmt: skip
                    rows = conn.execute(
                        select(
                            generations.c.status,
                            generations.c.settled_at,
                            generations.c.tokens_prompt,
                            generations.c.tokens_completion,
                            generations.c.charged_micros,
                        ).where(generations.c.key_id == key.id)
                    ).all()
                    charged = conn.execute(
                        select(func.coalesce(func.sum(generations.c.charged_micros), 0)).where(
                            generations.c.key_id == key.id
                        )
                    ).scalar_one()
                unsettled = sum(1 for r in rows if r.settled_at is None)
                if (unsettled == 0 and key.held_micros == 0) or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
        finally:
            engine.dispose()
        completed = [r for r in rows if r.status == "completed"]
        mispriced = sum(
            1
            for r in completed
            if r.charged_micros != price.cost(r.tokens_prompt, r.tokens_completion)
        )
        return CeilingCheck(
            generations=len(rows),
            completed=len(completed),
            unsettled=unsettled,
            usage=int(key.usage_micros),
            charged=int(charged),
            held=int(key.held_micros),
            mispriced=mispriced,
        )

    def stop(self) -> None:
        super().stop()
        if not self.database_url.startswith("sqlite"):
            pg_drop(self.database)


def _decimal(value: float) -> Any:
    from decimal import Decimal

    return Decimal(str(value))


def run_grid(contenders: list[Contender], args: argparse.Namespace) -> None:
    """Each mode and number of connections: a warm-up each, then rounds, the order rotating."""
    for mode in args.modes:
        for conns in args.conns:
            for contender in contenders:
                contender.measure(mode, conns, min(2.0, args.seconds), record=False)
            for r in range(args.rounds):
                turn = r % len(contenders)
                for contender in contenders[turn:] + contenders[:turn]:
                    contender.measure(mode, conns, args.seconds)
                say(
                    f"{mode} c{conns} round {r + 1}: "
                    + ", ".join(
                        f"{c.name} {c.rounds[(mode, conns)][-1]['rate2xx']:.0f}/s"
                        for c in contenders
                    )
                    + f" (load average {load()})"
                )


def report_grid(
    contenders: list[Contender], litellm: Contender | None, args: argparse.Namespace
) -> list[list[object]]:
    rows = []
    for mode in args.modes:
        for conns in args.conns:
            for c in contenders:
                rates = ", ".join(f"{r['rate2xx']:.0f}" for r in c.rounds[(mode, conns)])
                ratio = ""
                if litellm is not None and c is not litellm and isinstance(c, ModelGates):
                    theirs = litellm.median(mode, conns)
                    ratio = f"x{c.median(mode, conns) / theirs:.1f}" if theirs else "-"
                rows.append(
                    [
                        mode,
                        conns,
                        c.name,
                        c.median(mode, conns),
                        rates,
                        c.median(mode, conns, "p50_ms"),
                        c.median(mode, conns, "p99_ms"),
                        c.median(mode, conns, "cores"),
                        c.median(mode, conns, "cpu_ms"),
                        ratio,
                    ]
                )
    header = ["mode", "conns", "", "req/s", "rounds", "p50 ms", "p99 ms", "cores", "CPU ms/req"]
    say(table([*header, "/litellm"], rows))
    return rows


def scaling(one: ModelGates, two: ModelGates, args: argparse.Namespace) -> None:
    for mode in args.modes:
        for conns in args.conns:
            ratio = two.median(mode, conns) / one.median(mode, conns)
            say(
                f"2 workers vs 1, {mode} c{conns}: {two.median(mode, conns):.0f} vs "
                f"{one.median(mode, conns):.0f}/s: x{ratio:.2f} (target x1.7)"
            )


def latency(
    upstream: Upstream, ours: ModelGates, args: argparse.Namespace
) -> dict[str, dict[str, float]]:
    """Open-loop runs at half our peak rate (16 connections), upstream and ours alternately;
    the medians of each, and ours minus the upstream's."""
    added: dict[str, dict[str, float]] = {}
    conns = min(args.conns)
    for mode in args.modes:
        rate = max(ours.median(mode, conns) / 2, 1.0)
        runs: dict[str, list[dict[str, float]]] = {upstream.name: [], ours.name: []}
        for _ in range(args.paced_rounds):
            for c in (upstream, ours):
                bodies = c.bodies(mode, int(rate * args.seconds) + 10)
                got = paced(
                    c.url, bodies, rate=rate, seconds=args.seconds, conns=conns,
                    content_type="application/json", headers=c.headers,
                )  # fmt: skip
                if got["failed"]:
                    say(f"  ! paced {c.name} {mode}: {int(got['failed'])} failed")
                runs[c.name].append(got)
        keys = ["p50_ms", "p99_ms"] + (["ttfb_p50_ms", "ttfb_p99_ms"] if mode == "stream" else [])
        theirs = {k: median(r[k] for r in runs[upstream.name]) for k in keys}
        mine = {k: median(r[k] for r in runs[ours.name]) for k in keys}
        added[mode] = {k: mine[k] - theirs[k] for k in keys}
        lag = max(r["lag_ms"] for rs in runs.values() for r in rs)
        say(
            f"paced {mode} at {rate:.0f}/s ({args.seconds:g} s x {args.paced_rounds}, {conns} "
            f"connections; load average {load()}; loader lag <= {lag:.1f} ms): "
            + "; ".join(
                f"{k} upstream {theirs[k]:.2f}, {ours.name} {mine[k]:.2f}, added "
                f"{added[mode][k]:.2f} ms"
                for k in keys
            )
        )
    return added


AREAS = {
    "uvicorn + httptools (the client's HTTP, and all below it)": r"\(uvicorn/protocols|httptools",
    "starlette (routing, middleware, request, response)": r"\(starlette/",
    "our API layer (auth, handler, event stream)": r"server/api/",
    "gateway: completions.py (read, forward, relay, settle)": r"server/gateway/completions",
    "aiohttp (the provider's HTTP)": r"\(aiohttp/",
    "json (parse and dump bodies, chunks)": r"\(json/",
    "store thread: the transactions (hold, settle, key lookup)": r"\(concurrent/futures/thread",
    "store thread: SQLAlchemy": r"\(concurrent/futures/thread.*\(sqlalchemy/",
    "anyio (task groups, cancel scopes)": r"\(anyio/",
    "logging": r"\(logging/",
}


def profile(ours: ModelGates, args: argparse.Namespace) -> None:
    from _profile import start_sampling, summarize

    conns = min(args.conns)
    for mode in args.modes:
        out = WORK / f"profile-gateway-{mode}"
        spies = start_sampling(ours.service.workers(), args.seconds, out)
        result = ours.measure(mode, conns, args.seconds, record=False)
        for spy in spies:
            spy.wait(timeout=60)
        say(f"profile, {mode} ({result['rate2xx']:.0f} req/s while sampled, load {load()}):")
        summarize(out, AREAS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 short round each: a smoke test")
    parser.add_argument("--db", default="sqlite", help="sqlite and/or postgresql")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=6.0, help="one wrk run")
    parser.add_argument("--conns", default="16,64")
    parser.add_argument("--modes", default="json,stream")
    parser.add_argument("--no-litellm", action="store_true", help="leave LiteLLM out")
    parser.add_argument("--no-scaling", action="store_true", help="no 2-worker contender")
    parser.add_argument("--profile", action="store_true", help="py-spy our worker, one round")
    parser.add_argument("--ab", type=Path, metavar="DIR", help="also serve this copy of src/")
    parser.add_argument(
        "--server",
        default="",
        help="also serve ModelGates (1 worker, the first database) with these HTTP servers "
        f"({', '.join(SERVERS[1:])}); uvicorn (modelgates serve) always runs",
    )
    args = parser.parse_args()
    args.server = [s for s in args.server.split(",") if s and s != "uvicorn"]
    needed = [UPSTREAM_SCRIPT, WRK_LUA] + ([] if args.no_litellm else [LITELLM / "serve.sh"])
    require_peers("bench/gateway.py", *needed)
    if shutil.which("wrk") is None:
        raise SystemExit("bench/gateway.py needs wrk: apt-get install -y wrk")
    if args.quick:
        args.rounds, args.seconds = 1, 2.0
    args.paced_rounds = 1 if args.quick else 2
    args.conns = [int(c) for c in args.conns.split(",")]
    args.modes = args.modes.split(",")
    dbs = args.db.split(",")
    if "postgresql" in dbs and not pg_available():
        say("postgresql: nothing answers on 127.0.0.1:5432; left out")
        dbs.remove("postgresql")
    WORK.mkdir(parents=True, exist_ok=True)
    say(f"machine: {machine()}; load average {load()}; repo {ROOT}")
    say(
        f"SQLite: the library's default synchronous=FULL in WAL (an fsync per commit); "
        f"ModelGates 1 worker{' and 2' if not args.no_scaling else ''}, LiteLLM 1 worker; "
        f"wrk -t1 -d{args.seconds:g}s, {args.rounds} round(s)"
    )
    started: list[Contender] = []
    try:
        upstream = Upstream()
        started.append(upstream)
        ours = [ModelGates(db, 1, upstream) for db in dbs]
        started += ours
        two = None if args.no_scaling else ModelGates(dbs[0], 2, upstream)
        if two is not None:
            started.append(two)
        if args.ab:
            started.append(ModelGates(dbs[0], 1, upstream, args.ab))
        for server in args.server:
            started.append(ModelGates(dbs[0], 1, upstream, server=server))
        litellm = None if args.no_litellm else LiteLLM(upstream, 1)
        if litellm is not None:
            started.append(litellm)
        run_grid(started, args)
        say("\n=== requests/s, medians of rounds")
        report_grid(started, litellm, args)
        if two is not None:
            scaling(ours[0], two, args)
        latency(upstream, ours[0], args)
        if args.profile:
            profile(ours[0], args)
        for c in started:
            peaks = ", ".join(f"{mib:.0f}" for mib in c.service.peak_rss_mib().values())
            say(f"peak RSS of each {c.name} worker over the run (VmHWM): {peaks} MiB")
        for c in started:
            if isinstance(c, ModelGates):
                check = c.check_ceiling()
                say(
                    f"ceiling, {c.name}: {check.generations} generations "
                    f"({check.completed} completed, {check.unsettled} unsettled); key usage "
                    f"{check.usage} µ$, sum of charges {check.charged} µ$, held {check.held} µ$, "
                    f"{check.mispriced} completed not charged their tokens' price: "
                    + ("EXACT" if check.exact else "NOT EXACT")
                )
    finally:
        for c in reversed(started):
            c.stop()


if __name__ == "__main__":
    main()
