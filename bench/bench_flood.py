"""The public page under a flood: ordinary visitors while two others send the largest allowed batches back to back.

    python -m bench.bench_flood                          # MiniLM, 60 s per phase, then a 10,000-request soak
    python -m bench.bench_flood --model bert-base --seconds 90 --soak 0

The app (bert_sentiment/app.py, ONNX Runtime int8) serves a classifier with a random head in its own process on
loopback. Every client speaks gradio's documented HTTP API (POST /gradio_api/call/..., then the answer's event
stream) with its own X-Forwarded-For address, as visitors reach a Space through its proxy.
- Quiet: `--visitors` visitors each send /predict with an SST-2 dev sentence, wait for the answer, pause
  `--think` seconds, and again, for `--seconds`.
- Flood: the same visitors, while two flooders each send the largest batch the app allows (MAX_BATCH_ROWS texts
  making MAX_BATCH_CHARACTERS characters) back to back, and at the start a burst of 8 more at once (which the
  places per visitor must refuse; after a refusal a flooder waits a second).
- Soak (first): visitors without pauses until `--soak` requests; the server's resident memory after warm-up
  and at the end.
Targets (issue 26): visitors see 0 errors under the flood, their p95 at most 3x their quiet p95; flooders get
answers or clear refusals; resident memory after the soak within 10% of after warm-up.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.common import MINILM, ROOT, SST2, machine_summary, random_bert_base, sst2_dev

OUR_APP = "import sys; from bert_sentiment.app import serve; serve(['--model', sys.argv[1], '--port', sys.argv[2]])"


def minilm_classifier() -> str:
    """MiniLM from ../shared with a random two-label head, and its ONNX files as publishing writes them."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from bert_sentiment.onnx_export import SERVING_MARGIN, STOCK_TEXTS, export_graphs

    directory = Path(tempfile.gettempdir()) / "bench-minilm-random-head"
    if not (directory / "onnx" / "model_quantized.onnx").exists():
        labels = {0: "negative", 1: "positive"}
        model = AutoModelForSequenceClassification.from_pretrained(
            MINILM, num_labels=2, id2label=labels, label2id={v: k for k, v in labels.items()}
        ).eval()
        tokenizer = AutoTokenizer.from_pretrained(MINILM, model_max_length=512)
        model.save_pretrained(directory)
        tokenizer.save_pretrained(directory)
        (directory / "onnx").mkdir(exist_ok=True)
        export_graphs(model, tokenizer, directory / "onnx", STOCK_TEXTS, SERVING_MARGIN)
    return str(directory)


def largest_batch() -> str:
    """MAX_BATCH_ROWS lines of SST-2 training sentences, run together to fill MAX_BATCH_CHARACTERS."""
    import csv

    from bert_sentiment.demo import MAX_BATCH_CHARACTERS, MAX_BATCH_ROWS

    with open(SST2 / "train.tsv", encoding="utf-8") as handle:
        sentences = [row["sentence"].strip() for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)]
    width, lines, pool = MAX_BATCH_CHARACTERS // MAX_BATCH_ROWS - 1, [], iter(sentences)
    while len(lines) < MAX_BATCH_ROWS:
        line = ""
        while len(line) < width - 40:
            line += next(pool) + " "
        lines.append(line[:width].strip())
    return "\n".join(lines)


def call(http, endpoint: str, data: list, address: str, timeout: float = 600) -> str:
    """'answer', or what went wrong: 'refused: ...' (the app said no, with its reason) or 'error: ...'."""
    headers = {"x-forwarded-for": address}
    try:
        joined = http.post(f"/gradio_api/call/{endpoint}", json={"data": data}, headers=headers, timeout=timeout)
        if joined.status_code == 422:
            return "refused: " + joined.json()["detail"][0]["message"]
        joined.raise_for_status()
        with http.stream("GET", f"/gradio_api/call/{endpoint}/{joined.json()['event_id']}", timeout=timeout) as answer:
            events = "".join(answer.iter_text())
    except Exception as err:  # noqa: BLE001 -- every failure a visitor would see counts
        return f"error: {type(err).__name__} {err}"
    return "answer" if "event: complete" in events else f"error: {events[-300:]}"


class Visitors:
    """`count` visitors sending /predict until stopped: latencies (s) of answers, and everything else seen."""

    def __init__(self, url: str, texts: list[str], count: int, think: float, limit: int | None = None):
        self.latencies, self.failures, self.stop = [], [], threading.Event()
        self.threads = [threading.Thread(target=self._visit, args=(url, texts, i, think, limit)) for i in range(count)]

    def _visit(self, url, texts, index, think, limit):
        import httpx

        with httpx.Client(base_url=url) as http:
            j = index
            while not self.stop.is_set() and (limit is None or len(self.latencies) + len(self.failures) < limit):
                started = time.perf_counter()
                outcome = call(http, "predict", [texts[j % len(texts)]], f"10.0.0.{index + 1}", timeout=120)
                if outcome == "answer":
                    self.latencies.append(time.perf_counter() - started)
                else:
                    self.failures.append(outcome)
                    if len(self.failures) > 100:  # the app is down: stop, and say so
                        self.stop.set()
                j += len(self.threads)
                self.stop.wait(think)

    def run(self, seconds: float | None = None) -> "Visitors":
        for thread in self.threads:
            thread.start()
        if seconds is not None:
            time.sleep(seconds)
            self.stop.set()
        for thread in self.threads:
            thread.join()
        return self


