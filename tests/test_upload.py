"""Tests for the upload data contract (finetune/data/upload.py). Fast, offline, files under tmp_path."""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from collections import Counter
from dataclasses import fields
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from finetune.data import problems as up  # noqa: E402
from finetune.data import (  # noqa: E402
    DataLimits, DataValidationError, LoadedData, Problem, escape_spreadsheet_cell,
    load_examples, load_examples_or_raise, read_jsonl, split_train_validation, write_jsonl,
)

from models.tasks import get_task, task_names  # noqa: E402

TASKS = task_names()
N = 12  # rows in the "valid" fixtures (min_rows is 10)


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def csv_text(header: list[str], rows: list[list[str]], delimiter: str = ",") -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter)
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def jsonl_text(objects: list) -> str:
    return "".join(json.dumps(o, ensure_ascii=False) + "\n" for o in objects)


def sentiment_rows(n: int = N) -> list[list[str]]:
    return [[f"review number {i}, quite {'good' if i % 2 else 'bad'}", "positive" if i % 2 else "negative"]
            for i in range(n)]


def valid_rows(task: str, n: int = N) -> list[dict]:
    a, b = get_task(task).columns
    if task == "sentiment":
        return [{a: t, b: lab} for t, lab in sentiment_rows(n)]
    return [{a: f"{a} number {i}", b: f"{b} number {i}"} for i in range(n)]


def expected_records(task: str, rows: list[dict]) -> list[dict]:
    if task == "chat":
        return [{"messages": [{"role": "user", "content": r["prompt"]},
                              {"role": "assistant", "content": r["response"]}]} for r in rows]
    return rows


def only(problems: list[Problem], pattern: str) -> Problem:
    hits = [p for p in problems if re.search(pattern, p.message, re.I)]
    assert len(hits) == 1, (pattern, problems)
    return hits[0]


def messages(data: LoadedData) -> str:
    return "\n".join(p.message for p in data.problems)


# ---------------------------------------------------------------------------- API shape

def test_public_constants_and_limits_help():
    assert TASKS == ("sentiment", "translation", "summarization", "chat")
    assert {task: get_task(task).columns for task in TASKS} == {
        "sentiment": ("text", "label"), "translation": ("source", "target"),
        "summarization": ("text", "summary"), "chat": ("prompt", "response")}
    limits = DataLimits()
    assert (limits.min_rows, limits.max_rows, limits.max_bytes, limits.max_cell_chars) == (10, 50_000, 50 << 20, 20_000)
    assert all(f.metadata.get("help") for f in fields(DataLimits))


def test_unknown_task_raises(tmp_path):
    path = write(tmp_path, "a.csv", csv_text(["text", "label"], sentiment_rows()))
    with pytest.raises(ValueError, match="Unknown task"):
        load_examples(path, "poetry")


# ---------------------------------------------------------------------------- valid files

@pytest.mark.parametrize("task", TASKS)
def test_valid_csv_every_task(tmp_path, task):
    rows = valid_rows(task)
    path = write(tmp_path, f"{task}.csv", csv_text(list(rows[0]), [list(r.values()) for r in rows]))
    data = load_examples(path, task)
    assert data.ok and data.problems == [], data.problems
    assert data.records == expected_records(task, rows)
    assert data.source_rows == N
    summary = data.summary()
    json.dumps(summary)
    assert summary["rows"] == N and summary["errors"] == 0 and summary["task"] == task
    if task == "sentiment":
        assert summary["labels"] == {"negative": 6, "positive": 6}


@pytest.mark.parametrize("task", TASKS)
def test_valid_jsonl_every_task(tmp_path, task):
    rows = valid_rows(task)
    data = load_examples(write(tmp_path, f"{task}.jsonl", jsonl_text(rows)), task)
    assert data.ok and data.problems == [], data.problems
    assert data.records == expected_records(task, rows)


def test_bundled_examples_load():
    examples = ROOT / "assets" / "examples"
    for name, task in [("sentiment_reviews.csv", "sentiment"), ("translation_en_es.csv", "translation"),
                       ("summarization.jsonl", "summarization"), ("chat_pirate.jsonl", "chat")]:
        data = load_examples(examples / name, task)
        assert data.ok and not data.problems, (name, data.problems)


