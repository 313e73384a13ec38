"""Many accounts or students looked up at once, one query for all of them (a column of
worksheet formulas asks for hundreds together)."""

from collections.abc import Collection
from dataclasses import dataclass, replace

from sqlalchemy import Engine, func, select

from backend.accounts.contact_card import LinkedLogon, attached_logons
from backend.accounts.logon import logon_key
from backend.database.engine import read_transaction, rows_in
from backend.database.models import PortalUser, StudentLink
from backend.staff.identity import Actor
from backend.staff.scope import Scope


@dataclass(frozen=True)
class AccountSummary:
    logon_id: str
    status: str
    user_type: str
    students: int


def account_summaries(
    engine: Engine, logon_ids: Collection[str], *, actor: Actor = None
) -> dict[str, AccountSummary]:
    """The accounts among ``logon_ids``, keyed by logon key; a logon with none is left out. For
    a school's staff, so is an account they may not change, and only their students count."""
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
        scope = Scope.load(connection, actor, logon_keys=found)
    if not scope.restricted:
        return found
    return {
        key: replace(summary, students=scope.own_links(key))
        for key, summary in found.items()
        if scope.may_change(key)
    }


def logons_of_students(
    engine: Engine, student_ids: Collection[str], *, actor: Actor = None
) -> dict[str, list[LinkedLogon]]:
    """The logons attached to each student of ``student_ids`` that exists, by student ID, in
    logon order; a student with none maps to an empty list, an unknown ID is left out, and so
    is, for a school's staff, a student of another school."""
    with read_transaction(engine) as connection:
        return attached_logons(connection, student_ids, actor)
