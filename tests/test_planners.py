"""The planners alone: each decides every row from a hand-made state, with no database."""

from typing import Any

from backend.imports.contract import InputTable, RowResult
from backend.imports.links import AccountRef, LinkRow, LinkState, StudentRef, plan_links
from backend.imports.roster_columns import CONTACT_COLUMNS
from backend.imports.roster_plan import RosterState, plan_roster, read_roster
from backend.imports.users import UserState, plan_users, validate_rows

USER_HEADERS = ["LOGONID", "FIRST_NAME", "LAST_NAME", "USER_TYPE", "PHONE"]


def table(headers: list[str], *rows: list[Any], sheet: str | None = None) -> InputTable:
    return InputTable(headers, [(n, r) for n, r in enumerate(rows, start=2)], sheet=sheet)


def outcomes(results: list[RowResult]) -> list[tuple[int | None, str | None, str]]:
    return [(r.row, r.key, r.action) for r in results]


# Users


def stored_account(logon: str, **values: Any) -> dict[str, Any]:
    account = {
        "id": 7,
        "logon_id": logon,
        "user_type": "GUARDIAN",
        "first_name": "Ann",
        "last_name": "Lee",
        "email": None,
        "status": "ACTIVE",
        "phone": "555-123-4567",
        "language": None,
    }
    return account | values


def plan_user_rows(state: UserState, *rows: list[Any], mode: Any = "upsert") -> Any:
    return plan_users(state, validate_rows(table(USER_HEADERS, *rows), lambda *_: None), mode)


def test_users_added_updated_skipped_error_and_duplicate() -> None:
    state = UserState({"ann@example.org": stored_account("Ann@example.org")})
    plan = plan_user_rows(
        state,
        ["new@example.org", "Ned", "Ng", "GUARDIAN", None],
        ["ann@example.org", "Anne", "Lee", None, None],
        ["NEW@example.org", "Other", "Ng", "GUARDIAN", None],
        ["not an email", "X", "Y", "GUARDIAN", None],
    )
    assert outcomes(plan.results) == [
        (2, "new@example.org", "added"),
        (3, "Ann@example.org", "updated"),
        (4, "NEW@example.org", "skipped"),
        (5, "not an email", "error"),
    ]
    assert plan.results[1].changes == {"FIRST_NAME": ("Ann", "Anne")}
    assert "Same LOGONID as row 2" in plan.results[2].reason
    assert plan.results[3].reason.startswith("LOGONID: ")
    assert [r["logon_id"] for r in plan.inserts] == ["new@example.org"]
    assert plan.inserts[0]["status"] == "ACTIVE"


def test_blank_user_cells_never_erase() -> None:
    state = UserState({"ann@example.org": stored_account("ann@example.org")})
    plan = plan_user_rows(state, ["ann@example.org", None, None, None, None])
    assert outcomes(plan.results) == [(2, "ann@example.org", "skipped")]
    assert plan.results[0].reason == "Already up to date"
    plan = plan_user_rows(state, ["ann@example.org", None, "Stone", None, None])
    assert plan.results[0].changes == {"LAST_NAME": ("Lee", "Stone")}
    (update,) = plan.updates
    assert update["new_first_name"] == "Ann" and update["new_phone"] == "555-123-4567"


def test_user_modes_and_rules() -> None:
    state = UserState({"ann@example.org": stored_account("ann@example.org")})
    new_row = ["new@example.org", "Ned", "Ng", "GUARDIAN", None]
    changed_row = ["ann@example.org", "Anne", None, None, None]
    update_only = plan_user_rows(state, new_row, changed_row, mode="update-only")
    assert [r.action for r in update_only.results] == ["skipped", "updated"]
    insert_only = plan_user_rows(state, new_row, changed_row, mode="insert-only")
    assert [r.action for r in insert_only.results] == ["added", "skipped"]
    assert insert_only.updates == []
    nameless = plan_user_rows(UserState(), ["new@example.org", None, "Ng", "GUARDIAN", None])
    assert nameless.results[0].action == "error"
    assert "a new account needs FIRST_NAME, LAST_NAME and USER_TYPE" in nameless.results[0].reason
    retyped = plan_user_rows(state, ["ann@example.org", None, None, "STUDENT", None])
    assert retyped.results[0].action == "error" and "USER_TYPE" in retyped.results[0].reason


