"""What every tab shares: app settings, the per-browser workspace, adapter pickers and i18n binding."""

from __future__ import annotations

import os
import secrets
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import gradio as gr

from finetune.data import DataLimits
from finetune.jobs import JobQueue
from models.adapters import WEIGHTS_FILE, AdapterError, AdapterInfo, export_zip, list_adapters, read_adapter
from models.export import ExportError
from models.inference import InputError
from models.registry import DEFAULT_BASE, ModelUnavailableError, cache_dir
from models.tasks import get_task
from ui.i18n import DEFAULT_LANGUAGE, LANGUAGES, text
from ui.page import LANGUAGE_PARAMETER

# Errors caused by what the user sent or picked: shown as a message, never as a crash.
USER_ERRORS = (AdapterError, ModelUnavailableError, InputError, ExportError)

BASE_CHOICE = "base"  # the picker value meaning "no adapter"
DEMO_ENV = "LORA_PLAYGROUND_DEMO"
# Events the page itself uses; the stable public API is in ui/api.py.
UI_EVENT: dict[str, Any] = {"api_visibility": "private"}
# Polls and label refreshes are cheap: they must not wait behind model calls for a free worker.
LIGHT_EVENT: dict[str, Any] = {**UI_EVENT, "concurrency_limit": None, "show_progress": "hidden"}
# Model calls are not limited by gradio's queue: the engines keep their own line, in order with a fair
# share per browser, and tell each request how many are ahead of it (`models.engine`).
MODEL_EVENT: dict[str, Any] = {**UI_EVENT, "concurrency_limit": None}

Component = TypeVar("Component", bound=gr.blocks.Block)


@dataclass(frozen=True)
class Settings:
    """Limits of this deployment. Demo mode (a shared public Space) is stricter."""

    demo: bool = False
    limits: DataLimits = field(default_factory=DataLimits)
    max_steps: int | None = None  # cap on training steps per job
    max_active_jobs: int | None = None  # jobs waiting or running per workspace

    @classmethod
    def from_env(cls) -> "Settings":
        if os.environ.get(DEMO_ENV, "").lower() not in ("1", "true", "yes"):
            return cls()
        return cls(demo=True, limits=DataLimits(max_rows=2_000, max_bytes=2 * 1024 * 1024), max_steps=200,
                   max_active_jobs=1)


class Localizer:
    """Remembers which string key each component's label (info, placeholder, value...) shows, so the
    language radio can re-label the whole page with one event."""

    def __init__(self) -> None:
        self._bindings: list[tuple[gr.blocks.Block, dict[str, str]]] = []

    def __call__(self, component: Component, **keys: str) -> Component:
        """Give the component its strings in the default language and remember the keys."""
        for attribute, key in keys.items():
            setattr(component, attribute, text(DEFAULT_LANGUAGE, key))
        self._bindings.append((component, keys))
        return component

    @property
    def components(self) -> list[gr.blocks.Block]:
        return [component for component, _ in self._bindings]

    def updates(self, language: str) -> list[dict[str, Any]]:
        return [gr.update(**{attribute: text(language, key) for attribute, key in keys.items()})
                for _, keys in self._bindings]


@dataclass
class Context:
    """Handed to every tab builder."""

    settings: Settings
    jobs: JobQueue
    loc: Localizer
    workspace: gr.BrowserState  # this browser's random workspace id
    language: gr.Radio


def waiting_text(language: str, ahead: int) -> str:
    """What a request waiting for a place in an engine's line shows (`models.engine`)."""
    return text(language, "common.next_in_line") if ahead == 0 else text(language, "common.waiting", ahead=ahead)


def browser_secret() -> str:
    """The key that encrypts browser state, kept on disk so workspaces survive an app restart."""
    path = cache_dir() / "browser-secret"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(24))
        path.chmod(0o600)
    return path.read_text().strip()


def workspace_state() -> gr.BrowserState:
    return gr.BrowserState(None, storage_key="lora-playground-workspace", secret=browser_secret())


def language_radio() -> gr.Radio:
    return gr.Radio([(name, code) for code, name in LANGUAGES.items()], value=DEFAULT_LANGUAGE, show_label=False,
                    container=False, elem_id="language")


def ensure_workspace(workspace: str | None) -> str:
    """A browser's first visit gets a new random id (unguessable: it is the key to its adapters)."""
    return workspace or f"w{secrets.token_hex(8)}"


