"""Write a copy of the user's ``.xlsx`` workbook with the run's log as one more sheet.

A log longer than a sheet goes on over further sheets, "Import Log (2)", "Import Log (3)", ...,
each with the table's header row; the first sheet's summary names them. The rows are read once,
as they are written, so a run of millions of rows never sits in memory.

The copy is made at the zip / XML level: every part of the source is copied as is, and only the
few small parts that must know about the new sheet (workbook, its relationships, content types,
styles) are edited as text. Loading and saving through openpyxl would take many seconds on a large
workbook and silently drop what it does not understand (images, extensions, ...).
"""

import contextlib
import math
import os
import posixpath
import re
import secrets
import shutil
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import IO, BinaryIO, NamedTuple

from addin.files import opc
from addin.workbooks.interface import column_letter
from addin.workbooks.result_sheet import (
    ACTION_COLOURS,
    LOG_SHEET_NAME,
    Cell,
    ResultSheet,
    continued_sheet_name,
    continues_a_log,
)
from backend.errors import InputError

__all__ = ["check_destination", "write_result_workbook"]


_WORKSHEET_CT = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
_STYLES_CT = "application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"

# How much of another sheet's part we look at for its <sheetView> (it comes before the data).
_HEAD_STEP = 16 * 1024
_HEAD_MAX = 256 * 1024

# Excel's limits.
MAX_SHEET_ROWS = 1_048_576
"""Rows in a sheet; a longer log goes on over further sheets (tests lower it)."""
_MAX_COLS = 16_384
_MAX_CELL_CHARS = 32_767
_MAX_EXACT_INT = 999_999_999_999_999  # Excel keeps 15 significant digits

_HEADER_FILL = "D9E1F2"
_TEXT_FORMAT = 49  # the built-in "@" (Text) number format
_MIN_WIDTH, _MAX_WIDTH = 6, 60
_WIDTH_SAMPLE_ROWS = 2000

# A string starting with one of these could become a formula if the user edits the cell.
_QUOTE_FIRST = frozenset("=+-@\t\r")
_ILLEGAL = "\x00-\x08\x0b-\x1f\ud800-\udfff\ufffe\uffff"
# Characters that need escaping in cell text. CR is written as _x000D_ because XML parsers turn
# a literal CR into LF. An underscore starting something a reader would decode as _xHHHH_
# (including what our own escapes produce) is protected as _x005F_, as Excel does.
_SPECIAL = re.compile(f"[&<>{_ILLEGAL}]|_(?=x[0-9A-Fa-f]{{4}}(?:_|[{_ILLEGAL}]))")
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "_": "_x005F_"}
# Text written as it is: not empty, no quote prefix, nothing ``_SPECIAL`` could match, not cut.
_PLAIN_TEXT = re.compile(f"[^=+\\-@\t\r&<>_{_ILLEGAL}][^&<>_{_ILLEGAL}]{{0,{_MAX_CELL_CHARS - 1}}}")
_INVALID_SHEET_NAME_CHARS = re.compile("[\\[\\]:*?/\\\\\x00-\x1f\ud800-\udfff\ufffe\uffff]")

# Start-tag body: attributes may hold '>' or '/' inside quotes.
_TAG_BODY = r"""((?:[^>"'/]|/(?!>)|"[^"]*"|'[^']*')*)(/?)>"""
_ATTR = re.compile(r"""([\w.:-]+)\s*=\s*("[^"]*"|'[^']*')""")
_ROOT_TAG = re.compile(r"<(?![?!])(?:([\w.-]+):)?([\w.-]+)")

_SHEET_VIEW_TAG = re.compile(
    rb"""<(?:[A-Za-z_][\w.-]*:)?sheetView(?=[\s/>])(?:[^>"']|"[^"]*"|'[^']*')*>"""
)
_TAB_SELECTED = re.compile(rb"""\s+tabSelected\s*=\s*(?:"(?:1|true)"|'(?:1|true)')""")
_HEAD_END = re.compile(
    rb"</(?:[A-Za-z_][\w.-]*:)?sheetViews\s*>|<(?:[A-Za-z_][\w.-]*:)?sheetData[\s/>]"
)

_STYLE_ORDER = (
    "numFmts",
    "fonts",
    "fills",
    "borders",
    "cellStyleXfs",
    "cellXfs",
    "cellStyles",
    "dxfs",
    "tableStyles",
    "colors",
    "extLst",
)
_WORKBOOK_AFTER_SHEETS = ("sheets", "functionGroups", "externalReferences")
_FILTER_NAME = "_xlnm._FilterDatabase"


def write_result_workbook(
    source: Path, dest: Path, log: ResultSheet, sheet_name: str = LOG_SHEET_NAME
) -> None:
    """Write ``dest``: a copy of the workbook ``source`` plus ``log`` as the sheet ``sheet_name``.

    A sheet of that name already in ``source`` (an earlier result) is replaced in place; otherwise
    the log becomes the last sheet. It is the sheet Excel opens on. A log longer than a sheet goes
    on over the sheets "NAME (2)", "NAME (3)", ... (replaced in place too); those an earlier,
    longer log went on over are removed. ``dest`` is written through a temporary file in its
    folder, so a failure never leaves a half-written file, and ``source`` is never written to.
    """
    source, dest = Path(source), Path(dest)
    _check_sheet_name(sheet_name)
    if _same_file(source, dest):
        raise InputError(
            f"The result cannot be written over the input workbook {source.name}; "
            "choose another file name for the result."
        )
    check_destination(dest)
    try:
        package = opc.Package.open(source)
    except FileNotFoundError as exc:
        raise InputError(f"The workbook {source} does not exist.") from exc
    except IsADirectoryError as exc:
        raise InputError(f"{source} is a folder, not a workbook.") from exc
    except zipfile.BadZipFile as exc:
        raise InputError(
            f"{source.name} is not an .xlsx workbook (it may be damaged or password-protected)."
        ) from exc
    except opc.PackageIndexError as exc:
        raise InputError(f"{source.name} is damaged and cannot be read: {exc}") from exc
    with package:
        try:
            plan = _plan(package, log, sheet_name)
            _write_atomically(dest, lambda fh: _write_package(package.zip, fh, plan, log))
        except (zipfile.BadZipFile, zlib.error, EOFError, opc.PackageIndexError) as exc:
            raise InputError(f"{source.name} is damaged and cannot be read: {exc}") from exc


