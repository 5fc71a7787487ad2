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
from tools.build_data import common, debian, django_po, gettext_test, pypi_fetch, pypi_meta, vader  # noqa: E402

DATA = ROOT / "assets" / "data"
EXAMPLES = ROOT / "assets" / "examples"

FIELDS = {
    "sentiment": {"text", "label"},
    "translation": {"source", "target"},
    "summarization": {"text", "summary"},
}
SPLITS = {
    "sentiment": ["train", "validation", "test", "test_amazon", "train_amazon", "validation_amazon", "test_news",
                  "train_news", "validation_news", "test_everyday"],
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


def test_sentiment_domains_are_disjoint_and_no_test_row_is_trained_on():
    """Across domains too: a movie, product or news text is in one split of one domain only."""
    keys = {split: {common._norm_key(r["text"]) for r in _rows(DATA / "sentiment" / f"{split}.jsonl")}
            for split in SPLITS["sentiment"]}
    for split, found in keys.items():
        for other, other_found in keys.items():
            assert split == other or not (found & other_found), (split, other)


def test_everyday_sentences_are_the_builders():
    assert _rows(DATA / "sentiment" / "test_everyday.jsonl") == [{"text": t, "label": lab} for t, lab in vader.EVERYDAY]


def test_split_sizes():
    n = lambda rel: len(_rows(DATA / rel))  # noqa: E731
    assert n("sentiment/test.jsonl") == 1000
    assert n("sentiment/validation.jsonl") == 300
    assert 0 < n("sentiment/test_amazon.jsonl") <= 1000
    assert n("sentiment/test_news.jsonl") == 1000
    assert n("sentiment/validation_amazon.jsonl") == n("sentiment/validation_news.jsonl") == 300
    assert n("sentiment/train_amazon.jsonl") > 1000 and n("sentiment/train_news.jsonl") > 1000
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


def test_split_domains_is_deterministic_disjoint_and_cuts_tests_first(monkeypatch):
    sizes = {"test": 3, "validation": 2, "test_amazon_max": 3, "validation_amazon": 2, "test_news": 3,
             "validation_news": 2}
    monkeypatch.setitem(common.SIZES, "sentiment", sizes)
    label = lambda i: "positive" if i % 2 else "negative"  # noqa: E731
    movie = [{"text": f"Film {i}.", "label": label(i)} for i in range(10)]
    amazon = [{"text": f"Product {i}.", "label": label(i)} for i in range(9)]
    amazon.append({"text": "film 3", "label": "positive"})  # a movie text again: left to the movies
    news = [{"text": f"News {i}.", "label": label(i)} for i in range(8)] + [{"text": "PRODUCT 4!", "label": "negative"}]
    splits = vader.split_domains(movie, amazon, news)
    assert splits == vader.split_domains(list(reversed(movie)), amazon[::-1], news[::-1])  # order of input ignored
    assert {name: len(rows) for name, rows in splits.items()} == {
        "test": 3, "validation": 2, "train": 5, "test_amazon": 3, "validation_amazon": 2, "train_amazon": 4,
        "test_news": 3, "validation_news": 2, "train_news": 3}  # the texts another domain has are dropped
    keys = {name: {common._norm_key(r["text"]) for r in rows} for name, rows in splits.items()}
    assert sum(map(len, keys.values())) == len(set().union(*keys.values()))  # no text in two splits
    for domain in ("movie", "amazon", "news"):
        first = {"movie": "Film", "amazon": "Product", "news": "News"}[domain]
        suffix = "" if domain == "movie" else f"_{domain}"
        assert all(r["text"].startswith(first) for part in ("test", "validation", "train")
                   for r in splits[part + suffix])
    # rows added to one domain (news) move no split of the domains before it
    more = vader.split_domains(movie, amazon, news + [{"text": "News 99.", "label": "positive"}])
    assert more["test_amazon"] == splits["test_amazon"] and more["test"] == splits["test"]


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


_PO = '''msgid ""
msgstr "Content-Type: text/plain; charset=UTF-8\\n"

msgid "The configuration file could not be read."
msgstr "No se pudo leer el archivo de configuración."

#, fuzzy
msgid "The output directory is not writable."
msgstr "El directorio de salida no se puede escribir."

msgid "The index page has not been written yet."
msgstr ""

msgid "one file was copied to the folder"
msgid_plural "%d files were copied to the folder"
msgstr[0] "se copió un archivo a la carpeta"
msgstr[1] "se copiaron %d archivos a la carpeta"

msgid "There is a syntax error in your file: %s"
msgstr "Hay un error de sintaxis en su archivo: %s"

msgid "the module %s has no attribute %r"
msgstr "el módulo %s no tiene el atributo %r"

msgid "Module Config Start Wizard"
msgstr "Asistente de inicio de configuración de módulos"

msgid "<b>Search</b> the whole documentation at once"
msgstr "<b>Buscar</b> en toda la documentación a la vez"

msgid "This text is already in the training file."
msgstr "Este texto ya está en el archivo de entrenamiento."
'''


def test_gettext_pairs_clean_and_select_deterministically():
    """Only plain, sentence-like messages: no fuzzy, empty, plural, placeholder-ridden or Title Case entries,
    tags and a trailing ': %s' removed, nothing trained on, the same rows for the same inputs."""
    catalogues = {"b:other.po": _PO.replace("whole documentation", "whole site"), "a:one.po": _PO}
    trained = ["This text is ALREADY in the training file"]
    pairs = gettext_test.gettext_pairs(catalogues, trained, size=10)
    assert pairs == gettext_test.gettext_pairs(dict(reversed(catalogues.items())), trained, size=10)
    by_source = {p["source"]: p for p in pairs}
    assert set(by_source) == {"The configuration file could not be read.", "There is a syntax error in your file",
                              "Search the whole documentation at once", "Search the whole site at once"}
    assert by_source["There is a syntax error in your file"]["target"] == "Hay un error de sintaxis en su archivo"
    assert by_source["The configuration file could not be read."]["origin"] == "a:one.po"  # the first origin wins
    assert len(pairs) == len(by_source)  # the other catalogue's duplicates are dropped
    assert gettext_test.gettext_pairs(catalogues, trained, size=2) == pairs[:2]


def test_gettext_test_split_is_held_out_and_has_its_apertium_outputs():
    test = _rows(DATA / "translation" / "test_gettext.jsonl")
    assert 200 <= len(test) <= 300 and all(set(r) == {"source", "target"} for r in test)
    trained = {common._norm_key(r["source"]) for split in ("train", "validation")
               for r in _rows(DATA / "translation" / f"{split}.jsonl")}
    keys = [common._norm_key(r["source"]) for r in test]
    assert len(set(keys)) == len(keys) and not (set(keys) & trained)
    assert all(common.keep_pair(r["source"], r["target"]) for r in test)
    peer = _rows(DATA / "translation" / "test_gettext_apertium.jsonl")
    assert [(p["source"], p["target"]) for p in peer] == [(r["source"], r["target"]) for r in test]
    assert all(p["prediction"].strip() for p in peer)
    files = json.loads((DATA / "MANIFEST.json").read_text(encoding="utf-8"))["files"]
    assert files["translation/test_gettext.jsonl"]["rows"] == len(test)
    assert "sphinx-9.0.4" in files["translation/test_gettext.jsonl"]["source"]


# --------------------------------------------------------------------------
# Second summarization domain: PyPI Summary / Description (issue 26)
# --------------------------------------------------------------------------


_README_MD = """# fancytool

[![PyPI](https://img.shields.io/pypi/v/fancytool.svg)](https://pypi.org/project/fancytool/) ![CI](https://ci/badge.svg)

<p align="center"><img src="logo.png"></p>

Fancytool turns **messy** spreadsheets into tidy [pandas](https://pandas.pydata.org) tables, and it does so
without asking you to write `any code` at all.

It was written for lab technicians who export data from instruments.

- Reads CSV and Excel files
- Guesses column types

| a | b |
|---|---|
| 1 | 2 |

## Installation

```bash
pip install fancytool
```

## Usage

Run it like this:

    fancytool data.csv
"""

_README_RST = """=========
fancytool
=========

.. image:: https://img.shields.io/pypi/v/fancytool.svg
   :target: https://pypi.org/project/fancytool/

|build| |docs|

Fancytool turns *messy* spreadsheets into tidy `pandas <https://pandas.pydata.org>`_ tables.
See :func:`fancytool.read` and ``fancytool.tidy`` for details, or the `issue tracker
<https://example.org/issues>`_.

Example::

    >>> import fancytool
    >>> fancytool.read("x.csv")

Features
--------

* Reads CSV files
* Guesses column types

+-----+-----+
| a   | b   |
+=====+=====+

License
-------

MIT, see LICENSE_.

.. _LICENSE: https://example.org
.. |build| image:: https://ci/badge.svg
"""


def test_clean_description_removes_markdown_markup():
    assert pypi_meta.clean_description(_README_MD) == (
        "Fancytool turns messy spreadsheets into tidy pandas tables, and it does so without asking you to write "
        "any code at all.\nIt was written for lab technicians who export data from instruments.\n"
        "* Reads CSV and Excel files\n* Guesses column types")


def test_clean_description_removes_restructuredtext_markup():
    assert pypi_meta.clean_description(_README_RST) == (
        "Fancytool turns messy spreadsheets into tidy pandas tables. See fancytool.read and fancytool.tidy for "
        "details, or the issue tracker.\n* Reads CSV files\n* Guesses column types")


def test_clean_description_keeps_leading_paragraphs_up_to_the_limit():
    text = "\n\n".join(f"Paragraph {i} has exactly seven words here." for i in range(10))
    assert pypi_meta.clean_description(text, max_words=20) == "\n".join(
        f"Paragraph {i} has exactly seven words here." for i in range(2))


def test_copies_lead_drops_first_sentence_copies_only():
    text = "Fancytool turns messy spreadsheets into tidy pandas tables. It was written for lab technicians."
    assert pypi_meta.copies_lead("Fancytool turns messy spreadsheets into tidy pandas tables.", text)  # the sentence
    assert pypi_meta.copies_lead("turns messy spreadsheets into tidy pandas tables", text)  # contained in it
    assert pypi_meta.copies_lead("fancytool: messy spreadsheets into pandas tables", text)  # mostly contained
    assert not pypi_meta.copies_lead("Spreadsheet cleaner for laboratories", text)


def _meta(summary: str, description: str, version: str = "1.0") -> dict:
    return {"info": {"summary": summary, "description": description, "version": version}, "urls": []}


def test_pypi_records_filters_and_counts_drops():
    prose = ("Fancytool reads the files that laboratory instruments export and writes them out again as tables "
             "that are easy to analyse. It was written for technicians who spend their afternoons copying numbers "
             "between windows, and it keeps a log of every change it makes so that nothing is lost on the way.")
    german = ("Dieses Paket ist eine kleine Bibliothek für die Verarbeitung von Tabellen und mit der Hilfe von "
              "vielen Beispielen sind die Daten schnell bereit, und die Ergebnisse werden auf der Festplatte "
              "gespeichert, damit nichts verloren geht und alles nachvollziehbar bleibt für die Nutzer.")
    metas = {
        "good": _meta("Spreadsheet cleaner for labs", "# good\n\n" + prose, "2.0"),
        "copy": _meta("Fancytool reads the files that laboratory instruments export", prose),
        "short": _meta("Spreadsheet cleaner for labs and schools", "Too short to summarize."),
        "german": _meta("Tabellen fuer Labore und Schulen", german),
        "template": _meta("Add your description here", prose.replace("Fancytool", "Othertool")),
        "dup": _meta("Spreadsheet cleaner for labs", prose.replace("Fancytool", "Dupetool")),
        "debian": _meta("A summary that Debian already has", prose.replace("Fancytool", "Debtool")),
        "gone": None,
    }
    records, drops = pypi_meta.pypi_records(metas, exclude_summaries=["A summary that Debian already has"])
    assert records == [{"package": "dup", "version": "1.0", "text": prose.replace("Fancytool", "Dupetool"),
                        "summary": "Spreadsheet cleaner for labs"}] or [r["package"] for r in records] == ["dup"]
    assert sum(drops.values()) == len(metas) - len(records)
    assert drops["gone (404)"] == 1 and drops["not English"] == 1 and drops["also in the Debian summarization files"] == 1
    assert drops["summary copies the first sentence / lead words"] == 1
    assert drops["duplicate summary or first paragraph"] == 1  # 'good' comes after 'dup' in sorted order


def test_pypi_splits_are_deterministic_disjoint_and_cut_test_first():
    records = [{"package": f"p{i}", "version": "1", "text": f"text {i}", "summary": f"summary {i}"} for i in range(50)]
    a = pypi_meta.pypi_splits(records, 10, 5)
    b = pypi_meta.pypi_splits(list(reversed(records)), 10, 5, train=20)
    assert a["test"] == b["test"] and a["validation"] == b["validation"] and a["train"][:20] == b["train"]
    assert [len(a[k]) for k in ("test", "validation", "train")] == [10, 5, 35]
    names = [{r["package"] for r in a[k]} for k in ("test", "validation", "train")]
    assert not (names[0] & names[1]) and not (names[0] & names[2]) and not (names[1] & names[2])


def test_pypi_summarization_files():
    """Committed PyPI splits: sizes, fields, lengths, pinned packages, and held out from each other and from
    every Debian summarization file."""
    split = {s: _rows(DATA / "summarization" / f"{s}_pypi.jsonl") for s in ("train", "validation", "test")}
    assert 300 <= len(split["test"]) <= 400 and len(split["validation"]) == 150
    assert 3000 <= len(split["train"]) <= 6000
    for rows in split.values():
        for r in rows:
            assert set(r) == {"text", "summary"} and r["text"].strip() and r["summary"].strip()
            assert 40 <= len(r["text"].split()) <= 250 and 3 <= len(r["summary"].split()) <= 15
            assert "://" not in r["text"] and "![" not in r["text"] and "```" not in r["text"]
            assert not pypi_meta.copies_lead(r["summary"], r["text"])
    keys = {s: {common._norm_key(r[f]) for r in rows for f in ("text", "summary")} for s, rows in split.items()}
    assert not (keys["test"] & keys["train"]) and not (keys["test"] & keys["validation"])
    assert not (keys["validation"] & keys["train"])
    debian_rows = [r for s in ("train", "validation", "test") for r in _rows(DATA / "summarization" / f"{s}.jsonl")]
    debian_keys = {common._norm_key(r[f]) for r in debian_rows for f in ("text", "summary")}
    for s in split:
        assert not (keys[s] & debian_keys), s
    pins = pypi_fetch.read_pins(DATA / pypi_fetch.PACKAGES_FILE)
    assert len(pins) >= sum(len(rows) for rows in split.values()) and all(name and version for name, version in pins)
    files = json.loads((DATA / "MANIFEST.json").read_text(encoding="utf-8"))["files"]
    for s, rows in split.items():
        entry = files[f"summarization/{s}_pypi.jsonl"]
        assert entry["rows"] == len(rows) and "pypi_packages.txt" in entry["source"] and entry["cleaning"]
