"""Shared fixtures: toy sentiment data in English and Chinese, and a tiny BERT trained on neither."""

import ast
import atexit
import csv
import gc
import inspect
import json
import logging
import os
import random
import shutil
import tempfile
import textwrap
from pathlib import Path

import pytest  # already imported: the test run began with it

# Tests never reach the network: Hub lookups fail fast and say so, as they would for an offline user.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


def session_folder(prefix: str) -> Path:
    """A temporary folder for this test session and every process forked from it (made at import, before mutmut's fork
    server forks a worker per mutant), removed when the process that made it exits."""
    folder, owner = Path(tempfile.mkdtemp(prefix=prefix)), os.getpid()
    atexit.register(lambda: os.getpid() == owner and shutil.rmtree(folder, ignore_errors=True))
    return folder


# The app's graphs built for this machine go to a folder of this test session, not the user's Hugging Face cache.
if "BERT_SENTIMENT_CACHE" not in os.environ:
    os.environ["BERT_SENTIMENT_CACHE"] = str(session_folder("bert-sentiment-test-cache-"))

MUTATION_RUN = Path(__file__).resolve().parents[1].name == "mutants"  # mutmut's copy of the project
if MUTATION_RUN:  # its fork server imports this file once
    import captum.attr  # noqa: F401 -- then no mutant's worker spends 1.5 s (captum) and 1.3 s (onnx) importing them
    import matplotlib  # the pictures of a run's evaluation import pyplot, 0.6 s a worker (py-spy)
    import onnx  # noqa: F401

    matplotlib.use("Agg")  # as the plotting functions choose it
    import io

    import matplotlib.pyplot
    from matplotlib.figure import Figure

    _buffer = io.BytesIO()
    Figure(figsize=(0.1, 0.1)).savefig(_buffer, format="png")
    TINY_PNG = _buffer.getvalue()  # what pictures_left_unrendered writes in place of a picture

    # Each Dataset.map and filter names its result by hashing the function it runs. In mutmut's copy of the package
    # that hash walks every mutant of the module (dill disassembles them all): over half of a mutant's time in the
    # tests of the steps after training (py-spy). A mutant's worker names each result at random and keeps no cache,
    # as datasets does for a function it cannot hash; nor can a result cached by another mutant serve this one.
    import datasets.arrow_dataset
    import datasets.fingerprint

    def random_fingerprint(*args, **kwargs) -> str:
        return datasets.fingerprint.generate_random_fingerprint()

    datasets.disable_caching()
    datasets.fingerprint.update_fingerprint = datasets.arrow_dataset.update_fingerprint = random_fingerprint

    # PyTorch starts a thread per core in each of the three workers mutmut runs on two cores; the threads then wait
    # on each other. On one thread each, inference's 105 mutants of SentimentClassifier.__init__ took 79 s in place
    # of 143 and 156 (docs/development.md, item 12).
    import torch

    torch.set_num_threads(1)

SHARED = Path(__file__).resolve().parents[1].parent / "shared"

EN_POSITIVE = ["great", "wonderful", "excellent", "loved", "brilliant", "delightful", "superb", "enjoyable"]
EN_NEGATIVE = ["terrible", "awful", "boring", "hated", "dreadful", "poor", "horrible", "dull"]
EN_NOUNS = ["movie", "film", "plot", "acting", "story", "cast", "ending", "music", "script", "director"]
ZH_POSITIVE = ["很好", "满意", "喜欢", "推荐", "干净", "好吃", "舒服", "热情"]
ZH_NEGATIVE = ["很差", "失望", "讨厌", "难吃", "肮脏", "糟糕", "冷漠", "吵闹"]
ZH_NOUNS = ["酒店", "服务", "房间", "菜品", "外卖", "环境", "前台", "早餐"]


TRAINING_FIXTURES = {"trained_run", "minilm_sst2"}  # and every fixture built on them
TRAINING_CALLS = ("train", "train.main", "fine_tune")  # what a training call's name ends with (run_train, api.train)
# Fixtures that keep a training call from training: one fails the test if the weights load, the other replaces
# training with the untrained classifier.
NOT_TRAINING = {"no_weights_loaded", "training_replaced"}