def test_bundled_broken_example_reports_all_three_problems():
    data = load_examples(ROOT / "assets" / "examples" / "sentiment_broken.csv", "sentiment")
    assert not data.ok
    missing = only(data.errors, "missing")
    assert "'lable'" in missing.message and "'label'" in missing.message and missing.column == "label"
    empty = only(data.errors, "is empty")
    assert empty.row == 6 and empty.column == "text"  # header is line 1; the 5th data row is line 6
    once = only(data.errors, "only once")
    assert "'neutral'" in once.message and once.row == 14


def test_header_names_case_and_space_insensitive(tmp_path):
    path = write(tmp_path, "a.csv", csv_text(["Text ", " LABEL"], sentiment_rows()))
    data = load_examples(path, "sentiment")
    assert data.ok and data.problems == []
    assert data.records[0] == {"text": "review number 0, quite bad", "label": "negative"}


def test_cells_stripped_and_numeric_labels_are_strings(tmp_path):
    rows = [[f"  text {i}  ", f" {i % 2} "] for i in range(N)]
    data = load_examples(write(tmp_path, "a.csv", csv_text(["text", "label"], rows)), "sentiment")
    assert data.ok
    assert data.records[1] == {"text": "text 1", "label": "1"}


def test_tsv_and_txt_extensions(tmp_path):
    data = load_examples(write(tmp_path, "a.tsv", csv_text(["text", "label"], sentiment_rows(), "\t")), "sentiment")
    assert data.ok and len(data.records) == N
    data = load_examples(write(tmp_path, "a.txt", jsonl_text(valid_rows("translation"))), "translation")
    assert data.ok and len(data.records) == N
    data = load_examples(write(tmp_path, "b.txt", csv_text(["source", "target"], [[f"s{i}", f"t{i}"] for i in range(N)])),
                         "translation")
    assert data.ok and len(data.records) == N


def test_multiline_quoted_cells_keep_line_numbers(tmp_path):
    rows = sentiment_rows()
    rows[0][0] = "first line\nsecond line\r\nthird"
    rows[2][1] = ""
    data = load_examples(write(tmp_path, "a.csv", csv_text(["text", "label"], rows)), "sentiment")
    assert data.records[0]["text"] == "first line\nsecond line\nthird"
    # header line 1; row 0 spans lines 2-4; row 1 is line 5; row 2 is line 6
    assert only(data.errors, "empty").row == 6


# ---------------------------------------------------------------------------- encodings and binary

def test_utf8_bom_is_stripped(tmp_path):
    path = write(tmp_path, "a.csv", b"\xef\xbb\xbf" + csv_text(["text", "label"], sentiment_rows()).encode())
    data = load_examples(path, "sentiment")
    assert data.ok and data.problems == []


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_utf16_with_bom_is_read_with_warning(tmp_path, encoding):
    text = csv_text(["text", "label"], [["café ünïcode", "positive"]] + sentiment_rows())
    raw = text.encode(encoding) if encoding == "utf-16" else b"\xfe\xff" + text.encode(encoding)
    data = load_examples(write(tmp_path, "a.csv", raw), "sentiment")
    assert data.ok
    assert data.records[0]["text"] == "café ünïcode"
    assert "UTF-16" in only(data.warnings, "UTF-16").message


def test_latin1_file_is_refused_with_line_and_advice(tmp_path):
    rows = sentiment_rows()
    rows[3][0] = "un café très bon"
    path = write(tmp_path, "a.csv", csv_text(["text", "label"], rows).encode("latin-1"))
    data = load_examples(path, "sentiment")
    [error] = data.problems
    assert error.row == 5  # header line 1 + 4th data row
    assert "not UTF-8" in error.message and "save it as utf-8" in error.message.lower()
    assert "Latin-1" in error.message and "byte offset" in error.message and "'é'" in error.message
    assert data.records == []


def test_binary_file_renamed_csv(tmp_path):
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4
    data = load_examples(write(tmp_path, "photo.csv", png), "sentiment")
    [error] = data.problems
    assert "binary file, not CSV/JSONL" in error.message


