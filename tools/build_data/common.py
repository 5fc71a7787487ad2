"""Shared pieces of the data builder.

Constants (seed, split sizes, filters, licences, default paths), logging,
hashing, the seeded shuffle, JSONL/CSV writers, text normalisation, the
translation-pair filter used by both the Debian and the Django sources,
``split_by_group``, and thin wrappers around ``pip download`` / ``apt-get``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path
from typing import Iterable, Sequence

SEED = 0

SIZES = {
    "sentiment": {"test": 1000, "validation": 300, "test_amazon_max": 1000, "validation_amazon": 300,
                  "test_news": 1000, "validation_news": 300},
    "translation": {"test": 300, "validation": 150, "train_max": 4000},
    "summarization": {"test": 300, "validation": 150, "train": 12600},
    "summarization_pypi": {"test": 350, "validation": 150, "train_max": 6000},
    "examples": {"sentiment": 80, "translation": 60, "summarization": 40},
}

FILTERS = {
    "sentiment": {"min_abs_rating": 0.5},
    "translation": {"min_words": 3, "max_words": 60, "min_char_ratio": 0.5, "max_char_ratio": 2.0},
    "summarization": {"text_words": [40, 250], "summary_words": [3, 15]},
}

TASKS = ("sentiment", "translation", "summarization", "examples")

LICENCE_VADER = "MIT (vaderSentiment; Hutto & Gilbert ICWSM-14 data set)"
LICENCE_DEBIAN = "Debian package descriptions (DDTP translations), various free licences"
LICENCE_DJANGO = "BSD-3-Clause (Django)"

REPO_ROOT = Path(__file__).resolve().parents[2]  # tools/build_data/common.py -> repository root
DEFAULT_OUT = REPO_ROOT / "assets" / "data"
DEFAULT_EXAMPLES = REPO_ROOT / "assets" / "examples"
DEFAULT_CACHE = Path(os.environ.get("LORA_PLAYGROUND_CACHE", Path.home() / ".cache" / "lora-playground" / "build"))


# --------------------------------------------------------------------------
# Small generic helpers
# --------------------------------------------------------------------------


def _log(msg: str) -> None:
    print(f"[build] {msg}", file=sys.stderr, flush=True)


def _write_jsonl(path: Path, rows: Iterable[dict]) -> int:
    """Write rows as UTF-8 JSONL (one object per line); return the row count."""
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[str]]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        for row in rows:
            w.writerow(row)
            n += 1
    return n


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def shuffled(items: Iterable, seed: int = SEED, key=None) -> list:
    """Sort ``items`` (by ``key``) and shuffle them with a fixed seed."""
    out = sorted(items, key=key)
    random.Random(seed).shuffle(out)
    return out


def normalize_space(text: str) -> str:
    return " ".join(text.split())


def _norm_key(text: str) -> str:
    """Key used for de-duplication and overlap checks (case/space/punct-insensitive)."""
    return re.sub(r"[\W_]+", " ", text.lower()).strip()


def word_count(text: str) -> int:
    return len(text.split())


# --------------------------------------------------------------------------
# Fetching with ordinary clients (pip, apt)
# --------------------------------------------------------------------------


def _pip_download(dest: Path, requirement: str, *options: str) -> None:
    """Fetch one distribution file from the package index (the only network our machines have)."""
    dest.mkdir(parents=True, exist_ok=True)
    _log(f"pip download {requirement} {' '.join(options)} -> {dest}")
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", *options, requirement, "-d", str(dest)],
                   check=True)


def _apt_install(packages: list[str]) -> None:
    _log(f"apt-get install {' '.join(packages)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", *packages], check=True, env=env)


# --------------------------------------------------------------------------
# Translation-pair filter (shared by the Debian and Django sources)
# --------------------------------------------------------------------------


_NOISE = [
    re.compile(r"://|www\.|\S+@\S+\.\w"),  # URLs, e-mail addresses
    re.compile(r"(^|\s)/\w|\w/\w+/|\\"),  # paths
    re.compile(r"[{}<>\[\]=$|`_;#~^]"),  # code-ish characters
    re.compile(r"::|->|\(\)|(^|\s)--?\w"),  # code, command-line options
    re.compile(r"^\s*([*+\-•o]|\d+[.)]|[a-z][.)])\s"),  # list items
    re.compile(r"[:,;]\s*$"),  # list introductions / fragments
]


def looks_noisy(text: str) -> bool:
    """True for strings that look like lists, URLs, paths, options or code."""
    if any(p.search(text) for p in _NOISE):
        return True
    letters = sum(ch.isalpha() for ch in text)
    return letters < 0.6 * len(text.replace(" ", "")) if text.strip() else True


def keep_pair(source: str, target: str) -> bool:
    """Translation-pair filter: 3-60 words per side, plausible length ratio,
    source != target, and neither side looks like a list/URL/code."""
    f = FILTERS["translation"]
    if not (f["min_words"] <= word_count(source) <= f["max_words"]):
        return False
    if not (f["min_words"] <= word_count(target) <= f["max_words"]):
        return False
    if _norm_key(source) == _norm_key(target):
        return False
    ratio = len(target) / max(1, len(source))
    if not (f["min_char_ratio"] <= ratio <= f["max_char_ratio"]):
        return False
    return not (looks_noisy(source) or looks_noisy(target))


# --------------------------------------------------------------------------
# Group-aware splits
# --------------------------------------------------------------------------


def split_by_group(records: Sequence[dict], group: str, sizes: Sequence[int], seed: int = SEED) -> list[list[dict]]:
    """Fill splits of exactly ``sizes`` rows, taking whole groups in shuffled order
    (the remainder of a group that overflows a split is dropped, so no group is
    shared between splits).  The last returned list holds all remaining rows."""
    groups: dict[str, list[dict]] = {}
    for r in records:
        groups.setdefault(r[group], []).append(r)
    order = shuffled(groups, seed=seed)
    splits: list[list[dict]] = [[] for _ in sizes]
    rest: list[dict] = []
    i = 0
    for g in order:
        rows = groups[g]
        while i < len(sizes) and len(splits[i]) >= sizes[i]:
            i += 1
        if i < len(sizes):
            need = sizes[i] - len(splits[i])
            splits[i].extend(rows[:need])
        else:
            rest.extend(rows)
    return splits + [rest]
