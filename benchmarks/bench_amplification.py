"""A small workbook built to amplify: every cell points to one long shared string.

The workbook (about 16 KB packed) has 1,000 cells pointing to shared strings, a quarter of them
to one of 9.5 million characters; read as is, that is 2.4 billion characters. The import must
refuse it
with one line, in under a second and under 200 MB. ``portal import users FILE --apply`` runs in a
fresh process whose code is loaded first, so the time is that of the run itself; the memory is
the process's peak.

    uv run python benchmarks/bench_amplification.py
"""

import argparse
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PORTAL = [sys.executable, "-c", "from addin.cli.app import main; main()"]
TIMED_RUN = """
import sys, time
import addin.workbooks.import_file, backend.imports.users, backend.database.engine
from addin.cli.app import main
started = time.perf_counter()
try:
    main(sys.argv[1:])
except SystemExit as exc:
    print(f"{time.perf_counter() - started:.3f} {exc.code}", file=sys.stderr)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=1000, help="cells of the sheet")
    parser.add_argument("--text-mb", type=float, default=9.5, help="the string, in millions")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "tests"))
    from bad_workbooks import shared_string_bomb

    with tempfile.TemporaryDirectory() as folder:
        path = shared_string_bomb(Path(folder), args.cells, args.text_mb)
        database = ["--db", f"sqlite:///{folder}/b.sqlite"]
        subprocess.run([*PORTAL, *database, "init"], cwd=ROOT, check=True, capture_output=True)
        done = subprocess.run(
            [sys.executable, "-c", TIMED_RUN, *database, "import", "users", str(path), "--apply"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=False,
        )
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        size_kb = path.stat().st_size / 1024
    message, timing = done.stderr.strip().rsplit("\n", 1)
    seconds, code = float(timing.split()[0]), int(timing.split()[1])
    print(f"workbook: {size_kb:.0f} KB, {args.cells} cells, one string of {args.text_mb:g} M")
    print(f"exit code {code}: {message}")
    print(f"refused in {seconds:.2f} s, peak memory {peak_mb:.0f} MB")
    if code != 2 or len(message.splitlines()) != 1:
        sys.exit("FAIL: not refused with one line and exit code 2")
    if seconds > 1.0 or peak_mb > 200:
        sys.exit("FAIL: over one second or 200 MB")


if __name__ == "__main__":
    main()
