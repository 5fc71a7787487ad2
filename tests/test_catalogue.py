"""The bad-input catalogue (issue #7, RELIABILITY.md): one test per case, each checking the exact
message the user gets and that the app still answers a normal request afterwards.

Four groups: data uploads (checked with the limits the Train tab uses, `Settings().limits`, or the
demo ones), adapter zips (imported into a workspace, then used through the API), text sent to the
four task endpoints (through gradio_client, against the app running here on the tiny models), and
training settings. Huge inputs (a million rows, 200 MB, a zip bomb) are generated here and must be
refused early: the tests check that the reader stopped, not just that it said no.
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
import tracemalloc
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import adapter_files, make_adapter, zip_with
from finetune.config import ConfigError, make_config
from finetune.data import LoadedData, load_examples, reading
from finetune.data.problems import Report
from models.adapters import AdapterError, import_zip, workspace_dir
from ui.common import Settings

WORKSPACE = "catalogue"
APP_LIMITS = Settings().limits  # what the Train tab checks uploads with (no demo mode)


@pytest.fixture(scope="module")
def client(app_client):
    return app_client[0]


def still_serving(client) -> None:
    """A normal request after the bad one gets a normal answer."""
    probabilities = client.predict("I loved this movie, it was wonderful.", api_name="/sentiment")
    assert set(probabilities) == {"negative", "positive"}


def messages(data: LoadedData) -> str:
    return "\n".join(f"{p.severity}: {p.message}" for p in data.problems)


# ============================================================================ uploads

def rows_csv(n: int, header: str = "text,label", row: Callable[[int], str] | None = None) -> str:
    row = row or (lambda i: f"review number {i} was {'good' if i % 2 else 'bad'},{'positive' if i % 2 else 'negative'}")
    return header + "\n" + "".join(row(i) + "\n" for i in range(n))


def rows_jsonl(rows: list[Any]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def good_rows(n: int = 12) -> list[dict[str, Any]]:
    return [{"text": f"review number {i}", "label": "positive" if i % 2 else "negative"} for i in range(n)]


def with_row(index: int, value: Any) -> list[Any]:
    rows: list[Any] = good_rows()
    rows[index] = value
    return rows


def sparse_file(size: int) -> Callable[[Path], None]:
    """A file of `size` bytes that takes no disk space (and no time) to make."""
    def write(path: Path) -> None:
        with open(path, "wb") as handle:
            handle.truncate(size)
    return write


@dataclass(frozen=True)
class Upload:
    id: str
    name: str  # the extension picks the format, as in the app
    content: str | bytes | Callable[[Path], None]
    expect: str  # a regex the problem list must match
    usable: bool = False  # warnings only: the file can be trained on
    task: str = "sentiment"
    demo: bool = False

    def write(self, path: Path) -> None:
        if callable(self.content):
            self.content(path)
        else:
            path.write_bytes(self.content.encode("utf-8") if isinstance(self.content, str) else self.content)


QUOTE = '"'
LATIN1 = ("text,label\n" + "".join(f"caf\u00e9 cr\u00e8me {i},{'positive' if i % 2 else 'negative'}\n"
                                   for i in range(12))).encode("latin-1")
UPLOADS = [
    Upload("U01-empty-file", "a.csv", b"", r"error: The file is empty\. Upload a file with a header and at least 10"),
    Upload("U02-blank-lines-only", "a.csv", " \n\n\t\r\n", r"error: The file is empty"),
    Upload("U03-header-only", "a.csv", "text,label\n", r"error: The file has no data rows \(only a header"),
    Upload("U04-binary-renamed-csv", "a.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8,
           r"error: This looks like a binary file, not CSV/JSONL text"),
    Upload("U05-excel-workbook-renamed-csv", "a.csv", b"PK\x03\x04" + bytes(200),
           r"error: This looks like an Excel workbook .* 'CSV UTF-8'"),
    Upload("U06-latin-1", "a.csv", LATIN1, r"error: Line 2: the file is not UTF-8 text \(byte 0xE9 .* probably 'é'\)"
                                           r".*Latin-1/Windows-1252"),
    Upload("U07-utf-16", "a.csv", rows_csv(12).encode("utf-16"), r"warning: The file is UTF-16 encoded; it was read fine",
           usable=True),
    Upload("U08-utf-8-bom", "a.csv", b"\xef\xbb\xbf" + rows_csv(12).encode(), r"^$", usable=True),
    Upload("U09-semicolon-delimiter", "a.csv", rows_csv(12, "text;label", lambda i: f"r {i}, fine;{'ab'[i % 2]}"),
           r"^$", usable=True),
    Upload("U10-space-delimiter", "a.csv", rows_csv(12, "text label", lambda i: f"r{i} {'ab'[i % 2]}"),
           r"error: Column 'text' is missing \(columns found: 'text label'\)\. The sentiment task needs columns "
           r"'text' and 'label'\."),
    Upload("U11-missing-column", "a.csv", rows_csv(12, "text", lambda i: f"review {i}"),
           r"error: Column 'label' is missing \(columns found: 'text'\)"),
    Upload("U12-misspelled-column", "a.csv", rows_csv(12, "text,lable"),
           r"error: Column 'label' is missing .* Did you mean 'lable'\? Rename that column to 'label'\."),
    Upload("U13-extra-columns", "a.csv", rows_csv(12, "id,text,label,notes", lambda i: f"{i},review {i},{'ab'[i % 2]},x"),
           r"warning: Ignoring extra column\(s\) 'id', 'notes'; the sentiment task only uses text, label", usable=True),
    Upload("U14-empty-cells", "a.csv", rows_csv(12, row=lambda i: f"review {i},{'' if i == 3 else 'ab'[i % 2]}"),
           r"error: Line 5: column 'label' is empty\. Fill it in or delete the row\."),
    Upload("U15-one-class-only", "a.csv", rows_csv(12, row=lambda i: f"review {i},positive"),
           r"error: Sentiment needs at least two different labels .* found only 'positive'"),
    Upload("U16-one-megabyte-cell", "a.csv",
           rows_csv(12, row=lambda i: f"{'x' * (1 << 20) if i == 0 else i},{'ab'[i % 2]}"),
           r"error: Line 2: column 'text' has 1,048,576 characters; the limit is 20,000\."),
    Upload("U17-unclosed-quote", "a.csv",
           rows_csv(12, row=lambda i: f"{QUOTE if i == 4 else ''}review {i},{'ab'[i % 2]}"),
           r"error: Line 6: .*a double quote is never closed"),
    Upload("U18-jsonl-broken-line", "a.jsonl",
           rows_jsonl(good_rows()).replace('{"text": "review number 2"', '{"text: "', 1),
           r"error: Line 3: this line is not valid JSON\. Each line must hold one object"),
    Upload("U19-json-not-an-object", "a.jsonl", rows_jsonl(with_row(4, ["review", "positive"])),
           r"error: Line 5: expected a JSON object like \{\"column\": \"value\", \.\.\.\}, found a list\."),
    Upload("U20-json-array-broken", "a.json", json.dumps(good_rows(), indent=1).replace("},", "}", 1),
           r"error: The file is not valid JSON: Expecting ',' delimiter \(line 6, column 2\)\."),
    Upload("U21-nested-values", "a.jsonl", rows_jsonl(with_row(2, {"text": {"title": "x", "body": "y"}, "label": "a"})),
           r"error: Line 3: column 'text' holds an object, but plain text is expected\."),
    Upload("U22-numbers-for-text", "a.jsonl", rows_jsonl([{"text": 1000 + i, "label": i % 2} for i in range(12)]),
           r"warning: Line 1: column 'text' holds a JSON number/boolean; it was read as the text '1000'\.",
           usable=True),
    Upload("U23-duplicate-rows", "a.csv", rows_csv(12) + "review number 1 was good,positive\n",
           r"warning: 1 duplicate row\(s\) were dropped: line 14 \(same as line 3\)\.", usable=True),
    Upload("U24-control-characters", "a.csv", rows_csv(12, row=lambda i: f"review\x07 {i}\x1b,{'ab'[i % 2]}"),
           r"warning: Line 2: invisible control characters were removed from the text\.", usable=True),
    Upload("U25-200-megabyte-file", "a.csv", sparse_file(200 * 1024 * 1024),
           r"error: The file is larger than the 52,428,800-byte limit\. Upload a smaller file"),
    Upload("U26-demo-3-megabyte-file", "a.csv", sparse_file(3 * 1024 * 1024),
           r"error: The file is larger than the 2,097,152-byte limit", demo=True),
    Upload("U27-demo-2001-rows", "a.csv", rows_csv(2_001),
           r"error: The file has more than 2,000 rows; the limit is 2,000\.",
           demo=True),
    Upload("U28-chat-bad-turns", "a.jsonl", rows_jsonl(
        [{"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]}
         for i in range(11)] + [{"messages": [{"role": "assistant", "content": "hi"}]}]),
           r"error: Line 12: message 1 is from 'assistant' but 'user' was expected", task="chat"),
]


@pytest.mark.parametrize("case", UPLOADS, ids=lambda case: case.id)
def test_upload(case: Upload, tmp_path, client, monkeypatch):
    path = tmp_path / case.name
    case.write(path)
    monkeypatch.setenv("LORA_PLAYGROUND_DEMO", "1" if case.demo else "0")
    data = load_examples(path, case.task, Settings.from_env().limits)
    assert re.search(case.expect, messages(data), re.S), messages(data)
    assert data.ok is case.usable
    json.dumps(data.summary())  # what goes into the adapter's metadata stays serialisable
    still_serving(client)


def million_rows(path: Path) -> None:
    """A million short sentiment rows in the format the file's extension names (9-33 MB)."""
    if path.suffix == ".csv":
        body = "text,label\n" + "".join(f"r{i},{'ab'[i % 2]}\n" for i in range(1_000_000))
    else:
        objects = [f'{{"text": "r{i}", "label": "{"ab"[i % 2]}"}}' for i in range(1_000_000)]
        body = "\n".join(objects) + "\n" if path.suffix == ".jsonl" else "[\n" + ",\n".join(objects) + "\n]\n"
    path.write_text(body, encoding="utf-8")