def test_binary_without_nul_bytes(tmp_path):
    junk = bytes((i * 37 + 11) % 255 + 1 for i in range(4000))  # no NULs, not UTF-8, lots of control bytes
    data = load_examples(write(tmp_path, "junk.jsonl", junk), "chat")
    [error] = data.problems
    assert "binary file" in error.message


def test_excel_workbook_renamed_csv(tmp_path):
    data = load_examples(write(tmp_path, "book.csv", b"PK\x03\x04" + b"\x14\x00" * 50), "sentiment")
    [error] = data.problems
    assert "Excel" in error.message and "CSV UTF-8" in error.message


def test_control_characters_stripped_with_one_warning(tmp_path):
    rows = sentiment_rows()
    rows[0][0] = "bell\x07 and\x1b escape"
    rows[1][0] = "another\x0b one"
    data = load_examples(write(tmp_path, "a.csv", csv_text(["text", "label"], rows)), "sentiment")
    assert data.ok
    assert data.records[0]["text"] == "bell and escape" and data.records[1]["text"] == "another one"
    warning = only(data.warnings, "control characters were removed")
    assert warning.row == 2
    assert len([w for w in data.warnings if "control" in w.message]) == 2  # the first one plus a "same warning" note


# ---------------------------------------------------------------------------- empty / size / rows

@pytest.mark.parametrize("content", [b"", b"  \n\n\t  \r\n"])
def test_empty_file(tmp_path, content):
    data = load_examples(write(tmp_path, "a.csv", content), "sentiment")
    [error] = data.problems
    assert "empty" in error.message


@pytest.mark.parametrize("name,content", [("a.csv", "text,label\n"), ("a.csv", "text,label\n\n,\n"), ("a.json", "[]")])
def test_header_only(tmp_path, name, content):
    data = load_examples(write(tmp_path, name, content), "sentiment")
    [error] = data.problems
    assert "no data rows" in error.message and data.source_rows == 0


def test_missing_file_is_a_problem_not_an_exception(tmp_path):
    data = load_examples(tmp_path / "nope.csv", "sentiment")
    assert "Could not read" in only(data.errors, "").message


def test_file_over_max_bytes_is_refused_without_reading(tmp_path, monkeypatch):
    path = write(tmp_path, "big.csv", csv_text(["text", "label"], sentiment_rows(200)))
    opened = []
    real_open = open
    monkeypatch.setattr("builtins.open", lambda *a, **k: opened.append(a) or real_open(*a, **k))
    data = load_examples(path, "sentiment", DataLimits(max_bytes=1000))
    [error] = data.problems
    assert "1,000-byte limit" in error.message and data.records == []
    assert opened == []  # decided from os.stat alone


def test_more_than_max_rows(tmp_path):
    path = write(tmp_path, "a.csv", csv_text(["text", "label"], sentiment_rows(40)))
    data = load_examples(path, "sentiment", DataLimits(max_rows=25))
    error = only(data.errors, "more than 25 rows")
    assert error.row is None and data.source_rows == 25 and len(data.records) == 25
    data = load_examples(write(tmp_path, "a.jsonl", jsonl_text(valid_rows("translation", 40))), "translation",
                         DataLimits(max_rows=25))
    assert only(data.errors, "more than 25 rows") and data.source_rows == 25


def test_fewer_than_min_rows(tmp_path):
    data = load_examples(write(tmp_path, "a.csv", csv_text(["text", "label"], sentiment_rows(6))), "sentiment")
    error = only(data.errors, "usable")
    assert "Only 6 usable" in error.message and "at least 10" in error.message
    assert load_examples(write(tmp_path, "b.csv", csv_text(["text", "label"], sentiment_rows(6))), "sentiment",
                         DataLimits(min_rows=4)).ok


# ---------------------------------------------------------------------------- format detection

def test_semicolon_csv_is_parsed(tmp_path):
    """Decision: the delimiter is detected from the header (, ; tab |), so European-Excel files just work."""
    rows = sentiment_rows()
    rows[0][0] = "commas, inside; and semicolons"
    data = load_examples(write(tmp_path, "a.csv", csv_text(["text", "label"], rows, ";")), "sentiment")
    assert data.ok and data.problems == []
    assert data.records[0]["text"] == "commas, inside; and semicolons"


