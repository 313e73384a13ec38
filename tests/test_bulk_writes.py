"""Bulk writes and keyed reads store and find exactly what plain SQLAlchemy statements do.

PostgreSQL writes with ``COPY`` and looks keys up as one array; SQLite with ``executemany`` and
``IN`` chunks: the rows read back must be the same on both, value for value.
"""

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Engine, Table, insert, select

from backend.database.engine import bulk_insert, bulk_update, insert_rows, rows_in, where_in
from backend.database.models import Batch, BatchEvent, PortalUser, Student, StudentLink

AWKWARD = "Tab\there, new\nline, back\\slash, \\N, quote ' \" , comma, ünïcödé 名前 ✓"


def _batch(engine: Engine) -> int:
    now = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
    with engine.begin() as connection:
        return connection.execute(
            insert(Batch).returning(Batch.id),
            {
                "kind": "users",
                "mode": "apply",
                "options": {},
                "actor": "office",
                "started_at": now,
                "finished_at": now,
            },
        ).scalar_one()


def _events(batch_id: int, offset: int) -> list[dict[str, Any]]:
    return [
        {
            "batch_id": batch_id,
            "row_number": offset + 2,
            "key": f"{AWKWARD} {offset}",
            "action": "updated",
            "changes": {"FIRST_NAME": ["Ann", AWKWARD], "PHONE": [None, "555"], "n": [1, 2.5]},
            "reason": AWKWARD,
        },
        {
            "batch_id": batch_id,
            "row_number": None,
            "key": None,
            "action": "skipped",
            "changes": None,
            "reason": None,
        },
    ]


def _stored(engine: Engine, table: Table, batch_column: Any, batch_id: int) -> list[tuple]:
    with engine.connect() as connection:
        rows = connection.execute(select(table).where(batch_column == batch_id).order_by("id"))
        return [tuple(row)[1:] for row in rows]


def test_bulk_insert_stores_what_an_insert_stores(engine: Engine) -> None:
    """JSON (and SQL NULL beside it), text with tabs, newlines and backslashes, NULLs."""
    plain, bulk = _batch(engine), _batch(engine)
    table = cast(Table, BatchEvent.__table__)
    with engine.begin() as connection:
        connection.execute(insert(table), _events(plain, 0))
        bulk_insert(connection, table, _events(bulk, 0))
    expected = _stored(engine, table, BatchEvent.batch_id, plain)
    found = _stored(engine, table, BatchEvent.batch_id, bulk)
    assert [row[1:] for row in found] == [row[1:] for row in expected]
    assert found[0][4] == {"FIRST_NAME": ["Ann", AWKWARD], "PHONE": [None, "555"], "n": [1, 2.5]}
    assert found[1][1:] == (None, None, "skipped", None, None)


def test_insert_rows_takes_a_generator_past_one_chunk(engine: Engine) -> None:
    """Rows made as they are written, more than one ``executemany`` chunk of them, each a
    tuple in the columns' order: stored as a plain insert stores their dicts, in their order."""
    plain, bulk = _batch(engine), _batch(engine)
    table = cast(Table, BatchEvent.__table__)
    columns = ("batch_id", "row_number", "key", "action", "changes", "reason")
    many = [event for offset in range(0, 5002, 2) for event in _events(0, offset)]
    with engine.begin() as connection:
        connection.execute(insert(table), [event | {"batch_id": plain} for event in many])
        made = (tuple(event[c] for c in columns) for event in many)
        insert_rows(connection, table, columns, ((bulk, *row[1:]) for row in made))
    expected = _stored(engine, table, BatchEvent.batch_id, plain)
    found = _stored(engine, table, BatchEvent.batch_id, bulk)
    assert len(found) == len(many) == 5002
    assert [row[1:] for row in found] == [row[1:] for row in expected]


