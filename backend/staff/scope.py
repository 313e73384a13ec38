"""School scope: which students, accounts and batches a staff identity may touch.

Only a school-staff identity is restricted. A district admin, a name and nobody (the ``portal``
command and the Excel add-in on an office's own database) see and change everything.

The rules, asked once per run and loaded in bulk (one query for the run's students, one for its
accounts), never once per row:

- a student is in scope when their school is one of the staff member's schools; a student of no
  school is out of scope;
- an account linked to at least one student of the staff member's schools may be changed by
  them, and of its links only those to their students;
- an account linked to students of other schools only is looked after by those schools' staff:
  school staff may neither change it nor attach their students to it (a district admin can);
- an account linked to no student at all may be changed by any staff member: it shows no
  child, so nothing of another school can be seen or changed through it, and a school's office
  must be able to attach its students to the accounts it has just made with a users import. The
  moment it is linked to a student, the rules above apply;
- a new account (one that does not exist yet) may be made by any staff member.

Look-ups answer for an out-of-scope student or account exactly as for one that does not
exist, so nothing about another school leaks; an import's row about one is that row's error.
The roster import and the year end cover the whole district and are a district admin's
(``district_only``).
"""

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Connection, false, select, true

from backend.database.engine import rows_in
from backend.database.models import PortalUser, School, Student, StudentLink
from backend.errors import InputError
from backend.staff.identity import Actor, StaffIdentity


def restricted_schools(actor: Actor) -> frozenset[int] | None:
    """The schools a school-staff identity is limited to; None when nothing is restricted."""
    if isinstance(actor, StaffIdentity) and not actor.is_district_admin:
        return actor.school_ids
    return None


def student_refusal(student_id: str) -> str:
    return f"student {student_id} is not in your schools"


def account_refusal(logon: str) -> str:
    return f"account {logon} is looked after by another school's staff"


def district_only(actor: Actor, why: str) -> None:
    """Refuse, in one line that says ``why``, what only a district admin may do."""
    if restricted_schools(actor) is not None:
        raise InputError(f"{why}; ask the district's portal administrator")


def in_schools(actor: Actor, column: Any) -> "ColumnElement[bool]":
    """The condition that keeps the rows of ``column`` (a school id) in the actor's schools;
    always true when nothing is restricted."""
    schools = restricted_schools(actor)
    if schools is None:
        return true()
    return column.in_(sorted(schools)) if schools else false()


@dataclass
class Scope:
    """A run's answers: its students' and accounts' schools, loaded once."""

    schools: frozenset[int] | None = None  # None: nothing is restricted
    student_schools: dict[str, int | None] = field(default_factory=dict)  # student ID -> school
    account_schools: dict[str, list[int | None]] = field(default_factory=dict)  # by logon key
    account_keys: dict[int, str] = field(default_factory=dict)  # account id -> logon key

    @property
    def restricted(self) -> bool:
        return self.schools is not None

    @classmethod
    def load(
        cls,
        connection: Connection,
        actor: Actor,
        *,
        student_ids: Iterable[str] = (),
        logon_keys: Iterable[str] = (),
        account_ids: Iterable[int] = (),
    ) -> "Scope":
        """The scope of ``actor`` over these students and accounts; no query when unrestricted."""
        scope = cls(restricted_schools(actor))
        if scope.schools is None:
            return scope
        query = select(Student.student_id, Student.school_id)
        for sid, school in rows_in(connection, query, Student.student_id, set(student_ids)):
            scope.student_schools[sid] = school
        accounts = (
            select(PortalUser.id, PortalUser.logon_key, StudentLink.id, Student.school_id)
            .outerjoin(StudentLink, StudentLink.user_id == PortalUser.id)
            .outerjoin(Student, Student.id == StudentLink.student_id)
        )
        keys, ids = set(logon_keys), set(account_ids)
        found = [*rows_in(connection, accounts, PortalUser.logon_key, keys)]
        found += rows_in(connection, accounts, PortalUser.id, ids) if ids else []
        seen: set[int | None] = set()
        for id_, key, link, school in found:
            scope.account_keys[id_] = key
            links = scope.account_schools.setdefault(key, [])
            if link is not None and link not in seen:
                seen.add(link)
                links.append(school)
        return scope

    def sees_student(self, student_id: str) -> bool:
        """In scope: a student of the staff member's schools (always, when unrestricted)."""
        if self.schools is None:
            return True
        return self.student_schools.get(student_id) in self.schools

    def may_change(self, logon_key: str) -> bool:
        """Whether the account may be changed: a new or unlinked account, or one linked to a
        student of the staff member's schools."""
        if self.schools is None:
            return True
        links = self.account_schools.get(logon_key, [])
        return not links or any(s in self.schools for s in links)

    def may_change_id(self, account_id: int) -> bool:
        key = self.account_keys.get(account_id)
        return self.schools is None or (key is not None and self.may_change(key))

    def own_links(self, logon_key: str) -> int:
        """How many of the account's links are to students the staff member sees."""
        links = self.account_schools.get(logon_key, [])
        if self.schools is None:
            return len(links)
        return len([s for s in links if s in self.schools])

    def student_problem(self, student_id: str) -> str | None:
        return None if self.sees_student(student_id) else student_refusal(student_id)

    def account_problem(self, logon_key: str, logon: str) -> str | None:
        return None if self.may_change(logon_key) else account_refusal(logon)


def school_ids_of(connection: Connection, codes: Collection[str]) -> dict[str, int]:
    """Schools by code or name -> id, in one query."""
    wanted = list(codes)
    query = select(School.code, School.name, School.id)
    found: dict[str, int] = {}
    for code, name, id_ in connection.execute(
        query.where(School.code.in_(wanted) | School.name.in_(wanted))
    ):
        found[code] = found[name] = id_
    return found
