"""The imports and AutoCreate over HTTP: the rows a front end read in, the report out.

Each route calls the service exactly as the terminal's `portal import` does, with the staff
member as the batch's actor, so the same rows give the same report wherever they are run.
"""

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from backend.accounts.autocreate import Options, autocreate
from backend.imports.contract import InputTable
from backend.imports.links import import_links
from backend.imports.roster import import_roster
from backend.imports.users import import_users
from server.models import (
    AutoCreateRun,
    ErrorOut,
    LinksImport,
    ReportOut,
    RosterImport,
    Table,
    UsersImport,
)
from server.staff import Database, Staff
from server.wire import encode_report

REFUSALS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": description}
    for status, description in (
        (401, "No staff token, or one that is not valid"),
        (409, "The apply would now differ from the reviewed simulation"),
        (413, "The request is larger than PORTAL_SERVER_MAX_REQUEST_MB"),
        (422, "The input cannot be used (headers, options, a malformed body)"),
        (429, "Too many requests with this token"),
    )
}
"""The refusals every staff route may answer, each one line of JSON."""

router = APIRouter(prefix="/api", tags=["imports"], responses=REFUSALS)


@router.post("/imports/users", response_model=ReportOut)
def users_import(body: UsersImport, staff: Staff, engine: Database) -> JSONResponse:
    """Import portal users: a simulation unless ``apply``."""
    report = import_users(
        engine,
        body.table.input_table(),
        apply=body.apply,
        mode=body.mode,
        actor=staff,
        review=body.reviewed(),
    )
    return JSONResponse(encode_report(report))


@router.post("/imports/links", response_model=ReportOut)
def links_import(body: LinksImport, staff: Staff, engine: Database) -> JSONResponse:
    """Attach students to accounts, or detach them: a simulation unless ``apply``."""
    report = import_links(
        engine,
        body.table.input_table(),
        apply=body.apply,
        schools=body.schools,
        actor=staff,
        review=body.reviewed(),
    )
    return JSONResponse(encode_report(report))


@router.post("/imports/roster", response_model=ReportOut)
def roster_import(body: RosterImport, staff: Staff, engine: Database) -> JSONResponse:
    """Import schools, students and their contacts: a simulation unless ``apply``."""

    def read(table: Table | None) -> InputTable | None:
        return table.input_table() if table is not None else None

    report = import_roster(
        engine,
        schools=read(body.schools),
        students=read(body.students),
        contacts=read(body.contacts),
        apply=body.apply,
        actor=staff,
        review=body.reviewed(),
    )
    return JSONResponse(encode_report(report))


@router.post("/autocreate", response_model=ReportOut)
def autocreate_run(body: AutoCreateRun, staff: Staff, engine: Database) -> JSONResponse:
    """AutoCreate: guardian accounts from students' contact cards, a simulation unless
    ``apply``."""
    options = Options(**body.options.model_dump())
    report = autocreate(engine, options, apply=body.apply, actor=staff, review=body.reviewed())
    return JSONResponse(encode_report(report))
