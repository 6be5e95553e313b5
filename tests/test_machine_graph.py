"""The app's own graph: quantized for the CPU it runs on, cached, checked before it serves, run without slow fusions."""

import os
import platform
import shutil
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, numpy_helper
from transformers import AutoConfig

from bert_sentiment import machine_graph, onnx_export
from bert_sentiment.inference import SentimentClassifier
from bert_sentiment.machine_graph import build, weight_bits
from bert_sentiment.onnx_export import INT8_RECIPES
from tests.conftest import english_reviews

TEXTS = [text for text, _ in english_reviews(40, seed=22)]
EVERY_LAYER = next(iter(INT8_RECIPES))
VNNI = {"avx2", "avx512f", "avx512_vnni"}
AVX2_ONLY = {"avx2", "fma"}


def int8_weights(path) -> list[np.ndarray]:
    graph = onnx.load(str(path)).graph
    return [numpy_helper.to_array(t) for t in graph.initializer if t.data_type == TensorProto.INT8 and len(t.dims) == 2]


def largest_int8_weight(path) -> int:
    weights = int8_weights(path)
    assert weights, "the graph has int8 weights"
    return max(int(np.abs(w.astype(np.int16)).max()) for w in weights)


def op_types(path) -> set[str]:
    return {node.op_type for node in onnx.load(str(path)).graph.node}


def test_the_weights_use_8_bits_only_where_the_cpu_adds_products_in_32_bits(portable):
    """Without VNNI, ONNX Runtime's u8 x s8 products are added in pairs into 16 bits: weights past 64 saturate."""
    config = AutoConfig.from_pretrained(portable)
    fp32 = portable / "onnx" / "model.onnx"
    full, full_note = build(fp32, config, EVERY_LAYER, flags=VNNI)
    seven, seven_note = build(fp32, config, EVERY_LAYER, flags=AVX2_ONLY)
    assert full != seven
    assert largest_int8_weight(full) > 64, "VNNI: the whole int8 range"
    assert largest_int8_weight(seven) <= 64, "no VNNI: 7-bit weights"
    assert full_note.startswith("int8 for this CPU, every linear layer, 8-bit weights: the CPU has VNNI; ")
    assert full_note.endswith(f"cached at {full}") and "7-bit weights" in seven_note
    assert weight_bits(VNNI) == (False, "8-bit weights: the CPU has VNNI")
    assert weight_bits({"amx_int8"})[0] is False and weight_bits({"avx_vnni"})[0] is False
    assert weight_bits(set()) == (True, "7-bit weights: the CPU has no VNNI, where 8-bit products saturate")


def test_without_the_cache_variable_graphs_go_to_the_hugging_face_home(monkeypatch, tmp_path):
    from huggingface_hub import constants

    from bert_sentiment import machine_graph

    monkeypatch.delenv(machine_graph.CACHE_VARIABLE)
    monkeypatch.setattr(constants, "HF_HOME", str(tmp_path / "hf"))
    assert machine_graph.cache_dir() == tmp_path / "hf" / "bert-sentiment" / "onnx"
    monkeypatch.setenv(machine_graph.CACHE_VARIABLE, str(tmp_path / "mine"))
    assert machine_graph.cache_dir() == tmp_path / "mine"


def test_onnx_runtime_fuses_at_load_but_keeps_layer_normalization_apart_from_its_residual_add(
    portable, tmp_path, monkeypatch
):
    """ONNX Runtime's SkipLayerNormalization kernel took five times as long as a layer normalisation and an add: every
    session the app, the export's check and a notebook open runs without it (bench/README.md)."""
    import onnxruntime

    from bert_sentiment.onnx_export import OnnxModel

    real = onnxruntime.SessionOptions

    def recorded():  # the graph as ONNX Runtime runs it, written out
        options = real()
        options.optimized_model_filepath = str(tmp_path / "as_run.onnx")
        return options

    monkeypatch.setattr(onnxruntime, "SessionOptions", recorded)
    OnnxModel(portable / "onnx" / "model.onnx")
    run = op_types(tmp_path / "as_run.onnx")
    assert {"BiasGelu", "LayerNormalization"} <= run, "ONNX Runtime's own fusions at load"
    assert "SkipLayerNormalization" not in run


