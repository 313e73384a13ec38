"""The district server under load, against the same work in local mode in the same run.

- Phase A: a users workbook of N rows applied into an empty database, end to end in a fresh
  process each (read the workbook, run, write the result workbook with its Import Log): in
  local mode, as `portal import users --apply` runs on the database, and in client mode, as the
  same command runs with PORTAL_SERVER_URL: the rows sent as JSON to `portal serve` on loopback,
  the report sent back. Both databases are migrated before the clock starts and the server is
  idle while local mode runs; each side goes first in turn, ``--runs`` times (default 3), and
  the median of the runs' ratios is the figure.
- Phase B: on a database of its own, C staff at once (every other one a district admin, the
  others school staff of the school of their students) each simulate, then apply following that
  simulation, a links file of 2,000 rows of their own, while a steady 50 look-ups a second
  (an account, a contact card, a column of 100 logons, in turn) are sent from other threads.
  Each request's latency counts from the moment it was due, so a late answer delays nothing.

The server runs as IT runs it (`portal serve --workers 2`), with the rate limit off
(PORTAL_SERVER_RATE_PER_MINUTE=0): 50 look-ups a second under one token would pass it.

    uv run python benchmarks/bench_server.py --rows 100000 --clients 30
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from bench_users_import import make_workbook
from harness import KINDS, Run, add_database_option, child_main, fresh_database, run_phase

PORTAL = Path(sys.executable).parent / "portal"
LINKS_PER_CLIENT = 2_000
SCHOOLS = 10
LOOKUPS_PER_SECOND = 50.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def serving(database: str, folder: Path, workers: int) -> Iterator[str]:
    """`portal serve` on a free loopback port until the block ends; its base URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env |= {
        "PORTAL_SERVER_RATE_PER_MINUTE": "0",
        "PORTAL_ACTIVATION_SECRET_FILE": str(folder / "activation-secret"),
    }
    command = [str(PORTAL), "--db", database, "serve", "--port", str(port)]
    output = folder / f"serve-{port}.log"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [*command, "--workers", str(workers)], stdout=sink, stderr=subprocess.STDOUT, env=env
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"portal serve did not start:\n{output.read_text()}")
            try:
                if httpx.get(base + "/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)
        faults = [line for line in output.read_text().splitlines() if " 500 " in line]
        if faults:
            raise SystemExit("the server answered 500:\n" + "\n".join(faults[:5]))


def phase_init(database: str) -> None:
    from backend.database.engine import open_database

    open_database(database).dispose()


def phase_local(workbook: str, database: str, out: str) -> None:
    from addin.workbooks.import_file import import_file
    from backend.database.engine import open_database

    report, _ = import_file(
        open_database(database), "users", Path(workbook), apply=True, dest=Path(out)
    )
    print(report.counts["added"])


def phase_remote(workbook: str, server: str, token: str, out: str) -> None:
    from addin.remote import Remote, remote_kinds
    from addin.workbooks.import_file import import_file

    kinds = remote_kinds(Remote(server, token))
    report, _ = import_file(None, "users", Path(workbook), apply=True, dest=Path(out), kinds=kinds)
    print(report.counts["added"])


def staff_token(database: str, email: str, school: str | None = None) -> str:
    from backend.database.engine import open_database
    from backend.staff.identity import add_staff

    engine = open_database(database)
    role = "school-staff" if school else "district-admin"
    _, token = add_staff(engine, email, role=role, school_codes=[school] if school else [])
    engine.dispose()
    return token


def student_id(n: int) -> str:
    return f"{n:07d}"


def school_of(client: int) -> str:
    return f"S{client % SCHOOLS}"


def prepare_district(database: str, clients: int) -> None:
    """The students the links files name (1,000 a client, all of one school each) and the
    accounts they are attached to, made in this process before any clock starts."""
    from backend.database.engine import open_database
    from backend.imports.contract import InputTable
    from backend.imports.roster import import_roster
    from backend.imports.users import import_users

    def table(headers: list[str], rows: list[list[Any]]) -> InputTable:
        return InputTable(headers=headers, rows=list(enumerate(rows, start=2)))

    engine = open_database(database)
    count = clients * LINKS_PER_CLIENT // 2
    schools = table(["SCHOOL_CODE", "SCHOOL_NAME"], [[f"S{n}", f"School {n}"] for n in range(10)])
    students = table(
        ["STUDENT_ID", "FIRST_NAME", "LAST_NAME", "GRADE", "SCHOOL"],
        [
            [student_id(n), f"Kid{n % 991}", f"Fam{n % 997}", "5", school_of(n // 1000)]
            for n in range(count)
        ],
    )
    import_roster(engine, schools=schools, students=students, apply=True)
    users = [[f"parent.{n}@example.org", "Pat", f"Fam{n % 997}", "GUARDIAN"] for n in range(count)]
    import_users(
        engine, table(["LOGONID", "FIRST_NAME", "LAST_NAME", "USER_TYPE"], users), apply=True
    )
    engine.dispose()


def links_body(client: int) -> dict[str, Any]:
    """A client's links file as client mode sends it: each of its 1,000 accounts attached to
    its own student and to the next one's."""
    from backend.imports.contract import InputTable
    from server.wire import encode_table

    first = client * 1000
    rows: list[list[Any]] = []
    for n in range(first, first + 1000):
        logon = f"parent.{n}@example.org"
        rows.append([logon, student_id(n), "Parent", "Y"])
        rows.append([logon, student_id(first + (n + 1 - first) % 1000), "Parent", "N"])
    table = InputTable(
        headers=["LOGONID", "STUDENT_ID", "RELATIONSHIP", "PRIMARY"],
        rows=list(enumerate(rows, start=2)),
        source_name=f"links-{client}.xlsx",
        source_sha256=f"{client:064x}",
    )
    return {"table": encode_table(table), "schools": []}


class Tally:
    """Latencies and failures per kind of request, from many threads."""

    def __init__(self) -> None:
        self.seconds: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, list[str]] = defaultdict(list)
        self.lock = threading.Lock()

    def timed(self, kind: str, due: float, request: Callable[[], httpx.Response]) -> Any:
        """The answer's JSON, or None (counted as an error) if it is no 200."""
        answer, why = None, ""
        try:
            response = request()
            if response.status_code == 200:
                answer = response.json()
            else:
                why = f"{response.status_code} {response.text[:200]}"
        except Exception as exc:  # a failure of any kind is counted, never lost in a thread
            why = f"{type(exc).__name__}: {exc}"
        with self.lock:
            self.seconds[kind].append(time.perf_counter() - due)
            if why:
                self.errors[kind].append(why)
        return answer


def staff_run(base: str, token: str, client: int, tally: Tally) -> int:
    """Simulate, then apply following that simulation; the rows the apply added."""
    body = links_body(client)
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=600) as http:
        due = time.perf_counter()
        simulated = tally.timed(
            "links simulate", due, lambda: http.post("/api/imports/links", json=body)
        )
        if simulated is None:
            return 0
        body |= {"apply": True, "review": {"batch_id": simulated["batch_id"]}}
        due = time.perf_counter()
        applied = tally.timed(
            "links apply", due, lambda: http.post("/api/imports/links", json=body)
        )
    return int(applied["counts"]["added"]) if applied else 0


def look_ups(base: str, token: str, accounts: int, tally: Tally, stop: threading.Event) -> int:
    """Look-ups due every 1/50 s until ``stop``, each sent from a pool; how many were sent."""
    http = httpx.Client(
        base_url=base,
        headers={"Authorization": f"Bearer {token}"},
        timeout=600,
        limits=httpx.Limits(max_connections=64),
    )
    kinds: list[tuple[str, Callable[[int], httpx.Response]]] = [
        ("look-up: an account", lambda k: http.get(f"/api/accounts/parent.{k}@example.org")),
        ("look-up: a contact card", lambda k: http.get(f"/api/students/{student_id(k)}/card")),
        (
            "look-up: a column of 100",
            lambda k: http.post(
                "/api/lookups/accounts",
                json={
                    "logon_ids": [f"parent.{(k + i) % accounts}@example.org" for i in range(100)]
                },
            ),
        ),
    ]
    sent, start = 0, time.perf_counter()
    with http, ThreadPoolExecutor(max_workers=64) as pool:
        while not stop.is_set():
            due = start + sent / LOOKUPS_PER_SECOND
            time.sleep(max(0.0, due - time.perf_counter()))
            kind, request = kinds[sent % len(kinds)]
            k = (sent * 7919) % accounts
            pool.submit(tally.timed, kind, due, lambda r=request, k=k: r(k))  # type: ignore[misc]
            sent += 1
    return sent


def under_load(database: str, base: str, clients: int) -> tuple[Tally, float, int, int]:
    """Phase B: the staff's runs with the look-ups alongside; the tally, the staff's wall
    seconds, the links the applies added, and how many look-ups were sent."""
    prepare_district(database, clients)
    tokens = [
        staff_token(database, f"staff{c}@district.example.org", school_of(c) if c % 2 else None)
        for c in range(clients)
    ]
    looker = staff_token(database, "lookups@district.example.org")
    tally, stop = Tally(), threading.Event()
    accounts = clients * LINKS_PER_CLIENT // 2
    with ThreadPoolExecutor(max_workers=1) as background:
        lookups = background.submit(look_ups, base, looker, accounts, tally, stop)
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=clients) as staff:
            added = sum(staff.map(lambda c: staff_run(base, tokens[c], c, tally), range(clients)))
        seconds = time.perf_counter() - started
        stop.set()
        sent = lookups.result()
    return tally, seconds, added, sent


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def print_phase_a(rows: int, kind: str, local: list[Run], remote: list[Run]) -> None:
    """Each run's seconds (one / the next), the ratio of each run and its median."""
    ratios = [there[0] / here[0] for here, there in zip(local, remote, strict=True)]
    print(
        f"users import, {rows} rows applied into an empty database, {KINDS[kind]}, "
        f"{len(local)} runs (median ratio {statistics.median(ratios):.2f})"
    )
    print(f"{'':<44}{'seconds':>24}{'x local':>24}{'peak MB':>9}")
    for label, runs, shown in (
        ("local mode (portal import users --apply)", local, [1.0] * len(local)),
        ("through the server on loopback", remote, ratios),
    ):
        seconds = " / ".join(f"{s:.2f}" for s, _ in runs)
        times = " / ".join(f"{x:.2f}" for x in shown)
        print(f"{label:<44}{seconds:>24}{times:>24}{max(mb for _, mb in runs):>9.0f}")


