"""Adapters tab: the library (shipped adapters and this browser's own) with model cards and metrics;
upload a zip, download one, delete your own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from models.adapters import AdapterError, AdapterInfo, delete_adapter, import_zip, list_adapters
from models.inference import detach
from models.messages import error_text, say
from ui.common import BASE_CHOICE, LIGHT_EVENT, UI_EVENT, Context, adapter_zip, require_workspace
from ui.i18n import text


def library(workspace: str | None) -> dict[str, AdapterInfo]:
    """Name -> adapter; the workspace's own shadow shipped ones of the same name (as in the pickers)."""
    return {info.name: info for info in list_adapters(None, workspace or None)}


def primary_metric(info: AdapterInfo) -> str:
    """E.g. 'accuracy 0.680 → 0.873': the task's main metric before and after training."""
    name = info.metadata.get("primary_metric")
    metrics = info.metadata.get("metrics", {})
    before, after = metrics.get("base", {}).get(name), metrics.get("adapter", {}).get(name)
    if name is None or after is None:
        return ""
    return f"{name} {before:.3f} → {after:.3f}" if before is not None else f"{name} {after:.3f}"


def library_frame(adapters: dict[str, AdapterInfo], language: str) -> pd.DataFrame:
    rows = [{"name": info.name, "task": info.task, "base model": info.base_model,
             "source": text(language, "adapters.shipped" if info.shipped else "adapters.yours"),
             "rank": info.rank, "metric (base → adapter)": primary_metric(info)} for info in adapters.values()]
    return pd.DataFrame(rows, columns=["name", "task", "base model", "source", "rank", "metric (base → adapter)"])


def model_card(info: AdapterInfo, language: str) -> str:
    readme = info.path / "README.md"
    return readme.read_text(encoding="utf-8") if readme.is_file() else text(language, "adapters.no_card")


def metrics_summary(info: AdapterInfo) -> dict[str, Any]:
    """Before/after metrics without the sample predictions (those are in the Train tab)."""
    return {side: {k: v for k, v in values.items() if k != "samples"}
            for side, values in info.metadata.get("metrics", {}).items() if isinstance(values, dict)}


def build(ctx: Context) -> gr.Tab:
    loc = ctx.loc
    with loc(gr.Tab(id="adapters"), label="adapters.tab") as tab:
        loc(gr.Markdown(), value="adapters.intro")
        workspace_note = gr.Markdown(elem_id="adapters-workspace")
        table = loc(gr.Dataframe(interactive=False, wrap=True, elem_id="adapters-table"), label="adapters.library")
        with gr.Row(equal_height=False):
            with gr.Column(scale=1):
                selected = loc(gr.Dropdown([], value=None, elem_id="adapters-selected"), label="adapters.select")
                download = loc(gr.DownloadButton(interactive=False, elem_id="adapters-download"),
                               label="adapters.download")
                delete = loc(gr.Button(variant="stop", interactive=False, elem_id="adapters-delete"),
                             value="adapters.delete")
                upload = loc(gr.File(file_types=[".zip"], type="filepath", elem_id="adapters-upload"),
                             label="adapters.upload")
                message = gr.Markdown(elem_id="adapters-message")
            with gr.Column(scale=2):
                card = gr.Markdown(elem_id="adapters-card")
                metrics = loc(gr.JSON(elem_id="adapters-metrics"), label="adapters.metrics")

    def refresh(workspace: str | None, current: str | None, language: str):
        if not workspace:  # the page is still starting; the workspace's arrival lists everything
            return gr.skip(), gr.skip(), gr.skip()
        adapters = library(workspace)
        keep = current if current in adapters else None
        note = text(language, "adapters.workspace", workspace=workspace) if workspace else ""
        return note, library_frame(adapters, language), gr.update(choices=list(adapters), value=keep)

    def show(name: str | None, workspace: str | None, language: str):
        info = library(workspace).get(name or "")
        if info is None:
            return "", None, gr.update(value=None, interactive=False), gr.update(interactive=False)
        return (model_card(info, language), metrics_summary(info), gr.update(value=adapter_zip(info), interactive=True),
                gr.update(interactive=not info.shipped))

    def remove(name: str | None, workspace: str | None, language: str):
        info = library(require_workspace(workspace)).get(name or "")
        if info is None:
            return ""
        if info.shipped:
            raise gr.Error(say("adapter.shipped", name=info.name).text(language))
        detach(info)  # first: the loaded copy is found by the files that deleting removes
        try:
            delete_adapter(info)
        except (AdapterError, OSError) as error:
            raise gr.Error(error_text(error, language)) from None
        return text(language, "adapters.deleted", name=info.name)

    def add(path: str | None, workspace: str | None, language: str):
        workspace = require_workspace(workspace)
        if not path:
            return gr.skip(), gr.skip()
        if Path(path).stem.lower() == BASE_CHOICE:
            return f"❌ {text(language, 'train.name_reserved')}", gr.skip()
        try:
            info = import_zip(Path(path), workspace)
        except AdapterError as error:
            return f"❌ {error_text(error, language)}", gr.skip()
        return (text(language, "adapters.imported", name=info.name, task=info.task),
                gr.update(choices=list(library(workspace)), value=info.name))

    listing = [workspace_note, table, selected]
    details = [card, metrics, download, delete]
    gr.on([tab.select, ctx.workspace.change, ctx.language.change], refresh,
          [ctx.workspace, selected, ctx.language], listing, **LIGHT_EVENT)
    selected.change(show, [selected, ctx.workspace, ctx.language], details, **UI_EVENT)
    delete.click(remove, [selected, ctx.workspace, ctx.language], message, **UI_EVENT).then(
        refresh, [ctx.workspace, selected, ctx.language], listing, **LIGHT_EVENT)
    upload.upload(add, [upload, ctx.workspace, ctx.language], [message, selected], **UI_EVENT).then(
        refresh, [ctx.workspace, selected, ctx.language], listing, **LIGHT_EVENT)
    return tab
