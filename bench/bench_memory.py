"""Training memory on a CPU: each step's measured peak beside the estimate `bert_sentiment.memory` plans with.

    python -m bench.bench_memory

For MiniLM-L6 (../shared) and the bert-base architecture (random weights: the same memory as
bert-base-uncased), at several batch sizes and lengths, in fp32 and bf16 autocast: two AdamW training
steps in a fresh process each, whose peak resident memory above the loaded model is the measurement.
The estimate should lie at or above every measurement (the run then fits) and not far above (it would
split batches that fit). Prints both and their ratio, and the machine.
"""

import argparse
import json
import resource
import subprocess
import sys

from bench.common import MINILM, ROOT, machine_summary, random_bert_base

CASES = [  # (model, batch, tokens)
    ("minilm", 8, 128),
    ("minilm", 8, 512),
    ("minilm", 32, 64),
    ("bert-base", 4, 128),
    ("bert-base", 4, 256),
    ("bert-base", 4, 512),
    ("bert-base", 8, 512),
]


def model_path(name: str) -> str:
    return str(MINILM) if name == "minilm" else random_bert_base()


def child(path: str, batch: int, tokens: int, precision: str) -> None:
    import torch
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    ids = torch.randint(1000, 2000, (batch, tokens))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    for _ in range(2):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = model(
                input_ids=ids, attention_mask=torch.ones_like(ids), labels=torch.zeros(batch, dtype=torch.long)
            ).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print("RESULT " + json.dumps({"measured": peak - before, "parameters": model.num_parameters()}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        path, batch, tokens, precision = options.child
        return child(path, int(batch), int(tokens), precision)
    from transformers import AutoConfig

    from bert_sentiment.memory import GB, training_memory

    print(f"machine: {machine_summary()}\n")
    print(
        f"{'model':<10} {'batch':>5} {'tokens':>6} {'precision':>9} {'measured GB':>12} {'estimate GB':>12} {'ratio':>6}"
    )
    for name, batch, tokens in CASES:
        path = model_path(name)
        for precision in ("fp32", "bf16"):
            command = [sys.executable, "-m", "bench.bench_memory", "--child", path, str(batch), str(tokens), precision]
            output = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=True).stdout
            result = json.loads(output.split("RESULT ")[-1])
            estimate = training_memory(AutoConfig.from_pretrained(path), result["parameters"], batch, tokens)
            print(
                f"{name:<10} {batch:>5} {tokens:>6} {precision:>9} {result['measured'] / GB:>12.2f} "
                f"{estimate / GB:>12.2f} {estimate / result['measured']:>5.2f}x",
                flush=True,
            )


if __name__ == "__main__":
    main()
