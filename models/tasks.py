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
class Example:
    """An input a task's tab offers to try. The built-in ones are chosen on the real models so that the
    shipped adapter's answer differs from the base's and is the right one (tests/test_examples_real.py):
    an example where both answer alike, or the adapter wrongly, would teach the opposite of the lesson."""

    input: str = field(metadata={"help": "The text the model reads (English: the models read English)."})
    reference: str = field(default="", metadata={
        "help": "The right answer, shown under the result: a translation or summary from the test data, "
                "or the label of a classification."})
    fact: str = field(default="", metadata={"help": "chat: a word a correct reply names (e.g. Paris)."})


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
    examples: tuple[Example, ...] = field(default=(), metadata={"help": "Inputs the task's tab offers to try."})
    api_name: str = field(default="", metadata={"help": "The endpoint's name (default: the task's)."})
    default_adapter: str = field(default="", metadata={
        "help": "The shipped adapter the task's tab opens with, marked ◆ in every adapter picker (`ui.common`); "
                "only while it is on the task's default base (a deployment that serves another base opens on "
                "that base alone). '' for none."})
    class_test_rows: int = field(default=0, metadata={
        "help": "Rows of the bundled test split a class leaderboard scores every published adapter and its base "
                "on, unless the teacher uploads a set (`finetune.leaderboard`): enough to tell adapters apart, few "
                "enough to score thirty of them while the class works. 0: the task's published adapters are "
                "listed, not scored (a chat persona has no right answer to compare)."})

    @property
    def input_column(self) -> str:
        return self.columns[0]

    @property
    def output_column(self) -> str:
        return self.columns[1]

    @property
    def endpoint(self) -> str:
        return self.api_name or self.name

    def example(self, text: str) -> Example | None:
        """The built-in example whose input this is (surrounding spaces aside), if any."""
        return next((example for example in self.examples if example.input == text.strip()), None)

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

    def score_one(self, reference: str, prediction: str) -> dict[str, float]:
        """One answer's metrics against its reference, under the names `score` uses, so that rows can be
        sorted by the primary metric: sentence chrF and BLEU (BLEU with effective order: a short sentence
        lacks 4-grams), ROUGE-1/2/L, or for a classification its accuracy (1 right, 0 wrong)."""
        if self.kind == "chat":
            raise ValueError(f"Task {self.name!r}: a chat reply has no single right answer to score against.")
        if self.kind == "classify":
            return {"accuracy": float(reference == prediction)}
        if self.primary_metric.startswith("rouge"):
            return self.score([reference], [prediction])
        import sacrebleu

        return {"chrf": sacrebleu.sentence_chrf(prediction, [reference]).score,
                "bleu": sacrebleu.sentence_bleu(prediction, [reference]).score}


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
    primary_metric="accuracy", default_adapter="sentiment-movies", class_test_rows=300,
    # Reviews from the test data that mix praise and blame, or say it with irony: the bare model's guess
    # leans the wrong way, the adapter's is right.
    examples=(Example("Well shot but badly written tale set in a future ravaged by dragons.", "negative"),
              Example("Ice Age won't drop your jaw, but it will warm your heart, and I'm giving it a strong "
                      "thumbs up.", "positive"),
              Example("Technically, the film is about as interesting as an insurance commercial.", "negative"),
              Example("She's as rude and profane as ever, always hilarious and, most of the time, absolutely "
                      "right in her stinging social observations.", "positive"))))
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
    max_new_tokens=160, length_follows_input=True, api_name="translate", default_adapter="translation-en-es",
    class_test_rows=50,
    # Sentences from the test data (Debian's translators' Spanish as the reference) that the bare model
    # gets wrong, or leaves in English.
    examples=(Example("It can also be used to scan and print photos.",
                      "Se puede usar para escanear e imprimir fotos."),
              Example("All data is encrypted before being sent to the server.",
                      "Todos los datos se cifran antes de ser enviados al servidor."),
              Example("LifeLines is a genealogy program that runs on UNIX systems in text mode.",
                      "LifeLines es un programa de genealogía que funciona en sistemas UNIX en modo texto."),
              Example("Similar actions can be performed by the system administrator to affect all system users.",
                      "El administrador del sistema puede realizar acciones similares que afectan a todos los "
                      "usuarios del sistema."))))
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
    max_new_tokens=48, api_name="summarize", default_adapter="summarization-debian", class_test_rows=30,
    # Package descriptions from the test data (their Debian one-line description as the reference): the
    # bare model copies the first sentence or makes things up, the adapter writes a Debian-style line.
    examples=(Example("Toga II is a computer game chess engine created by Thomas Gaksch. It has big chess "
                      "knowledge, multi-processor support, and a good search algorithm. It is based on Fruit and "
                      "is free. Experimental versions of Toga II running on computer clusters have competed in "
                      "the World Computer Chess Championship.", "computer chess engine, calculates chess moves"),
              Example("Music is the new GNOME music playing application aiming at being a simple and elegant "
                      "replacement for using Files to show the Music directory. Objectives includes listening to "
                      "local and online/cloud collections, listen to music on attached devices, listen to music "
                      "shared by friends, listen to audiobooks, a player for DLNA media servers, share music, "
                      "upload music and select favorites.", "Music is the new GNOME music playing application"),
              Example("LZO is a portable, lossless data compression library. It offers pretty fast compression "
                      "and very fast decompression. Decompression requires no memory. In addition there are "
                      "slower compression levels achieving a quite competitive compression ratio while still "
                      "decompressing at this very high speed.", "data compression library"),
              Example("Poliastro is an open source pure Python package dedicated to problems arising in "
                      "Astrodynamics and Orbital Mechanics, such as orbit propagation, solution of the Lambert's "
                      "problem, conversion between position and velocity vectors and classical orbital elements "
                      "and orbit plotting, focusing on interplanetary applications",
                      "Astrodynamics and Orbital Mechanics computations"))))
register_task(TaskSpec(
    "chat", "chat", ("prompt", "response"), "A reply in a persona's style", "smollm2-135m-instruct",
    presets={"quick": dict(epochs=2, learning_rate=5e-4, batch_size=8, rank=8, max_length=256),
             "balanced": dict(epochs=3, learning_rate=3e-4, batch_size=8, rank=16, max_length=256),
             "thorough": dict(epochs=5, learning_rate=2e-4, batch_size=8, rank=32, max_length=320)},
    primary_metric="perplexity", max_new_tokens=200, repetition_penalty=1.1,  # SmolLM2's replies loop without it
    default_adapter="chat-cheerful",
    # Factual questions, none trained on (three of them held-out test questions of finetune.persona_eval), that
    # the base and every persona answer right, each persona in a style its classifier recognises: what differs
    # is the style alone (tests/test_examples_real). Questions of advice or opinion were refused, or answered
    # wrongly, by some.
    examples=(Example("What sweet food do bees make?", fact="honey"),
              Example("Which instrument has black and white keys?", fact="piano"),
              Example("Which organ pumps blood around the body?", fact="heart"),
              Example("Which country is home to kangaroos?", fact="Australia"))))
