"""The data contract: which rows a task takes, checked row by row, and the train/validation split.

The contract (shared by the CLI, the app and the tests): a UTF-8 CSV/TSV or
JSONL file (a ``.json`` array of objects also works) with these columns:

    sentiment      text, label        (two or more label names)
    translation    source, target
    summarization  text, summary
    chat           prompt, response [, system]
                   or JSONL ``messages``: [{"role", "content"}, ...] [, system]

Header names match case-insensitively and ignoring surrounding spaces.

Line numbers: ``Problem.row`` is the physical line of the file where the row
starts, counting from 1 -- for CSV the header is line 1, so the first data row
is usually line 2; for JSONL it is the line of the object. Messages say
"Line N: ..." so the user can jump straight there in an editor.

`load_examples` never raises for problems in the file: it collects them all so
the app can show one complete list instead of a fix-one-retry loop. Reading the file (bytes to rows)
is `finetune.data.reading`; the problems and how they are said, `finetune.data.problems`.
"""

from __future__ import annotations

import difflib
import json
import os
from types import ModuleType
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from finetune.data.problems import DataLimits, DataValidationError, Problem, Report
from finetune.data.reading import CONTROL, json_type, plain_text, read_table, read_text
from models.messages import Listing, Message, say
from models.tasks import UnknownTaskError, get_task

CHAT_OPTIONAL = ("system",)
# Before/after metrics on fewer held-out rows than this are too noisy to trust: the split holds out at
# least this many where the data allows it, and the Train tab warns below it.
TRUSTED_VALIDATION_ROWS = 30
ROLES = ("system", "user", "assistant")
# Column names people commonly use instead of ours: name -> the columns it may stand for.
SYNONYMS = {
    "sentence": ("text", "source"), "review": ("text",), "input": ("text", "source", "prompt"),
    "en": ("source", "text"), "english": ("source", "text"), "text": ("source",),
    "document": ("text",), "article": ("text",), "content": ("text",), "body": ("text",),
    "sentiment": ("label",), "class": ("label",), "polarity": ("label",), "target": ("label",), "category": ("label",),
    "es": ("target",), "spanish": ("target",), "translation": ("target",),
    "question": ("prompt",), "instruction": ("prompt",), "user": ("prompt",),
    "answer": ("response",), "output": ("response", "target", "summary"), "reply": ("response",),
    "assistant": ("response",), "completion": ("response",),
    "abstract": ("summary",), "highlights": ("summary",), "tldr": ("summary",),
}

@dataclass
class LoadedData:
    task: str
    records: list[dict] = field(default_factory=list)  # normalized rows that passed row checks
    problems: list[Problem] = field(default_factory=list)
    source_rows: int = 0  # data rows read from the file (header and blank lines not counted)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> dict:
        """JSON-safe overview for the UI and the adapter's metadata."""
        out: dict[str, Any] = {"task": self.task, "rows": len(self.records), "source_rows": self.source_rows,
                               "errors": len(self.errors), "warnings": len(self.warnings)}
        spec = get_task(self.task)
        if spec.kind == "classify":
            out["labels"] = dict(sorted(Counter(r[spec.output_column] for r in self.records).items()))
        if spec.kind == "chat":
            texts = [(m["role"], m["content"]) for r in self.records for m in r["messages"]]
            out["avg_turns"] = round(sum(len(r["messages"]) for r in self.records) / max(len(self.records), 1), 2)
        else:
            texts = [(k, v) for r in self.records for k, v in r.items()
                     if not (spec.kind == "classify" and k == spec.output_column)]
        lengths: dict[str, list[int]] = {}
        for name, text in texts:
            lengths.setdefault(name, []).append(len(text))
        out["avg_chars"] = {name: round(sum(v) / len(v), 1) for name, v in lengths.items()}
        return out


def _resolve_columns(task: str, columns: list[str], display: dict[str, str], rep: Report):
    """Map each needed column to a file column; a likely misspelling stands in so row checks still run."""
    spec = get_task(task)
    optional = CHAT_OPTIONAL if spec.kind == "chat" else ()
    wanted = ("messages",) if spec.kind == "chat" and "messages" in columns else spec.columns
    mapping = {c: c for c in wanted + optional if c in columns}
    for want in wanted:
        if want in mapping:
            continue
        guess = _suggest(want, [c for c in columns if c not in mapping.values()])
        found = ", ".join(f"'{display[c]}'" for c in columns) or say("data.none")
        if guess:
            hint = say("data.did_you_mean", guess=display[guess], want=want)
        else:
            needed = say("data.column_pair", first=spec.input_column, second=spec.output_column)
            hint = say("data.needs_messages" if spec.kind == "chat" else "data.needs_columns", task=task, needed=needed)
        rep.error("data.missing_column", column=want, want=want, found=found, hint=hint)
        if guess:
            mapping[want] = guess
    extra = [f"'{display[c]}'" for c in columns if c not in mapping.values()]
    if extra:
        rep.warn("data.extra_columns", extra=", ".join(extra), task=task, used=", ".join(wanted + optional))
    return wanted, mapping


def _suggest(want: str, spare: list[str]) -> str | None:
    close = difflib.get_close_matches(want, spare, n=1, cutoff=0.6)
    return close[0] if close else next((c for c in spare if want in SYNONYMS.get(c, ())), None)


def _cell(value: Any, line: int, column: str, limits: DataLimits, rep: Report,
          what: Message | None = None, required: bool = True) -> str | None:
    """A cleaned text value, or None after reporting why it is unusable."""
    what = what or say("data.column", column=column)
    if isinstance(value, (bool, int, float)):
        value = json.dumps(value) if isinstance(value, bool) else str(value)
        rep.warn("data.read_as_text", line, column, kind="data.kind.non_text", what=what, value=value)
    elif isinstance(value, (list, dict)):
        rep.error("data.not_text", line, column, what=what, found=json_type(value))
        return None
    if isinstance(value, str) and CONTROL.search(value):
        rep.warn("data.control_removed", line, column, kind="data.kind.control", cap=1)
    text = plain_text(value or "").strip()
    if not text and required:
        rep.error("data.empty_cell", line, column, what=what)
        return None
    if len(text) > limits.max_cell_chars:
        rep.error("data.long_cell", line, column, what=what, chars=len(text), limit=limits.max_cell_chars)
        return None
    return text


def _messages(value: Any, line: int, limits: DataLimits, rep: Report) -> list[dict] | None:
    if not isinstance(value, list) or not value:
        rep.error("data.messages_list", line, "messages")
        return None
    out, ok = [], True
    for i, message in enumerate(value, 1):
        if not isinstance(message, dict):
            rep.error("data.message_not_object", line, "messages", number=i)
            ok = False
            continue
        role = message.get("role")
        role = role.strip().lower() if isinstance(role, str) else role
        if role not in ROLES:
            rep.error("data.bad_role", line, "messages", number=i, role=repr(role))
            ok = False
        content = _cell(message.get("content"), line, "messages", limits, rep, what=say("data.message_content", number=i))
        ok = ok and content is not None
        out.append({"role": role, "content": content})
    return out if ok and _turns_ok([m["role"] for m in out], line, rep) else None


def _turns_ok(roles: list[str], line: int, rep: Report) -> bool:
    """Optional leading system turn, then user/assistant alternating, ending with the reply to learn."""
    body = roles[1:] if roles[0] == "system" else roles
    for j, role in enumerate(body):
        want = ("user", "assistant")[j % 2]
        if role != want:
            rep.error("data.turn_order", line, "messages", number=len(roles) - len(body) + j + 1, role=role, want=want)
            return False
    if not body or body[-1] != "assistant":
        rep.error("data.ends_with_user", line, "messages")
        return False
    return True


def _record(task: str, wanted: tuple, mapping: dict, line: int, row: dict, limits: DataLimits,
            rep: Report) -> dict | None:
    """One row -> one normalized record, or None after reporting every reason it is unusable."""
    got = {w: _messages(row.get(mapping[w]), line, limits, rep) if w == "messages"
           else _cell(row.get(mapping[w]), line, w, limits, rep) for w in wanted if w in mapping}
    system = _cell(row.get(mapping["system"]), line, "system", limits, rep, required=False) if "system" in mapping else ""
    if len(got) < len(wanted) or None in got.values() or system is None:
        return None
    if get_task(task).kind != "chat":
        return got
    messages = got.get("messages") or [{"role": "user", "content": got["prompt"]},
                                       {"role": "assistant", "content": got["response"]}]
    if system and messages[0]["role"] == "system":
        rep.error("data.two_systems", line, "system")
        return None
    return {"messages": ([{"role": "system", "content": system}] if system else []) + messages}


def _dedupe(records: list[dict], lines: list[int], rep: Report) -> tuple[list[dict], list[int]]:
    seen: dict[str, int] = {}
    keep, dupes = [], []
    for record, line in zip(records, lines):
        key = json.dumps(record, sort_keys=True, ensure_ascii=False)
        if key in seen:
            dupes.append((line, seen[key]))
        else:
            seen[key] = line
            keep.append((record, line))
    if dupes:
        shown = Listing(tuple(say("data.same_as", line=a, first=b) for a, b in dupes[:10]))
        more = say("data.and_more", count=len(dupes) - 10) if len(dupes) > 10 else ""
        rep.problems.append(Problem(say("data.duplicates", count=len(dupes), shown=shown, more=more),
                                    dupes[0][0], None, "warning", line_in_text=False))
    return [r for r, _ in keep], [n for _, n in keep]


def _check_labels(task: str, column: str, records: list[dict], lines: list[int], rep: Report) -> None:
    counts = Counter(r[column] for r in records)
    if len(counts) < 2:
        found = say("data.only", label=next(iter(counts))) if counts else say("data.none")
        rep.error("data.one_label", column=column, task=task.capitalize(), found=found)
    for label, n in sorted(counts.items()):
        if n == 1:
            line = lines[next(i for i, r in enumerate(records) if r[column] == label)]
            rep.error("data.label_once", line, column, label=label)


def _check_tokens(task: str, records: list[dict], lines: list[int], count_tokens: Callable[[str], int],
                  max_tokens: int, rep: Report) -> None:
    spec = get_task(task)
    for record, line in zip(records, lines):
        fields = ({"messages": "\n".join(m["content"] for m in record["messages"])} if spec.kind == "chat"
                  else {k: v for k, v in record.items() if not (spec.kind == "classify" and k == spec.output_column)})
        for column, text in fields.items():
            n = count_tokens(text)
            if n > max_tokens:
                rep.warn("data.too_many_tokens", line, column, kind="data.kind.truncated", name=column, tokens=n,
                         limit=max_tokens)


def load_examples(path: str | os.PathLike, task: str, limits: DataLimits = DataLimits(),
                  count_tokens: Callable[[str], int] | None = None, max_tokens: int | None = None) -> LoadedData:
    """Read and check an upload. Never raises for problems in the file: they are all in `.problems`.

    Raises ValueError only for an unknown task. When `.ok` is False, `.records` may still hold rows
    (e.g. read under a misspelled column) for previewing, but they must not be trained on.
    """
    try:
        spec = get_task(task)
    except UnknownTaskError as error:
        raise ValueError(str(error)) from None
    rep = Report()
    data = LoadedData(task, [], rep.problems, 0)
    text = read_text(Path(path), limits, rep)
    if text is not None:
        columns, display, rows = read_table(Path(path), text, limits, rep)
        data.source_rows = len(rows)
        if not rows:
            rep.error("data.no_rows", min_rows=limits.min_rows)
        elif columns:
            wanted, mapping = _resolve_columns(task, columns, display, rep)
            records, lines = [], []
            for line, row in rows:
                record = _record(task, wanted, mapping, line, row, limits, rep) if row is not None else None
                if record is not None:
                    records.append(record)
                    lines.append(line)
            if all(w in mapping for w in wanted):
                records, lines = _dedupe(records, lines, rep)
                if spec.kind == "classify" and records:
                    _check_labels(spec.name, spec.output_column, records, lines, rep)
                if len(records) < limits.min_rows:
                    rep.error("data.too_few_rows", rows=len(records), min_rows=limits.min_rows)
                if count_tokens is not None and max_tokens is not None:
                    _check_tokens(task, records, lines, count_tokens, max_tokens, rep)
            data.records = records
    rep.finish()
    return data


def load_examples_or_raise(path: str | os.PathLike, task: str, limits: DataLimits = DataLimits(),
                           count_tokens: Callable[[str], int] | None = None,
                           max_tokens: int | None = None) -> LoadedData:
    """`load_examples`, raising DataValidationError (errors first, then warnings) if anything is an error."""
    data = load_examples(path, task, limits, count_tokens, max_tokens)
    if not data.ok:
        raise DataValidationError(data.errors + data.warnings)
    return data


def quiet_datasets() -> ModuleType:
    """`datasets`, imported when first needed (the app starts faster without it) and without progress
    bars: its steps here are over in a moment."""
    import datasets

    datasets.disable_progress_bars()
    return datasets


def validation_size(rows: int, validation_fraction: float, min_validation: int = 2) -> int:
    """How many of `rows` the split holds out: the fraction, but at least `TRUSTED_VALIDATION_ROWS` where
    a third of the rows allows it (at most a third: the rest must be enough to train on). A 10% split
    of 80 rows would judge the adapter on 8 rows, where one answer moves accuracy by 12 points."""
    if validation_fraction == 0:
        return 0
    return max(min_validation, round(rows * validation_fraction), min(TRUSTED_VALIDATION_ROWS, rows // 3))


def split_train_validation(records: list[dict], task: str, validation_fraction: float = 0.1, seed: int = 0,
                           min_validation: int = 2) -> tuple[list[dict], list[dict]]:
    """A seeded split by `datasets`' `train_test_split`, both parts in the input order, of
    `validation_size` rows. Train is never empty. A classification keeps one example of every label in
    train (a label seen once stays there) and is stratified by label where every other label can have a
    place on both sides."""
    if not 0 <= validation_fraction < 1:
        raise ValueError(f"validation_fraction must be in [0, 1), got {validation_fraction}.")
    datasets = quiet_datasets()
    spec = get_task(task)
    labels = [str(r[spec.output_column]) for r in records] if spec.kind == "classify" else [""] * len(records)
    counts = Counter(labels)
    splittable = [i for i, label in enumerate(labels) if counts[label] > 1]
    shared = len([c for c in counts.values() if c > 1])  # labels that can be on both sides
    n = len(splittable)
    n_val = min(validation_size(len(records), validation_fraction, min_validation), n - shared)
    if n_val < 1:
        return list(records), []
    rows = datasets.Dataset.from_dict({"row": splittable, "label": [labels[i] for i in splittable]})
    stratify = None
    if spec.kind == "classify":
        rows = rows.cast_column("label", datasets.ClassLabel(names=sorted({labels[i] for i in splittable})))
        stratify = "label" if shared <= min(n_val, n - n_val) else None
    parts = rows.train_test_split(test_size=n_val, seed=seed, stratify_by_column=stratify)
    held_out = set(parts["test"]["row"])
    return ([r for i, r in enumerate(records) if i not in held_out], [r for i, r in enumerate(records) if i in held_out])
