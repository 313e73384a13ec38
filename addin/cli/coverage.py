"""`portal coverage`: how many active students have a working guardian account, per school
and grade, and a workbook listing what to do for each student without one."""

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table as RichTable

from addin.cli.output import engine, out, shown
from backend.errors import InputError

SchoolOption = Annotated[
    str | None,
    typer.Option("--school", help="Only the students of the school with this code."),
]
OutOption = Annotated[
    Path | None,
    typer.Option(
        "--out",
        help="Also write a workbook (.xlsx): the summary, a chart per school and the students "
        "without a working account, with what to do for each.",
    ),
]


def coverage_command(school: SchoolOption = None, out_path: OutOption = None) -> None:
    """Per school and grade, the active students with and without a working guardian account.
    Each is counted once: with a working guardian account, with accounts never activated, with a
    contact who could get one, or with none. --out writes a workbook with a chart per school and
    what to do for each student without a working account."""
    from addin import remote_school_year
    from addin.files.result_writer import check_destination
    from addin.remote import from_settings
    from addin.workbooks.coverage_book import STATE_HEADERS, write_coverage_workbook
    from backend.accounts.coverage import STATES, coverage

    if out_path is not None:
        if out_path.suffix.lower() != ".xlsx":
            raise InputError(f"--out {out_path.name}: the workbook's name must end in .xlsx")
        check_destination(out_path)
    remote = from_settings()
    report = (
        coverage(engine(), school)
        if remote is None
        else remote_school_year.coverage(remote, school)
    )
    table = RichTable("School", "Grade", "Students", *STATE_HEADERS.values())
    for code, _name, grades in report.schools():
        for grade in grades:
            table.add_row(shown(code), shown(grade.grade), *_numbers(grade.counts, STATES))
        table.add_row(
            f"[bold]{shown(code)}[/]", "[bold]all[/]", *_numbers(report.total(grades), STATES)
        )
    if school is None:
        table.add_row("[bold]District[/]", "[bold]all[/]", *_numbers(report.total(), STATES))
    out.print(table)
    missing = len(report.uncovered)
    if out_path is not None:
        write_coverage_workbook(report, out_path, school)
        out.print(f"Workbook: {shown(out_path)}", highlight=False)
    elif missing:
        out.print(
            f"{missing} student{'s have' if missing > 1 else ' has'} no working account: add "
            "--out coverage.xlsx for the list and what to do for each.",
            highlight=False,
        )


def _numbers(counts: dict[str, int], states: tuple[str, ...]) -> list[str]:
    """Active students, then the count of each state."""
    return [str(sum(counts.values())), *(str(counts[state]) for state in states)]
