"""The app as people use it: gradio_client against the app served on loopback."""

import ast
import csv
import os
import time

import pytest

from app import load_classifier
from bert_sentiment.demo import predictions_table
from bert_sentiment.errors import UserError
from tests.conftest import call_mcp_tool, english_reviews


def test_single_prediction_has_every_label_and_sums_to_one(served):
    classifier, client, _ = served
    label, note = client.predict("the acting was superb and delightful", api_name="/predict")
    assert label["label"] == "positive"
    confidences = {c["label"]: c["confidence"] for c in label["confidences"]}
    assert set(confidences) == {"negative", "positive"}
    assert sum(confidences.values()) == pytest.approx(1.0, abs=1e-6)
    assert confidences["positive"] > 0.8, "a clear text gets a confident answer"
    assert note == ""


def test_empty_input_gets_a_friendly_message(served):
    _, client, _ = served
    _, note = client.predict("   ", api_name="/predict")
    assert note == "Type or paste a text to classify."


def test_oversized_and_odd_input_is_truncated_with_a_note(served):
    classifier, client, _ = served
    text = "the plot was horrible and dull 🙄\x00\x07 " * 200
    label, note = client.predict(text, api_name="/predict")
    assert label["label"] == "negative" and label["confidences"][0]["confidence"] > 0.8
    assert f"longer than {classifier.max_length} tokens" in note


def test_batch_returns_a_table_and_a_csv(served, tmp_path):
    from gradio_client import handle_file

    _, client, _ = served
    upload = tmp_path / "texts.csv"
    with open(upload, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(
            [["id", "review"], [1, "the cast was superb and wonderful"], [2, "the film was awful and boring"]]
        )
    table, download, note = client.predict(None, handle_file(str(upload)), api_name="/predict_batch")
    assert [row[:2] for row in table["data"]] == [
        ["the cast was superb and wonderful", "positive"],
        ["the film was awful and boring", "negative"],
    ]
    assert table["headers"] == ["text", "label", "score", "p(negative)", "p(positive)", "truncated"]
    with open(download, encoding="utf-8") as handle:
        assert len(list(csv.reader(handle))) == 3
    assert note.startswith("2 texts classified")


def test_fast_path_matches_the_stock_pipeline(trained_run):
    from transformers import pipeline

    texts = ["the music was wonderful", "the ending was dreadful and dull", "酒店很好"]
    stock = pipeline("text-classification", model=str(trained_run))(texts, top_k=None, truncation=True)
    fast = load_classifier(str(trained_run), engine="torch").predict(texts)
    for expected, got in zip(stock, fast):
        assert {e["label"]: pytest.approx(e["score"], abs=1e-5) for e in expected} == got.scores


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="No model given. Set MODEL_ID"):
        load_classifier(None)
    with pytest.raises(UserError, match="Could not load model"):
        load_classifier(str(tmp_path / "nothing-here"))


def test_the_app_serves_its_own_checked_int8_graph_built_from_the_models_file(served):
    classifier, _, _ = served
    assert classifier.engine == "onnx"
    note = classifier.engine_note
    assert note.startswith("ONNX Runtime int8 (int8 for this CPU, ") and note.endswith("from the model's own file)")


def test_concurrent_visitors_share_forward_passes(served):
    from gradio_client import Client

    classifier, _, url = served
    batches, predict = [], classifier.predict

    def slow_first_predict(texts, *args, **kwargs):  # the first pass lasts long enough for the others to queue
        batches.append(len(texts))
        if len(batches) == 1:
            time.sleep(0.5)
        return predict(texts, *args, **kwargs)

    texts = [text for text, _ in english_reviews(16, seed=5)]
    visitors = [Client(url, verbose=False) for _ in texts]  # sixteen visitors, one request each
    classifier.predict = slow_first_predict
    try:
        jobs = [visitor.submit(text, api_name="/predict") for visitor, text in zip(visitors, texts)]
        answers = [job.result(timeout=60) for job in jobs]
    finally:
        del classifier.predict
    assert max(batches) > 1 and sum(batches) == len(texts), f"batches of {batches}"
    alone = [classifier.predict([text])[0] for text in texts]
    for (label, _), single in zip(answers, alone):
        assert label["label"] == single.label, "each visitor gets the answer for their own text"
        confidences = {c["label"]: c["confidence"] for c in label["confidences"]}
        # int8 activations are scaled per batch, so a batch's company moves probabilities by ~1e-3, never labels
        assert confidences == pytest.approx(single.scores, abs=5e-3)


@pytest.fixture
def slow_passes(served, monkeypatch):
    """Every forward pass of the served model takes 50 ms more; returns the (start, end, size) of each pass."""
    classifier = served[0]
    passes, run = [], classifier._run

    def slow_run(input_ids):
        started = time.perf_counter()
        time.sleep(0.05)
        result = run(input_ids)
        passes.append((started, time.perf_counter(), len(input_ids)))
        return result

    monkeypatch.setattr(classifier, "_run", slow_run)
    return passes


