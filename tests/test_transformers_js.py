"""The pushed model in JavaScript: transformers.js (Node) loads it from the loopback Hub and answers like Python."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from bert_sentiment.facts import RunFacts
from tests.hub_server import LOAD_BACK, TOKEN, HubServer, hub_env, run

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests" / "js" / "classify.mjs"


def node_or_skip() -> str:
    """Node with the repo's npm packages; skipped locally without them, a failure under CI (.ci/run installs them)."""
    node = shutil.which("node")
    installed = (ROOT / "node_modules" / "@huggingface" / "transformers").is_dir()
    if node and installed:
        return node
    missing = "node" if not node else "node_modules (npm ci --ignore-scripts)"
    if os.environ.get("CI"):
        pytest.fail(f"{missing} is missing; .ci/run installs it")
    pytest.skip(f"{missing} is missing")


def test_transformers_js_answers_like_python_on_the_cards_examples(trained_run, tmp_path):
    node = node_or_skip()
    with HubServer({TOKEN: "alice"}) as hub:
        published = run(
            ["publish.py", "--output_dir", trained_run, "--hub_model_id", "alice/js-tiny"], hub_env(tmp_path, hub.url)
        )
        assert published.returncode == 0, published.stderr[-2000:]
        examples = list(RunFacts.load(trained_run).label_examples().values()) + [
            "the cast was dull but the music was superb"
        ]
        fresh = hub_env(tmp_path / "fresh", hub.url, token=None)
        python = json.loads(run(["-c", LOAD_BACK, "alice/js-tiny", *examples], fresh).stdout.splitlines()[-1])[
            "answers"
        ]
        env = {**fresh, "TRANSFORMERS_JS_CACHE": str(tmp_path / "js-cache")}
        for dtype in ("fp32", "q8"):
            answered = subprocess.run(
                [node, SCRIPT, hub.url, "alice/js-tiny", dtype, *examples],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert answered.returncode == 0, answered.stderr[-2000:]
            javascript = json.loads(answered.stdout.splitlines()[-1])
            for ours, theirs in zip(python, javascript):
                assert theirs[0]["label"] == ours[0]["label"], f"{dtype}: {theirs} vs {ours}"
                scores = {answer["label"]: answer["score"] for answer in theirs}
                tolerance = 1e-4 if dtype == "fp32" else 0.02
                assert scores == pytest.approx({a["label"]: a["score"] for a in ours}, abs=tolerance)
        fetched = {line.split("/resolve/main/")[-1] for line in hub.state.requests if "alice/js-tiny/resolve/" in line}
    assert len(javascript) == len(examples)
    assert {"onnx/model.onnx", "onnx/model_quantized.onnx", "tokenizer.json", "config.json"} <= fetched, "from the Hub"
