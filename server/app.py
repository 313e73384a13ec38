"""The district server's application: the staff API over the backend services.

``create_app`` opens (and if need be creates or upgrades) the database, includes every router
in one place, puts every refusal in one JSON shape and wraps the whole in ``Guard``. It keeps
nothing between requests but the connection pool and each process's own rate counts, so
several processes, on one computer or several, can serve one PostgreSQL database.
"""

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse

from backend.database.engine import open_database
from backend.settings import get_settings
from server import (
    activation_page,
    errors,
    routes_accounts,
    routes_batches,
    routes_imports,
    routes_school_year,
)
from server.guard import Guard, RateLimit

health = APIRouter(tags=["server"])


@health.get("/health")
def health_check() -> JSONResponse:
    """Whether this process answers; needs no token (for the load balancer)."""
    return JSONResponse({"status": "ok"})


ROUTERS: tuple[APIRouter, ...] = (
    health,
    routes_imports.router,
    routes_accounts.router,
    routes_batches.router,
    routes_school_year.router,
    activation_page.router,
)
"""Every router the server answers with; a new page or API is one more line here."""


YOUNG_OBJECTS = 100_000
"""Lists, dicts and tuples made between two runs of Python's cycle collector in a server
process. Python's default, 700, suits small programs: an import's body is hundreds of
thousands of them (a list per row and its cells, parsed, then as many again validated), and
the collector ran hundreds of times over an ever larger heap while one was parsed, most of the
time parsing took. Nearly all are freed by reference counting anyway; the few cycles wait a
little longer."""


def create_app(database_url: str | None = None) -> FastAPI:
    """The server for ``database_url`` (default: PORTAL_DATABASE_URL, as every command)."""
    settings = get_settings()
    gc.set_threshold(YOUNG_OBJECTS, *gc.get_threshold()[1:])
    engine = open_database(database_url)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        engine.dispose()

    app = FastAPI(
        title="Parent Portal Accounts: district server",
        summary="The imports, AutoCreate, single accounts, look-ups, the school year (coverage, "
        "activation emails, letters, year end) and the audit trail, for staff with a token.",
        version="1",
        lifespan=lifespan,
    )
    app.state.engine = engine
    for router in ROUTERS:
        app.include_router(router)
    errors.install(app)
    app.add_middleware(
        Guard,
        engine=engine,
        max_bytes=settings.server_max_request_mb * 1_000_000,
        rate=RateLimit(settings.server_rate_per_minute),
    )
    return app
