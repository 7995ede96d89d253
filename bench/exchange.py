"""ModelGates against the django-oauth-toolkit peer: S256 code exchanges per second.

    .venv/bin/python bench/exchange.py [--quick] [--db sqlite,postgresql] [--rounds N]
                                       [--seconds S] [--workers N] [--profile] [--ab DIR]
                                       [--server granian]

For each database: start ``modelgates serve`` and the peer's ``serve.sh`` (2 gunicorn workers)
on the same kind of database; then, over several rounds in alternating order, mint a fresh batch
of codes for each contender (the peer's ``mint.py``; ours with the service layer's row, see
``ModelGates.mint``) and drive its exchange endpoint with wrk at 16 connections, one body per
request. Between rounds, the database's floor: the same statements, straight through the driver.
Then a paced run at half our peak rate for latency, and each worker's peak RSS.
``--profile`` samples our workers with py-spy during one more round (``pip install -e '.[bench]'``).
``--ab DIR`` adds a third contender: our server from a scratch copy of ``src/`` (a proposal).
``--server granian`` adds another: the same app served by granian instead of uvicorn, with as
many workers (``_common.serve_argv``).

Durability is equal on both sides: SQLite in WAL with synchronous=FULL (an fsync per commit),
PostgreSQL with its defaults (fsync on, synchronous_commit on). The script prints both.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import _floor
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
    pg_admin,
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

DOT = PEERS / "dot"
DOT_PYTHON = Path(os.environ.get("TMPDIR") or "/tmp") / "peers" / "dot-venv" / "bin" / "python"


class Contender:
    name = ""
    path = ""
    content_type: str | None = None
    service: Service
    #: Exchanges/s, to size the next batch of codes; starts at a guess, then the best seen.
    estimate = 1000.0

    def __init__(self) -> None:
        self.rounds: list[dict[str, float]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.service.port}{self.path}"

    def mint(self, n: int) -> Path:
        raise NotImplementedError

    def measure(self, seconds: float, *, record: bool = True) -> dict[str, float]:
        """One wrk run on a fresh batch of codes (twice what the last rate needs, so that
        the bodies never run out)."""
        bodies = self.mint(int(self.estimate * seconds * 2) + 100)
        result = run_wrk_on(
            self.service, self.url, bodies, seconds=seconds, content_type=self.content_type
        )
        if result["exhausted"] or result["non2xx"] or result["sockerr"]:
            say(f"  ! {self.name}: {result}")
        self.estimate = max(result["rate2xx"], self.estimate)
        if record:
            self.rounds.append(result)
        return result

    def median(self, key: str) -> float:
        return median(r[key] for r in self.rounds)


class ModelGates(Contender):
    name = "modelgates"
    path = "/api/v1/auth/keys"
    content_type = "application/json"

    def __init__(
        self, db: str, workers: int, src: Path | None = None, server: str = "uvicorn"
    ) -> None:
        super().__init__()
        self.database = "mg_bench"
        if src is not None:
            self.name, self.database = f"modelgates@{src}", "mg_bench_b"
        if server != "uvicorn":
            self.name, self.database = f"modelgates-{server}", f"mg_bench_{server}"
        if db == "sqlite":
            file = WORK / f"{self.database}.sqlite3"
            remove_sqlite(file)
            self.database_url = f"sqlite:///{file}"
        else:
            self.database_url = pg_recreate(self.database)
        self.env = dict(
            os.environ,
            MODELGATES_DATABASE_URL=self.database_url,
            MODELGATES_SECRET_KEY_FILE=str(WORK / "modelgates.secret"),
            # All of wrk's requests come from one address: a per-address limit would answer 429.
            # A limit no run reaches keeps the limiter's work in every request.
            MODELGATES_RATE_LIMIT_EXCHANGE="1000000/second",
        )
        if src is not None:
            self.env["PYTHONPATH"] = str(src)
        cli = [python(), "-m", "modelgates.cli"]
        subprocess.run(
            [*cli, "db", "upgrade"], env=self.env, cwd=WORK, check=True, capture_output=True
        )
        subprocess.run(
            [*cli, "users", "create", "bench@example.com", "--password-stdin"],
            env=self.env,
            input=b"bench-password\n",
            cwd=WORK,
            check=True,
            capture_output=True,
        )
        self.template = asyncio.run(_service_made_code(self.database_url))
        port = free_port()
        self.service = Service(self.database, serve_argv(server, port, workers), port, self.env)

    def mint(self, n: int) -> Path:
        """``n`` codes with the very row ``services.codes.create_code`` wrote for the template
        code, only the code, challenge and times new: one multi-row INSERT instead of a
        transaction per code (the service's speed is not what is measured here)."""
        from modelgates import pkce
        from modelgates.server.services import secrets

        now = datetime.now(timezone.utc)
        rows, lines = [], []
        for _ in range(n):
            code, verifier = secrets.new_code(), pkce.create_verifier()
            challenge = pkce.s256_challenge(verifier)
            rows.append(
                dict(
                    self.template,
                    code_hash=secrets.sha256_hex(code),
                    code_challenge=challenge,
                    pending_challenge=challenge,
                    created_at=now,
                    expires_at=now + timedelta(minutes=10),
                )
            )
            body = {"code": code, "code_verifier": verifier, "code_challenge_method": "S256"}
            lines.append(json.dumps(body, separators=(",", ":")))
        self._insert_codes(rows)
        out = WORK / f"{self.database}-bodies.txt"
        out.write_text("\n".join(lines) + "\n")
        return out

    def mint_for_floor(self, n: int) -> list[tuple[str, int]]:
        """Unspent codes as the floor needs them: (code hash, id)."""
        from sqlalchemy import select

        from modelgates.server.store.tables import auth_codes

        engine = self._engine()
        with engine.connect() as conn:
            last = conn.execute(select(auth_codes.c.id).order_by(auth_codes.c.id.desc())).first()
        self.mint(n)
        with engine.connect() as conn:
            query = select(auth_codes.c.code_hash, auth_codes.c.id).where(
                auth_codes.c.id > (last[0] if last else 0)
            )
            found = [(row[0], row[1]) for row in conn.execute(query)]
        engine.dispose()
        return found

    def _engine(self) -> Any:
        from sqlalchemy import create_engine

        from modelgates.server.store.engine import normalize_url

        return create_engine(normalize_url(self.database_url))

    def _insert_codes(self, rows: list[dict[str, Any]]) -> None:
        from sqlalchemy import insert

        from modelgates.server.store.tables import auth_codes

        engine = self._engine()
        with engine.begin() as conn:
            conn.execute(insert(auth_codes), rows)
        engine.dispose()

    def drop(self) -> None:
        if not self.database_url.startswith("sqlite"):
            pg_drop(self.database)


async def _service_made_code(database_url: str) -> dict[str, Any]:
    """Create one code through ``services.codes.create_code`` and return its row, less its id."""
    from sqlalchemy import select

    from modelgates import pkce
    from modelgates.models.oauth import CreateAuthCodeRequest
    from modelgates.server.services import apps, codes
    from modelgates.server.services.secrets import sha256_hex
    from modelgates.server.store import Store
    from modelgates.server.store.tables import auth_codes, users

    store = Store.open(database_url, pool_size=1)
    try:
        user_id = await store.run(lambda tx: tx.connection.execute(select(users.c.id)).scalar_one())
        callback = "https://app.example/cb"
        request = CreateAuthCodeRequest(
            callback_url=callback,
            code_challenge=pkce.s256_challenge(pkce.create_verifier()),
            code_challenge_method="S256",
        )
        app = apps.identify(callback_url=callback, title="Bench", categories=None)
        now = datetime.now(timezone.utc)
        created = await codes.create_code(
            store, user_id=user_id, request=request, app=app, now=now, ttl=timedelta(minutes=10)
        )
        query = select(auth_codes).where(auth_codes.c.code_hash == sha256_hex(created.code))
        row = await store.run(lambda tx: dict(tx.connection.execute(query).mappings().one()))
    finally:
        await store.close()
    row.pop("id")
    return row


class Peer(Contender):
    """The django-oauth-toolkit server of the peers' dot/, as its README runs it."""

    name = "dot-peer"
    path = "/o/token/"
    estimate = 300.0

    def __init__(self, db: str) -> None:
        super().__init__()
        if not DOT_PYTHON.exists():
            subprocess.run(["bash", str(DOT / "setup.sh")], check=True, capture_output=True)
        self.env = dict(os.environ, DOT_WORKERS="2")
        if db == "sqlite":
            file = WORK / "dot.sqlite3"
            remove_sqlite(file)
            self.env["DOT_SQLITE_PATH"] = str(file)
        else:
            self.env["DOT_DATABASE_URL"] = pg_recreate("dot_bench")
        port = free_port()
        serve = ["bash", str(DOT / "serve.sh"), str(port)]
        self.service = Service(self.name, serve, port, self.env)

    def mint(self, n: int) -> Path:
        out = WORK / f"{self.name}-bodies.txt"
        subprocess.run(
            [str(DOT_PYTHON), "mint.py", str(n), str(out)],
            cwd=DOT,
            env=self.env,
            check=True,
            capture_output=True,
        )
        return out

    def drop(self) -> None:
        if "DOT_DATABASE_URL" in self.env:
            pg_drop("dot_bench")


def durability(db: str) -> str:
    if db == "sqlite":
        import sqlite3

        conn = sqlite3.connect(":memory:")
        level = conn.execute("PRAGMA synchronous").fetchone()[0]
        names = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
        return (
            f"SQLite {sqlite3.sqlite_version}, journal_mode=WAL, synchronous={names[level]} "
            "(library default; neither side changes it): an fsync per commit, both sides"
        )
    settings = ("fsync", "synchronous_commit", "wal_sync_method", "server_version")
    shown = ", ".join(f"{name}={pg_admin(f'SHOW {name}')}" for name in settings)
    return f"PostgreSQL defaults ({shown}), both sides"


def serve_has_workers() -> bool:
    argv = [python(), "-m", "modelgates.cli", "serve", "--help"]
    usage = subprocess.run(argv, capture_output=True, text=True).stdout
    return "--workers" in usage


def bench_database(db: str, args: argparse.Namespace) -> dict[str, Any]:
    say(f"\n=== {db}: {durability(db)}")
    workers = args.workers or (2 if serve_has_workers() else 1)
    ours = ModelGates(db, workers)
    contenders: list[Contender] = [ours]
    if args.ab:
        contenders.append(ModelGates(db, workers, args.ab))
    for server in args.server:
        if server != "uvicorn":
            contenders.append(ModelGates(db, workers, server=server))
    peer = Peer(db)
    contenders.append(peer)
    say(
        f"modelgates serve: {workers} process(es)"
        + ("" if serve_has_workers() else " (this modelgates serve has no --workers flag)")
        + "".join(f"; modelgates-{s}: the same app, {workers} process(es)" for s in args.server[1:])
        + f"; peer: gunicorn, 2 sync workers; wrk -t1 -c{args.conns} -d{args.seconds:g}s"
    )
    floor: dict[int, list[dict[str, float]]] = {1: [], args.conns: []}
    service_cpu: list[float] = []
    try:
        for contender in contenders:  # warm up, and learn how many codes a round needs
            contender.measure(min(3.0, args.seconds), record=False)
        for r in range(args.rounds):
            turn = r % len(contenders)  # each contender goes first in turn
            for contender in contenders[turn:] + contenders[:turn]:
                contender.measure(args.seconds)
            for conns, runs in floor.items():
                best = max([5000.0, *(run["rate"] for run in runs)])
                codes = ours.mint_for_floor(int(best * args.floor_seconds * 2) + 100)
                runs.append(
                    _floor.run_floor(
                        ours.database_url, codes, seconds=args.floor_seconds, conns=conns
                    )
                )
            bodies = ours.mint(int(ours.estimate * args.floor_seconds * 4) + 100)
            service_cpu.append(
                _floor.run_service(
                    ours.database_url,
                    [json.loads(line) for line in bodies.read_text().splitlines()],
                    args.floor_seconds,
                )
            )
            say(
                f"round {r + 1}: "
                + ", ".join(f"{c.name} {c.rounds[-1]['rate2xx']:.0f}/s" for c in contenders)
                + ", "
                + ", ".join(f"floor@{c} {v[-1]['rate']:.0f}/s" for c, v in floor.items())
                + f" (load average {os.getloadavg()[0]:.1f})"
            )
        result = _report(db, contenders, floor)
        say(
            "CPU per exchange: the HTTP server "
            + ", ".join(f"{c.name} {c.median('cpu_ms'):.1f} ms" for c in contenders)
            + f"; the service layer alone, in-process, one at a time: {median(service_cpu):.1f} ms"
            + "; the floor: "
            + ", ".join(
                f"{median(r['cpu_ms'] for r in runs):.2f} ms ({c} conn.)"
                for c, runs in floor.items()
            )
        )
        result["latency"] = _latency(ours, args)
        if args.profile:
            from _profile import profile_round

            profile_round(ours, args.seconds, WORK / f"profile-{db}")
        result["rss"] = ours.service.peak_rss_mib()
        for c in contenders:
            peaks = ", ".join(f"{mib:.0f}" for mib in c.service.peak_rss_mib().values())
            say(f"peak RSS of each {c.name} worker over the run (VmHWM): {peaks} MiB")
        drift = _floor.statements_drift(_floor.capture(ours.database_url, _one_body(ours)))
        if drift:
            say(
                "! the exchange's statements changed; update bench/_floor.py:\n  "
                + "\n  ".join(drift)
            )
        return result
    finally:
        for contender in contenders:
            contender.service.stop()
            contender.drop()


def _one_body(ours: ModelGates) -> dict[str, str]:
    return dict(json.loads(ours.mint(1).read_text()))


def _report(
    db: str, contenders: list[Contender], floor: dict[int, list[dict[str, float]]]
) -> dict[str, Any]:
    ours, peer = contenders[0], contenders[-1]
    rows = []
    for c in contenders:
        rows += [
            [c.name, i + 1, r["rate2xx"], r["p50_ms"], r["p99_ms"], r["cores"], r["cpu_ms"]]
            for i, r in enumerate(c.rounds)
        ]
        rows.append(
            [c.name, "median"]
            + [c.median(k) for k in ("rate2xx", "p50_ms", "p99_ms", "cores", "cpu_ms")]
        )
    header = ["", "round", "exchanges/s", "p50 ms", "p99 ms", "server cores", "CPU ms/exch"]
    say(table(header, rows))
    rate, peer_rate = ours.median("rate2xx"), peer.median("rate2xx")
    floors = {conns: median(run["rate"] for run in runs) for conns, runs in floor.items()}
    best = max(floors, key=lambda conns: floors[conns])
    say(
        f"{db}: modelgates {rate:.0f}/s vs peer {peer_rate:.0f}/s: "
        f"x{rate / peer_rate:.2f} (target x3)\n"
        f"{db} floor (the exchange's statements through the driver, no HTTP): "
        + ", ".join(f"{v:.0f}/s with {c} connection(s)" for c, v in floors.items())
        + f"; modelgates is {100 * rate / floors[best]:.0f}% of the best (target 50%)"
    )
    return {
        "rate": rate,
        "peer_rate": peer_rate,
        "ratio": rate / peer_rate,
        "floor": floors[best],
        "floor_conns": best,
        "of_floor": rate / floors[best],
    }


def _latency(ours: ModelGates, args: argparse.Namespace) -> dict[str, float]:
    rate = ours.median("rate2xx") / 2
    bodies = ours.mint(int(rate * args.seconds) + 10)
    got = paced(
        ours.url, bodies, rate=rate, seconds=args.seconds, conns=args.conns,
        content_type="application/json",
    )  # fmt: skip
    say(
        f"paced at half our peak ({rate:.0f}/s for {args.seconds:g} s, {args.conns} keep-alive "
        f"connections): p50 {got['p50_ms']:.1f} ms, p99 {got['p99_ms']:.1f} ms, "
        f"max {got['max_ms']:.1f} ms (target p99 <= 25 ms); achieved {got['rate']:.0f}/s, "
        f"{int(got['failed'])} failed, schedule lag <= {got['lag_ms']:.1f} ms"
    )
    return got


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 short rounds: a smoke test")
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=8.0, help="one wrk run")
    parser.add_argument("--conns", type=int, default=16)
    parser.add_argument("--profile", action="store_true", help="py-spy our workers, one round")
    parser.add_argument("--workers", type=int, help="our server's processes (default 2)")
    parser.add_argument(
        "--ab", type=Path, metavar="DIR", help="also serve this copy of src/ (a proposed change)"
    )
    parser.add_argument(
        "--server",
        default="uvicorn",
        help=f"also serve our app with these HTTP servers ({', '.join(SERVERS[1:])}), as more "
        "contenders; uvicorn (modelgates serve) always runs",
    )
    args = parser.parse_args()
    args.server = ["uvicorn", *(s for s in args.server.split(",") if s != "uvicorn")]
    require_peers("bench/exchange.py", DOT / "serve.sh", WRK_LUA)
    if shutil.which("wrk") is None:
        raise SystemExit("bench/exchange.py needs wrk: apt-get install -y wrk")
    if args.quick:
        args.rounds, args.seconds = 2, 3.0
    args.floor_seconds = 1.0 if args.quick else 2.0
    WORK.mkdir(parents=True, exist_ok=True)
    say(f"machine: {machine()}; load average {os.getloadavg()[0]:.2f}; repo {ROOT}")
    results = {}
    for db in args.db.split(","):
        if db == "postgresql" and not pg_available():
            say("\n=== postgresql: nothing answers on 127.0.0.1:5432; skipped")
            continue
        results[db] = bench_database(db, args)
    say("\n=== summary (medians)")
    say(
        table(
            ["db", "modelgates/s", "peer/s", "ratio", "floor/s", "% floor", "p50", "p99", "RSS"],
            [
                [
                    db,
                    r["rate"],
                    r["peer_rate"],
                    f"x{r['ratio']:.2f}",
                    r["floor"],
                    f"{100 * r['of_floor']:.0f}%",
                    f"{r['latency']['p50_ms']:.1f} ms",
                    f"{r['latency']['p99_ms']:.1f} ms",
                    f"{max(r['rss'].values()):.0f} MiB",
                ]
                for db, r in results.items()
            ],
        )
    )


if __name__ == "__main__":
    main()