def test_a_built_graph_is_reused_and_another_file_gets_its_own(portable, tmp_path, monkeypatch):
    import shutil

    config = AutoConfig.from_pretrained(portable)
    fp32 = portable / "onnx" / "model.onnx"
    first, _ = build(fp32, config, EVERY_LAYER)

    def no_second_build(*args, **kwargs):
        raise AssertionError("built again")

    monkeypatch.setattr(onnx_export, "_quantize", no_second_build)
    again, note = build(fp32, config, EVERY_LAYER)
    assert again == first and "cached at" in note and "built now" not in note
    monkeypatch.undo()

    changed = tmp_path / "model.onnx"
    shutil.copy(fp32, changed)
    with open(changed, "ab") as handle:
        handle.write(b"\0")  # another model's file: new contents, same name
    other, note = build(changed, config, EVERY_LAYER)
    assert other != first and "built now" in note
    assert not list(first.parent.glob(".build-*")), "no half-built file is left in the cache"


def test_the_app_serves_this_machines_graph_with_pytorchs_labels(trained_run):
    classifier = SentimentClassifier(str(trained_run))
    assert classifier.engine == "onnx" and "int8 for this CPU" in classifier.engine_note
    assert classifier.onnx.path.parent == machine_graph.cache_dir()
    reference = SentimentClassifier(str(trained_run), engine="torch")
    for ours, theirs in zip(classifier(TEXTS), reference(TEXTS)):
        assert ours.label == theirs.label
        assert ours.scores == pytest.approx(theirs.scores, abs=2e-2)


def test_onnx_runtime_spins_in_a_notebook_and_sleeps_beside_the_apps_web_server(trained_run):
    """Spinning saves each op a wake-up where nothing else needs the cores; on a Space it starves the web server."""
    from bert_sentiment.app import load_classifier
    from bert_sentiment.inference import load

    def spinning(classifier) -> str:
        return classifier.onnx.session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning")

    assert spinning(load(str(trained_run))) == "1"
    assert spinning(load_classifier(str(trained_run))) == "0"


def test_an_unwritable_cache_is_named_with_the_fix(portable, tmp_path, monkeypatch):
    not_a_folder = tmp_path / "cache"
    not_a_folder.write_text("a file where the cache folder should be")
    monkeypatch.setenv(machine_graph.CACHE_VARIABLE, str(not_a_folder))
    with pytest.raises(
        OSError,
        match=f"cannot write this machine's graph to {not_a_folder} \\(File exists\\); set BERT_SENTIMENT_CACHE to a "
        "writable folder$",
    ):
        build(portable / "onnx" / "model.onnx", AutoConfig.from_pretrained(portable), EVERY_LAYER)


def test_a_cache_folder_that_does_not_exist_yet_is_made_with_its_parents(portable, tmp_path, monkeypatch):
    cache = tmp_path / "not" / "made" / "yet"
    monkeypatch.setenv(machine_graph.CACHE_VARIABLE, str(cache))
    path, note = build(portable / "onnx" / "model.onnx", AutoConfig.from_pretrained(portable), EVERY_LAYER)
    assert path.parent == cache and path.is_file() and note.endswith(f"built now and cached at {path}")


def int8_weight_shapes(path) -> set[tuple[int, ...]]:
    return {weight.shape for weight in int8_weights(path)}


def test_a_recipe_that_keeps_the_feed_forward_layers_in_fp32_quantizes_only_the_attention(portable):
    """The app's fallbacks when every layer in int8 fails its check: the feed-forward projections, found by the
    config's widths, stay fp32."""
    config = AutoConfig.from_pretrained(portable)
    fp32 = portable / "onnx" / "model.onnx"
    feed_forward = {(config.hidden_size, config.intermediate_size), (config.intermediate_size, config.hidden_size)}
    every, _ = build(fp32, config, EVERY_LAYER)
    kept, note = build(fp32, config, "per-channel int8, feed-forward layers kept fp32")
    assert feed_forward <= int8_weight_shapes(every)
    assert not feed_forward & int8_weight_shapes(kept) and (
        config.hidden_size,
        config.hidden_size,
    ) in int8_weight_shapes(kept), "attention in int8, the feed-forward layers in fp32"
    assert note.startswith("int8 for this CPU, feed-forward layers kept fp32, ")


def test_with_an_unwritable_cache_the_portable_int8_file_serves(trained_run, tmp_path, monkeypatch):
    not_a_folder = tmp_path / "cache"
    not_a_folder.write_text("a file where the cache folder should be")
    monkeypatch.setenv(machine_graph.CACHE_VARIABLE, str(not_a_folder))
    classifier = SentimentClassifier(str(trained_run))
    assert classifier.engine == "onnx" and classifier.engine_note.startswith("ONNX Runtime int8 (model_quantized.onnx")


