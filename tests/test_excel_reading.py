"""The ribbon reads a live book as the terminal reads the same workbook saved as a file.

Each workbook here is written twice with the same cells and number formats: as a real .xlsx
(XlsxWriter) for ``FileWorkbook``, and into the xlwings double for ``ExcelWorkbook``. Both must
give the same Import Log, with IDs formatted ``00000`` shown as Excel shows them and headers
spelt any way the import accepts.
"""

from pathlib import Path
from typing import Any

import pytest
import xlsxwriter
from helpers import read_log, run_cli
from sqlalchemy import Engine, text
from xlwings_double import FakeBook

from addin.excel.number_formats import FORMAT_READS_PER_COLUMN, show_padded_ids
from addin.excel.workbook import ExcelWorkbook
from addin.workbooks.actions import check, detect_kind, dispatch
from addin.workbooks.file import FileWorkbook
from backend.errors import InputError

Formats = dict[tuple[int, int, int, int], str]
"""Number formats by range, 1-based (top, left, bottom, right), later ones over earlier ones."""

# A users sheet not named as the template's, headers as the README spells them, and logons
# typed as numbers formatted to show leading zeros.
USERS = [
    ["Logon ID", "First Name", "Last Name", "Logon Type", "E-mail", "Phone Number"],
    [106.0, "Zoe", "Ng", "STUDENT", "zoe@example.org", None],
    ["ann@example.org", "Ann", "Lee", "Guardian", None, 5550100.0],
    [1234567.0, "Max", "Roe", "student", "max@example.org", None],
    [42.0, "Ida", "Fox", "STUDENT", "ida@example.org", None],
    ["00107", "Text", "Id", "STUDENT", "t@example.org", None],
]
USER_FORMATS: Formats = {(2, 1, 4, 1): "00000", (5, 1, 5, 1): "General", (6, 1, 6, 1): "@"}

# A links sheet whose student IDs mix formats within the column: the reading must split it.
LINKS = [
    ["logon-id", "Student Number", "Relationship", "Primary"],
    ["ann@example.org", 106.0, "Mother", "Y"],
    ["ann@example.org", 7.0, "Mother", "N"],
    ["ann@example.org", 77.0, "Mother", "N"],
    ["ann@example.org", 12.0, "Mother", "N"],
    ["ann@example.org", "00108", "Mother", "N"],
    ["ann@example.org", 99.0, "Mother", "N"],
]
LINK_FORMATS: Formats = {
    (2, 2, 3, 2): "00000",
    (4, 2, 4, 2): '"S"000000',
    (5, 2, 5, 2): "General",
    (6, 2, 6, 2): "@",
    (7, 2, 7, 2): "[<=99999]00000;General",
}


def write_file(path: Path, sheet: str, rows: list[list[Any]], formats: Formats) -> Path:
    """The rows as a real .xlsx, each cell with the last format given to a range holding it."""
    with xlsxwriter.Workbook(path) as workbook:
        worksheet = workbook.add_worksheet(sheet)
        styles: dict[str, Any] = {}
        for r, row in enumerate(rows, start=1):
            for c, value in enumerate(row, start=1):
                code = next(
                    (
                        f
                        for (r1, c1, r2, c2), f in reversed(formats.items())
                        if r1 <= r <= r2 and c1 <= c <= c2
                    ),
                    None,
                )
                style = None
                if code is not None:
                    style = styles.setdefault(code, workbook.add_format({"num_format": code}))
                if isinstance(value, str):
                    worksheet.write_string(r - 1, c - 1, value, style)
                elif value is not None:
                    worksheet.write_number(r - 1, c - 1, value, style)
    return path


def live_book(name: str, sheet: str, rows: list[list[Any]], formats: Formats) -> FakeBook:
    book = FakeBook(name, {sheet: rows})
    book.sheets[sheet].formats.update(formats)
    return book


def excel_log(book: FakeBook) -> list[list[Any]]:
    values = book.sheets["Import Log"].values()
    header = next(i for i, row in enumerate(values) if row and row[0] == "Row")
    return [row[:5] for row in values[header + 1 :] if any(v is not None for v in row)]