@pytest.mark.parametrize("name", ["U29-million-rows.csv", "U30-million-rows.jsonl", "U31-million-rows.json"])
def test_a_million_rows_are_refused_after_the_limit(name, tmp_path, client):
    """The reader stops at max_rows + 1 and never holds the file in more than about twice its size
    (before the fix: a JSON array was parsed whole, 9x its size; CSV copied at 4 bytes a character).
    The app's byte limit with the demo's row limit: the rows read before stopping then weigh little
    next to the file, so the bound is sharp (and tracemalloc, which is slow, has little to trace)."""
    path = tmp_path / name
    million_rows(path)
    limits = replace(APP_LIMITS, max_rows=2_000)
    tracemalloc.start()
    try:
        data = load_examples(path, "sentiment", limits)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    limit = limits.max_rows
    assert f"The file has more than {limit:,} rows; the limit is {limit:,}. Split it or remove rows." in messages(data)
    assert data.source_rows == limit and not data.ok
    assert peak < 2.2 * path.stat().st_size + (8 << 20), (peak >> 20, path.stat().st_size >> 20)
    still_serving(client)


def test_a_200_megabyte_file_is_refused_without_opening_it(tmp_path, client, monkeypatch):
    path = tmp_path / "huge.csv"
    sparse_file(200 * 1024 * 1024)(path)
    opened: list[Any] = []
    monkeypatch.setattr("builtins.open", lambda *args, **kwargs: opened.append(args))
    data = load_examples(path, "sentiment", APP_LIMITS)
    assert "larger than the 52,428,800-byte limit" in messages(data) and opened == []
    monkeypatch.undo()
    still_serving(client)


