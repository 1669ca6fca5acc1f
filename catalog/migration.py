"""Moving the catalog to another embedding model as an operation, not a rebuild.

A product has two vector slots (:data:`catalog.model.SLOTS`). Search ranks by the **active** one. A migration fills
the other slot with the new model's vectors while search keeps using the old one, so no ranking ever holds two
models' vectors:

``plan``
    what a switch will cost before anything runs: products, tokens, an estimated price and time
    (:class:`catalog.migration_plan.MigrationPlanner`).
``start``
    records the target model in the other slot (phase ``filling``). From then on the change-feed pipeline and the
    reconciler keep **both** slots current, and the backfill of the target slot is the reconciler's work.
``status``
    the state below plus per-slot counts (the status view).
``switch``
    one write of the state document makes the target slot active (phase ``switched``); every instance follows
    within :data:`FOLLOW_SECONDS`. Refused while target vectors are missing, unless forced.
``rollback``
    after a switch, makes the old slot active again (phase ``filling``); before one, abandons the migration and
    clears the target slot (phase ``idle``).
``finish``
    after a switch, clears the old slot from every product (phase ``idle``): the new model is the only one.

The state is one document in the leases container (``id`` :data:`RECORD_ID`, like the reconciler's record), written
conditionally on its ``_etag``, so two operators cannot both switch. Without it the catalog is on slot ``a`` with the
model the settings name. Once a migration has started, the document names each slot's model settings, and it, not
the settings, says which model search uses.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from catalog.embedding_sync import WRITE_CONCURRENCY
from catalog.migration_plan import PAGE_SIZE, coverage
from catalog.model import (
    SLOT_A,
    SLOTS,
    EmbeddingRecipe,
    VectorSlot,
    utc_timestamp,
)
from store.base import (
    ConflictError,
    Document,
    DocumentContainer,
    FieldFilter,
    NotFoundError,
    PatchOperation,
    PreconditionFailedError,
)

RECORD_ID = "embeddings-migration"
#: How often an instance re-reads the state (a switch reaches every instance within this many seconds).
FOLLOW_SECONDS = 5.0
#: Events kept in the state document's history.
MAX_HISTORY = 20

Phase = Literal["idle", "filling", "switched"]

#: The settings that make a model (and nothing secret: endpoints and keys stay in the settings).
MODEL_SETTINGS = (
    "EMBEDDING_BACKEND",
    "EMBEDDING_MODEL",
    "EMBEDDING_DIMENSIONS",
    "AZURE_OPENAI_EMBEDDING_DEPLOYMENT",
    "LOCAL_EMBEDDING_MODEL_DIR",
    "EMBED_FIELDS",
)


class MigrationError(Exception):
    """An operation that does not fit the migration's phase (or a state someone else changed); says what to do."""


@dataclass(frozen=True)
class SlotModel:
    """What fills one slot: the model settings (``MODEL_SETTINGS``, as strings) and the model they make."""

    settings: Mapping[str, str]
    model_id: str
    dimensions: int
    fields: tuple[str, ...]

    def makes_same_vectors(self, other: SlotModel) -> bool:
        return (self.model_id, self.dimensions, self.fields) == (other.model_id, other.dimensions, other.fields)

    def recipe(self, slot: VectorSlot) -> EmbeddingRecipe:
        return EmbeddingRecipe(self.fields, self.model_id, self.dimensions, slot)

    def to_json(self) -> dict[str, Any]:
        return {
            "settings": dict(self.settings),
            "model": self.model_id,
            "dimensions": self.dimensions,
            "fields": list(self.fields),
        }

    @staticmethod
    def from_json(value: Mapping[str, Any]) -> SlotModel:
        return SlotModel(
            {str(k): str(v) for k, v in dict(value.get("settings") or {}).items()},
            str(value["model"]),
            int(value["dimensions"]),
            tuple(str(name) for name in value.get("fields") or ()),
        )


