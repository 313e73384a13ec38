"""Client mode for coverage, activation emails, letters and the year end.

Each function asks the district server's route for what the local service of the same name
returns, as the same record, so the terminal and the ribbon print and write the same thing in
both modes; the server names the staff member as each run's actor.
"""

from pathlib import Path
from urllib.parse import urlencode

from addin.remote import Remote
from addin.remote_records import record_of
from backend.accounts.coverage import Coverage
from backend.imports.contract import Report
from backend.imports.reviewed import Review
from backend.mail.activation_send import Choice
from backend.mail.letters import Letter, LetterChoice
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


def make_letters(
    remote: Remote, choice: LetterChoice, *, apply: bool = False
) -> tuple[Report, list[Letter], str]:
    """The run's report, with ``apply`` the letters the server made (each with its saved
    code), and the activation page's address they give."""
    body = choice.as_dict() | {"apply": apply}
    del body["template"]
    data = remote.call("POST", "/api/letters", body)
    letters = [record_of(Letter, letter) for letter in data["letters"]]
    return decode_report(data["report"]), letters, data["activation_address"]


def make_letter_files(
    remote: Remote, choice: LetterChoice, dest: Path, pdf: Path, *, again: str
) -> Report:
    """``addin.files.letters.make_letter_files`` with the codes made on the server: the same
    files and log. Should the answer never arrive, the codes it held are in no file: the
    next run's new codes replace them."""
    from addin.files.letters import write_made_letters
    from addin.files.result_writer import check_destination

    check_destination(dest)
    check_destination(pdf)
    report, letters, address = make_letters(remote, choice, apply=True)
    return write_made_letters(report, letters, address, dest, pdf, again=again)