FORMULAS = ["=HYPERLINK(\"http://evil.example\",\"click\")", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)",
            "=1+1"]


def test_formula_cells_are_kept_as_text_and_shown_escaped(tmp_path, client):
    """Cells a spreadsheet would run as formulas are data: loaded verbatim, never evaluated, and every
    table that shows them (which has a copy-as-CSV button) shows them with a leading apostrophe."""
    from ui.train import preview_table, samples_frame

    rows = [[f, "ab"[i % 2]] for i, f in enumerate(FORMULAS)] + [[f"review {i}", "ab"[i % 2]] for i in range(10)]
    path = tmp_path / "formulas.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([["text", "label"], *rows])
    data = load_examples(path, "sentiment", APP_LIMITS)
    assert data.ok and [r["text"] for r in data.records[:5]] == FORMULAS

    shown = preview_table(data)["text"].tolist()[:5]
    assert shown == ["'" + f for f in FORMULAS]
    sample = {"input": FORMULAS[0], "reference": FORMULAS[3], "prediction": "=2"}
    frame = samples_frame({"metrics": {"base": {"samples": [sample]}, "adapter": {"samples": [sample]}}}, "en")
    assert all(not str(cell).startswith(("=", "+", "-", "@")) for cell in frame.iloc[0])
    still_serving(client)


