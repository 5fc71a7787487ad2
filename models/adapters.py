"""The adapter folder format, the adapter library, and attaching adapters to a loaded base.

An adapter is a folder: `adapter_config.json` + `adapter_model.safetensors` (peft's own files)
and `playground.json` (task, base model, labels, data summary, metrics). Only safetensors are
ever read: a pickle can run code, so a folder holding one is refused.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
import threading
import zipfile
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import models.catalogue  # noqa: F401  (the words of the messages below)
from models.messages import LocalizedError, Message, say
from models.registry import cache_dir, list_specs
from models.tasks import task_names

METADATA_FILE = "playground.json"
CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"
ZIPPED_FILES = (CONFIG_FILE, WEIGHTS_FILE, METADATA_FILE, "README.md")  # a download's (and a Hub push's) files
SHIPPED_DIR = Path(__file__).resolve().parent.parent / "assets" / "adapters"
DEFAULT_WORKSPACE = "default"
MAX_RANK = 256
MAX_ADAPTER_BYTES = 200 * 1024 * 1024
_PICKLE_SUFFIXES = {".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt"}
_NAME_PATTERN = re.compile(r"[^a-z0-9_-]+")
# What an interrupted save leaves in the library folder: `.NAME.tmp-PID-xxxx` (being written, or the
# old version after the swap) and `.NAME.old-PID` (the old version moved aside, fallback swap only).
_LEFTOVER = re.compile(r"^\.(?P<name>.+)\.(?P<kind>tmp|old)-(?P<pid>\d+)(?:-[^/]*)?$")
_RENAME_EXCHANGE, _AT_FDCWD = 2, -100
_METRIC_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,40}")


class AdapterError(LocalizedError, ValueError):
    """An adapter folder or upload that cannot be used; the message (a key, `models.catalogue`) says why."""


@dataclass
class AdapterInfo:
    name: str
    path: Path
    task: str
    base_model: str
    labels: list[str] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    shipped: bool = False
    workspace: str | None = None  # the workspace whose own adapter this is
    published: bool = False  # in a class gallery (`models.gallery`): the class uses it, its owner alone removes it

    @property
    def rank(self) -> int | None:
        return self.metadata.get("hyperparameters", {}).get("rank")


def sanitize_name(name: str, what: Message | str = say("adapter.adapter_name")) -> str:
    """Lower-case letters, digits, '-' and '_' only, so a name can never climb out of its folder."""
    cleaned = _NAME_PATTERN.sub("-", str(name).strip().lower()).strip("-_")[:64]
    if not cleaned:
        raise AdapterError("adapter.unusable_name", name=name, what=what)
    return cleaned


def workspace_path(workspace: str = DEFAULT_WORKSPACE) -> Path:
    """A workspace's folder, not created: reading someone's library must not make folders."""
    return cache_dir() / "adapters" / sanitize_name(workspace, say("adapter.workspace_name"))


def workspace_dir(workspace: str = DEFAULT_WORKSPACE) -> Path:
    """A workspace's folder, created (for writing into it)."""
    path = workspace_path(workspace)
    path.mkdir(parents=True, exist_ok=True)
    return path


def read_adapter(path: Path, shipped: bool = False, workspace: str | None = None,
                 published: bool = False) -> AdapterInfo:
    """Validate an adapter folder and read its metadata; raise AdapterError with the reason.

    Every request resolves its adapter, and a full check (two JSON files, the metadata's loss
    history among them, and the weights' header) takes 1-2 ms of Python: eight requests in a burst
    spread past the batching window. So a folder's result is reused while none of its files
    changed (the same names, sizes, modification times and inodes; a save swaps in new files).
    The returned metadata is shared with later calls: read it, do not change it."""
    if not path.is_dir():
        raise AdapterError("adapter.not_a_folder", path=path)
    entries = _folder_entries(path)
    for name, status in entries:
        if stat.S_ISLNK(status.st_mode):
            raise AdapterError("adapter.symlink", name=Path(name).name)
        if Path(name).suffix.lower() in _PICKLE_SUFFIXES:
            raise AdapterError("adapter.pickle", name=Path(name).name)
    signature = tuple((name, s.st_mode, s.st_size, s.st_mtime_ns, s.st_ino) for name, s in entries)
    key = os.path.abspath(path)
    with _VALIDATED_LOCK:
        cached = _VALIDATED.get(key)
    if cached is None or cached[0] != signature:
        cached = (signature, _validated(path))
        with _VALIDATED_LOCK:
            if len(_VALIDATED) >= VALIDATED_KEPT:
                _VALIDATED.pop(next(iter(_VALIDATED)))
            _VALIDATED[key] = cached
    return replace(cached[1], name=path.name, path=path, shipped=shipped, workspace=workspace, published=published)