def start_page(workspace: str | None, language: str | None, request: gr.Request) -> tuple[str, Any]:
    """On page load: the browser's workspace, and its language — the one the link asks for (`?lang=vi`),
    else the one it chose last time. The default is left alone: setting it would undo a switch made
    while the page was still loading."""
    asked = request.query_params.get(LANGUAGE_PARAMETER) if request else None
    language = asked if asked in LANGUAGES else language
    keep = not language or language == DEFAULT_LANGUAGE
    return ensure_workspace(workspace), gr.skip() if keep else language


def require_workspace(workspace: str | None) -> str:
    if not workspace:
        raise gr.Error("The page is still starting; try again in a moment.")
    return workspace


# explained next to every picker (common.adapter_info, chat.persona_info)
DEFAULT_MARK, OWN_MARK, CLASS_MARK = "◆", "★", "👥"


def is_default(info: AdapterInfo) -> bool:
    """Whether this is its task's default adapter (`TaskSpec.default_adapter`): shipped, and on the base
    the app serves the task with (a deployment that serves another base opens its tabs on that base)."""
    return (info.shipped and info.name == get_task(info.task).default_adapter
            and info.base_model == DEFAULT_BASE.get(info.task))


def adapter_label(info: AdapterInfo) -> str:
    """An adapter's name in every picker and in the library: ◆ the task's default, ★ the workspace's own,
    👥 published to its class (`models.gallery`)."""
    if info.published:
        return f"{CLASS_MARK} {info.name}"
    if not info.shipped:
        return f"{OWN_MARK} {info.name}"
    return f"{DEFAULT_MARK} {info.name}" if is_default(info) else info.name


def library(task: str | None, workspace: str | None) -> dict[str, AdapterInfo]:
    """Name -> adapter, shipped ones first, then the class's; the workspace's own shadow the others of the
    same name."""
    return {info.name: info for info in list_adapters(task, workspace or None)}


def adapter_choices(task: str, workspace: str | None) -> list[tuple[str, str]]:
    """Picker entries: the bare base, then shipped adapters, the class's and the workspace's own (`adapter_label`)."""
    adapters = library(task, workspace)
    return [(BASE_CHOICE, BASE_CHOICE)] + [(adapter_label(info), name) for name, info in adapters.items()]


def default_choice(task: str, workspace: str | None) -> str:
    """What a task's picker opens with: its default adapter, so that the tab shows an adapter at work
    (the bare base is the first entry, one click away); the base where there is none."""
    return next((name for name, info in library(task, workspace).items() if is_default(info)), BASE_CHOICE)


def picker_update(task: str, workspace: str | None, current: str | None = None) -> dict[str, Any]:
    """Fresh choices for an adapter dropdown, keeping the selection while it still exists."""
    choices = adapter_choices(task, workspace)
    keep = current if current in {value for _, value in choices} else default_choice(task, workspace)
    return gr.update(choices=choices, value=keep)


def keep_picker_fresh(tab: gr.Tab, picker: gr.Dropdown, task: str, workspace: gr.BrowserState) -> None:
    """List the adapters again when the tab is opened and once the browser's workspace is known, so
    the picker of the tab shown first has this browser's own adapters too."""
    gr.on([tab.select, workspace.change], lambda space, current: picker_update(task, space, current),
          [workspace, picker], picker, **UI_EVENT, queue=False)


def adapter_argument(choice: str | None, task: str, workspace: str | None) -> str | None:
    """The adapter name for the task API (None = the base), accepting only this workspace's
    library: a free-form value could otherwise name any folder on disk."""
    if not choice or choice == BASE_CHOICE:
        return None
    if choice not in {info.name for info in list_adapters(task, workspace or None)}:
        raise AdapterError("adapter.not_available", task=task, name=choice)
    return choice


@lru_cache(maxsize=32)
def _zipped(folder: str, version: int) -> str:
    return str(export_zip(read_adapter(Path(folder)), Path(tempfile.mkdtemp(prefix="adapter-"))))


def adapter_zip(info: AdapterInfo) -> str:
    """The adapter as a zip to download, made once per version of its weights: selecting it again,
    or a poll asking every second, reuses the file (a shipped adapter zips for seconds)."""
    return _zipped(str(info.path), (info.path / WEIGHTS_FILE).stat().st_mtime_ns)
