"""Turn normalized records into token ids and labels for each architecture.

Causal models learn only their answer: prompt and chat-template tokens get the label -100
(ignored by the loss); the end-of-sequence / end-of-turn token is trained so generation stops.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from finetune.data.contract import quiet_datasets
from models.tasks import get_task

if TYPE_CHECKING:
    from datasets import Dataset

IGNORE = -100


def encode_record(task: str, architecture: str, tokenizer: Any, record: dict[str, Any], max_length: int,
                  label2id: dict[str, int] | None = None) -> dict[str, list[int] | int]:
    spec = get_task(task)
    if spec.kind == "classify":
        features = tokenizer(record[spec.input_column], truncation=True, max_length=max_length)
        return {"input_ids": features["input_ids"], "attention_mask": features["attention_mask"],
                "labels": label2id[record[spec.output_column]]}
    if spec.kind == "chat":
        return _encode_chat(tokenizer, record["messages"], max_length)
    prompt, target = spec.prompt_and_target(record, architecture)
    if architecture == "seq2seq":
        source = tokenizer(prompt, truncation=True, max_length=max_length)
        labels = tokenizer(text_target=target, truncation=True, max_length=max_length)["input_ids"]
        return {"input_ids": source["input_ids"], "attention_mask": source["attention_mask"], "labels": labels}
    prompt_ids = tokenizer(prompt)["input_ids"]
    target_ids = tokenizer(target, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    prompt_ids = prompt_ids[: max(1, max_length - len(target_ids))]  # keep the answer, cut the input
    ids = (prompt_ids + target_ids)[:max_length]
    labels = ([IGNORE] * len(prompt_ids) + target_ids)[:max_length]
    return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels}


def _encode_chat(tokenizer: Any, messages: list[dict[str, str]], max_length: int) -> dict[str, list[int]]:
    """Label each assistant turn (its text and its end-of-turn marker), mask everything else."""
    ids = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"]
    labels = [IGNORE] * len(ids)
    for index, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        start = len(tokenizer.apply_chat_template(messages[:index], tokenize=True, add_generation_prompt=True,
                                                  return_dict=True)["input_ids"])
        end = len(tokenizer.apply_chat_template(messages[: index + 1], tokenize=True, return_dict=True)["input_ids"])
        labels[start:end] = ids[start:end]
    return {"input_ids": ids[:max_length], "attention_mask": [1] * min(len(ids), max_length),
            "labels": labels[:max_length]}


def encode_all(task: str, architecture: str, tokenizer: Any, records: list[dict[str, Any]] | Dataset,
               max_length: int, label2id: dict[str, int] | None = None) -> Dataset:
    """Every record encoded by `datasets`' `map` (the Trainer's train_dataset), dropping those left with
    no trained token after truncation. The fingerprint is given, not hashed: hashing would pickle the
    tokenizer, a large vocabulary, on every job."""
    Dataset = quiet_datasets().Dataset
    dataset = records if isinstance(records, Dataset) else Dataset.from_list(list(records))
    step = uuid.uuid4().hex
    encoded = dataset.map(lambda record: encode_record(task, architecture, tokenizer, record, max_length, label2id),
                          remove_columns=dataset.column_names, new_fingerprint=f"encode-{step}", keep_in_memory=True)
    if get_task(task).kind == "classify":
        return encoded
    return encoded.filter(has_trained_token, new_fingerprint=f"trained-{step}", keep_in_memory=True)


def has_trained_token(example: dict[str, Any]) -> bool:
    """False for an example whose answer truncation cut away: it would teach nothing."""
    return any(label != IGNORE for label in example["labels"])
