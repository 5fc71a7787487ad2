"""Evaluate tab: several models (the base included) measured on a labelled file, as in the course's
lesson on evaluating translations: each one's corpus metrics, the rows it did worst on, a confusion
matrix for a classification, and every prediction to download.

The rows go through the app's serving a chunk at a time (`finetune.served_eval`), in line with everyone
else's requests, so a long file never holds a model for the whole run. Uploads are checked as the Train
tab checks them, with its limits; demo mode measures at most DEMO_ROWS rows of a file.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Iterator

import gradio as gr
import pandas as pd

from finetune.card import metric_label
from finetune.data import LoadedData, escape_spreadsheet_cell, load_examples, load_examples_or_raise
from finetune.data.problems import DataValidationError
from finetune.measurements import significant
from finetune.served_eval import AdapterResult, evaluate_served, predictions_csv
from models.messages import error_text
from models.tasks import get_task, task_names
from ui.common import (BASE_CHOICE, MODEL_EVENT, UI_EVENT, USER_ERRORS, Context, Settings, adapter_argument,
                       adapter_choices, default_choice)
from ui.i18n import DEFAULT_LANGUAGE, text
from ui.train import column_widths, problems_markdown

DATA_DIR = Path(__file__).resolve().parent.parent / "assets" / "data"
FILE_TYPES = [".csv", ".tsv", ".jsonl", ".json"]
# A class of thirty on one machine may all run one at once: in demo mode each measures at most this many
# rows (per model), a few minutes on the shared CPU, and the bundled test set is offered in sizes up to it.
DEMO_ROWS = 100
BUNDLED_ROWS = (20, 100, 200)


def evaluated_tasks() -> list[str]:
    """Tasks whose answers can be compared with a reference: a chat model is measured by its loss on the
    replies (`python -m finetune eval`, and the Train tab), not by answers to read."""
    return [name for name in task_names() if get_task(name).kind != "chat"]


def row_cap(settings: Settings) -> int | None:
    return DEMO_ROWS if settings.demo else None


def bundled_choices(settings: Settings, language: str) -> list[tuple[str, int]]:
    """The bundled test set's sizes on offer (its first N rows), none above the deployment's cap."""
    cap = row_cap(settings)
    return [(text(language, "evaluate.bundled_rows", rows=rows), rows) for rows in BUNDLED_ROWS
            if cap is None or rows <= cap]


def bundled_test_set(task: str) -> Path:
    return DATA_DIR / task / "test.jsonl"


def evaluation_records(task: str, path: str | None, bundled_rows: int | None,
                       settings: Settings) -> list[dict[str, Any]]:
    """The rows to measure: an upload, checked with the Train tab's limits, or the bundled test set's first
    rows; at most the deployment's cap. Raises DataValidationError for a file with errors, ValueError for none."""
    if path:
        records = load_examples_or_raise(path, task, limits=settings.limits).records
    elif bundled_rows:
        records = load_examples_or_raise(bundled_test_set(task), task).records[: int(bundled_rows)]
    else:
        raise ValueError("no data")
    cap = row_cap(settings)
    return records[:cap] if cap else records


def result_name(result: AdapterResult) -> str:
    return result.adapter or BASE_CHOICE


def metrics_frame(results: list[AdapterResult], language: str) -> pd.DataFrame:
    """One row per model: its corpus metrics, then the rows they rest on."""
    names = [name for name in (results[0].metrics if results else {}) if name != "examples"]
    columns = [text(language, "evaluate.col_model"), *(metric_label(name, language) for name in names),
               text(language, "evaluate.col_rows")]
    rows = [[result_name(r), *(significant(r.metrics[name]) for name in names), r.metrics["examples"]] for r in results]
    return pd.DataFrame(rows, columns=columns, dtype=object)


def worst_first_frame(task: str, result: AdapterResult | None, language: str) -> pd.DataFrame:
    """A model's rows from its worst answer up, with each row's scores (a classification: right or wrong)."""
    spec = get_task(task)
    if result is None:
        return pd.DataFrame()
    headers = [text(language, f"evaluate.col_{name}") for name in ("input", "reference", "prediction")]
    rows = result.worst_first(spec.primary_metric)
    frame = pd.DataFrame([[row["input"], row["reference"], row["prediction"]] for row in rows], columns=headers)
    if spec.kind == "classify":
        frame[text(language, "evaluate.col_correct")] = ["✅" if row["accuracy"] else "❌" for row in rows]
    else:
        for name in spec.score_one("", ""):
            frame[metric_label(name, language)] = [f"{row[name]:.1f}" for row in rows]
    return frame.map(escape_spreadsheet_cell)


