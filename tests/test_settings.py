"""Settings come from PORTAL_ variables; a value that cannot be used is named, never a traceback."""

import pytest
from helpers import run_cli

from backend.settings import Settings, get_settings


def test_values_are_read_as_their_types() -> None:
    settings = Settings.from_environment(
        {
            "PORTAL_SMTP_PORT": " 2525 ",
            "PORTAL_SMTP_USER": "",
            "PORTAL_PASSWORD_HASH_COST": "Cheapest",
        }
    )
    assert settings.smtp_port == 2525
    assert settings.smtp_user is None
    assert settings.password_hash_cost == "cheapest"
    assert Settings.from_environment({}) == Settings()


def test_an_unusable_value_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PORTAL_LOCK_TIMEOUT_S", "a minute")
    get_settings.cache_clear()
    result = run_cli(capsys, "batches")
    assert result.code == 2
    assert "PORTAL_LOCK_TIMEOUT_S is 'a minute': it must be a whole number" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout

    monkeypatch.setenv("PORTAL_LOCK_TIMEOUT_S", "60")
    monkeypatch.setenv("PORTAL_PASSWORD_HASH_COST", "fast")
    get_settings.cache_clear()
    result = run_cli(capsys, "batches")
    assert result.code == 2
    assert "PORTAL_PASSWORD_HASH_COST is 'fast': it must be production or cheapest" in result.stderr