@dataclass
class MigrationState:
    """Which slot search uses and what fills each slot."""

    active: str = SLOT_A.name
    phase: Phase = "idle"
    #: slot name → its model; only slots in use (the active one, and the target while migrating).
    slots: dict[str, SlotModel] = field(default_factory=dict)
    started_at: str | None = None
    switched_at: str | None = None
    history: list[str] = field(default_factory=list)
    etag: str | None = None

    @property
    def target(self) -> str | None:
        """The slot being filled (``filling``) or kept for a rollback (``switched``); ``None`` when idle."""
        if self.phase == "idle":
            return None
        return next(name for name in SLOTS if name != self.active)

    @property
    def recorded(self) -> bool:
        """Whether a migration ever started (the document exists): it, not the settings, names the models."""
        return self.etag is not None

    def log(self, event: str, at: str) -> None:
        self.history = [*self.history, f"{at} {event}"][-MAX_HISTORY:]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": RECORD_ID,
            "active": self.active,
            "phase": self.phase,
            "slots": {name: model.to_json() for name, model in self.slots.items()},
            "started_at": self.started_at,
            "switched_at": self.switched_at,
            "history": self.history,
        }

    def view(self) -> dict[str, Any]:
        """What an operator is shown (no etag)."""
        shown = self.to_json()
        shown.pop("id")
        shown["target"] = self.target
        shown["recorded"] = self.recorded
        return shown

    @staticmethod
    def from_document(document: Mapping[str, Any]) -> MigrationState:
        phase = document.get("phase")
        active = document.get("active")
        return MigrationState(
            active=active if active in SLOTS else SLOT_A.name,
            phase=phase if phase in ("idle", "filling", "switched") else "idle",
            slots={str(k): SlotModel.from_json(v) for k, v in dict(document.get("slots") or {}).items()},
            started_at=document.get("started_at"),
            switched_at=document.get("switched_at"),
            history=[str(line) for line in document.get("history") or []][-MAX_HISTORY:],
            etag=document.get("_etag"),
        )


class MigrationRecord:
    """The state document in the leases container (partition key ``/id``)."""

    def __init__(self, container: DocumentContainer) -> None:
        self.container = container

    async def load(self) -> MigrationState:
        document = await self.container.read(RECORD_ID, RECORD_ID)
        return MigrationState() if document is None else MigrationState.from_document(document)

    async def save(self, state: MigrationState) -> MigrationState:
        """Write ``state`` if the stored one is still the one it was read from.

        Raises:
            MigrationError: someone changed the migration meanwhile.
        """
        try:
            if state.etag is None:
                stored = await self.container.create(state.to_json())
            else:
                stored = await self.container.replace(state.to_json(), if_match=state.etag)
        except (PreconditionFailedError, NotFoundError, ConflictError) as error:
            raise MigrationError("the migration was changed by someone else meanwhile: look at its status") from error
        return MigrationState.from_document(stored)


@dataclass(frozen=True)
class SlotPlan:
    """What the catalog runs on now: the active slot's model, and the target slot's while migrating."""

    active: VectorSlot
    active_model: SlotModel
    target: VectorSlot | None = None
    target_model: SlotModel | None = None

    def maintained(self) -> list[tuple[VectorSlot, SlotModel]]:
        """Every slot the pipeline and the reconciler keep current: the active one first."""
        slots = [(self.active, self.active_model)]
        if self.target is not None and self.target_model is not None:
            slots.append((self.target, self.target_model))
        return slots


def slot_plan(state: MigrationState, configured: SlotModel) -> SlotPlan:
    """The slots to use for ``state``; ``configured`` (the settings' model) fills slot ``a`` when nothing is
    recorded."""
    if not state.recorded or state.active not in state.slots:
        return SlotPlan(SLOTS[state.active], configured)
    target = state.target
    target_model = state.slots.get(target) if target else None
    return SlotPlan(
        SLOTS[state.active],
        state.slots[state.active],
        SLOTS[target] if target and target_model else None,
        target_model,
    )


