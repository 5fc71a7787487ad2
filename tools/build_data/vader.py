"""Sentiment: human-rated snippets from the ``vaderSentiment`` sdist.

``additional_resources/hutto_ICWSM_2014.tar.gz`` inside the sdist holds
``*_GroundTruth.txt`` files (``id<TAB>mean rating<TAB>text``) from several
domains.  Movie-review snippets become train/validation/test; Amazon-review
snippets (minus any that also occur among the movie snippets) become
``test_amazon`` and then ``validation_amazon``/``train_amazon``; NYT editorial
snippets (minus any that occur in the other two domains) become
``test_news``/``validation_news``/``train_news``.  Each domain is shuffled once
and cut test-first, so a test split is fixed before anything is trained on, and
the older files stay byte-identical as domains are added.

``test_everyday`` is not from the corpus: short everyday sentences of the kind
students type, written and labelled by us (``EVERYDAY``), for testing only.
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


# Short everyday sentences (school, food, weather, travel, friends, work) with the label we gave them:
# a test of what students type, never trained or tuned on.
EVERYDAY: tuple[tuple[str, str], ...] = (
    ("The bus was late again and I missed class.", "negative"),
    ("My grandma's soup always makes me feel better.", "positive"),
    ("I failed my history exam even though I studied.", "negative"),
    ("We won the football match on Saturday!", "positive"),
    ("The soup was cold and far too salty.", "negative"),
    ("The new teacher explains maths so clearly.", "positive"),
    ("It rained all weekend and our trip was cancelled.", "negative"),
    ("I finally passed my driving test.", "positive"),
    ("My friend forgot my birthday and didn't even apologise.", "negative"),
    ("The sunset at the beach was beautiful tonight.", "positive"),
    ("The train was so crowded I had to stand for two hours.", "negative"),
    ("My best friend surprised me with a birthday cake.", "positive"),
    ("This homework is boring and takes forever.", "negative"),
    ("The train was on time and I got a window seat.", "positive"),
    ("My phone broke the day after I bought it.", "negative"),
    ("This pizza is delicious.", "positive"),
    ("The restaurant was dirty and the waiter was rude.", "negative"),
    ("I love walking to school when the weather is this warm.", "positive"),
    ("I lost my wallet on the way to work.", "negative"),
    ("My boss thanked me for my hard work today.", "positive"),
    ("Our flight was delayed for six hours and nobody told us why.", "negative"),
    ("The hotel staff were so kind and helpful.", "positive"),
    ("I'm so tired of my noisy neighbours.", "negative"),
    ("We had a great time camping in the mountains.", "positive"),
    ("My manager yelled at me in front of everyone.", "negative"),
    ("I got full marks on my science project.", "positive"),
    ("The exam was much harder than I expected, and I ran out of time.", "negative"),
    ("The library is quiet and comfortable, perfect for studying.", "positive"),
    ("I feel lonely since my best friend moved away.", "negative"),
    ("My little brother made me laugh all evening.", "positive"),
    ("The hotel room smelled bad and the shower didn't work.", "negative"),
    ("The coffee at that café is wonderful.", "positive"),
    ("Traffic was terrible and I was late for my interview.", "negative"),
    ("It's sunny today, so we're having a picnic in the park.", "positive"),
    ("The cafeteria food made me sick.", "negative"),
    ("I'm really proud of how my presentation went.", "positive"),
    ("It's freezing outside and my heater stopped working.", "negative"),
    ("Our flight landed early and the trip was smooth.", "positive"),
    ("Nobody came to my party.", "negative"),
    ("My new job is interesting and my colleagues are friendly.", "positive"),
)


def _key(record: dict) -> tuple[str, str]:
    """The order rows are sorted in before the seeded shuffle (``shuffled``), so input order never matters."""
    return record["text"], record["label"]


def split_domains(movie: list[dict], amazon: list[dict], news: list[dict]) -> dict[str, list[dict]]:
    """Split name -> rows.  Each domain is de-duplicated against the domains before it (so no text is
    in two domains), shuffled once, and cut test first, then validation, then train; the movie cut and
    the first ``test_amazon_max`` Amazon rows are those the corpus had before Amazon and news training
    rows were added."""
    sz = SIZES["sentiment"]
    movie = shuffled(movie, key=_key)
    t, v = sz["test"], sz["test"] + sz["validation"]
    splits = {"test": movie[:t], "validation": movie[t:v], "train": movie[v:]}
    seen = {_norm_key(r["text"]) for r in movie}
    amazon = shuffled([r for r in amazon if _norm_key(r["text"]) not in seen], key=_key)
    seen |= {_norm_key(r["text"]) for r in amazon}
    news = shuffled([r for r in news if _norm_key(r["text"]) not in seen], key=_key)
    for domain, rows, t in (("amazon", amazon, sz["test_amazon_max"]), ("news", news, sz["test_news"])):
        v = t + sz[f"validation_{domain}"]
        splits.update({f"test_{domain}": rows[:t], f"validation_{domain}": rows[t:v], f"train_{domain}": rows[v:]})
    return splits


# The corpus file of each domain; a split's name ends in its domain ("test_news"), movies' have none.
DOMAIN_MEMBERS = {"movies": "movieReviewSnippets_GroundTruth.txt", "amazon": "amazonReviewSnippets_GroundTruth.txt",
                  "news": "nytEditorialSnippets_GroundTruth.txt"}


def build_sentiment(out: Path, cache: Path) -> dict:
    """Write every sentiment split (``split_domains``) and ``test_everyday``; return their MANIFEST entries."""
    sdist = fetch_vader_sdist(cache)
    files = read_hutto_files(sdist)
    splits = split_domains(*(sentiment_records(parse_rating_file(files[m])) for m in DOMAIN_MEMBERS.values()))
    src_base = f"PyPI sdist vaderSentiment=={VADER_VERSION} (sha256 {sha256_file(sdist)}), additional_resources/hutto_ICWSM_2014.tar.gz"
    label_rule = f"label = sign of mean rating, |rating| >= {FILTERS['sentiment']['min_abs_rating']}"
    meta = {name: (f"{src_base} :: {DOMAIN_MEMBERS[name.partition('_')[2] or 'movies']}; {label_rule}", LICENCE_VADER)
            for name in splits}
    splits["test_everyday"] = [{"text": text, "label": label} for text, label in EVERYDAY]
    meta["test_everyday"] = ("written and labelled by the LoRA Playground authors (tools/build_data/vader.py "
                             "EVERYDAY): short everyday sentences, for testing only",
                             "LoRA Playground (written for it)")
    entries = {}
    for name, rows in splits.items():
        rel = f"sentiment/{name}.jsonl"
        _write_jsonl(out / rel, rows)
        entries[rel] = {
            "source": meta[name][0],
            "licence": meta[name][1],
            "labels": {lab: sum(r["label"] == lab for r in rows) for lab in ("negative", "positive")},
        }
    return entries