def trains(item) -> bool:
    """Whether a test trains a model: through a fixture that does, or by calling the training itself (a call in its
    code, not a word in a message it asserts), unless it uses a fixture that keeps that call from training or is
    marked `few_steps` (a few steps of the tiny model, under a second: as cheap for a mutant as any direct test)."""
    fixtures = set(getattr(item, "fixturenames", ()))
    if TRAINING_FIXTURES & fixtures:
        return True
    if NOT_TRAINING & fixtures or "few_steps" in getattr(item, "keywords", {}):
        return False
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(item.function)))
    except (AttributeError, OSError, TypeError):
        return False
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and ast.unparse(node.func).endswith(TRAINING_CALLS):
            return True
        if isinstance(node, ast.Constant) and node.value == "train.py":
            return True
    return False


GRAPH_CACHE = pytest.StashKey[str]()


GRAPH_BUILDERS = ("bert_sentiment.machine_graph.", "bert_sentiment.onnx_export.")  # whose code writes a cached graph


def pytest_configure(config):
    """In a mutation run, a mutant of the code that builds this machine's graphs builds them in a cache of its own: a
    graph it built wrongly must not serve the next mutant. Every other mutant reads the graphs the fork server's
    session built (a graph is cached by its inputs, so a mutant elsewhere that changes them builds another)."""
    if MUTATION_RUN and os.environ.get("MUTANT_UNDER_TEST", "").startswith(GRAPH_BUILDERS):
        config.stash[GRAPH_CACHE] = os.environ["BERT_SENTIMENT_CACHE"] = tempfile.mkdtemp(
            prefix="bert-sentiment-mutant-"
        )


def pytest_collection_finish(session):
    """In a mutation run, what the fork server imported and collected is frozen out of the garbage collector's reach
    before it forks each mutant's worker: a worker's collections then walk only the objects its own tests make."""
    if MUTATION_RUN:
        gc.freeze()


def pytest_unconfigure(config):
    if GRAPH_CACHE in config.stash:
        shutil.rmtree(config.stash[GRAPH_CACHE], ignore_errors=True)


SERVED_PAGE = "served_page"  # a fixture serving the page on loopback: seconds to start in each mutant's worker
PAGE_CODE = "bert_sentiment.app."
DATA_PATH = tuple(
    f"bert_sentiment.{name}."
    for name in ("arguments", "local_files", "columns", "labels", "data", "prepare", "lengths", "languages")
)
AFTER_TRAINING = ("test_fine_tune.py", "test_label_issues.py", "test_publish.py", "test_hp_search.py")
MUTMUT_STATS = Path(__file__).resolve().parents[1] / "mutmut-stats.json"  # each test's time, from mutmut's stats run


SLOW_SECONDS = 0.5  # a test this slow in mutmut's stats run runs only for mutants of the module its file is named for
PACKAGE_MODULES = {path.stem for path in (Path(__file__).resolve().parents[1] / "src" / "bert_sentiment").glob("*.py")}


def recorded_seconds() -> dict[str, float]:
    """Each test's time in mutmut's stats run, by node id; empty without the stats."""
    try:
        return json.loads(MUTMUT_STATS.read_text(encoding="utf-8"))["duration_by_test"]
    except (OSError, ValueError, KeyError):
        return {}


def of_its_module(item, mutant: str) -> bool:
    """Whether a test's file is named for the mutant's module (test_inference.py for a mutant of inference)."""
    module = item.path.stem.removeprefix("test_")
    return module in PACKAGE_MODULES and mutant.startswith(f"bert_sentiment.{module}.")


def likeliest_first(items, seconds: dict[str, float], mutant: str = "") -> None:
    """A mutation run's tests in the order most likely to end a mutant's run soonest. mutmut runs a mutant's tests
    with -x, so the first that fails ends its run; its fork server hands them over in no order (its plain fork runner
    sorts them by their time in mutmut's stats run). Quick tests come first, fastest first (a mutant a quick test
    kills would often run slow ones first), and among the quick ones, as among the slow, the tests of the mutant's
    own module before those that reach it from elsewhere: a module's own tests are written to fail for its mutants,
    the others reach it on their way to what they test."""
    if seconds:
        items.sort(
            key=lambda item: (
                seconds.get(item.nodeid, 0.0) >= SLOW_SECONDS,
                not of_its_module(item, mutant),
                seconds.get(item.nodeid, 0.0),
            )
        )


