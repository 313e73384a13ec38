"""The users import service on SQLite and PostgreSQL: headers, rows, actions, blank cells, modes."""

from typing import Any

import pytest
from factories import input_table
from sqlalchemy import Engine, select, text

from backend.database.models import Batch, BatchEvent, PortalUser
from backend.errors import HeaderError
from backend.imports.contract import InputTable
from backend.imports.users import import_users

HEADERS = ["LOGONID", "FIRST_NAME", "LAST_NAME", "USER_TYPE", "EMAIL", "STATUS", "PHONE"]


def table(*rows: list[Any], headers: list[Any] = HEADERS) -> InputTable:
    return input_table(headers, rows, source_name="users.xlsx")


def users(engine: Engine) -> list[tuple[Any, ...]]:
    """Every stored account, all columns, in id order: what 'no row changed' compares."""
    with engine.connect() as connection:
        return [tuple(r) for r in connection.execute(select(PortalUser).order_by(PortalUser.id))]


def results(report: Any) -> list[tuple[int | None, str | None, str]]:
    return [(r.row, r.key, r.action) for r in report.results]


SAMPLE = (
    ["ann.lee@example.org", "Ann", "Lee", "GUARDIAN", None, None, "555-123-4567"],
    ["Bob.Stone@Example.ORG", "Bob", "Stone", "guardian", None, "disabled", None],
    ["jdoe12", "Jane", "Doe", "STUDENT", "jane.doe@students.example.org", None, None],
    ["not an email", "X", "Y", "GUARDIAN", None, None, None],
    ["ann.lee@example.org", "Ann", "Duplicate", "GUARDIAN", None, None, None],
    [None, None, None, None, None, None, None],
    ["carl@example.org", "Carl", "Ng", "PARENT", None, None, None],
)


def test_simulation_then_apply_give_same_rows_and_second_apply_skips_all(engine: Engine) -> None:
    sample = table(*SAMPLE)
    simulated = import_users(engine, sample)
    assert users(engine) == []  # a simulation writes nothing but its batch
    applied = import_users(engine, sample, apply=True)
    assert (
        results(simulated)
        == results(applied)
        == [
            (2, "ann.lee@example.org", "added"),
            (3, "Bob.Stone@example.org", "added"),
            (4, "jdoe12", "added"),
            (5, "not an email", "error"),
            (6, "ann.lee@example.org", "skipped"),
            (8, "carl@example.org", "error"),
        ]
    )
    assert applied.counts == {"added": 3, "updated": 0, "removed": 0, "skipped": 1, "error": 2}
    assert "row 2" in applied.results[4].reason
    assert (
        "USER_TYPE" in applied.results[5].reason
        and "GUARDIAN or STUDENT" in applied.results[5].reason
    )
    assert "LOGONID" in applied.results[3].reason
    stored = {row.logon_key: row for row in _accounts(engine)}
    assert set(stored) == {"ann.lee@example.org", "bob.stone@example.org", "jdoe12"}
    assert stored["bob.stone@example.org"].status == "DISABLED"
    assert stored["bob.stone@example.org"].logon_id == "Bob.Stone@example.org"
    assert stored["jdoe12"].email == "jane.doe@students.example.org"
    assert all(row.password_hash is None for row in stored.values())

    before = users(engine)
    again = import_users(engine, sample, apply=True)
    assert {r.action for r in again.results} == {"skipped", "error"}
    assert again.counts["added"] == again.counts["updated"] == 0
    assert users(engine) == before

    with engine.connect() as connection:
        batches = connection.execute(select(Batch.id, Batch.mode, Batch.added)).all()
        events = connection.execute(text("SELECT count(*) FROM batch_events")).scalar_one()
    assert [(b.mode, b.added) for b in batches] == [("simulation", 3), ("apply", 3), ("apply", 0)]
    assert events == 3 * 6


def _accounts(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(select(PortalUser)))


