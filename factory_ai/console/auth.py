"""The console's login: the API token, given once, kept as a cookie.

Why a cookie and not the token itself in the page: an operator types the token once at
``/login``; the browser then carries an HttpOnly, SameSite=Strict cookie that scripts cannot
read and other sites cannot send. The cookie holds an HMAC of the token, not the token, and
changing ``[api] token`` logs everyone out.

Why actions also check the Origin header: SameSite keeps the cookie from other *sites*, but a
page on the same host under another port, or on a sibling host of the plant's domain, is the
same site, and its scripts could post to the console with the operator's cookie. Browsers name
the page's origin on every POST; an action whose origin is not the console's is refused.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import urlsplit

COOKIE = "factory_ai_console"


def cookie_value(token: str) -> str:
    return hmac.new(token.encode(), b"factory-ai console session", hashlib.sha256).hexdigest()


def token_matches(given: str, token: str | None) -> bool:
    return bool(token) and hmac.compare_digest(given.encode(), token.encode())


def logged_in(cookie: str | None, token: str | None) -> bool:
    return bool(token and cookie) and hmac.compare_digest(cookie.encode(), cookie_value(token).encode())


def from_elsewhere(origin: str | None, hosts: Iterable[str | None]) -> bool:
    """Whether a browser says the request came from a page of another origin than ``hosts`` (the
    Host header, and X-Forwarded-Host behind a proxy; a page elsewhere cannot set either).
    No Origin header: not a browser's cross-origin request (scripts and curl send none)."""
    if origin is None:
        return False
    return urlsplit(origin.strip()).netloc.lower() not in {h.strip().lower() for h in hosts if h}
