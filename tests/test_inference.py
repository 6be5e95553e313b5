"""The app's engine on its own: answers in order, each as if alone, at the reading limit and one past it.

The model is the tiny BERT with a random head (no training): these tests ask how texts are read, batched and
answered, which does not depend on what the weights learned."""

import json
import logging
import shutil
import tempfile

import numpy as np
import pytest

from bert_sentiment import inference
from bert_sentiment.errors import UserError
from bert_sentiment.inference import JOB_SLICE_TOKENS, JOB_TEXTS, MAX_CHARACTERS, Prediction, clean_text, load


@pytest.fixture
def classifier(untrained_engine):
    return untrained_engine


def with_config(source, destination, **values):
    """A copy of the model folder whose config.json also holds `values` (what a run saves beside the weights)."""
    shutil.copytree(source, destination)
    config = json.loads((destination / "config.json").read_text())
    (destination / "config.json").write_text(json.dumps(config | values))
    return destination


def recorded_passes(classifier, monkeypatch):
    """The padded shape of every forward pass the engine makes."""
    shapes = []
    run = classifier._run

    def recording(input_ids):
        shapes.append((len(input_ids), max(len(ids) for ids in input_ids)))
        return run(input_ids)

    monkeypatch.setattr(classifier, "_run", recording)
    return shapes


def test_each_answer_in_a_mixed_batch_is_that_texts_answer_alone(classifier):
    texts = ["the acting was superb and delightful 1", "", "the plot " * 60, "dull", "   ", "the plot was horrible 2"]
    together = classifier.predict(texts)
    assert len(together) == len(texts)
    assert len({round(p.scores["positive"], 3) for p in together}) >= 4, "the texts get different answers"
    for text, answer in zip(texts, together):
        alone = classifier.predict([text])[0]
        assert answer.label == alone.label and answer.truncated == alone.truncated
        assert answer.scores == pytest.approx(alone.scores, abs=1e-4)


def test_a_batch_job_answers_as_single_predictions_do(classifier):
    texts = [f"the acting was superb {i}" if i % 3 else "the plot " * (i + 1) for i in range(40)]
    singles, job = classifier.predict(texts), classifier.predict(texts, lane="job")
    for single, sliced in zip(singles, job):
        assert single.scores == pytest.approx(sliced.scores, abs=1e-4)


def test_a_job_runs_in_slices_of_bounded_padded_tokens_and_sorts_by_length(classifier, monkeypatch):
    texts = [f"the acting was superb {i}" if i % 3 else "the plot " * (i + 1) for i in range(40)]
    shapes = recorded_passes(classifier, monkeypatch)
    classifier.predict(texts, lane="job")
    assert sum(rows for rows, _ in shapes) == len(texts)
    assert all(rows * length <= JOB_SLICE_TOKENS for rows, length in shapes if rows > 1)
    lengths = [length for _, length in shapes]
    assert lengths == sorted(lengths, reverse=True), "longest first: each slice pads only to similar lengths"
    shapes.clear()
    classifier.predict(texts)
    assert [rows for rows, _ in shapes] == [32, 8], "single predictions go in batches of BATCH_SIZE"


def turns_taken(classifier, texts, **options) -> dict[str, int]:
    """The turns at the model (bert_sentiment/turns.py) one call takes, per lane."""
    before = dict(classifier.turns.served)
    classifier.predict(texts, **options)
    return {lane: classifier.turns.served[lane] - before[lane] for lane in before}


def test_a_job_takes_job_turns_to_tokenize_and_for_each_slice_and_single_texts_a_turn_per_pass(classifier):
    assert turns_taken(classifier, ["great film", "dull"]) == {"single": 1, "job": 0}, "one pass, tokenizing free"
    assert turns_taken(classifier, ["great film", "dull"], lane="job") == {"single": 0, "job": 2}, (
        "a job's tokenizing waits its turn like its passes, so a visitor's single text goes first"
    )
    assert turns_taken(classifier, [f"the film {i}" for i in range(40)]) == {"single": 2, "job": 0}, "32, then 8"


