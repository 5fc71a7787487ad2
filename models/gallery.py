"""The class gallery: adapters students publish to their class, usable by everyone in it.

A class is a folder, `classes/<code>/`, under the cache folder: `published/<name>/` holds each published
adapter (a copy taken when it is published, so that its owner deleting or retraining their own adapter
changes nothing the class uses) with `gallery.json` beside peft's files (display name, owner, when). A
browser joins a class by its code (the Class tab's field; `LORA_PLAYGROUND_CLASS` is the deployment's
default), remembered in its workspace folder, so one Space can hold two classes apart. Everyone in a class
finds its published adapters in every picker (`models.adapters` lists them after the shipped ones, before
the workspace's own); only the owner, whose workspace id is kept as a hash, can publish over one or take
it down, and nobody can delete it from the Adapters tab.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import models.catalogue  # noqa: F401  (the words of the messages below)
from models.adapters import (SHIPPED_DIR, ZIPPED_FILES, AdapterInfo, find_adapter, read_adapter,
                             sanitize_name, save_adapter_atomically, workspace_dir, workspace_path)
from models.messages import LocalizedError, say
from models.registry import cache_dir

CLASS_ENV = "LORA_PLAYGROUND_CLASS"
EVERYONE = "everyone"  # the class of a deployment that names none: everybody on it
ENTRY_FILE = "gallery.json"
MEMBERSHIP_FILE = ".class"  # in a workspace folder; a dot-file, so the adapter listing skips it
MAX_DISPLAY_NAME = 40


class GalleryError(LocalizedError, ValueError):
    """A publish or unpublish that cannot be done; the message (a key, `models.catalogue`) says why."""


@dataclass(frozen=True)
class Entry:
    """A published adapter as the gallery lists it."""

    info: AdapterInfo
    display_name: str
    owner: str  # the hash of the owner's workspace id (`owner_tag`), never the id: that is the key to their library
    published: str  # ISO time
    class_code: str

    @property
    def name(self) -> str:
        return self.info.name

    def owned_by(self, workspace: str | None) -> bool:
        return bool(workspace) and owner_tag(workspace) == self.owner


def owner_tag(workspace: str) -> str:
    return hashlib.sha256(f"lora-playground-owner:{workspace}".encode()).hexdigest()[:24]


def class_code(code: str | None = None) -> str:
    """A class code as a folder name: the one given, else the deployment's, else everyone's."""
    chosen = (code or "").strip() or os.environ.get(CLASS_ENV, "").strip() or EVERYONE
    return sanitize_name(chosen, say("gallery.class_code"))


def class_of(workspace: str | None) -> str:
    """The class a browser joined (`join_class`), else the deployment's."""
    membership = workspace_path(workspace) / MEMBERSHIP_FILE if workspace else None
    joined = membership.read_text(encoding="utf-8").strip() if membership and membership.is_file() else ""
    return class_code(joined)


def join_class(workspace: str, code: str) -> str:
    """Remember the browser's class (an empty code: back to the deployment's); returns the class joined."""
    membership = workspace_dir(workspace) / MEMBERSHIP_FILE
    if code.strip():
        membership.write_text(class_code(code), encoding="utf-8")
    else:
        membership.unlink(missing_ok=True)
    return class_of(workspace)


def class_dir(code: str) -> Path:
    """A class's folder, not created (reading a gallery must not make folders)."""
    return cache_dir() / "classes" / class_code(code)


def published_dir(code: str) -> Path:
    return class_dir(code) / "published"


def entries(code: str, task: str | None = None) -> list[Entry]:
    """The class's published adapters (of one task), oldest first; unreadable folders are skipped."""
    folder = published_dir(code)
    found = []
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        entry = _entry(path, code)
        if entry is not None and (task is None or entry.info.task == task):
            found.append(entry)
    return sorted(found, key=lambda entry: entry.published)


def find_entry(code: str, name: str) -> Entry | None:
    path = published_dir(code) / sanitize_name(name)
    return _entry(path, code) if path.is_dir() else None


def _entry(path: Path, code: str) -> Entry | None:
    if path.name.startswith("."):
        return None
    try:
        info = read_adapter(path, published=True)
        about = json.loads((path / ENTRY_FILE).read_text(encoding="utf-8"))
        return Entry(info, str(about["display_name"]), str(about["owner"]), str(about["published"]), code)
    except (LocalizedError, OSError, ValueError, KeyError, TypeError):
        return None


def publish(adapter: str, display_name: str, workspace: str, code: str | None = None,
            max_per_owner: int | None = None) -> Entry:
    """Copy one of the workspace's own adapters into its class's gallery under `display_name`. Publishing
    again under the same name replaces the owner's earlier copy; a name another student took, or a shipped
    adapter's, is refused. `max_per_owner` (demo mode) bounds how many one student has published."""
    code = class_of(workspace) if code is None else class_code(code)
    info = find_adapter(sanitize_name(adapter), workspace)
    if info.shipped or info.published or info.workspace != workspace:
        raise GalleryError("gallery.not_yours", name=adapter)
    shown = " ".join(str(display_name).split())[:MAX_DISPLAY_NAME] or info.name
    name = sanitize_name(shown)
    if (SHIPPED_DIR / name).is_dir():
        raise GalleryError("gallery.shipped_name", name=name)
    existing = find_entry(code, name)
    if existing is not None and not existing.owned_by(workspace):
        raise GalleryError("gallery.taken", name=name)
    owner = owner_tag(workspace)
    mine = [entry for entry in entries(code) if entry.owner == owner and entry.name != name]
    if max_per_owner is not None and len(mine) >= max_per_owner:
        raise GalleryError("gallery.too_many", limit=max_per_owner)
    about = {"display_name": shown, "owner": owner, "source": info.name,
             "published": datetime.now(timezone.utc).isoformat(timespec="seconds")}

    def copy(folder: Path) -> None:
        for file in ZIPPED_FILES:
            if (info.path / file).is_file():
                shutil.copy2(info.path / file, folder / file)
        (folder / ENTRY_FILE).write_text(json.dumps(about, ensure_ascii=False), encoding="utf-8")

    if existing is not None:
        _forget_loaded(existing.info)
    save_adapter_atomically(copy, published_dir(code) / name)
    entry = find_entry(code, name)
    assert entry is not None, "a folder save_adapter_atomically just validated"
    return entry


def unpublish(name: str, workspace: str | None, code: str | None = None) -> Entry:
    """Take a published adapter down: its owner only. Returns what was taken down."""
    code = class_of(workspace) if code is None else class_code(code)
    entry = find_entry(code, name)
    if entry is None:
        raise GalleryError("gallery.not_published", name=name)
    if not entry.owned_by(workspace):
        raise GalleryError("gallery.not_owner", name=entry.name, shown=entry.display_name)
    _forget_loaded(entry.info)  # first: the loaded copy is found by the files that removing deletes
    shutil.rmtree(entry.info.path)
    return entry


def _forget_loaded(info: AdapterInfo) -> None:
    from models.inference import detach  # (the serving, loaded on first use: not needed to list a gallery)

    detach(info)
