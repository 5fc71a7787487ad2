"""The Train tab in the browser: honest numbers (held-out rows under the metrics, an estimate that says
what it covers and learns this machine's speeds), whole steps on the loss plot, and the tab in Vietnamese.
"""

from __future__ import annotations

import re

import pytest

from e2e_support import EXAMPLES, JOB_MS, cells, open_tab, screenshot, set_language, workspace
from test_e2e import start_training
from ui.i18n import text

pytestmark = pytest.mark.e2e


def x_axis_labels(page) -> list[str]:
    """The loss plot's x axis labels as drawn (vega's SVG)."""
    return page.locator("#train-loss g.role-axis[aria-label^=X-axis] g.role-axis-label text").all_text_contents()


def test_a_tiny_job_shows_its_held_out_rows_whole_steps_and_the_tab_in_vietnamese(page):
    start_training(page, "sentiment", "sentiment_reviews.csv", "e2e-honest", max_steps=3)
    estimate = page.locator("#train-estimate")
    assert "54 rows to train on, 26 held out" in estimate.inner_text()  # 80 rows: a third held out, not 10%
    status = page.locator("#train-status")
    status.locator("b").get_by_text(text("en", "status.done"), exact=True).wait_for(timeout=JOB_MS)

    cells(page, "train-metrics", "held-out rows").wait_for()
    assert cells(page, "train-metrics", "26").count() == 2  # base and adapter, on the same rows
    note = page.locator("#train-metrics-note")
    assert "26 held-out rows: too few to trust" in note.inner_text() and "validation file" in note.inner_text()
    labels = x_axis_labels(page)
    assert labels and all(re.fullmatch(r"\d+", label) for label in labels) and len(set(labels)) == len(labels)
    assert page.locator("#train-loss g.role-axis-title").get_by_text("step", exact=True).count() == 1
    # the finished job's speeds now drive the estimate
    page.locator("#train-max-steps input").fill("4")
    page.locator("#train-max-steps input").press("Enter")
    estimate.get_by_text("Speeds measured on this machine").wait_for()
    screenshot(page, "train-en")

    set_language(page, "vi")
    preset = page.locator("#train-preset")
    for name in ("quick", "balanced", "thorough"):
        preset.get_by_text(text("vi", f"train.preset_{name}"), exact=True).wait_for()
    cells(page, "train-metrics", "số dòng kiểm định").wait_for()
    headers = page.locator("#train-metrics thead").inner_text()
    assert "chỉ số" in headers and "mô hình gốc" in headers
    assert "đáp án tham chiếu" in page.locator("#train-samples thead").inner_text()
    page.locator("#train-loss g.role-axis-title").get_by_text("bước", exact=True).wait_for()
    assert "quá ít để tin cậy" in page.locator("#train-metrics-note").inner_text()
    assert "Xong" in status.inner_text() and "ví dụ/giây" in status.inner_text()
    estimate.get_by_text("đo trên chính máy này").wait_for()
    assert all(re.fullmatch(r"\d+", label) for label in x_axis_labels(page))
    screenshot(page, "train-vi")


def upload(page, elem_id: str, file: str) -> None:
    page.locator(f"#{elem_id} input[type=file]").set_input_files(str(EXAMPLES / file))


def test_a_validation_file_replaces_the_held_out_rows(page):
    open_tab(page, "train")
    upload(page, "train-upload", "sentiment_reviews.csv")
    page.locator("#train-estimate").get_by_text("54 rows to train on, 26 held out").wait_for()
    upload(page, "train-validation", "sentiment_reviews.csv")
    page.locator("#train-validation-problems").get_by_text("Validation file: 80 rows").wait_for()
    page.locator("#train-estimate").get_by_text("80 rows to train on, 80 held out").wait_for()


def test_a_validation_file_with_mistakes_stops_the_job(page, jobs):
    open_tab(page, "train")
    upload(page, "train-upload", "sentiment_reviews.csv")
    upload(page, "train-validation", "sentiment_broken.csv")
    page.locator("#train-validation-problems").get_by_text("error(s)").wait_for()
    page.locator("#train-start").click()
    page.get_by_text(text("en", "train.fix_validation").split("{")[0]).wait_for()
    assert jobs.latest(workspace(page), "train") is None
