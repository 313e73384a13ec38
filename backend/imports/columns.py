"""Columns and cell parsers several imports share, so each header and its other names are
spelt once; an import takes one with its own help text (``dataclasses.replace``).

Each column names the model columns its value is saved in (``stores``): their lengths are its
limits, checked by the planner, so a simulation refuses what the database would.
"""

from backend.database.models import (
    Contact,
    PortalUser,
    Student,
    StudentContact,
    StudentLink,
)
from backend.imports.contract import Column

YES_NO = ("Y", "N")


def text(value: str) -> str:
    """Text kept as typed (trimmed); its column's ``stores`` bound its length."""
    return value


def student_id(value: str) -> str:
    """District student IDs are text: '00123' stays '00123'."""
    return value


def yes_no(text: str) -> bool:
    value = text.strip().upper()
    if value in ("Y", "YES", "TRUE", "1"):
        return True
    if value in ("N", "NO", "FALSE", "0"):
        return False
    raise ValueError(f"'{text}' must be Y or N")


yes_no.choices = YES_NO  # type: ignore[attr-defined]

LOGONID = Column(
    "LOGONID",
    "logon_id",
    str,
    True,
    ("LOGON", "LOGIN", "LOGINID", "USERNAME"),
    holds="id",
    stores=(PortalUser.logon_id,),
)
FIRST_NAME = Column(
    "FIRST_NAME",
    "first_name",
    text,
    True,
    ("FIRST", "GIVENNAME"),
    holds="text",
    stores=(PortalUser.first_name, Student.first_name, Contact.first_name),
)
LAST_NAME = Column(
    "LAST_NAME",
    "last_name",
    text,
    True,
    ("LAST", "SURNAME", "FAMILYNAME"),
    holds="text",
    stores=(PortalUser.last_name, Student.last_name, Contact.last_name),
)
STUDENT_ID = Column(
    "STUDENT_ID",
    "student_id",
    student_id,
    True,
    ("STUDENTNUMBER",),
    holds="id",
    stores=(Student.student_id,),
)
RELATIONSHIP = Column(
    "RELATIONSHIP",
    "relationship",
    text,
    False,
    ("RELATION",),
    holds="text",
    stores=(StudentLink.relationship, StudentContact.relationship),
)