def test_a_single_prediction_does_not_wait_behind_a_batch_job(served, slow_passes):
    from gradio_client import Client

    _, _, url = served
    pasted = "\n".join(text for text, _ in english_reviews(600, seed=3))
    job = Client(url, verbose=False).submit(pasted, None, api_name="/predict_batch")
    while not slow_passes:  # the job has begun
        time.sleep(0.01)
    asked = time.perf_counter()
    label, _ = Client(url, verbose=False).predict("the acting was superb and delightful", api_name="/predict")
    answered = time.perf_counter()
    assert label["label"] == "positive"
    assert not job.done(), "the visitor was answered while the batch job still ran"
    assert answered - asked < 1.5, f"the visitor waited {answered - asked:.1f} s: more than a slice or two"
    table, _, note = job.result(timeout=120)
    assert note.startswith("600 texts classified") and len(table["data"]) == 600
    ordered = sorted(slow_passes)
    assert all(earlier[1] <= later[0] for earlier, later in zip(ordered, ordered[1:])), "one forward pass at a time"


def test_a_visitor_holds_at_most_a_few_places(served, slow_passes):
    from gradio_client import Client
    from gradio_client.exceptions import ValidationError

    from bert_sentiment.admission import PLACES_PER_VISITOR

    _, _, url = served
    flooder, visitor = Client(url, verbose=False), Client(url, verbose=False)
    pasted = "\n".join(text for text, _ in english_reviews(600, seed=4))  # a few seconds each, slowed down
    held = [flooder.submit(pasted, None, api_name="/predict_batch") for _ in range(PLACES_PER_VISITOR)]
    time.sleep(0.2)  # their places are taken
    with pytest.raises(ValidationError, match=f"each visitor may hold {PLACES_PER_VISITOR}.*bert-sentiment predict"):
        flooder.predict(pasted, None, api_name="/predict_batch")
    label, _ = visitor.predict("the plot was horrible and dull", api_name="/predict")
    assert label["label"] == "negative", "another visitor is served meanwhile"
    assert all(len(job.result(timeout=120)[0]["data"]) == 600 for job in held)
    table, _, _ = flooder.predict(pasted, None, api_name="/predict_batch")
    assert len(table["data"]) == 600, "places come back once answered"


def test_requests_over_the_limits_are_refused_with_the_limit_and_the_way_out(served):
    from gradio_client.exceptions import ValidationError

    from bert_sentiment.demo import MAX_BATCH_CHARACTERS, MAX_BATCH_ROWS
    from bert_sentiment.inference import MAX_CHARACTERS

    _, client, _ = served
    with pytest.raises(ValidationError, match=f"25,000 characters; the app reads at most {MAX_CHARACTERS:,} per text"):
        client.predict("a" * 25_000, api_name="/predict")
    with pytest.raises(ValidationError, match=f"at most {MAX_CHARACTERS:,} per text"):
        client.predict("b" * 25_000, api_name="/explain")
    many = "\n".join(["fine"] * (MAX_BATCH_ROWS + 1))
    with pytest.raises(
        ValidationError, match=f"5,001 texts is more than the {MAX_BATCH_ROWS:,}.*bert-sentiment predict"
    ):
        client.predict(many, None, api_name="/predict_batch")
    long_lines = "\n".join(["x" * 9_000] * 120)
    with pytest.raises(ValidationError, match=f"is more than the {MAX_BATCH_CHARACTERS:,} one request may hold"):
        client.predict(long_lines, None, api_name="/predict_batch")


def test_uploads_over_the_size_limit_are_refused(served, tmp_path):
    from gradio_client import handle_file

    _, client, _ = served
    big = tmp_path / "big.txt"
    big.write_text("a fine film\n" * 500_000)  # 6 MB
    with pytest.raises(Exception, match="(?i)file.*(too large|size|exceed)"):
        client.predict(None, handle_file(str(big)), api_name="/predict_batch")


def test_the_queue_cannot_be_skipped_by_a_direct_post(served):
    import httpx

    _, _, url = served
    reply = httpx.post(f"{url.rstrip('/')}/gradio_api/api/predict", json={"data": ["a fine film"]})
    assert reply.status_code == 404 and "join the queue" in reply.text


def test_the_page_and_the_api_say_the_limits(served):
    _, client, url = served
    import httpx

    page = httpx.get(f"{url.rstrip('/')}/config").json()
    shown = " ".join(str(c.get("props", {}).get("value", "")) for c in page["components"])
    assert "Limits: 20,000 characters per text" in shown and "bert-sentiment predict --model" in shown
    described = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert "5,000 texts" in described["/predict_batch"]["description"]


def test_the_batch_reply_shows_texts_cut_and_the_csv_holds_them_whole(served):
    from bert_sentiment.app import SHOWN_CHARACTERS

    _, client, _ = served
    long_text = "the film was wonderful and superb " * 40
    table, download, _ = client.predict(long_text + "\nthe film was awful", None, api_name="/predict_batch")
    shown = table["data"][0][0]
    assert len(shown) == SHOWN_CHARACTERS and shown.endswith("…")
    with open(download, encoding="utf-8") as handle:
        assert list(csv.reader(handle))[1][0] == long_text.strip()


