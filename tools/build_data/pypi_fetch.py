"""Fetching the PyPI summarization domain (``pypi_meta``): which packages, their metadata, and the pins.

A seeded sample of names from the PyPI simple index; the latest metadata of each from the JSON API,
cached; the kept packages pinned as ``name==version`` in ``assets/data/summarization/pypi_packages.txt``
so that a rebuild reads the same metadata (the pinned version's own core metadata when it is no
longer the latest). ``pypi_meta`` turns the metadata into clean pairs; this file only gets it.
"""

from __future__ import annotations

import email.parser
import gzip
import http.client
import json
import random
import re
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterable, Sequence

from tools.build_data.common import SEED, _log, sha256_bytes
from tools.build_data.pypi_meta import pypi_records

PYPI_SAMPLE = 36000  # names drawn from the simple index
PYPI_THREADS = 16
PACKAGES_FILE = "summarization/pypi_packages.txt"
SIMPLE_URL = "https://pypi.org/simple/"
JSON_URL = "https://pypi.org/pypi/{name}/json"
USER_AGENT = "lora-playground-build-data (summarization data builder; https://pypi.org/simple/ sample)"

_local = threading.local()


def _get(url: str, accept: str | None = None, tries: int = 3) -> bytes | None:
    """GET ``url`` over a kept-alive HTTPS connection per thread and host (a TLS handshake per request
    would cost more CPU than the request); None on 404/410 (a project that no longer exists)."""
    parts = urllib.parse.urlsplit(url)
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "gzip"}
    if accept:
        headers["Accept"] = accept
    conns = _local.__dict__.setdefault("conns", {})
    for attempt in range(tries):
        try:
            conn = conns.get(parts.netloc)
            if conn is None:
                conn = conns[parts.netloc] = http.client.HTTPSConnection(parts.netloc, timeout=60)
            conn.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""), headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            if resp.getheader("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            if resp.status in (404, 410):
                return None
            if resp.status in (301, 302, 303, 307, 308):
                return _get(urllib.parse.urljoin(url, resp.getheader("Location")), accept, tries)
            if resp.status == 200:
                return body
            if attempt == tries - 1:
                raise RuntimeError(f"GET {url}: HTTP {resp.status}")
            time.sleep(2 ** attempt)
        except (OSError, http.client.HTTPException):
            conns.pop(parts.netloc, None)
            if attempt == tries - 1:
                raise
            time.sleep(2 ** attempt)
    return None


def simple_index_names(cache: Path, refresh: bool = False) -> tuple[list[str], str]:
    """All project names (normalised, sorted) of the PyPI simple index, and its snapshot's sha256.

    The index page is stored in the cache on first use, so a rebuild samples from the same snapshot."""
    path = cache / "pypi_meta" / "simple.html"
    if refresh or not path.exists():
        _log(f"GET {SIMPLE_URL}")
        data = _get(SIMPLE_URL)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    data = path.read_bytes()
    names = sorted(set(re.findall(r'<a href="([^"/]+)/">', data.decode("utf-8"))))
    return names, sha256_bytes(data)


def sample_names(names: Sequence[str], n: int = PYPI_SAMPLE, seed: int = SEED) -> list[str]:
    """A seeded sample of ``n`` names, returned sorted (independent of the input order)."""
    return sorted(random.Random(seed).sample(sorted(names), min(n, len(names))))


def _cache_path(cache: Path, name: str) -> Path:
    return cache / "pypi_meta" / "json" / name[:2] / f"{name}.json.gz"


def fetch_metadata(cache: Path, name: str) -> dict | None:
    """``{"info": ..., "urls": ...}`` of the latest release of ``name`` (cached), or None if gone."""
    path = _cache_path(cache, name)
    if path.exists():
        data = json.loads(gzip.decompress(path.read_bytes()))
        return data or None
    raw = _get(JSON_URL.format(name=name))
    data = {}
    if raw is not None:
        full = json.loads(raw)
        data = {"info": full.get("info") or {}, "urls": full.get("urls") or []}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(json.dumps(data, ensure_ascii=False).encode("utf-8"), compresslevel=6, mtime=0))
    return data or None


