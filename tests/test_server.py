"""`portal serve`: a real server process per database, asked over HTTP as staff's Excel and
terminal ask it; the database's rows say what it wrote."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from conftest import PG_ADMIN_URL
from factories import SMALL_DISTRICT, USER_HEADERS, input_table, make_accounts
from helpers import run_cli
from served import (
    MAX_REQUEST_MB,
    RATE_PER_MINUTE,
    Server,
    counts,
    database_of_its_own,
    free_port,
    running,
    server_engine,
    staff_token,
)
from sqlalchemy import Engine, select

from backend.database.models import Batch, PortalUser, StudentLink
from backend.imports.roster import import_roster
from backend.staff.identity import NOT_SIGNED_IN, add_staff, disable_staff
from server.guard import NO_TOKEN
from server.wire import decode_report, encode_report, encode_table

Body = dict[str, Any]
Capsys = pytest.CaptureFixture[str]


def users_body(rows: list[list[Any]], **options: Any) -> Body:
    table = input_table(USER_HEADERS, rows, source_name="users.xlsx")
    return {"table": encode_table(table), **options}


def one_line(response: httpx.Response, status: int) -> str:
    """The refusal's message, after checking it is one JSON line with the expected status."""
    assert response.status_code == status, response.text
    body = response.json()
    assert list(body) == ["error"], body
    assert body["error"] and "\n" not in body["error"]
    assert "Traceback" not in body["error"]
    message: str = body["error"]
    return message


def test_health_and_the_api_description_need_no_token(server: Server) -> None:
    with server.client() as client:
        assert client.get("/health").json() == {"status": "ok"}
        schema = client.get("/openapi.json").json()
        docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    assert {"/api/imports/users", "/api/imports/links", "/api/imports/roster"} <= set(
        schema["paths"]
    )
    assert {"/api/autocreate", "/api/batches/{batch_id}/undo"} <= set(schema["paths"])
    assert schema["components"]["securitySchemes"]["StaffToken"]["scheme"] == "bearer"
    users = schema["paths"]["/api/imports/users"]["post"]
    assert users["security"] == [{"StaffToken": []}]
    assert {"401", "413", "422", "429"} <= set(users["responses"])


def test_the_same_server_serves_the_parents_activation_page_without_a_token(
    server: Server,
) -> None:
    with server.client() as client:
        page = client.get("/activate", params={"token": "made-up", "lang": "es"})
        letter = client.get("/activate")
    assert page.status_code == 200 and letter.status_code == 200
    assert '<html lang="es"' in page.text and 'type="password"' in page.text
    with server.client() as client:
        schema = client.get("/openapi.json").json()
    assert not any(path.startswith("/activate") for path in schema["paths"])


def test_the_startup_line_says_where_and_which_database_without_its_password(
    server: Server,
) -> None:
    said = server.said()
    assert f"Parent Portal server on {server.base} (1 server process)" in said
    assert "not-to-be-shown" not in said
    if server.database_url.startswith("postgresql"):
        assert ":***@" in said


def test_every_bad_request_gets_one_line_and_writes_nothing(server: Server, db: Engine) -> None:
    make_accounts(db, "kept@example.org")
    token = staff_token(db)
    gone, disabled = add_staff(db, "gone@district.example.org", role="district-admin")
    disable_staff(db, gone.email)
    before = counts(db)
    good = users_body([["new@example.org", "Ann", "Lee", "GUARDIAN"]], apply=True)
    big = b'{"table": "' + b"x" * (MAX_REQUEST_MB * 1_000_000) + b'"}'

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(big), 65536):
            yield big[start : start + 65536]

    as_json = {"content-type": "application/json"}
    users = "/api/imports/users"
    dated = users_body([["a@x.org", {"type": "date", "value": "soon"}, "L", "GUARDIAN"]])
    misspelt = {"table": {"headers": ["LOGONID", "FRIST_NAME"], "rows": [[2, ["a@x.org", "A"]]]}}
    nul = {**good, "table": {**good["table"], "source_name": "users\x00.xlsx"}}
    cases: list[tuple[str | None, str, str, dict[str, Any], int, str]] = [
        (None, "POST", users, {"json": good}, 401, NO_TOKEN),
        (disabled, "POST", users, {"json": good}, 401, NOT_SIGNED_IN),
        ("ppa_" + "A" * 43, "POST", users, {"json": good}, 401, NOT_SIGNED_IN),
        ("not-a-token", "GET", "/api/batches", {}, 401, NOT_SIGNED_IN),
        (token, "POST", users, {"content": big, "headers": as_json}, 413, "MB"),
        (token, "POST", users, {"content": chunks(), "headers": as_json}, 413, "MB"),
        (token, "POST", users, {"content": b'{"table": [', "headers": as_json}, 400, "not valid"),
        (token, "POST", users, {}, 422, "needs a JSON body"),
        (token, "POST", users, {"json": {"apply": True}}, 422, "table: Field required"),
        (token, "POST", users, {"json": good | {"aply": True}}, 422, "aply"),
        (token, "POST", users, {"json": good | {"mode": "replace"}}, 422, "mode"),
        (token, "POST", users, {"json": dated | {"apply": True}}, 422, "'soon' is not an ISO"),
        (token, "POST", users, {"json": misspelt}, 422, "did you mean FIRST_NAME?"),
        (token, "POST", users, {"json": good | {"review": {"batch_id": 999}}}, 422, "Batch 999"),
        (token, "POST", users, {"json": nul}, 422, "must not hold the character NUL"),
        (token, "GET", "/api/accounts/a%00b@example.org", {}, 400, "NUL (%00)"),
        (token, "GET", "/api/nowhere", {}, 404, "There is no GET /api/nowhere"),
        (None, "GET", "/nowhere", {}, 404, "There is no GET /nowhere"),
        (token, "DELETE", "/api/batches/1", {}, 405, "does not take DELETE"),
        (token, "GET", "/api/batches/999", {}, 404, "There is no batch 999"),
        (token, "GET", "/api/accounts/nobody@example.org", {}, 404, "There is no account"),
        (token, "POST", "/api/batches/999/undo", {"json": {"apply": True}}, 404, "999"),
        (token, "PATCH", "/api/accounts/kept@example.org", {"json": {}}, 422, "Nothing to change"),
    ]
    for who, method, path, request, status, words in cases:
        with server.client(who) as client:
            response = client.request(method, path, **request)
        message = one_line(response, status)
        assert words in message, (method, path, message)
        if status == 401:
            assert response.headers["www-authenticate"] == "Bearer"
    assert counts(db) == before


