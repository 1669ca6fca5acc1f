"""HTTP glue for ``GET|POST /api/search`` and ``GET /api/categories``."""

from typing import Any

import azure.functions as func

from api.search import CategoryCount, CategoryList, SearchFiltersApplied, SearchHit, SearchResponse, SearchTimings
from api.validation import parse
from blueprints.http import guard, json_response, read_json, request_models
from blueprints.identity import with_cookie
from composition.services import Services
from transport import telemetry


async def _search(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    """Products that answer ``q`` (read for price bounds, sort, category and identifiers), with optional ``k``,
    ``category``, ``min_price``, ``max_price`` (explicit parameters win over words) and ``mode``."""
    caller = guard(req, services)
    raw: Any = dict(req.params) if req.method == "GET" else read_json(req, services)
    request = parse(request_models(services).search, raw).to_request()
    found = await (await services.finder()).find(request.query, request.k, request.filters, request.mode)
    telemetry.annotate(
        **{
            "catalog.search.k": request.k,
            "catalog.search.results": len(found.results),
            "catalog.no_match": found.no_match,
        }
    )
    response = SearchResponse(
        query=request.query,
        k=request.k,
        filters=SearchFiltersApplied.model_validate(request.filters.as_dict()),
        mode=request.mode,
        understood=found.reading.understood(),
        no_match=found.no_match,
        results=[SearchHit.of(item.document, item.score, item.variants) for item in found.results],
        closest=[SearchHit.of(item.document, item.score, item.variants) for item in found.closest],
        timings=SearchTimings(embed_ms=found.embed_ms, search_ms=found.search_ms),
    )
    return with_cookie(json_response(response), caller)


async def _categories(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    """The catalog's categories with their numbers of live products, largest first."""
    counted = await (await services.categories()).counted()
    return json_response(CategoryList(categories=[CategoryCount(name=c.name, count=c.count) for c in counted]))
