"""Write the ribbon XML and the VBA callbacks from the button data in ``ribbon.py``.

Run ``uv run python -m addin.xlam.render`` after changing a button.
"""

import sys

from .ribbon import write_sources


def main() -> None:
    """Render both source files and say which were written."""
    for path in write_sources():
        sys.stdout.write(f"wrote {path}\n")


if __name__ == "__main__":
    main()