def test_a_run_through_the_server_names_its_staff_member(server: Server, db: Engine) -> None:
    identity, token = add_staff(db, "office@district.example.org", role="district-admin")
    rows = [["ann@example.org", "Ann", "Lee", "GUARDIAN"], ["bad", "Bo", "Lee", "GUARDIAN"]]
    with server.client(token) as client:
        simulated = client.post("/api/imports/users", json=users_body(rows))
        applied = client.post(
            "/api/imports/users",
            json=users_body(rows, apply=True, review={"batch_id": simulated.json()["batch_id"]}),
        )
        shown = client.get(f"/api/batches/{applied.json()['batch_id']}").json()
        listed = client.get("/api/batches", params={"limit": 5}).json()
    assert simulated.status_code == applied.status_code == 200
    report = applied.json()
    assert report["mode"] == "apply"
    assert report["counts"] == {"added": 1, "updated": 0, "removed": 0, "skipped": 0, "error": 1}
    assert [(r["row"], r["key"], r["action"]) for r in report["results"]] == [
        (2, "ann@example.org", "added"),
        (3, "bad", "error"),
    ]
    assert ("Simulation", f"batch {simulated.json()['batch_id']}: every row as simulated") in [
        tuple(line) for line in report["extra"]
    ]
    with db.connect() as connection:
        batches = connection.execute(select(Batch.mode, Batch.actor, Batch.staff_id)).all()
        logons = connection.execute(select(PortalUser.logon_id)).scalars().all()
    assert sorted(batches) == [
        ("apply", identity.email, identity.staff_id),
        ("simulation", identity.email, identity.staff_id),
    ]
    assert logons == ["ann@example.org"]
    assert shown["actor"] == identity.email and shown["staff_id"] == identity.staff_id
    assert [(e["row_number"], e["action"]) for e in shown["events"]] == [(2, "added"), (3, "error")]
    assert [b["id"] for b in listed] == [report["batch_id"], simulated.json()["batch_id"]]


def test_accounts_cards_look_ups_and_undo_through_the_server(server: Server, db: Engine) -> None:
    import_roster(db, **SMALL_DISTRICT.tables(), apply=True)
    token = staff_token(db)
    with server.client(token) as client:
        made = client.post(
            "/api/accounts",
            json={
                "logon_id": "mia@example.org",
                "user_type": "GUARDIAN",
                "last_name": "Lee",
                "first_name": "Mia",
                "students": ["00123"],
            },
        ).json()
        changed = client.patch(
            "/api/accounts/mia@example.org",
            json={"changes": {"phone": "555-0100"}, "attach": ["456"], "relationship": "Mother"},
        ).json()
        account = client.get("/api/accounts/MIA@example.org").json()
        card = client.get("/api/students/00123/card").json()
        summaries = client.post(
            "/api/lookups/accounts", json={"logon_ids": ["mia@example.org", "nobody@x.org"]}
        ).json()
        logons = client.post(
            "/api/lookups/students", json={"student_ids": ["00123", "456", "999"]}
        ).json()
        from_contact = client.post("/api/contacts/C2/account", json={}).json()
        undo = client.post(f"/api/batches/{changed['batch_id']}/undo", json={"apply": True})
    assert made["kind"] == "new user" and made["counts"]["added"] == 2
    assert changed["kind"] == "modify user" and changed["counts"]["updated"] == 1
    assert account["logon_id"] == "mia@example.org" and account["phone"] == "555-0100"
    assert sorted(s["student_id"] for s in account["students"]) == ["00123", "456"]
    statuses = {e["contact_id"]: e["status"] for e in card["entries"]}
    assert statuses == {"C1": "has account", "C2": "can create", "C3": "no email"}
    assert list(summaries) == ["mia@example.org"]
    assert summaries["mia@example.org"]["students"] == 2
    assert {sid: [logon["logon_id"] for logon in found] for sid, found in logons.items()} == {
        "00123": ["mia@example.org"],
        "456": ["mia@example.org"],
    }
    assert from_contact["mode"] == "simulation" and from_contact["kind"] == "account from contact"
    assert undo.status_code == 200 and undo.json()["mode"] == "apply"
    with db.connect() as connection:
        phone = connection.execute(select(PortalUser.phone)).scalar_one()
        links = connection.execute(select(StudentLink.id)).all()
    assert phone is None and len(links) == 1


