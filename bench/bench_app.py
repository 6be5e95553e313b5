"""Inference benchmark: the app's prediction path vs a stock pipeline("text-classification") call.

    python -m bench.bench_app

Speed, on the bert-base architecture (random weights: the compute of bert-base-uncased), on SST-2
dev sentences: single-sentence latency p50/p90 (one call per sentence, --latency_sentences of them)
and batch throughput (all 872 dev sentences in one call). The stock path is the default call,
`pipe(text)` / `pipe(texts)`; ours is src/inference.py (int8 dynamic quantization + length-sorted
batches of 32), also shown without int8.
Accuracy, on a MiniLM fine-tuned by train.py on SST-2 (--train_samples sentences, 1 epoch): dev
accuracy of both paths, and the drop int8 costs.
"""

import argparse
import statistics
import tempfile
import time

from bench.common import MINILM, SST2, random_bert_base, sst2_dev


def stock_pipeline(model: str):
    from transformers import pipeline

    return pipeline("text-classification", model=model, device="cpu")


def latencies_ms(call, texts: list[str]) -> list[float]:
    call(texts[0])  # warm-up, as the app does
    times = []
    for text in texts:
        started = time.perf_counter()
        call(text)
        times.append(1000 * (time.perf_counter() - started))
    return times


def throughput(call, texts: list[str]) -> float:
    started = time.perf_counter()
    call(texts)
    return len(texts) / (time.perf_counter() - started)


def speed_part(latency_sentences: int) -> None:
    from bert_sentiment.inference import SentimentClassifier

    model = random_bert_base()
    texts, _ = sst2_dev()
    stock = stock_pipeline(model)
    fp32, int8 = SentimentClassifier(model, quantize=False), SentimentClassifier(model, quantize=True)
    paths = {  # name -> (one-text call, many-texts call)
        "stock pipeline (defaults)": (stock, stock),
        "ours, fp32": (lambda text: fp32.predict([text]), fp32.predict),
        "ours, int8 (app default)": (lambda text: int8.predict([text]), int8.predict),
    }
    print(f"bert-base architecture, SST-2 dev: latency over {latency_sentences} sentences, throughput over {len(texts)}")
    print(f"  {'path':<28} {'p50 ms':>8} {'p90 ms':>8} {'texts/s':>9}")
    results = {}
    for name, (one, many) in paths.items():
        times = latencies_ms(one, texts[:latency_sentences])
        p50, p90 = statistics.median(times), statistics.quantiles(times, n=10)[8]
        results[name] = (p50, p90, throughput(many, texts))
        print(f"  {name:<28} {p50:>8.1f} {p90:>8.1f} {results[name][2]:>9.1f}", flush=True)
    baseline, ours = results["stock pipeline (defaults)"], results["ours, int8 (app default)"]
    print(f"  batch throughput ratio ours/stock: {ours[2] / baseline[2]:.2f}x (target >= 3x)")
    print(f"  single-sentence p50 ratio ours/stock: {ours[0] / baseline[0]:.2f} (target <= 0.5)")


def accuracy_part(train_samples: int) -> None:
    from bert_sentiment.arguments import parse_args
    from bert_sentiment.fine_tune import fine_tune
    from bert_sentiment.inference import SentimentClassifier

    texts, labels = sst2_dev()
    with tempfile.TemporaryDirectory() as output_dir:
        flags = ["--model_name_or_path", str(MINILM), "--train_file", str(SST2 / "train.tsv"),
                 "--validation_file", str(SST2 / "dev.tsv"), "--max_train_samples", str(train_samples),
                 "--num_train_epochs", "1", "--output_dir", output_dir, "--disable_tqdm", "true"]  # fmt: skip
        fine_tune(*parse_args(flags))
        stock = stock_pipeline(output_dir)(texts, truncation=True)
        stock_accuracy = sum(["negative", "positive"].index(a["label"]) == y for a, y in zip(stock, labels)) / len(labels)
        ours = {}
        for quantize in (False, True):
            predictions = SentimentClassifier(output_dir, quantize=quantize).predict(texts)
            ours[quantize] = sum(["negative", "positive"].index(p.label) == y for p, y in zip(predictions, labels)) / len(labels)
    print(f"\nMiniLM fine-tuned on {train_samples} SST-2 sentences (1 epoch), SST-2 dev accuracy:")
    print(f"  stock pipeline (fp32)      {stock_accuracy:.4f}")
    print(f"  ours, fp32                 {ours[False]:.4f}")
    print(f"  ours, int8 (app default)   {ours[True]:.4f}")
    print(f"  int8 accuracy change vs stock: {100 * (ours[True] - stock_accuracy):+.2f} points (target: drop <= 0.5)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=["all", "speed", "accuracy"], default="all")
    parser.add_argument("--latency_sentences", type=int, default=100)
    parser.add_argument("--train_samples", type=int, default=4000)
    options = parser.parse_args()
    import logging

    logging.basicConfig(level=logging.WARNING)
    if options.part in ("all", "speed"):
        speed_part(options.latency_sentences)
    if options.part in ("all", "accuracy"):
        accuracy_part(options.train_samples)


if __name__ == "__main__":
    main()
