"""HTTP glue for ``GET|POST /api/search``."""

from typing import Any

import azure.functions as func

from api.search import SearchFiltersApplied, SearchHit, SearchResponse, SearchTimings
from api.validation import parse
from blueprints.http import handle, json_response, read_json, request_models
from composition.services import Services

bp = func.Blueprint()


@bp.function_name("search")
@bp.route(route="search", methods=["GET", "POST"])
async def search(req: func.HttpRequest) -> func.HttpResponse:
    return await handle(req, _search)


async def _search(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    """Products most similar in meaning to ``q``, with optional ``k``, ``category``, ``min_price``, ``max_price``."""
    raw: Any = dict(req.params) if req.method == "GET" else read_json(req, services)
    request = parse(request_models(services).search, raw).to_request()
    result = await (await services.search()).search(request.query, request.k, request.filters, request.mode)
    return json_response(
        SearchResponse(
            query=request.query,
            k=request.k,
            filters=SearchFiltersApplied.model_validate(request.filters.as_dict()),
            mode=request.mode,
            results=[SearchHit.model_validate({**hit.document, "score": round(hit.score, 6)}) for hit in result.hits],
            timings=SearchTimings(embed_ms=result.embed_ms, search_ms=result.search_ms),
        )
    )
