"""``modelgates serve``: bind the port, migrate, then serve with uvicorn. Needs the [server]
extra.
"""

from __future__ import annotations

import argparse
import errno
import os
import socket
from typing import Any

import uvicorn

from modelgates.cli.common import CommandError
from modelgates.cli.database import location, migrate, redact, settings_of, sqlite_file
from modelgates.cli.gateway import providers_catalogue
from modelgates.server.http_limits import BoundedHttpToolsProtocol
from modelgates.server.observability import LOG_CONFIG, configure_logging
from modelgates.server.settings import DEFAULT_DATABASE_URL, Settings


def serve(args: argparse.Namespace) -> None:
    settings = settings_of(
        args,
        host=args.host,
        port=args.port,
        workers=args.workers,
        migrate_on_start=False if args.no_migrate else None,
        providers_file=args.providers,
    )
    # Read once here, before the port is bound or the database touched, so that a mistake in
    # the file stops serve in one line naming it; each worker reads it again as it starts.
    models = 0
    if settings.providers_file:
        models = len(providers_catalogue(settings.providers_file).models)
    configure_logging()  # what the migration logs (waiting for its lock) is JSON too
    listener = _bind(settings.host, settings.port)
    try:
        if settings.migrate_on_start:
            migrate(settings)
        _listen(listener, settings.host, settings.port)
        port = listener.getsockname()[1]
        print(_banner(settings, port, models), flush=True)
        options: dict[str, Any] = {
            "host": settings.host,
            "port": port,
            "log_config": LOG_CONFIG,
            "access_log": False,  # ours: one JSON line per request (outer.OuterLayer)
            # Forwarded headers only from the load balancers named (docs/deploy.md): anyone
            # else could claim any client address and dodge the per-address limits.
            "proxy_headers": bool(settings.forwarded_allow_ips),
            "forwarded_allow_ips": settings.forwarded_allow_ips or None,
            # Bounds on each request's head: uvicorn's own protocols have none (httptools) or
            # only on bytes (h11).
            "http": BoundedHttpToolsProtocol,
        }
        if settings.workers == 1:
            from modelgates.server.app import create_app

            config = uvicorn.Config(create_app(settings), **options)
            try:
                uvicorn.Server(config).run(sockets=[listener])
            except KeyboardInterrupt:  # uvicorn stopped gracefully, then re-raised the SIGINT
                pass
            return
        from uvicorn.supervisors import Multiprocess

        # Each worker is a fresh process that imports the app: it reads these settings back
        # from the environment it inherits, and serves on the socket bound here.
        os.environ.update(settings.to_environ())
        config = uvicorn.Config(
            "modelgates.server.app:create_app_from_env",
            factory=True,
            workers=settings.workers,
            **options,
        )
        Multiprocess(config, sockets=[listener]).run()
    finally:
        listener.close()


#: Connections the kernel queues for the server before it accepts them (uvicorn's default).
BACKLOG = 2048


def _bind(host: str, port: int) -> socket.socket:
    """The server's socket, bound before the database is touched: on a port someone else
    serves, ``serve`` says so in one line and leaves nothing behind (no database made)."""
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        # A restart must not wait for the last run's connections to leave TIME_WAIT.
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
    except OSError as error:
        listener.close()
        raise _cannot_listen(host, port, error) from None
    return listener


def _listen(listener: socket.socket, host: str, port: int) -> None:
    """Take connections from here on (they wait for the server rather than being refused), so
    the banner can say it serves. Until now, while it migrated, they were refused: a load
    balancer sees a replica that is not up yet."""
    try:
        listener.listen(BACKLOG)
    except OSError as error:  # SO_REUSEADDR let another process bind too, and it listened first
        listener.close()
        raise _cannot_listen(host, port, error) from None


def _cannot_listen(host: str, port: int, error: OSError) -> CommandError:
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if error.errno == errno.EADDRINUSE:
        return CommandError(f"{address} is already in use; choose another port with --port")
    return CommandError(
        f"cannot listen on {address}: {error.strerror or error}; "
        "choose another address with --host or port with --port"
    )


def _banner(settings: Settings, port: int, models: int) -> str:
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    origin = f"http://{host}:{port}"
    # Run in this folder, the commands below find the default database unaided; any other
    # they must be told of.
    url = settings.database_url
    shown_db = "" if url == DEFAULT_DATABASE_URL else f" --database-url {redact(url)}"
    database = location(url)
    file = sqlite_file(url)
    if file is not None and not os.path.isabs(file):
        database += f"  (from {url}, relative to this folder)"
    return (
        f"ModelGates is serving on {origin}\n"
        f"  API:          {origin}/api/v1\n"
        f"  Consent page: {origin}/auth  (where apps send their users)\n"
        f"  Your account: {origin}/account  (sign in as a user made below)\n"
        f"  Database:     {database}\n"
        f"  Workers:      {settings.workers}\n"
        f"  Models:       {_models(settings, models)}\n"
        f"  Add a user:   modelgates users create you@example.com{shown_db}\n"
        f"  Make a key:   modelgates keys create --user you@example.com --name my-key{shown_db}\n"
        f"  From a shell: modelgates login --server {origin}\n"
        "Press Ctrl+C to stop."
    )


def _models(settings: Settings, models: int) -> str:
    if not settings.providers_file:
        return "none (the gateway answers 503: serve --providers FILE)"
    return f"{models} from {settings.providers_file}  (modelgates models list)"
