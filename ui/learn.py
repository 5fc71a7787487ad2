"""Learn tab: the course's transfer-learning methods side by side on a small model (MiniLM, sentiment).

The experiment (methods, data, intervals, the "within noise" verdict) is `finetune.methods`; this file
shows it. The parameter counts and sizes are computed live: build the model, apply each method with
`finetune.recipe.apply_method`, count. "Run comparison" trains every method through the job queue (nothing
is saved) and fills in accuracy before and after on the held-out reviews, and every method's loss curve on
one chart while they train. `assets/learn_results.json` (`python -m finetune compare-methods --output
assets/learn_results.json`) holds a full run on the real MiniLM, curves included, so the tab opens with
results. Below, the Adapters tab's look inside an adapter (`ui.delta_view`): how much of its rank a trained
adapter uses, next to the ranks compared. Every table, chart title and sentence follows the page's language.
"""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from finetune.jobs import DONE, Job, JobLimitError
from finetune.methods import (METHODS, comparison_data, comparison_rows, label_of, method_config, shared_bytes,
                              submit_comparison, within_noise)
from models.loading import DEFAULT_LABELS, load_pretrained
from models.messages import error_text
from models.registry import DEFAULT_BASE, get_spec
from models.tasks import get_task
from ui.common import LIGHT_EVENT, UI_EVENT, Context, adapter_label, library, require_workspace
from ui.delta_view import build_view, view_updates
from ui.i18n import text
from ui.train import POLL_SECONDS, status_key

RESULTS_FILE = Path(__file__).resolve().parent.parent / "assets" / "learn_results.json"
SIZE_COLUMNS = ("method", "trainable", "share", "size")
RESULT_COLUMNS = ("method", "trainable", "size", "before", "after", "seconds", "vs_best")
LIVE_COLUMNS = ("method", "state", "step", *RESULT_COLUMNS[1:])


@lru_cache(maxsize=4)
def footprints(base: str) -> tuple[dict[str, Any], ...]:
    """Trainable parameters per method, and what you would store to share the result
    (`finetune.methods.shared_bytes`, in bytes and as the table shows it)."""
    spec = get_spec(base)
    model, _ = load_pretrained(spec, list(DEFAULT_LABELS))
    from finetune.recipe import apply_method, count_parameters  # (the Trainer's imports: not at app start)

    rows = []
    for method in METHODS:
        adapted = apply_method(copy.deepcopy(model), spec, method_config(method, base))
        trainable, total = count_parameters(adapted)
        size = shared_bytes(adapted, method.method, trainable)
        rows.append({"method": method.label, "trainable": f"{trainable:,}", "share": round(100 * trainable / total, 3),
                     "size": human_size(size), "size_bytes": size})
    return tuple(rows)


def human_size(size: float) -> str:
    """'4.4 KB', '87.2 MB': a new head takes kilobytes, a whole model megabytes (in MB the head reads 0)."""
    if size < 2**10:
        return f"{size:.0f} B"
    return f"{size / 2**10:.1f} KB" if size < 2**20 else f"{size / 2**20:.1f} MB"


def frame(rows: list[dict[str, Any]], columns: tuple[str, ...], language: str) -> pd.DataFrame:
    """Rows keyed by column id, with the headers in the page's language."""
    return pd.DataFrame([[row.get(c) for c in columns] for row in rows],
                        columns=[text(language, f"learn.col.{c}") for c in columns])


def sizes_frame(base: str, language: str) -> pd.DataFrame:
    return frame(list(footprints(base)), SIZE_COLUMNS, language)


def explanations(language: str) -> str:
    return "\n".join(f"- **{m.label}** — {text(language, 'learn.' + m.label.split('-')[0])}"
                     + (f" ({text(language, 'learn.rank', rank=m.settings['rank'])})" if m.method == "lora" else "")
                     for m in METHODS)


# ---------------------------------------------------------------------------------------------- results

def accuracy_cell(row: dict[str, Any], side: str) -> str:
    """'0.805 (0.745–0.854)': the accuracy and its 95% interval."""
    return f"{row[side]:.3f} ({row[side + '_low']:.3f}–{row[side + '_high']:.3f})"


