"""Who may see which child, on every path that attaches a student, on both databases.

The district has the faults real ones have: two households share one carpool inbox (in two
schools), a contact whose portal access is N, a neighbour who is no guardian of one child, a
withdrawn student, a student's own email typed as a parent's, and a student account.
"""

from pathlib import Path
from typing import Any

import openpyxl
import pytest
from factories import CONTACT_HEADERS, LINK_HEADERS, STUDENT_HEADERS, USER_HEADERS, input_table
from helpers import read_log, run_cli, write_workbook
from sqlalchemy import Engine, insert, select, text

from backend.accounts.autocreate import Options, autocreate
from backend.accounts.contact_card import create_account_from_contact
from backend.accounts.single import modify_user, new_user
from backend.database.models import PortalUser, Student, StudentLink
from backend.imports.contract import InputTable, Report
from backend.imports.links import import_links
from backend.imports.roster import import_roster
from backend.imports.users import import_users
from backend.mail.templates import set_template

Capsys = pytest.CaptureFixture[str]

SCHOOLS = [["101", "Lincoln"], ["201", "Washington"], ["301", "Roosevelt"]]
STUDENTS = [
    ["001", "Ava", "Fox", "3", "201", None],
    ["002", "Ian", "Roe", "7", "301", None],
    ["003", "Zoe", "Ng", "4", "101", "zoe@students.example.org"],
    ["004", "Old", "Lee", "5", "101", None],
    ["005", "Max", "Lee", "2", "101", None],
]
CONTACTS = [
    # Two households, one carpool inbox, in two schools.
    ["001", "C1", "Pat", "Fox", "Mother", "carpool@example.org", "Y", "Y", 1],
    ["002", "C2", "Jo", "Roe", "Father", "Carpool@example.org", "Y", "Y", 1],
    # Portal access N.
    ["003", "C3", "Kim", "Ng", "Mother", "kim@example.org", "Y", "N", 1],
    # The student's own email typed as a parent's.
    ["003", "C7", "Tom", "Ng", "Father", "ZOE@students.example.org", "Y", "Y", 2],
    # A neighbour on 003's card, the guardian of 005.
    ["003", "C4", "Ned", "Lee", "Neighbour", "ned@example.org", "N", "Y", 3],
    ["005", "C4", "Ned", "Lee", "Father", "ned@example.org", "Y", "Y", 1],
    # A parent of a withdrawn student and of an active one.
    ["004", "C6", "Ann", "Lee", "Mother", "ann@example.org", "Y", "Y", 1],
    ["005", "C6", "Ann", "Lee", "Mother", "ann@example.org", "Y", "Y", 2],
]


def table(headers: list[str], rows: list[list[Any]], sheet: str | None = None) -> InputTable:
    return input_table(headers, rows, sheet=sheet)


def roster(engine: Engine, contacts: list[list[Any]] = CONTACTS) -> Report:
    return import_roster(
        engine,
        schools=table(["SCHOOL_CODE", "SCHOOL_NAME"], SCHOOLS, "Schools"),
        students=table(STUDENT_HEADERS, STUDENTS, "Students"),
        contacts=table(CONTACT_HEADERS, contacts, "Contacts"),
        apply=True,
    )


@pytest.fixture
def district(engine: Engine) -> Engine:
    report = roster(engine)
    assert report.counts["error"] == 0
    with engine.begin() as connection:
        connection.execute(text("UPDATE students SET status = 'INACTIVE' WHERE student_id = '004'"))
    return engine


