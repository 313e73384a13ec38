"""One account at a time, a student's contact card, and look-ups of many at once.

New User and Modify User save at once, as on the ribbon and the terminal; an account from a
contact, a rename and a merge are simulations unless ``apply``. Each run names the staff member
as its actor.
"""

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from backend.accounts.contact_card import contact_card, create_account_from_contact
from backend.accounts.lookups import account_summaries, logons_of_students
from backend.accounts.rename import merge_users, rename_user
from backend.accounts.single import get_account, modify_user, new_user
from server.models import (
    ContactAccount,
    Logons,
    Merge,
    ModifyUser,
    NewUser,
    Rename,
    ReportOut,
    StudentIds,
)
from server.routes_imports import REFUSALS
from server.staff import Database, Staff
from server.wire import encode_report

router = APIRouter(prefix="/api", tags=["accounts"], responses=REFUSALS)


def plain(record: Any) -> Any:
    """A record of the services as JSON (dates as ISO 8601 text)."""
    return jsonable_encoder(asdict(record))


@router.get("/me")
def who_am_i(staff: Staff) -> JSONResponse:
    """The staff member the token belongs to: `portal login` checks a token with it."""
    return JSONResponse(
        {"email": staff.email, "role": staff.role, "schools": list(staff.school_codes)}
    )


@router.post("/accounts", response_model=ReportOut)
def new_account(body: NewUser, staff: Staff, engine: Database) -> JSONResponse:
    """New User: one account, saved at once, with the students to attach."""
    report = new_user(engine, **body.model_dump(), actor=staff)
    return JSONResponse(encode_report(report))


@router.post("/renames", response_model=ReportOut)
def rename_account(body: Rename, staff: Staff, engine: Database) -> JSONResponse:
    """Rename Logon: the account keeps its students and history; a simulation unless
    ``apply``."""
    report = rename_user(engine, body.old, body.new, apply=body.apply, actor=staff)
    return JSONResponse(encode_report(report))


@router.post("/merges", response_model=ReportOut)
def merge_accounts(body: Merge, staff: Staff, engine: Database) -> JSONResponse:
    """Merge Logons: the duplicate's students move to the account kept, where the rules
    allow, and the duplicate is disabled; a simulation unless ``apply``."""
    report = merge_users(engine, body.duplicate, body.keep, apply=body.apply, actor=staff)
    return JSONResponse(encode_report(report))


@router.get("/accounts/{logon_id:path}")
def show_account(logon_id: str, staff: Staff, engine: Database) -> JSONResponse:
    """An account and the students attached to it."""
    return JSONResponse(plain(get_account(engine, logon_id, actor=staff)))


@router.patch("/accounts/{logon_id:path}", response_model=ReportOut)
def change_account(logon_id: str, body: ModifyUser, staff: Staff, engine: Database) -> JSONResponse:
    """Modify User: change an account's details, attach or detach students; saved at once."""
    report = modify_user(
        engine,
        logon_id,
        changes={str(k): v for k, v in body.changes.items()},
        attach=body.attach,
        detach=body.detach,
        relationship=body.relationship,
        actor=staff,
    )
    return JSONResponse(encode_report(report))


@router.post("/lookups/accounts")
def look_up_accounts(body: Logons, staff: Staff, engine: Database) -> JSONResponse:
    """Many accounts at once (a column of =PORTAL_ACCOUNT_STATUS): by logon key; a logon with
    no account is left out."""
    found = account_summaries(engine, body.logon_ids, actor=staff)
    return JSONResponse({key: plain(summary) for key, summary in found.items()})


@router.post("/lookups/students")
def look_up_students(body: StudentIds, staff: Staff, engine: Database) -> JSONResponse:
    """The logons attached to each student (a column of =PORTAL_STUDENT_LOGONS); an unknown
    student is left out."""
    found = logons_of_students(engine, body.student_ids, actor=staff)
    return JSONResponse({sid: [plain(logon) for logon in logons] for sid, logons in found.items()})


@router.get("/students/{student_id}/card")
def student_card(student_id: str, staff: Staff, engine: Database) -> JSONResponse:
    """A student's contact card: each contact with its account status."""
    return JSONResponse(plain(contact_card(engine, student_id, actor=staff)))


@router.post("/contacts/{contact_id}/account", response_model=ReportOut)
def account_from_contact(
    contact_id: str, body: ContactAccount, staff: Staff, engine: Database
) -> JSONResponse:
    """The card's +: a guardian account from the contact's email, under AutoCreate's rules."""
    report = create_account_from_contact(
        engine, contact_id, apply=body.apply, actor=staff, email_template=body.email_template
    )
    return JSONResponse(encode_report(report))