def test_pipe_csv_is_parsed(tmp_path):
    data = load_examples(write(tmp_path, "a.csv", csv_text(["source", "target"], [[f"a{i}", f"b{i}"] for i in range(N)], "|")),
                         "translation")
    assert data.ok and data.records[0] == {"source": "a0", "target": "b0"}


def test_unquoted_delimiter_in_cell(tmp_path):
    text = csv_text(["text", "label"], sentiment_rows()) + "I liked it, a lot,positive\n"
    data = load_examples(write(tmp_path, "a.csv", text), "sentiment")
    error = only(data.errors, "has 3 values")
    assert error.row == N + 2 and "double quotes" in error.message and "','" in error.message
    assert len(data.records) == N


def test_unbalanced_quote(tmp_path):
    text = csv_text(["text", "label"], sentiment_rows(3)) + '"never closed,positive\nmore,negative\n'
    data = load_examples(write(tmp_path, "a.csv", text), "sentiment", DataLimits(min_rows=1))
    error = only(data.errors, "never closed")
    assert error.row == 5 and "only 1 of 2 values" in error.message


def test_trailing_empty_columns_are_ignored(tmp_path):
    text = "text,label,,\n" + "".join(f"t{i},{'ab'[i % 2]},,\n" for i in range(N))
    data = load_examples(write(tmp_path, "a.csv", text), "sentiment")
    assert data.ok and data.problems == []


def test_json_array_file(tmp_path):
    rows = valid_rows("summarization")
    data = load_examples(write(tmp_path, "a.json", json.dumps(rows, indent=2)), "summarization")
    assert data.ok and data.records == rows
    rows[3]["summary"] = ""
    data = load_examples(write(tmp_path, "b.json", json.dumps(rows, indent=2)), "summarization")
    error = only(data.errors, "empty")
    assert error.row == 2 + 4 * 3 and error.column == "summary"  # "[" on line 1, each object spans 4 lines


def test_json_single_object_and_jsonl_with_json_extension(tmp_path):
    data = load_examples(write(tmp_path, "a.json", jsonl_text(valid_rows("translation"))), "translation")
    assert data.ok and len(data.records) == N
    data = load_examples(write(tmp_path, "b.json", json.dumps({"source": "a", "target": "b"}, indent=1)), "translation")
    assert data.records == [{"source": "a", "target": "b"}] and "Only 1 usable" in messages(data)


def test_broken_json_array(tmp_path):
    data = load_examples(write(tmp_path, "a.json", '[\n {"text": "a", "label": "b"},\n {"text": oops}\n]'), "sentiment")
    error = only(data.errors, "not valid JSON")
    assert "line 3" in error.message


def test_jsonl_bad_lines(tmp_path):
    lines = [json.dumps(r) for r in valid_rows("sentiment")]
    lines[2] = '{"text": "unterminated'
    lines[4] = '["a", "list"]'
    lines[5] = '"just a string"'
    lines.insert(7, "")  # blank lines are skipped but still counted
    data = load_examples(write(tmp_path, "a.jsonl", "\n".join(lines)), "sentiment")
    assert only(data.errors, "not valid JSON").row == 3
    assert only(data.errors, "found a list").row == 5
    assert only(data.errors, "found a string").row == 6
    assert data.source_rows == N and len(data.records) == N - 3


def test_deeply_nested_json_does_not_crash(tmp_path):
    data = load_examples(write(tmp_path, "a.jsonl", "[" * 100_000), "sentiment")
    assert not data.ok


# ---------------------------------------------------------------------------- columns

