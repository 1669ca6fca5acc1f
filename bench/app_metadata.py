"""What the app declares about itself, read the way the local host reads it (``app.get_functions()``)."""

from __future__ import annotations

import json
from typing import Any


def embedding_trigger_binding() -> dict[str, Any]:
    """The ``cosmosDBTrigger`` binding of the embedding function (``feedPollDelay``, ``maxItemsPerInvocation``...)."""
    import function_app
    from devhost.host import indexed_functions

    for function in indexed_functions(function_app.app):
        for binding in json.loads(function.get_function_json()).get("bindings", []):
            if binding.get("type") == "cosmosDBTrigger":
                return dict(binding)
    return {}
