"""Undo: take back what an applied batch did, as a batch of its own that can itself be undone.

What the batch added is found by ``created_batch_id``, whatever its rows' keys; what it changed
or removed is read from its events by their shape, not by the kind of run, so any run that
records its rows as the imports do can be undone:

- an account's row has its logon as key: "updated" with each change by header (STATUS,
  FIRST_NAME, ..., LOGONID for a rename), or "removed" (by an undo) with every field's old value;
- a link's row has "LOGON / STUDENT_ID" as key: "updated" with RELATIONSHIP, PRIMARY, NOTICES,
  or LOGONID for a link moved from another account (a merge); "removed" with the link's
  relationship and flags as old values (``batches.keep_removed_links``).

A record whose ``updated_batch_id`` is no longer the batch's was changed again since: it is left
as it is and named with the batch that changed it. The undo records its own rows in the same
shapes, so undoing an undo restores the batch.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    Connection,
    Engine,
    delete,
    func,
    select,
    update,
)

from backend.accounts.attach_rules import AttachRules, load_rules, own_email
from backend.accounts.logon import logon_key
from backend.database.engine import bulk_update, rows_in, where_in
from backend.database.models import (
    ActivationToken,
    Batch,
    BatchEvent,
    OutboxMessage,
    PortalUser,
    Student,
    StudentLink,
    utcnow,
)
from backend.errors import InputError, NotFoundError
from backend.imports.batches import CHANGE_CHARS, UNDO, applied_undos, batch_query, run_batch
from backend.imports.contract import Progress, Report, RowResult, no_progress
from backend.imports.links import LINK_FIELDS, AccountRef, LinkPlan, attach_warning, write_links
from backend.imports.users import CHANGEABLE, UserPlan, write_users
from backend.mail.activation import revoke_links_of_shut_accounts
from backend.staff.identity import Actor
from backend.staff.scope import Scope, account_refusal, restricted_schools, student_refusal

KIND = UNDO
REFUSED = {
    "roster import": "Batch {} is a roster import, which can't be undone: import the roster "
    "as it was instead",
    "Activation emails": "Batch {} queued activation emails, which can't be taken back: "
    "`portal outbox list` shows them",
}
"""Kinds of run an undo refuses, and why."""

ACCOUNT_HEADERS = {"LOGONID": "logon_id", "USER_TYPE": "user_type"} | {
    header: name for name, header in CHANGEABLE.items()
}
LINK_HEADERS = {header: name for name, header in LINK_FIELDS.items()}
ACCOUNT_COLUMNS = ("id", "logon_key", "created_batch_id", "updated_batch_id", "password_hash")
LINK_COLUMNS = ("id", "user_id", "student_id", "created_batch_id", "updated_batch_id")
SENT = ("sending", "sent", "failed")
"""Outbox states of a message that may have reached its mailbox."""


class Event(NamedTuple):
    """One row of the batch undone, as its audit trail keeps it."""

    row_number: int | None
    key: str | None
    action: str
    changes: dict[str, Any] | None


def is_link(key: str | None) -> bool:
    """A link's row: 'LOGON / STUDENT_ID' (a logon has no spaces)."""
    return key is not None and " / " in key


def pair_of(logon: str, student: str) -> tuple[str, str]:
    return logon_key(logon), student


@dataclass
class UndoState:
    """What an undo plan looks at, read in bulk: the batch, its events, the accounts and links
    they name or it added, the students to attach again, and the batches that came after."""

    batch: Batch
    events: list[Event]
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)  # by logon key
    links: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (key, student ID)
    students: dict[str, tuple[int, str]] = field(default_factory=dict)  # ID -> (pk, status)
    busy: dict[int, str] = field(default_factory=dict)  # added account id -> what refers to it
    later: dict[int, datetime] = field(default_factory=dict)  # batch -> when it finished
    gone: dict[str, int] = field(default_factory=dict)  # key of a missing record -> last batch
    # Key of a record last changed by the undo of a later batch -> the batch that changed it
    # last besides the two (the batch itself when none did).
    restamped: dict[str, int] = field(default_factory=dict)
    undos: dict[int, int] = field(default_factory=dict)  # standing undo of a later batch -> it
    rules: AttachRules = field(default_factory=AttachRules)


