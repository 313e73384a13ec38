"""Decide whether an uploaded file is a plain, safe ``.xlsx`` workbook before any parser opens it.

Uploaded workbooks are untrusted. python-calamine reads the zip and the XML on its own, and
openpyxl has no zip-bomb limit, so everything that could hurt them is ruled out here first: files
that are too big, files that are not workbooks at all (each named, so staff know what to do),
password protection, macros, zip bombs, archives whose index lies about their contents, and XML
document type declarations (the vehicle of entity-expansion attacks). Every refusal is an
``InputError`` with one line of advice in plain language.

The work is one streaming pass over the archive in large chunks, so a 100k-row workbook is
checked in a small fraction of a second.
"""

import struct
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from lxml import etree

from addin.files import opc
from addin.files.opc import MAX_PARTS, MAX_RATIO, IndexProblem, PackageIndexError
from addin.files.sheet_bounds import SheetExtent, SheetScan
from backend.errors import InputError

MB = 1024 * 1024
"""Settings are in MB of 2**20 bytes: pass ``settings.max_file_mb * MB`` and so on."""

__all__ = ["MAX_PARTS", "MB", "PROLOGUE_BYTES", "check_workbook_file"]

CHUNK_BYTES = 1 * MB
PROLOGUE_BYTES = 4096
"""Writers put the root element within the first line; anything longer before it is suspect."""

MAX_CONTENT_TYPES_BYTES = 4 * MB

CONTENT_TYPES = opc.CONTENT_TYPES_PART
WORKBOOK_PART = opc.WORKBOOK_PART

_OLE_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
_ENCRYPTION_STREAMS = ("EncryptedPackage", "EncryptionInfo")
_CFB_DIR_ENTRY_BYTES = 128
_CFB_STREAM = 2
# SVG images may carry a DOCTYPE from the drawing program; no workbook parser reads them.
_IMAGE_XML_SUFFIXES = (".svg",)
_MACRO_CONTENT_TYPES = ("macroenabled", "vbaproject", "macrosheet")
_TEXT_CONTROLS = frozenset(range(32)) - {9, 10, 12, 13}
_XML_SPACE = " \t\r\n\ufeff"
# Markup cut off by the end of the window is undecided, not a root element.
_SHORTEST_DECISION = len("<!DOCTYPE")
_SAVE_AS = (
    "open it in Excel and use File > Save As > Excel Workbook (.xlsx), then choose the new file"
)
_SAVE_AGAIN = (
    "open it in Excel and save it again as an Excel Workbook (.xlsx), or ask for a new copy"
)

# The zip readers behind these exceptions report a damaged archive in different ways.
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    ValueError,
    NotImplementedError,
    RuntimeError,
    struct.error,
    OSError,
)


Measured = dict[str, SheetExtent | None]
"""The extent of each worksheet part, by part name, taken while it was checked."""


def check_workbook_file(path: Path, *, max_file_bytes: int, max_unpacked_bytes: int) -> Measured:
    """Raise ``InputError`` unless ``path`` is a macro-free ``.xlsx`` that is safe to parse;
    return the extents of its worksheets (for ``SheetBounds``), measured on the way.

    Sizes are in bytes. Nothing is extracted to disk and nothing is kept in memory beyond one
    chunk and the small ``[Content_Types].xml`` part.
    """
    path = Path(path)
    name = path.name or str(path)
    size = _regular_file_size(path)
    if size == 0:
        raise InputError(
            f"{name} is empty (0 bytes), so there is nothing to import; "
            "open the workbook in Excel, save it, and choose it again."
        )
    if size > max_file_bytes:
        raise InputError(
            f"{name} is {_mb(size)} MB, larger than the {_mb(max_file_bytes)} MB limit for "
            "workbooks; remove unused sheets and rows, or ask your administrator to raise the "
            "limit (setting PORTAL_MAX_FILE_MB)."
        )
    try:
        with path.open("rb") as f:
            head = f.read(PROLOGUE_BYTES)
            if head.startswith(_OLE_MAGIC):
                raise InputError(_ole_message(name, f))
            if head.startswith(_ZIP_MAGICS):
                opc.check_index_bounds(f, size)
    except PackageIndexError as e:
        raise _index_refusal(name, e, 0) from e
    except OSError as e:
        raise InputError(_unreadable_message(name, e)) from e
    if not head.startswith(_ZIP_MAGICS):
        raise InputError(_not_zip_message(name, path.suffix, head))
    content_types, measured = _check_zip(path, name, max_unpacked_bytes)
    _check_content_types(name, content_types)
    return measured


