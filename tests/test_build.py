"""Tests for the bundled data (assets/data) and the builder's pure helpers.

Fast and offline: no apt, no network, no apertium.
"""

from __future__ import annotations

import csv
import hashlib
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # allow plain `pytest tests/test_build.py` without an installed package
    sys.path.insert(0, str(ROOT))

from finetune.peers import lead_summary, vader_label  # noqa: E402
from tools.build_data import common, debian, django_po, vader  # noqa: E402

DATA = ROOT / "assets" / "data"
EXAMPLES = ROOT / "assets" / "examples"

FIELDS = {
    "sentiment": {"text", "label"},
    "translation": {"source", "target"},
    "summarization": {"text", "summary"},
}
SPLITS = {
    "sentiment": ["train", "validation", "test", "test_amazon"],
    "translation": ["train", "validation", "test"],
    "summarization": ["train", "validation", "test"],
}
KEY = {"sentiment": "text", "translation": "source", "summarization": "text"}


def _rows(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


# --------------------------------------------------------------------------
# Bundled files
# --------------------------------------------------------------------------


@pytest.mark.parametrize("task", sorted(FIELDS))
def test_bundled_files_have_exact_fields(task):
    for split in SPLITS[task]:
        rows = _rows(DATA / task / f"{split}.jsonl")
        assert rows, f"{task}/{split} is empty"
        for r in rows:
            assert set(r) == FIELDS[task], (task, split, r)
            assert all(isinstance(v, str) and v.strip() for v in r.values()), (task, split, r)


@pytest.mark.parametrize("task", sorted(FIELDS))
def test_no_train_test_overlap(task):
    key = KEY[task]
    train = {common._norm_key(r[key]) for r in _rows(DATA / task / "train.jsonl")}
    val = {common._norm_key(r[key]) for r in _rows(DATA / task / "validation.jsonl")}
    for split in [s for s in SPLITS[task] if s.startswith("test")]:
        test = {common._norm_key(r[key]) for r in _rows(DATA / task / f"{split}.jsonl")}
        assert not (train & test), f"{task}: train/{split} overlap"
        assert not (val & test), f"{task}: validation/{split} overlap"
    assert not (train & val), f"{task}: train/validation overlap"


def test_split_sizes():
    n = lambda rel: len(_rows(DATA / rel))  # noqa: E731
    assert n("sentiment/test.jsonl") == 1000
    assert n("sentiment/validation.jsonl") == 300
    assert 0 < n("sentiment/test_amazon.jsonl") <= 1000
    assert n("translation/test.jsonl") == 300
    assert n("translation/validation.jsonl") == 150
    assert 1000 <= n("translation/train.jsonl") <= 4000
    assert n("summarization/test.jsonl") == 300
    assert n("summarization/validation.jsonl") == 150
    assert n("summarization/train.jsonl") == 12600
    total = sum(p.stat().st_size for p in (DATA / "translation").glob("*.jsonl") if p.name != "test_apertium.jsonl")
    assert total < 1.5 * 1024 * 1024


def test_sentiment_labels_binary_and_both_present():
    for split in SPLITS["sentiment"]:
        labels = [r["label"] for r in _rows(DATA / "sentiment" / f"{split}.jsonl")]
        assert set(labels) == {"positive", "negative"}, split


def test_translation_pairs_filtered():
    for split in SPLITS["translation"]:
        for r in _rows(DATA / "translation" / f"{split}.jsonl"):
            assert 3 <= len(r["source"].split()) <= 60
            assert 3 <= len(r["target"].split()) <= 60
            assert r["source"] != r["target"]
            assert "://" not in r["source"] and "://" not in r["target"]


def test_summarization_lengths():
    for split in SPLITS["summarization"]:
        for r in _rows(DATA / "summarization" / f"{split}.jsonl"):
            assert 40 <= len(r["text"].split()) <= 250
            assert 3 <= len(r["summary"].split()) <= 15


def test_apertium_peer_outputs_match_test_set():
    test = _rows(DATA / "translation" / "test.jsonl")
    peer = _rows(DATA / "translation" / "test_apertium.jsonl")
    assert len(peer) == len(test)
    for t, p in zip(test, peer):
        assert set(p) == {"source", "target", "prediction"}
        assert (p["source"], p["target"]) == (t["source"], t["target"])
        assert p["prediction"].strip()
        assert "*" not in p["prediction"] or "*" in p["source"]  # -u removes unknown-word marks


def test_manifest_matches_files():
    manifest = json.loads((DATA / "MANIFEST.json").read_text(encoding="utf-8"))
    build = manifest["build"]
    assert build["seed"] == 0 and "python -m tools.build_data" in build["command"]
    assert build["sizes"]["translation"]["test"] == 300
    expected = {f"{t}/{s}.jsonl" for t in SPLITS for s in SPLITS[t]} | {"translation/test_apertium.jsonl"}
    assert expected <= set(manifest["files"])
    for base, entries in ((DATA, manifest["files"]), (EXAMPLES, manifest["examples"])):
        for rel, meta in entries.items():
            path = base / rel
            assert path.exists(), rel
            assert hashlib.sha256(path.read_bytes()).hexdigest() == meta["sha256"], rel
            assert meta["source"] and meta["licence"], rel
            assert meta["bytes"] == path.stat().st_size, rel
            if path.suffix == ".jsonl":
                assert meta["rows"] == len(_rows(path)), rel


def test_examples_contract():
    with open(EXAMPLES / "sentiment_reviews.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["text", "label"]
    assert sum(r["label"] == "positive" for r in rows) == sum(r["label"] == "negative" for r in rows) == len(rows) // 2
    with open(EXAMPLES / "translation_en_es.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["source", "target"] and 40 <= len(rows) <= 80
    summ = _rows(EXAMPLES / "summarization.jsonl")
    assert 30 <= len(summ) <= 50 and all(set(r) == {"text", "summary"} for r in summ)
    with open(EXAMPLES / "sentiment_broken.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert "lable" in rows[0] and "label" not in rows[0]
    assert any(not r["text"] for r in rows)
    counts = {}
    for r in rows:
        counts[r["lable"]] = counts.get(r["lable"], 0) + 1
    assert 1 in counts.values()


# --------------------------------------------------------------------------
# Pure helpers
# --------------------------------------------------------------------------

DEB822 = """\
Package: foo
Description-md5: aaa
Description-en: fast text editor for terminals
 Foo is a small editor. It starts quickly.
 .
 Features include:
   * syntax highlighting
   * undo

Package: bar
Description-md5: bbb
Description-en: bar
 Bar.
"""

DEB822_ES = """\
Package: foo
Description-md5: aaa
Description-es: editor de texto rápido para terminales
 Foo es un editor pequeño. Se inicia rápidamente.
 .
 Las funcionalidades incluyen:
   * resaltado de sintaxis
   * deshacer
"""


def test_parse_deb822_and_split_description():
    recs = debian.parse_deb822(DEB822)
    assert [r["Package"] for r in recs] == ["foo", "bar"]
    assert recs[0]["Description-md5"] == "aaa"
    synopsis, paras = debian.split_description(recs[0]["Description-en"])
    assert synopsis == "fast text editor for terminals"
    assert len(paras) == 2
    assert not debian.is_verbatim(paras[0]) and debian.is_verbatim(paras[1])
    assert debian.paragraph_prose(paras[0]) == "Foo is a small editor. It starts quickly."
    text = debian.description_text(paras)
    assert text == "Foo is a small editor. It starts quickly.\nFeatures include:\n* syntax highlighting\n* undo"


def test_split_sentences_handles_abbreviations():
    s = debian.split_sentences("It supports Go (a.k.a. Weiqi). See e.g. the manual. ¿Qué es? Version 2. By J. Smith.")
    assert s == ["It supports Go (a.k.a. Weiqi).", "See e.g. the manual.", "¿Qué es?", "Version 2.", "By J. Smith."]


def test_sentence_alignment_requires_equal_counts():
    assert debian.align_paragraph_sentences("One two. Three four.", "Uno dos. Tres cuatro.") == [
        ("One two.", "Uno dos."), ("Three four.", "Tres cuatro.")]
    assert debian.align_paragraph_sentences("One two. Three four.", "Uno dos, tres cuatro.") == []


def test_debian_pairs_pairs_by_md5_and_filters():
    pairs = debian.debian_pairs(debian.parse_deb822(DEB822), debian.parse_deb822(DEB822_ES))
    got = [(p["source"], p["target"]) for p in pairs]
    assert ("fast text editor for terminals", "editor de texto rápido para terminales") in got
    assert ("Foo is a small editor.", "Foo es un editor pequeño.") in got
    assert ("It starts quickly.", "Se inicia rápidamente.") in got
    assert not any("syntax" in s for s, _ in got)  # verbatim list paragraph skipped
    assert all(p["package"] == "foo" for p in pairs)


def test_keep_pair_and_noise():
    assert common.keep_pair("This is a fine sentence.", "Esta es una buena frase.")
    assert not common.keep_pair("Too short", "Muy corto")
    assert not common.keep_pair("Same text in both languages", "Same text in both languages")
    assert not common.keep_pair("See https://example.org for more.", "Vea https://example.org para más.")
    assert not common.keep_pair("Run foo --verbose to see more.", "Ejecute foo --verbose para ver más.")
    assert not common.keep_pair("* a list item here", "* un elemento de lista")
    assert common.looks_noisy("/usr/lib/foo is the path")


PO = r'''
msgid ""
msgstr ""
"Content-Type: text/plain; charset=UTF-8\n"

msgid "Enter a valid value."
msgstr "Introduzca un valor válido."

#, fuzzy
msgid "This is fuzzy text"
msgstr "Esto es difuso"

#, python-format
msgid "Delete %(name)s now"
msgstr "Borrar %(name)s ahora"

msgid "One item"
msgid_plural "Many items"
msgstr[0] "Un elemento"
msgstr[1] "Muchos elementos"

msgctxt "month"
msgid ""
"A long string "
"over \"two\" lines"
msgstr "Una cadena larga en dos líneas"

msgid "Untranslated string here"
msgstr ""

#~ msgid "Old obsolete"
#~ msgstr "Viejo"
'''


def test_parse_po_and_po_pairs():
    entries = django_po.parse_po(PO)
    ids = [e["msgid"] for e in entries]
    assert "Enter a valid value." in ids and 'A long string over "two" lines' in ids
    assert "Old obsolete" not in ids
    ctx = next(e for e in entries if e["msgctxt"] == "month")
    assert ctx["msgstr"] == "Una cadena larga en dos líneas"
    plural = next(e for e in entries if e["msgid"] == "One item")
    assert plural["msgstr_plural"] == {0: "Un elemento", 1: "Muchos elementos"}
    assert next(e for e in entries if e["msgid"] == "This is fuzzy text")["fuzzy"]
    pairs = django_po.po_pairs(entries)
    assert pairs == [
        {"source": "Enter a valid value.", "target": "Introduzca un valor válido."},
        {"source": 'A long string over "two" lines', "target": "Una cadena larga en dos líneas"},
    ]


def test_rating_filter_and_sentiment_records():
    assert vader.rating_to_label(2.1) == "positive"
    assert vader.rating_to_label(-0.5) == "negative"
    assert vader.rating_to_label(0.49) is None and vader.rating_to_label(-0.3) is None
    rows = vader.parse_rating_file("1\t2.3\tA ''great'' film.\r\n2\t-1.2\tDull.\r\n3\t0.1\tMeh.\r\n4\t2.0\tA ''great'' film.\r\n")
    assert rows[0] == ("1", 2.3, "A ''great'' film.")
    recs = vader.sentiment_records(rows)
    assert recs == [{"text": 'A "great" film.', "label": "positive"}, {"text": "Dull.", "label": "negative"}]


def test_summarization_records_filters():
    long_text = " ".join(["word"] * 50)
    recs = debian.parse_deb822(
        f"Package: good\nDescription-md5: 1\nDescription-en: a nice little tool\n {long_text}.\n\n"
        f"Package: short\nDescription-md5: 2\nDescription-en: a nice little tool\n Too short.\n\n"
        f"Package: samename\nDescription-md5: 3\nDescription-en: samename\n {long_text} other.\n\n"
        f"Package: dup\nDescription-md5: 4\nDescription-en: another nice tool\n {long_text}.\n"
    )
    out = debian.summarization_records(recs)
    assert [r["package"] for r in out] == ["dup"]  # 'dup' sorts first; 'good' shares its first paragraph
    assert out[0]["summary"] == "another nice tool" and out[0]["text"] == long_text + "."


def test_split_by_group_keeps_groups_apart():
    recs = [{"g": f"g{i // 3}", "v": i} for i in range(30)]
    test, val, rest = common.split_by_group(recs, "g", [5, 4])
    assert len(test) == 5 and len(val) == 4
    groups = [{r["g"] for r in part} for part in (test, val, rest)]
    assert not (groups[0] & groups[1]) and not (groups[0] & groups[2]) and not (groups[1] & groups[2])
    assert common.split_by_group(recs, "g", [5, 4]) == [test, val, rest]  # deterministic


def test_lead_summary():
    assert lead_summary("one two  three\nfour", n_words=3) == "one two three"
    assert lead_summary("short text") == "short text"
    assert len(lead_summary(" ".join(map(str, range(50)))).split()) == 10


def test_vader_label():
    pytest.importorskip("vaderSentiment")
    assert vader_label(["I love this wonderful, excellent movie!", "This is terrible, awful and boring."]) == [
        "positive", "negative"]
