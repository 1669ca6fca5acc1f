"""``catalog migrate``: move the catalog to another embedding model without a rebuild (see :mod:`catalog.migration`).

``plan`` prints what a switch will cost; ``start`` records the target model in the second vector slot and fills it;
``status`` shows how far it is; ``evaluate`` asks the team's labelled questions of both slots; ``switch`` makes search
use the new slot; ``rollback`` goes back (or abandons a migration not switched yet); ``finish`` clears the old slot.

The target is given as model settings: ``--to EMBEDDING_BACKEND=azure-openai --to
AZURE_OPENAI_EMBEDDING_DEPLOYMENT=text-embedding-3-large --to EMBEDDING_DIMENSIONS=1536`` (endpoints and keys stay in
the settings; only the keys of :data:`catalog.migration.MODEL_SETTINGS` are recorded). Every command works on the
configured store directly, beside a running host: hosts follow the recorded state within a few seconds.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

from catalog.migration import MODEL_SETTINGS, MigrationError, SlotModel
from catalog.migration_plan import MigrationPlanner, coverage
from catalog.model import SLOTS, VectorSlot
from catalog.retrieval import ProductFinder
from catalog.search import ProductSearch
from composition.services import Services, build_services
from composition.settings import SettingsError, load_settings
from composition.settings_text import setting_text, with_values
from devhost.cli.common import EXIT_FAILURE, fail, open_store, run_command
from evaluation.catalogs import QUESTION_FILES
from evaluation.metrics import load_questions, score_question, summarise

#: Texts timed to estimate a local model's throughput for ``plan``.
THROUGHPUT_SAMPLE = 32
#: Reconcile runs ``start`` makes at most before leaving the rest of the backfill to the timer.
MAX_BACKFILL_RUNS = 1000


def parse_target(pairs: Sequence[str]) -> dict[str, str]:
    """``KEY=VALUE`` pairs of model settings.

    Raises:
        SettingsError: a pair is malformed or names a setting that does not make a model.
    """
    values: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise SettingsError(f"--to takes KEY=VALUE, not {pair!r}; example: --to EMBEDDING_DIMENSIONS=512")
        if key not in MODEL_SETTINGS:
            raise SettingsError(f"--to {key}: only model settings can change ({', '.join(MODEL_SETTINGS)})")
        values[key] = value.strip()
    if not values:
        raise SettingsError("name the target model with --to KEY=VALUE; example: --to EMBEDDING_DIMENSIONS=512")
    return values


def target_model(services: Services, pairs: Sequence[str]) -> SlotModel:
    """The model the ``--to`` pairs make, over the settings in force (built once to learn its id and size)."""
    settings = with_values(services.settings, parse_target(pairs))
    values = {name: setting_text(settings, name) for name in MODEL_SETTINGS}
    probe = SlotModel(values, "", 0, tuple(settings.EMBED_FIELDS))
    embedder = services.embedder_for(probe)
    return SlotModel(values, embedder.model_id, embedder.dimensions, tuple(settings.EMBED_FIELDS))


async def slot_problem(services: Services, model: SlotModel) -> str | None:
    """Why ``model`` cannot fill the free vector slot of this store, or ``None``. Cosmos DB fixes a container's vector
    paths and sizes when it is made; the embedded store takes any."""
    active = (await services.slots(refresh=True)).active
    [free] = [slot for slot in SLOTS.values() if slot != active]
    return vector_slot_problem(await (await services.products()).stored_vector_sizes(), free, model)


def vector_slot_problem(sizes: dict[str, int] | None, free: VectorSlot, model: SlotModel) -> str | None:
    """The reason ``model`` cannot go into ``free`` given the container's stored ``{path: size}`` (``None``: any)."""
    if sizes is None:
        return None
    size = sizes.get(free.vector_path)
    if size is None:
        return (
            f"the products container has no vector path {free.vector_path}: it was made before containers had a "
            "second slot, and a Cosmos DB vector policy cannot change. Make a new container with "
            "`python -m composition.cosmos_bootstrap` (or azd provision) under a new COSMOS_PRODUCTS_CONTAINER and "
            "copy the products in"
        )
    if size != model.dimensions:
        return (
            f"the products container's vector path {free.vector_path} holds {size}-dimension vectors (a Cosmos DB "
            f"vector policy is fixed when the container is made); {model.model_id} makes {model.dimensions}: choose "
            f"EMBEDDING_DIMENSIONS={size} where the model allows it, or make a new container"
        )
    return None


async def _throughput(services: Services, model: SlotModel) -> float:
    """Texts per second the model embeds here, timed on a sample of the catalog (for a local model's plan)."""
    embedder = services.embedder_for(model)
    products = await (await services.products()).query(limit=THROUGHPUT_SAMPLE)
    texts = [str(p.get("description") or p.get("name") or "x") for p in products] or ["sample text"]
    started = time.perf_counter()
    await embedder.embed(texts)
    return len(texts) / max(time.perf_counter() - started, 1e-6)