def mutation_run_leaves_out(item, mutant: str, seconds: dict[str, float]) -> bool:
    """Whether a mutation run leaves this test out for this mutant (see pytest_collection_modifyitems)."""
    if SERVED_PAGE in getattr(item, "fixturenames", ()) and not mutant.startswith(PAGE_CODE):
        return True
    if mutant.startswith(DATA_PATH) and item.path.name in AFTER_TRAINING:
        return True
    named_for_a_module = item.path.stem.removeprefix("test_") in PACKAGE_MODULES
    return seconds.get(item.nodeid, 0.0) >= SLOW_SECONDS and named_for_a_module and not of_its_module(item, mutant)


def deselected_for(items, mutant: str, seconds: dict[str, float]) -> list:
    """The tests a mutation run leaves out for this mutant; none when that would leave it no test (code that only a
    slow test reaches, such as the export one test of the engine runs)."""
    left_out = [item for item in items if mutation_run_leaves_out(item, mutant, seconds)]
    return [] if len(left_out) == len(items) else left_out


PICTURE_CODE = tuple(f"bert_sentiment.{name}." for name in ("evaluation", "calibration", "abstain", "atomic"))


def renders_pictures(test_file: str, mutant: str) -> bool:
    """Whether a mutation run renders the pictures this test's code draws. The tests of the steps after training only
    check that each picture is written where the card says; rendering and laying them out was most of their
    evaluation's time. For a mutant outside the code that draws and writes the pictures, those tests draw every
    picture (the arguments still reach matplotlib) and write a tiny PNG in place of rendering it."""
    return (
        test_file not in AFTER_TRAINING or not mutant.startswith("bert_sentiment.") or mutant.startswith(PICTURE_CODE)
    )


@pytest.fixture(autouse=True)
def pictures_left_unrendered(request, monkeypatch):
    """See renders_pictures; outside a mutation run every picture is rendered."""
    if MUTATION_RUN and not renders_pictures(request.node.path.name, os.environ.get("MUTANT_UNDER_TEST", "")):
        from matplotlib.figure import Figure

        monkeypatch.setattr(Figure, "tight_layout", lambda self, *args, **kwargs: None)
        monkeypatch.setattr(Figure, "savefig", lambda self, path, *args, **kwargs: Path(path).write_bytes(TINY_PNG))


def pytest_collection_modifyitems(config, items):
    """Tests that train a model are marked `trains` (mutation runs leave them out: each mutant would retrain).
    Tests marked `shared` need ../shared (real models and data); skip them cleanly without it.

    In a mutation run, two kinds of tests run only for some mutants. The tests of the page served on loopback run
    for mutants of the app's own code: they compare the page with the engine it serves, so a mutant of the engine (or
    of anything it calls) changes both sides alike and only the app's direct tests and the engine's can catch it;
    each worker would start the server for nothing (late in a whole run, 33 of 35 py-spy samples of the workers were
    in these tests). The tests of the steps after training (evaluation, label issues, publishing, the search) do not
    run for mutants of the data path they read their data through: the data path has direct tests of its own, and a
    mutant there that none of them kills would run every one of these slow tests. A mutant's tests then run quick
    ones first, its own module's before others' (likeliest_first). And a test that took half a second or more in
    mutmut's stats run (the steps after training on the untrained classifier, the fold models, a publish against the
    local Hub) runs only for mutants of the module its file is named for: a module's mutants are for its own direct
    tests to kill, and survivors elsewhere that reached the two whole-run tests of fine_tune spent a third of a whole
    run's last hour in them. A mutant these rules would leave without any test keeps them all (deselected_for)."""
    mutant = os.environ.get("MUTANT_UNDER_TEST", "")
    if MUTATION_RUN and mutant.startswith("bert_sentiment."):
        seconds = recorded_seconds()
        left_out = deselected_for(items, mutant, seconds)
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if item not in left_out]
        likeliest_first(items, seconds, mutant)
    for item in items:
        if trains(item):
            item.add_marker(pytest.mark.trains)
    if SHARED.is_dir():
        return
    skip = pytest.mark.skip(reason=f"needs {SHARED} (real encoder and datasets), absent here")
    for item in items:
        if "shared" in item.keywords:
            item.add_marker(skip)


def set_monotonic(monkeypatch, module, monotonic) -> None:
    """`module`'s time.monotonic() replaced by `monotonic`, for that module alone (set_clock)."""
    set_clock(monkeypatch, module, monotonic=monotonic)


