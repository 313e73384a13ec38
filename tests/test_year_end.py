"""Year-end upkeep: links to departed students removed, accounts left with none disabled, old
never-activated accounts listed; the terminal, the log, the database and the audit trail."""

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from factories import LINK_HEADERS, SCHOOL_HEADERS, USER_HEADERS, input_table
from helpers import CliResult, read_log, run_cli
from sqlalchemy import Engine, select, update

from backend.database.engine import write_transaction
from backend.database.models import (
    ActivationToken,
    BatchEvent,
    PortalUser,
    Student,
    StudentLink,
    utcnow,
)
from backend.imports.links import import_links
from backend.imports.roster import import_roster
from backend.imports.users import import_users
from backend.mail.activation import activate, issue_token

STUDENTS = ["STUDENT_ID", "FIRST_NAME", "LAST_NAME", "GRADE", "SCHOOL", "STATUS"]
ROSTER = [
    ["00001", "Ann", "Able", "K", "101", "ACTIVE"],
    ["00002", "Ben", "Able", "3", "101", "INACTIVE"],  # Ann's brother, left
    ["00003", "Cal", "Cole", "5", "101", "INACTIVE"],  # left: his mother's only child
    ["00004", "Dee", "Dunn", "8", "101", "INACTIVE"],  # left, with an account of her own
    ["00005", "Eve", "East", "8", "101", "ACTIVE"],  # stays, with an account of her own
]
ACCOUNTS = [
    ["mia@example.org", "Mia", "Able", "GUARDIAN"],
    ["cara@example.org", "Cara", "Cole", "GUARDIAN"],
    ["gone@example.org", "Gil", "Cole", "GUARDIAN"],  # disabled already
    ["old@example.org", "Olga", "Old", "GUARDIAN"],  # no student, never activated
    ["new@example.org", "Ned", "New", "GUARDIAN"],  # no student, made this week
    ["dee.dunn", "Dee", "Dunn", "STUDENT"],
    ["eve.east", "Eve", "East", "STUDENT"],
]
LINKS = [
    ["mia@example.org", "00001", "Mother"],
    ["mia@example.org", "00002", "Mother"],
    ["cara@example.org", "00003", "Mother"],
    ["gone@example.org", "00003", "Father"],
    ["dee.dunn", "00004", "Self"],
    ["eve.east", "00005", "Self"],
]
PASSWORD = "correct horse battery"
KEY = "LOGONID / STUDENT_ID"


def made_days_ago(engine: Engine, logon: str, days: int) -> None:
    with write_transaction(engine) as connection:
        connection.execute(
            update(PortalUser)
            .where(PortalUser.logon_id == logon)
            .values(created_at=utcnow() - timedelta(days=days))
        )


def build_district(engine: Engine) -> None:
    """The roster, the accounts and their links; Mia activated, Cara sent a link she never
    used, Gil's account disabled, every account but Ned's made 90 days ago."""
    report = import_roster(
        engine,
        schools=input_table(SCHOOL_HEADERS, [["101", "Lincoln"]], sheet="Schools"),
        students=input_table(STUDENTS, ROSTER, sheet="Students"),
        apply=True,
    )
    assert report.counts["error"] == 0
    assert import_users(engine, input_table(USER_HEADERS, ACCOUNTS), apply=True).counts[
        "added"
    ] == len(ACCOUNTS)
    assert import_links(engine, input_table(LINK_HEADERS, LINKS), apply=True).counts[
        "added"
    ] == len(LINKS)
    disable = input_table(
        [*USER_HEADERS, "STATUS"], [["gone@example.org", "Gil", "Cole", "GUARDIAN", "DISABLED"]]
    )
    assert import_users(engine, disable, apply=True).counts["updated"] == 1
    ids = account_ids(engine)
    with write_transaction(engine) as connection:
        mia = issue_token(connection, ids["mia@example.org"])
        issue_token(connection, ids["cara@example.org"])
    activate(engine, mia, PASSWORD)
    for logon, *_ in ACCOUNTS:
        if logon != "new@example.org":
            made_days_ago(engine, logon, 90)