@pytest.mark.parametrize("task,header,missing,suggested", [
    ("sentiment", ["text", "lable"], "label", "lable"),
    ("sentiment", ["Review", "label"], "text", "Review"),
    ("sentiment", ["text", "Sentiment"], "label", "Sentiment"),
    ("translation", ["english", "target"], "source", "english"),
    ("translation", ["source", "spanish"], "target", "spanish"),
    ("summarization", ["txt", "summary"], "text", "txt"),
    ("chat", ["question", "answer"], "prompt", "question"),
    ("chat", ["prompt", "output"], "response", "output"),
])
def test_missing_column_suggests_closest(tmp_path, task, header, missing, suggested):
    data = load_examples(write(tmp_path, "a.csv", csv_text(header, [[f"a{i}", f"b{i}"] for i in range(N)])), task)
    error = only(data.errors, f"Column '{missing}' is missing")
    assert f"Did you mean '{suggested}'" in error.message and error.column == missing and error.row is None
    assert not data.ok


def test_missing_column_without_suggestion(tmp_path):
    data = load_examples(write(tmp_path, "a.csv", csv_text(["foo", "bar"], [["a", "b"]] * N)), "chat")
    errors = [p for p in data.errors if "missing" in p.message]
    assert [p.column for p in errors] == ["prompt", "response"]
    assert "'messages'" in errors[0].message and "'foo', 'bar'" in errors[0].message
    assert data.records == [] and "usable" not in messages(data)  # no noise after a missing column


def test_extra_columns_warning(tmp_path):
    data = load_examples(write(tmp_path, "a.csv", csv_text(["id", "text", "label", "Notes"],
                                                              [[str(i), *r, ""] for i, r in enumerate(sentiment_rows())])),
                         "sentiment")
    assert data.ok
    warning = only(data.warnings, "extra column")
    assert "'id'" in warning.message and "'Notes'" in warning.message


def test_duplicate_header_column(tmp_path):
    data = load_examples(write(tmp_path, "a.csv", csv_text(["text", "Text", "label"],
                                                              [["a", "b", "c"]] * N)), "sentiment")
    error = only(data.errors, "more than once")
    assert error.row == 1 and error.column == "text"


# ---------------------------------------------------------------------------- cells

def test_empty_cells_each_reported(tmp_path):
    rows = sentiment_rows()
    rows[2][0] = "   "
    rows[6][1] = ""
    data = load_examples(write(tmp_path, "a.csv", csv_text(["text", "label"], rows)), "sentiment")
    errors = [p for p in data.errors if "empty" in p.message]
    assert [(p.row, p.column) for p in errors] == [(4, "text"), (8, "label")]
    assert errors[1].message == "Line 8: column 'label' is empty. Fill it in or delete the row."
    assert len(data.records) == N - 2


def test_json_non_string_values(tmp_path):
    rows = [{"text": f"t{i}", "label": i % 2} for i in range(N)]
    rows[0]["label"] = True
    rows[1]["text"] = {"nested": "object"}
    rows[2]["text"] = ["a", "list"]
    rows[3]["text"] = None
    data = load_examples(write(tmp_path, "a.jsonl", jsonl_text(rows)), "sentiment")
    assert data.records[0] == {"text": "t0", "label": "true"}
    assert {r["label"] for r in data.records} == {"true", "0", "1"}
    assert only(data.errors, "holds an object").row == 2
    assert only(data.errors, "holds a list").row == 3
    assert only(data.errors, "is empty").row == 4
    converted = [w for w in data.warnings if "read as the text" in w.message]
    assert len(converted) == up.WARNING_CAP and converted[0].row == 1
    assert only(data.warnings, "applies to").message.startswith("The same warning")


def test_long_cell_is_refused(tmp_path):
    rows = sentiment_rows()
    rows[1][0] = "x" * 1_000_000
    data = load_examples(write(tmp_path, "a.csv", csv_text(["text", "label"], rows)), "sentiment")
    error = only(data.errors, "characters")
    assert error.row == 3 and "1,000,000 characters" in error.message and "20,000" in error.message
    assert len(data.records) == N - 1
    assert len(error.message) < 300


def test_token_limit_warning(tmp_path):
    rows = sentiment_rows()
    rows[4][0] = " ".join(["word"] * 50)
    path = write(tmp_path, "a.csv", csv_text(["text", "label"], rows))
    data = load_examples(path, "sentiment", count_tokens=lambda s: len(s.split()), max_tokens=20)
    warning = only(data.warnings, "truncated")
    assert warning.row == 6 and "50 tokens" in warning.message and "20 tokens" in warning.message
    assert data.ok and len(data.records) == N


