"""The search benchmark's app: the real ``/api/search`` beside a route serving the raw path it replaced.

``GET /api/search`` goes through :class:`catalog.retrieval.ProductFinder` (read the question, retrieve a pool, rank,
group variants). The route it replaced called ``ProductSearch.search`` directly (vector only). To time before and
after over HTTP in one run, on one server and one store, ``GET /api/bench/search-raw`` serves that raw path behind
the same glue as today's route (dispatch, caller check, request model, bounded response projection), so the two routes
differ only in what finds the products. Benchmark-only: it is never registered in ``function_app``.
"""

from __future__ import annotations

import azure.functions as func

from api.search import SearchFiltersApplied, SearchHit, SearchResponse, SearchTimings
from api.validation import parse
from blueprints import search
from blueprints.http import guard, json_response, request_models
from blueprints.identity import with_cookie
from blueprints.lazy import dispatch
from composition.services import Services

RAW_ROUTE = "bench/search-raw"

bp = func.Blueprint()


@bp.function_name("bench_search_raw")
@bp.route(route=RAW_ROUTE, methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def search_raw(req: func.HttpRequest) -> func.HttpResponse:
    return await dispatch(req, __name__, "_search_raw")  # as the real route hands over to its handler


async def _search_raw(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    """``ProductSearch.search`` (vector only, no reading, no ranking) with ``/api/search``'s parameters."""
    caller = guard(req, services)
    request = parse(request_models(services).search, dict(req.params)).to_request()
    found = await (await services.search()).search(request.query, request.k, request.filters, request.mode)
    response = SearchResponse(
        query=request.query,
        k=request.k,
        filters=SearchFiltersApplied.model_validate(request.filters.as_dict()),
        mode=request.mode,
        results=[SearchHit.of(hit.document, hit.score, []) for hit in found.hits],
        timings=SearchTimings(embed_ms=found.embed_ms, search_ms=found.search_ms),
    )
    return with_cookie(json_response(response), caller)


def search_app() -> func.FunctionApp:
    """The real search blueprint (``/api/search``, ``/api/categories``) and the raw route, on one app."""
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    app.register_functions(search.bp)
    app.register_functions(bp)
    return app
