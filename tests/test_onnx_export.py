"""ONNX files beside the weights: exported and checked after training, checked again when the app starts."""

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

import train
from bert_sentiment.facts import RunFacts
from bert_sentiment.inference import SentimentClassifier
from bert_sentiment.lengths import model_length_limit
from bert_sentiment.model_card import write_card
from bert_sentiment.onnx_export import (
    FP32_TOLERANCE,
    SERVING_MARGIN,
    STOCK_TEXTS,
    OnnxCheck,
    OnnxMismatch,
    OnnxModel,
    Reference,
    export_graphs,
    torch_probabilities,
)
from tests.conftest import english_reviews, quick_training_flags, write_csv

TEXTS = [text for text, _ in english_reviews(40, seed=21)]
# the same reviews cut to 2 to 7 words, then two of them joined: lengths that differ, so that a batch holds padding
VARIED_TEXTS = [" ".join(text.split()[: 2 + i % 6]) for i, text in enumerate(TEXTS)] + [" ".join(TEXTS[:2])]


def model_of(folder):
    """(tokenizer, model) of a saved classifier, as the export reads them."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    return AutoTokenizer.from_pretrained(folder), AutoModelForSequenceClassification.from_pretrained(folder).eval()


def copy_run(trained_run, tmp_path):
    return shutil.copytree(trained_run, tmp_path / "run")


def test_training_writes_both_graphs_and_they_answer_like_pytorch(trained_run):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    facts = RunFacts.load(trained_run)
    assert facts.onnx.files == ["onnx/model.onnx", "onnx/model_quantized.onnx"]
    assert facts.onnx.texts == facts.data.sizes["validation"], "checked on every validation text"
    assert facts.onnx.fp32_max_difference <= 1e-4 and facts.onnx.int8_label_agreement >= 0.99

    tokenizer = AutoTokenizer.from_pretrained(trained_run)
    model = AutoModelForSequenceClassification.from_pretrained(trained_run).eval()
    reading = model_length_limit(tokenizer, model.config)
    expected = torch_probabilities(model, tokenizer, TEXTS, reading)
    fp32 = OnnxModel(trained_run / "onnx" / "model.onnx").probabilities(tokenizer, TEXTS, reading)
    int8 = OnnxModel(trained_run / "onnx" / "model_quantized.onnx").probabilities(tokenizer, TEXTS, reading)
    np.testing.assert_allclose(fp32, expected, atol=1e-4)
    assert (int8.argmax(axis=1) == expected.argmax(axis=1)).mean() >= 0.99


def test_the_int8_file_answers_alike_on_cpus_without_vnni(trained_run):
    """On x86 CPUs without VNNI, ONNX Runtime adds uint8 x int8 products in pairs into 16 bits, which saturate once a
    weight leaves [-64, 64] (2 x 255 x 65 > 32,767), so a file checked on a VNNI machine could flip labels on a
    visitor's older CPU. Every int8 weight must stay inside."""
    import onnx
    from onnx import TensorProto, numpy_helper

    graph = onnx.load(str(trained_run / "onnx" / "model_quantized.onnx")).graph
    weights = [
        numpy_helper.to_array(tensor)
        for tensor in graph.initializer
        if tensor.data_type == TensorProto.INT8 and len(tensor.dims) == 2
    ]
    assert len(weights) >= 4 * 2, "the encoder's linear layers are int8"
    assert max(int(np.abs(w.astype(np.int16)).max()) for w in weights) <= 64
    assert RunFacts.load(trained_run).onnx.int8_size_share < 0.8


def test_each_recipe_keeps_more_feed_forward_layers_in_fp32(portable, tmp_path):
    """And every int8 weight is 7-bit (see the test above) with a scale per output column (per channel)."""
    import onnx
    from onnx import TensorProto, numpy_helper
    from transformers import AutoConfig

    from bert_sentiment import onnx_export

    config = AutoConfig.from_pretrained(portable)
    int8_shapes = []
    for recipe in onnx_export.INT8_RECIPES:
        onnx_export._quantize(portable / "onnx" / "model.onnx", tmp_path / "int8.onnx", recipe, config)
        graph = onnx.load(str(tmp_path / "int8.onnx")).graph
        weights = [t for t in graph.initializer if t.data_type == TensorProto.INT8 and len(t.dims) == 2]
        int8_shapes.append(sorted(tuple(t.dims) for t in weights))
        scales = {t.name: list(t.dims) for t in graph.initializer if t.name.endswith("_scale")}
        for weight in weights:
            assert int(np.abs(numpy_helper.to_array(weight).astype(np.int16)).max()) <= 64, f"{recipe}: 7-bit"
            scale = weight.name.removesuffix("_quantized") + "_scale"
            assert scales[scale] == [weight.dims[1]], f"{recipe}: one scale per output column of {weight.name}"
    ffn_in, ffn_out = (config.hidden_size, config.intermediate_size), (config.intermediate_size, config.hidden_size)
    layers = config.num_hidden_layers
    assert int8_shapes[0].count(ffn_in) == int8_shapes[0].count(ffn_out) == layers
    assert int8_shapes[1].count(ffn_in) == layers and ffn_out not in int8_shapes[1]
    assert ffn_in not in int8_shapes[2] and ffn_out not in int8_shapes[2]
    assert int8_shapes[2].count((config.hidden_size, config.hidden_size)) >= 4 * layers, "attention stays int8"