def result_cells(row: dict[str, Any], language: str) -> dict[str, Any]:
    """A `finetune.methods.comparison_rows` row as the table's cells."""
    noise = within_noise(row)
    versus = (text(language, "learn.best") if noise is None
              else text(language, "learn.noise" if noise else "learn.lower", p=f"{row['p_vs_best']:.2g}"))
    return {"method": row["method"], "trainable": f"{row['trainable_params']:,}", "size": human_size(row["size_bytes"]),
            "before": accuracy_cell(row, "accuracy_before"), "after": accuracy_cell(row, "accuracy_after"),
            "seconds": row["train_seconds"], "vs_best": versus}


def verdict(rows: list[dict[str, Any]], reviews: int, language: str) -> str:
    """Which method scored best on the `reviews` held-out reviews, which others are within noise of it and
    which are clearly lower."""
    if len(rows) < 2:
        return ""
    best = next(row for row in rows if within_noise(row) is None)
    same = [row["method"] for row in rows if within_noise(row)]
    lower = [row["method"] for row in rows if within_noise(row) is False]
    sentences = [text(language, "learn.verdict.best", best=best["method"],
                      accuracy=accuracy_cell(best, "accuracy_after"), rows=f"{reviews:,}")]
    if same:
        sentences.append(text(language, "learn.verdict.same", methods=", ".join(same)))
    if lower:
        sentences.append(text(language, "learn.verdict.lower", methods=", ".join(lower)))
    return " ".join(sentences)


def curves_frame(losses: dict[str, list]) -> pd.DataFrame:
    """Method label -> [(step, loss), ...] as one table the line chart colours by method: one line each."""
    return pd.DataFrame([{"step": step, "loss": loss, "method": label}
                         for label, points in losses.items() for step, loss in points],
                        columns=["step", "loss", "method"])


def curves_update(losses: dict[str, list]) -> dict[str, Any]:
    """The chart drawn with the curves, or hidden while there are none (drawn empty, a plot would keep an
    empty colour legend)."""
    curves = curves_frame(losses)
    return gr.update(value=curves, visible=True) if len(curves) else gr.update(visible=False)


def stored_results() -> dict[str, Any]:
    """The last full comparison ({"note": ..., "rows": ...}), or {} when there is none."""
    return json.loads(RESULTS_FILE.read_text(encoding="utf-8")) if RESULTS_FILE.is_file() else {}


def stored_view(language: str) -> tuple[str, pd.DataFrame, str]:
    """The stored run's note, table and verdict in the page's language."""
    stored = stored_results()
    if not stored:
        return "", frame([], RESULT_COLUMNS, language), ""
    rows = stored["rows"]
    return (text(language, "learn.note", **stored["note"]),
            frame([result_cells(row, language) for row in rows], RESULT_COLUMNS, language),
            verdict(rows, stored["note"]["heldout_rows"], language))


def live_view(jobs: list[Job], language: str) -> tuple[pd.DataFrame, str, dict[str, Any]]:
    """One row per job (state and step while it runs, the scores and size once done), the verdict so far,
    and every job's loss curve up to its latest step."""
    _, heldout = comparison_data()
    done = [job for job in jobs if job.state == DONE and job.result]
    sizes = {row["method"]: row["size_bytes"] for row in footprints(done[0].config.base)} if done else {}
    finished = {label_of(job.config): {**job.result, "size_bytes": sizes[label_of(job.config)]} for job in done}
    scored = {row["method"]: row for row in comparison_rows(finished, heldout)}
    rows = [{"method": label_of(job.config), "state": text(language, f"status.{status_key(job)}"),
             "step": job.progress.step,
             **(result_cells(scored[label_of(job.config)], language) if label_of(job.config) in scored else {})}
            for job in jobs]
    return (frame(rows, LIVE_COLUMNS, language), verdict(list(scored.values()), len(heldout), language),
            curves_update({label_of(job.config): job.progress.losses for job in jobs}))


# ---------------------------------------------------------------------------------------------- the tab