def test_one_account_whatever_the_capitals_but_dots_matter(engine: Engine) -> None:
    report = import_users(
        engine,
        table(
            ["A@X.org", "A", "A", "GUARDIAN"],
            [" a@x.org ", "A", "A", "GUARDIAN"],
            ["a.b@gmail.com", "B", "B", "GUARDIAN"],
            ["ab@gmail.com", "B", "B", "GUARDIAN"],
            headers=HEADERS[:4],
        ),
        apply=True,
    )
    assert [r.action for r in report.results] == ["added", "skipped", "added", "added"]
    assert sorted(row.logon_key for row in _accounts(engine)) == [
        "a.b@gmail.com",
        "a@x.org",
        "ab@gmail.com",
    ]
    later = import_users(
        engine, table([" a@X.ORG", "A", "A", "GUARDIAN"], headers=HEADERS[:4]), apply=True
    )
    assert results(later) == [(2, "A@x.org", "skipped")]


def test_blank_cells_never_erase_and_changes_show_old_and_new(engine: Engine) -> None:
    import_users(
        engine,
        table(
            [
                "ann@example.org",
                "Ann",
                "Lee",
                "GUARDIAN",
                "ann.work@example.org",
                None,
                "555-111-2222",
            ],
        ),
        apply=True,
    )
    report = import_users(
        engine,
        table(
            ["ann@example.org", None, "Lee-Smith", None, None, "DISABLED", "  "],
        ),
        apply=True,
    )
    [result] = report.results
    assert result.action == "updated"
    assert result.changes == {"LAST_NAME": ("Lee", "Lee-Smith"), "STATUS": ("ACTIVE", "DISABLED")}
    [account] = _accounts(engine)
    assert (
        account.first_name,
        account.last_name,
        account.email,
        account.phone,
        account.status,
    ) == ("Ann", "Lee-Smith", "ann.work@example.org", "555-111-2222", "DISABLED")


def test_modes_and_type_changes(engine: Engine) -> None:
    import_users(
        engine,
        table(["ann@example.org", "Ann", "Lee", "GUARDIAN"], headers=HEADERS[:4]),
        apply=True,
    )
    rows = table(
        ["ann@example.org", "Anne", "Lee", "GUARDIAN"],
        ["new@example.org", "New", "Person", "GUARDIAN"],
        headers=HEADERS[:4],
    )
    insert_only = import_users(engine, rows, mode="insert-only")
    assert [r.action for r in insert_only.results] == ["skipped", "added"]
    assert "insert-only" in insert_only.results[0].reason
    update_only = import_users(engine, rows, mode="update-only")
    assert [r.action for r in update_only.results] == ["updated", "skipped"]
    assert "update-only" in update_only.results[1].reason
    retype = import_users(
        engine, table(["ann@example.org", "Ann", "Lee", "STUDENT"], headers=HEADERS[:4]), apply=True
    )
    assert retype.results[0].action == "error"
    assert "type can't be changed" in retype.results[0].reason
    new_without_names = import_users(
        engine, table(["x@example.org", None, "Lee", "GUARDIAN"], headers=HEADERS[:4])
    )
    assert new_without_names.results[0].action == "error"
    assert "FIRST_NAME" in new_without_names.results[0].reason


def test_numbers_in_cells_are_read_as_text(engine: Engine) -> None:
    report = import_users(
        engine, table(["12345", 7, "Lee", "STUDENT"], headers=HEADERS[:4]), apply=True
    )
    assert results(report) == [(2, "12345", "added")]
    assert _accounts(engine)[0].first_name == "7"


def test_header_problems_are_named_together_and_nothing_is_written(engine: Engine) -> None:
    bad = table(
        ["a@example.org", "A", "B", "C"],
        headers=["Logon ID", "first name", "FIRST_NAME", "USER_TYEP"],
    )
    bad.labels = ["A", "B", "C", "D"]  # a sheet reader names columns by their letters
    with pytest.raises(HeaderError) as caught:
        import_users(engine, bad, apply=True)
    message = str(caught.value)
    assert "missing required columns LAST_NAME, USER_TYPE" in message
    assert "FIRST_NAME appears twice (columns B and C)" in message
    assert "unknown column 'USER_TYEP' (cell D1): did you mean USER_TYPE?" in message
    with engine.connect() as connection:
        assert connection.execute(select(Batch)).all() == []
        assert connection.execute(select(BatchEvent)).all() == []


def test_header_aliases_and_spacing_are_accepted(engine: Engine) -> None:
    report = import_users(
        engine,
        table(
            ["a@example.org", "A", "B", "guardian"],
            headers=[" logon id", "First Name", "surname", "Logon Type"],
        ),
    )
    assert results(report) == [(2, "a@example.org", "added")]
