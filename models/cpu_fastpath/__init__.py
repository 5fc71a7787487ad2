"""The CPU fast path: how a 2-core CPU serves a class, kept apart from the plain path it replaces.

Each piece can be switched off and the model still answers the same (tests compare the two); each is
there because a benchmark measured it faster, and the numbers live in BENCHMARKS.md (design notes and
the sections named below), not here, because they depend on the CPU.

    bf16.py         LM head and body matmuls in bf16 where the CPU multiplies bf16 in hardware
                    (replaces fp32 matmuls; sections: concurrency, latency)
    small_batch.py  a few rows through a linear layer as W @ x^T, where measured faster at load
                    (replaces torch's x @ W^T for 2..N rows; section: classroom)

Elsewhere, behind their own boundaries: `models.mixed_lora` routes each row (or token) through its own
adapter in one batch, replacing peft's one-adapter-at-a-time forward (section: switching);
`models.batching.release_openmp_threads` holds OpenMP's threads between requests instead of starting a
pool per batch; `models.engine` is the continuous-batching loop (section: classroom).
"""