def test_a_slice_holds_one_text_when_two_would_pass_the_token_bound(classifier, monkeypatch):
    monkeypatch.setattr(inference, "JOB_SLICE_TOKENS", 20)
    texts = ["the plot " * 6, "the acting " * 6, "the music " * 6]  # 14 tokens each: two would pad to 28
    shapes = recorded_passes(classifier, monkeypatch)
    classifier.predict(texts, lane="job")
    assert shapes == [(1, 14)] * 3


def test_progress_counts_every_text_of_a_long_job_once(classifier, monkeypatch):
    monkeypatch.setattr(inference, "JOB_TEXTS", 7)
    texts = [f"the film {i}" for i in range(17)]
    told = []
    answers = classifier.predict(texts, lane="job", progress=lambda done, total: told.append((done, total)))
    assert len(answers) == 17 and {total for _, total in told} == {17}
    done = [d for d, _ in told]
    assert done == sorted(done) and done[-1] == 17, "steady progress up to every text"
    assert {7, 14} <= set(done), "each chunk of texts counts on from the ones before it"
    assert JOB_TEXTS == 256
    told.clear()
    classifier.predict([f"the film {i}" for i in range(40)], progress=lambda done, total: told.append((done, total)))
    assert told == [(32, 40), (40, 40)], "single predictions: once per batch"


def test_a_text_of_exactly_the_reading_length_is_whole_and_one_token_more_is_cut(classifier):
    word = "superb"
    assert len(classifier.tokenizer(word, add_special_tokens=False)["input_ids"]) == 1
    fits = " ".join([word] * (classifier.max_length - 2))  # [CLS] and [SEP] take two places
    assert len(classifier.tokenizer(fits)["input_ids"]) == classifier.max_length
    assert classifier(fits).truncated is False
    assert classifier(fits + " " + word).truncated is True


def test_a_text_past_the_models_limit_is_cut_without_the_tokenizers_warning(untrained_classifier, transformers_log):
    engine = load(str(untrained_classifier), engine="torch")  # fresh: a tokenizer warns once per instance
    long = " ".join(["superb"] * 300)  # past the reading length and the tokenizer's own limit (128)
    assert engine(long).truncated and engine([long, "dull"])[0].truncated
    assert not transformers_log(), "the app's log shows no warning about a sequence longer than the model's limit"


def test_long_text_modes_read_as_the_run_saved_them(untrained_classifier, tmp_path):
    words = ["superb"] * 100 + ["dull"] * 100
    text = " ".join(words)
    read = {}
    for mode in ("truncate", "head_tail", "chunks"):
        clf = load(str(with_config(untrained_classifier, tmp_path / mode, long_text=mode)), engine="torch")
        assert clf.long_text == mode
        read[mode] = clf(text)
    assert read["truncate"].truncated and read["head_tail"].truncated, "cut texts say so"
    assert not read["chunks"].truncated, "windows read every token"
    assert len({round(p.scores["positive"], 4) for p in read.values()}) == 3, "three readings, three answers"
    start = load(str(untrained_classifier), engine="torch")
    assert start(text).scores == pytest.approx(read["truncate"].scores), "with no mode saved, the start is read"
    head = " ".join(words[: start.max_length - 2])
    assert start(head).scores == pytest.approx(read["truncate"].scores, abs=1e-5), "truncate reads the start alone"
    override = load(str(tmp_path / "chunks"), engine="torch", long_text="truncate")
    assert override(text).scores == pytest.approx(read["truncate"].scores), "the caller's choice wins"


def test_a_text_of_exactly_the_character_limit_is_kept_whole_and_longer_is_cut_to_it():
    assert clean_text("a" * MAX_CHARACTERS) == "a" * MAX_CHARACTERS
    assert clean_text("a" * (MAX_CHARACTERS + 1)) == "a" * MAX_CHARACTERS
    assert clean_text(None) == "" and clean_text(12) == "12"
    assert clean_text(" a\x00b\tc\nd\x7fe\x9f ") == "a b\tc\nd e", "control characters but tab and newline"


def test_probabilities_sum_to_one_and_the_label_is_the_most_likely(classifier):
    for prediction in classifier.predict(["great", "awful", "the plot was horrible and dull 9"]):
        assert sum(prediction.scores.values()) == pytest.approx(1.0, abs=1e-6)
        assert prediction.label == max(prediction.scores, key=prediction.scores.get)
        assert prediction.sure and prediction.answer == prediction.label
        assert list(prediction.scores) == ["negative", "positive"], "every label, in the model's order"


