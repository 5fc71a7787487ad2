"""An adapter's model card, in any language the app speaks: what it is, how it was trained, and every
set it was measured on, each labelled with the set and its size (`finetune.measurements`).

The Adapters tab shows it in the page's language; every saved adapter's README.md is the English
one (`finetune.recipe.model_card`), so a downloaded card reads as the app's does. Its words are `card.*`
in `finetune.catalogue`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from finetune.measurements import PERSONA_PREFIX, Measurement, measurements, significant, with_interval
import finetune.catalogue  # noqa: F401  (the card's words, in every language)
from models.messages import CATALOGUES, render

SIDES = ("base", "adapter", "peer")
# Metrics whose names are the same in every language; the others are `card.metric.<name>`.
METRIC_NAMES = {"macro_f1": "macro-F1", "chrf": "chrF", "bleu": "BLEU", "rouge1": "ROUGE-1", "rouge2": "ROUGE-2",
                "rougeL": "ROUGE-L"}


def count(value: int, language: str) -> str:
    """A whole number with the language's thousands separator (1,000 / 1.000)."""
    return f"{value:,}".replace(",", "." if language == "vi" else ",")


def metric_label(name: str, language: str) -> str:
    """A metric's name for people (an uploaded adapter's own metrics keep theirs)."""
    key = f"card.metric.{name}"
    return render(key, language) if key in CATALOGUES["en"] else METRIC_NAMES.get(name, name)


def set_label(measurement: Measurement, language: str) -> str:
    """Which set and how big, e.g. "test · movies, 1,000 rows" or "validation, 150 of 300 rows"."""
    split = render(f"card.split.{measurement.split}", language)
    where = f"{split} · {measurement.name}" if measurement.name else split
    if measurement.rows is None:
        return where
    unit, rows = render(f"card.unit.{measurement.unit}", language), count(measurement.rows, language)
    if measurement.of_rows is not None:
        return render("card.set_part", language,
                      dict(set=where, rows=rows, total=count(measurement.of_rows, language), unit=unit))
    return render("card.set", language, dict(set=where, rows=rows, unit=unit))


def headline(measurement: Measurement, language: str) -> str:
    """The metrics that matter, base → adapter, with the adapter's 95% interval where the score is a
    share, e.g. "accuracy 0.658 → 0.865 (0.842–0.885)": the library table is where adapters are
    compared, and a difference inside the interval is no difference."""
    base, adapter = measurement.scores.get("base", {}), measurement.scores["adapter"]
    return " · ".join(
        f"{metric_label(name, language)} "
        + (f"{significant(base[name])} → " if name in base else "") + with_interval(measurement, "adapter", name)
        for name in measurement.headline if name in adapter)


def _training_facts(metadata: dict[str, Any], language: str) -> list[tuple[str, str]]:
    """(label key, value) of what the metadata tells about the training; only what it holds."""
    settings = metadata.get("hyperparameters") if isinstance(metadata.get("hyperparameters"), dict) else {}
    method = [str(metadata.get("method", "lora")).replace("lora", "LoRA")]
    if isinstance(settings.get("rank"), int):
        alpha = f", alpha {settings['alpha']}" if "alpha" in settings else ""
        method.append(render("card.rank", language, dict(rank=settings["rank"])) + alpha)
    trainable, total = metadata.get("trainable_params"), metadata.get("total_params")
    if isinstance(trainable, int) and isinstance(total, int) and total:
        method.append(render("card.params", language, dict(
            trainable=count(trainable, language), total=count(total, language),
            share=f"{significant(100 * trainable / total)}%")))
    facts = [("card.method", " · ".join(method))] if settings or len(method) > 1 else []
    if isinstance(metadata.get("data"), dict):
        facts.append(("card.data", _data(metadata["data"], language)))
    training = _training(metadata, settings, language)
    if training:
        facts.append(("card.training", training))
    stage = metadata.get("previous_stage")
    while isinstance(stage, dict):  # for an adapter trained in stages: each earlier one, latest first
        facts.append(("card.earlier", f"{_data(stage.get('data', {}), language)} · "
                                               f"{_training(stage, stage.get('hyperparameters', {}), language)}"))
        stage = stage.get("previous_stage")
    return facts


def _data(data: dict[str, Any], language: str) -> str:
    parts = []
    if isinstance(data.get("train_rows"), int) and isinstance(data.get("validation_rows"), int):
        parts.append(render("card.rows", language, dict(train=count(data["train_rows"], language),
                                                        validation=count(data["validation_rows"], language))))
    if data.get("source"):
        parts.append(render("card.from", language, dict(source=f"`{data['source']}`")))
    return " ".join(parts)


def _training(metadata: dict[str, Any], settings: dict[str, Any], language: str) -> str:
    parts = []
    if isinstance(metadata.get("steps"), int):
        parts.append(render("card.steps", language, dict(steps=count(metadata["steps"], language))))
    if isinstance(metadata.get("train_seconds"), (int, float)):
        took = str(timedelta(seconds=round(metadata["train_seconds"])))
        if metadata.get("device"):
            where = f"{metadata['device']} ({metadata['precision']})" if metadata.get("precision") else metadata["device"]
            took = render("card.time", language, dict(time=took, device=where))
        parts.append(took)
    if {"learning_rate", "batch_size", "epochs"} <= set(settings):
        parts.append(render("card.settings", language, dict(lr=settings["learning_rate"], batch=settings["batch_size"],
                                                            epochs=settings["epochs"])))
    return " · ".join(parts)


def _table(measurement: Measurement, language: str) -> list[str]:
    """A set's heading and its metric | base | adapter | peer table."""
    sides = [side for side in SIDES if side in measurement.scores]
    header = [render("card.metric", language)] + [
        measurement.peer or side if side == "peer" else render(f"card.side.{side}", language) for side in sides]
    rows = [[metric_label(name, language)] + [with_interval(measurement, side, name)
                                              if name in measurement.scores[side] else "–" for side in sides]
            for name in measurement.metrics]
    source = f" (`{measurement.file}`)" if measurement.file else ""
    return [f"### {set_label(measurement, language)}{source}", "",
            *("| " + " | ".join(cells) + " |" for cells in [header, ["---"] * len(header), *rows]), ""]


def render_card(name: str, metadata: dict[str, Any], language: str,
                evaluation: dict[str, Any] | None = None) -> str:
    """The card of adapter `name` from its stored metadata (and, for a shipped persona, `evaluation`:
    the stored persona_eval.json), as markdown."""
    base = str(metadata.get("base_model", "?"))
    hub_id = metadata.get("base_hub_id")
    facts = [("card.task", str(metadata.get("task", "?"))),
             ("card.base", f"{base} (`{hub_id}`)" if hub_id and hub_id != base else base),
             *_training_facts(metadata, language)]
    lines = [f"# {name}", "", *(f"- **{render(key, language)}:** {value}" for key, value in facts), ""]
    measured = measurements(name, metadata, evaluation)
    if len(facts) == 2 and not measured:
        return "\n".join(lines + [render("card.no_details", language), ""])
    if measured:
        lines += [f"## {render('card.results', language)}", "", render("card.base_note", language), ""]
        for measurement in measured:
            lines += _table(measurement, language)
    if any(measurement.unit == "prompts" for measurement in measured):  # a persona: sample replies
        samples = evaluation[name.removeprefix(PERSONA_PREFIX)].get("samples", [])
        lines += [f"### {render('card.samples', language)}", "",
                  *(f"- *{s['question']}* → {s['reply']}" for s in samples), ""]
    return "\n".join(lines)
