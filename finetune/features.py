"""Turn normalized records into token ids and labels for each architecture.

Causal models learn only their answer: prompt and chat-template tokens get the label -100
(ignored by the loss); the end-of-sequence / end-of-turn token is trained so generation stops.
"""

from __future__ import annotations

from typing import Any

from models.prompts import prompt_and_target

IGNORE = -100


def encode_record(task: str, architecture: str, tokenizer: Any, record: dict[str, Any], max_length: int,
                  label2id: dict[str, int] | None = None) -> dict[str, list[int] | int]:
    if task == "sentiment":
        features = tokenizer(record["text"], truncation=True, max_length=max_length)
        return {"input_ids": features["input_ids"], "attention_mask": features["attention_mask"],
                "labels": label2id[record["label"]]}
    if task == "chat":
        return _encode_chat(tokenizer, record["messages"], max_length)
    prompt, target = prompt_and_target(task, record, architecture)
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


def encode_all(task: str, architecture: str, tokenizer: Any, records: list[dict[str, Any]], max_length: int,
               label2id: dict[str, int] | None = None) -> list[dict[str, Any]]:
    """Encode every record, dropping those left with no trained token after truncation."""
    encoded = [encode_record(task, architecture, tokenizer, r, max_length, label2id) for r in records]
    if task == "sentiment":
        return encoded
    return [e for e in encoded if any(label != IGNORE for label in e["labels"])]
