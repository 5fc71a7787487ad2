"""Continuous batching for the causal base models: every active sequence decodes in one step, each
through its own adapter; requests join and leave between steps and stream their tokens.

- `attention`: the packed-row cache and the attention that keeps sequences apart
- `scheduler`: admission (in order, a fair share per owner), prompt chunking, the step plan
- `runner`: one step on the model and the choice of each sequence's next token
- `loop`: the engine's thread and the streams its callers read
"""

from models.engine.attention import use_ragged_attention
from models.engine.loop import Engine, Stream, StreamState, follow
from models.engine.scheduler import GenerationRequest, Scheduler

__all__ = ["Engine", "GenerationRequest", "Scheduler", "Stream", "StreamState", "follow", "use_ragged_attention"]