def test_old_result_files_are_deleted(tmp_path, monkeypatch):
    import os

    from bert_sentiment.app import Outbox

    outbox = Outbox()
    old = outbox.new_file("predictions.csv")
    old.write_text("text,label\n")
    os.utime(old.parent, (time.time() - 120, time.time() - 120))
    fresh = outbox.new_file("predictions.csv")
    assert not old.exists() and fresh.parent.is_dir()


def test_uploads_and_results_leave_the_disk(trained_run, tmp_path):
    """The app's own copies (uploads, result files) are deleted once older than the cleanup age."""
    from gradio_client import Client, handle_file

    from app import build_demo, load_classifier

    demo = build_demo(load_classifier(str(trained_run), engine="torch"), cache_cleanup=(1, 1))
    demo.launch(server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True)
    try:
        upload = tmp_path / "texts.txt"
        upload.write_text("a fine film\nan awful film\n")
        Client(demo.local_url, verbose=False).predict(None, handle_file(str(upload)), api_name="/predict_batch")
        kept = {path for files in demo.temp_file_sets for path in files}
        assert kept, "gradio keeps the upload and the result file for a while"
        time.sleep(3)
        assert not [path for path in kept if os.path.exists(path)]
    finally:
        demo.close()


def test_prediction_is_an_mcp_tool(served):
    """A real MCP client on loopback: list the tools, call one, read the label names and probabilities."""
    _, _, url = served
    tools, result = call_mcp_tool(url, "classify_sentiment", {"text": "the acting was superb and delightful"})
    tool = tools["classify_sentiment"]
    assert tool.description.startswith("Classify the sentiment of a text")
    assert (
        list(tool.inputSchema["properties"]) == ["text"] and tool.inputSchema["properties"]["text"]["type"] == "string"
    )
    assert "classify_texts" in tools
    assert not result.isError
    answer, note = ast.literal_eval(result.content[0].text)  # gradio writes the outputs' Python form
    assert answer["label"] == "positive"
    confidences = {c["label"]: c["confidence"] for c in answer["confidences"]}
    assert set(confidences) == {"negative", "positive"} and sum(confidences.values()) == pytest.approx(1.0, abs=1e-6)
    assert confidences["positive"] > 0.8 and note == ""


@pytest.mark.parametrize(
    "raw, cleaned",
    [
        ("great\x00film\x07!", "great film !"),
        ("line one\nline two\tend", "line one\nline two\tend"),
        ("\x1b[31mred\x1b[0m", "[31mred [0m"),
        ("  padded \r\n", "padded"),
        ("emoji 🙄 stay", "emoji 🙄 stay"),
        (None, ""),
        (42, "42"),
    ],
)
def test_control_characters_become_spaces_and_text_survives(raw, cleaned):
    from bert_sentiment.inference import clean_text

    assert clean_text(raw) == cleaned


def test_oversized_input_is_bounded_before_tokenizing():
    from bert_sentiment.inference import MAX_CHARACTERS, clean_text

    assert len(clean_text("a" * (MAX_CHARACTERS + 5000))) == MAX_CHARACTERS


@pytest.mark.parametrize(
    "forwarded, peer, session, who",
    [
        ("203.0.113.7, 10.0.0.2", "10.0.0.9", "abc", "203.0.113.7"),  # behind a Space's proxy: the visitor's address
        (None, "198.51.100.4", "abc", "198.51.100.4"),
        (None, "127.0.0.1", "abc", "session abc"),  # a share link's tunnel or a local script: one per session
        (None, "127.0.0.1", None, "loopback without a session"),  # /call without a session: one pool for all
    ],
)
def test_a_visitor_is_known_by_address_then_session(forwarded, peer, session, who):
    from types import SimpleNamespace

    from bert_sentiment.admission import visitor

    request = SimpleNamespace(
        headers={"x-forwarded-for": forwarded} if forwarded else {}, client=SimpleNamespace(host=peer)
    )
    assert visitor(request, session) == who


def test_every_control_character_and_only_those_becomes_a_space():
    import unicodedata

    from bert_sentiment.inference import clean_text

    every = "".join(chr(code) for code in range(0x2FF))
    expected = "".join(" " if unicodedata.category(c) == "Cc" and c not in "\n\t" else c for c in every).strip()
    assert clean_text(every) == expected


