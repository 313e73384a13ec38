"""`portal staff`: staff members, their schools and tokens, on both databases; a batch run with
a staff identity names its member."""

import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import Any, get_args

import pytest
from factories import USER_HEADERS, input_table
from helpers import CliResult, run_cli
from sqlalchemy import Connection, Engine, insert, select, update

from addin.cli.staff import Role
from backend.database.models import Batch, PortalUser, School, Staff, StaffSchool, StaffToken
from backend.errors import NotSignedIn
from backend.imports.batches import current_actor, run_batch
from backend.imports.users import load_users, plan_users, validate_rows, write_users
from backend.staff.identity import NOT_SIGNED_IN, ROLES, StaffIdentity, identify

Capsys = pytest.CaptureFixture[str]
TOKEN = re.compile(r"^ppa_[A-Za-z0-9_-]{43}$", re.MULTILINE)


def staff(capsys: Capsys, url: str, *args: str) -> CliResult:
    return run_cli(capsys, "--db", url, "staff", *args)


def shown_token(result: CliResult) -> str:
    """The one token a command printed, on a line of its own."""
    assert result.code == 0, result.stderr
    tokens = TOKEN.findall(result.stdout)
    assert len(tokens) == 1, result.stdout
    assert "it will not be shown again" in result.stdout
    return tokens[0]


def schools(engine: Engine, *codes: str) -> dict[str, int]:
    with engine.begin() as connection:
        connection.execute(insert(School), [{"code": c, "name": f"School {c}"} for c in codes])
        return dict(connection.execute(select(School.code, School.id)).all())


def rows(engine: Engine, model: Any) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        return [dict(r._mapping) for r in connection.execute(select(model.__table__))]


def refused(engine: Engine, token: str) -> str:
    with pytest.raises(NotSignedIn) as caught:
        identify(engine, token)
    return str(caught.value)


def test_the_cli_offers_exactly_the_roles_the_program_takes() -> None:
    assert get_args(Role) == ROLES


def test_added_staff_are_identified_by_the_token_shown_once(
    engine: Engine, database_url: str, capsys: Capsys
) -> None:
    ids = schools(engine, "101", "102", "103")
    admin = staff(
        capsys,
        database_url,
        "add",
        "Ann.Admin@District.ORG",
        "--role",
        "District-Admin",
        "--name",
        "Ann Admin",
    )
    assert admin.stdout.startswith("Added Ann.Admin@district.org: district-admin.")
    admin_token = shown_token(admin)
    office = staff(
        capsys,
        database_url,
        "add",
        "sam@lincoln.org",
        "--role",
        "school-staff",
        "--school",
        "102",
        "--school",
        "101",
    )
    assert "Added sam@lincoln.org: school-staff for 101, 102." in office.stdout
    office_token = shown_token(office)

    tokens = rows(engine, StaffToken)
    assert sorted(t["token_hash"] for t in tokens) == sorted(
        hashlib.sha256(t.encode()).hexdigest() for t in (admin_token, office_token)
    )
    stored = repr(rows(engine, StaffToken) + rows(engine, Staff))
    assert admin_token not in stored and admin_token[4:] not in stored
    assert {(r["email"], r["email_key"], r["role"], r["status"]) for r in rows(engine, Staff)} == {
        ("Ann.Admin@district.org", "ann.admin@district.org", "district-admin", "ACTIVE"),
        ("sam@lincoln.org", "sam@lincoln.org", "school-staff", "ACTIVE"),
    }

    listed = staff(capsys, database_url, "list")
    assert listed.code == 0
    assert re.search(
        r"Ann\.Admin@district\.org +│ Ann Admin +│ district-admin +│ all +│ ACTIVE +│ never",
        listed.stdout,
    )
    assert re.search(
        r"sam@lincoln\.org +│ +│ school-staff +│ 101, 102 +│ ACTIVE +│ never", listed.stdout
    )

    head = identify(engine, admin_token)
    assert (head.email, head.role, head.is_district_admin) == (
        "Ann.Admin@district.org",
        "district-admin",
        True,
    )
    assert head.school_codes == () and head.sees_school(ids["103"]) and head.sees_school(None)
    clerk = identify(engine, f" {office_token}\n")
    assert (clerk.email, clerk.is_district_admin, clerk.school_codes) == (
        "sam@lincoln.org",
        False,
        ("101", "102"),
    )
    assert clerk.school_ids == {ids["101"], ids["102"]}
    assert clerk.sees_school(ids["101"]) and not clerk.sees_school(ids["103"])
    assert not clerk.sees_school(None)
    listed = staff(capsys, database_url, "list")
    assert re.search(r"sam@lincoln\.org .*│ ACTIVE +│ \d{4}-\d\d-\d\d \d\d:\d\d", listed.stdout)
    assert re.search(r"Ann\.Admin@district\.org .*│ ACTIVE +│ \d{4}-", listed.stdout)


