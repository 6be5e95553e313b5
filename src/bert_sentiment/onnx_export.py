"""ONNX files beside the weights: `onnx/model.onnx` (fp32) and `onnx/model_quantized.onnx` (dynamic int8).

That is the layout transformers.js and Optimum read. The files are exported with `torch.onnx.export`
(the torch.export-based exporter) and quantized with `onnxruntime.quantization`; Optimum's exporter
is not used because it does not support transformers 5. Nothing is written before it is verified:
fp32 probabilities must equal PyTorch's within FP32_TOLERANCE on the given texts, and int8 must
agree with PyTorch on at least INT8_AGREEMENT of their labels. The same check runs when the app
starts on a model's ONNX files, so a corrupted or mismatched file is caught before it serves.

The graph computes the last layer for the first token only, where the classification head reads nothing else
(FIRST_TOKEN_HEADS): the other tokens' outputs of that layer were thrown away. Each text still answers as in
PyTorch; bert-base does about 7% fewer multiply-adds a text, a 6-layer MiniLM about 14% (bench/README.md).
"""

import contextlib
import logging
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from bert_sentiment.errors import one_line
from bert_sentiment.lengths import model_length_limit

logger = logging.getLogger(__name__)

ONNX_DIR = "onnx"
FP32_FILE = "model.onnx"
INT8_FILE = "model_quantized.onnx"
FP32_TOLERANCE = 1e-4  # largest probability difference allowed between PyTorch and the fp32 graph
INT8_AGREEMENT = 0.99  # share of texts on which int8 must give PyTorch's label
INT8_MEAN_TOLERANCE = 0.05  # mean probability difference allowed for int8; a graph of another model is far beyond it
# Weights are int8 per output channel, in 7 bits ([-64, 64]). On x86 CPUs without VNNI (AVX2, and AVX-512 before
# Cascade Lake) ONNX Runtime multiplies uint8 activations by int8 weights with an instruction that adds products in
# pairs into 16 bits: 2 x 255 x 64 = 32,640 fits, full-range weights saturate. So a full-range file verified on a
# VNNI machine can answer differently on a visitor's older CPU (onnxruntime issues 5849 and 6004; it failed this
# project's CI once).
# Recipes are tried in order and the first that passes the check is kept; each keeps more of the feed-forward
# layers, whose inputs carry BERT's activation outliers, in fp32. A MiniLM fine-tuned on SST-2 agreed with PyTorch
# on 98.74%, 98.85% and 99.43% of dev labels with them (bench/README.md).
INT8_RECIPES = {  # name -> which feed-forward projections stay fp32
    "per-channel int8, every linear layer": (),
    "per-channel int8, feed-forward output layers kept fp32": ("output",),
    "per-channel int8, feed-forward layers kept fp32": ("input", "output"),
}
# The recipes raised agreement by at most 1.5 points over the first (bench/README.md, "The recipes"; 94.7% to 96.2%
# on a barely trained MiniLM): a first recipe further short than this leaves the others no chance (a short try's
# model, whose near-ties flip), and they are not tried.
HOPELESS_GAP = 0.02
SERVING_MARGIN = (
    0.2  # at app start, only texts PyTorch decides by this margin must keep their label (near-ties may flip)
)
MAX_CHECK_TEXTS = 1_000  # the int8 graph's labels are compared on at most this many texts (99% of them must agree)
# The fp32 graph is compared on this many of those, spread over their lengths: an exporter's fault is in the graph, and
# shows on every text of a length. A bert-base read the 1,000 in fp32 in about 50 s on 2 cores, these in about 10 s.
FP32_CHECK_TEXTS = 200
CHECK_BATCH = 32
# Texts checked when no validation texts are at hand (publishing an older run, or at app start),
# besides the card's examples: varied lengths, both polarities, and both languages BERT models meet here.
STOCK_TEXTS = [
    "A gorgeous, witty, seductive movie.",
    "The plot is thin and the acting is worse.",
    "It was fine, I guess.",
    "I would not recommend this to anyone, but the music was nice.",
    "Absolutely loved every minute of it!",
    "Terrible service, cold food, and nobody apologised.",
    "Not bad at all.",
    "Meh.",
    "The first half drags, yet the ending is one of the best I have seen in years.",
    "房间干净，服务热情，下次还来。",
    "等了两个小时才送到，饭都凉了。",
    "还行吧，一般般。",
]


