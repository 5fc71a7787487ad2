"""End-to-end tests: the app running in this process on the tiny models, driven through Debian's
Chromium with Playwright (its own browser download needs the internet).

Tiny models answer gibberish, so the tests check that answers appear where they should, not what
they say. Screenshots of every tab go to test-artifacts/ at the repository root.
"""

from __future__ import annotations

import zipfile

import pytest
from playwright.sync_api import expect

from e2e_support import (ANSWER_MS, ARTIFACTS, EXAMPLES, JOB_MS, TABS, add_adapter, another_page, cells, choose,
                         open_tab, screenshot, send_in_compare_mode, table_rows, textbox, wait_for_text, wait_until,
                         workspace)
from models.adapters import workspace_dir
from models.inference import MAX_INPUT_CHARS
from ui.i18n import text

pytestmark = pytest.mark.e2e


# ------------------------------------------------------------------------------------------------ tests

@pytest.mark.parametrize("tab, sample", [
    ("translate", "Good morning! Where is the train station?"),
    ("summarize", "This package provides a small library for parsing and writing JSON documents in C."),
])
def test_text_tabs_answer_in_the_page(page, tab, sample):
    open_tab(page, tab)
    textbox(page, f"{tab}-input").fill(sample)
    page.locator(f"#{tab}-run").click()
    assert wait_for_text(page, f"{tab}-result")
    assert not page.locator(f"#{tab}-base").is_visible()


def test_sentiment_tab_shows_class_probabilities(page):
    open_tab(page, "sentiment")
    textbox(page, "sentiment-input").fill("A gorgeous, witty and deeply moving film.")
    page.locator("#sentiment-run").click()
    winner = page.locator("#sentiment-result [data-testid=label-output-value]")
    winner.wait_for()
    assert winner.inner_text() in ("positive", "negative")
    assert page.locator("#sentiment-result meter").count() == 2


def test_empty_input_gets_a_note_not_an_answer(page):
    page.locator("#translate-run").click()
    page.locator("#translate-note").get_by_text(text("en", "common.empty")).wait_for()
    assert textbox(page, "translate-result").input_value() == ""


