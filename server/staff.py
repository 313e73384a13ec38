"""What a route knows of its request: the staff member who sent it and the database.

``Guard`` has already checked the token; ``staff_member`` only hands the identity on, and
declares the bearer token so the OpenAPI schema shows every staff route needs one.
"""

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine

from backend.errors import NotSignedIn
from backend.staff.identity import NOT_SIGNED_IN, StaffIdentity

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="StaffToken",
    description="A staff token (ppa_...) from `portal staff add` or `portal staff rotate-token`",
)


def staff_member(
    request: Request,
    _token: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> StaffIdentity:
    staff = getattr(request.state, "staff", None)
    if not isinstance(staff, StaffIdentity):
        raise NotSignedIn(NOT_SIGNED_IN)
    return staff


def database(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


Staff = Annotated[StaffIdentity, Depends(staff_member)]
Database = Annotated[Engine, Depends(database)]
