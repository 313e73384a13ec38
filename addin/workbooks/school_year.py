"""The ribbon's School Year buttons, written once against ``Workbook``: the coverage workbook,
activation emails and printed letters for chosen accounts, renaming a logon, merging a
duplicate account, undoing a batch and the end of the school year.

Each is what its terminal command does (``portal coverage``, ``portal activation send``,
``portal letters``, ``portal user rename``, ``portal user merge``, ``portal batches undo``,
``portal lifecycle year-end``), the same services and the same batches, but it
takes what it acts on from the selected cells instead of typed options: a button that changes
anything runs the simulation first (a batch, as the terminal's run without ``--apply``), asks
with what it would do, and only on Yes runs it again to save.

``SCHOOL_YEAR`` maps each action to its function: a new button of this kind is one entry there
and one button in ``addin.xlam.ribbon``.
"""

import shlex
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from addin.workbooks.interface import Selection, Workbook, summary_of
from addin.workbooks.result_sheet import (
    ACTIVATION_SHEET_NAME,
    LETTERS_SHEET_NAME,
    LOG_SHEET_NAME,
    UNDO_SHEET_NAME,
    YEAR_END_SHEET_NAME,
    log_from_report,
)
from backend.errors import InputError
from backend.imports.contract import (
    Progress,
    Report,
    Results,
    cell_text,
    column_of,
    count_phrases,
    no_progress,
)

if TYPE_CHECKING:
    from addin.remote import Remote
    from backend.accounts.contact_card import Card
    from backend.mail.activation_send import Choice

CARD_SHEET = "Lookup"
"""The sheet Look Up writes a contact card to."""
CARD_STUDENT = "Student ID"
CARD_FIX = "Suggested fix"
MOST_LOGONS = 1_000
"""The most logons Send Activation and Letters take from a selection."""
SHOWN_LINES = 8
"""Rows of a result a message box lists; the rest are in ``portal batches N``."""

RENAME = "user.rename"
MERGE = "user.merge"
FIX_WORDS = {RENAME: ("Rename Logon", "->"), MERGE: ("Merge Logons", "into")}


def suggested_fix(suggestion: str | None) -> tuple[str, str, str] | None:
    """A contact card's suggested command as (action, logon, other logon): a rename of OLD to
    NEW or a merge of DUPLICATE into KEEP (``backend.accounts.rename`` writes both)."""
    if not suggestion:
        return None
    words = shlex.split(suggestion)
    if words[:3] == ["portal", "user", "rename"] and len(words) == 5:
        return RENAME, words[3], words[4]
    if words[:3] == ["portal", "user", "merge"] and len(words) == 6 and words[4] == "into":
        return MERGE, words[3], words[5]
    return None


def fix_text(suggestion: str | None) -> str:
    """The card's suggestion as staff read it: the button to press and what it does."""
    fix = suggested_fix(suggestion)
    if fix is None:
        return ""
    action, first, second = fix
    button, word = FIX_WORDS[action]
    return f"{button}: {first} {word} {second}"


# --- Coverage ------------------------------------------------------------------------------


def coverage_book(workbook: Workbook, engine: "Engine | Remote", **_: Any) -> str:
    """The coverage workbook of ``portal coverage --out``, as a new workbook opened beside this
    one; the message gives the district's figures. ``engine`` a ``Remote``: the server's."""
    from addin.remote import Remote
    from addin.workbooks.coverage_book import write_coverage_workbook
    from backend.accounts.coverage import CAN_GET, NO_CONTACT, NOT_ACTIVATED, WORKING, coverage

    if isinstance(engine, Remote):
        from addin.remote_school_year import coverage as coverage_there

        report = coverage_there(engine)
    else:
        report = coverage(engine)
    where = workbook.open_new("coverage", lambda path: write_coverage_workbook(report, path))
    total = report.total()
    students = sum(total.values())
    if not students:
        workbook.notify(
            f"No active student yet: import the roster first. The coverage workbook: {where}"
        )
        return where
    workbook.notify(
        f"Parent portal coverage of the district: {total[WORKING]} of {students} active "
        f"students have a working guardian account; {total[NOT_ACTIVATED]} only accounts never "
        f"activated, {total[CAN_GET]} a contact who could get one, {total[NO_CONTACT]} nobody "
        f"who could. The workbook (a sheet and a chart per school, and what to do for each "
        f"student without a working account): {where}"
    )
    return where