class OnnxMismatch(RuntimeError):
    """An ONNX graph does not answer like the PyTorch model it should be."""

    def __init__(self, message: str, agreement: float | None = None):
        super().__init__(message)
        self.agreement = agreement  # the int8 graph's label agreement, when that is what failed


@dataclass
class OnnxCheck:
    """How the ONNX graphs compare with PyTorch on the checked texts."""

    texts: int
    fp32_max_difference: float | None  # None when only the int8 graph was checked
    int8_label_agreement: float
    int8_max_difference: float
    int8_recipe: str | None = None  # which of INT8_RECIPES made the int8 file, when this check chose it
    label_margin: float = 0.0  # labels were compared only on texts PyTorch decides by at least this much
    labels_compared: int | None = None  # how many texts that was
    fp32_texts: int | None = None  # the texts the fp32 graph was compared on (FP32_CHECK_TEXTS of them at most)

    def to_dict(self) -> dict:
        return asdict(self)


def export_onnx(
    model_dir: Path,
    texts: list[str],
    texts_from: str = "validation texts",
    margin: float = 0.0,
    expected: np.ndarray | None = None,
    show_progress: bool = False,
) -> dict:
    """Export, quantize and verify the model saved in `model_dir`; write `model_dir/onnx/`. Returns the facts
    for run_facts.json; raises OnnxMismatch (or the exporter's error) and writes nothing when a check fails.
    `margin`: compare labels only on texts PyTorch decides by at least this much (see verify). `expected`: the
    saved model's probabilities for `texts` when the caller has them (training's evaluation), read as the check
    reads them; PyTorch is then not run again."""
    model_dir = Path(model_dir)
    tokenizer, model = _load_torch(model_dir)
    with tempfile.TemporaryDirectory(dir=model_dir, prefix=".onnx-") as work:
        check = export_graphs(model, tokenizer, Path(work), texts, margin, expected, show_progress)
        (model_dir / ONNX_DIR).mkdir(exist_ok=True)
        for name in (FP32_FILE, INT8_FILE):
            os.replace(Path(work) / name, model_dir / ONNX_DIR / name)
    logger.info(
        "Exported %s/%s and %s (%s), verified on %s texts: fp32 within %.1e of PyTorch (on %s of them), int8 agrees "
        "on %.1f%% of labels.",
        ONNX_DIR,
        FP32_FILE,
        INT8_FILE,
        check.int8_recipe,
        f"{check.texts:,}",
        check.fp32_max_difference,
        f"{check.fp32_texts:,}",
        100 * check.int8_label_agreement,
    )
    sizes = [(model_dir / ONNX_DIR / name).stat().st_size for name in (FP32_FILE, INT8_FILE)]
    return {
        "files": [f"{ONNX_DIR}/{FP32_FILE}", f"{ONNX_DIR}/{INT8_FILE}"],
        "checked_on": texts_from,
        "int8_size_share": round(sizes[1] / sizes[0], 3),
        **check.to_dict(),
    }


def export_graphs(
    model,
    tokenizer,
    directory: Path,
    texts: list[str] = STOCK_TEXTS,
    margin: float = 0.0,
    expected: np.ndarray | None = None,
    show_progress: bool = False,
) -> OnnxCheck:
    """Write FP32_FILE and INT8_FILE for a PyTorch model into `directory`, checked on `texts` (labels compared where
    PyTorch decides by `margin`, see verify). Int8 takes the first of INT8_RECIPES that passes; OnnxMismatch if none."""
    from tqdm.auto import tqdm

    fp32, int8 = Path(directory) / FP32_FILE, Path(directory) / INT8_FILE
    with tqdm(total=2 + len(INT8_RECIPES), desc="ONNX export and check", disable=not show_progress) as bar:
        with _quiet_exporters():
            _export(model, tokenizer, fp32)
        reference = Reference(model, tokenizer, texts, expected)
        bar.update()
        fp32_difference = reference.fp32_difference(OnnxModel(fp32))  # a wrong fp32 graph is not helped by any recipe
        bar.update()
        failures = []
        for recipe in INT8_RECIPES:
            with _quiet_exporters():
                _quantize(fp32, int8, recipe, model.config)
            bar.update()
            try:
                check = reference.int8_check(OnnxModel(int8), margin, fp32_difference)
            except OnnxMismatch as err:
                failures.append(f"{recipe}: {err}")
                if err.agreement is not None and err.agreement < INT8_AGREEMENT - HOPELESS_GAP:
                    failures.append(f"the other recipes were not tried (more than {HOPELESS_GAP:.0%} short)")
                    break
                continue
            check.int8_recipe = recipe
            bar.update(bar.total - bar.n)
            return check
    raise OnnxMismatch(" / ".join(failures))


