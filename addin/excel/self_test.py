"""The add-in's self-test: what IT runs on a desk to see that every button works there.

It fills a copy of each template, opens each copy in this Excel (``xw.Book``), runs Check,
Simulate and Import on it against a throwaway SQLite database in a temporary folder (never the
district's database), looks an account and a student up, runs the School Year buttons (each
answered No where it asks, so nothing is sent, printed or renamed), calls both worksheet
functions, and writes one row per step (pass or FAIL, and what went wrong) to the Self-Test
sheet of the workbook the button was pressed in. The copies are closed and the folder
deleted afterwards.
"""

import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import openpyxl
from sqlalchemy import Engine

from addin.excel.workbook import ExcelWorkbook
from addin.workbooks.actions import dispatch
from addin.workbooks.autocreate_options import SIMULATION
from addin.workbooks.interface import Selection
from addin.workbooks.kinds import KINDS
from addin.workbooks.result_sheet import ResultSheet
from addin.workbooks.templates import build_template
from backend.database.engine import make_engine, migrate
from backend.errors import PortalError
from backend.imports.contract import Progress, Report, counts_text

SHEET_NAME = "Self-Test"
KIND_ORDER = ("roster", "users", "links", "autocreate")
"""Roster first (the students and contacts), then accounts, links, and AutoCreate on them."""
VERBS = {"check": "Check Headers", "simulate": "Simulate", "apply": "Import"}
LOGON = KINDS["users"].template.sheets[0].example["LOGONID"]
STUDENT = KINDS["links"].template.sheets[0].example["STUDENT_ID"]

Opener = Callable[[str], Any]
"""Opens a workbook file in Excel and returns its xlwings book (``xw.Book`` on a desk)."""


@dataclass(frozen=True)
class Step:
    """One thing the self-test tried: its name, whether it passed, and what it said."""

    name: str
    passed: bool
    details: str


class QuietWorkbook(ExcelWorkbook):
    """A filled copy under test: its messages are kept for the Self-Test sheet, not shown,
    and any question is answered no (an import that has to ask has found a fault; a School
    Year button always asks, and No saves nothing). Its selection is the cells a step names,
    and a workbook a button makes goes to the temporary folder, unopened."""

    def __init__(self, book: Any, folder: Path | None = None) -> None:
        super().__init__(book)
        self.messages: list[str] = []
        self.selected: list[list[Any]] = []
        self.folder = folder

    def selection(self) -> Selection:
        return Selection(None, 0, self.selected)

    def open_new(self, kind: str, build: Callable[[Path], Path]) -> str:
        if self.folder is None:
            return super().open_new(kind, build)
        return str(build(self.folder / f"self-test-{kind}.xlsx"))

    def notify(self, text: str) -> None:
        self.messages.append(text)

    def confirm(self, question: str) -> bool:
        self.messages.append(question)
        return False


def filled_template(kind: str, folder: Path) -> Path:
    """A copy of the kind's template with its example row typed in again as a real row."""
    path = build_template(kind, folder / f"self-test-{kind}.xlsx")
    book = openpyxl.load_workbook(path)
    for sheet in KINDS[kind].template.sheets:
        worksheet = book[sheet.name]
        for column, spec in enumerate(sheet.columns, start=1):
            worksheet.cell(3, column, sheet.example.get(spec.name))
    if "Options" in book.sheetnames:  # AutoCreate creates only with SIMULATION set to N
        for row in book["Options"].iter_rows(min_row=2):
            if row[0].value == SIMULATION.name:
                row[1].value = "N"
    book.save(path)
    return path


def describe(exc: BaseException) -> str:
    """An error as the Self-Test sheet shows it: a user mistake in its own words."""
    if isinstance(exc, PortalError):
        return str(exc)
    return f"{exc.__class__.__name__}: {exc}"


def attempt(name: str, action: Callable[[], str]) -> Step:
    """Run one step; any error is its failure, described."""
    try:
        return Step(name, True, action())
    except Exception as exc:
        return Step(name, False, describe(exc))


def outcome(result: Any) -> str:
    """What a step's result says; an import with error rows is a failure."""
    if isinstance(result, Report):
        errors = [r for r in result.results if r.action == "error"]
        if errors:
            reasons = "; ".join(f"row {r.row}: {r.reason}" for r in errors[:3])
            raise AssertionError(f"{counts_text(result.counts)}: {reasons}")
        return counts_text(result.counts)
    if isinstance(result, ResultSheet):
        return result.title
    return str(result)


@contextmanager
def opened(path: Path, open_book: Opener) -> Iterator[QuietWorkbook]:
    """A filled copy open in Excel for the length of the block, closed however it ends."""
    book = open_book(str(path))
    try:
        yield QuietWorkbook(book, path.parent)
    finally:
        with suppress(Exception):
            book.close()


def import_steps(kind: str, path: Path, db: Engine, open_book: Opener) -> list[Step]:
    """Check, Simulate and Import on one filled copy, as its ribbon buttons run them."""
    title = KINDS[kind].title[0].upper() + KINDS[kind].title[1:]
    try:
        with opened(path, open_book) as workbook:

            def run(verb: str) -> str:
                return outcome(dispatch(f"{kind}.{verb}", workbook, db))

            return [
                attempt(f"{title}: {label}", partial(run, verb)) for verb, label in VERBS.items()
            ]
    except Exception as exc:
        return [Step(f"{title}: open {path.name} in Excel", False, describe(exc))]


