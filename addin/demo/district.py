"""A generated school district with the faults real rosters have, for the demo and the tests.

Households of one to three children (siblings may be in different schools) and one or two
guardians. Faults: guardians without an email, two parents sharing one email, one parent entered
on each child's card with the email in different capitals, accounts left from last year,
and accounts whose logon is an old email address.
"""

import random
from dataclasses import dataclass, field

FIRST = (
    "Maria Jose James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth "
    "William Barbara Richard Susan Joseph Jessica Thomas Sarah Chen Aisha Mohammed Priya "
    "Olga Kenji Fatima Diego Amara Liam Noah Emma Olivia Ava Sofia Mateo Zoe Ethan"
).split()
LAST = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez "
    "Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson "
    "White Harris Nguyen Kim Patel O'Brien Kowalski Dubois Rossi Novak Okafor Haddad"
).split()
DOMAINS = ("example.com", "example.net", "example.org", "mail.example.com")
SCHOOLS = (
    ("101", "Lincoln Elementary School", ("K", "1", "2", "3", "4", "5")),
    ("102", "Jefferson Elementary School", ("K", "1", "2", "3", "4", "5")),
    ("201", "Washington Middle School", ("6", "7", "8")),
    ("301", "Roosevelt High School", ("9", "10", "11", "12")),
)
GRADE_SCHOOLS = {
    grade: [code for code, _, grades in SCHOOLS if grade in grades]
    for _, _, grades in SCHOOLS
    for grade in grades
}


@dataclass
class District:
    schools: list[dict[str, str]] = field(default_factory=list)
    students: list[dict[str, str | None]] = field(default_factory=list)
    contacts: list[dict[str, str | None]] = field(default_factory=list)
    # (student_id, contact_id, relationship, priority)
    cards: list[tuple[str, str, str, int]] = field(default_factory=list)
    # Accounts that exist before the demo's import: (logon, first, last, phone)
    old_accounts: list[tuple[str, str, str, str | None]] = field(default_factory=list)
    # Accounts whose logon is no longer the parent's email: (logon, student_id, contact_id)
    old_logons: list[tuple[str, str, str]] = field(default_factory=list)


@dataclass
class _Parent:
    """A guardian while their household is made: the email may still change."""

    contact_id: str
    first: str
    last: str
    email: str | None
    relationship: str


def generate_district(students: int = 500, seed: int = 2026) -> District:
    rng = random.Random(seed)
    district = District(schools=[{"code": c, "name": n} for c, n, _ in SCHOOLS])
    next_student = 1000
    next_contact = 50000
    while len(district.students) < students:
        last = rng.choice(LAST)
        children = []
        for _ in range(rng.choice((1, 1, 2, 2, 3))):
            grade = rng.choice(list(GRADE_SCHOOLS))
            student_id = f"{next_student:06d}"  # leading zeros: IDs are text
            next_student += rng.randint(1, 7)
            first = rng.choice(FIRST)
            district.students.append(
                {
                    "student_id": student_id,
                    "first_name": first,
                    "last_name": last,
                    "grade": grade,
                    "school": rng.choice(GRADE_SCHOOLS[grade]),
                    "email": f"{first}.{last}{student_id[-3:]}@students.example.org".lower()
                    if grade.isdigit() and int(grade) >= 6
                    else None,
                }
            )
            children.append(student_id)
        parents: list[_Parent] = []
        for relationship in rng.sample(("Mother", "Father"), rng.choice((1, 2, 2, 2))):
            first = rng.choice(FIRST)
            email: str | None = f"{first}.{last}{rng.randint(1, 99)}@{rng.choice(DOMAINS)}"
            if rng.random() < 0.08:
                email = None
            elif email is not None and rng.random() < 0.5:
                email = email.lower()
            parents.append(_Parent(f"C{next_contact}", first, last, email, relationship))
            next_contact += 1
        if len(parents) == 2 and parents[0].email and rng.random() < 0.07:
            parents[1].email = parents[0].email  # one family inbox for both parents
        for parent in parents:
            contact_id, first, contact_last = parent.contact_id, parent.first, parent.last
            email, relationship = parent.email, parent.relationship
            split = len(children) > 1 and email is not None and rng.random() < 0.15
            district.contacts.append(
                {
                    "contact_id": contact_id,
                    "first_name": first,
                    "last_name": contact_last,
                    "email": email,
                }
            )
            priority = 1 if relationship == "Mother" else 2
            for n, student_id in enumerate(children):
                own_id = contact_id
                if split and n > 0 and email is not None:  # split: there is an email
                    # The same parent typed again on a sibling's card, capitals and all.
                    own_id = f"{contact_id}-{n}"
                    district.contacts.append(
                        {
                            "contact_id": own_id,
                            "first_name": first,
                            "last_name": contact_last,
                            "email": email.upper() if n % 2 else email.title(),
                        }
                    )
                district.cards.append((student_id, own_id, relationship, priority))
            if email and rng.random() < 0.03:
                logon = f"{first}.{contact_last}@oldmail.example.net".lower().replace("'", "")
                district.old_logons.append((logon, children[0], contact_id))
            elif email and rng.random() < 0.2:
                # Last year's account: older name spelling or phone, to be updated by the import.
                district.old_accounts.append(
                    (email, first, contact_last.upper(), f"555-01{rng.randint(10, 99)}")
                )
    return district
