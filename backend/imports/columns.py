"""Columns and cell parsers several imports share, so each header and its other names are
spelt once; an import takes one with its own help text (``dataclasses.replace``)."""

from backend.imports.contract import Column, text_parser

YES_NO = ("Y", "N")


def student_id(text: str) -> str:
    """District student IDs are text: '00123' stays '00123'."""
    if len(text) > 64:
        raise ValueError(f"is {len(text)} characters long; at most 64 fit")
    return text


def yes_no(text: str) -> bool:
    value = text.strip().upper()
    if value in ("Y", "YES", "TRUE", "1"):
        return True
    if value in ("N", "NO", "FALSE", "0"):
        return False
    raise ValueError(f"'{text}' must be Y or N")


yes_no.choices = YES_NO  # type: ignore[attr-defined]

LOGONID = Column("LOGONID", "logon_id", str, True, ("LOGON", "LOGIN", "LOGINID", "USERNAME"))
FIRST_NAME = Column("FIRST_NAME", "first_name", text_parser(100), True, ("FIRST", "GIVENNAME"))
LAST_NAME = Column(
    "LAST_NAME", "last_name", text_parser(100), True, ("LAST", "SURNAME", "FAMILYNAME")
)
STUDENT_ID = Column("STUDENT_ID", "student_id", student_id, True, ("STUDENTNUMBER",))
RELATIONSHIP = Column("RELATIONSHIP", "relationship", text_parser(50), False, ("RELATION",))
