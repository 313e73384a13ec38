"""`portal letters`: printed activation letters with one-time codes, simulation first."""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from addin.cli.activation import (
    BatchOption,
    LogonsOption,
    NotActivatedOption,
    SchoolOption,
)
from addin.cli.output import ApplyOption, engine, finish, out, progress_bar
from backend.errors import InputError

if TYPE_CHECKING:
    from backend.mail.letters import LetterChoice


def _checked(path: Path, suffix: str, option: str) -> Path:
    from addin.files.result_writer import check_destination

    if path.suffix.lower() != suffix:
        raise InputError(f"{option} must name a {suffix} file; {path.name} does not end in it")
    check_destination(path)
    return path


def letters_command(
    logon: LogonsOption = None,
    school: SchoolOption = None,
    batch: BatchOption = None,
    not_activated: NotActivatedOption = False,
    without_email: Annotated[
        bool,
        typer.Option(
            "--without-email",
            help="Only accounts with no email address (neither EMAIL nor a logon that is one).",
        ),
    ] = False,
    apply: ApplyOption = False,
    out_path: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="The workbook: with --apply, one row per letter for a mail merge, and the "
            "log (default letters.xlsx); without, the log (default letters.simulation.xlsx).",
        ),
    ] = None,
    pdf_path: Annotated[
        Path | None,
        typer.Option(
            "--pdf", help="With --apply, the letters to print, one page each (default letters.pdf)."
        ),
    ] = None,
) -> None:
    """Letters for parents without email: each gives the logon and a one-time activation code,
    typed on the portal's activation page. Without --apply, lists who would get a letter and
    makes no code. With --apply, makes the codes and writes the letters (PDF) and a mail-merge
    workbook; a new code replaces the account's unused links and codes."""
    from addin import remote_school_year
    from addin.remote import from_settings
    from addin.workbooks.file import write_run_log
    from addin.workbooks.result_sheet import log_from_report
    from backend.mail.activation_send import Choice
    from backend.mail.letters import LetterChoice, make_letters

    choice = LetterChoice(
        Choice(tuple(logon or ()), school, batch, not_activated), without_email=without_email
    )
    if not apply:
        dest = _checked(out_path or Path("letters.simulation.xlsx"), ".xlsx", "--out")
        remote = from_settings()
        if remote is not None:
            report = remote_school_year.make_letters(remote, choice)[0]
        else:
            with progress_bar() as progress:
                report = make_letters(engine(), choice, lambda _: {}, progress=progress)
        write_run_log(dest, log_from_report(report, "LOGONID"))
        finish(report, dest, told=("Warning",))
        return
    _apply(choice, out_path or Path("letters.xlsx"), pdf_path or Path("letters.pdf"))


def _apply(choice: "LetterChoice", dest: Path, pdf: Path) -> None:
    """Make the codes and write the files inside the batch's transaction, then add the log."""
    from addin import remote_school_year
    from addin.files.letters import make_letter_files
    from addin.remote import from_settings

    _checked(dest, ".xlsx", "--out")
    _checked(pdf, ".pdf", "--pdf")
    again = "run the same command again"
    remote = from_settings()
    if remote is not None:
        report = remote_school_year.make_letter_files(remote, choice, dest, pdf, again=again)
    else:
        with progress_bar() as progress:
            report = make_letter_files(engine(), choice, dest, pdf, again=again, progress=progress)
    made = dict(report.extra).get("Letters made", 0)
    try:
        finish(report, dest, told=("Warning",))
    finally:
        if made:
            out.print(
                f"{made} letters to print: {escape(str(pdf))}; for a mail merge: "
                f"{escape(str(dest))} (sheet Letters). The codes are in these two files only: "
                "keep them safe and delete them once the letters are sent.",
                highlight=False,
            )