def set_clock(monkeypatch, module, **fakes) -> None:
    """`module`'s time functions named in `fakes` (monotonic=..., time=...) replaced, for that module alone. Patching
    the time module itself would hand the fake clock to every thread (a session's app server among them), whose
    calls use up a clock of given ticks and end in StopIteration there."""
    import time
    import types

    clock = types.SimpleNamespace(**{name: getattr(time, name) for name in dir(time) if not name.startswith("_")})
    for name, fake in fakes.items():
        setattr(clock, name, fake)
    monkeypatch.setattr(module, "time", clock)


def english_reviews(count: int, seed: int = 0, mislabeled: float = 0.0) -> list[tuple[str, str]]:
    """(text, label) pairs whose sentiment is carried by the adjectives: linearly separable, except that a
    `mislabeled` share of them (chosen by the seed) carry the other label, as real annotation errors do."""
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        label = "positive" if i % 2 else "negative"
        words = EN_POSITIVE if label == "positive" else EN_NEGATIVE
        # The number keeps texts unique; i // 2 is shared by a positive and a negative text, so it tells nothing.
        text = f"the {rng.choice(EN_NOUNS)} was {rng.choice(words)} and {rng.choice(words)} {rng.choice(EN_NOUNS)} {i // 2}"
        rows.append((text, label))
    for i in rng.sample(range(count), round(mislabeled * count)):
        rows[i] = (rows[i][0], "negative" if rows[i][1] == "positive" else "positive")
    return rows