def lookup_steps(path: Path, db: Engine, open_book: Opener) -> list[Step]:
    """Look Up on a logon and on a student, as the button does with the selected cell."""
    try:
        with opened(path, open_book) as workbook:

            def look_up(value: str) -> str:
                return outcome(dispatch("lookup", workbook, db, value=value))

            return [
                attempt(f"Look Up {value}", partial(look_up, value)) for value in (LOGON, STUDENT)
            ]
    except Exception as exc:
        return [Step(f"Look Up: open {path.name} in Excel", False, describe(exc))]


SCHOOL_YEAR_STEPS: tuple[tuple[str, str, list[list[Any]]], ...] = (
    ("Coverage", "coverage", []),
    ("Send Activation to " + LOGON + " (answered No)", "activation.send", [[LOGON]]),
    ("Letters for " + LOGON + " (answered No)", "letters", [[LOGON]]),
    ("Rename Logon " + LOGON + " (answered No)", "user.rename", [[LOGON, "renamed." + LOGON]]),
)
"""Each School Year step: its name, the button's action, and the cells it has selected."""


def school_year_steps(path: Path, db: Engine, open_book: Opener) -> list[Step]:
    """The School Year buttons on the account the imports made; where one asks, No."""
    try:
        with opened(path, open_book) as workbook:

            def press(action: str, cells: list[list[Any]]) -> str:
                workbook.selected = cells
                result = outcome(dispatch(action, workbook, db))
                return workbook.messages[-1] if workbook.messages else result

            return [
                attempt(name, partial(press, action, cells))
                for name, action, cells in SCHOOL_YEAR_STEPS
            ]
    except Exception as exc:
        return [Step(f"School Year: open {path.name} in Excel", False, describe(exc))]


@contextmanager
def functions_on(db: Engine) -> Iterator[None]:
    """The worksheet functions read the throwaway database for the block, then theirs again."""
    from addin.excel import functions

    names = vars(functions)
    saved = names["backend"]
    names["backend"] = lambda: db
    try:
        yield
    finally:
        names["backend"] = saved


def function_steps(db: Engine) -> list[Step]:
    """Both worksheet functions, on the account and the student the imports made."""
    from addin.excel.functions import account_status, student_logons

    def status() -> str:
        with functions_on(db):
            found = account_status(LOGON)
        if "account" not in found or found == "no account":
            raise AssertionError(f"=PORTAL_ACCOUNT_STATUS(\"{LOGON}\") gave '{found}'")
        return str(found)

    def logons() -> str:
        with functions_on(db):
            rows = student_logons(STUDENT)
        if not any(row[0] == LOGON for row in rows):
            raise AssertionError(f'=PORTAL_STUDENT_LOGONS("{STUDENT}") gave {rows}')
        return ", ".join(" ".join(cell for cell in row if cell) for row in rows)

    return [
        attempt(f'=PORTAL_ACCOUNT_STATUS("{LOGON}")', status),
        attempt(f'=PORTAL_STUDENT_LOGONS("{STUDENT}")', logons),
    ]


def run_steps(folder: Path, open_book: Opener, progress: Progress) -> list[Step]:
    """Every step, in order, against a new database in ``folder``."""
    db = make_engine(str(folder / "self-test.sqlite"))
    try:
        migrate(db)
        paths = {kind: filled_template(kind, folder) for kind in KIND_ORDER}
        steps: list[Step] = []
        total = len(KIND_ORDER) + 3
        for done, kind in enumerate(KIND_ORDER):
            progress("Self-test", done, total)
            steps += import_steps(kind, paths[kind], db, open_book)
        progress("Self-test", total - 3, total)
        steps += lookup_steps(paths["users"], db, open_book)
        progress("Self-test", total - 2, total)
        steps += school_year_steps(paths["users"], db, open_book)
        progress("Self-test", total - 1, total)
        steps += function_steps(db)
        progress("Self-test", total, total)
        return steps
    finally:
        db.dispose()


def result_sheet(steps: list[Step], started: datetime) -> ResultSheet:
    failed = [step for step in steps if not step.passed]
    verdict = (
        f"all {len(steps)} steps passed"
        if not failed
        else f"{len(failed)} of {len(steps)} steps FAILED: see the Details column"
    )
    return ResultSheet(
        title="Parent Portal Accounts: self-test",
        summary=[
            ("Result", verdict),
            ("Started", started.strftime("%Y-%m-%d %H:%M:%S")),
            ("Database", "a throwaway SQLite file in a temporary folder, deleted afterwards"),
            ("Python", sys.version.split()[0]),
        ],
        columns=["Step", "Result", "Details"],
        rows=[[s.name, "pass" if s.passed else "FAIL", s.details] for s in steps],
    )


def run_self_test(
    workbook: ExcelWorkbook,
    *,
    progress: Progress | None = None,
    open_book: Opener | None = None,
) -> list[Step]:
    """Run every step, write the Self-Test sheet into ``workbook``, and say how it went."""
    if open_book is None:
        import xlwings as xw

        open_book = xw.Book
    started = datetime.now()
    with tempfile.TemporaryDirectory(
        prefix="parent-portal-self-test-", ignore_cleanup_errors=True
    ) as folder:
        steps = run_steps(Path(folder), open_book, progress or (lambda *_: None))
    where = workbook.write_log(result_sheet(steps, started), SHEET_NAME)
    failed = sum(not step.passed for step in steps)
    workbook.notify(
        f"Self-test: all {len(steps)} steps passed. See {where}."
        if not failed
        else f"Self-test: {failed} of {len(steps)} steps FAILED. See {where} for each error."
    )
    return steps
