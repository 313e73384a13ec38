"""The actions behind the ribbon buttons, written once against ``Workbook``.

``dispatch(action, workbook, engine)`` runs one of ``RIBBON_ACTIONS`` on a live Excel book or on
a file: check headers, simulate, apply (refusing a sheet changed since its simulation unless the
user confirms), look up, start a new workbook from a template, or one of the School Year
actions (``school_year.SCHOOL_YEAR``).
"""

from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from typing import Any

from sqlalchemy import Engine

from addin.remote import Remote, remote_kinds
from addin.workbooks.autocreate_options import SIMULATION
from addin.workbooks.interface import (
    FINGERPRINT_LABEL,
    Workbook,
    find_sheet,
    fingerprint,
    table_from_grid,
)
from addin.workbooks.kinds import KINDS, ImportKind, Tables
from addin.workbooks.result_sheet import ResultSheet, log_from_report
from addin.workbooks.school_year import CARD_FIX, CARD_SHEET, CARD_STUDENT, SCHOOL_YEAR, fix_text
from addin.workbooks.template_marks import TEMPLATE_NAME, template_kind
from backend.errors import HeaderError, InputError, NotFoundError
from backend.imports.contract import (
    Column,
    InputTable,
    Progress,
    Report,
    cell_text,
    column_of,
    counts_text,
    ignored_columns,
    match_headers,
)
from backend.imports.reviewed import ChangedSinceReview, Review


def detect_kind(workbook: Workbook) -> ImportKind:
    """The template's marker, or failing that, what the sheets and headers say.

    Headers are read as every import reads them (``match_headers``: any capitals, spaces,
    dashes or underscores, and the columns' other names), so a sheet the terminal's import
    accepts is recognised here too, whatever the sheet is called.
    """
    marked = template_kind(workbook.defined_name(TEMPLATE_NAME))
    if marked in KINDS:
        return KINDS[marked]
    names = {name.casefold() for name in workbook.sheet_names()}
    if "options" in names:
        return KINDS["autocreate"]
    if {"students", "contacts"} & names:
        return KINDS["roster"]
    header_rows: dict[str, list[Any]] = {}
    fits: list[tuple[tuple[bool, bool, int, int], ImportKind]] = []
    for order, key in enumerate(BY_HEADERS):
        kind = KINDS[key]
        sheet = find_sheet(workbook, None, preferred_sheets(kind))
        if sheet not in header_rows:
            header_rows[sheet] = _header_row(workbook, sheet)
        [columns] = kind.sheets.values()
        fits.append(((*header_fit(header_rows[sheet], columns), -order), kind))
    (_, _, known, _), best = max(fits, key=lambda fit: fit[0])
    if known:
        return best
    raise InputError(
        f"{workbook.name} is not one of the Parent Portal templates and its headers do not say "
        "which import it is for; start from a template (New Template on the ribbon)"
    )


BY_HEADERS = ("users", "links")
"""The one-sheet imports told apart by their headers; on a tie, the first."""


def header_fit(headers: Sequence[Any], columns: Sequence[Column]) -> tuple[bool, bool, int]:
    """How well a header row suits an import: whether the import accepts it as it is, whether
    the import's required columns are all there, and how many of the headers it knows."""
    try:
        match_headers(InputTable(headers=list(headers), rows=[]), columns)
        accepted = True
    except HeaderError:
        accepted = False
    known = {found.name for header in headers if (found := column_of(header, columns))}
    required = {column.name for column in columns if column.required}
    return accepted, required <= known, len(known)


def preferred_sheets(kind: ImportKind) -> tuple[str, ...]:
    """The sheet names a one-sheet import looks for before taking the first input sheet."""
    [name] = kind.sheets
    return (name, "Student Links") if name == "Links" else (name,)


def _header_row(workbook: Workbook, sheet: str) -> list[Any]:
    grid = workbook.grid(sheet)
    return next((row for row in grid if any(cell_text(v) for v in row)), [])


def read_tables(workbook: Workbook, kind: ImportKind, sheet: str | None = None) -> Tables:
    """The kind's input sheets as Tables; one-sheet kinds fall back to the first input sheet."""
    if kind.single:
        [name] = kind.sheets
        found = find_sheet(workbook, sheet, preferred_sheets(kind))
        return {name: table_from_grid(workbook, found, single=True)}
    present = {name.casefold(): name for name in workbook.sheet_names()}
    tables = {}
    for name in kind.sheets:
        if name.casefold() not in present:
            continue
        try:
            tables[name] = table_from_grid(workbook, present[name.casefold()])
        except InputError:
            if name not in kind.may_be_empty:
                raise
            # An empty sheet still says something: a roster's empty Schools sheet means no
            # new school, so a student's unknown school code is a mistake, not a new school.
            tables[name] = InputTable(
                [column.name for column in kind.sheets[name]],
                [],
                sheet=name,
                source_name=workbook.name,
                source_sha256=workbook.sha256(),
            )
    if not any(tables[name].rows for name in kind.needs_one_of if name in tables):
        raise InputError(
            f"{workbook.name} has no {' or '.join(kind.needs_one_of)} sheet; a {kind.title} "
            f"workbook has sheets named {', '.join(kind.sheets)}"
        )
    return tables