# ============================================================================ adapter zips

@pytest.fixture(scope="module")
def llama_files(tiny_models, tmp_path_factory) -> dict[str, bytes]:
    folder = make_adapter("tiny-llama", "translation", tmp_path_factory.mktemp("zips") / "good", seed=21)
    return adapter_files(folder)


def edited(files: dict[str, bytes], name: str, change: Callable[[dict], None]) -> dict[str, bytes]:
    """A copy of the files with one JSON file changed."""
    value = json.loads(files[name])
    change(value)
    return {**files, name: json.dumps(value).encode()}


def corrupt(files: dict[str, bytes]) -> dict[str, bytes]:
    weights = bytearray(files["adapter_model.safetensors"])
    return {**files, "adapter_model.safetensors": bytes(weights[: len(weights) // 2])}


ZIPS: list[tuple[str, Callable[[dict[str, bytes]], dict[str, bytes]], str]] = [
    ("A01-zip-slip", lambda f: {**f, "../../escaped.txt": b"owned"},
     r"\.\./\.\./escaped\.txt points outside the adapter folder"),
    ("A02-absolute-path", lambda f: {**f, "/tmp/escaped.txt": b"owned"}, r"/tmp/escaped\.txt points outside"),
    ("A03-symlink", lambda f: {**f, "link": b"/etc/passwd"}, r"link is a symbolic link; adapters must be plain files"),
    ("A04-pickle-beside-weights", lambda f: {**f, "adapter_model.bin": b"\x80\x04K\x01."},
     r"adapter_model\.bin is a pickle file, which can run code; only safetensors are accepted"),
    ("A05-pickle-instead-of-safetensors",
     lambda f: {**{k: v for k, v in f.items() if k != "adapter_model.safetensors"}, "pytorch_model.pt": b"\x80\x04."},
     r"pytorch_model\.pt is a pickle file"),
    ("A06-unknown-base-model", lambda f: edited(f, "playground.json", lambda m: m.update(base_model="llama-70b")),
     r"for base model 'llama-70b', which this app does not have"),
    ("A07-hub-id-base-model", lambda f: edited(f, "playground.json", lambda m: m.update(base_model="evil/model")),
     r"for base model 'evil/model', which this app does not have"),
    ("A08-another-base-model", lambda f: edited(f, "playground.json", lambda m: m.update(base_model="tiny-t5")),
     r"The adapter was trained on '.*tiny-llama', not on 'tiny-t5'"),
    ("A09-corrupt-safetensors", corrupt, r"adapter_model\.safetensors is not a readable safetensors file"),
    ("A10-enormous-rank", lambda f: edited(f, "adapter_config.json", lambda c: c.update(r=1_000_000)),
     r"LoRA rank 1000000 is out of range \(1\.\.256\)"),
    ("A12-unknown-task", lambda f: edited(f, "playground.json", lambda m: m.update(task="=cmd|calc")),
     r"playground\.json names task '=cmd\|calc'; expected one of"),
    ("A13-no-weights", lambda f: {"notes.txt": b"hello"},
     r"The adapter has no adapter_model\.safetensors \(the file with its weights\)"),
    ("A14-metric-not-a-number", lambda f: edited(f, "playground.json", lambda m: m.update(
        primary_metric="chrf", metrics={"adapter": {"chrf": "excellent"}})),
     r"metrics\['adapter'\] must map metric names to numbers"),
    ("A15-formula-as-metric-name", lambda f: edited(f, "playground.json", lambda m: m.update(primary_metric="=1+1")),
     r"'primary_metric' must be a metric name like 'accuracy'"),
]


@pytest.mark.parametrize("case_id, make, expect", ZIPS, ids=[z[0] for z in ZIPS])
def test_adapter_zip(case_id, make, expect, llama_files, tmp_path, client):
    archive = zip_with(tmp_path / f"{case_id.lower()}.zip", make(llama_files), symlinks=("link",))
    assert archive.stat().st_size < 5 * 1024 * 1024  # the zip bomb is small on disk
    before = sorted(p.name for p in workspace_dir(WORKSPACE).iterdir())
    with pytest.raises(AdapterError, match=expect):
        import_zip(archive, WORKSPACE)
    assert sorted(p.name for p in workspace_dir(WORKSPACE).iterdir()) == before  # nothing half-imported
    assert not (tmp_path.parent / "escaped.txt").exists() and not Path("/tmp/escaped.txt").exists()
    still_serving(client)


def test_a_zip_bomb_is_refused_before_unpacking(llama_files, tmp_path, client):
    """A11: 300 MB of zeros in a zip of well under 1 MB, written and refused without holding it in memory."""
    archive = zip_with(tmp_path / "bomb.zip", llama_files)
    with zipfile.ZipFile(archive, "a", zipfile.ZIP_DEFLATED) as zipped, zipped.open("bomb.txt", "w") as member:
        for _ in range(300):
            member.write(bytes(1 << 20))
    assert archive.stat().st_size < 1 << 20
    before = sorted(p.name for p in workspace_dir(WORKSPACE).iterdir())
    with pytest.raises(AdapterError, match=r"The zip unpacks to more than 200 MB"):
        import_zip(archive, WORKSPACE)
    assert sorted(p.name for p in workspace_dir(WORKSPACE).iterdir()) == before
    still_serving(client)


def test_a_file_that_is_not_a_zip(tmp_path, client):
    (tmp_path / "adapter.zip").write_bytes(b"this is not a zip at all")
    with pytest.raises(AdapterError, match="The upload is not a zip file"):
        import_zip(tmp_path / "adapter.zip", WORKSPACE)
    still_serving(client)


def test_an_adapter_whose_layers_do_not_fit_its_base_is_refused_and_the_base_stays_intact(llama_files, tmp_path,
                                                                                           client):
    """A16: metadata and config both claim tiny-gemma3, but the weights are tiny-llama's. The import
    cannot tell without loading the base; the first use refuses it before touching the shared base."""
    text = "Where is the train station?"
    base_answer = client.predict(text, "base", "", api_name="/summarize")
    files = edited(llama_files, "playground.json", lambda m: m.update(base_model="tiny-gemma3", task="summarization"))
    files = edited(files, "adapter_config.json", lambda c: c.update(base_model_name_or_path="tests/tiny-gemma3"))
    import_zip(zip_with(tmp_path / "misfit.zip", files), WORKSPACE)
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=r"Adapter 'misfit' does not fit base model 'tiny-gemma3' \(layer "
                                       r"'model\.layers\.0\.self_attn\.k_proj' has out_features=16, the adapter 32\)"):
        client.predict(text, "misfit", WORKSPACE, api_name="/summarize")
    assert client.predict(text, "base", "", api_name="/summarize") == base_answer
    still_serving(client)


# ============================================================================ text inputs

ENDPOINTS = {"/translate": str, "/summarize": str, "/chat": str, "/sentiment": dict}
TEXTS: dict[str, tuple[str, str | None]] = {  # id -> (text, expected error or None for a normal answer)
    "T01-empty": ("", r"The input is empty"),
    "T02-whitespace": (" \n\t\u3000 ", r"The input is empty"),
    "T03-100k-characters": ("All work and no play. " * 4_546, None),
    "T04-control-characters": ("Hello\x00 there\x07\x1b[31m, friend\x7f\u200b\ufeff!", None),
    "T05-emoji": ("I loved it 😍🔥👍🏽 🇪🇸", None),
    "T06-right-to-left": ("\u05de\u05d4 \u05e9\u05dc\u05d5\u05de\u05da? \u0643\u064a\u0641 \u062d\u0627\u0644\u0643\u061f "
                          "\u202eevil\u202c", None),
    "T07-other-language": ("这部电影非常好看，我很喜欢。", None),
    "T08-over-200k-characters": ("x" * 200_001, r"The input has 200,001 characters; the limit is 200,000\."),
}


def call(client, endpoint: str, text: Any, adapter: str = "base", workspace: str = "", history: Any = None) -> Any:
    if endpoint == "/chat":
        return client.predict(text, adapter, history, workspace, api_name=endpoint)
    return client.predict(text, adapter, workspace, api_name=endpoint)


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
@pytest.mark.parametrize("case_id", list(TEXTS))
def test_text_input(case_id, endpoint, client):
    from gradio_client.exceptions import AppError

    text, error = TEXTS[case_id]
    if error:
        with pytest.raises(AppError, match=error):
            call(client, endpoint, text)
    else:
        answer = call(client, endpoint, text)
        assert isinstance(answer, ENDPOINTS[endpoint])
        if endpoint == "/sentiment":
            assert sum(answer.values()) == pytest.approx(1.0, abs=1e-4)
    still_serving(client)


API_CASES = [  # id, endpoint, keyword arguments for `call`, expected message
    ("T09-unknown-adapter", "/translate", dict(adapter="no-such-adapter"),
     r"No translation adapter named 'no-such-adapter' is available here\."),
    ("T10-adapter-as-a-path", "/translate", dict(adapter="/etc/passwd"), r"No translation adapter named '/etc/passwd'"),
    ("T11-adapter-of-another-task", "/translate", dict(adapter="sentiment-movies"),
     r"No translation adapter named 'sentiment-movies'"),
    ("T12-unusable-workspace", "/sentiment", dict(adapter="mine", workspace="../.."),
     r"'\.\./\.\.' is not a usable workspace name"),
    ("T13-history-not-a-list", "/chat", dict(history="hello"), r"The history must be a list of"),
    ("T14-history-bad-message", "/chat", dict(history=[{"role": "wizard", "content": "hi"}]),
     r"History message 1 must be \{\"role\": \"user\" \| \"assistant\" \| \"system\""),
    ("T15-history-too-long", "/chat", dict(history=[{"role": "user", "content": "y" * 150_000}] * 2),
     r"The history has 300,000 characters; the limit is 200,000\."),
]


@pytest.mark.parametrize("case_id, endpoint, arguments, expect", API_CASES, ids=[c[0] for c in API_CASES])
def test_api_argument(case_id, endpoint, arguments, expect, client):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=expect):
        call(client, endpoint, "Hello there", **arguments)
    still_serving(client)


def test_a_long_but_valid_history_is_cut_not_choked_on(client):
    """T16: thousands of short turns: only the latest that fit are read (no re-tokenizing per turn)."""
    history = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i}"} for i in range(4_000)]
    started = time.perf_counter()
    assert isinstance(call(client, "/chat", "And now?", history=history), str)
    assert time.perf_counter() - started < 60
    still_serving(client)


