"""Train tab: check a data file, pick settings, start a job in the job queue and watch it.

Nothing trains in a request handler: Start submits to `finetune.jobs.JobQueue` and returns, and
a 1-second `gr.Timer` polls the workspace's latest job (so a reloaded page picks it up again).
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from finetune.config import ConfigError, TrainConfig, make_config
from finetune.data import LoadedData, escape_spreadsheet_cell, load_examples
from finetune.jobs import Job, JobLimitError, estimate_seconds
from models.adapters import AdapterError, read_adapter, sanitize_name
from models.messages import error_text
from models.registry import DEFAULT_BASE, get_spec, list_specs
from models.tasks import task_names
from ui.common import BASE_CHOICE, LIGHT_EVENT, UI_EVENT, Context, adapter_zip, require_workspace
from ui.i18n import text

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "assets" / "examples"
PREVIEW_ROWS = 10
POLL_SECONDS = 1.0


def example_files(task: str) -> list[str]:
    """Bundled data files for a task (named after it, e.g. sentiment_reviews.csv)."""
    return sorted(p.name for p in EXAMPLES_DIR.glob(f"{task}*") if p.suffix in (".csv", ".jsonl"))


def preview_table(data: LoadedData) -> pd.DataFrame:
    """The first rows as read, with chat conversations flattened to one line each. Formula-like cells
    get a leading ' (the table's copy button gives CSV, which a spreadsheet would run)."""
    rows = [{"conversation": " | ".join(f"{m['role']}: {m['content']}" for m in r["messages"])}
            if "messages" in r else r for r in data.records[:PREVIEW_ROWS]]
    return pd.DataFrame(rows).map(escape_spreadsheet_cell)


def column_widths(frame: pd.DataFrame) -> list[str]:
    """Widths in proportion to each column's typical text length (at least 15% each): sized by
    content alone, a long review column pushes a short label column out of view."""
    lengths = [max(frame[c].astype(str).str.len().median(), len(str(c))) for c in frame.columns]
    shares = [max(15.0, 100 * n / sum(lengths)) for n in lengths]
    return [f"{100 * share / sum(shares):.0f}%" for share in shares]


def table_update(frame: pd.DataFrame, hide_empty: bool = False) -> dict[str, Any]:
    """A table's new rows with columns sized to them (optionally hidden while there are none)."""
    if frame.empty:
        return gr.update(value=frame, visible=False) if hide_empty else gr.update(value=frame)
    return gr.update(value=frame, column_widths=column_widths(frame), visible=True)


def problems_markdown(data: LoadedData, language: str) -> str:
    """Every problem, errors first; the messages carry their line numbers."""
    if not data.problems:
        return text(language, "train.data_ok", rows=len(data.records))
    lines = [text(language, "train.data_errors" if data.errors else "train.data_warnings",
                  errors=len(data.errors), warnings=len(data.warnings))]
    lines += [f"- ❌ {p.text(language)}" for p in data.errors] + [f"- ⚠️ {p.text(language)}" for p in data.warnings]
    return "\n".join(lines)


def training_config(task: str, base: str, preset: str, rank: float, learning_rate: float, epochs: float,
                    max_steps: float | None, steps_cap: int | None) -> TrainConfig:
    """The form's settings as a config; a deployment cap on steps always applies."""
    empty = [name for name, value in (("rank", rank), ("learning_rate", learning_rate), ("epochs", epochs))
             if value is None]
    if empty:  # a cleared number box
        raise ConfigError("config.fill_in", names=", ".join(empty))
    steps = int(max_steps) if max_steps and max_steps > 0 else -1
    if steps_cap:
        steps = steps_cap if steps < 0 else min(steps, steps_cap)
    return make_config(task, preset, base=base, rank=int(rank), learning_rate=float(learning_rate),
                       epochs=float(epochs), max_steps=steps)


def format_seconds(seconds: float) -> str:
    minutes, seconds = divmod(int(round(seconds)), 60)
    return f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"