def test_the_cards_onnx_section_reports_the_check(trained_run):
    card = (trained_run / "README.md").read_text()
    facts = RunFacts.load(trained_run)
    assert f"checked on {facts.onnx.texts:,} validation texts" in " ".join(card.split())
    assert f"(dynamic int8, {facts.onnx.int8_recipe}:" in " ".join(card.split())
    assert f"int8 gives PyTorch's label on {100 * facts.onnx.int8_label_agreement:.1f}% of them" in " ".join(
        card.split()
    )
    assert 'hf_hub_download("' in card and "onnx/model_quantized.onnx" in card
    assert 'pipeline("text-classification", "' in card and 'dtype: "q8"' in card
    assert "- onnx" in card and "- transformers.js" in card


def test_a_model_the_exporter_cannot_handle_still_trains_and_serves(tiny_bert, tmp_path, monkeypatch, caplog):
    def unsupported(*args, **kwargs):
        raise RuntimeError("Unsupported operator: aten::strange_op")

    monkeypatch.setattr("bert_sentiment.onnx_export._export", unsupported)
    data = write_csv(tmp_path / "reviews.csv", english_reviews(120))
    out = tmp_path / "out"
    with caplog.at_level(logging.WARNING):
        assert train.main([str(f) for f in ["--train_file", data, *quick_training_flags(tiny_bert, out)]]) == 0
    lines = [r.getMessage() for r in caplog.records if "ONNX" in r.getMessage()]
    assert lines == [
        "No ONNX export (RuntimeError: Unsupported operator: aten::strange_op); the model works through "
        "PyTorch as before."
    ]
    assert not (out / "onnx").exists() and not list(out.glob(".onnx-*")), "nothing half-written"
    onnx = RunFacts.load(out).onnx
    assert (onnx.files, onnx.error) == ([], "RuntimeError: Unsupported operator: aten::strange_op")
    assert "onnxruntime" not in (out / "README.md").read_text()

    classifier = SentimentClassifier(str(out))  # the app tries the export at start, fails the same way, serves PyTorch
    assert classifier.engine == "torch" and "Unsupported operator" in classifier.engine_note
    assert classifier(["the film was wonderful and superb"])[0].label == "positive"


def test_a_corrupted_graph_is_caught_at_start_and_the_next_one_serves(trained_run, tmp_path, caplog):
    """The app builds its own graph from onnx/model.onnx; when that file is corrupted the portable int8 file serves,
    and when both are, PyTorch does. Each refusal is logged, and the answers stay PyTorch's."""
    run = copy_run(trained_run, tmp_path)
    reference = SentimentClassifier(str(run), engine="torch")
    (run / "onnx" / "model.onnx").write_bytes(b"\x08\x07garbage" * 100)
    with caplog.at_level(logging.WARNING):
        portable = SentimentClassifier(str(run))
    assert portable.engine == "onnx" and "model_quantized.onnx, the model's own file" in portable.engine_note
    assert any("Not serving this machine's graph" in r.getMessage() for r in caplog.records)
    assert [p.label for p in portable(TEXTS)] == [p.label for p in reference(TEXTS)]

    (run / "onnx" / "model_quantized.onnx").write_bytes(b"\x08\x07garbage" * 100)
    classifier = SentimentClassifier(str(run))
    assert classifier.engine == "torch"
    assert "this machine's graph:" in classifier.engine_note and "the portable graph:" in classifier.engine_note
    assert classifier(TEXTS) == reference(TEXTS)


