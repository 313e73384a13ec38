"""The same workbook gives the same Import Log rows in local mode and through the server.

Each workbook is a real .xlsx with the faults and cell types real files have (numbers, dates,
true/false, invisible characters, unknown columns), read once as the ribbon reads it; it is run
locally and through `portal serve` from the same database state, and both logs are written as
result workbooks and read back.
"""

from dataclasses import astuple
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from factories import LINK_HEADERS, SMALL_DISTRICT
from helpers import read_log
from served import Server, seed, staff_token
from served import typed_workbook as workbook
from sqlalchemy import Engine

from addin.remote import Remote
from addin.workbooks.actions import read_tables
from addin.workbooks.file import FileWorkbook, write_run_log
from addin.workbooks.kinds import KINDS, Tables
from addin.workbooks.result_sheet import log_from_report
from backend.imports.contract import Report, no_progress
from backend.imports.reviewed import Review


def tables_of(path: Path, kind: str) -> Tables:
    with FileWorkbook(path) as book:
        return read_tables(book, KINDS[kind])


def both(
    server: Server, db: Engine, kind: str, path: Path, apply: bool, **options: Any
) -> tuple[Report, Report]:
    """The run made locally, then through the server, each from the same starting database."""
    seed(db)
    local = KINDS[kind].run(db, tables_of(path, kind), apply=apply, progress=no_progress, **options)
    if apply:
        seed(db)
    remote = Remote(server.base, staff_token(db)).runner(kind)(
        None, tables_of(path, kind), apply=apply, progress=no_progress, **options
    )
    return local, remote


def assert_same_logs(local: Report, remote: Report, kind: str, folder: Path) -> None:
    assert [astuple(r) for r in remote.results] == [astuple(r) for r in local.results]
    key = KINDS[kind].key_header
    logs = [
        read_log(write_run_log(folder / f"{name}.xlsx", log_from_report(report, key)))
        for name, report in (("local", local), ("remote", remote))
    ]
    (local_summary, local_rows), (remote_summary, remote_rows) = logs
    assert remote_rows == local_rows
    for summary in (local_summary, remote_summary):  # the batch's number and time differ
        del summary["Batch"], summary["Finished (UTC)"]
    assert remote_summary == local_summary


USERS = (
    ["LOGONID", "First Name", "LAST_NAME", "USER_TYPE", "PHONE", "STATUS", "NOTES"],
    [
        ["ann@example.org", "Ann", "Lee", "GUARDIAN", 5550100, "ACTIVE", "new"],
        ["MIA@example.org", "Mia\u200b", "Lee", "guardian", None, None, True],
        ["not-an-email", "Bo", "Lee", "GUARDIAN", None, None, 2.5],
        ["cy@example.org", "Cy", "Lee", "PARENT", None, None, None],
        ["old@example.org", None, "Lee", "GUARDIAN", datetime(2026, 9, 1, 8, 30), None, None],
        ["dee@example.org", "Dee", "Lee", "GUARDIAN", date(2026, 1, 2), "GONE", None],
        ["ann@EXAMPLE.org", "Ann", "Lee", "GUARDIAN", None, None, None],
        ["eve@example.org", "x" * 300, "Lee", "GUARDIAN", None, None, None],
    ],
)


@pytest.mark.parametrize("apply", [False, True], ids=["simulation", "apply"])
def test_users_workbook(server: Server, db: Engine, tmp_path: Path, apply: bool) -> None:
    path = workbook(tmp_path / "users.xlsx", {"Users": USERS})
    local, remote = both(server, db, "users", path, apply, mode="upsert", review=Review())
    assert {r.action for r in local.results} >= {"added", "updated", "error"}
    assert remote.extra == local.extra
    assert_same_logs(local, remote, "users", tmp_path)


def test_links_workbook(server: Server, db: Engine, tmp_path: Path) -> None:
    rows = [
        ["mia@example.org", "00123", "Mother", "Y", "Y", "ADD"],
        ["mia@example.org", 456, "Mother", "N", None, None],
        ["old@example.org", "00123", None, True, False, None],
        ["nobody@example.org", "00123", "Father", None, None, None],
        ["mia@example.org", "99999", "Mother", None, None, None],
        ["old@example.org", "456", None, None, None, "REMOVE"],
        ["mia@example.org", date(2026, 1, 2), None, None, None, None],
    ]
    headers = [*LINK_HEADERS, "PRIMARY", "NOTICES", "ACTION"]
    path = workbook(tmp_path / "links.xlsx", {"Links": (headers, rows)})
    for apply in (False, True):
        local, remote = both(server, db, "links", path, apply, schools=(), review=Review())
        assert {r.action for r in local.results} >= {"added", "error"}
        assert_same_logs(local, remote, "links", tmp_path)


def test_roster_workbook(server: Server, db: Engine, tmp_path: Path) -> None:
    sheets = {
        name: (h, [list(r) for r in rows]) for name, (h, rows) in SMALL_DISTRICT.sheets().items()
    }
    headers, students = sheets["Students"]
    sheets["Students"] = (
        headers,
        [*students, ["00777", "Zed", "Ng", 4, "301", None], ["00778", None, "Ng", "K", "101", 1]],
    )
    path = workbook(tmp_path / "roster.xlsx", sheets)
    for apply in (False, True):
        local, remote = both(server, db, "roster", path, apply, review=Review())
        assert_same_logs(local, remote, "roster", tmp_path)


def test_autocreate_workbook(server: Server, db: Engine, tmp_path: Path) -> None:
    options = [
        ["SIMULATION", "N", ""],
        ["SCHOOLS", 101, ""],
        ["GUARDIANS_ONLY", "Y", ""],
        ["MAX_PRIORITY", 2.0, ""],
    ]
    path = workbook(
        tmp_path / "autocreate.xlsx",
        {
            "Options": (["Option", "Value", "Description"], options),
            "Students": (["STUDENT_ID"], [["00123"], ["456"]]),
        },
    )
    for apply in (False, True):
        local, remote = both(server, db, "autocreate", path, apply, review=Review())
        assert local.results
        assert_same_logs(local, remote, "autocreate", tmp_path)
