"""Write a copy of the user's ``.xlsx`` workbook with the run's log as one more sheet.

The copy is made at the zip / XML level: every part of the source is copied as is, and only the
few small parts that must know about the new sheet (workbook, its relationships, content types,
styles) are edited as text. Loading and saving through openpyxl would take many seconds on a large
workbook and silently drop what it does not understand (images, extensions, ...).
"""

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
from pathlib import Path
from typing import BinaryIO, NamedTuple
from urllib.parse import unquote
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from addin.workbooks.interface import column_letter
from addin.workbooks.result_sheet import ACTION_COLOURS, LOG_SHEET_NAME, Cell, ResultSheet
from backend.errors import InputError

__all__ = ["write_result_workbook"]

# Namespaces. Strict OOXML uses its own URIs for the same vocabulary.
_MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_STRICT_MAIN_NS = "http://purl.oclc.org/ooxml/spreadsheetml/main"
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_STRICT_REL_NS = "http://purl.oclc.org/ooxml/officeDocument/relationships"
_PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"

_WORKSHEET_CT = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
_STYLES_CT = "application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"

# Parts we read whole into memory are small in any sane workbook; refuse absurd ones.
_MAX_EDITED_PART = 64 * 1024 * 1024
# How much of another sheet's part we look at for its <sheetView> (it comes before the data).
_HEAD_STEP = 16 * 1024
_HEAD_MAX = 256 * 1024

# Excel's limits.
_MAX_ROWS = 1_048_576
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
_INVALID_SHEET_NAME_CHARS = re.compile("[\\[\\]:*?/\\\\\x00-\x1f\ud800-\udfff\ufffe\uffff]")

