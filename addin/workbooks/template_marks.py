"""How a workbook says it is one of our templates, and which of its rows is only an example.

- The workbook-level defined name ``PortalTemplate`` holds the template's kind as a text
  constant (``="users"``), so the add-in knows which import a workbook is for.
- The first row below the headers, its first cell beginning with ``Example:``, shows staff how
  to fill the sheet and is never imported. Only there and only in a workbook carrying the
  template's name: elsewhere a logon that happens to begin ``Example:`` is a row like any other
  (and is refused as no email address, not dropped unseen).
"""

from collections.abc import Sequence
from typing import Any

TEMPLATE_NAME = "PortalTemplate"
EXAMPLE_PREFIX = "Example:"


def is_example_row(cells: Sequence[Any]) -> bool:
    first = next((c for c in cells if c not in (None, "")), None)
    return isinstance(first, str) and first.strip().casefold().startswith(EXAMPLE_PREFIX.casefold())


def template_kind(refers_to: str | None) -> str | None:
    """The kind a defined name's formula names (``="users"``), or None; ``kinds`` says if known."""
    if not refers_to:
        return None
    return refers_to.strip().lstrip("=").strip().strip('"').casefold() or None