@dataclass
class UndoPlan:
    results: list[RowResult] = field(default_factory=list)
    users: UserPlan = field(default_factory=UserPlan)
    links: LinkPlan = field(default_factory=LinkPlan)
    logons: list[dict[str, Any]] = field(default_factory=list)  # _id, new_logon_id, new_logon_key
    moves: list[dict[str, Any]] = field(default_factory=list)  # _id, new_user_id
    removed_accounts: list[int] = field(default_factory=list)
    updated: dict[int, dict[str, Any]] = field(default_factory=dict)  # account id -> update row


def undoable(connection: Connection, batch_id: int, actor: Actor = None) -> Batch:
    """The batch to undo, or a one-line refusal: unknown (or not the actor's to see), a
    simulation, refused, undone."""
    row = connection.execute(batch_query(actor).where(Batch.id == batch_id)).first()
    if row is None:
        raise NotFoundError(f"There is no batch {batch_id}; `portal batches` lists them")
    batch = Batch(**row._mapping)
    if batch.mode != "apply":
        raise InputError(f"Batch {batch_id} was a simulation: it saved nothing to undo")
    if batch.kind in REFUSED:
        raise InputError(REFUSED[batch.kind].format(batch_id))
    undos = applied_undos(connection)
    if batch_id in undos:
        undo = undos[batch_id]
        again = (
            f"; batch {undos[undo]} undid that undo: undo batch {undos[undo]}"
            if undo in undos
            else ""
        )
        raise InputError(f"Batch {batch_id} was undone already, by batch {undo}{again}")
    return batch


def load_undo(connection: Connection, batch: Batch, actor: Actor = None) -> UndoState:
    """Everything the plan needs, one query per table."""
    query = select(BatchEvent.row_number, BatchEvent.key, BatchEvent.action, BatchEvent.changes)
    events = [
        Event(*row)
        for row in connection.execute(
            query.where(BatchEvent.batch_id == batch.id).order_by(BatchEvent.id)
        )
    ]
    state = UndoState(batch, events)
    logons, students = _named(events)
    added = select(PortalUser.logon_key).where(PortalUser.created_batch_id == batch.id)
    logons |= set(connection.execute(added).scalars())
    linked = select(PortalUser.logon_key).join(StudentLink, StudentLink.user_id == PortalUser.id)
    logons |= set(
        connection.execute(linked.where(StudentLink.created_batch_id == batch.id)).scalars()
    )
    _load_accounts(connection, state, logons)
    _load_links(connection, state)
    query = select(Student.student_id, Student.id, Student.status)
    for sid, pk, status in rows_in(connection, query, Student.student_id, students):
        state.students[sid] = (pk, status)
    _load_busy(connection, state)
    _load_undone_since(connection, state)
    _load_later(connection, state)
    state.rules = load_rules(connection, logons, actor)
    return state


def _named(events: Iterable[Event]) -> tuple[set[str], set[str]]:
    """The logon keys and student IDs the batch's changed and removed rows name."""
    logons: set[str] = set()
    students: set[str] = set()
    for event in events:
        if event.action not in ("updated", "removed") or not event.key:
            continue
        logon, _, student = event.key.partition(" / ")
        logons.add(logon_key(logon))
        moved = (event.changes or {}).get("LOGONID") or ()
        logons |= {logon_key(name) for name in moved if name}
        if student:
            students.add(student)
    return logons, students


def _load_accounts(connection: Connection, state: UndoState, keys: set[str]) -> None:
    names = (*ACCOUNT_COLUMNS, "logon_id", "user_type", *CHANGEABLE)
    query = select(*(getattr(PortalUser, name) for name in names))
    for row in rows_in(connection, query, PortalUser.logon_key, keys):
        state.accounts[row.logon_key] = dict(zip(names, row, strict=True))


def _load_links(connection: Connection, state: UndoState) -> None:
    """Every link of the loaded accounts, by (logon key, student ID)."""
    keys = {account["id"]: key for key, account in state.accounts.items()}
    names = (*LINK_COLUMNS, *LINK_FIELDS)
    query = select(Student.student_id, *(getattr(StudentLink, name) for name in names)).join(
        Student, Student.id == StudentLink.student_id
    )
    for sid, *values in rows_in(connection, query, StudentLink.user_id, keys):
        link = dict(zip(names, values, strict=True))
        state.links[(keys[link["user_id"]], sid)] = link | {"sid": sid}