def fetch_all(cache: Path, names: Sequence[str], threads: int = PYPI_THREADS) -> dict[str, dict | None]:
    """Metadata for each name (None where the project is gone), ``threads`` requests at a time."""
    out: dict[str, dict | None] = {}
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for i, (name, meta) in enumerate(zip(names, pool.map(lambda n: fetch_metadata(cache, n), names))):
            out[name] = meta
            if (i + 1) % 5000 == 0:
                _log(f"pypi: {i + 1}/{len(names)} metadata read")
    return out


def pinned_metadata(cache: Path, name: str, version: str) -> dict | None:
    """Metadata of ``name==version``: the JSON API's when that is still the latest release, else the
    core metadata (PEP 658 ``.metadata``) of one of that version's wheels, in the same shape."""
    meta = fetch_metadata(cache, name)
    if meta and meta["info"].get("version") == version:
        return meta
    path = cache / "pypi_meta" / "pinned" / name[:2] / f"{name}-{version}.metadata"
    if not path.exists():
        raw = _get(f"https://pypi.org/simple/{name}/", accept="application/vnd.pypi.simple.v1+json")
        files = json.loads(raw)["files"] if raw else []
        wheels = sorted(f["url"] for f in files
                        if f["filename"].endswith(".whl") and f"-{version}-" in f["filename"].replace("_", "-"))
        body = _get(wheels[0] + ".metadata") if wheels else None
        if body is None:
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
    msg = email.parser.BytesParser().parsebytes(path.read_bytes())
    description = msg.get_payload() or msg.get("Description", "")
    return {"info": {"name": msg.get("Name", name), "version": msg.get("Version", version),
                     "summary": msg.get("Summary", ""), "description": description,
                     "description_content_type": msg.get("Description-Content-Type")}, "urls": []}


def read_pins(path: Path) -> list[tuple[str, str]]:
    """``(name, version)`` pairs of a ``name==version`` list (``#`` comments and blank lines skipped)."""
    pins = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins.append((name.strip(), version.strip()))
    return pins


def write_pins(path: Path, records: Sequence[dict], header: Sequence[str]) -> None:
    """The ``name==version`` of every record, sorted, after ``#`` lines describing the selection."""
    lines = [f"# {h}" for h in header] + sorted(f"{r['package']}=={r['version']}" for r in records)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def pins_header(path: Path) -> list[str]:
    return [line[2:] for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("# ")]


def select_records(cache: Path, pins: Path, exclude_summaries: Iterable[str], exclude_texts: Iterable[str],
                   resample: bool = False) -> tuple[list[dict], list[str]]:
    """The kept records and a description of how they were selected.

    Without a pins file (or with ``resample``) the packages are sampled from the simple index and
    the kept ones are pinned to ``pins``; with one, exactly the pinned ``name==version`` are read
    (so the splits, which are cut from the shuffled record set, come out the same)."""
    exclude_summaries, exclude_texts = list(exclude_summaries), list(exclude_texts)
    if pins.exists() and not resample:
        pinned = read_pins(pins)
        _log(f"pypi: reading {len(pinned)} pinned packages from {pins.name}")
        with ThreadPoolExecutor(max_workers=PYPI_THREADS) as pool:
            metas = dict(zip([n for n, _ in pinned], pool.map(lambda nv: pinned_metadata(cache, *nv), pinned)))
        records, drops = pypi_records(metas, exclude_summaries, exclude_texts)
        if len(records) != len(pinned):
            _log(f"pypi: {len(pinned) - len(records)} pinned packages no longer give a record: {dict(drops)}")
        return records, pins_header(pins)
    names, index_sha = simple_index_names(cache, refresh=resample)
    sample = sample_names(names)
    _log(f"pypi: {len(sample)} of {len(names)} names sampled; reading their metadata")
    metas = fetch_all(cache, sample)
    records, drops = pypi_records(metas, exclude_summaries, exclude_texts)
    header = [
        f"Selection: random.Random({SEED}).sample of {len(sample)} names from the sorted PyPI simple index "
        f"({SIMPLE_URL}, {len(names)} projects, page sha256 {index_sha}); latest release metadata from "
        f"{JSON_URL}.",
        f"Fetched {len(sample)}; kept {len(records)}; dropped: " + "; ".join(f"{k} {v}" for k, v in drops.most_common()) + ".",
        "One line per kept package (name==version, the release whose Summary/Description was used).",
    ]
    write_pins(pins, records, header)
    return records, header
