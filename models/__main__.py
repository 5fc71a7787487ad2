"""`python -m models predict --task TASK [--adapter NAME] TEXT` prints one prediction."""

from __future__ import annotations

import argparse
import json
import sys

from models.adapters import AdapterError
from models.registry import ModelUnavailableError
from models.tasks import UnknownTaskError, get_task, task_names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    predict = commands.add_parser("predict", help="Run one task on one input.")
    predict.add_argument("--task", choices=task_names(), required=True)
    predict.add_argument("--adapter", help="Adapter name or folder (default: the bare base model).")
    predict.add_argument("--base", help="Base model key or hub id (default: the task's default).")
    predict.add_argument("text", help="The input text (for chat: the user's message).")
    commands.add_parser("list", help="List base models and adapters.")
    args = parser.parse_args(argv)

    from models import inference, quiet_libraries
    from models.adapters import list_adapters
    from models.registry import list_specs, register_models_from_env

    quiet_libraries()
    register_models_from_env()
    if args.command == "list":
        for spec in list_specs():
            print(f"base     {spec.key:26} {spec.hub_id:40} {', '.join(spec.tasks)}")
        for info in list_adapters():
            print(f"adapter  {info.name:26} {info.base_model:40} {info.task}")
        return 0
    kind = get_task(args.task).kind
    try:
        if kind == "classify":
            print(json.dumps(inference.classify(args.task, args.text, args.adapter, args.base)))
        elif kind == "chat":
            turn = inference.ChatTurn(args.text, adapter=args.adapter)
            print(inference.final_texts(inference.chat_streams([turn], args.base, task=args.task))[0])
        else:
            streams = inference.generation_streams(args.task, [(args.text, args.adapter)], args.base)
            print(inference.final_texts(streams)[0])
    except (AdapterError, ModelUnavailableError, UnknownTaskError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