def _load_busy(connection: Connection, state: UndoState) -> None:
    """Accounts the batch added that must not simply vanish: activated, or mail went out."""
    added = [a for a in state.accounts.values() if a["created_batch_id"] == state.batch.id]
    for account in added:
        if account["password_hash"]:
            state.busy[account["id"]] = "its holder has activated it"
    tokens = select(ActivationToken.user_id)
    mail = select(func.coalesce(OutboxMessage.user_id, 0)).where(OutboxMessage.status.in_(SENT))
    ids = [a["id"] for a in added]
    for (user_id,) in rows_in(connection, mail, OutboxMessage.user_id, ids):
        state.busy.setdefault(int(user_id), "an activation email was sent to it")
    for (user_id,) in rows_in(connection, tokens, ActivationToken.user_id, ids):
        state.busy.setdefault(int(user_id), "an activation link was made for it")


def _load_undone_since(connection: Connection, state: UndoState) -> None:
    """Records changed by a later batch, then put back by its undo, are as the batch left them,
    unless another batch changed them in between: undoing batches in reverse order works."""
    after = state.batch.id
    query = select(Batch.id, Batch.options).where(
        Batch.kind == KIND, Batch.mode == "apply", Batch.id > after
    )
    for undo_id, options in connection.execute(query.order_by(Batch.id)):
        undone = int((options or {}).get("undoes", 0))
        if undone in state.undos:  # an undo undone: the batch it undid stands again
            del state.undos[undone]
        elif undone > after:
            state.undos[int(undo_id)] = undone
    logons = {account["id"]: account["logon_id"] for account in state.accounts.values()}
    keys = {
        str(account["logon_id"])
        for account in state.accounts.values()
        if account["updated_batch_id"] in state.undos
    } | {
        f"{logons[link['user_id']]} / {link['sid']}"
        for link in state.links.values()
        if link["updated_batch_id"] in state.undos
    }
    pairs = set(state.undos) | set(state.undos.values())
    query_ = (
        select(BatchEvent.key, func.max(BatchEvent.batch_id))
        .where(
            BatchEvent.batch_id > after,
            BatchEvent.batch_id.not_in(pairs),
            BatchEvent.action.in_(("added", "updated", "removed")),
            BatchEvent.batch_id.in_(select(Batch.id).where(Batch.mode == "apply")),
        )
        .group_by(BatchEvent.key)
    )
    state.restamped = dict.fromkeys(keys, after)
    for key, batch_id in rows_in(connection, query_, BatchEvent.key, keys):
        state.restamped[str(key)] = int(batch_id)


def _stamp(state: UndoState, record: dict[str, Any], key: str) -> int | None:
    """The batch that changed the record last, not counting a later batch and its undo."""
    stamp: int | None = record["updated_batch_id"]
    return state.restamped.get(key, stamp) if stamp in state.undos else stamp


def _load_later(connection: Connection, state: UndoState) -> None:
    """When each later batch that touched a loaded record finished, and, for records the
    batch's rows name that are gone, the last later batch with a row of the same key."""
    after = state.batch.id
    ids = {
        record[stamp]
        for records in (state.accounts.values(), state.links.values())
        for record in records
        for stamp in ("created_batch_id", "updated_batch_id")
        if record[stamp] is not None and record[stamp] > after
    }
    missing = {
        e.key
        for e in state.events
        if e.action in ("updated", "removed") and e.key and _missing(state, e)
    }
    query = (
        select(BatchEvent.key, func.max(BatchEvent.batch_id))
        .where(BatchEvent.batch_id > after, BatchEvent.action.in_(("added", "updated", "removed")))
        .group_by(BatchEvent.key)
    )
    applied = query.where(BatchEvent.batch_id.in_(select(Batch.id).where(Batch.mode == "apply")))
    rows = rows_in(connection, applied, BatchEvent.key, missing)
    state.gone.update({str(key): int(batch_id) for key, batch_id in rows})
    ids |= set(state.gone.values()) | set(state.restamped.values())
    finished = rows_in(connection, select(Batch.id, Batch.finished_at), Batch.id, ids)
    state.later.update({int(id_): when for id_, when in finished})