def test_one_text_gives_one_prediction_and_a_list_gives_a_list(classifier):
    one = classifier("the film was great")
    assert isinstance(one, Prediction)
    assert classifier(("the film was great", "dull")) == classifier.predict(["the film was great", "dull"])
    assert classifier([]) == []


def test_below_the_saved_threshold_the_answer_is_not_sure_and_at_it_the_label(untrained_classifier, tmp_path):
    plain = load(str(untrained_classifier), engine="torch")
    texts = ["the film was great", "awful plot", "dull", "the acting was superb and delightful 1"]
    scores = sorted(p.score for p in plain(texts))
    threshold = scores[1]
    clf = load(str(with_config(untrained_classifier, tmp_path / "m", abstain_threshold=threshold)), engine="torch")
    assert clf.abstain_threshold == threshold
    answers = clf(texts)
    for answer in answers:
        assert answer.sure == (answer.score >= threshold)
        assert answer.answer == (answer.label if answer.sure else "not sure")
    assert [a.sure for a in sorted(answers, key=lambda a: a.score)] == [False, True, True, True], (
        "the text exactly at the threshold is answered"
    )
    assert plain.abstain_threshold is None and all(p.sure for p in plain(texts))


def test_a_prediction_reads_as_its_answer_and_every_probability():
    sure = Prediction({"negative": 0.25, "positive": 0.75}, truncated=True)
    assert repr(sure) == "Prediction('positive', negative: 0.250, positive: 0.750, truncated)"
    assert sure.score == 0.75 and sure.label == "positive"
    unsure = Prediction({"negative": 0.45, "positive": 0.55}, truncated=False, sure=False)
    assert repr(unsure) == "Prediction('not sure', negative: 0.450, positive: 0.550)"
    assert unsure.label == "positive" and unsure.answer == "not sure"


@pytest.mark.parametrize(
    "model, engine, message",
    [
        (None, "torch", "No model given. Set MODEL_ID, or pass --model your-name/sst2-bert (or a local output_dir)."),
        ("", "torch", "No model given."),
        ("m", "tensorflow", "Unknown engine 'tensorflow': use one of onnx, torch."),
    ],
)
def test_a_missing_model_or_an_unknown_engine_is_refused_in_words(model, engine, message):
    with pytest.raises(UserError) as refused:
        load(model, engine=engine)
    assert str(refused.value).startswith(message)


def test_a_folder_that_is_not_a_model_names_the_folder_and_the_fix(tmp_path):
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(UserError) as refused:
        load(str(tmp_path), engine="torch")
    first, second = str(refused.value).split("\n")
    assert first.startswith(f"Could not load model '{tmp_path}': Unrecognized model in {tmp_path}."), (
        "the library's own reason, first line"
    )
    assert second == "Check MODEL_ID/--model: a Hub id (your-name/sst2-bert) or a folder written by train.py."


def test_a_tokenizer_saved_without_a_length_limit_reads_to_the_models_position_limit(untrained_classifier, tmp_path):
    folder = tmp_path / "no-limit"
    shutil.copytree(untrained_classifier, folder)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config.pop("model_max_length")
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    unlimited = load(str(folder), engine="torch")
    assert unlimited.tokenizer.model_max_length > 10**20 and unlimited.max_length == 128
    long = unlimited("the plot " * 200)
    assert long.truncated and np.isclose(sum(long.scores.values()), 1.0), "cut to 128 tokens, not past the positions"


def test_the_engine_says_what_it_serves(untrained_classifier):
    classifier = load(str(untrained_classifier), engine="torch")  # its own: mutation runs see what it is built from
    assert classifier.engine == "torch" and classifier.engine_note == "PyTorch fp32 (engine='torch')"
    assert classifier.revision is None, "a local folder has no commit"
    assert classifier.labels == ["negative", "positive"] and classifier.max_length == 128
    assert np.isclose(sum(classifier("great").scores.values()), 1.0)


# ONNX Runtime: what serves, from which file, and what happens when a graph fails its check. The untrained model's
# graph is exported once and copied after (exported_once): the exporter's own tests are in test_onnx_export.py.


