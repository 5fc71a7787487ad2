"""Adapters tab: the library (shipped adapters and this browser's own) and each one's model card, in
the page's language, from its stored metadata (`finetune.card`: the same numbers as the README's
results table and the adapter's own README.md); upload a zip, download one (or the base with it merged
in, `models.export`), push one to the Hugging Face Hub, delete your own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from finetune.card import headline, render_card, set_label
from finetune.measurements import measurements, persona_results
from huggingface_hub import is_offline_mode

from models.adapters import AdapterError, AdapterInfo, delete_adapter, import_zip
from models.export import merged_model_zip, push_to_hub
from models.inference import detach
from models.messages import error_text, say
from ui.common import (BASE_CHOICE, LIGHT_EVENT, UI_EVENT, USER_ERRORS, Context, adapter_label, adapter_zip,
                       library, require_workspace)
from ui.delta_view import build_view, view_updates
from ui.i18n import text

COLUMNS = ("name", "task", "result", "set", "source", "base", "rank")  # what people compare first


def evaluation(info: AdapterInfo) -> dict[str, Any] | None:
    """The stored persona evaluation, which speaks for the shipped personas only."""
    return persona_results() if info.shipped else None


def selector_choices(adapters: dict[str, AdapterInfo]) -> list[tuple[str, str]]:
    """The library as (label, name) entries, each marked as in the task tabs' pickers."""
    return [(adapter_label(info), name) for name, info in adapters.items()]


def library_frame(adapters: dict[str, AdapterInfo], language: str) -> pd.DataFrame:
    """One row per adapter; its result is the first set it was measured on (a test set where it has
    one), labelled with that set and its size as on its card."""
    rows = []
    for info in adapters.values():
        measured = measurements(info.name, info.metadata, evaluation(info))
        rows.append([adapter_label(info), info.task, headline(measured[0], language) if measured else "",
                     set_label(measured[0], language) if measured else "",
                     text(language, source_key(info)), info.base_model,
                     "" if info.rank is None else info.rank])
    return pd.DataFrame(rows, columns=[text(language, f"adapters.col.{column}") for column in COLUMNS])


def source_key(info: AdapterInfo) -> str:
    return "adapters.shipped" if info.shipped else "adapters.class" if info.published else "adapters.yours"


def model_card(info: AdapterInfo, language: str) -> str:
    return render_card(info.name, info.metadata, language, evaluation(info))


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
                merge = loc(gr.Button(interactive=False, elem_id="adapters-merged"), value="adapters.merged")
                merged_file = loc(gr.File(visible=False, interactive=False, elem_id="adapters-merged-file"),
                                  label="adapters.merged_file")
                with loc(gr.Accordion(open=False, elem_id="adapters-hub"), label="adapters.hub"):
                    repo = loc(gr.Textbox(elem_id="adapters-hub-repo"), label="adapters.hub_repo",
                               placeholder="adapters.hub_repo_example")
                    token = loc(gr.Textbox(type="password", elem_id="adapters-hub-token"), label="adapters.hub_token")
                    push_merged = loc(gr.Checkbox(False, elem_id="adapters-hub-merged"), label="adapters.hub_merged")
                    # Offline the button says so before anyone types a token; a click explains the zip route.
                    push = loc(gr.Button(interactive=False, elem_id="adapters-hub-push"),
                               value="adapters.push_offline" if is_offline_mode() else "adapters.push")
                delete = loc(gr.Button(variant="stop", interactive=False, elem_id="adapters-delete"),
                             value="adapters.delete")
                upload = loc(gr.File(file_types=[".zip"], type="filepath", elem_id="adapters-upload"),
                             label="adapters.upload")
                message = gr.Markdown(elem_id="adapters-message")
            with gr.Column(scale=2):
                card = gr.Markdown(elem_id="adapters-card")
                inside = build_view(loc)

    def refresh(workspace: str | None, current: str | None, language: str):
        if not workspace:  # the page is still starting; the workspace's arrival lists everything
            return gr.skip(), gr.skip(), gr.skip()
        adapters = library(None, workspace)
        keep = current if current in adapters else None
        note = text(language, "adapters.workspace", workspace=workspace) if workspace else ""
        return note, library_frame(adapters, language), gr.update(choices=selector_choices(adapters), value=keep)

    def show(name: str | None, workspace: str | None, language: str):
        info = library(None, workspace).get(name or "")
        if info is None:
            off = gr.update(interactive=False)
            return "", gr.update(value=None, interactive=False), off, off, off
        return (model_card(info, language), gr.update(value=adapter_zip(info), interactive=True),
                gr.update(interactive=not (info.shipped or info.published)), gr.update(interactive=True),
                gr.update(interactive=True))

    def merged(name: str | None, workspace: str | None, language: str):
        """The merged model to download: built on this click (once per adapter version), not on selecting."""
        info = library(None, workspace).get(name or "")
        if info is None:
            return gr.skip(), gr.skip()
        try:
            return "", gr.update(value=str(merged_model_zip(info)), visible=True)
        except USER_ERRORS as error:
            return f"❌ {error_text(error, language)}", gr.update(value=None, visible=False)

    def pushed(name: str | None, repo_id: str, hub_token: str, whole: bool, workspace: str | None, language: str):
        info = library(None, workspace).get(name or "")
        if info is None:
            return ""
        try:
            return text(language, "adapters.pushed", url=push_to_hub(info, repo_id or "", hub_token or "", whole))
        except USER_ERRORS as error:
            return f"❌ {error_text(error, language)}"

    def remove(name: str | None, workspace: str | None, language: str):
        info = library(None, require_workspace(workspace)).get(name or "")
        if info is None:
            return ""
        if info.shipped or info.published:
            raise gr.Error(say("adapter.shipped" if info.shipped else "adapter.published", name=info.name).text(language))
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
                gr.update(choices=selector_choices(library(None, workspace)), value=info.name))

    listing = [workspace_note, table, selected]
    details = [card, download, delete, merge, push]
    gr.on([tab.select, ctx.workspace.change, ctx.language.change], refresh,
          [ctx.workspace, selected, ctx.language], listing, **LIGHT_EVENT)
    gr.on([selected.change, ctx.language.change], show, [selected, ctx.workspace, ctx.language], details, **UI_EVENT)
    gr.on([selected.change, ctx.language.change],
          lambda name, workspace, language: view_updates(library(None, workspace).get(name or ""), language),
          [selected, ctx.workspace, ctx.language], inside.outputs, **UI_EVENT)
    selected.change(lambda: gr.update(value=None, visible=False), None, merged_file, **LIGHT_EVENT)  # another's
    merge.click(merged, [selected, ctx.workspace, ctx.language], [message, merged_file], **UI_EVENT)
    push.click(pushed, [selected, repo, token, push_merged, ctx.workspace, ctx.language], message, **UI_EVENT)
    delete.click(remove, [selected, ctx.workspace, ctx.language], message, **UI_EVENT).then(
        refresh, [ctx.workspace, selected, ctx.language], listing, **LIGHT_EVENT)
    upload.upload(add, [upload, ctx.workspace, ctx.language], [message, selected], **UI_EVENT).then(
        refresh, [ctx.workspace, selected, ctx.language], listing, **LIGHT_EVENT)
    return tab