# --- Send Activation -----------------------------------------------------------------------


@dataclass(frozen=True)
class Chooser:
    """A button that acts on the accounts the selection chooses, as its messages name it and
    what each account gets."""

    button: str
    gets: str
    select: str
    """The selection it asks for: "Select the logons {select} (a cell, ...)"."""


SENDS = Chooser("Send Activation", "an email", "to send an activation email to")
PRINTS = Chooser("Letters", "a letter", "to print a letter for")


def _is_logon_header(text: str) -> bool:
    from backend.imports.columns import LOGONID

    return column_of(text, [LOGONID]) is not None


def _log_batch(workbook: Workbook, selection: Selection, chooser: Chooser) -> int | None:
    """The batch of the Import Log whose summary lines (above its table) are selected."""
    if selection.sheet is None or selection.sheet.casefold() != LOG_SHEET_NAME.casefold():
        return None
    summary = workbook.previous_summary()
    if not 1 <= selection.row <= len(summary) + 1 or summary.get("Batch") is None:
        return None
    if not str(summary.get("Mode", "")).startswith("APPLIED"):
        raise InputError(
            f"Batch {summary['Batch']} was a simulation and made no account: select the Batch "
            f"line of the log of an import that was applied, then press {chooser.button}"
        )
    return int(summary["Batch"])


def _first(row: list[Any]) -> str | None:
    return cell_text(row[0]) if row else None


def _coverage_school(
    workbook: Workbook, selection: Selection, chooser: Chooser
) -> "tuple[Choice, str] | None":
    """On a coverage workbook's Summary, the selected row's school (or the district): its
    accounts never activated."""
    from addin.workbooks.coverage_book import DISTRICT, SUMMARY_SHEET, SUMMARY_TITLE
    from backend.mail.activation_send import Choice

    if selection.sheet is None or selection.sheet.casefold() != SUMMARY_SHEET.casefold():
        return None
    grid = workbook.grid(selection.sheet)
    if not grid or not grid[0] or grid[0][0] != SUMMARY_TITLE:
        return None
    header = next((i for i, row in enumerate(grid) if row and row[0] == "School"), len(grid))
    end = next((i for i in range(header + 1, len(grid)) if not _first(grid[i])), len(grid))
    row = selection.row - 1
    code = _first(grid[row]) if header < row < end else None
    if code is None:
        raise InputError(
            "On the coverage Summary, select the row of a school (or the District row), then "
            f"press {chooser.button}: its accounts never activated get {chooser.gets}"
        )
    if code == DISTRICT:
        return Choice(not_activated=True), "every account never activated"
    return Choice(school=code, not_activated=True), f"the accounts at school {code} never activated"


def activation_choice(workbook: Workbook, chooser: Chooser = SENDS) -> "tuple[Choice, str]":
    """Who gets an email (or a letter), from the selection: the Batch line of an Import Log
    (the accounts that run added or attached a student to), a school's row on a coverage
    Summary (its accounts never activated), else the logons in the selected cells."""
    from backend.mail.activation_send import Choice

    selection = workbook.selection()
    batch = _log_batch(workbook, selection, chooser)
    if batch is not None:
        return Choice(batch=batch), f"the accounts batch {batch} added or attached a student to"
    school = _coverage_school(workbook, selection, chooser)
    if school is not None:
        return school
    logons = [
        text
        for text in dict.fromkeys(selection.texts())
        if not any(c.isspace() for c in text) and not _is_logon_header(text)
    ]
    if not logons:
        raise InputError(
            f"Select the logons {chooser.select} (a cell, a column or a block of LOGONID "
            "cells), or the Batch line of an applied import's Import Log, then press "
            f"{chooser.button}"
        )
    if len(logons) > MOST_LOGONS:
        raise InputError(
            f"{len(logons)} logons are selected; {chooser.button} takes at most {MOST_LOGONS} "
            "at a time: select fewer, or the Batch line of the import's Import Log"
        )
    chosen = logons[0] if len(logons) == 1 else f"the {len(logons)} logons selected"
    return Choice(logons=tuple(logons)), chosen


