"""Take an adapter home: its base with the adapter merged in, as a folder any `from_pretrained` loads
(safetensors, the tokenizer, a model card), zipped; and a push of the adapter or that model to the Hub.

Merging starts from a private fp32 copy of the base (`load_pretrained`), never the shared served model:
other people's requests run on that one, with its own speed-ups and other adapters attached.
"""

from __future__ import annotations

import tempfile
import threading
import zipfile
from pathlib import Path

from huggingface_hub import HfApi, is_offline_mode
from huggingface_hub.errors import HfHubHTTPError, HTTPError
from peft import PeftModel

import models.catalogue  # noqa: F401  (the words of the messages below)
from finetune.card import render_card
from finetune.measurements import persona_results
from models.adapters import ZIPPED_FILES, AdapterInfo, adapter_key
from models.inference import check_fits
from models.loading import load_pretrained
from models.messages import LocalizedError
from models.registry import get_spec
from models.tasks import get_task

_CLASSES = {"causal": "AutoModelForCausalLM", "seq2seq": "AutoModelForSeq2SeqLM",
            "encoder": "AutoModelForSequenceClassification"}


class ExportError(LocalizedError):
    """A merge or a push that cannot be done; the message (a key, `models.catalogue`) says why."""


def merged_model_zip(info: AdapterInfo) -> Path:
    """The merged model of this version of the adapter, as a zip; built once however many people ask
    (30 students clicking the same shipped adapter wait for one build), and an older version's zip is
    deleted when a newer one is built, so each adapter keeps one on disk."""
    folder = str(info.path.resolve())
    version = adapter_key(info)  # changes with the weights
    with _LOCKS_LOCK:
        lock = _LOCKS.setdefault(folder, threading.Lock())
    with lock:
        built = _BUILT.get(folder)
        if built is not None and built[0] == version and built[1].is_file():
            return built[1]
        archive = _build(info, Path(tempfile.mkdtemp(prefix="merged-")))
        if built is not None:
            built[1].unlink(missing_ok=True)
        _BUILT[folder] = (version, archive)
        return archive


_BUILT: dict[str, tuple[str, Path]] = {}  # adapter folder -> (its version, the zip of it merged)
_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_LOCK = threading.Lock()


def _build(info: AdapterInfo, workdir: Path) -> Path:
    """Merge into a fresh copy of the base, save it with its tokenizer and card, zip the folder."""
    spec = get_spec(info.base_model)
    model, tokenizer = load_pretrained(spec, info.labels)
    check_fits(model, info)  # a misfit is refused by name, before peft fails obscurely
    try:
        merged = PeftModel.from_pretrained(model, str(info.path), is_trainable=False).merge_and_unload()
    except Exception as error:  # peft raises several types for what it cannot merge
        raise ExportError("export.cannot_merge", name=info.name, reason=f"{type(error).__name__}: {error}") from None
    folder = workdir / f"{info.name}-merged"
    merged.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    (folder / "README.md").write_text(merged_card(info, spec.architecture), encoding="utf-8")
    archive = workdir / f"{folder.name}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for path in sorted(folder.iterdir()):
            zipped.write(path, f"{folder.name}/{path.name}")
    return archive


def merged_card(info: AdapterInfo, architecture: str) -> str:
    """The adapter's own card (as the Adapters tab shows it, in English) and how to use the merged model."""
    card = render_card(info.name, info.metadata, "en", persona_results() if info.shipped else None)
    return f"{card}\n## How to use\n\n{_usage(info, architecture)}\n"


def _usage(info: AdapterInfo, architecture: str) -> str:
    """A few lines of plain transformers (no peft: the adapter is inside the weights) for this task."""
    task = get_task(info.task)
    load = (f"from transformers import AutoTokenizer, {_CLASSES[architecture]}\n\n"
            f'model = {_CLASSES[architecture]}.from_pretrained("{info.name}-merged")\n'
            f'tokenizer = AutoTokenizer.from_pretrained("{info.name}-merged")\n')
    if task.kind == "classify":
        use = ('inputs = tokenizer("I loved it", return_tensors="pt")\n'
               "probabilities = model(**inputs).logits.softmax(-1)[0]\n"
               "print({model.config.id2label[i]: float(p) for i, p in enumerate(probabilities)})")
    elif task.kind == "chat":
        use = ('messages = [{"role": "user", "content": "Hi!"}]\n'
               "inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors=\"pt\",\n"
               "                                       return_dict=True)\n"
               f"output = model.generate(**inputs, max_new_tokens={task.max_new_tokens}, do_sample=False)\n"
               'print(tokenizer.decode(output[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True))')
    else:
        prompt = task.generation_prompt("...", architecture, few_shot=False)
        first = 0 if architecture == "seq2seq" else 'inputs["input_ids"].shape[1]'
        use = (f"inputs = tokenizer({prompt!r}, return_tensors=\"pt\")  # the prompt it was trained on\n"
               f"output = model.generate(**inputs, max_new_tokens=64, do_sample=False)\n"
               f"print(tokenizer.decode(output[0, {first}:], skip_special_tokens=True).split(\"\\n\")[0])")
    return f"```python\n{load}{use}\n```"


def push_to_hub(info: AdapterInfo, repo_id: str, token: str, merged: bool = False) -> str:
    """Upload the adapter's files (or the merged model) to the Hub repository `repo_id`, creating it
    (private) when needed; returns the repository's URL. Offline, or where the Hub cannot be reached,
    it says so: the zip downloads work without a connection."""
    if not repo_id.strip() or not token.strip():
        raise ExportError("export.needs_repo_and_token")
    if is_offline_mode():
        raise ExportError("export.offline")
    api = HfApi(token=token.strip())
    try:
        url = api.create_repo(repo_id.strip(), private=True, exist_ok=True)
        if merged:
            with tempfile.TemporaryDirectory(prefix="push-") as unpacked:
                with zipfile.ZipFile(merged_model_zip(info)) as zipped:
                    zipped.extractall(unpacked)
                api.upload_folder(repo_id=url.repo_id, folder_path=next(Path(unpacked).iterdir()),
                                  commit_message=f"Merged model of adapter {info.name}")
        else:
            api.upload_folder(repo_id=url.repo_id, folder_path=info.path, allow_patterns=list(ZIPPED_FILES),
                              commit_message=f"Adapter {info.name}")
    except HfHubHTTPError as error:  # reached, and refused: a bad token, a name taken, no rights
        raise ExportError("export.hub_refused", reason=str(error).splitlines()[0]) from None
    except (ConnectionError, HTTPError):  # no connection (HfHubHTTPError, a response, is caught above)
        raise ExportError("export.offline") from None
    return str(url)

