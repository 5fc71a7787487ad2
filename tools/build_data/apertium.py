"""Apertium (``eng-spa``), the rule-based peer whose translations of the test
set are bundled as ``translation/test_apertium.jsonl``.  The translation call
itself is ``finetune.peers.apertium_translate``; this module only makes sure the
Debian packages are installed and reports their versions."""

from __future__ import annotations

import shutil
import subprocess
from typing import Sequence

from tools.build_data.common import _apt_install


def ensure_apertium() -> None:
    if shutil.which("apertium") is None or not _apertium_has_pair("eng-spa"):
        _apt_install(["apertium", "apertium-eng-spa"])


def _apertium_has_pair(pair: str) -> bool:
    try:
        out = subprocess.run(["apertium", "-l"], capture_output=True, text=True, check=False).stdout
    except OSError:
        return False
    return pair in out.split()


def _dpkg_versions(packages: Sequence[str]) -> str:
    try:
        out = subprocess.run(["dpkg-query", "-W", *packages], capture_output=True, text=True, check=False).stdout
    except OSError:
        return "unknown"
    return ", ".join("=".join(line.split("\t")) for line in out.strip().splitlines()) or "unknown"
