"""Browser test of the task tabs' built-in examples: their label follows the language switch (and a
click leaves the text box's own label alone), and a click puts the test set's reference answer in the
reference box, where the answers are scored against it, so a class sees which is right."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from e2e_support import open_tab, set_language, screenshot, textbox, wait_for_text
from models.tasks import get_task
from ui.i18n import text

pytestmark = pytest.mark.e2e


def run_example(page, language: str) -> None:
    """Click the first translation example, run it, and check its reference is in the box and scored."""
    example = get_task("translation").examples[0]
    page.locator("#translate-examples").get_by_text(example.input).first.click()
    expect(textbox(page, "translate-input")).to_have_value(example.input)
    # the box keeps its label in the page's language (a gr.Examples click re-sent the English one)
    expect(page.locator("#translate-input [data-testid=block-info]")).to_have_text(text(language, "translate.input"))
    page.locator("#translate-run").click()
    wait_for_text(page, "translate-result")
    expect(textbox(page, "translate-reference")).to_have_value(example.reference)
    expect(page.locator("#translate-scores")).to_contain_text(text(language, "reference.base_row"))
    screenshot(page, f"examples-reference-{language}")


def test_an_example_shows_its_reference_in_the_pages_language(page):
    open_tab(page, "translate")
    examples = page.locator("#translate-examples")
    expect(examples).to_contain_text(text("en", "examples.label"))
    run_example(page, "en")
    set_language(page, "vi")
    expect(examples).to_contain_text(text("vi", "examples.label"))
    expect(examples).not_to_contain_text(text("en", "examples.label"))
    run_example(page, "vi")
