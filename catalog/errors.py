"""Errors the catalog raises for a client's mistakes; the HTTP layer maps each to one status code."""

from __future__ import annotations


class ClientError(Exception):
    """The request cannot be served as asked; the message is safe to show the client.

    Attributes:
        status: the HTTP status this error maps to.
        field: the request field at fault, when one is.
    """

    status = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_json(self) -> dict[str, str]:
        body = {"error": self.message}
        if self.field:
            body["field"] = self.field
        return body


class ValidationError(ClientError):
    """A field is missing, of the wrong type or out of bounds (HTTP 400)."""


class PayloadTooLargeError(ClientError):
    """The body or a list in it is larger than the configured limit (HTTP 413)."""

    status = 413


class ForbiddenError(ClientError):
    """The caller is known but may not do this (HTTP 403)."""

    status = 403


class ProductNotFoundError(ClientError):
    """No product has that id (HTTP 404)."""

    status = 404


class PreconditionError(ClientError):
    """The client's ``If-Match`` ETag is not the stored one (HTTP 412)."""

    status = 412