def _reasons(report: Report) -> str:
    """Why the rows that get no email get none: each reason once, with how many it is when
    more than one."""
    counted: dict[str, int] = {}
    for result in report.results:
        if result.action != "added":
            counted[result.reason] = counted.get(result.reason, 0) + 1
    return " ".join(
        reason if n == 1 else f"{n} accounts: {reason}" for reason, n in counted.items()
    )


def _sender(engine: "Engine | Remote", progress: Progress) -> Callable[..., Report]:
    """``send_activation`` on this database, or on the district server."""
    from addin.remote import Remote

    if isinstance(engine, Remote):
        from addin.remote_school_year import send_activation as send_there

        return partial(send_there, engine)
    from backend.mail.activation_send import send_activation

    return partial(send_activation, engine, progress=progress)


def send_activation_emails(
    workbook: Workbook, engine: "Engine | Remote", *, progress: Progress | None = None, **_: Any
) -> Report:
    """Simulate the chosen accounts' activation emails into the Activation sheet, ask, and on
    Yes queue them: one simulation batch, then one apply batch."""
    choice, chosen = activation_choice(workbook)
    send_activation = _sender(engine, progress or no_progress)
    simulated = send_activation(choice)
    where = workbook.write_log(log_from_report(simulated, "LOGONID"), ACTIVATION_SHEET_NAME)
    emails, others = simulated.counts["added"], len(simulated.results) - simulated.counts["added"]
    if not emails:
        workbook.notify(
            f"No activation email to send to {chosen}: {_reasons(simulated)} Nothing was "
            f"queued (simulation, batch {simulated.batch_id}; see {where})."
        )
        return simulated
    none_for = (
        f" {others} of them {'gets' if others == 1 else 'get'} none: {_reasons(simulated)}"
        if others
        else ""
    )
    if not workbook.confirm(
        f"Send {_emails(emails)} to {chosen}?{none_for} The simulation (batch "
        f"{simulated.batch_id}) is in {where}. Yes queues the emails; No sends nothing."
    ):
        workbook.notify(
            f"Nothing was queued: no activation email goes out. The simulation is in {where}."
        )
        return simulated
    applied = send_activation(choice, apply=True)
    where = workbook.write_log(log_from_report(applied, "LOGONID"), ACTIVATION_SHEET_NAME)
    workbook.notify(
        f"{_emails(applied.counts['added']).capitalize()} queued (batch {applied.batch_id}): "
        "they go out with the next sending of the outbox, each with a new activation link, and "
        f"an older link of the same account stops working. See {where}."
    )
    return applied


def _emails(n: int) -> str:
    return f"{n} activation email{'s' if n != 1 else ''}"


# --- Letters -------------------------------------------------------------------------------


def _letter_makers(
    engine: "Engine | Remote", progress: Progress
) -> tuple[Callable[..., Report], Callable[..., Report]]:
    """A simulation of letters, and the files of an apply, on this database or the server."""
    from addin.remote import Remote

    if isinstance(engine, Remote):
        from addin import remote_school_year

        return (
            lambda choice: remote_school_year.make_letters(engine, choice)[0],
            partial(remote_school_year.make_letter_files, engine),
        )
    from addin.files.letters import make_letter_files
    from backend.mail.letters import make_letters

    return (
        lambda choice: make_letters(engine, choice, lambda _: {}, progress=progress),
        partial(make_letter_files, engine, progress=progress),
    )


