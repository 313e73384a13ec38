"""Every route of the staff API, asked by a clerk of school 101 about school 201: nothing of
school 201 comes back, nothing of it changes, and what does not exist for the clerk answers
exactly as what does not exist at all. A real `portal serve` on each database."""

import re
from collections.abc import Callable
from typing import Any

import httpx
from factories import CONTACT_HEADERS, LINK_HEADERS, USER_HEADERS, input_table
from scope_district import CONTACTS, TOM, Town, build, school_201
from served import Server
from sqlalchemy import Engine

from backend.staff.identity import rotate_token
from server.wire import encode_table

Ask = Callable[[httpx.Client, Town], httpx.Response]


def table(headers: list[str], rows: list[list[Any]]) -> dict[str, Any]:
    return encode_table(input_table(headers, rows, source_name="from-the-clerk.xlsx"))


# What the clerk asks each route about school 201: its students 00456 and 00457, tom's account
# (attached to 00456 only), Eve Ode's contact C4 (00457's mother) and the 201 clerk's batch.
ASKED: dict[tuple[str, str], Ask] = {
    ("GET", "/health"): lambda c, t: c.get("/health"),
    ("GET", "/api/me"): lambda c, t: c.get("/api/me"),
    ("POST", "/api/imports/users"): lambda c, t: c.post(
        "/api/imports/users",
        json={"table": table(USER_HEADERS, [[TOM, "Tim", "Lee", "GUARDIAN"]]), "apply": True},
    ),
    ("POST", "/api/imports/links"): lambda c, t: c.post(
        "/api/imports/links",
        json={
            "table": table(LINK_HEADERS, [["ann@example.org", "00456", "Aunt"]]),
            "apply": True,
        },
    ),
    ("POST", "/api/imports/roster"): lambda c, t: c.post(
        "/api/imports/roster",
        json={"contacts": table(CONTACT_HEADERS, CONTACTS[:3]), "apply": True},
    ),
    ("POST", "/api/autocreate"): lambda c, t: c.post(
        "/api/autocreate", json={"options": {"schools": ["201"]}, "apply": True}
    ),
    ("POST", "/api/accounts"): lambda c, t: c.post(
        "/api/accounts",
        json={
            "logon_id": "new@example.org",
            "user_type": "GUARDIAN",
            "last_name": "New",
            "first_name": "Ned",
            "students": ["00457"],
        },
    ),
    ("GET", "/api/accounts/{logon_id}"): lambda c, t: c.get(f"/api/accounts/{TOM}"),
    ("PATCH", "/api/accounts/{logon_id}"): lambda c, t: c.patch(
        f"/api/accounts/{TOM}", json={"changes": {"phone": "555-0199"}, "detach": ["00456"]}
    ),
    ("POST", "/api/lookups/accounts"): lambda c, t: c.post(
        "/api/lookups/accounts", json={"logon_ids": [TOM]}
    ),
    ("POST", "/api/lookups/students"): lambda c, t: c.post(
        "/api/lookups/students", json={"student_ids": ["00456", "00457"]}
    ),
    ("GET", "/api/students/{student_id}/card"): lambda c, t: c.get("/api/students/00457/card"),
    ("POST", "/api/contacts/{contact_id}/account"): lambda c, t: c.post(
        "/api/contacts/C4/account", json={"apply": True}
    ),
    ("POST", "/api/renames"): lambda c, t: c.post(
        "/api/renames", json={"old": TOM, "new": "tim@example.org", "apply": True}
    ),
    ("POST", "/api/merges"): lambda c, t: c.post(
        "/api/merges", json={"duplicate": TOM, "keep": "ann@example.org", "apply": True}
    ),
    ("GET", "/api/batches"): lambda c, t: c.get("/api/batches", params={"limit": 1000}),
    ("GET", "/api/batches/{batch_id}"): lambda c, t: c.get(f"/api/batches/{t.their_batch}"),
    ("POST", "/api/batches/{batch_id}/undo"): lambda c, t: c.post(
        f"/api/batches/{t.their_batch}/undo", json={"apply": True}
    ),
    ("GET", "/api/coverage"): lambda c, t: c.get("/api/coverage", params={"school": "201"}),
    ("POST", "/api/activation/send"): lambda c, t: c.post(
        "/api/activation/send", json={"school": "201", "logons": [TOM], "apply": True}
    ),
    ("POST", "/api/lifecycle/year-end"): lambda c, t: c.post(
        "/api/lifecycle/year-end", json={"apply": True}
    ),
    ("POST", "/api/letters"): lambda c, t: c.post(
        "/api/letters", json={"school": "201", "logons": [TOM], "apply": True}
    ),
}

SCHOOL_201_ONLY = re.compile(r"\b(Max|Sam|Ode|Eve|Thomas|Wash|Father)\b|eve@|clerk@wash")
"""What only school 201 holds and the clerk never sends: its students' names, its
school's name, Eve Ode's email, tom's first name and relationship as school 201 set them, the
201 clerk. (IDs the clerk sends, such as 00457, may come back in the answer's own rows.)"""


def routes(client: httpx.Client) -> set[tuple[str, str]]:
    schema = client.get("/openapi.json").json()
    return {(method.upper(), path) for path, ops in schema["paths"].items() for method in ops}


def test_no_route_returns_or_changes_anything_of_another_school(server: Server, db: Engine) -> None:
    town = build(db)
    token = rotate_token(db, town.clerk.email)
    before = school_201(db)
    with server.client(token) as client:
        assert routes(client) == set(ASKED), "every route of the API is asked here"
        answers = {route: ask(client, town) for route, ask in ASKED.items()}
    for route, answer in answers.items():
        assert answer.status_code < 500, (route, answer.text)
        leaked = SCHOOL_201_ONLY.search(answer.text)
        assert leaked is None, (route, leaked.group(), answer.text)
    assert school_201(db) == before
    batches = answers[("GET", "/api/batches")].json()
    assert town.their_batch not in {b["id"] for b in batches}
    assert answers[("POST", "/api/lookups/accounts")].json() == {}
    assert answers[("POST", "/api/lookups/students")].json() in ({}, {"00456": [], "00457": []})


def test_what_is_not_the_clerks_answers_as_what_does_not_exist(server: Server, db: Engine) -> None:
    town = build(db)
    token = rotate_token(db, town.clerk.email)
    pairs = [
        (f"/api/accounts/{TOM}", "/api/accounts/nobody@example.org", TOM, "nobody@example.org"),
        ("/api/students/00457/card", "/api/students/99999/card", "00457", "99999"),
        ("/api/batches/{}", "/api/batches/999999", None, "999999"),
    ]
    with server.client(token) as client:
        for theirs, missing, name, other in pairs:
            theirs = theirs.format(town.their_batch)
            one, two = client.get(theirs), client.get(missing)
            assert one.status_code == two.status_code == 404
            said = one.json()["error"].replace(name or str(town.their_batch), "X")
            assert said == two.json()["error"].replace(other, "X")
        one = client.post("/api/contacts/C4/account", json={})
        two = client.post("/api/contacts/C99/account", json={})
        assert one.status_code == two.status_code
        assert one.json()["error"].replace("C4", "X") == two.json()["error"].replace("C99", "X")
