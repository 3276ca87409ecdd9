"""The console's login: the API token, given once, kept as a cookie.

Why a cookie and not the token itself in the page: an operator types the token once at
``/login``; the browser then carries an HttpOnly, SameSite=Strict cookie that scripts cannot
read and other sites cannot send. The cookie holds an HMAC of the token, not the token, and
changing ``[api] token`` logs everyone out.
"""

from __future__ import annotations

import hashlib
import hmac

COOKIE = "factory_ai_console"


def cookie_value(token: str) -> str:
    return hmac.new(token.encode(), b"factory-ai console session", hashlib.sha256).hexdigest()


def token_matches(given: str, token: str | None) -> bool:
    return bool(token) and hmac.compare_digest(given.encode(), token.encode())


def logged_in(cookie: str | None, token: str | None) -> bool:
    return bool(token and cookie) and hmac.compare_digest(cookie.encode(), cookie_value(token).encode())
