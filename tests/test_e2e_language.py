"""Browser tests of the page's language: `?lang=` in the link chooses it, and in Vietnamese every tab
reads Vietnamese — the app's strings, gradio's own (through `gr.I18n`), table headers, presets and
plot axes — with no raw message key anywhere, screen-reader text included."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from e2e_support import TABS, choose, open_tab, screenshot, workspace
from models.messages import CATALOGUES
from ui.i18n import STRINGS, text
from ui.page import GRADIO_STRINGS

pytestmark = pytest.mark.e2e

# English a Vietnamese page must not show: labels, headers and gradio's strings seen untranslated
# before. Whole words, case-sensitive: the bundled examples' English text is the models' input, not UI.
ENGLISH_UI_WORDS = ("Examples", "Drop File Here", "Click to Upload", "Finished", "Method", "Quick", "Balanced",
                    "Thorough", "Clear", "Download", "Settings", "Use via API", "Built with Gradio", "Result",
                    "trainable parameters", "size to share", "accuracy before", "accuracy after", "Metrics",
                    "Library", "Upload", "Start training", "Compare with base", "Send", "Stop", "Run", "Delete",
                    "Training loss", "Sample predictions", "Preset", "Task", "Base model", "validation", "steps",
                    "Estimated", "shipped", "yours", "Waiting", "Done", "Complete")


def message_keys() -> set[str]:
    """Every key the page could show raw: the app's, the engine's messages and gradio's own ("common.complete")."""
    gradio = {f"{group}.{key}" for strings in GRADIO_STRINGS.values() for group, table in strings.items()
              for key in table}
    return set(STRINGS["en"]) | set(CATALOGUES["en"]) | gradio


def fill_tab(page, tab: str) -> None:
    """Open a tab and bring up what it draws on demand (tables, plots)."""
    open_tab(page, tab)
    if tab == "train":
        choose(page, "train-example", "sentiment_reviews.csv")
        page.locator("#train-estimate p").first.wait_for()
    elif tab == "adapters":
        # opening the tab lists the library again, and a listing that lands after the choice undoes it
        page.locator("#adapters-table").get_by_text("translation-en-es").first.wait_for()
        page.wait_for_timeout(1000)
        choose(page, "adapters-selected", "translation-en-es")
        page.locator("#adapters-card").get_by_text("translation-en-es").first.wait_for()
    elif tab == "learn":
        page.locator("#learn-sizes [role=grid]").wait_for()
    page.wait_for_timeout(500)


def shown_text(page) -> tuple[str, str]:
    """What a reader sees (innerText), and everything a screen reader can reach (textContent)."""
    return page.evaluate("document.body.innerText"), page.evaluate("document.body.textContent")


@pytest.mark.parametrize("page", ["?lang=vi"], indirect=True)
def test_every_tab_reads_vietnamese(page):
    expect(page.locator("button[role=tab][data-tab-id=train]")).to_have_text(text("vi", "train.tab"))
    workspace(page)
    keys = message_keys()
    for tab in TABS:
        fill_tab(page, tab)
        seen, reachable = shown_text(page)
        raw = sorted(key for key in keys if re.search(rf"(?<![\w.]){re.escape(key)}(?![\w.])", reachable))
        english = sorted(word for word in ENGLISH_UI_WORDS if re.search(rf"(?<!\w){re.escape(word)}(?!\w)", seen))
        assert not raw, f"raw message keys on the {tab} tab: {raw}"
        assert not english, f"English on the Vietnamese {tab} tab: {english}: " + " | ".join(
            line for line in seen.splitlines() if any(re.search(rf"(?<!\w){re.escape(w)}(?!\w)", line) for w in english))
        screenshot(page, f"language-vi-{tab}")


def test_english_pages_show_no_raw_keys_either(page):
    workspace(page)
    keys = message_keys()
    for tab in TABS:
        fill_tab(page, tab)
        _, reachable = shown_text(page)
        assert not [key for key in keys if re.search(rf"(?<![\w.]){re.escape(key)}(?![\w.])", reachable)]
    screenshot(page, "language-en-learn")


def opened(page, url: str):
    """The address in a second page of the same browser (leaving a page still loading logs errors)."""
    again = page.context.new_page()
    again.goto(url)
    again.wait_for_selector("#translate-input textarea")
    return again


@pytest.mark.parametrize("page", ["?lang=vi"], indirect=True)
def test_the_link_chooses_the_language_and_the_switch_writes_it(page, app_url):
    language = page.locator("#language")
    expect(language.locator("input[value=vi]")).to_be_checked()
    expect(page.locator("#translate-run")).to_have_text(text("vi", "common.run"))
    language.get_by_text("English", exact=True).click()
    expect(page.locator("#translate-run")).to_have_text(text("en", "common.run"))
    page.wait_for_function("() => new URL(location.href).searchParams.get('lang') === 'en'")
    unknown = opened(page, f"{app_url}?lang=xx")  # an unknown language: the browser's last choice (English)
    expect(unknown.locator("#translate-run")).to_have_text(text("en", "common.run"))
    linked = opened(page, f"{app_url}?lang=vi")  # the link wins over the browser's last choice
    expect(linked.locator("#language input[value=vi]")).to_be_checked()
    expect(linked.locator("#translate-run")).to_have_text(text("vi", "common.run"))