def check(workbook: Workbook, kind: ImportKind | None = None) -> str:
    """Check every input sheet's headers; raise one HeaderError naming every fault."""
    kind = kind or detect_kind(workbook)
    tables = read_tables(workbook, kind)
    problems = []
    for name, table in tables.items():
        try:
            match_headers(table, kind.sheets[name])
        except HeaderError as exc:
            problems.append(str(exc))
    if problems:
        raise HeaderError(" ".join(problems))
    rows = sum(len(t.rows) for t in tables.values())
    message = f"Headers are fine: {rows} rows ready for the {kind.title}."
    for label, ignored in ignored_columns(tables.values()):
        message += f" {label} (no import uses them): {ignored}."
    message += " Run Simulate next."
    workbook.notify(message)
    return message


def run_import(
    workbook: Workbook,
    engine: Engine | None,  # None: ``kind`` runs on a district server (addin.remote)
    *,
    apply: bool,
    kind: ImportKind | None = None,
    sheet: str | None = None,
    progress: Progress | None = None,
    review: Review | None = None,
    **options: Any,
) -> Report:
    """Simulate or apply the workbook's import and write its log into the workbook.

    The terminal's ``portal import`` gives the ``review`` itself. Otherwise (the ribbon,
    ``portal run``) an apply follows the simulation whose log the workbook holds: a sheet
    changed since then, or never simulated, is imported only if the user confirms, and so is
    one whose rows would now be done differently (the database changed in between).
    """
    kind = kind or detect_kind(workbook)
    tables = read_tables(workbook, kind, sheet)
    rows = fingerprint(reviewed_tables(tables))
    if apply and review is None:
        review = _reviewed_simulation(workbook, rows)
    report = _run(kind, engine, tables, apply, progress, review, options, workbook)
    where = workbook.write_log(log_from_report(report, kind.key_header, rows))
    workbook.notify(
        f"{'Imported' if apply else 'Simulation (nothing saved)'}: "
        f"{counts_text(report.tallies)}. Log: {where}"
    )
    return report


def _reviewed_simulation(workbook: Workbook, rows: str) -> Review:
    """The simulation an apply of this workbook follows, as its log says; a sheet changed
    since then, or never simulated, only with the user's go-ahead."""
    simulated = workbook.previous_summary()
    batch = (
        simulated.get("Batch") if str(simulated.get("Mode", "")).startswith("SIMULATION") else None
    )
    if simulated.get(FINGERPRINT_LABEL) == rows and batch is not None:
        return Review(int(batch))
    if not workbook.confirm(
        "This sheet has changed since it was last simulated (or was never simulated). "
        "Import it anyway?"
    ):
        raise InputError(
            "Nothing was imported: the sheet has changed since its last simulation. "
            "Run Simulate and review the log first (or confirm to import anyway)"
        )
    return Review(None, confirmed=True)


def _run(
    kind: ImportKind,
    engine: Engine | None,
    tables: Tables,
    apply: bool,
    progress: Progress | None,
    review: Review | None,
    options: dict[str, Any],
    workbook: Workbook,
) -> Report:
    """Run the import; an apply whose rows now differ from the reviewed simulation runs only
    once the user confirms, having seen which rows differ."""
    run = partial(kind.run, engine, tables, apply=apply, progress=progress or (lambda *_: None))
    try:
        return run(review=review, **options)
    except ChangedSinceReview as changed:
        if review is None or review.confirmed or not workbook.confirm(f"{changed} Apply anyway?"):
            raise
        return run(review=replace(review, confirmed=True), **options)


def reviewed_tables(tables: Tables) -> list[InputTable]:
    """The tables as a simulation's review covers them: AutoCreate's SIMULATION switch, which
    staff flip from Y to N to apply, is no change to what was reviewed."""
    found = []
    for name, table in tables.items():
        if name == "Options":
            kept = [
                (n, cells)
                for n, cells in table.rows
                if not cells or (cell_text(cells[0]) or "").upper() != SIMULATION.name
            ]
            table = replace(table, rows=kept)
        found.append(table)
    return found


