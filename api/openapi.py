"""``/api/openapi.json``, generated: an OpenAPI 3.1 document assembled from the request and response models.

Every schema comes from a model (``pydantic.json_schema.models_json_schema``), and every settings-bound limit from
:func:`api.models.api_models`, so the document and what the handlers enforce cannot drift apart. :func:`routes` says
which model each route takes and answers; a test checks it against the function metadata.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from api.body import MAX_JSON_DEPTH
from api.chat import ChatAnswer, ChatEvent, ChatSession, ChatSessionDeleted, ChatSessionPath
from api.completions import ChatCompletion, CompletionEvent, ModelList, OpenAIError
from api.embeddings import EmbeddingStatus, FailedProducts, FailedQuery, ReembedAccepted, ReembedInput
from api.limits import ApiLimits
from api.metrics import MetricsQuery, UsageMetrics
from api.models import ApiModels, api_models
from api.products import BulkResult, Product, ProductBody, ProductPath, ProductQuery, ProductWritten
from api.search import CategoryList, SearchResponse
from api.status import Error, Health, HealthDegraded, InternalError, MethodNotAllowed, Unavailable

OPENAPI_VERSION = "3.1.0"
_REF = "#/components/schemas/{model}"


@dataclass(frozen=True)
class Reply:
    """One documented response: a JSON model, and/or a server-sent event stream whose events a model describes."""

    description: str
    model: type[BaseModel] | tuple[type[BaseModel], ...] | None = None
    events: type[BaseModel] | None = None
    html: bool = False
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Operation:
    method: str
    operation_id: str
    summary: str
    replies: Mapping[int, Reply]
    errors: tuple[int, ...] = ()
    body: type[BaseModel] | None = None
    body_description: str = ""
    query: type[BaseModel] | None = None
    if_match: bool = False
    anonymous: bool = False


@dataclass(frozen=True)
class Route:
    """A path (as the function's route, without the ``/api`` prefix) and what it takes."""

    path: str
    operations: tuple[Operation, ...]
    path_parameters: type[BaseModel] | None = None


_ETAG = {"ETag": "The stored version (send it back as `If-Match`)."}
_OPERATOR = (
    " Operators only: in Azure it needs a function key (never one the page uses); with Easy Auth on, a signed-in "
    "caller also needs the Catalog.Operator app role."
)
_ADMIN = " Operators only: in Azure it needs the host's master key (`AuthLevel.ADMIN`)."
_ERRORS: dict[int, tuple[str, type[BaseModel], str]] = {
    400: ("BadRequest", Error, "A field is missing, of the wrong type or out of bounds; `field` names it."),
    403: ("Forbidden", Error, "A signed-in caller without the operator role tried to write the catalog."),
    404: ("NotFound", Error, "No such product, session or route."),
    412: ("PreconditionFailed", Error, "`If-Match` is not the stored ETag, or the document kept changing (`id`)."),
    413: ("PayloadTooLarge", Error, "The body is over MAX_REQUEST_BYTES, or a list over its item limit."),
    429: ("TooManyRequests", Error, "Over RATE_LIMIT_PER_MINUTE for this caller; `Retry-After` says when to retry."),
    500: ("InternalError", InternalError, "Unexpected failure: only a request id, never a traceback."),
    503: ("ServiceUnavailable", Unavailable, "The app is misconfigured (the log names the setting)."),
}


def routes(models: ApiModels) -> tuple[Route, ...]:
    """What each HTTP function takes and answers (bodies bounded as ``models`` are)."""
    limits = models.limits
    bulk = (
        f'A list of products, or `{{"products": [...]}}`; more than MAX_BULK_PRODUCTS ({limits.max_bulk_products}) '
        "is a 413 naming `products`; a repeated id is a 400. All are validated before any is written."
    )
    chat_answer = Reply("The answer; with `stream: true`, server-sent events.", ChatAnswer, events=ChatEvent)
    completion = Reply(
        "A `chat.completion`; with `stream: true`, `chat.completion.chunk` events ending with `data: [DONE]`.",
        ChatCompletion,
        events=CompletionEvent,
    )
    return (
        Route(
            "/products/{id}",
            (
                Operation("get", "getProduct", "Read a product with its embedding status (soft-deleted ones too).",
                          {200: Reply("The product.", Product, headers=_ETAG)}, (400, 404), query=ProductQuery,
                          anonymous=True),
                Operation("put", "putProduct", "Create or replace a product; the pipeline's fields are kept."
                          f"{_OPERATOR}",
                          {200: Reply("Replaced (or stored unchanged).", ProductWritten, headers=_ETAG),
                           201: Reply("Created.", ProductWritten, headers=_ETAG)},
                          (400, 403, 412, 413), body=ProductBody, body_description="The product's fields.",
                          if_match=True),
                Operation("delete", "deleteProduct", "Soft delete: `deleted: true`; it leaves search at once; a later "
                          f"PUT restores it.{_OPERATOR}",
                          {200: Reply("The product, marked deleted.", Product, headers=_ETAG)}, (403, 404, 412),
                          if_match=True),
            ),
            ProductPath,
        ),
        Route("/products", (
            Operation("post", "putProducts", f"Create or replace many products at once.{_OPERATOR}",
                      {200: Reply("Every item written: created, updated or unchanged, each with its ETag.", BulkResult),
                       207: Reply("Some items were not written (stale `if_match`, kept changing); each says why.",
                                  BulkResult)},
                      (400, 412, 413), body=models.bulk_products, body_description=bulk),
        )),
        Route("/search", (
            Operation("get", "searchGet", "Products most similar in meaning to `q` (repeated parameters are joined "
                      "with commas).", {200: Reply("The nearest live products, best first.", SearchResponse)},
                      (400, 429), query=models.search, anonymous=True),
            Operation("post", "searchPost", "The same search with a JSON body.",
                      {200: Reply("The nearest live products, best first.", SearchResponse)}, (400, 413, 429),
                      body=models.search, body_description="The search.", anonymous=True),
        )),
        Route("/categories", (
            Operation("get", "categories", "The catalog's categories with their numbers of live products.",
                      {200: Reply("Largest first.", CategoryList)}, anonymous=True),
        )),
        Route("/chat", (
            Operation("post", "chat", "Answer a question about the catalog from retrieved products (RAG).",
                      {200: chat_answer}, (400, 404, 413, 429), body=models.chat, body_description="The question.",
                      anonymous=True),
        )),
        Route(
            "/chat/{session_id}",
            (
                Operation("get", "getChatSession", "The caller's turns of the session, oldest first.",
                          {200: Reply("The turns.", ChatSession)}, (400, 404), anonymous=True),
                Operation("delete", "deleteChatSession", "Forget the session.",
                          {200: Reply("Forgotten.", ChatSessionDeleted)}, (400, 404), anonymous=True),
            ),
            ChatSessionPath,
        ),
        Route("/v1/chat/completions", (
            Operation("post", "chatCompletions", "The OpenAI chat-completions format over the same chat; stateless "
                      "(the history is `messages`).", {
                          200: completion,
                          400: Reply("Invalid request, in OpenAI's error shape (`param` names the field).",
                                     OpenAIError),
                          413: Reply("Too large (OpenAI's shape, or the host's when over MAX_REQUEST_BYTES).",
                                     (OpenAIError, Error)),
                      }, body=models.chat_completion, body_description="An OpenAI chat-completions request.",
                      anonymous=True),
        )),
        Route("/v1/models", (
            Operation("get", "models", "The model list OpenAI-compatible chat UIs read first.",
                      {200: Reply("One model: the catalog.", ModelList)}, anonymous=True),
        )),
        Route("/health", (
            Operation("get", "health", "Alive and able to read the store; the backends in use and the pipeline's "
                      "counts since start.", {
                          200: Reply("Healthy.", Health),
                          503: Reply("The store cannot be read (or the app is misconfigured).",
                                     (HealthDegraded, Unavailable)),
                      }, anonymous=True),
        )),
        Route("/embeddings/status", (
            Operation("get", "embeddingsStatus", "Counts by embedding status and by (model, dimensions), the oldest "
                      f"pending product, the last reconcile report.{_ADMIN}",
                      {200: Reply("The counts.", EmbeddingStatus)}),
        )),
        Route("/embeddings/failed", (
            Operation("get", "embeddingsFailed", f"Failed products with their reasons and dead letters.{_ADMIN}",
                      {200: Reply("One page.", FailedProducts)}, (400,), query=FailedQuery),
        )),
        Route("/embeddings/reembed", (
            Operation("post", "embeddingsReembed", f"Re-embed products by id, by filter, or all.{_ADMIN}",
                      {202: Reply("What was embedded now or queued for the change feed.", ReembedAccepted)},
                      (400, 413), body=ReembedInput, body_description="`ids`, `filter` or `all`."),
        )),
        Route("/metrics", (
            Operation("get", "usageMetrics", "Tokens, Cosmos DB request units and cache savings per day and model "
                      f"(persisted), with estimated costs from the PRICE_* settings.{_ADMIN}",
                      {200: Reply("The ledger of the last `days` days.", UsageMetrics)}, (400,), query=MetricsQuery),
        )),
        Route("/ui", (
            Operation("get", "chatPage", "The web chat page.", {200: Reply("HTML.", html=True)}, anonymous=True),
        )),
        Route("/openapi.json", (
            Operation("get", "openapi", "This document.", {200: Reply("OpenAPI 3.1.")}, anonymous=True),
        )),
    )  # fmt: skip


def openapi_document(limits: ApiLimits) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the HTTP API, with the bounds ``limits`` sets."""
    table = routes(api_models(limits))
    schemas = _Schemas(table)
    paths = {route.path: _path_item(route, schemas) for route in table}
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Catalog search",
            "version": "1.0.0",
            "description": (
                'Products, vector search and a RAG chat over the catalog. Errors are JSON `{"error", "field"?}`: '
                "400 names the invalid field; 404 unknown product, session or route; 405 a method the path does "
                "not take (with `Allow`, see components.responses.MethodNotAllowed); 412 stale `If-Match`; 413 a body "
                f"over MAX_REQUEST_BYTES ({limits.max_request_bytes}) or too many bulk items; 500 only a request id; "
                f"503 misconfigured. JSON bodies must be UTF-8 and nested at most {MAX_JSON_DEPTH} levels; NaN, "
                "Infinity and lone surrogates are refused. In Azure, routes other than health, ui and openapi.json "
                "need a function key (`x-functions-key` header or `code` query parameter); the local host does not "
                "ask for one."
            ),
        },
        "servers": [{"url": "/api"}],
        "security": [{"functionKey": []}, {"functionKeyQuery": []}],
        "paths": paths,
        "components": {
            "schemas": schemas.components,
            "responses": {
                **{name: _json(schemas.ref(model), description) for name, model, description in _ERRORS.values()},
                "MethodNotAllowed": {
                    **_json(schemas.ref(MethodNotAllowed), MethodNotAllowed.__doc__ or ""),
                    "headers": {"Allow": {"schema": {"type": "string"}}},
                },
            },
            "securitySchemes": {
                "functionKey": {"type": "apiKey", "in": "header", "name": "x-functions-key"},
                "functionKeyQuery": {"type": "apiKey", "in": "query", "name": "code"},
            },
        },
    }


class _Schemas:
    """Every model's JSON schema under ``components.schemas`` (requests as validated, responses as serialised);
    query and path models become parameters instead."""

    def __init__(self, table: Iterable[Route]) -> None:
        wanted: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {}
        parameter_models: set[type[BaseModel]] = set()
        bodies: set[type[BaseModel]] = set()
        for route in table:
            if route.path_parameters is not None:
                wanted[(route.path_parameters, "validation")] = None
                parameter_models.add(route.path_parameters)
            for operation in route.operations:
                if operation.body is not None:
                    wanted[(operation.body, "validation")] = None
                    bodies.add(operation.body)
                if operation.query is not None:
                    wanted[(operation.query, "validation")] = None
                    parameter_models.add(operation.query)
                for reply in operation.replies.values():
                    for model in _models(reply.model) + _models(reply.events):
                        wanted[(model, "serialization")] = None
        for _, model, _ in _ERRORS.values():
            wanted[(model, "serialization")] = None
        wanted[(MethodNotAllowed, "serialization")] = None
        mapping, definitions = models_json_schema(list(wanted), ref_template=_REF)
        self._refs = {model: schema for (model, _), schema in mapping.items()}
        self.components: dict[str, Any] = definitions.get("$defs", {})
        self._parameters = {model: self.components[self._name(model)] for model in parameter_models}
        for model in parameter_models - bodies:  # only ever parameters: not a schema of its own
            del self.components[self._name(model)]

    def _name(self, model: type[BaseModel]) -> str:
        return str(self._refs[model]["$ref"]).rsplit("/", 1)[1]

    def ref(self, model: type[BaseModel]) -> dict[str, Any]:
        return dict(self._refs[model])

    def parameters(self, model: type[BaseModel], where: str) -> list[dict[str, Any]]:
        """One OpenAPI parameter per field of ``model`` (a query string or a path carries no null)."""
        schema = self._parameters[model]
        required = set(schema.get("required", []))
        return [
            {
                "name": name,
                "in": where,
                "required": where == "path" or name in required,
                **({"description": prop["description"]} if "description" in prop else {}),
                "schema": _without_null(prop),
            }
            for name, prop in schema["properties"].items()
        ]


def _models(model: type[BaseModel] | tuple[type[BaseModel], ...] | None) -> tuple[type[BaseModel], ...]:
    return () if model is None else model if isinstance(model, tuple) else (model,)


def _path_item(route: Route, schemas: _Schemas) -> dict[str, Any]:
    item: dict[str, Any] = {}
    if route.path_parameters is not None:
        item["parameters"] = schemas.parameters(route.path_parameters, "path")
    for operation in route.operations:
        item[operation.method] = _operation(operation, schemas)
    return item


def _operation(operation: Operation, schemas: _Schemas) -> dict[str, Any]:
    documented: dict[str, Any] = {"operationId": operation.operation_id, "summary": operation.summary}
    if operation.anonymous:
        documented["security"] = []
    parameters = schemas.parameters(operation.query, "query") if operation.query is not None else []
    if operation.if_match:
        parameters.append(
            {
                "name": "If-Match",
                "in": "header",
                "required": False,
                "description": "The `_etag` read earlier: the write happens only if the product is still that version;"
                " `*` matches any stored version.",
                "schema": {"type": "string"},
            }
        )
    if parameters:
        documented["parameters"] = parameters
    if operation.body is not None:
        documented["requestBody"] = {
            "required": True,
            **_json(schemas.ref(operation.body), operation.body_description),
        }
    responses = {str(status): _reply(reply, schemas) for status, reply in operation.replies.items()}
    for status in (*operation.errors, 500, 503):
        responses.setdefault(str(status), {"$ref": f"#/components/responses/{_ERRORS[status][0]}"})
    documented["responses"] = responses
    return documented


def _reply(reply: Reply, schemas: _Schemas) -> dict[str, Any]:
    content: dict[str, Any] = {}
    models = _models(reply.model)
    if models:
        refs = [schemas.ref(model) for model in models]
        content["application/json"] = {"schema": refs[0] if len(refs) == 1 else {"anyOf": refs}}
    if reply.events is not None:
        # One server-sent event, as SSE-aware tools (schemathesis among them) read a text/event-stream schema.
        content["text/event-stream"] = {"schema": schemas.ref(reply.events)}
    if reply.html:
        content["text/html"] = {"schema": {"type": "string"}}
    if not content:
        content["application/json"] = {"schema": {"type": "object"}}
    documented: dict[str, Any] = {"description": reply.description, "content": content}
    if reply.headers:
        documented["headers"] = {
            name: {"description": text, "schema": {"type": "string"}} for name, text in reply.headers.items()
        }
    return documented


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A field's schema for a query string or path: no ``null`` branch or default, no title."""
    schema = {key: value for key, value in schema.items() if key not in ("title", "description")}
    if schema.get("default", "") is None:
        del schema["default"]
    if "enum" in schema:
        schema["enum"] = [value for value in schema["enum"] if value is not None]
    branches = [branch for branch in schema.get("anyOf", []) if branch != {"type": "null"}]
    if "anyOf" in schema and len(branches) == 1:
        del schema["anyOf"]
        schema = {**branches[0], **schema}
    elif branches:
        schema["anyOf"] = branches
    return schema