def _missing(state: UndoState, event: Event) -> bool:
    """Whether the record an updated row names is no longer there."""
    if event.action != "updated" or not event.key:
        return False
    logon, _, student = _target(event)
    if student:
        return (logon_key(logon), student) not in state.links
    return logon_key(logon) not in state.accounts


def _target(event: Event) -> tuple[str, str, str]:
    """The logon a row's record has after the batch (a rename's or a move's new one), ' / ',
    and the student ID of a link's row ('' for an account's)."""
    logon, sep, student = (event.key or "").partition(" / ")
    moved = (event.changes or {}).get("LOGONID")
    return (moved[1] if moved and moved[1] else logon), sep, student


def _when(state: UndoState, batch_id: int | None) -> str:
    finished = state.later.get(batch_id) if batch_id is not None else None
    return f"batch {batch_id} on {finished:%Y-%m-%d %H:%M} UTC" if finished else f"batch {batch_id}"


def _conflict(state: UndoState, row: int | None, key: str, batch_id: int | None) -> RowResult:
    """A record changed again since the batch: left as it is, naming the batch that did."""
    if batch_id is None or batch_id < state.batch.id:
        said = "Changed since, outside the portal's batches; left as it is"
    else:
        said = f"Changed again by {_when(state, batch_id)}; left as it is"
    return RowResult(row, key, "skipped", "Not undone: look at it by hand", warning=said)


def _gone(state: UndoState, event: Event) -> RowResult:
    key = event.key or ""
    if key in state.gone:
        return _conflict(state, event.row_number, key, state.gone[key])
    said = "No longer there; left as it is"
    return RowResult(event.row_number, key, "skipped", "Not undone", warning=said)


def _error(event: Event, key: str | None, reason: str) -> RowResult:
    return RowResult(event.row_number, key or event.key, "error", reason)


def plan_undo(state: UndoState) -> UndoPlan:
    """Each row of the batch taken back, or why not: a pure function of the loaded state."""
    plan = UndoPlan()
    added = {e.key: e.row_number for e in state.events if e.action == "added" and e.key}
    pending: dict[str, AccountRef] = {}
    # Accounts before links: an account put back is there for the links put back on it.
    for event in sorted(state.events, key=lambda e: is_link(e.key)):
        result = None
        if event.action == "updated" and is_link(event.key):
            result = _undo_link_change(state, plan, event)
        elif event.action == "updated":
            result = _undo_account_change(state, plan, event)
        elif event.action == "removed" and is_link(event.key):
            result = _undo_link_removal(state, plan, event, pending)
        elif event.action == "removed":
            result = _undo_account_removal(state, plan, event, pending)
        if result is not None:
            plan.results.append(result)
    _undo_added_links(state, plan, added)
    _undo_added_accounts(state, plan, added)
    plan.users.updates = list(plan.updated.values())
    plan.results.sort(key=lambda r: (r.row is None, r.row or 0))
    return plan


def _account_update(plan: UndoPlan, account: dict[str, Any]) -> dict[str, Any]:
    """The account's update row, its fields as they are until a row of the undo sets one."""
    return plan.updated.setdefault(
        account["id"], {"_id": account["id"]} | {f"new_{n}": account[n] for n in CHANGEABLE}
    )


def _undo_account_change(state: UndoState, plan: UndoPlan, event: Event) -> RowResult | None:
    changes = {h: v for h, v in (event.changes or {}).items() if h in ACCOUNT_HEADERS}
    if not changes:  # a merge's account kept: its links' rows carry what changed
        return None
    account = state.accounts.get(logon_key(_target(event)[0]))
    if account is None:
        return _gone(state, event)
    stamp = _stamp(state, account, account["logon_id"])
    if stamp != state.batch.id:
        return _conflict(state, event.row_number, account["logon_id"], stamp)
    undo = {h: (account[ACCOUNT_HEADERS[h]], old) for h, (old, _) in changes.items()}
    cut = [h for h, (_, old) in undo.items() if _cut(old)]
    if cut:
        return _error(
            event,
            account["logon_id"],
            f"{', '.join(cut)}: the audit trail kept only the first {CHANGE_CHARS} characters "
            "of the old value (a batch from before undo existed); set it by hand",
        )
    if "LOGONID" in undo:
        refusal = _logon_back(state, account, undo["LOGONID"][1])
        if refusal:
            return _error(event, account["logon_id"], refusal)
        back = undo["LOGONID"][1]
        plan.logons.append(
            {"_id": account["id"], "new_logon_id": back, "new_logon_key": logon_key(back)}
        )
    update_row = _account_update(plan, account)
    for header, (_, old) in undo.items():
        if ACCOUNT_HEADERS[header] in CHANGEABLE:
            update_row[f"new_{ACCOUNT_HEADERS[header]}"] = old
    reason = f"Put back as it was before batch {state.batch.id}: " + ", ".join(undo)
    return RowResult(event.row_number, account["logon_id"], "updated", reason, undo)