def test_a_graph_of_another_model_is_caught_at_start(trained_run, tiny_bert, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    run = copy_run(trained_run, tmp_path)
    untrained = AutoModelForSequenceClassification.from_pretrained(tiny_bert, num_labels=2).eval()
    export_graphs(untrained, AutoTokenizer.from_pretrained(run), tmp_path)  # checked against its own model: passes
    for name in ("model.onnx", "model_quantized.onnx"):
        shutil.copy(tmp_path / name, run / "onnx" / name)
    classifier = SentimentClassifier(str(run))
    assert classifier.engine == "torch"
    assert "is it this model's graph?" in classifier.engine_note or "gives PyTorch's label" in classifier.engine_note


def test_a_model_without_onnx_files_is_exported_at_start(trained_run, tmp_path):
    run = copy_run(trained_run, tmp_path)
    shutil.rmtree(run / "onnx")
    classifier = SentimentClassifier(str(run))
    assert classifier.engine == "onnx" and "exported at start-up" in classifier.engine_note
    reference = SentimentClassifier(str(run), engine="torch")
    assert [p.label for p in classifier(TEXTS)] == [p.label for p in reference(TEXTS)]
    assert not (run / "onnx").exists(), "the model's folder is left as it was"


@pytest.mark.parametrize("quantize", [True, False])
def test_onnx_engine_gives_pytorchs_answers(trained_run, quantize):
    onnx = SentimentClassifier(str(trained_run), quantize=quantize)(TEXTS)
    reference = SentimentClassifier(str(trained_run), engine="torch")(TEXTS)
    tolerance = 1e-4 if not quantize else 2e-2
    for ours, theirs in zip(onnx, reference):
        assert ours.label == theirs.label
        assert ours.scores == pytest.approx(theirs.scores, abs=tolerance)


def test_publishing_an_older_run_exports_its_onnx_first(trained_run, tmp_path):
    from bert_sentiment.publish import ensure_onnx

    run = copy_run(trained_run, tmp_path)
    shutil.rmtree(run / "onnx")
    facts = RunFacts.load(run)
    facts.onnx = None
    facts.save(run)
    ensure_onnx(run)
    facts = RunFacts.load(run)
    assert (run / "onnx" / "model.onnx").is_file() and (run / "onnx" / "model_quantized.onnx").is_file()
    examples = len(facts.label_examples())
    assert facts.onnx.texts == examples + len(STOCK_TEXTS) and facts.onnx.int8_label_agreement >= 0.99
    assert facts.onnx.checked_on == "texts of the card's examples and stock sentences"
    assert facts.onnx.label_margin == SERVING_MARGIN and facts.onnx.labels_compared <= facts.onnx.texts
    card = " ".join(write_card(run, "someone/older-run").read_text().split())
    assert (
        f"of the {facts.onnx.labels_compared} that PyTorch decides by at least {SERVING_MARGIN:g} in "
        "probability (near-ties may flip)"
    ) in card


class FlippedGraph:
    """Stands in for an int8 graph: answers PyTorch's probabilities with the labels of chosen texts swapped."""

    path = Path("model_quantized.onnx")

    def __init__(self, expected, flipped):
        self.answers = expected.copy()
        self.answers[flipped] = expected[flipped][:, ::-1]

    def probabilities(self, tokenizer, texts, max_length):
        return self.answers


def test_on_few_texts_a_near_tie_flipping_does_not_refuse_the_int8_file_but_a_decided_text_does(portable):
    """14 texts: one flip is 93% agreement. With a margin, only texts PyTorch decides clearly must keep their label."""
    tokenizer, model = model_of(portable)
    reference = Reference(model, tokenizer, TEXTS[:14])
    reference.expected = np.array([[0.55, 0.45]] + [[0.9, 0.1], [0.2, 0.8]] * 6 + [[0.85, 0.15]])
    near_tie = FlippedGraph(reference.expected, [0])
    with pytest.raises(OnnxMismatch, match="92.9% of 14 texts"):
        reference.int8_check(near_tie, margin=0.0, fp32_difference=None)
    check = reference.int8_check(near_tie, margin=SERVING_MARGIN, fp32_difference=None)
    assert check.int8_label_agreement == 1.0 and check.labels_compared == 13 and check.label_margin == SERVING_MARGIN
    with pytest.raises(OnnxMismatch, match="92.3% of 13 texts"):
        reference.int8_check(FlippedGraph(reference.expected, [13]), margin=SERVING_MARGIN, fp32_difference=None)


def test_int8_falls_back_to_the_next_recipe_and_refuses_when_none_agrees(trained_run, tiny_bert, tmp_path, monkeypatch):
    """When the first recipe's graph fails the check the next is tried; when every one fails nothing passes."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    import bert_sentiment.onnx_export as onnx_export

    tokenizer = AutoTokenizer.from_pretrained(trained_run)
    model = AutoModelForSequenceClassification.from_pretrained(trained_run).eval()
    untrained = AutoModelForSequenceClassification.from_pretrained(tiny_bert, num_labels=2).eval()
    (tmp_path / "other").mkdir()
    export_graphs(untrained, tokenizer, tmp_path / "other")  # a graph that does not answer like `model`
    used, real_quantize = [], onnx_export._quantize
    first, second, _ = onnx_export.INT8_RECIPES

    def first_recipe_goes_wrong(fp32, int8, recipe, config):  # as on a model sensitive to int8
        used.append(recipe)
        real_quantize(fp32, int8, recipe, config)
        if recipe == first:
            shutil.copy(tmp_path / "other" / "model_quantized.onnx", int8)

    monkeypatch.setattr(onnx_export, "_quantize", first_recipe_goes_wrong)
    graph, real_export = tmp_path / "model.onnx", onnx_export._export
    real_export(model, tokenizer, graph)  # the recipes are the subject: each export below copies this one (5 s each)
    monkeypatch.setattr(onnx_export, "_export", lambda exported, tokenizer, path: shutil.copy(graph, path))
    (tmp_path / "out").mkdir()
    with pytest.raises(onnx_export.OnnxMismatch, match="the other recipes were not tried .more than 2% short"):
        export_graphs(model, tokenizer, tmp_path / "out", TEXTS)  # another model's graph: far short, nothing helps
    assert used == [first]
    monkeypatch.setattr(onnx_export, "HOPELESS_GAP", 1.0)  # as if the first recipe had fallen just short
    used.clear()
    check = export_graphs(model, tokenizer, tmp_path / "out", TEXTS)
    assert used[:2] == [first, second], "a failed recipe is followed by the next"
    assert check.int8_recipe == used[-1] != first, (
        "the recipe that passed is the one kept"
    )  # the third if a near-tie flips

    monkeypatch.setattr(onnx_export, "INT8_RECIPES", {first: ()})
    with pytest.raises(onnx_export.OnnxMismatch, match="every linear layer: model_quantized.onnx"):
        export_graphs(model, tokenizer, tmp_path / "out", TEXTS)


def test_the_check_reads_texts_spread_over_a_long_split_and_answers_each_in_its_own_row(portable, monkeypatch):
    """Evaluation splits come longest first: the check takes every n-th text, not the first (longest) ones, and
    batching texts of similar length puts each answer back on its own text."""
    import bert_sentiment.onnx_export as onnx_export

    tokenizer, model = model_of(portable)
    monkeypatch.setattr(onnx_export, "MAX_CHECK_TEXTS", 10)
    longest_first = sorted(TEXTS, key=len, reverse=True)
    reference = Reference(model, tokenizer, longest_first)
    assert reference.texts == [longest_first[int(i)] for i in np.linspace(0, 39, 10)]
    assert reference.texts[0] == longest_first[0] and reference.texts[-1] == longest_first[-1]
    one_by_one = np.concatenate([torch_probabilities(model, tokenizer, [text], 512) for text in reference.texts])
    np.testing.assert_allclose(reference.expected, one_by_one, atol=1e-3)  # padding moves the random head's 5th decimal
    apart = [(np.abs(one_by_one[:, 0] - value) > 2e-3).sum() == len(one_by_one) - 1 for value in one_by_one[:, 0]]
    assert sum(apart) >= len(apart) // 2, "most answers stand apart from all others: a row mixed up among them shows"
    assert Reference(model, tokenizer, ["", "a good film", "  "]).texts == ["a good film"], "blank texts skipped"
    stock = Reference(model, tokenizer, ["", "  "])
    assert stock.texts == STOCK_TEXTS and stock.expected.shape == (len(STOCK_TEXTS), 2), "none left: stock sentences"


def test_probabilities_a_run_already_has_spare_pytorch_yet_a_wrong_graph_is_still_refused(portable, monkeypatch):
    import bert_sentiment.onnx_export as onnx_export

    tokenizer, model = model_of(portable)
    known = torch_probabilities(model, tokenizer, TEXTS, 512)

    def no_pytorch(*args):
        raise AssertionError("PyTorch ran again")

    monkeypatch.setattr(onnx_export, "torch_probabilities", no_pytorch)
    reference = Reference(model, tokenizer, TEXTS, expected=known)
    assert reference.fp32_difference(OnnxModel(portable / "onnx" / "model.onnx")) <= 1e-4
    swapped = Reference(
        model, tokenizer, TEXTS, expected=known[:, ::-1]
    )  # as if evaluation's rows were another model's
    with pytest.raises(OnnxMismatch, match="differs from PyTorch"):
        swapped.fp32_difference(OnnxModel(portable / "onnx" / "model.onnx"))


def test_the_fp32_graph_is_compared_on_a_spread_of_the_checked_texts_and_a_fault_among_them_is_refused(
    portable, monkeypatch
):
    """Reading all 1,000 texts in fp32 took a bert-base about 50 s: the fp32 graph reads FP32_CHECK_TEXTS of them,
    from the longest to the shortest, and the facts and the card say how many."""
    import bert_sentiment.onnx_export as onnx_export

    tokenizer, model = model_of(portable)
    monkeypatch.setattr(onnx_export, "FP32_CHECK_TEXTS", 5)
    longest_first = sorted(TEXTS, key=len, reverse=True)
    known = torch_probabilities(model, tokenizer, longest_first, 512)
    graph = OnnxModel(portable / "onnx" / "model.onnx")
    read = []
    real = OnnxModel.probabilities
    monkeypatch.setattr(
        OnnxModel,
        "probabilities",
        lambda self, tok, texts, length: read.extend(texts) or real(self, tok, texts, length),
    )
    reference = Reference(model, tokenizer, longest_first, expected=known)
    assert reference.fp32_difference(graph) <= 1e-4
    assert read == [longest_first[int(i)] for i in np.linspace(0, 39, 5)], "five texts, longest to shortest"
    check = reference.int8_check(graph, 0.0, 1e-5)  # the fp32 graph standing in for int8: it agrees
    assert (check.texts, check.fp32_texts) == (40, 5)

    wrong_on_the_shortest = known.copy()
    wrong_on_the_shortest[-1] = wrong_on_the_shortest[-1, ::-1]  # as if the graph failed on the shortest texts
    with pytest.raises(OnnxMismatch, match="differs from PyTorch"):
        Reference(model, tokenizer, longest_first, expected=wrong_on_the_shortest).fp32_difference(graph)


def test_the_card_says_on_how_many_texts_the_fp32_graph_was_compared(trained_run):
    facts = RunFacts.load(trained_run)
    card = " ".join((trained_run / "README.md").read_text().split())
    assert facts.onnx.fp32_texts == min(facts.onnx.texts, 200)
    if facts.onnx.fp32_texts < facts.onnx.texts:
        assert f"(on {facts.onnx.fp32_texts} of them, spread over their lengths)" in card
    else:
        assert "spread over their lengths" not in card


def test_a_passing_export_writes_both_files_beside_the_model_and_returns_its_facts(
    untrained_classifier, tmp_path, monkeypatch, exported_once, caplog
):
    """The untrained head's int8 graph is let through (its near-ties flip under the real check): what is asked here is
    what a passing export leaves and says, not whether this graph passes."""
    import bert_sentiment.onnx_export as onnx_export
    from bert_sentiment.onnx_export import export_onnx

    monkeypatch.setattr(onnx_export, "INT8_AGREEMENT", 0.0)
    monkeypatch.setattr(onnx_export, "INT8_MEAN_TOLERANCE", 1.0)
    run = shutil.copytree(untrained_classifier, tmp_path / "run")
    building, real = [], onnx_export.export_graphs

    def watched(model, tokenizer, directory, *args):
        building.append((directory, (run / "onnx").exists()))
        return real(model, tokenizer, directory, *args)

    monkeypatch.setattr(onnx_export, "export_graphs", watched)
    with caplog.at_level(logging.INFO, logger="bert_sentiment"):
        facts = export_onnx(run, TEXTS, texts_from="texts of the card's examples", margin=0.1)
    ((directory, onnx_folder_then),) = building
    assert directory.parent == run and directory.name.startswith(".onnx-"), "built in a hidden folder beside the model"
    assert not onnx_folder_then, "nothing under onnx/ until both graphs are checked"
    fp32, int8 = run / "onnx" / "model.onnx", run / "onnx" / "model_quantized.onnx"
    assert facts["files"] == ["onnx/model.onnx", "onnx/model_quantized.onnx"] and fp32.is_file() and int8.is_file()
    assert facts["checked_on"] == "texts of the card's examples" and facts["label_margin"] == 0.1
    assert facts["int8_size_share"] == round(int8.stat().st_size / fp32.stat().st_size, 3) < 0.8
    assert facts["texts"] == len(TEXTS) and facts["int8_recipe"] == next(iter(onnx_export.INT8_RECIPES))
    assert not [path.name for path in run.iterdir() if path.name.startswith(".onnx-")], "no working folder left"
    assert caplog.messages[-1].startswith(
        f"Exported onnx/model.onnx and model_quantized.onnx ({facts['int8_recipe']}), verified on {len(TEXTS)} texts: "
        f"fp32 within {facts['fp32_max_difference']:.1e} of PyTorch (on {facts['fp32_texts']} of them), int8 agrees on "
        f"{100 * facts['int8_label_agreement']:.1f}% of labels."
    )


def test_a_runs_export_checks_against_its_own_probabilities_on_validation_texts_without_a_progress_bar(
    untrained_classifier, tmp_path, monkeypatch, exported_once, capsys
):
    """What training hands over with its defaults: evaluation's probabilities of the validation texts, so PyTorch is
    not run again; every label compared (margin 0); no bar in the log. The int8 check is let through as above."""
    import bert_sentiment.onnx_export as onnx_export
    from bert_sentiment.onnx_export import try_export_onnx

    monkeypatch.setattr(onnx_export, "INT8_AGREEMENT", 0.0)
    monkeypatch.setattr(onnx_export, "INT8_MEAN_TOLERANCE", 1.0)
    run = shutil.copytree(untrained_classifier, tmp_path / "run")
    tokenizer, model = model_of(run)
    known = torch_probabilities(model, tokenizer, TEXTS, model_length_limit(tokenizer, model.config))

    def no_pytorch(*args):
        raise AssertionError("PyTorch ran again")

    monkeypatch.setattr(onnx_export, "torch_probabilities", no_pytorch)
    facts = try_export_onnx(run, TEXTS, expected=known)
    assert "error" not in facts, facts.get("error")
    assert (facts["checked_on"], facts["label_margin"], facts["texts"]) == ("validation texts", 0.0, len(TEXTS))
    assert "ONNX export and check" not in capsys.readouterr().err


def test_a_failed_export_writes_nothing_and_says_why_in_one_line(untrained_classifier, tmp_path, monkeypatch, caplog):
    from bert_sentiment import onnx_export
    from bert_sentiment.onnx_export import try_export_onnx

    def unsupported(*args, **kwargs):
        raise RuntimeError("Unsupported operator: aten::strange_op\nwith a long trace")

    monkeypatch.setattr(onnx_export, "_export", unsupported)
    run = shutil.copytree(untrained_classifier, tmp_path / "run")
    with caplog.at_level(logging.WARNING, logger="bert_sentiment"):
        facts = try_export_onnx(run, TEXTS)
    assert facts == {"files": [], "error": "RuntimeError: Unsupported operator: aten::strange_op"}, "its first line"
    assert caplog.messages == [
        "No ONNX export (RuntimeError: Unsupported operator: aten::strange_op); the model works through PyTorch as "
        "before."
    ]
    assert sorted(path.name for path in run.iterdir()) == sorted(path.name for path in untrained_classifier.iterdir())


def test_recipes_are_tried_in_order_until_one_passes_and_a_hopeless_first_stops_the_search(
    untrained_classifier, tmp_path, monkeypatch, exported_once, capsys
):
    """The recipes' order and stopping rule, with each recipe's check result staged (the untrained head's real
    agreement says nothing about them): one just short is followed by the next; one more than HOPELESS_GAP short
    stops the search, and every failure is named in one message."""
    import bert_sentiment.onnx_export as onnx_export

    first, second, third = onnx_export.INT8_RECIPES
    tokenizer, model = model_of(untrained_classifier)
    tried, outcomes = [], {}

    def quantize(fp32, int8, recipe, config):
        tried.append(recipe)
        shutil.copy(fp32, int8)

    def staged_check(self, graph, margin, fp32_difference):
        agreement = outcomes[tried[-1]]
        if agreement is None:
            return OnnxCheck(len(TEXTS), fp32_difference, int8_label_agreement=1.0, int8_max_difference=0.0)
        raise OnnxMismatch(f"agrees on {agreement:.1%}", agreement)

    monkeypatch.setattr(onnx_export, "_quantize", quantize)
    monkeypatch.setattr(Reference, "int8_check", staged_check)
    out = tmp_path / "onnx"
    out.mkdir()
    just_short, at_the_gap = onnx_export.INT8_AGREEMENT - 0.01, onnx_export.INT8_AGREEMENT - onnx_export.HOPELESS_GAP

    outcomes.update({first: None, second: None, third: None})
    assert export_graphs(model, tokenizer, out, TEXTS, show_progress=True).int8_recipe == first
    steps = 2 + len(onnx_export.INT8_RECIPES)  # the fp32 export and its check, then one a recipe
    last = capsys.readouterr().err.split("\r")[-1]
    assert last.startswith("ONNX export and check: 100%|") and f"| {steps}/{steps} [" in last, f"a bar, filled: {last}"

    tried.clear()
    outcomes.update({first: just_short})
    check = export_graphs(model, tokenizer, out, TEXTS)
    assert tried == [first, second] and check.int8_recipe == second, "the next recipe after one just short"

    for agreement in (at_the_gap, just_short):
        tried.clear()
        outcomes.update({first: agreement, second: agreement, third: agreement})
        with pytest.raises(OnnxMismatch) as refused:
            export_graphs(model, tokenizer, out, TEXTS)
        assert tried == [first, second, third], f"{agreement:.1%}, at most the gap short: every recipe is tried"
        assert str(refused.value) == " / ".join(f"{recipe}: agrees on {agreement:.1%}" for recipe in tried)
    assert capsys.readouterr().err == "", "no bar unless asked for"

    tried.clear()
    outcomes.update({first: at_the_gap - 0.001})
    with pytest.raises(OnnxMismatch) as refused:
        export_graphs(model, tokenizer, out, TEXTS)
    assert tried == [first], "more than the gap short: no recipe would help"
    assert str(refused.value) == (
        f"{first}: agrees on {at_the_gap - 0.001:.1%} / the other recipes were not tried (more than 2% short)"
    )


def staged_check(expected, quantized, margin=0.0, fp32_difference=None, fp32_texts=None):
    """Reference.int8_check of an int8 graph answering `quantized` where PyTorch answered `expected` (no model)."""
    from types import SimpleNamespace

    from bert_sentiment.onnx_export import Reference

    reference = Reference.__new__(Reference)
    reference.tokenizer, reference.max_length, reference.fp32_texts = None, 128, fp32_texts
    reference.expected = np.asarray(expected, dtype=float)
    reference.texts = [f"text {i}" for i in range(len(reference.expected))]
    graph = SimpleNamespace(path=Path("model_quantized.onnx"), probabilities=lambda *a: np.asarray(quantized, float))
    return reference.int8_check(graph, margin, fp32_difference)


def test_the_int8_check_at_its_limits_the_margin_the_agreement_and_the_mean_difference():
    """Each limit at the limit and one step past it: a text decided by exactly the margin is compared; 99% agreement
    passes and 98% is refused with its figure; with no decided text, agreement is whole; a graph far off on average
    is refused with why."""
    from bert_sentiment import onnx_export
    from bert_sentiment.onnx_export import OnnxMismatch

    near_tie = [[0.4375, 0.5625]] + [[0.25, 0.75]] * 9  # decided by 0.125, then nine by 0.5 (exact in binary)
    flipped = [[0.5625, 0.4375]] + [[0.25, 0.75]] * 9
    with pytest.raises(OnnxMismatch, match=r"PyTorch's label on 90.0% of 10 texts") as refused:
        staged_check(near_tie, flipped, margin=0.125)  # decided by exactly the margin: compared
    assert refused.value.agreement == 0.9
    undecided = staged_check(near_tie, flipped, margin=0.126)
    assert undecided.int8_label_agreement == 1.0 and undecided.labels_compared == 9 and undecided.label_margin == 0.126
    none_decided = staged_check(near_tie[:1], [[0.4375, 0.5625]], margin=0.5)
    assert none_decided.int8_label_agreement == 1.0 and none_decided.labels_compared == 0
    three = [[0.0, 0.49, 0.51]], [[0.0, 0.51, 0.49]]  # decided by its top two (0.02), not by the lowest (0.49)
    assert staged_check(*three, margin=0.1).labels_compared == 0

    expected = np.tile([[0.2, 0.8]], (100, 1))
    ninety_nine = expected.copy()
    ninety_nine[0] = [0.6, 0.4]  # labels agree on 99 of 100, the mean difference stays small
    check = staged_check(expected, ninety_nine, fp32_difference=1e-6, fp32_texts=100)
    assert check.int8_label_agreement == 0.99 and check.labels_compared == 100 and check.texts == 100
    assert check.int8_max_difference == pytest.approx(0.4) and check.fp32_texts == 100
    assert staged_check(expected, ninety_nine, fp32_texts=100).fp32_texts is None, "no fp32 graph compared: no count"
    ninety_eight = ninety_nine.copy()
    ninety_eight[1] = [0.6, 0.4]
    with pytest.raises(OnnxMismatch, match=r"on 98.0% of 100 texts \(at least 99% required\)") as refused:
        staged_check(expected, ninety_eight)
    assert refused.value.agreement == 0.98

    off = np.tile([[0.1, 0.9]], (100, 1))  # same labels everywhere, 0.1 off on average
    with pytest.raises(OnnxMismatch, match=r"differ from PyTorch's by 0.100 on average \(at most 0.05 allowed\)"):
        staged_check(expected, off)
    tolerance = onnx_export.INT8_MEAN_TOLERANCE
    assert staged_check([[0.0, 0.0]], [[tolerance, tolerance]]).int8_max_difference == tolerance, "at the limit"
    past = np.nextafter(tolerance, 1.0)
    with pytest.raises(OnnxMismatch, match="on average"):
        staged_check([[0.0, 0.0]], [[past, past]])


def test_the_fp32_graph_may_differ_from_pytorch_by_exactly_the_tolerance_and_not_by_more():
    from types import SimpleNamespace

    from bert_sentiment.onnx_export import FP32_TOLERANCE, OnnxMismatch, Reference

    reference = Reference.__new__(Reference)
    reference.tokenizer, reference.max_length, reference.texts = None, 128, ["a text", "another"]
    reference.expected = np.zeros((2, 2))

    def graph_off_by(difference):
        return SimpleNamespace(path=Path("model.onnx"), probabilities=lambda *a: np.array([[difference, 0.0]] * 2))

    assert reference.fp32_difference(graph_off_by(FP32_TOLERANCE)) == FP32_TOLERANCE and reference.fp32_texts == 2
    with pytest.raises(OnnxMismatch, match=r"model.onnx differs from PyTorch by 1.00e-04 in probability"):
        reference.fp32_difference(graph_off_by(np.nextafter(FP32_TOLERANCE, 1.0)))


def test_the_portable_graph_takes_the_tokenizers_inputs_by_name_at_any_batch_and_length_and_answers_logits(
    portable, tmp_path, capsys
):
    """What transformers.js and other runtimes read the file by: its inputs' and output's names, free axes, one file.
    Exported here by the exporter itself (not export_once's copy of the session's graph): mutmut runs a test for a
    function's mutants only when the test itself called that function in its stats run."""
    import onnx

    from bert_sentiment import onnx_export
    from bert_sentiment.onnx_export import FP32_FILE

    tokenizer, model = model_of(portable)
    capsys.readouterr()
    onnx_export._export(model, tokenizer, tmp_path / FP32_FILE)
    assert capsys.readouterr().out == "", "the exporter's steps are not printed over the run's own output"
    graph = onnx.load(tmp_path / FP32_FILE, load_external_data=False).graph
    assert [tensor.name for tensor in graph.input] == ["input_ids", "attention_mask", "token_type_ids"]
    assert {tuple(axis.dim_param for axis in tensor.type.tensor_type.shape.dim) for tensor in graph.input} == {
        ("batch", "sequence")
    }
    assert [tensor.name for tensor in graph.output] == ["logits"]
    assert [path.name for path in tmp_path.iterdir()] == [FP32_FILE], "no external data beside it"


def test_feed_forward_layers_are_found_by_their_weights_shapes_in_matmul_and_gemm_nodes(tmp_path):
    """The older exporter writes a linear layer as Gemm; a config without the two sizes (another architecture's
    names) keeps no layer in fp32 and does not read the graph."""
    from types import SimpleNamespace

    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from bert_sentiment.onnx_export import _ffn_nodes

    def weight(name, shape):
        return numpy_helper.from_array(np.ones(shape, dtype=np.float32), name)

    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "up"], ["h"], name="ffn_in"),
            helper.make_node("Gemm", ["h", "down"], ["y"], name="ffn_out"),
            helper.make_node("MatMul", ["y", "square"], ["z"], name="attention"),
        ],
        "ffn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 4])],
        [weight("up", (4, 8)), weight("down", (8, 4)), weight("square", (4, 4))],
    )
    path = tmp_path / "ffn.onnx"
    onnx.save(helper.make_model(graph), str(path))
    config = SimpleNamespace(hidden_size=4, intermediate_size=8)
    assert _ffn_nodes(path, config, ("input", "output")) == ["ffn_in", "ffn_out"]
    assert _ffn_nodes(path, config, ("output",)) == ["ffn_out"] and _ffn_nodes(path, config, ()) == []
    absent = tmp_path / "never-read.onnx"
    for sizes in ({"hidden_size": 4}, {"intermediate_size": 8}, {}):
        assert _ffn_nodes(absent, SimpleNamespace(**sizes), ("input", "output")) == [], sizes


