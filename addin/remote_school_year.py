"""Client mode for coverage, activation emails and the year end.

Each function asks the district server's route for what the local service of the same name
returns, as the same record, so the terminal and the ribbon print and write the same thing in
both modes; the server names the staff member as each run's actor.
"""

from urllib.parse import urlencode

from addin.remote import Remote
from addin.remote_records import record_of
from backend.accounts.coverage import Coverage
from backend.imports.contract import Report
from backend.imports.reviewed import Review
from backend.mail.activation_send import Choice
from server.wire import decode_report


def coverage(remote: Remote, school: str | None = None) -> Coverage:
    query = f"?{urlencode({'school': school})}" if school is not None else ""
    return record_of(Coverage, remote.call("GET", f"/api/coverage{query}"))


def send_activation(remote: Remote, choice: Choice, *, apply: bool = False) -> Report:
    body = choice.as_dict() | {"apply": apply}
    return decode_report(remote.call("POST", "/api/activation/send", body))


def year_end(remote: Remote, *, apply: bool = False, review: Review | None = None) -> Report:
    body: dict[str, object] = {"apply": apply}
    if review is not None:
        body["review"] = {"batch_id": review.batch_id, "confirmed": review.confirmed}
    return decode_report(remote.call("POST", "/api/lifecycle/year-end", body))