VALIDATED_KEPT = 256
_VALIDATED: dict[str, tuple[tuple, AdapterInfo]] = {}  # folder -> (its files' signature, what they held)
_VALIDATED_LOCK = threading.Lock()


def _folder_entries(path: Path) -> list[tuple[str, os.stat_result]]:
    """(path inside the folder, lstat) of everything below it, sorted."""
    entries = []
    for item in path.rglob("*"):
        try:
            entries.append((str(item.relative_to(path)), item.lstat()))
        except FileNotFoundError:  # deleted while we looked: the signature differs anyway
            continue
    return sorted(entries, key=lambda entry: entry[0])


def _validated(path: Path) -> AdapterInfo:
    if not (path / WEIGHTS_FILE).is_file():
        raise AdapterError("adapter.no_weights", file=WEIGHTS_FILE)
    config = _read_json(path / CONFIG_FILE)
    metadata = _read_json(path / METADATA_FILE)
    rank = config.get("r", 0)
    if not isinstance(rank, int) or not 0 < rank <= MAX_RANK:
        raise AdapterError("adapter.bad_rank", rank=rank, max_rank=MAX_RANK)
    if (path / WEIGHTS_FILE).stat().st_size > MAX_ADAPTER_BYTES:
        raise AdapterError("adapter.too_big", file=WEIGHTS_FILE, megabytes=MAX_ADAPTER_BYTES >> 20)
    _check_safetensors(path / WEIGHTS_FILE)
    for key in ("task", "base_model"):
        if not isinstance(metadata.get(key), str):
            raise AdapterError("adapter.lacks", file=METADATA_FILE, key=key)
    if metadata["task"] not in task_names():
        raise AdapterError("adapter.unknown_task", file=METADATA_FILE, task=metadata["task"],
                           known=", ".join(task_names()))
    _check_metadata(metadata)
    return AdapterInfo(path.name, path, metadata["task"], metadata["base_model"], metadata.get("labels"), metadata)


def _check_metadata(metadata: dict[str, Any]) -> None:
    """The fields the app shows must have the shapes it expects: an uploaded adapter's metadata is
    the uploader's to write, and a string where a number belongs would break the library table."""
    labels = metadata.get("labels")
    if labels is not None and not (isinstance(labels, list) and all(isinstance(x, str) for x in labels)):
        raise AdapterError("adapter.bad_labels", file=METADATA_FILE)
    for key in ("hyperparameters", "metrics"):
        if not isinstance(metadata.get(key, {}), dict):
            raise AdapterError("adapter.not_an_object", file=METADATA_FILE, key=key)
    rank = metadata.get("hyperparameters", {}).get("rank")
    if rank is not None and (not isinstance(rank, int) or isinstance(rank, bool)):
        raise AdapterError("adapter.rank_not_whole", file=METADATA_FILE)
    primary = metadata.get("primary_metric")
    if primary is not None and not (isinstance(primary, str) and _METRIC_NAME.fullmatch(primary)):
        raise AdapterError("adapter.bad_primary_metric", file=METADATA_FILE)
    for side, values in metadata.get("metrics", {}).items():
        value = values.get(primary) if isinstance(values, dict) else None
        if not isinstance(values, dict) or (value is not None and not isinstance(value, (int, float))):
            raise AdapterError("adapter.bad_metrics", file=METADATA_FILE, side=side)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AdapterError("adapter.missing_file", file=path.name) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise AdapterError("adapter.bad_json", file=path.name, reason=error) from None
    if not isinstance(value, dict):
        raise AdapterError("adapter.json_not_object", file=path.name)
    return value