def test_below_the_models_threshold_the_page_and_the_api_say_not_sure(served, monkeypatch):
    classifier, client, _ = served
    texts = ["the plot was horrible and dull 3", "the acting was superb and delightful 4"]
    scores = [p.score for p in classifier.predict(texts)]
    monkeypatch.setattr(classifier, "abstain_threshold", (min(scores) + max(scores)) / 2)  # one above, one below
    answers = [client.predict(text, api_name="/predict") for text in texts]
    unsure, sure = sorted(answers, key=lambda answer: answer[0]["label"] != "not sure")
    assert unsure[0]["label"] == "not sure" and len(unsure[0]["confidences"]) == len(classifier.labels)
    assert unsure[1].startswith("Not sure: the most likely label, ") and "has probability" in unsure[1]
    assert sure[0]["label"] in classifier.labels and sure[1] == ""
    rows = predictions_table(texts, classifier.predict(texts), classifier.labels)
    assert sorted(row[1] for row in rows)[-1] == "not sure", "the batch table says it too"


def test_a_text_of_exactly_the_limit_is_admitted_and_one_character_more_is_refused():
    from bert_sentiment.app import text_refusal
    from bert_sentiment.inference import MAX_CHARACTERS

    assert text_refusal(["a" * MAX_CHARACTERS]) is None
    refusal = text_refusal(["a" * (MAX_CHARACTERS + 1)])
    assert refusal.startswith(
        f"This text has {MAX_CHARACTERS + 1:,} characters; the app reads at most {MAX_CHARACTERS:,}"
    )
    assert text_refusal([None]) is None and text_refusal([]) is None


# The endpoints as functions, on the tiny BERT with a random head: what each visitor gets back, with no training.


@pytest.fixture
def engine(untrained_engine):
    return untrained_engine


def test_each_visitor_in_a_shared_pass_gets_their_own_answer_and_empty_ones_a_prompt(engine):
    from bert_sentiment.app import classify_many_at_once

    texts = ["the acting was superb 1", "", "the plot was horrible and dull 2", "  \x00 ", "dull", "the film " * 90]
    answers = classify_many_at_once(engine, texts)
    assert len(answers) == len(texts)
    for text, (scores, note) in zip(texts, answers):
        if not text.strip(" \x00"):
            assert (scores, note) == ({}, "Type or paste a text to classify.")
            continue
        alone = engine(text)
        assert scores == pytest.approx(alone.scores, abs=1e-4), "each visitor's own answer, not a neighbour's"
        assert note == (
            ""
            if not alone.truncated
            else "This text is longer than 128 tokens: only its beginning was read, as in the model's evaluation."
        )
    assert answers[-1][1].startswith("This text is longer than 128 tokens")
    assert classify_many_at_once(engine, ["", " "]) == [({}, "Type or paste a text to classify.")] * 2


def test_not_sure_says_the_label_its_probability_and_the_threshold(engine, monkeypatch):
    from bert_sentiment.app import classify_many_at_once

    texts = sorted(["the acting was superb 1", "the plot was horrible and dull 2"], key=lambda text: engine(text).score)
    low, high = engine(texts)
    monkeypatch.setattr(engine, "abstain_threshold", (low.score + high.score) / 2)
    (shown, note), sure = classify_many_at_once(engine, texts)
    assert shown == {"label": "not sure", "confidences": pytest.approx(low.scores)}
    assert note == (
        f"Not sure: the most likely label, {low.label}, has probability {low.score:.1%}, under "
        f"{engine.abstain_threshold:.1%}."
    )
    assert sure == (pytest.approx(high.scores), "")
    monkeypatch.setattr(engine.model.config, "abstain_precision", 0.95, raising=False)
    alone = engine(texts[0])  # read alone, unpadded: its probability may differ from the pair's in the last digit
    assert classify_many_at_once(engine, texts[:1])[0][1] == (
        f"Not sure: the most likely label, {alone.label}, has probability {alone.score:.1%}, under "
        f"{engine.abstain_threshold:.1%}, the confidence at which its answers were right 95% of the time on validation."
    )


def test_a_cut_text_says_which_part_was_read(engine, monkeypatch):
    from bert_sentiment.app import truncation_note
    from bert_sentiment.inference import Prediction

    cut, whole = (
        Prediction({"negative": 0.5, "positive": 0.5}, True),
        Prediction({"negative": 0.5, "positive": 0.5}, False),
    )
    assert truncation_note(engine, whole) == ""
    assert truncation_note(engine, cut) == (
        "This text is longer than 128 tokens: only its beginning was read, as in the model's evaluation."
    )
    monkeypatch.setattr(engine, "long_text", "head_tail")
    assert truncation_note(engine, cut) == (
        "This text is longer than 128 tokens: its beginning and end were read, as in the model's evaluation."
    )


def test_the_batch_endpoint_returns_the_table_the_whole_csv_and_a_count(engine, tmp_path):
    from bert_sentiment.app import SHOWN_CHARACTERS, Outbox, classify_batch

    long_text = "the film " * 200
    told, outbox = [], Outbox()  # kept, as the app keeps its own: its folder goes with it
    rows, download, note = classify_batch(
        engine, f"great\n\n{long_text}\ndull\n", None, lambda share, desc: told.append((share, desc)), outbox
    )
    assert [row[0] for row in rows] == ["great", long_text.strip()[: SHOWN_CHARACTERS - 1] + "…", "dull"]
    assert note == "3 texts classified. 1 were longer than 128 tokens and were cut."
    with open(download, encoding="utf-8", newline="") as handle:
        saved = list(csv.reader(handle))
    assert saved[2][0] == long_text.strip(), "the CSV holds each text whole"
    assert [row[1] for row in saved[1:]] == [row[1] for row in rows]
    assert told and told[-1] == (1.0, "3/3")
    assert classify_batch(engine, "\n \n", None, lambda *a: None, Outbox()) == (
        [],
        None,
        "Paste one text per line, or upload a .txt or .csv file.",
    )