def file_log(path: Path) -> list[list[Any]]:
    return [[r.row, r.key, r.action, r.changes, r.reason] for r in read_log(path)[1]]


@pytest.mark.parametrize(
    ("action", "rows", "formats", "keys"),
    [
        (
            "users.simulate",
            USERS,
            USER_FORMATS,
            ["00106", "ann@example.org", "1234567", "42", "00107"],
        ),
        (
            "links.simulate",
            LINKS,
            LINK_FORMATS,
            [
                f"ann@example.org / {i}"
                for i in ("00106", "00007", "S000077", "12", "00108", "00099")
            ],
        ),
    ],
)
def test_the_ribbon_and_the_file_give_the_same_log(
    tmp_path: Path,
    engine: Engine,
    action: str,
    rows: list[list[Any]],
    formats: Formats,
    keys: list[str],
) -> None:
    path = write_file(tmp_path / "book.xlsx", "Sheet1", rows, formats)
    with FileWorkbook(path, out=tmp_path / "file-log.xlsx") as workbook:
        dispatch(action, workbook, engine)
    book = live_book("book.xlsx", "Sheet1", rows, formats)
    dispatch(action, ExcelWorkbook(book), engine)
    from_file, from_excel = file_log(tmp_path / "file-log.xlsx"), excel_log(book)
    assert from_excel == from_file
    assert [row[1] for row in from_excel] == keys


def test_the_ribbon_accepts_the_headers_the_terminal_accepts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_file(tmp_path / "parents.xlsx", "Sheet1", USERS, USER_FORMATS)
    url = f"sqlite:///{tmp_path / 'portal.sqlite'}"
    assert run_cli(capsys, "--db", url, "import", "users", str(path)).code == 0
    assert run_cli(capsys, "--db", url, "run", "users.check", str(path)).code == 0
    book = live_book("parents.xlsx", "Sheet1", USERS, USER_FORMATS)
    assert detect_kind(ExcelWorkbook(book)).kind == "users"
    with FileWorkbook(path) as workbook:
        assert detect_kind(workbook).kind == "users"
    assert check(ExcelWorkbook(book)).startswith("Headers are fine: 5 rows")


@pytest.mark.parametrize(
    ("headers", "kind"),
    [
        (["LOGONID", "FIRST_NAME", "LAST_NAME", "USER_TYPE"], "users"),
        (["Logon ID", "First Name", "Last Name", "Logon Type"], "users"),
        (["Username", "Given Name", "Surname", "Account Type"], "users"),
        (["Logon ID"], "users"),
        (["User Type"], "users"),
        (["Logon ID", "Student ID"], "links"),
        (["login", "student number", "relation", "primary"], "links"),
        (["STUDENT_ID"], "links"),
        (["Logon ID", "Student ID", "First Name"], "links"),  # links has all it needs
        (["Logon ID", "First Name", "Last Name", "Logon Type", "Student ID"], "users"),
    ],
)
def test_the_import_is_found_by_its_headers(headers: list[str], kind: str) -> None:
    book = FakeBook("any.xlsx", {"Data": [headers, ["x"] * len(headers)]})
    assert detect_kind(ExcelWorkbook(book)).kind == kind


def test_headers_no_import_knows_are_refused() -> None:
    book = FakeBook("any.xlsx", {"Data": [["Colour", "Size"], ["red", "L"]]})
    with pytest.raises(InputError, match="headers do not say which import"):
        detect_kind(ExcelWorkbook(book))