def _regular_file_size(path: Path) -> int:
    """Size of ``path``, or a message that says what the path is instead of a file."""
    try:
        if path.is_dir():
            raise InputError(f"{path} is a folder, not a file; choose the .xlsx workbook itself.")
        if not path.exists():
            raise InputError(
                f"File not found: {path}; check the name and the folder, then try again."
            )
        if not path.is_file():
            raise InputError(f"{path} is not a regular file; choose the .xlsx workbook itself.")
        return path.stat().st_size
    except OSError as e:
        raise InputError(_unreadable_message(path.name or str(path), e)) from e


def _mb(n: int) -> str:
    """Bytes as MB for a message: whole numbers without decimals."""
    value = n / MB
    return f"{value:.0f}" if value == int(value) else f"{value:.1f}"


def _unreadable_message(name: str, error: OSError) -> str:
    reason = error.strerror or type(error).__name__
    return (
        f"{name} could not be read ({reason}); close it in other programs, check that you may "
        "open it, then try again."
    )


def _damaged(name: str, detail: str = "") -> InputError:
    why = f" ({detail})" if detail else ""
    return InputError(f"{name} is damaged or unsafe{why}, so it was not opened; {_SAVE_AGAIN}.")


# --- not a zip ------------------------------------------------------------------------------


def _ole_message(name: str, f: BinaryIO) -> str:
    """An OLE compound file is either an encrypted new-style workbook or an old binary one."""
    if _cfb_has_stream(f, _ENCRYPTION_STREAMS):
        return (
            f"{name} is protected with a password, so it cannot be read; open it in Excel, "
            "remove the password (File > Info > Protect Workbook > Encrypt with Password, clear "
            "the password, OK), then save it again and choose it."
        )
    return f"{name} is an old Excel 97-2003 (.xls) workbook; {_SAVE_AS}."


def _cfb_has_stream(f: BinaryIO, names: Iterable[str]) -> bool:
    """True if the compound file has a stream directory entry with one of ``names``.

    Directory entries are 128 bytes, 128-aligned in the file (sectors are 512 or 4096 bytes
    after a 512-byte header), and record their name length and type; matching all of that keeps
    the same words inside cell text from counting. Aligned chunks never split an entry.
    """
    wanted = [(n.encode("utf-16-le") + b"\0\0", 2 * len(n) + 2) for n in names]
    f.seek(0)
    offset = 0
    while chunk := f.read(CHUNK_BYTES):
        for encoded, name_bytes in wanted:
            p = chunk.find(encoded)
            while p >= 0:
                entry = chunk[p : p + _CFB_DIR_ENTRY_BYTES]
                if (
                    (offset + p) % _CFB_DIR_ENTRY_BYTES == 0
                    and len(entry) == _CFB_DIR_ENTRY_BYTES
                    and int.from_bytes(entry[64:66], "little") == name_bytes
                    and entry[66] == _CFB_STREAM
                ):
                    return True
                p = chunk.find(encoded, p + 1)
        offset += len(chunk)
    return False


def _not_zip_message(name: str, suffix: str, head: bytes) -> str:
    """Name the common look-alikes: CSV or text saved under a workbook name, and web pages."""
    text = _as_text(head)
    if text is None:
        return (
            f"{name} is not an Excel workbook (.xlsx) and cannot be read; choose the workbook "
            "itself, or open the file in the program that made it and save it as an Excel "
            "Workbook (.xlsx)."
        )
    if text.lstrip(_XML_SPACE).startswith("<"):
        return (
            f"{name} looks like a web page or XML file, not an Excel workbook (.xlsx); {_SAVE_AS}."
        )
    looks = "renamed to .xlsx" if suffix.lower() == ".xlsx" else "not an Excel workbook (.xlsx)"
    return f"{name} looks like a CSV or text file {looks}; {_SAVE_AS}."