def _check_safetensors(path: Path) -> None:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            for key in handle.keys():
                handle.get_slice(key).get_shape()
    except Exception as error:  # the library raises several types for a damaged file
        raise AdapterError("adapter.bad_safetensors", file=path.name, reason=error) from None


def _library_roots(workspace: str | None) -> list[tuple[Path, str]]:
    """(folder, whose) of the shipped adapters, then of the workspace's class gallery, then of the
    workspace's own (an interrupted save there put back first)."""
    roots: list[tuple[Path, str]] = [(SHIPPED_DIR, SHIPPED)]
    if workspace is not None:
        from models.gallery import class_of, published_dir  # (it builds on this module)

        roots.append((published_dir(class_of(workspace)), PUBLISHED))
        roots.append((workspace_path(workspace), OWN))
        recover_interrupted_saves(roots[-1][0])
    return roots


SHIPPED, PUBLISHED, OWN = "shipped", "published", "own"


def _read_from(folder: Path, whose: str, workspace: str | None) -> AdapterInfo:
    return read_adapter(folder, whose == SHIPPED, workspace if whose == OWN else None, whose == PUBLISHED)


def list_adapters(task: str | None = None, workspace: str | None = DEFAULT_WORKSPACE) -> list[AdapterInfo]:
    """Shipped adapters, then those published to the workspace's class, then the workspace's own; broken
    folders are skipped."""
    found = []
    for root, whose in _library_roots(workspace):
        for folder in sorted(root.glob("*")) if root.is_dir() else []:
            if folder.is_dir() and not folder.name.startswith("."):
                try:
                    info = _read_from(folder, whose, workspace)
                except AdapterError:
                    continue
                if task is None or info.task == task:
                    found.append(info)
    return found


def find_adapter(name: str, workspace: str | None = DEFAULT_WORKSPACE) -> AdapterInfo:
    """An adapter by name (the workspace's own first, then its class's, then shipped) or, for the CLI, by
    folder path.

    Names come first: a folder of the same name in the current directory must not stand in for a
    library adapter. (The app never passes paths: `ui.common.adapter_argument` admits only names.)"""
    is_path = os.sep in name or "/" in name
    if not is_path and not name.startswith("."):
        # Only the folders of that name are read (every request names its adapter: reading the whole
        # library each time took 6 ms of Python, spreading a burst of requests past the batching window).
        for root, whose in _library_roots(workspace)[::-1]:
            if (root / name).is_dir():
                try:
                    return _read_from(root / name, whose, workspace)
                except AdapterError:
                    continue  # a broken folder is skipped, as in the library listing
    if is_path or Path(name).is_dir():
        return read_adapter(Path(name))
    raise AdapterError("adapter.not_found", name=name)