def check_destination(dest: Path) -> None:
    """Raise ``InputError`` unless a result can be written at ``dest``: its folder exists and
    takes new files, and an existing file there can be replaced (not read-only, not locked by
    another program). Checked before a run starts, so nothing is saved that cannot be reported.
    """
    dest = Path(dest)
    if dest.is_dir():
        raise InputError(f"{dest} is a folder; give a file name for the result workbook.")
    if not dest.parent.is_dir():
        raise InputError(
            f"The folder {dest.parent} does not exist; create it or choose another place for "
            "the result (--out). Nothing was saved."
        )
    _remove_stale_temps(dest)
    tmp, fh = _open_temp(dest)
    fh.close()
    tmp.unlink()
    if dest.exists():
        try:
            with dest.open("r+b"):
                pass
        except OSError as exc:
            raise InputError(
                f"Cannot write {dest}: it is read-only or open in another program (Excel?); "
                "close it or choose another name (--out). Nothing was saved."
            ) from exc


# --------------------------------------------------------------------------- plan


@dataclass
class _CellStyles:
    """Cell format ids for one look (font and fill): text, text with quote prefix, number."""

    text: int
    quote: int
    number: int


@dataclass
class _StyleIds:
    """The cell formats the log uses, as indices into the workbook's cellXfs."""

    bold: _CellStyles
    plain: _CellStyles
    header: _CellStyles
    actions: dict[str, _CellStyles]


@dataclass
class _SheetLayout:
    """Everything decided before writing: edited parts, new parts, parts to leave out."""

    main_ns: str
    layout: "_Layout"
    styles: _StyleIds
    edited: dict[str, bytes]
    added: dict[str, bytes]
    drop: set[str]
    other_sheets: set[str]


class _Span(NamedTuple):
    """Where an element is in a part's text."""

    start: int
    end: int
    tag: str  # the start tag, as written
    closed: bool  # written as <name .../>


@dataclass
class _Package:
    """The source package's structure and the parts we edit, as edited so far.

    workbook.xml and the styles are edited as text, so everything else in them stays byte for
    byte; the relationships and content types are edited as trees by the OPC module.
    """

    source: opc.Package
    wb_part: str
    main_ns: str
    rel_ns: str
    rels: list[opc.Relationship]
    sheets: list[opc.SheetEntry]  # in tab order
    ct_part: str
    wb_text: str
    rels_data: bytes
    rels_root: opc.Element
    ct_data: bytes
    ct_root: opc.Element
    drop: set[str] = field(default_factory=set)
    added: dict[str, bytes] = field(default_factory=dict)
    edited: dict[str, bytes] = field(default_factory=dict)

    @classmethod
    def read(cls, source: opc.Package) -> "_Package":
        wb_part = opc.office_document(_relationships(source, ""), source.names)
        if source.name(wb_part) is None:
            raise InputError("The file has no workbook part; it is not an .xlsx workbook.")
        wb_part = source.name(wb_part) or wb_part
        wb_data = _read_part(source, wb_part)
        wb_root = _parse(wb_data, wb_part)
        main_ns = opc.namespace(wb_root.tag)
        if main_ns not in (opc.MAIN_NS, opc.STRICT_MAIN_NS):
            raise InputError(f"{wb_part} is not a spreadsheet workbook part.")
        rels_part = opc.rels_part(wb_part)
        rels_data = _read_part(source, rels_part)
        rels_root = _parse(rels_data, rels_part)
        ct_part = source.name(opc.CONTENT_TYPES_PART)
        if ct_part is None:
            raise InputError("The workbook has no [Content_Types].xml part; it is damaged.")
        ct_data = _read_part(source, ct_part)
        sheets = opc.sheet_entries(wb_root)
        if not sheets:
            raise InputError("The workbook lists no sheets; it is damaged.")
        return cls(
            source=source,
            wb_part=wb_part,
            main_ns=main_ns,
            rel_ns=opc.STRICT_REL_NS if main_ns == opc.STRICT_MAIN_NS else opc.REL_NS,
            rels=opc.relationships(rels_root, wb_part),
            sheets=sheets,
            ct_part=ct_part,
            wb_text=_text(wb_data, wb_part),
            rels_data=rels_data,
            rels_root=rels_root,
            ct_data=ct_data,
            ct_root=_parse(ct_data, ct_part),
        )

    @property
    def wb_dir(self) -> str:
        return posixpath.dirname(self.wb_part)

    def part(self, target: str) -> str | None:
        """The zip name of a relationship target, if the part exists."""
        return self.source.name(target)

    def add_relationship(self, kind: str, part: str) -> str:
        """Add a relationship from the workbook to ``part``; return its id."""
        target = opc.relative_target(self.wb_part, part)
        return opc.add_relationship(self.rels_root, f"{self.rel_ns}/{kind}", target)

    def free_part_name(self, pattern: str, start: int) -> str:
        """A part name beside the workbook not used yet (``pattern`` has one ``{}``)."""
        overridden = opc.overridden_parts(self.ct_root)
        n = start
        while True:
            part = posixpath.join(self.wb_dir, pattern.format(n or ""))
            if self.source.name(part) is None and part.casefold() not in overridden:
                return part
            n += 1