def account_ids(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return dict(connection.execute(select(PortalUser.logon_id, PortalUser.id)).all())


def stored(engine: Engine) -> dict[str, Any]:
    """What year-end may change: each account's status and its students, and unused tokens."""
    with engine.connect() as connection:
        statuses = dict(connection.execute(select(PortalUser.logon_id, PortalUser.status)).all())
        links = connection.execute(
            select(PortalUser.logon_id, Student.student_id)
            .join(StudentLink, StudentLink.user_id == PortalUser.id)
            .join(Student, Student.id == StudentLink.student_id)
            .order_by(PortalUser.logon_id, Student.student_id)
        ).all()
        tokens = connection.execute(
            select(PortalUser.logon_id)
            .join(ActivationToken, ActivationToken.user_id == PortalUser.id)
            .where(ActivationToken.used_at.is_(None))
        ).all()
    return {"status": statuses, "links": [tuple(r) for r in links], "tokens": tokens}


def events(engine: Engine, batch_id: int) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        found = connection.execute(
            select(BatchEvent.key, BatchEvent.action, BatchEvent.changes)
            .where(BatchEvent.batch_id == batch_id)
            .order_by(BatchEvent.id)
        )
        return [tuple(event) for event in found]


def year_end_cli(
    capsys: pytest.CaptureFixture[str], url: str, out: Path, *options: str
) -> CliResult:
    """`portal lifecycle year-end` on the test's database, its log written to ``out``."""
    return run_cli(capsys, "--db", url, "lifecycle", "year-end", *options, "--out", str(out))


def batch_number(stdout: str) -> int:
    line = next(line for line in stdout.splitlines() if line.startswith("Batch "))
    return int(line.split()[1].rstrip(":"))


GONE = "the student is INACTIVE"


def kept(relationship: str) -> str:
    """The link's fields a removed row keeps, so an undo can put the link back."""
    flags = "PRIMARY: False -> (blank); NOTICES: True -> (blank)"
    return f"RELATIONSHIP: {relationship} -> (blank); {flags}"


EXPECTED_ROWS = [
    (
        None,
        "cara@example.org / 00003",
        "removed",
        kept("Mother"),
        f"Student 00003 detached: {GONE}",
    ),
    (None, "dee.dunn / 00004", "removed", kept("Self"), f"Student 00004 detached: {GONE}"),
    (
        None,
        "gone@example.org / 00003",
        "removed",
        kept("Father"),
        f"Student 00003 detached: {GONE}",
    ),
    (None, "mia@example.org / 00002", "removed", kept("Mother"), f"Student 00002 detached: {GONE}"),
    (
        None,
        "cara@example.org",
        "updated",
        "STATUS: ACTIVE -> DISABLED",
        "Changed STATUS: no ACTIVE student is attached any more (left: 00003)",
    ),
    (
        None,
        "dee.dunn",
        "updated",
        "STATUS: ACTIVE -> DISABLED",
        "Changed STATUS: its student has left (00004)",
    ),
]
OLD_ROW = (
    None,
    "old@example.org",
    "skipped",
    None,
    "Never activated, 90 days after it was made on {made}: send the activation email again "
    "(portal activation send --logon old@example.org) or disable the account; left as it is",
)
EVE_ROW = (
    None,
    "eve.east",
    "skipped",
    None,
    "Never activated, 90 days after it was made on {made}: send the activation email again "
    "(portal activation send --logon eve.east) or disable the account; left as it is",
)


def log_rows(path: Path) -> tuple[dict[str, Any], list[tuple[Any, ...]]]:
    summary, rows = read_log(path)
    return summary, [(r.row, r.key, r.action, r.changes, r.reason) for r in rows]


def test_year_end_simulates_then_applies_once(
    database_url: str, engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    build_district(engine)
    before = stored(engine)
    made = f"{utcnow() - timedelta(days=90):%Y-%m-%d}"
    listed = [tuple(c.format(made=made) if c else c for c in row) for row in (EVE_ROW, OLD_ROW)]

    result = year_end_cli(capsys, database_url, tmp_path / "s.xlsx")
    assert result.code == 0, result.stderr
    said = result.stdout.replace("\n", " ")
    assert "SIMULATION year-end: nothing was saved." in said
    assert "8 rows: 0 added, 2 updated, 4 removed, 2 skipped, 0 errors." in said
    assert "Accounts disabled: 1 guardian, 1 student" in said
    assert "Never activated: 2 of the ACTIVE accounts made over 60 days ago: listed" in said
    assert "run the same command with --apply" in said
    simulation = batch_number(result.stdout)
    assert stored(engine) == before
    summary, rows = log_rows(tmp_path / "s.xlsx")
    assert summary["Run"] == "year-end (not_activated_days: 60)"
    assert summary["Links removed"] == 4
    assert rows == [*EXPECTED_ROWS, *listed]

    result = year_end_cli(capsys, database_url, tmp_path / "a.xlsx", "--apply")
    assert result.code == 0, result.stderr
    said = result.stdout.replace("\n", " ")
    assert "APPLIED year-end: changes saved." in said
    assert f"Simulation: batch {simulation}: every row as simulated" in said
    summary, rows = log_rows(tmp_path / "a.xlsx")
    assert rows == [*EXPECTED_ROWS, *listed]
    after = stored(engine)
    # Mia keeps her account and Ann; Cara and Dee's account are disabled, Cara's link dead.
    assert after["links"] == [("eve.east", "00005"), ("mia@example.org", "00001")]
    assert after["status"] == before["status"] | {
        "cara@example.org": "DISABLED",
        "dee.dunn": "DISABLED",
    }
    assert before["tokens"] == [("cara@example.org",)] and after["tokens"] == []
    apply_batch = batch_number(result.stdout)
    assert events(engine, apply_batch)[4] == (
        "cara@example.org",
        "updated",
        {"STATUS": ["ACTIVE", "DISABLED"]},
    )

    result = year_end_cli(capsys, database_url, tmp_path / "b.xlsx", "--apply")
    assert result.code == 0, result.stderr
    said = result.stdout.replace("\n", " ")
    assert "2 rows: 0 added, 0 updated, 2 skipped, 0 errors." in said
    assert "Simulation: none: this apply was not simulated first" in said
    assert stored(engine) == after
    assert log_rows(tmp_path / "b.xlsx")[1] == listed


def test_events_have_the_shapes_of_the_imports_that_make_the_same_changes(
    engine: Engine,
) -> None:
    """A removed link as the link import's REMOVE records it, a disabled account as the users
    import's STATUS change: what reverses one reverses the other."""
    from backend.accounts.year_end import year_end

    build_district(engine)
    remove = input_table([*LINK_HEADERS, "ACTION"], [["mia@example.org", "00002", "", "REMOVE"]])
    by_links = import_links(engine, remove).batch_id
    shut = input_table([*USER_HEADERS, "STATUS"], [["cara@example.org", "", "", "", "DISABLED"]])
    by_users = import_users(engine, shut).batch_id
    ours = events(engine, year_end(engine, apply=True).batch_id)
    assert events(engine, by_links)[0] in ours
    assert events(engine, by_users)[0] in ours


def test_an_apply_that_differs_from_the_reviewed_simulation_saves_nothing(
    database_url: str, engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    build_district(engine)
    out = tmp_path / "log.xlsx"
    assert year_end_cli(capsys, database_url, out).code == 0
    with write_transaction(engine) as connection:
        connection.execute(
            update(Student).where(Student.student_id == "00005").values(status="INACTIVE")
        )
    before = stored(engine)

    result = year_end_cli(capsys, database_url, out, "--apply")
    assert result.code == 2
    assert "Nothing was saved: 2 row(s) would now be done differently" in result.stderr
    assert "eve.east: simulated skipped, now updated (STATUS: ACTIVE -> DISABLED)" in result.stderr
    assert "eve.east / 00005: simulated not in the simulation, now removed" in result.stderr
    assert stored(engine) == before

    result = year_end_cli(capsys, database_url, out, "--apply", "--yes")
    assert result.code == 0, result.stderr
    assert "2 row(s) differ from it, applied as confirmed" in result.stdout.replace("\n", " ")
    assert stored(engine)["status"]["eve.east"] == "DISABLED"


def test_never_activated_accounts_are_listed_after_the_days_set(
    database_url: str,
    engine: Engine,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    build_district(engine)
    made_days_ago(engine, "old@example.org", 45)
    made_days_ago(engine, "eve.east", 20)
    out = tmp_path / "log.xlsx"
    result = year_end_cli(capsys, database_url, out)
    assert result.code == 0
    assert [row[1] for row in log_rows(out)[1] if row[2] == "skipped"] == []

    monkeypatch.setenv("PORTAL_NOT_ACTIVATED_DAYS", "30")
    from backend.settings import get_settings

    get_settings.cache_clear()
    result = year_end_cli(capsys, database_url, out)
    assert result.code == 0
    summary, rows = log_rows(out)
    assert summary["Never activated"] == (
        "1 of the ACTIVE accounts made over 30 days ago: listed, left as they are"
    )
    assert [row[1:3] for row in rows if row[2] == "skipped"] == [("old@example.org", "skipped")]
    assert "Never activated, 45 days after" in rows[-1][4]
    # Listed, never changed: the account is ACTIVE after an apply too.
    result = year_end_cli(capsys, database_url, out, "--apply")
    assert result.code == 0
    assert stored(engine)["status"]["old@example.org"] == "ACTIVE"

    monkeypatch.setenv("PORTAL_NOT_ACTIVATED_DAYS", "0")
    get_settings.cache_clear()
    result = year_end_cli(capsys, database_url, out)
    assert result.code == 2
    assert "PORTAL_NOT_ACTIVATED_DAYS is 0: it must be 1 or more" in result.stderr


def test_an_out_that_is_no_workbook_is_refused_before_anything_runs(
    database_url: str, engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    build_district(engine)
    before = stored(engine)
    result = year_end_cli(capsys, database_url, tmp_path / "log.csv", "--apply")
    assert result.code == 2
    assert "--out log.csv: the workbook's name must end in .xlsx" in result.stderr
    assert stored(engine) == before
    assert list(tmp_path.glob("log*")) == []


def test_a_year_end_is_undone_like_any_batch(
    database_url: str, engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`portal batches undo N --apply` puts back the links year-end removed, with their
    relationship, and opens again the accounts it disabled."""
    build_district(engine)
    before = stored(engine)
    result = year_end_cli(capsys, database_url, tmp_path / "a.xlsx", "--apply")
    assert result.code == 0, result.stderr
    year_end_batch = batch_number(result.stdout)
    assert stored(engine) != before

    result = run_cli(
        capsys, "--db", database_url, "batches", "undo", str(year_end_batch), "--apply"
    )
    assert result.code == 0, result.stderr
    restored = stored(engine)
    assert restored["links"] == before["links"]
    assert restored["status"] == before["status"]
    with engine.connect() as connection:
        relationship = connection.execute(
            select(StudentLink.relationship)
            .join(PortalUser, PortalUser.id == StudentLink.user_id)
            .join(Student, Student.id == StudentLink.student_id)
            .where(PortalUser.logon_id == "gone@example.org", Student.student_id == "00003")
        ).scalar_one()
    assert relationship == "Father"
