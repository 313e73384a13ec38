"""`portal batches undo N`: each kind of batch taken back, on both databases."""

from pathlib import Path
from typing import Any

import pytest
from factories import (
    CONTACT_HEADERS,
    LINK_HEADERS,
    SCHOOL_HEADERS,
    STUDENT_HEADERS,
    USER_HEADERS,
    input_table,
)
from helpers import read_log, run_cli
from sqlalchemy import Connection, Engine, event, select

from backend.accounts.autocreate import Options, autocreate
from backend.accounts.rename import merge_users, rename_user
from backend.accounts.single import modify_user, new_user
from backend.database.models import Batch, PortalUser, Student, StudentLink
from backend.imports.batches import run_batch
from backend.imports.links import LinkRow, load_links, plan_links, write_links
from backend.imports.roster import import_roster
from backend.imports.undo import undo_batch
from backend.imports.users import import_users, load_users, plan_users, validate_rows, write_users

LONG = "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 50 + ".org"
"""An email of 247 characters: longer than a change's value was once cut to."""


def users(engine: Engine, *rows: list[Any], headers: list[str] = USER_HEADERS) -> int:
    report = import_users(engine, input_table(headers, rows, source_name="u.xlsx"), apply=True)
    assert report.counts["error"] == 0, report.results
    return report.batch_id


def links(engine: Engine, *rows: list[Any], headers: list[str] = LINK_HEADERS) -> int:
    from backend.imports.links import import_links

    report = import_links(engine, input_table(headers, rows, source_name="l.xlsx"), apply=True)
    assert report.counts["error"] == 0, report.results
    return report.batch_id


def roster(engine: Engine, access: str = "Y") -> int:
    """Students 001 to 003; Mia (mia@example.org) on 001 and 002 with PORTAL_ACCESS ``access``
    on 001, Bo (bo@example.org) on 003."""
    report = import_roster(
        engine,
        schools=input_table(SCHOOL_HEADERS, [["101", "Lincoln"]], sheet="Schools"),
        students=input_table(
            STUDENT_HEADERS,
            [
                ["001", "Ava", "Lee", "3", "101", None],
                ["002", "Max", "Lee", "5", "101", None],
                ["003", "Zoe", "Ng", "4", "101", None],
            ],
            sheet="Students",
        ),
        contacts=input_table(
            CONTACT_HEADERS,
            [
                ["001", "C1", "Mia", "Lee", "Mother", "mia@example.org", "Y", access, 1],
                ["002", "C1", "Mia", "Lee", "Mother", "mia@example.org", "Y", "Y", 1],
                ["003", "C2", "Bo", "Ng", "Father", "bo@example.org", "Y", "Y", 1],
            ],
            sheet="Contacts",
        ),
        apply=True,
    )
    assert report.counts["error"] == 0, report.results
    return report.batch_id


def accounts(engine: Engine) -> dict[str, dict[str, Any]]:
    with engine.connect() as connection:
        rows = connection.execute(select(PortalUser))
        return {r.logon_id: dict(r._mapping) for r in rows}


