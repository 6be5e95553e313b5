"""The TF-IDF baseline fitted on stratified samples of SST-2's training sentences, beside the fit on all of them.

    python -m bench.bench_baseline_sample

Why budget.BASELINE_MAX_TEXTS is what it is: SST-2 dev accuracy of the baseline as baselines.py builds it, fitted
on every training sentence and on samples of 50,000, 30,000 and 20,000 (three sample seeds each), with the
seconds each fit took. The CPU's flags are printed with the figures.
"""

import csv
import time

import numpy as np

from bench.common import SST2, machine_summary


def read(path):
    with open(path, encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [row["sentence"] for row in rows], np.array([int(row["label"]) for row in rows])


def main() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from bert_sentiment.baselines import tfidf_vectorizer
    from bert_sentiment.budget import stratified_sample

    texts, labels = read(SST2 / "train.tsv")
    dev_texts, dev_labels = read(SST2 / "dev.tsv")
    print(f"bench_baseline_sample: TF-IDF + logistic regression on SST-2; {machine_summary()}")
    for size in (len(texts), 50_000, 30_000, 20_000):
        figures = []
        for seed in (0, 1, 2) if size < len(texts) else (0,):
            rows = stratified_sample(labels, size, seed)
            started = time.monotonic()
            model = make_pipeline(tfidf_vectorizer("en"), LogisticRegression(max_iter=2000, random_state=seed))
            model.fit([texts[i] for i in rows], labels[rows])
            accuracy = float((model.predict(dev_texts) == dev_labels).mean())
            figures.append(f"{accuracy:.4f} ({time.monotonic() - started:.1f} s)")
        print(f"  {size:>6,} training sentences: dev accuracy {', '.join(figures)}")


if __name__ == "__main__":
    main()