def status_key(job: Job) -> str:
    """Which `status.*` string describes the job. The worker reports "done" before its result has
    reached the app (metrics, adapter path): until then the job reads as still saving."""
    if not job.active:
        return job.state
    return "saving" if job.progress.status == "done" else job.progress.status


def status_html(job: Job | None, language: str) -> str:
    """A progress bar and one line on the job's state, in the page's language."""
    if job is None:
        return f"<p>{text(language, 'train.no_job')}</p>"
    p = job.progress
    state = text(language, f"status.{status_key(job)}")
    if job.state == "queued":
        detail = text(language, "train.position", position=job.position)
        if job.starts_in_s is not None:
            detail += " · " + text(language, "train.starts_in", eta=format_seconds(job.starts_in_s))
    else:
        parts = [f"{text(language, 'train.step')} {p.step}/{p.total_steps or '?'}"]
        if p.loss is not None:
            parts.append(f"loss {p.loss:.4f}")
        if p.examples_per_s:
            parts.append(f"{p.examples_per_s:.1f} ex/s")
        if p.eta_s is not None and job.active:
            parts.append(text(language, "train.eta", eta=format_seconds(p.eta_s)))
        detail = " · ".join(parts)
    bar = f"<progress value='{p.step}' max='{max(p.total_steps, 1)}' style='width:100%'></progress>"
    message = f"<br><small>{html.escape(p.message)}</small>" if p.message else ""
    name = f" <code>{html.escape(job.name)}</code>" if job.name else ""
    return f"<div id='train-status-box'>{bar}<b>{state}</b>{name} — {detail}{message}</div>"


def loss_frame(job: Job | None) -> pd.DataFrame:
    """Typed even when empty: the plot fixes its axes' kind from the first frame it gets, and an
    untyped empty frame would make both axes categorical for good."""
    return pd.DataFrame(job.progress.losses if job else [], columns=["step", "loss"]).astype(
        {"step": int, "loss": float})


def metrics_frame(result: dict[str, Any] | None) -> pd.DataFrame:
    """One row per metric: the base before training, the adapter after."""
    metrics = (result or {}).get("metrics", {})
    base, adapter = metrics.get("base", {}), metrics.get("adapter", {})
    names = [k for k, v in adapter.items() if isinstance(v, float) and k != "examples_per_s"]
    return pd.DataFrame([{"metric": k, "base": round(base.get(k, float("nan")), 4), "adapter": round(adapter[k], 4)}
                         for k in names], columns=["metric", "base", "adapter"])


def samples_frame(result: dict[str, Any] | None) -> pd.DataFrame:
    """Validation examples side by side: the reference, the base's answer and the adapter's."""
    metrics = (result or {}).get("metrics", {})
    base, adapter = metrics.get("base", {}).get("samples", []), metrics.get("adapter", {}).get("samples", [])
    rows = [{"input": a["input"], "reference": a["reference"], "base": b["prediction"], "adapter": a["prediction"]}
            for a, b in zip(adapter, base)]
    return pd.DataFrame(rows, columns=["input", "reference", "base", "adapter"]).map(escape_spreadsheet_cell)