def test_an_oversized_batch_is_refused_as_a_page_error_with_the_way_out(engine):
    import gradio as gr

    from bert_sentiment.app import Outbox, classify_batch
    from bert_sentiment.demo import MAX_BATCH_ROWS

    with pytest.raises(gr.Error) as refused:
        classify_batch(engine, "x\n" * (MAX_BATCH_ROWS + 1), None, lambda *a: None, Outbox())
    assert "5,001 texts is more than the 5,000 one request may hold" in str(refused.value)
    assert "bert-sentiment predict" in str(refused.value)


def test_the_explanation_note_names_the_label_the_words_and_the_method(engine):
    from bert_sentiment.app import explanation_endpoint

    explain_sentiment = explanation_endpoint(engine)
    assert explain_sentiment("  ") == ([], "Type or paste a text to explain.")
    pieces, note = explain_sentiment("the unbelievable film was dull")
    expected = engine.explain("the unbelievable film was dull")
    assert pieces == expected.highlighted()
    toward = ", ".join(f"**{word}**" for word, _ in expected.top(3)) or "none"
    against = ", ".join(f"**{word}**" for word, _ in expected.against(3)) or "none"
    assert note == (
        f"**{expected.label}** ({expected.probability:.1%}). Words that pushed toward it (red): {toward}; against "
        f"it (purple): {against}. Method: how much the label's probability falls when the word is deleted."
    )
    _, long_note = explain_sentiment("the film was dull " * 60)
    long = engine.explain("the film was dull " * 60)
    assert long_note.endswith(
        f" This text is long: runs of {long.run_length} neighbouring words were scored together. Only its first "
        f"{len(long.words)} words were explained."
    )


def test_the_limits_are_said_with_the_command_for_bigger_jobs():
    from bert_sentiment.app import limits_text

    assert limits_text("alice/sst2-bert") == (
        "Limits: 20,000 characters per text; a batch request holds at most 5,000 texts and 1,000,000 characters, an "
        "uploaded file at most 4MB; each visitor may have 4 requests waiting or running. Bigger jobs run on your own "
        "machine: `bert-sentiment predict --model alice/sst2-bert --input reviews.csv --output predictions.csv`."
    )


# The app's wiring without a trained run: its command line, its start-up, and the page built on the untrained engine.


def test_the_command_line_reads_the_spaces_settings_and_listens_on_every_interface_only_in_a_space(monkeypatch):
    from bert_sentiment.app import parse_args

    for name in ("MODEL_ID", "MODEL_REVISION", "ENGINE", "SPACE_ID", "GRADIO_SERVER_NAME", "GRADIO_SERVER_PORT"):
        monkeypatch.delenv(name, raising=False)
    args = parse_args([])
    assert (args.model, args.revision, args.engine, args.no_quantize, args.share) == (None, None, "onnx", False, False)
    assert (args.host, args.port) == ("127.0.0.1", 7860), "locally, only this machine"
    monkeypatch.setenv("MODEL_ID", "alice/sst2-bert")
    monkeypatch.setenv("MODEL_REVISION", "a" * 40)
    monkeypatch.setenv("ENGINE", "torch")
    monkeypatch.setenv("SPACE_ID", "alice/sst2-demo")
    monkeypatch.setenv("GRADIO_SERVER_PORT", "7861")
    args = parse_args([])
    assert (args.model, args.revision, args.engine) == ("alice/sst2-bert", "a" * 40, "torch")
    assert (args.host, args.port) == ("0.0.0.0", 7861), "in a Space, every interface"
    monkeypatch.setenv("GRADIO_SERVER_NAME", "10.0.0.1")
    assert parse_args([]).host == "10.0.0.1", "gradio's own setting wins, in a Space or not"
    monkeypatch.setenv("MODEL_REVISION", "")
    args = parse_args(["--model", "out", "--no_quantize", "--share", "--host", "10.0.0.2"])
    assert (args.model, args.revision, args.no_quantize, args.share, args.host) == ("out", None, True, True, "10.0.0.2")
    with pytest.raises(SystemExit):
        parse_args(["--engine", "tensorrt"])