def print_letters(
    workbook: Workbook, engine: "Engine | Remote", *, progress: Progress | None = None, **_: Any
) -> Report:
    """Simulate the chosen accounts' letters into the Letters Log sheet, ask, and on Yes make
    their codes and write the letters (a PDF) and a mail-merge workbook where new workbooks go,
    then open the mail-merge workbook: one simulation batch, then one apply batch."""
    from backend.mail.letters import LetterChoice

    accounts, chosen = activation_choice(workbook, PRINTS)
    choice = LetterChoice(accounts)
    simulate, make_letter_files = _letter_makers(engine, progress or no_progress)
    simulated = simulate(choice)
    where = workbook.write_log(log_from_report(simulated, "LOGONID"), LETTERS_SHEET_NAME)
    letters = simulated.counts["added"]
    others = len(simulated.results) - letters
    if not letters:
        workbook.notify(
            f"No letter to print for {chosen}: {_reasons(simulated)} No code was made "
            f"(simulation, batch {simulated.batch_id}; see {where})."
        )
        return simulated
    none_for = (
        f" {others} of them {'gets' if others == 1 else 'get'} none: {_reasons(simulated)}"
        if others
        else ""
    )
    if not workbook.confirm(
        f"Print {_letters(letters)} for {chosen}?{none_for} The simulation (batch "
        f"{simulated.batch_id}) is in {where}. Yes makes a one-time activation code for each "
        "and writes the letters to print and a mail-merge workbook in Documents, Parent "
        "Portal; a letter's code replaces the account's activation links and codes not used "
        "yet. No makes nothing."
    ):
        workbook.notify(f"No letter was made: no code, no file. The simulation is in {where}.")
        return simulated
    made: list[tuple[Report, str]] = []

    def build(book: Path) -> Path:
        """The letters' files at ``book`` and beside it, and the log here, before the
        mail-merge workbook opens in front of this one."""
        pdf = book.with_suffix(".pdf")
        report = make_letter_files(choice, book, pdf, again="press Letters again")
        made.append(
            (report, workbook.write_log(log_from_report(report, "LOGONID"), LETTERS_SHEET_NAME))
        )
        return book

    book = workbook.open_new("letters", build)
    applied, where = made[0]
    workbook.notify(_letters_made(applied, book, where))
    return applied


def _letters(n: int) -> str:
    return f"{n} letter{'s' if n != 1 else ''}"


def _letters_made(applied: Report, book: str, where: str) -> str:
    """What an apply of letters made, where the files are, and what to do with them."""
    made = int(dict(applied.extra).get("Letters made") or 0)
    if not made:
        return (
            f"No letter was made (batch {applied.batch_id}): the accounts changed since the "
            f"simulation. See {where}."
        )
    warned = sum(1 for r in applied.results if r.warning)
    check = (
        f" {_letters(warned)} {'has' if warned == 1 else 'have'} a character the font cannot "
        f"print, printed as '?': see the Warning column of {where}, and write it in by hand."
        if warned
        else ""
    )
    return (
        f"{_letters(made).capitalize()} made (batch {applied.batch_id}). Print them from "
        f"{Path(book).with_suffix('.pdf')}. The mail-merge workbook, now open, is {book} "
        "(sheet Letters). The codes are in these two files only: keep them safe and delete "
        f"them once the letters are sent.{check}"
    )


# --- Rename Logon and Merge Logons ----------------------------------------------------------


def card_fix(
    workbook: Workbook, engine: "Engine | Remote", selection: Selection
) -> tuple[str, str, str]:
    """The suggested fix of the contact row selected on a contact card (Look Up's sheet),
    recomputed from the database: the sheet only says which student and which contact."""
    grid = workbook.grid(selection.sheet or CARD_SHEET)
    student = summary_of(grid).get(CARD_STUDENT)
    header = next((i for i, row in enumerate(grid) if row and row[0] == "Contact"), None)
    if student is None or header is None or not header < selection.row - 1 < len(grid):
        raise InputError(
            "Select the row of a contact on the contact card (below its Contact header), "
            "then press the button again"
        )
    contact = str(grid[selection.row - 1][0])
    card = _card(engine, str(student))
    entry = next((e for e in card.entries if e.contact_id == contact), None)
    fix = suggested_fix(entry.suggestion if entry else None)
    if fix is None:
        raise InputError(
            f"Contact {contact} on the card of student {student} has no suggested fix now "
            "(press Look Up again to see the card as it is); to rename or merge other logons, "
            "select two cells holding them"
        )
    return fix


def _card(engine: "Engine | Remote", student: str) -> "Card":
    """A student's contact card, from the database or the district server."""
    from addin.remote import Remote

    if isinstance(engine, Remote):
        from addin.remote_records import contact_card as card_there

        return card_there(engine, student)
    from backend.accounts.contact_card import contact_card

    return contact_card(engine, student)


