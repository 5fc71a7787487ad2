"""Base models, adapters and inference for LoRA Playground."""

import warnings

from models import tasks  # noqa: F401 - registers the app's tasks (and their default bases) on first import

# peft 0.21 reads `model.is_gradient_checkpointing` whenever it wraps a model, a property transformers 5
# deprecated (for `is_activation_checkpointing`): a warning on every training run and adapter load that
# no caller can act on. It goes once peft reads the new name; until then it is silenced here, by message.
warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)


def quiet_libraries() -> None:
    """For the command lines: no progress bars or info messages from transformers (errors still show).
    datasets' bars are off wherever it is used (`finetune.data.contract.quiet_datasets`), so a command
    that never touches it does not pay for importing it."""
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