async def plan_command(services: Services, pairs: Sequence[str], out: TextIO) -> int:
    model = target_model(services, pairs)
    problem = await slot_problem(services, model)
    settings = with_values(services.settings, model.settings)
    metered = str(settings.EMBEDDING_BACKEND) in ("azure-openai", "openai")
    price = services.settings.PRICE_EMBEDDING_PER_1M_TOKENS if metered else 0.0
    quota = services.settings.EMBED_QUOTA_TPM if metered else 0
    speed = None if metered else await _throughput(services, model)
    planner = MigrationPlanner(await services.products(), services.embedder_for(model), model.fields)
    plan = await planner.plan(price_per_million_tokens=price, quota_tokens_per_minute=quota, texts_per_second=speed)
    current = (await services.slots()).active_model
    minutes = "unknown" if math.isnan(plan.estimated_seconds) else f"{plan.estimated_seconds / 60:.1f} min"
    currency = services.settings.PRICE_CURRENCY
    print(
        f"from {current.model_id} ({current.dimensions} dims) to {plan.model} ({plan.dimensions} dims), "
        f"fields {','.join(model.fields)}\n"
        f"{plan.products} live products, {plan.embeddable} to embed ({plan.truncated} cut to the input limit)\n"
        f"{plan.tokens:,} tokens in {plan.requests} requests\n"
        f"estimated cost: {plan.estimated_cost:.4f} {currency} at {price} per 1M tokens (an estimate: list price)\n"
        f"estimated time: {minutes} at {plan.basis}",
        file=out,
    )
    if problem:
        print(f"cannot start here: {problem}", file=out)
        return EXIT_FAILURE
    return 0


async def start_command(services: Services, pairs: Sequence[str], backfill: bool, out: TextIO) -> int:
    model = target_model(services, pairs)
    problem = await slot_problem(services, model)
    if problem:
        return fail(problem, EXIT_FAILURE)
    state = await (await services.migrations()).start(model)
    print(f"started: slot {state.target} <- {model.model_id} ({model.dimensions} dims); search stays on slot "
          f"{state.active}", file=out)  # fmt: skip
    if backfill:
        await backfill_target(services, out)
    else:
        print("the reconcile timer fills the new slot; `catalog migrate status` shows how far", file=out)
    return 0


async def backfill_target(services: Services, out: TextIO) -> None:
    """Reconcile the target slot until a run goes round the whole catalog."""
    await services.slots(refresh=True)
    reconcilers = await services.reconcilers()
    if len(reconcilers) < 2:
        return
    target = reconcilers[1]
    for _ in range(MAX_BACKFILL_RUNS):
        report = await target.reconcile()
        print(f"slot {target.recipe.slot.name}: {report.embedded} embedded, {report.failed} failed "
              f"({report.seen} read)", file=out)  # fmt: skip
        if report.complete:
            return


async def status_command(services: Services, out: TextIO) -> int:
    migrations = await services.migrations()
    state = await migrations.state()
    plan = await services.slots(refresh=True)
    print(f"phase {state.phase}: search uses slot {plan.active.name} ({plan.active_model.model_id}, "
          f"{plan.active_model.dimensions} dims)", file=out)  # fmt: skip
    slots = plan.maintained()
    found_each = await coverage(await services.products(), *(model.recipe(slot) for slot, model in slots))
    for (slot, model), found in zip(slots, found_each, strict=True):
        share = 100.0 * found.current / found.products if found.products else 100.0
        print(f"slot {slot.name} {model.model_id} ({model.dimensions} dims): {found.current}/{found.products} "
              f"current ({share:.1f}%), {found.failed} failed, {found.missing} missing", file=out)  # fmt: skip
    configured = services.configured_model()
    if state.recorded and not configured.makes_same_vectors(plan.active_model) and state.phase == "idle":
        active = plan.active_model
        print(f"note: the settings name {configured.model_id} ({configured.dimensions} dims) but the catalog is on "
              f"{active.model_id} ({active.dimensions} dims): set the EMBEDDING_* settings to match, or start a "
              "migration", file=out)  # fmt: skip
    for line in state.history[-5:]:
        print(f"  {line}", file=out)
    return 0


async def evaluate_command(services: Services, out: TextIO) -> int:
    """hit@1 and MRR@5 of the labelled questions whose products this store holds, on each slot."""
    plan = await services.slots(refresh=True)
    if plan.target is None or plan.target_model is None:
        return fail("no migration under way: nothing to compare (start one first)", EXIT_FAILURE)
    products = await services.products()
    sets = []
    for name, path in QUESTION_FILES.items():
        questions = load_questions(path)
        ids = {i for q in questions for i in q.label.get("product_ids") or []}
        if ids and await products.read(sorted(ids)[0], sorted(ids)[0]) is not None:
            sets.append((name, questions))
    if not sets:
        return fail("none of the labelled question sets matches this catalog's products", EXIT_FAILURE)
    print(f"{'set':<14} {'slot':<5} {'model':<28} {'hit@1':>6} {'mrr@5':>6} {'n':>4}", file=out)
    for name, questions in sets:
        for slot, model in plan.maintained():
            finder = await _finder(services, slot, model)
            scores = []
            for question in questions:
                found = await finder.find(question.question, 5)
                ranked = [] if found.no_match else [item.document for item in found.results]
                scores.append(score_question(question, ranked, answered_no=found.no_match or not found.results))
            overall = summarise(scores)["overall"]
            print(f"{name:<14} {slot.name:<5} {model.model_id[:28]:<28} {overall['hit@1'] or 0:>6.3f} "
                  f"{overall['mrr@5'] or 0:>6.3f} {overall['answerable']:>4}", file=out)  # fmt: skip
    return 0


