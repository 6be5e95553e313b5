"""The int8 recipes of the ONNX export compared: label agreement with PyTorch, probability error, size, speed.

    python -m bench.bench_int8                      # train MiniLM on 6,000 SST-2 sentences, then compare
    python -m bench.bench_int8 --model out/sst2     # with a model trained earlier

Each recipe of bert_sentiment.onnx_export.INT8_RECIPES quantizes the same fp32 graph; beside them, the
full-range int8 weights used before (they saturate on x86 CPUs without VNNI, see onnx_export). Agreement is
counted on every SST-2 dev sentence, as the export's own check does; the p50 is one sentence at a time
through ONNX Runtime on this machine's cores.
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import machine_summary, sst2_dev, sst2_model
from bert_sentiment.onnx_export import INT8_AGREEMENT, INT8_RECIPES, OnnxModel, Reference, _export, _quantize

LATENCY_SENTENCES = 200


def full_range(fp32: Path, int8: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(fp32, int8, weight_type=QuantType.QInt8, per_channel=True)


def p50_ms(graph: OnnxModel, tokenizer, texts: list[str]) -> float:
    encoded = [tokenizer(text, return_tensors="np") for text in texts]
    feeds = [{name: item[name].astype(np.int64) for name in graph.inputs} for item in encoded]
    for feed in feeds[:10]:
        graph.session.run(None, feed)
    times = []
    for feed in feeds:
        start = time.perf_counter()
        graph.session.run(None, feed)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="a run of train.py on SST-2 (default: train MiniLM now)")
    parser.add_argument("--samples", type=int, default=6_000, help="training sentences when training now")
    options = parser.parse_args()
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    print(f"Machine: {machine_summary()}")
    with tempfile.TemporaryDirectory() as scratch:
        model_dir = sst2_model(options.model, scratch, options.samples)
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
        texts = sst2_dev()[0]
        reference = Reference(model, tokenizer, texts)
        margins = np.abs(np.diff(np.sort(reference.expected, axis=1)[:, -2:], axis=1))[:, 0]
        fp32 = Path(scratch) / "model.onnx"
        _export(model, tokenizer, fp32)
        variants = {"full-range int8 weights, every linear layer (before)": lambda out: full_range(fp32, out)}
        for recipe in INT8_RECIPES:
            variants[recipe] = lambda out, recipe=recipe: _quantize(fp32, out, recipe, model.config)
        near_ties = int((margins < 0.1).sum())
        print(
            f"\n{Path(model_dir).name}: {len(texts)} SST-2 dev sentences, {near_ties} decided by PyTorch with a "
            f"margin under 0.1\n"
        )
        print(
            f"{'int8 recipe':58s} {'agreement':>9s} {'flips':>5s} {'largest flipped margin':>22s} {'mean |dp|':>9s} "
            f"{'MB':>5s} {'p50 ms':>7s}"
        )
        fp32_graph = OnnxModel(fp32)
        print(
            f"{'(ONNX fp32)':58s} {'':>9s} {'':>5s} {'':>22s} {'':>9s} {fp32.stat().st_size / 1e6:5.0f} "
            f"{p50_ms(fp32_graph, tokenizer, texts[:LATENCY_SENTENCES]):7.2f}"
        )
        for name, quantize in variants.items():
            int8 = Path(scratch) / "model_quantized.onnx"
            quantize(int8)
            graph = OnnxModel(int8)
            probabilities = reference.probabilities(graph)
            flipped = probabilities.argmax(axis=1) != reference.expected.argmax(axis=1)
            agreement = 1 - flipped.mean()
            largest = f"{margins[flipped].max():.3f}" if flipped.any() else "-"
            mark = "pass" if agreement >= INT8_AGREEMENT else "fail"
            print(
                f"{name:58s} {agreement:8.2%} {int(flipped.sum()):5d} {largest:>22s} "
                f"{np.abs(probabilities - reference.expected).mean():9.4f} {int8.stat().st_size / 1e6:5.0f} "
                f"{p50_ms(graph, tokenizer, texts[:LATENCY_SENTENCES]):7.2f}  {mark}",
                flush=True,
            )
    print(
        f"\nThe export keeps the first of INT8_RECIPES (in the order above, after the first row) that agrees on "
        f">= {INT8_AGREEMENT:.0%}."
    )


if __name__ == "__main__":
    main()
