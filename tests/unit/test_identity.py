"""Identity comes from a verified source only; rate limits are per caller and bounded."""

from __future__ import annotations

import base64
import json

import azure.functions as func
import pytest

from blueprints.identity import OPERATOR_ROLE, caller_of
from blueprints.rate_limit import RateLimitedError, RateLimiter, rate_key
from composition.settings import load_settings


def request(headers: dict[str, str] | None = None, url: str = "http://127.0.0.1:7071/api/chat") -> func.HttpRequest:
    return func.HttpRequest("POST", url, headers=headers or {}, body=b"{}")


def principal_header(roles: list[str]) -> str:
    claims = [{"typ": "roles", "val": role} for role in roles]
    return base64.b64encode(json.dumps({"auth_typ": "aad", "claims": claims, "role_typ": "roles"}).encode()).decode()


def test_claimed_identity_headers_are_ignored_unless_trusted() -> None:
    settings = load_settings({})
    forged = request({"X-MS-CLIENT-PRINCIPAL-ID": "victim", "X-User-Id": "victim"})
    caller = caller_of(forged, settings)
    assert caller.principal.startswith("visitor:") and "victim" not in caller.principal
    assert caller.set_cookie and "HttpOnly" in caller.set_cookie and "SameSite=Lax" in caller.set_cookie


def test_easy_auth_principal_and_roles_are_used_when_the_app_is_told_easy_auth_runs() -> None:
    settings = load_settings({"AUTH_TRUST_EASY_AUTH": "true"})
    headers = {"X-MS-CLIENT-PRINCIPAL-ID": "abc", "X-MS-CLIENT-PRINCIPAL": principal_header([OPERATOR_ROLE])}
    caller = caller_of(request(headers), settings)
    assert caller.principal == "aad:abc" and caller.is_operator and caller.set_cookie is None
    shopper = caller_of(request({"X-MS-CLIENT-PRINCIPAL-ID": "def"}), settings)
    assert not shopper.is_operator


def test_a_visitor_cookie_is_recognised_and_a_forged_one_replaced() -> None:
    settings = load_settings({"SESSION_COOKIE_SECRET": "s" * 40})
    first = caller_of(request(), settings)
    assert first.set_cookie is not None
    cookie = first.set_cookie.split(";", 1)[0]
    again = caller_of(request({"Cookie": cookie}), settings)
    assert again.principal == first.principal and again.set_cookie is None

    visitor = first.principal.removeprefix("visitor:")
    forged = caller_of(request({"Cookie": f"catalog_visitor={visitor}.AAAA"}), settings)
    assert forged.principal != first.principal and forged.set_cookie is not None
    other_key = caller_of(request({"Cookie": cookie}), load_settings({"SESSION_COOKIE_SECRET": "t" * 40}))
    assert other_key.principal != first.principal


def test_the_cookie_is_secure_over_https() -> None:
    caller = caller_of(request(url="https://shop.example/api/chat"), load_settings({}))
    assert caller.set_cookie is not None and "Secure" in caller.set_cookie


def test_a_caller_over_the_limit_gets_429_with_the_wait_and_recovers() -> None:
    now = [0.0]
    limiter = RateLimiter(per_minute=3, clock=lambda: now[0])
    for _ in range(3):
        limiter.take("a")
    with pytest.raises(RateLimitedError) as refused:
        limiter.take("a")
    assert refused.value.status == 429 and refused.value.retry_after == 20
    limiter.take("b")  # another caller is unaffected
    now[0] += 20
    limiter.take("a")  # waited what was asked: one request is allowed again


def test_anonymous_callers_are_limited_by_the_address_the_platform_saw() -> None:
    settings = load_settings({})
    req = request({"X-Forwarded-For": "6.6.6.6, 203.0.113.9"})
    assert rate_key(req, caller_of(req, settings)) == "addr:203.0.113.9"
