"""Does label_issues.jsonl find wrong labels? Flip a share of SST-2 training labels, train, compare.

    python -m bench.bench_label_issues                      # 6,000 sentences, 5% flipped, train.py defaults
    python -m bench.bench_label_issues --flip 0             # no flips: how many real SST-2 labels are flagged

The sentences are a random sample of SST-2 train; SST-2 dev is the validation split. Precision and
recall are of the flagged training examples against the flipped ones, overall and among the top k
(k = the number of flips). Training examples are scored by cross-validated logistic regressions on TF-IDF and
on the base encoder's sentence embeddings, averaged, and by the fine-tuned model itself, weighing as much
(label_issues.py); with train.py's default (--find_label_issues auto) also by two fold models fine-tuned for one
epoch each when that is cheap, as here; --flags "--find_label_issues fast" measures without them.
"""

import argparse
import csv
import json
import logging
import random
import tempfile
import time
from pathlib import Path

from bench.common import MINILM, SST2, machine_summary


def sample(count: int, flip: float, seed: int, path: Path) -> set[str]:
    """Write `count` SST-2 training sentences with `flip` of their labels flipped; return the flipped texts."""
    with open(SST2 / "train.tsv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    rng = random.Random(seed)
    rows = rng.sample(rows, count)
    flipped = set(rng.sample(range(count), int(flip * count)))
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write("sentence\tlabel\n")
        for i, row in enumerate(rows):
            label = 1 - int(row["label"]) if i in flipped else int(row["label"])
            handle.write(f"{row['sentence'].strip()}\t{label}\n")
    return {rows[i]["sentence"].strip() for i in flipped}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train_samples", type=int, default=6000)
    parser.add_argument("--flip", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--show", type=int, default=8, help="flagged examples to print")
    parser.add_argument("--flags", default="", help='extra train.py flags, e.g. "--find_label_issues fast"')
    options = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from bert_sentiment.arguments import parse_args
    from bert_sentiment.fine_tune import fine_tune

    with tempfile.TemporaryDirectory() as scratch:
        data = Path(scratch) / "train.tsv"
        flips = sample(options.train_samples, options.flip, options.seed, data)
        started = time.monotonic()
        facts = fine_tune(
            *parse_args(
                [
                    "--model_name_or_path",
                    str(MINILM),
                    "--train_file",
                    str(data),
                    "--validation_file",
                    str(SST2 / "dev.tsv"),
                    "--output_dir",
                    f"{scratch}/out",
                    "--disable_tqdm",
                    "true",
                    *options.flags.split(),
                ]
            )
        )
        minutes = (time.monotonic() - started) / 60
        issues = [json.loads(line) for line in (Path(scratch) / "out" / "label_issues.jsonl").read_text().splitlines()]
    flagged = [issue for issue in issues if issue["split"] == "train"]
    print(
        f"{machine_summary()}\nSST-2: {options.train_samples:,} training sentences, {len(flips):,} labels flipped "
        f"({options.flip:.0%}); train.py defaults, {minutes:.1f} min; dev accuracy "
        f"{facts.results['validation'].metrics['accuracy']:.4f}; label issues found in {facts.label_issues.seconds} s"
    )
    folds = facts.label_issues.fold_models_seconds
    print(
        f"  training texts scored by: {facts.label_issues.train_method}"
        + (f" (fold models: {folds} s)" if folds is not None else "")
    )
    print(
        f"  flagged in train: {len(flagged):,}; in validation (SST-2 dev): {facts.label_issues.counts.get('validation', 0):,}"
    )
    scored = facts.label_issues.train_sample
    if scored:  # a stratified sample was scored: about this many of the flips are in it
        print(f"  scored a stratified sample of {scored.scored:,} of {scored.of:,} training texts")
    in_sample = round(len(flips) * scored.scored / scored.of) if scored else len(flips)
    if flips:
        hits = sum(issue["text"] in flips for issue in flagged)
        top = flagged[:in_sample]
        top_hits = sum(issue["text"] in flips for issue in top)
        print(f"  all flagged: precision {hits / max(len(flagged), 1):.3f}, recall {hits / in_sample:.3f}")
        print(
            f"  top {in_sample} flagged (k = flips{' expected in the sample' if scored else ''}): precision "
            f"{top_hits / max(len(top), 1):.3f}, recall {top_hits / in_sample:.3f}"
        )
    shown = [issue for issue in flagged if issue["text"] not in flips][: options.show]
    print("  flagged examples whose label was not flipped (SST-2's own), most likely wrong first:")
    for issue in shown:
        print(f"    given {issue['given_label']:<8} suggested {issue['suggested_label']:<8} {issue['text'][:100]!r}")


if __name__ == "__main__":
    main()