# Links


def link_state() -> LinkState:
    return LinkState(
        accounts={"ann@example.org": AccountRef(7, "Ann@example.org")},
        students={"001": StudentRef(1, "101"), "002": StudentRef(2, "201")},
        links={
            (7, 1): {
                "id": 70,
                "user_id": 7,
                "student_id": 1,
                "relationship": "Mother",
                "is_primary": True,
                "notices": True,
            }
        },
    )


def test_links_each_action() -> None:
    rows = [
        LinkRow(2, "ann@example.org", "002", {"relationship": "Aunt"}),
        LinkRow(3, "ann@example.org", "001", {"relationship": "Guardian"}),
        LinkRow(4, "ann@example.org", "001", {}),
        LinkRow(5, "nobody@example.org", "001", {}),
        LinkRow(6, "ann@example.org", "404", {}),
        LinkRow(7, None, "001", {}, ["LOGONID: is blank"]),
    ]
    plan = plan_links(link_state(), rows)
    assert outcomes(plan.results) == [
        (2, "Ann@example.org / 002", "added"),
        (3, "Ann@example.org / 001", "updated"),
        (4, "Ann@example.org / 001", "skipped"),
        (5, "nobody@example.org / 001", "error"),
        (6, "Ann@example.org / 404", "error"),
        (7, "? / 001", "error"),
    ]
    assert plan.results[1].changes == {"RELATIONSHIP": ("Mother", "Guardian")}
    assert "Same LOGONID and STUDENT_ID as row 3" in plan.results[2].reason
    assert "there is no account 'nobody@example.org'" in plan.results[3].reason
    assert "no student '404'" in plan.results[4].reason
    assert plan.inserts == [
        {
            "user_id": 7,
            "logon_key": "ann@example.org",
            "student_id": 2,
            "relationship": "Aunt",
            "is_primary": False,
            "notices": True,
        }
    ]
    assert plan.updates == [
        {"_id": 70, "new_relationship": "Guardian", "new_is_primary": True, "new_notices": True}
    ]


def test_blank_link_cells_never_erase_and_removal() -> None:
    plan = plan_links(
        link_state(),
        [
            LinkRow(2, "ann@example.org", "001", {}),
            LinkRow(3, "ann@example.org", "002", {"action": "REMOVE"}),
        ],
    )
    assert [(r.action, r.reason) for r in plan.results] == [
        ("skipped", "Already attached"),
        ("skipped", "Not attached; nothing to remove"),
    ]
    removed = plan_links(link_state(), [LinkRow(2, "ann@example.org", "001", {"action": "REMOVE"})])
    assert removed.results[0].action == "removed" and removed.deletes == [70]


def test_links_scope_and_pending_accounts() -> None:
    scoped = plan_links(link_state(), [LinkRow(2, "ann@example.org", "002", {})], ["101"])
    assert scoped.results[0].action == "error"
    assert "outside this run's schools (101)" in scoped.results[0].reason
    pending = plan_links(
        LinkState(students={"001": StudentRef(1, "101")}),
        [LinkRow(None, "new@example.org", "001", {})],
        pending={"new@example.org": AccountRef(None, "New@example.org")},
    )
    assert outcomes(pending.results) == [(None, "New@example.org / 001", "added")]
    assert pending.inserts[0]["user_id"] is None
    assert pending.inserts[0]["logon_key"] == "new@example.org"


# Roster


def roster_state() -> RosterState:
    return RosterState(
        schools={"101": {"id": 1, "code": "101", "name": "Lincoln"}},
        students={
            "001": {
                "id": 10,
                "student_id": "001",
                "first_name": "Ava",
                "last_name": "Lee",
                "grade": "3",
                "school": "101",
                "status": "ACTIVE",
                "email": None,
            }
        },
        people={
            "C1": {
                "id": 20,
                "contact_id": "C1",
                "first_name": "Mia",
                "last_name": "Lee",
                "email": "mia@example.org",
            }
        },
        cards={
            (10, 20): {
                "id": 30,
                "student_id": 10,
                "contact_id": 20,
                "relationship": "Mother",
                "is_guardian": True,
                "portal_access": True,
                "priority": 1,
            }
        },
    )


