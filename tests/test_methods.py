"""The Learn tab's comparison (`finetune.methods`, shown by `ui.learn`): held-out data, intervals, the paired
"within noise" verdict, the jobs the live comparison submits, and the stored results of the last full run."""

from __future__ import annotations

import json

import pytest

from finetune import methods
from finetune.jobs import DONE, JobQueue
from finetune.methods import (HELDOUT_ROWS, METHODS, STEPS, comparison_data, comparison_rows, method_config,
                              paired_p_value, submit_comparison, wilson_interval, within_noise)
from ui import learn
from ui.i18n import text

JOB_TIMEOUT = 600  # a tiny job takes seconds; a busy shared machine can make it minutes


def test_wilson_interval_matches_the_formula_worked_by_hand():
    # 8 of 10, z = 1.96: centre (0.8 + z²/20) / (1 + z²/10) = 0.7167, half-width 0.2266
    assert wilson_interval(8, 10) == pytest.approx((0.4902, 0.9433), abs=1e-4)
    # none right: the interval still has width, 0 .. (z²/n) / (1 + z²/n)
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson_interval(20, 20) == pytest.approx((20 / (20 + 1.96**2), 1.0), abs=1e-4)


def rows_right(right: int, wrong: int) -> list[bool]:
    return [True] * right + [False] * wrong


def test_paired_test_counts_only_the_rows_where_the_two_disagree():
    agree = rows_right(50, 5)
    # 10 rows only the first gets right, 2 only the second: 2 × P(X ≤ 2 | 12, ½) = 2 × 79 / 4096
    first = agree + rows_right(10, 2)
    second = agree + rows_right(0, 10) + rows_right(2, 0)
    assert paired_p_value(first, second) == pytest.approx(158 / 4096)
    # 8 against 3: 2 × (1 + 11 + 55 + 165) / 2048, not a real difference at 0.05
    first, second = agree + rows_right(8, 3), agree + rows_right(0, 8) + rows_right(3, 0)
    assert paired_p_value(first, second) == pytest.approx(464 / 2048)
    assert paired_p_value(agree, agree) == 1.0


def job_metadata(labels: list[str], wrong_rows: int) -> dict:
    """What a finished job returns, for a method that gets the first `wrong_rows` rows wrong."""
    flip = {"positive": "negative", "negative": "positive"}
    after = [flip[label] if i < wrong_rows else label for i, label in enumerate(labels)]
    before = [flip[label] if i % 4 == 0 else label for i, label in enumerate(labels)]  # 3 in 4 right
    return {"trainable_params": 1000 + wrong_rows, "total_params": 10_000, "train_seconds": 1.5,
            "size_bytes": 4000 + 4 * wrong_rows, "loss_history": [(1, 0.7), (2, 0.6 - wrong_rows / 100)],
            "metrics": {"base": {"predictions": before}, "adapter": {"predictions": after}}}


def test_rows_and_verdict_name_the_best_and_what_is_within_noise():
    heldout = [{"text": f"review {i}", "label": ("positive", "negative")[i % 2]} for i in range(20)]
    labels = [r["label"] for r in heldout]
    results = {"lora-r8": job_metadata(labels, 0), "head": job_metadata(labels, 10), "full": job_metadata(labels, 2)}
    rows = {row["method"]: row for row in comparison_rows(results, heldout)}

    assert rows["lora-r8"]["accuracy_after"] == 1.0 and rows["lora-r8"]["p_vs_best"] is None
    assert rows["lora-r8"]["accuracy_after_low"] == pytest.approx(20 / (20 + 1.96**2), abs=1e-4)
    assert rows["head"]["accuracy_before"] == 0.75
    assert rows["full"]["p_vs_best"] == 0.5  # 2 rows only the best gets right: 2 × ¼
    assert rows["head"]["p_vs_best"] == pytest.approx(2 / 1024, abs=1e-4)  # 10 such rows: 2 × (½)^10
    assert [within_noise(rows[m]) for m in ("lora-r8", "full", "head")] == [None, True, False]

    ordered = list(rows.values())
    english = learn.verdict(ordered, 20, "en")
    assert english == ("On 20 held-out reviews, **lora-r8** scored best: 1.000 (0.839–1.000). "
                       + text("en", "learn.verdict.same", methods="full") + " "
                       + text("en", "learn.verdict.lower", methods="head"))
    vietnamese = learn.verdict(ordered, 20, "vi")
    assert vietnamese.startswith("Trên 20 bài đánh giá") and "full" in vietnamese and "head" in vietnamese
    cells = learn.result_cells(rows["full"], "vi")
    assert cells["after"] == "0.900 (0.699–0.972)" and cells["vs_best"] == text("vi", "learn.noise", p="0.5")
    assert cells["size"] == "3.9 KB" and rows["full"]["losses"] == [[1, 0.7], [2, 0.58]]


def test_the_loss_chart_draws_one_line_per_method():
    curves = learn.curves_frame({"full": [(1, 0.7), (2, 0.5)], "head": [[1, 0.69]], "lora-r8": []})
    assert list(curves.columns) == ["step", "loss", "method"]
    assert {method: list(zip(rows["step"], rows["loss"])) for method, rows in curves.groupby("method")} == {
        "full": [(1, 0.7), (2, 0.5)], "head": [(1, 0.69)]}
    assert learn.curves_update({"full": []}) == {"__type__": "update", "visible": False}  # no empty legend