def _as_text(head: bytes) -> str | None:
    """The start of the file as text, or None if it has bytes no text file contains."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        codec = "utf-16-le" if head.startswith(b"\xff\xfe") else "utf-16-be"
        text = head[2 : len(head) // 2 * 2].decode(codec, errors="replace")
        return None if any(ord(c) in _TEXT_CONTROLS for c in text) else text
    if _TEXT_CONTROLS.intersection(head):
        return None
    return head.decode("latin-1")


# --- zip ------------------------------------------------------------------------------------


def _index_refusal(name: str, error: PackageIndexError, max_unpacked_bytes: int) -> InputError:
    """The plain-language refusal for what the zip's index shows."""
    problem = error.problem
    if problem is IndexProblem.TOO_MANY_PARTS:
        return InputError(
            f"{name} has {error.count} internal parts, more than the {MAX_PARTS} a workbook may "
            f"have; it may be damaged or unsafe, so it was not opened; {_SAVE_AGAIN}."
        )
    if problem is IndexProblem.INDEX_TOO_LARGE:
        return _damaged(name, "its table of contents is far larger than any workbook's")
    if problem is IndexProblem.DUPLICATE:
        return _damaged(name, "it lists the same part twice")
    if problem is IndexProblem.ENCRYPTED:
        return InputError(
            f"{name} has encrypted parts inside, which Excel workbooks never have; it may be "
            f"damaged or unsafe, so it was not opened; {_SAVE_AGAIN}."
        )
    if problem is IndexProblem.METHOD:
        return _damaged(name, "it is packed in a way Excel never uses")
    if problem is IndexProblem.TOO_BIG:
        return _too_big_unpacked(name, max_unpacked_bytes)
    if problem is IndexProblem.RATIO:
        return InputError(
            f"{name} contains a part that unpacks to over {MAX_RATIO} times its packed size "
            "(a 'zip bomb' pattern), so it was not opened; if you trust the file, open it in "
            "Excel, delete unused rows and columns, and save it again as .xlsx."
        )
    return _damaged(name, "its contents do not match its table of contents")