def test_while_exporting_the_last_layer_gives_the_first_tokens_output_alone_as_the_whole_layer_did(
    untrained_classifier,
):
    """What the export traces (no export here: a mutation run checks this in a second): the last layer swapped for
    one whose output has one position per text, the first, equal to the whole layer's first position on texts of
    every length padded together, so the logits do not move; the model whole again afterwards."""
    import torch

    from bert_sentiment.first_token import FirstTokenLayer
    from bert_sentiment.onnx_export import _export_first_token_only

    tokenizer, model = model_of(untrained_classifier)
    batch = dict(tokenizer(VARIED_TEXTS, padding=True, return_tensors="pt"))
    assert batch["attention_mask"].sum(dim=1).unique().numel() > 3, "the texts differ in length"
    layers = model.base_model.encoder.layer
    last = layers[-1]
    with torch.inference_mode():
        whole = model.base_model(**batch).last_hidden_state
        logits = model(**batch).logits
        with _export_first_token_only(model, batch):
            assert isinstance(layers[-1], FirstTokenLayer) and layers[-1].layer is last
            first = model.base_model(**batch).last_hidden_state
            assert first.shape == (len(VARIED_TEXTS), 1, model.config.hidden_size)
            assert torch.allclose(first[:, 0], whole[:, 0], atol=1e-4)
            assert (model(**batch).logits.softmax(-1) - logits.softmax(-1)).abs().max() <= FP32_TOLERANCE / 2
            one = dict(tokenizer(VARIED_TEXTS[-1:], return_tensors="pt"))  # no padding: no mask reaches the layer
            assert torch.allclose(model.base_model(**one).last_hidden_state[:, 0], whole[-1:, 0], atol=1e-4)
    assert layers[-1] is last