@pytest.mark.parametrize(("space", "shared"), [(None, True), ("alice/sst2-demo", False)])
def test_serving_passes_the_flags_to_the_engine_and_never_shares_a_link_from_a_space(monkeypatch, space, shared):
    from bert_sentiment import app

    loaded, launched = [], []

    class Demo:
        def launch(self, **options):
            launched.append(options)

    def load_classifier(model, **options):
        loaded.append((model, options))
        return "the engine"

    monkeypatch.setattr(app, "load_classifier", load_classifier)
    monkeypatch.setattr(app, "build_demo", lambda classifier: Demo() if classifier == "the engine" else None)
    if space:
        monkeypatch.setenv("SPACE_ID", space)
    else:
        monkeypatch.delenv("SPACE_ID", raising=False)
    argv = ["--model", "out", "--engine", "torch", "--no_quantize", "--revision", "abc", "--share", "--port", "9000"]
    assert app.serve(argv + ["--host", "127.0.0.2"]) == 0
    assert loaded == [("out", {"engine": "torch", "quantize": False, "revision": "abc"})]
    assert launched == [{"server_name": "127.0.0.2", "server_port": 9000, "share": shared}]


@pytest.fixture
def served_page():
    """`with served_page(demo) as client:` serves the page on loopback and gives a gradio_client.Client of it. The
    server starts inside the test, not in a fixture: mutmut orders a mutant's tests by their call time alone, and a
    fixture's seconds would make this test look fast, so that it ran first for every mutant it reaches."""
    import contextlib

    from gradio_client import Client

    @contextlib.contextmanager
    def serve(demo):
        demo.launch(server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True)
        try:
            yield Client(demo.local_url, verbose=False)
        finally:
            demo.close()

    return serve


def test_the_served_page_answers_what_the_engine_answers_names_the_model_and_its_limits_and_queues_visitors(
    served_page, untrained_engine
):
    from bert_sentiment.app import JOBS_AT_ONCE, MAX_BATCH, QUEUE_SIZE, build_demo, limits_text

    demo = build_demo(untrained_engine)
    with served_page(demo) as client:
        texts = [text for text, _ in english_reviews(3, seed=11)]
        for text in texts:
            label, note = client.predict(text, api_name="/predict")
            alone = untrained_engine(text)
            assert label["label"] == alone.answer and note == ""
            confidences = {c["label"]: c["confidence"] for c in label["confidences"]}
            assert confidences == pytest.approx(alone.scores, abs=1e-5)
        table, _, note = client.predict("\n".join(texts), None, api_name="/predict_batch")
        assert [row[1] for row in table["data"]] == [prediction.answer for prediction in untrained_engine(texts)]
        assert note.startswith("3 texts classified")
        words, why = client.predict(texts[0], api_name="/explain")
        assert words and why.startswith(f"**{untrained_engine(texts[0]).answer}**")
        named_endpoints = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])

    shown = [block.value for block in demo.blocks.values() if type(block).__name__ == "Markdown"]
    model = untrained_engine.model_id
    assert f"# Sentiment classifier\n`{model}` answers: negative, positive" in shown
    assert limits_text(model) in shown
    assert demo.title == f"Sentiment: {model}"
    assert demo._queue.max_size == QUEUE_SIZE and demo.api_open is False, "no way around the queue"
    endpoints = {f"/{fn.api_name}": fn for fn in demo.fns.values() if fn.api_visibility == "public"}
    assert set(endpoints) == named_endpoints
    assert {"/predict", "/explain", "/predict_batch"} <= set(endpoints)
    assert endpoints["/predict"].batch and endpoints["/predict"].max_batch_size == MAX_BATCH
    assert endpoints["/predict_batch"].concurrency_limit == JOBS_AT_ONCE
    assert all(
        limits_text(model) in endpoints[name].api_description for name in ("/predict", "/explain", "/predict_batch")
    )


SHOWN_PROPS = (
    "label", "value", "placeholder", "lines", "max_length", "variant", "file_types", "type", "headers", "wrap",
    "open", "show_legend", "num_top_classes", "examples",
)  # fmt: skip
EVENT_SETTINGS = ("batch", "max_batch_size", "concurrency_id", "concurrency_limit", "show_progress")


