"""Settings come from PORTAL_ variables; a value that cannot be used is named, never a traceback."""

from pathlib import Path

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


@pytest.mark.parametrize(
    ("database", "said"),
    [
        ("postgresql://postgres@127.0.0.1:1/portal", "The database did not answer (connection"),
        ("{tmp}/a-file/portal.sqlite", "The database's folder "),
    ],
)
def test_a_database_that_cannot_be_reached_is_one_line_and_exit_2(
    database: str, said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    result = run_cli(capsys, "--db", database.format(tmp=tmp_path), "batches")
    assert result.code == 2
    assert result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"Error: {said}") and "Traceback" not in line