def _check_zip(path: Path, name: str, max_unpacked_bytes: int) -> tuple[bytes, Measured]:
    """Check the archive's index, then read every part once; return ``[Content_Types].xml``
    and the worksheets' extents."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            _check_index(name, zf, infos, max_unpacked_bytes)
            return _read_every_part(name, zf, infos, max_unpacked_bytes)
    except InputError:
        raise
    except PackageIndexError as e:
        raise _index_refusal(name, e, max_unpacked_bytes) from e
    except _ZIP_ERRORS as e:
        raise _damaged(name) from e


def _check_index(
    name: str, zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo], max_unpacked_bytes: int
) -> None:
    """Everything the central directory alone can tell, before anything is decompressed."""
    opc.check_names(infos)
    names = {info.filename for info in infos}
    _check_is_workbook(name, zf, names)
    for part in names:
        lower = part.lower()
        if PurePosixPath(lower).name.startswith("vbaproject") or "macrosheets/" in lower:
            raise _macros(name)
    opc.check_entries(infos, max_unpacked_bytes)


def _check_is_workbook(name: str, zf: zipfile.ZipFile, names: set[str]) -> None:
    """Say what a zip that is not a workbook seems to be, since staff pick files by icon."""
    if CONTENT_TYPES in names and WORKBOOK_PART in names:
        return
    if "xl/workbook.bin" in names:
        raise InputError(f"{name} is an Excel Binary Workbook (.xlsb), not an .xlsx; {_SAVE_AS}.")
    if "mimetype" in names and "content.xml" in names:
        info = zf.getinfo("mimetype")
        mimetype = zf.read(info) if info.file_size < 256 else b""
        kind = "spreadsheet (.ods)" if b"spreadsheet" in mimetype else "document"
        raise InputError(
            f"{name} is an OpenDocument {kind}, not an Excel workbook; open it and use File > "
            "Save As > Excel Workbook (.xlsx), then choose the new file."
        )
    kind = "a zip archive"
    if any(n.startswith("word/") for n in names):
        kind = "a Word document"
    elif any(n.startswith("ppt/") for n in names):
        kind = "a PowerPoint presentation"
    raise InputError(
        f"{name} is {kind}, not an Excel workbook; choose the Excel workbook (.xlsx) instead."
    )


def _macros(name: str) -> InputError:
    return InputError(
        f"{name} contains macros, which are not accepted for safety; in Excel use File > Save As "
        "> Excel Workbook (.xlsx) to save a copy without macros, then choose that copy."
    )


def _too_big_unpacked(name: str, max_unpacked_bytes: int) -> InputError:
    return InputError(
        f"{name} unpacks to more than {_mb(max_unpacked_bytes)} MB, the limit for workbooks, so "
        "it was not opened (it may be damaged or unsafe); split the data into smaller workbooks, "
        "or ask your administrator to raise the limit (setting PORTAL_MAX_UNPACKED_MB)."
    )


def _read_every_part(
    name: str, zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo], max_unpacked_bytes: int
) -> tuple[bytes, Measured]:
    """Decompress every part once, in file order, to catch what the index can hide.

    ``zipfile`` stops each part at its declared size and then checks its CRC, so a part whose
    data inflates beyond what the index claims fails here; the running total bounds the whole
    pass whatever the index says. The first chunk of each part also gets its XML prologue
    checked (except SVG images), each XML part is proven well-formed, each worksheet is
    measured (``SheetScan``) from the same chunks, and ``[Content_Types].xml`` is kept.
    """
    total = 0
    content_types = b""
    measured: Measured = {}
    for info in sorted(infos, key=lambda i: i.header_offset):
        keep = info.filename == CONTENT_TYPES
        is_image = info.filename.lower().endswith(_IMAGE_XML_SUFFIXES)
        if keep and info.file_size > MAX_CONTENT_TYPES_BYTES:
            raise _damaged(name, "its list of parts is far larger than any workbook's")
        kept: list[bytes] = []
        part_total = 0
        xml = _well_formed(name, info.filename)
        with zf.open(info) as part:
            while chunk := part.read(CHUNK_BYTES):
                if part_total == 0 and not is_image:
                    _check_prologue(name, chunk[:PROLOGUE_BYTES], len(chunk) <= PROLOGUE_BYTES)
                part_total += len(chunk)
                total += len(chunk)
                if total > max_unpacked_bytes:
                    raise _too_big_unpacked(name, max_unpacked_bytes)
                if keep:
                    kept.append(chunk)
                xml.feed(chunk)
        xml.feed(b"", final=True)
        if part_total != info.file_size:
            raise PackageIndexError(IndexProblem.SIZE_MISMATCH)
        if keep:
            content_types = b"".join(kept)
        if xml.scan is not None:
            measured[info.filename] = xml.scan.extent()
    return content_types, measured


def _is_worksheet(part: str) -> bool:
    """Where every writer puts worksheets; a sheet kept elsewhere is measured when read."""
    lower = part.lower()
    return lower.startswith("xl/worksheets/") and lower.endswith(".xml")


_XML_PART_SUFFIXES = (".xml", ".rels")
"""Parts that readers parse as XML. VML drawings (.vml) are left alone: Excel's own are not
well-formed, and no reader of ours opens them."""


class _NoTree:
    """A parser target that keeps nothing: the parse only checks the part is well-formed."""

    def close(self) -> None:
        return None


class _WellFormed:
    """Feeds a part to libxml2 (C speed, no tree built) and refuses it at its first error;
    a worksheet's chunks also go to its ``SheetScan``."""

    def __init__(self, name: str, part: str) -> None:
        self.name = name
        self.part = part
        self.scan = SheetScan() if _is_worksheet(part) else None
        self.parser = etree.XMLParser(
            target=_NoTree(),  # type: ignore[arg-type]  # the stubs want every method
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
        )

    def feed(self, chunk: bytes, final: bool = False) -> None:
        try:
            if chunk:
                self.parser.feed(chunk)
                if self.scan is not None:
                    self.scan.feed(chunk)
            if final:
                self.parser.close()
        except etree.XMLSyntaxError as e:
            reason = str(e.msg).splitlines()[0] if e.msg else "broken markup"
            raise _damaged(
                self.name, f"its part {self.part} is not well-formed XML: {reason}"
            ) from e


