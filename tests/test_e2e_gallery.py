"""The Class tab in the browser (issue 25): two students each train an adapter and publish it, and both
see the same leaderboard, scored on the same test rows; a third uses a published adapter but cannot
delete or take it down (screenshots class-en and class-vi in test-artifacts/)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import pytest
from playwright.sync_api import expect

from e2e_support import ANSWER_MS, JOB_MS, choose, open_tab, screenshot, set_language, textbox
from test_e2e import start_training
from ui.i18n import text

pytestmark = pytest.mark.e2e
CLASS = "e2e-class-7b"


@contextmanager
def student(browser, app_url: str) -> Iterator:
    """Another browser profile (so another workspace), failing on any browser error as `page` does."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(ANSWER_MS)
    other = context.new_page()
    errors: list[str] = []
    other.on("pageerror", lambda error: errors.append(str(error)))
    other.goto(app_url)
    other.wait_for_selector("#translate-input textarea")
    try:
        yield other
    finally:
        context.close()
    assert errors == []


def join(page) -> None:
    open_tab(page, "gallery")
    textbox(page, "class-code").fill(CLASS)
    page.locator("#class-join").click()
    page.locator("#class-joined").get_by_text(CLASS).wait_for()


def train_and_publish(page, adapter: str, shown: str) -> None:
    start_training(page, "sentiment", "sentiment_reviews.csv", adapter, max_steps=3)
    status = page.locator("#train-status")
    status.locator("b").get_by_text(text("en", "status.done"), exact=True).wait_for(timeout=JOB_MS)
    join(page)
    choose(page, "class-mine", f"★ {adapter}")
    textbox(page, "class-display-name").fill(shown)
    page.locator("#class-publish").click()
    page.locator("#class-message").get_by_text("Published").wait_for()


def classified(page, adapter: str) -> str:
    """The Sentiment tab's answer, with every class's probability, to one review with this adapter."""
    open_tab(page, "sentiment")
    choose(page, "sentiment-adapter", adapter)
    textbox(page, "sentiment-input").fill("What a lovely, warm film.")
    page.locator("#sentiment-run").click()
    page.locator("#sentiment-result [data-testid=label-output-value]").wait_for()
    page.wait_for_timeout(300)
    return page.locator("#sentiment-result").inner_text()


def board_text(page, shown: tuple[str, ...]) -> str:
    """The leaderboard once these adapters are on it and scored (places drawn for all of them)."""
    board = page.locator("#class-board")
    for name in shown:
        board.get_by_role("gridcell", name=name, exact=True).wait_for(timeout=JOB_MS)
    page.wait_for_function("id => [...document.querySelectorAll(`#${id} [role=gridcell]`)].filter("
                           "cell => /^[0-9]+$/.test(cell.innerText.trim())).length >= 1", arg="class-board")
    for place in range(1, len(shown) + 1):
        board.get_by_role("gridcell", name=str(place), exact=True).first.wait_for(timeout=JOB_MS)
    return board.locator("[role=grid]").inner_text()


def test_two_students_publish_and_see_one_leaderboard_and_a_third_cannot_delete(page, browser, app_url):
    train_and_publish(page, "e2e-lan", "Lan's reviews")
    with student(browser, app_url) as minh, student(browser, app_url) as third:
        train_and_publish(minh, "e2e-minh", "Minh's reviews")
        shown = ("Lan's reviews (lan-s-reviews)", "Minh's reviews (minh-s-reviews)")
        lan_board, minh_board = board_text(page, shown), board_text(minh, shown)
        assert lan_board == minh_board  # the same adapters, metrics and base scores on both pages
        assert "waiting" not in lan_board and "being scored" not in lan_board
        note = page.locator("#class-test-set").inner_text()
        assert "first 300 rows of the bundled sentiment test set" in note
        screenshot(page, "class-en")

        # the third student, in the same class, uses Lan's adapter...
        join(third)
        # (the same probabilities as Lan gets from her own copy)
        assert classified(third, "👥 lan-s-reviews") == classified(page, "★ e2e-lan")
        # ...but cannot delete it, nor take it down
        open_tab(third, "adapters")
        choose(third, "adapters-selected", "👥 lan-s-reviews")
        expect(third.locator("#adapters-delete")).to_be_disabled()
        open_tab(third, "gallery")
        third.locator("#class-published input").click()
        expect(third.get_by_role("option", name="Lan's reviews (lan-s-reviews)")).to_have_count(0)
        third.keyboard.press("Escape")

        set_language(minh, "vi")
        minh.locator("#class-board thead").get_by_text(text("vi", "class.col.examples")).wait_for()
        assert "tập kiểm tra sentiment có sẵn" in minh.locator("#class-test-set").inner_text()
        expect(minh.locator("#class-join")).to_have_text(text("vi", "class.join"))  # the page relabelled
        screenshot(minh, "class-vi")


def test_a_student_takes_their_own_adapter_down(page):
    train_and_publish(page, "e2e-own", "Short-lived")
    choose(page, "class-published", "Short-lived (short-lived)")
    page.locator("#class-unpublish").click()
    page.locator("#class-message").get_by_text("Took").wait_for()
    open_tab(page, "sentiment")
    page.locator("#sentiment-adapter input").click()
    expect(page.get_by_role("option", name="👥 short-lived", exact=True)).to_have_count(0)
    page.keyboard.press("Escape")
