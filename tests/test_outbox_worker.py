"""`portal outbox worker` as IT runs it: real processes, a real SMTP server (aiosmtpd), SQLite
and PostgreSQL, stopped with SIGTERM (or killed).

What is asserted is what a parent and an admin see: each message arriving once at the server
(counted by its Message-ID), the outbox rows' status, and each worker's lines and exit code.
"""

import datetime as dt
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from conftest import PG_ADMIN_URL
from sqlalchemy import Engine, make_url, select, update
from test_outbox import MailServer, aware, mail_server, queue  # noqa: F401  (the fixture)

from backend.database.engine import write_transaction
from backend.database.models import OutboxMessage, utcnow
from backend.mail.outbox import counts, queue_messages

PORTAL = Path(sys.executable).with_name("portal")
SUMMARY = re.compile(r"^Stopped: (\d+) sent, (\d+) failed, (\d+) skipped$", re.MULTILINE)


@pytest.fixture
def smtp(mail_server: MailServer) -> MailServer:  # noqa: F811
    """The SMTP server the workers' settings point at."""
    return mail_server


ON_POSTGRESQL = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
"""Several workers run on PostgreSQL only: SQLite's write lock lets one send at a time."""


def start_worker(database_url: str, poll: str = "0.2") -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(PORTAL), "--db", database_url, "outbox", "worker", "--poll", poll],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stopped(worker: subprocess.Popen[str], *, signal_it: bool = True) -> tuple[int, int, int, str]:
    """SIGTERM, then the worker's summary (sent, failed, skipped) and everything it printed."""
    if signal_it:
        worker.send_signal(signal.SIGTERM)
    stdout, stderr = worker.communicate(timeout=60)
    assert worker.returncode == 0, (stdout, stderr)
    [summary] = SUMMARY.findall(stdout)
    assert stdout.rstrip().splitlines()[-1].startswith("Stopped: "), stdout
    sent, failed, skipped = map(int, summary)
    return sent, failed, skipped, stdout


def wait_for(condition: Callable[[], bool], workers: list[subprocess.Popen[str]]) -> None:
    deadline = time.monotonic() + 120
    while not condition():
        for worker in workers:
            assert worker.poll() is None, worker.communicate()
        assert time.monotonic() < deadline, "the workers did not get there in two minutes"
        time.sleep(0.05)


def notes(n: int, start: int = 0) -> list[dict[str, object]]:
    return [
        {"to_address": f"p{i}@example.org", "subject": f"Note {i}", "body": "Hello."}
        for i in range(start, start + n)
    ]


def queue_many(engine: Engine, rows: list[dict[str, object]]) -> None:
    with write_transaction(engine) as connection:
        queue_messages(connection, rows)


def outbox_ids(engine: Engine, status: str | None = None) -> set[int]:
    query = select(OutboxMessage.id)
    if status is not None:
        query = query.where(OutboxMessage.status == status)
    with engine.connect() as connection:
        return set(connection.execute(query).scalars())


def received_ids(server: MailServer) -> list[int]:
    """The outbox ids of the messages the server received, from their Message-IDs."""
    return [int(re.findall(r"<outbox\.(\d+)@", m["Message-ID"])[0]) for m in server.received]


@pytest.fixture
def unthrottled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTAL_SEND_PER_MINUTE", "0")


@ON_POSTGRESQL
@pytest.mark.usefixtures("unthrottled")
def test_three_workers_deliver_200_messages_each_exactly_once(
    engine: Engine, database_url: str, smtp: MailServer
) -> None:
    workers = [start_worker(database_url) for _ in range(3)]
    for worker in workers:  # all three are up and looking before the mail arrives
        assert worker.stdout is not None
        assert worker.stdout.readline().startswith("Sending the outbox's mail as it becomes due")
    queue_many(engine, notes(200))
    wait_for(lambda: len(smtp.received) >= 200, workers)
    time.sleep(1)  # long enough for a second copy of any message to arrive

    summaries = [stopped(worker) for worker in workers]
    arrivals = Counter(received_ids(smtp))
    assert set(arrivals) == outbox_ids(engine) and set(arrivals.values()) == {1}
    assert Counter(m["To"] for m in smtp.received) == Counter(
        f"p{i}@example.org" for i in range(200)
    )
    assert counts(engine) == {"queued": 0, "sending": 0, "sent": 200, "failed": 0, "skipped": 0}
    assert sum(sent for sent, *_ in summaries) == 200
    assert all((failed, skipped) == (0, 0) for _, failed, skipped, _ in summaries)
    assert sum(1 for sent, *_ in summaries if sent) >= 2, "the workers shared the work"
    for sent, _, _, stdout in summaries:  # one line per message, naming it
        assert len(re.findall(r"^Sent message \d+ to p\d+@example\.org\.$", stdout, re.M)) == sent


