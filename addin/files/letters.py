"""The files of a run of activation letters: a mail-merge workbook and a PDF, one page a letter.

The PDF embeds DejaVu Sans (``fonts/``), so names in Latin, Greek or Cyrillic letters print as
typed. A character the font does not have is printed as '?' and the letter gets a warning
naming it, to be written in by hand: a letter never goes out silently wrong.
"""

import secrets
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import xlsxwriter
from fpdf import FPDF
from sqlalchemy import Engine

from addin.files.result_writer import check_destination, write_result_workbook
from addin.workbooks.result_sheet import log_from_report
from backend.errors import InputError, ResultNotWritten
from backend.imports.contract import Progress, Report, no_progress
from backend.mail.letters import Letter, LetterChoice, make_letters
from backend.settings import get_settings

FONTS = Path(__file__).with_name("fonts")
FAMILY = "DejaVu"
LETTERS_SHEET = "Letters"
COLUMNS = (
    "LOGONID",
    "FIRST_NAME",
    "LAST_NAME",
    "ADDRESS_LINE_1",
    "ADDRESS_LINE_2",
    "CITY",
    "STATE",
    "POSTAL_CODE",
    "LANGUAGE",
    "STUDENTS",
    "STUDENT_IDS",
    "ACTIVATION_CODE",
    "CODE_EXPIRES",
    "ACTIVATION_ADDRESS",
)
"""The mail-merge columns. The roster holds no postal address, so the address columns are
left empty, for the office to fill from the student information system (STUDENT_IDS helps)."""
ADDRESS_COLUMNS = 5


def _students(letter: Letter) -> str:
    return ", ".join(f"{s['first_name']} {s['last_name']}" for s in letter.students)


def _student_ids(letter: Letter) -> str:
    return ", ".join(str(s.get("student_id") or "") for s in letter.students)


def letter_row(letter: Letter, address: str) -> list[str]:
    """One letter as a row of the mail-merge sheet, in the order of ``COLUMNS``."""
    return [
        letter.logon_id,
        letter.first_name,
        letter.last_name,
        *[""] * ADDRESS_COLUMNS,
        letter.language,
        _students(letter),
        _student_ids(letter),
        letter.code,
        letter.expires.isoformat(),
        address,
    ]


def write_letters_workbook(dest: Path, letters: Sequence[Letter], address: str) -> Path:
    """The mail-merge workbook: one row a letter, every cell text (a name is never a formula)."""
    with xlsxwriter.Workbook(dest, {"strings_to_formulas": False}) as workbook:
        sheet = workbook.add_worksheet(LETTERS_SHEET)
        bold = workbook.add_format({"bold": True})
        text = workbook.add_format({"num_format": "@"})
        sheet.write_row(0, 0, COLUMNS, bold)
        for number, letter in enumerate(letters, start=1):
            for column, value in enumerate(letter_row(letter, address)):
                if value:
                    sheet.write_string(number, column, value, text)
                else:
                    sheet.write_blank(number, column, None, text)
        sheet.set_column(0, len(COLUMNS) - 1, 18)
        sheet.freeze_panes(1, 0)
        if letters:
            sheet.autofilter(0, 0, len(letters), len(COLUMNS) - 1)
    return dest


class _LetterPdf(FPDF):
    def __init__(self) -> None:
        super().__init__(format="letter", unit="mm")
        self.set_margins(25, 20, 25)
        self.set_auto_page_break(auto=True, margin=20)
        self.add_font(FAMILY, "", str(FONTS / "DejaVuSans.ttf"))
        self.add_font(FAMILY, "B", str(FONTS / "DejaVuSans-Bold.ttf"))
        self.set_title("Parent portal activation letters")
        self.set_creator("Parent Portal Accounts")
        font: Any = self.fonts[FAMILY.lower()]
        self.printable: frozenset[int] = frozenset(font.cmap)
        self.widths: dict[tuple[str, float, str], float] = {}

    def width_of(self, text: str) -> float:
        """``text``'s width at the current font, remembered: letters repeat the same words."""
        key = (self.font_style, self.font_size_pt, text)
        if key not in self.widths:
            self.widths[key] = self.get_string_width(text)
        return self.widths[key]

    def wrapped(self, text: str) -> list[str]:
        """``text`` broken into lines that fit the page at the current font, at spaces where
        possible (fpdf's own ``multi_cell`` measures each line again for every character)."""
        space = self.width_of(" ")
        lines: list[tuple[str, float]] = []
        line, used = "", 0.0
        for word in text.split(" "):
            width = self.width_of(word)
            if not line or used + space + width <= self.epw:
                line, used = (f"{line} {word}", used + space + width) if line else (word, width)
                continue
            lines.append((line, used))
            line, used = word, width
        lines.append((line, used))
        return [part for line, used in lines for part in self.cut(line, used)]

    def cut(self, line: str, width: float) -> list[str]:
        """A line no wider than the page, or a word wider than it cut in pieces that fit."""
        if width <= self.epw:
            return [line]
        parts = []
        while len(line) > 1 and self.get_string_width(line) > self.epw:
            fits = max(
                (n for n in range(1, len(line)) if self.get_string_width(line[:n]) <= self.epw),
                default=1,
            )
            parts.append(line[:fits])
            line = line[fits:]
        return [*parts, line]

    def paragraph(self, text: str, height: float) -> None:
        """``text`` written from the left margin, wrapped, each line ``height`` high."""
        for line in self.wrapped(text):
            self.cell(0, height, line, new_x="LMARGIN", new_y="NEXT")

    def printed(self, text: str) -> tuple[str, list[str]]:
        """``text`` with the characters the font lacks as '?', and those characters."""
        missing = [c for c in text if ord(c) not in self.printable and c not in "\n\t"]
        return "".join("?" if c in missing else c for c in text), missing


