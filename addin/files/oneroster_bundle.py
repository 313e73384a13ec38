"""The files of a OneRoster bundle (a folder or a .zip): found, checked and read in chunks.

Small CSVs (orgs.csv, roles.csv, manifest.csv) are read whole. users.csv, which holds a state's
millions of people, is never whole in memory: it is checked once as it streams (``UsersFile``)
and read again from the bundle on each pass over its rows, each pass checking that it still
holds the bytes first read.
"""

import codecs
import csv
import hashlib
import io
import re
import stat
import struct
import zipfile
import zlib
from abc import ABC, abstractmethod
from collections.abc import Generator, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING

from backend.errors import InputError
from backend.settings import get_settings

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

MB = 1024 * 1024
CHUNK_BYTES = 1 * MB
MAX_ENTRIES = 10_000
"""A OneRoster zip has about twenty files; far more is not a bundle (and may be an attack)."""

USERS = "users.csv"
ORGS = "orgs.csv"
ROLES = "roles.csv"
MANIFEST = "manifest.csv"

EXPORT_AGAIN = "export the bundle again from the student information system"
ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, ValueError, NotImplementedError)


# --- the bundle: a folder or a zip ------------------------------------------------------------


@dataclass
class Budget:
    """Bytes left for the whole bundle: each CSV and their sum stay under the unpacked limit."""

    limit: int
    used: int = 0


@dataclass
class CsvFile:
    """One CSV of the bundle, decoded; ``name`` is how notes name it, ``source`` the full path."""

    name: str
    source: str
    text: str
    sha256: str

    def records(self) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
        return csv_records(self.source, io.StringIO(self.text, newline=""))


class _Bundle(ABC):
    """The files of a bundle by lower-case name (exports differ in capitals: userProfiles.csv)."""

    def __init__(self, label: str, prefix: str) -> None:
        self.label = label
        self.prefix = prefix  # label plus any folder the CSVs sit in, for source names

    @abstractmethod
    def member(self, name: str) -> tuple[str, int] | None:
        """The stored file name and declared size of ``name``, or None if the bundle lacks it."""

    @abstractmethod
    def open(self, name: str) -> IO[bytes]:
        """The file ``name`` for reading (a folder's file or a zip's member)."""

    def read(self, name: str, budget: Budget) -> CsvFile | None:
        """The CSV ``name`` decoded, read in chunks so no file can grow past the limits."""
        found = self._found(name, budget)
        if found is None:
            return None
        shown, source = found
        digest = hashlib.sha256()
        chunks: list[bytes] = []
        for chunk in self._chunks(name, source, budget):
            digest.update(chunk)
            chunks.append(chunk)
        return CsvFile(shown, source, _decode(b"".join(chunks), source), digest.hexdigest())

    def measure_users(self, path: Path, budget: Budget) -> "UsersFile":
        """users.csv checked whole as it streams (size, UTF-8, NUL), keeping only its size and
        SHA-256: the passes that read its rows read it again from ``path``."""
        found = self._found(USERS, budget)
        if found is None:  # opening the bundle found it, so this cannot happen
            raise InputError(f"{self.label} has no {USERS}.")
        shown, source = found
        digest = hashlib.sha256()
        text = _TextCheck(source)
        size = 0
        for chunk in self._chunks(USERS, source, budget):
            size += len(chunk)
            digest.update(chunk)
            text.feed(chunk)
        text.finish()
        return UsersFile(path, shown, source, size, digest.hexdigest())

    def _found(self, name: str, budget: Budget) -> tuple[str, str] | None:
        """The stored name and source of ``name``, if the bundle has it and its declared size
        fits the budget."""
        try:
            found = self.member(name)
        except OSError as exc:
            raise _unreadable(f"{self.prefix}/{name}", exc) from exc
        if found is None:
            return None
        shown, declared = found
        source = f"{self.prefix}/{shown}"
        if declared > budget.limit - budget.used:
            raise too_big(source, budget.limit)
        return shown, source

    def _chunks(self, name: str, source: str, budget: Budget) -> Iterator[bytes]:
        """The file's bytes in chunks, refused as soon as they pass the budget."""
        size = 0
        try:
            with self.open(name) as f:
                while chunk := f.read(CHUNK_BYTES):
                    size += len(chunk)
                    if size > budget.limit - budget.used:
                        raise too_big(source, budget.limit)
                    yield chunk
        except ZIP_ERRORS as exc:
            raise InputError(
                f"{source} is damaged inside the zip and cannot be read; {EXPORT_AGAIN}."
            ) from exc
        except RuntimeError as exc:  # zipfile: an encrypted entry and no password
            raise InputError(
                f"{source} is password-protected inside the zip; {EXPORT_AGAIN} without a password."
            ) from exc
        except OSError as exc:
            raise _unreadable(source, exc) from exc
        budget.used += size

    def __enter__(self) -> "_Bundle":
        return self

    def __exit__(self, *_exc: object) -> None:
        return None


