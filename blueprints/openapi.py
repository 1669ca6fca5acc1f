"""``GET /api/openapi.json``: an OpenAPI 3.0 description of the HTTP API.

The bounds in it are read from the settings object and the validators' own constants (never restated), so the
document and what the handlers enforce cannot drift apart.
"""

from __future__ import annotations

from typing import Any

import azure.functions as func

from blueprints.http import MAX_JSON_DEPTH, handle, json_response
from catalog import model, search
from chat.service import SESSION_ID_PATTERN
from composition.services import Services
from composition.settings import Settings

bp = func.Blueprint()

OPENAPI_VERSION = "3.0.3"
#: URL paths cannot carry these as a segment (clients and proxies collapse them), so ids refuse them.
DOT_SEGMENTS = [".", ".."]
# Python's str.strip()/isspace() and ECMA-262's \s agree closely enough for "not blank" and "no surrounding spaces".
_NOT_BLANK = r"\S"
_PRODUCT_ID = r"^[^/\\?#\s]([^/\\?#]*[^/\\?#\s])?$"


@bp.function_name("openapi")
@bp.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def openapi(req: func.HttpRequest) -> func.HttpResponse:
    return await handle(req, _openapi)


async def _openapi(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    """The document for the limits this app instance enforces (the settings defaults unless configured)."""
    return json_response(openapi_document(services.settings))


def _ref(name: str, kind: str = "schemas") -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    names = {400: "BadRequest", 404: "NotFound", 412: "PreconditionFailed", 413: "PayloadTooLarge"}
    responses: dict[str, Any] = {str(status): _ref(names[status], "responses") for status in statuses}
    responses["500"] = _ref("InternalError", "responses")
    return responses


def _json_body(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"required": True, "description": description, "content": {"application/json": {"schema": schema}}}


# Search takes its numbers as text too (query strings carry nothing else), so those schemas admit the same text.
_OPTIONAL_NUMBER_TEXT = f"^({search.NUMBER_TEXT.pattern})?$"
_WHOLE_NUMBER_TEXT = f"^{search.WHOLE_NUMBER_TEXT.pattern}$"
_FLAG_TEXT = r"^[ \t]*([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee]|[Yy][Ee][Ss]|[Nn][Oo]|[01])?[ \t]*$"


def _search_mode(s: Settings, *, nullable: bool) -> dict[str, Any]:
    return {
        "type": "string",
        "enum": [*search.SEARCH_MODES, "", *([None] if nullable else [])],
        "nullable": nullable,
        "default": s.SEARCH_MODE,
        "description": "`vector` (cosine) or `hybrid` (reciprocal rank fusion of vector and full-text ranks); "
        "empty means the default (SEARCH_MODE).",
    }


def _price_filter(*, in_query: bool) -> dict[str, Any]:
    """``min_price``/``max_price``: a number >= 0, in a body also as text; empty text (or null) is no bound."""
    text: dict[str, Any] = {"type": "string", "maxLength": 0}
    if not in_query:
        text = {"type": "string", "pattern": _OPTIONAL_NUMBER_TEXT}
    number: dict[str, Any] = {"type": "number", "minimum": 0}
    if not in_query:
        number["nullable"] = text["nullable"] = True
    return {"anyOf": [number, text], "description": "A finite number >= 0; empty means no bound."}


def _category_filter(*, in_query: bool) -> dict[str, Any]:
    return {
        "type": "string",
        "maxLength": search.MAX_CATEGORY_LENGTH,
        "pattern": r"^[^\u0000]*$",
        **({} if in_query else {"nullable": True}),
        "description": "Exact `category_name` to match; empty (or null) means any.",
    }


def _schemas(s: Settings) -> dict[str, Any]:
    price = {"type": "number", "minimum": 0, "nullable": True, "description": "A finite number >= 0."}
    product_id = {
        "type": "string",
        "minLength": 1,
        "maxLength": model.MAX_ID_LENGTH,
        "pattern": _PRODUCT_ID,
        "not": {"enum": DOT_SEGMENTS},
        "description": "No `/ \\ ? #`, no leading or trailing whitespace, not `.` or `..`.",
    }
    server_fields = sorted(model.SERVER_FIELDS)
    filters: dict[str, Any] = {
        "type": "object",
        "description": "Search filters; min_price must not exceed max_price (400 naming min_price).",
        "properties": {
            "category": _category_filter(in_query=False),
            "min_price": _price_filter(in_query=False),
            "max_price": _price_filter(in_query=False),
        },
    }
    citation = {
        "type": "object",
        "required": ["id", "name", "score"],
        "properties": {"id": {"type": "string"}, "name": {"type": "string"}, "score": {"type": "number"}},
    }
    milliseconds = {"type": "number", "minimum": 0}
    usage = {
        "type": "object",
        "required": ["prompt_tokens", "completion_tokens"],
        "properties": {
            "prompt_tokens": {"type": "integer", "minimum": 0},
            "completion_tokens": {"type": "integer", "minimum": 0},
            "total_tokens": {"type": "integer", "minimum": 0},
        },
    }
    return {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {"type": "string", "description": "What is wrong, with the limit broken."},
                "field": {"type": "string", "description": "The request field at fault, e.g. `products[3].price`."},
            },
        },
        "InternalError": {
            "type": "object",
            "required": ["error", "request_id"],
            "properties": {
                "error": {"type": "string", "enum": ["internal error"]},
                "request_id": {"type": "string", "description": "Find the traceback in the server log by this."},
            },
        },
        "OpenAIError": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["message", "type"],
                    "properties": {
                        "message": {"type": "string"},
                        "type": {"type": "string", "enum": ["invalid_request_error"]},
                        "param": {"type": "string", "nullable": True},
                        "code": {"type": "string", "nullable": True},
                    },
                }
            },
        },
        "ProductId": product_id,
        "ProductInput": {
            "type": "object",
            "description": (
                "Any other fields of yours are kept, except names starting with `_` and the service's fields "
                f"({', '.join(server_fields)}). Nested at most {MAX_JSON_DEPTH} levels."
            ),
            "required": ["name", "description"],
            "properties": {
                "id": {
                    **product_id,
                    "nullable": True,
                    "description": "Optional; when present (not null) it must equal the id in the URL.",
                },
                "name": {"type": "string", "minLength": 1, "maxLength": model.MAX_NAME_LENGTH, "pattern": _NOT_BLANK},
                "description": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": model.MAX_DESCRIPTION_LENGTH,
                    "pattern": _NOT_BLANK,
                },
                "category_name": {"type": "string", "maxLength": model.MAX_CATEGORY_LENGTH, "nullable": True},
                "price": price,
                "tags": {"type": "array", "items": {"type": "string"}, "nullable": True},
                **{name: {"not": {}, "description": "Written by the service only."} for name in server_fields},
            },
        },
        "BulkProductInput": {
            "allOf": [_ref("ProductInput"), {"type": "object", "required": ["id"], "properties": {"id": product_id}}],
            "description": "A product with its `id`.",
        },
        "EmbeddingInfo": {
            "type": "object",
            "properties": {
                "status": {"type": "string", "enum": [model.STATUS_EMBEDDED, model.STATUS_FAILED]},
                "model": {"type": "string"},
                "dimensions": {"type": "integer"},
                "content_hash": {"type": "string"},
                "embedded_at": {"type": "string"},
                "truncated": {"type": "boolean"},
                "error": {"type": "string"},
            },
        },
        "Product": {
            "type": "object",
            "description": "A stored product as a client sees it (with every field the client wrote).",
            "required": ["id", "embedding_status"],
            "properties": {
                "id": {"type": "string"},
                "name": {"type": "string"},
                "description": {"type": "string"},
                "category_name": {"type": "string", "nullable": True},
                "price": {"type": "number", "nullable": True},
                "tags": {"type": "array", "items": {"type": "string"}, "nullable": True},
                "_etag": {"type": "string"},
                "_ts": {"type": "integer"},
                "deleted": {"type": "boolean"},
                "deleted_at": {"type": "string"},
                "embedding_status": {
                    "type": "string",
                    "enum": [model.STATUS_PENDING, model.STATUS_EMBEDDED, model.STATUS_FAILED],
                },
                "embedding_info": _ref("EmbeddingInfo"),
                "embedding": {
                    "type": "array",
                    "items": {"type": "number"},
                    "description": "Only with `?include_vector=true`.",
                },
            },
        },
        "ProductWritten": {
            "allOf": [
                _ref("Product"),
                {
                    "type": "object",
                    "required": ["outcome"],
                    "properties": {"outcome": {"type": "string", "enum": ["created", "updated", "unchanged"]}},
                },
            ]
        },
        "BulkResult": {
            "type": "object",
            "required": ["created", "updated", "unchanged", "ids"],
            "properties": {
                "created": {"type": "integer", "minimum": 0},
                "updated": {"type": "integer", "minimum": 0},
                "unchanged": {"type": "integer", "minimum": 0},
                "ids": {"type": "array", "items": {"type": "string"}},
            },
        },
        "SearchInput": {
            "type": "object",
            "required": ["q"],
            "properties": {
                "q": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": search.MAX_QUERY_LENGTH,
                    "pattern": _NOT_BLANK,
                    "description": "The text to search for.",
                },
                "k": {
                    "anyOf": [
                        {"type": "integer", "minimum": 1, "maximum": s.SEARCH_MAX_K},
                        {"type": "string", "pattern": _WHOLE_NUMBER_TEXT, "description": "The same, as text."},
                    ],
                    "default": s.SEARCH_DEFAULT_K,
                },
                **filters["properties"],
                "mode": _search_mode(s, nullable=True),
            },
        },
        "SearchResult": {
            "type": "object",
            "required": ["query", "k", "filters", "mode", "results", "timings"],
            "properties": {
                "query": {"type": "string"},
                "k": {"type": "integer", "minimum": 1, "maximum": s.SEARCH_MAX_K},
                "mode": {"type": "string", "enum": list(search.SEARCH_MODES)},
                "filters": {
                    "type": "object",
                    "required": ["category", "min_price", "max_price"],
                    "properties": {
                        "category": {"type": "string", "nullable": True},
                        "min_price": price,
                        "max_price": price,
                    },
                },
                "results": {
                    "type": "array",
                    "maxItems": s.SEARCH_MAX_K,
                    "items": {
                        "type": "object",
                        "required": ["id", "score"],
                        "properties": {"id": {"type": "string"}, "score": {"type": "number"}},
                        "description": "The stored product (without its vector) and its cosine similarity.",
                    },
                },
                "timings": {
                    "type": "object",
                    "required": ["embed_ms", "search_ms"],
                    "properties": {"embed_ms": milliseconds, "search_ms": milliseconds},
                },
            },
        },
        "ChatInput": {
            "type": "object",
            "required": ["message"],
            "properties": {
                "message": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": s.CHAT_MAX_MESSAGE_CHARS,
                    "pattern": _NOT_BLANK,
                },
                "session_id": {
                    "type": "string",
                    "pattern": SESSION_ID_PATTERN,
                    "not": {"enum": DOT_SEGMENTS},
                    "nullable": True,
                    "description": "Continue this conversation; a new one when absent or null.",
                },
                "filters": {**filters, "nullable": True},
                "k": {"type": "integer", "minimum": 1, "maximum": s.CHAT_MAX_K, "default": s.CHAT_DEFAULT_K},
                "stream": {
                    "type": "boolean",
                    "default": False,
                    "description": "Answer as server-sent events: `start`, `token`..., then `done` or `error`.",
                },
            },
        },
        "ChatAnswer": {
            "type": "object",
            "required": ["session_id", "answer", "citations", "cached", "timings", "usage"],
            "properties": {
                "session_id": {"type": "string"},
                "answer": {"type": "string"},
                "citations": {"type": "array", "items": citation},
                "cached": {"type": "boolean"},
                "cache_score": {"type": "number", "description": "Only when served from the semantic cache."},
                "timings": {
                    "type": "object",
                    "required": ["embed_ms", "cache_ms", "search_ms", "llm_ms", "total_ms"],
                    "properties": {
                        name: milliseconds for name in ("embed_ms", "cache_ms", "search_ms", "llm_ms", "total_ms")
                    },
                },
                "usage": usage,
            },
        },
        "ChatSession": {
            "type": "object",
            "required": ["session_id", "turns"],
            "properties": {
                "session_id": {"type": "string"},
                "turns": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": s.CHAT_HISTORY_MAX_TURNS,
                    "items": {
                        "type": "object",
                        "required": ["message", "question", "answer", "citations", "cached", "created_at"],
                        "properties": {
                            "message": {"type": "string"},
                            "question": {"type": "string", "description": "The standalone question searched for."},
                            "answer": {"type": "string"},
                            "citations": {"type": "array", "items": citation},
                            "cached": {"type": "boolean"},
                            "created_at": {"type": "string"},
                        },
                    },
                },
            },
        },
        "ChatSessionDeleted": {
            "type": "object",
            "required": ["session_id", "deleted_turns"],
            "properties": {"session_id": {"type": "string"}, "deleted_turns": {"type": "integer", "minimum": 1}},
        },
        "ChatCompletionInput": {
            "type": "object",
            "required": ["messages"],
            "description": (
                "The last message not from `system` must come from `user` (400 naming messages); its content is "
                f"the question, at most {s.CHAT_MAX_MESSAGE_CHARS} characters. Client system messages are dropped."
            ),
            "properties": {
                "messages": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": s.CHAT_MAX_MESSAGES,
                    "items": {
                        "type": "object",
                        "required": ["role", "content"],
                        "properties": {
                            "role": {"type": "string", "enum": ["system", "user", "assistant"]},
                            "content": {
                                "oneOf": [
                                    {"type": "string"},
                                    {
                                        "type": "array",
                                        "description": "Content parts; the `text` of `type: text` parts is used.",
                                        "items": {
                                            "type": "object",
                                            "properties": {"type": {"type": "string"}, "text": {"type": "string"}},
                                        },
                                    },
                                ]
                            },
                        },
                    },
                },
                "stream": {"type": "boolean", "default": False},
                "model": {"description": "Echoed back; the configured chat model answers."},
                "user": {"description": "A string names the semantic-cache scope when no user header does."},
            },
        },
        "ChatCompletion": {
            "type": "object",
            "required": ["id", "object", "created", "model", "choices", "usage"],
            "properties": {
                "id": {"type": "string"},
                "object": {"type": "string", "enum": ["chat.completion"]},
                "created": {"type": "integer"},
                "model": {"type": "string"},
                "choices": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["index", "message", "finish_reason"],
                        "properties": {
                            "index": {"type": "integer"},
                            "message": {
                                "type": "object",
                                "required": ["role", "content"],
                                "properties": {
                                    "role": {"type": "string", "enum": ["assistant"]},
                                    "content": {"type": "string"},
                                },
                            },
                            "finish_reason": {"type": "string"},
                        },
                    },
                },
                "usage": usage,
                "citations": {"type": "array", "items": citation},
                "cached": {"type": "boolean"},
            },
        },
        "Health": {
            "type": "object",
            "required": ["status", "store", "pipeline", "embedding"],
            "properties": {
                "status": {"type": "string", "enum": ["ok"]},
                "store": {"type": "string"},
                "pipeline": {
                    "type": "object",
                    "description": "Counts since the process started.",
                    "properties": {
                        name: {"type": "number", "minimum": 0}
                        for name in (
                            "seen",
                            "skipped",
                            "embedded",
                            "failed",
                            "conflicts",
                            "truncated",
                            "embed_requests",
                            "duration_ms",
                        )
                    },
                },
                "embedding": {
                    "type": "object",
                    "required": ["backend", "model", "dimensions", "requests_sent"],
                    "properties": {
                        "backend": {"type": "string"},
                        "model": {"type": "string"},
                        "dimensions": {"type": "integer", "minimum": 1},
                        "requests_sent": {"type": "integer", "minimum": 0},
                    },
                },
            },
        },
    }