def chinese_reviews(count: int, seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        label = "好评" if i % 2 else "差评"
        words = ZH_POSITIVE if label == "好评" else ZH_NEGATIVE
        rows.append(
            (f"{rng.choice(ZH_NOUNS)}{rng.choice(words)}，{rng.choice(ZH_NOUNS)}{rng.choice(words)}{i // 2}", label)
        )
    return rows


def write_csv(path: Path, rows, header=("text", "label"), delimiter=",") -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        if header:
            writer.writerow(header)
        writer.writerows(rows)
    return path


def build_tiny_bert(directory: Path, texts: list[str]) -> Path:
    """A 2-layer BERT (hidden 32) with a WordPiece vocabulary trained on `texts`, saved like a Hub model."""
    import torch
    from tokenizers import BertWordPieceTokenizer
    from transformers import BertConfig, BertModel, BertTokenizer

    directory.mkdir(parents=True, exist_ok=True)
    wordpiece = BertWordPieceTokenizer(lowercase=True, handle_chinese_chars=True)
    wordpiece.train_from_iterator(texts, vocab_size=400, min_frequency=1, show_progress=False)
    wordpiece.save_model(str(directory))
    tokenizer = BertTokenizer.from_pretrained(directory, do_lower_case=True, model_max_length=128)
    tokenizer.save_pretrained(directory)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    torch.manual_seed(0)  # the same weights in every session (the vocabulary above may break its ties otherwise)
    BertModel(config).save_pretrained(directory)
    return directory


def build_tiny_bert_of_reviews(directory: Path) -> Path:
    """The tiny BERT of the tests, its vocabulary trained on English and Chinese toy reviews."""
    return build_tiny_bert(directory, [text for text, _ in english_reviews(400) + chinese_reviews(400)])


MODELS = session_folder("bert-sentiment-test-models-")


def built_once(name: str, build) -> Path:
    """`build(folder)`'s model, built once for every process forked from this one: each of mutmut's workers would
    otherwise spend seconds building it again, and, since a WordPiece vocabulary trained twice breaks its ties
    otherwise, end up with a model of its own (no export made by another worker would fit it)."""
    folder = MODELS / name
    if not folder.exists():
        partial = MODELS / f"{name}.{os.getpid()}.partial"
        build(partial)
        try:
            os.rename(partial, folder)  # whole or not at all; when another worker was first, its model stands
        except OSError:
            shutil.rmtree(partial, ignore_errors=True)
    return folder


@pytest.fixture(scope="session")
def tiny_bert() -> Path:
    return built_once("tiny-bert", build_tiny_bert_of_reviews)


@pytest.fixture(scope="session")
def untrained_classifier(tiny_bert) -> Path:
    """The tiny BERT with a random sentiment head, saved as a run saves its model: the engine and the app read it
    in seconds, with no training. Its head points along the direction in which toy reviews differ most, so that
    its answers go either way and differ from text to text."""
    return built_once("untrained-classifier", lambda directory: build_untrained_classifier(tiny_bert, directory))


def build_untrained_classifier(tiny_bert: Path, directory: Path) -> Path:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    labels = {0: "negative", 1: "positive"}
    torch.manual_seed(1)
    model = AutoModelForSequenceClassification.from_pretrained(
        tiny_bert, num_labels=2, id2label=labels, label2id={v: k for k, v in labels.items()}
    )
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    texts = [text for text, _ in english_reviews(64, seed=3)]
    with torch.no_grad():  # a head spreading these texts' logits around 0, so that answers go either way
        pooled = model.eval().bert(**tokenizer(texts, padding=True, return_tensors="pt")).pooler_output
        centre = pooled.mean(dim=0)
        direction = torch.linalg.svd(pooled - centre, full_matrices=False).Vh[0]  # where these texts differ most
        weight = torch.stack([-direction, direction]) / ((pooled - centre) @ direction).std()
        model.classifier.weight.copy_(weight)
        model.classifier.bias.copy_(-weight @ centre)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def untrained_engine(untrained_classifier):
    """The engine as the app serves `untrained_classifier`, in PyTorch: shared by the app's and the engine's tests."""
    from bert_sentiment.inference import load

    return load(str(untrained_classifier), engine="torch")


# Made at import, before mutmut's fork server forks a worker per mutant: every worker finds what an earlier one exported.
EXPORTS = session_folder("bert-sentiment-test-exports-")
# mutmut's names of the exporter's functions and of the first-token layer it exports (x_ + the function's name)
EXPORTER_MUTANTS = ("bert_sentiment.onnx_export.x__export_", "bert_sentiment.first_token.")


def export_once(monkeypatch) -> None:
    """torch.onnx's export (about 5 s of tracing, even for the tiny BERT) runs once per model, architecture and weights
    alike, in a test session; a later export of the same model copies that graph. For tests of what is done with a
    graph (checked, quantized, served, dropped), not of the exporter."""
    import hashlib

    from bert_sentiment import onnx_export

    real_export = onnx_export._export

    def export(model, tokenizer, path):
        digest = hashlib.sha256(model.config.to_json_string().encode() + type(tokenizer).__name__.encode())
        for name, tensor in model.state_dict().items():
            digest.update(name.encode() + tensor.detach().cpu().contiguous().numpy().tobytes())
        mutant = os.environ.get("MUTANT_UNDER_TEST", "")
        if mutant.startswith(EXPORTER_MUTANTS):  # a mutant of the export itself exports anew
            digest.update(mutant.encode())
        cached = EXPORTS / f"{digest.hexdigest()}.onnx"
        if not cached.exists():
            real_export(model, tokenizer, path)
            partial = cached.with_suffix(f".{os.getpid()}.partial")
            shutil.copyfile(path, partial)
            os.replace(partial, cached)  # whole, even when two workers export the same model at once
        else:
            shutil.copyfile(cached, path)

    monkeypatch.setattr(onnx_export, "_export", export)


@pytest.fixture(scope="session")
def portable(untrained_classifier, tmp_path_factory):
    """The untrained model's folder with its portable fp32 graph (exported once a session, see export_once): what
    is built from a graph needs no trained model. Its int8 file is left out: on a random head it may fail its check."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from bert_sentiment import onnx_export

    folder = tmp_path_factory.mktemp("portable") / "model"
    shutil.copytree(untrained_classifier, folder)
    (folder / onnx_export.ONNX_DIR).mkdir()
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    with pytest.MonkeyPatch.context() as patch:
        export_once(patch)
        onnx_export._export(
            model, AutoTokenizer.from_pretrained(folder), folder / onnx_export.ONNX_DIR / onnx_export.FP32_FILE
        )
    return folder


@pytest.fixture
def exported_once(monkeypatch):
    """export_once for one test."""
    export_once(monkeypatch)


@pytest.fixture
def local_hub(monkeypatch, tmp_path):
    """tests/hub_server.py on loopback, with this process's Hub client pointed at it and an empty cache."""
    import transformers.utils.hub
    from huggingface_hub import constants

    from tests.hub_server import TOKEN, HubServer

    with HubServer({TOKEN: "alice"}) as server:
        monkeypatch.setattr(constants, "ENDPOINT", server.url)
        monkeypatch.setattr(
            constants, "HUGGINGFACE_CO_URL_TEMPLATE", server.url + "/{repo_id}/resolve/{revision}/{filename}"
        )
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # the suite is offline; this Hub is on loopback
        monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))
        # transformers keeps one Hub client made at first use, with the endpoint of that moment: a fresh one here
        monkeypatch.setattr(transformers.utils.hub, "_hf_api", None)
        yield server