STUDENT_HEADERS = ["STUDENT_ID", "FIRST_NAME", "LAST_NAME", "GRADE", "SCHOOL"]
CONTACT_HEADERS = [c.name for c in CONTACT_COLUMNS]


def test_roster_schools_and_students() -> None:
    state = roster_state()
    rows = read_roster(
        table(
            ["SCHOOL_CODE", "SCHOOL_NAME"],
            ["201", "Washington"],
            ["101", "Lincoln Elementary"],
            ["201", "Again"],
            sheet="Schools",
        ),
        table(
            STUDENT_HEADERS,
            ["002", "Max", "Lee", "5", "201"],
            ["001", None, None, "4", None],
            ["003", "Bad", "School", "7", "999"],
            ["002", "Max", "Lee", "5", "201"],
            ["004", "No", "School", "1", None],
            ["001", None, None, None, None],
            sheet="Students",
        ),
        None,
    )
    plan = plan_roster(state, rows)
    assert [(r.sheet, r.row, r.action) for r in plan.results] == [
        ("Schools", 2, "added"),
        ("Schools", 3, "updated"),
        ("Schools", 4, "skipped"),
        ("Students", 2, "added"),
        ("Students", 3, "updated"),
        ("Students", 4, "error"),
        ("Students", 5, "skipped"),
        ("Students", 6, "error"),
        ("Students", 7, "skipped"),
    ]
    assert plan.results[4].changes == {"GRADE": ("3", "4")}
    assert "'999' is not a known school code" in plan.results[5].reason
    assert "a new student needs FIRST_NAME, LAST_NAME and SCHOOL" in plan.results[7].reason
    assert plan.students_changed[0]["new_first_name"] == "Ava"  # a blank cell keeps the name
    assert set(state.schools) == {"101"} and set(state.students) == {"001"}  # state untouched


def test_roster_contacts() -> None:
    rows = read_roster(
        None,
        None,
        table(
            CONTACT_HEADERS,
            ["001", "C1", None, None, "Mother", None, None, None, 2],
            ["001", "C2", "Tom", "Lee", "Father", "tom@example.org", "Y", "Y", 2],
            ["001", "C2", "Tom", "Lee", "Father", "tom@example.org", "Y", "Y", 2],
            ["001", "C3", "Tim", None, None, None, None, None, None],
            ["999", "C4", "No", "Student", None, None, None, None, None],
            ["001", "C5", "Eve", "Lee", None, "eve@example.org", None, None, None],
            ["001", "C5", "Eve", "Lee", None, "other@example.org", None, None, None],
            ["001", "C1", None, None, None, None, None, None, None],
            sheet="Contacts",
        ),
    )
    plan = plan_roster(roster_state(), rows)
    assert outcomes(plan.results) == [
        (2, "001 / C1", "updated"),
        (3, "001 / C2", "added"),
        (4, "001 / C2", "skipped"),
        (5, "001 / C3", "error"),
        (6, "999 / C4", "error"),
        (7, "001 / C5", "added"),
        (8, "001 / C5", "error"),
        (9, "001 / C1", "skipped"),
    ]
    assert plan.results[0].changes == {"PRIORITY": (1, 2)}
    assert plan.results[1].reason == "Added to the card of student 001 (new contact)"
    assert "FIRST_NAME and LAST_NAME are needed" in plan.results[3].reason
    assert "no student '999'" in plan.results[4].reason
    assert "EMAIL" in plan.results[6].reason and "differs from row 7" in plan.results[6].reason
    assert [p["contact_id"] for p in plan.people_new] == ["C2", "C5"]
    assert plan.people_changed == []  # blank name and email cells leave Mia as she is
    assert plan.cards_changed == [
        {
            "_id": 30,
            "new_relationship": "Mother",
            "new_is_guardian": True,
            "new_portal_access": True,
            "new_priority": 2,
        }
    ]