def build(ctx: Context) -> gr.Tab:
    loc, settings = ctx.loc, ctx.settings
    first_task = task_names()[0]
    defaults = make_config(first_task, "quick")
    with loc(gr.Tab(id="train"), label="train.tab") as tab:
        loc(gr.Markdown(), value="train.intro")
        if settings.demo:
            loc(gr.Markdown(elem_id="demo-limits"), value="train.demo_limits")
        source = gr.State(None)  # path of the data file being checked: an upload or a bundled example
        rows = gr.State(0)
        with gr.Row(equal_height=False):
            with gr.Column(scale=1):
                task = loc(gr.Dropdown(list(task_names()), value=first_task, elem_id="train-task"), label="train.task")
                upload = loc(gr.File(file_types=[".csv", ".tsv", ".jsonl", ".json"], type="filepath",
                                     elem_id="train-upload"), label="train.upload")
                example = loc(gr.Dropdown(example_files(first_task), value=None, elem_id="train-example"),
                              label="train.example", info="train.example_info")
            with gr.Column(scale=2):
                problems = gr.Markdown(elem_id="train-problems")
                preview = loc(gr.Dataframe(interactive=False, wrap=True, max_height=260, visible=False,
                                           elem_id="train-preview"), label="train.preview")
        with gr.Row():
            base = loc(gr.Dropdown([s.key for s in list_specs(first_task)], value=DEFAULT_BASE[first_task],
                                   elem_id="train-base"), label="train.base", info="train.base_info")
            preset = loc(gr.Radio(["quick", "balanced", "thorough"], value="quick", elem_id="train-preset"),
                         label="train.preset", info="train.preset_info")
            name = loc(gr.Textbox(f"my-{first_task}", elem_id="train-name"), label="train.name", info="train.name_info")
        with loc(gr.Accordion(open=False), label="train.advanced"):
            with gr.Row():
                rank = loc(gr.Slider(1, 64, value=defaults.rank, step=1, elem_id="train-rank"),
                           label="train.rank", info="train.rank_info")
                learning_rate = loc(gr.Number(defaults.learning_rate, elem_id="train-lr"),
                                    label="train.lr", info="train.lr_info")
                epochs = loc(gr.Number(defaults.epochs, minimum=0.1, elem_id="train-epochs"),
                             label="train.epochs", info="train.epochs_info")
                max_steps = loc(gr.Number(settings.max_steps or -1, precision=0, elem_id="train-max-steps"),
                                label="train.max_steps", info="train.max_steps_info")
        estimate = gr.Markdown(elem_id="train-estimate")
        with gr.Row():
            start = loc(gr.Button(variant="primary", elem_id="train-start"), value="train.start")
            stop = loc(gr.Button(variant="stop", interactive=False, elem_id="train-stop"), value="train.stop")
        status = gr.HTML(elem_id="train-status")
        with gr.Row():
            loss_plot = loc(gr.LinePlot(loss_frame(None), x="step", y="loss", height=260, show_label=True,
                                        elem_id="train-loss"), label="train.loss_curve")
            metrics = loc(gr.Dataframe(metrics_frame(None), interactive=False, elem_id="train-metrics"),
                          label="train.metrics")
        samples = loc(gr.Dataframe(samples_frame(None), interactive=False, wrap=True, elem_id="train-samples"),
                      label="train.samples")
        download = loc(gr.DownloadButton(visible=False, elem_id="train-download"), label="train.download")
        timer = gr.Timer(POLL_SECONDS, active=False)

    form = [task, base, preset, rank, learning_rate, epochs, max_steps]

    def choose_task(task_name: str):
        config = make_config(task_name, "quick")
        return (gr.update(choices=example_files(task_name), value=None),
                gr.update(choices=[s.key for s in list_specs(task_name)], value=DEFAULT_BASE[task_name]),
                "quick", f"my-{task_name}", config.rank, config.learning_rate, config.epochs, None, None)

    def apply_preset(task_name: str, preset_name: str):
        config = make_config(task_name, preset_name)
        return config.rank, config.learning_rate, config.epochs

    def check(task_name: str, path: str | None, language: str):
        if not path:
            return table_update(pd.DataFrame(), hide_empty=True), text(language, "train.no_data"), 0
        data = load_examples(path, task_name, limits=settings.limits)
        rows_ready = len(data.records) if data.ok else 0
        return table_update(preview_table(data), hide_empty=True), problems_markdown(data, language), rows_ready

    def show_estimate(task_name, base_name, preset_name, rank_value, lr, epoch_count, steps, row_count, language):
        if not row_count:
            return ""
        try:
            config = training_config(task_name, base_name, preset_name, rank_value, lr, epoch_count, steps,
                                     settings.max_steps)
        except (ConfigError, TypeError, ValueError) as error:
            return f"⚠️ {error_text(error, language)}"
        speed = get_spec(config.base or DEFAULT_BASE[task_name]).examples_per_second
        return text(language, "train.estimate", time=format_seconds(estimate_seconds(config, row_count)),
                    rows=row_count, epochs=config.epochs, speed=speed)

    def start_job(task_name, base_name, preset_name, rank_value, lr, epoch_count, steps, path, adapter_name,
                  workspace, language):
        workspace = require_workspace(workspace)
        if not path:
            raise gr.Error(text(language, "train.no_data"))
        data = load_examples(path, task_name, limits=settings.limits)
        if not data.ok:
            raise gr.Error(text(language, "train.fix_data", errors=len(data.errors)))
        try:
            config = training_config(task_name, base_name, preset_name, rank_value, lr, epoch_count, steps,
                                     settings.max_steps)
            folder = sanitize_name(adapter_name or "")
            if folder == BASE_CHOICE:
                raise gr.Error(text(language, "train.name_reserved"))
            ctx.jobs.submit(config, data.records, workspace, folder,
                            data_summary={"file": Path(path).name, **data.summary()})
        except (ConfigError, AdapterError, JobLimitError, KeyError) as error:
            raise gr.Error(error_text(error, language)) from None
        return poll(workspace, language)

    def stop_job(workspace: str | None):
        job = ctx.jobs.latest(require_workspace(workspace), "train")
        if job is not None:
            ctx.jobs.cancel(job.id)

    def poll(workspace: str | None, language: str):
        job = ctx.jobs.latest(workspace, "train") if workspace else None
        result = job.result if job else None
        finished = job and job.state == "done" and job.adapter_path and Path(job.adapter_path).is_dir()
        archive = adapter_zip(read_adapter(Path(job.adapter_path))) if finished else None
        return (status_html(job, language), loss_frame(job), metrics_frame(result), table_update(samples_frame(result)),
                gr.update(value=archive, visible=archive is not None),
                gr.update(interactive=bool(job and job.active)), gr.Timer(active=bool(job and job.active)))

    watched = [status, loss_plot, metrics, samples, download, stop, timer]
    estimate_inputs = form + [rows, ctx.language]

    def check_and_estimate(event: Any) -> None:
        """After the event: check the data file, then estimate the training time."""
        event.then(check, [task, source, ctx.language], [preview, problems, rows], **UI_EVENT).then(
            show_estimate, estimate_inputs, estimate, **LIGHT_EVENT)

    check_and_estimate(task.input(choose_task, task, [example, base, preset, name, rank, learning_rate, epochs,
                                                      upload, source], **UI_EVENT, queue=False))
    check_and_estimate(upload.upload(lambda path: (path, None), upload, [source, example], **UI_EVENT, queue=False))
    check_and_estimate(upload.clear(lambda: None, None, source, **UI_EVENT, queue=False))
    check_and_estimate(example.input(lambda file: (str(EXAMPLES_DIR / file) if file else None, None), example,
                                     [source, upload], **UI_EVENT, queue=False))
    check_and_estimate(ctx.language.change(lambda: None, None, None, **UI_EVENT, queue=False))
    preset.input(apply_preset, [task, preset], [rank, learning_rate, epochs], **UI_EVENT, queue=False).then(
        show_estimate, estimate_inputs, estimate, **LIGHT_EVENT)
    # The user's own edits only (.input, not .change): .change also fires while a handler above is
    # still filling in the form, with a mix of old and new values (the old task's base model, which
    # the new task's choices reject).
    gr.on([base.input, rank.input, learning_rate.input, epochs.input, max_steps.input], show_estimate,
          estimate_inputs, estimate, **LIGHT_EVENT)
    start.click(start_job, form + [source, name, ctx.workspace, ctx.language], watched, **UI_EVENT)
    stop.click(stop_job, ctx.workspace, None, **UI_EVENT).then(poll, [ctx.workspace, ctx.language], watched,
                                                               **LIGHT_EVENT)
    timer.tick(poll, [ctx.workspace, ctx.language], watched, **LIGHT_EVENT)
    # On page load (a reloaded page finds its running job again) and when the workspace or language changes.
    gr.on(None, poll, [ctx.workspace, ctx.language], watched, **LIGHT_EVENT)
    return tab