def print_phase_b(kind: str, clients: int, result: tuple[Tally, float, int, int]) -> int:
    """The latency table and the throughput; returns the number of errors."""
    tally, seconds, added, sent = result
    print(
        f"\n{clients} staff each simulating then applying {LINKS_PER_CLIENT} links, with "
        f"{LOOKUPS_PER_SECOND:.0f} look-ups a second, {KINDS[kind]}"
    )
    print(f"{'request':<28}{'count':>7}{'errors':>8}{'p50 s':>9}{'p95 s':>9}{'max s':>9}")
    errors = 0
    for name, values in sorted(tally.seconds.items(), key=lambda kv: not kv[0].startswith("links")):
        failed = len(tally.errors[name])
        errors += failed
        print(
            f"{name:<28}{len(values):>7}{failed:>8}{statistics.median(values):>9.3f}"
            f"{percentile(values, 0.95):>9.3f}{max(values):>9.3f}"
        )
    rows = clients * LINKS_PER_CLIENT
    print(
        f"staff: {rows} links simulated and applied in {seconds:.1f} s "
        f"({rows / seconds:.0f} rows a second applied, {added} links added); "
        f"look-ups: {sent / seconds:.1f} a second sent"
    )
    for name, reasons in tally.errors.items():
        for reason in reasons[:3]:
            print(f"  {name}: {reason}")
    return errors


