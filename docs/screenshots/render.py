"""Render the template sheets and an Import Log to the PNG screenshots in this folder.

Not part of the test suite: run it after changing a template or the log layout, look at the
PNGs, and commit them. Needs LibreOffice (``soffice``) and poppler-utils (``pdftoppm``,
``pdftotext``)::

    uv run python docs/screenshots/render.py
"""

import math
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import openpyxl
from openpyxl.styles import Alignment
from openpyxl.worksheet.worksheet import Worksheet

from addin.workbooks.result_sheet import LOG_SHEET_NAME
from addin.workbooks.templates import INSTRUCTIONS_SHEET, TEMPLATES, build_template

HERE = Path(__file__).resolve().parent
RESOLUTION = 60
MAX_BYTES = 150_000
MARGIN_POINTS = 24
LOG_ROWS_SHOWN = 24
DEMO_FOLDER = Path(tempfile.gettempdir()) / "ppdemo"
DEMO = "import sys; from addin.cli.app import main; main(sys.argv[1:])"  # `portal demo ...`


def soffice() -> str:
    found = shutil.which("soffice") or shutil.which("libreoffice")
    if found is None:
        sys.exit("LibreOffice (soffice) is needed to render the screenshots")
    return found


def to_pdf(source: Path, outdir: Path) -> Path:
    """The workbook printed to PDF by LibreOffice, with a profile of its own."""
    with tempfile.TemporaryDirectory(prefix="lo-profile-") as profile:
        subprocess.run(
            [
                soffice(),
                f"-env:UserInstallation={Path(profile).as_uri()}",
                "--headless",
                "--norestore",
                "--convert-to",
                "pdf",
                "--outdir",
                str(outdir),
                str(source),
            ],
            check=True,
            capture_output=True,
            timeout=300,
        )
    return outdir / f"{source.stem}.pdf"


def content_bottom(pdf: Path, page: int) -> float:
    """Where the page's last line of text ends, in points from the top (pdftotext -bbox)."""
    html = subprocess.run(
        ["pdftotext", "-bbox", "-f", str(page), "-l", str(page), str(pdf), "-"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return max(float(y) for y in re.findall(r'yMax="([0-9.]+)"', html))


def page_text(pdf: Path, page: int) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", "-f", str(page), "-l", str(page), str(pdf), "-"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def to_png(pdf: Path, page: int, dest: Path) -> Path:
    """One page of the PDF as a PNG at RESOLUTION dpi, cut off below its last line of text."""
    height = math.ceil((content_bottom(pdf, page) + MARGIN_POINTS) * RESOLUTION / 72)
    subprocess.run(
        [
            "pdftoppm",
            "-png",
            "-r",
            str(RESOLUTION),
            "-f",
            str(page),
            "-l",
            str(page),
            "-y",
            "0",
            "-H",
            str(height),
            "-W",
            "100000",
            "-singlefile",
            str(pdf),
            str(dest.with_suffix("")),
        ],
        check=True,
    )
    if dest.stat().st_size > MAX_BYTES:
        print(f"warning: {dest.name} is {dest.stat().st_size // 1000} KB", file=sys.stderr)
    return dest


def page_setup(sheet: Worksheet) -> None:
    """Landscape, one page wide: how a sheet is printed for its screenshot."""
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True


def only_sheet(source: Path, name: str, dest: Path) -> Path:
    """A copy of the workbook with one sheet left, printed landscape and one page wide."""
    book = openpyxl.load_workbook(source)
    for sheet in list(book.worksheets):
        if sheet.title != name:
            book.remove(sheet)
    page_setup(book[name])
    book.save(dest)
    return dest


def render_sheet(source: Path, sheet: str, dest: Path, work: Path) -> Path:
    copy = only_sheet(source, sheet, work / f"{dest.stem}.xlsx")
    return to_png(to_pdf(copy, work), 1, dest)


def shorten_log(path: Path) -> Path:
    """The log's first rows and its error rows, the long text columns wrapped: one page that
    shows every action's colour and can be read at screen resolution."""
    book = openpyxl.load_workbook(path)
    sheet = book[LOG_SHEET_NAME]
    header = next(r for r in range(1, sheet.max_row + 1) if sheet.cell(r, 1).value == "Row")
    for row in range(header + 1, sheet.max_row + 1):
        if row > header + LOG_ROWS_SHOWN and sheet.cell(row, 3).value != "error":
            sheet.row_dimensions[row].hidden = True
    sheet.column_dimensions["B"].width = 36
    wrapped = {"D": 40, "E": 46}
    for letter, width in wrapped.items():
        sheet.column_dimensions[letter].width = width
    for row in range(header + 1, sheet.max_row + 1):
        lines = 1
        for cell in sheet[row]:
            width = wrapped.get(cell.column_letter)
            cell.alignment = Alignment(wrap_text=width is not None, vertical="top")
            if width:
                lines = max(lines, math.ceil(len(str(cell.value or "")) / (width - 2)))
        sheet.row_dimensions[row].height = 13 * lines
    book.save(path)
    return path


def render_templates(folder: Path, work: Path) -> list[Path]:
    """Instructions and every input sheet of each template: <kind>-<sheet>.png."""
    made = []
    for kind, spec in TEMPLATES.items():
        template = build_template(kind, work / spec.file_name)
        sheets = [INSTRUCTIONS_SHEET, *(s.name for s in spec.sheets)]
        if spec.options:
            sheets.append("Options")
        for sheet in sheets:
            dest = folder / f"{kind}-{sheet.lower()}.png"
            made.append(render_sheet(template, sheet, dest, work))
    return made


def render_import_log(folder: Path, work: Path) -> Path:
    """The Import Log of the demo's applied users import, as a user sees it after a run.

    The demo runs once into DEMO_FOLDER; a result already there is reused.
    """
    result = DEMO_FOLDER / "users-import.applied.xlsx"
    if not result.is_file():
        subprocess.run(
            [sys.executable, "-c", DEMO, "demo", "--dir", str(DEMO_FOLDER)],
            check=True,
            capture_output=True,
        )
    dest = folder / "import-log.png"
    copy = shorten_log(only_sheet(result, LOG_SHEET_NAME, work / "import-log.xlsx"))
    pdf = to_pdf(copy, work)
    if "users import log" not in page_text(pdf, 1).casefold():
        sys.exit(f"page 1 of {pdf.name} is not the users import log")
    return to_png(pdf, 1, dest)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="screenshots-") as temp:
        work = Path(temp)
        for path in [*render_templates(HERE, work), render_import_log(HERE, work)]:
            print(f"{path.name}: {path.stat().st_size // 1000} KB")


if __name__ == "__main__":
    main()