def _two_logons(
    workbook: Workbook, engine: "Engine | Remote", action: str, usage: str
) -> tuple[str, str]:
    """The two logons a rename or a merge acts on: on a contact card (Look Up's sheet), the
    selected contact's suggested fix; elsewhere, the two selected cells, in reading order."""
    selection = workbook.selection()
    if selection.sheet is not None and selection.sheet.casefold() == CARD_SHEET.casefold():
        fix_action, one, other = card_fix(workbook, engine, selection)
        if fix_action != action:
            raise InputError(
                f"This contact's suggested fix is {FIX_WORDS[fix_action][0]}: press that "
                "button instead"
            )
        return one, other
    texts = selection.texts()
    if len(texts) != 2:
        raise InputError(usage)
    return texts[0], texts[1]


def _lines(results: Results) -> str:
    """The rows of a result, one line each, warnings last; at most ``SHOWN_LINES``."""
    lines = [f"- {r.key}: {r.reason}" for r in islice(results, SHOWN_LINES)]
    if len(results) > SHOWN_LINES:
        lines.append(f"- and {len(results) - SHOWN_LINES} more")
    lines += [f"Warning: {r.warning}" for r in results if r.warning]
    return "\n".join(lines)


def _ask_then_save(
    workbook: Workbook,
    run: Callable[[bool], Report],
    question: str,
    done: str,
    after: str = "",
) -> Report:
    """Simulate (a batch), ask with what would change, and on Yes save (another batch); the
    message ends with ``after`` when a row of the result carries a warning."""
    simulated = run(False)
    if not workbook.confirm(
        f"{question}\n{_lines(simulated.results)}\n\nYes saves it; No changes nothing."
    ):
        workbook.notify(f"Nothing was changed (simulation, batch {simulated.batch_id}).")
        return simulated
    applied = run(True)
    warned = any(r.warning for r in applied.results)
    workbook.notify(
        f"{done} (batch {applied.batch_id}).\n{_lines(applied.results)}"
        + (f"\n{after}" if after and warned else "")
    )
    return applied


def _renames(engine: "Engine | Remote") -> tuple[Callable[..., Report], Callable[..., Report]]:
    """Rename and merge, here or on the district server: each (old, new, apply=...)."""
    from addin.remote import Remote

    if isinstance(engine, Remote):
        from addin import remote_records

        return partial(remote_records.rename_user, engine), partial(
            remote_records.merge_users, engine
        )
    from backend.accounts.rename import merge_users, rename_user

    return partial(rename_user, engine), partial(merge_users, engine)


def rename_logon(workbook: Workbook, engine: "Engine | Remote", **_: Any) -> Report:
    """Rename a logon: OLD and NEW from the selection, or a card row's suggested rename."""
    rename_user = _renames(engine)[0]
    old, new = _two_logons(
        workbook,
        engine,
        RENAME,
        "Select two cells: the logon as it is now, then the logon it should have (side by "
        "side, or one above the other); or on a contact card (Look Up), the row of a contact "
        "whose Suggested fix is Rename Logon. Then press Rename Logon",
    )
    return _ask_then_save(
        workbook,
        lambda apply: rename_user(old, new, apply=apply),
        f"Rename the logon {old} to {new}? Its students, its history and its password stay "
        "with the account.",
        f"Renamed: the logon {old} is now {new}",
        f"To send a new activation link, select {new} and press Send Activation.",
    )


def merge_logons(workbook: Workbook, engine: "Engine | Remote", **_: Any) -> Report:
    """Merge a duplicate account into the one kept: DUPLICATE then KEEP from the selection, or
    a card row's suggested merge."""
    merge_users = _renames(engine)[1]
    duplicate, keep = _two_logons(
        workbook,
        engine,
        MERGE,
        "Select two cells: the duplicate logon, then the logon to keep (side by side, or one "
        "above the other); or on a contact card (Look Up), the row of a contact whose "
        "Suggested fix is Merge Logons. Then press Merge Logons",
    )
    return _ask_then_save(
        workbook,
        lambda apply: merge_users(duplicate, keep, apply=apply),
        f"Merge the account {duplicate} into {keep}? Its students move to {keep} where the "
        f"rules allow, and {duplicate} is disabled; both keep their history.",
        f"Merged: {duplicate} into {keep}",
    )


# --- Undo Batch ----------------------------------------------------------------------------

LOG_SHEETS = {
    name.casefold()
    for name in (
        LOG_SHEET_NAME,
        ACTIVATION_SHEET_NAME,
        LETTERS_SHEET_NAME,
        UNDO_SHEET_NAME,
        YEAR_END_SHEET_NAME,
    )
}
"""The sheets a run's log is written to: each names its batch in its summary."""
LOG_TITLE = "Parent Portal Accounts:"