def _responses(s: Settings) -> dict[str, Any]:
    return {
        "BadRequest": _json(_ref("Error"), "A field is missing, of the wrong type or out of bounds; `field` names it."),
        "NotFound": _json(_ref("Error"), "No such product, session or route."),
        "PreconditionFailed": _json(
            _ref("Error"), "`If-Match` is not the stored ETag, or the document kept changing (field `id`)."
        ),
        "PayloadTooLarge": _json(
            _ref("Error"),
            f"The body is over MAX_REQUEST_BYTES ({s.MAX_REQUEST_BYTES}) or a list over its item limit.",
        ),
        "InternalError": _json(_ref("InternalError"), "Unexpected failure: only a request id, never a traceback."),
        "MethodNotAllowed": {
            "description": "The path exists but not for this method; `Allow` lists the methods it takes.",
            "headers": {"Allow": {"schema": {"type": "string"}}},
            "content": {
                "application/json": {
                    "schema": {
                        "allOf": [
                            _ref("Error"),
                            {
                                "type": "object",
                                "properties": {"allowed": {"type": "array", "items": {"type": "string"}}},
                            },
                        ]
                    }
                }
            },
        },
    }


def _product_operations() -> dict[str, Any]:
    id_parameter = {"name": "id", "in": "path", "required": True, "schema": _ref("ProductId")}
    if_match = {
        "name": "If-Match",
        "in": "header",
        "required": False,
        "description": "The `_etag` read earlier: the write happens only if the product is still that version.",
        "schema": {"type": "string"},
    }
    etag = {"ETag": {"description": "The stored version.", "schema": {"type": "string"}}}

    def product(description: str, schema: str = "Product") -> dict[str, Any]:
        return {**_json(_ref(schema), description), "headers": etag}

    return {
        "parameters": [id_parameter],
        "get": {
            "operationId": "getProduct",
            "summary": "Read a product with its embedding status (soft-deleted ones too).",
            "parameters": [
                {
                    "name": "include_vector",
                    "in": "query",
                    "required": False,
                    "description": "Add the vector (`embedding`).",
                    "schema": {
                        "type": "string",
                        "pattern": _FLAG_TEXT,
                        "default": "false",
                        "description": "true/false, yes/no or 1/0 (any case); empty is false.",
                    },
                }
            ],
            "responses": {"200": product("The product."), **_errors(400, 404)},
        },
        "put": {
            "operationId": "putProduct",
            "summary": "Create or replace a product; the pipeline's fields are kept.",
            "parameters": [if_match],
            "requestBody": _json_body(_ref("ProductInput"), "The product's fields."),
            "responses": {
                "200": product("Replaced (or stored unchanged).", "ProductWritten"),
                "201": product("Created.", "ProductWritten"),
                **_errors(400, 412, 413),
            },
        },
        "delete": {
            "operationId": "deleteProduct",
            "summary": "Soft delete: `deleted: true`; it leaves search at once; a later PUT restores it.",
            "parameters": [if_match],
            "responses": {"200": product("The product, marked deleted."), **_errors(404, 412)},
        },
    }


