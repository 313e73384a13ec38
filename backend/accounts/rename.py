"""Renaming a logon (a typo, a changed email) and merging a duplicate account into the one kept.

A rename changes the account in place: its students, its audit trail and its password move with
it because they hang on the account, not on the logon. A link sent to the old address stops
working, unless the new logon differs only in capitals (the same mailbox). A merge moves the
duplicate's students to the account kept, under the rules of who may see which child, and
disables the duplicate; both accounts stay, with their histories. Each is a batch, simulated
first; a refusal (no such account, the new logon taken) is one line and saves nothing.
"""

import shlex
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, select, update

from backend.accounts.attach_rules import load_rules, own_email
from backend.accounts.logon import logon_key, normalise_logon, same_but_case
from backend.database.models import (
    ActivationToken,
    OutboxMessage,
    PortalUser,
    Student,
    StudentLink,
    utcnow,
)
from backend.errors import InputError, NotFoundError
from backend.imports.batches import run_batch
from backend.imports.contract import Action, Report, RowResult
from backend.mail.activation import OPEN, revoke_links
from backend.staff.identity import Actor
from backend.staff.scope import Scope


def rename_command(old: str, new: str) -> str:
    """The command that renames logon ``old`` to ``new``, as typed in a terminal."""
    return f"portal user rename {shlex.quote(old)} {shlex.quote(new)}"


def merge_command(duplicate: str, keep: str) -> str:
    """The command that merges account ``duplicate`` into ``keep``, as typed in a terminal."""
    return f"portal user merge {shlex.quote(duplicate)} into {shlex.quote(keep)}"


@dataclass(frozen=True)
class _Account:
    id: int
    logon_id: str
    logon_key: str
    user_type: str
    status: str
    email: str | None
    password_hash: str | None


def _account(connection: Connection, logon: str) -> _Account | None:
    """The account whose logon key is that of ``logon``, or None."""
    row = connection.execute(
        select(
            PortalUser.id,
            PortalUser.logon_id,
            PortalUser.logon_key,
            PortalUser.user_type,
            PortalUser.status,
            PortalUser.email,
            PortalUser.password_hash,
        ).where(PortalUser.logon_key == logon_key(logon.strip()))
    ).first()
    return None if row is None else _Account(*row)


def _existing(connection: Connection, logon: str, actor: Actor = None) -> _Account:
    """The account; for a school's staff, one they may not change answers as none."""
    found = _account(connection, logon)
    scope = Scope.load(connection, actor, logon_keys=[found.logon_key] if found else [])
    if found is None or not scope.may_change(found.logon_key):
        raise NotFoundError(f"There is no account '{logon.strip()}'")
    return found


def _linked(connection: Connection, user_id: int) -> dict[int, tuple[int, str]]:
    """The account's links: the student's primary key -> (the link's id, the student's ID)."""
    rows = connection.execute(
        select(StudentLink.student_id, StudentLink.id, Student.student_id)
        .join(Student, Student.id == StudentLink.student_id)
        .where(StudentLink.user_id == user_id)
        .order_by(Student.student_id)
    )
    return {pk: (link, sid) for pk, link, sid in rows}


@dataclass
class RenamePlan:
    account: _Account
    logon: str
    email: str | None
    revoke: bool
    results: list[RowResult] = field(default_factory=list)


def _new_logon(account: _Account, new: str) -> str:
    """The new logon as stored, or a one-line refusal."""
    try:
        logon = normalise_logon(new, email_required=account.user_type != "STUDENT")
    except ValueError as exc:
        raise InputError(str(exc)) from None
    if logon == account.logon_id:
        raise InputError(f"The account's logon is already '{logon}'; nothing to change")
    return logon


def _refuse_taken(connection: Connection, account: _Account, logon: str) -> None:
    """Refuse a new logon that is another account's, pointing to the merge instead."""
    other = _account(connection, logon)
    if other is not None and other.id != account.id:
        raise InputError(
            f"There is already an account '{other.logon_id}'; to make the two one, merge "
            f"them: {merge_command(account.logon_id, other.logon_id)}"
        )


def _refuse_forbidden(
    connection: Connection, account: _Account, logon: str, actor: Actor = None
) -> None:
    """Refuse a new logon under which the account would see a student the rules forbid."""
    key = logon_key(logon)
    rules = load_rules(connection, [key], actor)
    if account.user_type == "GUARDIAN" and key in rules.own:
        raise InputError(f"'{logon}': {own_email(rules.own[key], rules.schools is None)}")
    for pk, (_, sid) in _linked(connection, account.id).items():
        refusal = rules.refusal(key, account.user_type, pk, sid)
        if refusal:
            raise InputError(
                f"Renamed to '{logon}', the account could not keep student {sid}: {refusal}. "
                f"Detach the student first (portal user modify "
                f"{shlex.quote(account.logon_id)} --detach {shlex.quote(sid)})"
            )