def test_the_held_out_reviews_are_enough_and_never_trained_on():
    train, heldout = comparison_data()
    assert len(heldout) == HELDOUT_ROWS >= 200
    assert not {r["text"] for r in train} & {r["text"] for r in heldout}
    assert {r["label"] for r in heldout} == {"positive", "negative"}
    assert all(method_config(m, "minilm-l6", len(heldout)).eval_limit >= len(heldout) for m in METHODS)


def test_the_live_comparison_scores_every_method_on_the_held_out_reviews(tiny_models):
    """Six jobs, each told to score all held-out rows; the first one runs (the rest are stopped) and does."""
    train, heldout = comparison_data()
    queue = JobQueue()
    try:
        jobs = submit_comparison(queue, "ws-learn", "tiny-bert")
        for job in jobs[1:]:
            queue.cancel(job.id)
        assert [job.kind for job in jobs] == ["learn"] * len(METHODS) and all(job.name is None for job in jobs)
        assert all(job.config.eval_limit >= len(heldout) for job in jobs)
        first = queue.wait(jobs[0].id, JOB_TIMEOUT)
    finally:
        queue.close()
    assert first.state == DONE, first.error
    data, metrics = first.result["data"], first.result["metrics"]
    assert data["train_rows"] == len(train) and data["validation_rows"] == len(heldout) >= 200
    assert metrics["base"]["examples"] == metrics["adapter"]["examples"] == len(heldout)
    assert len(metrics["adapter"]["predictions"]) == len(heldout)
    frame, _, curves = learn.live_view([first, *jobs[1:]], "en")
    assert frame.iloc[0][text("en", "learn.col.after")].startswith(f"{metrics['adapter']['accuracy']:.3f} (")
    assert frame.iloc[0][text("en", "learn.col.size")] == learn.human_size(4 * first.result["trainable_params"])
    assert curves["visible"] and len(first.progress.losses) == first.progress.step > 0
    assert {method: list(zip(rows["step"], rows["loss"])) for method, rows in curves["value"].groupby("method")} \
        == {"full": [tuple(point) for point in first.progress.losses]}  # the stopped ones never logged a loss


@pytest.mark.parametrize("language", ["en", "vi"])
def test_the_stored_run_shows_intervals_and_the_verdict_in_the_page_language(language):
    stored = learn.stored_results()
    assert stored["note"]["heldout_rows"] >= 200
    assert [row["method"] for row in stored["rows"]] == [m.label for m in METHODS]
    note, table, verdict = learn.stored_view(language)
    assert stored["note"]["command"] in note and str(stored["note"]["heldout_rows"]) in note
    assert list(table.columns) == [text(language, f"learn.col.{c}") for c in learn.RESULT_COLUMNS]
    after = table[text(language, "learn.col.after")]
    assert all(" (" in cell and "–" in cell for cell in after)
    sizes = table[text(language, "learn.col.size")]
    assert list(sizes) == [learn.human_size(row["size_bytes"]) for row in stored["rows"]]
    best = next(row for row in stored["rows"] if row["p_vs_best"] is None)
    assert verdict.startswith(text(language, "learn.verdict.best", rows=f"{stored['note']['heldout_rows']:,}",
                                   best=best["method"], accuracy=learn.accuracy_cell(best, "accuracy_after")))


def test_the_stored_run_has_every_method_s_loss_curve_and_size_to_share():
    rows = {row["method"]: row for row in learn.stored_results()["rows"]}
    curves = learn.curves_frame({method: row["losses"] for method, row in rows.items()})
    assert sorted(curves["method"].unique()) == sorted(m.label for m in METHODS)
    assert all(list(group["step"]) == list(range(1, STEPS + 1)) for _, group in curves.groupby("method"))
    assert all(row["size_bytes"] == 4 * row["trainable_params"] for method, row in rows.items()
               if not method.startswith("lora"))
    # an adapter is its float32 matrices and its head (a few hundred KB at rank 32), a full model ~87 MB
    lora = [rows[f"lora-r{rank}"]["size_bytes"] for rank in (2, 8, 32)]
    assert lora == sorted(lora) and lora[-1] < rows["freeze"]["size_bytes"] < rows["full"]["size_bytes"]


def test_the_stored_run_keeps_each_method_s_loss_curve_and_size(tiny_models, monkeypatch):
    """`run_comparison` (what assets/learn_results.json holds), on the tiny BERT and two of the methods: every
    step's loss, and the size to share: a LoRA adapter's file on disk, a new head's weights in float32."""
    monkeypatch.setattr(methods, "METHODS", tuple(m for m in METHODS if m.label in ("head", "lora-r2")))
    run = json.loads(json.dumps(methods.run_comparison("tiny-bert", report=lambda line: None)))
    rows = {row["method"]: row for row in run["rows"]}
    assert list(rows) == ["head", "lora-r2"]
    for row in rows.values():
        assert [step for step, _ in row["losses"]] == list(range(1, STEPS + 1))
        assert all(loss > 0 for _, loss in row["losses"])
    assert rows["head"]["size_bytes"] == 4 * rows["head"]["trainable_params"]
    lora = rows["lora-r2"]  # the float32 weights and the file's small header of tensor names
    assert 4 * lora["trainable_params"] < lora["size_bytes"] < 4 * lora["trainable_params"] + 2**16