def _cut(value: Any) -> bool:
    """Whether an old value is one the audit trail once cut (it no longer cuts a done row's)."""
    return isinstance(value, str) and len(value) == CHANGE_CHARS and value.endswith("…")


def _logon_back(state: UndoState, account: dict[str, Any], logon: str) -> str:
    """Why the account can't take back its old logon, or ''."""
    key = logon_key(logon)
    other = state.accounts.get(key)
    if other is not None and other["id"] != account["id"]:
        return (
            f"LOGONID: '{logon}' is now the logon of another account (added by "
            f"{_when(state, other['created_batch_id'])}); merge the two by hand"
        )
    if account["user_type"] == "GUARDIAN" and key in state.rules.own:
        return f"LOGONID: '{logon}': {own_email(state.rules.own[key], state.rules.schools is None)}"
    for link in state.links.values():
        if link["user_id"] == account["id"]:
            refusal = state.rules.refusal(
                key, account["user_type"], link["student_id"], link["sid"]
            )
            if refusal:
                return (
                    f"Named '{logon}' again, the account could not keep student {link['sid']}: "
                    f"{refusal}"
                )
    return ""


def _undo_link_change(state: UndoState, plan: UndoPlan, event: Event) -> RowResult | None:
    logon, _, sid = _target(event)
    link = state.links.get(pair_of(logon, sid))
    if link is None:
        return _gone(state, event)
    owner = state.accounts[logon_key(logon)]
    key = f"{owner['logon_id']} / {sid}"
    stamp = _stamp(state, link, key)
    if stamp != state.batch.id:
        return _conflict(state, event.row_number, key, stamp)
    changes = event.changes or {}
    if "LOGONID" in changes:
        return _move_back(state, plan, event, link, owner)
    undo = {h: (link[LINK_HEADERS[h]], old) for h, (old, _) in changes.items() if h in LINK_HEADERS}
    if not undo:
        return None
    plan.links.updates.append(
        {"_id": link["id"]}
        | {f"new_{name}": link[name] for name in LINK_FIELDS}
        | {f"new_{LINK_HEADERS[h]}": old for h, (_, old) in undo.items()}
    )
    reason = f"Put back as it was before batch {state.batch.id}: " + ", ".join(undo)
    return RowResult(event.row_number, key, "updated", reason, undo)


def _move_back(
    state: UndoState,
    plan: UndoPlan,
    event: Event,
    link: dict[str, Any],
    owner: dict[str, Any],
) -> RowResult:
    """A link a merge moved to the account kept goes back to the duplicate, if the rules let it."""
    sid = link["sid"]
    back = (event.changes or {})["LOGONID"][0]
    key = logon_key(back)
    account = state.accounts.get(key)
    if account is None:
        return _error(
            event,
            None,
            f"LOGONID: there is no account '{back}' any more; "
            f"student {sid} stays with {owner['logon_id']}",
        )
    if (key, sid) in state.links:
        return _error(event, None, f"Student {sid} is attached to {back} already")
    refusal = state.rules.refusal(key, account["user_type"], link["student_id"], sid)
    if refusal:
        return _error(event, f"{account['logon_id']} / {sid}", refusal)
    state.rules.attached(key, account["user_type"], link["student_id"], sid)
    plan.moves.append({"_id": link["id"], "new_user_id": account["id"]})
    changes = {"LOGONID": (owner["logon_id"], account["logon_id"])}
    reason = f"Student {sid} moved back from {owner['logon_id']}"
    return RowResult(event.row_number, f"{account['logon_id']} / {sid}", "updated", reason, changes)


DEFAULTS = {"relationship": None, "is_primary": False, "notices": True}