def _quantize(fp32: Path, int8: Path, recipe: str, config, reduce_range: bool = True) -> None:
    """Dynamic int8 (weights per output channel, in 7 bits unless `reduce_range` is False; activations scaled per
    batch) by one of INT8_RECIPES. Tensors behind ONNX Runtime's fused operators, which shape inference cannot
    type, are float."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    kept = _ffn_nodes(fp32, config, INT8_RECIPES[recipe])
    quantize_dynamic(
        fp32,
        int8,
        weight_type=QuantType.QInt8,
        per_channel=True,
        reduce_range=reduce_range,
        nodes_to_exclude=kept,
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )


def _ffn_nodes(path: Path, config, which: tuple[str, ...]) -> list[str]:
    """The feed-forward projections named in `which`: "input" (hidden -> intermediate), "output" (the reverse)."""
    import onnx

    hidden, intermediate = getattr(config, "hidden_size", None), getattr(config, "intermediate_size", None)
    if not which or not hidden or not intermediate:
        return []
    shapes = {"input": (hidden, intermediate), "output": (intermediate, hidden)}
    wanted = {shapes[name] for name in which}
    graph = onnx.load(str(path)).graph
    weights = {tensor.name: tuple(tensor.dims) for tensor in graph.initializer}
    return [
        node.name for node in graph.node if node.op_type in ("MatMul", "Gemm") and weights.get(node.input[1]) in wanted
    ]


def try_export_onnx(
    model_dir: Path,
    texts: list[str],
    texts_from: str = "validation texts",
    margin: float = 0.0,
    expected: np.ndarray | None = None,
    show_progress: bool = False,
) -> dict:
    """export_onnx, or one line saying why not: a model the exporter cannot handle still trains and serves."""
    try:
        return export_onnx(model_dir, texts, texts_from, margin, expected, show_progress)
    except Exception as err:  # the exporter fails in many ways on unusual architectures; ONNX is optional
        reason = one_line(err)
        logger.warning("No ONNX export (%s); the model works through PyTorch as before.", reason)
        return {"files": [], "error": reason}


class Reference:
    """PyTorch's probabilities on the texts to check, computed once, and the checks of graphs against them."""

    def __init__(self, model, tokenizer, texts: list[str], expected: np.ndarray | None = None):
        self.tokenizer = tokenizer
        self.max_length = model_length_limit(tokenizer, model.config)
        self.fp32_texts = None  # how many texts fp32_difference compared
        rows = spread([row for row, text in enumerate(texts) if text and text.strip()], MAX_CHECK_TEXTS)
        if not rows:
            self.texts, expected = STOCK_TEXTS, None
        else:
            self.texts = [texts[row] for row in rows]
        self.expected = (
            np.asarray(expected)[rows]
            if expected is not None
            else torch_probabilities(model, tokenizer, self.texts, self.max_length)
        )

    def probabilities(self, graph: "OnnxModel") -> np.ndarray:
        return graph.probabilities(self.tokenizer, self.texts, self.max_length)

    def fp32_difference(self, graph: "OnnxModel") -> float:
        rows = spread(list(range(len(self.texts))), FP32_CHECK_TEXTS)
        probabilities = graph.probabilities(self.tokenizer, [self.texts[row] for row in rows], self.max_length)
        difference = float(np.abs(probabilities - self.expected[rows]).max())
        self.fp32_texts = len(rows)
        if difference > FP32_TOLERANCE:
            raise OnnxMismatch(
                f"{graph.path.name} differs from PyTorch by {difference:.2e} in probability "
                f"(at most {FP32_TOLERANCE:.0e} allowed)."
            )
        return difference

    def int8_check(self, graph: "OnnxModel", margin: float, fp32_difference: float | None) -> OnnxCheck:
        quantized = self.probabilities(graph)
        top_two = np.sort(self.expected, axis=1)[:, -2:]
        decided = top_two[:, 1] - top_two[:, 0] >= margin
        same = quantized.argmax(axis=1) == self.expected.argmax(axis=1)
        agreement = float(same[decided].mean()) if decided.any() else 1.0
        if agreement < INT8_AGREEMENT:
            raise OnnxMismatch(
                f"{graph.path.name} gives PyTorch's label on {agreement:.1%} of {decided.sum()} texts "
                f"(at least {INT8_AGREEMENT:.0%} required).",
                agreement,
            )
        mean_difference = float(np.abs(quantized - self.expected).mean())
        if mean_difference > INT8_MEAN_TOLERANCE:
            raise OnnxMismatch(
                f"{graph.path.name}'s probabilities differ from PyTorch's by {mean_difference:.3f} on "
                f"average (at most {INT8_MEAN_TOLERANCE} allowed): is it this model's graph?"
            )
        return OnnxCheck(
            len(self.texts),
            fp32_difference,
            agreement,
            float(np.abs(quantized - self.expected).max()),
            label_margin=margin,
            labels_compared=int(decided.sum()),
            fp32_texts=self.fp32_texts if fp32_difference is not None else None,
        )