@pytest.fixture
def english_csv(tmp_path) -> Path:
    return write_csv(tmp_path / "reviews.csv", english_reviews(240))


@pytest.fixture
def chinese_csv(tmp_path) -> Path:
    return write_csv(tmp_path / "评论.csv", chinese_reviews(240), header=("review", "sentiment"))


@pytest.fixture
def memory_for_8_texts(monkeypatch):
    """A machine where a training step costs 1 GB per text and 8 texts at a time fit."""
    from bert_sentiment import memory

    monkeypatch.setattr(memory, "training_memory", lambda config, parameters, batch, length: batch * memory.GB)
    monkeypatch.setattr(memory, "available_memory", lambda: int(8.5 * memory.GB / memory.USABLE_SHARE))


def quick_training_flags(tiny_bert: Path, output_dir: Path) -> list[str]:
    """Flags for a run of a few seconds on the tiny model."""
    return [
        "--model_name_or_path",
        str(tiny_bert),
        "--output_dir",
        str(output_dir),
        "--num_train_epochs",
        "6",
        "--learning_rate",
        "3e-3",
        "--per_device_train_batch_size",
        "16",
        "--warmup_steps",
        "0",
        "--logging_steps",
        "10",
        "--disable_tqdm",
        "true",
        "--early_stopping_patience",
        "0",
    ]


@pytest.fixture(scope="session")
def trained_run(tiny_bert, tmp_path_factory) -> Path:
    """One finished English run (with a test split) that card, publishing and app tests share. Some labels are
    wrong, in training and evaluation alike, so the figures differ between splits and from 1.0 (test_train checks)."""
    import train

    root = tmp_path_factory.mktemp("trained-run")
    data = write_csv(root / "reviews.csv", english_reviews(240, mislabeled=0.1))
    test = write_csv(root / "test.csv", english_reviews(40, seed=11, mislabeled=0.15))
    out = root / "out"
    flags = ["--train_file", data, "--test_file", test, *quick_training_flags(tiny_bert, out)]
    assert train.main([str(flag) for flag in flags]) == 0
    return out


@pytest.fixture(scope="session")
def served(trained_run):
    """The app on loopback for the trained run: (classifier, gradio_client.Client, page URL)."""
    from gradio_client import Client

    from app import build_demo, load_classifier

    classifier = load_classifier(str(trained_run))
    demo = build_demo(classifier)
    demo.launch(server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True, mcp_server=True)
    try:
        yield classifier, Client(demo.local_url, verbose=False), demo.local_url
    finally:
        demo.close()


@pytest.fixture
def transformers_log(caplog):
    """What transformers logs during the test, as a list of messages read when called. Its logger does not pass
    records on to the root logger that pytest captures, so caplog's handler is attached to it for the test."""
    logger = logging.getLogger("transformers")
    logger.addHandler(caplog.handler)
    yield lambda: [record.getMessage() for record in caplog.records if record.name.startswith("transformers")]
    logger.removeHandler(caplog.handler)


def call_mcp_tool(app_url: str, tool: str, arguments: dict):
    """A real MCP client on loopback against the app: (its tools by name, the result of calling `tool`)."""
    import asyncio

    from mcp import ClientSession
    from mcp.client.streamable_http import streamablehttp_client

    async def ask():
        async with streamablehttp_client(f"{app_url.rstrip('/')}/gradio_api/mcp/") as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                tools = {item.name: item for item in (await session.list_tools()).tools}
                return tools, await session.call_tool(tool, arguments)

    return asyncio.run(ask())


