"""What a task is, in one place: the app's four tasks, and the one call that adds another.

A task is one of three kinds, and the kind decides how its examples are trained, measured and
served; everything else that differs between tasks is a field of its `TaskSpec`:

- "classify": a text and one of several labels; an encoder with a classification head (sentiment).
- "generate": a text in, a text out; a causal model prompted with a template, or a seq2seq model
  (translation, summarization).
- "chat": conversations; a causal chat model and its chat template (persona chat).

    register_task(TaskSpec("topic", "classify", ("text", "topic"), "Topic of a sentence", "minilm-l6",
                           presets={...}, primary_metric="accuracy"))

is all a new task needs to be uploaded, trained, evaluated, served by `models.inference`
(`classify`, `generation_streams`) and given its API endpoint (`ui.api`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Mapping

from models.registry import DEFAULT_BASE

Kind = Literal["classify", "generate", "chat"]
PRESETS = ("quick", "balanced", "thorough")


@dataclass(frozen=True)
class TaskSpec:
    name: str = field(metadata={"help": "The task's name in the CLI, the API and adapter metadata."})
    kind: Kind = field(metadata={"help": "classify, generate or chat (see the module docstring)."})
    columns: tuple[str, str] = field(metadata={
        "help": "The upload's two columns, input then output (label, target text or response)."})
    description: str = field(metadata={"help": "One line for people: what the task does."})
    default_base: str = field(metadata={"help": "The base model key served when none is named."})
    presets: Mapping[str, Mapping[str, Any]] = field(metadata={
        "help": "Training settings per preset (quick, balanced, thorough), over TrainConfig's defaults."})
    primary_metric: str = field(metadata={"help": "The metric that says whether an adapter helps."})
    prompt: str = field(default="", metadata={
        "help": "generate, causal base: the prompt, with the input column as {placeholder}."})
    answer: str = field(default="", metadata={"help": "generate, causal base: the text to learn after the prompt."})
    seq2seq_prompt: str = field(default="", metadata={"help": "generate, seq2seq base: the encoder's input."})
    few_shot: tuple[Mapping[str, str], ...] = field(default=(), metadata={
        "help": "generate: worked examples put before the prompt for the bare base (its best without training)."})
    max_new_tokens: int = field(default=0, metadata={"help": "generate, chat: the most tokens one answer may have."})
    repetition_penalty: float = field(default=1.0, metadata={
        "help": "generate, chat: transformers' repetition penalty while decoding (1.0: none)."})
    length_follows_input: bool = field(default=False, metadata={
        "help": "generate: cap an answer at twice its input's tokens plus 16 as well (a translation)."})
    examples: tuple[str, ...] = field(default=(), metadata={"help": "Inputs the task's tab offers to try."})
    api_name: str = field(default="", metadata={"help": "The endpoint's name (default: the task's)."})

    @property
    def input_column(self) -> str:
        return self.columns[0]

    @property
    def output_column(self) -> str:
        return self.columns[1]

    @property
    def endpoint(self) -> str:
        return self.api_name or self.name

    def prompt_and_target(self, record: Mapping[str, Any], architecture: str) -> tuple[str, str]:
        """A generation task's model input and the text it should produce, for a training or test record."""
        if architecture == "seq2seq":
            return self.seq2seq_prompt.format(**record), str(record[self.output_column])
        return self.prompt.format(**record), self.answer.format(**record)

    def generation_prompt(self, text: str, architecture: str, few_shot: bool) -> str:
        """The input for writing an answer to `text`; worked examples first for a bare causal base."""
        prompt = self.prompt_and_target({self.input_column: text, self.output_column: ""}, architecture)[0]
        if not few_shot or architecture == "seq2seq" or not self.few_shot:
            return prompt
        shots = ["".join(self.prompt_and_target(example, architecture)) for example in self.few_shot]
        return "\n\n".join(shots + [prompt])

    def new_token_limit(self, input_tokens: int) -> int:
        """The most tokens an answer to an input of `input_tokens` tokens may have."""
        if self.length_follows_input:
            return min(self.max_new_tokens, 2 * input_tokens + 16)
        return self.max_new_tokens

    def score(self, references: list[str], predictions: list[str]) -> dict[str, float]:
        """Corpus metrics of predictions against references (accuracy and macro-F1 for a classification,
        BLEU and chrF where the primary metric is chrF, ROUGE where it is a ROUGE)."""
        if self.kind == "classify":
            from sklearn.metrics import accuracy_score, f1_score

            return {"accuracy": float(accuracy_score(references, predictions)),
                    "macro_f1": float(f1_score(references, predictions, average="macro"))}
        if self.primary_metric.startswith("rouge"):
            from rouge_score import rouge_scorer

            scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
            scores = [scorer.score(reference, prediction) for reference, prediction in zip(references, predictions)]
            return {name: 100 * sum(s[name].fmeasure for s in scores) / max(1, len(scores))
                    for name in ("rouge1", "rouge2", "rougeL")}
        import sacrebleu

        return {"bleu": sacrebleu.corpus_bleu(predictions, [references]).score,
                "chrf": sacrebleu.corpus_chrf(predictions, [references]).score}


TASKS: dict[str, TaskSpec] = {}


