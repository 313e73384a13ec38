"""Many staff at once on a district's servers: two `portal serve` processes and two
`portal outbox worker` processes on one PostgreSQL database, mail to a real SMTP server.

Twenty staff (district admins and school staff, each with their own token) simulate and apply
at the same moment users and links files that name the same logons and links with different
values, and AutoCreate for overlapping schools. An apply refused because another one changed
its rows since its simulation (409) is applied again with the go-ahead, as `--yes` does.
Afterwards the database, the audit trail and the SMTP server must agree: one account per
logon, each file's rows as the last apply left them, every batch whole, each email once.
"""

import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from factories import USER_HEADERS, input_table
from served import Server, running, staff_token
from sqlalchemy import Engine, func, select
from test_outbox import MailServer, mail_server  # noqa: F401  (the fixture)
from test_outbox_worker import received_ids, start_worker, stopped, wait_for

from backend.accounts.logon import logon_key
from backend.database.models import (
    Batch,
    BatchEvent,
    OutboxMessage,
    PortalUser,
    Student,
    StudentLink,
)
from backend.imports.roster import import_roster
from backend.imports.users import import_users
from backend.mail.outbox import counts
from server.wire import encode_table

SCHOOLS = ["101", "102", "103", "104"]
STUDENTS = 400  # 100 a school; students 2p and 2p+1 are siblings with one guardian contact
USERS_FILES = 8  # 200 rows each, from a pool of 400 logons: each logon in 4 files
LINKS_FILES = 8  # 200 rows each: files j and j + 4 attach the same pairs, differently
AUTOCREATE_RUNS = 4
LINK_HEADERS = ["LOGONID", "STUDENT_ID", "RELATIONSHIP"]


def sid(n: int) -> str:
    return f"{n:05d}"


