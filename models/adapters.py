"""The adapter folder format, the adapter library, and attaching adapters to a loaded base.

An adapter is a folder: `adapter_config.json` + `adapter_model.safetensors` (peft's own files)
and `playground.json` (task, base model, labels, data summary, metrics). Only safetensors are
ever read: a pickle can run code, so a folder holding one is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from models.registry import cache_dir, get_spec

METADATA_FILE = "playground.json"
CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"
SHIPPED_DIR = Path(__file__).resolve().parent.parent / "assets" / "adapters"
DEFAULT_WORKSPACE = "default"
MAX_RANK = 256
MAX_ADAPTER_BYTES = 200 * 1024 * 1024
_PICKLE_SUFFIXES = {".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt"}
_NAME_PATTERN = re.compile(r"[^a-z0-9_-]+")


class AdapterError(ValueError):
    """An adapter folder or upload that cannot be used; the message says why."""


@dataclass
class AdapterInfo:
    name: str
    path: Path
    task: str
    base_model: str
    labels: list[str] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    shipped: bool = False
    workspace: str | None = None

    @property
    def rank(self) -> int | None:
        return self.metadata.get("hyperparameters", {}).get("rank")


def sanitize_name(name: str) -> str:
    """Lower-case letters, digits, '-' and '_' only, so a name can never climb out of its folder."""
    cleaned = _NAME_PATTERN.sub("-", name.strip().lower()).strip("-_")[:64]
    if not cleaned:
        raise AdapterError(f"'{name}' is not a usable adapter name: use letters, digits, '-' or '_'.")
    return cleaned


def workspace_dir(workspace: str = DEFAULT_WORKSPACE) -> Path:
    path = cache_dir() / "adapters" / sanitize_name(workspace)
    path.mkdir(parents=True, exist_ok=True)
    return path


def read_adapter(path: Path, shipped: bool = False, workspace: str | None = None) -> AdapterInfo:
    """Validate an adapter folder and read its metadata; raise AdapterError with the reason."""
    if not path.is_dir():
        raise AdapterError(f"{path} is not an adapter folder.")
    for item in path.rglob("*"):
        if item.is_symlink():
            raise AdapterError(f"{item.name} is a symbolic link; adapters must be plain files.")
        if item.suffix.lower() in _PICKLE_SUFFIXES:
            raise AdapterError(f"{item.name} is a pickle file, which can run code; only safetensors are accepted.")
    if not (path / WEIGHTS_FILE).is_file():
        raise AdapterError(f"{path.name} has no {WEIGHTS_FILE}.")
    config = _read_json(path / CONFIG_FILE)
    metadata = _read_json(path / METADATA_FILE)
    rank = config.get("r", 0)
    if not isinstance(rank, int) or not 0 < rank <= MAX_RANK:
        raise AdapterError(f"LoRA rank {rank!r} is out of range (1..{MAX_RANK}).")
    if (path / WEIGHTS_FILE).stat().st_size > MAX_ADAPTER_BYTES:
        raise AdapterError(f"{WEIGHTS_FILE} is larger than {MAX_ADAPTER_BYTES >> 20} MB.")
    _check_safetensors(path / WEIGHTS_FILE)
    for key in ("task", "base_model"):
        if key not in metadata:
            raise AdapterError(f"{METADATA_FILE} lacks '{key}'.")
    return AdapterInfo(path.name, path, metadata["task"], metadata["base_model"], metadata.get("labels"),
                       metadata, shipped, workspace)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AdapterError(f"{path.name} is missing.") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise AdapterError(f"{path.name} is not valid JSON: {error}.") from None
    if not isinstance(value, dict):
        raise AdapterError(f"{path.name} must hold a JSON object.")
    return value


def _check_safetensors(path: Path) -> None:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            for key in handle.keys():
                handle.get_slice(key).get_shape()
    except Exception as error:  # the library raises several types for a damaged file
        raise AdapterError(f"{path.name} is not a readable safetensors file ({error}).") from None


def list_adapters(task: str | None = None, workspace: str | None = DEFAULT_WORKSPACE) -> list[AdapterInfo]:
    """Shipped adapters, then the workspace's own; broken folders are skipped (see `broken_adapters`)."""
    found = []
    roots = [(SHIPPED_DIR, True, None)]
    if workspace is not None:
        roots.append((workspace_dir(workspace), False, workspace))
    for root, shipped, owner in roots:
        for folder in sorted(root.glob("*")) if root.is_dir() else []:
            if folder.is_dir() and not folder.name.startswith("."):
                try:
                    info = read_adapter(folder, shipped, owner)
                except AdapterError:
                    continue
                if task is None or info.task == task:
                    found.append(info)
    return found