def tiny_classifier(architecture: str, tokenizer, folder: Path):
    """A random sequence classifier of `architecture`, as small as the tiny BERT (BERT's is the tiny BERT itself)."""
    import torch
    from transformers import (
        AutoModelForSequenceClassification,
        DistilBertConfig,
        DistilBertForSequenceClassification,
        ElectraConfig,
        ElectraForSequenceClassification,
        RobertaConfig,
        RobertaForSequenceClassification,
    )

    torch.manual_seed(3)
    sizes = {"vocab_size": tokenizer.vocab_size, "num_labels": 2, "max_position_embeddings": 128}
    layers = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 64}
    if architecture == "bert":
        return AutoModelForSequenceClassification.from_pretrained(folder, num_labels=2).eval()
    if architecture == "roberta":
        return RobertaForSequenceClassification(RobertaConfig(**sizes, **layers, pad_token_id=0)).eval()
    if architecture == "electra":
        return ElectraForSequenceClassification(ElectraConfig(**sizes, **layers, embedding_size=16)).eval()
    return DistilBertForSequenceClassification(
        DistilBertConfig(**sizes, dim=32, n_layers=2, n_heads=4, hidden_dim=64)
    ).eval()


def first_token_feed_forwards(path: Path, config) -> int:
    """How many feed-forward layers of the graph read one position per text instead of every token."""
    import onnx

    graph = onnx.shape_inference.infer_shapes(onnx.load(str(path))).graph
    hidden = getattr(config, "hidden_size", None) or config.dim
    intermediate = getattr(config, "intermediate_size", None) or config.hidden_dim
    up = {tensor.name for tensor in graph.initializer if tuple(tensor.dims) == (hidden, intermediate)}
    shapes = {
        info.name: [axis.dim_value or axis.dim_param for axis in info.type.tensor_type.shape.dim]
        for info in graph.value_info
    }
    feed_forwards = [node for node in graph.node if node.op_type == "MatMul" and node.input[1] in up]
    assert len(feed_forwards) == config.num_hidden_layers  # DistilBERT's config names its n_layers so too
    return sum(shapes[node.input[0]][1] == 1 for node in feed_forwards)