def _unsent_links(connection: Connection, user_id: int) -> int:
    """How many activation links of the account could still be used or sent: unused tokens
    and queued messages."""
    tokens = connection.execute(
        select(func.count())
        .select_from(ActivationToken)
        .where(
            ActivationToken.user_id == user_id,
            ActivationToken.used_at.is_(None),
            ActivationToken.expires_at > utcnow(),
        )
    ).scalar_one()
    queued = connection.execute(
        select(func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.user_id == user_id, OutboxMessage.status == "queued")
    ).scalar_one()
    return int(tokens) + int(queued)


def plan_rename(connection: Connection, old: str, new: str, actor: Actor = None) -> RenamePlan:
    """What renaming ``old`` to ``new`` changes, or a one-line refusal."""
    account = _existing(connection, old, actor)
    logon = _new_logon(account, new)
    _refuse_taken(connection, account, logon)
    _refuse_forbidden(connection, account, logon, actor)
    changes: dict[str, tuple[Any, Any]] = {"LOGONID": (account.logon_id, logon)}
    email = account.email
    if email is not None and logon_key(email) == account.logon_key:
        email = logon if "@" in logon else email
        if email != account.email:
            changes["EMAIL"] = (account.email, email)
    students = len(_linked(connection, account.id))
    reason = f"Logon changed; its {students} attached student(s) and its history stay with it"
    result = RowResult(None, account.logon_id, "updated", reason, changes)
    revoke = not same_but_case(account.logon_id, logon) and bool(
        _unsent_links(connection, account.id)
    )
    if revoke:
        result.warning = (
            f"The activation link sent or queued for {account.logon_id} no longer works; "
            f"send a new one to the new logon (portal activation send --logon {shlex.quote(logon)})"
        )
    return RenamePlan(account, logon, email, revoke, [result])


def write_rename(connection: Connection, plan: RenamePlan, batch_id: int) -> None:
    account = plan.account
    connection.execute(
        update(PortalUser)
        .where(PortalUser.id == account.id)
        .values(
            logon_id=plan.logon,
            logon_key=logon_key(plan.logon),
            email=plan.email,
            updated_at=utcnow(),
            updated_batch_id=batch_id,
        )
    )
    if plan.revoke:
        revoke_links(connection, account.id)
        connection.execute(
            update(OutboxMessage)
            .where(OutboxMessage.user_id == account.id, OutboxMessage.status == "queued")
            .values(
                status="skipped",
                last_error=f"The account's logon was changed to {plan.logon}: not sent to "
                "the old address",
            )
        )


def rename_user(
    engine: Engine, old: str, new: str, *, apply: bool = False, actor: Actor = None
) -> Report:
    """Rename a logon: simulate, or with ``apply`` save; a batch either way."""
    report, _ = run_batch(
        engine,
        kind="rename user",
        options={"from": old.strip(), "to": new.strip()},
        table=None,
        apply=apply,
        plan=lambda connection: plan_rename(connection, old, new, actor),
        write=write_rename,
        actor=actor,
    )
    return report


@dataclass
class MergePlan:
    duplicate: _Account
    keep: _Account
    moves: list[int] = field(default_factory=list)  # link ids that go to the account kept
    deletes: list[int] = field(default_factory=list)  # link ids the account kept already has
    results: list[RowResult] = field(default_factory=list)


def _two_accounts(
    connection: Connection, duplicate: str, keep: str, actor: Actor
) -> tuple[_Account, _Account]:
    """The duplicate and the account kept, or a one-line refusal."""
    dup, kept = _existing(connection, duplicate, actor), _existing(connection, keep, actor)
    _refuse_shared(connection, dup, actor)
    if dup.id == kept.id:
        raise InputError(f"'{duplicate.strip()}' and '{keep.strip()}' are one account already")
    if dup.user_type != kept.user_type:
        raise InputError(
            f"{dup.logon_id} is a {dup.user_type} account and {kept.logon_id} a "
            f"{kept.user_type} account: only accounts of one type can be merged"
        )
    return dup, kept


def _refuse_shared(connection: Connection, dup: _Account, actor: Actor) -> None:
    """A school's staff merge away only a duplicate whose students are all theirs: disabling
    it would otherwise change what another school's families see."""
    scope = Scope.load(connection, actor, logon_keys=[dup.logon_key])
    if scope.restricted and scope.own_links(dup.logon_key) < len(
        scope.account_schools.get(dup.logon_key, [])
    ):
        raise InputError(
            f"{dup.logon_id} is also attached to students of another school: ask a district "
            "admin to merge it"
        )


