"""Driving a ``cosmosDBTrigger`` function from a container's change feed, as the Functions host does.

One :class:`ChangeFeedTrigger` per function: it keeps its checkpoint in a lease document (id = the binding's
``leaseContainerPrefix`` + the function name) in the lease container, reads at most ``maxItemsPerInvocation``
changes after it, calls the function with a ``func.DocumentList`` and only then advances the checkpoint. A failed
invocation is retried with the same documents under the function's retry policy; the checkpoint moves past them
only on success, or when the retries are exhausted (then the batch is logged and skipped, as in Azure).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import azure.functions as func

from composition.settings_text import resolve_app_setting
from devhost.invocation import FunctionInvoker
from devhost.retry import RetryPolicy
from store.base import Document, DocumentContainer

log = logging.getLogger(__name__)

_APP_SETTING = re.compile(r"%([^%]+)%")

#: The Cosmos DB trigger's defaults when the binding does not say.
DEFAULT_MAX_ITEMS = 100
DEFAULT_FEED_POLL_DELAY_MS = 5000
DEFAULT_LEASE_CONTAINER = "leases"


def resolve_binding_expression(value: str, environ: Mapping[str, str] | None = None) -> str:
    """``value`` with every ``%NAME%`` replaced by the app setting (``"%COSMOS_DATABASE%"`` -> ``"catalog"``).

    Raises:
        SettingsError: a named app setting is neither set nor a known setting with a default.
    """
    return _APP_SETTING.sub(lambda found: resolve_app_setting(found.group(1), environ), value)


@dataclass(frozen=True)
class CosmosTriggerBinding:
    """A ``cosmosDBTrigger`` binding with its app-setting expressions resolved and defaults applied.

    Attributes:
        function_name: the function it triggers.
        argument_name: the parameter that receives the ``func.DocumentList``.
        database_name: the monitored database (informational: the store is one database).
        container_name: the monitored container.
        lease_container_name: where the checkpoint lives.
        lease_id: the checkpoint document's id: ``leaseContainerPrefix`` + function name.
        max_items: most documents per invocation.
        feed_poll_delay: seconds to wait after the feed is drained before polling again.
        start_from_beginning: on the very first start (no lease yet), read the whole feed instead of from now.
    """

    function_name: str
    argument_name: str
    database_name: str
    container_name: str
    lease_container_name: str
    lease_id: str
    max_items: int = DEFAULT_MAX_ITEMS
    feed_poll_delay: float = DEFAULT_FEED_POLL_DELAY_MS / 1000
    start_from_beginning: bool = False

    @classmethod
    def from_binding(
        cls, function_name: str, binding: Mapping[str, Any], environ: Mapping[str, str] | None = None
    ) -> CosmosTriggerBinding:
        """Read a binding dict from ``fn.get_function_json()``.

        Raises:
            SettingsError: a ``%NAME%`` expression names an app setting that is not set.
            ValueError: a numeric field is not a positive number.
        """
        max_items = int(binding.get("maxItemsPerInvocation") or DEFAULT_MAX_ITEMS)
        poll_delay_ms = int(binding.get("feedPollDelay") or DEFAULT_FEED_POLL_DELAY_MS)
        if max_items < 1 or poll_delay_ms < 0:
            raise ValueError(f"function {function_name}: maxItemsPerInvocation and feedPollDelay must be positive")
        return cls(
            function_name=function_name,
            argument_name=str(binding["name"]),
            database_name=resolve_binding_expression(str(binding.get("databaseName") or ""), environ),
            container_name=resolve_binding_expression(str(binding["containerName"]), environ),
            lease_container_name=resolve_binding_expression(
                str(binding.get("leaseContainerName") or DEFAULT_LEASE_CONTAINER), environ
            ),
            lease_id=resolve_binding_expression(str(binding.get("leaseContainerPrefix") or ""), environ)
            + function_name,
            max_items=max_items,
            feed_poll_delay=poll_delay_ms / 1000,
            start_from_beginning=bool(binding.get("startFromBeginning", False)),
        )


@dataclass
class TriggerStats:
    """What one trigger has done since its host was created (for tests, benchmarks and the logs).

    Attributes:
        invocations: calls of the function, retries included.
        failures: calls that raised.
        retries: calls that repeated a failed batch.
        documents_delivered: documents passed to the function, counted once per call (so retries count again).
        documents_checkpointed: documents the checkpoint has moved past (processed, or skipped after exhausting
            the retries).
        batches_abandoned: batches skipped because the retry policy was exhausted.
        polls: change-feed reads.
    """

    invocations: int = 0
    failures: int = 0
    retries: int = 0
    documents_delivered: int = 0
    documents_checkpointed: int = 0
    batches_abandoned: int = 0
    polls: int = 0


class ChangeFeedTrigger:
    """Runs one ``cosmosDBTrigger`` function against a container's change feed.

    Args:
        binding: the resolved binding.
        invoker: calls the function.
        retry_policy: the function's ``@app.retry`` policy, or ``None`` (no retries).
        monitored: the container whose change feed triggers the function.
        leases: the container holding the checkpoint.
        owner: written into the lease document, to tell which host holds it.
    """

    def __init__(
        self,
        binding: CosmosTriggerBinding,
        invoker: FunctionInvoker,
        retry_policy: RetryPolicy | None,
        monitored: DocumentContainer,
        leases: DocumentContainer,
        owner: str,
    ) -> None:
        self.binding = binding
        self.invoker = invoker
        self.retry_policy = retry_policy
        self.monitored = monitored
        self.leases = leases
        self.owner = owner
        self.stats = TriggerStats()
        self._polls_started = 0
        self._caught_up_through = 0  # the latest poll that found the feed drained
        self._progress = asyncio.Condition()
        self._wake = asyncio.Event()

    @property
    def name(self) -> str:
        return self.binding.function_name

    async def run(self) -> None:
        """Poll, deliver and checkpoint until cancelled. Store errors are logged and retried after the poll delay."""
        while True:
            try:
                lease = await self.leases.read(self.binding.lease_id, self.binding.lease_id)
                break
            except Exception:
                log.exception("%s: cannot read lease %s; retrying", self.name, self.binding.lease_id)
                await self._sleep_until_next_poll()
        lease_stored = lease is not None
        continuation: str | None = lease.get("continuation") if lease else None
        # Once a lease exists the feed position is ours: no continuation means "from the start", never "from now",
        # or documents written while the host was down would be skipped.
        from_beginning = lease_stored or self.binding.start_from_beginning
        while True:
            self._wake.clear()
            self._polls_started += 1
            poll = self._polls_started
            self.stats.polls += 1
            try:
                batch = await self.monitored.read_changes(
                    continuation, self.binding.max_items, from_beginning=from_beginning
                )
            except Exception:
                log.exception("%s: reading the change feed of %s failed", self.name, self.binding.container_name)
                await self._sleep_until_next_poll()
                continue
            if batch.documents:
                await self._deliver(batch.documents)
            # An empty poll writes the lease only when the position moved or none is stored yet (Azure creates the
            # lease on the first start, so "start from now" is remembered across restarts).
            if batch.documents or batch.continuation != continuation or not lease_stored:
                lease_stored = await self._checkpoint(batch.continuation) or lease_stored
                self.stats.documents_checkpointed += len(batch.documents)
            continuation = batch.continuation
            from_beginning = True
            if batch.documents and batch.has_more:
                continue
            await self._mark_caught_up(poll)
            await self._sleep_until_next_poll()

    async def _deliver(self, documents: list[Document]) -> None:
        """Call the function until it succeeds or the retry policy gives up. Cancellation propagates."""
        policy = self.retry_policy
        max_retries = policy.max_retry_count if policy else 0
        retries = 0
        last_error: BaseException | None = None
        while True:
            # Fresh Document objects per attempt: a function that mutated them must not see its own edits again.
            batch = func.DocumentList([func.Document.from_dict(document) for document in documents])
            self.stats.invocations += 1
            self.stats.documents_delivered += len(documents)
            started = time.perf_counter()
            try:
                await self.invoker.invoke(
                    batch, retry_count=retries, max_retry_count=max_retries, last_error=last_error
                )
            except Exception as error:
                self.stats.failures += 1
                elapsed_ms = (time.perf_counter() - started) * 1000
                if policy is None or not policy.allows_retry(retries):
                    self.stats.batches_abandoned += 1
                    log.error(
                        "%s failed on %d documents (first id %s, last id %s) after %d retries; the checkpoint moves "
                        "past them, so they will not be delivered again",
                        self.name,
                        len(documents),
                        documents[0].get("id"),
                        documents[-1].get("id"),
                        retries,
                        exc_info=error,
                    )
                    return
                retries += 1
                self.stats.retries += 1
                delay = policy.delay_before_retry(retries)
                # The traceback once per batch; later attempts of the same batch get one line each.
                log.warning(
                    "%s failed on %d documents in %.0f ms (%s: %s); retry %d%s in %.2fs, checkpoint not advanced",
                    self.name,
                    len(documents),
                    elapsed_ms,
                    type(error).__name__,
                    error,
                    retries,
                    "" if policy.retries_forever else f"/{policy.max_retry_count}",
                    delay,
                    exc_info=error if retries == 1 else None,
                )
                last_error = error
                await asyncio.sleep(delay)
                continue
            log.info(
                "%s processed %d documents in %.0f ms%s",
                self.name,
                len(documents),
                (time.perf_counter() - started) * 1000,
                f" after {retries} retries" if retries else "",
            )
            return

    async def _checkpoint(self, continuation: str | None) -> bool:
        """Store the checkpoint; ``False`` (logged) when the lease container refused the write."""
        lease = {
            "id": self.binding.lease_id,
            "continuation": continuation,
            "owner": self.owner,
            "timestamp": datetime.now(UTC).isoformat(),
            "function": self.name,
            "monitored": f"{self.binding.database_name}/{self.binding.container_name}",
        }
        try:
            await self.leases.upsert(lease)
        except Exception:
            # The documents were processed; keep going from memory. A restart may deliver them again, which
            # at-least-once delivery allows.
            log.exception("%s: storing the checkpoint failed", self.name)
            return False
        return True

    async def _mark_caught_up(self, poll: int) -> None:
        async with self._progress:
            self._caught_up_through = poll
            self._progress.notify_all()

    async def _sleep_until_next_poll(self) -> None:
        try:
            await asyncio.wait_for(self._wake.wait(), timeout=self.binding.feed_poll_delay)
        except TimeoutError:
            pass

    async def wait_until_caught_up(self) -> None:
        """Return once a poll that started after this call found the feed drained (everything before it delivered)."""
        target = self._polls_started + 1
        self._wake.set()  # cut the feed-poll delay short; it never shortens a retry delay
        async with self._progress:
            await self._progress.wait_for(lambda: self._caught_up_through >= target)

    def describe(self) -> str:
        """One line for the start-up banner."""
        binding = self.binding
        retry = self.retry_policy.describe() if self.retry_policy else "no retries"
        return (
            f"{binding.function_name}: cosmosDBTrigger on {binding.database_name}/{binding.container_name} "
            f"(lease {binding.lease_container_name}/{binding.lease_id}, batch {binding.max_items}, "
            f"poll {binding.feed_poll_delay * 1000:.0f} ms, {retry})"
        )
