"""Users import side by side with django-import-export 4.4, the tool a Django developer would pick.

The same users workbook (``bench_users_import``'s) goes, file to database, into an empty table of
the same kind of database three times, each into a database made fresh with its side's tables
(not timed: a district's database exists before its imports) and each in a fresh process,
start-up included, after a first run of each side on 10 rows has filled Python's bytecode
caches:

- django-import-export 4.4 as it comes (``peer_django.py default``);
- django-import-export 4.4 in the bulk mode its documentation recommends for large imports
  (``peer_django.py bulk``);
- ``portal import users FILE --apply``, which also checks every row, records the batch and its
  audit trail and writes the result workbook with its Import Log.

The peer runs in an environment of its own, made here by uv in the run's temporary folder (never
a dependency of this project): the same as ``uv run --no-project --with
'django-import-export[xlsx]==4.4.*' --with 'django>=5' --with 'psycopg[binary]'``, except that
uv's resolving is done once, before the clock starts. Afterwards each database must hold every
row of the workbook, and a sample of them exactly as the workbook has them.

    uv run python benchmarks/bench_peer.py --rows 20000
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_users_import import make_workbook
from harness import KINDS, add_database_option, chosen_kinds, connect_raw, fresh_database
from python_calamine import CalamineWorkbook

PEER_PACKAGES = ["django-import-export[xlsx]==4.4.*", "django>=5", "psycopg[binary]"]
PEER_SCRIPT = Path(__file__).with_name("peer_django.py")
COLUMNS = "logon_id, logon_key, first_name, last_name, user_type, email, status, phone, language"
SIDES = {
    "default": "django-import-export 4.4, defaults",
    "bulk": "django-import-export 4.4, bulk mode",
    "ours": "portal import users --apply",
}
Measured = tuple[float, float, float]
"""Wall seconds, CPU seconds and peak resident MB of one run."""
CHILD_ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
"""Both sides keep Python's bytecode cache, as an installed program does."""


def peer_python(folder: Path) -> Path:
    """An environment of the peer's own in ``folder``, on this Python version."""
    uv = shutil.which("uv")
    if uv is None:
        raise SystemExit("uv is needed to make the peer's environment: pip install uv")
    env = {name: value for name, value in os.environ.items() if name != "VIRTUAL_ENV"}
    venv = folder / "peer-env"
    python = venv / "bin" / "python"
    for command in (
        [uv, "venv", "--quiet", "--python", sys.executable, str(venv)],
        [uv, "pip", "install", "--quiet", "--python", str(python), *PEER_PACKAGES],
    ):
        subprocess.run(command, check=True, env=env, cwd=folder)
    return python


def run_measured(command: list[str], log: Path) -> Measured:
    """Time one command; its CPU and peak memory count the processes it waited for."""
    started = time.perf_counter()
    with log.open("w") as out:
        child = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=CHILD_ENV
        )
        _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        tail = log.read_text(errors="replace")[-3000:]
        raise SystemExit(f"{' '.join(command[:4])}... exited {child.returncode}:\n{tail}")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def commands(
    python: Path, workbook: Path, database: str, out: Path
) -> dict[str, tuple[list[str], list[str]]]:
    """Each side's command that makes its tables (not timed), then its import (timed)."""
    portal = shutil.which("portal", path=str(Path(sys.executable).parent))
    if portal is None:
        raise SystemExit("the portal command is not installed here: run uv sync first")
    peer = [str(python), str(PEER_SCRIPT)]
    ours = [portal, "--db", database]
    create = [*peer, "create", str(workbook), database]
    return {
        "default": (create, [*peer, "default", str(workbook), database]),
        "bulk": (create, [*peer, "bulk", str(workbook), database]),
        "ours": (
            [*ours, "batches"],
            [*ours, "import", "users", str(workbook), "--apply", "--out", str(out)],
        ),
    }


def expected_sample(workbook: Path) -> tuple[int, list[tuple[str, ...]]]:
    """The workbook's row count and about twenty of its rows as both sides should store them."""
    rows = CalamineWorkbook.from_path(str(workbook)).get_sheet_by_name("Users").to_python()[1:]
    picks = sorted({0, len(rows) - 1, *range(0, len(rows), max(1, len(rows) // 20))})
    sample = [(str(rows[i][0]), str(rows[i][0]).casefold(), *map(str, rows[i][1:])) for i in picks]
    return len(rows), sorted(sample)


def check_stored(side: str, database: str, count: int, sample: list[tuple[str, ...]]) -> None:
    """Stop unless the database holds ``count`` accounts and the sampled ones as expected."""
    mark = "%s" if "://" in database else "?"
    logons = [row[0] for row in sample]
    connection = connect_raw(database)
    stored = connection.execute("SELECT count(*) FROM portal_users").fetchone()[0]
    found = connection.execute(
        f"SELECT {COLUMNS} FROM portal_users WHERE logon_id IN ({', '.join([mark] * len(logons))})"
        " ORDER BY logon_id",
        logons,
    ).fetchall()
    connection.close()
    if stored != count or sorted(tuple(row) for row in found) != sample:
        raise SystemExit(
            f"{SIDES[side]}: the database holds {stored} accounts of {count}, or sampled rows "
            f"differ from the workbook:\n{found[:3]}\nexpected\n{sample[:3]}"
        )


def measure(kind: str, folder: Path, python: Path, workbook: Path) -> dict[str, Measured]:
    """Each side into a database of its own, made fresh for it with the side's tables, then
    checked. A district's database exists before its imports, so making it is not timed."""
    count, sample = expected_sample(workbook)
    results: dict[str, Measured] = {}
    for side in SIDES:
        with fresh_database(kind, folder, f"peer_{side}") as database:
            out = folder / f"{kind}.applied.xlsx"
            prepare, command = commands(python, workbook, database, out)[side]
            run_measured(prepare, folder / f"{side}.log")
            results[side] = run_measured(command, folder / f"{side}.log")
            check_stored(side, database, count, sample)
    return results


def print_results(kind: str, rows: int, results: dict[str, Measured]) -> None:
    print(
        f"users import, {rows:,} rows into an empty {KINDS[kind]} database "
        "(each a fresh process, start-up included)"
    )
    print(f"{'':<38}{'seconds':>9}{'rows/s':>9}{'CPU s':>8}{'peak MB':>9}{'ours faster':>13}")
    ours_seconds = results["ours"][0]
    for side, (seconds, cpu, mb) in results.items():
        faster = "" if side == "ours" else f"{seconds / ours_seconds:.1f}x"
        print(
            f"{SIDES[side]:<38}{seconds:>9.2f}{rows / seconds:>9.0f}{cpu:>8.2f}{mb:>9.0f}"
            f"{faster:>13}"
        )
    print(f"each database holds the {rows:,} accounts, sampled rows as in the workbook\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    add_database_option(parser)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        python = peer_python(folder)
        (folder / "warm-up").mkdir()
        make_workbook(folder / "warm-up" / "users.xlsx", 10)
        measure("sqlite", folder / "warm-up", python, folder / "warm-up" / "users.xlsx")
        workbook = folder / "users.xlsx"
        make_workbook(workbook, args.rows)
        for kind in chosen_kinds(args):
            print_results(kind, args.rows, measure(kind, folder, python, workbook))


if __name__ == "__main__":
    main()