# ============================================================================ training settings

SETTINGS = [  # id, overrides, expected message
    ("S01-negative-learning-rate", dict(learning_rate=-0.001), r"learning_rate must be in \(0, 1\] \(got -0\.001\)"),
    ("S02-absurd-learning-rate", dict(learning_rate=1e9), r"learning_rate must be in \(0, 1\] \(got 1000000000\.0\)"),
    ("S03-nan-learning-rate", dict(learning_rate=float("nan")), r"learning_rate must be a number, in \(0, 1\] \(got nan\)"),
    ("S04-text-learning-rate", dict(learning_rate="fast"), r"learning_rate must be a number, in \(0, 1\] \(got 'fast'\)"),
    ("S05-zero-epochs", dict(epochs=0), r"epochs must be between 0 and 100 \(got 0\)"),
    ("S06-negative-epochs", dict(epochs=-3), r"epochs must be between 0 and 100 \(got -3\)"),
    ("S07-absurd-epochs", dict(epochs=1e6), r"epochs must be between 0 and 100 \(got 1000000\.0\)"),
    ("S08-infinite-epochs", dict(epochs=float("inf")), r"epochs must be a number, between 0 and 100 \(got inf\)"),
    ("S09-zero-rank", dict(rank=0), r"rank must be 1\.\.256 \(got 0\)"),
    ("S10-absurd-rank", dict(rank=100_000), r"rank must be 1\.\.256 \(got 100000\)"),
    ("S11-fractional-rank", dict(rank=2.5), r"rank must be a whole number, 1\.\.256 \(got 2\.5\)"),
    ("S12-negative-steps", dict(max_steps=-5), r"max_steps must be -1 or 1\.\.100000 \(got -5\)"),
    ("S13-absurd-steps", dict(max_steps=10**9), r"max_steps must be -1 or 1\.\.100000 \(got 1000000000\)"),
    ("S14-zero-batch", dict(batch_size=0), r"batch_size must be 1\.\.512 \(got 0\)"),
    ("S15-several-at-once", dict(rank=-1, learning_rate=5.0),
     r"learning_rate must be in \(0, 1\] \(got 5\.0\); rank must be 1\.\.256 \(got -1\)\."),
]


@pytest.mark.parametrize("case_id, overrides, expect", SETTINGS, ids=[s[0] for s in SETTINGS])
def test_training_setting(case_id, overrides, expect, client):
    with pytest.raises(ConfigError, match=expect):
        make_config("sentiment", "quick", base="tiny-bert", **overrides)
    assert make_config("sentiment", "quick", base="tiny-bert").rank == 8  # a sane config still builds
    still_serving(client)


def test_the_train_forms_settings(client):
    """S16-S18: what the Train tab sends: a cleared box gets a message, not a crash; the deployment's
    step cap (demo: 200) clamps any step count; -1 or a negative count means 'all epochs'."""
    from ui.train import training_config

    with pytest.raises(ConfigError, match=r"Fill in learning_rate"):
        training_config("sentiment", "tiny-bert", "quick", 8, None, 4, -1, None)
    assert training_config("sentiment", "tiny-bert", "quick", 8, 1e-3, 4, 10**9, 200).max_steps == 200
    assert training_config("sentiment", "tiny-bert", "quick", 8, 1e-3, 4, -7, None).max_steps == -1
    still_serving(client)


# ============================================================================ properties

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                        max_size=3), max_leaves=8)


@PROPERTY
@given(text=st.text(alphabet=st.sampled_from("ab,\"\r\n\t "), max_size=60))
def test_property_lines_are_the_text_split_like_a_csv_file(text):
    """`_lines` (no copy of the text) splits exactly as io.StringIO(newline="") did before."""
    assert list(reading._lines(text)) == list(io.StringIO(text, newline=""))


@PROPERTY
@given(values=st.lists(JSON_VALUES, max_size=6), indent=st.sampled_from([None, 1, 2]), garble=st.integers(0, 200))
def test_property_the_lazy_array_reader_agrees_with_json_loads(values, indent, garble):
    """Element by element, the array walker accepts exactly what json.loads accepts, with the same
    values; anything else is one 'not valid JSON' error (here the text is also cut short at random)."""
    text = json.dumps(values, indent=indent)
    text = text[:garble] if garble < len(text) else text
    report = Report()
    walked = [value for _, value in reading._array_items(text, report)] if "[" in text else None
    try:
        expected = json.loads(text)
    except ValueError:
        expected = None
    if expected is not None and walked is not None:
        assert walked == expected and report.problems == []
    elif walked is not None:
        assert [p.message[:28] for p in report.problems] == ["The file is not valid JSON: "]


@PROPERTY
@given(overrides=st.dictionaries(st.sampled_from(["epochs", "max_steps", "learning_rate", "batch_size", "rank",
                                                  "alpha", "dropout", "max_length", "seed"]),
                                 st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=4),
                                 max_size=4))
def test_property_any_setting_gives_a_config_or_a_config_error(overrides):
    try:
        config = make_config("sentiment", "quick", **overrides)
    except ConfigError as error:
        assert str(error).endswith(".") and "must be" in str(error)
    else:
        assert config.validate() is config


@PROPERTY
@given(history=JSON_VALUES)
def test_property_any_history_is_accepted_or_refused_with_a_message(history):
    from models.inference import InputError, check_history

    try:
        assert check_history(history) == (history or [])
    except InputError as error:
        assert str(error).startswith(("The history", "History message"))