def confusion_frame(result: AdapterResult | None) -> pd.DataFrame:
    """A classification's confusion matrix in long form for a stacked bar plot: per reference label, how
    many rows got each predicted label."""
    cells = [(truth, predicted, count) for truth, counts in zip(result.labels, result.confusion)
             for predicted, count in zip(result.labels, counts)] if result and result.labels else []
    return pd.DataFrame(cells, columns=["reference", "predicted", "count"]).astype({"count": int})


def data_markdown(task: str, path: str | None, bundled_rows: int | None, settings: Settings, language: str) -> str:
    """What the chosen data is: an upload's problems (as the Train tab lists them) or how many rows will be measured."""
    if path:
        data: LoadedData = load_examples(path, task, limits=settings.limits)
        if data.problems:
            return problems_markdown(data, language)
        rows = len(data.records)
    elif bundled_rows:
        rows = int(bundled_rows)
    else:
        return text(language, "evaluate.no_data")
    cap = row_cap(settings)
    if cap and rows > cap:
        return text(language, "evaluate.capped", rows=rows, cap=cap)
    return text(language, "evaluate.data_ok", rows=rows)


def default_models(task: str, workspace: str | None) -> list[str]:
    """What the models picker opens with: the task's default adapter and the bare base, to compare."""
    return list(dict.fromkeys([default_choice(task, workspace), BASE_CHOICE]))


def adapters_update(task: str, workspace: str | None, current: list[str] | None) -> dict[str, Any]:
    """The task's models to choose from (the base first), keeping the chosen ones that still exist."""
    choices = adapter_choices(task, workspace)
    kept = [value for value in current or [] if value in {v for _, v in choices}]
    return gr.update(choices=choices, value=kept or default_models(task, workspace))