class Migrations:
    """The operations on the state document (the backfill itself is the target slot's reconciler's work).

    Args:
        record: the state document.
        products: the products container (``finish`` and ``rollback`` clear a slot from every product).
        configured: the model the settings name (slot ``a`` when nothing is recorded).
        clock: timestamps.
    """

    def __init__(
        self,
        record: MigrationRecord,
        products: DocumentContainer,
        configured: SlotModel,
        clock: Callable[[], str] = utc_timestamp,
    ) -> None:
        self.record = record
        self.products = products
        self.configured = configured
        self.clock = clock

    async def state(self) -> MigrationState:
        return await self.record.load()

    async def start(self, target: SlotModel) -> MigrationState:
        """Record ``target`` in the free slot; both slots are kept current from now on.

        Raises:
            MigrationError: a migration is already under way, or ``target`` is the model search uses now.
        """
        state = await self.record.load()
        if state.phase != "idle":
            raise MigrationError(
                f"a migration to {state.slots[state.target or ''].model_id} is already {state.phase}: "
                "switch, roll back or finish it first"
            )
        current = state.slots.get(state.active, self.configured)
        if (target.model_id, target.dimensions, target.fields) == (
            current.model_id,
            current.dimensions,
            current.fields,
        ):
            raise MigrationError(f"search already uses {target.model_id} ({target.dimensions} dimensions)")
        state.slots = {state.active: current}
        state.phase = "filling"
        state.slots[state.target or ""] = target
        at = self.clock()
        state.started_at, state.switched_at = at, None
        state.log(f"start: slot {state.target} <- {target.model_id} ({target.dimensions})", at)
        return await self.record.save(state)

    async def switch(self, *, force: bool = False) -> MigrationState:
        """Make the target slot the one search uses.

        Raises:
            MigrationError: nothing is being filled, or (unless ``force``) products still lack a target vector.
        """
        state = await self.record.load()
        if state.phase != "filling" or state.target is None:
            raise MigrationError(f"nothing to switch to: the migration is {state.phase}")
        target = SLOTS[state.target]
        [found] = await coverage(self.products, state.slots[target.name].recipe(target))
        if found.missing and not force:
            raise MigrationError(
                f"{found.missing} of {found.products} products have no {found.model} vector yet: they would drop "
                "out of search. Run `catalog reconcile` (or wait for the timer) and try again, or switch with --force"
            )
        previous = state.active
        state.active, state.phase = target.name, "switched"
        state.switched_at = self.clock()
        state.log(f"switch: search {previous} -> {target.name} (missing {found.missing})", state.switched_at)
        return await self.record.save(state)

    async def rollback(self) -> tuple[MigrationState, int]:
        """After a switch: search the old slot again (still kept current). Before one: abandon the migration and
        clear the target slot. Returns the state and how many products were cleared.

        Raises:
            MigrationError: there is no migration.
        """
        state = await self.record.load()
        at = self.clock()
        if state.phase == "switched" and state.target is not None:
            back = state.target
            state.log(f"rollback: search {state.active} -> {back}", at)
            state.active, state.phase, state.switched_at = back, "filling", None
            return await self.record.save(state), 0
        if state.phase == "filling" and state.target is not None:
            abandoned = state.target
            state.log(f"rollback: abandoned slot {abandoned} ({state.slots[abandoned].model_id})", at)
            state.slots = {state.active: state.slots[state.active]}
            state.phase = "idle"
            saved = await self.record.save(state)
            return saved, await clear_slot(self.products, SLOTS[abandoned])
        raise MigrationError("there is no migration to roll back")

    async def finish(self) -> tuple[MigrationState, int]:
        """After a switch: clear the old slot from every product; the new model is the only one.

        Raises:
            MigrationError: the migration has not switched.
        """
        state = await self.record.load()
        if state.phase != "switched" or state.target is None:
            raise MigrationError(f"only a switched migration can finish; it is {state.phase}")
        old = state.target
        at = self.clock()
        state.log(f"finish: slot {old} ({state.slots[old].model_id}) cleared", at)
        state.slots = {state.active: state.slots[state.active]}
        state.phase = "idle"
        saved = await self.record.save(state)  # first: the pipeline stops filling the old slot
        return saved, await clear_slot(self.products, SLOTS[old])


async def clear_slot(products: DocumentContainer, slot: VectorSlot) -> int:
    """Remove ``slot``'s vector and stamp from every product that has them; returns how many were cleared.

    A removal of the pipeline's own fields cannot undo a user's edit, so it is not conditional; its change event is
    an echo the pipeline skips (the active slot is current).
    """
    cleared = 0
    after: str | None = None
    limit = asyncio.Semaphore(WRITE_CONCURRENCY)

    async def clear(document: Document) -> int:
        operations = [PatchOperation("remove", "/" + name) for name in (slot.vector_field, slot.info_field)]
        operations = [op for op in operations if op.path[1:] in document]
        if not operations:
            return 0
        async with limit:
            try:
                await products.patch(str(document["id"]), products.partition_key_of(document), operations)
            except NotFoundError:
                return 0  # deleted meanwhile
        return 1

    while True:
        filters = [FieldFilter(f"{slot.info_field}.status", "ge", "")]  # every stamped product
        if after is not None:
            filters.append(FieldFilter("id", "gt", after))
        page = await products.query(filters, order_by="id", limit=PAGE_SIZE)
        cleared += sum(await asyncio.gather(*(clear(document) for document in page)))
        if len(page) < PAGE_SIZE:
            return cleared
        after = str(page[-1]["id"])