def lookup_sheet(engine: Engine | Remote, value: str) -> ResultSheet:
    """A student's contact card, or an account and its students, as a sheet."""
    value = value.strip()
    contact_card, get_account = _finders(engine)
    try:
        card = contact_card(value)
    except NotFoundError:
        card = None
    if card is not None:
        return ResultSheet(
            title=f"Contact card of {card.student_id} {card.first_name} {card.last_name}",
            summary=[
                (CARD_STUDENT, card.student_id),
                ("Grade", card.grade),
                ("School", card.school),
                ("Logons attached", ", ".join(a.logon_id for a in card.logons) or "none"),
            ],
            columns=["Contact", "Name", "Relationship", "Email", "Status", "Account", CARD_FIX],
            rows=[
                [
                    e.contact_id,
                    f"{e.first_name} {e.last_name}",
                    e.relationship,
                    e.email,
                    e.status,
                    e.account or ", ".join(e.other_logons),
                    fix_text(e.suggestion),
                ]
                for e in card.entries
            ],
            actions=[STATUS_ACTIONS.get(e.status, "") for e in card.entries],
        )
    try:
        account = get_account(value)
    except NotFoundError:
        raise NotFoundError(f"'{value}' is neither a student ID nor a logon ID") from None
    return ResultSheet(
        title=f"Account {account.logon_id}",
        summary=[
            ("Type", account.user_type),
            ("Name", f"{account.first_name} {account.last_name}"),
            ("Status", account.status),
            ("Email", account.email),
        ],
        columns=["Student ID", "Name", "Grade", "School", "Relationship"],
        rows=[
            [s.student_id, f"{s.first_name} {s.last_name}", s.grade, s.school, s.relationship]
            for s in account.students
        ],
        actions=["added"] * len(account.students),
    )


# Card statuses coloured like log actions: green has, grey nothing to do, red needs a fix.
STATUS_ACTIONS = {
    "has account": "added",
    "can create": "updated",
    "logon differs": "error",
    "no email": "skipped",
}


def _finders(engine: Engine | Remote) -> tuple[Callable[[str], Any], Callable[[str], Any]]:
    """The contact card and the account of a value, looked up here or on the district server."""
    if isinstance(engine, Remote):
        from addin import remote_records

        return partial(remote_records.contact_card, engine), partial(
            remote_records.get_account, engine
        )
    from backend.accounts.contact_card import contact_card
    from backend.accounts.single import get_account

    return partial(contact_card, engine), partial(get_account, engine)


def lookup(workbook: Workbook, engine: Engine | Remote, value: str) -> ResultSheet:
    sheet = lookup_sheet(engine, value)
    where = workbook.write_log(sheet, CARD_SHEET)
    workbook.notify(f"{sheet.title}: see {where}")
    return sheet


def new_from_template(workbook: Workbook, kind: str | None = None) -> str:
    """A fresh copy of a template: of the given kind, else of this workbook's kind, else users."""
    from addin.workbooks.templates import build_template

    if kind is None:
        try:
            kind = detect_kind(workbook).kind
        except InputError:
            kind = "users"
    where = workbook.open_new(kind, lambda path: build_template(kind, path))
    workbook.notify(f"New {kind} workbook: {where}")
    return where


def dispatch(action: str, workbook: Workbook, engine: Engine | Remote, **options: Any) -> Any:
    """Run one ribbon action; ``options`` are the terminal's extras (mode, schools, kind...).

    ``engine`` a ``Remote`` (PORTAL_SERVER_URL set): every action runs on the district server."""
    if action == "lookup":
        value = options.get("value") or workbook.selected_value()
        if not value:
            raise InputError("Select a cell holding a STUDENT_ID or a LOGONID, then Look Up")
        return lookup(workbook, engine, str(value))
    if action == "template.new":
        return new_from_template(workbook, options.get("kind"))
    if action in SCHOOL_YEAR:
        return SCHOOL_YEAR[action](workbook, engine, **options)
    kind_name, _, verb = action.partition(".")
    if kind_name not in KINDS or verb not in ("check", "simulate", "apply"):
        raise InputError(
            f"'{action}' is not an action here; the actions are: " + ", ".join(ACTIONS)
        )
    kinds = remote_kinds(engine) if isinstance(engine, Remote) else KINDS
    kind = kinds[kind_name]
    found = detect_kind(workbook)
    if found.kind != kind.kind:
        raise InputError(
            f"{workbook.name} holds a {found.title}, not a {kind.title}; "
            f"use the {found.title.split()[0]} buttons"
        )
    if verb == "check":
        return check(workbook, kind)
    extras = {k: v for k, v in options.items() if k in ("mode", "schools", "sheet", "progress")}
    local = None if isinstance(engine, Remote) else engine
    return run_import(workbook, local, apply=verb == "apply", kind=kind, **extras)


ACTIONS = (
    *(f"{k}.{v}" for k in KINDS for v in ("check", "simulate", "apply")),
    "lookup",
    "template.new",
)
