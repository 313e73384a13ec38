"""Every address of the staff API, asked with what its OpenAPI schema allows and with what it
does not (schemathesis), never answers with a server error, and every refusal is one line."""

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import Case
from served import Server, database_of_its_own, running, seed, server_engine, staff_token


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fuzzed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[tuple[Server, str]]:
    """A server without a rate limit over a small district, and a staff token for it."""
    folder = tmp_path_factory.mktemp("fuzzed")
    with (
        database_of_its_own(request.param, folder, sqlite_template) as url,
        running(url, folder, PORTAL_SERVER_RATE_PER_MINUTE="0") as server,
    ):
        engine = server_engine(server)
        seed(engine)
        token = staff_token(engine)
        engine.dispose()
        yield server, token


def test_no_request_gets_a_server_error(fuzzed: tuple[Server, str]) -> None:
    server, token = fuzzed
    api = schemathesis.openapi.from_url(server.base + "/openapi.json")
    headers = {"Authorization": f"Bearer {token}"}
    operations = [found.ok() for found in api.get_all_operations()]
    assert len(operations) >= 14

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
        def answers_plainly(case: Case) -> None:
            response = case.call(base_url=server.base, headers=headers)
            assert response.status_code < 500, (case.method, case.path, response.text)
            if response.status_code >= 400:
                body = response.json()
                assert set(body) <= {"error", "differences"}, body
                assert "\n" not in body["error"], body

        answers_plainly()