class _FolderBundle(_Bundle):
    def __init__(self, folder: Path) -> None:
        root = folder
        if not _find_file(folder, USERS):
            # A zip unpacked by Windows often gives a folder inside a folder of the same name.
            inner = [d for d in _subfolders(folder) if _find_file(d, USERS)]
            if len(inner) != 1:
                raise _no_users(folder.name or str(folder))
            root = inner[0]
        prefix = folder.name if root == folder else f"{folder.name}/{root.name}"
        super().__init__(folder.name or str(folder), prefix)
        self.files: dict[str, Path] = {}
        try:
            entries = sorted(root.iterdir())
        except OSError as exc:
            raise _unreadable(folder.name or str(folder), exc) from exc
        for entry in entries:
            if entry.is_file():
                self.files.setdefault(entry.name.lower(), entry)

    def member(self, name: str) -> tuple[str, int] | None:
        path = self.files.get(name)
        if path is None:
            return None
        return path.name, path.stat().st_size

    def open(self, name: str) -> IO[bytes]:
        return self.files[name].open("rb")


class _ZipBundle(_Bundle):
    def __init__(self, path: Path) -> None:
        name = path.name
        try:
            _check_entry_count(name, path)
            self.zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, ValueError, EOFError, struct.error) as exc:
            raise InputError(
                f"{name} is neither a folder nor a .zip file that can be opened; choose the "
                f"folder that holds the OneRoster CSV files ({USERS}, {ORGS}, ...) or the .zip "
                "the student information system exported."
            ) from exc
        except OSError as exc:
            raise _unreadable(name, exc) from exc
        try:
            infos = self.zip.infolist()
            for info in infos:
                _check_entry(name, info)
            declared = sum(info.file_size for info in infos)
            limit = get_settings().max_unpacked_mb * MB
            if declared > limit:
                raise too_big(name, limit)
            files = [
                info
                for info in infos
                if not info.is_dir() and not info.filename.startswith("__MACOSX/")
            ]
            users = [i for i in files if PurePosixPath(i.filename).name.lower() == USERS]
            if not users:
                raise _no_users(name)
            if len(users) > 1:
                where = ", ".join(i.filename for i in users)
                raise InputError(
                    f"{name} holds more than one {USERS} ({where}); put one OneRoster bundle in "
                    "each zip."
                )
            root = PurePosixPath(users[0].filename).parent
            self.infos: dict[str, zipfile.ZipInfo] = {}
            for info in files:
                stored = PurePosixPath(info.filename)
                if stored.parent == root:
                    self.infos.setdefault(stored.name.lower(), info)
        except BaseException:
            self.zip.close()
            raise
        prefix = name if str(root) == "." else f"{name}/{root}"
        super().__init__(name, prefix)

    def member(self, name: str) -> tuple[str, int] | None:
        info = self.infos.get(name)
        if info is None:
            return None
        return PurePosixPath(info.filename).name, info.file_size

    def open(self, name: str) -> IO[bytes]:
        return self.zip.open(self.infos[name])

    def __exit__(self, *_exc: object) -> None:
        self.zip.close()