def test_the_rate_limit_counts_each_token_alike_whether_it_is_valid_or_not(
    server: Server, db: Engine
) -> None:
    token, other = staff_token(db), staff_token(db)
    before = counts(db)
    for who, refusal in ((token, None), ("ppa_" + "B" * 43, NOT_SIGNED_IN)):
        with server.client(who) as client:
            answers = [client.get("/api/batches") for _ in range(RATE_PER_MINUTE + 10)]
        first = next(i for i, a in enumerate(answers) if a.status_code == 429)
        assert RATE_PER_MINUTE <= first <= RATE_PER_MINUTE + 5
        assert all(
            (a.status_code == 200 if refusal is None else a.json() == {"error": refusal})
            for a in answers[:first]
        )
        limited = answers[first]
        assert "at most 40 a minute" in one_line(limited, 429)
        assert 1 <= int(limited.headers["retry-after"]) <= 2
    with server.client(other) as client:
        assert client.get("/api/batches").status_code == 200
    assert counts(db) == before


def test_serve_refuses_a_network_address_without_tls(capsys: Capsys, tmp_path: Path) -> None:
    result = run_cli(capsys, "--db", str(tmp_path / "p.sqlite"), "serve", "--host", "0.0.0.0")
    assert result.code == 2
    assert "Listening on 0.0.0.0 would send staff tokens over the network" in result.stderr
    assert not (tmp_path / "p.sqlite").exists()
    half = run_cli(capsys, "serve", "--ssl-certfile", str(tmp_path / "c.pem"))
    assert half.code == 2 and "both --ssl-certfile and --ssl-keyfile" in half.stderr


def test_serve_says_in_one_line_when_its_database_does_not_answer(capsys: Capsys) -> None:
    url = f"postgresql://portal:secret@127.0.0.1:{free_port()}/portal"
    result = run_cli(capsys, "--db", url, "serve")
    assert result.code == 2
    assert "did not answer" in result.stderr and "the server was not started" in result.stderr
    assert "secret" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_reports_cross_the_wire_unchanged(server: Server, db: Engine) -> None:
    """A report with dates, changes and summary lines comes back equal to the one made."""
    make_accounts(db, "pat@example.org")
    rows = [["pat@example.org", "Patricia", "Lee", "GUARDIAN"]]
    token = staff_token(db)
    with server.client(token) as client:
        sent = client.post("/api/imports/users", json=users_body(rows)).json()
    report = decode_report(sent)
    assert report.results[0].changes == {"FIRST_NAME": ("Pat", "Patricia")}
    assert encode_report(report) == sent


def test_a_second_server_on_the_same_database_serves_the_same_staff(
    server: Server, db: Engine, tmp_path: Path
) -> None:
    """The README's example: two processes, one database, any request to either."""
    identity, token = add_staff(db, "two@district.example.org", role="district-admin")
    rows = [["one@example.org", "One", "Lee", "GUARDIAN"]]
    with running(server.database_url, tmp_path, "--workers", "2") as second:
        with server.client(token) as first_client:
            made = first_client.post("/api/imports/users", json=users_body(rows, apply=True))
        with second.client(token) as second_client:
            seen = [second_client.get("/api/accounts/one@example.org") for _ in range(4)]
            listed = second_client.get("/api/batches").json()
    assert made.status_code == 200
    assert all(answer.status_code == 200 for answer in seen)
    assert [b["actor"] for b in listed] == [identity.email]
    assert "(2 server processes)" in second.said()


def test_a_database_gone_away_is_one_line_not_a_server_error(
    tmp_path: Path, sqlite_template: Path
) -> None:
    """PostgreSQL dropped under a running server: sign-in answers 503 with Retry-After."""
    from sqlalchemy.engine import make_url

    with (
        database_of_its_own("postgresql", tmp_path, sqlite_template) as url,
        running(url, tmp_path) as served,
    ):
        engine = server_engine(served)
        token = staff_token(engine)
        engine.dispose()
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{make_url(url).database}" WITH (FORCE)')
        with served.client(token) as client:
            answer = client.get("/api/batches")
    assert "did not answer" in one_line(answer, 503)
    assert answer.headers["retry-after"] == "60"
