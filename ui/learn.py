"""Learn tab: the course's transfer-learning methods side by side on a small model (MiniLM, sentiment).

The parameter counts and sizes are computed live: build the model, apply each method with
`finetune.recipe.apply_method`, count. "Run short comparison" trains every method for a few steps
through the job queue (nothing is saved) and fills in accuracy before and after.
`assets/learn_results.json`, when present, holds results of a longer run:
{"note": "...", "rows": [{"method": "lora-r8", "trainable_params": 0, "accuracy_before": 0.0,
"accuracy_after": 0.0, "train_seconds": 0.0}, ...]}.
"""

from __future__ import annotations

import copy
import json
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from finetune.config import TrainConfig, make_config
from finetune.data import load_examples
from finetune.jobs import Job, JobLimitError
from models.adapters import WEIGHTS_FILE
from models.loading import DEFAULT_LABELS, load_pretrained
from models.messages import error_text
from models.registry import DEFAULT_BASE, get_spec
from ui.common import LIGHT_EVENT, UI_EVENT, Context, require_workspace
from ui.i18n import text
from ui.train import EXAMPLES_DIR, POLL_SECONDS, status_key

RESULTS_FILE = Path(__file__).resolve().parent.parent / "assets" / "learn_results.json"
COMPARISON_DATA = EXAMPLES_DIR / "sentiment_reviews.csv"
COMPARISON_STEPS = 30
BYTES_PER_PARAMETER = 4  # float32


@dataclass(frozen=True)
class Method:
    label: str  # "lora-r8"; the i18n key "learn.<method>" explains it
    settings: dict[str, Any]

    @property
    def method(self) -> str:
        return self.settings["method"]


# Learning rates suit each method: updating every weight needs small steps, a fresh head large ones.
METHODS = (
    Method("full", dict(method="full", learning_rate=5e-5)),
    Method("freeze", dict(method="freeze", freeze_layers=4, learning_rate=1e-4)),
    Method("head", dict(method="head", learning_rate=2e-3)),
    Method("lora-r2", dict(method="lora", rank=2, alpha=4, learning_rate=2e-3)),
    Method("lora-r8", dict(method="lora", rank=8, alpha=16, learning_rate=2e-3)),
    Method("lora-r32", dict(method="lora", rank=32, alpha=64, learning_rate=2e-3)),
)


def method_config(method: Method, base: str, max_steps: int = COMPARISON_STEPS) -> TrainConfig:
    return make_config("sentiment", "quick", base=base, max_steps=max_steps, validation_fraction=0.25,
                       **method.settings)


def label_of(config: TrainConfig) -> str:
    return f"lora-r{config.rank}" if config.method == "lora" else config.method


@lru_cache(maxsize=4)
def footprints(base: str) -> pd.DataFrame:
    """Trainable parameters per method, and what you would store to share the result: the LoRA
    adapter as saved (measured on disk), otherwise the changed weights in float32."""
    spec = get_spec(base)
    model, _ = load_pretrained(spec, list(DEFAULT_LABELS))
    from finetune.recipe import apply_method, count_parameters  # (the Trainer's imports: not at app start)

    rows = []
    for method in METHODS:
        adapted = apply_method(copy.deepcopy(model), spec, method_config(method, base))
        trainable, total = count_parameters(adapted)
        if method.method == "lora":
            with tempfile.TemporaryDirectory() as folder:
                adapted.save_pretrained(folder, safe_serialization=True)
                size = (Path(folder) / WEIGHTS_FILE).stat().st_size
        else:
            size = trainable * BYTES_PER_PARAMETER
        rows.append({"method": method.label, "trainable parameters": f"{trainable:,}",
                     "% of the model": round(100 * trainable / total, 3), "size to share": human_size(size)})
    return pd.DataFrame(rows)


def human_size(size: float) -> str:
    """'4.4 KB', '87.2 MB': a new head takes kilobytes, a whole model megabytes (in MB the head reads 0)."""
    if size < 2**10:
        return f"{size:.0f} B"
    return f"{size / 2**10:.1f} KB" if size < 2**20 else f"{size / 2**20:.1f} MB"


