"""Every message a user can meet exists in every language, asks for the same arguments, and is shown
in the page's language while the CLI keeps English."""

from __future__ import annotations

import importlib
import re
import string
from pathlib import Path

import pytest

import finetune.catalogue  # noqa: F401
from finetune.config import ConfigError, make_config
from finetune.data import DataValidationError, load_examples, load_examples_or_raise
from models.messages import CATALOGUES, LANGUAGES, LocalizedError, error_text, render, say


def _catalogue_modules() -> None:
    """Import every package's catalogue (a missing one fails the test rather than passing it by)."""
    for package in ("finetune", "models"):
        importlib.import_module(f"{package}.catalogue")


def _fields(template: str) -> set[str]:
    return {name.split(".")[0].split("[")[0] for _, name, _, _ in string.Formatter().parse(template) if name}


def test_every_key_is_in_every_language_with_the_same_arguments():
    _catalogue_modules()
    english = CATALOGUES["en"]
    assert len(english) > 60
    for language in LANGUAGES:
        table = CATALOGUES[language]
        assert set(table) == set(english), (language, sorted(set(english) ^ set(table)))
        for key, template in table.items():
            assert _fields(template) == _fields(english[key]), (language, key)


def test_a_missing_translation_is_caught(monkeypatch):
    """The check above fails when a language lacks a key (it is not vacuous)."""
    monkeypatch.setitem(CATALOGUES, "vi", {k: v for k, v in CATALOGUES["vi"].items() if k != "data.empty"})
    with pytest.raises(AssertionError):
        test_every_key_is_in_every_language_with_the_same_arguments()


def test_nested_phrases_are_said_in_the_language_of_their_sentence():
    message = say("data.empty_cell", what=say("data.column", column="text"))
    assert message.text("en") == "column 'text' is empty. Fill it in or delete the row."
    assert message.text("vi") == "cột 'text' đang trống. Hãy điền vào hoặc xoá dòng này."
    assert render("data.line", "vi", {"line": 3, "message": "x"}) == "Dòng 3: x"


def test_upload_problems_in_vietnamese_and_english(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text("text,label\n" + "".join(f"review {i},positive\n" for i in range(12)), encoding="utf-8")
    data = load_examples(path, "sentiment")
    (problem,) = data.errors
    assert problem.message == ("Sentiment needs at least two different labels (e.g. 'positive' and 'negative'); "
                               "found only 'positive'.")
    assert problem.text("vi") == ("Sentiment cần ít nhất hai nhãn khác nhau (ví dụ 'positive' và 'negative'); "
                                  "tìm thấy chỉ có 'positive'.")
    with pytest.raises(DataValidationError) as raised:
        load_examples_or_raise(path, "sentiment")
    assert str(raised.value).startswith("The data file has 1 error(s):")
    assert raised.value.text("vi").startswith("Tệp dữ liệu có 1 lỗi:")


def test_setting_errors_in_vietnamese():
    with pytest.raises(ConfigError) as raised:
        make_config("sentiment", rank=0, learning_rate=2.0)
    assert str(raised.value) == "learning_rate must be in (0, 1] (got 2.0); rank must be 1..256 (got 0)."
    assert error_text(raised.value, "vi") == ("learning_rate phải thuộc (0, 1] (nhận được 2.0); rank phải 1..256 "
                                              "(nhận được 0).")
    assert isinstance(raised.value, (ValueError, LocalizedError))
    assert error_text(ValueError("plain"), "vi") == "plain"  # an error without a key keeps its words


def test_no_module_raises_a_message_key_that_is_not_in_the_catalogue():
    """A key typed wrong would raise KeyError where the user expected a message."""
    _catalogue_modules()
    root = Path(__file__).resolve().parents[1]
    used = set()
    for folder in ("finetune", "models", "ui"):
        for path in (root / folder).rglob("*.py"):
            used |= set(re.findall(r"""(?:say|error|warn|Error)\(\s*"((?:data|config|model|adapter|job"""
                                   r"""|inference|registry)\.[a-z_.0-9]+)\"""", path.read_text(encoding="utf-8")))
    assert used and used <= set(CATALOGUES["en"]), sorted(used - set(CATALOGUES["en"]))


def test_a_jobs_progress_is_said_in_the_pages_language():
    """The worker reports progress in a Message; the Train tab says it in the page's language (the CLI
    and the API keep the English), also after it crossed from the worker process as a dict."""
    from dataclasses import asdict

    from finetune.progress import Progress

    progress = Progress()
    progress.tell("loading", say("job.loading", model="google/gemma-3-270m"))
    crossed = Progress(**asdict(progress))
    assert crossed.message == "Loading google/gemma-3-270m"
    assert crossed.message_text("vi") == "Đang tải google/gemma-3-270m"
    crossed.tell("failed", "ValueError: something unforeseen")  # an unexpected error stays as it was said
    assert crossed.message_text("vi") == "ValueError: something unforeseen" and not crossed.message_key