def assert_answers_like(served, reference):
    texts = ["the acting was superb and delightful", "dull", "the plot " * 40, ""]
    for ours, theirs in zip(served.predict(texts), reference.predict(texts)):
        assert ours.scores == pytest.approx(theirs.scores, abs=1e-4) and ours.truncated == theirs.truncated


def test_a_model_without_onnx_files_is_exported_at_start_and_serves_the_exported_fp32_graph(
    untrained_classifier, classifier, caplog, exported_once, monkeypatch, tmp_path
):
    caplog.set_level(logging.INFO, logger="bert_sentiment")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    served = load(str(untrained_classifier), quantize=False)
    assert served.engine == "onnx"
    assert list(tmp_path.iterdir()) == [], "the exported files are gone once their graph is loaded"
    assert served.engine_note == "ONNX Runtime fp32 (model.onnx, a file exported at start-up)"
    exported = f"{untrained_classifier} has no onnx/model.onnx: exporting it now (once per start; publish.py puts it"
    assert sum(message.startswith(exported) for message in caplog.messages) == 1, "exported once"
    assert caplog.messages[-1] == (
        f"Loaded {untrained_classifier} (labels ['negative', 'positive'], max_length 128); "
        f"serving with {served.engine_note}."
    ), "a local folder has no revision to name"
    assert_answers_like(served, classifier)


def test_a_models_own_onnx_file_serves_without_exporting(portable, classifier, caplog):
    caplog.set_level(logging.INFO, logger="bert_sentiment")
    served = load(str(portable), quantize=False, serving=True)
    assert served.engine_note == "ONNX Runtime fp32 (model.onnx, the model's own file)"
    assert not any("exporting it now" in message for message in caplog.messages)
    assert_answers_like(served, classifier)


def test_graphs_that_fail_the_check_are_dropped_and_pytorch_serves_saying_why(
    untrained_classifier, classifier, monkeypatch, caplog, exported_once
):
    from bert_sentiment import onnx_export

    monkeypatch.setattr(onnx_export, "INT8_AGREEMENT", 1.01)  # a check no graph passes
    caplog.set_level(logging.INFO, logger="bert_sentiment")
    served = load(str(untrained_classifier))
    assert served.engine == "torch"
    assert served.engine_note.startswith("PyTorch fp32 (ONNX unavailable: this machine's graph: RuntimeError: ")
    assert "; the portable graph: OnnxMismatch: per-channel int8, every linear layer: " in served.engine_note, (
        "the export's own check refused its int8 file: that failure is the reason"
    )
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert [message.split(" (")[0] for message in warnings] == [
        "Not serving this machine's graph",
        "Not serving the portable graph",
        "Serving the PyTorch model instead.",
    ]
    assert_answers_like(served, classifier)


def test_a_private_hub_model_serves_the_revision_asked_for_with_the_repos_own_onnx_file(
    portable, classifier, local_hub, tmp_path, caplog
):
    from tests.hub_server import TOKEN, repo_of_folder

    repo = repo_of_folder(portable, private=True)
    first = repo.commits[0][0]
    renamed = with_config(portable, tmp_path / "renamed", id2label={"0": "bad", "1": "good"})
    shutil.rmtree(renamed / "onnx")  # main has no graph: only the commit asked for does
    repo.commits.append(("b" * 40, repo_of_folder(renamed).commits[0][1]))  # a later push with other label names
    local_hub.state.repos[("model", "alice/sst2-bert")] = repo
    caplog.set_level(logging.INFO, logger="bert_sentiment")

    served = load("alice/sst2-bert", quantize=False, revision=first, token=TOKEN)
    assert served.labels == ["negative", "positive"] and served.revision == first, "the commit asked for"
    assert served.engine_note.endswith(", the Hub repo's file)"), "the graph of the commit asked for"
    assert caplog.messages[-1].startswith(f"Loaded alice/sst2-bert at revision {first} (labels")
    assert_answers_like(served, classifier)

    latest = load("alice/sst2-bert", engine="torch", token=TOKEN)
    assert latest.labels == ["bad", "good"] and latest.revision == "b" * 40, "main, by default, named by its commit"
    with pytest.raises(UserError) as error:
        load("alice/sst2-bert", engine="torch")  # private: not without the token
    assert str(error.value).startswith("Could not load model 'alice/sst2-bert': ")
    assert str(error.value).splitlines()[1] == (
        "The Hub has no repo by that id that this caller may read. Check the id; for a private or gated model, "
        "set HF_TOKEN to a token that can read it (in a Space: a secret named HF_TOKEN)."
    )