def phase_a(kind: str, folder: Path, workbook: Path, args: argparse.Namespace) -> None:
    """The users apply in local mode then through the server, ``--runs`` times, each run into
    two fresh databases (the served one with a server of its own)."""
    local: list[Run] = []
    remote: list[Run] = []
    for run in range(args.runs):
        with (
            fresh_database(kind, folder, "local") as local_db,
            fresh_database(kind, folder, "served") as served_db,
        ):
            run_phase(__file__, "init", local_db)
            with serving(served_db, folder, args.workers) as base:
                token = staff_token(served_db, "importer@district.example.org")
                sides: list[tuple[list[Run], str, list[Path | str]]] = [
                    (local, "local", [workbook, local_db, folder / "local.xlsx"]),
                    (remote, "remote", [workbook, base, token, folder / "remote.xlsx"]),
                ]
                for runs, name, arguments in sides if run % 2 == 0 else sides[::-1]:  # in turn
                    runs.append(run_phase(__file__, name, *arguments))
    print_phase_a(args.rows, kind, local, remote)


def phase_b(kind: str, folder: Path, args: argparse.Namespace) -> int:
    """The staff and the look-ups at once on a fresh database; the number of errors."""
    with fresh_database(kind, folder, "load") as database:
        run_phase(__file__, "init", database)
        with serving(database, folder, args.workers) as base:
            result = under_load(database, base, args.clients)
        errors = print_phase_b(kind, args.clients, result)
    if result[2] != args.clients * LINKS_PER_CLIENT:
        print(f"the applies added {result[2]} links, not {args.clients * LINKS_PER_CLIENT}")
        errors += 1
    return errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="users rows of phase A")
    parser.add_argument("--clients", type=int, default=30, help="staff at once in phase B")
    parser.add_argument("--workers", type=int, default=2, help="portal serve --workers")
    parser.add_argument("--runs", type=int, default=3, help="runs of phase A, each side")
    add_database_option(parser)
    parser.set_defaults(db="postgresql")
    args = parser.parse_args()
    kinds = list(KINDS) if args.db == "both" else [args.db]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        workbook = folder / "users.xlsx"
        make_workbook(workbook, args.rows)
        errors = 0
        for kind in kinds:
            phase_a(kind, folder, workbook, args)
            errors += phase_b(kind, folder, args)
    if errors:
        raise SystemExit(f"{errors} requests failed")


PHASES: dict[str, Callable[..., None]] = {
    "init": phase_init,
    "local": phase_local,
    "remote": phase_remote,
}
if __name__ == "__main__" and not child_main(PHASES):
    main()
