"""What `bert-sentiment review --unlabeled_file` costs on large pools: the default sample against scoring every text.

    python -m bench.bench_review                                  # pools of 100,000 and 400,000 IMDB sentences
    python -m bench.bench_review --run out/sst2 --whole 100000    # a finished run; score every text at 100,000 only
    python -m bench.bench_review --sizes 100000 --interrupt_after 90   # and a whole review stopped at 90 s, continued

The pools are IMDB review sentences from ../shared (bench_scale's files), the model a MiniLM trained with train.py's
defaults for one epoch on 6,000 SST-2 sentences (or --run). Each pool is reviewed for the default 200 texts to label
with the default --pool_sample auto, and, for the sizes in --whole, again with --pool_sample all, side by side in
this one process: seconds (reading the file, loading the model, scoring, clustering, writing the sheet), texts
scored, and the margin of the texts picked (the smaller, the less sure the model is of them); and what recording a
run's texts (labelled_texts.npy) and checking a pool against them cost at that size. With --interrupt_after
S, each whole review is also run again, stopped by a Ctrl-C after S seconds and continued by the same call: the two
parts' seconds, against the uninterrupted review's, and whether it picked the same texts. CPU flags are printed.
"""

import _thread
import argparse
import logging
import tempfile
import threading
import time

import numpy as np

from bench.bench_scale import imdb_sentences
from bench.common import machine_summary, sst2_model


def review_once(run: str, pool: str, scratch: str, pool_sample: str, to_label: int) -> dict:
    from openpyxl import load_workbook

    from bert_sentiment import review

    scored = []
    real = review.unlabeled_probabilities
    review.unlabeled_probabilities = lambda model, texts, *kept, **job: scored.append(len(texts)) or real(
        model, texts, *kept, **job
    )
    try:
        started = time.perf_counter()
        path = review.write_review(
            run, f"{scratch}/review_{pool_sample}.xlsx", pool, to_label, "text", pool_sample=pool_sample
        )
        seconds = time.perf_counter() - started
    finally:
        review.unlabeled_probabilities = real
    sheet = load_workbook(path, read_only=True)["to label"]
    header = [cell.value for cell in next(sheet.iter_rows(max_row=1))]
    rows = [dict(zip(header, [cell.value for cell in row])) for row in sheet.iter_rows(min_row=2)]
    margins = np.array([row["margin"] for row in rows], dtype=float)
    return {
        "seconds": seconds,
        "scored": scored[0],
        "texts": {row["text"] for row in rows},
        "margin_mean": margins.mean(),
        "margin_max": margins.max(),
    }


def record_cost(pool: str) -> dict:
    """What a run pays to record its texts (labelled_texts.npy), taking the pool as a run's data, and what a review
    pays to check the pool against them: seconds each."""
    import pandas as pd
    from datasets import Dataset, DatasetDict

    from bert_sentiment.corrections import labelled_hashes, text_hashes

    texts = pd.read_csv(pool)["text"].astype(str).tolist()
    started = time.perf_counter()
    hashes = labelled_hashes(DatasetDict(train=Dataset.from_dict({"text": texts})))
    recorded = time.perf_counter() - started
    started = time.perf_counter()
    np.isin(text_hashes(texts), hashes)
    return {"texts": len(texts), "record": recorded, "check": time.perf_counter() - started}


def interrupted_review(run: str, pool: str, scratch: str, to_label: int, after: float) -> dict:
    """A whole review stopped by a Ctrl-C (KeyboardInterrupt in the main thread) after `after` seconds, then the same
    call again: the seconds of each part and the texts picked."""
    timer = threading.Timer(after, _thread.interrupt_main)
    started = time.perf_counter()
    timer.start()
    try:
        review_once(run, pool, scratch, "all", to_label)
        raise RuntimeError(f"the review finished before {after} s: ask for an earlier --interrupt_after")
    except KeyboardInterrupt:
        stopped = time.perf_counter() - started
    finally:
        timer.cancel()
    continued = review_once(run, pool, scratch, "all", to_label)
    return {"stopped": stopped, **continued}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", help="a finished train.py output_dir (default: train MiniLM on 6,000 SST-2 now)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 400_000])
    parser.add_argument("--whole", type=int, nargs="*", default=[100_000], help="sizes also scored whole")
    parser.add_argument("--to_label", type=int, default=200)
    parser.add_argument("--interrupt_after", type=float, help="also stop each whole review after this many seconds")
    options = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    print(machine_summary(), flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        run = sst2_model(options.run, scratch, 6_000)
        table = []
        for size in options.sizes:
            pool = str(imdb_sentences(size))
            cost = record_cost(pool)
            print(
                f"pool {size:,}: recording {cost['texts']:,} texts as a run's {cost['record']:.1f} s "
                f"({cost['record'] * 1e6 / cost['texts']:.1f} s a million); checking them against the record "
                f"{cost['check']:.1f} s ({cost['check'] * 1e6 / cost['texts']:.1f} s a million)",
                flush=True,
            )
            sampled = review_once(run, pool, scratch, "auto", options.to_label)
            whole = review_once(run, pool, scratch, "all", options.to_label) if size in options.whole else None
            table.append((size, sampled, whole))
            whole_seconds = f", whole {whole['seconds']:.1f} s" if whole else ""
            print(f"pool {size:,}: sample {sampled['seconds']:.1f} s{whole_seconds}", flush=True)
            if whole and options.interrupt_after:
                resumed = interrupted_review(run, pool, scratch, options.to_label, options.interrupt_after)
                print(
                    f"pool {size:,}, whole, stopped after {resumed['stopped']:.1f} s and continued: "
                    f"{resumed['seconds']:.1f} s more, {resumed['stopped'] + resumed['seconds']:.1f} s in all against "
                    f"{whole['seconds']:.1f} s uninterrupted; the same {len(whole['texts'])} texts picked: "
                    f"{resumed['texts'] == whole['texts']}",
                    flush=True,
                )
    print(f"\n{options.to_label} texts to label, pools of IMDB sentences; {machine_summary()}")
    print("| pool | --pool_sample | texts scored | seconds | picks' mean margin | largest | picks shared |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for size, sampled, whole in table:
        shared = f"{len(sampled['texts'] & whole['texts'])}" if whole else ""
        for name, result in (("auto", sampled), ("all", whole)):
            if result:
                print(
                    f"| {size:,} | {name} | {result['scored']:,} | {result['seconds']:.1f} | "
                    f"{result['margin_mean']:.4f} | {result['margin_max']:.4f} | {shared if name == 'all' else ''} |"
                )
        if whole:
            print(f"| {size:,} | all / auto | | **{whole['seconds'] / sampled['seconds']:.1f}x** | | | |")


if __name__ == "__main__":
    main()
