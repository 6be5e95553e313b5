"""From scores to decisions, measured on SST-2 with MiniLM: 'not sure' at a precision, fixed labels, texts to label.

    python -m bench.bench_decisions abstain       # threshold chosen on validation; test precision vs the target
    python -m bench.bench_decisions corrections   # 5% flipped labels: clean vs flipped vs the top-k flagged fixed
    python -m bench.bench_decisions active        # 2,000 texts + 1,000 chosen by `review` vs 1,000 at random

abstain: SST-2's training file holds phrases of its sentences, easier than whole sentences, so a validation split
carved from it gives a threshold too low for whole sentences (measured: bench/README.md), and SST-2 dev alone (872)
is too small to measure a precision to a point. So 3,000 whole training sentences (phrases no other phrase
contains) are held out, with every training phrase inside them; they and SST-2 dev (3,872 sentences) are cut in
two random halves, A the validation split and B the test split. One epoch on the training phrases left, every
default but --abstain_precision 0.95. Printed: for each target, the threshold chosen on one half, its precision
and coverage there and on the other half (the honest figures), both ways round, with the model as load() serves
it; then, over random re-cuts of the 3,872 sentences, how often the other half lands within 1 point of the target.

corrections: 6,000 random SST-2 training phrases (of those left when 3,000 whole training sentences are held out
as for abstain), 5% of their labels flipped, SST-2 dev as validation, the 3,000 held-out sentences as the test
split (872 dev sentences measured a flip's cost no finer than the cost itself), train.py defaults: once on the true
labels, once on the flipped ones (which ranks label issues, --find_label_issues as --mode says: auto, the default,
picks thorough at this size), and once more for each of two rankings after an oracle
corrected its top-k training labels (k = the number of flips) through --label_corrections: the run's own
label_issues.jsonl, and, as an ablation, the flipped run's model alone (the lowest probability of the given label
first; --ablation 0 leaves it out). With --random_flips 1, once more with as many flips as the run's ranking
found, drawn at random among the flips, set to the truth: whether the flips a ranking finds cost what the others
do. With --believed 1, once with the flips the flipped run's model agrees with (probability of the flipped label
above 0.5) set to the truth, and once with as many of the flips it disagrees with, drawn at random: whether the cost
lies in the flips no ranking by disagreement can find. Printed: test accuracy of each and the share of the flips'
cost recovered.
With --texts sentences the training texts are the 3,886 whole training sentences not held out instead of phrases:
texts like the reviews users bring, where a flipped label is a whole opinion mislabelled.

active: per seed, 2,000 random SST-2 training sentences train a first model; `bert-sentiment review
--unlabeled_file` picks 1,000 texts of a 20,000-sentence pool, and 1,000 others are drawn at random from the same
pool; each set, labelled with SST-2's labels, is added to the 2,000 and trained on. 1,000 other training sentences
are the validation split; SST-2 dev is the test. Printed: dev accuracy per seed, mean and spread.

Each training runs `train.py` in its own process. CPU flags are printed.
"""

import argparse
import csv
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import MINILM, ROOT, SST2, machine_summary

QUICK = ["--export_onnx", "false", "--disable_tqdm", "true", "--logging_steps", "1000"]