def _plan_links(connection: Connection, plan: MergePlan, actor: Actor = None) -> None:
    """Each of the duplicate's students: moved, already on the account kept, or refused."""
    dup, kept = plan.duplicate, plan.keep
    have = _linked(connection, kept.id)
    rules = load_rules(connection, [kept.logon_key], actor)
    for pk, (link, sid) in _linked(connection, dup.id).items():
        if pk in have:
            plan.deletes.append(link)
            reason = f"Student {sid} is already attached to {kept.logon_id}; duplicate link removed"
            plan.results.append(RowResult(None, f"{dup.logon_id} / {sid}", "removed", reason))
            continue
        refusal = rules.refusal(kept.logon_key, kept.user_type, pk, sid)
        key = f"{kept.logon_id} / {sid}"
        if refusal:
            reason = f"Not moved (it stays on the disabled {dup.logon_id}): {refusal}"
            plan.results.append(RowResult(None, key, "error", reason))
            continue
        rules.attached(kept.logon_key, kept.user_type, pk, sid)
        plan.moves.append(link)
        changes: dict[str, tuple[Any, Any]] = {"LOGONID": (dup.logon_id, kept.logon_id)}
        reason = f"Student {sid} moved from {dup.logon_id}"
        plan.results.append(RowResult(None, key, "updated", reason, changes))


def _account_results(plan: MergePlan) -> list[RowResult]:
    """What the merge does to the two accounts themselves."""
    dup, kept = plan.duplicate, plan.keep
    moved = len(plan.moves)
    disabled = RowResult(None, dup.logon_id, "updated", f"Merged into {kept.logon_id}; disabled")
    if dup.status == "DISABLED":
        disabled.action, disabled.reason = "skipped", f"Merged into {kept.logon_id}; was disabled"
    else:
        disabled.changes = {"STATUS": (dup.status, "DISABLED")}
    action: Action = "updated" if moved else "skipped"
    kept_result = RowResult(
        None, kept.logon_id, action, f"Kept; {moved} student(s) moved to it from {dup.logon_id}"
    )
    if dup.password_hash and not kept.password_hash:
        kept_result.warning = (
            f"{dup.logon_id} was activated and {kept.logon_id} never was: send it an activation "
            f"email (portal activation send --logon {shlex.quote(kept.logon_id)})"
        )
    elif kept.status != OPEN:
        kept_result.warning = (
            f"{kept.logon_id} is {kept.status}: enable it (portal user modify "
            f"{shlex.quote(kept.logon_id)} --status ACTIVE)"
        )
    return [disabled, kept_result]


def plan_merge(connection: Connection, duplicate: str, keep: str, actor: Actor = None) -> MergePlan:
    """What merging ``duplicate`` into ``keep`` changes, or a one-line refusal."""
    plan = MergePlan(*_two_accounts(connection, duplicate, keep, actor))
    _plan_links(connection, plan, actor)
    plan.results[:0] = _account_results(plan)
    return plan


def write_merge(connection: Connection, plan: MergePlan, batch_id: int) -> None:
    now = utcnow()
    if plan.deletes:
        connection.execute(delete(StudentLink).where(StudentLink.id.in_(plan.deletes)))
    if plan.moves:
        connection.execute(
            update(StudentLink)
            .where(StudentLink.id.in_(plan.moves))
            .values(user_id=plan.keep.id, updated_at=now, updated_batch_id=batch_id)
        )
    stamp = {"updated_at": now, "updated_batch_id": batch_id}
    connection.execute(
        update(PortalUser)
        .where(PortalUser.id == plan.duplicate.id)
        .values(status="DISABLED", **stamp)
    )
    if plan.moves:
        connection.execute(update(PortalUser).where(PortalUser.id == plan.keep.id).values(stamp))
    revoke_links(connection, plan.duplicate.id)


def merge_users(
    engine: Engine, duplicate: str, keep: str, *, apply: bool = False, actor: Actor = None
) -> Report:
    """Merge a duplicate account into the one kept: simulate, or with ``apply`` save."""
    report, _ = run_batch(
        engine,
        kind="merge users",
        options={"duplicate": duplicate.strip(), "keep": keep.strip()},
        table=None,
        apply=apply,
        plan=lambda connection: plan_merge(connection, duplicate, keep, actor),
        write=write_merge,
        actor=actor,
    )
    return report