def open_bundle(path: Path) -> _Bundle:
    """The bundle at ``path``, or the reason a user cannot import from it."""
    shown = path.name or str(path)
    try:
        if path.is_dir():
            return _FolderBundle(path)
        if not path.exists():
            raise InputError(f"Not found: {path}; check the name and the folder, then try again.")
        if not path.is_file():
            raise InputError(f"{shown} is not a folder or a .zip file.")
    except OSError as exc:
        raise _unreadable(shown, exc) from exc
    if path.suffix.lower() == ".csv":
        raise InputError(
            f"{shown} is one CSV file; choose the folder that holds it together with {USERS}, "
            f"{ORGS} and the other OneRoster files, or the .zip of that folder."
        )
    return _ZipBundle(path)


def _check_entry_count(name: str, path: Path) -> None:
    """Refuse a zip whose index lists more files than any bundle, before ``zipfile`` reads it all.

    The count is in the end-of-archive record (or its zip64 form), read the way ``zipfile`` does;
    a zip without one is left for ``zipfile`` to refuse.
    """
    with path.open("rb") as f:
        size = f.seek(0, 2)
        f.seek(max(0, size - (1 << 16) - 22))
        tail = f.read()
    end = tail.rfind(b"PK\x05\x06")
    if end < 0 or len(tail) - end < 22:
        return
    (count,) = struct.unpack_from("<H", tail, end + 10)
    locator = end - 20
    if locator >= 56 and tail[locator : locator + 4] == b"PK\x06\x07":
        record = locator - 56
        if tail[record : record + 4] == b"PK\x06\x06":
            (count,) = struct.unpack_from("<Q", tail, record + 32)
    if count > MAX_ENTRIES:
        raise InputError(
            f"{name} lists {count} files, far more than a OneRoster bundle has; it may be "
            f"damaged or unsafe, so it was not read; {EXPORT_AGAIN}."
        )


def _find_file(folder: Path, name: str) -> bool:
    try:
        return any(p.name.lower() == name and p.is_file() for p in folder.iterdir())
    except OSError:
        return False


def _subfolders(folder: Path) -> list[Path]:
    try:
        return [p for p in folder.iterdir() if p.is_dir()]
    except OSError:
        return []


def _no_users(name: str) -> InputError:
    return InputError(
        f"{name} has no {USERS}, so it is not a OneRoster bundle; choose the folder or .zip "
        f"the student information system exported (it holds {USERS}, {ORGS}, manifest.csv, ...)."
    )


_DRIVE = re.compile(r"^[A-Za-z]:")


def _check_entry(zip_name: str, info: zipfile.ZipInfo) -> None:
    """Refuse entries whose names climb out of the bundle or that are links, before any read."""
    stored = info.filename
    parts = stored.split("/")
    if (
        stored.startswith("/")
        or "\\" in stored
        or "\0" in stored
        or _DRIVE.match(stored)
        or any(part == ".." for part in parts)
    ):
        raise InputError(
            f"{zip_name} has an entry named '{stored}' that points outside the bundle, which no "
            f"export makes; it may be unsafe, so it was not read; {EXPORT_AGAIN}."
        )
    if info.create_system == 3 and stat.S_ISLNK(info.external_attr >> 16):
        raise InputError(
            f"{zip_name} has an entry '{stored}' that is a link to another file, which no export "
            f"makes; it may be unsafe, so it was not read; {EXPORT_AGAIN}."
        )


def _unreadable(name: str, exc: OSError) -> InputError:
    reason = exc.strerror or type(exc).__name__
    return InputError(
        f"{name} could not be read ({reason}); check that you may open it, then try again."
    )


def too_big(name: str, limit: int) -> InputError:
    return InputError(
        f"{name} holds more than {limit // MB} MB of data, the limit for a bundle, so it was not "
        "read (a zip that unpacks that far may be damaged or unsafe); ask your administrator to "
        "raise the limit (setting PORTAL_MAX_UNPACKED_MB) if the export is really that large."
    )


