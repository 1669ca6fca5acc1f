"""What the local host refuses before a function sees a request: it is a web server on a developer's machine.

* A ``Host`` header naming another server (DNS rebinding: a web page on ``evil.example`` whose name now resolves to
  127.0.0.1 reads and writes the catalog with the browser's help) → 421.
* A write whose body is not declared ``application/json`` → 415: a cross-site ``text/plain`` form POST needs no
  CORS preflight, so without this check any web page could write products.
* A compressed body (``Content-Encoding`` other than ``identity``) → 415: the Functions host does not decompress
  requests either, and a function must not be handed bytes it cannot read.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from aiohttp import web

from devhost.http_responses import refusal

#: Names that always mean this machine.
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
#: Methods whose body the functions read and write into the store.
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or name to bind) is reachable from this machine only."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _is_ip_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


def _split_host_header(value: str) -> tuple[str, int | None]:
    """``("127.0.0.1", 7071)`` from ``127.0.0.1:7071``; ``[::1]:7071`` keeps its brackets; no port → ``None``."""
    value = value.strip().lower()
    if value.startswith("["):
        name, _, rest = value.partition("]")
        name += "]"
        port_text = rest[1:] if rest.startswith(":") else ("" if not rest else "?")
    else:
        name, colon, port_text = value.rpartition(":")
        if not colon:
            name, port_text = value, ""
    if not port_text:
        return name, None
    return name, int(port_text) if port_text.isdigit() else -1


class HostHeaderGuard:
    """Accepts the ``Host`` headers that name this server: the bound address, loopback names or an IP address.

    An IP address cannot be the ``Host`` of a rebinding attack (the attacker's page has a domain name), and it is how
    other machines reach a host started with ``--allow-remote``.

    Args:
        bound_host: the address or name the host listens on.
        port: the port it listens on.
    """

    def __init__(self, bound_host: str, port: int) -> None:
        bound = bound_host.lower()
        self.port = port
        self.names = frozenset({*LOOPBACK_NAMES, f"[{bound}]" if ":" in bound else bound})

    def expected(self) -> str:
        return " or ".join(f"{name}:{self.port}" for name in sorted(self.names))

    def accepts(self, header: str | None) -> bool:
        if header is None:
            return True  # HTTP/1.0 allows leaving it out; no browser does, so no rebinding attack can
        name, port = _split_host_header(header)
        return (port or 80) == self.port and (name in self.names or _is_ip_literal(name))

    def refusal(self, header: str | None) -> web.Response | None:
        """The 421 answer for a ``Host`` header naming another server, else ``None``."""
        if self.accepts(header):
            return None
        return refusal(
            421,
            f"Host {header!r} is not this server (expected {self.expected()}); the local host refuses other names "
            "so that no web page can reach it through DNS rebinding",
            "host",
            close=True,
        )


def _has_body(request: web.BaseRequest) -> bool:
    return bool(request.content_length) or "chunked" in request.headers.get("Transfer-Encoding", "").lower()


def _codings(header: str) -> Iterable[str]:
    return (part.strip().lower() for part in header.split(",") if part.strip())


def is_json_media_type(content_type: str) -> bool:
    """``application/json`` or a ``+json`` type such as ``application/merge-patch+json`` (parameters ignored)."""
    media_type = content_type.partition(";")[0].strip().lower()
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))


def body_refusal(request: web.BaseRequest) -> web.Response | None:
    """The 415 answer for a body the host does not pass on (compressed, or a write not declared JSON), else ``None``."""
    if not _has_body(request):
        return None
    encoding = request.headers.get("Content-Encoding", "")
    unsupported = [coding for coding in _codings(encoding) if coding != "identity"]
    if unsupported:
        return refusal(
            415,
            f"content-encoding {', '.join(unsupported)} is not supported: send the body uncompressed",
            "content-encoding",
            close=True,
        )
    content_type = request.headers.get("Content-Type", "")
    if request.method.upper() in WRITE_METHODS and not is_json_media_type(content_type):
        return refusal(
            415,
            f"content-type must be application/json for a {request.method.upper()} with a body; "
            + (f"got {content_type!r}" if content_type else "the request has none"),
            "content-type",
            close=True,
        )
    return None