@pytest.mark.parametrize(
    ("architecture", "first_token_only"), [("bert", 1), ("roberta", 1), ("electra", 1), ("distilbert", 0)]
)
def test_the_graph_computes_the_last_layer_for_the_first_token_only_where_the_head_reads_nothing_else(
    architecture, first_token_only, tiny_bert, tmp_path
):
    """BERT's, RoBERTa's and ELECTRA's heads read the last layer's first token only, so the graph leaves the other
    tokens' feed-forward (and query) out of that layer: about 14% of a 6-layer MiniLM's multiply-adds. It still answers
    as PyTorch on texts of every length padded together. DistilBERT's head is not known to, so its graph stays
    whole. The PyTorch model is left as it was."""
    from transformers import AutoTokenizer

    from bert_sentiment import onnx_export

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    if architecture == "distilbert":  # as DistilBERT's own tokenizer: no token types
        tokenizer.model_input_names = ["input_ids", "attention_mask"]
    model = tiny_classifier(architecture, tokenizer, tiny_bert)
    last = (
        model.base_model.transformer.layer[-1] if architecture == "distilbert" else model.base_model.encoder.layer[-1]
    )
    before = torch_probabilities(model, tokenizer, VARIED_TEXTS, 64)
    onnx_export._export(model, tokenizer, tmp_path / "model.onnx")
    assert first_token_feed_forwards(tmp_path / "model.onnx", model.config) == first_token_only
    graph = OnnxModel(tmp_path / "model.onnx").probabilities(tokenizer, VARIED_TEXTS, 64)
    assert np.abs(graph - before).max() < FP32_TOLERANCE
    layers = model.base_model.transformer.layer if architecture == "distilbert" else model.base_model.encoder.layer
    assert layers[-1] is last and np.array_equal(torch_probabilities(model, tokenizer, VARIED_TEXTS, 64), before)


