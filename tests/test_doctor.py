"""`portal doctor`: each check of a desk's set-up, passing and failing, through the CLI."""

import sqlite3
import sys
from pathlib import Path

import pytest
from helpers import run_cli

from addin.cli import doctor
from addin.xlam.install import install_addin


def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "portal.sqlite"
    path.write_bytes(sqlite_template.read_bytes())
    return f"sqlite:///{path}"


def test_a_sound_set_up_passes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, sqlite_template: Path
) -> None:
    result = run_cli(capsys, "--db", sqlite_url(sqlite_template, tmp_path), "doctor")
    assert result.code == 0, result.stdout
    assert "FAIL" not in result.stdout
    assert "All " in result.stdout and "checks passed." in result.stdout
    for found in ("Python: 3.", "sqlalchemy: 2.", "xlwings: ", "Database tables: up to date"):
        assert found in result.stdout
    if sys.platform not in ("win32", "darwin"):
        assert "Excel add-in: not checked: Excel does not run on this system" in result.stdout


def test_a_missing_database_is_not_created(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere.sqlite"
    result = run_cli(capsys, "--db", str(missing), "doctor")
    assert result.code == 1
    assert f"FAIL Database: no database file at {missing}" in result.stdout
    assert "Run 'portal init' to create it" in result.stdout
    assert not missing.exists()


def test_old_tables_say_to_run_init(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    sqlite3.connect(path).close()  # a database with no tables yet
    result = run_cli(capsys, "--db", str(path), "doctor")
    assert result.code == 1
    assert "FAIL Database tables: not at the newest version" in result.stdout
    assert "Run 'portal init' once" in result.stdout


def test_a_database_that_does_not_open(capsys: pytest.CaptureFixture[str]) -> None:
    url = "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2"
    result = run_cli(capsys, "--db", url, "doctor")
    assert result.code == 1
    assert "does not open (OperationalError" in result.stdout
    assert "Check PORTAL_DATABASE_URL" in result.stdout


@pytest.mark.parametrize("platform", ["win32", "darwin"])
def test_the_add_in_where_install_puts_it(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    sqlite_template: Path,
    monkeypatch: pytest.MonkeyPatch,
    platform: str,
) -> None:
    home = tmp_path / "home"
    environ = {"APPDATA": str(home / "AppData"), "USERPROFILE": str(home)}
    monkeypatch.setattr(doctor, "current_platform", lambda: platform)
    monkeypatch.setattr(Path, "home", lambda: home)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    url = sqlite_url(sqlite_template, tmp_path)

    before = run_cli(capsys, "--db", url, "doctor")
    assert before.code == 1
    assert "FAIL Excel add-in: no add-in at" in before.stdout
    assert "Run 'portal addin install'" in before.stdout

    xlam = tmp_path / "ParentPortal.xlam"
    xlam.write_bytes(b"an add-in")
    install_addin(xlam, platform=platform, home=home, environ=environ)
    after = run_cli(capsys, "--db", url, "doctor")
    assert after.code == 0, after.stdout
    assert "ok   Add-in settings:" in after.stdout

    _, config = doctor.addin_locations(platform, home, environ)[-1]  # this user's
    assert config is not None and config.is_file()
    config.write_text('"PYTHONPATH","/no/such/folder"\n', encoding="utf-8")
    broken = run_cli(capsys, "--db", url, "doctor")
    assert broken.code == 1
    assert "names no Python that exists" in broken.stdout
    assert "PYTHONPATH is not a folder holding Parent Portal (/no/such/folder)" in broken.stdout
    assert "UDF MODULES does not name addin.excel.functions" in broken.stdout


def test_an_old_python_and_a_missing_package_are_named(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    sqlite_template: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(doctor, "MINIMUM_PYTHON", (99, 0))
    monkeypatch.setattr(doctor, "_requirements", lambda: ["sqlalchemy", "no-such-package"])
    result = run_cli(capsys, "--db", sqlite_url(sqlite_template, tmp_path), "doctor")
    assert result.code == 1
    assert "To fix: Install Python 99.0 or newer" in result.stdout
    assert "FAIL no-such-package: not installed" in result.stdout
    assert "ok   sqlalchemy: 2." in result.stdout
    assert "2 of " in result.stdout and "checks failed." in result.stdout


def test_an_add_in_installed_for_every_user_passes(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    sqlite_template: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    home = tmp_path / "home"
    environ = {
        "APPDATA": str(home / "AppData"),
        "USERPROFILE": str(home),
        "PROGRAMDATA": str(tmp_path / "ProgramData"),
        "ProgramFiles": str(tmp_path / "Program Files"),
    }
    monkeypatch.setattr(doctor, "current_platform", lambda: "win32")
    monkeypatch.setattr(Path, "home", lambda: home)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    url = sqlite_url(sqlite_template, tmp_path)
    xlam = tmp_path / "ParentPortal.xlam"
    xlam.write_bytes(b"an add-in")
    install_addin(
        xlam, platform="win32", home=home, environ=environ, scope="machine", database_url=url
    )
    result = run_cli(capsys, "--db", url, "doctor")
    assert result.code == 0, result.stdout
    assert f"ok   Add-in settings: {tmp_path / 'ProgramData'}" in result.stdout
