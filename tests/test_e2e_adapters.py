"""Browser test of the Adapters tab: the library and a shipped adapter's model card, readable in English
and in Vietnamese, and the default adapter marked as in the task tabs' pickers (screenshots
adapters-en and adapters-vi in test-artifacts/); a merged model offered for download and a Hub push that
says plainly it cannot connect (export-en, export-vi)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from e2e_support import add_adapter, cells, choose, open_tab, screenshot, set_language, textbox, workspace
from models.messages import say
from models.registry import DEFAULT_BASE
from models.tasks import get_task
from ui.i18n import text

pytestmark = pytest.mark.e2e


def test_adapters_tab_shows_a_readable_card_in_both_languages(page, monkeypatch):
    # The app under test serves the tiny models; translation is served as deployed here, on the base of its
    # shipped default adapter, so that adapter is marked (the cards need no model at all).
    monkeypatch.setitem(DEFAULT_BASE, "translation", get_task("translation").default_base)
    workspace(page)  # the page has its workspace
    open_tab(page, "translate")  # opening a tab lists its adapters again
    page.locator("#translate-adapter input").click()
    expect(page.get_by_role("option", name="◆ translation-en-es", exact=True)).to_be_visible()
    page.keyboard.press("Escape")

    open_tab(page, "adapters")
    expect(cells(page, "adapters-table", "◆ translation-en-es")).to_have_count(1)
    expect(cells(page, "adapters-table", "test · debian, 300 rows")).to_have_count(2)  # translation, summarization
    choose(page, "adapters-selected", "◆ translation-en-es")
    card = page.locator("#adapters-card")
    card.get_by_text("test · debian, 300 rows").wait_for()
    shown = card.inner_text()
    assert "{" not in shown and "}" not in shown  # no raw JSON
    for words in ("validation, 150 rows", "Apertium eng-spa", "4,000 training rows + 150 validation rows",
                  "rank 16, alpha 32"):
        assert words in shown, words
    expect(card.get_by_role("cell", name="66.2", exact=True)).to_have_count(1)  # chrF, 3 significant digits
    expect(page.locator("#adapters-delete")).to_be_disabled()  # shipped
    screenshot(page, "adapters-en")

    set_language(page, "vi")
    card.get_by_text("tập kiểm tra · debian, 300 dòng").wait_for()  # the card follows the page's language
    shown = card.inner_text()
    for words in ("tập kiểm định, 150 dòng", "Phương pháp", "Dữ liệu", "4.000 dòng huấn luyện"):
        assert words in shown, words
    expect(cells(page, "adapters-table", text("vi", "adapters.shipped"))).to_have_count(6)
    expect(page.locator("#adapters-table").get_by_text(text("vi", "adapters.col.set"))).not_to_have_count(0)
    screenshot(page, "adapters-vi")


def test_a_merged_model_is_offered_and_an_offline_push_says_so(page):
    option = add_adapter(page, "tiny-llama", "translation", "e2e-take-home")
    open_tab(page, "translate")
    open_tab(page, "adapters")  # opening the tab lists the new adapter
    choose(page, "adapters-selected", option)
    push = page.locator("#adapters-hub-push")
    for language in ("en", "vi"):
        set_language(page, language)
        page.locator("#adapters-merged").click()
        expect(page.locator("#adapters-merged-file a[href$='/e2e-take-home-merged.zip']")).to_be_visible()
        if not push.is_visible():
            page.locator("#adapters-hub").get_by_text(text(language, "adapters.hub")).click()
        textbox(page, "adapters-hub-repo").fill("someone/take-home")
        page.locator("#adapters-hub-token input").fill("hf_token")
        expect(push).to_have_text(text(language, "adapters.push_offline"))
        push.click()
        expect(page.locator("#adapters-message")).to_contain_text(say("export.offline").text(language)[:40])
        screenshot(page, f"export-{language}")


def test_inside_an_adapter_shows_where_it_changed_the_model(page):
    """The shipped translation adapter: the summary names its rank and largest change, both plots are drawn."""
    workspace(page)  # the page has started: its workspace's arrival lists the library again
    choose(page, "adapters-selected", "translation-en-es")  # not ◆ here: the app serves tiny bases
    for language in ("en", "vi"):
        set_language(page, language)
        page.locator("#adapters-delta").get_by_text(text(language, "delta.title")).click()
        summary = page.locator("#adapters-delta-summary")
        expect(summary).to_contain_text("16", timeout=30_000)  # the shipped adapter's rank
        for plot in ("#adapters-delta-where", "#adapters-delta-rank"):
            expect(page.locator(plot)).to_contain_text(text(language, "delta.kind"))
        screenshot(page, f"delta-{language}")
        page.locator("#adapters-delta").get_by_text(text(language, "delta.title")).click()  # closed again