class UnknownTaskError(KeyError):
    def __str__(self) -> str:
        return f"Unknown task {self.args[0]!r}; expected one of: {', '.join(TASKS)}."


def register_task(spec: TaskSpec) -> TaskSpec:
    """Add (or replace) a task; the base it names becomes the task's default base."""
    if spec.kind not in ("classify", "generate", "chat"):
        raise ValueError(f"Task {spec.name!r}: kind must be classify, generate or chat (got {spec.kind!r}).")
    if set(spec.presets) != set(PRESETS):
        raise ValueError(f"Task {spec.name!r}: presets must be {', '.join(PRESETS)}.")
    TASKS[spec.name] = spec
    DEFAULT_BASE[spec.name] = spec.default_base
    return spec


def unregister_task(name: str) -> None:
    TASKS.pop(name, None)
    DEFAULT_BASE.pop(name, None)


def get_task(name: str) -> TaskSpec:
    if name not in TASKS:
        raise UnknownTaskError(name)
    return TASKS[name]


def task_names() -> tuple[str, ...]:
    return tuple(TASKS)


# In the order the Train tab lists them. Presets: "quick" trains a 50-example upload in about a minute.
register_task(TaskSpec(
    "sentiment", "classify", ("text", "label"), "The feeling of a text (any labels)", "minilm-l6",
    presets={"quick": dict(epochs=4, learning_rate=2e-3, batch_size=16, rank=8, max_length=128),
             "balanced": dict(epochs=6, learning_rate=1e-3, batch_size=16, rank=8, max_length=128),
             "thorough": dict(epochs=10, learning_rate=5e-4, batch_size=16, rank=16, max_length=128)},
    primary_metric="accuracy",
    examples=("A gorgeous, witty and deeply moving film; I want to see it again.",
              "The plot goes nowhere and the jokes fall flat for two long hours.",
              "Not the best movie of the year, but the actors clearly had fun.")))
register_task(TaskSpec(
    "translation", "generate", ("source", "target"), "English to Spanish", "gemma-3-270m",
    presets={"quick": dict(epochs=1, learning_rate=5e-4, batch_size=8, rank=8, max_length=128),
             "balanced": dict(epochs=2, learning_rate=3e-4, batch_size=8, rank=16, max_length=128),
             "thorough": dict(epochs=3, learning_rate=2e-4, batch_size=8, rank=32, max_length=160)},
    primary_metric="chrf", prompt="English: {source}\nSpanish:", answer=" {target}",
    seq2seq_prompt="translate English to Spanish: {source}",
    few_shot=({"source": "Good morning, how are you?", "target": "Buenos días, ¿cómo estás?"},
              {"source": "This program prints the list of files.",
               "target": "Este programa muestra la lista de archivos."}),
    max_new_tokens=160, length_follows_input=True, api_name="translate",
    examples=("This package contains the shared runtime library.", "Good morning! Where is the train station?",
              "The program prints a warning when the disk is almost full.")))
register_task(TaskSpec(
    "summarization", "generate", ("text", "summary"), "A one-line summary of a paragraph", "gemma-3-270m",
    presets={"quick": dict(epochs=1, learning_rate=5e-4, batch_size=8, rank=8, max_length=256),
             "balanced": dict(epochs=2, learning_rate=3e-4, batch_size=8, rank=16, max_length=320),
             "thorough": dict(epochs=3, learning_rate=2e-4, batch_size=8, rank=32, max_length=384)},
    primary_metric="rougeL", prompt="Text: {text}\nOne-line summary:", answer=" {summary}",
    seq2seq_prompt="summarize: {text}",
    few_shot=({"text": "This package contains a small command-line tool that converts images between PNG, JPEG "
                       "and GIF formats. It can resize and rotate pictures and works on whole folders at once.",
               "summary": "command-line image format converter"},
              {"text": "A library for reading and writing spreadsheet files from Python programs. It supports "
                       "formulas, styles and charts, and can stream very large sheets.",
               "summary": "Python library for spreadsheet files"}),
    max_new_tokens=48, api_name="summarize",
    examples=("GNU Wget is a free utility for non-interactive download of files from the Web. It supports HTTP, "
              "HTTPS and FTP, as well as retrieval through HTTP proxies. It can follow links in HTML pages and "
              "create local versions of remote web sites, fully recreating the directory structure of the "
              "original site.",
              "This package provides a small library for parsing and writing JSON documents in C. It is designed "
              "to be fast and to use little memory, and comes with a command-line tool to pretty-print and "
              "validate files.")))
register_task(TaskSpec(
    "chat", "chat", ("prompt", "response"), "A reply in a persona's style", "smollm2-135m-instruct",
    presets={"quick": dict(epochs=2, learning_rate=5e-4, batch_size=8, rank=8, max_length=256),
             "balanced": dict(epochs=3, learning_rate=3e-4, batch_size=8, rank=16, max_length=256),
             "thorough": dict(epochs=5, learning_rate=2e-4, batch_size=8, rank=32, max_length=320)},
    primary_metric="perplexity", max_new_tokens=200, repetition_penalty=1.1,  # SmolLM2's replies loop without it
    examples=("What is the capital of France?", "Can you explain what a LoRA adapter is in one sentence?",
              "Give me a tip for learning a new language.")))
