"""Serving benchmark: the app's prediction path vs a stock pipeline, in process and over HTTP.

    python -m bench.bench_app                                  # all three parts
    python -m bench.bench_app --part http --clients 32         # one part
    python -m bench.bench_app --part accuracy --model out/sst2-full   # accuracy of a model already trained

Speed, on the bert-base architecture (random weights: the compute of bert-base-uncased), SST-2 dev sentences:
- in process: single-sentence latency p50/p90 (one call per sentence) and throughput (all 872 in one call)
  of the stock `pipeline("text-classification")` call, and of the app's path (bert_sentiment/inference.py)
  on PyTorch fp32, ONNX Runtime fp32 and ONNX Runtime int8 (the app's default), in --rounds rounds (each path
  in turn, the order reversed every other round; the ratios are the median of the rounds' ratios); and, as the
  floor of any int8 path on this machine, the model's int8 matrix products alone (matrix_products_alone);
- over HTTP on loopback: the app (bert_sentiment/app.py, batched /predict) vs the typical Space app
  (gr.Interface over a stock pipeline), same model, each served by its own process: p50 of sequential requests
  through gradio's HTTP API and through gradio_client, and requests/s with --clients concurrent gradio_clients.
Accuracy: MiniLM fine-tuned on the full SST-2 training set (1 epoch, train.py's defaults otherwise, or
--model): dev accuracy of PyTorch fp32, the ONNX fp32 file and the app's ONNX int8 path, and their single-sentence
p50 in --accuracy_rounds rounds (the int8/fp32 ratio is the median of the rounds' ratios).
Targets (issue 28): in-process p50 <= 0.12x stock and throughput >= 12x; over HTTP p50 <= 0.25x (issue 10: 0.5x) and
concurrent throughput >= 3x the typical Space app; int8 accuracy drop <= 0.5 point and int8 p50 <= 0.6x the fp32
graph's.
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
from functools import partial
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


def matrix_products_alone(model: str, texts: list[str]):
    """(one-text call, many-texts call) that do only the int8 matrix products of the app's graph for `model` on
    `texts`, by ONNX Runtime's dynamic int8 kernels as the app's graph runs them (each input quantized once, then
    MatMulIntegerToFloat), random weights of the model's shapes, and nothing else but one sum per layer: no
    attention, normalisation, tokenizer or answer. The last layer reads the first token only, as the exported graph
    does (first_token.py). The texts go by length in batches of the engine's size, as the app's do."""
    import numpy as np
    import onnxruntime
    from onnx import TensorProto, helper, numpy_helper
    from transformers import AutoConfig, AutoTokenizer

    from bert_sentiment.inference import BATCH_SIZE

    config, tokenizer = AutoConfig.from_pretrained(model), AutoTokenizer.from_pretrained(model)
    hidden, inner = config.hidden_size, config.intermediate_size
    rng, nodes, weights = np.random.default_rng(0), [], []

    def quantized(source: str) -> list[str]:
        nodes.append(helper.make_node("DynamicQuantizeLinear", [source], [f"{source}.{part}" for part in "qsz"]))
        return [f"{source}.{part}" for part in "qsz"]

    def product(source: list[str], name: str, shape: tuple[int, int]) -> str:
        weights.append(numpy_helper.from_array(rng.integers(-127, 128, shape, dtype=np.int8), name))
        weights.append(numpy_helper.from_array(np.full(shape[1], 1e-3, np.float32), f"{name}.scale"))
        matrix, scale, zero = source
        inputs = [matrix, name, scale, f"{name}.scale", zero]
        nodes.append(helper.make_node("MatMulIntegerToFloat", inputs, [name + ".out"], domain="com.microsoft"))
        return name + ".out"

    def summed(outputs: list[str], name: str) -> str:  # every product is used, so none is pruned at load
        nodes.append(helper.make_node("Sum", outputs, [name]))
        return name

    tokens, last = "tokens", config.num_hidden_layers - 1  # every token's hidden state, [tokens, hidden]
    for layer in range(config.num_hidden_layers):
        every = quantized(tokens)
        rows = quantized("first") if layer == last else every  # the last layer: one row per text
        keys = [product(every, f"{layer}.{name}", (hidden, hidden)) for name in ("key", "value")]
        own = [product(rows, f"{layer}.{name}", (hidden, hidden)) for name in ("query", "attention_output")]
        inner_out = product(rows, f"{layer}.intermediate", (hidden, inner))
        own.append(product(quantized(inner_out), f"{layer}.output", (inner, hidden)))
        if layer == last:
            outputs = [summed(keys, "keys"), summed(own, "first_out")]
        else:
            tokens = summed(keys + own, f"{layer}.sum")
    inputs = [helper.make_tensor_value_info(name, TensorProto.FLOAT, [name, hidden]) for name in ("tokens", "first")]
    outputs = [helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in outputs]
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    graph = helper.make_model(helper.make_graph(nodes, "products", inputs, outputs, weights), opset_imports=opsets)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 2
    session = onnxruntime.InferenceSession(graph.SerializeToString(), options, providers=["CPUExecutionProvider"])
    lengths = dict(zip(texts, map(len, tokenizer(texts, truncation=True)["input_ids"])))  # tokenized beforehand
    states = rng.standard_normal((BATCH_SIZE * max(lengths.values()), hidden), dtype=np.float32)

    def run(batch: list[int]) -> None:
        session.run(None, {"tokens": states[: len(batch) * max(batch)], "first": states[: len(batch)]})

    def many(texts: list[str]) -> None:
        ordered = sorted((lengths[text] for text in texts), reverse=True)
        for start in range(0, len(ordered), BATCH_SIZE):
            run(ordered[start : start + BATCH_SIZE])

    return lambda text: run([lengths[text]]), many


def in_process_part(latency_sentences: int, rounds: int) -> None:
    from transformers import pipeline

    from bert_sentiment.inference import SentimentClassifier
    from bert_sentiment.onnx_export import INT8_FILE, ONNX_DIR, OnnxModel, export_graphs

    model = random_bert_base()
    texts, _ = sst2_dev()
    stock = pipeline("text-classification", model=model, device="cpu")
    torch_fp32 = SentimentClassifier(model, engine="torch")
    if not (Path(model) / ONNX_DIR / INT8_FILE).is_file():  # the portable files, as train.py publishes them
        (Path(model) / ONNX_DIR).mkdir(exist_ok=True)
        export_graphs(torch_fp32.model, torch_fp32.tokenizer, Path(model) / ONNX_DIR)
    onnx_fp32, onnx_int8 = SentimentClassifier(model, quantize=False), SentimentClassifier(model)
    portable = SentimentClassifier(model)
    portable.onnx = OnnxModel(Path(model) / ONNX_DIR / INT8_FILE, spin=True)  # the file the app served before
    print(f"  the app serves: {onnx_int8.engine_note}")
    paths = {  # name -> (one-text call, many-texts call)
        "stock pipeline (defaults)": (stock, stock),
        "ours, PyTorch fp32": (lambda text: torch_fp32.predict([text]), torch_fp32.predict),
        "ours, ONNX Runtime fp32": (lambda text: onnx_fp32.predict([text]), onnx_fp32.predict),
        "ours, portable int8 file": (lambda text: portable.predict([text]), portable.predict),
        "ours, ONNX Runtime int8 (app)": (lambda text: onnx_int8.predict([text]), onnx_int8.predict),
        "int8 matrix products alone (floor)": matrix_products_alone(model, texts),
    }
    print(
        f"\nIn process, bert-base architecture, SST-2 dev: latency over {latency_sentences} sentences, "
        f"throughput over {len(texts)}; {rounds} rounds, the paths in turn (reversed every other round)"
    )
    rows = {name: [] for name in paths}  # name -> [(p50, p90, texts/s) per round]
    for round_ in range(rounds):
        print(f"  round {round_ + 1}: {'path':<34} {'p50 ms':>8} {'p90 ms':>8} {'texts/s':>9}")
        for name in list(paths)[:: 1 if round_ % 2 == 0 else -1]:
            one, many = paths[name]
            p50, p90 = percentiles(latencies_ms(one, texts[:latency_sentences]))
            started = time.perf_counter()
            many(texts)
            rows[name].append((p50, p90, len(texts) / (time.perf_counter() - started)))
            print(f"  {'':9}{name:<34} {p50:>8.1f} {p90:>8.1f} {rows[name][-1][2]:>9.1f}", flush=True)
    # the machines here change speed for seconds at a time: each round's ratio compares paths run minutes apart
    # at most, and the median of the rounds is the figure
    stock, ours = rows["stock pipeline (defaults)"], rows["ours, ONNX Runtime int8 (app)"]
    latency = [mine[0] / theirs[0] for mine, theirs in zip(ours, stock)]
    throughput = [mine[2] / theirs[2] for mine, theirs in zip(ours, stock)]
    print(
        f"  p50 ratio app/stock by round: {', '.join(f'{ratio:.3f}' for ratio in latency)}; median "
        f"{statistics.median(latency):.3f} (target <= 0.12)\n"
        f"  throughput ratio by round: {', '.join(f'{ratio:.2f}x' for ratio in throughput)}; median "
        f"{statistics.median(throughput):.2f}x (target >= 12x)"
    )
    floor = rows["int8 matrix products alone (floor)"]
    print(
        "  the floor (this machine's int8 kernel on the model's matrix products alone) against the stock pipeline:\n"
        f"    p50 by round: {', '.join(f'{mine[0] / theirs[0]:.3f}' for mine, theirs in zip(floor, stock))}; "
        f"throughput by round: {', '.join(f'{mine[2] / theirs[2]:.2f}x' for mine, theirs in zip(floor, stock))}\n"
        "  the app against the floor:\n"
        f"    p50 by round: {', '.join(f'{mine[0] / low[0]:.2f}x' for mine, low in zip(ours, floor))}; "
        f"throughput by round: {', '.join(f'{mine[2] / low[2]:.0%}' for mine, low in zip(ours, floor))} of it"
    )


def serve(source: str, model: str, port: int) -> subprocess.Popen:
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONPATH": str(ROOT / "src")}
    return subprocess.Popen(
        [sys.executable, "-c", source, model, str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def gradio_client(url: str):
    """A gradio_client for a plain-HTTP loopback URL, without TLS certificates to load.

    With its default (ssl_verify=True) gradio_client builds two httpx clients per request, each loading the
    certificate store: 46-62 ms of this machine's CPU per request, on the cores the server needs.
    Visitors' browsers spend theirs on their own machines.
    """
    from gradio_client import Client

    return Client(url, verbose=False, ssl_verify=False)


def connect(url: str, process: subprocess.Popen):
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"the app at {url} exited with {process.returncode}")
        try:
            return gradio_client(url)
        except Exception:  # noqa: BLE001 -- not listening yet, whichever way the client says so
            time.sleep(1)
    sys.exit(f"the app at {url} did not start within 300 s")


def concurrent_rate(url: str, texts: list[str], clients: int, per_client: int) -> float:
    """Requests per second with `clients` clients, each sending `per_client` requests one after another."""
    connections = [gradio_client(url) for _ in range(clients)]
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


def call_api(http, text: str) -> None:
    """One prediction through gradio's documented HTTP API (POST /call, then read the answer's event stream)."""
    started = http.post("/gradio_api/call/predict", json={"data": [text]})
    started.raise_for_status()
    with http.stream("GET", f"/gradio_api/call/predict/{started.json()['event_id']}") as answer:
        events = "".join(answer.iter_text())
    if "event: complete" not in events:
        sys.exit(f"no answer to {text!r}: {events[:300]}")


def http_part(latency_sentences: int, clients: int, per_client: int) -> None:
    import httpx

    model = random_bert_base()
    texts, _ = sst2_dev()
    print(
        f"\nOver HTTP on loopback, bert-base architecture: p50/p90 over {latency_sentences} sequential requests "
        "through gradio's HTTP API (httpx) and through gradio_client (which checks for its answer every 50 ms); "
        f"throughput with {clients} concurrent gradio_clients x {per_client} requests"
    )
    print(f"  {'app':<40} {'API p50':>8} {'API p90':>8} {'client p50':>11} {'client p90':>11} {'requests/s':>11}")
    results = {}
    for name, source in (
        ("typical Space app (Interface + pipeline)", TYPICAL_SPACE_APP),
        ("ours (bert_sentiment.app)", OUR_APP),
    ):
        port = 7900 + len(results)
        url = f"http://127.0.0.1:{port}/"
        process = serve(source, model, port)
        try:
            client = connect(url, process)
            with httpx.Client(base_url=url, timeout=300) as http:
                api = percentiles(latencies_ms(lambda text: call_api(http, text), texts[:latency_sentences]))
            through_client = percentiles(
                latencies_ms(partial(client.predict, api_name="/predict"), texts[:latency_sentences])
            )
            rate = concurrent_rate(url, texts, clients, per_client)
        finally:
            process.terminate()
            process.wait(timeout=60)
        results[name] = (*api, *through_client, rate)
        print(
            f"  {name:<40} {api[0]:>8.1f} {api[1]:>8.1f} {through_client[0]:>11.1f} {through_client[1]:>11.1f} "
            f"{rate:>11.1f}",
            flush=True,
        )
    typical, ours = results.values()
    print(
        f"  p50 ratio ours/typical: {ours[0] / typical[0]:.2f} through the API, {ours[2] / typical[2]:.2f} through "
        f"gradio_client (API target <= 0.25); concurrent throughput ratio: {ours[4] / typical[4]:.2f}x (target >= 3x)"
    )


def accuracy_part(model: str | None, rounds: int) -> None:
    from bert_sentiment.inference import SentimentClassifier

    texts, labels = sst2_dev()
    with tempfile.TemporaryDirectory() as output_dir:
        if model is None:
            from bert_sentiment.arguments import parse_args
            from bert_sentiment.fine_tune import fine_tune

            model = output_dir
            flags = [
                "--model_name_or_path",
                str(MINILM),
                "--train_file",
                str(SST2 / "train.tsv"),
                "--validation_file",
                str(SST2 / "dev.tsv"),
                "--num_train_epochs",
                "1",
                "--output_dir",
                output_dir,
                "--disable_tqdm",
                "true",
            ]
            fine_tune(*parse_args(flags))
        classifiers = {
            "PyTorch fp32": SentimentClassifier(model, engine="torch"),
            "ONNX Runtime fp32 (onnx/model.onnx)": SentimentClassifier(model, quantize=False),
            "ONNX Runtime int8 (app)": SentimentClassifier(model),
        }
        accuracy, p50 = {}, {name: [] for name in classifiers}
        for name, classifier in classifiers.items():
            print(f"  {name}: {classifier.engine_note}")
            predictions = classifier.predict(texts)
            accuracy[name] = sum(classifier.labels.index(p.label) == y for p, y in zip(predictions, labels)) / len(
                labels
            )
        for round_ in range(rounds):  # as in process: the paths in turn, the order reversed every other round
            for name in list(classifiers)[:: 1 if round_ % 2 == 0 else -1]:
                predict = classifiers[name].predict  # one sentence a call, as a visitor sends it
                p50[name].append(percentiles(latencies_ms(lambda text, one=predict: one([text]), texts[:200]))[0])
    print(
        f"\nMiniLM fine-tuned on SST-2 ({Path(model).name if model != output_dir else 'full train set, 1 epoch'}), "
        f"SST-2 dev accuracy, and p50 of one sentence (200 dev sentences) in {rounds} rounds:"
    )
    for name, value in accuracy.items():
        print(f"  {name:<36} {value:.4f}   p50 {', '.join(f'{ms:.2f}' for ms in p50[name])} ms")
    drop = 100 * (accuracy["PyTorch fp32"] - accuracy["ONNX Runtime int8 (app)"])
    ratios = [
        mine / theirs
        for mine, theirs in zip(p50["ONNX Runtime int8 (app)"], p50["ONNX Runtime fp32 (onnx/model.onnx)"])
    ]
    print(
        f"  int8 accuracy drop: {drop:+.2f} points (target <= 0.5); int8 p50 / fp32 graph p50 by round: "
        f"{', '.join(f'{ratio:.2f}' for ratio in ratios)}; median {statistics.median(ratios):.2f} (target <= 0.6)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=["all", "in_process", "http", "accuracy"], default="all")
    parser.add_argument("--latency_sentences", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3, help="in process: rounds of every path, in turn")
    parser.add_argument(
        "--accuracy_rounds", type=int, default=9, help="accuracy: rounds of single-sentence latency (seconds each)"
    )
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests_per_client", type=int, default=8)
    parser.add_argument("--model", help="accuracy part: a run of train.py to measure instead of training one")
    options = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(f"Machine: {machine_summary()}")
    if options.part in ("all", "in_process"):
        in_process_part(options.latency_sentences, options.rounds)
    if options.part in ("all", "http"):
        http_part(options.latency_sentences, options.clients, options.requests_per_client)
    if options.part in ("all", "accuracy"):
        accuracy_part(options.model, options.accuracy_rounds)


if __name__ == "__main__":
    main()
