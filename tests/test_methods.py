"""The Learn tab's comparison (`finetune.methods`, shown by `ui.learn`): held-out data, intervals, the paired
"within noise" verdict, the jobs the live comparison submits, and the stored results of the last full run."""

from __future__ import annotations

import pytest

from finetune.jobs import DONE, JobQueue
from finetune.methods import (HELDOUT_ROWS, METHODS, comparison_data, comparison_rows, method_config,
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
    frame, _ = learn.live_view([first], "en")
    assert frame.iloc[0][text("en", "learn.col.after")].startswith(f"{metrics['adapter']['accuracy']:.3f} (")


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
    best = next(row for row in stored["rows"] if row["p_vs_best"] is None)
    assert verdict.startswith(text(language, "learn.verdict.best", rows=f"{stored['note']['heldout_rows']:,}",
                                   best=best["method"], accuracy=learn.accuracy_cell(best, "accuracy_after")))