def school_of(student: int) -> str:
    return SCHOOLS[student * len(SCHOOLS) // STUDENTS]


def guardian(pair: int) -> str:
    return f"g{pair}@family.example.org"


def district(engine: Engine) -> None:
    """The roster (schools, students, one guardian contact for each two siblings) and 400
    accounts no file adds, imported as a district office does before the year starts."""
    students = [[sid(n), f"Kid{n}", "Lee", "5", school_of(n), None] for n in range(STUDENTS)]
    contacts = [
        [sid(n), f"C{n // 2}", "Pat", f"Fam{n // 2}", "Mother", guardian(n // 2), "Y", "Y", 1]
        for n in range(STUDENTS)
    ]
    tables = {
        "schools": input_table(
            ["SCHOOL_CODE", "SCHOOL_NAME"], [[s, f"School {s}"] for s in SCHOOLS]
        ),
        "students": input_table(
            ["STUDENT_ID", "FIRST_NAME", "LAST_NAME", "GRADE", "SCHOOL", "STUDENT_EMAIL"], students
        ),
        "contacts": input_table(
            [
                "STUDENT_ID",
                "CONTACT_ID",
                "FIRST_NAME",
                "LAST_NAME",
                "RELATIONSHIP",
                "EMAIL",
                "GUARDIAN",
                "PORTAL_ACCESS",
                "PRIORITY",
            ],
            contacts,
        ),
    }
    assert import_roster(engine, **tables, apply=True).counts["error"] == 0
    base = [[f"base{n}@example.org", "Base", "Account", "GUARDIAN"] for n in range(STUDENTS)]
    assert import_users(engine, input_table(USER_HEADERS, base), apply=True).counts["added"] == 400


def users_rows(i: int) -> list[list[str]]:
    """Users file ``i``: 200 logons of a pool of 400 (half new, half the accounts made first), a
    window moved by 50 a file; every other file types them with capitals."""
    pool = [f"u{n}@example.org" for n in range(200)] + [f"base{n}@example.org" for n in range(200)]
    logons = [pool[(i * 50 + k) % len(pool)] for k in range(200)]
    if i % 2:
        logons = [logon[0].upper() + logon[1:] for logon in logons]
    return [[logon, f"First{i}", f"Last{i}", "GUARDIAN"] for logon in logons]


def links_rows(j: int) -> list[list[str]]:
    """Links file ``j``: the 100 students of one school, each attached to its own account made first
    and its sibling's; files j and j + 4 name the same pairs with another relationship."""
    school = SCHOOLS[j % len(SCHOOLS)]
    mine = [n for n in range(STUDENTS) if school_of(n) == school]
    return [
        [f"base{n}@example.org", sid(student), f"Rel{j}"] for n in mine for student in (n, n ^ 1)
    ]


@dataclass
class Outcome:
    """What one staff client saw: every status, and the batch of each 200 it got."""

    statuses: list[int] = field(default_factory=list)
    simulations: list[int] = field(default_factory=list)
    applies: list[int] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def simulate_then_apply(http: httpx.Client, path: str, body: dict[str, Any], seen: Outcome) -> None:
    """As staff do: simulate, apply following that simulation, and if the rows now differ
    (409), apply anyway as `--yes` does."""

    def post(sent: dict[str, Any]) -> httpx.Response:
        answer = http.post(path, json=sent)
        seen.statuses.append(answer.status_code)
        if answer.status_code not in (200, 409):
            seen.failures.append(f"{path}: {answer.status_code} {answer.text[:300]}")
        return answer

    simulated = post(body)
    if simulated.status_code != 200:
        return
    seen.simulations.append(simulated.json()["batch_id"])
    review = {"batch_id": simulated.json()["batch_id"]}
    applied = post(body | {"apply": True, "review": review})
    if applied.status_code == 409:
        assert applied.json()["differences"], applied.text
        applied = post(body | {"apply": True, "review": review | {"confirmed": True}})
    if applied.status_code == 200:
        seen.applies.append(applied.json()["batch_id"])
    else:
        seen.failures.append(f"{path}: the apply was not done: {applied.text[:300]}")


@dataclass
class Client:
    """One staff member's run: their token, which server they use, what they send."""

    token: str
    server: Server
    path: str
    body: dict[str, Any]
    seen: Outcome = field(default_factory=Outcome)

    def run(self, start: threading.Barrier) -> None:
        with self.server.client(self.token) as http:
            http.timeout = httpx.Timeout(120)
            start.wait()
            try:
                simulate_then_apply(http, self.path, self.body, self.seen)
            except Exception as exc:  # whatever stops a client is what the test reports
                self.seen.failures.append(f"{self.path}: {type(exc).__name__}: {exc}")


def clients(engine: Engine, servers: list[Server]) -> list[Client]:
    """Twenty staff: eight district admins with users files; four admins and four school
    staff with links files of the same pairs; AutoCreate by two admins (every school, with
    the welcome email) and two school staff (their own school, with it too)."""
    made: list[Client] = []

    def add(role_school: str | None, path: str, body: dict[str, Any]) -> None:
        token = (
            staff_token(engine, "school-staff", school_codes=[role_school])
            if role_school
            else staff_token(engine)
        )
        made.append(Client(token, servers[len(made) % 2], path, body))

    for i in range(USERS_FILES):
        table = input_table(USER_HEADERS, users_rows(i), source_name=f"users-{i}.xlsx")
        add(None, "/api/imports/users", {"table": encode_table(table)})
    for j in range(LINKS_FILES):
        table = input_table(LINK_HEADERS, links_rows(j), source_name=f"links-{j}.xlsx")
        school = SCHOOLS[j % len(SCHOOLS)] if j >= len(SCHOOLS) else None
        add(school, "/api/imports/links", {"table": encode_table(table)})
    for k in range(AUTOCREATE_RUNS):
        school = SCHOOLS[k] if k % 2 else None
        options = {"email_template": "welcome", "schools": [school] if school else []}
        add(school, "/api/autocreate", {"options": options})
    return made


def in_parallel(staff: list[Client]) -> None:
    start = threading.Barrier(len(staff))
    threads = [threading.Thread(target=client.run, args=(start,)) for client in staff]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert not any(thread.is_alive() for thread in threads), "a client did not finish in 3 min"


def batches_with_events(engine: Engine) -> dict[int, tuple[Any, ...]]:
    """Every batch: kind, source file, staff member, the sum of its counts, its events."""
    events = (
        select(BatchEvent.batch_id, func.count().label("n"))
        .group_by(BatchEvent.batch_id)
        .subquery()
    )
    query = select(
        Batch.id,
        Batch.kind,
        Batch.source_name,
        Batch.staff_id,
        Batch.added + Batch.updated + Batch.removed + Batch.skipped + Batch.errors,
        func.coalesce(events.c.n, 0),
    ).outerjoin(events, events.c.batch_id == Batch.id)
    with engine.connect() as connection:
        return {row[0]: tuple(row[1:]) for row in connection.execute(query)}


def events_of(engine: Engine, batch_id: int) -> dict[int, tuple[str | None, str]]:
    """A batch's events by row number: the key and the action."""
    query = select(BatchEvent.row_number, BatchEvent.key, BatchEvent.action).where(
        BatchEvent.batch_id == batch_id, BatchEvent.row_number.is_not(None)
    )
    with engine.connect() as connection:
        return {row: (key, action) for row, key, action in connection.execute(query)}


def last_applied(
    engine: Engine,
    applied: list[tuple[int, list[list[str]]]],
    key_of: Callable[[list[str]], Any],
    width: int,
) -> dict[Any, list[str]]:
    """The row each key should now hold: from the last apply, in batch order, that did it.

    Every row of every applied file has its event, keyed by the row's first ``width`` cells
    (the log's key: `logon` or `logon / student`), and none is an error."""
    expected: dict[Any, list[str]] = {}
    for batch_id, rows in sorted(applied):
        events = events_of(engine, batch_id)
        assert sorted(events) == list(range(2, len(rows) + 2)), batch_id
        for number, row in enumerate(rows, start=2):
            key, action = events[number]
            assert action in ("added", "updated", "skipped"), (batch_id, number, action)
            assert key is not None and key.casefold() == " / ".join(row[:width]).casefold()
            expected[key_of(row)] = row
    return expected


def received_addresses(smtp: MailServer) -> Counter[str]:
    return Counter(str(message["To"]) for message in smtp.received)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_twenty_staff_at_once_on_two_servers_and_two_workers(
    engine: Engine,
    database_url: str,
    mail_server: MailServer,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PORTAL_SEND_PER_MINUTE", "0")
    district(engine)
    workers = [start_worker(database_url) for _ in range(2)]
    with (
        running(database_url, tmp_path) as first,
        running(database_url, tmp_path, "--workers", "2") as second,
    ):
        staff = clients(engine, [first, second])
        in_parallel(staff)
        logs = first.said() + second.said()
    wait_for(lambda: (c := counts(engine))["queued"] + c["sending"] == 0, workers)
    time.sleep(1)  # long enough for a second copy of any message to arrive
    summaries = [stopped(worker) for worker in workers]

    # Every request was answered 200, or 409 then applied with the go-ahead; no 5xx.
    failures = [failure for client in staff for failure in client.seen.failures]
    assert failures == [], failures
    statuses = Counter(status for client in staff for status in client.seen.statuses)
    assert set(statuses) <= {200, 409}, statuses
    assert not re.search(r'" 5\d\d ', logs), logs

    # Every batch is whole (its events are its counts), and the only batches of the staff's
    # runs are those they were answered: an apply refused left none.
    batches = batches_with_events(engine)
    assert all(total == events for *_, total, events in batches.values()), batches
    answered = {b for client in staff for b in client.seen.simulations + client.seen.applies}
    assert {b for b, (*_, staff_id, _, _) in batches.items() if staff_id} == answered
    applies = {b for client in staff for b in client.seen.applies}
    assert len(applies) == len(staff)

    # One account per logon key, and every account is one the runs made or the district began with.
    with engine.connect() as connection:
        accounts = {
            r.logon_key: r
            for r in connection.execute(
                select(PortalUser.logon_key, PortalUser.first_name, PortalUser.last_name)
            )
        }
        keys = list(connection.execute(select(PortalUser.logon_key)).scalars())
        links = {
            (key, student): relationship
            for key, student, relationship in connection.execute(
                select(PortalUser.logon_key, Student.student_id, StudentLink.relationship)
                .join(StudentLink, StudentLink.user_id == PortalUser.id)
                .join(Student, Student.id == StudentLink.student_id)
            )
        }
    assert len(keys) == len(set(keys))
    made_by_files = {logon_key(row[0]) for i in range(USERS_FILES) for row in users_rows(i)}
    first = {f"base{n}@example.org" for n in range(STUDENTS)}
    autocreated = {guardian(p) for p in range(STUDENTS // 2)}
    assert set(accounts) == made_by_files | first | autocreated

    # No row lost: each holds what the last apply that named it wrote.
    by_file = {f"users-{i}.xlsx": users_rows(i) for i in range(USERS_FILES)}
    by_file |= {f"links-{j}.xlsx": links_rows(j) for j in range(LINKS_FILES)}
    users_applied = [
        (b, by_file[batches[b][1]]) for b in applies if batches[b][0] == "users import"
    ]
    links_applied = [
        (b, by_file[batches[b][1]]) for b in applies if batches[b][0] == "student-link import"
    ]
    assert len(users_applied) == USERS_FILES and len(links_applied) == LINKS_FILES
    for key, row in last_applied(engine, users_applied, lambda r: logon_key(r[0]), 1).items():
        assert (accounts[key].first_name, accounts[key].last_name) == (row[1], row[2]), key
    expected_links = last_applied(engine, links_applied, lambda r: (logon_key(r[0]), r[1]), 2)
    for pair, row in expected_links.items():
        assert links[pair] == row[2], pair
    assert {pair for pair in links if pair[0] in autocreated} == {
        (guardian(n // 2), sid(n)) for n in range(STUDENTS)
    }

    # Each new account's welcome email queued once and delivered once, whoever ran AutoCreate.
    with engine.connect() as connection:
        queued = Counter(connection.execute(select(OutboxMessage.to_address)).scalars())
    assert queued == Counter(autocreated)
    arrivals = Counter(received_ids(mail_server))
    assert set(arrivals.values()) == {1} and len(arrivals) == len(autocreated)
    assert received_addresses(mail_server) == Counter(autocreated)
    assert counts(engine)["sent"] == len(autocreated)
    assert sum(sent for sent, *_ in summaries) == len(autocreated)