def build(ctx: Context) -> gr.Tab:
    loc, settings = ctx.loc, ctx.settings
    first_task = evaluated_tasks()[0]
    with loc(gr.Tab(id="evaluate"), label="evaluate.tab") as tab:
        loc(gr.Markdown(), value="evaluate.intro")
        if settings.demo:
            loc(gr.Markdown(elem_id="evaluate-demo"), value="evaluate.demo_limits")
        results = gr.State([])
        with gr.Row(equal_height=False):
            with gr.Column(scale=1):
                task = loc(gr.Dropdown(evaluated_tasks(), value=first_task, elem_id="evaluate-task"),
                           label="train.task")
                upload = loc(gr.File(file_types=FILE_TYPES, type="filepath", elem_id="evaluate-upload"),
                             label="evaluate.upload")
                bundled = loc(gr.Dropdown(bundled_choices(settings, DEFAULT_LANGUAGE), value=None,
                                          elem_id="evaluate-bundled"), label="evaluate.bundled")
            with gr.Column(scale=1):
                adapters = loc(gr.Dropdown(adapter_choices(first_task, None), multiselect=True,
                                           value=default_models(first_task, None),
                                           elem_id="evaluate-adapters"),
                               label="evaluate.adapters", info="evaluate.adapters_info")
                checked = gr.Markdown(elem_id="evaluate-data")
                with gr.Row():
                    run = loc(gr.Button(variant="primary", elem_id="evaluate-run"), value="evaluate.run")
                    stop = loc(gr.Button(variant="stop", elem_id="evaluate-stop"), value="evaluate.stop")
        status = gr.Markdown(elem_id="evaluate-status")
        metrics = loc(gr.Dataframe(interactive=False, elem_id="evaluate-metrics"), label="evaluate.metrics")
        shown = loc(gr.Radio([], elem_id="evaluate-shown"), label="evaluate.shown")
        confusion = loc(gr.BarPlot(confusion_frame(None), x="reference", y="count", color="predicted", height=260,
                                   visible=False, elem_id="evaluate-confusion"),
                        label="evaluate.confusion", x_title="evaluate.col_reference", y_title="evaluate.plot_rows",
                        color_title="evaluate.col_prediction")
        worst = loc(gr.Dataframe(interactive=False, wrap=True, max_height=420, elem_id="evaluate-worst"),
                    label="evaluate.worst")
        download = loc(gr.DownloadButton(visible=False, elem_id="evaluate-download"), label="evaluate.download")

    def check(task_name: str, path: str | None, rows: int | None, language: str) -> str:
        return data_markdown(task_name, path, rows, settings, language)

    def show(task_name: str, chosen: str | None, done: list[AdapterResult], language: str):
        """One model's worst rows, and its confusion matrix for a classification."""
        result = next((r for r in done if result_name(r) == chosen), None)
        frame = worst_first_frame(task_name, result, language)
        table = gr.update(value=frame, column_widths=column_widths(frame)) if len(frame) else gr.update(value=frame)
        plot = gr.update(value=confusion_frame(result), visible=bool(result and result.labels))
        return table, plot

    def measure(task_name: str, path: str | None, rows: int | None, chosen: list[str] | None,
                workspace: str | None, language: str, progress: gr.Progress = gr.Progress()) -> Iterator[Any]:
        """Measure each chosen model, saying after each chunk how far it got; then the tables and the file."""
        if not path and not rows:
            raise gr.Error(text(language, "evaluate.no_data"))
        if not chosen:
            raise gr.Error(text(language, "evaluate.no_models"))
        try:
            keys = [adapter_argument(choice, task_name, workspace) for choice in chosen]
            records = evaluation_records(task_name, path, rows, settings)
            done: list[AdapterResult] = []
            for step in evaluate_served(task_name, records, keys, workspace, owner=workspace):
                progress((step.done, step.total), desc=text(language, "evaluate.progress"),
                         unit=text(language, "evaluate.unit"))
                done = step.results
                yield (text(language, "evaluate.running", done=step.done, total=step.total),
                       *[gr.skip()] * 6)
        except (DataValidationError, *USER_ERRORS) as error:
            raise gr.Error(error_text(error, language)) from None
        names = [result_name(r) for r in done]
        archive = predictions_csv(task_name, done, Path(tempfile.mkdtemp(prefix="evaluation-")))
        yield (text(language, "evaluate.finished", rows=len(records), models=len(done)),
               metrics_frame(done, language), gr.update(choices=names, value=names[0]),
               *show(task_name, names[0], done, language), gr.update(value=str(archive), visible=True), done)

    def choose_task(task_name: str, workspace: str | None, language: str):
        return (None, None, adapters_update(task_name, workspace, None), text(language, "evaluate.no_data"),
                [], gr.update(value=None), gr.update(choices=[], value=None), pd.DataFrame(),
                gr.update(visible=False), gr.update(visible=False))

    outputs = [status, metrics, shown, worst, confusion, download, results]
    running = run.click(measure, [task, upload, bundled, adapters, ctx.workspace, ctx.language], outputs,
                        **MODEL_EVENT)
    stop.click(lambda language: text(language, "evaluate.stopped"), ctx.language, status, cancels=[running],
               **UI_EVENT, queue=False)
    task.input(choose_task, [task, ctx.workspace, ctx.language],
               [upload, bundled, adapters, checked, results, metrics, shown, worst, confusion, download],
               **UI_EVENT, queue=False)
    chosen_data = [task, upload, bundled, ctx.language]
    upload.upload(lambda: None, None, bundled, **UI_EVENT, queue=False).then(check, chosen_data, checked, **UI_EVENT)
    upload.clear(check, chosen_data, checked, **UI_EVENT)
    bundled.input(lambda: None, None, upload, **UI_EVENT, queue=False).then(check, chosen_data, checked, **UI_EVENT)
    shown.input(show, [task, shown, results, ctx.language], [worst, confusion], **UI_EVENT, queue=False)
    gr.on([tab.select, ctx.workspace.change], adapters_update, [task, ctx.workspace, adapters], adapters,
          **UI_EVENT, queue=False)
    ctx.language.change(lambda code: gr.update(choices=bundled_choices(settings, code)), ctx.language, bundled,
                        **UI_EVENT, queue=False).then(check, chosen_data, checked, **UI_EVENT)
    return tab
