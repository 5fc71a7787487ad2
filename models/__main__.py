"""`python -m models predict --task TASK [--adapter NAME] TEXT` prints one prediction."""

from __future__ import annotations

import argparse
import json
import sys

from models.adapters import AdapterError
from models.registry import TASKS, ModelUnavailableError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    predict = commands.add_parser("predict", help="Run one task on one input.")
    predict.add_argument("--task", choices=TASKS, required=True)
    predict.add_argument("--adapter", help="Adapter name or folder (default: the bare base model).")
    predict.add_argument("--base", help="Base model key or hub id (default: the task's default).")
    predict.add_argument("text", help="The input text (for chat: the user's message).")
    commands.add_parser("list", help="List base models and adapters.")
    args = parser.parse_args(argv)

    from models import inference, quiet_libraries
    from models.adapters import list_adapters
    from models.registry import list_specs

    quiet_libraries()
    if args.command == "list":
        for spec in list_specs():
            print(f"base     {spec.key:26} {spec.hub_id:40} {', '.join(spec.tasks)}")
        for info in list_adapters():
            print(f"adapter  {info.name:26} {info.base_model:40} {info.task}")
        return 0
    try:
        if args.task == "sentiment":
            print(json.dumps(inference.classify_sentiment(args.text, args.adapter, args.base)))
        elif args.task == "chat":
            reply = ""
            for reply in inference.chat(args.text, adapter=args.adapter, base=args.base):
                pass
            print(reply)
        else:
            run = inference.translate if args.task == "translation" else inference.summarize
            print(run(args.text, args.adapter, args.base))
    except (AdapterError, ModelUnavailableError, KeyError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