def attached(engine: Engine) -> dict[tuple[str, str], tuple[Any, ...]]:
    """Every link: (logon, student ID) -> (relationship, primary, notices)."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(
                PortalUser.logon_id,
                Student.student_id,
                StudentLink.relationship,
                StudentLink.is_primary,
                StudentLink.notices,
            )
            .join(PortalUser, PortalUser.id == StudentLink.user_id)
            .join(Student, Student.id == StudentLink.student_id)
        )
        return {(r[0], r[1]): tuple(r[2:]) for r in rows}


def undo(capsys: pytest.CaptureFixture[str], url: str, *args: str) -> Any:
    return run_cli(capsys, "--db", url, "batches", "undo", *args)


def test_users_import_undone_with_a_conflict_then_the_undo_undone(
    engine: Engine, database_url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    headers = [*USER_HEADERS, "EMAIL", "PHONE"]
    users(engine, ["carl@example.org", "Carl", "Poe", "GUARDIAN", LONG, None], headers=headers)
    second = users(
        engine,
        ["ann@example.org", "Ann", "Ito", "GUARDIAN", None, None],
        ["bo@example.org", "Bo", "Ng", "GUARDIAN", None, None],
        ["carl@example.org", "Karl", None, None, "karl@example.org", "555-201-3344"],
        headers=headers,
    )
    third = users(
        engine, ["bo@example.org", None, None, None, None, "555-000-1111"], headers=headers
    )
    before = accounts(engine)

    simulated = undo(capsys, database_url, str(second))
    assert simulated.code == 0, simulated.stderr
    assert "SIMULATION undo: nothing was saved." in simulated.stdout
    assert f"bo@example.org: Changed again by batch {third} on 20" in simulated.stdout
    assert accounts(engine) == before

    log = tmp_path / "undo.xlsx"
    applied = undo(capsys, database_url, str(second), "--apply", "--out", str(log))
    assert applied.code == 0, applied.stderr
    assert "APPLIED undo: changes saved." in applied.stdout
    summary, rows = read_log(log)
    undo_id = summary["Batch"]
    assert summary["Undoes"].startswith(f"batch {second}: users import of u.xlsx, ")
    by_key = {r.key: r for r in rows}
    assert (by_key["ann@example.org"].row, by_key["ann@example.org"].action) == (2, "removed")
    conflict = by_key["bo@example.org"]
    assert (conflict.row, conflict.action) == (3, "skipped")
    assert conflict.reason == "Not undone: look at it by hand"
    assert conflict.warning is not None
    assert conflict.warning.startswith(f"Changed again by batch {third} on 20")
    assert conflict.warning.endswith(" UTC; left as it is")
    carl = by_key["carl@example.org"]
    assert (carl.row, carl.action) == (4, "updated")
    assert carl.changes == (
        f"FIRST_NAME: Karl -> Carl; EMAIL: karl@example.org -> {LONG}; "
        "PHONE: 555-201-3344 -> (blank)"
    )
    now = accounts(engine)
    assert "ann@example.org" not in now
    assert now["bo@example.org"]["phone"] == "555-000-1111"
    assert (now["carl@example.org"]["first_name"], now["carl@example.org"]["email"]) == (
        "Carl",
        LONG,
    )
    assert now["carl@example.org"]["phone"] is None
    assert now["carl@example.org"]["updated_batch_id"] == undo_id
    with engine.connect() as connection:
        batch = connection.execute(select(Batch).where(Batch.id == undo_id)).one()
    assert (batch.kind, batch.mode, batch.options) == ("undo", "apply", {"undoes": second})
    assert (batch.added, batch.updated, batch.removed, batch.skipped) == (0, 1, 1, 1)

    shown = run_cli(capsys, "--db", database_url, "batches", str(second))
    assert f"Undone by batch {undo_id} (portal batches {undo_id})" in shown.stdout
    assert (
        f"Batch {undo_id}: undo of batch {second}, APPLY"
        in run_cli(capsys, "--db", database_url, "batches", str(undo_id)).stdout
    )
    twice = undo(capsys, database_url, str(second), "--apply")
    assert twice.code == 2
    assert f"Batch {second} was undone already, by batch {undo_id}" in twice.stderr
    assert len(twice.stderr.strip().splitlines()) == 1

    back = undo(capsys, database_url, str(undo_id), "--apply")
    assert back.code == 0, back.stderr
    restored = accounts(engine)
    assert (restored["ann@example.org"]["first_name"], restored["ann@example.org"]["status"]) == (
        "Ann",
        "ACTIVE",
    )
    carl_again = restored["carl@example.org"]
    assert (carl_again["first_name"], carl_again["email"], carl_again["phone"]) == (
        "Karl",
        "karl@example.org",
        "555-201-3344",
    )
    assert (
        f"Batch {second} was undone already, by batch {undo_id}; batch "
        in undo(capsys, database_url, str(second)).stderr
    )


def test_refusals_are_one_line(
    engine: Engine, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    simulation = import_users(
        engine, input_table(USER_HEADERS, [["a@x.org", "A", "B", "GUARDIAN"]])
    )
    school = roster(engine)
    for args, said in [
        ([str(simulation.batch_id)], f"Batch {simulation.batch_id} was a simulation"),
        (["99"], "There is no batch 99; `portal batches` lists them"),
        (
            [str(school)],
            f"Batch {school} is a roster import, which can't be undone: import the roster",
        ),
        ([], "Name the batch to undo: portal batches undo N"),
    ]:
        refused = undo(capsys, database_url, *args, "--apply")
        assert refused.code == 2, args
        assert said in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1
    with engine.connect() as connection:
        kinds = list(connection.execute(select(Batch.kind)).scalars())
    assert "undo" not in kinds
    shown = run_cli(capsys, "--db", database_url, "batches", str(school))
    assert shown.code == 0 and "roster import" in shown.stdout
    assert run_cli(capsys, "--db", database_url, "batches", "x").code == 2


def test_links_import_undo_puts_removed_links_back_with_their_flags(
    engine: Engine, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    roster(engine)
    users(engine, ["mia@example.org", "Mia", "Lee", "GUARDIAN"])
    headers = [*LINK_HEADERS, "PRIMARY", "NOTICES", "ACTION"]
    links(engine, ["mia@example.org", "001", "Mother", "Y", "N", None], headers=headers)
    change = links(
        engine,
        ["mia@example.org", "001", None, None, None, "REMOVE"],
        ["mia@example.org", "002", "Mother", None, None, None],
        headers=headers,
    )
    assert attached(engine) == {("mia@example.org", "002"): ("Mother", False, True)}

    applied = undo(capsys, database_url, str(change), "--apply")
    assert applied.code == 0, applied.stderr
    assert attached(engine) == {("mia@example.org", "001"): ("Mother", True, False)}
    again = undo(capsys, database_url, str(change + 1), "--apply")
    assert again.code == 0, again.stderr
    assert attached(engine) == {("mia@example.org", "002"): ("Mother", False, True)}


def test_a_link_the_rules_now_forbid_is_not_put_back(
    engine: Engine, database_url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    roster(engine)
    users(engine, ["mia@example.org", "Mia", "Lee", "GUARDIAN"])
    links(engine, ["mia@example.org", "001", "Mother"])
    removed = links(
        engine, ["mia@example.org", "001", None, "REMOVE"], headers=[*LINK_HEADERS, "ACTION"]
    )
    roster(engine, access="N")  # Mia may no longer see 001

    log = tmp_path / "undo.xlsx"
    refused = undo(capsys, database_url, str(removed), "--apply", "--out", str(log))
    assert refused.code == 1
    _, rows = read_log(log)
    assert [(r.row, r.key, r.action) for r in rows] == [(2, "mia@example.org / 001", "error")]
    assert rows[0].reason is not None and "PORTAL_ACCESS is N" in rows[0].reason
    assert attached(engine) == {}


def test_autocreate_undo_removes_or_disables_what_it_made(
    engine: Engine, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    roster(engine)
    made = autocreate(engine, Options(), apply=True)
    assert made.counts["added"] == 3
    later = links(engine, ["bo@example.org", "001", "Uncle"])  # a later batch uses Bo's account

    applied = undo(capsys, database_url, str(made.batch_id), "--apply")
    assert applied.code == 0, applied.stderr
    now = accounts(engine)
    assert "mia@example.org" not in now
    assert now["bo@example.org"]["status"] == "DISABLED"
    assert attached(engine) == {("bo@example.org", "001"): ("Uncle", False, True)}
    _, events = _events(engine, made.batch_id + 2)
    assert ("bo@example.org", "updated") in [e[:2] for e in events]
    reason = next(e[2] for e in events if e[0] == "bo@example.org")
    assert reason == "Disabled rather than removed, as student 001 stays attached to it"
    assert later


def _events(engine: Engine, batch_id: int) -> tuple[Batch, list[tuple[Any, ...]]]:
    from backend.database.models import BatchEvent

    with engine.connect() as connection:
        batch = connection.execute(select(Batch).where(Batch.id == batch_id)).one()
        rows = connection.execute(
            select(BatchEvent.key, BatchEvent.action, BatchEvent.reason, BatchEvent.changes)
            .where(BatchEvent.batch_id == batch_id)
            .order_by(BatchEvent.id)
        )
        return Batch(**batch._mapping), [tuple(r) for r in rows]


def test_new_and_modify_user_undone(
    engine: Engine, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    roster(engine)
    made = new_user(
        engine, logon_id="mia@example.org", user_type="GUARDIAN", last_name="Lee", first_name="Mia"
    )
    changed = modify_user(
        engine,
        "mia@example.org",
        changes={"phone": "555-201-3344", "status": "DISABLED"},
        attach=["002"],
        relationship="Mother",
    )
    assert attached(engine) == {("mia@example.org", "002"): ("Mother", False, True)}

    assert undo(capsys, database_url, str(changed.batch_id), "--apply").code == 0
    mia = accounts(engine)["mia@example.org"]
    assert (mia["phone"], mia["status"]) == (None, "ACTIVE")
    assert attached(engine) == {}
    assert undo(capsys, database_url, str(made.batch_id), "--apply").code == 0
    assert accounts(engine) == {}


def test_rename_and_merge_undone(
    engine: Engine, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    roster(engine)
    users(engine, ["mia@example.org", "Mia", "Lee", "GUARDIAN"])
    users(engine, ["mia.lee@example.org", "Mia", "Lee", "GUARDIAN"])
    links(engine, ["mia@example.org", "001", "Mother"], ["mia.lee@example.org", "002", "Mother"])
    merged = merge_users(engine, "mia.lee@example.org", "mia@example.org", apply=True)
    assert attached(engine).keys() == {("mia@example.org", "001"), ("mia@example.org", "002")}

    assert undo(capsys, database_url, str(merged.batch_id), "--apply").code == 0
    assert attached(engine) == {
        ("mia@example.org", "001"): ("Mother", False, True),
        ("mia.lee@example.org", "002"): ("Mother", False, True),
    }
    assert accounts(engine)["mia.lee@example.org"]["status"] == "ACTIVE"

    renamed = rename_user(engine, "mia.lee@example.org", "mia.l@example.org", apply=True)
    assert "mia.l@example.org" in accounts(engine)
    assert undo(capsys, database_url, str(renamed.batch_id), "--apply").code == 0
    now = accounts(engine)
    assert "mia.l@example.org" not in now and "mia.lee@example.org" in now
    assert attached(engine)[("mia.lee@example.org", "002")] == ("Mother", False, True)


def test_events_are_undone_by_their_shape_whatever_the_kind_of_run(
    engine: Engine, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run of another kind (a year end) that disables accounts and removes links as the
    users and link imports record them is undone like them."""
    roster(engine)
    users(engine, ["mia@example.org", "Mia", "Lee", "GUARDIAN"])
    links(engine, ["mia@example.org", "001", "Mother"])
    table = input_table(
        [*USER_HEADERS, "STATUS"], [["mia@example.org", None, None, None, "DISABLED"]]
    )
    user_rows = validate_rows(table, lambda *_: None)
    link_rows = [LinkRow(None, "mia@example.org", "001", {"action": "REMOVE"})]

    def plan(connection: Connection) -> Any:
        planned = plan_users(load_users(connection, user_rows), user_rows, "update-only")
        removed = plan_links(load_links(connection, link_rows), link_rows)
        planned.results += removed.results
        planned.links = removed
        return planned

    def write(connection: Connection, planned: Any, batch_id: int) -> None:
        write_users(connection, planned, batch_id, lambda *_: None)
        write_links(connection, planned.links, batch_id)

    report, _ = run_batch(
        engine, kind="year end", options={}, table=None, apply=True, plan=plan, write=write
    )
    assert [r.action for r in report.results] == ["updated", "removed"]
    assert accounts(engine)["mia@example.org"]["status"] == "DISABLED"

    assert undo(capsys, database_url, str(report.batch_id), "--apply").code == 0
    assert accounts(engine)["mia@example.org"]["status"] == "ACTIVE"
    assert attached(engine) == {("mia@example.org", "001"): ("Mother", False, True)}


