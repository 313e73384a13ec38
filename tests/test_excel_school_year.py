"""The School Year buttons in Excel (through the checked xlwings double), on both databases:
what staff see in the message boxes and sheets, and what the database holds afterwards."""

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pypdfium2
import pytest
from factories import (
    CONTACT_HEADERS,
    LINK_HEADERS,
    SCHOOL_HEADERS,
    STUDENT_HEADERS,
    USER_HEADERS,
    input_table,
)
from helpers import run_cli
from sqlalchemy import Engine, select, update
from test_activation import PASSWORD
from xlwings_double import FakeBook

from addin.excel.entry import run_action, run_on_book
from addin.excel.workbook import ExcelWorkbook
from addin.workbooks.school_year import SCHOOL_YEAR, fix_text, suggested_fix
from backend.accounts.contact_card import contact_card
from backend.accounts.single import get_account
from backend.database.engine import write_transaction
from backend.database.models import (
    ActivationToken,
    Batch,
    OutboxMessage,
    PortalUser,
    Student,
    StudentLink,
    utcnow,
)
from backend.imports.links import import_links
from backend.imports.roster import import_roster
from backend.imports.users import import_users
from backend.mail.activation import activate

TYPO = "tom.nguyen@yahooo.com"
RIGHT = "tom.nguyen@yahoo.com"
USERS = [
    USER_HEADERS,
    ["ann@example.org", "Ann", "Lee", "GUARDIAN"],
    ["bo@example.org", "Bo", "Lee", "GUARDIAN"],
]
TEMPLATE = {"PortalTemplate": '="users"'}


def district(engine: Engine, links: list[list[str]]) -> None:
    """Lincoln (101): Ava (001) and Max (002), whose card's guardian is Tom at RIGHT; the
    accounts that ``links`` name, attached as they say."""
    report = import_roster(
        engine,
        schools=input_table(SCHOOL_HEADERS, [["101", "Lincoln"]], sheet="Schools"),
        students=input_table(
            STUDENT_HEADERS,
            [
                ["001", "Ava", "Nguyen", "3", "101", None],
                ["002", "Max", "Nguyen", "5", "101", None],
            ],
            sheet="Students",
        ),
        contacts=input_table(
            CONTACT_HEADERS,
            [
                ["001", "C1", "Tom", "Nguyen", "Father", RIGHT, "Y", "Y", 1],
                ["002", "C1", "Tom", "Nguyen", "Father", RIGHT, "Y", "Y", 1],
            ],
            sheet="Contacts",
        ),
        apply=True,
    )
    assert report.counts["error"] == 0
    users = [[logon, "Tom", "Nguyen", "GUARDIAN"] for logon in sorted({x[0] for x in links})]
    assert import_users(engine, input_table(USER_HEADERS, users), apply=True).counts["error"] == 0
    linked = import_links(engine, input_table(LINK_HEADERS, links), apply=True)
    assert linked.counts["error"] == 0


def batches(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(select(Batch.kind, Batch.mode))]


def outbox(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(OutboxMessage.to_address, OutboxMessage.status).order_by(OutboxMessage.id)
        )
        return [tuple(row) for row in rows]


def logons(engine: Engine) -> dict[str, str]:
    with engine.connect() as connection:
        return dict(connection.execute(select(PortalUser.logon_id, PortalUser.status)).all())


def book_with(
    sheets: dict[str, list[list[Any]]], selection: tuple[str, str], answers: Sequence[str] = ()
) -> FakeBook:
    return FakeBook("users.xlsx", sheets, TEMPLATE, answers=list(answers), selection=selection)


def press(action: str, book: FakeBook, engine: Engine) -> Any:
    """A button as Excel runs it: errors become a message box, never a traceback."""
    return run_on_book(action, book, lambda: engine)


def messages(book: FakeBook) -> list[str]:
    return [prompt for prompt, _ in book.app.alerts]


# --- Coverage ------------------------------------------------------------------------------


