"""What keeps the page private to its user: only its own `Host` names are answered (no DNS
rebinding), a token is required when it listens beyond loopback, and every response carries
headers that forbid framing, sniffing and any script or style not served by the page itself."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

__all__ = ["HEADERS", "LOOPBACK_HOSTS", "Guard", "is_loopback"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
TOKEN_COOKIE = "aim_artifacts_token"
HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-resource-policy": "same-origin",
}


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Guard:
    """ASGI middleware: 400 for a `Host` not in `allowed_hosts`, 403 for a POST (or any
    method that is not GET, HEAD or OPTIONS) sent by another site's page, 401 without
    `token` (when one is set: ``?token=`` once, which sets a cookie, or
    ``Authorization: Token ...``), and the security `HEADERS` on every response."""

    def __init__(self, app: App, allowed_hosts: Iterable[str], token: str | None) -> None:
        self.app = app
        self.allowed: set[str] = {h.strip("[]").lower() for h in allowed_hosts}
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if _hostname(headers.get("host", "")) not in self.allowed:
            await _refuse(send, 400, "unknown Host header: this page answers its own address only")
            return
        if scope["method"] not in SAFE_METHODS and not _same_origin(headers):
            await _refuse(send, 403, "a request that acts must come from this page itself")
            return
        set_cookie = False
        if self.token is not None:
            given = _token(scope, headers)
            if given is None or not hmac.compare_digest(given, self.token):
                await _refuse(send, 401, "a token is required: open the URL the server printed")
                return
            set_cookie = TOKEN_COOKIE not in headers.get("cookie", "")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [(k.encode(), v.encode()) for k, v in HEADERS.items()]
                if set_cookie:
                    cookie = f"{TOKEN_COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/"
                    extra.append((b"set-cookie", cookie.encode()))
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _hostname(host: str) -> str:
    """The name in a `Host` header, without its port."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _same_origin(headers: dict[str, str]) -> bool:
    """False when a browser says the request comes from another site's page (its `Origin`
    is not this `Host`): a page anywhere can send a form to 127.0.0.1."""
    origin = headers.get("origin")
    return origin is None or origin.split("://", 1)[-1].lower() == headers.get("host", "").lower()


def _token(scope: Scope, headers: dict[str, str]) -> str | None:
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    if query.get("token"):
        return query["token"][0]
    authorization = headers.get("authorization", "")
    if authorization.lower().startswith("token "):
        return authorization[6:].strip()
    for part in headers.get("cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == TOKEN_COOKIE:
            return value
    return None


async def _refuse(send: Send, status: int, text: str) -> None:
    body = text.encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8")]
    headers += [(k.encode(), v.encode()) for k, v in HEADERS.items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