def _search_operations(s: Settings) -> dict[str, Any]:
    responses = {"200": _json(_ref("SearchResult"), "The nearest live products, best first.")}
    parameters = [
        {
            "name": "q",
            "in": "query",
            "required": True,
            "schema": {"type": "string", "minLength": 1, "maxLength": search.MAX_QUERY_LENGTH, "pattern": _NOT_BLANK},
        },
        {
            "name": "k",
            "in": "query",
            "required": False,
            "schema": {"type": "integer", "minimum": 1, "maximum": s.SEARCH_MAX_K, "default": s.SEARCH_DEFAULT_K},
        },
        {"name": "category", "in": "query", "required": False, "schema": _category_filter(in_query=True)},
        *(
            {"name": name, "in": "query", "required": False, "schema": _price_filter(in_query=True)}
            for name in ("min_price", "max_price")
        ),
        {"name": "mode", "in": "query", "required": False, "schema": _search_mode(s, nullable=False)},
    ]
    return {
        "get": {
            "operationId": "searchGet",
            "summary": "Products most similar in meaning to `q` (repeated parameters are joined with commas).",
            "parameters": parameters,
            "responses": {**responses, **_errors(400)},
        },
        "post": {
            "operationId": "searchPost",
            "summary": "The same search with a JSON body.",
            "requestBody": _json_body(_ref("SearchInput"), "The search."),
            "responses": {**responses, **_errors(400, 413)},
        },
    }