def sst2_train() -> list[tuple[str, str]]:
    with open(SST2 / "train.tsv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [(row["sentence"].strip(), "positive" if row["label"] == "1" else "negative") for row in rows]


def sst2_dev_csv(scratch: Path) -> Path:
    """SST-2 dev with the labels named as in the training files written here."""
    from bench.common import sst2_dev

    texts, labels = sst2_dev()
    return write_rows(scratch / "dev.csv", zip(texts, ("positive" if label else "negative" for label in labels)))


def write_rows(path: Path, rows, header=("text", "label")) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def train(output_dir: Path, flags: list[str]) -> dict:
    started = time.monotonic()
    command = [
        sys.executable,
        "train.py",
        "--model_name_or_path",
        str(MINILM),
        "--output_dir",
        str(output_dir),
        *QUICK,
        *flags,
    ]
    done = subprocess.run(
        [str(part) for part in command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "TOKENIZERS_PARALLELISM": "false"},
    )
    if done.returncode:
        sys.exit(f"train.py failed:\n{done.stderr[-4000:]}")
    facts = json.loads((output_dir / "run_facts.json").read_text())
    facts["minutes"] = (time.monotonic() - started) / 60
    return facts


def accuracy(facts: dict, split: str) -> float:
    return facts["results"][split]["metrics"]["accuracy"]


def whole_sentences(held_out: int, seed: int, sentences_only: bool = False):
    """(training rows left, held-out sentences): `held_out` whole SST-2 training sentences held out, and of the rest
    every phrase not inside them, or with `sentences_only` the whole sentences not held out."""
    rows = sst2_train()
    words = [tuple(text.split()) for text, _ in rows]
    parts = set()
    for span in words:  # the spans of every phrase but itself; a whole sentence is in no other phrase
        parts.update(span[i:j] for i in range(len(span)) for j in range(i + 1, len(span) + 1) if j - i < len(span))
    whole = [i for i, span in enumerate(words) if span not in parts]
    held = random.Random(seed).sample(whole, held_out)
    covered = {words[i][a:b] for i in held for a in range(len(words[i])) for b in range(a + 1, len(words[i]) + 1)}
    if sentences_only:
        return [rows[i] for i in sorted(set(whole) - set(held))], [rows[i] for i in held]
    kept = [row for row, span in zip(rows, words) if span not in covered]
    return kept, [rows[i] for i in held]


def abstain(scratch: Path, options) -> None:
    from bench.common import sst2_dev
    from bert_sentiment.abstain import at_threshold, threshold_for
    from bert_sentiment.inference import load

    kept, held = whole_sentences(options.held_out, options.seed)
    texts, labels = sst2_dev()
    pool = [*held, *((text, "positive" if label else "negative") for text, label in zip(texts, labels))]
    order = random.Random(options.seed).sample(range(len(pool)), len(pool))
    rows = {"A": np.array(sorted(order[: len(pool) // 2])), "B": np.array(sorted(order[len(pool) // 2 :]))}
    named = {half: [pool[i] for i in indices] for half, indices in rows.items()}
    files = {half: write_rows(scratch / f"{half}.csv", rows) for half, rows in named.items()}
    flags = ["--train_file", write_rows(scratch / "train.csv", kept), "--validation_file", files["A"], "--test_file",
             files["B"], "--num_train_epochs", "1", "--abstain_precision", options.target, "--find_label_issues", "false"]  # fmt: skip
    facts = train(scratch / "abstain", flags)
    print(f"One epoch on {facts['data']['sizes']['train']:,} SST-2 training phrases ({facts['minutes']:.1f} min), "
          f"{len(held):,} whole training sentences held out with every phrase inside them; they and SST-2 dev "
          f"({len(pool):,}) cut in halves at random (seed {options.seed}): validation A ({len(named['A']):,}), test B "
          f"({len(named['B']):,}); accuracy A {accuracy(facts, 'validation'):.4f}, B {accuracy(facts, 'test'):.4f}")  # fmt: skip
    clf = load(str(scratch / "abstain"), engine="torch")  # the saved, calibrated model, as load() serves it
    predictions = clf([text for text, _ in pool])
    probabilities = np.array([[p.scores["negative"], p.scores["positive"]] for p in predictions])
    truths = np.array([int(label == "positive") for _, label in pool])
    print(f"  {'target':>7} {'chosen on':>9} {'threshold':>10} {'precision, coverage there':>26} "
          f"{'on the other half':>22} {'other - target':>15}")  # fmt: skip
    targets = sorted({0.9, 0.95, 0.99, float(options.target)})
    for target in targets:
        for chosen, other in (("A", "B"), ("B", "A")):
            picked = threshold_for(probabilities[rows[chosen]], truths[rows[chosen]], target)
            if picked["threshold"] is None:
                print(f"  {target:>7g} {chosen:>9} {'none':>10} best precision {picked['precision']:.4f}")
                continue
            held_out = at_threshold(probabilities[rows[other]], truths[rows[other]], picked["threshold"])
            print(f"  {target:>7g} {chosen:>9} {picked['threshold']:>10.4f} {picked['precision']:>11.4f}, "
                  f"{picked['coverage']:>6.1%}{'':>6} {held_out['precision']:>10.4f}, {held_out['coverage']:>6.1%}"
                  f"{100 * (held_out['precision'] - target):>+12.2f} pt")  # fmt: skip
    run = facts["abstention"]["targets"][f"{float(options.target):g}"]
    print(f"  the run's own report (chosen on A, on test B): threshold {run['threshold']}, test {run.get('test')}")
    rng = np.random.default_rng(options.seed)
    print(f"  {options.recuts} random re-cuts of the {len(pool):,} sentences into halves (the model calibrated on A "
          f"throughout), threshold chosen on one half, precision on the other:")  # fmt: skip
    for target in targets:
        gaps = []
        for _ in range(options.recuts):
            shuffled = rng.permutation(len(pool))
            chosen, other = shuffled[: len(pool) // 2], shuffled[len(pool) // 2 :]
            picked = threshold_for(probabilities[chosen], truths[chosen], target)
            if picked["threshold"] is not None:
                gaps.append(
                    100 * (at_threshold(probabilities[other], truths[other], picked["threshold"])["precision"] - target)
                )
        if gaps:
            within = sum(abs(gap) <= 1 for gap in gaps)
            print(f"  {target:>7g}: other - target mean {statistics.mean(gaps):+.2f} pt, sd {statistics.stdev(gaps):.2f}, "
                  f"within 1 point in {within} of {len(gaps)} ({options.recuts - len(gaps)} cuts reached no threshold)")  # fmt: skip


def corrections(scratch: Path, options) -> None:
    # the same test split for every seed; with --texts sentences, whole sentences to train on, as users' reviews come
    kept, held = whole_sentences(options.held_out, 0, sentences_only=options.texts == "sentences")
    rng = random.Random(options.seed)
    rows = rng.sample(kept, min(options.train_samples, len(kept)))
    flipped = set(rng.sample(range(len(rows)), int(options.flip * len(rows))))
    noisy = [
        (text, {"positive": "negative", "negative": "positive"}[label] if i in flipped else label)
        for i, (text, label) in enumerate(rows)
    ]
    truth, flipped_texts = dict(rows), {rows[i][0] for i in flipped}
    test = write_rows(scratch / "test.csv", held)
    common = ["--validation_file", sst2_dev_csv(scratch), "--test_file", test, "--seed", options.seed]
    clean = train(
        scratch / "clean",
        ["--train_file", write_rows(scratch / "clean.csv", rows), *common, "--find_label_issues", "false"],
    )
    dirty = train(
        scratch / "flipped",
        ["--train_file", write_rows(scratch / "flipped.csv", noisy), *common, "--find_label_issues", options.mode],
    )
    issues = [json.loads(line) for line in (scratch / "flipped" / "label_issues.jsonl").read_text().splitlines()]
    rankings = {
        f"the run's label_issues.jsonl ({dirty['label_issues']['train_method']})": [
            issue["text"] for issue in issues if issue["split"] == "train"
        ]
    }
    if options.ablation:
        rankings["the fine-tuned model alone (ablation)"] = ranked_by_the_model_alone(scratch / "flipped", noisy)
    a, b = accuracy(clean, "test"), accuracy(dirty, "test")
    print(
        f"SST-2: {len(rows):,} training {options.texts}, {len(flipped):,} labels flipped ({options.flip:.0%}), seed "
        f"{options.seed}; train.py defaults; accuracy on {len(held):,} held-out whole training sentences (SST-2 dev "
        f"accuracy: clean {accuracy(clean, 'validation'):.4f}, flipped {accuracy(dirty, 'validation'):.4f})"
    )
    print(f"  true labels:    {a:.4f} ({clean['minutes']:.1f} min)")
    print(f"  flipped labels: {b:.4f} ({dirty['minutes']:.1f} min); the flips cost {100 * (a - b):+.2f} points")

    def retrain(name: str, texts: list[str], what: str) -> None:  # `texts` set to the truth, as an oracle would
        corrections = write_rows(
            scratch / f"corrections_{name}.csv", [(text, truth[text]) for text in texts], ("text", "corrected_label")
        )
        flags = ["--train_file", scratch / "flipped.csv", "--label_corrections", corrections, *common]
        fixed = train(scratch / f"fixed_{name}", [*flags, "--find_label_issues", "false"])
        c, cost = accuracy(fixed, "test"), a - b
        print(
            f"  {what} set to the truth ({sum(t in flipped_texts for t in texts)} flips, "
            f"{fixed['data']['label_corrections']['corrected']} labels changed): {c:.4f} ({fixed['minutes']:.1f} "
            f"min), recovered {100 * (c - b):+.2f} points"
            + (f" = {(c - b) / cost:.0%} of the cost" if cost > 0 else " (no cost to recover)"),
            flush=True,
        )

    for i, (ranking, texts) in enumerate(rankings.items()):
        retrain(str(i), texts[: len(flipped)], f"top {len(flipped)} by {ranking}")
    if options.random_flips:  # do the flips the run's ranking finds cost what the others do?
        found = sum(text in flipped_texts for text in next(iter(rankings.values()))[: len(flipped)])
        drawn = random.Random(options.seed).sample(sorted(flipped_texts), found)
        retrain("random", drawn, f"{found} flips drawn at random (as many as the run's ranking found)")
    if options.believed:  # do the flips the flipped run's model came to agree with cost more than the others?
        quality = given_label_probabilities(scratch / "flipped", noisy)
        believed = [i for i in sorted(flipped) if quality[i] > 0.5]
        others = [i for i in sorted(flipped) if quality[i] <= 0.5]
        drawn = random.Random(options.seed).sample(others, min(len(believed), len(others)))
        retrain(
            "believed", [rows[i][0] for i in believed], f"the {len(believed)} flips the flipped run's model agrees with"
        )
        retrain("disbelieved", [rows[i][0] for i in drawn], f"{len(drawn)} of the {len(others)} it disagrees with")


def given_label_probabilities(run: Path, rows: list[tuple[str, str]]) -> np.ndarray:
    """Each training text's probability of its given label by the run's saved model (fp32): the model's own reading
    of what it trained on, without the cross-validated models label_issues.py averages in."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from bert_sentiment.label_issues import classifier_probabilities

    model = AutoModelForSequenceClassification.from_pretrained(run).eval()
    texts = [text for text, _ in rows]
    probabilities = classifier_probabilities(model, AutoTokenizer.from_pretrained(run), texts, 128, False)
    given = [model.config.label2id[label] for _, label in rows]
    return probabilities[np.arange(len(rows)), given]


def ranked_by_the_model_alone(run: Path, rows: list[tuple[str, str]]) -> list[str]:
    """The training texts, lowest probability of their given label by the run's saved model first."""
    quality = given_label_probabilities(run, rows)
    return [rows[i][0] for i in np.argsort(quality, kind="stable")]


def active(scratch: Path, options) -> None:
    from openpyxl import load_workbook

    from bert_sentiment.review import write_review

    everything = sst2_train()
    results = {"chosen": [], "random": []}
    for seed in range(options.seeds):
        rng = random.Random(100 + seed)
        rows = rng.sample(everything, options.start + options.validation + options.pool)
        start, validation, pool = (
            rows[: options.start],
            rows[options.start : options.start + options.validation],
            rows[options.start + options.validation :],
        )
        truth = dict(pool)
        common = [
            "--validation_file",
            write_rows(scratch / f"validation_{seed}.csv", validation),
            "--test_file",
            sst2_dev_csv(scratch),
            "--seed",
            seed,
            "--find_label_issues",
            "false",
        ]
        first = scratch / f"start_{seed}"
        train(
            first, ["--train_file", write_rows(scratch / f"start_{seed}.csv", start), *common, "--export_onnx", "true"]
        )
        unlabeled = scratch / f"pool_{seed}.csv"
        with open(unlabeled, "w", encoding="utf-8", newline="") as handle:
            csv.writer(handle).writerows([["text"], *([text] for text, _ in pool)])
        picked = time.monotonic()
        sheet = load_workbook(write_review(first, scratch / f"review_{seed}.xlsx", str(unlabeled), options.added))[
            "to label"
        ]
        chosen = [row[0].value for row in sheet.iter_rows(min_row=2)]
        picked = time.monotonic() - picked
        drawn = [text for text, _ in rng.sample(pool, options.added)]
        for arm, texts in (("chosen", chosen), ("random", drawn)):
            data = write_rows(scratch / f"{arm}_{seed}.csv", [*start, *((text, truth[text]) for text in texts)])
            facts = train(scratch / f"{arm}_{seed}", ["--train_file", data, *common])
            results[arm].append(accuracy(facts, "test"))
        print(
            f"  seed {seed}: chosen {results['chosen'][-1]:.4f}, random {results['random'][-1]:.4f} (picking "
            f"{options.added:,} of {len(pool):,} took {picked:.0f} s)",
            flush=True,
        )
    for arm, scores in results.items():
        spread = statistics.stdev(scores) if len(scores) > 1 else 0.0
        print(
            f"  {arm:>6}: mean {statistics.mean(scores):.4f}, sd {spread:.4f} ({', '.join(f'{s:.4f}' for s in scores)})"
        )
    gaps = [c - r for c, r in zip(results["chosen"], results["random"])]
    print(
        f"  chosen - random: mean {100 * statistics.mean(gaps):+.2f} points ({', '.join(f'{100 * g:+.2f}' for g in gaps)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=("abstain", "corrections", "active"))
    parser.add_argument("--target", default="0.95", help="abstain: the target precision")
    parser.add_argument("--held_out", type=int, default=3000, help="abstain: whole training sentences held out")
    parser.add_argument("--recuts", type=int, default=200, help="abstain: random re-cuts of the held-out sentences")
    parser.add_argument("--train_samples", type=int, default=6000, help="corrections: training sentences")
    parser.add_argument("--flip", type=float, default=0.05, help="corrections: share of labels flipped")
    parser.add_argument(
        "--texts",
        choices=("phrases", "sentences"),
        default="phrases",
        help="corrections: train on random training phrases, or on the whole training sentences not held out",
    )
    parser.add_argument("--seed", type=int, default=0, help="corrections: flip and training seed")
    parser.add_argument(
        "--mode", default="auto", help="corrections: --find_label_issues of the flipped run (train.py's default: auto)"
    )
    parser.add_argument(
        "--ablation", type=int, default=1, help="corrections: 0 skips the retraining on the model-alone ranking"
    )
    parser.add_argument(
        "--random_flips",
        type=int,
        default=0,
        help="corrections: 1 retrains once more with as many flips as the run's ranking found, drawn at random, fixed",
    )
    parser.add_argument(
        "--believed",
        type=int,
        default=0,
        help="corrections: 1 retrains once with the flips the flipped run's model agrees with set to the truth, and "
        "once with as many of the flips it disagrees with",
    )
    parser.add_argument("--seeds", type=int, default=3, help="active: seeds")
    parser.add_argument("--start", type=int, default=2000, help="active: labelled texts to start from")
    parser.add_argument("--added", type=int, default=1000, help="active: texts added")
    parser.add_argument("--pool", type=int, default=20000, help="active: unlabeled texts to choose from")
    parser.add_argument("--validation", type=int, default=1000, help="active: validation texts")
    options = parser.parse_args()
    print(f"bench_decisions {options.part}; {machine_summary()}", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        {"abstain": abstain, "corrections": corrections, "active": active}[options.part](Path(scratch), options)


if __name__ == "__main__":
    main()