def test_duplicates_dropped_with_lines(tmp_path):
    rows = sentiment_rows() + [sentiment_rows()[1], [" " + sentiment_rows()[3][0], sentiment_rows()[3][1]]]
    data = load_examples(write(tmp_path, "a.csv", csv_text(["text", "label"], rows)), "sentiment")
    warning = only(data.warnings, "duplicate")
    assert "line 14 (same as line 3)" in warning.message and "line 15 (same as line 5)" in warning.message
    assert warning.row == 14 and len(data.records) == N and data.ok


def test_formula_cells_kept_verbatim(tmp_path):
    formulas = ["=SUM(A1:A9)", "+1+2", "-3", "@cmd", "=HYPERLINK(\"http://x\")"]
    rows = [[f, "positive" if i % 2 else "negative"] for i, f in enumerate(formulas)] + sentiment_rows()
    data = load_examples(write(tmp_path, "a.csv", csv_text(["text", "label"], rows)), "sentiment")
    assert data.ok and [r["text"] for r in data.records[:5]] == formulas


def test_escape_spreadsheet_cell():
    assert escape_spreadsheet_cell("=SUM(A1)") == "'=SUM(A1)"
    assert [escape_spreadsheet_cell(v) for v in ("+1", "-1", "@x", "\tx")] == ["'+1", "'-1", "'@x", "'\tx"]
    assert escape_spreadsheet_cell("plain = text") == "plain = text"
    assert escape_spreadsheet_cell("") == ""


# ---------------------------------------------------------------------------- sentiment labels

def test_single_label_is_an_error(tmp_path):
    rows = [[f"text {i}", "positive"] for i in range(N)]
    data = load_examples(write(tmp_path, "a.csv", csv_text(["text", "label"], rows)), "sentiment")
    error = only(data.errors, "two different labels")
    assert "'positive'" in error.message and error.column == "label"


def test_label_with_one_example(tmp_path):
    rows = sentiment_rows() + [["meh", " neutral "]]
    data = load_examples(write(tmp_path, "a.csv", csv_text(["text", "label"], rows)), "sentiment")
    error = only(data.errors, "only once")
    assert error.row == N + 2 and "'neutral'" in error.message


# ---------------------------------------------------------------------------- chat

def chat_rows(n: int = N) -> list[dict]:
    return [{"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]}
            for i in range(n)]


def test_chat_messages_valid_with_system(tmp_path):
    rows = chat_rows()
    rows[0]["system"] = "Be a pirate."
    rows[1]["messages"].insert(0, {"role": "System", "content": "Be terse."})
    rows[2]["messages"] += [{"role": "user", "content": "more"}, {"role": "assistant", "content": "ok"}]
    data = load_examples(write(tmp_path, "a.jsonl", jsonl_text(rows)), "chat")
    assert data.ok and data.problems == [], data.problems
    assert data.records[0]["messages"][0] == {"role": "system", "content": "Be a pirate."}
    assert data.records[1]["messages"][0] == {"role": "system", "content": "Be terse."}
    assert len(data.records[2]["messages"]) == 4
    summary = data.summary()
    assert summary["avg_turns"] > 2 and set(summary["avg_chars"]) == {"system", "user", "assistant"}


def test_chat_prompt_response_with_system_column(tmp_path):
    rows = [[f"q{i}", f"a{i}", "Be brief." if i == 0 else ""] for i in range(N)]
    data = load_examples(write(tmp_path, "a.csv", csv_text(["prompt", "response", "system"], rows)), "chat")
    assert data.ok and data.problems == []
    assert [m["role"] for m in data.records[0]["messages"]] == ["system", "user", "assistant"]
    assert [m["role"] for m in data.records[1]["messages"]] == ["user", "assistant"]


@pytest.mark.parametrize("messages_value,pattern", [
    ([{"role": "user", "content": "hi"}], "must end with an assistant"),
    ([{"role": "assistant", "content": "hi"}], "message 1 is from 'assistant' but 'user'"),
    ([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}, {"role": "assistant", "content": "c"}],
     "message 2 is from 'user' but 'assistant'"),
    ([{"role": "user", "content": "a"}, {"role": "system", "content": "s"}, {"role": "assistant", "content": "c"}],
     "message 2 is from 'system'"),
    ([{"role": "bot", "content": "a"}], "role 'bot'"),
    ([{"role": "user", "content": " "}, {"role": "assistant", "content": "x"}], "message 1's content is empty"),
    ([{"role": "user", "content": ["x"]}, {"role": "assistant", "content": "x"}], "message 1's content holds a list"),
    (["hello", {"role": "assistant", "content": "x"}], "message 1 is not an object"),
    ([], "non-empty list"),
    ("hello", "non-empty list"),
])
def test_chat_messages_errors(tmp_path, messages_value, pattern):
    rows = chat_rows()
    rows[3]["messages"] = messages_value
    data = load_examples(write(tmp_path, "a.jsonl", jsonl_text(rows)), "chat")
    error = only(data.errors, re.escape(pattern))
    assert error.row == 4 and error.column == "messages"
    assert len(data.records) == N - 1


