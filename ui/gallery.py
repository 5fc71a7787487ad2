"""Class tab: publish one of your adapters to your class, see the class's leaderboard per task (every
published adapter and its base scored on the same rows, `finetune.leaderboard`), take yours down; join a
class by its code; the teacher may replace a task's test set with their own. Published adapters appear in
every picker of everyone in the class (`models.gallery`)."""

from __future__ import annotations

import gradio as gr
import pandas as pd

from finetune.card import metric_label
from finetune.data import load_examples_or_raise
from finetune.data.problems import DataValidationError
from finetune.leaderboard import FAILED, SCORED, UNSCORED, Standing, TestSet, score_soon, set_test_set, standings
from finetune.measurements import significant
from models.gallery import GalleryError, class_of, entries, join_class, owner_tag, publish, unpublish
from models.messages import error_text
from models.tasks import get_task, task_names
from ui.common import (LIGHT_EVENT, UI_EVENT, USER_ERRORS, Context, Settings, adapter_label, library,
                       require_workspace)
from ui.evaluate import row_cap
from ui.i18n import text

POLL_S, SCORING_POLL_S = 5.0, 2.0  # how often an open leaderboard is read again: a light read of a few files
COLUMNS = ("place", "adapter", "after", "before", "change", "base", "method", "steps", "examples", "published")
# Demo mode (a public Space): how many adapters one student may have in the gallery at once.
DEMO_PUBLISHED = 3
# A teacher's set is scored for every adapter published, one after another: at most this many rows (the
# Evaluate tab's cap in demo mode).
TEACHER_ROWS = 500


def published_cap(settings: Settings) -> int | None:
    return DEMO_PUBLISHED if settings.demo else None


def state_text(row: Standing, language: str) -> str:
    if row.state == SCORED:
        return ""
    return text(language, f"class.state.{row.state}", place=row.place or 0, error=row.error)


def board_frame(task: str, rows: list[Standing], language: str) -> pd.DataFrame:
    """The leaderboard: place, who, the task's metric after and before (the bare base on the same rows)
    and the change, how it was trained, and while it waits, where it is in line."""
    metric = get_task(task).primary_metric
    cells = []
    for place, row in enumerate(rows, 1):
        after, before = (row.after or {}).get(metric), (row.before or {}).get(metric)
        settings = row.settings
        method = f"{settings['method']} r{settings['rank']}" if settings["rank"] else settings["method"]
        cells.append([place if row.state == SCORED else "", f"{row.entry.display_name} ({row.entry.name})",
                      significant(after) if after is not None else state_text(row, language),
                      significant(before) if before is not None else "",
                      f"{after - before:+.3g}" if after is not None and before is not None else "",
                      settings["base"], method, settings["steps"] or "", settings["examples"] or "",
                      row.entry.published.replace("T", " ")[:16]])
    headers = [text(language, f"class.col.{column}", metric=metric_label(metric, language)) for column in COLUMNS]
    return pd.DataFrame(cells, columns=headers, dtype=object)


def test_set_text(tests: TestSet | None, task: str, language: str) -> str:
    if tests is None:
        return text(language, "class.unscored")
    key = "class.teacher_set" if tests.teacher else "class.bundled_set"
    return text(language, key, rows=len(tests.records), task=task)


def own_choices(workspace: str | None) -> list[tuple[str, str]]:
    return [(adapter_label(info), name) for name, info in library(None, workspace).items()
            if info.workspace == workspace and not info.shipped]


def published_choices(workspace: str | None) -> list[tuple[str, str]]:
    mine = owner_tag(workspace) if workspace else None
    return [(f"{entry.display_name} ({entry.name})", entry.name) for entry in entries(class_of(workspace))
            if entry.owner == mine]


