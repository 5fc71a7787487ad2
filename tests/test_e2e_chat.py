"""Browser tests of compare mode in Persona chat: both replies written at the same time, the message box
kept while they stream, Stop, and a cut reply that says so.

The tiny models answer in a blink; the engine's steps are slowed down here so a reply streams long
enough to type into and to stop (the app runs in this process).
"""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from e2e_support import add_adapter, choose, open_tab, screenshot, set_language, textbox, wait_until
from ui.i18n import text

pytestmark = pytest.mark.e2e

STEP_DELAY_S = 0.05  # a 200-token reply streams for 10 s or more


@pytest.fixture
def slow_engine(monkeypatch):
    from models.engine.loop import Engine

    step = Engine._step

    def slowed(self, chunks):
        time.sleep(STEP_DELAY_S)
        return step(self, chunks)

    monkeypatch.setattr(Engine, "_step", slowed)


def chat_engine():
    from conftest import TINY_DEFAULTS
    from models import inference
    from models.loading import load_base

    return inference.engine(load_base(TINY_DEFAULTS["chat"]))


def compare_with(page, language: str) -> None:
    option = add_adapter(page, "tiny-llama", "chat", "e2e-persona")
    set_language(page, language)
    open_tab(page, "chat")
    choose(page, "chat-persona", option)
    page.locator("#chat-compare input").check()


def test_compare_streams_both_replies_together_and_keeps_the_box(page, slow_engine):
    compare_with(page, "en")
    steps_before = len(chat_engine().step_sizes)
    box, send, stop = textbox(page, "chat-input"), page.locator("#chat-send"), page.locator("#chat-stop")
    expect(stop).to_be_disabled()
    looks = stop.evaluate("button => [getComputedStyle(button).opacity, getComputedStyle(button).cursor]")
    assert float(looks[0]) < 0.6 and looks[1] == "not-allowed", f"a disabled button looks clickable: {looks}"
    box.fill("Hello!")
    send.click()
    expect(box).to_have_value("")
    expect(send).to_be_disabled()
    expect(stop).to_be_enabled()
    box.fill("And the next question")  # typed while the replies stream
    box.press("Enter")  # refused until the replies end: the text stays
    page.get_by_text(text("en", "chat.wait_for_reply")).first.wait_for()
    expect(send).to_be_enabled(timeout=120_000)
    assert box.input_value() == "And the next question"

    # Served together: the two replies were written in the same steps, not one after the other.
    from models.tasks import get_task

    sizes = list(chat_engine().step_sizes)[steps_before:]
    assert sizes.count(2) >= get_task("chat").max_new_tokens - 5, f"steps of one reply at a time: {sizes}"
    for bot in ("chat-persona-bot", "chat-base-bot"):  # the tiny model talks until its cap
        reply = page.locator(f"#{bot} [data-testid=bot]").last
        expect(reply).to_contain_text(text("en", "chat.cut"))
    screenshot(page, "chat-compare-en")


def test_stop_ends_both_replies(page, slow_engine):
    compare_with(page, "vi")
    box, send, stop = textbox(page, "chat-input"), page.locator("#chat-send"), page.locator("#chat-stop")
    expect(send).to_have_text(text("vi", "chat.send"))
    expect(stop).to_have_text(text("vi", "chat.stop"))
    box.fill("Xin chào!")
    send.click()
    expect(stop).to_be_enabled()
    stop.click()  # at once: a page busy drawing a fast stream takes a while to get to the click
    expect(send).to_be_enabled()
    expect(stop).to_be_disabled()
    replies = page.locator("[data-testid=bot]")

    def settled() -> list[str] | None:
        before = replies.all_inner_texts()
        page.wait_for_timeout(600)
        return before if replies.all_inner_texts() == before else None

    stopped = wait_until(settled, 10, "a reply kept growing after Stop")
    assert not any(text("vi", "chat.cut") in reply for reply in stopped)  # ended by Stop, before the cap
    engine = chat_engine()  # and the engine let both go
    wait_until(lambda: not engine.scheduler.active and not engine.scheduler.waiting, 10, "Stop left a reply running")
    screenshot(page, "chat-compare-vi")