# Start-tag body: attributes may hold '>' or '/' inside quotes.
_TAG_BODY = r"""((?:[^>"'/]|/(?!>)|"[^"]*"|'[^']*')*)(/?)>"""
_ATTR = re.compile(r"""([\w.:-]+)\s*=\s*("[^"]*"|'[^']*')""")
_ROOT_TAG = re.compile(r"<(?![?!])(?:([\w.-]+):)?([\w.-]+)")
_XML_DECL_ENCODING = re.compile(r"""^(<\?xml[^>]*?encoding\s*=\s*)(["'])[^"']*\2""")

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
    the log becomes the last sheet. It is the sheet Excel opens on. ``dest`` is written through a
    temporary file in its folder, so a failure never leaves a half-written file, and ``source`` is
    never written to.
    """
    source, dest = Path(source), Path(dest)
    _check_sheet_name(sheet_name)
    if _same_file(source, dest):
        raise InputError(
            f"The result cannot be written over the input workbook {source.name}; "
            "choose another file name for the result."
        )
    if dest.is_dir():
        raise InputError(f"{dest} is a folder; give a file name for the result workbook.")
    if not dest.parent.is_dir():
        raise InputError(f"The folder {dest.parent} does not exist.")
    try:
        zin = zipfile.ZipFile(source)
    except FileNotFoundError as exc:
        raise InputError(f"The workbook {source} does not exist.") from exc
    except IsADirectoryError as exc:
        raise InputError(f"{source} is a folder, not a workbook.") from exc
    except zipfile.BadZipFile as exc:
        raise InputError(
            f"{source.name} is not an .xlsx workbook (it may be damaged or password-protected)."
        ) from exc
    with zin:
        try:
            plan = _plan(zin, log, sheet_name)
            _write_atomically(dest, lambda fh: _write_package(zin, fh, plan, log))
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise InputError(f"{source.name} is damaged and cannot be read: {exc}") from exc


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

    sheet_part: str
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
class _Rel:
    id: str
    type: str
    target: str  # resolved part name (no leading slash); empty for external targets


@dataclass
class _Package:
    """The source package's structure and the text of the parts we edit, as edited so far."""

    zin: zipfile.ZipFile
    names: dict[str, str]  # lower-case part name -> name in the zip (part names ignore case)
    wb_part: str
    main_ns: str
    rel_ns: str
    rels: list[_Rel]
    sheets: list[tuple[str, str]]  # (name, relationship id) in tab order
    sheet_ids: list[int]
    ct_part: str
    wb_text: str
    rels_text: str
    ct_text: str
    drop: set[str] = field(default_factory=set)
    added: dict[str, bytes] = field(default_factory=dict)
    edited: dict[str, bytes] = field(default_factory=dict)

    @classmethod
    def read(cls, zin: zipfile.ZipFile) -> "_Package":
        names = {info.filename.lower(): info.filename for info in zin.infolist()}
        wb_part = _workbook_part(zin, names)
        wb_data = _read_part(zin, names, wb_part)
        wb_root = _parse(wb_data, wb_part)
        main_ns = _namespace(wb_root.tag)
        if main_ns not in (_MAIN_NS, _STRICT_MAIN_NS):
            raise InputError(f"{wb_part} is not a spreadsheet workbook part.")
        rels_part = _rels_name(wb_part)
        rels_data = _read_part(zin, names, rels_part)
        ct_part = names.get("[content_types].xml")
        if ct_part is None:
            raise InputError("The workbook has no [Content_Types].xml part; it is damaged.")
        ct_data = _read_part(zin, names, ct_part)
        _parse(ct_data, ct_part)  # edited as text below: refuse a damaged one first
        sheets = _sheet_elements(wb_root, main_ns)
        if not sheets:
            raise InputError("The workbook lists no sheets; it is damaged.")
        return cls(
            zin=zin,
            names=names,
            wb_part=wb_part,
            main_ns=main_ns,
            rel_ns=_STRICT_REL_NS if main_ns == _STRICT_MAIN_NS else _REL_NS,
            rels=_parse_rels(rels_data, rels_part, wb_part),
            sheets=[
                (
                    el.get("name", ""),
                    el.get(f"{{{_REL_NS}}}id") or el.get(f"{{{_STRICT_REL_NS}}}id") or "",
                )
                for el in sheets
            ],
            sheet_ids=[_int(el.get("sheetId")) for el in sheets],
            ct_part=ct_part,
            wb_text=_decode(wb_data, wb_part),
            rels_text=_decode(rels_data, rels_part),
            ct_text=_decode(ct_data, ct_part),
        )

    @property
    def wb_dir(self) -> str:
        return posixpath.dirname(self.wb_part)

    def part(self, target: str) -> str | None:
        """The zip name of a relationship target, if the part exists."""
        return self.names.get(target.lower()) if target else None

    def add_relationship(self, kind: str, part: str) -> str:
        """Add a relationship from the workbook to ``part``; return its id."""
        rels = _parse_rels(self.rels_text.encode(), _rels_name(self.wb_part), self.wb_part)
        used = {r.id for r in rels}
        n = len(used) + 1
        while f"rId{n}" in used:
            n += 1
        rid = f"rId{n}"
        target = _escape_attr(posixpath.relpath(part, self.wb_dir or "."))
        p = _root_prefix(self.rels_text)
        entry = f'<{p}Relationship Id="{rid}" Type="{self.rel_ns}/{kind}" Target="{target}"/>'
        self.rels_text = _append_to_root(self.rels_text, entry)
        return rid

    def free_part_name(self, pattern: str, start: int) -> str:
        """A part name beside the workbook not used yet (``pattern`` has one ``{}``)."""
        ct_lower = self.ct_text.lower()
        n = start
        while True:
            part = posixpath.join(self.wb_dir, pattern.format(n or ""))
            if part.lower() not in self.names and f'"/{part.lower()}"' not in ct_lower:
                return part
            n += 1


