"""Many accounts or students looked up at once, one query for all of them (a column of
worksheet formulas asks for hundreds together)."""

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import Engine, func, select

from backend.accounts.contact_card import LinkedLogon, attached_logons
from backend.accounts.logon import logon_key
from backend.database.engine import read_transaction, rows_in
from backend.database.models import PortalUser, StudentLink


@dataclass(frozen=True)
class AccountSummary:
    logon_id: str
    status: str
    user_type: str
    students: int


def account_summaries(engine: Engine, logon_ids: Collection[str]) -> dict[str, AccountSummary]:
    """The accounts among ``logon_ids``, keyed by logon key; a logon with none is left out."""
    keys = {logon_key(logon.strip()) for logon in logon_ids}
    found: dict[str, AccountSummary] = {}
    if not keys:
        return found
    with read_transaction(engine) as connection:
        query = (
            select(
                PortalUser.logon_key,
                PortalUser.logon_id,
                PortalUser.status,
                PortalUser.user_type,
                func.count(StudentLink.id),
            )
            .outerjoin(StudentLink, StudentLink.user_id == PortalUser.id)
            .group_by(
                PortalUser.id,
                PortalUser.logon_key,
                PortalUser.logon_id,
                PortalUser.status,
                PortalUser.user_type,
            )
        )
        for key, logon, status, user_type, students in rows_in(
            connection, query, PortalUser.logon_key, keys
        ):
            found[key] = AccountSummary(logon, status, user_type, students)
    return found


def logons_of_students(
    engine: Engine, student_ids: Collection[str]
) -> dict[str, list[LinkedLogon]]:
    """The logons attached to each student of ``student_ids`` that exists, by student ID, in
    logon order; a student with none maps to an empty list, an unknown ID is left out."""
    with read_transaction(engine) as connection:
        return attached_logons(connection, student_ids)
