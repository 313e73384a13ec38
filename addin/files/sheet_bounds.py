"""How much reading a sheet will cost, measured from its XML before any reader allocates a grid.

python-calamine builds a dense grid from A1 to the farthest cell, and copies a shared string
into every cell that points to it: a 2 KB file with one cell at ``XFD1048576`` would ask for half
a terabyte, and a 16 KB one whose thousand cells point to one 10 MB string for 10 GB. So the
sheet's cells are counted first: where they are (against Excel's limits, and against how many
cells are really there) and how much text they hold once shared strings are expanded. A sheet
past those bounds is refused with one line saying what to do; a sheet within them is read as
before.

The count is taken by ``SheetScan`` while the file checks decompress each worksheet part to
prove it well-formed, so a sheet is decompressed and scanned once. It reads the bytes with
regular expressions, counting every cell start tag to be sure each one was seen; a sheet written
any other way (cells without an ``r`` address first, comments, namespace prefixes) is read by
lxml's streaming parser instead, slower and exact.
"""

import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import IO

from lxml import etree

from addin.files import opc
from addin.workbooks.interface import column_letter
from backend.errors import InputError

__all__ = ["EXCEL_COLUMNS", "EXCEL_ROWS", "SheetBounds", "SheetExtent", "SheetScan"]

EXCEL_ROWS = 1_048_576
EXCEL_COLUMNS = 16_384

GRID_FLOOR = 2_000_000
"""A grid of this many cells is always read (about 100 MB at most), however empty."""
GRID_PER_CELL = 8
"""Beyond the floor, a sheet's grid may be this many times the cells it really has."""

CHUNK_BYTES = 4 << 20

_ATTR = rb"""\s+[\w.:-]+\s*=\s*(?:"[^"]*"|'[^']*')"""
_UNUSUAL = (b"<!--", b"<![CDATA[")


@dataclass
class SheetExtent:
    """The cells of a sheet: how many, the farthest row and column, the shared strings used,
    and the last cell its ``<dimension>`` claims."""

    cells: int = 0
    last_row: int = 0  # 1-based
    last_column: int = 0  # 1-based
    shared: Counter[int] | None = None
    """How many cells point to each shared string; counted only when needed."""
    dimension: tuple[int, int] | None = None

    def add(self, row: int, column: int) -> None:
        self.cells += 1
        self.last_row = max(self.last_row, row)
        self.last_column = max(self.last_column, column)


_OTHER_PREFIX = re.compile(rb":c[\s/>]")
"""A cell spelt with a namespace prefix: left to the parser."""
_CELL = re.compile(rb'<c(?: r="([A-Z]{1,7}\d{1,12})"|(?=[\s/>]))')
"""Every cell start tag: its address where it comes first, as every writer puts it, else empty."""
_LONG_TEXT = 1 << 16
"""Past this, what follows the last ``<`` is far more than any tag start the scan reads."""
_DIGITS = b"0123456789"
_CAPITALS = bytes(range(ord("A"), ord("Z") + 1))
_SHARED_MARK = re.compile(rb"""\st\s*=\s*["']s["']""")
_SHARED = re.compile(
    rb"<c(?:(?!\s+t\s*=)"
    + _ATTR
    + rb")*\s+t\s*=\s*[\"']s[\"'](?:"
    + _ATTR
    + rb")*\s*>\s*<v\s*>\s*(\d{1,12})\s*<"
)


def _column(letters: bytes) -> int:
    """1-based column number of letters (``A`` is 1)."""
    number = 0
    for letter in letters:
        number = number * 26 + letter - 64
    return number


class SheetScan:
    """Measures a worksheet part fed in chunks as it is decompressed: ``extent()`` is its
    ``SheetExtent``, or None when the part is not written the usual way (then only a parser
    can place its cells)."""

    def __init__(self) -> None:
        self._extent: SheetExtent | None = SheetExtent()
        self._carry = b""
        self._before_cells = True

    def feed(self, chunk: bytes) -> None:
        """Measure up to the last ``<`` (so that no tag is cut in two) and keep the rest, unless
        the rest is long: then it is one tag start and text, measured now and let go, so that
        a long text is never copied again with every chunk."""
        if self._extent is None:
            return
        buffer = self._carry + chunk
        cut = buffer.rfind(b"<")
        if cut > 0:
            self._measure(buffer[:cut], self._extent)
        self._carry = buffer[cut:] if cut >= 0 else b""
        if len(self._carry) > _LONG_TEXT and self._extent is not None:
            self._measure(self._carry, self._extent)
            self._carry = b""

    def extent(self) -> SheetExtent | None:
        if self._extent is not None and self._carry:
            self._measure(self._carry, self._extent)
            self._carry = b""
        return self._extent

    def _measure(self, piece: bytes, extent: SheetExtent) -> None:
        """Count the cells of ``piece`` and find the farthest. Text in a comment or CDATA
        section that looks like a cell is counted too: the count can only err upwards."""
        if self._before_cells:  # calamine heeds a <dimension> only before the cells
            extent.dimension = extent.dimension or _dimension_end(piece)
            self._before_cells = b"<sheetData" not in piece
        if b":c" in piece and _OTHER_PREFIX.search(piece):
            self._extent = None
            return
        addresses = _CELL.findall(piece)
        if b"" in addresses:  # a cell without its address first
            self._extent = None
            return
        if not addresses:
            return
        joined = b" ".join(addresses)  # split in C, not address by address in Python
        letters = set(joined.translate(None, _DIGITS).split())
        extent.cells += len(addresses)
        extent.last_row = max(extent.last_row, *map(int, joined.translate(None, _CAPITALS).split()))
        widest = max(letters, key=lambda c: (len(c), c))
        extent.last_column = max(extent.last_column, _column(widest))


