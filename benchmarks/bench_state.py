"""A state's roster, end to end: does the time grow with the rows, and does memory stay bounded?

A state's roster is a OneRoster 1.1 bundle of N students (default 1,000,000) and 2N parents in
10 schools, the rows of ``bench_roster_import``'s bundle, with what a state's export has: one
student in ten is the younger sibling of the student before, and the parents on its card have
their own contact records but the elder's family name and inboxes (two records, one account),
and one parent in twenty has no email. The bundle is written straight into its zip, row by row.
Each phase runs in a fresh process, end to end as staff run it from the terminal with its result
workbook:

- roster import: ``portal import roster --apply`` of the bundle into an empty database;
- AutoCreate simulation of every active student, then AutoCreate apply, on that roster.

The same phases run at a base size (default 100,000) in the same run, each size on its own fresh
database. The targets: 10x the rows in no more than 11x the base's time (linear growth, some
slack), and under 1,500 MB at most in any phase. A phase that fails (a log too long for a sheet,
out of memory, killed) is reported in its cell and the others still run; the exit status is 1
then. PostgreSQL only: SQLite is not a state's database.

    uv run python benchmarks/bench_state.py
    uv run python benchmarks/bench_state.py --students 20000 --base 2000 --phases autocreate
"""

import argparse
import csv
import io
import os
import tempfile
import time
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
from bench_autocreate import phase_autocreate
from bench_roster_import import ORG_HEADER, USER_HEADER, family_rows, org_rows, phase_import
from harness import PhaseFailed, child_main, connect_raw, fresh_database, run_phase

MANIFEST = "propertyName,value\r\noneroster.version,1.1\r\n"
PHASES = {
    "import": "roster import --apply",
    "simulation": "AutoCreate simulation",
    "apply": "AutoCreate apply",
}
AUTOCREATE = ("simulation", "apply")
MAX_MB = 1500
CELL = 48  # characters of a failure shown in its cell
SLACK = 1.1
"""Time may grow 10% faster than the rows: 11x the base's time for 10x its rows."""


def state_family(n: int) -> list[dict[str, str]]:
    """Student ``n``'s rows; every tenth student (n % 10 == 1) is the younger sibling of student
    n - 1, and its parents write from the same inboxes under the same family name."""
    rows = family_rows(n)
    if n % 10 == 1:
        elder = family_rows(n - 1)
        for row, theirs in zip(rows, elder, strict=True):
            row["familyName"] = theirs["familyName"]
            if row.get("email") and theirs["email"]:
                row["email"] = theirs["email"]
    return rows


def write_csv(
    bundle: zipfile.ZipFile, name: str, header: list[str], rows: Iterable[dict[str, str]]
) -> None:
    """One CSV of the bundle, written into the zip as its rows come, never whole in memory."""
    member = bundle.open(name, "w", force_zip64=True)  # its size is not known before
    with io.TextIOWrapper(member, "utf-8", newline="") as text:
        writer = csv.DictWriter(text, header, restval="")
        writer.writeheader()
        writer.writerows(rows)


def make_state_bundle(path: Path, students: int) -> None:
    def users() -> Iterator[dict[str, str]]:
        for n in range(students):
            yield from state_family(n)

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("manifest.csv", MANIFEST)
        write_csv(bundle, "orgs.csv", ORG_HEADER, org_rows())
        write_csv(bundle, "users.csv", USER_HEADER, users())


@dataclass
class Outcome:
    """One phase at one size: its seconds and peak MB, or why it did not finish."""

    seconds: float | None = None
    peak_mb: float | None = None
    failure: str = ""

    def said(self) -> str:
        """The failure in one line, with how long the phase ran before it."""
        took = f" after {self.seconds:.1f} s" if self.seconds is not None else ""
        verb, _, why = self.failure.partition(": ")
        return f"{verb}{took}: {why}"


def attempt(name: str, *arguments: Path | str) -> Outcome:
    try:
        seconds, peak_mb = run_phase(__file__, name, *arguments)
    except PhaseFailed as failed:
        return Outcome(failed.seconds, failed.peak_mb, f"failed: {failed.reason}")
    return Outcome(seconds, peak_mb)


def students_in(database: str) -> int:
    try:
        with connect_raw(database) as connection:
            return int(connection.execute("SELECT count(*) FROM students").fetchone()[0])
    except psycopg.Error:  # the import failed before it made the tables
        return 0


