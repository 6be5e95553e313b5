"""Training on a GPU: train.py's GPU path as it was before issue 28 against the options that keep a GPU busy.

    python -m bench.bench_gpu_train                      # both parts
    python -m bench.bench_gpu_train --part speed --steps 300

Part "speed": the bert-base architecture with random weights (the compute of bert-base-uncased) on SST-2's
training sentences, `--steps` steps per recipe, each recipe in a fresh child process. Printed per recipe:
samples/s over the steps after the first `--warmup_steps` (compilation and the first kernels' set-up left out),
the whole training's wall time (set-up included: what a short run pays for compiling), peak GPU memory,
and the ratio against the first recipe, the path before (TF32, batch 32, no data-loader processes).
Part "accuracy": the pretrained MiniLM in ../shared fine-tuned for one epoch on the whole of SST-2 (67,349
sentences) with the path before and with the recipes named by `--accuracy_recipes`; dev accuracy (872 sentences,
so one standard error is about 1 point) and the training's samples/s.

Every run goes through `fine_tune()` as train.py calls it, with the ONNX export and the label-issue search
switched off (they come after training and cost the same whichever recipe trained). Needs a CUDA GPU, unless
`--allow_cpu` (a check of this script, not a measurement). Results go to stdout and, with `--out`, as JSON.
"""

import argparse
import json
import logging
import os
import shlex
import subprocess
import sys
import tempfile
import time

from bench.common import (
    MINILM,
    ROOT,
    SST2,
    UNTIMED_STEPS_OFF,
    machine_summary,
    peak_memory_gb,
    random_bert_base,
    sst2_flags,
)

BEFORE = "--precision tf32 --per_device_train_batch_size 32 --dataloader_num_workers 0"
SPEED_RECIPES = {  # name: train.py flags, in the order they run (the most telling first)
    "before: tf32, batch 32": BEFORE,
    "bf16, batch 32": "--precision bf16 --dataloader_num_workers 0",
    "tf32, batch 32, 4 loader processes": "--precision tf32 --dataloader_num_workers 4",
    "tf32, batch 128": "--precision tf32 --per_device_train_batch_size 128 --dataloader_num_workers 0",
    "bf16, batch 128": "--precision bf16 --per_device_train_batch_size 128 --dataloader_num_workers 0",
    "bf16, batch 256": "--precision bf16 --per_device_train_batch_size 256 --dataloader_num_workers 0",
    "tf32, batch 32, torch.compile": f"{BEFORE} --torch_compile true",
}
ACCURACY_RECIPES = {"before: tf32, batch 32": BEFORE, "bf16, batch 32": SPEED_RECIPES["bf16, batch 32"]}
QUIET = ["--export_onnx", "false", "--find_label_issues", "false", "--disable_tqdm", "true", "--report_to", "none"]


def speed_flags(model: str, output_dir: str, steps: int) -> list[str]:
    return sst2_flags(model, output_dir) + [
        "--max_train_samples",
        "20000",
        "--max_steps",
        str(steps),
        *UNTIMED_STEPS_OFF,
        "--logging_steps",
        "50",
        *QUIET,
    ]


def accuracy_flags(output_dir: str) -> list[str]:
    return sst2_flags(str(MINILM), output_dir) + ["--num_train_epochs", "1", "--logging_steps", "200", *QUIET]


def steady_rate_callback(warmup_steps: int):
    """A callback timing the steps after the first `warmup_steps`, the GPU's queue drained at both ends."""
    import torch
    from transformers import TrainerCallback

    class SteadyRate(TrainerCallback):
        start = end = None

        def _now(self):
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            return time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == warmup_steps:
                self.start = (self._now(), state.global_step)
            elif self.start and state.global_step == state.max_steps:
                self.end = (self._now(), state.global_step)
                per_step = args.train_batch_size * args.gradient_accumulation_steps * args.world_size
                self.rate = (self.end[1] - self.start[1]) * per_step / (self.end[0] - self.start[0])
            return control

    return SteadyRate()


def child(part: str, flags: list[str], steps: int, warmup_steps: int) -> None:
    logging.basicConfig(level=logging.WARNING)
    from bert_sentiment.arguments import parse_args
    from bert_sentiment.fine_tune import fine_tune

    with tempfile.TemporaryDirectory() as output_dir:
        if part == "speed":
            model = random_bert_base(onnx=False)
            argv, callbacks = speed_flags(model, output_dir, steps) + flags, [steady_rate_callback(warmup_steps)]
        else:
            argv, callbacks = accuracy_flags(output_dir) + flags, []
        started = time.monotonic()
        facts = fine_tune(*parse_args(argv), callbacks=callbacks)
        wall = time.monotonic() - started
    result = {
        "train_samples_per_second": facts.training.train_samples_per_second,
        "train_seconds": facts.training.train_runtime,
        "precision": facts.training.precision,
        "max_length": facts.lengths.max_length,
        "dev_accuracy": facts.results["validation"].metrics["accuracy"],
        "peak_memory_gb": peak_memory_gb(),
        "run_seconds": wall,
    }
    if callbacks and getattr(callbacks[0], "rate", None):
        result["steady_samples_per_second"] = callbacks[0].rate
    print("RESULT " + json.dumps(result), flush=True)