def measure_sheet(stream: IO[bytes]) -> SheetExtent:
    """The extent of a worksheet part read from ``stream``: by ``SheetScan``, else parsed."""
    scan = SheetScan()
    while chunk := stream.read(CHUNK_BYTES):
        scan.feed(chunk)
    extent = scan.extent()
    if extent is None:
        stream.seek(0)
        return _parse_cells(stream)
    return extent


def _shared_cells(stream: IO[bytes]) -> Counter[int]:
    """How many cells point to each shared string, by expressions or else by the parser."""
    shared: Counter[int] = Counter()
    for piece in _pieces(stream):
        found = _SHARED.findall(piece)
        if len(found) != len(_SHARED_MARK.findall(piece)):
            stream.seek(0)
            return _parse_cells(stream).shared or Counter()
        shared.update(int(i) for i in found)
    return shared


def _pieces(stream: IO[bytes]) -> Iterator[bytes]:
    """The sheet in pieces of about ``CHUNK_BYTES``, each cut before its last cell start tag,
    or anywhere after a long text (a cell cut in two there only sends the count to the parser,
    as ``_shared_cells`` compares two counts)."""
    carry = b""
    while chunk := stream.read(CHUNK_BYTES):
        buffer = carry + chunk
        cut = buffer.rfind(b"<c")
        if cut < 0 or len(buffer) - cut > _LONG_TEXT:
            cut = len(buffer)
        yield buffer[:cut]
        carry = buffer[cut:]
    yield carry


def _parse_cells(stream: IO[bytes]) -> SheetExtent:
    """The exact pass: cells placed as calamine places them (a row or cell without an address
    follows the previous one), by a streaming parser that keeps one row in memory."""
    extent = SheetExtent(shared=Counter())
    row = column = 0
    parser = etree.iterparse(
        stream,
        events=("start", "end"),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
    )
    for event, element in parser:
        name = opc.local_name(element.tag)
        if event == "start" and name == "dimension":
            extent.dimension = _range_end(element.get("ref", "").encode())
        elif event == "start" and name == "row":
            row = _row_number(element.get("r"), row + 1)
            column = 0
        elif event == "end" and name == "c":
            row, column = _cell_place(element.get("r"), row, column + 1)
            extent.add(row, column)
            if element.get("t") == "s" and extent.shared is not None:
                value = element.findtext(f"{{{opc.namespace(element.tag)}}}v") or ""
                if value.strip().isdigit():
                    extent.shared[int(value)] += 1
            element.clear(keep_tail=False)
        elif event == "end" and name == "row":
            element.clear(keep_tail=False)
    return extent


def _row_number(text: str | None, default: int) -> int:
    text = (text or "").strip()
    return int(text) if text.isdigit() else default


_REFERENCE = re.compile(r"\s*([A-Za-z]{1,7})(\d{1,12})\s*")


def _cell_place(text: str | None, row: int, column: int) -> tuple[int, int]:
    found = _REFERENCE.fullmatch(text) if text else None
    if found is None:
        return row, column
    return int(found.group(2)), _column(found.group(1).upper().encode())


_DIMENSION = re.compile(rb"""<(?:[\w.-]+:)?dimension\s+ref\s*=\s*["']([^"']*)["']""")
_RANGE_END = re.compile(rb"\$?([A-Za-z]{1,7})\$?(\d{1,12})\s*$")


def _dimension_end(head: bytes) -> tuple[int, int] | None:
    """The last cell the sheet's ``<dimension>`` claims, if it names one."""
    found = _DIMENSION.search(head)
    return _range_end(found.group(1)) if found else None


def _range_end(ref: bytes) -> tuple[int, int] | None:
    end = _RANGE_END.search(ref)
    if end is None:
        return None
    return int(end.group(2)), _column(end.group(1).upper())


