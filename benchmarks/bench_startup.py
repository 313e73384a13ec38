"""How fast ``portal`` starts, against a floor measured in the same run.

- floor:   ``python -c pass`` (the interpreter) and ``python -c "import typer, rich"`` (what any
           command line of this kind loads before it does anything);
- help:    ``portal --help``; version: ``portal --version``;
- batches: ``portal batches`` on an empty SQLite database (created and migrated beforehand).

Each figure is the median of several runs, each a fresh process of the environment's ``portal``
script. By default the wheel is built and installed, bytecode compiled, in a fresh environment,
as a district installs it; ``--here`` times the environment running this script instead.

    uv run python benchmarks/bench_startup.py --runs 9
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def seconds(command: list[str], env: dict[str, str], cwd: Path) -> float:
    """Wall-clock seconds of one run of ``command``, which must succeed."""
    started = time.perf_counter()
    child = subprocess.run(command, env=env, cwd=cwd, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    if child.returncode:
        raise SystemExit(f"{command} failed:\n{child.stderr.decode(errors='replace')}")
    return elapsed


def median(command: list[str], env: dict[str, str], cwd: Path, runs: int) -> float:
    return statistics.median(seconds(command, env, cwd) for _ in range(runs))


def fresh_environment(folder: Path) -> Path:
    """Build the wheel and install it, bytecode compiled, in a new environment; its bin folder."""
    uv = shutil.which("uv")
    if uv is None:
        raise SystemExit("uv is not installed; run with --here to time this environment")
    subprocess.run(
        [uv, "build", "--wheel", "--out-dir", str(folder), str(ROOT)],
        capture_output=True,
        check=True,
    )
    (wheel,) = folder.glob("*.whl")
    venv = folder / "venv"
    subprocess.run(
        [uv, "venv", "--python", sys.executable, str(venv)], capture_output=True, check=True
    )
    python = venv / "bin" / "python"
    install = [uv, "pip", "install", "--compile-bytecode", "--python", str(python), str(wheel)]
    subprocess.run(install, capture_output=True, check=True)
    return python.parent


def print_table(title: str, floor: float, runs: list[tuple[str, float]]) -> None:
    print(title + " (median of fresh processes)")
    print(f"{'command':<34}{'seconds':>9}{'x python':>10}{'x typer+rich':>14}")
    python = runs[0][1]
    for label, value in runs:
        print(f"{label:<34}{value:>9.3f}{value / python:>10.1f}{value / floor:>14.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--here", action="store_true", help="time this environment's portal")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        bin_folder = Path(sys.executable).parent if args.here else fresh_environment(folder)
        python, portal = str(bin_folder / "python"), str(bin_folder / "portal")
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env["PORTAL_DATABASE_URL"] = f"sqlite:///{folder / 'empty.sqlite'}"
        seconds([portal, "batches"], env, folder)  # creates and migrates the database
        floor = median([python, "-c", "import typer, rich"], env, folder, args.runs)
        commands = {
            "portal --help": [portal, "--help"],
            "portal --version": [portal, "--version"],
            "portal batches (empty database)": [portal, "batches"],
        }
        runs = [
            ("python -c pass", median([python, "-c", "pass"], env, folder, args.runs)),
            ('python -c "import typer, rich"', floor),
        ] + [
            (label, median(command, env, folder, args.runs)) for label, command in commands.items()
        ]
    where = "this environment" if args.here else "the wheel in a fresh environment"
    print_table(f"portal start-up, {where}, {args.runs} runs each", floor, runs)


if __name__ == "__main__":
    main()