def _undo_link_removal(
    state: UndoState, plan: UndoPlan, event: Event, pending: dict[str, AccountRef]
) -> RowResult:
    """A link the batch removed is attached again, with its relationship and flags."""
    logon, _, sid = (event.key or "").partition(" / ")
    key = logon_key(logon)
    stored = state.accounts.get(key)
    account = (
        AccountRef(stored["id"], stored["logon_id"], stored["user_type"], stored["status"])
        if stored
        else pending.get(key)
    )
    if account is None:
        return _error(event, None, f"LOGONID: there is no account '{logon}' any more")
    name = f"{account.logon} / {sid}"
    if sid not in state.students:
        return _error(event, name, f"STUDENT_ID: there is no student '{sid}' any more")
    pk, status = state.students[sid]
    current = state.links.get((key, sid))
    if current is not None:
        return _conflict(state, event.row_number, name, current["created_batch_id"])
    refusal = state.rules.refusal(key, account.user_type, pk, sid)
    if refusal:
        return _error(event, name, refusal)
    state.rules.attached(key, account.user_type, pk, sid)
    changes = event.changes or {}
    values = {n: changes[h][0] if h in changes else DEFAULTS[n] for h, n in LINK_HEADERS.items()}
    plan.links.inserts.append({"user_id": account.id, "logon_key": key, "student_id": pk} | values)
    result = RowResult(event.row_number, name, "added", f"Student {sid} attached again")
    result.warning = attach_warning(account, sid, status)
    if not all(h in changes for h in LINK_HEADERS):
        result.warning = "Its relationship and flags were not recorded: put back with the defaults"
    return result


def _undo_account_removal(
    state: UndoState, plan: UndoPlan, event: Event, pending: dict[str, AccountRef]
) -> RowResult | None:
    """An account an undo removed comes back, with every field it had."""
    changes = event.changes or {}
    if not changes.get("LOGONID") or not changes["LOGONID"][0]:
        return None
    values = {ACCOUNT_HEADERS[h]: old for h, (old, _) in changes.items() if h in ACCOUNT_HEADERS}
    logon, key = values["logon_id"], logon_key(values["logon_id"])
    other = state.accounts.get(key)
    if other is not None:
        return _conflict(state, event.row_number, logon, other["created_batch_id"])
    if values.get("user_type") == "GUARDIAN" and key in state.rules.own:
        return _error(
            event, logon, f"LOGONID: {own_email(state.rules.own[key], state.rules.schools is None)}"
        )
    record = {"logon_id": logon, "logon_key": key, "user_type": values["user_type"]}
    record |= {name: values.get(name) for name in CHANGEABLE}
    record["status"] = record["status"] or "ACTIVE"
    plan.users.inserts.append(record)
    pending[key] = AccountRef(None, logon, record["user_type"], record["status"])
    return RowResult(event.row_number, logon, "added", "Account put back")


def _undo_added_links(state: UndoState, plan: UndoPlan, added: dict[str, int | None]) -> None:
    """Links the batch attached are detached, unless changed again since."""
    for (key, sid), link in state.links.items():
        if link["created_batch_id"] != state.batch.id:
            continue
        name = f"{state.accounts[key]['logon_id']} / {sid}"
        stamp = _stamp(state, link, name)
        if stamp != state.batch.id:
            plan.results.append(_conflict(state, added.get(name), name, stamp))
            continue
        plan.links.deletes.append(link["id"])
        state.rules.detached(key, link["student_id"])
        changes = {header: (link[name_], None) for name_, header in LINK_FIELDS.items()}
        reason = f"Student {sid} detached"
        plan.results.append(RowResult(added.get(name), name, "removed", reason, changes))