def _plan(source: opc.Package, log: ResultSheet, sheet_name: str) -> _SheetLayout:
    """Read the package structure and prepare the edited parts."""
    pkg = _Package.read(source)
    layout = _Layout.of(log, sheet_name)
    _remove_stale_pages(pkg, sheet_name, {page.name.casefold() for page in layout.pages})
    for page in layout.pages:
        folded = page.name.casefold()
        index = next((i for i, e in enumerate(pkg.sheets) if e.name.casefold() == folded), None)
        if index is None:
            page.part = _append_log_sheet(pkg, page.name)
        else:
            page.part = _reuse_log_sheet(pkg, page.name, index)
        opc.set_override(pkg.ct_root, page.part, _WORKSHEET_CT)
    names = [entry.name.casefold() for entry in pkg.sheets]
    indices = [names.index(page.name.casefold()) for page in layout.pages]
    pkg.wb_text = _set_active_tab(pkg.wb_text, indices[0])
    for page, index in zip(layout.pages, indices, strict=True):
        pkg.wb_text = _set_filter_name(pkg.wb_text, page.name, index, page.filter_ref)
    styles = _log_styles(pkg)
    opc.remove_overrides(pkg.ct_root, pkg.drop)

    pkg.edited[pkg.wb_part] = pkg.wb_text.encode("utf-8")
    rels_name = pkg.source.name(opc.rels_part(pkg.wb_part)) or opc.rels_part(pkg.wb_part)
    pkg.edited[rels_name] = opc.serialize(pkg.rels_root, pkg.rels_data)
    pkg.edited[pkg.ct_part] = opc.serialize(pkg.ct_root, pkg.ct_data)

    rels_by_id = {rel.id: rel for rel in pkg.rels}
    other_sheets = {
        part
        for i, entry in enumerate(pkg.sheets)
        if i not in indices
        and entry.rel_id in rels_by_id
        and (part := pkg.part(rels_by_id[entry.rel_id].target))
    }
    return _SheetLayout(
        main_ns=pkg.main_ns,
        layout=layout,
        styles=styles,
        edited=pkg.edited,
        added=pkg.added,
        drop=pkg.drop,
        other_sheets=other_sheets - set(pkg.edited) - pkg.drop,
    )


def _append_log_sheet(pkg: _Package, sheet_name: str) -> str:
    """Add a new worksheet part and its entry as the last sheet; return the part name."""
    part = pkg.free_part_name("worksheets/sheet{}.xml", len(pkg.sheets) + 1)
    rid = pkg.add_relationship("worksheet", part)
    sheet_id = max((entry.sheet_id for entry in pkg.sheets), default=0) + 1
    pkg.wb_text = _append_sheet_entry(pkg.wb_text, sheet_name, sheet_id, rid, pkg.rel_ns)
    pkg.sheets.append(opc.SheetEntry(sheet_name, rid, sheet_id))
    return part


def _remove_stale_pages(pkg: _Package, sheet_name: str, pages: set[str]) -> None:
    """Remove the sheets an earlier, longer log went on over that this one does not reach
    (``pages``: the casefolded names of this log's sheets)."""
    rels_by_id = {rel.id: rel for rel in pkg.rels}
    for index in reversed(range(len(pkg.sheets))):
        entry = pkg.sheets[index]
        if entry.name.casefold() in pages or not continues_a_log(entry.name, [sheet_name]):
            continue
        rel = rels_by_id.get(entry.rel_id)
        if rel is None or not rel.is_a("worksheet") or (part := pkg.part(rel.target)) is None:
            continue
        pkg.drop |= {part} | _stale_parts(pkg.source, part)
        opc.remove_relationship(pkg.rels_root, rel.id)
        pkg.wb_text = _remove_sheet_entry(pkg.wb_text, index, len(pkg.sheets))
        del pkg.sheets[index]


def _reuse_log_sheet(pkg: _Package, sheet_name: str, index: int) -> str:
    """Take over the part of the existing log sheet, leaving out what belonged to the old one."""
    name, rid = pkg.sheets[index].name, pkg.sheets[index].rel_id
    rel = next((r for r in pkg.rels if r.id == rid), None)
    if rel is None or not rel.target:
        raise InputError(f"The sheet '{name}' in the workbook is damaged.")
    if not rel.is_a("worksheet"):
        raise InputError(
            f"The workbook already has a sheet named '{name}' that is not a worksheet "
            "(a chart sheet?); rename it and run again."
        )
    part = pkg.part(rel.target) or rel.target
    pkg.drop |= _stale_parts(pkg.source, part)
    for calc in pkg.rels:
        if calc.is_a("calcChain") and (chain := pkg.part(calc.target)):
            # The calculation chain may list formulas of the old sheet; Excel rebuilds it.
            opc.remove_relationship(pkg.rels_root, calc.id)
            pkg.drop.add(chain)
    pkg.wb_text = _replace_sheet_entry(pkg.wb_text, sheet_name, index, len(pkg.sheets))
    return part


def _log_styles(pkg: _Package) -> _StyleIds:
    """Add the log's formats to the workbook's styles part, creating the part if there is none."""
    rel = next((r for r in pkg.rels if r.is_a("styles")), None)
    part = pkg.part(rel.target) if rel is not None else None
    if part is not None:
        data = _read_part(pkg.source, part)
        text, ids = _add_styles(_text(data, part), _parse(data, part))
        pkg.edited[part] = text.encode("utf-8")
        return ids
    if rel is not None:  # a relationship to a missing part
        opc.remove_relationship(pkg.rels_root, rel.id)
    part = pkg.free_part_name("styles{}.xml", 0)
    blank = _blank_styles(pkg.main_ns)
    text, ids = _add_styles(blank, opc.parse_xml(blank.encode("utf-8")))
    pkg.added[part] = text.encode("utf-8")
    pkg.add_relationship("styles", part)
    opc.set_override(pkg.ct_root, part, _STYLES_CT)
    return ids


# --------------------------------------------------------------------------- writing


def _write_atomically(dest: Path, write: Callable[[BinaryIO], None]) -> None:
    """Write through a temporary file next to ``dest`` and move it into place when complete."""
    _remove_stale_temps(dest)
    tmp, fh = _open_temp(dest)
    try:
        with fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.replace(tmp, dest)
        except PermissionError as exc:
            raise InputError(
                f"Cannot write {dest}: it is read-only or open in another program "
                "(Excel?). Close it and try again."
            ) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


_TEMP_SUFFIX = ".tmp"


def _temp_prefix(dest: Path) -> str:
    return f".~{dest.name}."