def _decode(data: bytes, source: str) -> str:
    """UTF-8 text (a byte-order mark is fine), or a message saying which line is not."""
    if data.startswith(BOM):
        data = data[3:]
    elif data.startswith(UTF16_MARKS):
        raise _utf16(source)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _not_utf8(source, data.count(b"\n", 0, exc.start) + 1) from None
    if (nul := text.find("\x00")) >= 0:  # no text export has one; no database column takes one
        raise _nul(source, text.count("\n", 0, nul) + 1)
    return text


BOM = b"\xef\xbb\xbf"
UTF16_MARKS = (b"\xff\xfe", b"\xfe\xff")


class _TextCheck:
    """``_decode``'s checks on a file fed in chunks, with the same messages for the same file:
    a byte that is not UTF-8 is reported before a NUL anywhere, and only once the whole file was
    read (a file too large or damaged is reported as that first)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.head = b""  # the first bytes, until there are enough to tell the encoding
        self.started = False
        self.newlines = 0  # in the bytes fed before the current chunk
        self.bad_line = 0  # the line of the first byte that is not UTF-8
        self.nul_line = 0  # the line of the first NUL

    def feed(self, chunk: bytes, final: bool = False) -> None:
        if not self.started:
            self.head += chunk
            if len(self.head) < len(BOM) and not final:
                return
            chunk, self.started = self.head, True
            if chunk.startswith(BOM):
                chunk = chunk[len(BOM) :]
            elif chunk.startswith(UTF16_MARKS):
                raise _utf16(self.source)
        if self.bad_line:
            return
        try:
            text = self.decoder.decode(chunk, final)
        except UnicodeDecodeError as exc:  # its object starts with bytes held from before
            self.bad_line = self.newlines + exc.object.count(b"\n", 0, exc.start) + 1
            return
        if not self.nul_line and (nul := text.find("\x00")) >= 0:
            self.nul_line = self.newlines + text.count("\n", 0, nul) + 1
        self.newlines += chunk.count(b"\n")

    def finish(self) -> None:
        self.feed(b"", final=True)
        if self.bad_line:
            raise _not_utf8(self.source, self.bad_line)
        if self.nul_line:
            raise _nul(self.source, self.nul_line)


def _utf16(source: str) -> InputError:
    return InputError(
        f"{source} is saved as UTF-16, not UTF-8, so it cannot be read; {EXPORT_AGAIN} as "
        "UTF-8, or open it in a text editor and save it with UTF-8 encoding."
    )


def _not_utf8(source: str, line: int) -> InputError:
    return InputError(
        f"{source} is not UTF-8 text (line {line} has a byte that is not UTF-8), so it cannot "
        f"be read; {EXPORT_AGAIN} as UTF-8, or open it in a text editor and save it with "
        "UTF-8 encoding."
    )


def _nul(source: str, line: int) -> InputError:
    return InputError(
        f"{source} line {line} holds a NUL character, which no text export has, so the file "
        f"was not read (it may be damaged); {EXPORT_AGAIN}."
    )


# --- CSV records ------------------------------------------------------------------------------


def csv_records(
    source: str, lines: Iterable[str]
) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The header cells and a stream of (first line number, cells) for each non-blank record.

    ``lines`` are the file's text split as a text file opened with ``newline=""`` splits it, so
    line numbers count every kind of line end, inside quoted cells too."""
    reader = csv.reader(lines)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise InputError(
            f"{source} line 1 cannot be read as CSV ({exc}); {EXPORT_AGAIN}."
        ) from None
    if not header or not any(cell.strip() for cell in header):
        raise InputError(
            f"{source} has no header row on line 1, so its columns are unknown; {EXPORT_AGAIN}."
        )

    def records() -> Iterator[tuple[int, list[str]]]:
        start = reader.line_num + 1
        while True:
            try:
                row = next(reader, None)
            except csv.Error as exc:
                raise InputError(
                    f"{source} line {start} cannot be read as CSV ({exc}); {EXPORT_AGAIN}."
                ) from None
            if row is None:
                return
            if "".join(row).strip():  # a cell that is not blank
                yield start, row
            start = reader.line_num + 1

    return header, records()