def _chat_operations(s: Settings) -> dict[str, dict[str, Any]]:
    def event_stream(names: list[str], data: str) -> dict[str, Any]:
        """One server-sent event (how SSE-aware tools such as schemathesis read a text/event-stream schema)."""
        event = {"type": "string", "enum": names, "description": "Without an `event:` line, `message`."}
        return {
            "schema": {
                "type": "object",
                "required": ["data"],
                "properties": {"event": event, "data": {"type": "string", "description": data}},
            }
        }

    session_parameter = {
        "name": "session_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": SESSION_ID_PATTERN, "not": {"enum": DOT_SEGMENTS}},
    }
    openai_errors = {
        "400": _json(_ref("OpenAIError"), "Invalid request, in OpenAI's error shape (`param` names the field)."),
        "413": {
            "description": "The body is too large (OpenAI's shape, or the host's when over MAX_REQUEST_BYTES).",
            "content": {"application/json": {"schema": {"oneOf": [_ref("OpenAIError"), _ref("Error")]}}},
        },
        "500": _ref("InternalError", "responses"),
    }
    return {
        "/chat": {
            "post": {
                "operationId": "chat",
                "summary": "Answer a question about the catalog from retrieved products (RAG).",
                "requestBody": _json_body(_ref("ChatInput"), "The question."),
                "responses": {
                    "200": {
                        "description": "The answer; with `stream: true`, events `start`, `token`..., `done` "
                        "(the same JSON) or `error`.",
                        "content": {
                            "application/json": {"schema": _ref("ChatAnswer")},
                            "text/event-stream": event_stream(
                                ["start", "token", "done", "error"],
                                "JSON: start `{session_id}`, token `{text}`, done the ChatAnswer, error "
                                "`{error, request_id}`.",
                            ),
                        },
                    },
                    **_errors(400, 413),
                },
            }
        },
        "/chat/{session_id}": {
            "parameters": [session_parameter],
            "get": {
                "operationId": "getChatSession",
                "summary": "The session's turns, oldest first.",
                "responses": {"200": _json(_ref("ChatSession"), "The turns."), **_errors(400, 404)},
            },
            "delete": {
                "operationId": "deleteChatSession",
                "summary": "Forget the session.",
                "responses": {"200": _json(_ref("ChatSessionDeleted"), "Forgotten."), **_errors(400, 404)},
            },
        },
        "/v1/chat/completions": {
            "post": {
                "operationId": "chatCompletions",
                "summary": "The OpenAI chat-completions format over the same flow; stateless (history = messages).",
                "requestBody": _json_body(_ref("ChatCompletionInput"), "An OpenAI chat-completions request."),
                "responses": {
                    "200": {
                        "description": "A `chat.completion`; with `stream: true`, `chat.completion.chunk` events "
                        "ending with `data: [DONE]`.",
                        "content": {
                            "application/json": {"schema": _ref("ChatCompletion")},
                            "text/event-stream": event_stream(
                                ["message"], "A `chat.completion.chunk` as JSON; the last event is `[DONE]`."
                            ),
                        },
                    },
                    **openai_errors,
                },
            }
        },
    }