def build(ctx: Context) -> gr.Tab:
    loc = ctx.loc
    tasks = task_names()
    with loc(gr.Tab(id="gallery"), label="class.tab") as tab:
        loc(gr.Markdown(), value="class.intro")
        with gr.Row(equal_height=True):
            code = loc(gr.Textbox(scale=2, elem_id="class-code"), label="class.code", info="class.code_info")
            join = loc(gr.Button(scale=1, elem_id="class-join"), value="class.join")
        joined = gr.Markdown(elem_id="class-joined")
        task = loc(gr.Radio(tasks, value=tasks[0], elem_id="class-task"), label="class.task")
        test_note = gr.Markdown(elem_id="class-test-set")
        board = loc(gr.Dataframe(interactive=False, wrap=True, elem_id="class-board"), label="class.board")
        with gr.Row(equal_height=False):
            with gr.Column():
                loc(gr.Markdown(), value="class.publish_title")
                mine = loc(gr.Dropdown([], value=None, elem_id="class-mine"), label="class.mine")
                shown_name = loc(gr.Textbox(elem_id="class-display-name"), label="class.display_name",
                                 placeholder="class.display_name_example")
                publish_button = loc(gr.Button(variant="primary", elem_id="class-publish"), value="class.publish")
                published = loc(gr.Dropdown([], value=None, elem_id="class-published"), label="class.published")
                unpublish_button = loc(gr.Button(variant="stop", elem_id="class-unpublish"), value="class.unpublish")
                message = gr.Markdown(elem_id="class-message")
            with loc(gr.Accordion(open=False, elem_id="class-teacher"), label="class.teacher"):
                loc(gr.Markdown(), value="class.teacher_intro")
                upload = loc(gr.File(file_types=[".csv", ".tsv", ".jsonl", ".json"], type="filepath",
                                     elem_id="class-teacher-upload"), label="class.teacher_upload")
                bundled = loc(gr.Button(elem_id="class-teacher-bundled"), value="class.teacher_bundled")
                teacher_message = gr.Markdown(elem_id="class-teacher-message")
        timer = gr.Timer(POLL_S, active=False)

    def show_board(workspace: str | None, chosen: str, language: str):
        """The chosen task's set and leaderboard. Once the tab has been opened it is read again every few
        seconds (others publish, scores arrive), more often while scores are still coming."""
        if not workspace:
            return gr.skip(), gr.skip(), gr.skip()
        tests, rows = standings(class_of(workspace), chosen)
        waiting = any(row.state not in (SCORED, UNSCORED, FAILED) for row in rows)
        return (test_set_text(tests, chosen, language), board_frame(chosen, rows, language),
                gr.Timer(SCORING_POLL_S if waiting else POLL_S, active=True))

    def show_class(workspace: str | None, language: str):
        """The class joined, and the pickers; the code box is left as typed (a refresh on opening the tab
        must not overwrite a code being typed)."""
        if not workspace:
            return gr.skip(), gr.skip(), gr.skip()
        return (text(language, "class.joined", code=class_of(workspace)),
                gr.update(choices=own_choices(workspace), value=None),
                gr.update(choices=published_choices(workspace), value=None))

    def enter(workspace: str | None, typed: str, language: str):
        join_class(require_workspace(workspace), typed or "")
        return show_class(workspace, language)

    def share(workspace: str | None, adapter: str | None, name: str, language: str):
        workspace = require_workspace(workspace)
        if not adapter:
            return text(language, "class.pick_first"), gr.skip()
        try:
            entry = publish(adapter, name or adapter, workspace, max_per_owner=published_cap(ctx.settings))
        except (GalleryError, *USER_ERRORS) as error:
            return f"❌ {error_text(error, language)}", gr.skip()
        score_soon(entry)
        return (text(language, "class.published_ok", shown=entry.display_name, name=entry.name, code=entry.class_code),
                gr.update(choices=published_choices(workspace), value=entry.name))

    def take_down(workspace: str | None, name: str | None, language: str):
        if not name:
            return text(language, "class.pick_first"), gr.skip()
        try:
            entry = unpublish(name, require_workspace(workspace))
        except (GalleryError, *USER_ERRORS) as error:
            return f"❌ {error_text(error, language)}", gr.skip()
        return (text(language, "class.unpublished_ok", shown=entry.display_name),
                gr.update(choices=published_choices(workspace), value=None))

    def teacher_set(workspace: str | None, chosen: str, path: str | None, language: str):
        workspace = require_workspace(workspace)
        try:
            records = None
            if path:
                records = load_examples_or_raise(path, chosen, limits=ctx.settings.limits).records[
                    :row_cap(ctx.settings) or TEACHER_ROWS]
            tests = set_test_set(class_of(workspace), chosen, records, workspace)
        except (DataValidationError, GalleryError) as error:
            return f"❌ {error_text(error, language)}"
        return test_set_text(tests, chosen, language)

    board_inputs = [ctx.workspace, task, ctx.language]
    board_outputs = [test_note, board, timer]
    class_outputs = [joined, mine, published]
    gr.on([tab.select, ctx.workspace.change, ctx.language.change], show_class, [ctx.workspace, ctx.language],
          class_outputs, **LIGHT_EVENT)
    gr.on([tab.select, ctx.workspace.change, ctx.language.change, task.change, timer.tick], show_board,
          board_inputs, board_outputs, **LIGHT_EVENT)
    gr.on([join.click, code.submit], enter, [ctx.workspace, code, ctx.language], class_outputs, **UI_EVENT).then(
        show_board, board_inputs, board_outputs, **LIGHT_EVENT)
    publish_button.click(share, [ctx.workspace, mine, shown_name, ctx.language], [message, published],
                         **UI_EVENT).then(show_board, board_inputs, board_outputs, **LIGHT_EVENT)
    unpublish_button.click(take_down, [ctx.workspace, published, ctx.language], [message, published],
                           **UI_EVENT).then(show_board, board_inputs, board_outputs, **LIGHT_EVENT)
    upload.upload(teacher_set, [ctx.workspace, task, upload, ctx.language], teacher_message, **UI_EVENT).then(
        show_board, board_inputs, board_outputs, **LIGHT_EVENT)
    bundled.click(lambda workspace, chosen, language: teacher_set(workspace, chosen, None, language),
                  [ctx.workspace, task, ctx.language], teacher_message, **UI_EVENT).then(
        show_board, board_inputs, board_outputs, **LIGHT_EVENT)
    return tab