@pytest.mark.parametrize("fault", ["answers otherwise", "fails"])
def test_a_model_the_first_token_layer_does_not_fit_is_exported_whole_and_answers_alike(
    fault, untrained_classifier, tmp_path, monkeypatch
):
    """An architecture that looks like BERT but where the first-token layer answers otherwise (or cannot run) is
    exported with its last layer whole, and its graph still answers as PyTorch."""
    from bert_sentiment import first_token, onnx_export

    tokenizer, model = model_of(untrained_classifier)
    real_forward = first_token.FirstTokenLayer.forward

    def forward(self, hidden_states, *args, **kwargs):
        if fault == "fails":
            raise TypeError("an unexpected argument")
        return real_forward(self, hidden_states, *args, **kwargs) + 0.01

    monkeypatch.setattr(first_token.FirstTokenLayer, "forward", forward)
    onnx_export._export(model, tokenizer, tmp_path / "model.onnx")
    assert first_token_feed_forwards(tmp_path / "model.onnx", model.config) == 0
    graph = OnnxModel(tmp_path / "model.onnx").probabilities(tokenizer, VARIED_TEXTS, 64)
    assert np.abs(graph - torch_probabilities(model, tokenizer, VARIED_TEXTS, 64)).max() < FP32_TOLERANCE
    assert type(model.base_model.encoder.layer[-1]).__name__ == "BertLayer"
