"""Everything the local model needs before it can serve: the server's venv and a verified GGUF file.

:func:`prepare` obtains what is missing (build, download, assemble); :func:`find_prepared` only looks, so benchmarks
and tests can skip with a reason instead of starting a 10-minute setup.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from llm.gguf_header import NotGgufError, is_gguf
from llm.options import LlmOptions
from llm.packaged_model import DEFAULT_MODEL, ensure_model, is_verified, model_summary
from llm.progress import say
from llm.server import LlamaServer, ServerConfig, free_port
from llm.server_install import SERVER_DISTRIBUTION, ensure_server, server_requirement


@dataclass(frozen=True)
class PreparedModel:
    """A server Python that can run ``llama_cpp.server`` and the GGUF file it will serve under ``served_name``."""

    server_python: Path
    model: Path
    served_name: str

    def server(self, options: LlmOptions, *, log_name: str = "server.log") -> LlamaServer:
        """A (not yet started) server for this model on ``LLM_PORT`` or a free port."""
        return LlamaServer(
            ServerConfig(
                python=self.server_python,
                model=self.model,
                served_name=self.served_name,
                port=options.port or free_port(),
                threads=options.threads,
                context_tokens=options.context_tokens,
                log_path=options.paths.logs / log_name,
            )
        )


def prepare(options: LlmOptions) -> PreparedModel:
    """Install the server and obtain the model, reusing every cached step.

    Raises:
        NotGgufError: ``LOCAL_LLM_MODEL`` names something that is not a GGUF file.
        RuntimeError / ModelVerificationError: a build, a download or the verification failed.
    """
    python = ensure_server(options.paths)
    if options.model_override is not None:
        model, served_name = _override(options.model_override), options.model_override.stem
        say(f"model: LOCAL_LLM_MODEL={model}")
    else:
        model, served_name = (
            ensure_model(DEFAULT_MODEL, options.paths.downloads, options.paths.models),
            DEFAULT_MODEL.served_name,
        )
        say(f"model: {DEFAULT_MODEL.upstream}; license {DEFAULT_MODEL.license}")
    summary = model_summary(model)
    say(
        f"model header: {summary['name']!r}, {summary['architecture']} {summary['size_label'] or ''}, "
        f"trained context {summary['context_length']}, chat template {'yes' if summary['has_chat_template'] else 'no'}"
    )
    return PreparedModel(python, model, served_name)


def find_prepared(options: LlmOptions) -> tuple[PreparedModel | None, str]:
    """What :func:`prepare` would return if everything is already in place, else ``None`` and why not."""
    _, version = server_requirement()
    stamp = options.paths.server_venv / f".installed-{SERVER_DISTRIBUTION}-{version}"
    if not (stamp.exists() and options.paths.server_python.exists()):
        where = options.paths.server_venv
        return None, f"the llama.cpp server is not installed in {where} (run `python -m llm setup` once)"
    if options.model_override is not None:
        if not is_gguf(options.model_override):
            return None, f"LOCAL_LLM_MODEL={options.model_override} is not a GGUF file"
        return PreparedModel(options.paths.server_python, options.model_override, options.model_override.stem), ""
    model = options.paths.models / DEFAULT_MODEL.file_name
    if not is_verified(DEFAULT_MODEL, model):
        return None, f"the model {model} is not assembled and verified (run `python -m llm setup` once)"
    return PreparedModel(options.paths.server_python, model, DEFAULT_MODEL.served_name), ""


def _override(path: Path) -> Path:
    if not path.is_file():
        raise FileNotFoundError(f"LOCAL_LLM_MODEL={path} does not exist; example: LOCAL_LLM_MODEL=/models/model.gguf")
    if not is_gguf(path):
        raise NotGgufError(f"LOCAL_LLM_MODEL={path} is not a GGUF file (no GGUF magic bytes)")
    return path
