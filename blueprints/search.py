"""HTTP glue for ``GET|POST /api/search``."""

from typing import Any

import azure.functions as func

from blueprints.http import handle, json_response, read_json
from catalog.errors import ValidationError
from catalog.search import SearchRequest
from composition.services import Services

bp = func.Blueprint()


@bp.function_name("search")
@bp.route(route="search", methods=["GET", "POST"])
async def search(req: func.HttpRequest) -> func.HttpResponse:
    return await handle(req, _search)


async def _search(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    """Products most similar in meaning to ``q``, with optional ``k``, ``category``, ``min_price``, ``max_price``."""
    raw: Any = dict(req.params) if req.method == "GET" else read_json(req, services)
    if not isinstance(raw, dict):
        raise ValidationError("body must be a JSON object", field="body")
    settings = services.settings
    request = SearchRequest.parse(
        raw, default_k=settings.SEARCH_DEFAULT_K, max_k=settings.SEARCH_MAX_K, default_mode=settings.SEARCH_MODE
    )
    result = await (await services.search()).search(request.query, request.k, request.filters, request.mode)
    return json_response(
        {
            "query": request.query,
            "k": request.k,
            "filters": request.filters.as_dict(),
            "mode": request.mode,
            "results": [{**hit.document, "score": round(hit.score, 6)} for hit in result.hits],
            "timings": {"embed_ms": result.embed_ms, "search_ms": result.search_ms},
        }
    )
