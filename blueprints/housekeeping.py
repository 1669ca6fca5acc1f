"""Housekeeping on a timer: expired semantic-cache entries and chat turns are deleted.

Cosmos DB deletes them itself (the containers have TTL on and every entry carries its ``ttl``); the embedded store
has no TTL, so this is what keeps it from growing. Expired entries are never served either way: lookups filter on
``expires_at``.
"""

import logging

import azure.functions as func

from blueprints.invocation import measured
from composition.services import get_services

log = logging.getLogger(__name__)

bp = func.Blueprint()


@bp.function_name("clean_chat")
@bp.timer_trigger(schedule="%CHAT_CLEANUP_SCHEDULE%", arg_name="timer", run_on_startup=False)
async def clean_chat(timer: func.TimerRequest) -> None:
    """Delete a bounded batch of expired cache entries and history turns."""
    services = await get_services()
    async with measured(services, "clean_chat") as span:
        chat = await services.chat()
        entries = await chat.cache.delete_expired()
        turns = await chat.history.delete_expired()
        span.set(**{"catalog.deleted_cache_entries": entries, "catalog.deleted_turns": turns})
    if entries or turns:
        log.info("housekeeping: deleted %d expired cache entries and %d expired chat turns", entries, turns)
