"""One settings object, read from the environment (``local.settings.json`` Values, or Azure app settings).

Names are exactly the keys of ``local.settings.json.example``. :func:`load_settings` validates everything at once
and raises :class:`SettingsError` with one line naming the key and an example value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import Field, dataclass, fields
from pathlib import Path
from typing import Any

from composition.setting_kinds import (  # noqa: F401 - SettingsError and the enums are part of this API
    ChatBackend,
    CosmosAuth,
    EmbeddingBackend,
    SettingsError,
    StoreBackend,
    TelemetryExporter,
    VectorIndexType,
    _bool,
    _enum,
    _fields_list,
    _float_between,
    _int_between,
    _schedule,
    _search_mode,
    _setting,
    _str,
    _vector_index,
)


@dataclass(frozen=True)
class Settings:
    """Every setting the app reads. Attribute names are the setting keys."""

    STORE_BACKEND: StoreBackend = _setting(
        StoreBackend.LOCAL, _enum(StoreBackend), "local", "Where documents live: `local` (embedded SQLite) or `cosmos`."
    )
    EMBEDDING_BACKEND: EmbeddingBackend = _setting(
        EmbeddingBackend.LOCAL,
        _enum(EmbeddingBackend),
        "local",
        "Who makes vectors: `local` (MiniLM ONNX), `azure-openai`, `openai`, or `deterministic` (tests only).",
    )
    LOCAL_DATA_DIR: str = _setting(".data", _str, ".data", "Folder of the embedded store's SQLite file.")
    LOCAL_EMBEDDING_MODEL_DIR: str = _setting(
        "",
        _str,
        "/models/minilm",
        "Folder holding another `model.onnx` + `tokenizer.json`; empty uses the packaged all-MiniLM-L6-v2.",
    )
    COSMOS_DATABASE: str = _setting("catalog", _str, "catalog", "Cosmos DB database (also the trigger's database).")
    COSMOS_PRODUCTS_CONTAINER: str = _setting(
        "products", _str, "products", "Container of product documents; partition key `/id`; the trigger watches it."
    )
    COSMOS_LEASES_CONTAINER: str = _setting(
        "leases", _str, "leases", "Change-feed checkpoints (leases) of the trigger; partition key `/id`."
    )
    COSMOS_DEADLETTER_CONTAINER: str = _setting(
        "deadletter", _str, "deadletter", "Records of documents the pipeline could not embed, with the reason."
    )
    COSMOS_CACHE_CONTAINER: str = _setting("chatcache", _str, "chatcache", "Semantic cache of chat answers.")
    COSMOS_HISTORY_CONTAINER: str = _setting("chathistory", _str, "chathistory", "Per-session chat history.")
    COSMOS_CONNECTION__accountEndpoint: str = _setting(
        "",
        _str,
        "https://myaccount.documents.azure.com:443/",
        "Cosmos DB endpoint, used with managed identity (`DefaultAzureCredential`) by the app and the trigger.",
    )
    COSMOS_AUTH: CosmosAuth = _setting(
        CosmosAuth.IDENTITY, _enum(CosmosAuth), "identity", "`identity` (Entra ID) or `key` (COSMOS_KEY)."
    )
    COSMOS_CREATE_LEASE_CONTAINER: bool = _setting(
        False,
        _bool,
        "false",
        "Let the trigger create the leases container (read when the host indexes the app; needs key auth).",
    )
    COSMOS_VECTOR_INDEX_TYPE: VectorIndexType = _setting(
        VectorIndexType.QUANTIZED_FLAT,
        _vector_index,
        "quantizedFlat",
        "Vector index of the products and cache containers made by bootstrap/infra: quantizedFlat, diskANN or flat.",
    )
    COSMOS_KEY: str = _setting("", _str, "<account key>", "Account key, only with COSMOS_AUTH=key. Never commit it.")
    EMBED_FIELDS: tuple[str, ...] = _setting(
        ("name", "category_name", "description"),
        _fields_list,
        "name,category_name,description",
        "Product fields joined (in this order) into the text that is embedded. `description` is required.",
    )
    EMBED_BATCH_SIZE: int = _setting(
        100,
        _int_between(1, 2048),
        "100",
        "Most texts in one embedding request (the backend's own cap applies too); 100 matches the trigger's "
        "maxItemsPerInvocation, so an invocation costs one request.",
    )
    EMBED_MAX_ATTEMPTS: int = _setting(
        6,
        _int_between(1, 20),
        "6",
        "Attempts per embedding batch before the invocation fails (and is redelivered).",
    )
    EMBED_MAX_TOTAL_WAIT_SECONDS: float = _setting(
        120.0, _float_between(0, 3600), "120", "Longest time one batch keeps retrying before the invocation fails."
    )
    EMBED_QUOTA_GOVERNOR: bool = _setting(
        True,
        _bool,
        "true",
        "Pace Azure OpenAI / OpenAI embedding requests to the deployment's quota (learned from the "
        "`x-ratelimit-remaining-*` headers and 429s), shared by every request of the process; `false` sends each "
        "request when it is asked for.",
    )
    EMBED_QUOTA_TPM: int = _setting(
        0,
        _int_between(0, 100_000_000),
        "0",
        "The embedding deployment's tokens-per-minute quota, when known (350000 is Azure's default for "
        "text-embedding-3-small); 0 learns it from the response headers.",
    )
    RECONCILE_SCHEDULE: str = _setting(
        "0 */15 * * * *",
        _schedule,
        "0 */15 * * * *",
        "When the reconcile timer runs (NCRONTAB, six fields: second minute hour day month day-of-week, UTC): it "
        "embeds products whose vector is missing, stale or failed for a reason that may pass.",
    )
    RECONCILE_MAX_PRODUCTS_PER_RUN: int = _setting(
        2000, _int_between(1, 1_000_000), "2000", "Most products one reconcile run reads; the next run goes on."
    )
    RECONCILE_ON_STARTUP: bool = _setting(
        False, _bool, "true", "Reconcile when the host starts too (read as it indexes the app; `catalog run` sets it)."
    )
    AZURE_OPENAI_ENDPOINT: str = _setting(
        "", _str, "https://myaoai.openai.azure.com/", "Azure OpenAI endpoint (EMBEDDING_BACKEND=azure-openai)."
    )
    AZURE_CLIENT_ID: str = _setting(
        "",
        _str,
        "00000000-0000-0000-0000-000000000000",
        "Client id of the user-assigned managed identity DefaultAzureCredential should use (Azure sets it).",
    )
    OPENAI_TIMEOUT_SECONDS: float = _setting(
        30.0, _float_between(1, 600), "30", "Timeout of one Azure OpenAI / OpenAI request (then retried)."
    )
    AZURE_OPENAI_API_VERSION: str = _setting("2024-10-21", _str, "2024-10-21", "Azure OpenAI REST API version.")
    AZURE_OPENAI_API_KEY: str = _setting(
        "", _str, "<key>", "Azure OpenAI key; empty uses Entra ID (`DefaultAzureCredential`). Never commit it."
    )
    AZURE_OPENAI_EMBEDDING_DEPLOYMENT: str = _setting(
        "text-embedding-3-small", _str, "text-embedding-3-small", "Embedding deployment name."
    )
    OPENAI_BASE_URL: str = _setting(
        "", _str, "http://localhost:11434/v1", "OpenAI-compatible endpoint (EMBEDDING_BACKEND=openai)."
    )
    OPENAI_API_KEY: str = _setting("", _str, "<key>", "Key for OPENAI_BASE_URL, if it needs one. Never commit it.")
    EMBEDDING_MODEL: str = _setting(
        "text-embedding-3-small",
        _str,
        "text-embedding-3-small",
        "The embedding model (for azure-openai: the model behind the deployment). It decides the vector size, "
        "whether `dimensions` is sent, and the model stamped on vectors.",
    )
    EMBEDDING_DIMENSIONS: int = _setting(
        0,
        _int_between(0, 4096),
        "1536",
        "Vector size for the OpenAI backends (and `deterministic`); 0 uses the model's default.",
    )
    TEST_EMBED_DELAY_MS: int = _setting(
        0,
        _int_between(0, 600_000),
        "0",
        "Tests only: milliseconds every `deterministic` embedding call takes (a slow model on demand).",
    )
    CHAT_BACKEND: ChatBackend = _setting(
        ChatBackend.EXTRACTIVE,
        _enum(ChatBackend),
        "extractive",
        "Who writes chat answers: `extractive` (offline: the cited products, no language model), `openai` "
        "(any OpenAI-compatible endpoint at OPENAI_BASE_URL) or `azure-openai`.",
    )
    CHAT_MODEL: str = _setting("gpt-4o", _str, "llama3.1", "Chat model name for CHAT_BACKEND=openai.")
    AZURE_OPENAI_CHAT_DEPLOYMENT: str = _setting("gpt-4o", _str, "gpt-4o", "Chat deployment for azure-openai.")
    CHAT_MAX_TOKENS: int = _setting(600, _int_between(16, 16_000), "600", "Longest answer the chat model may write.")
    CHAT_CACHE_THRESHOLD: float = _setting(
        0.75,
        _float_between(0.5, 1.0),
        "0.75",
        "Least cosine similarity between two standalone questions for the semantic cache to serve an answer. Only "
        "one of four conditions (same reading, same retrieval, same scope): 0.75 served 0 of 117 near misses and "
        "74% of paraphrases in docs/cache.md.",
    )
    CHAT_CACHE_TTL_SECONDS: int = _setting(
        86_400, _int_between(1, 30 * 86_400), "86400", "How long a cached answer may be served."
    )
    CHAT_HISTORY_MAX_TURNS: int = _setting(
        20, _int_between(1, 1000), "20", "Turns kept per chat session; older ones are deleted."
    )
    CHAT_HISTORY_TTL_SECONDS: int = _setting(
        30 * 86_400,
        _int_between(60, 3650 * 86_400),
        "2592000",
        "How long chat history is kept (30 days); Cosmos DB deletes expired turns itself, the embedded store on a "
        "timer.",
    )
    CHAT_CLEANUP_SCHEDULE: str = _setting(
        "0 */10 * * * *",
        _schedule,
        "0 */10 * * * *",
        "NCRONTAB schedule of the timer that deletes expired cache entries and chat turns (the embedded store has no "
        "TTL; Cosmos DB deletes them itself too).",
    )
    CHAT_DEBUG_CACHE_SCORE: bool = _setting(
        False,
        _bool,
        "false",
        "Return `cache_score` (the similarity of the cached question) in chat responses: for debugging only.",
    )
    CHAT_HISTORY_TOKEN_BUDGET: int = _setting(
        2000, _int_between(0, 100_000), "2000", "Most tokens of history sent to the model; oldest turns dropped first."
    )
    CHAT_MAX_MESSAGE_CHARS: int = _setting(
        2000, _int_between(1, 100_000), "2000", "Longest chat message accepted (400 above)."
    )
    CHAT_DEFAULT_K: int = _setting(5, _int_between(1, 50), "5", "Products retrieved for a chat answer.")
    CHAT_MAX_K: int = _setting(20, _int_between(1, 50), "20", "Largest `k` a chat request may ask for (400 above).")
    CHAT_MAX_MESSAGES: int = _setting(
        50, _int_between(1, 1000), "50", "Most messages one `/api/v1/chat/completions` request may carry (400 above)."
    )
    CHAT_USER_HEADER: str = _setting(
        "X-User-Id",
        _str,
        "X-User-Id",
        "Request header naming the user/tenant whose semantic-cache scope a chat uses (Easy Auth's "
        "X-MS-CLIENT-PRINCIPAL-ID wins when present).",
    )
    AUTH_TRUST_EASY_AUTH: bool = _setting(
        False,
        _bool,
        "true",
        "Trust Easy Auth's `X-MS-CLIENT-PRINCIPAL*` headers as the caller's identity and roles. Turn on only where "
        "App Service authentication runs in front of the app (infra/ does, with `enableEasyAuth`): it strips "
        "client copies of those headers; anywhere else they are just text a client types.",
    )
    AUTH_TRUST_USER_HEADER: bool = _setting(
        False,
        _bool,
        "false",
        "Development only: trust CHAT_USER_HEADER as the caller's identity (a test rig or a gateway that sets it).",
    )
    SESSION_COOKIE_SECRET: str = _setting(
        "",
        _str,
        "<random 32+ characters>",
        "Key that signs the visitor cookie identifying anonymous callers; empty uses a random key per process "
        "(visitors then get a new identity after a restart). Never commit it.",
    )
    RATE_LIMIT_PER_MINUTE: int = _setting(
        60,
        _int_between(0, 100_000),
        "60",
        "Chat, search and OpenAI-compatible requests one caller may make per minute (a token bucket per caller "
        "and instance; bursts up to the same number); 0 turns the limit off. 429 with Retry-After above it.",
    )
    SEARCH_MODE: str = _setting(
        "vector",
        _search_mode,
        "hybrid",
        "Default ranking of search and chat retrieval: `vector` (cosine) or `hybrid` (RRF of vector and full-text).",
    )
    SEARCH_DEFAULT_K: int = _setting(5, _int_between(1, 50), "5", "Results returned when a search names no `k`.")
    SEARCH_MAX_K: int = _setting(50, _int_between(1, 1000), "50", "Largest `k` a search may ask for.")
    MAX_REQUEST_BYTES: int = _setting(
        1_048_576, _int_between(1024, 100 * 1_048_576), "1048576", "Largest HTTP request body accepted (413 above)."
    )
    MAX_BULK_PRODUCTS: int = _setting(
        500, _int_between(1, 10_000), "500", "Most products one `POST /api/products` may carry (413 above)."
    )
    PRICE_EMBEDDING_PER_1M_TOKENS: float = _setting(
        0.02,
        _float_between(0, 1_000_000),
        "0.02",
        "List price of a million embedding tokens, for the cost estimates of `GET /api/metrics` (not a bill; the "
        "default is text-embedding-3-small's). Local models are not metered.",
    )
    PRICE_CHAT_INPUT_PER_1M_TOKENS: float = _setting(
        2.5,
        _float_between(0, 1_000_000),
        "2.5",
        "List price of a million chat prompt tokens (gpt-4o's), for estimates.",
    )
    PRICE_CHAT_OUTPUT_PER_1M_TOKENS: float = _setting(
        10.0,
        _float_between(0, 1_000_000),
        "10.0",
        "List price of a million chat completion tokens (gpt-4o's), for estimates.",
    )
    PRICE_PER_1M_REQUEST_UNITS: float = _setting(
        0.25,
        _float_between(0, 1_000_000),
        "0.25",
        "List price of a million Cosmos DB request units (serverless), for estimates.",
    )
    PRICE_CURRENCY: str = _setting("USD", _str, "EUR", "Currency of the PRICE_* settings (a label only).")
    TELEMETRY_EXPORTER: TelemetryExporter = _setting(
        TelemetryExporter.NONE,
        _enum(TelemetryExporter),
        "otlp",
        "Where OpenTelemetry spans and metrics go when APPLICATIONINSIGHTS_CONNECTION_STRING is empty: `none`, "
        "`console` (stdout) or `otlp` (OTLP/HTTP to the standard OTEL_EXPORTER_OTLP_ENDPOINT).",
    )
    APPLICATIONINSIGHTS_CONNECTION_STRING: str = _setting(
        "",
        _str,
        "InstrumentationKey=...;IngestionEndpoint=https://...",
        "Application Insights to send OpenTelemetry spans and metrics to (azure-monitor-opentelemetry); infra/ sets "
        "it. Wins over TELEMETRY_EXPORTER.",
    )
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: str = _setting(
        "",
        _str,
        "ClientId=<identity client id>;Authorization=AAD",
        "`Authorization=AAD`: send telemetry with Entra ID (the managed identity named by ClientId), as infra/ "
        "sets it for an App Insights resource without local auth.",
    )

    def check_backends(self) -> None:
        """Raise :class:`SettingsError` when a chosen backend lacks the settings it needs."""
        if self.STORE_BACKEND is StoreBackend.COSMOS:
            _require(self, "COSMOS_CONNECTION__accountEndpoint")
            if self.COSMOS_AUTH is CosmosAuth.KEY:
                _require(self, "COSMOS_KEY")
        if self.EMBEDDING_BACKEND is EmbeddingBackend.AZURE_OPENAI:
            _require(self, "AZURE_OPENAI_ENDPOINT")
        if self.EMBEDDING_BACKEND is EmbeddingBackend.OPENAI:
            _require(self, "OPENAI_BASE_URL")
        if self.CHAT_BACKEND is ChatBackend.AZURE_OPENAI:
            _require(self, "AZURE_OPENAI_ENDPOINT")
        if self.CHAT_BACKEND is ChatBackend.OPENAI:
            _require(self, "OPENAI_BASE_URL")
        if self.CHAT_DEFAULT_K > self.CHAT_MAX_K:
            raise SettingsError(f"CHAT_DEFAULT_K must not exceed CHAT_MAX_K ({self.CHAT_MAX_K}); example: 5")
        if self.SEARCH_DEFAULT_K > self.SEARCH_MAX_K:
            raise SettingsError(f"SEARCH_DEFAULT_K must not exceed SEARCH_MAX_K ({self.SEARCH_MAX_K}); example: 5")
        if "description" not in self.EMBED_FIELDS:
            raise SettingsError("EMBED_FIELDS must include description; example: name,category_name,description")

    @property
    def data_dir(self) -> Path:
        return Path(self.LOCAL_DATA_DIR)


def _require(settings: Settings, key: str) -> None:
    if not getattr(settings, key):
        example = next(item.metadata["example"] for item in fields(Settings) if item.name == key)
        raise SettingsError(
            f"{key} is required with STORE_BACKEND={settings.STORE_BACKEND} "
            f"EMBEDDING_BACKEND={settings.EMBEDDING_BACKEND} CHAT_BACKEND={settings.CHAT_BACKEND}; "
            f"example: {key}={example}"
        )


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every setting from ``environ`` (default: the process environment).

    Raises:
        SettingsError: one line naming the first invalid key and an example value.
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for item in fields(Settings):
        raw = env.get(item.name)
        if raw is not None and raw.strip() != "":
            values[item.name] = parse_setting(item, raw)
    settings = Settings(**values)
    settings.check_backends()
    return settings


def parse_setting(item: Field[Any], raw: str) -> Any:
    """The value of setting ``item`` written as ``raw`` (:class:`SettingsError` names the key and an example)."""
    try:
        return item.metadata["parse"](raw)
    except ValueError as error:
        raise SettingsError(
            f"{item.name}={raw!r} is invalid ({error}); example: {item.name}={item.metadata['example']}"
        ) from None
