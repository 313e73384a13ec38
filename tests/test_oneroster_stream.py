"""A OneRoster bundle's Students and Contacts rows are read again from users.csv on each pass.

The rows must be the same on every pass and the same as a list of them; a users.csv changed
after it was read is refused, not half read; a file of many chunks reads as one of one chunk.
"""

import zipfile
from pathlib import Path
from typing import Any

import pytest

import addin.files.oneroster as oneroster
import addin.files.oneroster_bundle as oneroster_bundle
from addin.files.oneroster import RosterTables, read_oneroster
from backend.errors import InputError
from tests.test_oneroster import (
    ORGS_CSV,
    ROLE_HEADER,
    USER_HEADER_1_1,
    USER_HEADER_1_2,
    bundle_1_1,
    bundle_1_2,
    csv_text,
    role,
    user,
    user_1_2,
    write_folder,
    write_zip,
)

CHANGED = (
    "b/users.csv changed while the import was reading it (it is no longer the file first read), "
    "so the import stopped; leave the bundle as it is and run the import again."
)


def many_links() -> dict[str, str | bytes]:
    """Every way a reference becomes a row, and 120 guardians of one student (OneRoster 1.2,
    where one person can have two roles)."""
    people: list[tuple[str, str, str, str, dict[str, str]]] = [
        ("s1", "student", "Ann", "Lee", {"identifier": "00123"}),  # line 2
        ("s2", "student", "Ben", "Lee", {"agentSourcedIds": "g1,x9,t1,g9"}),  # line 3
        ("p1", "parent", "Pat", "Lee", {"agentSourcedIds": "s1,s2,x8"}),  # line 4
        ("g1", "guardian", "Gil", "Green", {}),  # line 5: listed only by s2
        ("t1", "teacher", "Tom", "Teach", {"agentSourcedIds": "s1"}),  # line 6
        ("g9", "guardian", "Old", "Gone", {"status": "tobedeleted", "agentSourcedIds": "s2"}),
        ("r1", "relative", "Rita", "Roe", {"email": "r@example.org"}),  # line 8: nobody
        # line 9: a parent who is a student too, listing a student and a parent
        ("b1", "parent+student", "Bo", "Both", {"agentSourcedIds": "s1,p1"}),
        # line 10: s1 again; roles.csv gives the sourcedId s1 both lines' roles
        ("s1", "guardian", "Dup", "Id", {"agentSourcedIds": "s2"}),
        ("s3", "student", "Cy", "Cole", {"agentSourcedIds": ",".join(f"m{i}" for i in range(120))}),
        *((f"m{i}", "guardian", f"M{i}", "Many", {}) for i in range(120)),
    ]
    users = [user_1_2(sid, given, family, **more) for sid, _, given, family, more in people]
    roles = [
        role(sid, "primary", name, "sch1")
        for sid, names, _, _, _ in people
        for name in names.split("+")
    ]
    return {
        "orgs.csv": ORGS_CSV,
        "users.csv": csv_text(USER_HEADER_1_2, users),
        "roles.csv": csv_text(ROLE_HEADER, roles),
        "manifest.csv": "propertyName,value\r\noneroster.version,1.2\r\n",
    }


def as_lists(tables: RosterTables) -> dict[str, list[tuple[int, list[Any]]]]:
    return {
        name: [(line, list(cells)) for line, cells in getattr(tables, name).rows]
        for name in ("schools", "students", "contacts")
    }