def _undo_added_accounts(state: UndoState, plan: UndoPlan, added: dict[str, int | None]) -> None:
    """Accounts the batch added are removed; disabled instead when something refers to them."""
    detached = set(plan.links.deletes)
    kept: dict[int, str] = {}
    for link in state.links.values():
        if link["id"] not in detached:
            kept.setdefault(link["user_id"], f"student {link['sid']} stays attached to it")
    for account in state.accounts.values():
        if account["created_batch_id"] != state.batch.id:
            continue
        logon, row = account["logon_id"], added.get(account["logon_id"])
        stamp = _stamp(state, account, logon)
        if stamp != state.batch.id:
            plan.results.append(_conflict(state, row, logon, stamp))
            continue
        why = state.busy.get(account["id"]) or kept.get(account["id"])
        if why is None:
            plan.removed_accounts.append(account["id"])
            gone = {h: (account[name], None) for h, name in ACCOUNT_HEADERS.items()}
            plan.results.append(RowResult(row, logon, "removed", "Account removed", dict(gone)))
        elif account["status"] == "DISABLED":
            reason = f"Kept, as {why}; it is DISABLED already"
            plan.results.append(RowResult(row, logon, "skipped", reason))
        else:
            _account_update(plan, account)["new_status"] = "DISABLED"
            changes: dict[str, tuple[Any, Any]] = {"STATUS": (account["status"], "DISABLED")}
            reason = f"Disabled rather than removed, as {why}"
            plan.results.append(RowResult(row, logon, "updated", reason, changes))


def write_undo(connection: Connection, plan: UndoPlan, batch_id: int) -> None:
    """Accounts first (those put back, then changes), then links, then what is removed."""
    now = utcnow()
    write_users(connection, plan.users, batch_id, no_progress)
    bulk_update(
        connection,
        PortalUser,
        plan.logons,
        ("logon_id", "logon_key"),
        updated_at=now,
        updated_batch_id=batch_id,
    )
    renamed = where_in(connection, ActivationToken.user_id, (row["_id"] for row in plan.logons))
    if renamed is not None:  # the old address gets no link made for the new one
        connection.execute(
            delete(ActivationToken).where(renamed, ActivationToken.used_at.is_(None))
        )
    write_links(connection, plan.links, batch_id)
    bulk_update(
        connection, StudentLink, plan.moves, ("user_id",), updated_at=now, updated_batch_id=batch_id
    )
    mail = where_in(connection, OutboxMessage.user_id, plan.removed_accounts)
    removed = where_in(connection, PortalUser.id, plan.removed_accounts)
    if mail is not None and removed is not None:
        connection.execute(
            update(OutboxMessage)
            .where(mail, OutboxMessage.status == "queued")
            .values(
                status="skipped", last_error=f"The account was removed by undo batch {batch_id}"
            )
        )
        connection.execute(delete(PortalUser).where(removed))
    revoke_links_of_shut_accounts(connection)


def refuse_out_of_scope(connection: Connection, state: UndoState, actor: Actor) -> None:
    """School staff undo a batch only when all it touched is theirs: one record of another
    school would make the undo half-done, so the whole undo is refused in one line."""
    if restricted_schools(actor) is None:
        return
    batch = state.batch.id
    students = set(state.students) | {
        link["sid"]
        for link in state.links.values()
        if batch in (link["created_batch_id"], link["updated_batch_id"])
    }
    scope = Scope.load(connection, actor, student_ids=students, logon_keys=state.accounts)
    outside = [student_refusal(s) for s in sorted(students) if not scope.sees_student(s)]
    outside += [
        account_refusal(a["logon_id"]) for k, a in state.accounts.items() if not scope.may_change(k)
    ]
    if outside:
        raise InputError(
            f"Batch {state.batch.id} cannot be undone by you: {outside[0]}; ask a district "
            "admin to undo it"
        )


def undo_batch(
    engine: Engine,
    batch_id: int,
    *,
    apply: bool = False,
    actor: Actor = None,
    progress: Progress = no_progress,
) -> Report:
    """Simulate, or with ``apply`` carry out, the undo of batch ``batch_id``: a batch either way."""
    undone: list[Batch] = []

    def plan(connection: Connection) -> UndoPlan:
        undone[:] = [undoable(connection, batch_id, actor)]
        progress("Reading the batch", 0, 1)
        state = load_undo(connection, undone[0], actor)
        refuse_out_of_scope(connection, state, actor)
        return plan_undo(state)

    report, _ = run_batch(
        engine,
        kind=KIND,
        options={"undoes": batch_id},
        table=None,
        apply=apply,
        plan=plan,
        write=write_undo,
        actor=actor,
        progress=progress,
    )
    batch = undone[0]
    source = f" of {batch.source_name}" if batch.source_name else ""
    report.extra.insert(
        0,
        (
            "Undoes",
            f"batch {batch.id}: {batch.kind}{source}, {batch.finished_at:%Y-%m-%d %H:%M} UTC",
        ),
    )
    return report
