"""The School Year work over HTTP: coverage, activation emails, letters and the year end.

Each route calls the service the terminal's command calls, with the staff member as actor: a
school's staff see and email only their schools, and the service refuses them the year end.
"""

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from backend.accounts.coverage import coverage
from backend.accounts.year_end import year_end
from backend.mail.activation_send import Choice, send_activation
from backend.mail.letters import Letter, LetterChoice, make_letters
from backend.settings import get_settings
from server.models import ActivationSend, LettersRun, ReportOut, YearEnd
from server.routes_imports import REFUSALS
from server.staff import Database, Staff
from server.wire import encode_report

router = APIRouter(prefix="/api", tags=["school year"], responses=REFUSALS)


@router.get("/coverage")
def school_coverage(
    staff: Staff,
    engine: Database,
    school: Annotated[str | None, Query(description="Only the school with this code")] = None,
) -> JSONResponse:
    """Per school and grade, the active students in each state, and every student without a
    working account with what to do; the fields of `portal coverage`'s report."""
    return JSONResponse(jsonable_encoder(asdict(coverage(engine, school, actor=staff))))


@router.post("/activation/send", response_model=ReportOut)
def activation_send(body: ActivationSend, staff: Staff, engine: Database) -> JSONResponse:
    """Queue an activation email per chosen account: a simulation unless ``apply``."""
    choice = Choice(tuple(body.logons), body.school, body.batch, body.not_activated, body.template)
    report = send_activation(engine, choice, apply=body.apply, actor=staff)
    return JSONResponse(encode_report(report))


@router.post("/lifecycle/year-end", response_model=ReportOut)
def school_year_end(body: YearEnd, staff: Staff, engine: Database) -> JSONResponse:
    """Detach students no longer ACTIVE and disable accounts left with none: a simulation
    unless ``apply``; district admins only."""
    report = year_end(engine, apply=body.apply, actor=staff, review=body.reviewed())
    return JSONResponse(encode_report(report))


@router.post("/letters")
def letters(body: LettersRun, staff: Staff, engine: Database) -> JSONResponse:
    """Letters with one-time activation codes: a simulation unless ``apply``, which saves the
    codes and answers the letters (each with its code) for the client to write and print. A
    run whose answer never arrives is run again: its new codes replace these."""
    choice = LetterChoice(
        Choice(tuple(body.logons), body.school, body.batch, body.not_activated),
        without_email=body.without_email,
    )
    made: list[Letter] = []

    def keep(letters: list[Letter]) -> dict[int, str]:
        made.extend(letters)
        return {}

    report = make_letters(engine, choice, keep, apply=body.apply, actor=staff)
    return JSONResponse(
        {
            "report": encode_report(report),
            "letters": [jsonable_encoder(asdict(letter)) for letter in made],
            "activation_address": get_settings().activation_url,
        }
    )
