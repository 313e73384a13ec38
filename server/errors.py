"""Every refusal as one JSON line, ``{"error": "..."}``, with the words the terminal prints.

The backend's errors keep their own message (shown as ``portal`` shows it, with nothing
invisible in it); FastAPI's own refusals (malformed JSON, a missing field, an unknown address)
are put in the same plain shape. Nothing else reaches a client: an unexpected error is logged
in full for IT and answered with one line.
"""

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException

from backend.errors import (
    InputError,
    NotFoundError,
    NotSignedIn,
    PortalError,
    SettingsError,
)
from backend.imports.cell_values import visible
from backend.imports.reviewed import ChangedSinceReview

log = logging.getLogger("portal.server")

BUSY = "The database is busy"
"""How ``write_transaction``'s refusal begins when another run kept the write lock too long."""


def said(status: int, message: str, **more: Any) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": visible(message), **more}, status_code=status, headers=headers)


def status_of(exc: PortalError) -> int:
    """The HTTP status of a backend refusal: who has to act, and how."""
    if isinstance(exc, NotSignedIn):
        return 401
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, ChangedSinceReview):
        return 409
    if isinstance(exc, InputError):
        return 422
    if isinstance(exc, SettingsError):
        return 500
    if str(exc).startswith(BUSY):
        return 503
    return 400


async def portal_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PortalError)
    if isinstance(exc, ChangedSinceReview):
        return said(409, str(exc), differences=exc.differences)
    response = said(status_of(exc), str(exc))
    if response.status_code == 503:
        response.headers["Retry-After"] = "60"
    return response


def _place(location: tuple[Any, ...]) -> str:
    """Where in the body a problem is: 'table.rows.3.1' (the body itself is left out)."""
    parts = [str(p) for p in location if p != "body"]
    return ".".join(parts) or "the body"


def validation_line(errors: list[Any]) -> str:
    """FastAPI's list of problems as one line: the first named, the others counted."""
    first: dict[str, Any] = (
        errors[0] if errors else {"type": "", "loc": (), "msg": "the request is malformed"}
    )
    if first.get("type") == "json_invalid":
        where = first.get("ctx", {}).get("error", "")
        return f"The request body is not valid JSON ({where}); nothing was saved"
    if first.get("type") == "missing" and tuple(first.get("loc", ())) == ("body",):
        return "This request needs a JSON body; nothing was saved"
    line = f"{_place(tuple(first.get('loc', ())))}: {first.get('msg', '')}"
    if len(errors) > 1:
        line += f" (and {len(errors) - 1} more problems)"
    return f"The request is not what this address takes: {line}; nothing was saved"


async def invalid_request(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    status = 400 if errors and errors[0].get("type") == "json_invalid" else 422
    return said(status, validation_line(errors))


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404 and exc.detail == "Not Found":
        message = (
            f"There is no {request.method} {request.url.path} on this server: the addresses "
            "it answers are listed at /docs"
        )
    elif exc.status_code == 405:
        message = (
            f"{request.url.path} does not take {request.method}: the addresses and what each "
            "takes are listed at /docs"
        )
    else:
        message = str(exc.detail)
    return said(exc.status_code, message)


async def database_away(request: Request, exc: Exception) -> JSONResponse:
    log.error("%s %s: the database did not answer", request.method, request.url.path, exc_info=exc)
    response = said(
        503,
        "The portal's database did not answer this server. Try again in a minute, and tell IT "
        "if it lasts; `portal batches` says whether an apply was saved",
    )
    response.headers["Retry-After"] = "60"
    return response


async def unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return said(
        500,
        "The server met an unexpected error; its log holds the details for IT. If the "
        "request was an apply, `portal batches` says whether it was saved",
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(PortalError, portal_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(OperationalError, database_away)
    app.add_exception_handler(Exception, unexpected)
