"""Who is calling, from a verified source only: the cache scope, session ownership and rate limits key on it.

In order:

1. **Easy Auth** (App Service authentication), only when ``AUTH_TRUST_EASY_AUTH`` is on — ``infra/`` turns it on
   together with Easy Auth itself, which strips any ``X-MS-CLIENT-PRINCIPAL*`` header a client sends. Without
   Easy Auth in front, those headers are just text anyone can type, and they are ignored.
2. **A development header** (``CHAT_USER_HEADER``, e.g. ``X-User-Id``), only when ``AUTH_TRUST_USER_HEADER`` is on
   (never in Azure: a test rig or a trusted gateway that sets it).
3. **A signed, HttpOnly cookie** the server issues on first contact: a random 128-bit id and its HMAC-SHA256 under
   ``SESSION_COOKIE_SECRET`` (a random per-process secret when unset: cookies then last until restart). A cookie
   whose signature does not verify is replaced, never trusted.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from typing import Any

import azure.functions as func

from composition.settings import Settings

COOKIE_NAME = "catalog_visitor"
COOKIE_MAX_AGE = 365 * 86_400
PRINCIPAL_ID_HEADER = "X-MS-CLIENT-PRINCIPAL-ID"
PRINCIPAL_HEADER = "X-MS-CLIENT-PRINCIPAL"
#: The app role an operator holds (``infra/`` declares it on the app registration).
OPERATOR_ROLE = "Catalog.Operator"
_process_secret = secrets.token_bytes(32)


@dataclass(frozen=True)
class Caller:
    """A verified caller.

    Attributes:
        principal: a stable id prefixed by where it was verified (``aad:``, ``dev:``, ``visitor:``).
        roles: app roles from Easy Auth's principal (empty otherwise).
        set_cookie: the ``Set-Cookie`` value to send when this request issued a new visitor cookie.
    """

    principal: str
    roles: frozenset[str] = frozenset()
    set_cookie: str | None = None

    @property
    def is_operator(self) -> bool:
        return OPERATOR_ROLE in self.roles


def caller_of(req: func.HttpRequest, settings: Settings) -> Caller:
    """The verified caller of ``req`` (see the module docstring)."""
    if settings.AUTH_TRUST_EASY_AUTH:
        principal_id = (req.headers.get(PRINCIPAL_ID_HEADER) or "").strip()
        if principal_id:
            return Caller("aad:" + principal_id, _easy_auth_roles(req.headers.get(PRINCIPAL_HEADER)))
    if settings.AUTH_TRUST_USER_HEADER:
        claimed = (req.headers.get(settings.CHAT_USER_HEADER) or "").strip()
        if claimed:
            return Caller("dev:" + claimed)
    secret = _secret(settings)
    visitor = _verified_visitor(req.headers.get("Cookie"), secret)
    if visitor is not None:
        return Caller("visitor:" + visitor)
    visitor = secrets.token_hex(16)
    secure = "; Secure" if req.url.lower().startswith("https:") else ""
    cookie = (
        f"{COOKIE_NAME}={visitor}.{_signature(visitor, secret)}; Path=/; Max-Age={COOKIE_MAX_AGE}; HttpOnly; "
        f"SameSite=Lax{secure}"
    )
    return Caller("visitor:" + visitor, set_cookie=cookie)


def with_cookie(response: func.HttpResponse, caller: Caller) -> func.HttpResponse:
    """``response`` carrying the caller's new visitor cookie, when one was issued."""
    if caller.set_cookie:
        response.headers["Set-Cookie"] = caller.set_cookie
    return response


def _secret(settings: Settings) -> bytes:
    return settings.SESSION_COOKIE_SECRET.encode("utf-8") if settings.SESSION_COOKIE_SECRET else _process_secret


def _signature(visitor: str, secret: bytes) -> str:
    digest = hmac.new(secret, visitor.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def _verified_visitor(header: str | None, secret: bytes) -> str | None:
    if not header:
        return None
    try:
        cookie = SimpleCookie(header)
    except CookieError:
        return None
    morsel = cookie.get(COOKIE_NAME)
    if morsel is None:
        return None
    visitor, _, signature = morsel.value.partition(".")
    if len(visitor) != 32 or not all(c in "0123456789abcdef" for c in visitor):
        return None
    return visitor if hmac.compare_digest(signature, _signature(visitor, secret)) else None


def _easy_auth_roles(encoded: str | None) -> frozenset[str]:
    """App roles from ``X-MS-CLIENT-PRINCIPAL`` (base64 JSON with ``claims``; role claims are typed ``roles``)."""
    if not encoded:
        return frozenset()
    try:
        principal: Any = json.loads(base64.b64decode(encoded))
    except (binascii.Error, ValueError):
        return frozenset()
    claims = principal.get("claims") if isinstance(principal, dict) else None
    role_type = principal.get("role_typ", "roles") if isinstance(principal, dict) else "roles"
    if not isinstance(claims, list):
        return frozenset()
    return frozenset(
        str(claim.get("val"))
        for claim in claims
        if isinstance(claim, dict) and claim.get("typ") in (role_type, "roles") and claim.get("val")
    )
