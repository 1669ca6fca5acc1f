"""Glue for ``GET /api/metrics``: tokens, request charges and cache savings per day and model, priced as estimates.

Operators only (the host's master key in Azure, and the operator role under Easy Auth): the figures say what the
app costs and how it is used.
"""

import azure.functions as func

from api.metrics import MetricsQuery, UsageMetrics
from api.validation import parse
from blueprints.http import json_response, require_operator
from composition.services import Services
from ledger.report import usage_summary


async def _metrics(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    """The last ``days`` days (default 7) of the ledger, with this instance's pending counts added first."""
    require_operator(req, services)
    query = parse(MetricsQuery, dict(req.params))
    summary = await usage_summary(
        services.ledger, await services.usage_book(), days=query.days, request_charges=services.request_charges
    )
    return json_response(UsageMetrics.model_validate(summary))
