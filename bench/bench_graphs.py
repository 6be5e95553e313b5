"""Two exports of one model side by side: the graph with its last layer whole, and the graph the project exports
(the last layer for the first token only, bert_sentiment/first_token.py), in fp32 and in this machine's int8.

    python -m bench.bench_graphs                      # bert-base architecture (random weights) and MiniLM
    python -m bench.bench_graphs --model minilm --rounds 7

Each pair runs in alternating blocks (whole, first-token, then first-token, whole, ...): single SST-2 dev
sentences (p50 of --sentences), then all 872 in length-sorted batches of 32. The machines here change speed for
seconds at a time by up to half, so only a block's ratio to its neighbour compares; the script prints each
round's and their median. ONNX Runtime spins, as in load(). Labels of the two graphs are compared on all of dev.
"""

import argparse
import contextlib
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import MINILM, machine_summary, random_bert_base, sst2_dev


def exports(model_dir: str, work: Path) -> dict[str, Path]:
    """{"whole": fp32 file, "first token": fp32 file} of the model in `model_dir`."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from bert_sentiment import onnx_export

    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=2).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    files = {"whole": work / "whole.onnx", "first token": work / "first-token.onnx"}
    with onnx_export._quiet_exporters():
        onnx_export._export(model, tokenizer, files["first token"])
        shortened = onnx_export._export_first_token_only
        onnx_export._export_first_token_only = lambda model, example: contextlib.nullcontext()
        try:
            onnx_export._export(model, tokenizer, files["whole"])
        finally:
            onnx_export._export_first_token_only = shortened
    return files


def int8(fp32: Path, config) -> Path:
    """This machine's int8 graph of `fp32`, as the app builds it (first recipe, 8 bits where the CPU has VNNI)."""
    from bert_sentiment.machine_graph import weight_bits
    from bert_sentiment.onnx_export import INT8_RECIPES, _quantize, _quiet_exporters

    path = fp32.with_suffix(".int8.onnx")
    with _quiet_exporters():
        _quantize(fp32, path, next(iter(INT8_RECIPES)), config, reduce_range=weight_bits()[0])
    return path


def compare(name: str, graphs: dict[str, Path], tokenizer, texts: list[str], sentences: int, rounds: int) -> None:
    from bert_sentiment.onnx_export import OnnxModel

    models = {label: OnnxModel(path, spin=True) for label, path in graphs.items()}
    singles = [dict(tokenizer([text], return_tensors="np")) for text in texts[:sentences]]
    order = np.argsort([len(text) for text in texts], kind="stable")
    batches = [
        dict(tokenizer([texts[i] for i in order[start : start + 32]], padding=True, return_tensors="np"))
        for start in range(0, len(texts), 32)
    ]
    p50, rate, logits = {label: [] for label in models}, {label: [] for label in models}, {}
    print(f"\n{name}: single p50 (ms) and texts/s, whole | first token | ratio")
    for round_ in range(rounds):
        for label in list(models)[:: 1 if round_ % 2 == 0 else -1]:
            model = models[label]
            model.logits(singles[0])
            times = []
            for feed in singles:
                started = time.perf_counter()
                model.logits(feed)
                times.append(1000 * (time.perf_counter() - started))
            started = time.perf_counter()
            logits[label] = np.concatenate([model.logits(batch) for batch in batches])
            rate[label].append(len(texts) / (time.perf_counter() - started))
            p50[label].append(statistics.median(times))
        whole, first = p50["whole"][-1], p50["first token"][-1]
        print(
            f"  round {round_ + 1}: {whole:6.2f} | {first:6.2f} | {first / whole:.3f}    "
            f"{rate['whole'][-1]:6.0f} | {rate['first token'][-1]:6.0f} | {rate['first token'][-1] / rate['whole'][-1]:.3f}"
        )
    single = statistics.median(b / a for a, b in zip(p50["whole"], p50["first token"]))
    throughput = statistics.median(b / a for a, b in zip(rate["whole"], rate["first token"]))
    agreement = np.mean(logits["whole"].argmax(1) == logits["first token"].argmax(1))
    print(
        f"  median of the rounds: single p50 x{single:.3f}, throughput x{throughput:.3f}; "
        f"labels alike on {agreement:.2%} of dev"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=["all", "bert-base", "minilm"], default="all")
    parser.add_argument("--sentences", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()
    from transformers import AutoConfig, AutoTokenizer

    print(f"Machine: {machine_summary()}")
    texts, _ = sst2_dev()
    models = {"bert-base (random weights)": random_bert_base, "MiniLM-L6 (random head)": lambda: str(MINILM)}
    for name, folder in models.items():
        if options.model != "all" and not name.lower().startswith(options.model):
            continue
        model_dir = folder()
        with tempfile.TemporaryDirectory() as work:
            graphs = exports(model_dir, Path(work))
            tokenizer, config = AutoTokenizer.from_pretrained(model_dir), AutoConfig.from_pretrained(model_dir)
            compare(f"{name}, fp32", graphs, tokenizer, texts, options.sentences, options.rounds)
            quantized = {label: int8(path, config) for label, path in graphs.items()}
            compare(f"{name}, int8 for this CPU", quantized, tokenizer, texts, options.sentences, options.rounds)


if __name__ == "__main__":
    main()
