"""The columns of a roster: schools, students and the contacts on each student's card.

A roster has students and contacts, and optionally schools; a workbook's sheets and a OneRoster
bundle are read into the same three tables.
"""

from dataclasses import replace

from backend.accounts.logon import normalise_email
from backend.database.models import Contact, School, Student
from backend.imports.columns import (
    FIRST_NAME,
    LAST_NAME,
    RELATIONSHIP,
    STUDENT_ID,
    text,
    yes_no,
)
from backend.imports.contract import Column, enum_parser


def priority(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 99:
        raise ValueError(f"'{text}' must be a whole number from 1 (first to call) to 99")
    return int(text)


SCHOOL_COLUMNS: tuple[Column, ...] = (
    Column(
        "SCHOOL_CODE",
        "code",
        text,
        True,
        ("SCHOOL", "SCHOOLID", "CODE"),
        "The school's code as students' SCHOOL column gives it.",
        holds="id",
        stores=(School.code,),
    ),
    Column(
        "SCHOOL_NAME",
        "name",
        text,
        True,
        ("NAME",),
        "The school's name.",
        holds="text",
        stores=(School.name,),
    ),
)

STUDENT_COLUMNS: tuple[Column, ...] = (
    replace(
        STUDENT_ID,
        aliases=(*STUDENT_ID.aliases, "ID"),
        help="The district's student ID, as text (leading zeros are kept).",
    ),
    replace(
        FIRST_NAME,
        help="First name; needed for a new student.",
    ),
    replace(
        LAST_NAME,
        help="Last name; needed for a new student.",
    ),
    Column(
        "GRADE",
        "grade",
        text,
        False,
        ("GRADELEVEL",),
        "Grade, e.g. K, 1 .. 12.",
        stores=(Student.grade,),
    ),
    Column(
        "SCHOOL",
        "school",
        text,
        False,
        ("SCHOOLCODE",),
        "The school's code (a Schools sheet row or a school already known).",
        holds="id",
        stores=(School.code,),
    ),
    Column(
        "STATUS",
        "status",
        enum_parser("STATUS", ("ACTIVE", "INACTIVE")),
        False,
        (),
        "ACTIVE or INACTIVE; new students are ACTIVE unless this says otherwise.",
    ),
    Column(
        "STUDENT_EMAIL",
        "email",
        normalise_email,
        False,
        ("EMAIL",),
        "The student's own email address.",
        stores=(Student.email,),
    ),
)

CONTACT_COLUMNS: tuple[Column, ...] = (
    replace(
        STUDENT_ID,
        help="The student whose card lists this contact.",
    ),
    Column(
        "CONTACT_ID",
        "contact_id",
        text,
        True,
        ("CONTACTNUMBER", "PERSONID"),
        "The contact's ID: the same person on several cards has the same ID.",
        holds="id",
        stores=(Contact.contact_id,),
    ),
    replace(
        FIRST_NAME,
        help="First name; needed for a new contact.",
        required=False,
    ),
    replace(
        LAST_NAME,
        help="Last name; needed for a new contact.",
        required=False,
    ),
    replace(
        RELATIONSHIP,
        help="What the contact is to the student: Mother, Father, Guardian, Grandparent, ...",
    ),
    Column(
        "EMAIL",
        "email",
        normalise_email,
        False,
        ("PRIMARYEMAIL", "EMAILADDRESS"),
        "The contact's primary email: the logon AutoCreate would give them.",
        stores=(Contact.email, Contact.email_key),
    ),
    Column(
        "GUARDIAN",
        "is_guardian",
        yes_no,
        False,
        ("ISGUARDIAN",),
        "Y if the contact is a legal guardian of this student (default Y).",
    ),
    Column(
        "PORTAL_ACCESS",
        "portal_access",
        yes_no,
        False,
        ("PORTAL", "ACCESS"),
        "Y if the contact may see this student in the parent portal (default Y).",
    ),
    Column(
        "PRIORITY",
        "priority",
        priority,
        False,
        ("ORDER", "CONTACTPRIORITY"),
        "1 for the first contact to call, 2 for the next, ...",
    ),
)
