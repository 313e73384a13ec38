"""`portal demo` and `portal init` as a new user runs them."""

from pathlib import Path

import pytest
from helpers import read_log, run_cli
from sqlalchemy import create_engine, text

from backend.demo_district import generate_district
from backend.logon import logon_key


def test_demo_builds_a_district_and_imports_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "demo"
    result = run_cli(capsys, "demo", "--dir", str(folder))
    assert result.code == 0, result.stderr
    assert "500 students" in result.stdout
    assert "SIMULATION" in result.stdout and "APPLY" in result.stdout
    for name in ("users-import.xlsx", "users-import.simulation.xlsx", "users-import.applied.xlsx"):
        assert str(folder / name) in result.stdout.replace("\n", "")
    _, simulated = read_log(folder / "users-import.simulation.xlsx")
    applied_summary, applied = read_log(folder / "users-import.applied.xlsx")
    assert [(r.row, r.action, r.reason) for r in simulated] == [
        (r.row, r.action, r.reason) for r in applied
    ]
    actions = {r.action for r in applied}
    assert actions == {"added", "updated", "skipped", "error"}
    assert applied_summary["Errors"] == 7  # the demo's deliberately bad rows
    reasons = " ".join(r.reason or "" for r in applied if r.action == "skipped")
    assert "Same LOGONID as row" in reasons  # shared inboxes and case variants
    engine = create_engine(f"sqlite:///{folder / 'demo.sqlite'}")
    with engine.connect() as connection:
        accounts = connection.execute(text("SELECT count(*) FROM portal_users")).scalar_one()
        students = connection.execute(text("SELECT count(*) FROM students")).scalar_one()
    engine.dispose()
    district = generate_district()
    assert students == 500
    assert accounts == len(district.old_accounts) + applied_summary["Added"]

    again = run_cli(capsys, "demo", "--dir", str(folder))  # starts afresh each time
    assert again.code == 0 and again.stdout == result.stdout


def test_demo_district_has_the_faults_it_promises() -> None:
    district = generate_district()
    emails = [c["email"] for c in district.contacts]
    assert any(e is None for e in emails)
    keys = [logon_key(e) for e in emails if e]
    assert len(keys) > len(set(keys))  # shared inboxes and one parent on two cards
    assert any(e != e.lower() for e in emails if e)
    assert any(s["student_id"].startswith("00") for s in district.students)


def test_init_creates_the_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "sub" / "portal.sqlite"
    result = run_cli(capsys, "--db", str(path), "init")
    assert result.code == 0 and "Database ready" in result.stdout
    assert path.exists()
    assert run_cli(capsys, "--db", str(path), "batches").code == 0