def measure(bundle: Path, folder: Path, phases: list[str]) -> dict[str, Outcome]:
    """The chosen phases on a fresh database; AutoCreate needs the roster, so the import runs
    (untimed when not chosen) before it."""
    outcomes: dict[str, Outcome] = {}
    chosen = [phase for phase in AUTOCREATE if phase in phases]
    with fresh_database("postgresql", folder, "state") as database:
        roster = attempt("import", bundle, database, folder / "import.xlsx")
        if "import" in phases:
            outcomes["import"] = roster
        if chosen and not students_in(database):
            why = roster.failure or "left no students"
            missing = Outcome(failure=f"not run: the roster import {why}")
            return outcomes | dict.fromkeys(chosen, missing)
        for mode in chosen:
            outcomes[mode] = attempt("autocreate", database, folder / f"{mode}.xlsx", mode)
    return outcomes


def time_to_generate(path: Path, students: int) -> None:
    started = time.perf_counter()
    make_state_bundle(path, students)
    seconds = time.perf_counter() - started
    print(
        f"bundle of {students:,} students and {2 * students:,} contacts: "
        f"{path.stat().st_size / 2**20:.1f} MB, generated in {seconds:.1f} s"
    )


def seconds_cell(outcome: Outcome) -> str:
    """The seconds, or the failure's start (the whole line is printed under the table)."""
    if outcome.failure:
        said = outcome.said()
        return said if len(said) <= CELL else said[: CELL - 3] + "..."
    return f"{outcome.seconds:.2f}"


def peak_cell(outcome: Outcome) -> str:
    if outcome.peak_mb is None:
        return "-"
    return f"{outcome.peak_mb:.0f}" + (" *" if outcome.peak_mb >= MAX_MB else "")


def growth_cell(base: Outcome, state: Outcome, allowed: float) -> str:
    """The state's seconds over the base's; over at least, when the state's phase failed (its
    whole run would have taken longer)."""
    if base.failure or not base.seconds or state.seconds is None:
        return "-"
    growth = state.seconds / base.seconds
    return (">" if state.failure else "") + f"{growth:.2f}" + (" *" if growth > allowed else "")


def print_table(sizes: tuple[int, int], results: list[dict[str, Outcome]]) -> None:
    """One row per phase: each size's seconds and peak MB, the growth, the targets beside."""
    base, state = sizes
    allowed = SLACK * state / base
    header = [
        "phase",
        f"{base:,}: seconds",
        "peak MB",
        f"{state:,}: seconds",
        "peak MB",
        f"{state:,} / {base:,} seconds",
        "targets",
    ]
    targets = f"growth <= {allowed:.1f}, peak < {MAX_MB} MB"
    lines = [header]
    for phase, label in PHASES.items():
        if phase in results[0]:
            at_base, at_state = results[0][phase], results[1][phase]
            lines.append(
                [
                    label,
                    *(cell(at_base) for cell in (seconds_cell, peak_cell)),
                    *(cell(at_state) for cell in (seconds_cell, peak_cell)),
                    growth_cell(at_base, at_state, allowed),
                    targets,
                ]
            )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    print(
        "a state's roster on PostgreSQL (each phase a fresh process, start-up included; "
        f"load average {os.getloadavg()[0]:.1f})"
    )
    for line in lines:
        cells = [cell.rjust(width) for cell, width in zip(line, widths, strict=True)]
        cells[0] = line[0].ljust(widths[0])
        print("  ".join(cells))
    print("* misses its target")
    for size, result in zip(sizes, results, strict=True):
        for phase, outcome in result.items():
            if outcome.failure:
                print(f"{PHASES[phase]} at {size:,}: {outcome.said()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=1_000_000, help="the state's size")
    parser.add_argument("--base", type=int, default=100_000, help="the size it is compared to")
    parser.add_argument(
        "--phases",
        nargs="+",
        choices=[*PHASES, "autocreate"],
        default=list(PHASES),
        help="run only these (autocreate: simulation and apply)",
    )
    parser.add_argument(
        "--db",
        choices=["postgresql"],
        default="postgresql",
        help="PostgreSQL only: SQLite is not a state's database",
    )
    args = parser.parse_args()
    chosen = set(args.phases) | (set(AUTOCREATE) if "autocreate" in args.phases else set())
    phases = [phase for phase in PHASES if phase in chosen]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for size in (args.base, args.students):
            bundle = folder / f"state{size}.zip"
            time_to_generate(bundle, size)
            results.append(measure(bundle, folder, phases))
            bundle.unlink()
    print_table((args.base, args.students), results)
    if any(outcome.failure for result in results for outcome in result.values()):
        raise SystemExit(1)


PHASE_FUNCTIONS = {"import": phase_import, "autocreate": phase_autocreate}
if __name__ == "__main__" and not child_main(PHASE_FUNCTIONS):
    main()
