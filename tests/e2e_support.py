"""What the browser tests share: the app on the tiny models in this process, Debian's Chromium driven by
Playwright (its own browser download needs the internet), and helpers to drive gradio's components.

A test module imports the fixtures it uses (`from e2e_support import app_url, browser, jobs, page`):
each module gets its own app server and job queue. Screenshots go to test-artifacts/ at the
repository root, one per language where a test shows something on screen.
"""

from __future__ import annotations

import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
from playwright.sync_api import expect

from conftest import make_adapter, serve_app
from finetune.jobs import JobQueue
from models.adapters import workspace_dir

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
EXAMPLES = ROOT / "assets" / "examples"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]
TABS = ("translate", "sentiment", "summarize", "chat", "evaluate", "train", "adapters", "gallery", "learn")
ANSWER_MS = 60_000  # a tiny model answers in a second; the margin is for a busy machine
JOB_MS = 240_000  # spawning a training worker imports torch afresh
# Gradio's client closes its event stream on `beforeunload` (a reload, closing the page), which the
# browser reports as this error: it is the page leaving, not a fault.
UNLOAD_ABORT = "AbortError: signal is aborted without reason"


@pytest.fixture(scope="module")
def jobs(tiny_models):
    queue = JobQueue()
    yield queue
    queue.close()


@pytest.fixture(scope="module")
def app_url(tiny_models, jobs):
    with serve_app(jobs) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip("Debian's chromium is not installed (make browser)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, app_url, request):
    """The app in a fresh browser profile (so a new workspace); every test ends without browser errors.
    A test can open it at an address of its own (`parametrize("page", ["?lang=vi"], indirect=True)`):
    leaving a page that is still loading cuts its events off, which the browser reports as errors."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    context.set_default_timeout(ANSWER_MS)
    expect.set_options(timeout=ANSWER_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error"
            and not message.text.startswith(UNLOAD_ABORT) else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(app_url + getattr(request, "param", ""))
    page.wait_for_selector("#translate-input textarea")
    yield page
    seen = list(errors)  # before closing: a closing page's broken connections are no fault of the app
    context.close()
    assert seen == []


# ---------------------------------------------------------------------------------------------- helpers

def open_tab(page, tab: str) -> None:
    page.locator(f"button[role=tab][data-tab-id={tab}]").click()


def choose(page, elem_id: str, option: str) -> None:
    """Pick an option of a gr.Dropdown by its label."""
    page.locator(f"#{elem_id} input").click()
    # the options of this dropdown: another's list, re-opened by a refresh of its choices, may show too
    page.locator(f"#{elem_id}").get_by_role("option", name=option, exact=True).click()
    page.wait_for_function("([id, value]) => document.querySelector(`#${id} input`).value === value",
                           arg=[elem_id, option])


def textbox(page, elem_id: str):
    return page.locator(f"#{elem_id} textarea")


def wait_for_text(page, elem_id: str) -> str:
    """The text a result textbox shows once an answer arrived."""
    page.wait_for_function("id => document.querySelector(`#${id} textarea`).value.trim() !== ''", arg=elem_id)
    return textbox(page, elem_id).input_value()


def table_rows(page, elem_id: str) -> int:
    """How many rows a gr.Dataframe holds (it draws only the visible ones)."""
    return int(page.locator(f"#{elem_id} [role=grid]").get_attribute("aria-rowcount")) - 1


def cells(page, elem_id: str, value: str):
    """The cells of a gr.Dataframe that show exactly this text."""
    return page.locator(f"#{elem_id}").get_by_role("gridcell", name=value, exact=True)


@contextmanager
def another_page(page) -> Iterator:
    """A second page of the same browser: same workspace, same remembered settings. Not a reload:
    that would cut off events still running, and the page would log their broken connections."""
    again = page.context.new_page()
    again.goto(page.url)
    try:
        yield again
    finally:
        again.close()


def workspace(page) -> str:
    """This browser's workspace id, as the Adapters tab shows it."""
    open_tab(page, "adapters")
    return page.locator("#adapters-workspace code").first.inner_text()


def add_adapter(page, base: str, task: str, name: str, **kwargs) -> str:
    """An adapter in this browser's workspace; the picker label it gets (★ = yours)."""
    make_adapter(base, task, workspace_dir(workspace(page)) / name, seed=21, **kwargs)
    return f"★ {name}"


def send_in_compare_mode(page, message: str, persona: str = "e2e-persona") -> None:
    """Persona chat in compare mode with a tiny persona of this browser's: one message sent."""
    option = add_adapter(page, "tiny-llama", "chat", persona)
    open_tab(page, "chat")
    choose(page, "chat-persona", option)
    page.locator("#chat-compare input").check()
    textbox(page, "chat-input").fill(message)
    page.locator("#chat-send").click()


def wait_until(condition, timeout_s: float, message: str):
    deadline = time.monotonic() + timeout_s
    while not (value := condition()):
        assert time.monotonic() < deadline, message
        time.sleep(0.2)
    return value


def set_language(page, language: str) -> None:
    """Switch the page's language with the radio at the top (the choice is remembered by the browser)."""
    from ui.i18n import LANGUAGES

    page.locator("#language").get_by_text(LANGUAGES[language], exact=True).click()


def screenshot(page, name: str) -> None:
    """The whole page as test-artifacts/<name>.png (name it after the language too: `learn-vi`)."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.wait_for_timeout(300)  # let the last update finish drawing
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