def chosen_batch(workbook: Workbook) -> int:
    """The batch to undo: the one whose log's summary lines (above its table) are selected,
    else the number in the one selected cell."""
    selection = workbook.selection()
    if selection.sheet is not None and selection.sheet.casefold() in LOG_SHEETS:
        grid = workbook.grid(selection.sheet)
        summary = summary_of(grid) if grid and str(grid[0][0]).startswith(LOG_TITLE) else {}
        batch = summary.get("Batch")
        if 1 <= selection.row <= len(summary) + 1 and isinstance(batch, int | float):
            return int(batch)
    texts = selection.texts()
    if len(texts) == 1 and texts[0].isascii() and texts[0].isdigit():
        return int(texts[0])
    raise InputError(
        "Select the Batch line of the log of the run to undo (its Import Log), or one cell "
        "holding the batch number (`portal batches` lists them), then press Undo Batch"
    )


def _changed(report: Report) -> tuple[int, str]:
    """How many rows a run changes, and how, in the log's words: '2 removed, 1 updated'."""
    phrases = [
        (n, f"{n} {word}")
        for action, n, word in count_phrases(report.counts)
        if action in ("added", "updated", "removed") and n
    ]
    return sum(n for n, _ in phrases), ", ".join(text for _, text in phrases)


def _left(report: Report) -> str:
    """The rows an undo leaves as they are and the rows it cannot undo, a few of each."""
    warned = [r for r in report.results if r.warning]
    errors = [r for r in report.results if r.action == "error"]
    parts = []
    if warned:
        lines = [f"- {r.key}: {r.warning}" for r in warned[:SHOWN_LINES]]
        more = f"\n- and {len(warned) - SHOWN_LINES} more" if len(warned) > SHOWN_LINES else ""
        parts.append("To look at by hand (listed first in the log):\n" + "\n".join(lines) + more)
    if errors:
        lines = [f"- {r.key}: {r.reason}" for r in errors[:SHOWN_LINES]]
        more = f"\n- and {len(errors) - SHOWN_LINES} more" if len(errors) > SHOWN_LINES else ""
        parts.append("Not undone:\n" + "\n".join(lines) + more)
    return "".join(f"\n\n{part}" for part in parts)


def undo_a_batch(
    workbook: Workbook, engine: "Engine | Remote", *, progress: Progress | None = None, **_: Any
) -> Report:
    """Simulate the undo of the selected batch into the Undo sheet, ask, and on Yes undo it:
    one simulation batch, then one apply batch (itself undone the same way). ``engine`` a
    ``Remote``: both run on the district server."""
    from addin.remote import Remote
    from backend.imports.undo import undo_batch as undo_here

    batch = chosen_batch(workbook)
    if isinstance(engine, Remote):
        from addin.remote_records import undo_batch as undo_there

        undo_batch: Callable[..., Report] = partial(undo_there, engine)
    else:
        undo_batch = partial(undo_here, engine, progress=progress or no_progress)
    simulated = undo_batch(batch, apply=False)
    where = workbook.write_log(log_from_report(simulated, "Key"), UNDO_SHEET_NAME)
    undoes = dict(simulated.extra).get("Undoes", f"batch {batch}")
    rows, how = _changed(simulated)
    if not rows:
        workbook.notify(
            f"Nothing of {undoes} can be undone: nothing was changed (simulation, batch "
            f"{simulated.batch_id}; see {where}).{_left(simulated)}"
        )
        return simulated
    if not workbook.confirm(
        f"Undo {undoes}? The undo would change {rows} row{'s' if rows != 1 else ''} ({how}); "
        f"each row is in {where} (simulation, batch {simulated.batch_id}).{_left(simulated)}"
        f"\n\nYes undoes batch {batch}; No changes nothing."
    ):
        workbook.notify(f"Nothing was changed: batch {batch} stands. The simulation is in {where}.")
        return simulated
    applied = undo_batch(batch, apply=True)
    where = workbook.write_log(log_from_report(applied, "Key"), UNDO_SHEET_NAME)
    rows, how = _changed(applied)
    workbook.notify(
        f"Batch {batch} undone (batch {applied.batch_id}): {how or 'nothing changed'}. See "
        f"{where}; to put batch {batch} back, select its Batch line and press Undo Batch again."
        f"{_left(applied)}"
    )
    return applied


