"""``GET /api/openapi.json``: the document :mod:`api.openapi` generates from the models, with this app's limits."""

import azure.functions as func

from api.limits import ApiLimits
from api.openapi import openapi_document
from blueprints.http import json_response
from composition.services import Services


async def _openapi(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    return json_response(openapi_document(ApiLimits.from_settings(services.settings)))
