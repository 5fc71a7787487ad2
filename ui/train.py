"""Train tab: check a data file, pick settings, start a job in the job queue and watch it.

Nothing trains in a request handler: Start submits to `finetune.jobs.JobQueue` and returns, and
a 1-second `gr.Timer` polls the workspace's latest job (so a reloaded page picks it up again).

Honest numbers: the estimate covers the whole job (loading, training, measuring twice) at this
machine's own measured speeds once a job has run (`finetune.speeds`), and the before/after metrics say
how many held-out rows they rest on, with a warning when too few to trust.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from finetune.card import metric_label
from finetune.config import ConfigError, TrainConfig, make_config
from finetune.data import LoadedData, escape_spreadsheet_cell, load_examples
from finetune.data.contract import TRUSTED_VALIDATION_ROWS
from finetune.jobs import Job, JobLimitError
from finetune.measurements import significant
from finetune.speeds import Estimate
from models.adapters import AdapterError, read_adapter, sanitize_name
from models.messages import error_text
from models.registry import DEFAULT_BASE, list_specs
from models.tasks import PRESETS, task_names
from ui.common import BASE_CHOICE, LIGHT_EVENT, UI_EVENT, Context, adapter_zip, require_workspace
from ui.i18n import DEFAULT_LANGUAGE, text

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


def preset_choices(language: str) -> list[tuple[str, str]]:
    return [(text(language, f"train.preset_{name}"), name) for name in PRESETS]


def estimate_markdown(estimate: Estimate, config: TrainConfig, language: str) -> str:
    """The whole job's time, part by part, and where its speeds come from."""
    source = text(language, "train.estimate_measured" if estimate.speeds.measured else "train.estimate_builtin",
                  task=config.task, base=config.base)
    return text(language, "train.estimate", time=format_seconds(estimate.total_s),
                load=format_seconds(estimate.load_s), train=format_seconds(estimate.train_s),
                measure=format_seconds(estimate.eval_s), examples=f"{estimate.train_examples:g}",
                speed=f"{estimate.speeds.train_examples_per_s:.3g}", eval_rows=estimate.eval_examples,
                train_rows=estimate.train_rows, validation_rows=estimate.validation_rows, source=source)


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
            parts.append(f"{text(language, 'train.plot_loss')} {p.loss:.4f}")
        if p.examples_per_s:
            parts.append(text(language, "train.speed", speed=f"{p.examples_per_s:.1f}"))
        if p.eta_s is not None and job.active:
            parts.append(text(language, "train.eta", eta=format_seconds(p.eta_s)))
        detail = " · ".join(parts)
    bar = f"<progress value='{p.step}' max='{max(p.total_steps, 1)}' style='width:100%'></progress>"
    # what the worker is doing, in the page's language; a finished job's state says it all
    said = p.message_text(language)
    message = f"<br><small>{html.escape(said)}</small>" if said and job.state != "done" else ""
    name = f" <code>{html.escape(job.name)}</code>" if job.name else ""
    return f"<div id='train-status-box'>{bar}<b>{state}</b>{name} — {detail}{message}</div>"


def loss_frame(job: Job | None) -> pd.DataFrame:
    """Typed even when empty: the plot fixes its axes' kind from the first frame it gets, and an
    untyped empty frame would make both axes categorical for good."""
    return pd.DataFrame(job.progress.losses if job else [], columns=["step", "loss"]).astype(
        {"step": int, "loss": float})


def headers(language: str, *names: str) -> list[str]:
    return [text(language, f"train.col_{name}") for name in names]


def held_out_rows(result: dict[str, Any] | None) -> int | None:
    """How many held-out rows the after-training metrics were measured on (None before a result)."""
    return (result or {}).get("metrics", {}).get("adapter", {}).get("examples")


def step_range(job: Job | None) -> list[float]:
    """The loss plot's x axis: from 0 to the job's planned steps, so the curve fills it as training goes.
    Vega keeps the ticks of the "d" (whole number) format at least 1 apart only over a span of 3 or more;
    over a shorter one it labels half steps (1, 2, 2, 3, 3)."""
    return [0, max(job.progress.total_steps if job else 0, 3)]


def metrics_frame(result: dict[str, Any] | None, language: str) -> pd.DataFrame:
    """One row per metric: the base before training, the adapter after; last, the rows both were measured on."""
    metrics = (result or {}).get("metrics", {})
    base, adapter = metrics.get("base", {}), metrics.get("adapter", {})
    rows = [(metric_label(k, language), significant(base[k]) if k in base else "–", significant(adapter[k]))
            for k, v in adapter.items() if isinstance(v, float) and k != "examples_per_s"]
    if held_out_rows(result) is not None:
        rows.append((text(language, "train.held_out_rows"), base.get("examples"), adapter["examples"]))
    return pd.DataFrame(rows, columns=headers(language, "metric", "base", "adapter"), dtype=object)