def test_a_graph_is_built_in_a_hidden_folder_beside_the_cache_and_appears_whole(portable, tmp_path, monkeypatch):
    """While it is built, the cache shows no graph a second process could read half-written; the build folder is
    inside the cache (one file system, so the final rename is atomic) and gone afterwards."""
    cache = tmp_path / "cache"
    monkeypatch.setenv(machine_graph.CACHE_VARIABLE, str(cache))
    seen, real = [], onnx_export._quantize

    def watched(fp32, out, *args, **kwargs):
        seen.append((out, sorted(path.name for path in cache.iterdir()), list(cache.glob("*.onnx"))))
        return real(fp32, out, *args, **kwargs)

    monkeypatch.setattr(onnx_export, "_quantize", watched)
    path, _ = build(portable / "onnx" / "model.onnx", AutoConfig.from_pretrained(portable), EVERY_LAYER)
    ((out, listed, graphs),) = seen
    assert out.parent.parent == cache and out.parent.name.startswith(".build-") and listed == [out.parent.name]
    assert graphs == [], "no graph under its final name before it is whole"
    assert path.parent == cache and sorted(cache.iterdir()) == [path]


EMULATED_CPU = "Haswell-v4"  # AVX2 and FMA, no AVX-512 and no VNNI, as on AMD CPUs before Zen 4
EMULATED_RUN = """
import sys
import numpy as np
from bert_sentiment.onnx_export import OnnxModel

inputs = dict(np.load(sys.argv[1]))
np.savez(sys.argv[2], **{name: OnnxModel(path).logits(inputs) for name, path in zip(("seven", "eight"), sys.argv[3:])})
"""


def emulator_or_skip() -> str:
    """qemu-user's x86-64 emulator, on an x86-64 machine with VNNI (where the emulated CPU's kernel differs from
    this one's); skipped elsewhere, and skipped locally without qemu-user, a failure under CI (.ci/run installs it)."""
    if platform.machine() != "x86_64" or not machine_graph.has_vnni():
        pytest.skip("needs an x86-64 CPU with VNNI, to compare with an emulated one without")
    emulator = shutil.which("qemu-x86_64")
    if emulator:
        return emulator
    if os.environ.get("CI"):
        pytest.fail("qemu-x86_64 is missing; .ci/run installs it (apt-get install qemu-user)")
    pytest.skip("qemu-x86_64 is missing (apt-get install qemu-user)")


def test_on_a_cpu_without_vnni_the_7_bit_graph_answers_as_here_where_8_bits_would_not(trained_run, tmp_path):
    """A visitor's CPU without VNNI runs ONNX Runtime's other int8 kernel, which adds u8 x s8 products in pairs into
    16 bits. The graph built for such a CPU (7-bit weights) must answer there as this VNNI machine checked it: the
    same labels, probabilities within what int8 moves them (its other kernels round fp32 slightly differently). The
    8-bit graph, which saturates there, shows that the emulated CPU really ran the other kernel."""
    import torch
    from transformers import AutoTokenizer

    from bert_sentiment.onnx_export import FP32_FILE, ONNX_DIR, OnnxModel

    emulator = emulator_or_skip()
    config = AutoConfig.from_pretrained(trained_run)
    fp32 = trained_run / ONNX_DIR / FP32_FILE
    graphs = [build(fp32, config, EVERY_LAYER, flags=AVX2_ONLY)[0], build(fp32, config, EVERY_LAYER, flags=VNNI)[0]]
    encoded = dict(AutoTokenizer.from_pretrained(trained_run)(TEXTS, padding=True, return_tensors="np"))
    np.savez(tmp_path / "inputs.npz", **encoded)
    here = [OnnxModel(graph).logits(encoded) for graph in graphs]
    command = [emulator, "-cpu", EMULATED_CPU, sys.executable, "-c", EMULATED_RUN, tmp_path / "inputs.npz"]
    ran = subprocess.run([*map(str, command), tmp_path / "there.npz", *graphs], capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr[-3000:]
    there = np.load(tmp_path / "there.npz")
    assert np.abs(there["eight"] - here[1]).max() > 1e-3, "the emulated CPU ran the kernel that saturates 8 bits"
    ours, theirs = (torch.softmax(torch.from_numpy(logits), dim=-1).numpy() for logits in (here[0], there["seven"]))
    np.testing.assert_allclose(theirs, ours, rtol=0, atol=2e-2)
    decided = np.abs(ours[:, 0] - ours[:, 1]) > 0.1
    assert decided.sum() >= len(TEXTS) // 2, "the trained model decides most texts clearly"
    assert (theirs.argmax(axis=1) == ours.argmax(axis=1))[decided].all()