def openapi_document(settings: Settings | None = None) -> dict[str, Any]:
    """The OpenAPI 3.0 document of the HTTP API, with the bounds ``settings`` enforce (default: the defaults)."""
    s = settings or Settings()
    anonymous: list[dict[str, list[str]]] = []
    paths: dict[str, Any] = {
        "/products/{id}": _product_operations(),
        "/products": {
            "post": {
                "operationId": "putProducts",
                "summary": "Create or replace many products; all are validated before any is written.",
                "requestBody": _json_body(
                    {
                        "oneOf": [
                            {"type": "array", "items": _ref("BulkProductInput"), "minItems": 1},
                            {
                                "type": "object",
                                "required": ["products"],
                                "properties": {
                                    "products": {"type": "array", "items": _ref("BulkProductInput"), "minItems": 1}
                                },
                            },
                        ]
                    },
                    f'A list of products, or `{{"products": [...]}}`; more than MAX_BULK_PRODUCTS '
                    f"({s.MAX_BULK_PRODUCTS}) is a 413 naming `products`; a repeated id is a 400.",
                ),
                "responses": {
                    "200": _json(_ref("BulkResult"), "How many were created, updated or unchanged, and their ids."),
                    **_errors(400, 412, 413),
                },
            }
        },
        "/search": _search_operations(s),
        **_chat_operations(s),
        "/health": {
            "get": {
                "operationId": "health",
                "summary": "Liveness, the backends in use and the pipeline's counts since start.",
                "security": anonymous,
                "responses": {"200": _json(_ref("Health"), "Alive."), **_errors()},
            }
        },
        "/ui": {
            "get": {
                "operationId": "chatPage",
                "summary": "The web chat page.",
                "security": anonymous,
                "responses": {
                    "200": {"description": "HTML.", "content": {"text/html": {"schema": {"type": "string"}}}},
                    **_errors(),
                },
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document.",
                "security": anonymous,
                "responses": {"200": _json({"type": "object"}, "OpenAPI 3.0."), **_errors()},
            }
        },
    }
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Catalog search",
            "version": "1.0.0",
            "description": (
                'Products, vector search and a RAG chat over the catalog. Errors are JSON `{"error", "field"?}`: '
                "400 names the invalid field; 404 unknown product, session or route; 405 a method the path does "
                "not take (with `Allow`, see components.responses.MethodNotAllowed); 412 stale `If-Match`; 413 a body "
                f"over MAX_REQUEST_BYTES ({s.MAX_REQUEST_BYTES}) or too many bulk items; 500 only a request id. "
                f"JSON bodies must be UTF-8 and nested at most {MAX_JSON_DEPTH} levels; NaN, Infinity and lone "
                "surrogates are refused. In Azure, routes other than health, ui and openapi.json need a function key "
                "(`x-functions-key` header or `code` query parameter); the local host does not ask for one."
            ),
        },
        "servers": [{"url": "/api"}],
        "security": [{"functionKey": []}, {"functionKeyQuery": []}],
        "paths": paths,
        "components": {
            "schemas": _schemas(s),
            "responses": _responses(s),
            "securitySchemes": {
                "functionKey": {"type": "apiKey", "in": "header", "name": "x-functions-key"},
                "functionKeyQuery": {"type": "apiKey", "in": "query", "name": "code"},
            },
        },
    }
