"""Client mode for the single-account commands, the contact card, the look-ups and the batches.

Each function asks the district server's route for what the local service of the same name
returns, and gives it back as the same record (an ``Account``, a ``Card``, a ``Report``, a
``Batch``), so the front ends print and write the same thing in both modes. The server names
the staff member as each run's actor.
"""

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from datetime import date, datetime
from typing import Any, TypeVar, get_args, get_origin, get_type_hints
from urllib.parse import quote

from addin.remote import Remote
from backend.accounts.contact_card import Card, LinkedLogon
from backend.accounts.lookups import AccountSummary
from backend.accounts.single import Account
from backend.database.models import Batch, BatchEvent
from backend.errors import NotFoundError
from backend.imports.contract import Report
from server.wire import decode_report

Record = TypeVar("Record")


def record_of(cls: type[Record], data: Mapping[str, Any]) -> Record:
    """A service's record from its JSON: nested records and lists of them, dates from ISO text."""
    hints = get_type_hints(cls)
    values = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        if field.name in data:
            values[field.name] = _typed(hints[field.name], data[field.name])
    return cls(**values)


def _typed(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    if get_origin(hint) is list:
        [item] = get_args(hint)
        return [_typed(item, v) for v in value]
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return record_of(hint, value)
    if hint is datetime:
        return datetime.fromisoformat(value)
    if hint is date:
        return date.fromisoformat(value)
    return value


def segment(value: str) -> str:
    """A logon or an ID as one segment of a route's path."""
    return quote(value.strip(), safe="@")


def get_account(remote: Remote, logon_id: str) -> Account:
    return record_of(Account, remote.call("GET", f"/api/accounts/{segment(logon_id)}"))


def contact_card(remote: Remote, student_id: str) -> Card:
    return record_of(Card, remote.call("GET", f"/api/students/{segment(student_id)}/card"))


def logons_of_students(
    remote: Remote, student_ids: Collection[str]
) -> dict[str, list[LinkedLogon]]:
    """Each known student's logons (a column of =PORTAL_STUDENT_LOGONS); unknown ones left out."""
    if not student_ids:
        return {}
    found = remote.call("POST", "/api/lookups/students", {"student_ids": sorted(student_ids)})
    return {
        sid: [record_of(LinkedLogon, logon) for logon in logons] for sid, logons in found.items()
    }


def logons_for_student(remote: Remote, student_id: str) -> list[LinkedLogon]:
    found = logons_of_students(remote, [student_id.strip()])
    if student_id.strip() not in found:
        raise NotFoundError(f"There is no student '{student_id.strip()}'")
    return found[student_id.strip()]


def account_summaries(remote: Remote, logon_ids: Collection[str]) -> dict[str, AccountSummary]:
    """The accounts among ``logon_ids`` by logon key (a column of =PORTAL_ACCOUNT_STATUS)."""
    if not logon_ids:
        return {}
    found = remote.call("POST", "/api/lookups/accounts", {"logon_ids": sorted(logon_ids)})
    return {key: record_of(AccountSummary, summary) for key, summary in found.items()}


def new_user(remote: Remote, *, students: Sequence[str] = (), **fields: Any) -> Report:
    return decode_report(remote.call("POST", "/api/accounts", fields | {"students": [*students]}))


def modify_user(
    remote: Remote,
    logon_id: str,
    *,
    changes: Mapping[str, str],
    attach: Sequence[str] = (),
    detach: Sequence[str] = (),
    relationship: str | None = None,
) -> Report:
    body = {
        "changes": dict(changes),
        "attach": [*attach],
        "detach": [*detach],
        "relationship": relationship,
    }
    return decode_report(remote.call("PATCH", f"/api/accounts/{segment(logon_id)}", body))


def create_account_from_contact(
    remote: Remote, contact_id: str, *, apply: bool, email_template: str | None
) -> Report:
    body = {"apply": apply, "email_template": email_template}
    path = f"/api/contacts/{segment(contact_id)}/account"
    return decode_report(remote.call("POST", path, body))


def rename_user(remote: Remote, old: str, new: str, *, apply: bool) -> Report:
    body = {"old": old, "new": new, "apply": apply}
    return decode_report(remote.call("POST", "/api/renames", body))


def merge_users(remote: Remote, duplicate: str, keep: str, *, apply: bool) -> Report:
    body = {"duplicate": duplicate, "keep": keep, "apply": apply}
    return decode_report(remote.call("POST", "/api/merges", body))


def _batch(data: Mapping[str, Any]) -> Batch:
    times = {name: datetime.fromisoformat(data[name]) for name in ("started_at", "finished_at")}
    names = {column.key for column in Batch.__table__.columns}
    return Batch(**{k: v for k, v in data.items() if k in names} | times)


def list_batches(remote: Remote, limit: int) -> list[Batch]:
    return [_batch(data) for data in remote.call("GET", f"/api/batches?limit={limit}")]


def get_batch(remote: Remote, batch_id: int) -> tuple[Batch, list[BatchEvent], int | None]:
    """A batch, its row events and the undo that took it back, if one did."""
    data = remote.call("GET", f"/api/batches/{batch_id}")
    events = [BatchEvent(**event) for event in data["events"]]
    return _batch(data), events, data["undone_by"]


def undo_batch(remote: Remote, batch_id: int, *, apply: bool) -> Report:
    return decode_report(remote.call("POST", f"/api/batches/{batch_id}/undo", {"apply": apply}))
