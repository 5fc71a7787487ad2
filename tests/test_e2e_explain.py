"""Browser test of "what did the adapter change?": in Translate the adapter's answer comes back token by
token with both probabilities and the base's first choice; in Sentiment the two distributions and the
words that moved them; in Persona chat the last reply. In English and Vietnamese, with screenshots."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from e2e_support import (ANSWER_MS, add_adapter, choose, open_tab, screenshot, send_in_compare_mode, set_language,
                         table_rows, textbox, wait_for_text, wait_until)
from ui.i18n import text

pytestmark = pytest.mark.e2e


def explain_here(page, key: str, language: str) -> None:
    """Open the tab's panel, ask, and wait for its summary."""
    panel = page.locator(f"#{key}-explain")
    if not page.locator(f"#{key}-explain-run").is_visible():
        panel.get_by_text(text(language, "explain.title")).click()
    page.locator(f"#{key}-explain-run").click()
    expect(page.locator(f"#{key}-explain-summary")).not_to_be_empty(timeout=ANSWER_MS)


def test_translate_shows_each_tokens_change_in_both_languages(page):
    name = add_adapter(page, "tiny-llama", "translation", "tiny-es")
    open_tab(page, "translate")
    choose(page, "translate-adapter", name)
    textbox(page, "translate-input").fill("The cat sleeps on the bed.")
    page.locator("#translate-run").click()
    answer = wait_for_text(page, "translate-result")
    for language in ("en", "vi"):
        set_language(page, language)
        explain_here(page, "translate", language)
        summary = page.locator("#translate-explain-summary")
        expect(summary).to_contain_text(text(language, "explain.summary_generate", changed=0, total=0, most="")
                                        .split("**")[0].strip())
        expect(page.locator("#translate-explain-tokens")).to_contain_text(text(language, "explain.tokens"))
        wait_until(lambda: table_rows(page, "translate-explain-table") >= len(answer.split()), 10,
                   "the token table has fewer rows than the answer has words")
        expect(page.locator("#translate-explain-table")).to_contain_text(text(language, "explain.col_base_choice"))
        screenshot(page, f"explain-translate-{language}")


def test_sentiment_shows_both_distributions_and_the_words_that_moved_them(page):
    name = add_adapter(page, "tiny-bert", "sentiment", "tiny-reviews", labels=["negative", "positive"])
    open_tab(page, "sentiment")
    choose(page, "sentiment-adapter", name)
    textbox(page, "sentiment-input").fill("a dull and slow film with one great song")
    for language in ("en", "vi"):
        set_language(page, language)
        explain_here(page, "sentiment", language)
        expect(page.locator("#sentiment-explain-bars")).to_contain_text(text(language, "explain.adapter"))
        for words in ("#sentiment-explain-tokens", "#sentiment-explain-base-words"):
            expect(page.locator(words)).to_contain_text("great")
        screenshot(page, f"explain-sentiment-{language}")


def test_chat_explains_the_personas_last_reply(page):
    send_in_compare_mode(page, "Hello there", persona="tiny-persona")
    expect(page.locator("#chat-send")).to_be_enabled(timeout=ANSWER_MS)
    for language in ("en", "vi"):
        set_language(page, language)
        explain_here(page, "chat", language)
        wait_until(lambda: table_rows(page, "chat-explain-table") >= 1, 10, "the token table stayed empty")
        screenshot(page, f"explain-chat-{language}")
