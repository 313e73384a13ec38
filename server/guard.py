"""What every staff request passes before any route reads it: the body's size, the token's
rate, and the token itself.

It runs before the body is parsed, so an oversize, unsigned or over-eager request costs the
server no parsing and writes nothing. The rate is counted per token as sent, valid or not,
before the token is looked up: a wrong token and a right one are limited alike, so the limit
tells a guesser nothing.
"""

import hashlib
import json
import logging
import math
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import anyio.to_thread
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from backend.errors import NotSignedIn
from backend.staff.identity import NOT_SIGNED_IN, identify

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

STAFF_PREFIX = "/api/"
"""Every route under it answers staff alone; the health check and the API's description do not."""
NO_TOKEN = (
    "This request names no staff member: send your staff token as 'Authorization: Bearer "
    "ppa_...' (`portal staff add` or `portal staff rotate-token` gives one)"
)

DATABASE_AWAY = (
    "The portal's database did not answer this server; nothing was done. Try again in a "
    "minute, and tell IT if it lasts"
)
log = logging.getLogger("portal.server")


class RateLimit:
    """A token bucket per key: ``per_minute`` requests a minute, as many at once, in this
    process alone."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self.buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens left, when counted)
        self.lock = threading.Lock()

    def wait(self, key: str) -> float:
        """Take one request for ``key``: 0 when it may go on, else the seconds to wait."""
        if self.per_minute <= 0:
            return 0.0
        rate = self.per_minute / 60.0
        with self.lock:
            now = self.clock()
            left, then = self.buckets.get(key, (float(self.per_minute), now))
            left = min(float(self.per_minute), left + (now - then) * rate)
            if left < 1.0:
                self.buckets[key] = (left, now)
                return (1.0 - left) / rate
            self.buckets[key] = (left - 1.0, now)
            if len(self.buckets) > 10_000:  # forget full buckets: they are as good as new
                full = [k for k, (n, t) in self.buckets.items() if n + (now - t) * rate >= 1]
                for k in full[:5_000]:
                    del self.buckets[k]
            return 0.0


async def send_error(
    send: Send, status: int, message: str, headers: dict[str, str] | None = None
) -> None:
    """One JSON line, ``{"error": message}``, straight to the client."""
    body = json.dumps({"error": message}).encode("utf-8")
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def too_large(limit: int) -> str:
    return (
        f"The request is larger than this server takes ({limit // 1_000_000} MB, "
        "PORTAL_SERVER_MAX_REQUEST_MB): send the rows in smaller parts; nothing was saved"
    )


class Guard:
    """ASGI middleware: size limit for every request, then rate and token for staff routes."""

    def __init__(self, app: ASGIApp, engine: Engine, max_bytes: int, rate: RateLimit) -> None:
        self.app, self.engine, self.max_bytes, self.rate = app, engine, max_bytes, rate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await send_error(send, 413, too_large(self.max_bytes), {"connection": "close"})
            return
        if "\x00" in scope["path"] or b"%00" in scope.get("query_string", b""):
            await send_error(
                send, 400, "The address holds the character NUL (%00), which no name or ID holds"
            )
            return
        if scope["path"].startswith(STAFF_PREFIX):
            refused = await self._sign_in(scope, headers.get("authorization"))
            if refused is not None:
                status, message, extra = refused
                await send_error(send, status, message, extra)
                return
        await self._limited(scope, receive, send)

    async def _sign_in(
        self, scope: Scope, authorization: str | None
    ) -> tuple[int, str, dict[str, str]] | None:
        """None once the request's staff member is in ``scope["state"]``, else the refusal."""
        scheme, _, token = (authorization or "").strip().partition(" ")
        client = scope.get("client") or ("", 0)
        key = hashlib.sha256(token.strip().encode()).hexdigest() if token else f"ip:{client[0]}"
        wait = self.rate.wait(key)
        if wait:
            seconds = math.ceil(wait)
            return (
                429,
                f"Too many requests with this token: at most {self.rate.per_minute} a minute "
                f"(PORTAL_SERVER_RATE_PER_MINUTE); try again in {seconds} s",
                {"retry-after": str(seconds)},
            )
        bearer = {"www-authenticate": "Bearer"}
        if scheme.lower() != "bearer" or not token.strip():
            return 401, NO_TOKEN, bearer
        try:
            staff = await anyio.to_thread.run_sync(identify, self.engine, token)
        except NotSignedIn:
            return 401, NOT_SIGNED_IN, bearer
        except DBAPIError as exc:
            log.error("the database did not answer a sign-in", exc_info=exc)
            return 503, DATABASE_AWAY, {"retry-after": "60"}
        scope.setdefault("state", {})["staff"] = staff
        return None

    async def _limited(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The app, reading at most ``max_bytes`` of body however it is sent (chunked too)."""
        read, refused = 0, False

        async def counted() -> Message:
            nonlocal read, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            read += len(message.get("body", b""))
            if read > self.max_bytes:
                refused = True
                await send_error(send, 413, too_large(self.max_bytes), {"connection": "close"})
                return {"type": "http.disconnect"}
            return message

        async def sent(message: Message) -> None:
            if not refused:  # the refusal was the answer: what the app says after it is dropped
                await send(message)

        try:
            await self.app(scope, counted, sent)
        except Exception:
            if not refused:
                raise