def find_adapter(name: str, workspace: str | None = DEFAULT_WORKSPACE) -> AdapterInfo:
    """An adapter by name (the workspace's own first, then shipped) or by folder path."""
    if os.sep in name or Path(name).is_dir():
        return read_adapter(Path(name))
    for info in list_adapters(workspace=workspace)[::-1]:
        if info.name == name:
            return info
    raise AdapterError(f"No adapter named '{name}'.")


def save_adapter_atomically(write: Callable[[Path], None], destination: Path) -> Path:
    """Write into a hidden temporary folder, then swap it in: a crash leaves old or new, never half."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=f".{destination.name}.", dir=destination.parent))
    try:
        write(temporary)
        read_adapter(temporary)
        previous = destination.with_name(f".{destination.name}.old-{os.getpid()}")
        if destination.exists():
            destination.rename(previous)
        temporary.rename(destination)
        shutil.rmtree(previous, ignore_errors=True)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    return destination


def delete_adapter(info: AdapterInfo) -> None:
    if info.shipped:
        raise AdapterError(f"'{info.name}' ships with the app and cannot be deleted.")
    shutil.rmtree(info.path)


def export_zip(info: AdapterInfo, destination_dir: Path) -> Path:
    archive = destination_dir / f"{info.name}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for name in (CONFIG_FILE, WEIGHTS_FILE, METADATA_FILE, "README.md"):
            if (info.path / name).is_file():
                zipped.write(info.path / name, name)
    return archive


def import_zip(archive: Path, workspace: str = DEFAULT_WORKSPACE, name: str | None = None,
               max_bytes: int = MAX_ADAPTER_BYTES) -> AdapterInfo:
    """Unpack an uploaded adapter zip safely (no paths outside, no links, bounded size) and validate it."""
    try:
        zipped = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError):
        raise AdapterError("The upload is not a zip file.") from None
    with zipped:
        members = [m for m in zipped.infolist() if not m.is_dir()]
        if sum(m.file_size for m in members) > max_bytes:
            raise AdapterError(f"The zip unpacks to more than {max_bytes >> 20} MB.")
        for member in members:
            if stat.S_ISLNK(member.external_attr >> 16):
                raise AdapterError(f"{member.filename} is a symbolic link; adapters must be plain files.")
            parts = Path(member.filename).parts
            if Path(member.filename).is_absolute() or ".." in parts or (parts and ":" in parts[0]):
                raise AdapterError(f"{member.filename} points outside the adapter folder.")
        target_name = sanitize_name(name or Path(archive).stem)
        destination = workspace_dir(workspace) / target_name

        def unpack(folder: Path) -> None:
            for member in members:
                flat = folder / Path(member.filename).name  # adapters are flat: drop any inner folder
                try:
                    with zipped.open(member) as source, flat.open("wb") as sink:
                        shutil.copyfileobj(source, sink)
                except (zipfile.BadZipFile, zlib.error, EOFError) as error:  # e.g. sizes that lie, bad CRC
                    raise AdapterError(f"The zip is damaged ({error}).") from None
            # Checked before the swap, so a refused upload never replaces an adapter of the same name.
            base_model = read_adapter(folder).base_model
            try:
                get_spec(base_model)
            except KeyError:
                raise AdapterError(f"The adapter is for base model '{base_model}', which this app does not have.") from None

        save_adapter_atomically(unpack, destination)
    return read_adapter(destination, workspace=workspace)


def adapter_key(info: AdapterInfo) -> str:
    """peft adapter names become module keys: derive a safe, unique one from the folder and its weights."""
    weights = info.path / WEIGHTS_FILE
    identity = f"{info.path.resolve()}:{weights.stat().st_mtime_ns}"
    return "a_" + hashlib.sha1(identity.encode()).hexdigest()[:12]