def header_index(header: list[str]) -> dict[str, int]:
    """Column name (lower case) -> index; OneRoster names are camelCase, exports vary in case."""
    found: dict[str, int] = {}
    for i, name in enumerate(header):
        key = name.strip().lower()
        if key:
            found.setdefault(key, i)
    return found


def columns(
    source: str, header: list[str], required: tuple[str, ...], optional: tuple[str, ...]
) -> dict[str, int | None]:
    """Indexes of the columns used (None when absent); required ones must exist."""
    index = header_index(header)
    missing = [name for name in required if name.lower() not in index]
    if missing:
        plural = "s" if len(missing) > 1 else ""
        present = ", ".join(h.strip() for h in header if h.strip())
        raise InputError(
            f"{source} has no {', '.join(missing)} column{plural}, which OneRoster requires "
            f"and the import needs (its header row has: {present}); {EXPORT_AGAIN}."
        )
    return {name: index.get(name.lower()) for name in (*required, *optional)}


def cell(row: list[str], i: int | None) -> str:
    if i is None or i >= len(row):
        return ""
    return row[i].strip()


def id_list(text: str) -> list[str]:
    """A comma-separated list of sourcedIds, blanks and repeats dropped, order kept."""
    if not text:
        return []
    if "," not in text:
        return [text]
    parts = [part.strip() for part in text.split(",")]
    parts = [part for part in parts if part]
    return parts if len(set(parts)) == len(parts) else list(dict.fromkeys(parts))


# --- users.csv, read again on each pass -------------------------------------------------------


@dataclass
class UsersFile:
    """The bundle's users.csv as first read: where it is, its size and its SHA-256."""

    path: Path  # the bundle, opened again for each pass
    name: str  # how notes name the file
    source: str  # the bundle and the file, how messages name it
    size: int
    sha256: str

    def records(self, first: bool = False) -> Generator[tuple[int, list[str]], None, None]:
        """Every record again: the header as (1, cells), then as ``csv_records`` gives them.

        The bytes are checked as they stream: a file that is no longer the one first read
        (another size, another SHA-256, gone) is refused with ``changed``. On the ``first``
        pass over the records a row that is not CSV is refused as such; on a later pass it means
        the file changed.
        """
        with self._member() as member:
            stream = _Checked(member, self.size)
            text = io.TextIOWrapper(
                io.BufferedReader(stream, CHUNK_BYTES), encoding="utf-8-sig", newline=""
            )
            try:
                header, records = csv_records(self.source, text)
                yield 1, header
                yield from records
            except InputError:
                if first:
                    raise
                raise self.changed() from None
            except (_Changed, UnicodeDecodeError, OSError, RuntimeError, *ZIP_ERRORS):
                raise self.changed() from None
            if stream.size != self.size or stream.digest.hexdigest() != self.sha256:
                raise self.changed()

    @contextmanager
    def _member(self) -> Iterator[IO[bytes]]:
        """users.csv opened again from a bundle opened again."""
        try:
            bundle = open_bundle(self.path)
        except InputError:
            raise self.changed() from None
        with bundle:
            try:
                if bundle.member(USERS) is None:
                    raise self.changed()
                member = bundle.open(USERS)
            except (OSError, RuntimeError, *ZIP_ERRORS):
                raise self.changed() from None
            with member:
                yield member

    def changed(self) -> InputError:
        return InputError(
            f"{self.source} changed while the import was reading it (it is no longer the file "
            "first read), so the import stopped; leave the bundle as it is and run the import "
            "again."
        )


class _Changed(Exception):
    """users.csv is not the file first read."""


class _Checked(io.RawIOBase):
    """A file's bytes read in chunks, counted and hashed; more bytes than expected stop it."""

    def __init__(self, member: IO[bytes], size: int) -> None:
        super().__init__()
        self.member = member
        self.expected = size
        self.size = 0
        self.digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: "WriteableBuffer") -> int:
        view = memoryview(buffer).cast("B")
        data = self.member.read(min(len(view), CHUNK_BYTES))
        self.size += len(data)
        if self.size > self.expected:
            raise _Changed
        self.digest.update(data)
        view[: len(data)] = data
        return len(data)