def test_bulk_insert_keeps_times_zones_and_booleans(engine: Engine) -> None:
    batch_id = _batch(engine)
    table = cast(Table, PortalUser.__table__)
    times = [
        datetime(2026, 1, 31, 23, 59, 59, 123456, tzinfo=UTC),
        datetime(2026, 7, 1, 1, 2, 3, tzinfo=UTC),
    ]
    rows = [
        {
            "logon_id": f"Parent.{n}@example.org",
            "logon_key": f"parent.{n}@example.org",
            "user_type": "GUARDIAN",
            "first_name": AWKWARD[:100],
            "last_name": "O'Brien",
            "email": None,
            "phone": "",
            "language": "Español",
            "status": "ACTIVE",
            "password_hash": None,
            "created_at": at,
            "updated_at": at,
            "created_batch_id": batch_id,
            "updated_batch_id": None,
        }
        for n, at in enumerate(times)
    ]
    with engine.begin() as connection:
        bulk_insert(connection, table, rows)
    with engine.connect() as connection:
        stored = connection.execute(select(PortalUser).order_by(PortalUser.id)).all()
    assert [(u.logon_id, u.first_name, u.email, u.phone) for u in stored] == [
        (r["logon_id"], r["first_name"], None, "") for r in rows
    ]
    # Times are written in UTC; SQLite gives them back without their zone.
    assert [u.created_at.replace(tzinfo=u.created_at.tzinfo or UTC) for u in stored] == times
    links = [
        {
            "user_id": user.id,
            "student_id": student,
            "relationship": relationship,
            "is_primary": primary,
            "notices": not primary,
            "created_at": times[0],
            "updated_at": None,
            "created_batch_id": batch_id,
            "updated_batch_id": None,
        }
        for user in stored
        for student, relationship, primary in ((1, "Mother", True), (2, None, False))
    ]
    with engine.begin() as connection:
        connection.execute(
            insert(Student),
            [{"student_id": f"S{n}", "first_name": "Kim", "last_name": "Lee"} for n in (1, 2)],
        )
        bulk_insert(connection, cast(Table, StudentLink.__table__), links)
        found = connection.execute(
            select(
                StudentLink.user_id,
                StudentLink.student_id,
                StudentLink.relationship,
                StudentLink.is_primary,
                StudentLink.notices,
                StudentLink.updated_at,
            ).order_by(StudentLink.id)
        ).all()
    assert [tuple(row) for row in found] == [
        (
            link["user_id"],
            link["student_id"],
            link["relationship"],
            link["is_primary"],
            link["notices"],
            None,
        )
        for link in links
    ]
    later = datetime(2026, 8, 1, tzinfo=UTC)
    changes = [
        {
            "_id": n + 1,
            "new_relationship": (None, "Father")[n % 2],
            "new_is_primary": n % 3 == 0,
            "new_notices": n % 2 == 0,
        }
        for n in range(len(links))
    ]
    with engine.begin() as connection:
        fields = ["relationship", "is_primary", "notices"]
        bulk_update(connection, StudentLink, changes, fields, updated_at=later)
        found = connection.execute(
            select(
                StudentLink.id,
                StudentLink.relationship,
                StudentLink.is_primary,
                StudentLink.notices,
                StudentLink.updated_at,
            ).order_by(StudentLink.id)
        ).all()
    assert [(i, r, p, n, u.replace(tzinfo=u.tzinfo or UTC)) for i, r, p, n, u in found] == [
        (c["_id"], c["new_relationship"], c["new_is_primary"], c["new_notices"], later)
        for c in changes
    ]


def test_bulk_update_and_keyed_reads_over_many_chunks(engine: Engine) -> None:
    """12,000 accounts: more keys than one SQLite ``IN`` takes, found and changed in bulk."""
    batch_id = _batch(engine)
    at = datetime(2026, 2, 1, tzinfo=UTC)
    rows = [
        {
            "logon_id": f"p{n}@example.org",
            "logon_key": f"p{n}@example.org",
            "user_type": "GUARDIAN",
            "first_name": "Pat",
            "last_name": f"Number {n}",
            "status": "ACTIVE",
            "created_at": at,
            "updated_at": at,
            "created_batch_id": batch_id,
        }
        for n in range(12_000)
    ]
    wanted = {f"p{n}@example.org" for n in range(0, 12_000, 2)} | {"nobody@example.org"}
    query = select(PortalUser.logon_key, PortalUser.id)
    with engine.begin() as connection:
        bulk_insert(connection, cast(Table, PortalUser.__table__), rows)
        ids = dict(rows_in(connection, query, PortalUser.logon_key, wanted))
        assert set(ids) == wanted - {"nobody@example.org"}
        assert where_in(connection, PortalUser.id, []) is None
        assert list(rows_in(connection, query, PortalUser.id, set())) == []
        by_id = {i for _, i in rows_in(connection, query, PortalUser.id, ids.values())}
        assert by_id == set(ids.values())
        bulk_update(
            connection,
            PortalUser,
            [{"_id": i, "new_last_name": f"Changed {k}"} for k, i in ids.items()],
            ["last_name"],
            status="DISABLED",
        )
    with engine.connect() as connection:
        stored = connection.execute(
            select(PortalUser.logon_key, PortalUser.last_name, PortalUser.status)
        ).all()
    assert len(stored) == 12_000
    for key, last, status in stored:
        if key in ids:
            assert (last, status) == (f"Changed {key}", "DISABLED")
        else:
            assert (last, status) == (f"Number {key[1:].split('@')[0]}", "ACTIVE")