def _open_temp(dest: Path) -> tuple[Path, BinaryIO]:
    """Create a new temporary file beside ``dest`` with the usual permissions (umask applies).

    Its name carries the writer's process ID, so a later run can tell the leftovers of a run
    that was killed from the file of a run still writing.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        name = f"{_temp_prefix(dest)}{os.getpid()}.{secrets.token_hex(4)}{_TEMP_SUFFIX}"
        tmp = dest.with_name(name)
        try:
            fd = os.open(tmp, flags, 0o666)
        except FileExistsError:
            continue
        except PermissionError as exc:
            raise InputError(
                f"Cannot write in the folder {dest.parent}; choose another place for the result "
                "(--out). Nothing was saved."
            ) from exc
        return tmp, os.fdopen(fd, "wb")


def _remove_stale_temps(dest: Path) -> None:
    """Remove the temporary files a killed run left beside ``dest``."""
    prefix = _temp_prefix(dest)
    try:
        names = [p for p in dest.parent.iterdir() if p.name.startswith(prefix)]
    except OSError:
        return
    for path in names:
        pid = path.name[len(prefix) :].partition(".")[0]
        if path.name.endswith(_TEMP_SUFFIX) and pid.isdigit() and not _running(int(pid)):
            with contextlib.suppress(OSError):  # still open elsewhere (Windows): left for later
                path.unlink(missing_ok=True)


def _running(pid: int) -> bool:
    """Whether a process ``pid`` exists. On Windows, where signals cannot ask, a file another
    process still writes cannot be removed anyway, so every other process counts as ended."""
    if pid == os.getpid():
        return True
    if os.name == "nt":
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _write_package(
    zin: zipfile.ZipFile, fh: BinaryIO, plan: _SheetLayout, log: ResultSheet
) -> None:
    """Copy the source parts (edited where planned) and add the log sheet."""
    with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zout:
        written: set[str] = set()
        for info in zin.infolist():
            name = info.filename
            if name in written or name in plan.drop or name in plan.layout.parts:
                continue
            written.add(name)
            if info.is_dir():
                zout.writestr(name, b"")
            elif name in plan.edited:
                zout.writestr(name, plan.edited[name])
            else:
                big = info.file_size * 1.05 > zipfile.ZIP64_LIMIT
                with zin.open(info) as src, zout.open(name, "w", force_zip64=big) as dst:
                    if name in plan.other_sheets:
                        dst.write(_unselected_head(src))
                    shutil.copyfileobj(src, dst, 1 << 20)
        for name, data in plan.added.items():
            zout.writestr(name, data)
        marked = log.marked_rows()  # one pass over the rows, page after page
        for page in plan.layout.pages:
            big = page.rows * plan.layout.width > 2_000_000
            with zout.open(page.part, "w", force_zip64=big) as dst:
                for chunk in _sheet_xml(log, page, plan, marked):
                    dst.write(chunk.encode("utf-8"))


def _unselected_head(src: IO[bytes]) -> bytes:
    """Read the start of a sheet part and drop tabSelected from its sheet views.

    Only the first few KB are looked at (the views come before the cell data), so a large sheet
    is never rewritten as a whole. The caller copies the rest unchanged.
    """
    head = b""
    while len(head) < _HEAD_MAX:
        chunk = src.read(_HEAD_STEP)
        head += chunk
        if not chunk or _HEAD_END.search(head):
            break
    return _SHEET_VIEW_TAG.sub(lambda m: _TAB_SELECTED.sub(b"", m.group(0)), head)


# --------------------------------------------------------------------------- the log sheet


@dataclass
class _Page:
    """One sheet of the log (1-based rows): the first has the title and summary, those that go
    on from it only the table's header row."""

    name: str
    summary: list[tuple[str, Cell]] | None  # None on a sheet that goes on from another
    header_row: int
    rows: int  # table rows on this sheet
    last_row: int
    filter_ref: str | None = None
    part: str = ""  # the worksheet part, once planned

    @property
    def first(self) -> bool:
        return self.summary is not None


@dataclass
class _Layout:
    """Where the parts of the log go, over as many sheets as its rows need."""

    width: int
    table_width: int
    cols: str  # the <col> elements: one set of widths for every sheet
    pages: list[_Page]

    @property
    def parts(self) -> set[str]:
        return {page.part for page in self.pages}

    @classmethod
    def of(cls, log: ResultSheet, sheet_name: str) -> "_Layout":
        sample = log.first_rows(_WIDTH_SAMPLE_ROWS)
        table_width = max([len(log.columns), *(len(row) for row in sample)])
        width = max(table_width, 2 if log.summary else 1)
        if width > _MAX_COLS:
            raise ValueError(f"The log has {width} columns; a sheet holds at most {_MAX_COLS}.")
        pages = _pages(log, sheet_name)
        for page in pages:
            _check_sheet_name(page.name)
            if log.columns:
                corner = f"{column_letter(table_width - 1)}{max(page.last_row, page.header_row)}"
                page.filter_ref = f"A{page.header_row}:{corner}"
        cols = _cols_xml([log.columns, *sample], pages[0].summary or [], width)
        return cls(width, table_width, cols, pages)


def _pages(log: ResultSheet, sheet_name: str) -> list[_Page]:
    """The sheets the log needs: one while it fits, else the first and those that go on."""
    total, header_row = len(log.rows), len(log.summary) + 3
    if not (log.columns or total):
        return [_Page(sheet_name, log.summary, header_row, 0, 1 + len(log.summary))]
    if header_row + total <= MAX_SHEET_ROWS:
        return [_Page(sheet_name, log.summary, header_row, total, header_row + total)]
    first, per_sheet = MAX_SHEET_ROWS - header_row - 1, MAX_SHEET_ROWS - 1
    if first < 1:
        raise ValueError(f"The log's summary does not fit a sheet of {MAX_SHEET_ROWS} rows.")
    counts = [first] + [min(per_sheet, total - done) for done in range(first, total, per_sheet)]
    names = [continued_sheet_name(sheet_name, n) for n in range(2, len(counts) + 1)]
    where = f"sheet {names[0]}" if len(names) == 1 else f"sheets {names[0]} to {names[-1]}"
    summary = [*log.summary, ("Continued on", where)]
    rest = zip(names, counts[1:], strict=True)
    return [_Page(sheet_name, summary, header_row + 1, first, MAX_SHEET_ROWS)] + [
        _Page(name, None, 1, count, 1 + count) for name, count in rest
    ]


