"""Settings: flags over environment, and clear errors for values that cannot work."""

from __future__ import annotations

import pytest

from modelgates.server.settings import Settings, SettingsError


def test_flags_win_over_the_environment() -> None:
    env = {"MODELGATES_PORT": "9000", "MODELGATES_DATABASE_URL": "sqlite:///env.db"}
    settings = Settings.load({"port": 9100, "database_url": None}, environ=env)
    assert settings.port == 9100
    assert settings.database_url == "sqlite:///env.db"


def test_booleans_and_integers_from_the_environment() -> None:
    settings = Settings.load(
        environ={"MODELGATES_ALLOW_SIGNUP": "yes", "MODELGATES_CODE_TTL_SECONDS": "60"}
    )
    assert settings.allow_signup is True
    assert settings.code_ttl_seconds == 60


@pytest.mark.parametrize(
    "env",
    [
        {"MODELGATES_PORT": "eighty"},
        {"MODELGATES_ALLOW_SIGNUP": "maybe"},
        {"MODELGATES_DATABASE_URL": "mysql://root@localhost/db"},
        {"MODELGATES_PORT": "70000"},
        {"MODELGATES_CODE_TTL_SECONDS": "0"},
    ],
)
def test_unworkable_values_are_refused(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError):
        Settings.load(environ=env)
