"""What stands between the public activation page and a password being set: a signed
double-submit form token against cross-site posts, and a count of tries per client address.

The form token is a random value in a SameSite=Strict cookie and its HMAC (with the activation
secret and the time it was made) in a hidden field. Another site can neither read the cookie nor
make the signature, so a post that does not carry a matching pair did not come from our page.
"""

import hashlib
import hmac
import secrets
import threading
import time
from collections import deque

FORM_TOKEN_HOURS = 2
"""How long a form stays usable after the page was opened."""
WINDOW_S = 600.0
"""The rate limit's window: ten minutes."""


def _signature(secret: bytes, nonce: str, issued: int) -> str:
    # "csrf:" keeps these apart from the other HMACs made with the same secret.
    message = f"csrf:{nonce}:{issued}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def new_form_token(
    secret: bytes, *, nonce: str | None = None, now: float | None = None
) -> tuple[str, str]:
    """A (cookie value, hidden field value) pair: the browser's cookie kept if it has one, so a
    second tab does not spoil the first one's form."""
    nonce = nonce or secrets.token_urlsafe(24)
    issued = int(time.time() if now is None else now)
    return nonce, f"{issued}.{_signature(secret, nonce, issued)}"


def form_token_is_valid(
    secret: bytes, cookie: str | None, field: str | None, now: float | None = None
) -> bool:
    """Whether the posted field signs the cookie's value, and was made in the last hours."""
    if not cookie or not field:
        return False
    issued_text, _, signature = field.partition(".")
    if not issued_text.isascii() or not issued_text.isdigit() or len(issued_text) > 12:
        return False
    issued = int(issued_text)
    age = (time.time() if now is None else now) - issued
    if not 0 <= age <= FORM_TOKEN_HOURS * 3600:
        return False
    return hmac.compare_digest(signature, _signature(secret, cookie, issued))


class AttemptCounter:
    """Posts per client address in the last ten minutes, counted in this process."""

    SWEEP_EVERY = 1000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._times: dict[str, deque[float]] = {}
        self._hits = 0

    def allow(self, address: str, limit: int, now: float | None = None) -> bool:
        """Count one try from ``address``; False once it is over ``limit`` in the window."""
        now = time.monotonic() if now is None else now
        with self._lock:
            self._hits += 1
            if self._hits % self.SWEEP_EVERY == 0:
                self._sweep(now)
            times = self._times.setdefault(address, deque())
            while times and times[0] <= now - WINDOW_S:
                times.popleft()
            if len(times) >= limit:
                return False
            times.append(now)
            return True

    def _sweep(self, now: float) -> None:
        """Forget the addresses with no try left in the window, so memory stays bounded."""
        for address in [a for a, t in self._times.items() if not t or t[-1] <= now - WINDOW_S]:
            del self._times[address]