def test_rows_are_the_same_on_every_pass(tmp_path: Path) -> None:
    tables = read_oneroster(write_zip(tmp_path / "b.zip", many_links()))
    first, second = as_lists(tables), as_lists(tables)
    assert first == second
    assert tables.students.rows == first["students"]
    assert tables.contacts.rows == first["contacts"]
    assert len(tables.students.rows) == len(first["students"]) == 5
    assert len(tables.contacts.rows) == len(first["contacts"]) == 131
    contacts = first["contacts"]
    pat = ["p1", "Pat", "Lee", "Parent", None, "Y", "Y"]
    assert contacts[:11] == [
        (3, ["s2", "g1", "Gil", "Green", "Guardian", None, "Y", "Y", "2"]),  # only s2 lists g1
        (3, ["s2", "x9", None, None, None, None, None, None, None]),  # nobody
        (3, ["s2", "t1", None, None, None, None, None, None, None]),  # a teacher
        (4, ["00123", *pat, "1"]),
        (4, ["s2", *pat, "1"]),
        (4, ["x8", *pat, None]),
        (8, [None, "r1", "Rita", "Roe", "Relative", "r@example.org", "N", "Y", None]),
        (9, ["00123", "b1", "Bo", "Both", "Parent", None, "Y", "Y", "2"]),  # b1's own list
        # b1 as a student: s1 is a guardian too (line 10's roles), p1 does not list b1
        (9, ["b1", "00123", "Ann", "Lee", "Guardian", None, "Y", "Y", "1"]),
        (9, ["b1", *pat, "2"]),
        (10, ["s2", "s1", "Dup", "Id", "Guardian", None, "Y", "Y", "3"]),
    ]
    # s3's 120 guardians list nobody: their rows are on s3's line, numbered in file order.
    assert {line for line, _ in contacts[11:]} == {11}
    assert [cells[1] for _, cells in contacts[11:]] == [f"m{i}" for i in range(120)]
    priorities = [str(n) for n in range(1, 100)] + ["99"] * 21
    assert [cells[-1] for _, cells in contacts[11:]] == priorities
    assert tables.contacts.notes == {
        3: [
            "users.csv line 3: agentSourcedIds names 'x9', who is not in users.csv; correct the "
            "ID, or export the bundle again from the student information system with everyone "
            "it names.",
            "users.csv line 3: agentSourcedIds names 't1', who is a teacher, not a parent, "
            "guardian or relative; only they can be on a student's list of contacts; remove it "
            "or correct it in the student information system.",
        ],
        4: [
            "users.csv line 4: agentSourcedIds names 'x8', who is not in users.csv; correct the "
            "ID, or export the bundle again from the student information system with everyone "
            "it names."
        ],
        8: [
            "users.csv line 8: Rita Roe (r1) is a relative but no student is linked: "
            "agentSourcedIds is blank and no student lists them; add their students to "
            "agentSourcedIds in the student information system."
        ],
    }


@pytest.mark.parametrize("kept", [1, 2])
def test_a_role_not_kept_by_name_is_read_again_for_its_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kept: int
) -> None:
    """A bundle of many roles keeps only some by name; notes naming the others are the same."""
    path = write_folder(tmp_path / "b", many_links())
    expected = read_oneroster(path)
    monkeypatch.setattr(oneroster, "_ROLE_NAMES_KEPT", kept)
    tables = read_oneroster(path)
    assert tables.contacts.notes == expected.contacts.notes
    assert list(tables.contacts.notes) == list(expected.contacts.notes)
    assert as_lists(tables) == as_lists(expected)


@pytest.mark.parametrize("files", [bundle_1_1, bundle_1_2, many_links])
def test_small_chunks_read_as_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: Any
) -> None:
    path = write_zip(tmp_path / "b.zip", files())
    expected = read_oneroster(path)
    for size in (1, 2, 3, 5, 64):
        monkeypatch.setattr(oneroster_bundle, "CHUNK_BYTES", size)
        tables = read_oneroster(path)
        assert as_lists(tables) == as_lists(expected)
        assert tables.contacts.notes == expected.contacts.notes
        assert tables.students.notes == expected.students.notes
        assert tables.students.source_sha256 == expected.students.source_sha256


