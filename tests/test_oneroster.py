"""OneRoster bundles (1.1 and 1.2, folders and zips) read into the roster's three tables.

The four public sample bundles are read as published; the hand-made bundles cover each rule and
each way a bundle can be unusable. Every table is also run through the import engine's header
check and cell parsers, so what the reader makes is what the roster import accepts.
"""

import csv
import hashlib
import io
import zipfile
from pathlib import Path
from typing import Any

import pytest

from addin.files.oneroster import RosterTables, read_oneroster
from backend.errors import InputError
from backend.imports.contract import Column, InputTable, match_headers, parse_rows
from backend.imports.roster_columns import CONTACT_COLUMNS, SCHOOL_COLUMNS, STUDENT_COLUMNS
from backend.settings import get_settings

TEACHER_ON_STUDENT_LIST = (
    "users.csv line {line}: agentSourcedIds names '{ref}', who is a teacher, not a parent, "
    "guardian or relative; only they can be on a student's list of contacts; remove it or "
    "correct it in the student information system."
)


# --- helpers ----------------------------------------------------------------------------------


def rows(table: InputTable) -> list[tuple[Any, ...]]:
    """Each row as (line, cell, cell, ...), easy to compare with what the CSV says."""
    return [(line, *cells) for line, cells in table.rows]


def assert_fits(tables: RosterTables) -> None:
    """Headers match the roster columns; every row parses, with only the reader's notes."""
    checks: list[tuple[InputTable, tuple[Column, ...]]] = [
        (tables.schools, SCHOOL_COLUMNS),
        (tables.students, STUDENT_COLUMNS),
        (tables.contacts, CONTACT_COLUMNS),
    ]
    for table, columns in checks:
        pairs = match_headers(table, columns)
        assert [column.name for _, column in pairs] == [column.name for column in columns]
        parsed = list(parse_rows(table, pairs))
        assert [number for number, _, _ in parsed] == [line for line, _ in table.rows]
        for number, _values, problems in parsed:
            assert problems == table.notes.get(number, [])
        assert set(table.notes) <= {line for line, _ in table.rows}


def parsed_values(table: InputTable, columns: tuple[Column, ...]) -> list[dict[str, Any]]:
    return [values for _, values, _ in parse_rows(table, match_headers(table, columns))]