# --- Year End ------------------------------------------------------------------------------

YEAR_END_KEY = "LOGONID / STUDENT_ID"
"""The year end's key column: an account's logon, or an account and a student for a link."""


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def _year_end_done(report: Report, *, would: bool = False) -> str:
    """What a year end removes and disables, in words: '3 links to students no longer ACTIVE
    removed, 2 accounts left with no ACTIVE student disabled (1 guardian, 1 student)'."""
    be = "would be " if would else ""
    disabled = report.counts["updated"]
    kinds = dict(report.extra).get("Accounts disabled")
    return (
        f"{_plural(report.counts['removed'], 'link')} to students no longer ACTIVE {be}removed, "
        f"{'and ' if would else ''}{_plural(disabled, 'account')} left with no ACTIVE student "
        f"{be}disabled" + (f" ({kinds}): their activation links stop working" if disabled else "")
    )


def _never_activated(report: Report) -> str:
    """The accounts a year end lists and leaves as they are, if any."""
    listed = report.counts["skipped"]
    if not listed:
        return ""
    days = report.options.get("not_activated_days")
    one = listed == 1
    return (
        f" {_plural(listed, 'account')} never activated {days} days after "
        f"{'it was' if one else 'they were'} made {'is' if one else 'are'} listed and left as "
        f"{'it is' if one else 'they are'}."
    )


def _year_end(engine: "Engine | Remote", progress: Progress) -> Callable[..., Report]:
    """``year_end`` on this database, or on the district server."""
    from addin.remote import Remote

    if isinstance(engine, Remote):
        from addin.remote_school_year import year_end as year_end_there

        return partial(year_end_there, engine)
    from backend.accounts.year_end import year_end

    return partial(year_end, engine, progress=progress)


def end_school_year(
    workbook: Workbook, engine: "Engine | Remote", *, progress: Progress | None = None, **_: Any
) -> Report:
    """Simulate the year end into the Year End sheet, ask with its counts, and on Yes apply
    what was simulated (asking again, with the rows, if the database changed since): one
    simulation batch, then one apply batch."""
    from backend.imports.reviewed import ChangedSinceReview, Review

    year_end = _year_end(engine, progress or no_progress)
    simulated = year_end()
    where = workbook.write_log(log_from_report(simulated, YEAR_END_KEY), YEAR_END_SHEET_NAME)
    if not simulated.counts["removed"] and not simulated.counts["updated"]:
        workbook.notify(
            "Nothing to do at the year end: no account is attached to a student who is no "
            f"longer ACTIVE.{_never_activated(simulated)} Nothing was changed (simulation, "
            f"batch {simulated.batch_id}; see {where})."
        )
        return simulated
    if not workbook.confirm(
        f"End the school year? {_year_end_done(simulated, would=True)}."
        f"{_never_activated(simulated)} Each row is in "
        f"{where} (simulation, batch {simulated.batch_id}).\n\nYes saves it; No changes nothing."
    ):
        workbook.notify(f"Nothing was changed. The simulation is in {where}.")
        return simulated
    review = Review(simulated.batch_id)
    try:
        applied = year_end(apply=True, review=review)
    except ChangedSinceReview as changed:
        if not workbook.confirm(f"{changed} Apply anyway?"):
            raise
        confirmed = replace(review, confirmed=True)
        applied = year_end(apply=True, review=confirmed)
    where = workbook.write_log(log_from_report(applied, YEAR_END_KEY), YEAR_END_SHEET_NAME)
    workbook.notify(
        f"Year end saved (batch {applied.batch_id}): {_year_end_done(applied)}. "
        f"See {where}; to take it back, select its Batch line and press Undo Batch."
    )
    return applied


SCHOOL_YEAR: dict[str, Callable[..., Any]] = {
    "coverage": coverage_book,
    "activation.send": send_activation_emails,
    "letters": print_letters,
    RENAME: rename_logon,
    MERGE: merge_logons,
    "batches.undo": undo_a_batch,
    "lifecycle.year-end": end_school_year,
}
"""The School Year group's actions: ``dispatch`` runs them with (workbook, engine, options)."""