def _sheet_xml(
    log: ResultSheet, page: _Page, plan: _SheetLayout, marked: Iterator[tuple[list[Cell], str]]
) -> Iterator[str]:
    """Yield the worksheet XML of one sheet of the log in chunks, taking its rows from
    ``marked``, so a large log is never one huge string."""
    layout, ids = plan.layout, plan.styles
    letters = [column_letter(i) for i in range(layout.width)]
    top = page.header_row + 1
    corner = f"{letters[-1]}{page.last_row}"
    dimension = "A1" if corner == "A1" else f"A1:{corner}"
    selected = ' tabSelected="1"' if page.first else ""
    yield (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<worksheet xmlns="{plan.main_ns}">'
        f'<dimension ref="{dimension}"/>'
        f'<sheetViews><sheetView{selected} workbookViewId="0">'
        f'<pane ySplit="{page.header_row}" topLeftCell="A{top}" activePane="bottomLeft"'
        ' state="frozen"/>'
        f'<selection pane="bottomLeft" activeCell="A{top}" sqref="A{top}"/>'
        "</sheetView></sheetViews>"
        f"<cols>{layout.cols}</cols>"
        "<sheetData>"
    )
    head: list[str] = []
    if log.title and page.first:
        head.append(f'<row r="1">{_cell("A1", log.title, ids.bold)}</row>')
    for n, (label, value) in enumerate(page.summary or [], start=2):
        cells = _cell(f"A{n}", label, ids.bold) + _cell(f"B{n}", value, ids.plain)
        if cells:
            head.append(f'<row r="{n}">{cells}</row>')
    if log.columns:
        n = page.header_row
        cells = "".join(_cell(f"{letters[j]}{n}", v, ids.header) for j, v in enumerate(log.columns))
        head.append(f'<row r="{n}">{cells}</row>')
    yield "".join(head)

    yield from _table_rows(islice(marked, page.rows), top, layout.table_width, ids, letters)

    tail = "</sheetData>"
    if page.filter_ref:
        tail += f'<autoFilter ref="{page.filter_ref}"/>'
    tail += (
        '<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/>'
        "</worksheet>"
    )
    yield tail


def _table_rows(
    marked: Iterable[tuple[list[Cell], str]],
    top: int,
    table_width: int,
    ids: _StyleIds,
    letters: list[str],
) -> Iterator[str]:
    """The table's rows from sheet row ``top`` on, in chunks. Whole numbers, and text that
    needs neither escaping nor a quote prefix (most of a log), are written here as ``_cell``
    writes them, without a call per cell."""
    by_action, plain = ids.actions, ids.plain
    is_plain = _PLAIN_TEXT.fullmatch
    out: list[str] = []
    for n, (row, action) in enumerate(marked, start=top):
        if len(row) > table_width:
            raise ValueError(f"Row {n} of the log has more cells than the log has columns.")
        styles = by_action.get(action)
        if styles is None:
            row_cells = [_cell(f"{letters[j]}{n}", v, plain) for j, v in enumerate(row)]
        else:
            # Every cell of a coloured row is written, empty ones too, so the band is unbroken.
            blank = f' s="{styles.number}"/>'
            text = f'" s="{styles.text}" t="inlineStr"><is><t xml:space="preserve">'
            number = f'" s="{styles.number}"><v>'
            row_cells = [
                f'<c r="{letters[j]}{n}{text}{v}</t></is></c>'
                if type(v) is str and is_plain(v)
                else f'<c r="{letters[j]}{n}{number}{v}</v></c>'
                if type(v) is int and -_MAX_EXACT_INT <= v <= _MAX_EXACT_INT
                else _cell(f"{letters[j]}{n}", v, styles) or f'<c r="{letters[j]}{n}"{blank}'
                for j, v in enumerate(row)
            ]
            row_cells.extend(f'<c r="{letters[j]}{n}"{blank}' for j in range(len(row), table_width))
        out.append(f'<row r="{n}">{"".join(row_cells)}</row>')
        if len(out) >= 4096:
            yield "".join(out)
            out.clear()
    yield "".join(out)