def split_report(accuracy, f1, size, examples, tfidf, majority) -> dict:
    """One split's results as training records them, with figures that differ per split and per row."""
    negatives = size // 2
    return {
        "metrics": {"accuracy": accuracy, "precision": f1 + 0.0123, "recall": f1 - 0.0234, "f1": f1},
        "label_examples": examples,
        "per_class": {
            "negative": {
                "precision": accuracy - 0.011,
                "recall": accuracy + 0.013,
                "f1": accuracy + 0.001,
                "support": negatives,
            },
            "positive": {
                "precision": accuracy + 0.017,
                "recall": accuracy - 0.019,
                "f1": accuracy - 0.003,
                "support": size - negatives,
            },
        },
        "confusion_matrix": {
            "labels": ["negative", "positive"],
            "matrix": [[negatives - 3, 3], [4, size - negatives - 4]],
        },
        "num_examples": size,
        "baselines": {
            "majority_class": {"accuracy": majority, "precision": 0.0, "recall": 0.0, "f1": 0.0},
            "tfidf_logistic_regression": {
                "accuracy": tfidf,
                "precision": tfidf - 0.021,
                "recall": tfidf + 0.022,
                "f1": tfidf - 0.004,
            },
        },
    }


def facts_values(**changes) -> dict:
    """A finished run's facts as run_facts.json holds them (schema 4), written out by hand: card tests need no
    training. `changes` replace whole parts."""
    examples = {"negative": "the plot was horrible and dull", "positive": "the acting was superb and delightful"}
    values = dict(
        base_model="/models/tiny-bert",
        language="en",
        label_names=["negative", "positive"],
        data={
            "source": {
                "kind": "files",
                "files": {
                    "train": {"name": "reviews.csv", "sha256": "a1" * 32, "layout": "file"},
                    "test": {"name": "test.csv", "sha256": "b2" * 32, "layout": "file"},
                },
            },
            "text_columns": ["text"],
            "label_column": "label",
            "labels_from": "the label strings, ordered negative to positive",
            "dropped": {"train": 2, "test": 0},
            "validation_from_train": {"percent": 10.0},
            "cross_split_duplicates": {"validation": 0, "test": 1},
            "sizes": {"train": 216, "validation": 24, "test": 40},
            "label_counts": {
                "train": {"negative": 108, "positive": 108},
                "validation": {"negative": 12, "positive": 12},
                "test": {"negative": 20, "positive": 20},
            },
        },
        lengths={
            "max_length": 16,
            "max_length_reason": "99th percentile of training token lengths (13), rounded up to 8",
            "inference_max_length": 16,
            "inference_max_length_reason": "the training max_length (an older run)",
            "long_text": "truncate",
            "splits": {
                name: {"p50": 10, "p90": 12, "p95": 13, "p99": 13, "max": 19, "truncated": 1}
                for name in ("train", "validation", "test")
            },
        },
        hyperparameters={
            "learning_rate": 0.003,
            "num_train_epochs": 6.0,
            "per_device_train_batch_size": 16,
            "seed": 42,
            "weight_decay": 0.01,
            "metric_for_best_model": "f1",
            "bf16": False,
            "fp16": False,
        },
        training={
            "train_runtime": 83.0,
            "train_loss": 0.3473,
            "epochs_run": 6.0,
            "global_steps": 84,
            "processes": 1,
            "best_checkpoint_step": 70,
        },
        results={
            "validation": split_report(0.8750, 0.8696, 24, examples, tfidf=0.7917, majority=0.5000),
            "test": split_report(0.7750, 0.7619, 40, examples, tfidf=0.6500, majority=0.4750),
        },
        environment={
            "versions": {"python": "3.11.7", "transformers": "5.23.0"},
            "hardware": {"cpu": "Test CPU", "cpu_count": 2, "platform": "Linux"},
        },
        started="2026-11-23T10:00:00+00:00",
        duration_seconds=95.5,
        schema_version=4,
    )
    values |= changes
    if values["schema_version"] < 4:  # as older runs wrote them: sklearn's key for f1, support as a float
        for result in values["results"].values():
            for scores in result["per_class"].values():
                scores["f1-score"], scores["support"] = scores.pop("f1"), float(scores["support"])
    return values


def facts_literal(**changes):
    """facts_values as a RunFacts."""
    from bert_sentiment.facts import RunFacts

    return RunFacts.from_dict(facts_values(**changes))


def blas_threads() -> set[int]:
    """The thread counts of the BLAS libraries loaded in this process (NumPy's and SciPy's)."""
    from threadpoolctl import threadpool_info

    return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}