def spread(items: list, count: int) -> list:
    """At most `count` of `items`, evenly spaced: evaluation splits come sorted longest first, and their first
    texts alone would check only the longest (and cost the most to read)."""
    if len(items) <= count:
        return items
    return [items[int(i)] for i in np.linspace(0, len(items) - 1, count)]


# ONNX Runtime's fusions left out of every session: its SkipLayerNormalization kernel (a layer normalisation with the
# residual add before it) took 1.57 ms for a 32 x 30 x 768 batch where LayerNormalization took 0.13 ms and the add
# 0.18 ms (ONNX Runtime 1.32, 2 cores); without it bert-base int8 read ~18% more texts per second (bench/README.md).
SLOW_FUSIONS = ["SkipLayerNormFusion"]


class OnnxModel:
    """One ONNX Runtime session on CPU, fed from a Hugging Face tokenizer's output."""

    def __init__(self, path: Path, spin: bool = False):
        import onnxruntime

        from bert_sentiment.hardware import usable_cores

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = usable_cores()  # ONNX Runtime would count the host's cores in a container
        options.log_severity_level = 3  # errors only: ORT's warnings about unused initializers mean nothing to users
        # `spin`: ORT's threads wait for the next op by spinning instead of sleeping, which saves each op a wake-up
        # (one bert-base sentence in 13 ms instead of 18 on 2 cores, bench/README.md) where nothing else needs the
        # cores: a notebook, a batch job. On a 2-core Space it starves the web server beside them (measured over
        # HTTP, p50 130.6 ms spinning vs 91.4 ms not), so the app does not spin.
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
        self.path = Path(path)
        self.session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"], disabled_optimizers=SLOW_FUSIONS
        )
        self.inputs = [item.name for item in self.session.get_inputs()]

    def logits(self, encoded: dict) -> np.ndarray:
        """Logits for a padded batch: `encoded` maps input names to int arrays; unused names are ignored."""
        feed = {name: np.asarray(encoded[name], dtype=np.int64) for name in self.inputs if name in encoded}
        if "token_type_ids" in self.inputs and "token_type_ids" not in feed:
            feed["token_type_ids"] = np.zeros_like(feed["input_ids"])
        return self.session.run(None, feed)[0]

    def probabilities(self, tokenizer, texts: list[str], max_length: int) -> np.ndarray:
        import torch

        return _batched(
            texts,
            tokenizer,
            max_length,
            lambda encoded: torch.softmax(torch.from_numpy(self.logits(encoded)), dim=-1).numpy(),
            "np",
        )


