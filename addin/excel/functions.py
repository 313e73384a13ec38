"""Worksheet functions, where a formula is the natural way to ask (xlwings UDFs).

``=PORTAL_ACCOUNT_STATUS(A2)`` says whether a logon has an account; ``=PORTAL_STUDENT_LOGONS(B2)``
spills the logons attached to a student. District IT lists this module under the add-in's
"UDF Modules" (``portal addin install`` does) and clicks Import Functions once.
"""

from typing import Any

import xlwings as xw

from addin.excel.entry import engine
from backend.accounts.contact_card import logons_for_student
from backend.accounts.single import get_account
from backend.errors import NotFoundError


def account_status(logon_id: Any) -> str:
    if logon_id in (None, ""):
        return ""
    try:
        account = get_account(engine(), str(logon_id))
    except NotFoundError:
        return "no account"
    students = len(account.students)
    return (
        f"{account.status} {account.user_type} account, "
        f"{students} student{'' if students == 1 else 's'}"
    )


def student_logons(student_id: Any) -> list[list[str]]:
    if student_id in (None, ""):
        return [[""]]
    text = str(int(student_id)) if isinstance(student_id, float) else str(student_id)
    try:
        logons = logons_for_student(engine(), text)
    except NotFoundError:
        return [["no such student"]]
    if not logons:
        return [["no logons"]]
    return [[logon.logon_id, logon.user_type, logon.relationship or ""] for logon in logons]


@xw.func
def PORTAL_ACCOUNT_STATUS(logon_id: Any) -> str:
    """Account status of a LOGONID: e.g. 'ACTIVE GUARDIAN account, 2 students', or 'no account'."""
    return account_status(logon_id)


@xw.func
def PORTAL_STUDENT_LOGONS(student_id: Any) -> list[list[str]]:
    """The logons attached to a STUDENT_ID, one row each (logon, type, relationship); spills."""
    return student_logons(student_id)