def explanations(language: str) -> str:
    return "\n".join(f"- **{m.label}** — {text(language, 'learn.' + m.label.split('-')[0])}"
                     + (f" ({text(language, 'learn.rank', rank=m.settings['rank'])})" if m.method == "lora" else "")
                     for m in METHODS)


def stored_results() -> tuple[str, pd.DataFrame]:
    if not RESULTS_FILE.is_file():
        return "", pd.DataFrame()
    stored = json.loads(RESULTS_FILE.read_text(encoding="utf-8"))
    return stored.get("note", ""), pd.DataFrame(stored.get("rows", []))


def comparison_frame(jobs: list[Job], language: str) -> pd.DataFrame:
    rows = []
    for job in jobs:
        metrics = (job.result or {}).get("metrics", {})
        rows.append({"method": label_of(job.config), "state": text(language, f"status.{status_key(job)}"),
                     "step": job.progress.step, "accuracy before": metrics.get("base", {}).get("accuracy"),
                     "accuracy after": metrics.get("adapter", {}).get("accuracy"),
                     "train seconds": (job.result or {}).get("train_seconds")})
    return pd.DataFrame(rows, columns=["method", "state", "step", "accuracy before", "accuracy after",
                                       "train seconds"])


def build(ctx: Context) -> gr.Tab:
    loc = ctx.loc
    note, stored = stored_results()
    with loc(gr.Tab(id="learn"), label="learn.tab") as tab:
        loc(gr.Markdown(), value="learn.intro")
        methods = gr.Markdown(explanations("en"), elem_id="learn-methods")
        sizes = loc(gr.Dataframe(interactive=False, elem_id="learn-sizes"), label="learn.sizes")
        with gr.Row():
            run = loc(gr.Button(variant="primary", interactive=not ctx.settings.demo, elem_id="learn-run"),
                      value="learn.run")
            stop = loc(gr.Button(variant="stop", elem_id="learn-stop"), value="learn.stop")
        if ctx.settings.demo:
            loc(gr.Markdown(), value="learn.demo")
        comparison = loc(gr.Dataframe(interactive=False, elem_id="learn-comparison"), label="learn.comparison")
        if not stored.empty:
            gr.Markdown(note)
            loc(gr.Dataframe(stored, interactive=False, elem_id="learn-stored"), label="learn.stored")
        timer = gr.Timer(POLL_SECONDS, active=False)

    def latest_batch(workspace: str | None) -> list[Job]:
        return ctx.jobs.jobs(workspace, "learn")[-len(METHODS):] if workspace else []

    def poll(workspace: str | None, language: str):
        batch = latest_batch(workspace)
        return comparison_frame(batch, language), gr.Timer(active=any(job.active for job in batch))

    def start(workspace: str | None, language: str):
        workspace = require_workspace(workspace)
        if any(job.active for job in latest_batch(workspace)):
            return poll(workspace, language)
        records = load_examples(COMPARISON_DATA, "sentiment").records
        base = DEFAULT_BASE["sentiment"]
        try:
            for method in METHODS:
                ctx.jobs.submit(method_config(method, base), records, workspace, kind="learn",
                                data_summary={"file": COMPARISON_DATA.name})
        except JobLimitError as error:
            raise gr.Error(error_text(error, language)) from None
        return poll(workspace, language)

    def stop_all(workspace: str | None) -> None:
        for job in latest_batch(workspace):
            ctx.jobs.cancel(job.id)

    watched = [comparison, timer]
    tab.select(lambda: footprints(DEFAULT_BASE["sentiment"]), None, sizes, **UI_EVENT)
    ctx.language.change(explanations, ctx.language, methods, **LIGHT_EVENT)
    run.click(start, [ctx.workspace, ctx.language], watched, **UI_EVENT)
    stop.click(stop_all, ctx.workspace, None, **UI_EVENT).then(poll, [ctx.workspace, ctx.language], watched,
                                                               **LIGHT_EVENT)
    timer.tick(poll, [ctx.workspace, ctx.language], watched, **LIGHT_EVENT)
    gr.on(None, poll, [ctx.workspace, ctx.language], watched, **LIGHT_EVENT)
    return tab