@pytest.fixture
def lenient_check(monkeypatch):
    """An int8 check every graph passes: the random head's int8 graphs never pass the real one (their near-ties
    flip), and these tests ask what serves once a graph passes, not whether this one would."""
    from bert_sentiment import onnx_export

    monkeypatch.setattr(onnx_export, "INT8_AGREEMENT", 0.0)
    monkeypatch.setattr(onnx_export, "INT8_MEAN_TOLERANCE", 1.0)


def test_an_int8_graph_that_passes_serves_by_the_first_recipe_and_the_log_says_how_it_agreed(
    untrained_classifier, lenient_check, exported_once, caplog
):
    caplog.set_level(logging.INFO, logger="bert_sentiment")
    served = load(str(untrained_classifier), check_texts=["the run's own validation text", "", "another"])
    assert served.engine == "onnx"
    assert served.engine_note.startswith("ONNX Runtime int8 (int8 for this CPU, every linear layer, ")
    assert served.engine_note.endswith(", from a file exported at start-up)")
    checked = [message for message in caplog.messages if message.startswith("Checked ")]
    assert len(checked) == 1 and checked[0].startswith(
        "Checked this machine's graph against PyTorch on 14 texts: labels agree on "
    ), "the caller's texts that are not empty, and the stock sentences"
    spinning = served.onnx.session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning")
    assert spinning == "1", "a notebook's engine has the cores to itself"
    direct = inference.SentimentClassifier(str(untrained_classifier))
    assert "int8 for this CPU, every linear layer" in direct.engine_note, "the class itself defaults to int8 ONNX too"
    assert direct.onnx.session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning") == "1"
    assert sum(np.isclose(sum(p.scores.values()), 1.0) for p in served.predict(["good", "bad film"])) == 2


def refusing_check(count: int, checks: list):
    """The serving check, refusing the first `count` graphs it is shown and passing the rest with made-up figures
    (labels kept on 97% of texts, largest difference 0.0123); `checks` records (file name, quantize, texts)."""
    from bert_sentiment.onnx_export import OnnxCheck, OnnxMismatch

    def check(graph, quantize, reference):
        checks.append((graph.path.name, quantize, len(reference.texts)))
        if len(checks) <= count:
            raise OnnxMismatch(f"check {len(checks)} refused")
        return OnnxCheck(len(reference.texts), None, 0.97, 0.0123)

    return check


def test_a_recipe_that_fails_is_followed_by_the_next_and_the_log_gives_the_passing_checks_figures(
    untrained_classifier, exported_once, monkeypatch, caplog
):
    checks = []
    monkeypatch.setattr(inference, "checked", refusing_check(1, checks))
    caplog.set_level(logging.INFO, logger="bert_sentiment")
    served = load(str(untrained_classifier), check_texts=["a validation text"], serving=True)
    assert served.engine_note.startswith("ONNX Runtime int8 (int8 for this CPU, feed-forward output layers ")
    assert [(quantize, texts) for _, quantize, texts in checks] == [(True, 13), (True, 13)]
    assert checks[0][0] != checks[1][0], "another recipe, another graph"
    assert (
        "Checked this machine's graph against PyTorch on 13 texts: labels agree on 97%, largest probability "
        "difference 1.2e-02."
    ) in caplog.messages
    spinning = served.onnx.session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning")
    assert spinning == "0", "the app leaves the cores to its web server between passes"


def test_fp32_serves_the_portable_file_checked_as_fp32_spinning_in_a_notebook(
    untrained_classifier, exported_once, monkeypatch
):
    """This machine's graph is an int8 one: in fp32 it would be the exported file again."""
    checks = []
    monkeypatch.setattr(inference, "checked", refusing_check(0, checks))
    served = load(str(untrained_classifier), quantize=False)
    assert served.engine_note == "ONNX Runtime fp32 (model.onnx, a file exported at start-up)"
    assert checks == [("model.onnx", False, 12)], "the fp32 file alone, checked as fp32 on the stock sentences"
    spinning = served.onnx.session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning")
    assert spinning == "1"