def torch_probabilities(model, tokenizer, texts: list[str], max_length: int) -> np.ndarray:
    import torch

    def forward(encoded):
        with torch.inference_mode():
            return torch.softmax(model(**encoded).logits.float(), dim=-1).numpy()

    return _batched(texts, tokenizer, max_length, forward, "pt")


def _batched(texts: list[str], tokenizer, max_length: int, forward, tensors: str) -> np.ndarray:
    """`forward` over batches of texts read up to `max_length` tokens, returned in the texts' order. Batches hold
    texts of similar length, so little of each is padding."""
    order = np.argsort([len(text) for text in texts], kind="stable")
    rows = []
    for start in range(0, len(texts), CHECK_BATCH):
        encoded = tokenizer(
            [texts[i] for i in order[start : start + CHECK_BATCH]],
            truncation=True,
            padding=True,
            max_length=max_length,
            return_tensors=tensors,
        )
        rows.append(forward(encoded))
    result = np.empty_like(np.concatenate(rows))
    result[order] = np.concatenate(rows)
    return result


def _load_torch(model_dir: Path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, dtype="float32").eval()
    return tokenizer, model


def _export(model, tokenizer, path: Path) -> None:
    """Dynamic batch and sequence axes; the tokenizer's input names (BERT's three) in, `logits` out."""
    import torch

    example = tokenizer(
        ["an example text to trace", "another one"],
        padding="max_length",
        truncation=True,
        max_length=16,
        return_tensors="pt",
    )
    names = [name for name in ("input_ids", "attention_mask", "token_type_ids") if name in example]
    batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence")
    with _export_first_token_only(model, {name: example[name] for name in names}):
        torch.onnx.export(
            model,
            (),
            str(path),
            kwargs={name: example[name] for name in names},
            input_names=names,
            output_names=["logits"],
            dynamic_shapes={name: {0: batch, 1: sequence} for name in names},
            dynamo=True,
            external_data=False,
            verbose=False,
        )


@contextlib.contextmanager
def _export_first_token_only(model, example: dict):
    """While exporting, `model`'s last layer computes the first token only (FirstTokenLayer), where its head reads
    nothing else and the swapped model gives the same probabilities on `example` (padded texts); otherwise it stays
    whole. The model is restored afterwards."""
    import torch

    from bert_sentiment.first_token import FIRST_TOKEN_HEADS, FirstTokenLayer

    layers = getattr(getattr(model.base_model, "encoder", None), "layer", None)
    if type(model).__name__ not in FIRST_TOKEN_HEADS or not layers:
        yield
        return
    last = layers[-1]
    with torch.inference_mode():
        whole = model(**example).logits.softmax(-1)
        layers[-1] = FirstTokenLayer(last)
        try:  # half of what the fp32 graph's check allows: float rounding (near 1e-5 measured), not another answer
            same = bool((model(**example).logits.softmax(-1) - whole).abs().max() <= FP32_TOLERANCE / 2)
        except (RuntimeError, TypeError, ValueError, AttributeError):  # an architecture this was not written for
            same = False
    if not same:
        layers[-1] = last
        logger.debug(
            "%s exported with its last layer whole: the first-token layer failed or differed", type(model).__name__
        )
    try:
        yield
    finally:
        layers[-1] = last


@contextlib.contextmanager
def _quiet_exporters():
    """The exporter's graph passes log each rewrite, and quantization logs each tensor on the root logger and
    suggests a pre-processing step that measured no faster here; a user's log keeps only our one line."""
    names = ("onnx_ir", "onnxscript", "torch.onnx", "torch.export", "torch._export", "onnxruntime")
    levels = {name: logging.getLogger(name).level for name in names}

    def errors_only(record: logging.LogRecord) -> bool:  # for the root logger, where quantization writes
        return record.levelno >= logging.ERROR

    logging.getLogger().addFilter(errors_only)
    for name in names:
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        yield
    finally:
        logging.getLogger().removeFilter(errors_only)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
