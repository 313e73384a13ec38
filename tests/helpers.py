"""Shared test helpers: write input workbooks, run the CLI, read a result's log sheet."""

import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import xlsxwriter
from factories import USER_HEADERS as USER_HEADERS
from sqlalchemy import text

from addin.cli.app import main
from addin.workbooks.result_sheet import LOG_SHEET_NAME
from backend.database.engine import make_engine
from backend.database.models import Base

SAMPLES_ENV = "PORTAL_SAMPLES_DIR"
"""Names the folder of the public OneRoster sample bundles, which are not in the repository."""
ONEROSTER_SAMPLES = Path(os.environ[SAMPLES_ENV]) if os.environ.get(SAMPLES_ENV) else None


def write_workbook(
    path: Path,
    headers: list[Any],
    rows: list[list[Any]],
    sheet: str = "Users",
    names: dict[str, str] | None = None,
) -> Path:
    """A real .xlsx; None leaves a cell empty, numbers stay numbers; ``names`` are defined
    names and their formulas (``{"PortalTemplate": '="users"'}`` makes it a template's)."""
    with xlsxwriter.Workbook(path) as workbook:
        for name, formula in (names or {}).items():
            workbook.define_name(name, formula)
        worksheet = workbook.add_worksheet(sheet)
        worksheet.write_row(0, 0, headers)
        for number, row in enumerate(rows, start=1):
            for column, value in enumerate(row):
                if isinstance(value, str):
                    worksheet.write_string(number, column, value)
                elif value is not None:
                    worksheet.write(number, column, value)
    return path


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> CliResult:
    """Run `portal ARGS` in this process, as a user would type it, with its exit code."""
    capsys.readouterr()
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    captured = capsys.readouterr()
    return CliResult(code, captured.out, captured.err)


@dataclass
class LogRow:
    row: int | None
    key: str | None
    action: str
    changes: str | None
    reason: str | None
    sheet: str | None = None
    warning: str | None = None


def emptied(url: str) -> str:
    """The database at ``url`` with every table of the portal emptied (a PostgreSQL database
    shared by a test session, fresh for one test)."""
    engine = make_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


def read_log(path: Path) -> tuple[dict[str, Any], list[LogRow]]:
    """The summary block (label -> value) and the table rows of a result's log sheet."""
    sheet = openpyxl.load_workbook(path)[LOG_SHEET_NAME]
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    header = next(i for i, row in enumerate(values) if row and row[0] in ("Row", "Sheet"))
    summary = {row[0]: row[1] for row in values[1:header] if row and row[0]}
    data = [row for row in values[header + 1 :] if any(v is not None for v in row)]
    said = values[header].index("Warning") if "Warning" in values[header] else None
    if values[header][0] == "Sheet":
        rows = [LogRow(*row[1:6], sheet=row[0]) for row in data]
    else:
        rows = [LogRow(*row[:5]) for row in data]
    if said is not None:
        for row, cells in zip(rows, data, strict=True):
            row.warning = cells[said]
    return summary, rows


def tiny_png() -> bytes:
    """A valid 1x1 PNG, so a workbook can carry a binary part."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\0\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )
