"""Shared fixtures: tiny models built offline from configs, and an isolated cache folder.

Nothing here downloads anything: the tokenizer is trained in-process on a few inline sentences,
the models are random-initialised from small configs (seeded, so every run builds the same
weights), saved as safetensors and registered in `models.registry` under `tiny-*` keys.

Every test except those marked `slow` runs with LORA_PLAYGROUND_HOME pointing at a temporary
folder, so the user's cache (dequantized models, adapter library) is never read or written.
Slow tests (the real packaged models) use the caller's cache, so the GGUF -> safetensors
conversion is paid once per machine, not once per run.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # before transformers is imported anywhere
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import socket  # noqa: E402
import sys  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Iterator  # noqa: E402

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# The browser tests' fixtures (app server, Chromium, a fresh page), for every tests/test_e2e*.py module.
pytest_plugins = ["e2e_support"]

# The caller's cache setting, captured before the session swaps in a temporary one (slow tests restore it).
USER_PLAYGROUND_HOME = os.environ.get("LORA_PLAYGROUND_HOME")

SPECIAL_TOKENS = ["<pad>", "<s>", "</s>", "<unk>", "<|im_start|>", "<|im_end|>", "[CLS]", "[SEP]", "[MASK]"]
PAD, BOS, EOS, UNK, IM_START, IM_END = range(6)
CHATML_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# Long enough for the few-shot summarization prompt (~160 tiny-tokenizer tokens): at 64 the bare base
# would see only the worked examples, never the text, and answer every input alike.
TINY_MAX_INPUT_TOKENS = 256
# English -> Spanish pairs the tiny training tests learn from.
PAIRS = [
    ("Good morning, how are you?", "Buenos días, ¿cómo estás?"),
    ("Where is the train station?", "¿Dónde está la estación de tren?"),
    ("The cat sleeps on the bed.", "El gato duerme en la cama."),
    ("I like to read books.", "Me gusta leer libros."),
    ("The weather is nice today.", "Hace buen tiempo hoy."),
    ("Thank you very much.", "Muchas gracias."),
    ("We are going to the beach.", "Vamos a la playa."),
    ("The house is big.", "La casa es grande."),
    ("This program prints the list of files.", "Este programa muestra la lista de archivos."),
    ("I like to read books in the evening.", "Me gusta leer libros por la tarde."),
    ("Thank you very much for your help.", "Muchas gracias por tu ayuda."),
    ("We are going to the beach tomorrow.", "Vamos a la playa mañana."),
]

CORPUS = [
    "English: Good morning, how are you?\nSpanish: Buenos días, ¿cómo estás?",
    "English: Where is the train station?\nSpanish: ¿Dónde está la estación de tren?",
    "English: The cat sleeps on the bed.\nSpanish: El gato duerme en la cama.",
    "English: I like to read books in the evening.\nSpanish: Me gusta leer libros por la tarde.",
    "English: This program prints the list of files.\nSpanish: Este programa muestra la lista de archivos.",
    "English: The weather is nice today.\nSpanish: Hace buen tiempo hoy.",
    "English: Thank you very much for your help.\nSpanish: Muchas gracias por tu ayuda.",
    "English: We are going to the beach tomorrow.\nSpanish: Vamos a la playa mañana.",
    "translate English to Spanish: The house is big. La casa es grande.",
    "Text: A small library for reading and writing spreadsheet files from Python programs.\n"
    "One-line summary: Python library for spreadsheet files",
    "summarize: This package contains a command-line tool that converts images between formats.",
    "command-line image format converter. The tool can resize and rotate pictures.",
    "user assistant system What is the capital of France? The capital of France is Paris.",
    "I loved this movie, it was wonderful and great. This film was terrible, boring and bad.",
    "positive negative neutral review happy sad good awful excellent",
    "Hello! Hi there, how can I help you today? Tell me a joke. Arr, matey!",
    "The quick brown fox jumps over the lazy dog. 0123456789 ,.;:!?¿¡'\"()-",
]


def build_tokenizer(kind: str = "causal"):
    """A byte-level BPE tokenizer trained on CORPUS, wrapped for transformers.

    kind: "causal" (nothing added, like SmolLM2), "gemma" (<s> prepended, like Gemma),
    "t5" (</s> appended, like T5) or "bert" ([CLS] ... [SEP])."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=700, special_tokens=SPECIAL_TOKENS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(CORPUS, trainer)
    ids = {token: tokenizer.token_to_id(token) for token in SPECIAL_TOKENS}
    assert [ids[t] for t in SPECIAL_TOKENS[:6]] == [PAD, BOS, EOS, UNK, IM_START, IM_END]
    post = {
        "causal": processors.ByteLevel(trim_offsets=False),
        "gemma": processors.TemplateProcessing(single="<s> $A", pair="<s> $A $B", special_tokens=[("<s>", BOS)]),
        "t5": processors.TemplateProcessing(single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", EOS)]),
        "bert": processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
                                              special_tokens=[("[CLS]", ids["[CLS]"]), ("[SEP]", ids["[SEP]"])]),
    }[kind]
    tokenizer.post_processor = post
    extra = dict(cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]") if kind == "bert" else {}
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>",
        additional_special_tokens=["<|im_start|>", "<|im_end|>"], model_max_length=512,
        model_input_names=["input_ids", "token_type_ids", "attention_mask"] if kind == "bert"
        else ["input_ids", "attention_mask"], **extra,
    )
    if kind != "bert":
        wrapped.chat_template = CHATML_TEMPLATE
    return wrapped


def _configs(vocab: int) -> dict:
    from transformers import BertConfig, Gemma3TextConfig, LlamaConfig, T5Config

    ids = dict(pad_token_id=PAD, bos_token_id=BOS, eos_token_id=EOS)
    return {
        "llama": LlamaConfig(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                             num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
                             tie_word_embeddings=True, **ids),
        "gemma3": Gemma3TextConfig(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                   num_attention_heads=2, num_key_value_heads=1, head_dim=16,
                                   query_pre_attn_scalar=16, sliding_window=16,
                                   layer_types=["sliding_attention", "full_attention"],
                                   final_logit_softcapping=30.0, max_position_embeddings=512, **ids),
        "t5": T5Config(vocab_size=vocab, d_model=32, d_kv=16, d_ff=64, num_layers=2, num_decoder_layers=2,
                       num_heads=2, feed_forward_proj="gated-gelu", tie_word_embeddings=False,
                       decoder_start_token_id=PAD, pad_token_id=PAD, eos_token_id=EOS),
        "bert": BertConfig(vocab_size=vocab, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                           intermediate_size=64, max_position_embeddings=512, pad_token_id=PAD,
                           hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0),
    }


# key -> (config name, model class name, tokenizer kind, architecture, tasks)
TINY = {
    "tiny-llama": ("llama", "LlamaForCausalLM", "causal", "causal", ("translation", "summarization", "chat")),
    "tiny-gemma3": ("gemma3", "Gemma3ForCausalLM", "gemma", "causal", ("translation", "summarization")),
    "tiny-t5": ("t5", "T5ForConditionalGeneration", "t5", "seq2seq", ("translation", "summarization")),
    "tiny-bert": ("bert", "BertModel", "bert", "encoder", ("sentiment",)),
}


def build_tiny_model(key: str, folder: Path) -> Path:
    """Random-initialise (seeded) one tiny model and save it with its tokenizer as safetensors."""
    import torch
    import transformers

    config_name, class_name, tokenizer_kind, _, _ = TINY[key]
    tokenizer = build_tokenizer(tokenizer_kind)
    config = _configs(len(tokenizer))[config_name]
    torch.manual_seed(0)
    model = getattr(transformers, class_name)(config)
    if config_name in ("llama", "gemma3"):
        model.generation_config.eos_token_id = [EOS, IM_END]  # chat turns end at <|im_end|>, like SmolLM2
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


def tiny_spec(key: str, folder: Path):
    from models.registry import BaseModelSpec

    _, _, _, architecture, tasks = TINY[key]
    return BaseModelSpec(key=key, hub_id=f"tests/{key}", architecture=architecture, tasks=tasks,
                         local_path=str(folder), max_input_tokens=TINY_MAX_INPUT_TOKENS,
                         bf16_body=architecture == "encoder",  # as MiniLM; the causal ones stay fp32 as SmolLM2
                         description=f"{key} (random weights, tests only)")


@pytest.fixture(scope="session", autouse=True)
def _isolated_home(tmp_path_factory):
    """LORA_PLAYGROUND_HOME -> a temporary folder for the whole session (slow tests switch back)."""
    home = tmp_path_factory.mktemp("playground-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LORA_PLAYGROUND_HOME", str(home))
        patch.setenv("HF_HUB_OFFLINE", "1")
        yield home


@pytest.fixture(autouse=True)
def _per_test_settings(request, monkeypatch):
    """Fast tests: one torch thread (tiny models are slower with more) and a fixed seed."""
    import torch

    if request.node.get_closest_marker("slow") is None:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        torch.manual_seed(0)
        yield
        torch.set_num_threads(threads)
    else:
        yield


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    """Build the four tiny models once per session and register them; key -> folder."""
    from models.registry import register, unregister

    root = tmp_path_factory.mktemp("tiny-models")
    folders = {key: build_tiny_model(key, root / key) for key in TINY}
    for key, folder in folders.items():
        register(tiny_spec(key, folder))
    yield folders
    for key in folders:
        unregister(key)


@pytest.fixture
def fresh_models():
    """Drop every loaded base before and after the test (state that other tests must not see)."""
    from models.loading import forget_loaded

    forget_loaded()
    yield
    forget_loaded()


@pytest.fixture
def cpu_only(monkeypatch):
    """Pin a test to the all-fp32 CPU path (numbers pinned there differ under CUDA, or with the app's
    bf16 LM head on CPUs that have bf16 matmuls)."""
    import torch

    from models import loading

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(loading, "cpu_has_fast_bf16", lambda: False)