def build(ctx: Context) -> gr.Tab:
    loc = ctx.loc
    note, stored, stored_verdict = stored_view("en")
    curves = {row["method"]: row["losses"] for row in stored_results().get("rows", [])}
    with loc(gr.Tab(id="learn"), label="learn.tab") as tab:
        loc(gr.Markdown(), value="learn.intro")
        methods = gr.Markdown(explanations("en"), elem_id="learn-methods")
        sizes = loc(gr.Dataframe(frame([], SIZE_COLUMNS, "en"), interactive=False, elem_id="learn-sizes"),
                    label="learn.sizes")
        with gr.Group(visible=bool(note)):
            stored_note = gr.Markdown(note, elem_id="learn-note")
            stored_table = loc(gr.Dataframe(stored, interactive=False, wrap=True, elem_id="learn-stored"),
                               label="learn.stored")
            stored_words = gr.Markdown(stored_verdict, elem_id="learn-stored-verdict")
            loc(gr.LinePlot(curves_frame(curves), x="step", y="loss", color="method", height=300,
                            visible=bool(curves), elem_id="learn-curves"),
                label="learn.curves", x_title="learn.col.step", y_title="learn.loss", color_title="learn.col.method")
        with gr.Row():
            run = loc(gr.Button(variant="primary", interactive=not ctx.settings.demo, elem_id="learn-run"),
                      value="learn.run")
            stop = loc(gr.Button(variant="stop", interactive=False, elem_id="learn-stop"), value="learn.stop")
        if ctx.settings.demo:
            loc(gr.Markdown(), value="learn.demo")
        comparison = loc(gr.Dataframe(frame([], LIVE_COLUMNS, "en"), interactive=False, elem_id="learn-comparison"),
                         label="learn.comparison")
        live_words = gr.Markdown(elem_id="learn-verdict")
        live_curves = loc(gr.LinePlot(x="step", y="loss", color="method", height=300, visible=False,
                                      elem_id="learn-live-curves"),
                          label="learn.live_curves", x_title="learn.col.step", y_title="learn.loss",
                          color_title="learn.col.method")
        timer = gr.Timer(POLL_SECONDS, active=False)
        loc(gr.Markdown(), value="learn.delta")
        picker = loc(gr.Dropdown(choices=[], value=None, elem_id="learn-delta-adapter"), label="learn.delta_adapter")
        inside = build_view(loc, "learn-delta")

    def latest_batch(workspace: str | None) -> list[Job]:
        return ctx.jobs.jobs(workspace, "learn")[-len(METHODS):] if workspace else []

    def poll(workspace: str | None, language: str):
        batch = latest_batch(workspace)
        running = any(job.active for job in batch)
        return *live_view(batch, language), gr.update(interactive=running), gr.Timer(active=running)

    def start(workspace: str | None, language: str):
        workspace = require_workspace(workspace)
        if not any(job.active for job in latest_batch(workspace)):
            try:
                submit_comparison(ctx.jobs, workspace, DEFAULT_BASE["sentiment"])
            except JobLimitError as error:
                raise gr.Error(error_text(error, language)) from None
        return poll(workspace, language)

    def adapters(workspace: str | None, current: str | None):
        """Shipped adapters and this browser's own; the sentiment adapter (MiniLM, as compared above) first
        shown."""
        found = library(None, workspace)
        default = get_task("sentiment").default_adapter
        keep = current if current in found else default if default in found else None
        return gr.update(choices=[(adapter_label(info), name) for name, info in found.items()], value=keep)

    def stop_all(workspace: str | None) -> None:
        for job in latest_batch(workspace):
            ctx.jobs.cancel(job.id)

    def relabel(workspace: str | None, language: str, tab_opened: bool):
        return (explanations(language), *stored_view(language), *poll(workspace, language)[:2],
                sizes_frame(DEFAULT_BASE["sentiment"], language) if tab_opened else frame([], SIZE_COLUMNS, language))

    watched = [comparison, live_words, live_curves, stop, timer]
    opened = gr.State(False)  # the sizes load a model: only once the tab is opened
    tab.select(lambda language: (sizes_frame(DEFAULT_BASE["sentiment"], language), True), ctx.language,
               [sizes, opened], **UI_EVENT)
    tab.select(adapters, [ctx.workspace, picker], picker, **LIGHT_EVENT)
    gr.on([picker.change, ctx.language.change],
          lambda name, workspace, language: view_updates(library(None, workspace).get(name or ""), language),
          [picker, ctx.workspace, ctx.language], inside.outputs, **UI_EVENT)
    ctx.language.change(relabel, [ctx.workspace, ctx.language, opened],
                        [methods, stored_note, stored_table, stored_words, comparison, live_words, sizes],
                        **LIGHT_EVENT)
    run.click(start, [ctx.workspace, ctx.language], watched, **UI_EVENT)
    stop.click(stop_all, ctx.workspace, None, **UI_EVENT).then(poll, [ctx.workspace, ctx.language], watched,
                                                               **LIGHT_EVENT)
    timer.tick(poll, [ctx.workspace, ctx.language], watched, **LIGHT_EVENT)
    gr.on(None, poll, [ctx.workspace, ctx.language], watched, **LIGHT_EVENT)
    return tab
