"""Fitting training into this machine's memory. On a CPU the kernel's out-of-memory killer ends a run that
asks for too much without a word (no exception, no checkpoint), so a run whose longest batch would not fit
trains fewer texts at a time and accumulates gradients: the same texts per optimizer step, slower."""

import json
import logging
import os
from pathlib import Path

import psutil

from bert_sentiment.errors import UserError

logger = logging.getLogger(__name__)

# What one training step keeps for the backward pass, per layer and text: ACTIVATION_BYTES per token and hidden
# unit, plus ATTENTION_BYTES per head and (query, key) pair. Fitted on a CPU from the peak resident memory of
# training steps (bert-base architecture and MiniLM-L6, 128-512 tokens: 115-171 and 8.1-8.3 bytes) and rounded
# up: the estimate lies 3-39% above every step bench/bench_memory.py measures. bf16 autocast on a CPU changed the
# peak by -13% to +4%, so one rule serves both precisions.
ACTIVATION_BYTES = 180
ATTENTION_BYTES = 9
STATE_BYTES_PER_PARAMETER = 16  # fp32 weights, their gradients and AdamW's two moments
USABLE_SHARE = 0.85  # of the available memory: evaluation, data and the allocator's slack need the rest
GB = 1024**3
CGROUP = Path("/sys/fs/cgroup")  # cgroup v2: a container's memory.max and memory.current


def training_memory(config, parameters: int, batch: int, length: int) -> int | None:
    """Bytes a training step of `batch` texts of `length` tokens needs at its peak; None for an unknown layout."""
    hidden = getattr(config, "hidden_size", None) or getattr(config, "dim", None)
    heads = getattr(config, "num_attention_heads", None) or getattr(config, "n_heads", None)
    layers = getattr(config, "num_hidden_layers", None) or getattr(config, "n_layers", None)
    if not (hidden and heads and layers):
        return None
    per_layer = batch * length * (ACTIVATION_BYTES * hidden + ATTENTION_BYTES * heads * length)
    return STATE_BYTES_PER_PARAMETER * parameters + layers * per_layer


def available_memory(cgroup: Path = CGROUP) -> int:
    """Bytes this process may still use: the machine's available memory, within its cgroup's limit, shared by
    the processes of a distributed run on this machine."""
    available = psutil.virtual_memory().available
    try:
        limit = (cgroup / "memory.max").read_text().strip()
        if limit != "max":
            available = min(available, int(limit) - int((cgroup / "memory.current").read_text()))
    except (OSError, ValueError):
        pass  # no cgroup v2 limit to honour
    return available // int(os.environ.get("LOCAL_WORLD_SIZE", "1"))


def checkpoint_batch(checkpoint: str | None) -> int | None:
    """The per-device batch an interrupted run trained with: a resumed run must go on with the same."""
    state = Path(checkpoint or "") / "trainer_state.json"
    return json.loads(state.read_text()).get("train_batch_size") if checkpoint and state.exists() else None


def gpu_free_memory() -> int:
    """Bytes free on this process's GPU (the other processes' allocations already taken)."""
    import torch

    return torch.cuda.mem_get_info()[0]


def fitting_batch(config, parameters: int, longest: int, batch: int, on_gpu: bool = False) -> tuple[int, str] | None:
    """(the largest divisor of `batch` whose training step on texts of `longest` tokens fits this machine's memory,
    or with `on_gpu` its GPU's, why) or None for an unknown layout; a UserError naming the fix when not even one
    text fits. The estimate was fitted on CPUs; a GPU's step measured well under it (bert-base, 256 texts of 48
    tokens in bf16: 6.1 GB at its peak, estimated 21.3 GB), so on a GPU it errs towards fewer texts at a time."""

    def needed(size: int) -> int | None:
        return training_memory(config, parameters, size, longest)

    if needed(batch) is None:
        return None
    usable = (gpu_free_memory() if on_gpu else available_memory()) * USABLE_SHARE
    where = "the GPU" if on_gpu else "this machine"
    fitted = next((size for size in range(batch, 0, -1) if batch % size == 0 and needed(size) <= usable), None)
    if fitted is None:
        raise UserError(
            f"Training even one text of {longest} tokens needs about {needed(1) / GB:.1f} GB, and "
            f"{where} has {usable / GB:.1f} GB to spare: lower --max_seq_length (e.g. "
            f"{max(longest // 2, 8)}) or train on a machine with more memory."
        )
    return fitted, (
        f"the longest batch ({batch} texts of {longest} tokens) would need about "
        f"{needed(batch) / GB:.1f} GB and {where} has {usable / GB:.1f} GB to spare"
    )


def fit_batch_to_memory(
    batch: int,
    accumulation: int,
    config,
    parameters: int,
    longest: int,
    resume_from: str | None = None,
    on_gpu: bool = False,
) -> tuple[int, int, str | None]:
    """On a CPU, or with `on_gpu` in its GPU's free memory: (texts at a time, gradient accumulation steps, why) for
    the asked `batch` and `accumulation`: the largest divisor of the batch whose longest batch fits, with the
    accumulation raised to train the same texts per optimizer step; the note is None when nothing changed."""
    saved = checkpoint_batch(resume_from)
    if saved and saved < batch and batch % saved == 0:
        fitted, why = saved, "as the checkpoint being resumed did"
    elif fit := fitting_batch(config, parameters, longest, batch, on_gpu):
        fitted, why = fit
    else:
        return batch, accumulation, None
    if fitted == batch:
        return batch, accumulation, None
    steps = accumulation * batch // fitted
    return (
        fitted,
        steps,
        f"{fitted} texts at a time with {steps} gradient accumulation steps, the same {batch * accumulation} texts per "
        f"optimizer step ({why}; set --per_device_train_batch_size and --gradient_accumulation_steps to choose)",
    )


def trial_batch_fit(training_args, config, parameters: int, longest: int):
    """On a CPU, for --hp_search: a function from a trial's batch to (texts at a time, gradient accumulation steps)
    that fits this machine's memory, the same texts per optimizer step; None elsewhere."""
    if not training_args.trains_on_cpu:
        return None
    accumulation = training_args.gradient_accumulation_steps

    def fit_batch(batch: int) -> tuple[int, int]:
        fit = fitting_batch(config, parameters, longest, batch)  # None: a layout the estimate cannot read
        fitted = fit[0] if fit else batch
        steps = accumulation * batch // fitted
        if fitted < batch:
            logger.warning(
                "Trial batch: %d texts at a time with %d gradient accumulation steps (%d would not fit "
                "this machine's memory).",
                fitted,
                steps,
                batch,
            )
        return fitted, steps

    return fit_batch