def _plan(zin: zipfile.ZipFile, log: ResultSheet, sheet_name: str) -> _SheetLayout:
    """Read the package structure and prepare the edited parts."""
    pkg = _Package.read(zin)
    layout = _Layout.of(log)
    folded = sheet_name.casefold()
    index = next((i for i, (name, _) in enumerate(pkg.sheets) if name.casefold() == folded), None)
    if index is None:
        index, sheet_part = len(pkg.sheets), _append_log_sheet(pkg, sheet_name)
    else:
        sheet_part = _reuse_log_sheet(pkg, sheet_name, index)
    pkg.wb_text = _set_active_tab(pkg.wb_text, index)
    pkg.wb_text = _set_filter_name(pkg.wb_text, sheet_name, index, layout.filter_ref)
    styles = _log_styles(pkg)
    pkg.ct_text = _set_override(pkg.ct_text, sheet_part, _WORKSHEET_CT)
    pkg.ct_text = _remove_overrides(pkg.ct_text, pkg.drop)

    pkg.edited[pkg.wb_part] = pkg.wb_text.encode("utf-8")
    pkg.edited[_rels_name(pkg.wb_part)] = pkg.rels_text.encode("utf-8")
    pkg.edited[pkg.ct_part] = pkg.ct_text.encode("utf-8")

    rels_by_id = {rel.id: rel for rel in pkg.rels}
    other_sheets = {
        part
        for i, (_, rid) in enumerate(pkg.sheets)
        if i != index and rid in rels_by_id and (part := pkg.part(rels_by_id[rid].target))
    }
    return _SheetLayout(
        sheet_part=sheet_part,
        main_ns=pkg.main_ns,
        layout=layout,
        styles=styles,
        edited=pkg.edited,
        added=pkg.added,
        drop=pkg.drop,
        other_sheets=other_sheets - set(pkg.edited),
    )


def _append_log_sheet(pkg: _Package, sheet_name: str) -> str:
    """Add a new worksheet part and its entry as the last sheet; return the part name."""
    part = pkg.free_part_name("worksheets/sheet{}.xml", len(pkg.sheets) + 1)
    rid = pkg.add_relationship("worksheet", part)
    sheet_id = max(pkg.sheet_ids, default=0) + 1
    pkg.wb_text = _append_sheet_entry(pkg.wb_text, sheet_name, sheet_id, rid, pkg.rel_ns)
    return part


def _reuse_log_sheet(pkg: _Package, sheet_name: str, index: int) -> str:
    """Take over the part of the existing log sheet, leaving out what belonged to the old one."""
    name, rid = pkg.sheets[index]
    rel = next((r for r in pkg.rels if r.id == rid), None)
    if rel is None or not rel.target:
        raise InputError(f"The sheet '{name}' in the workbook is damaged.")
    if not rel.type.endswith("/worksheet"):
        raise InputError(
            f"The workbook already has a sheet named '{name}' that is not a worksheet "
            "(a chart sheet?); rename it and run again."
        )
    part = pkg.part(rel.target) or rel.target
    pkg.drop |= _stale_parts(pkg.zin, pkg.names, part)
    for calc in pkg.rels:
        if calc.type.endswith("/calcChain") and (chain := pkg.part(calc.target)):
            # The calculation chain may list formulas of the old sheet; Excel rebuilds it.
            pkg.rels_text = _remove_relationship(pkg.rels_text, calc.id)
            pkg.drop.add(chain)
    pkg.wb_text = _replace_sheet_entry(pkg.wb_text, sheet_name, index, len(pkg.sheets))
    return part


def _log_styles(pkg: _Package) -> _StyleIds:
    """Add the log's formats to the workbook's styles part, creating the part if there is none."""
    rel = next((r for r in pkg.rels if r.type.endswith("/styles")), None)
    part = pkg.part(rel.target) if rel is not None else None
    if part is not None:
        data = _read_part(pkg.zin, pkg.names, part)
        text, ids = _add_styles(_decode(data, part), _parse(data, part))
        pkg.edited[part] = text.encode("utf-8")
        return ids
    if rel is not None:  # a relationship to a missing part
        pkg.rels_text = _remove_relationship(pkg.rels_text, rel.id)
    part = pkg.free_part_name("styles{}.xml", 0)
    blank = _blank_styles(pkg.main_ns)
    text, ids = _add_styles(blank, SafeET.fromstring(blank))
    pkg.added[part] = text.encode("utf-8")
    pkg.add_relationship("styles", part)
    pkg.ct_text = _set_override(pkg.ct_text, part, _STYLES_CT)
    return ids


# --------------------------------------------------------------------------- writing


def _write_atomically(dest: Path, write: Callable[[BinaryIO], None]) -> None:
    """Write through a temporary file next to ``dest`` and move it into place when complete."""
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