async def _finder(services: Services, slot: VectorSlot, model: SlotModel) -> ProductFinder:
    search = ProductSearch(
        await services.products(), services.embedder_for(model), services.settings.SEARCH_MODE, slot=slot
    )
    return ProductFinder(search, await services.categories())


async def switch_command(services: Services, force: bool, out: TextIO) -> int:
    state = await (await services.migrations()).switch(force=force)
    model = state.slots[state.active]
    print(f"search now uses slot {state.active} ({model.model_id}); hosts follow within a few seconds. "
          "`catalog migrate rollback` goes back, `catalog migrate finish` clears the old slot", file=out)  # fmt: skip
    return 0


async def rollback_command(services: Services, out: TextIO) -> int:
    state, cleared = await (await services.migrations()).rollback()
    if state.phase == "idle":
        print(f"migration abandoned; cleared the new slot from {cleared} products", file=out)
    else:
        print(f"search uses slot {state.active} ({state.slots[state.active].model_id}) again; both slots are kept "
              "current", file=out)  # fmt: skip
    return 0


async def finish_command(services: Services, out: TextIO) -> int:
    state, cleared = await (await services.migrations()).finish()
    model = state.slots[state.active]
    print(f"finished: {model.model_id} in slot {state.active} is the only model; cleared the old slot from "
          f"{cleared} products", file=out)  # fmt: skip
    configured = services.configured_model()
    changed = {key: value for key, value in model.settings.items() if configured.settings.get(key) != value}
    if changed and model.dimensions != configured.dimensions and str(services.settings.STORE_BACKEND) == "local":
        # The embedded store made its containers for the first size: keep the settings, the record names the model.
        print("the recorded state names the model from now on; keep EMBEDDING_DIMENSIONS as it is (the local store "
              f"was made for {configured.dimensions})", file=out)  # fmt: skip
    elif changed:
        pairs = " ".join(f"{key}={value}" for key, value in changed.items())
        print(f"set {pairs} in the settings to match (the recorded state rules until then)", file=out)
    return 0


async def run_direct(args: argparse.Namespace, *, services: Services | None = None, out: TextIO | None = None) -> int:
    """Run one ``migrate`` action against the configured store."""
    own = services is None
    services = services or build_services(load_settings())
    out = out or sys.stdout
    try:
        await open_store(services)
        action = args.action
        if action == "plan":
            return await plan_command(services, args.to, out)
        if action == "start":
            return await start_command(services, args.to, not args.no_backfill, out)
        if action == "status":
            return await status_command(services, out)
        if action == "evaluate":
            return await evaluate_command(services, out)
        if action == "switch":
            return await switch_command(services, args.force, out)
        if action == "rollback":
            return await rollback_command(services, out)
        return await finish_command(services, out)
    except MigrationError as error:
        return fail(str(error), EXIT_FAILURE)
    finally:
        if own:
            await services.close()


def command_migrate(args: argparse.Namespace) -> int:
    return run_command(lambda: run_direct(args))


def add_migrate_command(commands: Any, common: argparse.ArgumentParser) -> None:
    """``migrate plan|start|status|evaluate|switch|rollback|finish``."""
    migrate = commands.add_parser(
        "migrate",
        parents=[common],
        help="move the catalog to another embedding model",
        description="Fill a second vector slot with another model's vectors while search keeps the first, then "
        "switch, roll back or finish. Products: " + ", ".join(f"{s.name}={s.vector_field}" for s in SLOTS.values()),
    )
    actions = migrate.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, text in (
        ("plan", "what moving to the model will cost: products, tokens, price and time"),
        ("start", "record the model in the second slot and fill it"),
    ):
        action = actions.add_parser(name, parents=[common], help=text, description=text)
        action.add_argument("--to", action="append", default=[], metavar="KEY=VALUE", help="a model setting")
        if name == "start":
            action.add_argument("--no-backfill", action="store_true", help="leave the filling to the timer")
    for name, text in (
        ("status", "the phase and how far each slot is"),
        ("evaluate", "hit@1 and MRR@5 of the labelled questions on each slot"),
        ("switch", "make search use the new slot"),
        ("rollback", "search the old slot again, or abandon a migration not switched yet"),
        ("finish", "clear the old slot: the new model is the only one"),
    ):
        action = actions.add_parser(name, parents=[common], help=text, description=text)
        if name == "switch":
            action.add_argument("--force", action="store_true", help="switch even if products lack a new vector")
    migrate.set_defaults(handler=command_migrate, log_level=logging.WARNING)