def test_names_across_chunks_and_a_bad_byte_late_in_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Names of two, three and four bytes a character, and quoted cells over two lines, in a
    file of many chunks; a byte that is not UTF-8, or a NUL, near its end names its line."""
    monkeypatch.setattr(oneroster_bundle, "CHUNK_BYTES", 7)
    names = ["Zoë", "Łukasz", "日本", "🙂x", "Ann\nMarie", "Ren\r\né"]
    records = [user(f"s{i}", "student", name, "Lee") for i, name in enumerate(names * 20)]
    text = b"\xef\xbb\xbf" + csv_text(USER_HEADER_1_1, records).encode()
    assert len(text) > 100 * 7
    tables = read_oneroster(write_folder(tmp_path / "b", {"users.csv": text}))
    got = [(line, cells[1]) for line, cells in tables.students.rows]
    lines = [2 + i + sum("\n" in n or "\r" in n for n in (names * 20)[:i]) for i in range(120)]
    assert got == list(zip(lines, names * 20, strict=True))

    last_line = text.count(b"\n")  # the last record starts on this line
    bad = text[: text.rindex(b"Lee")] + b"L\xffe" + text[text.rindex(b"Lee") + 3 :]
    message = refusal(write_folder(tmp_path / "bad", {"users.csv": bad}))
    assert message.startswith(
        f"bad/users.csv is not UTF-8 text (line {last_line} has a byte that is not UTF-8)"
    )
    nul = text[: text.rindex(b"Lee")] + b"L\x00e" + text[text.rindex(b"Lee") + 3 :]
    message = refusal(write_folder(tmp_path / "nul", {"users.csv": nul}))
    assert message.startswith(f"nul/users.csv line {last_line} holds a NUL character")
    # A byte that is not UTF-8 is reported before a NUL on an earlier line, as a whole read does.
    both = nul + b"\xc3"
    message = refusal(write_folder(tmp_path / "both", {"users.csv": both}))
    assert "is not UTF-8 text" in message


def refusal(path: Path) -> str:
    with pytest.raises(InputError) as caught:
        read_oneroster(path)
    return str(caught.value)


def test_a_bundle_changed_after_it_was_read_is_refused(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "b", bundle_1_1())
    users = folder / "users.csv"
    original = users.read_bytes()
    tables = read_oneroster(folder)
    assert len(list(tables.contacts.rows)) == 7

    users.write_bytes(original.replace(b"Rita", b"Ruth"))  # same size, other bytes
    for rows in (tables.students.rows, tables.contacts.rows):
        with pytest.raises(InputError) as caught:
            list(rows)
        assert str(caught.value) == CHANGED

    users.write_bytes(original + b"z1,active,,true,,student,z1,Zed,Zee,,,,\r\n")  # one more
    with pytest.raises(InputError) as caught:
        list(tables.students.rows)
    assert str(caught.value) == CHANGED

    users.unlink()
    with pytest.raises(InputError) as caught:
        list(tables.contacts.rows)
    assert str(caught.value) == CHANGED

    users.write_bytes(original)  # the same bytes again: the same rows
    assert len(list(tables.contacts.rows)) == 7


def test_a_zip_replaced_after_it_was_read_is_refused(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "b.zip", bundle_1_1())
    tables = read_oneroster(path)
    files = bundle_1_1()
    files["users.csv"] = str(files["users.csv"]).replace("Ann", "Amy")
    write_zip(path, files)
    with pytest.raises(InputError) as caught:
        list(tables.students.rows)
    assert str(caught.value) == CHANGED.replace("b/users.csv", "b.zip/users.csv")
    path.write_bytes(b"not a zip")
    with pytest.raises(InputError) as caught:
        list(tables.contacts.rows)
    assert str(caught.value) == CHANGED.replace("b/users.csv", "b.zip/users.csv")
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("users.csv", "sourcedId\r\n")
        zf.writestr("other/users.csv", "sourcedId\r\n")
    with pytest.raises(InputError) as caught:
        list(tables.contacts.rows)
    assert str(caught.value) == CHANGED.replace("b/users.csv", "b.zip/users.csv")