def _cell(ref: str, value: Cell, styles: _CellStyles) -> str:
    """One ``<c>`` element; empty for no value. Strings are inline, never formulas."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        return _text_cell(ref, value, styles)
    if isinstance(value, bool):
        return f'<c r="{ref}" s="{styles.number}" t="b"><v>{int(value)}</v></c>'
    if isinstance(value, int):
        if -_MAX_EXACT_INT <= value <= _MAX_EXACT_INT:
            return f'<c r="{ref}" s="{styles.number}"><v>{int(value)}</v></c>'
        return _text_cell(ref, str(value), styles)  # keep every digit
    if isinstance(value, float) and math.isfinite(value):
        return f'<c r="{ref}" s="{styles.number}"><v>{float(value)!r}</v></c>'
    return _text_cell(ref, str(value), styles)


def _text_cell(ref: str, value: str, styles: _CellStyles) -> str:
    if len(value) > _MAX_CELL_CHARS:
        value = value[:_MAX_CELL_CHARS]
    style = styles.quote if value[:1] in _QUOTE_FIRST else styles.text
    if _SPECIAL.search(value) is not None:
        value = _SPECIAL.sub(_escape_char, value)
    return (
        f'<c r="{ref}" s="{style}" t="inlineStr"><is><t xml:space="preserve">{value}</t></is></c>'
    )


def _escape_char(match: re.Match[str]) -> str:
    char = match.group(0)
    return _ENTITIES.get(char) or f"_x{ord(char):04X}_"


def _cols_xml(
    sample: list[list[str] | list[Cell]], summary: list[tuple[str, Cell]], width: int
) -> str:
    """Column widths from the header and the first rows: narrow numbers, wide text, capped."""
    longest = [0] * width
    rows: list[Iterable[Cell]] = [*sample, *([label, value] for label, value in summary)]
    for row in rows:
        for j, value in enumerate(row):
            if value is not None:
                text = value if isinstance(value, str) else str(value)
                size = max(len(line) for line in text.split("\n"))
                if size > longest[j]:
                    longest[j] = size
    return "".join(
        f'<col min="{j + 1}" max="{j + 1}" '
        f'width="{min(_MAX_WIDTH, max(_MIN_WIDTH, size + 2))}" customWidth="1"/>'
        for j, size in enumerate(longest)
    )


# --------------------------------------------------------------------------- styles


def _blank_styles(main_ns: str) -> str:
    """A minimal styles part for a workbook that has none."""
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<styleSheet xmlns="{main_ns}">'
        '<fonts count="1"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>'
        '<fills count="2"><fill><patternFill patternType="none"/></fill>'
        '<fill><patternFill patternType="gray125"/></fill></fills>'
        '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
        '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>'
        "</cellStyleXfs>"
        '<cellXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
        "</cellXfs>"
        '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
        "</styleSheet>"
    )


class _Collection:
    """One list of the styles part (fonts, fills, ...): existing entries plus ones we append.

    An entry equal to an existing one is reused, so running again on a result workbook does not
    make the styles part grow.
    """

    def __init__(self, root: opc.Element, ns: str, prefix: str, name: str) -> None:
        self.name, self.ns, self.prefix = name, ns, prefix
        node = root.find(f"{{{ns}}}{name}")
        self.present = node is not None
        entries = _children(node) if node is not None else []
        self.keys = [_key(child) for child in entries]
        self.first = entries[0] if entries else None
        self.new: list[str] = []

    def index(self, xml: str) -> int:
        """Index of the entry ``xml`` (written with the part's prefix), appending it if new."""
        declare = f"xmlns:{self.prefix[:-1]}" if self.prefix else "xmlns"
        wrapped = f'<{self.prefix}w {declare}="{self.ns}">{xml}</{self.prefix}w>'
        key = _key(opc.parse_xml(wrapped.encode("utf-8"))[0])
        if key in self.keys:
            return self.keys.index(key)
        self.keys.append(key)
        self.new.append(xml)
        return len(self.keys) - 1

    def apply(self, text: str) -> str:
        """Write the appended entries into the part's text and fix the count."""
        if not self.new:
            return text
        p, body = self.prefix, "".join(self.new)
        if not self.present:
            xml = f'<{p}{self.name} count="{len(self.keys)}">{body}</{p}{self.name}>'
            return _insert_in_order(text, p, self.name, xml)
        qname = p + self.name
        span = _first(text, qname)
        assert span is not None
        text = _replace_tag(text, span, _set_attr(span.tag, "count", str(len(self.keys))))
        span = _first(text, qname, span.start)
        assert span is not None
        return _append_child(text, span, qname, body)


def _add_styles(text: str, root: opc.Element) -> tuple[str, _StyleIds]:
    """Append the fonts, fills and cell formats the log needs; return their cellXfs indices."""
    ns = opc.namespace(root.tag)
    p = _root_prefix(text)
    lists = {name: _Collection(root, ns, p, name) for name in _STYLE_LISTS}
    for name, collection in lists.items():
        if not collection.keys:
            for xml in _first_entries(p, name):
                collection.index(xml)
    style_xfs = root.find(f"{{{ns}}}cellStyleXfs")
    looks = _Looks(lists, p, has_style_xf=style_xfs is not None and bool(_children(style_xfs)))
    fonts = lists["fonts"]
    bold_font = fonts.index(_bold_font(fonts.first, ns, p))
    ids = _StyleIds(
        bold=looks.look(bold_font, 0),
        plain=looks.look(0, 0),
        header=looks.look(bold_font, looks.fill(_HEADER_FILL)),
        actions={action: looks.look(0, looks.fill(rgb)) for action, rgb in ACTION_COLOURS.items()},
    )
    for collection in lists.values():
        text = collection.apply(text)
    return text, ids


_STYLE_LISTS = ("fonts", "fills", "borders", "cellXfs")


def _first_entries(p: str, name: str) -> tuple[str, ...]:
    """The entries the list ``name`` starts with when the workbook has none: Excel takes the
    first font, border and cell format as the defaults and reserves the first two fills."""
    return {
        "fonts": (f"<{p}font>{_default_font(p)}</{p}font>",),
        "fills": (
            f'<{p}fill><{p}patternFill patternType="none"/></{p}fill>',
            f'<{p}fill><{p}patternFill patternType="gray125"/></{p}fill>',
        ),
        "borders": (
            f"<{p}border><{p}left/><{p}right/><{p}top/><{p}bottom/><{p}diagonal/></{p}border>",
        ),
        "cellXfs": (f'<{p}xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>',),
    }[name]


class _Looks:
    """Makes the fills and cell formats of the log's looks in the styles part's lists."""

    def __init__(self, lists: dict[str, _Collection], p: str, has_style_xf: bool) -> None:
        self.fills, self.xfs = lists["fills"], lists["cellXfs"]
        self.p = p
        self.has_style_xf = has_style_xf

    def fill(self, rgb: str) -> int:
        p = self.p
        return self.fills.index(
            f'<{p}fill><{p}patternFill patternType="solid"><{p}fgColor rgb="FF{rgb}"/>'
            f'<{p}bgColor indexed="64"/></{p}patternFill></{p}fill>'
        )

    def look(self, font: int, fill_id: int) -> _CellStyles:
        return _CellStyles(
            text=self.xf(font, fill_id, _TEXT_FORMAT, False),
            quote=self.xf(font, fill_id, _TEXT_FORMAT, True),
            number=self.xf(font, fill_id, 0, False),
        )

    def xf(self, font: int, fill_id: int, fmt: int, quote: bool) -> int:
        """A cell format; each ``apply`` flag only where it differs from the default."""
        flags = (
            (self.has_style_xf, ' xfId="0"'),
            (fmt, ' applyNumberFormat="1"'),
            (font, ' applyFont="1"'),
            (fill_id, ' applyFill="1"'),
            (quote, ' quotePrefix="1"'),
        )
        attrs = f'numFmtId="{fmt}" fontId="{font}" fillId="{fill_id}" borderId="0"'
        attrs += "".join(attr for on, attr in flags if on)
        return self.xfs.index(f"<{self.p}xf {attrs}/>")


def _bold_font(first: opc.Element | None, ns: str, p: str) -> str:
    """The workbook's default font (size, name, colour, scheme) made bold."""
    parts = [f"<{p}b/>"]
    if first is None:
        parts.append(_default_font(p))
    else:
        for child in _children(first):
            local = opc.local_name(child.tag)
            if opc.namespace(child.tag) != ns or local in ("b", "i", "u", "strike"):
                continue
            if _children(child):
                continue
            attrs = "".join(
                f' {name!s}="{_escape_attr(str(value))}"'
                for name, value in child.attrib.items()
                if not str(name).startswith("{")
            )
            parts.append(f"<{p}{local}{attrs}/>")
    return f"<{p}font>{''.join(parts)}</{p}font>"


def _default_font(p: str) -> str:
    return f'<{p}sz val="11"/><{p}name val="Calibri"/><{p}family val="2"/>'


def _key(element: opc.Element) -> tuple[object, ...]:
    """A comparable form of an element: tag, attributes and children, ignoring prefixes."""
    attributes = tuple(sorted((str(k), str(v)) for k, v in element.attrib.items()))
    return (element.tag, attributes, tuple(_key(c) for c in _children(element)))


def _children(element: opc.Element) -> list[opc.Element]:
    """Child elements only: comments and processing instructions are no entries."""
    return [child for child in element if isinstance(child.tag, str)]


def _insert_in_order(text: str, p: str, name: str, xml: str) -> str:
    """Insert a missing styles list where the schema order wants it."""
    for later in _STYLE_ORDER[_STYLE_ORDER.index(name) + 1 :]:
        span = _first(text, p + later)
        if span is not None:
            return text[: span.start] + xml + text[span.start :]
    return _append_to_root(text, xml)


# --------------------------------------------------------------------------- workbook.xml


def _sheet_spans(text: str) -> tuple[str, _Span, list[_Span]]:
    """The prefix, the ``<sheets>`` element and the ``<sheet>`` elements in it."""
    p = _root_prefix(text)
    sheets = _first(text, p + "sheets")
    if sheets is None:
        raise InputError("The workbook lists no sheets; it is damaged.")
    return p, sheets, list(_elements(text, p + "sheet", sheets.start, sheets.end))


def _replace_sheet_entry(text: str, sheet_name: str, index: int, count: int) -> str:
    """Rename the existing log sheet's entry to the exact name and make sure it is visible."""
    _, _, spans = _sheet_spans(text)
    if len(spans) != count:
        raise InputError("The list of sheets in the workbook could not be read.")
    span = spans[index]
    return _replace_tag(text, span, _set_attr(_del_attr(span.tag, "state"), "name", sheet_name))


def _remove_sheet_entry(text: str, index: int, count: int) -> str:
    """Remove a sheet's entry, and the names local to it; later sheets' local names follow."""
    p, _, spans = _sheet_spans(text)
    if len(spans) != count:
        raise InputError("The list of sheets in the workbook could not be read.")
    text = text[: spans[index].start] + text[spans[index].end :]
    names = _first(text, p + "definedNames")
    if names is None:
        return text
    for span in reversed(list(_elements(text, p + "definedName", names.start, names.end))):
        local = _attrs(span.tag).get("localSheetId")
        if local is None or not local.isdigit() or int(local) < index:
            continue
        if int(local) == index:
            text = text[: span.start] + text[span.end :]
        else:
            tag = _set_attr(span.tag, "localSheetId", str(int(local) - 1))
            text = _replace_tag(text, span, tag)
    return text


def _append_sheet_entry(text: str, sheet_name: str, sheet_id: int, rid: str, rel_ns: str) -> str:
    p, sheets, _ = _sheet_spans(text)
    rp = _prefix_for(text, rel_ns)
    declare = "" if rp is not None else f' xmlns:r="{rel_ns}"'
    entry = (
        f'<{p}sheet name="{_escape_attr(sheet_name)}" sheetId="{sheet_id}"{declare}'
        f' {rp or "r"}:id="{rid}"/>'
    )
    return _append_child(text, sheets, p + "sheets", entry)


def _set_active_tab(text: str, index: int) -> str:
    """Open the workbook on the log sheet."""
    p = _root_prefix(text)
    views = list(_elements(text, p + "workbookView"))
    if not views:
        _, sheets, _ = _sheet_spans(text)
        xml = f'<{p}bookViews><{p}workbookView activeTab="{index}"/></{p}bookViews>'
        return text[: sheets.start] + xml + text[sheets.start :]
    for span in reversed(views):
        tag = _set_attr(span.tag, "activeTab", str(index))
        first = _attrs(span.tag).get("firstSheet")
        if first is not None and _int(first) > index:
            tag = _set_attr(tag, "firstSheet", str(index))
        text = _replace_tag(text, span, tag)
    return text


def _set_filter_name(text: str, sheet_name: str, index: int, ref: str | None) -> str:
    """Keep the hidden ``_FilterDatabase`` name Excel writes for a sheet's autofilter.

    LibreOffice, for one, reads the filter range from this name.
    """
    p = _root_prefix(text)
    names = _first(text, p + "definedNames")
    if names is not None:
        for span in reversed(list(_elements(text, p + "definedName", names.start, names.end))):
            attrs = _attrs(span.tag)
            if attrs.get("name", "").casefold() == _FILTER_NAME.casefold() and attrs.get(
                "localSheetId"
            ) == str(index):
                text = text[: span.start] + text[span.end :]
    if ref is None:
        return text
    quoted = "'" + sheet_name.replace("'", "''") + "'"
    absolute = ":".join(re.sub(r"([A-Z]+)(\d+)", r"$\1$\2", corner) for corner in ref.split(":"))
    entry = (
        f'<{p}definedName name="{_FILTER_NAME}" localSheetId="{index}" hidden="1">'
        f"{_escape_text(quoted + '!' + absolute)}</{p}definedName>"
    )
    names_now = _first(text, p + "definedNames")
    if names_now is not None:
        return _append_child(text, names_now, p + "definedNames", entry)
    # No defined names yet: the list goes after <sheets> and the two lists that may follow it.
    after = max(found.end for name in _WORKBOOK_AFTER_SHEETS if (found := _first(text, p + name)))
    return f"{text[:after]}<{p}definedNames>{entry}</{p}definedNames>{text[after:]}"


# --------------------------------------------------------------------------- package parts


def _read_part(source: opc.Package, part: str) -> bytes:
    try:
        return source.read(part)
    except opc.PartMissing:
        raise InputError(f"The workbook has no {part} part; it is damaged.") from None
    except opc.PartTooLarge:
        raise InputError(f"The part {part} of the workbook is too large to process.") from None


def _parse(data: bytes, part: str) -> opc.Element:
    try:
        return opc.parse_xml(data)
    except (opc.XmlError, opc.DeclarationForbidden) as exc:
        raise InputError(f"The part {part} of the workbook is damaged: {exc}") from exc


def _text(data: bytes, part: str) -> str:
    """Text of an XML part; we write it back as UTF-8, so the declaration must say so."""
    try:
        return opc.xml_text(data)
    except UnicodeDecodeError as exc:
        raise InputError(f"The part {part} of the workbook is damaged: {exc}") from exc


def _relationships(source: opc.Package, part: str) -> list[opc.Relationship]:
    rels = opc.rels_part(part)
    if source.name(rels) is None:
        return []
    return opc.relationships(_parse(_read_part(source, rels), rels), part)


def _stale_parts(source: opc.Package, sheet_part: str) -> set[str]:
    """The old log sheet's relationships file and parts only it used (tables, drawings, ...)."""
    old_rels = source.name(opc.rels_part(sheet_part))
    if old_rels is None:
        return set()
    stale = {old_rels}
    try:
        candidates = _reachable(source, [sheet_part], skip=None) - {sheet_part}
        if not candidates:
            return stale
        kept = _reachable(source, [""], skip=old_rels)
    except InputError:
        return stale  # a damaged relationships file elsewhere: remove nothing we cannot vouch for
    for part in candidates - kept:
        stale.add(part)
        rels = source.name(opc.rels_part(part))
        if rels is not None:
            stale.add(rels)
    return stale


def _reachable(source: opc.Package, start: list[str], skip: str | None) -> set[str]:
    """Parts reached from ``start`` through relationships, not following the file ``skip``."""
    seen = set(start)
    todo = list(start)
    while todo:
        part = todo.pop()
        if source.name(opc.rels_part(part)) in (None, skip):
            continue
        for rel in _relationships(source, part):
            target = source.name(rel.target)
            if target is not None and target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


# --------------------------------------------------------------------------- XML text editing


def _root_prefix(text: str) -> str:
    """``'x:'`` when the root element is ``<x:workbook ...>``, else ``''``."""
    match = _ROOT_TAG.search(text)
    return f"{match.group(1)}:" if match and match.group(1) else ""


def _prefix_for(text: str, uri: str) -> str | None:
    """The prefix the root element binds to ``uri``, if any."""
    match = re.search(r"<(?![?!])[\w.:-]+" + _TAG_BODY, text)
    if match is None:
        return None
    for name, value in _ATTR.findall(match.group(1)):
        if name.startswith("xmlns:") and _unescape(value[1:-1]) == uri:
            return str(name[6:])
    return None


def _elements(text: str, qname: str, start: int = 0, end: int | None = None) -> Iterator[_Span]:
    """The elements ``qname`` between ``start`` and ``end``; the same name must not nest."""
    opening = re.compile("<" + re.escape(qname) + r"(?=[\s/>])" + _TAG_BODY)
    closing = re.compile("</" + re.escape(qname) + r"\s*>")
    stop = len(text) if end is None else end
    pos = start
    while (match := opening.search(text, pos, stop)) is not None:
        closed = bool(match.group(2))
        if closed:
            finish = match.end()
        else:
            close = closing.search(text, match.end(), stop)
            if close is None:
                raise InputError(f"A <{qname}> element in the workbook is not closed.")
            finish = close.end()
        yield _Span(match.start(), finish, match.group(0), closed)
        pos = finish


def _first(text: str, qname: str, start: int = 0, end: int | None = None) -> _Span | None:
    return next(_elements(text, qname, start, end), None)


def _append_child(text: str, span: _Span, qname: str, xml: str) -> str:
    """Insert ``xml`` as the last child of the element at ``span``."""
    if span.closed:
        opened = span.tag[:-2].rstrip() + ">"
        return f"{text[: span.start]}{opened}{xml}</{qname}>{text[span.end :]}"
    close = text.rindex("</" + qname, span.start, span.end)
    return text[:close] + xml + text[close:]


def _replace_tag(text: str, span: _Span, tag: str) -> str:
    return text[: span.start] + tag + text[span.start + len(span.tag) :]


def _append_to_root(text: str, xml: str) -> str:
    """Insert ``xml`` as the last child of the root element."""
    match = _ROOT_TAG.search(text)
    if match is None:
        raise InputError("A part of the workbook is empty.")
    qname = (match.group(1) + ":" if match.group(1) else "") + match.group(2)
    span = _first(text, qname, match.start())
    assert span is not None
    return _append_child(text, span, qname, xml)


def _attrs(tag: str) -> dict[str, str]:
    return {name: _unescape(value[1:-1]) for name, value in _ATTR.findall(tag)}


def _set_attr(tag: str, name: str, value: str) -> str:
    """Set an attribute in a start tag, keeping the rest of the tag as written."""
    pattern = re.compile(r"(\s)" + re.escape(name) + r"""\s*=\s*("[^"]*"|'[^']*')""")
    new = f'{name}="{_escape_attr(value)}"'
    if pattern.search(tag):
        return pattern.sub(lambda m: m.group(1) + new, tag, count=1)
    end = len(tag) - (2 if tag.endswith("/>") else 1)
    return f"{tag[:end].rstrip()} {new}{tag[end:]}"


def _del_attr(tag: str, name: str) -> str:
    return re.sub(r"\s+" + re.escape(name) + r"""\s*=\s*("[^"]*"|'[^']*')""", "", tag)


def _escape_attr(value: str) -> str:
    return _escape_text(value).replace('"', "&quot;")


def _escape_text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _unescape(value: str) -> str:
    def entity(match: re.Match[str]) -> str:
        ref = match.group(1)
        try:
            if ref.startswith("#x"):
                return chr(int(ref[2:], 16))
            if ref.startswith("#"):
                return chr(int(ref[1:]))
        except (ValueError, OverflowError):
            return match.group(0)
        return {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}.get(ref, match.group(0))

    return re.sub(r"&(#x[0-9A-Fa-f]+|#\d+|\w+);", entity, value)


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


# --------------------------------------------------------------------------- checks


def _check_sheet_name(name: str) -> None:
    """Excel's rules for sheet names; a bad one is a programming error, not the user's."""
    if (
        not 1 <= len(name) <= 31
        or _INVALID_SHEET_NAME_CHARS.search(name)
        or name.startswith("'")
        or name.endswith("'")
        or name.casefold() == "history"
    ):
        raise ValueError(f"{name!r} cannot be the name of an Excel sheet.")


def _same_file(source: Path, dest: Path) -> bool:
    try:
        if os.path.samefile(source, dest):
            return True
    except OSError:
        pass
    return source.resolve() == dest.resolve()
