"""The log of a run as plain values, so each workbook writer (file, live Excel) lays it out."""

from dataclasses import dataclass, field

from backend.imports.contract import Report, count_phrases, describe_changes, warnings_first

Cell = str | int | float | None

LOG_SHEET_NAME = "Import Log"
ACTIVATION_SHEET_NAME = "Activation"
"""Where Send Activation writes who gets an email and why the others do not."""
UNDO_SHEET_NAME = "Undo"
"""Where Undo Batch writes what the undo takes back, row by row, and what it leaves."""
YEAR_END_SHEET_NAME = "Year End"
"""Where Year End writes the links it removes, the accounts it disables and those it lists."""
LETTERS_SHEET_NAME = "Letters Log"
"""Where Letters writes who gets a letter and why the others do not (the mail-merge workbook's
own sheet is named Letters)."""

# Fill per row action (RGB): added green, updated yellow, removed orange, skipped grey, error red;
# a row of any action that carries a warning is lilac, to stand out from all of them.
ACTION_COLOURS: dict[str, str] = {
    "added": "C6EFCE",
    "updated": "FFEB9C",
    "removed": "F8CBAD",
    "skipped": "E7E6E6",
    "error": "FFC7CE",
    "warning": "D9C3E9",
}
WARNING_HEADER = "Warning"


@dataclass
class ResultSheet:
    """A title, a summary block of label/value pairs, then one table row per input row.

    ``actions[i]`` is the action of ``rows[i]`` (a key of ACTION_COLOURS), or "warning" when the
    row carries one, and picks its colour.
    """

    title: str
    summary: list[tuple[str, Cell]]
    columns: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    applied: bool = False  # the run saved its changes (a file result is named for it)


def log_from_report(report: Report, key_header: str, fingerprint: str | None = None) -> ResultSheet:
    """A backend report as the log a user reads: summary first, then one row per input row."""
    counts = report.tallies
    if report.mode == "apply":
        mode = "APPLIED: the changes below were saved"
    else:
        mode = "SIMULATION: nothing was saved; run it again with apply to save these changes"
    options = ", ".join(f"{k}: {v}" for k, v in report.options.items())
    summary: list[tuple[str, Cell]] = [
        ("Mode", mode),
        ("Run", f"{report.kind} ({options})" if options else report.kind),
        ("Batch", report.batch_id),
        ("Finished (UTC)", report.finished_at.strftime("%Y-%m-%d %H:%M:%S")),
        ("Source", report.source_name),
        ("Rows", len(report.results)),
        *((word.capitalize(), n) for _, n, word in count_phrases(counts)),
        *report.extra,
        *([("Rows fingerprint", fingerprint)] if fingerprint else []),
        *(
            (f"Email {n}", f"To: {to}\nSubject: {subject}\n\n{body}")
            for n, (to, subject, body) in enumerate(report.preview, start=1)
        ),
    ]
    results = warnings_first(report.results)
    columns = ["Row", key_header, "Action", "Changes (old -> new)", "Reason"]
    rows: list[list[Cell]] = [
        [r.row, r.key, r.action, describe_changes(r.changes), r.reason] for r in results
    ]
    if counts["warning"]:  # rows that need a person's eyes, listed first
        columns.append(WARNING_HEADER)
        rows = [[*row, r.warning] for r, row in zip(results, rows, strict=True)]
    if any(r.sheet for r in results):  # an import of several sheets or files
        columns.insert(0, "Sheet")
        rows = [[r.sheet, *row] for r, row in zip(results, rows, strict=True)]
    return ResultSheet(
        title=f"Parent Portal Accounts: {report.kind} log",
        summary=summary,
        columns=columns,
        rows=rows,
        actions=["warning" if r.warning else r.action for r in results],
        applied=report.mode == "apply",
    )