class _NotXml:
    scan = None

    def feed(self, chunk: bytes, final: bool = False) -> None:
        pass


def _well_formed(name: str, part: str) -> _WellFormed | _NotXml:
    lower = part.lower()
    if lower.endswith(_XML_PART_SUFFIXES) and not lower.endswith(_IMAGE_XML_SUFFIXES):
        return _WellFormed(name, part)
    return _NotXml()


def _dtd(name: str) -> InputError:
    return InputError(
        f"{name} contains an XML document type declaration, which workbooks never need; it may "
        "be an attack, so it was not opened; ask for a copy saved directly from Excel."
    )


def _check_prologue(name: str, head: bytes, whole_part: bool) -> None:
    """Refuse ``<!DOCTYPE`` / ``<!ENTITY`` before the root element of any XML part.

    Only the start of each part is looked at: a document type declaration can only come before
    the root element. Parts that do not start with markup (images, binaries) are left alone,
    whatever their name, and UTF-16 XML is decoded first so it cannot hide a declaration.
    """
    text = _xml_head(head)
    if text is None:
        return
    i = 0
    while True:
        i = len(text) - len(text[i:].lstrip(_XML_SPACE))
        if _undecided(text, i, whole_part):
            break
        after = _after_markup(name, text, i)
        if after is None:
            return
        if after < 0:
            break
        i = after
    if not whole_part:
        raise _damaged(name, "a part has an unusually long XML header")


def _undecided(text: str, i: int, whole_part: bool) -> bool:
    """Whether the head ends too soon at ``i`` to tell a declaration from anything else."""
    return i >= len(text) or (len(text) - i < _SHORTEST_DECISION and not whole_part)


_SKIPPED_MARKUP = (("<?", "?>"), ("<!--", "-->"))
"""Markup allowed before the root element: processing instructions (the XML declaration among
them) and comments, as (opening, closing)."""


def _after_markup(name: str, text: str, i: int) -> int | None:
    """Where the prologue markup at ``i`` ends: -1 if past the head, None at anything else.

    Raises when it is a document type or entity declaration.
    """
    for opening, closing in _SKIPPED_MARKUP:
        if text.startswith(opening, i):
            end = text.find(closing, i + len(opening))
            return end if end < 0 else end + len(closing)
    if text.startswith("<!", i):
        raise _dtd(name)
    return None


def _xml_head(head: bytes) -> str | None:
    """The start of a part as text if it may be XML, in whatever encoding an XML parser accepts."""
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    if head.startswith(b"\xff\xfe") or head[1:2] == b"\0" != head[:1]:
        text = head[: len(head) // 2 * 2].decode("utf-16-le", errors="replace")
    elif head.startswith(b"\xfe\xff") or head[:1] == b"\0" != head[1:2]:
        text = head[: len(head) // 2 * 2].decode("utf-16-be", errors="replace")
    else:
        text = head.decode("latin-1")
    stripped = text.lstrip(_XML_SPACE)
    return stripped if stripped.startswith("<") else None


def _check_content_types(name: str, data: bytes) -> None:
    """Parse ``[Content_Types].xml`` safely and refuse macro-enabled or VBA content types."""
    try:
        root = opc.parse_xml(data)
    except opc.DeclarationForbidden as e:
        raise _dtd(name) from e
    except opc.XmlError as e:
        raise _damaged(name, "its list of parts cannot be read") from e
    for content_type in opc.content_types(root):
        if any(marker in content_type.lower() for marker in _MACRO_CONTENT_TYPES):
            raise _macros(name)
