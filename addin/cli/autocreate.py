"""`portal autocreate`: accounts from students' guardian contacts, simulation first."""

from pathlib import Path
from typing import Annotated

import typer

from addin.cli.output import (
    ApplyOption,
    engine,
    finish,
    out,
    progress_bar,
)
from backend.errors import InputError


def autocreate_command(
    school: Annotated[
        list[str] | None, typer.Option(help="Only students of this school (code); repeatable.")
    ] = None,
    grade: Annotated[
        list[str] | None, typer.Option(help="Only students in this grade; repeatable.")
    ] = None,
    students: Annotated[
        Path | None,
        typer.Option(
            help="Only these students: a workbook whose first column is STUDENT_ID, "
            "or a text file with one ID a line."
        ),
    ] = None,
    create_accounts: Annotated[
        bool, typer.Option(help="Create accounts for guardians whose email is no logon yet.")
    ] = True,
    attach_existing: Annotated[
        bool, typer.Option(help="Attach students to guardians' existing accounts.")
    ] = True,
    guardians_only: Annotated[
        bool, typer.Option(help="Only contacts flagged as guardians.")
    ] = True,
    portal_access_only: Annotated[
        bool, typer.Option(help="Only contacts whose portal access is allowed.")
    ] = True,
    max_priority: Annotated[
        int | None, typer.Option(help="Only contacts of this priority or better (1 = first).")
    ] = None,
    email_template: Annotated[
        str | None, typer.Option(help="Email each new account with this template.")
    ] = None,
    apply: ApplyOption = False,
    out_path: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Result workbook (default autocreate.simulation.xlsx or "
            "autocreate.applied.xlsx here).",
        ),
    ] = None,
) -> None:
    """AutoCreate: accounts from students' guardian contacts, simulation first."""
    from addin.workbooks.file import write_log_workbook
    from addin.workbooks.result_sheet import log_from_report
    from backend.accounts.autocreate import Options, autocreate, split_list

    options = Options(
        schools=split_list(school),
        grades=split_list(grade),
        students=read_student_ids(students) if students else [],
        create_accounts=create_accounts,
        attach_existing=attach_existing,
        guardians_only=guardians_only,
        portal_access_only=portal_access_only,
        max_priority=max_priority,
        email_template=email_template,
    )
    db = engine()
    with progress_bar() as progress:
        report = autocreate(db, options, apply=apply, progress=progress)
    dest = out_path or Path(f"autocreate.{'applied' if apply else 'simulation'}.xlsx")
    write_log_workbook(dest, log_from_report(report, "STUDENT_ID / CONTACT_ID"))
    for label, value in report.extra:
        out.print(f"{label}: {value}")
    finish(report, dest)


def read_student_ids(path: Path) -> list[str]:
    """Student IDs from a workbook's first column (under a header) or a text file's lines."""
    if path.suffix.lower() == ".xlsx":
        from addin.workbooks.file import read_table
        from backend.imports.contract import cell_text

        table, _ = read_table(path, preferred=("Students",))
        return [cell_text(cells[0]) or "" for _, cells in table.rows if cells]
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path.name} could not be read as a list of student IDs: {exc}") from None
    return [line.strip() for line in lines if line.strip() and line.strip() != "STUDENT_ID"]