class SheetBounds:
    """Checks the sheets of one workbook file; the shared strings are measured once.

    ``measured`` holds the extents the file checks took of worksheet parts on their way (by
    part name; None where only the parser can tell): those parts are not read again.
    """

    def __init__(
        self,
        package: opc.Package,
        file_name: str,
        max_text_chars: int,
        measured: Mapping[str, SheetExtent | None] | None = None,
    ) -> None:
        self.package = package
        self.file_name = file_name
        self.max_text_chars = max_text_chars
        self.measured = measured or {}
        self._shared_lengths: list[int] | None = None

    def check(self, sheet: str) -> None:
        """Raise ``InputError`` unless reading ``sheet`` stays within Excel's limits, a grid
        proportionate to its cells, and the text limit."""
        workbook = self.package.workbook_part()
        name = self.package.name(self.package.sheet_part(workbook, sheet))
        if name is None:
            return  # calamine reports the missing part
        try:
            extent = self._extent(name)
            self._check_extent(sheet, extent)
            self._check_text(sheet, name, extent)
        except etree.XMLSyntaxError as e:
            raise InputError(
                f"{self.file_name}: the sheet '{sheet}' is damaged ({e.msg}), so it was not "
                "read; ask for a copy saved from Excel."
            ) from e

    def _damaged(self, sheet: str, row: int, column: int, claims: bool = False) -> InputError:
        where = f"row {row:,}" if row > EXCEL_ROWS else f"column {column:,}"
        what = "claims to reach" if claims else "has a cell in"
        return InputError(
            f"{self.file_name}: the sheet '{sheet}' {what} {where}, beyond Excel's last row "
            f"({EXCEL_ROWS:,}) or column (XFD); the file is damaged or was not made by Excel, "
            "so it was not read; ask for a copy saved from Excel."
        )

    def _extent(self, part: str) -> SheetExtent:
        extent = self.measured.get(part)
        if extent is not None:
            return extent
        with self.package.zip.open(part) as stream:
            if part in self.measured:  # measured, but written in a way only a parser reads
                return _parse_cells(stream)
            return measure_sheet(stream)

    def _check_extent(self, sheet: str, extent: SheetExtent) -> None:
        end = extent.dimension
        if end is not None and (end[0] > EXCEL_ROWS or end[1] > EXCEL_COLUMNS):
            raise self._damaged(sheet, *end, claims=True)
        if extent.last_row > EXCEL_ROWS or extent.last_column > EXCEL_COLUMNS:
            raise self._damaged(sheet, extent.last_row, extent.last_column)
        grid = extent.last_row * extent.last_column
        if grid > max(GRID_FLOOR, GRID_PER_CELL * extent.cells):
            far = f"{column_letter(extent.last_column - 1)}{extent.last_row}"
            raise InputError(
                f"{self.file_name}: the sheet '{sheet}' has only {extent.cells:,} cells but "
                f"reaches as far as {far}, far beyond the rest; in Excel delete the rows below "
                "and the columns right of your table (select them, right-click > Delete), save, "
                "and try again."
            )

    def _check_text(self, sheet: str, part: str, extent: SheetExtent) -> None:
        """The text of the sheet's own XML, and each shared string once per cell using it.

        A first bound (every cell holding the longest shared string) spares the count of
        which cells use which string, for all but sheets near the limit.
        """
        lengths = self.shared_lengths()
        if not lengths:
            return
        longest = max(lengths)
        own = self.package.zip.getinfo(part).file_size
        if own + extent.cells * longest <= self.max_text_chars:
            return
        if extent.shared is None:
            with self.package.zip.open(part) as stream:
                extent.shared = _shared_cells(stream)
        total = own + sum(
            count * (lengths[i] if i < len(lengths) else longest)
            for i, count in extent.shared.items()
        )
        if total > self.max_text_chars:
            limit = self.max_text_chars / 1_000_000
            raise InputError(
                f"{self.file_name}: the sheet '{sheet}' holds over {limit:g} million characters "
                "of text once its repeated text is counted in every cell, more than the limit, "
                "so it was not read; remove the long text, or ask your administrator to raise "
                "the limit (setting PORTAL_MAX_TEXT_MB)."
            )

    def shared_lengths(self) -> list[int]:
        """For each shared string, at most its length: the bytes from the end of the previous
        one to its own end (every character takes a byte or more)."""
        if self._shared_lengths is None:
            self._shared_lengths = _shared_lengths(self.package)
        return self._shared_lengths


def _shared_lengths(package: opc.Package) -> list[int]:
    workbook = package.workbook_part()
    part = next(
        (r.target for r in package.relationships(workbook) if r.is_a("sharedStrings")), None
    )
    name = package.name(part) if part else None
    if name is None:
        return []
    if package.zip.getinfo(name).file_size > opc.MAX_READ_BYTES:
        return _parsed_lengths(package, name)
    data = package.read(name)
    first = min((i for i in (data.find(b"<si>"), data.find(b"<si ")) if i >= 0), default=0)
    strings = data[first:].split(b"</si>")[:-1]
    starts = data.count(b"<si>") + data.count(b"<si ")
    if any(marker in data for marker in _UNUSUAL) or len(strings) != starts:
        return _parsed_lengths(package, name)
    return [len(string) for string in strings]


def _parsed_lengths(package: opc.Package, name: str) -> list[int]:
    """Exact lengths, for a part with comments or CDATA sections, where tags may hide."""
    lengths = []
    with package.zip.open(name) as stream:
        for _, element in etree.iterparse(
            stream, events=("end",), resolve_entities=False, no_network=True, load_dtd=False
        ):
            if opc.local_name(element.tag) == "si":
                lengths.append(sum(len(text) for text in element.itertext()))
                element.clear(keep_tail=False)
    return lengths
