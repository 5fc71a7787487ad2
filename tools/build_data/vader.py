"""Sentiment: human-rated snippets from the ``vaderSentiment`` sdist.

``additional_resources/hutto_ICWSM_2014.tar.gz`` inside the sdist holds
``*_GroundTruth.txt`` files (``id<TAB>mean rating<TAB>text``).  Movie-review
snippets become train/validation/test; Amazon-review snippets (minus any that
also occur among the movie snippets) become ``test_amazon``.
"""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path
from typing import Iterable

from tools.build_data.common import (
    FILTERS,
    LICENCE_VADER,
    SIZES,
    _norm_key,
    _pip_download,
    _write_jsonl,
    normalize_space,
    sha256_file,
    shuffled,
)

VADER_VERSION = "3.3.2"


def parse_rating_file(text: str) -> list[tuple[str, float, str]]:
    """Parse a ``*_GroundTruth.txt`` file: ``id<TAB>mean rating<TAB>text`` per line."""
    rows = []
    for line in text.splitlines():
        line = line.rstrip("\r")
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) < 3:
            continue
        try:
            rating = float(parts[1])
        except ValueError:
            continue
        rows.append((parts[0].strip(), rating, "\t".join(parts[2:])))
    return rows


def rating_to_label(rating: float, min_abs: float = FILTERS["sentiment"]["min_abs_rating"]) -> str | None:
    """Sign of the mean human rating; ``None`` for near-neutral (|rating| < min_abs)."""
    if abs(rating) < min_abs:
        return None
    return "positive" if rating > 0 else "negative"


def clean_snippet(text: str) -> str:
    """Tidy a rated snippet: Pang & Lee style ``''`` quotes -> ``"``, collapse spaces."""
    return normalize_space(text.replace("''", '"'))


def sentiment_records(rows: Iterable[tuple[str, float, str]]) -> list[dict]:
    """Rated rows -> de-duplicated ``{"text", "label"}`` records (near-neutral dropped)."""
    seen: set[str] = set()
    out = []
    for _id, rating, text in sorted(rows, key=lambda r: (r[2], r[1])):
        label = rating_to_label(rating)
        text = clean_snippet(text)
        key = _norm_key(text)
        if label is None or not key or key in seen:
            continue
        seen.add(key)
        out.append({"text": text, "label": label})
    return out


def fetch_vader_sdist(cache: Path) -> Path:
    dest = cache / "vader"
    name = f"vaderSentiment-{VADER_VERSION}.tar.gz"
    path = dest / name
    if not path.exists():
        _pip_download(dest, f"vaderSentiment=={VADER_VERSION}", "--no-binary", ":all:")
    return path


def read_hutto_files(sdist: Path) -> dict[str, str]:
    """Return {basename: text} for the ``*_GroundTruth.txt`` files inside the sdist."""
    out: dict[str, str] = {}
    with tarfile.open(sdist, "r:gz") as outer:
        member = next(m for m in outer.getmembers() if m.name.endswith("additional_resources/hutto_ICWSM_2014.tar.gz"))
        inner_bytes = outer.extractfile(member).read()
    with tarfile.open(fileobj=io.BytesIO(inner_bytes), mode="r:gz") as inner:
        for m in inner.getmembers():
            if m.isfile() and m.name.endswith("_GroundTruth.txt"):
                out[os.path.basename(m.name)] = inner.extractfile(m).read().decode("utf-8")
    return out


def build_sentiment(out: Path, cache: Path) -> dict:
    sdist = fetch_vader_sdist(cache)
    files = read_hutto_files(sdist)
    movie = sentiment_records(parse_rating_file(files["movieReviewSnippets_GroundTruth.txt"]))
    amazon = sentiment_records(parse_rating_file(files["amazonReviewSnippets_GroundTruth.txt"]))
    sz = SIZES["sentiment"]
    movie = shuffled(movie, key=lambda r: (r["text"], r["label"]))
    test, val, train = movie[: sz["test"]], movie[sz["test"]: sz["test"] + sz["validation"]], movie[sz["test"] + sz["validation"]:]
    movie_keys = {_norm_key(r["text"]) for r in movie}
    amazon = [r for r in amazon if _norm_key(r["text"]) not in movie_keys]
    amazon = shuffled(amazon, key=lambda r: (r["text"], r["label"]))[: sz["test_amazon_max"]]

    src_base = f"PyPI sdist vaderSentiment=={VADER_VERSION} (sha256 {sha256_file(sdist)}), additional_resources/hutto_ICWSM_2014.tar.gz"
    entries = {}
    for name, rows, member in [
        ("train", train, "movieReviewSnippets_GroundTruth.txt"),
        ("validation", val, "movieReviewSnippets_GroundTruth.txt"),
        ("test", test, "movieReviewSnippets_GroundTruth.txt"),
        ("test_amazon", amazon, "amazonReviewSnippets_GroundTruth.txt"),
    ]:
        rel = f"sentiment/{name}.jsonl"
        _write_jsonl(out / rel, rows)
        entries[rel] = {
            "source": f"{src_base} :: {member}; label = sign of mean rating, |rating| >= {FILTERS['sentiment']['min_abs_rating']}",
            "licence": LICENCE_VADER,
            "labels": {lab: sum(r["label"] == lab for r in rows) for lab in ("negative", "positive")},
        }
    return entries