def metrics_note(result: dict[str, Any] | None, language: str) -> str:
    """A warning under the metrics when they rest on too few rows to trust."""
    rows = held_out_rows(result)
    if rows is None or rows >= TRUSTED_VALIDATION_ROWS:
        return ""
    return text(language, "train.too_few_rows", rows=rows, trusted=TRUSTED_VALIDATION_ROWS)


def samples_frame(result: dict[str, Any] | None, language: str) -> pd.DataFrame:
    """Validation examples side by side: the reference, the base's answer and the adapter's."""
    metrics = (result or {}).get("metrics", {})
    base, adapter = metrics.get("base", {}).get("samples", []), metrics.get("adapter", {}).get("samples", [])
    rows = [(a["input"], a["reference"], b["prediction"], a["prediction"]) for a, b in zip(adapter, base)]
    return pd.DataFrame(rows, columns=headers(language, "input", "reference", "base", "adapter")).map(
        escape_spreadsheet_cell)


def build(ctx: Context) -> gr.Tab:
    loc, settings = ctx.loc, ctx.settings
    first_task = task_names()[0]
    defaults = make_config(first_task, "quick")
    language = DEFAULT_LANGUAGE
    file_types = [".csv", ".tsv", ".jsonl", ".json"]
    with loc(gr.Tab(id="train"), label="train.tab") as tab:
        loc(gr.Markdown(), value="train.intro")
        if settings.demo:
            loc(gr.Markdown(elem_id="demo-limits"), value="train.demo_limits")
        source = gr.State(None)  # path of the data file being checked: an upload or a bundled example
        rows = gr.State(0)
        validation_rows = gr.State(None)  # rows of a valid validation file; None: held out from the data
        with gr.Row(equal_height=False):
            with gr.Column(scale=1):
                task = loc(gr.Dropdown(list(task_names()), value=first_task, elem_id="train-task"), label="train.task")
                upload = loc(gr.File(file_types=file_types, type="filepath", elem_id="train-upload"),
                             label="train.upload")
                example = loc(gr.Dropdown(example_files(first_task), value=None, elem_id="train-example"),
                              label="train.example", info="train.example_info")
                validation = loc(gr.File(file_types=file_types, type="filepath", elem_id="train-validation"),
                                 label="train.validation_upload")
            with gr.Column(scale=2):
                problems = gr.Markdown(elem_id="train-problems")
                validation_problems = gr.Markdown(elem_id="train-validation-problems")
                preview = loc(gr.Dataframe(interactive=False, wrap=True, max_height=260, visible=False,
                                           elem_id="train-preview"), label="train.preview")
        with gr.Row():
            base = loc(gr.Dropdown([s.key for s in list_specs(first_task)], value=DEFAULT_BASE[first_task],
                                   elem_id="train-base"), label="train.base", info="train.base_info")
            preset = loc(gr.Radio(preset_choices(language), value="quick", elem_id="train-preset"),
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
            # Steps are whole numbers: the "d" format labels them so (with `step_range`, only them).
            loss_plot = loc(gr.LinePlot(loss_frame(None), x="step", y="loss", height=260, show_label=True,
                                        x_axis_format="d", x_lim=step_range(None), elem_id="train-loss"),
                            label="train.loss_curve", x_title="train.plot_step", y_title="train.plot_loss")
            with gr.Column():
                metrics = loc(gr.Dataframe(metrics_frame(None, language), interactive=False,
                                           elem_id="train-metrics"), label="train.metrics")
                note = gr.Markdown(elem_id="train-metrics-note")
        samples = loc(gr.Dataframe(samples_frame(None, language), interactive=False, wrap=True,
                                   elem_id="train-samples"), label="train.samples")
        download = loc(gr.DownloadButton(visible=False, elem_id="train-download"), label="train.download")
        timer = gr.Timer(POLL_SECONDS, active=False)

    form = [task, base, preset, rank, learning_rate, epochs, max_steps]

    def choose_task(task_name: str):
        config = make_config(task_name, "quick")
        return (gr.update(choices=example_files(task_name), value=None),
                gr.update(choices=[s.key for s in list_specs(task_name)], value=DEFAULT_BASE[task_name]),
                "quick", f"my-{task_name}", config.rank, config.learning_rate, config.epochs, None, None, None)

    def apply_preset(task_name: str, preset_name: str):
        config = make_config(task_name, preset_name)
        return config.rank, config.learning_rate, config.epochs

    def check(task_name: str, path: str | None, validation_path: str | None, language: str):
        """The data file (preview and problems) and the validation file, if any (problems, or its size)."""
        checked_validation, held_out = "", None
        if validation_path:
            held = load_examples(validation_path, task_name, limits=settings.limits)
            held_out = len(held.records) if held.ok else None
            checked_validation = (text(language, "train.validation_ok", rows=held_out) if held.ok
                                  else problems_markdown(held, language))
        if not path:
            return (table_update(pd.DataFrame(), hide_empty=True), text(language, "train.no_data"), 0,
                    checked_validation, held_out)
        data = load_examples(path, task_name, limits=settings.limits)
        rows_ready = len(data.records) if data.ok else 0
        return (table_update(preview_table(data), hide_empty=True), problems_markdown(data, language), rows_ready,
                checked_validation, held_out)

    def show_estimate(task_name, base_name, preset_name, rank_value, lr, epoch_count, steps, row_count,
                      held_out, language):
        if not row_count:
            return ""
        try:
            config = training_config(task_name, base_name or DEFAULT_BASE[task_name], preset_name, rank_value, lr,
                                     epoch_count, steps, settings.max_steps)
        except (ConfigError, TypeError, ValueError) as error:
            return f"⚠️ {error_text(error, language)}"
        return estimate_markdown(ctx.jobs.speeds.estimate(config, row_count, held_out), config, language)

    def start_job(task_name, base_name, preset_name, rank_value, lr, epoch_count, steps, path, validation_path,
                  adapter_name, workspace, language):
        workspace = require_workspace(workspace)
        if not path:
            raise gr.Error(text(language, "train.no_data"))
        data = load_examples(path, task_name, limits=settings.limits)
        if not data.ok:
            raise gr.Error(text(language, "train.fix_data", errors=len(data.errors)))
        held = load_examples(validation_path, task_name, limits=settings.limits) if validation_path else None
        if held is not None and not held.ok:
            raise gr.Error(text(language, "train.fix_validation", errors=len(held.errors)))
        try:
            config = training_config(task_name, base_name, preset_name, rank_value, lr, epoch_count, steps,
                                     settings.max_steps)
            folder = sanitize_name(adapter_name or "")
            if folder == BASE_CHOICE:
                raise gr.Error(text(language, "train.name_reserved"))
            ctx.jobs.submit(config, data.records, workspace, folder, validation=held.records if held else None,
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
        return (status_html(job, language), gr.update(value=loss_frame(job), x_lim=step_range(job)),
                metrics_frame(result, language),
                metrics_note(result, language), table_update(samples_frame(result, language)),
                gr.update(value=archive, visible=archive is not None),
                gr.update(interactive=bool(job and job.active)), gr.Timer(active=bool(job and job.active)))

    watched = [status, loss_plot, metrics, note, samples, download, stop, timer]
    estimate_inputs = form + [rows, validation_rows, ctx.language]

    def check_and_estimate(event: Any) -> None:
        """After the event: check the data files, then estimate the training time."""
        event.then(check, [task, source, validation, ctx.language],
                   [preview, problems, rows, validation_problems, validation_rows], **UI_EVENT).then(
            show_estimate, estimate_inputs, estimate, **LIGHT_EVENT)

    check_and_estimate(task.input(choose_task, task, [example, base, preset, name, rank, learning_rate, epochs,
                                                      upload, source, validation], **UI_EVENT, queue=False))
    check_and_estimate(upload.upload(lambda path: (path, None), upload, [source, example], **UI_EVENT, queue=False))
    check_and_estimate(upload.clear(lambda: None, None, source, **UI_EVENT, queue=False))
    check_and_estimate(example.input(lambda file: (str(EXAMPLES_DIR / file) if file else None, None), example,
                                     [source, upload], **UI_EVENT, queue=False))
    check_and_estimate(gr.on([validation.upload, validation.clear], lambda: None, None, None, **UI_EVENT,
                             queue=False))
    check_and_estimate(ctx.language.change(lambda code: gr.update(choices=preset_choices(code)), ctx.language,
                                           preset, **UI_EVENT, queue=False))
    preset.input(apply_preset, [task, preset], [rank, learning_rate, epochs], **UI_EVENT, queue=False).then(
        show_estimate, estimate_inputs, estimate, **LIGHT_EVENT)
    # The user's own edits only (.input, not .change): .change also fires while a handler above is
    # still filling in the form, with a mix of old and new values (the old task's base model, which
    # the new task's choices reject).
    gr.on([base.input, rank.input, learning_rate.input, epochs.input, max_steps.input], show_estimate,
          estimate_inputs, estimate, **LIGHT_EVENT)
    start.click(start_job, form + [source, validation, name, ctx.workspace, ctx.language], watched, **UI_EVENT)
    stop.click(stop_job, ctx.workspace, None, **UI_EVENT).then(poll, [ctx.workspace, ctx.language], watched,
                                                               **LIGHT_EVENT)
    timer.tick(poll, [ctx.workspace, ctx.language], watched, **LIGHT_EVENT)
    # On page load (a reloaded page finds its running job again) and when the workspace or language changes.
    gr.on(None, poll, [ctx.workspace, ctx.language], watched, **LIGHT_EVENT)
    return tab