def spawn(part: str, name: str, flags: str, options) -> dict:
    """One recipe in its own process; {'error': ...} when it failed, so the recipes after it still run."""
    print(f"  running {name} ...", flush=True)
    command = [sys.executable, "-m", "bench.bench_gpu_train", "--child", part, "--flags", flags]
    command += ["--steps", str(options.steps), "--warmup_steps", str(options.warmup_steps)]
    started = time.monotonic()
    output = subprocess.run(command, check=False, capture_output=True, text=True, cwd=ROOT)
    lines = [line for line in output.stdout.splitlines() if line.startswith("RESULT ")]
    if output.returncode or not lines:
        print(output.stderr[-2500:], flush=True)
        return {"error": output.stderr.strip().splitlines()[-1] if output.stderr.strip() else "no result"}
    result = json.loads(lines[-1][len("RESULT ") :])
    result["process_seconds"] = time.monotonic() - started
    return result


def report_speed(results: dict) -> None:
    print(f"\n  {'recipe':<40} {'steady/s':>9} {'whole/s':>8} {'train s':>8} {'peak GB':>8} {'ratio':>6}")
    baseline = results[next(iter(results))].get("steady_samples_per_second")
    for name, result in results.items():
        if "error" in result:
            print(f"  {name:<40} failed: {result['error']}")
            continue
        steady = result.get("steady_samples_per_second", float("nan"))
        ratio = steady / baseline if baseline else float("nan")
        print(
            f"  {name:<40} {steady:>9.0f} {result['train_samples_per_second']:>8.0f} {result['train_seconds']:>8.1f}"
            f" {result['peak_memory_gb']:>8.2f} {ratio:>5.2f}x"
        )


def report_accuracy(results: dict) -> None:
    print(f"\n  {'recipe':<40} {'dev acc':>8} {'samples/s':>10} {'train s':>8}")
    for name, result in results.items():
        if "error" in result:
            print(f"  {name:<40} failed: {result['error']}")
            continue
        print(
            f"  {name:<40} {result['dev_accuracy']:>8.4f} {result['train_samples_per_second']:>10.0f}"
            f" {result['train_seconds']:>8.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=["all", "speed", "accuracy"], default="all")
    parser.add_argument("--steps", type=int, default=300, help="training steps per recipe in the speed part")
    parser.add_argument("--warmup_steps", type=int, default=60, help="steps left out of the steady rate")
    parser.add_argument("--recipes", help="names of speed recipes to run, separated by ';' (default: all)")
    parser.add_argument(
        "--accuracy_recipes",
        help="names of speed recipes to train MiniLM with, besides the path before and bf16 at batch 32, separated by "
        "';'; 'fastest' names the speed part's fastest",
    )
    parser.add_argument(
        "--accuracy_flags",
        help="train.py flag sets to train MiniLM with, separated by ';', in place of the recipes (e.g. a CPU's "
        "comparison of batch sizes: '--per_device_train_batch_size 32;--per_device_train_batch_size 256')",
    )
    parser.add_argument("--out", help="a JSON file for the results")
    parser.add_argument("--allow_cpu", action="store_true", help="run without a GPU: a check of this script")
    parser.add_argument("--child", choices=["speed", "accuracy"], help=argparse.SUPPRESS)
    parser.add_argument("--flags", default="", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        return child(options.child, shlex.split(options.flags), options.steps, options.warmup_steps)
    import torch

    if not torch.cuda.is_available() and not options.allow_cpu:
        sys.exit("This benchmark measures a GPU, and none is visible (torch.cuda.is_available() is False).")
    if not MINILM.is_dir() or not SST2.is_dir():
        sys.exit(f"This benchmark needs {MINILM} and {SST2} (or BENCH_SHARED naming a copy of ../shared).")
    print(f"machine: {machine_summary()}; torch {torch.__version__}; {os.cpu_count()} CPU cores", flush=True)
    everything = {"speed": {}, "accuracy": {}}

    def run(part: str, name: str, flags: str) -> None:
        everything[part][name] = spawn(part, name, flags, options)
        if options.out:
            with open(options.out, "w") as handle:
                json.dump(everything, handle, indent=1)

    names = options.recipes.split(";") if options.recipes else list(SPEED_RECIPES)
    compiled = [name for name in names if "--torch_compile" in SPEED_RECIPES[name]]  # a minute or more each: last
    if options.part in ("all", "speed"):
        print(f"Speed: bert-base (random weights), SST-2 sentences, {options.steps} steps per recipe", flush=True)
        for name in names:
            if name not in compiled:
                run("speed", name, SPEED_RECIPES[name])
    if options.part in ("all", "accuracy"):
        recipes = dict(ACCURACY_RECIPES)
        for name in options.accuracy_recipes.split(";") if options.accuracy_recipes else ():
            if name == "fastest":  # the speed part's fastest recipe, decided in this run
                rates = {n: r.get("steady_samples_per_second", 0) for n, r in everything["speed"].items()}
                name = max(rates, key=rates.get) if rates else next(iter(SPEED_RECIPES))
            recipes[name] = SPEED_RECIPES[name]
        if options.accuracy_flags:
            recipes = {flags.strip(): flags for flags in options.accuracy_flags.split(";")}
        print("\nAccuracy: MiniLM (pretrained), whole SST-2, one epoch", flush=True)
        for name, flags in recipes.items():
            run("accuracy", name, flags)
    if options.part in ("all", "speed"):
        for name in compiled:
            run("speed", name, SPEED_RECIPES[name])
        print("\nSpeed (the first recipe is the path before, the ratio's baseline):")
        report_speed(everything["speed"])
    if everything["accuracy"]:
        print("\nAccuracy (SST-2 dev):")
        report_accuracy(everything["accuracy"])
    print(f"\nmachine: {machine_summary()}")


if __name__ == "__main__":
    main()
