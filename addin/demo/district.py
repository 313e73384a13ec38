"""A generated school district with the faults real rosters have, for the demo and the tests.

Households of one to three children (siblings may be in different schools) and one or two
guardians. Faults: guardians without an email, two parents sharing one email, one parent entered
on each child's card with the email in different capitals, accounts left from last year,
and accounts whose logon is an old email address.
"""

import random
from dataclasses import dataclass, field

FIRST = (
    "Maria",
    "Jose",
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Chen",
    "Aisha",
    "Mohammed",
    "Priya",
    "Olga",
    "Kenji",
    "Fatima",
    "Diego",
    "Amara",
    "Liam",
    "Noah",
    "Emma",
    "Olivia",
    "Ava",
    "Sofia",
    "Mateo",
    "Zoe",
    "Ethan",
)
LAST = (
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Nguyen",
    "Kim",
    "Patel",
    "O'Brien",
    "Kowalski",
    "Dubois",
    "Rossi",
    "Novak",
    "Okafor",
    "Haddad",
)
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


@dataclass
class _NextIds:
    """The next free student number and contact number; student numbers have gaps."""

    student: int = 1000
    contact: int = 50000


def generate_district(students: int = 500, seed: int = 2026) -> District:
    rng = random.Random(seed)
    district = District(schools=[{"code": c, "name": n} for c, n, _ in SCHOOLS])
    ids = _NextIds()
    while len(district.students) < students:
        last = rng.choice(LAST)
        children = _add_children(rng, district, ids, last)
        parents = _make_parents(rng, ids, last)
        if len(parents) == 2 and parents[0].email and rng.random() < 0.07:
            parents[1].email = parents[0].email  # one family inbox for both parents
        for parent in parents:
            _add_parent(rng, district, parent, children)
            _add_earlier_account(rng, district, parent, children[0])
    return district


def _add_children(rng: random.Random, district: District, ids: _NextIds, last: str) -> list[str]:
    """One to three children of one household; returns their student IDs."""
    children = []
    for _ in range(rng.choice((1, 1, 2, 2, 3))):
        grade = rng.choice(list(GRADE_SCHOOLS))
        student_id = f"{ids.student:06d}"  # leading zeros: IDs are text
        ids.student += rng.randint(1, 7)
        first = rng.choice(FIRST)
        district.students.append(
            {
                "student_id": student_id,
                "first_name": first,
                "last_name": last,
                "grade": grade,
                "school": rng.choice(GRADE_SCHOOLS[grade]),
                "email": _student_email(first, last, student_id, grade),
            }
        )
        children.append(student_id)
    return children


def _student_email(first: str, last: str, student_id: str, grade: str) -> str | None:
    """Students from grade 6 up have a school email."""
    if grade.isdigit() and int(grade) >= 6:
        return f"{first}.{last}{student_id[-3:]}@students.example.org".lower()
    return None


def _make_parents(rng: random.Random, ids: _NextIds, last: str) -> list[_Parent]:
    """One or two guardians sharing the children's last name."""
    parents: list[_Parent] = []
    for relationship in rng.sample(("Mother", "Father"), rng.choice((1, 2, 2, 2))):
        first = rng.choice(FIRST)
        email = _parent_email(rng, first, last)
        parents.append(_Parent(f"C{ids.contact}", first, last, email, relationship))
        ids.contact += 1
    return parents


def _parent_email(rng: random.Random, first: str, last: str) -> str | None:
    """Some guardians have no email; half type theirs in lower case."""
    email = f"{first}.{last}{rng.randint(1, 99)}@{rng.choice(DOMAINS)}"
    if rng.random() < 0.08:
        return None
    if rng.random() < 0.5:
        return email.lower()
    return email


def _add_parent(
    rng: random.Random, district: District, parent: _Parent, children: list[str]
) -> None:
    """The guardian's contact and one card per child, sometimes typed again per child."""
    email = parent.email
    split = len(children) > 1 and email is not None and rng.random() < 0.15
    district.contacts.append(
        {
            "contact_id": parent.contact_id,
            "first_name": parent.first,
            "last_name": parent.last,
            "email": email,
        }
    )
    priority = 1 if parent.relationship == "Mother" else 2
    for n, student_id in enumerate(children):
        own_id = parent.contact_id
        if split and n > 0 and email is not None:  # split: there is an email
            # The same parent typed again on a sibling's card, capitals and all.
            own_id = f"{parent.contact_id}-{n}"
            district.contacts.append(
                {
                    "contact_id": own_id,
                    "first_name": parent.first,
                    "last_name": parent.last,
                    "email": email.upper() if n % 2 else email.title(),
                }
            )
        district.cards.append((student_id, own_id, parent.relationship, priority))


def _add_earlier_account(
    rng: random.Random, district: District, parent: _Parent, first_child: str
) -> None:
    """A few guardians with an email already have an account from an earlier year."""
    if not parent.email:
        return
    first, last = parent.first, parent.last
    if rng.random() < 0.03:
        logon = f"{first}.{last}@oldmail.example.net".lower().replace("'", "")
        district.old_logons.append((logon, first_child, parent.contact_id))
    elif rng.random() < 0.2:
        # Last year's account: older name spelling or phone, to be updated by the import.
        district.old_accounts.append(
            (parent.email, first, last.upper(), f"555-01{rng.randint(10, 99)}")
        )
