"""Serving benchmark: the app's prediction path vs a stock pipeline, in process and over HTTP.

    python -m bench.bench_app                                  # all three parts
    python -m bench.bench_app --part http --clients 32         # one part
    python -m bench.bench_app --part accuracy --model out/sst2-full   # accuracy of a model already trained

Speed, on the bert-base architecture (random weights: the compute of bert-base-uncased), SST-2 dev sentences:
- in process: single-sentence latency p50/p90 (one call per sentence) and throughput (all 872 in one call)
  of the stock `pipeline("text-classification")` call, and of the app's path (bert_sentiment/inference.py)
  on PyTorch fp32, ONNX Runtime fp32 and ONNX Runtime int8 (the app's default);
- over HTTP, gradio_client on loopback: the app (bert_sentiment/app.py, batched /predict) vs the typical
  Space app (gr.Interface over a stock pipeline), same model, each served by its own process: p50 of
  sequential requests, and requests/s with --clients concurrent clients.
Accuracy: MiniLM fine-tuned on the full SST-2 training set (1 epoch, train.py's defaults otherwise, or
--model): dev accuracy of PyTorch fp32 vs the app's ONNX int8 path.
Targets (issue 10): in-process p50 <= 0.25x stock and throughput >= 6x; over HTTP p50 <= 0.5x and
concurrent throughput >= 3x the typical Space app; int8 accuracy drop <= 0.5 point.
"""

import argparse
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.common import MINILM, ROOT, SST2, machine_summary, random_bert_base, sst2_dev

# The typical Space app, as tutorials and most sentiment Spaces write it.
TYPICAL_SPACE_APP = """
import sys
import gradio as gr
from transformers import pipeline

classify = pipeline("text-classification", model=sys.argv[1])

def predict(text):
    return {answer["label"]: answer["score"] for answer in classify(text, top_k=None)}

gr.Interface(predict, gr.Textbox(), gr.Label()).launch(server_port=int(sys.argv[2]))
"""
OUR_APP = "import sys; from bert_sentiment.app import serve; serve(['--model', sys.argv[1], '--port', sys.argv[2]])"


def latencies_ms(call, texts: list[str]) -> list[float]:
    call(texts[0])  # warm-up, as the app does
    times = []
    for text in texts:
        started = time.perf_counter()
        call(text)
        times.append(1000 * (time.perf_counter() - started))
    return times


def percentiles(times: list[float]) -> tuple[float, float]:
    return statistics.median(times), statistics.quantiles(times, n=10)[8]


def in_process_part(latency_sentences: int) -> None:
    from transformers import pipeline

    from bert_sentiment.inference import SentimentClassifier

    model = random_bert_base()
    texts, _ = sst2_dev()
    stock = pipeline("text-classification", model=model, device="cpu")
    torch_fp32 = SentimentClassifier(model, engine="torch")
    onnx_fp32, onnx_int8 = SentimentClassifier(model, quantize=False), SentimentClassifier(model)
    paths = {  # name -> (one-text call, many-texts call)
        "stock pipeline (defaults)": (stock, stock),
        "ours, PyTorch fp32": (lambda text: torch_fp32.predict([text]), torch_fp32.predict),
        "ours, ONNX Runtime fp32": (lambda text: onnx_fp32.predict([text]), onnx_fp32.predict),
        "ours, ONNX Runtime int8 (app)": (lambda text: onnx_int8.predict([text]), onnx_int8.predict),
    }
    print(f"\nIn process, bert-base architecture, SST-2 dev: latency over {latency_sentences} sentences, "
          f"throughput over {len(texts)}")  # fmt: skip
    print(f"  {'path':<32} {'p50 ms':>8} {'p90 ms':>8} {'texts/s':>9}")
    results = {}
    for name, (one, many) in paths.items():
        p50, p90 = percentiles(latencies_ms(one, texts[:latency_sentences]))
        started = time.perf_counter()
        many(texts)
        results[name] = (p50, p90, len(texts) / (time.perf_counter() - started))
        print(f"  {name:<32} {p50:>8.1f} {p90:>8.1f} {results[name][2]:>9.1f}", flush=True)
    stock_figures, ours = results["stock pipeline (defaults)"], results["ours, ONNX Runtime int8 (app)"]
    print(f"  p50 ratio app/stock: {ours[0] / stock_figures[0]:.2f} (target <= 0.25); "
          f"throughput ratio: {ours[2] / stock_figures[2]:.2f}x (target >= 6x)")  # fmt: skip