def links(engine: Engine) -> set[tuple[str, str]]:
    """Every (logon, student ID) attached."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(PortalUser.logon_key, Student.student_id)
            .join(StudentLink, StudentLink.user_id == PortalUser.id)
            .join(Student, Student.id == StudentLink.student_id)
        )
        return {(logon, sid) for logon, sid in rows}


def outcome(report: Report) -> dict[str, tuple[str, str, str | None]]:
    return {r.key or "": (r.action, r.reason, r.warning) for r in report.results}


def users(engine: Engine, *rows: list[Any]) -> Report:
    return import_users(engine, table(USER_HEADERS, list(rows)), apply=True)


@pytest.mark.parametrize("order", [["201", "301"], ["301", "201"]])
def test_two_households_sharing_an_email_see_no_child_whatever_order_schools_run_in(
    district: Engine, order: list[str]
) -> None:
    first, second = (autocreate(district, Options(schools=[s]), apply=True) for s in order)
    for report in (first, second):
        [row] = [r for r in report.results if r.key in ("001 / C1", "002 / C2")]
        assert row.action == "skipped"
        assert "(rule: two households, one email)" in row.reason
        assert "Pat Fox (contact C1, student 001) and Jo Roe (contact C2, student 002)" in (
            row.reason
        )
    assert not {pair for pair in links(district) if pair[0] == "carpool@example.org"}


def test_create_account_then_autocreate_of_another_school_shows_no_child(
    district: Engine,
) -> None:
    card = create_account_from_contact(district, "C1", apply=True)
    assert outcome(card)["001 / C1"][0] == "skipped"
    assert "two households, one email" in outcome(card)["001 / C1"][1]
    other = autocreate(district, Options(schools=["301"]), apply=True)
    assert outcome(other)["002 / C2"][0] == "skipped"
    assert not {pair for pair in links(district) if pair[0] == "carpool@example.org"}


def test_the_link_import_and_modify_user_refuse_a_household_shared_email(
    district: Engine,
) -> None:
    users(district, ["carpool@example.org", "Pat", "Fox", "GUARDIAN"])
    report = import_links(
        district,
        table(
            LINK_HEADERS,
            [["carpool@example.org", "001", None], ["carpool@example.org", "002", None]],
        ),
        apply=True,
    )
    assert [r.action for r in report.results] == ["error", "error"]
    assert "two households, one email" in report.results[0].reason
    typed = modify_user(district, "carpool@example.org", attach=["002"])
    assert typed.results[0].action == "error"
    assert not {pair for pair in links(district) if pair[0] == "carpool@example.org"}


def test_children_exposed_by_an_earlier_run_are_warned_about_by_the_next_run_of_any_kind(
    district: Engine,
) -> None:
    # As an earlier version left it: the carpool account sees both households' children.
    users(district, ["carpool@example.org", "Pat", "Fox", "GUARDIAN"])
    with district.begin() as connection:
        account = connection.execute(
            select(PortalUser.id).where(PortalUser.logon_key == "carpool@example.org")
        ).scalar_one()
        pks = connection.execute(
            select(Student.id).where(Student.student_id.in_(["001", "002"]))
        ).scalars()
        connection.execute(
            insert(StudentLink), [{"user_id": account, "student_id": s} for s in pks]
        )
    runs = [
        autocreate(district, Options()),
        import_users(district, table(USER_HEADERS, [["x@example.org", "X", "Y", "GUARDIAN"]])),
        import_links(district, table(LINK_HEADERS, [["ann@example.org", "005", None]])),
        new_user(
            district,
            logon_id="new@example.org",
            user_type="GUARDIAN",
            last_name="N",
            first_name="N",
        ),
        roster(district),
    ]
    for report in runs:
        [warned] = [r for r in report.results if r.key == "carpool@example.org"]
        assert warned.warning is not None and warned.action == "skipped"
        assert "already sees students 001, 002" in warned.warning
        assert "shared by two households" in warned.warning
        assert report.tallies["warning"] >= 1


def test_portal_access_n_is_never_attached_and_revoking_it_detaches_in_the_same_batch(
    district: Engine,
) -> None:
    users(
        district,
        ["kim@example.org", "Kim", "Ng", "GUARDIAN"],
        ["ned@example.org", "Ned", "Lee", "GUARDIAN"],
    )
    refused = import_links(
        district, table(LINK_HEADERS, [["kim@example.org", "003", "Mother"]]), apply=True
    )
    assert refused.results[0].action == "error"
    assert "PORTAL_ACCESS is N for Kim Ng (contact C3) on the card of student 003" in (
        refused.results[0].reason
    )
    assert outcome(create_account_from_contact(district, "C3"))["003 / C3"][0] == "skipped"
    assert modify_user(district, "kim@example.org", attach=["003"]).results[0].action == "error"
    # Ned may see 005; when the roster revokes it, the same batch detaches him.
    import_links(district, table(LINK_HEADERS, [["ned@example.org", "005", "Father"]]), apply=True)
    assert ("ned@example.org", "005") in links(district)
    revoked = [
        row if row[1] != "C4" or row[0] != "005" else [*row[:7], "N", row[8]] for row in CONTACTS
    ]
    report = roster(district, revoked)
    [removed] = [r for r in report.results if r.action == "removed"]
    assert (removed.sheet, removed.row, removed.key) == ("Contacts", 7, "ned@example.org / 005")
    assert removed.reason == (
        "Student 005 detached from ned@example.org: PORTAL_ACCESS is N for contact C4 on the "
        "student's card"
    )
    assert ("ned@example.org", "005") not in links(district)
    assert not [r for r in roster(district, revoked).results if r.action == "removed"]


def test_a_student_account_sees_only_its_own_student_and_a_student_email_is_no_guardian_logon(
    district: Engine,
) -> None:
    made = users(
        district,
        ["zoe@students.example.org", "Zoe", "Ng", "STUDENT"],
        ["max5", "Max", "Lee", "STUDENT"],
    )
    assert made.counts["added"] == 2
    report = import_links(
        district,
        table(
            LINK_HEADERS,
            [
                ["zoe@students.example.org", "003", "Self"],
                ["zoe@students.example.org", "005", "Self"],
                ["max5", "005", "Self"],
                ["max5", "001", "Self"],
            ],
        ),
        apply=True,
    )
    assert [r.action for r in report.results] == ["added", "error", "added", "error"]
    assert "own email of student 003" in report.results[1].reason
    assert "already sees student 005" in report.results[3].reason
    assert {p for p in links(district) if p[0] in ("zoe@students.example.org", "max5")} == {
        ("zoe@students.example.org", "003"),
        ("max5", "005"),
    }


def test_a_students_own_email_is_refused_as_a_guardian_logon_by_every_path(
    district: Engine,
) -> None:
    refused = import_users(
        district, table(USER_HEADERS, [["Zoe@Students.example.org", "Tom", "Ng", "GUARDIAN"]])
    )
    assert refused.results[0].action == "error"
    assert refused.results[0].reason == (
        "LOGONID: The logon is the student's own email (STUDENT_EMAIL of student 003), never a "
        "guardian's"
    )
    typed = new_user(
        district,
        logon_id="zoe@students.example.org",
        user_type="GUARDIAN",
        last_name="Ng",
        first_name="Tom",
        students=["003"],
    )
    assert [r.action for r in typed.results][:1] == ["error"]
    assert outcome(create_account_from_contact(district, "C7"))["003 / C7"][0] == "skipped"
    # An account made as a guardian's before the rule gets no student from the link import.
    with district.begin() as connection:
        connection.execute(
            insert(PortalUser),
            {
                "logon_id": "zoe@students.example.org",
                "logon_key": "zoe@students.example.org",
                "user_type": "GUARDIAN",
                "first_name": "Tom",
                "last_name": "Ng",
            },
        )
    linked = import_links(
        district, table(LINK_HEADERS, [["zoe@students.example.org", "003", "Father"]]), apply=True
    )
    assert linked.results[0].action == "error"
    assert linked.results[0].reason.startswith(
        "The logon is the student's own email (STUDENT_EMAIL of student 003), never a guardian's"
    )
    assert not links(district)


def test_create_account_applies_autocreates_rules_and_queues_its_welcome_email(
    district: Engine,
) -> None:
    neighbour = create_account_from_contact(district, "C4", apply=True)
    assert outcome(neighbour)["003 / C4"] == (
        "skipped",
        "Not flagged as a guardian (rule: guardians only)",
        None,
    )
    assert outcome(neighbour)["005 / C4"][0] == "added"
    set_template(
        district,
        "welcome",
        "Welcome {{ guardian_first_name }}",
        "Students: {{ student_names }} {{ activation_link }}",
    )
    parent = create_account_from_contact(district, "C6", apply=True, email_template="welcome")
    assert outcome(parent)["004"] == ("skipped", "Student 004 is INACTIVE", None)
    assert outcome(parent)["005 / C6"][0] == "added"
    assert {p for p in links(district)} == {("ned@example.org", "005"), ("ann@example.org", "005")}
    with district.connect() as connection:
        queued = connection.execute(text("SELECT to_address, subject, body FROM outbox")).all()
    assert [(to, subject) for to, subject, _ in queued] == [("ann@example.org", "Welcome Ann")]
    assert "Max" in queued[0][2] and "Old" not in queued[0][2]


def test_warnings_have_their_own_colour_are_counted_and_listed_first(
    district: Engine, database_url: str, tmp_path: Path, capsys: Capsys
) -> None:
    users(district, ["ann@example.org", "Ann", "Lee", "GUARDIAN"])
    source = write_workbook(
        tmp_path / "links.xlsx",
        LINK_HEADERS,
        [["ann@example.org", "005", "Mother"], ["ann@example.org", "004", "Mother"]],
        sheet="Links",
    )
    result = run_cli(capsys, "--db", database_url, "import", "links", str(source), "--apply")
    assert result.code == 0
    assert "2 added" in result.stdout and "1 warnings" in result.stdout
    assert "warning row 3 ann@example.org / 004: Student 004 is INACTIVE" in result.stdout
    summary, rows = read_log(tmp_path / "links.applied.xlsx")
    assert summary["Warnings"] == 1
    assert [(r.row, r.key, r.action) for r in rows] == [
        (3, "ann@example.org / 004", "added"),
        (2, "ann@example.org / 005", "added"),
    ]
    sheet = openpyxl.load_workbook(tmp_path / "links.applied.xlsx")["Import Log"]
    header = next(row for row in sheet.iter_rows() if row[0].value == "Row")
    columns = [cell.value for cell in header]
    assert columns[-1] == "Warning"
    top = header[0].row
    first, second = sheet.iter_rows(min_row=top + 1, max_row=top + 2)
    assert first[-1].value.startswith("Student 004 is INACTIVE")
    assert first[0].fill.fgColor.rgb[-6:] == "D9C3E9"
    assert second[0].fill.fgColor.rgb[-6:] == "C6EFCE"
    assert ("ann@example.org", "004") in links(district)
    audit = run_cli(capsys, "--db", database_url, "batches", str(summary["Batch"]))
    assert "(warning: Student 004 is INACTIVE" in " ".join(audit.stdout.split())


def test_a_disabled_account_already_attached_warns_in_autocreate(district: Engine) -> None:
    autocreate(district, Options(schools=["101"]), apply=True)
    modify_user(district, "ann@example.org", changes={"status": "DISABLED"})
    again = autocreate(district, Options(schools=["101"]))
    action, reason, warning = outcome(again)["005 / C6"]
    assert (action, reason) == ("skipped", "Already attached to ann@example.org")
    assert warning is not None and "is DISABLED" in warning


README = Path(__file__).parent.parent / "README.md"


def readme_table(first_header: str) -> list[tuple[str, str]]:
    """The README table whose header row starts with ``first_header``: its first two cells."""
    lines = README.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows.append((cells[0], cells[1]))
    return rows


def test_the_readme_create_account_table_is_what_create_account_does(district: Engine) -> None:
    cases = {
        "GUARDIAN N (a neighbour, a coach)": ("C4", "003 / C4", "Not flagged as a guardian"),
        "PORTAL_ACCESS N": ("C3", "003 / C3", "PORTAL_ACCESS is N"),
        "an email two households share": ("C1", "001 / C1", "two households, one email"),
        "the email is a student's own (STUDENT_EMAIL)": ("C7", "003 / C7", "student's own email"),
        "the student is INACTIVE": ("C6", "004", "is INACTIVE"),
        "otherwise": ("C6", "005 / C6", "Account created and student attached"),
    }
    table = dict(readme_table("The contact's entry on a student's card"))
    assert list(table) == list(cases)
    for entry, (contact, key, reason) in cases.items():
        action, got, _ = outcome(create_account_from_contact(district, contact))[key]
        assert action == table[entry].split(":")[0], entry
        assert reason in got, entry


def test_the_readme_warning_table_is_what_the_logs_warn_of(district: Engine) -> None:
    users(
        district,
        ["ann@example.org", "Ann", "Lee", "GUARDIAN"],
        ["kim@example.org", "K", "N", "GUARDIAN"],
    )
    modify_user(district, "kim@example.org", changes={"status": "DISABLED"})
    attached = import_links(
        district,
        table(LINK_HEADERS, [["ann@example.org", "004", None], ["kim@example.org", "001", None]]),
        apply=True,
    )
    typed = modify_user(district, "ann@example.org", attach=["005"])
    typed_disabled = modify_user(district, "kim@example.org", attach=["005"])
    modify_user(district, "ann@example.org", changes={"status": "DISABLED"})
    disabled = autocreate(district, Options(students=["005"]))
    with district.begin() as connection:
        connection.execute(text("UPDATE student_contacts SET portal_access = false"))
    every_run = import_users(
        district, table(USER_HEADERS, [["x@example.org", "X", "Y", "GUARDIAN"]])
    )
    left_out = roster(
        district, [*CONTACTS, ["001", "C9", "Uma", "Ray", "Aunt", "N/A", "Y", "Y", 3]]
    )
    seen = {
        ("every run", "the account already sees students the rules forbid"): every_run,
        ("student-link import, Modify User", "the student is INACTIVE"): attached,
        ("student-link import, Modify User", "the account is DISABLED"): attached,
        ("AutoCreate, create-account", "already attached to a DISABLED account"): disabled,
        (
            "roster import",
            "a contact's EMAIL left out (`N/A`, two addresses in one cell)",
        ): left_out,
    }
    fragments = {
        "the account already sees students the rules forbid": "which the rules forbid",
        "the student is INACTIVE": "Student 004 is INACTIVE",
        "the account is DISABLED": "The account kim@example.org is DISABLED",
        "already attached to a DISABLED account": "is DISABLED",
        "a contact's EMAIL left out (`N/A`, two addresses in one cell)": "EMAIL left out",
    }
    assert readme_table("Log") == list(seen)
    for (_, warning), report in seen.items():
        assert any(fragments[warning] in (r.warning or "") for r in report.results), warning
    assert typed.results[0].action == "added" and typed.results[0].warning is None
    assert typed_disabled.results[0].action == "added"
    assert (typed_disabled.results[0].warning or "").startswith(
        "The account kim@example.org is DISABLED"
    )


def test_a_live_excel_log_gives_warning_rows_their_colour_before_any_other(
    district: Engine,
) -> None:
    from xlwings_double import FakeBook

    from addin.excel.workbook import ExcelWorkbook
    from addin.workbooks.result_sheet import log_from_report

    users(district, ["ann@example.org", "Ann", "Lee", "GUARDIAN"])
    rows = [["ann@example.org", "005", "Mother"], ["ann@example.org", "004", "Mother"]]
    report = import_links(district, table(LINK_HEADERS, rows))
    book = FakeBook("links.xlsx", {"Links": [LINK_HEADERS, *rows]}, {})
    ExcelWorkbook(book).write_log(log_from_report(report, "LOGONID / STUDENT_ID"))
    sheet = book.sheets["Import Log"]
    values = sheet.values()
    header = next(i for i, row in enumerate(values) if row and row[0] == "Row")
    column = values[header].index("Warning")
    letter = chr(ord("A") + column)
    first_rule, *others = sheet.rules
    assert first_rule[1:] == (f'=INDIRECT("{letter}"&ROW())<>""', "#D9C3E9")
    assert values[header + 1][column].startswith("Student 004 is INACTIVE")
    assert not values[header + 2][column]  # the row without a warning keeps its action's colour
    assert others[0][1] == '=INDIRECT("C"&ROW())="added"'


def test_a_students_own_email_outside_ascii_is_known_by_its_logon_key(district: Engine) -> None:
    """'Straße' and 'STRASSE' are one logon: the student's own email is refused in either."""
    from sqlalchemy import update

    with district.begin() as connection:
        connection.execute(
            update(Student)
            .where(Student.student_id == "003")
            .values(email="Zoë.Straße@students.example.org")
        )
    refused = import_users(
        district,
        table(USER_HEADERS, [["ZOË.STRASSE@students.example.org", "Tom", "Ng", "GUARDIAN"]]),
    )
    assert refused.results[0].action == "error", refused.results[0].reason
    assert "own email (STUDENT_EMAIL of student 003)" in refused.results[0].reason