def make_adapter(base_key: str, task: str, destination: Path, seed: int, labels: list[str] | None = None,
                 rank: int = 4, scale: float = 0.5) -> Path:
    """A LoRA adapter for a tiny base with random (seeded) non-zero weights, saved the app's way.

    A fresh LoRA has B = 0 (no effect); filling B with noise makes adapters with different seeds
    give different outputs, which is what attach/switch tests need to see."""
    import json

    import torch
    from peft import LoraConfig, get_peft_model

    from finetune.recipe import _TASK_TYPES
    from models.adapters import METADATA_FILE, save_adapter_atomically
    from models.loading import load_pretrained
    from models.registry import get_spec

    spec = get_spec(base_key)
    model, _ = load_pretrained(spec, labels)
    lora = LoraConfig(task_type=_TASK_TYPES[spec.architecture], r=rank, lora_alpha=2 * rank,
                      target_modules="all-linear")
    model = get_peft_model(model, lora)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name or "modules_to_save" in name:
                parameter.add_(torch.randn(parameter.shape, generator=generator) * scale)
    metadata = {"name": destination.name, "task": task, "base_model": base_key, "labels": labels,
                "method": "lora", "hyperparameters": {"rank": rank, "seed": seed}}

    def write(folder: Path) -> None:
        model.save_pretrained(folder, safe_serialization=True, save_embedding_layers=False)
        (folder / METADATA_FILE).write_text(json.dumps(metadata))

    return save_adapter_atomically(write, destination)


@pytest.fixture(scope="session")
def tiny_adapters(tiny_models, tmp_path_factory) -> dict[str, Path]:
    """Adapters on the tiny bases (outside any workspace; found by folder path)."""
    root = tmp_path_factory.mktemp("tiny-adapters")
    return {
        "llama-translation-a": make_adapter("tiny-llama", "translation", root / "llama-translation-a", seed=1),
        "llama-translation-b": make_adapter("tiny-llama", "translation", root / "llama-translation-b", seed=2),
        "llama-chat": make_adapter("tiny-llama", "chat", root / "llama-chat", seed=3),
        "t5-translation": make_adapter("tiny-t5", "translation", root / "t5-translation", seed=4),
        "gemma3-summarization": make_adapter("tiny-gemma3", "summarization", root / "gemma3-summarization", seed=5),
        "bert-sentiment-a": make_adapter("tiny-bert", "sentiment", root / "bert-sentiment-a", seed=6,
                                         labels=["negative", "positive"]),
        "bert-sentiment-b": make_adapter("tiny-bert", "sentiment", root / "bert-sentiment-b", seed=7,
                                         labels=["negative", "positive"]),
    }


# The tasks' default bases while the app runs in a test (every request is then fast).
TINY_DEFAULTS = {"translation": "tiny-llama", "summarization": "tiny-gemma3", "chat": "tiny-llama",
                 "sentiment": "tiny-bert"}


def change_task(monkeypatch, task: str, **changes) -> None:
    """Change fields of a task's spec for one test (e.g. max_new_tokens)."""
    from dataclasses import replace

    from models.tasks import TASKS

    monkeypatch.setitem(TASKS, task, replace(TASKS[task], **changes))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serve_app(jobs, settings=None) -> Iterator[str]:
    """The whole app, running in this process on a free localhost port with the tiny models as the
    tasks' defaults (needs `tiny_models`); yields its URL. Shared by the API and browser tests."""
    from app import build_demo, launch_options
    from models.registry import DEFAULT_BASE
    from ui.common import Settings

    with pytest.MonkeyPatch.context() as patch:
        for task, key in TINY_DEFAULTS.items():
            patch.setitem(DEFAULT_BASE, task, key)
        demo = build_demo(settings or Settings(), jobs)
        port = free_port()
        demo.launch(prevent_thread_lock=True, server_port=port, quiet=True, **launch_options())
        try:
            yield f"http://127.0.0.1:{port}/"
        finally:
            demo.close()


@pytest.fixture(scope="module")
def app_client(tiny_models):
    """The app serving a fresh job queue on the tiny models, and a gradio_client for it (one per module)."""
    from gradio_client import Client

    from finetune.jobs import JobQueue

    queue = JobQueue()
    try:
        with serve_app(queue) as url:
            yield Client(url, verbose=False), queue
    finally:
        queue.close()


def zip_with(path: Path, members: dict[str, bytes], symlinks: tuple[str, ...] = ()) -> Path:
    """A zip of `members` (name -> bytes); names in `symlinks` are stored as symbolic links."""
    import stat
    import zipfile

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zipped:
        for name, data in members.items():
            if name in symlinks:
                info = zipfile.ZipInfo(name)
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                zipped.writestr(info, data)
            else:
                zipped.writestr(name, data)
    return path


def adapter_files(folder: Path) -> dict[str, bytes]:
    """An adapter folder's files as name -> bytes (to zip, or to compare before and after)."""
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