def test_undo_is_a_handful_of_queries_whatever_the_size(engine: Engine) -> None:
    """Undoing a batch of 3,000 rows takes as many statements as one of 30."""

    def statements(count: int, prefix: str) -> int:
        rows = [[f"{prefix}{n}@example.org", "A", "B", "GUARDIAN"] for n in range(count)]
        batch = users(engine, *rows)
        links_rows = [[f"{prefix}{n}@example.org", "A", "C", "GUARDIAN"] for n in range(count)]
        changed = users(engine, *links_rows)
        assert batch
        seen: list[str] = []

        def count_it(*args: Any) -> None:
            seen.append(str(args[2]))

        event.listen(engine, "before_cursor_execute", count_it)
        try:
            report = undo_batch(engine, changed, apply=True)
        finally:
            event.remove(engine, "before_cursor_execute", count_it)
        assert report.counts["updated"] == count
        return len(seen)

    assert statements(3000, "big") == statements(30, "small") <= 40


def test_a_link_changed_again_is_a_conflict_naming_the_batch(
    engine: Engine, database_url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    roster(engine)
    users(engine, ["mia@example.org", "Mia", "Lee", "GUARDIAN"])
    headers = [*LINK_HEADERS, "NOTICES"]
    links(engine, ["mia@example.org", "001", "Mother", None], headers=headers)
    guardian = links(engine, ["mia@example.org", "001", "Guardian", None], headers=headers)
    quiet = links(engine, ["mia@example.org", "001", None, "N"], headers=headers)

    log = tmp_path / "undo.xlsx"
    simulated = undo(capsys, database_url, str(guardian), "--out", str(log))
    assert simulated.code == 0, simulated.stderr
    _, rows = read_log(log)
    assert [(r.key, r.action, r.reason) for r in rows] == [
        ("mia@example.org / 001", "skipped", "Not undone: look at it by hand")
    ]
    assert rows[0].warning is not None
    assert rows[0].warning.startswith(f"Changed again by batch {quiet} on 20")
    assert attached(engine) == {("mia@example.org", "001"): ("Guardian", False, False)}
    listing = run_cli(capsys, "--db", database_url, "batches")
    assert f"undo of batch {guardian}" in listing.stdout


def test_an_account_renamed_since_is_a_conflict_naming_the_rename(
    engine: Engine, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    users(engine, ["ann@example.org", "Ann", "Ito", "GUARDIAN"])
    named = users(engine, ["ann@example.org", "Anne", None, None])
    renamed = rename_user(engine, "ann@example.org", "anne@example.org", apply=True)

    simulated = undo(capsys, database_url, str(named))
    assert simulated.code == 0, simulated.stderr
    assert f"ann@example.org: Changed again by batch {renamed.batch_id} on 20" in (simulated.stdout)
    assert accounts(engine)["anne@example.org"]["first_name"] == "Anne"


def test_an_account_that_was_mailed_or_activated_is_disabled_not_removed(
    engine: Engine, database_url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from backend.database.engine import write_transaction
    from backend.database.models import OutboxMessage
    from backend.mail.activation import activate, issue_token

    roster(engine)
    made = autocreate(engine, Options(email_template="welcome"), apply=True)
    with write_transaction(engine) as connection:
        token = issue_token(connection, accounts(engine)["bo@example.org"]["id"])
    activate(engine, token, "correct horse battery")

    log = tmp_path / "undo.xlsx"
    applied = undo(capsys, database_url, str(made.batch_id), "--apply", "--out", str(log))
    assert applied.code == 0, applied.stderr
    _, rows = read_log(log)
    assert {(r.key, r.action, r.reason) for r in rows if "/" not in (r.key or "")} == {
        ("mia@example.org", "removed", "Account removed"),
        (
            "bo@example.org",
            "updated",
            "Disabled rather than removed, as its holder has activated it",
        ),
    }
    assert sorted((r.key, r.action) for r in rows if "/" in (r.key or "")) == [
        ("bo@example.org / 003", "removed"),
        ("mia@example.org / 001", "removed"),
        ("mia@example.org / 002", "removed"),
    ]
    now = accounts(engine)
    assert list(now) == ["bo@example.org"] and now["bo@example.org"]["status"] == "DISABLED"
    assert attached(engine) == {}
    with engine.connect() as connection:
        mail = connection.execute(
            select(OutboxMessage.to_address, OutboxMessage.status, OutboxMessage.last_error)
        ).all()
    skipped = {to: (status, why) for to, status, why in mail}
    assert skipped["mia@example.org"][0] == "skipped"
    assert "removed by undo batch" in (skipped["mia@example.org"][1] or "")

    again = undo(capsys, database_url, str(made.batch_id + 1), "--apply")
    assert again.code == 0, again.stderr
    back = accounts(engine)
    assert (back["mia@example.org"]["first_name"], back["mia@example.org"]["status"]) == (
        "Mia",
        "ACTIVE",
    )
    assert back["bo@example.org"]["status"] == "ACTIVE"
    assert attached(engine) == {
        ("mia@example.org", "001"): ("Mother", True, True),
        ("mia@example.org", "002"): ("Mother", True, True),
        ("bo@example.org", "003"): ("Father", True, True),
    }


def test_an_old_value_the_audit_trail_once_cut_is_not_put_back(
    engine: Engine, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Batches recorded before done rows kept their values whole held at most 200 characters."""
    from sqlalchemy import update

    from backend.database.engine import write_transaction
    from backend.database.models import BatchEvent

    headers = [*USER_HEADERS, "EMAIL"]
    users(engine, ["carl@example.org", "Carl", "Poe", "GUARDIAN", LONG], headers=headers)
    changed = users(
        engine, ["carl@example.org", None, None, None, "karl@example.org"], headers=headers
    )
    with write_transaction(engine) as connection:
        connection.execute(
            update(BatchEvent)
            .where(BatchEvent.batch_id == changed)
            .values(changes={"EMAIL": [LONG[:199] + "…", "karl@example.org"]})
        )

    refused = undo(capsys, database_url, str(changed), "--apply")
    assert refused.code == 1
    assert "EMAIL: the audit trail kept only the first 200 characters" in refused.stdout
    assert accounts(engine)["carl@example.org"]["email"] == "karl@example.org"


def test_an_account_made_from_a_contact_is_undone(
    engine: Engine, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    roster(engine)
    made = run_cli(capsys, "--db", database_url, "contact", "create-account", "C2", "--apply")
    assert made.code == 0, made.stderr
    assert attached(engine) == {("bo@example.org", "003"): ("Father", True, True)}
    with engine.connect() as connection:
        batch_id = connection.execute(select(Batch.id).order_by(Batch.id.desc())).scalars().first()

    applied = undo(capsys, database_url, str(batch_id), "--apply")
    assert applied.code == 0, applied.stderr
    assert "2 rows: 0 added, 0 updated, 2 removed" in applied.stdout
    assert accounts(engine) == {} and attached(engine) == {}
