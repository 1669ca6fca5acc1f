"""HTTP glue for the RAG chat: ``/api/chat``, the OpenAI-compatible ``/api/v1/chat/completions``, and the web page.

Registration only: each function hands its request to :mod:`blueprints.handlers.chat`, imported on first use."""

import azure.functions as func

from blueprints.lazy import direct, dispatch

bp = func.Blueprint()


@bp.function_name("chat")
@bp.route(route="chat", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def chat(req: func.HttpRequest) -> func.HttpResponse:
    return await dispatch(req, "blueprints.handlers.chat", "_chat")


@bp.function_name("chat_session")
@bp.route(route="chat/{session_id}", methods=["GET", "DELETE"], auth_level=func.AuthLevel.ANONYMOUS)
async def chat_session(req: func.HttpRequest) -> func.HttpResponse:
    return await dispatch(req, "blueprints.handlers.chat", "_chat_session")


@bp.function_name("chat_completions")
@bp.route(route="v1/chat/completions", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def chat_completions(req: func.HttpRequest) -> func.HttpResponse:
    return await dispatch(req, "blueprints.handlers.chat", "_chat_completions")


@bp.function_name("chat_models")
@bp.route(route="v1/models", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def chat_models(req: func.HttpRequest) -> func.HttpResponse:
    return await dispatch(req, "blueprints.handlers.chat", "_chat_models")


@bp.function_name("chat_page")
@bp.route(route="ui", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def chat_page(req: func.HttpRequest) -> func.HttpResponse:
    return await direct(req, "blueprints.handlers.chat", "_chat_page")