def test_a_rotated_or_disabled_token_fails_like_a_made_up_one(
    engine: Engine, database_url: str, capsys: Capsys
) -> None:
    first = shown_token(
        staff(capsys, database_url, "add", "bo@district.org", "--role", "district-admin")
    )
    made_up = refused(engine, "ppa_" + "A" * 43)
    assert made_up == NOT_SIGNED_IN
    assert refused(engine, "not a token") == made_up
    assert refused(engine, first[:-1]) == made_up

    rotated = staff(capsys, database_url, "rotate-token", "BO@district.org")
    assert "New token for BO@district.org; the earlier one no longer works" in rotated.stdout
    second = shown_token(rotated)
    assert second != first
    assert refused(engine, first) == made_up
    assert identify(engine, second).email == "bo@district.org"
    tokens = rows(engine, StaffToken)
    assert [
        (t["token_hash"], t["revoked_at"] is None) for t in sorted(tokens, key=lambda t: t["id"])
    ] == [
        (hashlib.sha256(first.encode()).hexdigest(), False),
        (hashlib.sha256(second.encode()).hexdigest(), True),
    ]

    disabled = staff(capsys, database_url, "disable", "bo@district.org")
    assert disabled.code == 0
    assert disabled.stdout.startswith("Disabled bo@district.org: their tokens no longer work.")
    assert refused(engine, second) == made_up
    assert all(t["revoked_at"] is not None for t in rows(engine, StaffToken))
    assert [r["status"] for r in rows(engine, Staff)] == ["DISABLED"]
    again = staff(capsys, database_url, "disable", "bo@district.org")
    assert (again.code, again.stdout.strip()) == (0, "bo@district.org was already disabled.")
    assert re.search(
        r"bo@district\.org .*│ DISABLED +│", staff(capsys, database_url, "list").stdout
    )

    enabled = staff(capsys, database_url, "enable", "bo@district.org")
    assert enabled.stdout.startswith("Enabled bo@district.org again, with a new token:")
    third = shown_token(enabled)
    assert refused(engine, second) == made_up  # a token kept while they were away stays dead
    assert identify(engine, third).email == "bo@district.org"
    assert [r["status"] for r in rows(engine, Staff)] == ["ACTIVE"]


def test_a_move_to_other_schools_holds_from_the_next_request(
    engine: Engine, database_url: str, capsys: Capsys
) -> None:
    schools(engine, "101", "102", "201")
    added = staff(
        capsys, database_url, "add", "sam@d.org", "--role", "school-staff", "--school", "101"
    )
    token = shown_token(added)
    moved = staff(
        capsys,
        database_url,
        "change",
        "SAM@d.org",
        "--role",
        "school-staff",
        "--school",
        "201",
        "--school",
        "102",
    )
    assert (moved.code, moved.stdout.strip()) == (0, "sam@d.org is now school-staff for 102, 201.")
    assert identify(engine, token).school_codes == ("102", "201")
    promoted = staff(capsys, database_url, "change", "sam@d.org", "--role", "district-admin")
    assert promoted.stdout.strip() == "sam@d.org is now district-admin."
    assert identify(engine, token).is_district_admin
    assert rows(engine, StaffSchool) == []
    refused_move = staff(
        capsys, database_url, "change", "sam@d.org", "--role", "school-staff", "--school", "999"
    )
    assert refused_move.code == 2 and "No school has the code" in refused_move.stderr
    assert identify(engine, token).is_district_admin  # nothing was changed


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["add", "new@d.org", "--role", "school-staff"],
            "School staff need at least one school: add --school CODE",
        ),
        (
            ["add", "new@d.org", "--role", "district-admin", "--school", "101"],
            "A district admin sees every school: leave out --school",
        ),
        (
            [
                "add",
                "new@d.org",
                "--role",
                "school-staff",
                "--school",
                "101",
                "--school",
                "999",
                "--school",
                "0101",
            ],
            "No school has the codes '999', '0101': check it",
        ),
        (
            ["add", "X@D.org", "--role", "district-admin"],
            "x@d.org is already on the staff list: `portal staff rotate-token x@d.org`",
        ),
        (["add", "x@", "--role", "district-admin"], "'x@' is not a valid email address"),
        (
            ["add", "y@d.org", "--role", "principal"],
            "'principal' is not one of 'district-admin', 'school-staff'",
        ),
        (
            ["add", "y@d.org", "--role", "district-admin", "--name", "Ann\x1b[2J"],
            "The name holds an invisible character (U+001B",
        ),
        (
            ["disable", "nobody@d.org"],
            "No staff member has the email nobody@d.org: `portal staff list` lists them",
        ),
        (["rotate-token", "nobody@d.org"], "No staff member has the email nobody@d.org"),
        (
            ["enable", "X@D.org"],
            "x@d.org is active already: `portal staff rotate-token x@d.org` gives them",
        ),
        (["rotate-token", "gone@d.org"], "gone@d.org is disabled: their access has ended"),
        (
            ["add", "Gone@d.org", "--role", "district-admin"],
            "gone@d.org is already on the staff list, disabled: their access has ended",
        ),
    ],
)
def test_a_refusal_is_one_line_exit_2_and_writes_nothing(
    engine: Engine, database_url: str, capsys: Capsys, args: list[str], message: str
) -> None:
    schools(engine, "101")
    assert staff(capsys, database_url, "add", "x@d.org", "--role", "district-admin").code == 0
    assert staff(capsys, database_url, "add", "gone@d.org", "--role", "district-admin").code == 0
    assert staff(capsys, database_url, "disable", "gone@d.org").code == 0
    before = (rows(engine, Staff), rows(engine, StaffSchool), rows(engine, StaffToken))

    result = staff(capsys, database_url, *args)

    assert result.code == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert message in result.stderr
    assert (rows(engine, Staff), rows(engine, StaffSchool), rows(engine, StaffToken)) == before