def page_outline(demo) -> str:
    """The page as a visitor meets it, in words: each block in order with what it shows, each event with what it
    runs and how visitors share it, the queue, and each endpoint's API description."""
    names = {}

    def name(block) -> str:
        shown = getattr(block, "label", None) or getattr(block, "value", None)
        return names.setdefault(block._id, f"{type(block).__name__} '{shown}'" if shown else type(block).__name__)

    lines = [f"# {demo.title}", "", "## Layout", ""]

    def walk(block, depth: int) -> None:
        props = {prop: getattr(block, prop) for prop in SHOWN_PROPS if getattr(block, prop, None) not in (None, "")}
        if type(block).__name__ == "Markdown":
            props = {"value": props.get("value", "")}
        shown = ", ".join(f"{prop}={value!r}" for prop, value in props.items())
        lines.append(f"{'  ' * depth}- {type(block).__name__}{f' ({shown})' if shown else ''}")
        for child in getattr(block, "children", []):
            walk(child, depth + 1)

    for child in demo.children:
        walk(child, 0)
    lines += ["", "## Events", ""]
    for fn in demo.fns.values():
        if fn.name in ("load_example", "<lambda>") or fn.fn is None:
            continue  # gradio's own (the examples' loader)
        triggers = ", ".join(f"{name(demo.blocks[target])}.{event}" for target, event in fn.targets)
        api = f"api /{fn.api_name}" if fn.api_visibility == "public" else f"api {fn.api_visibility}"
        settings = ", ".join([api, *(f"{setting}={getattr(fn, setting)!r}" for setting in EVENT_SETTINGS)])
        lines.append(
            f"- {triggers} -> {fn.name}({', '.join(name(block) for block in fn.inputs)}) -> "
            f"{', '.join(name(block) for block in fn.outputs)}: {settings}"
        )
        if fn.api_description:
            lines.append(f"  - API description: {fn.api_description}")
    queue = demo._queue
    lines += [
        "",
        "## Queue",
        "",
        f"- at most {queue.max_size} waiting; {queue.default_concurrency_limit} at once unless an event says more; "
        f"api_open={demo.api_open}; delete_cache={demo.delete_cache}",
    ]
    return "\n".join(lines) + "\n"


def test_the_page_matches_its_reviewed_golden_file(untrained_engine):
    """Every label, button, box size, event and sharing setting of the page, and each endpoint's API description:
    a change fails here as a diff to review. After a deliberate change: UPDATE_GOLDEN=1 python -m pytest
    tests/test_app.py -k golden."""
    import difflib
    from pathlib import Path

    from bert_sentiment.app import build_demo

    text = page_outline(build_demo(untrained_engine)).replace(untrained_engine.model_id, "MODEL")
    golden = Path(__file__).parent / "golden" / "app_page.md"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_text(text, encoding="utf-8")
    expected = golden.read_text(encoding="utf-8")
    diff = "\n".join(difflib.unified_diff(expected.splitlines(), text.splitlines(), "golden", "now", lineterm=""))
    assert text == expected, f"The page changed; review the diff, then UPDATE_GOLDEN=1 if it is meant:\n{diff[:6000]}"


def test_the_command_lines_help_matches_its_reviewed_golden_file(monkeypatch, capsys):
    """What an operator reads with `python app.py --help`. After a deliberate change: UPDATE_GOLDEN=1."""
    from pathlib import Path

    from bert_sentiment.app import parse_args

    monkeypatch.setenv("COLUMNS", "100")
    with pytest.raises(SystemExit):
        parse_args(["--help"])
    text = capsys.readouterr().out
    golden = Path(__file__).parent / "golden" / "app_help.txt"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")


def test_every_launch_of_the_page_keeps_the_upload_limit_the_session_memory_and_the_mcp_server(monkeypatch):
    import gradio as gr

    from bert_sentiment.app import MAX_UPLOAD, SESSIONS_KEPT, PublicBlocks

    launched = []
    monkeypatch.setattr(gr.Blocks, "launch", lambda self, *args, **options: launched.append((args, options)))
    page = PublicBlocks()
    page.launch(server_name="127.0.0.1", share=True)  # as serve() and a notebook launch it
    page.launch("positional", mcp_server=False, max_file_size="1mb")  # a caller's own choice is kept
    assert launched == [
        (
            (),
            {
                "max_file_size": MAX_UPLOAD,
                "state_session_capacity": SESSIONS_KEPT,
                "mcp_server": True,
                "server_name": "127.0.0.1",
                "share": True,
            },
        ),
        (("positional",), {"max_file_size": "1mb", "state_session_capacity": SESSIONS_KEPT, "mcp_server": False}),
    ]


def test_start_up_checks_the_engine_on_the_cards_examples_and_warms_it_up(monkeypatch):
    from types import SimpleNamespace

    from bert_sentiment import app

    loaded, warmed = [], []

    class Engine:
        def warm_up(self):
            warmed.append(self)

    def load(model, **options):
        loaded.append((model, options))
        return Engine()

    monkeypatch.setattr(app, "load", load)
    monkeypatch.setattr(app, "model_facts", lambda model, labels: SimpleNamespace(examples=[f"{model} is great"]))
    engine = app.load_classifier("alice/sst2-bert", engine="torch", quantize=False, revision="abc")
    assert warmed == [engine]
    assert loaded == [
        (
            "alice/sst2-bert",
            {
                "engine": "torch",
                "quantize": False,
                "revision": "abc",
                "check_texts": ["alice/sst2-bert is great"],
                "serving": True,
            },
        )
    ]
    app.load_classifier(None)  # no model: load() says what to set; no card to read first
    assert loaded[-1] == (
        None,
        {"engine": "onnx", "quantize": True, "revision": None, "check_texts": [], "serving": True},
    )