def _open_temp(dest: Path) -> tuple[Path, BinaryIO]:
    """Create a new temporary file beside ``dest`` with the usual permissions (umask applies)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = dest.with_name(f".~{dest.name}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, flags, 0o666)
        except FileExistsError:
            continue
        except PermissionError as exc:
            raise InputError(f"Cannot write in the folder {dest.parent}.") from exc
        return tmp, os.fdopen(fd, "wb")


def _write_package(
    zin: zipfile.ZipFile, fh: BinaryIO, plan: _SheetLayout, log: ResultSheet
) -> None:
    """Copy the source parts (edited where planned) and add the log sheet."""
    with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zout:
        written: set[str] = set()
        for info in zin.infolist():
            name = info.filename
            if name in written or name in plan.drop or name == plan.sheet_part:
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
        big = len(log.rows) * plan.layout.width > 2_000_000
        with zout.open(plan.sheet_part, "w", force_zip64=big) as dst:
            for chunk in _sheet_xml(log, plan.layout, plan.styles, plan.main_ns):
                dst.write(chunk.encode("utf-8"))


def _unselected_head(src: BinaryIO) -> bytes:
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
class _Layout:
    """Where the parts of the log go on the sheet (1-based rows)."""

    header_row: int
    last_row: int
    width: int
    table_width: int
    filter_ref: str | None

    @classmethod
    def of(cls, log: ResultSheet) -> "_Layout":
        header_row = len(log.summary) + 3
        table_width = max([len(log.columns), *(len(row) for row in log.rows)])
        width = max(table_width, 2 if log.summary else 1)
        has_table = bool(log.columns or log.rows)
        last_row = header_row + len(log.rows) if has_table else 1 + len(log.summary)
        if last_row > _MAX_ROWS or width > _MAX_COLS:
            raise ValueError(
                f"The log has {last_row} rows and {width} columns; a sheet holds at most "
                f"{_MAX_ROWS} rows and {_MAX_COLS} columns."
            )
        filter_ref = None
        if log.columns:
            corner = f"{column_letter(table_width - 1)}{max(last_row, header_row)}"
            filter_ref = f"A{header_row}:{corner}"
        return cls(header_row, last_row, width, table_width, filter_ref)


def _sheet_xml(log: ResultSheet, layout: _Layout, ids: _StyleIds, main_ns: str) -> Iterator[str]:
    """Yield the worksheet XML of the log in chunks, so a large log is not one huge string."""
    letters = [column_letter(i) for i in range(layout.width)]
    top = layout.header_row + 1
    corner = f"{letters[-1]}{layout.last_row}"
    dimension = "A1" if corner == "A1" else f"A1:{corner}"
    yield (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<worksheet xmlns="{main_ns}">'
        f'<dimension ref="{dimension}"/>'
        '<sheetViews><sheetView tabSelected="1" workbookViewId="0">'
        f'<pane ySplit="{layout.header_row}" topLeftCell="A{top}" activePane="bottomLeft"'
        ' state="frozen"/>'
        f'<selection pane="bottomLeft" activeCell="A{top}" sqref="A{top}"/>'
        "</sheetView></sheetViews>"
        f"<cols>{_cols_xml(log, layout.width)}</cols>"
        "<sheetData>"
    )
    head: list[str] = []
    if log.title:
        head.append(f'<row r="1">{_cell("A1", log.title, ids.bold)}</row>')
    for n, (label, value) in enumerate(log.summary, start=2):
        cells = _cell(f"A{n}", label, ids.bold) + _cell(f"B{n}", value, ids.plain)
        if cells:
            head.append(f'<row r="{n}">{cells}</row>')
    if log.columns:
        n = layout.header_row
        cells = "".join(_cell(f"{letters[j]}{n}", v, ids.header) for j, v in enumerate(log.columns))
        head.append(f'<row r="{n}">{cells}</row>')
    yield "".join(head)

    actions, by_action, plain = log.actions, ids.actions, ids.plain
    n_actions, table_width = len(actions), layout.table_width
    out: list[str] = []
    for i, row in enumerate(log.rows):
        n = top + i
        styles = by_action.get(actions[i]) if i < n_actions else None
        if styles is None:
            cells = [_cell(f"{letters[j]}{n}", v, plain) for j, v in enumerate(row)]
        else:
            # Every cell of a coloured row is written, empty ones too, so the band is unbroken.
            blank = f' s="{styles.number}"/>'
            cells = [
                _cell(f"{letters[j]}{n}", v, styles) or f'<c r="{letters[j]}{n}"{blank}'
                for j, v in enumerate(row)
            ]
            cells.extend(f'<c r="{letters[j]}{n}"{blank}' for j in range(len(row), table_width))
        out.append(f'<row r="{n}">{"".join(cells)}</row>')
        if len(out) >= 4096:
            yield "".join(out)
            out.clear()
    yield "".join(out)

    tail = "</sheetData>"
    if layout.filter_ref:
        tail += f'<autoFilter ref="{layout.filter_ref}"/>'
    tail += (
        '<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/>'
        "</worksheet>"
    )
    yield tail


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


def _cols_xml(log: ResultSheet, width: int) -> str:
    """Column widths from the header and the first rows: narrow numbers, wide text, capped."""
    longest = [0] * width
    sample: list[Iterable[Cell]] = [log.columns, *log.rows[:_WIDTH_SAMPLE_ROWS]]
    sample += [[label, value] for label, value in log.summary]
    for row in sample:
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

    def __init__(self, root: Element, ns: str, prefix: str, name: str) -> None:
        self.name, self.ns, self.prefix = name, ns, prefix
        node = root.find(f"{{{ns}}}{name}")
        self.present = node is not None
        self.keys = [_key(child) for child in node] if node is not None else []
        self.first = node[0] if node is not None and len(node) else None
        self.new: list[str] = []

    def index(self, xml: str) -> int:
        """Index of the entry ``xml`` (written with the part's prefix), appending it if new."""
        declare = f"xmlns:{self.prefix[:-1]}" if self.prefix else "xmlns"
        wrapped = f'<{self.prefix}w {declare}="{self.ns}">{xml}</{self.prefix}w>'
        key = _key(SafeET.fromstring(wrapped)[0])
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


def _add_styles(text: str, root: Element) -> tuple[str, _StyleIds]:
    """Append the fonts, fills and cell formats the log needs; return their cellXfs indices."""
    ns = _namespace(root.tag)
    p = _root_prefix(text)
    fonts = _Collection(root, ns, p, "fonts")
    fills = _Collection(root, ns, p, "fills")
    borders = _Collection(root, ns, p, "borders")
    xfs = _Collection(root, ns, p, "cellXfs")
    style_xfs = root.find(f"{{{ns}}}cellStyleXfs")
    has_style_xf = style_xfs is not None and len(style_xfs) > 0

    if not fonts.keys:
        fonts.index(f"<{p}font>{_default_font(p)}</{p}font>")
    if not fills.keys:
        fills.index(f'<{p}fill><{p}patternFill patternType="none"/></{p}fill>')
        fills.index(f'<{p}fill><{p}patternFill patternType="gray125"/></{p}fill>')
    if not borders.keys:
        borders.index(
            f"<{p}border><{p}left/><{p}right/><{p}top/><{p}bottom/><{p}diagonal/></{p}border>"
        )
    if not xfs.keys:
        xfs.index(f'<{p}xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>')

    bold_font = fonts.index(_bold_font(fonts.first, ns, p))

    def fill(rgb: str) -> int:
        return fills.index(
            f'<{p}fill><{p}patternFill patternType="solid"><{p}fgColor rgb="FF{rgb}"/>'
            f'<{p}bgColor indexed="64"/></{p}patternFill></{p}fill>'
        )

    def xf(font: int, fill_id: int, fmt: int, quote: bool) -> int:
        attrs = f'numFmtId="{fmt}" fontId="{font}" fillId="{fill_id}" borderId="0"'
        if has_style_xf:
            attrs += ' xfId="0"'
        if fmt:
            attrs += ' applyNumberFormat="1"'
        if font:
            attrs += ' applyFont="1"'
        if fill_id:
            attrs += ' applyFill="1"'
        if quote:
            attrs += ' quotePrefix="1"'
        return xfs.index(f"<{p}xf {attrs}/>")

    def look(font: int, fill_id: int) -> _CellStyles:
        return _CellStyles(
            text=xf(font, fill_id, _TEXT_FORMAT, False),
            quote=xf(font, fill_id, _TEXT_FORMAT, True),
            number=xf(font, fill_id, 0, False),
        )

    ids = _StyleIds(
        bold=look(bold_font, 0),
        plain=look(0, 0),
        header=look(bold_font, fill(_HEADER_FILL)),
        actions={action: look(0, fill(rgb)) for action, rgb in ACTION_COLOURS.items()},
    )
    for collection in (fonts, fills, borders, xfs):
        text = collection.apply(text)
    return text, ids


def _bold_font(first: Element | None, ns: str, p: str) -> str:
    """The workbook's default font (size, name, colour, scheme) made bold."""
    parts = [f"<{p}b/>"]
    if first is None:
        parts.append(_default_font(p))
    else:
        for child in first:
            local = child.tag.rpartition("}")[2]
            if _namespace(child.tag) != ns or local in ("b", "i", "u", "strike") or len(child):
                continue
            attrs = "".join(
                f' {name}="{_escape_attr(value)}"'
                for name, value in child.attrib.items()
                if not name.startswith("{")
            )
            parts.append(f"<{p}{local}{attrs}/>")
    return f"<{p}font>{''.join(parts)}</{p}font>"


def _default_font(p: str) -> str:
    return f'<{p}sz val="11"/><{p}name val="Calibri"/><{p}family val="2"/>'


def _key(element: Element) -> tuple[object, ...]:
    """A comparable form of an element: tag, attributes and children, ignoring prefixes."""
    return (element.tag, tuple(sorted(element.attrib.items())), tuple(_key(c) for c in element))


def _insert_in_order(text: str, p: str, name: str, xml: str) -> str:
    """Insert a missing styles list where the schema order wants it."""
    for later in _STYLE_ORDER[_STYLE_ORDER.index(name) + 1 :]:
        span = _first(text, p + later)
        if span is not None:
            return text[: span.start] + xml + text[span.start :]
    return _append_to_root(text, xml)


# --------------------------------------------------------------------------- workbook.xml


def _sheet_elements(root: Element, ns: str) -> list[Element]:
    sheets = root.find(f"{{{ns}}}sheets")
    return list(sheets.findall(f"{{{ns}}}sheet")) if sheets is not None else []


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
    names = _first(text, p + "definedNames")
    if names is not None:
        return _append_child(text, names, p + "definedNames", entry)
    # No defined names yet: the list goes after <sheets> and the two lists that may follow it.
    after = max(span.end for name in _WORKBOOK_AFTER_SHEETS if (span := _first(text, p + name)))
    return f"{text[:after]}<{p}definedNames>{entry}</{p}definedNames>{text[after:]}"


# --------------------------------------------------------------------------- package parts


def _workbook_part(zin: zipfile.ZipFile, names: dict[str, str]) -> str:
    """The main workbook part, as the package relationships name it."""
    if "_rels/.rels" in names:
        for rel in _parse_rels(_read_part(zin, names, "_rels/.rels"), "_rels/.rels", ""):
            if rel.type.endswith("/officeDocument") and rel.target.lower() in names:
                return names[rel.target.lower()]
    if "xl/workbook.xml" in names:
        return names["xl/workbook.xml"]
    raise InputError("The file has no workbook part; it is not an .xlsx workbook.")


def _read_part(zin: zipfile.ZipFile, names: dict[str, str], part: str) -> bytes:
    name = names.get(part.lower())
    if name is None:
        raise InputError(f"The workbook has no {part} part; it is damaged.")
    info = zin.getinfo(name)
    if info.file_size > _MAX_EDITED_PART:
        raise InputError(f"The part {part} of the workbook is too large to process.")
    return zin.read(info)


def _parse(data: bytes, part: str) -> Element:
    try:
        return SafeET.fromstring(data)
    except (ParseError, DefusedXmlException) as exc:
        raise InputError(f"The part {part} of the workbook is damaged: {exc}") from exc


def _decode(data: bytes, part: str) -> str:
    """Text of an XML part; we write it back as UTF-8, so the declaration must say so."""
    try:
        if not data.startswith((b"\xff\xfe", b"\xfe\xff")):
            return data.decode("utf-8-sig")
        text = data.decode("utf-16")
    except UnicodeDecodeError as exc:
        raise InputError(f"The part {part} of the workbook is damaged: {exc}") from exc
    return _XML_DECL_ENCODING.sub(r"\1\2UTF-8\2", text, count=1)


def _rels_name(part: str) -> str:
    """``xl/workbook.xml`` -> ``xl/_rels/workbook.xml.rels``; the package itself is ``''``."""
    folder, base = posixpath.split(part)
    return posixpath.join(folder, "_rels", base + ".rels")


def _parse_rels(data: bytes, rels_part: str, source_part: str) -> list[_Rel]:
    root = _parse(data, rels_part)
    base = posixpath.dirname(source_part)
    rels = []
    for el in root.iter(f"{{{_PKG_REL_NS}}}Relationship"):
        target = el.get("Target", "")
        if el.get("TargetMode", "Internal") == "External":
            resolved = ""
        elif target.startswith("/"):
            resolved = posixpath.normpath(unquote(target)).lstrip("/")
        else:
            resolved = posixpath.normpath(posixpath.join(base, unquote(target))).lstrip("/")
        rels.append(_Rel(el.get("Id", ""), el.get("Type", ""), resolved))
    return rels


def _stale_parts(zin: zipfile.ZipFile, names: dict[str, str], sheet_part: str) -> set[str]:
    """The old log sheet's relationships file and parts only it used (tables, drawings, ...)."""
    old_rels = _rels_name(sheet_part)
    if old_rels.lower() not in names:
        return set()
    stale = {names[old_rels.lower()]}
    try:
        candidates = _reachable(zin, names, [sheet_part], skip=None) - {sheet_part}
        if not candidates:
            return stale
        kept = _reachable(zin, names, [""], skip=names[old_rels.lower()])
    except InputError:
        return stale  # a damaged relationships file elsewhere: remove nothing we cannot vouch for
    for part in candidates - kept:
        stale.add(part)
        rels = _rels_name(part)
        if rels.lower() in names:
            stale.add(names[rels.lower()])
    return stale


def _reachable(
    zin: zipfile.ZipFile, names: dict[str, str], start: list[str], skip: str | None
) -> set[str]:
    """Parts reached from ``start`` through relationships, not following the file ``skip``."""
    seen = set(start)
    todo = list(start)
    while todo:
        part = todo.pop()
        rels = names.get(_rels_name(part).lower())
        if rels is None or rels == skip:
            continue
        for rel in _parse_rels(_read_part(zin, names, rels), rels, part):
            target = names.get(rel.target.lower()) if rel.target else None
            if target is not None and target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def _remove_relationship(text: str, rid: str) -> str:
    p = _root_prefix(text)
    for span in reversed(list(_elements(text, p + "Relationship"))):
        if _attrs(span.tag).get("Id") == rid:
            text = text[: span.start] + text[span.end :]
    return text


def _set_override(text: str, part: str, content_type: str) -> str:
    """Give ``part`` its content type, replacing an Override it may already have."""
    p = _root_prefix(text)
    name = "/" + part
    for span in reversed(list(_elements(text, p + "Override"))):
        if _attrs(span.tag).get("PartName", "").lower() == name.lower():
            text = text[: span.start] + text[span.end :]
    entry = f'<{p}Override PartName="{_escape_attr(name)}" ContentType="{content_type}"/>'
    return _append_to_root(text, entry)


def _remove_overrides(text: str, parts: set[str]) -> str:
    if not parts:
        return text
    p = _root_prefix(text)
    gone = {"/" + part.lower() for part in parts}
    for span in reversed(list(_elements(text, p + "Override"))):
        if _attrs(span.tag).get("PartName", "").lower() in gone:
            text = text[: span.start] + text[span.end :]
    return text


# --------------------------------------------------------------------------- XML text editing


def _namespace(tag: str) -> str:
    return tag[1:].partition("}")[0] if tag.startswith("{") else ""


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
            return name[6:]
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