def test_coverage_opens_the_workbook_of_the_terminal_and_says_the_figures(
    engine: Engine,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    district(engine, [[TYPO, "001", "Father"]])  # Ava: never activated; Max: Tom could get one
    monkeypatch.setattr("addin.excel.workbook.documents_folder", lambda: tmp_path / "docs")
    book = book_with({"Users": USERS}, ("Users", "A1"))
    opened: list[str] = []
    where = run_action("coverage", ExcelWorkbook(book, open_book=opened.append), engine)
    assert opened == [where] and Path(where).parent == tmp_path / "docs"
    assert Path(where).name.startswith("coverage-")
    assert messages(book) == [
        "Parent portal coverage of the district: 0 of 2 active students have a working "
        "guardian account; 1 only accounts never activated, 1 a contact who could get one, 0 "
        "nobody who could. The workbook (a sheet and a chart per school, and what to do for "
        f"each student without a working account): {where}"
    ]
    assert [s.name for s in book.sheets] == ["Users"]  # the open workbook is left as it was
    assert batches(engine) == [
        ("roster import", "apply"),
        ("users import", "apply"),
        ("student-link import", "apply"),
    ]  # a report, as the terminal's: no batch

    cli = tmp_path / "cli.xlsx"
    assert run_cli(capsys, "--db", database_url, "coverage", "--out", str(cli)).code == 0
    ours, theirs = openpyxl.load_workbook(where), openpyxl.load_workbook(cli)
    assert ours.sheetnames == theirs.sheetnames == ["Summary", "School 101", "Without account"]
    for name in ours.sheetnames:
        mine = [row for i, row in enumerate(ours[name].values) if i != 1]  # 1: when it ran
        assert mine == [row for i, row in enumerate(theirs[name].values) if i != 1], name
    assert len(ours["School 101"]._charts) == 1  # type: ignore[attr-defined]
    uncovered = list(ours["Without account"].values)[1:]
    assert [(row[0], row[5]) for row in uncovered] == [
        ("001", "Not activated"),
        ("002", "Could get one"),
    ]


# --- Send Activation -----------------------------------------------------------------------


def test_send_activation_to_the_selected_logons_simulates_asks_then_queues(
    engine: Engine,
) -> None:
    district(engine, [[TYPO, "001", "Father"], [RIGHT, "002", "Father"]])
    sheet = [["LOGONID", "NOTE"], [TYPO, "x"], [RIGHT, "y"], ["nobody@example.org", "z"]]
    refused = book_with({"Users": sheet}, ("Users", "A1:A4"), ["no"])
    assert press("activation.send", refused, engine).mode == "simulation"
    question = refused.app.alerts[0]
    assert question == (
        "Send 2 activation emails to the 3 logons selected? 1 of them gets none: There is no "
        "account with logon 'nobody@example.org': check the spelling. The simulation (batch 4) "
        "is in sheet 'Activation'. Yes queues the emails; No sends nothing.",
        "yes_no",
    )
    assert messages(refused)[-1] == (
        "Nothing was queued: no activation email goes out. The simulation is in sheet 'Activation'."
    )
    log = refused.sheets["Activation"].values()
    assert log[1][:2] == ["Mode", "SIMULATION: nothing was saved; run it again with apply to "
                          "save these changes"]  # fmt: skip
    assert outbox(engine) == []

    book = book_with({"Users": sheet}, ("Users", "A1:A4"), ["yes"])
    report = press("activation.send", book, engine)
    assert report.mode == "apply" and report.batch_id == 6
    assert messages(book)[-1] == (
        "2 activation emails queued (batch 6): they go out with the next sending of the "
        "outbox, each with a new activation link, and an older link of the same account stops "
        "working. See sheet 'Activation'."
    )
    assert sorted(outbox(engine)) == sorted([(TYPO, "queued"), (RIGHT, "queued")])
    assert batches(engine)[3:] == [
        ("Activation emails", "simulation"),
        ("Activation emails", "simulation"),
        ("Activation emails", "apply"),
    ]
    rows = book.sheets["Activation"].values()
    assert rows[1][1].startswith("APPLIED")
    assert {
        (row[1], row[2]) for row in rows[rows.index(next(r for r in rows if r[0] == "Row")) + 1 :]
    } == {
        (TYPO, "added"),
        (RIGHT, "added"),
        ("nobody@example.org", "error"),
    }


def test_send_activation_for_the_batch_line_of_an_applied_imports_log(engine: Engine) -> None:
    book = book_with({"Users": USERS}, ("Users", "A2"), ["yes", "yes"])  # never simulated
    assert run_action("users.apply", ExcelWorkbook(book), engine).counts["added"] == 2
    book._selection = ("Import Log", "A4:B4")  # the Batch line
    assert book.sheets["Import Log"].values()[3][0] == "Batch"
    report = press("activation.send", book, engine)
    assert report.mode == "apply" and report.options["batch"] == 1
    assert book.app.alerts[-2][0].startswith(
        "Send 2 activation emails to the accounts batch 1 added or attached a student to?"
    )
    assert sorted(outbox(engine)) == [("ann@example.org", "queued"), ("bo@example.org", "queued")]

    simulated = book_with({"Users": USERS}, ("Users", "A2"))
    run_action("users.simulate", ExcelWorkbook(simulated), engine)
    simulated._selection = ("Import Log", "B4")
    assert press("activation.send", simulated, engine) is None
    assert messages(simulated)[-1].startswith(
        "Batch 4 was a simulation and made no account: select the Batch line of the log of an "
        "import that was applied"
    )


def test_send_activation_says_what_to_select_and_who_gets_none(engine: Engine) -> None:
    district(engine, [[TYPO, "001", "Father"]])
    before = batches(engine)
    blank = book_with({"Users": [["LOGONID"], [None]]}, ("Users", "A1:A2"))
    assert press("activation.send", blank, engine) is None
    assert messages(blank) == [
        "Select the logons to send an activation email to (a cell, a column or a block of "
        "LOGONID cells), or the Batch line of an applied import's Import Log, then press "
        "Send Activation"
    ]
    assert batches(engine) == before

    wrong = book_with({"Users": [["nobody@example.org"]]}, ("Users", "A1"))
    assert press("activation.send", wrong, engine).mode == "simulation"
    assert wrong.app.alerts[-1] == (
        "No activation email to send to nobody@example.org: There is no account with logon "
        "'nobody@example.org': check the spelling. Nothing was queued "
        "(simulation, batch 4; see sheet 'Activation').",
        "ok",
    )
    assert outbox(engine) == []


# --- Rename Logon and Merge Logons ----------------------------------------------------------


def test_rename_two_selected_cells_asks_then_renames(engine: Engine) -> None:
    district(engine, [[TYPO, "001", "Father"], [TYPO, "002", "Father"]])
    cells = {"Fix": [[TYPO, RIGHT]]}
    said_no = book_with(cells, ("Fix", "A1:B1"), ["no"])
    assert press("user.rename", said_no, engine).mode == "simulation"
    assert said_no.app.alerts[0] == (
        f"Rename the logon {TYPO} to {RIGHT}? Its students, its history and its password stay "
        "with the account.\n"
        f"- {TYPO}: Logon changed; its 2 attached student(s) and its history stay with it\n\n"
        "Yes saves it; No changes nothing.",
        "yes_no",
    )
    assert messages(said_no)[-1] == "Nothing was changed (simulation, batch 4)."
    assert logons(engine) == {TYPO: "ACTIVE"}

    book = book_with(cells, ("Fix", "A1:B1"), ["yes"])
    assert press("user.rename", book, engine).mode == "apply"
    assert messages(book)[-1] == (
        f"Renamed: the logon {TYPO} is now {RIGHT} (batch 6).\n"
        f"- {TYPO}: Logon changed; its 2 attached student(s) and its history stay with it"
    )
    assert logons(engine) == {RIGHT: "ACTIVE"}
    assert [s.student_id for s in get_account(engine, RIGHT).students] == ["001", "002"]
    assert batches(engine)[3:] == [
        ("rename user", "simulation"),
        ("rename user", "simulation"),
        ("rename user", "apply"),
    ]


def test_a_refused_rename_is_one_message_and_saves_nothing(engine: Engine) -> None:
    district(engine, [[TYPO, "001", "Father"], [RIGHT, "002", "Father"]])
    before = batches(engine)
    taken = book_with({"Fix": [[TYPO], [RIGHT]]}, ("Fix", "A1:A2"), ["yes"])  # one above other
    assert press("user.rename", taken, engine) is None
    assert messages(taken) == [
        f"There is already an account '{RIGHT}'; to make the two one, merge them: "
        f"portal user merge {TYPO} into {RIGHT}"
    ]
    one = book_with({"Fix": [[TYPO]]}, ("Fix", "A1"))
    assert press("user.rename", one, engine) is None
    assert messages(one)[0].startswith("Select two cells: the logon as it is now, then the logon")
    assert batches(engine) == before and set(logons(engine)) == {TYPO, RIGHT}


def card_row(book: FakeBook, contact: str) -> int:
    """The sheet row of a contact on the Lookup sheet's card."""
    rows = book.sheets["Lookup"].values()
    return next(i for i, row in enumerate(rows, start=1) if row and row[0] == contact)


def test_rename_from_the_contact_cards_suggested_fix(engine: Engine) -> None:
    district(engine, [[TYPO, "001", "Father"]])
    book = book_with({"Students": [["STUDENT_ID"], ["001"]]}, ("Students", "A2"), ["yes"])
    press("lookup", book, engine)
    card = book.sheets["Lookup"].values()
    assert card[1][:2] == ["Student ID", "001"]
    header = next(row for row in card if row and row[0] == "Contact")
    row = card[card_row(book, "C1") - 1]
    assert dict(zip(header, row, strict=False))["Suggested fix"] == (
        f"Rename Logon: {TYPO} -> {RIGHT}"
    )
    assert dict(zip(header, row, strict=False))["Status"] == "logon differs"

    book._selection = ("Lookup", f"B{card_row(book, 'C1')}")
    assert press("user.merge", book, engine) is None
    assert messages(book)[-1] == (
        "This contact's suggested fix is Rename Logon: press that button instead"
    )
    assert press("user.rename", book, engine).mode == "apply"
    assert messages(book)[-1].startswith(f"Renamed: the logon {TYPO} is now {RIGHT}")
    assert contact_card(engine, "001").entries[0].status == "has account"

    assert press("user.rename", book, engine) is None  # the card on the sheet is now old
    assert messages(book)[-1].startswith(
        "Contact C1 on the card of student 001 has no suggested fix now (press Look Up again"
    )
    book._selection = ("Lookup", "A1")
    assert press("user.rename", book, engine) is None
    assert messages(book)[-1].startswith("Select the row of a contact on the contact card")


def test_merge_from_the_card_moves_the_students_and_disables_the_duplicate(
    engine: Engine,
) -> None:
    district(engine, [[TYPO, "001", "Father"], [RIGHT, "002", "Father"]])
    book = book_with({"Students": [["STUDENT_ID"], ["001"]]}, ("Students", "A2"), ["yes"])
    press("lookup", book, engine)
    book._selection = ("Lookup", f"A{card_row(book, 'C1')}")
    assert press("user.merge", book, engine).mode == "apply"
    question, done = book.app.alerts[-2][0], book.app.alerts[-1][0]
    assert question.startswith(
        f"Merge the account {TYPO} into {RIGHT}? Its students move to {RIGHT} where the rules "
        f"allow, and {TYPO} is disabled; both keep their history.\n"
        f"- {TYPO}: Merged into {RIGHT}; disabled\n"
    )
    assert f"- {RIGHT} / 001: Student 001 moved from {TYPO}" in question
    assert done.startswith(f"Merged: {TYPO} into {RIGHT} (batch 5).")
    assert logons(engine) == {TYPO: "DISABLED", RIGHT: "ACTIVE"}
    assert [s.student_id for s in get_account(engine, RIGHT).students] == ["001", "002"]
    assert batches(engine)[3:] == [("merge users", "simulation"), ("merge users", "apply")]


def test_merge_two_selected_cells_said_no_changes_nothing(engine: Engine) -> None:
    district(engine, [[TYPO, "001", "Father"], [RIGHT, "002", "Father"]])
    book = book_with({"Fix": [["Duplicate", "Keep"], [TYPO, RIGHT]]}, ("Fix", "A2:B2"), ["no"])
    assert press("user.merge", book, engine).mode == "simulation"
    assert messages(book)[-1] == "Nothing was changed (simulation, batch 4)."
    assert logons(engine) == {TYPO: "ACTIVE", RIGHT: "ACTIVE"}
    assert [s.student_id for s in get_account(engine, TYPO).students] == ["001"]


def test_the_card_suggestions_read_back_as_the_buttons_fixes() -> None:
    assert suggested_fix(f"portal user rename {TYPO} 'a b@example.org'") == (
        "user.rename",
        TYPO,
        "a b@example.org",
    )
    assert suggested_fix(f"portal user merge {TYPO} into {RIGHT}") == ("user.merge", TYPO, RIGHT)
    assert suggested_fix(None) is None and fix_text("portal user show x") == ""
    assert set(SCHOOL_YEAR) == {
        "coverage",
        "activation.send",
        "letters",
        "user.rename",
        "user.merge",
        "batches.undo",
        "lifecycle.year-end",
    }


def test_a_rename_that_stops_a_link_says_how_to_send_a_new_one(engine: Engine) -> None:
    district(engine, [[TYPO, "001", "Father"]])
    assert press("activation.send", book_with({"F": [[TYPO]]}, ("F", "A1"), ["yes"]), engine)
    book = book_with({"Fix": [[TYPO, RIGHT]]}, ("Fix", "A1:B1"), ["yes"])
    press("user.rename", book, engine)
    assert messages(book)[-1].endswith(
        f"Warning: The activation link sent or queued for {TYPO} no longer works; send a new "
        f"one to the new logon (portal activation send --logon {RIGHT})\n"
        f"To send a new activation link, select {RIGHT} and press Send Activation."
    )
    assert outbox(engine) == [(TYPO, "skipped")]


def test_a_username_shown_with_leading_zeros_is_selected_as_shown(engine: Engine) -> None:
    users = input_table(USER_HEADERS, [["00123", "Zoe", "Ng", "STUDENT"]])
    assert import_users(engine, users, apply=True).counts["added"] == 1
    book = book_with({"Fix": [[123.0, "zoe.ng"]]}, ("Fix", "A1:B1"), ["yes"])
    book.sheets["Fix"].formats[(1, 1, 1, 1)] = "00000"  # Excel shows 00123
    assert press("user.rename", book, engine).mode == "apply"
    assert messages(book)[-1].startswith("Renamed: the logon 00123 is now zoe.ng")
    assert logons(engine) == {"zoe.ng": "ACTIVE"}


def coverage_summary(engine: Engine, tmp_path: Path) -> FakeBook:
    """The coverage workbook the button opens, as Excel would show it: a book of its sheets."""
    from addin.workbooks.coverage_book import write_coverage_workbook
    from backend.accounts.coverage import coverage

    path = write_coverage_workbook(coverage(engine), tmp_path / "coverage.xlsx")
    sheets = {
        ws.title: [[cell.value for cell in row] for row in ws.iter_rows()]
        for ws in openpyxl.load_workbook(path).worksheets
    }
    return FakeBook(path.name, sheets, answers=["yes"], selection=("Summary", "A1"))


def test_send_activation_for_a_school_row_of_the_coverage_summary(
    engine: Engine, tmp_path: Path
) -> None:
    district(engine, [[TYPO, "001", "Father"], [RIGHT, "002", "Father"]])
    extra = input_table(USER_HEADERS, [["mia@example.org", "Mia", "Lee", "GUARDIAN"]])
    assert import_users(engine, extra, apply=True).counts["added"] == 1  # at no school
    book = coverage_summary(engine, tmp_path)
    rows = book.sheets["Summary"].values()
    school = next(i for i, row in enumerate(rows, start=1) if row[:3] == ["101", "Lincoln", "3"])
    book._selection = ("Summary", f"C{school}")
    assert press("activation.send", book, engine).mode == "apply"
    assert book.app.alerts[-2][0].startswith(
        "Send 2 activation emails to the accounts at school 101 never activated?"
    )
    assert sorted(outbox(engine)) == sorted([(TYPO, "queued"), (RIGHT, "queued")])

    district_row = next(i for i, row in enumerate(rows, start=1) if row[0] == "District")
    again = coverage_summary(engine, tmp_path)
    again._selection = ("Summary", f"A{district_row}:H{district_row}")
    press("activation.send", again, engine)
    assert again.app.alerts[-2][0].startswith(
        "Send 3 activation emails to every account never activated?"
    )

    meaning = next(i for i, row in enumerate(rows, start=1) if row[0] == "Working account")
    wrong = coverage_summary(engine, tmp_path)
    wrong._selection = ("Summary", f"A{meaning}")
    assert press("activation.send", wrong, engine) is None
    assert messages(wrong) == [
        "On the coverage Summary, select the row of a school (or the District row), then press "
        "Send Activation: its accounts never activated get an email"
    ]


# --- Letters -------------------------------------------------------------------------------


def tokens(engine: Engine) -> int:
    with engine.connect() as connection:
        return len(connection.execute(select(ActivationToken.id)).all())


def letters_run(
    engine: Engine, book: FakeBook, docs: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, list[str]]:
    """Letters pressed on ``book``, new workbooks going to ``docs``: its result, and the
    workbooks it opened."""
    monkeypatch.setattr("addin.excel.workbook.documents_folder", lambda: docs)
    opened: list[str] = []
    return run_action("letters", ExcelWorkbook(book, open_book=opened.append), engine), opened


def pdf_pages(pdf: Path) -> list[str]:
    document = pypdfium2.PdfDocument(pdf)
    try:
        return [page.get_textpage().get_text_range() for page in document]
    finally:
        document.close()


def test_letters_for_the_selected_logons_simulate_ask_then_write_the_files(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    district(engine, [[TYPO, "001", "Father"], [RIGHT, "002", "Father"]])
    docs = tmp_path / "docs"
    sheet = [["LOGONID"], [TYPO], [RIGHT], ["nobody@example.org"]]
    refused = book_with({"Users": sheet}, ("Users", "A1:A4"), ["no"])
    report, opened = letters_run(engine, refused, docs, monkeypatch)
    assert report.mode == "simulation" and opened == []
    assert refused.app.alerts[0] == (
        "Print 2 letters for the 3 logons selected? 1 of them gets none: There is no account "
        "with logon 'nobody@example.org': check the spelling. The simulation (batch 4) is in "
        "sheet 'Letters Log'. Yes makes a one-time activation code for each and writes the "
        "letters to print and a mail-merge workbook in Documents, Parent Portal; a letter's "
        "code replaces the account's activation links and codes not used yet. No makes "
        "nothing.",
        "yes_no",
    )
    assert messages(refused)[-1] == (
        "No letter was made: no code, no file. The simulation is in sheet 'Letters Log'."
    )
    assert refused.sheets["Letters Log"].values()[1][1].startswith("SIMULATION")
    assert tokens(engine) == 0 and not docs.exists()

    book = book_with({"Users": sheet}, ("Users", "A1:A4"), ["yes"])
    report, opened = letters_run(engine, book, docs, monkeypatch)
    assert report.mode == "apply" and report.batch_id == 6
    [mail_merge] = opened
    workbook, pdf = Path(mail_merge), Path(mail_merge).with_suffix(".pdf")
    assert workbook.parent == docs and workbook.name.startswith("letters-")
    assert messages(book)[-1] == (
        f"2 letters made (batch 6). Print them from {pdf}. The mail-merge workbook, now open, "
        f"is {workbook} (sheet Letters). The codes are in these two files only: keep them "
        "safe and delete them once the letters are sent."
    )
    assert sorted(docs.iterdir()) == sorted([workbook, pdf])  # no draft left beside them
    merged = openpyxl.load_workbook(workbook)
    assert merged.sheetnames == ["Letters", "Import Log"]
    rows = list(merged["Letters"].values)
    codes = {row[0]: row[rows[0].index("ACTIVATION_CODE")] for row in rows[1:]}
    assert set(codes) == {TYPO, RIGHT} and all(codes.values())
    pages = pdf_pages(pdf)
    assert len(pages) == 2
    assert all(
        any(logon in page and code in page for page in pages) for logon, code in codes.items()
    )
    log = book.sheets["Letters Log"].values()
    assert log[1][1].startswith("APPLIED")
    header = next(i for i, row in enumerate(log) if row[0] == "Row")
    assert {(row[1], row[2]) for row in log[header + 1 :]} == {
        (TYPO, "added"),
        (RIGHT, "added"),
        ("nobody@example.org", "error"),
    }
    assert batches(engine)[3:] == [
        ("Activation letters", "simulation"),
        ("Activation letters", "simulation"),
        ("Activation letters", "apply"),
    ]
    assert tokens(engine) == 2
    assert activate(engine, codes[TYPO], PASSWORD, logon=TYPO) == TYPO
    with engine.connect() as connection:
        passwords = dict(
            connection.execute(select(PortalUser.logon_id, PortalUser.password_hash)).all()
        )
    assert passwords[TYPO] and passwords[RIGHT] is None


def test_letters_for_an_import_logs_batch_line_and_a_coverage_school(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    book = book_with({"Users": USERS}, ("Users", "A2"), ["yes", "yes"])  # never simulated
    assert run_action("users.apply", ExcelWorkbook(book), engine).counts["added"] == 2
    book._selection = ("Import Log", "A4:B4")  # the Batch line
    report, opened = letters_run(engine, book, tmp_path / "docs", monkeypatch)
    assert report.mode == "apply" and report.options["batch"] == 1 and len(opened) == 1
    assert book.app.alerts[-2][0].startswith(
        "Print 2 letters for the accounts batch 1 added or attached a student to?"
    )
    assert messages(book)[-1].startswith("2 letters made (batch 3). Print them from ")
    assert tokens(engine) == 2

    district(engine, [[TYPO, "001", "Father"]])
    summary = coverage_summary(engine, tmp_path)
    rows = summary.sheets["Summary"].values()
    school = next(i for i, row in enumerate(rows, start=1) if row[:2] == ["101", "Lincoln"])
    summary._selection = ("Summary", f"B{school}")
    summary.app._answers.clear()  # No
    report, opened = letters_run(engine, summary, tmp_path / "docs", monkeypatch)
    assert report.mode == "simulation" and opened == []
    assert summary.app.alerts[0][0].startswith(
        "Print 1 letter for the accounts at school 101 never activated? The simulation"
    )


def test_letters_say_what_to_select_and_who_gets_none(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    district(engine, [[TYPO, "001", "Father"]])
    before = batches(engine)
    blank = book_with({"Users": [["LOGONID"], [None]]}, ("Users", "A1:A2"))
    assert letters_run(engine, blank, tmp_path, monkeypatch)[0] is None
    assert messages(blank) == [
        "Select the logons to print a letter for (a cell, a column or a block of LOGONID "
        "cells), or the Batch line of an applied import's Import Log, then press Letters"
    ]
    simulated = book_with({"Users": USERS}, ("Users", "A2"))
    run_action("users.simulate", ExcelWorkbook(simulated), engine)
    simulated._selection = ("Import Log", "B4")
    assert letters_run(engine, simulated, tmp_path, monkeypatch)[0] is None
    assert messages(simulated)[-1] == (
        "Batch 4 was a simulation and made no account: select the Batch line of the log of an "
        "import that was applied, then press Letters"
    )
    assert batches(engine) == [*before, ("users import", "simulation")]

    activate_now = book_with({"F": [[TYPO]]}, ("F", "A1"), ["yes"])
    assert letters_run(engine, activate_now, tmp_path / "docs", monkeypatch)[0].mode == "apply"
    rows = list(openpyxl.load_workbook(next((tmp_path / "docs").glob("*.xlsx")))["Letters"].values)
    code = rows[1][rows[0].index("ACTIVATION_CODE")]
    assert activate(engine, code, PASSWORD, logon=TYPO) == TYPO
    again = book_with({"F": [[TYPO]]}, ("F", "A1"), ["yes"])
    assert letters_run(engine, again, tmp_path / "docs", monkeypatch)[0].mode == "simulation"
    assert again.app.alerts == [
        (
            f"No letter to print for {TYPO}: The account is activated already: the parent "
            "signs in with their own password. No code was made (simulation, batch 7; see "
            "sheet 'Letters Log').",
            "ok",
        )
    ]
    assert tokens(engine) == 1


def test_a_letter_the_font_cannot_print_says_to_write_it_by_hand(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    users = input_table(USER_HEADERS, [["fay.wong", "芳", "王", "STUDENT"]])
    assert import_users(engine, users, apply=True).counts["added"] == 1
    book = book_with({"F": [["fay.wong"]]}, ("F", "A1"), ["yes"])
    assert letters_run(engine, book, tmp_path, monkeypatch)[0].mode == "apply"
    assert messages(book)[-1].endswith(
        "delete them once the letters are sent. 1 letter has a character the font cannot "
        "print, printed as '?': see the Warning column of sheet 'Letters Log', and write it in "
        "by hand."
    )
    log = book.sheets["Letters Log"].values()
    header = next(row for row in log if row[0] == "Row")
    row = dict(zip(header, log[log.index(header) + 1], strict=True))
    assert row["Warning"].startswith("The letter's font cannot print 芳 王")


# --- Undo Batch ----------------------------------------------------------------------------


def finished(engine: Engine, batch_id: int) -> str:
    """When a batch finished, as an undo names it."""
    with engine.connect() as connection:
        when = connection.execute(select(Batch.finished_at).where(Batch.id == batch_id)).scalar()
    assert when is not None
    return f"{when:%Y-%m-%d %H:%M} UTC"


def log_rows(book: FakeBook, sheet: str) -> list[dict[str, Any]]:
    """A log sheet's table, each row as header -> value, in the sheet's order."""
    values = book.sheets[sheet].values()
    header = next(i for i, row in enumerate(values) if row and row[0] == "Row")
    return [dict(zip(values[header], row, strict=True)) for row in values[header + 1 :] if any(row)]


def test_undo_batch_on_an_import_logs_batch_line_asks_then_undoes_and_undoes_again(
    engine: Engine,
) -> None:
    book = book_with({"Users": USERS}, ("Users", "A2"), ["yes", "no"])  # never simulated
    assert run_action("users.apply", ExcelWorkbook(book), engine).counts["added"] == 2
    book._selection = ("Import Log", "A4:B4")  # the Batch line
    assert press("batches.undo", book, engine).mode == "simulation"
    assert book.app.alerts[-2] == (
        f"Undo batch 1: users import of users.xlsx, {finished(engine, 1)}? The undo would "
        "change 2 rows (2 removed); each row is in sheet 'Undo' (simulation, batch 2).\n\n"
        "Yes undoes batch 1; No changes nothing.",
        "yes_no",
    )
    assert messages(book)[-1] == (
        "Nothing was changed: batch 1 stands. The simulation is in sheet 'Undo'."
    )
    assert logons(engine) == {"ann@example.org": "ACTIVE", "bo@example.org": "ACTIVE"}

    book.app._answers = ["yes", "yes"]
    report = press("batches.undo", book, engine)
    assert report.mode == "apply" and report.batch_id == 4
    assert messages(book)[-1] == (
        "Batch 1 undone (batch 4): 2 removed. See sheet 'Undo'; to put batch 1 back, select its "
        "Batch line and press Undo Batch again."
    )
    assert logons(engine) == {}
    assert [(r["Key"], r["Action"], r["Reason"]) for r in log_rows(book, "Undo")] == [
        ("ann@example.org", "removed", "Account removed"),
        ("bo@example.org", "removed", "Account removed"),
    ]
    assert book.sheets["Undo"].values()[3][:2] == ["Batch", 4]

    book._selection = ("Undo", "B4")  # the undo's own Batch line
    assert press("batches.undo", book, engine).mode == "apply"
    assert book.app.alerts[-2][0].startswith(
        f"Undo batch 4: undo, {finished(engine, 4)}? The undo would change 2 rows (2 added)"
    )
    assert logons(engine) == {"ann@example.org": "ACTIVE", "bo@example.org": "ACTIVE"}
    assert batches(engine) == [
        ("users import", "apply"),
        ("undo", "simulation"),
        ("undo", "simulation"),
        ("undo", "apply"),
        ("undo", "simulation"),
        ("undo", "apply"),
    ]


def test_undo_batch_shows_the_rows_changed_again_since_and_leaves_them(engine: Engine) -> None:
    first = import_users(engine, input_table(*[USERS[0]], USERS[1:]), apply=True)
    renamed = [USER_HEADERS, ["ann@example.org", "Annie", "Lee", "GUARDIAN"]]
    assert (
        import_users(engine, input_table(renamed[0], renamed[1:]), apply=True).counts["updated"]
        == 1
    )
    book = book_with({"Batches": [["Batch"], [float(first.batch_id)]]}, ("Batches", "A2"), ["yes"])
    assert press("batches.undo", book, engine).mode == "apply"
    left = (
        "To look at by hand (listed first in the log):\n"
        f"- ann@example.org: Changed again by batch 2 on {finished(engine, 2)}; left as it is"
    )
    assert book.app.alerts[0] == (
        f"Undo batch 1: users import, {finished(engine, 1)}? The undo would change 1 row "
        f"(1 removed); each row is in sheet 'Undo' (simulation, batch 3).\n\n{left}\n\n"
        "Yes undoes batch 1; No changes nothing.",
        "yes_no",
    )
    assert messages(book)[-1].endswith(f"Batch line and press Undo Batch again.\n\n{left}")
    rows = log_rows(book, "Undo")
    assert [(r["Key"], r["Action"], r["Warning"]) for r in rows] == [
        (
            "ann@example.org",
            "skipped",
            f"Changed again by batch 2 on {finished(engine, 2)}; left as it is",
        ),
        ("bo@example.org", "removed", None),
    ]
    assert logons(engine) == {"ann@example.org": "ACTIVE"}
    assert get_account(engine, "ann@example.org").first_name == "Annie"


def test_undo_batch_says_what_to_select_and_why_a_batch_cannot_be_undone(engine: Engine) -> None:
    simulated = book_with({"Users": USERS}, ("Users", "A2"))
    run_action("users.simulate", ExcelWorkbook(simulated), engine)
    for cells, said in [
        ([["ann@example.org"]], "Select the Batch line of the log of the run to undo (its "
         "Import Log), or one cell holding the batch number (`portal batches` lists them), "
         "then press Undo Batch"),
        ([[99]], "There is no batch 99; `portal batches` lists them"),
        ([[1]], "Batch 1 was a simulation: it saved nothing to undo"),
    ]:  # fmt: skip
        book = book_with({"F": cells}, ("F", "A1"), ["yes"])
        assert press("batches.undo", book, engine) is None
        assert messages(book) == [said]
    simulated._selection = ("Import Log", "A1:B12")
    assert press("batches.undo", simulated, engine) is None
    assert messages(simulated)[-1] == "Batch 1 was a simulation: it saved nothing to undo"
    assert batches(engine) == [("users import", "simulation")]


# --- Year End ------------------------------------------------------------------------------


def leavers(engine: Engine) -> None:
    """Lincoln (101): Ava (001) stays, Max (002) has left; Mia sees both, Cara only Max; Olga,
    made 90 days ago, has no student and never activated."""
    students = [
        ["001", "Ava", "Lee", "3", "101", "ACTIVE"],
        ["002", "Max", "Lee", "5", "101", "INACTIVE"],
    ]
    report = import_roster(
        engine,
        schools=input_table(SCHOOL_HEADERS, [["101", "Lincoln"]], sheet="Schools"),
        students=input_table([*STUDENT_HEADERS[:5], "STATUS"], students, sheet="Students"),
        apply=True,
    )
    assert report.counts["error"] == 0
    users = [
        ["mia@example.org", "Mia", "Lee", "GUARDIAN"],
        ["cara@example.org", "Cara", "Lee", "GUARDIAN"],
        ["olga@example.org", "Olga", "Old", "GUARDIAN"],
    ]
    assert import_users(engine, input_table(USER_HEADERS, users), apply=True).counts["added"] == 3
    links = [
        ["mia@example.org", "001", "Mother"],
        ["mia@example.org", "002", "Mother"],
        ["cara@example.org", "002", "Aunt"],
    ]
    assert import_links(engine, input_table(LINK_HEADERS, links), apply=True).counts["added"] == 3
    with write_transaction(engine) as connection:
        connection.execute(
            update(PortalUser)
            .where(PortalUser.logon_id == "olga@example.org")
            .values(created_at=utcnow() - timedelta(days=90))
        )


def attached(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(PortalUser.logon_id, Student.student_id)
            .join(StudentLink, StudentLink.user_id == PortalUser.id)
            .join(Student, Student.id == StudentLink.student_id)
            .order_by(PortalUser.logon_id, Student.student_id)
        )
        return [tuple(row) for row in rows]


BEFORE = [
    ("cara@example.org", "002"),
    ("mia@example.org", "001"),
    ("mia@example.org", "002"),
]
LISTED = "1 account never activated 60 days after it was made is listed and left as it is."


def test_year_end_simulates_asks_with_its_counts_then_saves_and_undo_takes_it_back(
    engine: Engine,
) -> None:
    leavers(engine)
    said_no = book_with({"Users": USERS}, ("Users", "A1"), ["no"])
    assert press("lifecycle.year-end", said_no, engine).mode == "simulation"
    assert said_no.app.alerts[0] == (
        "End the school year? 2 links to students no longer ACTIVE would be removed, and 1 "
        "account left with no ACTIVE student would be disabled (1 guardian, 0 student): their "
        f"activation links stop working. {LISTED} Each row is in sheet 'Year End' "
        "(simulation, batch 4).\n\nYes saves it; No changes nothing.",
        "yes_no",
    )
    assert messages(said_no)[-1] == ("Nothing was changed. The simulation is in sheet 'Year End'.")
    assert attached(engine) == BEFORE and logons(engine)["cara@example.org"] == "ACTIVE"

    book = book_with({"Users": USERS}, ("Users", "A1"), ["yes"])
    report = press("lifecycle.year-end", book, engine)
    assert report.mode == "apply" and report.batch_id == 6
    assert messages(book)[-1] == (
        "Year end saved (batch 6): 2 links to students no longer ACTIVE removed, 1 account "
        "left with no ACTIVE student disabled (1 guardian, 0 student): their activation links "
        "stop working. See sheet 'Year End'; to take it back, select its Batch line and press "
        "Undo Batch."
    )
    assert attached(engine) == [("mia@example.org", "001")]
    assert logons(engine) == {
        "mia@example.org": "ACTIVE",
        "cara@example.org": "DISABLED",
        "olga@example.org": "ACTIVE",
    }
    rows = log_rows(book, "Year End")
    assert [(r["LOGONID / STUDENT_ID"], r["Action"]) for r in rows] == [
        ("cara@example.org / 002", "removed"),
        ("mia@example.org / 002", "removed"),
        ("cara@example.org", "updated"),
        ("olga@example.org", "skipped"),
    ]
    assert book.sheets["Year End"].values()[1][1].startswith("APPLIED")
    assert batches(engine)[3:] == [
        ("year-end", "simulation"),
        ("year-end", "simulation"),
        ("year-end", "apply"),
    ]

    book.app._answers = ["yes"]
    book._selection = ("Year End", "A4")  # its Batch line
    assert press("batches.undo", book, engine).mode == "apply"
    assert book.app.alerts[-2][0].startswith("Undo batch 6: year-end, ")
    assert attached(engine) == BEFORE and logons(engine)["cara@example.org"] == "ACTIVE"


def test_year_end_with_nothing_to_do_says_so_and_saves_nothing(engine: Engine) -> None:
    leavers(engine)
    first = book_with({"Users": USERS}, ("Users", "A1"), ["yes"])
    assert press("lifecycle.year-end", first, engine).mode == "apply"
    book = book_with({"Users": USERS}, ("Users", "A1"), ["yes"])
    assert press("lifecycle.year-end", book, engine).mode == "simulation"
    assert book.app.alerts == [
        (
            "Nothing to do at the year end: no account is attached to a student who is no "
            f"longer ACTIVE. {LISTED} Nothing was changed (simulation, batch 6; see sheet "
            "'Year End').",
            "ok",
        )
    ]
    assert batches(engine)[-1] == ("year-end", "simulation")


def test_year_end_asks_again_when_the_database_changed_since_the_simulation(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    leavers(engine)
    book = book_with({"Users": USERS}, ("Users", "A1"))
    questions: list[str] = []

    def answer(prompt: str, title: str | None = None, buttons: str = "ok", **_: Any) -> str:
        book.app.alerts.append((prompt, buttons))
        if buttons == "yes_no":
            questions.append(prompt)
            if len(questions) == 1:  # meanwhile, Ava leaves too
                with write_transaction(engine) as connection:
                    connection.execute(
                        update(Student).where(Student.student_id == "001").values(status="INACTIVE")
                    )
            return "yes" if len(questions) == 1 else "no"
        return "ok"

    monkeypatch.setattr(book.app, "alert", answer)
    assert press("lifecycle.year-end", book, engine) is None
    assert questions[1].startswith(
        "Nothing was saved: 2 row(s) would now be done differently from the simulation you "
        "reviewed (batch 4): "
    )
    assert questions[1].endswith("Apply anyway?")
    assert messages(book)[-1] == questions[1].removesuffix(" Apply anyway?")
    assert attached(engine) == BEFORE

    book = book_with({"Users": USERS}, ("Users", "A1"), ["yes"])
    assert press("lifecycle.year-end", book, engine).mode == "apply"
    assert attached(engine) == [] and logons(engine)["mia@example.org"] == "DISABLED"