def test_chat_system_field_and_system_message_conflict(tmp_path):
    rows = chat_rows()
    rows[0]["system"] = "A"
    rows[0]["messages"].insert(0, {"role": "system", "content": "B"})
    data = load_examples(write(tmp_path, "a.jsonl", jsonl_text(rows)), "chat")
    assert only(data.errors, "keep only one").row == 1


def test_chat_messages_missing_in_some_rows(tmp_path):
    rows = chat_rows()
    rows[5] = {"prompt": "q", "response": "a"}
    data = load_examples(write(tmp_path, "a.jsonl", jsonl_text(rows)), "chat")
    assert only(data.errors, "non-empty list").row == 6
    assert "'prompt', 'response'" in only(data.warnings, "extra column").message


# ---------------------------------------------------------------------------- raising variant

def test_load_examples_or_raise(tmp_path):
    good = write(tmp_path, "good.csv", csv_text(["text", "label"], sentiment_rows()))
    assert load_examples_or_raise(good, "sentiment").ok
    rows = [["", "x"]] * 80 + sentiment_rows()
    bad = write(tmp_path, "bad.csv", csv_text(["text", "label", "extra"], [r + ["e"] for r in rows]))
    with pytest.raises(DataValidationError) as info:
        load_examples_or_raise(bad, "sentiment")
    text = str(info.value)
    assert isinstance(info.value, ValueError) and len(info.value.problems) > 50
    assert "Line 2: column 'text' is empty" in text and "and 31 more" in text  # 80 errors + 1 warning - 50 shown
    assert len(text.splitlines()) == 1 + 50 + 1


# ---------------------------------------------------------------------------- split

def test_split_deterministic_and_complete():
    records = valid_rows("translation", 50)
    train, val = split_train_validation(records, "translation", 0.2, seed=3)
    assert (train, val) == split_train_validation(records, "translation", 0.2, seed=3)
    assert len(val) == 16 and len(train) == 34  # a third (16) beats 20% (10): under 30, that is the floor
    assert sorted(map(json.dumps, train + val)) == sorted(map(json.dumps, records))
    assert split_train_validation(records, "translation", 0.2, seed=4) != (train, val)


def test_split_min_validation_and_never_empty_train():
    records = valid_rows("summarization", 3)
    assert [len(x) for x in split_train_validation(records, "summarization", 0.1)] == [1, 2]
    assert [len(x) for x in split_train_validation(records[:1], "summarization", 0.5)] == [1, 0]
    assert split_train_validation(records, "summarization", 0.0) == (records, [])
    with pytest.raises(ValueError):
        split_train_validation(records, "summarization", 1.0)