def save_adapter_atomically(write: Callable[[Path], None], destination: Path) -> Path:
    """Write into a hidden temporary folder, then swap it in: a crash leaves old or new, never half.

    On Linux the swap is one atomic renameat2(RENAME_EXCHANGE); elsewhere the old folder is moved
    aside first, and `recover_interrupted_saves` puts it back if the process dies in between."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    recover_interrupted_saves(destination.parent)
    temporary = Path(tempfile.mkdtemp(prefix=f".{destination.name}.tmp-{os.getpid()}-", dir=destination.parent))
    try:
        write(temporary)
        read_adapter(temporary)
        _swap_in(temporary, destination)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    return destination


def _exchange(first: Path, second: Path) -> bool:
    """Swap two paths in one atomic step (Linux renameat2); False where the system cannot."""
    function = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if function is None:
        return False
    return function(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE) == 0


def _swap_in(temporary: Path, destination: Path) -> None:
    """Put the finished `temporary` at `destination`; whatever was there is deleted afterwards."""
    if destination.exists() and _exchange(temporary, destination):
        shutil.rmtree(temporary, ignore_errors=True)  # it now holds the old version
        return
    previous = destination.with_name(f".{destination.name}.old-{os.getpid()}")
    if destination.exists():
        destination.rename(previous)
    try:
        temporary.rename(destination)
    except BaseException:
        if previous.exists() and not destination.exists():
            previous.rename(destination)
        raise
    shutil.rmtree(previous, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def recover_interrupted_saves(folder: Path) -> None:
    """Tidy up after saves whose process died: an old version moved aside goes back when the new one
    never arrived; everything else they left is deleted. Saves still running are left alone."""
    for item in folder.glob(".*") if folder.is_dir() else []:
        match = _LEFTOVER.match(item.name)
        if match is None or _alive(int(match["pid"])):
            continue
        destination = folder / match["name"]
        try:
            if match["kind"] == "old" and not destination.exists():
                item.rename(destination)
            else:
                shutil.rmtree(item)
        except OSError:  # another reader got there first
            pass


def delete_adapter(info: AdapterInfo) -> None:
    if info.shipped:
        raise AdapterError("adapter.shipped", name=info.name)
    if info.published:
        raise AdapterError("adapter.published", name=info.name)
    shutil.rmtree(info.path)


def export_zip(info: AdapterInfo, destination_dir: Path) -> Path:
    archive = destination_dir / f"{info.name}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for name in ZIPPED_FILES:
            if (info.path / name).is_file():
                zipped.write(info.path / name, name)
    return archive


def import_zip(archive: Path, workspace: str = DEFAULT_WORKSPACE, name: str | None = None,
               max_bytes: int = MAX_ADAPTER_BYTES) -> AdapterInfo:
    """Unpack an uploaded adapter zip safely (no paths outside, no links, bounded size) and validate it."""
    try:
        zipped = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError):
        raise AdapterError("adapter.not_a_zip") from None
    with zipped:
        members = [m for m in zipped.infolist() if not m.is_dir()]
        if sum(m.file_size for m in members) > max_bytes:
            raise AdapterError("adapter.zip_too_big", megabytes=max_bytes >> 20)
        for member in members:
            if stat.S_ISLNK(member.external_attr >> 16):
                raise AdapterError("adapter.symlink", name=member.filename)
            parts = Path(member.filename).parts
            if Path(member.filename).is_absolute() or ".." in parts or (parts and ":" in parts[0]):
                raise AdapterError("adapter.outside", name=member.filename)
        target_name = sanitize_name(name or Path(archive).stem)
        destination = workspace_dir(workspace) / target_name

        def unpack(folder: Path) -> None:
            for member in members:
                flat = folder / Path(member.filename).name  # adapters are flat: drop any inner folder
                try:
                    with zipped.open(member) as source, flat.open("wb") as sink:
                        shutil.copyfileobj(source, sink)
                except (zipfile.BadZipFile, zlib.error, EOFError) as error:  # e.g. sizes that lie, bad CRC
                    raise AdapterError("adapter.zip_damaged", reason=error) from None
            # Checked before the swap, so a refused upload never replaces an adapter of the same name.
            check_base_model(read_adapter(folder))

        save_adapter_atomically(unpack, destination)
    return read_adapter(destination, workspace=workspace)


def check_base_model(info: AdapterInfo) -> None:
    """Refuse an adapter for a base model this app lacks, or whose own config names another base
    (its layers would not fit: see `models.inference.check_fits` for the check at load time)."""
    # Only the app's own bases: get_spec would turn any unknown "org/name" into a hub download.
    spec = next((s for s in list_specs() if info.base_model in (s.key, s.hub_id)), None)
    if spec is None:
        raise AdapterError("adapter.unknown_base", base=info.base_model)
    if not spec.serves(info.task):
        raise AdapterError("adapter.base_lacks_task", task=info.task, base=spec.key)
    trained_on = _read_json(info.path / CONFIG_FILE).get("base_model_name_or_path")
    if trained_on and trained_on not in (spec.hub_id, spec.local_path, spec.key):
        raise AdapterError("adapter.trained_on_another", trained_on=trained_on, base=spec.key, hub_id=spec.hub_id,
                           file=METADATA_FILE)


def adapter_key(info: AdapterInfo) -> str:
    """peft adapter names become module keys: derive a safe, unique one from the folder and its weights."""
    weights = info.path / WEIGHTS_FILE
    identity = f"{info.path.resolve()}:{weights.stat().st_mtime_ns}"
    return "a_" + hashlib.sha1(identity.encode()).hexdigest()[:12]
