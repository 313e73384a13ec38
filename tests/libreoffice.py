"""LibreOffice (headless) as an independent reader of the workbooks we generate.

``convert`` turns a file into another format with ``soffice --convert-to``; ``ods_sheet`` reads a
sheet of the ``.ods`` it made. When LibreOffice is not installed the calling test is skipped, or
fails when ``CI=true`` (CI must run these checks).
"""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import NamedTuple
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
import pytest

TIMEOUT_SECONDS = 180.0


def soffice_path() -> str:
    """The LibreOffice executable; skips the test (fails it on CI) when there is none."""
    found = shutil.which("soffice") or shutil.which("libreoffice")
    if found is None:
        message = "LibreOffice (soffice) is not installed"
        if os.environ.get("CI") == "true":
            pytest.fail(message + "; CI must have it (apt-get install libreoffice-calc-nogui)")
        pytest.skip(message)
    return found


def convert(source: Path, fmt: str, outdir: Path, timeout: float = TIMEOUT_SECONDS) -> Path:
    """Convert ``source`` with LibreOffice to ``fmt`` (e.g. ``"ods"``, ``"csv"``) in ``outdir``.

    Each call uses a fresh user profile, so calls do not share state or wait on each other's
    profile lock. Returns the path of the converted file; fails the test if there is none.
    """
    soffice = soffice_path()
    outdir.mkdir(parents=True, exist_ok=True)
    extension = fmt.split(":", 1)[0]
    expected = outdir / f"{source.stem}.{extension}"
    with tempfile.TemporaryDirectory(prefix="lo-profile-") as profile:
        command = [
            soffice,
            f"-env:UserInstallation={Path(profile).as_uri()}",
            "--headless",
            "--norestore",
            "--nologo",
            "--convert-to",
            fmt,
            "--outdir",
            str(outdir),
            str(source),
        ]
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=sys.platform != "win32",
        )
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(process)
            process.communicate()
            pytest.fail(f"LibreOffice did not convert {source.name} within {timeout:.0f} s")
    if process.returncode != 0 or not expected.is_file():
        pytest.fail(
            f"LibreOffice could not convert {source.name} to {fmt} "
            f"(exit {process.returncode}):\n{stdout}\n{stderr}"
        )
    return expected


def _kill(process: subprocess.Popen[str]) -> None:
    """Stop the process we started and the helpers it spawned (its own process group)."""
    if sys.platform == "win32":
        process.kill()
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


_TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
_TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
_OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"


class OdsCell(NamedTuple):
    """A cell as LibreOffice saved it: its shown text, value type and formula (if any)."""

    text: str
    value_type: str | None
    formula: str | None


def ods_sheet(path: Path, sheet_name: str) -> list[list[OdsCell]]:
    """The cells of one sheet of an ``.ods`` file, row by row, without trailing empties."""
    with zipfile.ZipFile(path) as package, package.open("content.xml") as content:
        root = SafeET.parse(content).getroot()
    for table in root.iter(f"{{{_TABLE}}}table"):
        if table.get(f"{{{_TABLE}}}name") == sheet_name:
            break
    else:
        raise AssertionError(f"{path.name} has no sheet named {sheet_name!r}")
    rows: list[list[OdsCell]] = []
    pending_empty = 0
    for row in table.iter(f"{{{_TABLE}}}table-row"):
        cells: list[OdsCell] = []
        for cell in row:
            if cell.tag not in (f"{{{_TABLE}}}table-cell", f"{{{_TABLE}}}covered-table-cell"):
                continue
            repeat = int(cell.get(f"{{{_TABLE}}}number-columns-repeated", "1"))
            value = OdsCell(
                "\n".join(_paragraph_text(p) for p in cell.iter(f"{{{_TEXT}}}p")),
                cell.get(f"{{{_OFFICE}}}value-type"),
                cell.get(f"{{{_TABLE}}}formula"),
            )
            cells.extend([value] * min(repeat, 1024))
        while cells and cells[-1] == OdsCell("", None, None):
            cells.pop()
        repeat = int(row.get(f"{{{_TABLE}}}number-rows-repeated", "1"))
        if not cells:
            pending_empty += repeat
            continue
        rows.extend([] for _ in range(pending_empty))
        pending_empty = 0
        rows.extend(list(cells) for _ in range(repeat))
    return rows


def _paragraph_text(element: Element) -> str:
    """Text of a ``text:p``, with its space, tab and line-break elements spelled out."""
    parts = [element.text or ""]
    for child in element:
        if child.tag == f"{{{_TEXT}}}s":
            parts.append(" " * int(child.get(f"{{{_TEXT}}}c", "1")))
        elif child.tag == f"{{{_TEXT}}}tab":
            parts.append("\t")
        elif child.tag == f"{{{_TEXT}}}line-break":
            parts.append("\n")
        else:
            parts.append(_paragraph_text(child))
        parts.append(child.tail or "")
    return "".join(parts)