def test_an_fp32_graph_must_give_pytorchs_probabilities_not_only_its_labels(
    untrained_classifier, exported_once, monkeypatch
):
    from bert_sentiment import onnx_export

    monkeypatch.setattr(onnx_export, "FP32_TOLERANCE", -1.0)  # no graph is that close
    served = load(str(untrained_classifier), quantize=False)
    assert served.engine == "torch"
    assert "the portable graph: OnnxMismatch: model.onnx differs from PyTorch by " in served.engine_note
    assert "(at most -1e+00 allowed)" in served.engine_note


def test_when_every_graph_fails_each_reason_is_named_in_order_and_pytorch_serves(
    untrained_classifier, lenient_check, exported_once, monkeypatch, caplog
):
    checks = []
    monkeypatch.setattr(inference, "checked", refusing_check(4, checks))
    caplog.set_level(logging.INFO, logger="bert_sentiment")
    served = load(str(untrained_classifier))
    assert len({name for name, _, _ in checks}) == 4 and checks[-1][0] == "model_quantized.onnx", (
        "three recipes for this machine, then the portable int8 file (the export's own check passed, leniently)"
    )
    machine = "OnnxMismatch: check 1 refused / OnnxMismatch: check 2 refused / OnnxMismatch: check 3 refused"
    assert served.engine == "torch" and served.engine_note == (
        f"PyTorch fp32 (ONNX unavailable: this machine's graph: RuntimeError: {machine}; "
        "the portable graph: OnnxMismatch: check 4 refused)"
    )
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert warnings == [
        f"Not serving this machine's graph (RuntimeError: {machine}).",
        "Not serving the portable graph (OnnxMismatch: check 4 refused).",
        "Serving the PyTorch model instead.",
    ]


def test_a_hub_model_without_onnx_files_gets_them_exported_at_start(
    untrained_classifier, local_hub, caplog, exported_once
):
    from tests.hub_server import repo_of_folder

    local_hub.state.repos[("model", "alice/plain-bert")] = repo_of_folder(untrained_classifier)
    caplog.set_level(logging.INFO, logger="bert_sentiment")
    served = load("alice/plain-bert", quantize=False)
    assert served.engine_note.endswith(", a file exported at start-up)")
    assert (
        sum(message.startswith("alice/plain-bert has no onnx/model.onnx: exporting") for message in caplog.messages)
        == 1
    )


def test_a_hub_error_anywhere_in_the_chain_says_the_repo_is_hidden():
    import httpx
    from huggingface_hub.errors import RepositoryNotFoundError

    def not_found():
        return RepositoryNotFoundError("404", response=httpx.Response(404, request=httpx.Request("GET", "http://hub")))

    try:
        raise OSError("could not load") from ValueError("wrapped")
    except OSError as err:
        assert not inference._hidden_repo(err)
    try:
        try:
            raise not_found()
        except RepositoryNotFoundError:
            raise OSError("could not load")  # noqa: B904 -- implicit chaining, as libraries do
    except OSError as err:
        assert err.__cause__ is None and inference._hidden_repo(err)
    try:
        raise OSError("could not load") from ValueError("wrapped")
    except OSError as outer:
        outer.__cause__.__cause__ = not_found()
        assert inference._hidden_repo(outer), "two links down"


def test_the_engine_explains_with_the_method_asked_on_the_job_lane_within_the_models_reading_length(
    untrained_classifier, tmp_path, monkeypatch
):
    folder = tmp_path / "short"
    shutil.copytree(untrained_classifier, folder)
    tokenizer_config = json.loads((folder / "tokenizer_config.json").read_text())
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config | {"model_max_length": 12}))
    short = load(str(folder), engine="torch")
    assert short.max_length == 12
    lanes = []
    forward = short._forward
    monkeypatch.setattr(short, "_forward", lambda ids, lane="single": lanes.append(lane) or forward(ids, lane))
    explanation = short.explain("the acting was superb and the plot was dull but the music was wonderful")
    assert explanation.truncated and len(explanation.words) == 10, "12 tokens: [CLS], 10 words, [SEP]"
    assert explanation.method == "occlusion" and lanes and set(lanes) == {"job"}, "occlusion runs on the engine"
    assert short.explain("the acting was superb", method="integrated_gradients").method == "integrated_gradients"