def test_a_batch_run_for_a_staff_member_names_them(
    engine: Engine, database_url: str, capsys: Capsys
) -> None:
    schools(engine, "101")
    token = shown_token(
        staff(
            capsys,
            database_url,
            "add",
            "sam@lincoln.org",
            "--role",
            "school-staff",
            "--school",
            "101",
        )
    )
    who = identify(engine, token)
    table = input_table(USER_HEADERS, [["mia@example.org", "Mia", "Lee", "GUARDIAN"]])
    user_rows = validate_rows(table, lambda *_: None)

    def plan(connection: Connection) -> Any:
        return plan_users(load_users(connection, user_rows), user_rows, "upsert")

    def write(connection: Connection, planned: Any, batch_id: int) -> None:
        write_users(connection, planned, batch_id, lambda *_: None)

    for actor in (who, None):
        run_batch(
            engine,
            kind="users import",
            options={},
            table=table,
            apply=True,
            plan=plan,
            write=write,
            actor=actor,
        )

    batches = sorted(rows(engine, Batch), key=lambda b: b["id"])
    assert [(b["actor"], b["staff_id"]) for b in batches] == [
        ("sam@lincoln.org", who.staff_id),
        (current_actor(), None),
    ]
    assert [(u["logon_id"], u["created_batch_id"]) for u in rows(engine, PortalUser)] == [
        ("mia@example.org", batches[0]["id"])
    ]
    listed = run_cli(capsys, "--db", database_url, "batches")
    assert re.search(
        r"│ 1 +│ .*│ users import +│ APPLY +│ .*│ sam@lincoln\.org +│ 1 +│", listed.stdout
    )


def test_an_identity_sees_only_its_schools() -> None:
    """The rule the server's scope checks read, without a database."""
    clerk = StaffIdentity(1, "sam@lincoln.org", "school-staff", frozenset({7}), ("101",))
    admin = StaffIdentity(2, "ann@district.org", "district-admin")
    assert [clerk.sees_school(s) for s in (7, 8, None)] == [True, False, False]
    assert [admin.sees_school(s) for s in (7, 8, None)] == [True, True, True]
    assert not clerk.is_district_admin and admin.is_district_admin


def test_a_tokens_use_is_written_at_most_once_a_minute(
    engine: Engine, database_url: str, capsys: Capsys
) -> None:
    token = shown_token(staff(capsys, database_url, "add", "bo@d.org", "--role", "district-admin"))

    def last_used(set_to: datetime | None = None) -> datetime:
        with engine.begin() as connection:
            if set_to is not None:
                connection.execute(update(StaffToken).values(last_used_at=set_to))
            value = connection.execute(select(StaffToken.last_used_at)).scalar_one()
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    identify(engine, token)
    first = last_used()
    assert abs(datetime.now(UTC) - first) < timedelta(minutes=1)
    recent = last_used(set_to=first - timedelta(seconds=20))
    identify(engine, token)
    assert last_used() == recent
    long_ago = last_used(set_to=first - timedelta(minutes=5))
    identify(engine, token)
    assert last_used() > long_ago + timedelta(minutes=4)
