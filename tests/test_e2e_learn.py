"""Browser tests of the Learn tab: the stored comparison (its table and loss curves) in English and Vietnamese,
the live one stopping, and the look inside an adapter under them.

The app runs on the tiny models (tiny-bert stands in for MiniLM), so the live comparison's numbers are
noise; the stored results are the real MiniLM run of assets/learn_results.json."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from e2e_support import cells, open_tab, screenshot, set_language, wait_until, workspace
from finetune.methods import METHODS
from ui import learn
from ui.common import library
from ui.delta_view import view_updates
from ui.i18n import text

pytestmark = pytest.mark.e2e

INTERVAL = re.compile(r"^0\.\d{3} \(0\.\d{3}–[01]\.\d{3}\)$")


def test_learn_tab_counts_parameters_and_its_comparison_stops(page, jobs):
    open_tab(page, "learn")
    methods = [method.label for method in METHODS]
    for method in methods:
        expect(cells(page, "learn-sizes", method)).to_have_count(1)
    page.locator("#learn-run").click()
    for method in methods:  # one job per method: the first one starts, the rest wait
        expect(cells(page, "learn-comparison", method)).to_have_count(1)
    page.locator("#learn-stop").click()
    expect(cells(page, "learn-comparison", text("en", "status.cancelled"))).to_have_count(6, timeout=45_000)
    space = workspace(page)
    wait_until(lambda: not any(job.active for job in jobs.jobs(space, "learn")), 45, "a worker ignored Stop")
    assert {job.state for job in jobs.jobs(space, "learn")} == {"cancelled"}


def test_stored_results_show_intervals_and_the_verdict_in_each_language(page):
    """The tab opens with the last full run: accuracy with its interval for every method, and the verdict,
    re-rendered when the page switches to Vietnamese."""
    english_verdict, vietnamese_verdict = (learn.stored_view(language)[2].replace("**", "") for language in ("en", "vi"))
    open_tab(page, "learn")
    stored = page.locator("#learn-stored")
    for method in METHODS:
        expect(cells(page, "learn-stored", method.label)).to_have_count(1)
    intervals = [cell for cell in stored.get_by_role("gridcell").all_inner_texts() if INTERVAL.match(cell.strip())]
    assert len(intervals) == 2 * len(METHODS)  # before and after, per method
    expect(stored).to_contain_text(text("en", "learn.col.after"))
    expect(page.locator("#learn-stored-verdict")).to_contain_text(english_verdict)
    expect(cells(page, "learn-sizes", "lora-r8")).to_have_count(1)
    screenshot(page, "learn-en")

    set_language(page, "vi")
    expect(page.locator("button[role=tab][data-tab-id=learn]")).to_have_text(text("vi", "learn.tab"))
    expect(stored).to_contain_text(text("vi", "learn.col.after"))
    expect(page.locator("#learn-sizes")).to_contain_text(text("vi", "learn.col.trainable"))
    expect(page.locator("#learn-stored-verdict")).to_contain_text(vietnamese_verdict)
    expect(page.locator("#learn-note")).to_contain_text(learn.stored_view("vi")[0].replace("`", ""))
    expect(page.locator("#learn-methods")).to_contain_text(text("vi", "learn.head"))
    screenshot(page, "learn-vi")


def test_loss_curves_and_inside_an_adapter_in_each_language(page):
    """Under the stored comparison, every method's loss curve on one chart (one line and one legend entry
    each); at the bottom, the shipped sentiment adapter (MiniLM, like the ranks compared) seen from inside."""
    open_tab(page, "learn")
    curves, delta = page.locator("#learn-curves"), page.locator("#learn-delta")
    expect(page.locator("#learn-delta-adapter input")).to_have_value("sentiment-movies")  # not ◆: tiny bases
    for language in ("en", "vi"):
        set_language(page, language)
        expect(curves).to_contain_text(text(language, "learn.loss"))
        expect(curves.locator("g.mark-line path")).to_have_count(len(METHODS))
        legend = curves.locator(".role-legend-label text")
        expect(legend).to_have_count(len(METHODS))
        assert sorted(legend.all_text_contents()) == sorted(method.label for method in METHODS)
        delta.get_by_text(text(language, "delta.title")).click()
        summary = view_updates(library(None, None)["sentiment-movies"], language)[0]
        expect(page.locator("#learn-delta-summary")).to_contain_text(summary.replace("**", "").replace("`", ""))
        for plot in ("#learn-delta-where", "#learn-delta-rank"):
            expect(page.locator(plot)).to_contain_text(text(language, "delta.kind"))
        screenshot(page, f"learn-curves-{language}")
        delta.get_by_text(text(language, "delta.title")).click()  # closed again
