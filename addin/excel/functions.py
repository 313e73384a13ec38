"""Worksheet functions, where a formula is the natural way to ask (xlwings UDFs).

``=PORTAL_ACCOUNT_STATUS(A2)`` says whether a logon has an account; ``=PORTAL_STUDENT_LOGONS(B2)``
spills the logons attached to a student. Given a range instead (``A2:A500``), each answers the
whole range with one database query and spills one answer per cell, in the range's shape.
The add-in ships their VBA wrappers (``addin/xlam/udfs.py``): nothing to register by hand.

Bad input gets an answer in words, never a Python error: a blank cell, a student ID Excel turned
into a number (123.0 is looked up as "123"), a logon or student that is not there.
"""

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import xlwings as xw

from addin import remote_records
from addin.excel.entry import backend, log_error
from addin.remote import Remote
from backend.accounts.contact_card import LinkedLogon
from backend.accounts.logon import logon_key
from backend.accounts.lookups import account_summaries, logons_of_students
from backend.errors import PortalError

NO_LOGON = "no logon given"
NO_ACCOUNT = "no account"
NO_STUDENT_ID = "no student ID given"
NO_STUDENT = "no such student"
NO_LOGONS = "no logons"
ZEROS_HINT = " (if the ID starts with 0, format the cell as Text and type the ID again)"

Grid = list[list[Any]]


def _grid(value: Any) -> Grid:
    """A cell, a row or column (a flat list) or a block of cells, as rows of cells."""
    if not isinstance(value, list | tuple):
        return [[value]]
    if value and all(isinstance(row, list | tuple) for row in value):
        return [list(row) for row in value]
    return [[cell] for cell in value]


def _number_text(value: float) -> str | None:
    """A whole number as Excel shows it (123.0 -> '123'); None for any other number."""
    return str(int(value)) if float(value).is_integer() else None


class _Refused(ValueError):
    """A cell that cannot be looked up; the message is the cell's answer."""


def _logon(cell: Any) -> str:
    if isinstance(cell, float | int) and not isinstance(cell, bool):
        cell = _number_text(cell) or cell
    text = "" if cell is None else str(cell).strip()
    if not text:
        raise _Refused(NO_LOGON)
    return text


def _student_id(cell: Any) -> str:
    if isinstance(cell, bool | dt.date):
        raise _Refused(f"{cell} is not a student ID")
    if isinstance(cell, float | int):
        text = _number_text(cell)
        if text is None:
            raise _Refused(f"{cell} is not a student ID: IDs are whole numbers or text")
        return text
    text = "" if cell is None else str(cell).strip()
    if not text:
        raise _Refused(NO_STUDENT_ID)
    return text


def _answers(
    cells: Sequence[Any], key: Callable[[Any], str], look_up: Callable[[set[str]], dict[str, Any]]
) -> list[tuple[str, Any] | str]:
    """Each cell as (its key, what the one lookup found or None), or the message refusing it."""
    keys: list[tuple[str, Any] | str] = []
    for cell in cells:
        try:
            keys.append((key(cell), cell))
        except _Refused as refused:
            keys.append(str(refused))
    found = look_up({k[0] for k in keys if isinstance(k, tuple)})
    return [k if isinstance(k, str) else (k[0], found.get(k[0])) for k in keys]


def _status_texts(cells: Sequence[Any]) -> list[str]:
    def look_up(logons: set[str]) -> dict[str, Any]:
        where = backend()
        by_key = (
            remote_records.account_summaries(where, logons)
            if isinstance(where, Remote)
            else account_summaries(where, logons)
        )
        return {logon: by_key.get(logon_key(logon)) for logon in logons}

    texts: list[str] = []
    for answer in _answers(cells, _logon, look_up):
        if isinstance(answer, str):
            texts.append(answer)
        elif answer[1] is None:
            texts.append(NO_ACCOUNT)
        else:
            account = answer[1]
            plural = "" if account.students == 1 else "s"
            texts.append(
                f"{account.status} {account.user_type} account, {account.students} student{plural}"
            )
    return texts


def account_status(logon_id: Any) -> Any:
    """One cell's answer as text; a range's as rows of text in the range's shape."""
    grid = _grid(logon_id)
    texts = iter(_status_texts([cell for row in grid for cell in row]))
    if not isinstance(logon_id, list | tuple) or (len(grid) == 1 and len(grid[0]) == 1):
        return next(texts)
    return [[next(texts) for _ in row] for row in grid]


def _no_student(cell: Any) -> str:
    return NO_STUDENT + (ZEROS_HINT if isinstance(cell, float | int) else "")


def _logon_rows(cells: Sequence[Any]) -> list[list[LinkedLogon] | str]:
    """Each cell's logons, or the message that answers it."""

    def look_up(ids: set[str]) -> dict[str, Any]:
        where = backend()
        if isinstance(where, Remote):
            return remote_records.logons_of_students(where, ids)
        return dict(logons_of_students(where, ids))

    rows: list[list[LinkedLogon] | str] = []
    for answer, cell in zip(_answers(cells, _student_id, look_up), cells, strict=True):
        if isinstance(answer, str):
            rows.append(answer)
        elif answer[1] is None:
            rows.append(_no_student(cell))
        else:
            rows.append(answer[1] or NO_LOGONS)
    return rows


def _summary(logons: list[LinkedLogon] | str) -> str:
    """A student's logons in one cell: 'ann@example.org (GUARDIAN, Mother); ...'."""
    if isinstance(logons, str):
        return logons
    return "; ".join(
        f"{x.logon_id} ({x.user_type}{', ' + x.relationship if x.relationship else ''})"
        for x in logons
    )


def student_logons(student_id: Any) -> list[list[str]]:
    """One cell: a row per logon (logon, type, relationship). A range: one cell per student,
    its logons in one text, in the range's shape."""
    grid = _grid(student_id)
    answers = _logon_rows([cell for row in grid for cell in row])
    if not isinstance(student_id, list | tuple) or (len(grid) == 1 and len(grid[0]) == 1):
        logons = answers[0]
        if isinstance(logons, str):
            return [[logons]]
        return [[x.logon_id, x.user_type, x.relationship or ""] for x in logons]
    texts = iter(answers)
    return [[_summary(next(texts)) for _ in row] for row in grid]


def _told(function: Callable[[Any], Any], value: Any) -> Any:
    """A worksheet function's answer; an error becomes a sentence in the cell, logged for IT."""
    try:
        return function(value)
    except PortalError as error:
        return str(error)
    except Exception:
        where = log_error(f"The worksheet function {function.__name__}", "a workbook")
        return f"Parent Portal could not answer: the details are in {where} for your IT team"


def _single(value: Any) -> Any:
    """Excel passes a range as rows of cells (``ndim=2``); one cell is answered as one cell."""
    return value[0][0] if isinstance(value, list) and len(value) == 1 == len(value[0]) else value


@xw.func
@xw.arg("logon_id", ndim=2)
def PORTAL_ACCOUNT_STATUS(logon_id: Any) -> Any:
    """Account status of a LOGONID: e.g. 'ACTIVE GUARDIAN account, 2 students', or 'no account'.
    Given a range of logons, one answer per cell."""
    return _told(account_status, _single(logon_id))


@xw.func
@xw.arg("student_id", ndim=2)
def PORTAL_STUDENT_LOGONS(student_id: Any) -> Any:
    """The logons attached to a STUDENT_ID, one row each (logon, type, relationship); spills.
    Given a range of student IDs, one cell per student listing its logons."""
    return _told(student_logons, _single(student_id))
