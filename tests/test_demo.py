"""`portal demo` and `portal init` as a new user runs them."""

from pathlib import Path

import pytest
from helpers import read_log, run_cli
from sqlalchemy import create_engine, text

from addin.demo.district import generate_district
from backend.accounts.logon import logon_key

Capsys = pytest.CaptureFixture[str]
WORKBOOKS = ("roster", "users-import", "links-import")  # each simulated, then applied


def test_demo_takes_a_district_through_every_import(tmp_path: Path, capsys: Capsys) -> None:
    folder = tmp_path / "demo"
    result = run_cli(capsys, "demo", "--dir", str(folder))
    assert result.code == 0, result.stderr
    output = result.stdout.replace("\n", "")
    for name in WORKBOOKS:
        for suffix in ("", ".simulation", ".applied"):
            assert str(folder / f"{name}{suffix}.xlsx") in output
        _, simulated = read_log(folder / f"{name}.simulation.xlsx")
        summary, applied = read_log(folder / f"{name}.applied.xlsx")
        assert summary["Mode"].startswith("APPLIED")
        assert [(r.sheet, r.row, r.action, r.reason) for r in simulated] == [
            (r.sheet, r.row, r.action, r.reason) for r in applied
        ]
    _, users = read_log(folder / "users-import.applied.xlsx")
    assert {r.action for r in users} == {"added", "updated", "skipped", "error"}
    assert sum(r.action == "error" for r in users) == 7  # the demo's deliberately bad rows
    assert any("Same LOGONID as row" in (r.reason or "") for r in users)
    _, roster = read_log(folder / "roster.applied.xlsx")
    assert {r.sheet for r in roster} == {"Schools", "Students", "Contacts"}
    assert sum(r.action == "error" for r in roster) == 2
    _, links = read_log(folder / "links-import.applied.xlsx")
    assert any("there is no account 'nobody@example.org'" in (r.reason or "") for r in links)
    assert "logon differs" in result.stdout

    district = generate_district()
    engine = create_engine(f"sqlite:///{folder / 'demo.sqlite'}")
    with engine.connect() as connection:
        students = connection.execute(text("SELECT count(*) FROM students")).scalar_one()
        linked = connection.execute(text("SELECT count(*) FROM student_links")).scalar_one()
    engine.dispose()
    assert students == len(district.students)
    auto_summary, auto = read_log(folder / "autocreate.applied.xlsx")
    assert linked == sum(r.action == "added" for r in links) + auto_summary["Students attached"]
    created = auto_summary["Accounts created"]
    assert created > 0 and auto_summary["Emails queued"] == created
    assert f"Outbox: {created} emails sent" in output and f"it received {created}" in output
    assert {r.action for r in auto} == {"added", "skipped"}

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
    assert district.old_accounts and district.old_logons


def test_init_creates_the_database(tmp_path: Path, capsys: Capsys) -> None:
    path = tmp_path / "sub" / "portal.sqlite"
    result = run_cli(capsys, "--db", str(path), "init")
    assert result.code == 0 and "Database ready" in result.stdout
    assert path.exists()
    assert run_cli(capsys, "--db", str(path), "batches").code == 0