def flood(url: str, batch: str, stop: threading.Event, outcomes: list, index: int) -> None:
    import httpx

    address = f"10.0.1.{index + 1}"
    with httpx.Client(base_url=url) as http:
        burst = [
            threading.Thread(target=lambda: outcomes.append(call(http, "predict_batch", [batch, None], address)))
            for _ in range(8)
        ]
        for thread in burst:
            thread.start()
        while not stop.is_set():
            outcomes.append(call(http, "predict_batch", [batch, None], address))
            if outcomes[-1].startswith("refused"):
                stop.wait(1)  # told to wait for its answers
        for thread in burst:
            thread.join()


def serve(model: str, port: int, log: Path) -> subprocess.Popen:
    """The app in its own process, its log in `log` (shown when it fails)."""
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONPATH": str(ROOT / "src")}
    with open(log, "w") as handle:
        return subprocess.Popen(
            [sys.executable, "-c", OUR_APP, model, str(port)],
            cwd=ROOT,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )


def resident_gb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024**2
    return float("nan")


def p95(latencies: list[float]) -> float:
    return statistics.quantiles(latencies, n=20)[18]


def summary(name: str, visitors: Visitors) -> str:
    times = visitors.latencies
    return (
        f"  {name:<6} {len(times):>6} answers, {len(visitors.failures)} failures; "
        f"p50 {1000 * statistics.median(times):.0f} ms, p95 {1000 * p95(times):.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=("minilm", "bert-base"), default="minilm")
    parser.add_argument("--visitors", type=int, default=16)
    parser.add_argument("--think", type=float, default=1.0, help="seconds a visitor pauses between requests")
    parser.add_argument("--seconds", type=float, default=60, help="per phase")
    parser.add_argument("--soak", type=int, default=10_000, help="requests of the soak (0: none)")
    parser.add_argument(
        "--warm_up",
        type=int,
        default=2_000,
        help="requests before memory is first read: gradio's session caches and the allocators fill up",
    )
    parser.add_argument("--port", type=int, default=7897)
    args = parser.parse_args()

    model = minilm_classifier() if args.model == "minilm" else random_bert_base(model_max_length=512)
    texts, _ = sst2_dev()
    batch = largest_batch()
    url = f"http://127.0.0.1:{args.port}/"
    print(
        f"Machine: {machine_summary()}\nModel: {args.model} (random head), ONNX Runtime int8; {args.visitors} "
        f"visitors, {args.think} s pauses; flood batches of {batch.count(chr(10)) + 1:,} texts, {len(batch):,} "
        "characters",
        flush=True,
    )
    log = Path(tempfile.gettempdir()) / "bench-flood-app.log"
    server = serve(model, args.port, log)
    try:
        from bench.bench_app import connect

        connect(url, server)
        Visitors(url, texts, args.visitors, 0, limit=args.warm_up).run()
        if args.soak:
            warm, answers, failures, along = resident_gb(server.pid), 0, 0, []
            for _ in range(5):  # memory along the way: a leak grows, a cache filling up levels off
                soak = Visitors(url, texts, args.visitors, 0, limit=args.soak // 5).run()
                answers, failures = answers + len(soak.latencies), failures + len(soak.failures)
                along.append(f"{resident_gb(server.pid):.3f}")
            end = resident_gb(server.pid)
            print(
                f"  soak: {answers:,} answers, {failures} failures; resident memory {warm:.3f} GB after a warm-up of "
                f"{args.warm_up:,} requests, "
                f"then {', '.join(along)} GB each fifth: {100 * (end / warm - 1):+.1f}% (target within 10%)",
                flush=True,
            )
        quiet = Visitors(url, texts, args.visitors, args.think).run(args.seconds)
        print(summary("quiet", quiet), flush=True)
        stop, outcomes = threading.Event(), []
        flooders = [threading.Thread(target=flood, args=(url, batch, stop, outcomes, i)) for i in range(2)]
        for thread in flooders:
            thread.start()
        time.sleep(5)  # the flood is on
        flooded = Visitors(url, texts, args.visitors, args.think).run(args.seconds)
        stop.set()
        print(summary("flood", flooded), flush=True)
        print(
            f"  visitors' p95 under the flood / quiet: {p95(flooded.latencies) / p95(quiet.latencies):.2f}x "
            f"(target <= 3x); visitors' failures: {flooded.failures[:3] or 0} (target 0)",
            flush=True,
        )
        for thread in flooders:
            thread.join()
        kinds = {kind: sum(o.startswith(kind) for o in outcomes) for kind in ("answer", "refused", "error")}
        print(
            f"  flooders: {kinds['answer']} batches answered, {kinds['refused']} refused "
            f"({next((o for o in outcomes if o.startswith('refused')), '-')[:120]}), {kinds['error']} errors "
            f"{[o[:200] for o in outcomes if o.startswith('error')][:2]}",
            flush=True,
        )
    finally:
        if server.poll() is not None:
            print(f"The app exited with {server.returncode}; the end of its log ({log}):\n{log.read_text()[-3000:]}")
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
