"""`portal autocreate`: accounts from students' guardian contacts, simulation first.

The command's flags are made from the fields of ``Options``: each field's description is its
help. On the terminal the students are given as a file, read into their IDs here.
"""

import inspect
from pathlib import Path
from typing import Annotated, Any

import typer

from addin.cli.output import (
    ApplyOption,
    engine,
    finish,
    progress_bar,
)
from backend.accounts.autocreate import OptionSpec, option_specs
from backend.errors import InputError

OutPathOption = Annotated[
    Path | None,
    typer.Option(
        "--out",
        help="Result workbook (default autocreate.simulation.xlsx or "
        "autocreate.applied.xlsx here).",
    ),
]


def _parameter(spec: OptionSpec) -> inspect.Parameter:
    """A terminal flag from an option: lists repeat (and take commas), switches get --no-."""
    annotation, default = spec.annotation, spec.default
    if spec.field == "students":
        annotation, default = Path | None, None  # a file of student IDs
    elif default == []:
        annotation, default = annotation | None, None
    names = [] if spec.flag == "--" + spec.field.replace("_", "-") else [spec.flag]
    return inspect.Parameter(
        spec.field,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        default=default,
        annotation=Annotated[annotation, typer.Option(*names, help=spec.help)],
    )


def autocreate_command(**values: Any) -> None:
    """AutoCreate: accounts from students' guardian contacts, simulation first."""
    from addin.files.result_writer import check_destination
    from addin.remote import from_settings
    from addin.workbooks.file import write_run_log
    from addin.workbooks.result_sheet import log_from_report
    from backend.accounts.autocreate import Options, autocreate

    apply: bool = values.pop("apply")
    out_path: Path | None = values.pop("out_path")
    students: Path | None = values.pop("students")
    dest = out_path or Path(f"autocreate.{'applied' if apply else 'simulation'}.xlsx")
    check_destination(dest)
    chosen = {name: value for name, value in values.items() if value is not None}
    options = Options(**chosen, students=read_student_ids(students) if students else [])
    remote = from_settings()
    if remote is not None:  # PORTAL_SERVER_URL: run on the district server
        report = remote.autocreate(options, apply=apply)
    else:
        with progress_bar() as progress:
            report = autocreate(engine(), options, apply=apply, progress=progress)
    write_run_log(dest, log_from_report(report, "STUDENT_ID / CONTACT_ID"))
    finish(report, dest, told=None)


autocreate_command.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [
        *(_parameter(spec) for spec in option_specs()),
        inspect.Parameter(
            "apply", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=False, annotation=ApplyOption
        ),
        inspect.Parameter(
            "out_path",
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            default=None,
            annotation=OutPathOption,
        ),
    ],
    return_annotation=None,
)


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