@ON_POSTGRESQL
@pytest.mark.usefixtures("unthrottled")
def test_sigterm_while_the_server_answers_finishes_and_records_the_message(
    engine: Engine, database_url: str, smtp: MailServer
) -> None:
    queue_many(engine, notes(20))
    smtp.hold_after, smtp.holding = 5, True  # five confirmed, then answers wait
    workers = [start_worker(database_url) for _ in range(2)]
    wait_for(lambda: len(smtp.received) >= 7, workers)  # one waiting at each worker
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    time.sleep(1)
    assert all(worker.poll() is None for worker in workers), "a worker left its message behind"
    assert counts(engine)["sending"] == 2
    smtp.holding = False

    summaries = [stopped(worker, signal_it=False) for worker in workers]
    assert sum(sent for sent, *_ in summaries) == 7
    arrivals = received_ids(smtp)
    assert len(arrivals) == 7 and set(arrivals) == outbox_ids(engine, "sent")
    assert counts(engine) == {"queued": 13, "sending": 0, "sent": 7, "failed": 0, "skipped": 0}


@ON_POSTGRESQL
@pytest.mark.usefixtures("unthrottled")
def test_a_killed_worker_leaves_only_its_message_in_flight_sending(
    engine: Engine, database_url: str, smtp: MailServer
) -> None:
    queue_many(engine, notes(20))
    smtp.hold_after, smtp.holding = 3, True
    worker = start_worker(database_url)
    wait_for(lambda: len(smtp.received) >= 4, [worker])
    worker.send_signal(signal.SIGKILL)
    assert worker.wait(timeout=30) == -signal.SIGKILL
    smtp.holding = False
    held = received_ids(smtp)[3]
    assert outbox_ids(engine, "sending") == {held}  # the server has it; `release` may resend it
    assert outbox_ids(engine, "sent") == set(received_ids(smtp)[:3])
    assert counts(engine)["queued"] == 16


def test_one_worker_sends_everything_and_says_so(
    engine: Engine, database_url: str, smtp: MailServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORTAL_SEND_PER_MINUTE", "6000")
    smtp.unknown = {"p3@example.org"}
    queue_many(engine, notes(40))
    refused = sorted(outbox_ids(engine))[3]
    queue(engine, {"to_address": "[bold]x@example.org", "subject": "S", "body": "B"})
    worker = start_worker(database_url)
    wait_for(lambda: counts(engine)["queued"] == 0, [worker])
    sent, failed, skipped, stdout = stopped(worker)
    assert (sent, failed, skipped) == (39, 2, 0)
    assert f"Failed: message {refused} to p3@example.org: 550 5.1.1 No such user" in stdout
    # The address the server refused is shown as typed, never read as markup.
    assert re.search(r"^Failed: message \d+ to \[bold\]x@example\.org: 5\d\d ", stdout, re.M), (
        stdout
    )
    assert Counter(received_ids(smtp)).most_common(1)[0][1] == 1
    assert counts(engine) == {"queued": 0, "sending": 0, "sent": 39, "failed": 2, "skipped": 0}


@ON_POSTGRESQL
def test_the_send_rate_holds_for_every_worker_together(
    engine: Engine, database_url: str, smtp: MailServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORTAL_SEND_PER_MINUTE", "3")
    queue_many(engine, notes(4))
    others = sorted(outbox_ids(engine))[:3]
    marked = utcnow() - dt.timedelta(seconds=55)
    with write_transaction(engine) as connection:  # three sent by another worker 55 s ago
        connection.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(others))
            .values(status="sent", attempts=1, claimed_at=marked)
        )
    worker = start_worker(database_url)
    wait_for(lambda: len(smtp.received) == 1, [worker])
    assert stopped(worker)[:3] == (1, 0, 0)
    [last] = outbox_ids(engine) - set(others)
    with engine.connect() as connection:
        claimed = connection.execute(
            select(OutboxMessage.claimed_at).where(OutboxMessage.id == last)
        ).scalar_one()
    assert claimed is not None
    assert aware(claimed) - marked >= dt.timedelta(minutes=1)  # it waited for a place in the minute


@pytest.fixture
def admin() -> Iterator[psycopg.Connection]:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as connection:
        yield connection


@ON_POSTGRESQL
@pytest.mark.usefixtures("unthrottled")
def test_a_worker_that_loses_the_database_says_so_once_and_goes_on(
    engine: Engine,
    database_url: str,
    smtp: MailServer,
    admin: psycopg.Connection,
) -> None:
    name = make_url(database_url).database
    worker = start_worker(database_url)
    queue_many(engine, notes(1))
    wait_for(lambda: len(smtp.received) == 1, [worker])
    engine.dispose()
    admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
    try:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name]
        )
        time.sleep(4)  # several polls fail
        assert worker.poll() is None
    finally:
        admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
    queue_many(engine, notes(1, start=1))
    wait_for(lambda: len(smtp.received) == 2, [worker])
    sent, failed, _, stdout = stopped(worker)
    assert (sent, failed) == (2, 0)
    assert len(re.findall(r"^The database could not be used: .*", stdout, re.M)) == 1, stdout
    assert stdout.count("The database answers again; sending goes on.") == 1