def test_too_long_input_gets_an_error_message(page):
    open_tab(page, "summarize")
    textbox(page, "summarize-input").fill("word " * (MAX_INPUT_CHARS // 5 + 1))
    page.locator("#summarize-run").click()
    page.get_by_text(f"the limit is {MAX_INPUT_CHARS:,}").first.wait_for()
    assert textbox(page, "summarize-result").input_value() == ""


@pytest.mark.parametrize("tab, task, base", [("translate", "translation", "tiny-llama"),
                                              ("sentiment", "sentiment", "tiny-bert")])
def test_compare_shows_adapter_and_base_side_by_side(page, tab, task, base):
    labels = ["negative", "positive"] if task == "sentiment" else None
    option = add_adapter(page, base, task, f"e2e-{task}", labels=labels)
    open_tab(page, tab)  # selecting the tab refreshes its adapter picker
    choose(page, f"{tab}-adapter", option)
    page.locator(f"#{tab}-compare input").check()
    textbox(page, f"{tab}-input").fill("The weather is nice today.")
    page.locator(f"#{tab}-run").click()

    adapted, bare = page.locator(f"#{tab}-result"), page.locator(f"#{tab}-base")
    if tab == "sentiment":
        for side in (adapted, bare):
            side.locator("[data-testid=label-output-value]").wait_for()
    else:
        assert wait_for_text(page, f"{tab}-result") and wait_for_text(page, f"{tab}-base")
    left, right = adapted.bounding_box(), bare.bounding_box()
    assert left["x"] + left["width"] <= right["x"] and abs(left["y"] - right["y"]) < 5  # side by side
    note = page.locator(f"#{tab}-note [data-testid=markdown]").inner_text()
    assert note.strip() == ""  # not "both sides use the base model"


def test_chat_streams_the_reply(page):
    option = add_adapter(page, "tiny-llama", "chat", "e2e-persona")  # the bare tiny base answers blank lines
    open_tab(page, "chat")
    choose(page, "chat-persona", option)
    # Record the length of the newest bot message every time the conversation's DOM changes.
    page.evaluate("""() => {
        window.replyLengths = [];
        const log = document.querySelector('#chat-persona-bot');
        new MutationObserver(() => {
            const replies = log.querySelectorAll('[data-testid=bot]');
            if (replies.length) window.replyLengths.push(replies[replies.length - 1].innerText.trim().length);
        }).observe(log, {subtree: true, childList: true, characterData: true});
    }""")
    textbox(page, "chat-input").fill("Tell me a joke.")
    page.locator("#chat-send").click()

    def finished() -> list[int] | None:
        before = page.evaluate("window.replyLengths.slice()")
        page.wait_for_timeout(1500)
        after = page.evaluate("window.replyLengths.slice()")
        return after if after and after[-1] > 0 and after == before else None

    lengths = wait_until(finished, ANSWER_MS / 1000, "the reply never settled")
    distinct = sorted({n for n in lengths if n > 0})
    assert len(distinct) >= 3, f"the reply arrived in one piece, not streamed: {lengths}"
    assert lengths[-1] == max(lengths)
    assert page.locator("#chat-persona-bot [data-testid=user]").inner_text().strip() == "Tell me a joke."
    assert textbox(page, "chat-input").input_value() == ""


def test_chat_compare_answers_in_two_conversations(page):
    send_in_compare_mode(page, "Hello!")
    for bot in ("chat-persona-bot", "chat-base-bot"):
        page.locator(f"#{bot} [data-testid=bot]").wait_for()  # visible: a blank reply gets a note
        assert page.locator(f"#{bot} [data-testid=user]").inner_text().strip() == "Hello!"
    left, right = page.locator("#chat-persona-bot").bounding_box(), page.locator("#chat-base-bot").bounding_box()
    assert left["x"] + left["width"] <= right["x"]


def test_a_message_beyond_the_engines_places_waits_in_line_and_says_so(page):
    """With every place taken, a student's message says how many are ahead, then is answered."""
    from conftest import TINY_DEFAULTS
    from models import inference
    from models.engine import GenerationRequest
    from models.loading import load_base

    engine = inference.engine(load_base(TINY_DEFAULTS["chat"]))
    places, engine.scheduler.max_active = engine.scheduler.max_active, 1
    endless = engine.submit(GenerationRequest((5, 6, 7), max_new_tokens=1_000_000))  # another student's reply
    reply = page.locator("#chat-persona-bot [data-testid=bot]")
    try:
        open_tab(page, "chat")
        textbox(page, "chat-input").fill("Hello!")
        page.locator("#chat-send").click()
        expect(reply).to_contain_text(text("en", "common.next_in_line"))
        page.screenshot(path=str(ARTIFACTS / "chat-waiting.png"))
    finally:
        endless.cancel()
        engine.scheduler.max_active = places
    expect(reply).not_to_contain_text("⏳")  # its turn came: the reply replaced the note


def test_a_broken_upload_lists_its_problems_and_start_is_refused(page, jobs):
    open_tab(page, "train")
    page.locator("#train-upload input[type=file]").set_input_files(str(EXAMPLES / "sentiment_broken.csv"))
    problems = page.locator("#train-problems")
    problems.get_by_text("error(s)").wait_for()
    listed = problems.locator("li").all_inner_texts()  # every problem, with its line where it has one
    assert len(listed) == 3
    assert "Column 'label' is missing" in listed[0] and "Line 6:" in listed[1] and "Line 14:" in listed[2]
    assert table_rows(page, "train-preview") == 10  # the first rows as read, mistakes included

    page.locator("#train-start").click()
    page.get_by_text("fix them first").first.wait_for()
    assert jobs.latest(workspace(page), "train") is None


def test_upload_problems_are_listed_in_vietnamese(page, jobs):
    workspace(page)
    page.locator("#language").get_by_text("Tiếng Việt").click()
    open_tab(page, "train")
    page.locator("#train-upload input[type=file]").set_input_files(str(EXAMPLES / "sentiment_broken.csv"))
    problems = page.locator("#train-problems")
    problems.get_by_text("Dòng 6:").wait_for()
    listed = problems.locator("li").all_inner_texts()
    assert len(listed) == 3
    assert listed[0].startswith("❌ Thiếu cột 'label'") and "Hãy đổi tên cột đó thành 'label'" in listed[0]
    assert "Dòng 6:" in listed[1] and "Dòng 14:" in listed[2] and "Line" not in " ".join(listed)


def start_training(page, task: str, example: str, name: str, max_steps: int, epochs: float | None = None) -> None:
    open_tab(page, "train")
    choose(page, "train-task", task)
    choose(page, "train-example", example)
    page.locator("#train-problems").get_by_text("rows ready").wait_for()
    page.locator("#train-estimate").get_by_text("Estimated training time").wait_for()
    textbox(page, "train-name").fill(name)
    page.get_by_text(text("en", "train.advanced")).click()
    page.locator("#train-max-steps input").fill(str(max_steps))
    if epochs is not None:
        page.locator("#train-epochs input").fill(str(epochs))
    page.locator("#train-start").click()


def test_a_tiny_job_trains_and_its_adapter_works_in_its_tab(page, jobs, tmp_path):
    start_training(page, "sentiment", "sentiment_reviews.csv", "e2e-trained", max_steps=3)
    status = page.locator("#train-status")
    status.locator("b").get_by_text(text("en", "status.done"), exact=True).wait_for(timeout=JOB_MS)
    page.locator("#train-download").wait_for()
    assert "3/3" in status.inner_text() and "loss" in status.inner_text()
    assert page.locator("#train-status progress").get_attribute("value") == "3"

    curve = page.locator("#train-loss g.mark-line path").first.get_attribute("d")
    assert curve.count("L") == 2  # a line through the 3 steps' losses
    assert table_rows(page, "train-metrics") >= 1 and table_rows(page, "train-samples") >= 1
    assert "accuracy" in page.locator("#train-metrics [data-testid=cell-0-0]").inner_text()

    with page.expect_download() as download:
        page.locator("#train-download").click()
    archive = tmp_path / "adapter.zip"
    download.value.save_as(archive)
    assert {"adapter_config.json", "adapter_model.safetensors"} <= set(zipfile.ZipFile(archive).namelist())

    open_tab(page, "sentiment")
    choose(page, "sentiment-adapter", "★ e2e-trained")
    textbox(page, "sentiment-input").fill("A wonderful, happy film.")
    page.locator("#sentiment-run").click()
    page.locator("#sentiment-result [data-testid=label-output-value]").wait_for()
    assert page.locator("#sentiment-result meter").count() == 2


def test_stop_ends_a_job_without_saving(page, jobs):
    start_training(page, "translation", "translation_en_es.csv", "e2e-stopped", max_steps=100_000, epochs=100)
    status = page.locator("#train-status")
    status.locator("b").get_by_text(text("en", "status.training"), exact=True).wait_for(timeout=JOB_MS)
    page.locator("#train-stop").click()
    # The worker stops after its current step, then ends (Stop is disabled again).
    status.locator("b").get_by_text(text("en", "status.cancelled"), exact=True).wait_for(timeout=45_000)
    expect(page.locator("#train-stop")).to_be_disabled(timeout=45_000)

    space = workspace(page)
    job = jobs.latest(space, "train")
    assert job.state == "cancelled" and job.progress.step < job.progress.total_steps
    assert not (workspace_dir(space) / "e2e-stopped").exists()
    open_tab(page, "train")
    assert not page.locator("#train-download").is_visible()


def test_adapters_tab_lists_downloads_deletes_and_uploads(page, tmp_path):
    add_adapter(page, "tiny-llama", "translation", "e2e-own")
    open_tab(page, "translate")
    open_tab(page, "adapters")  # selecting the tab lists the library again
    expect(cells(page, "adapters-table", "★ e2e-own")).to_have_count(1)
    expect(cells(page, "adapters-table", "yours")).to_have_count(1)

    choose(page, "adapters-selected", "translation-en-es")  # shipped: a model card, no delete
    page.locator("#adapters-card").get_by_text("test · debian, 300 rows").wait_for()
    expect(page.locator("#adapters-delete")).to_be_disabled()

    choose(page, "adapters-selected", "★ e2e-own")
    expect(page.locator("#adapters-delete")).to_be_enabled()
    with page.expect_download() as download:
        page.locator("#adapters-download").click()
    archive = tmp_path / "e2e-own.zip"
    download.value.save_as(archive)
    page.locator("#adapters-delete").click()
    page.locator("#adapters-message").get_by_text("Deleted e2e-own").wait_for()
    expect(cells(page, "adapters-table", "★ e2e-own")).to_have_count(0)
    assert not (workspace_dir(workspace(page)) / "e2e-own").exists()

    page.locator("#adapters-upload input[type=file]").set_input_files(str(archive))
    page.locator("#adapters-message").get_by_text("Imported e2e-own").wait_for()
    expect(cells(page, "adapters-table", "★ e2e-own")).to_have_count(1)
    with another_page(page) as again:  # the first tab's picker lists this browser's own adapters unopened
        again.wait_for_selector("#translate-input textarea")
        choose(again, "translate-adapter", "★ e2e-own")


def test_vietnamese_relabels_the_page(page):
    workspace(page)  # the page has finished loading
    open_tab(page, "translate")
    page.locator("#language").get_by_text("Tiếng Việt").click()
    train_tab = page.locator("button[role=tab][data-tab-id=train]")
    expect(train_tab).to_have_text(text("vi", "train.tab"))
    expect(page.locator("#translate-run")).to_have_text(text("vi", "common.run"))
    expect(page.locator("#translate-input [data-testid=block-info]")).to_have_text(text("vi", "translate.input"))
    open_tab(page, "train")
    expect(page.locator("#train-start")).to_have_text(text("vi", "train.start"))
    with another_page(page) as again:  # the browser remembers the choice
        expect(again.locator("button[role=tab][data-tab-id=train]")).to_have_text(text("vi", "train.tab"))


def test_screenshots_of_every_tab(page):
    """Each tab in use, saved to test-artifacts/ (the task tabs from one of their examples)."""
    from models.tasks import get_task

    ARTIFACTS.mkdir(exist_ok=True)
    for tab, task in (("translate", "translation"), ("sentiment", "sentiment"), ("summarize", "summarization")):
        example = get_task(task).examples[0].input
        open_tab(page, tab)
        page.get_by_text(example[:40]).first.click()
        expect(textbox(page, f"{tab}-input")).to_have_value(example)
        page.locator(f"#{tab}-run").click()
        if tab == "sentiment":
            page.locator("#sentiment-result [data-testid=label-output-value]").wait_for()
        else:
            wait_for_text(page, f"{tab}-result")
        screenshot(page, tab)
    open_tab(page, "chat")
    page.get_by_text(get_task("chat").examples[0].input).first.click()
    page.locator("#chat-send").click()
    page.locator("#chat-persona-bot [data-testid=bot]").wait_for()
    screenshot(page, "chat")
    open_tab(page, "evaluate")  # the bare base on the first rows of the bundled test set
    choose(page, "evaluate-bundled", text("en", "evaluate.bundled_rows", rows=20))
    page.locator("#evaluate-run").click()
    expect(cells(page, "evaluate-metrics", "base")).to_have_count(1, timeout=ANSWER_MS)
    screenshot(page, "evaluate")
    open_tab(page, "train")
    choose(page, "train-example", "sentiment_reviews.csv")
    page.locator("#train-estimate").get_by_text("Estimated training time").wait_for()
    screenshot(page, "train")
    open_tab(page, "adapters")
    choose(page, "adapters-selected", "translation-en-es")
    page.locator("#adapters-card h1, #adapters-card h2").first.wait_for()
    screenshot(page, "adapters")
    open_tab(page, "gallery")
    page.locator("#class-test-set").get_by_text("bundled sentiment test set").wait_for()
    screenshot(page, "gallery")
    open_tab(page, "learn")
    expect(cells(page, "learn-sizes", "lora-r8")).to_have_count(1)
    screenshot(page, "learn")
    assert set(TABS) <= {path.stem for path in ARTIFACTS.glob("*.png")}