def test_not_sure_is_shown_above_the_probabilities_and_a_plain_answer_as_gradio_shows_it():
    from bert_sentiment.app import answer_label

    label = answer_label(label="Prediction", num_top_classes=2)
    unsure = label.postprocess({"label": "not sure", "confidences": {"negative": 0.45, "positive": 0.55}})
    assert unsure.label == "not sure"
    assert [(c.label, c.confidence) for c in unsure.confidences] == [("positive", 0.55), ("negative", 0.45)]
    plain = label.postprocess({"negative": 0.2, "positive": 0.8})
    assert plain.label == "positive" and [c.label for c in plain.confidences] == ["positive", "negative"]


def test_a_text_over_the_limit_is_told_the_limit_and_the_way_out():
    from bert_sentiment.app import text_refusal
    from bert_sentiment.inference import MAX_CHARACTERS

    assert text_refusal(["x" * (MAX_CHARACTERS + 5)]) == (
        "This text has 20,005 characters; the app reads at most 20,000 per text. Send its most telling part, or "
        "classify long texts on your own machine with `bert-sentiment predict`."
    )


def test_a_text_both_cut_and_unsure_gets_both_notes(engine, monkeypatch):
    from bert_sentiment.app import classify_many_at_once

    text = "the film " * 90
    monkeypatch.setattr(engine, "abstain_threshold", 1 + 1e-6)  # above any probability: this text is unsure
    ((shown, note),) = classify_many_at_once(engine, [text])
    assert shown["label"] == "not sure"
    assert note.startswith("Not sure: the most likely label") and note.endswith(
        "under 100.0%. This text is longer than 128 tokens: only its beginning was read, as in the model's evaluation."
    )


def test_the_explanation_note_says_none_where_no_word_pushed_and_how_a_long_text_was_read(engine, monkeypatch):
    from types import SimpleNamespace

    from bert_sentiment.app import explanation_endpoint

    asked = []

    def explanation(top, against, run_length, truncated):
        return SimpleNamespace(
            label="positive",
            probability=0.875,
            method="occlusion",
            run_length=run_length,
            truncated=truncated,
            words=["great", "film", "ever"],
            top=lambda n: asked.append(n) or top[:n],
            against=lambda n: asked.append(n) or against[:n],
            highlighted=lambda: [("great", 1.0)],
        )

    said = {}
    monkeypatch.setattr(engine, "explain", lambda text: said["explanation"])
    explain_sentiment = explanation_endpoint(engine)
    said["explanation"] = explanation([], [], 1, False)
    assert explain_sentiment("great film")[1] == (
        "**positive** (87.5%). Words that pushed toward it (red): none; against it (purple): none. Method: how much "
        "the label's probability falls when the word is deleted."
    )
    assert asked == [3, 3]
    words = [("a", 0.9), ("b", 0.8), ("c", 0.7), ("d", 0.6)]
    said["explanation"] = explanation(words, [], 2, True)
    assert explain_sentiment("great film")[1] == (
        "**positive** (87.5%). Words that pushed toward it (red): **a**, **b**, **c**; against it (purple): none. "
        "Method: how much the label's probability falls when the word is deleted. This text is long: runs of 2 "
        "neighbouring words were scored together. Only its first 3 words were explained."
    )


def test_an_uploaded_file_is_classified_as_a_job_into_a_csv_named_for_download(engine, tmp_path, monkeypatch):
    from bert_sentiment.app import Outbox, many_texts_endpoint

    lanes = []
    predict = engine.predict
    monkeypatch.setattr(
        engine, "predict", lambda texts, **options: lanes.append(options["lane"]) or predict(texts, **options)
    )
    upload = tmp_path / "reviews.txt"
    upload.write_text("great\ndull\n", encoding="utf-8")
    classify_texts = many_texts_endpoint(engine, Outbox())
    rows, download, note = classify_texts("", str(upload), progress=lambda *args, **kwargs: None)
    assert [row[0] for row in rows] == ["great", "dull"] and note == "2 texts classified."
    assert download.endswith("/predictions.csv") and lanes == ["job"], "in slices that let single texts through"


def test_result_files_older_than_a_minute_are_deleted_by_the_next_request(monkeypatch):
    import os as system

    from bert_sentiment import app
    from tests.conftest import set_clock

    outbox = app.Outbox()
    assert outbox.folder.name.startswith("bert-sentiment-app-"), "recognisable in the temporary folder"
    first, second = outbox.new_file("predictions.csv"), outbox.new_file("predictions.csv")
    assert first.parent != second.parent, "each request's file in a folder of its own"
    now = time.time()
    system.utime(first.parent, (now - 61, now - 61))
    system.utime(second.parent, (now - 60, now - 60))
    set_clock(monkeypatch, app, time=lambda: now)
    outbox.new_file("predictions.csv")
    assert not first.parent.exists() and second.parent.exists(), "over a minute old: gone; a minute: kept"


def test_the_result_folder_goes_with_the_app():
    import gc

    from bert_sentiment import app

    outbox = app.Outbox()
    folder, kept = outbox.folder, outbox.new_file("predictions.csv")
    kept.write_text("text,label\n", encoding="utf-8")
    del outbox
    gc.collect()
    assert not folder.exists(), "no folder left in the temporary folder for each start of the app"