def test_a_ribbon_run_records_the_book_and_a_digest_of_its_rows(engine: Engine) -> None:
    book = live_book("parents.xlsx", "Sheet1", USERS, USER_FORMATS)
    workbook = ExcelWorkbook(book)
    dispatch("users.simulate", workbook, engine)
    dispatch("users.simulate", workbook, engine)
    book.sheets["Sheet1"].cells[(3, 2)] = "Annie"
    dispatch("users.simulate", workbook, engine)
    book.sheets["Sheet1"].formats[(2, 1, 2, 1)] = "General"  # 00106 now shows as 106
    dispatch("users.simulate", workbook, engine)
    with engine.connect() as connection:
        batches = connection.execute(
            text("SELECT source_name, source_sha256 FROM batches ORDER BY id")
        ).all()
    assert {name for name, _ in batches} == {"parents.xlsx"}
    digests = [digest for _, digest in batches]
    assert all(len(d) == 64 and int(d, 16) >= 0 for d in digests)
    assert digests[0] == digests[1] and len(set(digests)) == 3


def ids_book(rows: int, formats: Formats) -> FakeBook:
    sheet = [["LOGONID", "FIRST_NAME", "LAST_NAME", "USER_TYPE", "PHONE"]] + [
        [float(n), "A", "B", "STUDENT", 5550000.0 + n] for n in range(rows)
    ]
    return live_book("ids.xlsx", "Users", sheet, formats)


def test_calls_to_excel_do_not_grow_with_rows_of_formatted_ids(engine: Engine) -> None:
    def calls(rows: int) -> list[str]:
        book = ids_book(rows, {(2, 1, rows + 1, 1): "00000"})
        report = dispatch("users.simulate", ExcelWorkbook(book), engine)
        assert report.results[1].key == "00001"
        return book.calls.log

    few = calls(10)
    assert few == calls(10_000)
    assert few.count("Range.number_format get") == 4  # two number columns, read twice each


def test_a_column_of_mixed_formats_costs_a_bounded_number_of_reads(engine: Engine) -> None:
    def reads(rows: int) -> int:
        book = ids_book(rows, {(2, 1, rows // 2, 1): "00000", (rows - 2, 1, rows + 1, 1): "0"})
        report = dispatch("users.simulate", ExcelWorkbook(book), engine)
        keys = [r.key for r in report.results]
        assert keys[:3] == ["00000", "00001", "00002"] and keys[-1] == str(rows - 1)
        return book.calls.log.count("Range.number_format get")

    assert reads(10) <= reads(10_000) <= 4 * FORMAT_READS_PER_COLUMN


@pytest.mark.parametrize("codes", [("00000", "General"), ("0", "General")])
def test_a_column_changing_format_on_every_row_is_refused(codes: tuple[str, str]) -> None:
    cells: list[list[Any]] = [[float(n), "x"] for n in range(1000)]
    reads: list[tuple[int, int]] = []

    def format_of(first: int, last: int, column: int) -> str | None:
        reads.append((first, last))
        return codes[first % 2] if first == last else None

    with pytest.raises(InputError, match="Column A of this sheet changes number format too"):
        show_padded_ids(cells, format_of)
    assert len(reads) == FORMAT_READS_PER_COLUMN


def test_a_few_blocks_of_formats_are_read_cell_by_cell_as_excel_shows_them() -> None:
    cells: list[list[Any]] = [[float(n)] for n in range(1000)]
    blocks = {0: "00000", 150: "General", 400: "000000", 600: "@", 900: '"S"000'}

    def format_of(first: int, last: int, column: int) -> str | None:
        starts = [start for start in blocks if start <= first]
        block = max(starts)
        after = [start for start in blocks if start > block]
        return blocks[block] if not after or last < min(after) else None

    show_padded_ids(cells, format_of)
    assert cells[:2] == [["00000"], ["00001"]] and cells[150:152] == [[150.0], [151.0]]
    assert cells[400] == ["000400"] and cells[600] == [600.0] and cells[999] == ["S999"]


def test_only_whole_numbers_in_a_padding_format_change() -> None:
    cells: list[list[Any]] = [["ID"], [5.0], [2.5], [-3.0], ["007"], [None], [10.0**16]]
    show_padded_ids(cells, lambda first, last, column: "00000")
    assert cells == [["ID"], ["00005"], [2.5], [-3.0], ["007"], [None], [10.0**16]]
