"""Browser tests of evaluating against references: the reference box of the Translate tab scores both
answers and reads the numbers, and the Evaluate tab measures the base and an adapter on an uploaded file
(metrics, the rows worst first, a confusion matrix for sentiment, the predictions to download), in
English and in Vietnamese."""

from __future__ import annotations

import pandas as pd
import pytest
from playwright.sync_api import expect

from e2e_support import (EXAMPLES, add_adapter, choose, open_tab, screenshot, set_language, table_rows, textbox,
                         wait_for_text)
from finetune.data import load_examples
from models.tasks import get_task
from ui.i18n import text
from ui.task_tab import TextTask, reference_scores

pytestmark = pytest.mark.e2e


def test_the_reference_box_scores_both_answers(page):
    option = add_adapter(page, "tiny-llama", "translation", "e2e-translation")
    example = get_task("translation").examples[0]
    for language in ("en", "vi"):
        set_language(page, language)
        open_tab(page, "translate")
        choose(page, "translate-adapter", option)
        page.locator("#translate-compare input").check()
        page.locator("#translate-examples").get_by_text(example.input).first.click()
        expect(textbox(page, "translate-reference")).to_have_value(example.reference)  # the test set's answer
        page.locator("#translate-run").click()
        scores = page.locator("#translate-scores")
        expect(scores.locator("table")).to_contain_text(text(language, "reference.base_row"))  # both answers complete
        answer, base_answer = wait_for_text(page, "translate-result"), wait_for_text(page, "translate-base")
        shown = reference_scores(TextTask.named("translation", "translate"), example.reference, "e2e-translation",
                                 True, answer, base_answer, language)
        expect(scores).to_contain_text(shown.split("📏 ")[1])
        expect(page.locator("#translate-note")).not_to_contain_text(example.reference)  # it is in the box now
        screenshot(page, f"reference-scores-{language}")
        page.locator("#translate-compare input").uncheck()


def add_model(page, option: str) -> None:
    page.locator("#evaluate-adapters input").click()
    page.get_by_role("option", name=option, exact=True).click()
    page.keyboard.press("Escape")


def test_the_evaluate_tab_measures_the_base_and_an_adapter(page, tmp_path):
    option = add_adapter(page, "tiny-bert", "sentiment", "e2e-sentiment", labels=["negative", "positive"])
    rows = len(load_examples(EXAMPLES / "sentiment_reviews.csv", "sentiment").records)
    open_tab(page, "evaluate")
    upload = page.locator("#evaluate-upload input[type=file]")
    upload.set_input_files(str(EXAMPLES / "sentiment_broken.csv"))
    expect(page.locator("#evaluate-data")).to_contain_text("❌")  # the Train tab's checks, line by line
    page.locator("#evaluate-upload button[aria-label='Clear']").click()
    upload.set_input_files(str(EXAMPLES / "sentiment_reviews.csv"))
    expect(page.locator("#evaluate-data")).to_contain_text(text("en", "evaluate.data_ok", rows=rows))
    add_model(page, option)
    for language in ("en", "vi"):
        set_language(page, language)
        page.locator("#evaluate-run").click()
        expect(page.locator("#evaluate-status")).to_contain_text(
            text(language, "evaluate.finished", models=2, rows=rows))
        assert table_rows(page, "evaluate-metrics") == 2
        expect(page.locator("#evaluate-metrics")).to_contain_text(text(language, "evaluate.col_model"))
        assert table_rows(page, "evaluate-worst") == rows
        expect(page.locator("#evaluate-confusion canvas, #evaluate-confusion svg").first).to_be_visible()
        with page.expect_download() as download:
            page.locator("#evaluate-download").click()
        saved = tmp_path / f"predictions-{language}.csv"
        download.value.save_as(saved)
        frame = pd.read_csv(saved)
        assert list(frame.columns) == ["input", "reference", "base", "base accuracy", "e2e-sentiment",
                                       "e2e-sentiment accuracy"] and len(frame) == rows
        page.locator("#evaluate-shown").get_by_text("e2e-sentiment", exact=True).click()
        worst_mark = "❌" if frame["e2e-sentiment accuracy"].min() == 0 else "✅"  # worst first
        expect(page.locator("#evaluate-worst tbody tr").first).to_contain_text(worst_mark)
        screenshot(page, f"evaluate-{language}")
