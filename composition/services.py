"""The services every entry point asks for: built once per process from settings, reused by every invocation.

Which backend is built for which setting is decided in :mod:`composition.backends`. Each feature's module is
imported when the feature is first built, not when this module is: importing the function app stays cheap.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from composition.containers import container_specs
from composition.settings import Settings, StoreBackend, load_settings
from embedding.base import Embedder
from store.base import ContainerSpec, DocumentContainer, DocumentStore, StoreError

if TYPE_CHECKING:
    from catalog.categories import CategoryIndex
    from catalog.embedding_status import EmbeddingStatusView
    from catalog.embedding_sync import BatchReport, EmbeddingPipeline
    from catalog.migration import Migrations, SlotModel, SlotPlan
    from catalog.products import ProductCatalog
    from catalog.reconcile import Reconciler, ReconcileRecord
    from catalog.reembed import Reembedder
    from catalog.retrieval import ProductFinder
    from catalog.search import ProductSearch
    from chat.models import ChatModel
    from chat.service import ChatService
    from ledger import UsageLedger

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class Services:
    """Everything an invocation needs, built from settings once."""

    settings: Settings
    store: DocumentStore
    embedder: Embedder
    chat_model: ChatModel
    #: What the change-feed pipeline has done since this process started (shown by /api/health).
    pipeline_totals: BatchReport = field(default_factory=lambda: _batch_report())
    #: The HTTP host sends a response body while it is produced (the local dev host sets it); the Functions host
    #: cannot for a ``func.HttpResponse``, so streamed answers come whole there.
    http_streaming: bool = False
    #: Tokens, request charges and cache savings, added to day documents in the leases container.
    ledger: UsageLedger = field(default_factory=lambda: _usage_ledger())
    _containers: dict[str, DocumentContainer] = field(default_factory=dict)
    _features: dict[str, Any] = field(default_factory=dict)
    #: The slots in use (``catalog.migration``), re-read every ``FOLLOW_SECONDS``; embedders of recorded models.
    _slot_plan: SlotPlan | None = None
    _slot_read_at: float = float("-inf")
    _slot_embedders: dict[tuple[tuple[str, str], ...], Embedder] = field(default_factory=dict)

    def container_specs(self) -> dict[str, ContainerSpec]:
        """Every container the app uses, by name (see :func:`composition.containers.container_specs`)."""
        return container_specs(self.settings, self.embedder.dimensions)

    async def container_named(self, name: str) -> DocumentContainer:
        """The container called ``name`` (as a binding's ``containerName`` resolves), opened once."""
        if name not in self._containers:
            spec = self.container_specs().get(name) or ContainerSpec(name, "/id")
            self._containers[name] = await self.store.container(spec)
        return self._containers[name]

    async def products(self) -> DocumentContainer:
        return await self.container_named(self.settings.COSMOS_PRODUCTS_CONTAINER)

    async def deadletters(self) -> DocumentContainer:
        return await self.container_named(self.settings.COSMOS_DEADLETTER_CONTAINER)

    async def catalog(self) -> ProductCatalog:
        """Product reads and writes (built once)."""
        from catalog.products import ProductCatalog

        plan = await self.slots()
        if "catalog" not in self._features:
            model = plan.active_model
            self._features["catalog"] = ProductCatalog(
                await self.products(), model.fields, model.model_id, model.dimensions, plan.active
            )
        catalog: ProductCatalog = self._features["catalog"]
        return catalog

    async def search(self) -> ProductSearch:
        """Search over live products (built once)."""
        from catalog.search import ProductSearch

        plan = await self.slots()
        if "search" not in self._features:
            self._features["search"] = ProductSearch(
                await self.products(),
                self.embedder_for(plan.active_model),
                self.settings.SEARCH_MODE,
                slot=plan.active,
            )
        search: ProductSearch = self._features["search"]
        return search

    async def categories(self) -> CategoryIndex:
        """The catalog's categories with counts (built once, re-read every few seconds)."""
        from catalog.categories import CategoryIndex

        if "categories" not in self._features:
            self._features["categories"] = CategoryIndex(await self.products())
        categories: CategoryIndex = self._features["categories"]
        return categories

    async def finder(self) -> ProductFinder:
        """Question → reading → retrieval → ranking: what search and chat both use (built once)."""
        from catalog.retrieval import ProductFinder

        await self.slots()
        if "finder" not in self._features:
            self._features["finder"] = ProductFinder(await self.search(), await self.categories())
        finder: ProductFinder = self._features["finder"]
        return finder

    async def embedding_pipeline(self) -> EmbeddingPipeline:
        """The change-feed pipeline of the active slot (built once per slot plan)."""
        return (await self.embedding_pipelines())[0]

    async def embedding_pipelines(self) -> list[EmbeddingPipeline]:
        """A pipeline per slot kept current: the active one, and the target slot's while a migration fills it."""
        from catalog.embedding_sync import EmbeddingPipeline

        plan = await self.slots()
        if "pipelines" not in self._features:
            products, deadletters = await self.products(), await self.deadletters()
            self._features["pipelines"] = [
                EmbeddingPipeline(
                    products,
                    deadletters,
                    self.embedder_for(model),
                    model.fields,
                    totals=self.pipeline_totals,
                    slot=slot,
                )
                for slot, model in plan.maintained()
            ]
        pipelines: list[EmbeddingPipeline] = self._features["pipelines"]
        return pipelines

    async def reconcile_record(self, slot: str = "a") -> ReconcileRecord:
        """A reconciler's place and last report: a document in the leases container (one per slot)."""
        from catalog.reconcile import RECORD_ID, ReconcileRecord

        record_id = RECORD_ID if slot == "a" else f"{RECORD_ID}-{slot}"
        return ReconcileRecord(await self.container_named(self.settings.COSMOS_LEASES_CONTAINER), record_id)

    async def reconciler(self) -> Reconciler:
        """Embeds what the change feed missed in the active slot, through the same pipeline."""
        return (await self.reconcilers())[0]

    async def reconcilers(self) -> list[Reconciler]:
        """A reconciler per slot kept current (the target slot's is a migration's backfill)."""
        from catalog.reconcile import Reconciler

        pipelines = await self.embedding_pipelines()
        if "reconcilers" not in self._features:
            self._features["reconcilers"] = [
                Reconciler(
                    await self.products(),
                    await self.reconcile_record(pipeline.recipe.slot.name),
                    pipeline,
                    max_products=self.settings.RECONCILE_MAX_PRODUCTS_PER_RUN,
                    page_size=self.settings.EMBED_BATCH_SIZE,  # a page is one request where the model allows
                )
                for pipeline in pipelines
            ]
        reconcilers: list[Reconciler] = self._features["reconcilers"]
        return reconcilers

    # -- vector slots (catalog.migration) ---------------------------------------------------------------------

    def configured_model(self) -> SlotModel:
        """The model the settings name: slot ``a``'s until a migration is recorded."""
        from catalog.migration import MODEL_SETTINGS, SlotModel
        from composition.settings_text import setting_text

        values = {name: setting_text(self.settings, name) for name in MODEL_SETTINGS}
        return SlotModel(values, self.embedder.model_id, self.embedder.dimensions, tuple(self.settings.EMBED_FIELDS))

    def embedder_for(self, model: SlotModel) -> Embedder:
        """The embedder of a slot's model: the configured one, or one built from the recorded model settings."""
        configured = self.configured_model()
        key = tuple(sorted((k, v) for k, v in model.settings.items() if k != "EMBED_FIELDS"))
        if model.makes_same_vectors(configured) or key == tuple(
            sorted((k, v) for k, v in configured.settings.items() if k != "EMBED_FIELDS")
        ):
            return self.embedder  # the same model (the fields are the recipe's business, not the embedder's)
        if key not in self._slot_embedders:
            from composition.backends import build_embedder
            from composition.metering import meter_embedder
            from composition.settings_text import with_values

            settings = with_values(self.settings, model.settings)
            self._slot_embedders[key] = embedder = build_embedder(settings)
            meter_embedder(self.ledger, settings, embedder)
        return self._slot_embedders[key]

    async def migrations(self) -> Migrations:
        from catalog.migration import MigrationRecord, Migrations

        leases = await self.container_named(self.settings.COSMOS_LEASES_CONTAINER)
        return Migrations(MigrationRecord(leases), await self.products(), self.configured_model())

    async def slots(self, *, refresh: bool = False) -> SlotPlan:
        """The slots in use, read from the migration record at most every ``FOLLOW_SECONDS``. When they change
        (a switch elsewhere), every feature built on the old ones is rebuilt on next use."""
        from catalog.migration import FOLLOW_SECONDS, MigrationRecord, slot_plan

        now = time.monotonic()
        if self._slot_plan is not None and not refresh and now - self._slot_read_at < FOLLOW_SECONDS:
            return self._slot_plan
        leases = await self.container_named(self.settings.COSMOS_LEASES_CONTAINER)
        plan = slot_plan(await MigrationRecord(leases).load(), self.configured_model())
        self._slot_read_at = now
        if plan != self._slot_plan:
            if self._slot_plan is not None:
                log.info("vector slots changed: search uses slot %s (%s)", plan.active.name, plan.active_model.model_id)
            for name in ("catalog", "search", "finder", "pipelines", "reconcilers", "embedding_status", "reembedder"):
                self._features.pop(name, None)
            self._features.pop("chat", None)
            self._slot_plan = plan
        return plan

    async def embedding_status(self) -> EmbeddingStatusView:
        """The operator's view of the active slot's stamps, failures and last reconcile (built once)."""
        return (await self.embedding_statuses())[0]

    async def embedding_statuses(self) -> list[EmbeddingStatusView]:
        """A status view per slot kept current, the active one first."""
        from catalog.embedding_status import EmbeddingStatusView

        reconcilers = await self.reconcilers()
        if "embedding_status" not in self._features:
            products, deadletters = await self.products(), await self.deadletters()
            self._features["embedding_status"] = [
                EmbeddingStatusView(
                    products,
                    deadletters,
                    reconciler.record,
                    reconciler.recipe,
                    max_failed_attempts=reconciler.max_failed_attempts,
                )
                for reconciler in reconcilers
            ]
        views: list[EmbeddingStatusView] = self._features["embedding_status"]
        return views

    async def reembedder(self) -> Reembedder:
        """Re-embeds products an operator names (built once)."""
        from catalog.reembed import Reembedder

        await self.slots()
        if "reembedder" not in self._features:
            self._features["reembedder"] = Reembedder(await self.products(), await self.embedding_pipeline())
        reembedder: Reembedder = self._features["reembedder"]
        return reembedder

    async def chat(self) -> ChatService:
        """The RAG chat over products, the semantic cache and the session history (built once)."""
        from chat.cache import SemanticCache
        from chat.history import ChatHistory
        from chat.service import ChatService

        plan = await self.slots()
        if "chat" not in self._features:
            s = self.settings
            cache = SemanticCache(
                await self.container_named(s.COSMOS_CACHE_CONTAINER),
                await self.products(),
                threshold=s.CHAT_CACHE_THRESHOLD,
                ttl_seconds=s.CHAT_CACHE_TTL_SECONDS,
                embedding_model=plan.active_model.model_id,
                vector_field=plan.active.vector_field,
            )
            history = ChatHistory(
                await self.container_named(s.COSMOS_HISTORY_CONTAINER),
                s.CHAT_HISTORY_MAX_TURNS,
                s.CHAT_HISTORY_TTL_SECONDS,
            )
            self._features["chat"] = ChatService(
                finder=await self.finder(),
                cache=cache,
                history=history,
                model=self.chat_model,
                history_token_budget=s.CHAT_HISTORY_TOKEN_BUDGET,
                show_cache_score=s.CHAT_DEBUG_CACHE_SCORE,
                ledger=self.ledger,
            )
        chat: ChatService = self._features["chat"]
        return chat

    def feature(self, name: str, build: Callable[[], T]) -> T:
        """A process-wide helper of the glue (e.g. the rate limiter), built on first use."""
        if name not in self._features:
            self._features[name] = build()
        built: T = self._features[name]
        return built

    async def usage_book(self) -> DocumentContainer:
        """Where the ledger keeps its day documents: the leases container."""
        return await self.container_named(self.settings.COSMOS_LEASES_CONTAINER)

    @property
    def request_charges(self) -> bool:
        """Whether the store reports request units (Cosmos DB does; the embedded store has none)."""
        return self.settings.STORE_BACKEND is StoreBackend.COSMOS

    async def flush_usage(self, *, force: bool = False) -> None:
        """Add the ledger's counts to its book (when due, or now); a failure is logged, the counts stay pending."""
        if not self.ledger.pending():
            return  # nothing to write: do not open a store that may be the reason the process is stopping
        try:
            book = await self.usage_book()
            await (self.ledger.flush(book) if force else self.ledger.flush_if_due(book))
        except StoreError as error:
            log.warning("usage ledger: could not write the day totals; they stay pending: %s", error)
        except Exception:
            log.warning("usage ledger: could not write the day totals; they stay pending", exc_info=True)

    async def close(self) -> None:
        await self.flush_usage(force=True)
        await self.chat_model.close()
        await self.embedder.close()
        for embedder in self._slot_embedders.values():
            await embedder.close()
        await self.store.close()


def _usage_ledger() -> UsageLedger:
    from ledger import UsageLedger

    return UsageLedger()


def _batch_report() -> BatchReport:
    from catalog.embedding_sync import BatchReport

    return BatchReport()


def build_services(settings: Settings) -> Services:
    from composition.backends import build_chat_model, build_embedder, build_store
    from composition.metering import build_ledger, meter_models
    from composition.telemetry import configure_telemetry

    configure_telemetry(settings)
    ledger = build_ledger(settings)
    services = Services(
        settings=settings,
        store=build_store(settings, ledger.record_request_charge),
        embedder=build_embedder(settings),
        chat_model=build_chat_model(settings),
        ledger=ledger,
    )
    meter_models(ledger, settings, services.embedder, services.chat_model)
    return services


_services: Services | None = None


async def get_services() -> Services:
    """The process-wide services, built on first use from the environment's settings."""
    global _services
    # Building is synchronous (no await), so two coroutines cannot both build: no lock needed.
    if _services is None:
        _services = build_services(load_settings())
        log.info(
            "services ready: store=%s embedder=%s (%d dims)",
            _services.settings.STORE_BACKEND,
            _services.embedder.model_id,
            _services.embedder.dimensions,
        )
    return _services


def set_services(services: Services | None) -> None:
    """Install prebuilt services (the dev host and tests inject theirs); ``None`` forgets them."""
    global _services
    _services = services
