"""llama-cpp-python's OpenAI-compatible server in its own virtual environment, from a wheel built once.

PyPI has only the source of llama-cpp-python for Linux, and compiling it takes 5-10 minutes on 2 cores. The wheel
is built once into ``.data/llm/wheels`` and every later install (a new venv, a second machine folder) reuses it. It
is compiled for this CPU (llama.cpp's ``GGML_NATIVE``), so the cache belongs to this machine: delete the folder to
rebuild elsewhere. The pin lives once, in ``pyproject.toml``'s optional dependency group ``llm``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from llm.options import REPO, LlmPaths
from llm.progress import run_logged, say

#: The distribution that provides ``python -m llama_cpp.server``.
SERVER_DISTRIBUTION = "llama-cpp-python"
_PIN = re.compile(r"^llama-cpp-python(\[[^\]]*\])?==(?P<version>[\w.]+)$")


def server_requirement(pyproject: Path = REPO / "pyproject.toml") -> tuple[str, str]:
    """The pinned requirement (``llama-cpp-python[server]==X``) of the ``llm`` group, and its version.

    Raises:
        RuntimeError: the group or the exact pin is missing.
    """
    groups = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"].get("optional-dependencies", {})
    for requirement in groups.get("llm", []):
        found = _PIN.match(requirement.replace(" ", ""))
        if found:
            return requirement, found.group("version")
    raise RuntimeError(f"{pyproject}: the optional dependency group llm must pin {SERVER_DISTRIBUTION}[server]==X")


def cached_wheel(paths: LlmPaths, version: str) -> Path | None:
    """The llama-cpp-python wheel of ``version`` for this Python, if it was built before."""
    tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
    matches = sorted(paths.wheels.glob(f"llama_cpp_python-{version}-{tag}-*.whl"))
    return matches[0] if matches else None


def ensure_server(paths: LlmPaths) -> Path:
    """The Python of a venv where ``python -m llama_cpp.server`` runs; builds and installs only what is missing.

    Raises:
        RuntimeError: the build or the install failed (the message holds the end of its log).
    """
    requirement, version = server_requirement()
    stamp = paths.server_venv / f".installed-{SERVER_DISTRIBUTION}-{version}"
    if stamp.exists() and paths.server_python.exists():
        say(f"server: {requirement} already installed in {paths.server_venv}")
        return paths.server_python
    if not paths.server_python.exists():
        say(f"server: creating the server's own venv {paths.server_venv}")
        subprocess.run([sys.executable, "-m", "venv", str(paths.server_venv)], check=True)
    pip = [str(paths.server_python), "-m", "pip", "--disable-pip-version-check"]
    wheel = cached_wheel(paths, version)
    if wheel is None:
        if not (shutil.which("c++") or shutil.which("g++")):
            raise RuntimeError(
                f"building {SERVER_DISTRIBUTION} needs a C++ compiler: sudo apt-get install build-essential cmake"
            )
        say(
            f"server: building {SERVER_DISTRIBUTION}=={version} from source: 5-10 minutes on 2 cores, once; "
            f"the wheel is cached in {paths.wheels} and reused by every later run"
        )
        env = {**os.environ, "CMAKE_BUILD_PARALLEL_LEVEL": str(os.cpu_count() or 2)}
        run_logged(
            [
                *pip,
                "wheel",
                "--no-deps",
                "--verbose",
                "--wheel-dir",
                str(paths.wheels),
                f"{SERVER_DISTRIBUTION}=={version}",
            ],
            paths.logs / "build-llama-cpp-python.log",
            label=f"build {SERVER_DISTRIBUTION}",
            env=env,
        )
        wheel = cached_wheel(paths, version)
        if wheel is None:
            raise RuntimeError(
                f"the build finished but left no {SERVER_DISTRIBUTION} {version} wheel in {paths.wheels}"
            )
    else:
        say(f"server: reusing the wheel built earlier: {wheel}")
    say(f"server: installing {requirement} and its server dependencies into {paths.server_venv}")
    # --only-binary: never fall back to compiling again; the wheel cache is the one source of llama-cpp-python.
    run_logged(
        [*pip, "install", "--find-links", str(paths.wheels), "--only-binary", SERVER_DISTRIBUTION, requirement],
        paths.logs / "install-server.log",
        label="install the server",
        every=15.0,
    )
    stamp.touch()
    return paths.server_python