def csv_text(header: list[str], records: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, header, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(records)
    return out.getvalue()


def write_folder(folder: Path, files: dict[str, str | bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, str):
            path.write_text(data, encoding="utf-8", newline="")
        else:
            path.write_bytes(data)
    return folder


def write_zip(path: Path, files: dict[str, str | bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def refusal(path: Path) -> str:
    with pytest.raises(InputError) as caught:
        read_oneroster(path)
    message = str(caught.value)
    assert "\n" not in message
    return message


# --- the public sample bundles ----------------------------------------------------------------


def sample(samples: Path, name: str, form: str, tmp_path: Path) -> Path:
    """A sample bundle as published (the zip) or unpacked into a folder."""
    zip_path = samples / f"{name}.zip"
    if form == "zip":
        return zip_path
    folder = tmp_path / name
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(folder)
    return folder


FORMS = pytest.mark.parametrize("form", ["zip", "folder"])
SCHOOL = "org-sch-222-3456"
"""The school above the samples' History Department, which their orgs.csv does not list."""


@FORMS
def test_full_data_set_1_1(oneroster_samples: Path, form: str, tmp_path: Path) -> None:
    """Its only org is a department, and every student lists a teacher as a guardian."""
    tables = read_oneroster(sample(oneroster_samples, "Test_full_data_set", form, tmp_path))
    prefix = "Test_full_data_set.zip" if form == "zip" else "Test_full_data_set"
    assert tables.version == "1.1"
    assert tables.students.source_name == f"{prefix}/users.csv"
    assert tables.schools.source_name == f"{prefix}/orgs.csv"
    # The only org is a department; the school above it is not in orgs.csv: its sourcedId
    # stands for the school.
    assert rows(tables.schools) == [(2, "org-sch-222-3456", "org-sch-222-3456")]
    assert rows(tables.students) == [
        (3, "mary.jones", "Mary", "Jones", "12", SCHOOL, "ACTIVE", "mary.jones@myschool.com"),
        (
            6,
            "mmichel.jones",
            "mmichel",
            "Jones",
            "12",
            SCHOOL,
            "ACTIVE",
            "mmichel.jones2@myschool.com",
        ),
        (7, "anna.brown", "Anna", "Brown", "11", SCHOOL, "ACTIVE", "anna.brown@myschool.com"),
    ]
    assert tables.students.notes == {}
    assert rows(tables.contacts) == [
        (3, "mary.jones", "usr-222-123456", None, None, None, None, None, None, None),
        (
            4,
            "mary.jones",
            "thomas.joness",
            "Thomas",
            "Jones",
            "Parent",
            "thomas.jones@testemail.com",
            "Y",
            "Y",
            "1",
        ),
        (6, "mmichel.jones", "usr-222-123456", None, None, None, None, None, None, None),
        (7, "anna.brown", "usr-222-987654", None, None, None, None, None, None, None),
    ]
    assert tables.contacts.notes == {
        3: [TEACHER_ON_STUDENT_LIST.format(line=3, ref="usr-222-123456")],
        6: [TEACHER_ON_STUDENT_LIST.format(line=6, ref="usr-222-123456")],
        7: [TEACHER_ON_STUDENT_LIST.format(line=7, ref="usr-222-987654")],
    }
    assert_fits(tables)


@FORMS
def test_minimal_data_set_1_1(oneroster_samples: Path, form: str, tmp_path: Path) -> None:
    """No identifiers, so sourcedIds are the IDs; the parent is linked to nobody."""
    tables = read_oneroster(sample(oneroster_samples, "Test_minimal_data_set", form, tmp_path))
    assert tables.version == "1.1"
    # The only org, a department with no parent, stands for the school.
    assert rows(tables.schools) == [(2, "org-sch-222-456", "History Department")]
    assert rows(tables.students) == [
        (3, "usr-222-66778899", "Mary", "Jones", None, "org-sch-222-456", "ACTIVE", None),
        (6, "usr-222-1234561232", "mmichel", "Jones", None, "org-sch-222-456", "ACTIVE", None),
        (7, "usr-222-567891", "Anna", "Brown", None, "org-sch-222-456", "ACTIVE", None),
    ]
    assert tables.students.notes == {}
    assert rows(tables.contacts) == [
        (4, None, "usr-222-1234561", "Thomas", "Jones", "Parent", None, "Y", "Y", None)
    ]
    assert tables.contacts.notes == {
        4: [
            "users.csv line 4: Thomas Jones (usr-222-1234561) is a parent but no student is "
            "linked: agentSourcedIds is blank and no student lists them; add their students to "
            "agentSourcedIds in the student information system."
        ]
    }
    assert_fits(tables)


@FORMS
def test_oneroster_test_data_1_2(oneroster_samples: Path, form: str, tmp_path: Path) -> None:
    """One school without an identifier, one student whose role is in roles.csv."""
    tables = read_oneroster(sample(oneroster_samples, "oneroster_test_data", form, tmp_path))
    assert tables.version == "1.2"
    assert rows(tables.schools) == [(2, "ORG_1", "Gotham High School")]
    assert rows(tables.students) == [
        (2, "bruce.wayne", "Bruce", "Wayne", None, "ORG_1", "ACTIVE", None)
    ]
    assert rows(tables.contacts) == []
    assert tables.students.notes == tables.contacts.notes == {}
    assert_fits(tables)


@FORMS
def test_v1p2_full_dataset(oneroster_samples: Path, form: str, tmp_path: Path) -> None:
    """A teacher who is also a guardian (roles.csv) is found from the students' side."""
    tables = read_oneroster(sample(oneroster_samples, "v1p2_full_dataset", form, tmp_path))
    assert tables.version == "1.2"
    # The only org is a department; the school above it is not in orgs.csv: its sourcedId
    # stands for the school.
    assert rows(tables.schools) == [(2, "org-sch-222-3456", "org-sch-222-3456")]
    assert rows(tables.students) == [
        (3, "mary.jones", "Mary", "Jones", "12", SCHOOL, "ACTIVE", "mary.jones@myschool.com"),
        (
            6,
            "mmichel.jones",
            "mmichel",
            "Jones",
            "12",
            SCHOOL,
            "ACTIVE",
            "mmichel.jones2@myschool.com",
        ),
        (7, "anna.brown", "Anna", "Brown", "11", SCHOOL, "ACTIVE", "anna.brown@myschool.com"),
    ]
    john = ("john.doe", "John", "Doe", "Guardian", "john.doe@myschool.com", "Y", "Y", "1")
    assert rows(tables.contacts) == [
        (3, "mary.jones", *john),
        (6, "mmichel.jones", *john),
        (7, "anna.brown", "usr-222-987654", None, None, None, None, None, None, None),
    ]
    assert tables.contacts.notes == {
        7: [TEACHER_ON_STUDENT_LIST.format(line=7, ref="usr-222-987654")]
    }
    assert_fits(tables)


def test_sample_sha256_is_of_the_csv_read(oneroster_samples: Path, tmp_path: Path) -> None:
    folder = sample(oneroster_samples, "v1p2_full_dataset", "folder", tmp_path)
    tables = read_oneroster(folder)
    users = hashlib.sha256((folder / "users.csv").read_bytes()).hexdigest()
    orgs = hashlib.sha256((folder / "orgs.csv").read_bytes()).hexdigest()
    assert tables.students.source_sha256 == tables.contacts.source_sha256 == users
    assert tables.schools.source_sha256 == orgs


# --- hand-made bundles: OneRoster 1.1 ---------------------------------------------------------

ORG_HEADER = [
    "sourcedId",
    "status",
    "dateLastModified",
    "name",
    "type",
    "identifier",
    "parentSourcedId",
]
USER_HEADER_1_1 = [
    "sourcedId",
    "status",
    "dateLastModified",
    "enabledUser",
    "orgSourcedIds",
    "role",
    "username",
    "givenName",
    "familyName",
    "identifier",
    "email",
    "agentSourcedIds",
    "grades",
]


def org(
    sourced_id: str, name: str, kind: str, identifier: str = "", parent: str = ""
) -> dict[str, str]:
    return {
        "sourcedId": sourced_id,
        "status": "active",
        "name": name,
        "type": kind,
        "identifier": identifier,
        "parentSourcedId": parent,
    }


def user(sourced_id: str, role: str, given: str, family: str, **more: str) -> dict[str, str]:
    record = {
        "sourcedId": sourced_id,
        "status": "active",
        "enabledUser": "true",
        "role": role,
        "username": sourced_id,
        "givenName": given,
        "familyName": family,
    }
    record.update(more)
    return record


ORGS_CSV = csv_text(
    ORG_HEADER,
    [
        org("d1", "North District", "district", "D-1"),  # line 2
        org("sch1", "North High", "school", "100"),  # line 3
        org("sch2", "South Middle", "school"),  # line 4: no identifier
        org("dep1", "Science", "department", "SCI", parent="sch2"),  # line 5
    ],
)

USERS_1_1 = csv_text(
    USER_HEADER_1_1,
    [
        user(  # line 2
            "s1",
            "student",
            "Ann",
            "Lee",
            identifier="00123",
            email="ann.lee@kids.example.org",
            orgSourcedIds="d1,sch1",
            agentSourcedIds="p1",
            grades="03",
        ),
        user(
            "s2", "student", "Ben", "Lee", orgSourcedIds="sch2", agentSourcedIds="g3", grades="K,1"
        ),
        user(  # line 4: a parent of two students in two schools
            "p1",
            "parent",
            "Pat",
            "Lee",
            identifier="P-1",
            email="Pat.Lee@Home.Example.org",
            orgSourcedIds="sch1",
            agentSourcedIds="s1,s2",
        ),
        user("r1", "relative", "Rita", "Lee", agentSourcedIds="s1"),  # line 5
        user("t1", "teacher", "Tom", "Teach", agentSourcedIds="s1"),  # line 6: not imported
        user("g1", "guardian", "Gus", "Grant", agentSourcedIds="t1"),  # line 7: agent a teacher
        user("g2", "guardian", "Gail", "Gray", agentSourcedIds="x9"),  # line 8: unknown agent
        user("g3", "guardian", "Gil", "Green"),  # line 9: only s2 lists him
        user(  # line 10: an org nobody knows, being deleted, listing p1 who does not list her
            "s3",
            "student",
            "Cat",
            "Cole",
            status="tobedeleted",
            orgSourcedIds="sch9",
            agentSourcedIds="p1",
        ),
        user(  # line 11: disabled; only a district; lists a guardian being deleted
            "s4",
            "student",
            "Dan",
            "Dale",
            enabledUser="false",
            orgSourcedIds="d1",
            agentSourcedIds="g4",
        ),
        user("a1", "administrator", "Al", "Admin", orgSourcedIds="d1"),  # line 12: not imported
        # line 13: a guardian being deleted is left out, and so is s4's reference to him
        user("g4", "guardian", "Old", "Gone", status="tobedeleted", agentSourcedIds="s1"),
        user("s5", "student", "Eve", "Fox", orgSourcedIds="dep1"),  # line 14: a department
    ],
)

MANIFEST_1_1 = "propertyName,value\r\nmanifest.version,1.0\r\noneroster.version,1.1\r\n"


def bundle_1_1() -> dict[str, str | bytes]:
    return {"manifest.csv": MANIFEST_1_1, "orgs.csv": ORGS_CSV, "users.csv": USERS_1_1}


def test_hand_made_1_1(tmp_path: Path) -> None:
    tables = read_oneroster(write_zip(tmp_path / "district.zip", bundle_1_1()))
    assert tables.version == "1.1"
    assert tables.schools.source_name == "district.zip/orgs.csv"
    assert tables.contacts.source_name == "district.zip/users.csv"
    # Schools: orgs of type school; the code is the identifier, else the sourcedId. A district
    # with no school above it stands for the school of a student placed in it (s4).
    assert rows(tables.schools) == [
        (2, "D-1", "North District"),
        (3, "100", "North High"),
        (4, "sch2", "South Middle"),
    ]
    assert rows(tables.students) == [
        (2, "00123", "Ann", "Lee", "03", "100", "ACTIVE", "ann.lee@kids.example.org"),
        (3, "s2", "Ben", "Lee", "K", "sch2", "ACTIVE", None),
        (10, "s3", "Cat", "Cole", None, None, "INACTIVE", None),
        (11, "s4", "Dan", "Dale", None, "D-1", "INACTIVE", None),
        (14, "s5", "Eve", "Fox", None, "sch2", "ACTIVE", None),  # the department's school
    ]
    assert tables.students.notes == {
        10: [
            "users.csv line 10: orgSourcedIds names 'sch9', which is not in orgs.csv, so the "
            "student's school is unknown; add the school to orgs.csv or correct the ID in the "
            "student information system."
        ]
    }
    pat = ("P-1", "Pat", "Lee", "Parent", "Pat.Lee@Home.Example.org", "Y", "Y")
    assert rows(tables.contacts) == [
        (3, "s2", "g3", "Gil", "Green", "Guardian", None, "Y", "Y", "2"),
        (4, "00123", *pat, "1"),
        (4, "s2", *pat, "1"),
        (5, "00123", "r1", "Rita", "Lee", "Relative", None, "N", "Y", "2"),
        (7, "t1", "g1", "Gus", "Grant", "Guardian", None, "Y", "Y", None),
        (8, "x9", "g2", "Gail", "Gray", "Guardian", None, "Y", "Y", None),
        (10, "s3", *pat, "1"),
    ]
    assert tables.contacts.notes == {
        7: [
            "users.csv line 7: agentSourcedIds names 't1', who is a teacher, not a student; only "
            "students can be on a guardian's list; remove it or correct it in the student "
            "information system."
        ],
        8: [
            "users.csv line 8: agentSourcedIds names 'x9', who is not in users.csv; correct the "
            "ID, or export the bundle again from the student information system with everyone "
            "it names."
        ],
    }
    assert_fits(tables)


def test_student_id_with_leading_zeros_stays_text(tmp_path: Path) -> None:
    tables = read_oneroster(write_folder(tmp_path / "district", bundle_1_1()))
    students = parsed_values(tables.students, STUDENT_COLUMNS)
    contacts = parsed_values(tables.contacts, CONTACT_COLUMNS)
    assert students[0]["student_id"] == "00123"
    assert [c["student_id"] for c in contacts if c.get("contact_id") == "P-1"] == [
        "00123",
        "s2",
        "s3",
    ]
    assert contacts[1]["email"] == "Pat.Lee@home.example.org"
    assert contacts[1]["is_guardian"] is True and contacts[1]["priority"] == 1
    assert contacts[3]["is_guardian"] is False  # a relative


def test_folder_and_zip_give_the_same_tables(tmp_path: Path) -> None:
    from_zip = read_oneroster(write_zip(tmp_path / "district.zip", bundle_1_1()))
    from_folder = read_oneroster(write_folder(tmp_path / "district", bundle_1_1()))
    for name in ("schools", "students", "contacts"):
        a, b = getattr(from_zip, name), getattr(from_folder, name)
        assert (a.headers, a.rows, a.notes, a.source_sha256) == (
            b.headers,
            b.rows,
            b.notes,
            b.source_sha256,
        )
    assert from_folder.students.source_name == "district/users.csv"


def test_priority_follows_file_order_and_stops_at_99(tmp_path: Path) -> None:
    guardians = [
        user(f"g{i}", "guardian", f"G{i}", "Many", agentSourcedIds="s1") for i in range(120)
    ]
    users = csv_text(USER_HEADER_1_1, [user("s1", "student", "Ann", "Lee"), *guardians])
    tables = read_oneroster(write_folder(tmp_path / "b", {"users.csv": users}))
    priorities = [cells[-1] for _, cells in tables.contacts.rows]
    assert priorities == [str(n) for n in range(1, 100)] + ["99"] * 21
    assert_fits(tables)


def test_bundle_without_orgs_csv_says_so_for_each_student(tmp_path: Path) -> None:
    users = csv_text(USER_HEADER_1_1, [user("s1", "student", "Ann", "Lee", orgSourcedIds="x")])
    tables = read_oneroster(write_folder(tmp_path / "b", {"users.csv": users}))
    assert tables.schools.rows == [] and tables.schools.source_name is None
    assert tables.students.notes == {
        2: [
            "users.csv line 2: orgSourcedIds names 'x', but the bundle has no orgs.csv, so the "
            "student's school is unknown; add the school to orgs.csv or correct the ID in the "
            "student information system."
        ]
    }


def test_line_numbers_count_lines_inside_quoted_cells(tmp_path: Path) -> None:
    users = csv_text(
        USER_HEADER_1_1,
        [
            user("s1", "student", "Ann\nMarie", "Lee"),  # lines 2-3
            user("s2", "student", "Ben", "Lee"),  # line 4
        ],
    )
    users += "\r\n"  # a blank line at the end is no row
    tables = read_oneroster(write_folder(tmp_path / "b", {"users.csv": users}))
    assert [line for line, _ in tables.students.rows] == [2, 4]


# --- hand-made bundles: OneRoster 1.2 ---------------------------------------------------------

USER_HEADER_1_2 = [
    "sourcedId",
    "status",
    "dateLastModified",
    "enabledUser",
    "username",
    "givenName",
    "familyName",
    "identifier",
    "email",
    "agentSourcedIds",
    "grades",
    "primaryOrgSourcedId",
]
ROLE_HEADER = [
    "sourcedId",
    "status",
    "dateLastModified",
    "userSourcedId",
    "roleType",
    "role",
    "beginDate",
    "endDate",
    "orgSourcedId",
    "userProfileSourcedId",
]


def role(user_id: str, kind: str, name: str, org_id: str) -> dict[str, str]:
    return {
        "sourcedId": f"role-{user_id}-{name}",
        "status": "active",
        "userSourcedId": user_id,
        "roleType": kind,
        "role": name,
        "orgSourcedId": org_id,
    }


def user_1_2(sourced_id: str, given: str, family: str, **more: str) -> dict[str, str]:
    record = user(sourced_id, "", given, family, **more)
    del record["role"]
    return record


def bundle_1_2() -> dict[str, str | bytes]:
    orgs = csv_text(
        ORG_HEADER,
        [
            org("d1", "North District", "district"),
            org("sch1", "North High", "school", "100"),
            org("sch2", "South Middle", "school", "200"),
        ],
    )
    users = csv_text(
        USER_HEADER_1_2,
        [
            user_1_2("s1", "Ann", "Lee", identifier="00123", agentSourcedIds="x1"),  # line 2
            user_1_2("s2", "Ben", "Lee", agentSourcedIds="g1", primaryOrgSourcedId="sch2"),
            user_1_2("p1", "Pat", "Lee", agentSourcedIds="s1"),  # line 4: parent and teacher
            user_1_2("g1", "Gil", "Green"),  # line 5
            user_1_2("x1", "Xan", "Nobody"),  # line 6: no role at all
            user_1_2("t1", "Tom", "Teach", agentSourcedIds="s2"),  # line 7: not imported
            user_1_2("s3", "Cy", "Cole", grades="07,08"),  # line 8: school unknown
        ],
    )
    roles = csv_text(
        ROLE_HEADER,
        [
            role("s1", "primary", "student", "sch1"),  # line 2
            role("s2", "secondary", "student", "d1"),  # line 3: a district, not a school
            role("p1", "secondary", "teacher", "sch1"),  # line 4
            role("p1", "primary", "parent", "sch1"),  # line 5
            role("g1", "primary", "guardian", "sch2"),  # line 6
            role("t1", "primary", "teacher", "sch1"),  # line 7
            role("s3", "primary", "student", "sch9"),  # line 8
        ],
    )
    manifest = "propertyName,value\r\noneroster.version,1.2\r\n"
    return {"manifest.csv": manifest, "orgs.csv": orgs, "users.csv": users, "roles.csv": roles}


def test_hand_made_1_2_with_roles_csv(tmp_path: Path) -> None:
    tables = read_oneroster(write_zip(tmp_path / "v12.zip", bundle_1_2()))
    assert tables.version == "1.2"
    assert rows(tables.students) == [
        (2, "00123", "Ann", "Lee", None, "100", "ACTIVE", None),
        (3, "s2", "Ben", "Lee", None, "200", "ACTIVE", None),  # primaryOrgSourcedId
        (8, "s3", "Cy", "Cole", "07", None, "ACTIVE", None),
    ]
    assert tables.students.notes == {
        8: [
            "users.csv line 8: roles.csv line 8 gives the student the org 'sch9', which is not in "
            "orgs.csv, so the student's school is unknown; add the school to orgs.csv or correct "
            "the ID in the student information system."
        ]
    }
    assert rows(tables.contacts) == [
        (2, "00123", "x1", None, None, None, None, None, None, None),
        (3, "s2", "g1", "Gil", "Green", "Guardian", None, "Y", "Y", "1"),
        (4, "00123", "p1", "Pat", "Lee", "Parent", None, "Y", "Y", "1"),
    ]
    assert tables.contacts.notes == {
        2: [
            "users.csv line 2: agentSourcedIds names 'x1', who has no role in roles.csv, not a "
            "parent, guardian or relative; only they can be on a student's list of contacts; "
            "remove it or correct it in the student information system."
        ]
    }
    assert_fits(tables)


def test_1_2_is_recognised_without_a_manifest(tmp_path: Path) -> None:
    files = bundle_1_2()
    del files["manifest.csv"]
    tables = read_oneroster(write_folder(tmp_path / "v12", files))
    assert tables.version == "1.2"
    assert [cells[0] for _, cells in tables.students.rows] == ["00123", "s2", "s3"]


def test_1_1_is_recognised_without_a_manifest(tmp_path: Path) -> None:
    files = bundle_1_1()
    del files["manifest.csv"]
    assert read_oneroster(write_folder(tmp_path / "v11", files)).version == "1.1"


# --- encodings and layouts --------------------------------------------------------------------


def test_utf8_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    files = bundle_1_1()
    files["users.csv"] = b"\xef\xbb\xbf" + USERS_1_1.replace("Rita", "Zoë").encode("utf-8")
    files["orgs.csv"] = b"\xef\xbb\xbf" + ORGS_CSV.encode("utf-8")
    tables = read_oneroster(write_zip(tmp_path / "bom.zip", files))
    assert rows(tables.schools)[1] == (3, "100", "North High")
    assert rows(tables.contacts)[3][3] == "Zoë"
    assert_fits(tables)


def test_bundle_inside_a_folder_of_the_zip_or_folder(tmp_path: Path) -> None:
    nested = {f"export-2024/{name}": data for name, data in bundle_1_1().items()}
    nested["__MACOSX/export-2024/._users.csv"] = b"\0\0"
    tables = read_oneroster(write_zip(tmp_path / "export.zip", nested))
    assert tables.students.source_name == "export.zip/export-2024/users.csv"
    assert len(tables.students.rows) == 5
    folder = write_folder(tmp_path / "outer", nested)
    assert len(read_oneroster(folder).students.rows) == 5


def test_file_names_in_other_capitals(tmp_path: Path) -> None:
    files = {name.upper(): data for name, data in bundle_1_1().items()}
    tables = read_oneroster(write_zip(tmp_path / "caps.zip", files))
    assert tables.students.source_name == "caps.zip/USERS.CSV"
    assert len(tables.schools.rows) == 3


# --- bundles that cannot be used --------------------------------------------------------------


def test_missing_required_column_is_named(tmp_path: Path) -> None:
    header = [h for h in USER_HEADER_1_1 if h not in ("givenName", "familyName")]
    users = csv_text(header, [])
    message = refusal(write_folder(tmp_path / "b", {"users.csv": users}))
    assert message.startswith("b/users.csv has no givenName, familyName columns")
    orgs = "sourcedId,name\r\nsch1,North High\r\n"
    files = {**bundle_1_1(), "orgs.csv": orgs}
    assert refusal(write_zip(tmp_path / "b.zip", files)).startswith(
        "b.zip/orgs.csv has no type column"
    )


def test_no_role_anywhere(tmp_path: Path) -> None:
    users = csv_text(USER_HEADER_1_2, [user_1_2("s1", "Ann", "Lee")])
    message = refusal(write_folder(tmp_path / "b", {"users.csv": users}))
    assert "has no role column and the bundle has no roles.csv" in message


def test_not_utf8(tmp_path: Path) -> None:
    users = USERS_1_1.replace("Ben", "Zoë").encode("latin-1")
    message = refusal(write_folder(tmp_path / "b", {"users.csv": users}))
    assert message.startswith("b/users.csv is not UTF-8 text (line 3 has a byte that is not UTF-8)")
    utf16 = USERS_1_1.encode("utf-16")
    message = refusal(write_zip(tmp_path / "b.zip", {"users.csv": utf16}))
    assert message.startswith("b.zip/users.csv is saved as UTF-16, not UTF-8")


def test_not_a_zip(tmp_path: Path) -> None:
    fake = tmp_path / "bundle.zip"
    fake.write_text("sourcedId,givenName\r\n")
    assert refusal(fake).startswith("bundle.zip is neither a folder nor a .zip file")
    one_csv = write_folder(tmp_path / "b", {"users.csv": USERS_1_1}) / "users.csv"
    assert refusal(one_csv).startswith("users.csv is one CSV file; choose the folder")
    assert refusal(tmp_path / "nowhere").startswith("Not found:")


@pytest.mark.parametrize(
    "entry", ["../users.csv", "a/../../users.csv", "/etc/users.csv", "..\\users.csv", "C:users.csv"]
)
def test_zip_with_path_tricks(tmp_path: Path, entry: str) -> None:
    files = {**bundle_1_1(), entry: USERS_1_1}
    del files["users.csv"]
    message = refusal(write_zip(tmp_path / "tricks.zip", files))
    assert message.startswith(f"tricks.zip has an entry named '{entry}' that points outside")


def test_no_users_csv(tmp_path: Path) -> None:
    files = {"orgs.csv": ORGS_CSV}
    assert refusal(write_zip(tmp_path / "b.zip", files)).startswith(
        "b.zip has no users.csv, so it is not a OneRoster bundle"
    )
    assert refusal(write_folder(tmp_path / "b", files)).startswith("b has no users.csv")
    two = {"a/users.csv": USERS_1_1, "b/users.csv": USERS_1_1}
    assert "holds more than one users.csv" in refusal(write_zip(tmp_path / "two.zip", two))


def test_zip_bomb_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A CSV that unpacks past the limit is refused while it is being read, whatever it claims."""
    monkeypatch.setenv("PORTAL_MAX_UNPACKED_MB", "1")
    get_settings.cache_clear()
    padding = USERS_1_1 + "".join(f"z{i},,,,,,,,,,,,\r\n" for i in range(120_000))
    assert len(padding) > 2 * 1024 * 1024
    bomb = write_zip(tmp_path / "bomb.zip", {"users.csv": padding})
    assert bomb.stat().st_size < 1024 * 1024
    assert refusal(bomb).startswith("bomb.zip holds more than 1 MB of data")
    big = write_folder(tmp_path / "big", {"users.csv": padding})
    assert refusal(big).startswith("big/users.csv holds more than 1 MB of data")


def test_zip_that_understates_a_size_is_refused(tmp_path: Path) -> None:
    """An index claiming 100 bytes for a bigger CSV: reading stops there and the check fails."""
    path = write_zip(tmp_path / "liar.zip", bundle_1_1())
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("users.csv")
    local = info.header_offset
    central = data.index(b"PK\x01\x02")
    while data[central + 46 : central + 55] != b"users.csv":
        central = data.index(b"PK\x01\x02", central + 4)
    data[local + 22 : local + 26] = (100).to_bytes(4, "little")
    data[central + 24 : central + 28] = (100).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    assert refusal(path).startswith("liar.zip/users.csv is damaged inside the zip")


def test_zip_listing_too_many_files_is_refused(tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {f"x/{i}.txt": b"" for i in range(10_001)}
    message = refusal(write_zip(tmp_path / "many.zip", {**bundle_1_1(), **files}))
    assert message.startswith("many.zip lists 10004 files, far more than a OneRoster bundle")
