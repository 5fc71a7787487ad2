"""Browser test of blending two personas in Persona chat: turn the blend on, pick the second persona and
a weight, and the reply comes from the mix (the words under the slider say which); in Vietnamese, the
blend beside the bare base in compare mode."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from conftest import make_adapter
from e2e_support import choose, open_tab, screenshot, set_language, textbox, workspace
from models.adapters import workspace_dir
from ui.i18n import text

pytestmark = pytest.mark.e2e

PERSONAS = {"e2e-sarcastic": 41, "e2e-cheerful": 42}  # different seeds: personas that answer differently


def send_and_wait(page, message: str) -> None:
    box, send = textbox(page, "chat-input"), page.locator("#chat-send")
    box.fill(message)
    send.click()
    expect(send).to_be_disabled()
    expect(send).to_be_enabled(timeout=120_000)  # the replies have ended


def test_blend_two_personas_with_a_slider(page):
    folder = workspace_dir(workspace(page))
    for name, seed in PERSONAS.items():
        make_adapter("tiny-llama", "chat", folder / name, seed=seed)
    open_tab(page, "chat")
    choose(page, "chat-persona", "★ e2e-sarcastic")
    expect(page.locator("#chat-persona-b")).to_be_hidden()
    page.locator("#chat-blend input").check()
    choose(page, "chat-persona-b", "★ e2e-cheerful")
    page.locator("#chat-blend-weight input[type=range]").fill("0.3")
    mix = page.locator("#chat-blend-mix")
    expect(mix).to_contain_text("70% e2e-sarcastic + 30% e2e-cheerful")
    send_and_wait(page, "Hello!")
    expect(page.locator("#chat-persona-bot [data-testid=bot]")).to_have_count(1)
    assert page.locator("#chat-persona-bot [data-testid=bot]").inner_text().strip()
    screenshot(page, "blend-en")

    set_language(page, "vi")
    expect(page.locator("#chat-blend")).to_contain_text(text("vi", "chat.blend"))
    expect(page.locator("#chat-blend-weight")).to_contain_text(text("vi", "chat.blend_weight_info"))
    expect(mix).to_contain_text("Câu trả lời từ 70% e2e-sarcastic + 30% e2e-cheerful")
    page.locator("#chat-compare input").check()  # the blend on the left, the bare base beside it
    send_and_wait(page, "Xin chào!")
    expect(page.locator("#chat-persona-bot [data-testid=bot]")).to_have_count(2)
    expect(page.locator("#chat-base-bot [data-testid=bot]")).to_have_count(1)
    screenshot(page, "blend-vi")
