"""Which words made the answer? Word attributions compared by faithfulness and latency.

    python -m bench.bench_explain                       # train MiniLM on 8,000 SST-2 sentences, then compare
    python -m bench.bench_explain --model out/sst2      # with a model trained earlier

Faithfulness (SST-2 dev sentences of at least 6 words, the fine-tuned MiniLM): delete the 3 words with the
highest attribution and measure how much p(predicted label) drops; beside it, the drop after deleting 3
random words of the same sentence (seeded). A faithful method's drop is much larger than the random one.
Latency: one explanation of a 30-word review on the bert-base architecture (random weights, the compute of
bert-base-uncased) and on MiniLM, median of 5 after a warm-up, on this machine's cores.
"""

import argparse
import logging
import random
import statistics
import tempfile
import time

import numpy as np
import torch

from bench.common import machine_summary, random_bert_base, sst2_dev, sst2_model
from bert_sentiment.explain import DEFAULT_METHOD, METHODS, explain

DELETED = 3
REVIEW_30_WORDS = (
    "I went in expecting very little, and for the first hour the film gave me that, but the last act is "
    "tender, funny and well acted, and I left smiling."
)


def without(text: str, spans: list[tuple[int, int]], chosen: list[int]) -> str:
    """`text` with the words at `chosen` removed, and the spaces they leave collapsed."""
    kept, position = [], 0
    for index in sorted(chosen):
        start, end = spans[index]
        kept.append(text[position:start])
        position = end
    kept.append(text[position:])
    return " ".join("".join(kept).split())


def probabilities(model, tokenizer, texts: list[str]) -> np.ndarray:
    with torch.inference_mode():
        encoded = tokenizer(texts, padding=True, truncation=True, return_tensors="pt")
        return torch.softmax(model(**encoded).logits.float(), dim=-1).numpy()


def faithfulness(model, tokenizer, texts: list[str], explainer, seed: int = 0) -> tuple[float, float]:
    """(mean drop of p(label) after deleting the top words, mean drop after deleting random words), both measured
    with the PyTorch fp32 model, whichever engine explained."""
    rng = random.Random(seed)
    top_drops, random_drops = [], []
    for text in texts:
        explanation = explainer(text)
        target = list(model.config.id2label.values()).index(explanation.label)
        ranked = sorted(range(len(explanation.words)), key=lambda i: -explanation.words[i][1])[:DELETED]
        chosen = rng.sample(range(len(explanation.words)), DELETED)
        before, top, chance = probabilities(
            model,
            tokenizer,
            [
                explanation.text,
                without(explanation.text, explanation.spans, ranked),
                without(explanation.text, explanation.spans, chosen),
            ],
        )[:, target]
        top_drops.append(before - top)
        random_drops.append(before - chance)
    return float(np.mean(top_drops)), float(np.mean(random_drops))


def latency_ms(explainer, text: str, repeats: int = 5) -> float:
    explainer(text)  # warm-up: imports, allocator
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        explainer(text)
        times.append(1000 * (time.perf_counter() - started))
    return statistics.median(times)


def explainers(path: str) -> dict:
    """name -> (text -> Explanation): each Captum method on the PyTorch model, and the app's own path."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from bert_sentiment.inference import SentimentClassifier

    model = AutoModelForSequenceClassification.from_pretrained(path).eval()
    tokenizer = AutoTokenizer.from_pretrained(path)
    chosen = {
        f"{method} (PyTorch)": lambda text, method=method: explain(model, tokenizer, text, method) for method in METHODS
    }
    app = SentimentClassifier(path)  # ONNX Runtime int8, as served
    chosen[f"{DEFAULT_METHOD} (app: {app.engine_note.split(' (')[0]})"] = app.explain
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="an output_dir of train.py on SST-2 (default: train one now)")
    parser.add_argument("--train_samples", type=int, default=8000)
    parser.add_argument("--sentences", type=int, default=300, help="SST-2 dev sentences for the faithfulness check")
    options = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    with tempfile.TemporaryDirectory() as scratch:
        path = sst2_model(options.model, scratch, options.train_samples)
        model = AutoModelForSequenceClassification.from_pretrained(path).eval()
        tokenizer = AutoTokenizer.from_pretrained(path)
        small, base = explainers(path), explainers(random_bert_base())
        texts = [text for text in sst2_dev()[0] if len(text.split()) >= 2 * DELETED][: options.sentences]
        print(f"{machine_summary()}; torch threads {torch.get_num_threads()}")
        print(
            f"Faithfulness: {len(texts)} SST-2 dev sentences (>= {2 * DELETED} words), {DELETED} words deleted; "
            f"latency: one {len(REVIEW_30_WORDS.split())}-word review"
        )
        print(
            f"  {'method':<38} {'drop top-3':>10} {'drop random-3':>13} {'ratio':>6} {'bert-base ms':>12} {'MiniLM ms':>10}"
        )
        for name, explainer in small.items():
            top, chance = faithfulness(model, tokenizer, texts, explainer)
            base_ms, small_ms = latency_ms(base[name], REVIEW_30_WORDS), latency_ms(explainer, REVIEW_30_WORDS)
            print(
                f"  {name:<38} {top:>10.4f} {chance:>13.4f} {top / chance:>6.1f} {base_ms:>12.0f} {small_ms:>10.0f}",
                flush=True,
            )
        long_text = " ".join([REVIEW_30_WORDS] * 7)
        app = list(small)[-1]
        explanation = small[app](long_text)
        print(
            f"A {len(long_text.split())}-word text (the review 7 times; its first {len(explanation.words)} words "
            f"explained, in runs of {explanation.run_length}), {app}: bert-base "
            f"{latency_ms(base[app], long_text, repeats=3):.0f} ms, MiniLM {latency_ms(small[app], long_text, repeats=3):.0f} ms"
        )


if __name__ == "__main__":
    main()
