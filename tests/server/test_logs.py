"""A full run of a real ``modelgates serve`` leaves no secret in its logs: not a key, a code, a
verifier, a service token or a password. The server's whole output (uvicorn's lines, our JSON
access lines, warnings) is searched after it stops."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from modelgates import ModelGates, RetryConfig, pkce
from tests.server.serving import ServeProcess


def test_a_full_run_logs_no_secret(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'logs.db'}"
    env = {**os.environ, "MODELGATES_DATABASE_URL": database_url}
    password = "a password that must never be logged"

    def cli(*args: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "modelgates.cli", *args],
            input=stdin, capture_output=True, text=True, env=env, timeout=60, check=True,
        )  # fmt: skip
        return done.stdout.strip()

    cli("db", "upgrade")
    cli("users", "create", "log@example.com", "--password-stdin", stdin=password + "\n")
    user_key = cli("keys", "create", "--user", "log@example.com", "--name", "own", "--management")
    service_token = cli("service-tokens", "create", "--name", "gw")
    server = ServeProcess(database_url, env={"MODELGATES_DEBUG": "1"})
    secrets_seen = [password, user_key, service_token]
    try:
        server.wait_until_up()
        api = f"{server.url}/api/v1"
        with ModelGates(api_key=user_key, server_url=api, retry_config=RetryConfig("none")) as mg:
            pair = mg.o_auth.create_sha256_code_challenge()
            code = mg.o_auth.create_auth_code(
                callback_url="http://localhost:9/cb",
                code_challenge=pair.code_challenge,
                code_challenge_method="S256",
            ).data.id
            issued = mg.o_auth.exchange_auth_code_for_api_key(
                code=code, code_verifier=pair.code_verifier
            )
            mg.o_auth.exchange_auth_code_for_api_key(code=code, code_verifier=pair.code_verifier)
            made = mg.api_keys.create(name="second")
            secrets_seen += [pair.code_verifier, code, issued.key, made.key]
        wrong = pkce.create_verifier()
        secrets_seen.append(wrong)
        httpx.post(f"{api}/auth/keys", json={"code": code, "code_verifier": wrong})
        httpx.post(f"{api}/auth/keys", json={"code": code, "code_verifier": "x" * 42})  # a 400
        httpx.get(f"{api}/key", headers={"Authorization": f"Bearer {issued.key}"})
        httpx.post(
            f"{api}/usage",
            json={"key_hash": made.data.hash, "amount": 1, "request_id": "r1"},
            headers={"Authorization": f"Bearer {service_token}"},
        )
        sign_in = httpx.post(
            f"{server.url}/auth/sign-in", data={"email": "log@example.com", "password": password}
        )
        assert sign_in.status_code < 500
    finally:
        server.process.terminate()
        server.process.wait(timeout=15)
        output = server.output  # everything it wrote, read before stop() removes the file
        server.stop()
    logged = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    access = [entry for entry in logged if "request_id" in entry]  # not uvicorn's lines
    assert len(access) >= 8 and all(
        {"request_id", "status", "latency_ms"} <= set(a) for a in access
    )
    for secret in secrets_seen:
        assert secret not in output