def serve(source: str, model: str, port: int) -> subprocess.Popen:
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONPATH": str(ROOT / "src")}
    return subprocess.Popen([sys.executable, "-c", source, model, str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


def connect(url: str, process: subprocess.Popen):
    from gradio_client import Client

    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"the app at {url} exited with {process.returncode}")
        try:
            return Client(url, verbose=False)
        except Exception:  # not listening yet
            time.sleep(1)
    sys.exit(f"the app at {url} did not start within 300 s")


def concurrent_rate(url: str, texts: list[str], clients: int, per_client: int) -> float:
    """Requests per second with `clients` clients, each sending `per_client` requests one after another."""
    from gradio_client import Client

    connections = [Client(url, verbose=False) for _ in range(clients)]
    barrier = threading.Barrier(clients + 1)

    def visitor(index: int):
        barrier.wait()
        for j in range(per_client):
            connections[index].predict(texts[(index * per_client + j) % len(texts)], api_name="/predict")

    threads = [threading.Thread(target=visitor, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return clients * per_client / (time.perf_counter() - started)


def http_part(latency_sentences: int, clients: int, per_client: int) -> None:
    model = random_bert_base()
    texts, _ = sst2_dev()
    print(f"\nOver HTTP (gradio_client on loopback), bert-base architecture: p50 over {latency_sentences} sequential "
          f"requests, throughput with {clients} concurrent clients x {per_client} requests")  # fmt: skip
    print(f"  {'app':<40} {'p50 ms':>8} {'p90 ms':>8} {'requests/s':>11}")
    results = {}
    for name, source in (("typical Space app (Interface + pipeline)", TYPICAL_SPACE_APP), ("ours (bert_sentiment.app)", OUR_APP)):
        port = 7900 + len(results)
        process = serve(source, model, port)
        try:
            client = connect(f"http://127.0.0.1:{port}/", process)
            p50, p90 = percentiles(latencies_ms(lambda text: client.predict(text, api_name="/predict"), texts[:latency_sentences]))
            rate = concurrent_rate(f"http://127.0.0.1:{port}/", texts, clients, per_client)
        finally:
            process.terminate()
            process.wait(timeout=60)
        results[name] = (p50, p90, rate)
        print(f"  {name:<40} {p50:>8.1f} {p90:>8.1f} {rate:>11.1f}", flush=True)
    typical, ours = results.values()
    print(f"  p50 ratio ours/typical: {ours[0] / typical[0]:.2f} (target <= 0.5); "
          f"concurrent throughput ratio: {ours[2] / typical[2]:.2f}x (target >= 3x)")  # fmt: skip


def accuracy_part(model: str | None) -> None:
    from bert_sentiment.inference import SentimentClassifier

    texts, labels = sst2_dev()
    with tempfile.TemporaryDirectory() as output_dir:
        if model is None:
            from bert_sentiment.arguments import parse_args
            from bert_sentiment.fine_tune import fine_tune

            model = output_dir
            flags = ["--model_name_or_path", str(MINILM), "--train_file", str(SST2 / "train.tsv"),
                     "--validation_file", str(SST2 / "dev.tsv"), "--num_train_epochs", "1", "--output_dir", output_dir,
                     "--disable_tqdm", "true"]  # fmt: skip
            fine_tune(*parse_args(flags))
        accuracy = {}
        for name, options in (("PyTorch fp32", {"engine": "torch"}), ("ONNX Runtime int8 (app)", {})):
            classifier = SentimentClassifier(model, **options)
            predictions = classifier.predict(texts)
            accuracy[name] = sum(classifier.labels.index(p.label) == y for p, y in zip(predictions, labels)) / len(labels)
    print(f"\nMiniLM fine-tuned on SST-2 ({Path(model).name if model != output_dir else 'full train set, 1 epoch'}), "
          "SST-2 dev accuracy:")  # fmt: skip
    for name, value in accuracy.items():
        print(f"  {name:<28} {value:.4f}")
    drop = 100 * (accuracy["PyTorch fp32"] - accuracy["ONNX Runtime int8 (app)"])
    print(f"  int8 accuracy drop: {drop:+.2f} points (target <= 0.5)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=["all", "in_process", "http", "accuracy"], default="all")
    parser.add_argument("--latency_sentences", type=int, default=100)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests_per_client", type=int, default=8)
    parser.add_argument("--model", help="accuracy part: a run of train.py to measure instead of training one")
    options = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(f"Machine: {machine_summary()}")
    if options.part in ("all", "in_process"):
        in_process_part(options.latency_sentences)
    if options.part in ("all", "http"):
        http_part(options.latency_sentences, options.clients, options.requests_per_client)
    if options.part in ("all", "accuracy"):
        accuracy_part(options.model)


if __name__ == "__main__":
    main()
