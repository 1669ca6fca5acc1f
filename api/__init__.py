"""Typed request and response bodies of the HTTP API (pydantic v2); the OpenAPI document is generated from them."""
