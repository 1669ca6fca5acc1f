"""The Function App: registers the blueprints. Nothing else happens at import time."""

import azure.functions as func

from blueprints import chat, embedding, embeddings_admin, health, housekeeping, metrics, openapi, products, search

# Function keys guard the API in Azure; `func start` and the local dev host do not ask for them.
app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

for blueprint in (
    embedding.bp,
    embeddings_admin.bp,
    products.bp,
    search.bp,
    chat.bp,
    housekeeping.bp,
    health.bp,
    metrics.bp,
    openapi.bp,
):
    app.register_functions(blueprint)