def test_split_stratified_for_sentiment():
    records = ([{"text": f"p{i}", "label": "positive"} for i in range(60)]
               + [{"text": f"n{i}", "label": "negative"} for i in range(30)]
               + [{"text": f"u{i}", "label": "neutral"} for i in range(2)]
               + [{"text": "once", "label": "rare"}])
    train, val = split_train_validation(records, "sentiment", 0.4, seed=0)
    counts = Counter(r["label"] for r in val)
    assert len(val) == round(len(records) * 0.4)
    assert counts["positive"] == 24 and counts["negative"] == 12 and counts["neutral"] == 1 and counts["rare"] == 0
    assert {r["label"] for r in train} == {"positive", "negative", "neutral", "rare"}


@pytest.mark.parametrize("rows, fraction, held_out", [
    (80, 0.1, 26),    # 10% would be 8: a third of the rows instead, short of 30
    (200, 0.1, 30),   # 10% would be 20: 30, the fewest worth trusting
    (500, 0.1, 50),   # the fraction, once it gives more than 30
    (12, 0.1, 4),     # a third of a small file: two thirds stay to train on
    (4, 0.1, 2),      # never fewer than two
])
def test_split_holds_out_enough_rows_to_trust(rows, fraction, held_out):
    records = valid_rows("translation", rows)
    train, val = split_train_validation(records, "translation", fraction)
    assert (len(train), len(val)) == (rows - held_out, held_out)


def test_split_sentiment_small_labels_keep_one_in_train():
    records = [{"text": f"{label}{i}", "label": label} for label in "abcde" for i in range(2)]
    train, val = split_train_validation(records, "sentiment", 0.9, seed=1)
    assert Counter(r["label"] for r in train) == Counter("abcde") and len(val) == 5


# ---------------------------------------------------------------------------- jsonl helpers

def test_read_write_jsonl_roundtrip(tmp_path):
    rows = [{"text": "héllo ✓", "n": 1}, {"text": "x"}]
    path = tmp_path / "sub" / "a.jsonl"
    write_jsonl(path, rows)
    assert read_jsonl(path) == rows and "héllo ✓" in path.read_text(encoding="utf-8")
    path.write_text(path.read_text() + "{oops\n", encoding="utf-8")
    with pytest.raises(ValueError, match=":3:"):
        read_jsonl(path)


# ---------------------------------------------------------------------------- properties

def normalize_cell(text: str) -> str:
    """What the loader promises for a text cell: newlines unified, control characters dropped, stripped."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]", "", text).strip()


FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FAST
@given(rows=st.lists(st.tuples(st.text(max_size=40), st.sampled_from(["pos", "neg", " pos", "=1", ""]) | st.text(max_size=5)),
                     min_size=0, max_size=25))
def test_property_csv_roundtrip_or_problems(tmp_path, rows):
    path = write(tmp_path, "p.csv", csv_text(["text", "label"], [list(r) for r in rows]))
    data = load_examples(path, "sentiment", DataLimits(min_rows=1))
    if data.ok:
        expected, seen = [], set()
        for text, label in rows:
            record = {"text": normalize_cell(text), "label": normalize_cell(label)}
            key = json.dumps(record, sort_keys=True)
            if any(record.values()) and key not in seen:
                seen.add(key)
                expected.append(record)
        assert data.records == expected
    else:
        assert data.errors


@FAST
@given(content=st.binary(max_size=600), name=st.sampled_from(["x.csv", "x.jsonl", "x.json", "x.txt"]),
       task=st.sampled_from(TASKS))
def test_property_arbitrary_bytes_never_raise(tmp_path, content, name, task):
    data = load_examples(write(tmp_path, name, content), task)
    assert isinstance(data, LoadedData)
    json.dumps(data.summary())
    assert all(p.severity in ("error", "warning") and p.message for p in data.problems)


@FAST
@given(objects=st.lists(st.one_of(
    st.dictionaries(st.sampled_from(["text", "label", "messages", "prompt", "response", "system", "Text "]),
                    st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
                                 lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                                     st.sampled_from(["role", "content"]), inner, max_size=2), max_leaves=6)),
    st.text(max_size=5), st.integers()), max_size=15), task=st.sampled_from(TASKS))
def test_property_arbitrary_json_never_raises(tmp_path, objects, task):
    data = load_examples(write(tmp_path, "x.jsonl", jsonl_text(objects)), task)
    json.dumps(data.summary())
    assert data.ok or data.errors