def _draw(pdf: _LetterPdf, letter: Letter, today: date) -> list[str]:
    """One page; return the characters it could not print."""
    pdf.add_page()
    pdf.set_font(FAMILY, size=9)
    pdf.set_text_color(90, 90, 90)
    schools = ", ".join(dict.fromkeys(s["school"] for s in letter.students if s.get("school")))
    header, missing = pdf.printed(schools or "Parent portal")
    pdf.cell(0, 5, header, new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 5, today.isoformat(), new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    pdf.set_y(50)  # where a window envelope shows the name
    pdf.set_font(FAMILY, size=12)
    name, lost = pdf.printed(f"{letter.first_name} {letter.last_name}")
    missing += lost
    pdf.cell(0, 6, name, new_x="LMARGIN", new_y="NEXT")
    pdf.set_y(85)
    pdf.set_font(FAMILY, "B", 14)
    heading, lost = pdf.printed(letter.heading)
    missing += lost
    pdf.paragraph(heading, 7)
    pdf.ln(4)
    for line in letter.text.splitlines():
        shown, lost = pdf.printed(line)
        missing += lost
        key = bool(letter.code) and (letter.code in line or letter.logon_id in line)
        pdf.set_font(FAMILY, "B" if key else "", 13 if key else 11)
        pdf.paragraph(shown, 7 if key else 5.5)
    return missing


def write_letters_pdf(dest: Path, letters: Sequence[Letter], today: date) -> Mapping[int, str]:
    """The PDF, one page a letter; return a warning by account for a letter with characters
    the font cannot print."""
    pdf = _LetterPdf()
    warnings: dict[int, str] = {}
    for letter in letters:
        missing = _draw(pdf, letter, today)
        if missing:
            names = " ".join(dict.fromkeys(missing))
            warnings[letter.user_id] = (
                f"The letter's font cannot print {names}: printed as '?'; "
                "write it in by hand before sending the letter."
            )
    pdf.output(str(dest))
    return warnings


def make_letter_files(
    engine: Engine,
    choice: LetterChoice,
    dest: Path,
    pdf: Path,
    *,
    again: str,
    progress: Progress = no_progress,
) -> Report:
    """Make the chosen accounts' codes and write their letters: the PDF ``pdf`` and the
    mail-merge workbook ``dest``, which also holds the run's log.

    Both are written beside their places inside the batch's transaction, so no code is saved
    that is in no file, and moved in place once the codes are saved. ``again`` says how to run
    it once more (a command, a button) in the message of a failure after the codes were saved.
    """
    check_destination(dest)
    check_destination(pdf)
    drafts = _drafts(dest, pdf)
    address = get_settings().activation_url
    try:
        report = make_letters(
            engine,
            choice,
            lambda letters: _write_drafts(drafts, letters, address),
            apply=True,
            progress=progress,
        )
    except BaseException as exc:
        _discard(drafts)  # their codes were never saved
        if isinstance(exc, OSError):
            raise InputError(
                f"The letters could not be written ({exc.strerror or type(exc).__name__}): "
                "nothing was saved and no code was made; make room, or choose another folder, "
                f"and {again}."
            ) from exc
        raise
    _place(report, drafts, dest, pdf, again)
    return report


def write_made_letters(
    report: Report, letters: Sequence[Letter], address: str, dest: Path, pdf: Path, *, again: str
) -> Report:
    """The letters the district server made (their codes saved there) written here, as
    ``make_letter_files`` writes them, each font warning on its account's row."""
    drafts = _drafts(dest, pdf)
    try:
        warnings = _write_drafts(drafts, letters, address)
    except OSError as exc:
        _discard(drafts)
        raise _not_written(report, dest, pdf, exc.strerror or type(exc).__name__, again) from exc
    rows = {r.key: r for r in report.results if r.action == "added"}
    for letter in letters:
        if letter.user_id in warnings and letter.logon_id in rows:
            rows[letter.logon_id].warning = warnings[letter.user_id]
    _place(report, drafts, dest, pdf, again)
    return report


def _drafts(dest: Path, pdf: Path) -> tuple[Path, Path]:
    """Where the files are written first, beside their places."""
    mark = secrets.token_hex(4)
    return dest.with_name(f".{dest.stem}.{mark}.xlsx"), pdf.with_name(f".{pdf.stem}.{mark}.pdf")


def _write_drafts(
    drafts: tuple[Path, Path], letters: Sequence[Letter], address: str
) -> dict[int, str]:
    write_letters_workbook(drafts[0], letters, address)
    return dict(write_letters_pdf(drafts[1], letters, date.today())) if letters else {}


def _discard(drafts: tuple[Path, Path]) -> None:
    for path in drafts:
        path.unlink(missing_ok=True)


def _not_written(report: Report, dest: Path, pdf: Path, reason: str, again: str) -> Exception:
    return ResultNotWritten(
        f"The codes were saved as batch {report.batch_id}, but the letters could not all "
        f"be written to {pdf} and {dest} ({reason}): {again}; its new codes replace these."
    )


def _place(report: Report, drafts: tuple[Path, Path], dest: Path, pdf: Path, again: str) -> None:
    """The drafts moved in place, the log added to the workbook."""
    try:
        if drafts[1].exists():
            drafts[1].replace(pdf)
        write_result_workbook(drafts[0], dest, log_from_report(report, "LOGONID"))
    except (InputError, OSError) as exc:
        reason = (exc.strerror or type(exc).__name__) if isinstance(exc, OSError) else str(exc)
        raise _not_written(report, dest, pdf, reason, again) from exc
    finally:
        _discard(drafts)
