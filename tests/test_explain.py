"""Why this answer: word attributions that point at the words that decided, in the library, the app and MCP."""

import ast
import random

import numpy as np
import pytest

from bert_sentiment.errors import UserError
from bert_sentiment.explain import METHODS, explain, word_spans
from tests.conftest import SHARED, call_mcp_tool

SST2 = SHARED / "data/sst2"


@pytest.fixture(scope="module")
def classifier(trained_run):
    from bert_sentiment.inference import load

    return load(str(trained_run))  # ONNX Runtime int8, as the app serves


def test_words_are_what_a_reader_sees(tiny_bert):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    text = "Superbly-acted, unbelievable film!  酒店很好"
    offsets = tokenizer(text, return_offsets_mapping=True)["offset_mapping"]
    assert len(offsets) > 12, "the rare words are split into several WordPieces"
    spans, owners = word_spans(text, offsets)
    assert [text[start:end] for start, end in spans] == [
        "Superbly-acted,",
        "unbelievable",
        "film!",
        "酒",
        "店",
        "很",
        "好",
    ]
    assert owners[0] is None and owners[-1] is None, "[CLS] and [SEP] belong to no word"
    assert sorted({owner for owner in owners if owner is not None}) == list(range(len(spans)))
    mixed = "good好film"  # a word begun right after a CJK character is a word of its own
    mixed_spans, _ = word_spans(mixed, tokenizer(mixed, return_offsets_mapping=True)["offset_mapping"])
    assert [mixed[start:end] for start, end in mixed_spans] == ["good", "好", "film"]


@pytest.fixture(scope="module")
def minilm_sst2(tmp_path_factory):
    """The real MiniLM encoder fine-tuned on 2,000 SST-2 sentences for one epoch (about 40 s here), served by
    PyTorch (its int8 graph fails the agreement check after so short a training, and the export costs 26 s), with
    SST-2 dev sentences of at least 6 words."""
    import csv

    import train
    from bert_sentiment.inference import load

    out = tmp_path_factory.mktemp("minilm-sst2") / "out"
    flags = [
        "--model_name_or_path",
        SHARED / "models/all-minilm-l6-v2",
        "--train_file",
        SST2 / "train.tsv",
        "--validation_file",
        SST2 / "dev.tsv",
        "--max_train_samples",
        2000,
        "--num_train_epochs",
        1,
        "--output_dir",
        out,
        "--disable_tqdm",
        "true",
        "--find_label_issues",
        "false",
        "--export_onnx",
        "false",
    ]
    assert train.main([str(flag) for flag in flags]) == 0
    with open(SST2 / "dev.tsv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    return (
        out,
        load(str(out), engine="torch"),
        [row["sentence"].strip() for row in rows if len(row["sentence"].split()) >= 6],
    )


def deletion_drops(classifier, texts: list[str], explainer) -> tuple[float, float]:
    """(mean drop of p(label) after deleting the 3 words with the highest attribution, the same after deleting
    3 random words of the same text): the faithfulness check of bench/bench_explain.py."""
    rng = random.Random(0)
    top_drops, random_drops = [], []
    for text in texts:
        explanation = explainer(text)
        ranked = sorted(range(len(explanation.words)), key=lambda i: -explanation.words[i][1])[:3]
        chosen = rng.sample(range(len(explanation.words)), 3)
        before = classifier(explanation.text).scores[explanation.label]
        for indexes, drops in ((ranked, top_drops), (chosen, random_drops)):
            kept = " ".join(word for i, (word, _) in enumerate(explanation.words) if i not in indexes)
            drops.append(before - classifier(kept).scores[explanation.label])
    return sum(top_drops) / len(texts), sum(random_drops) / len(texts)


@pytest.mark.shared
def test_deleting_the_top_words_lowers_the_answer_more_than_deleting_random_ones(minilm_sst2):
    _, classifier, dev = minilm_sst2
    top, chance = deletion_drops(classifier, dev[:80], classifier.explain)
    assert top > 0.15 and top > 3 * chance, f"top-3 deletion drop {top:.3f} vs random {chance:.3f}"


@pytest.mark.shared
def test_integrated_gradients_beat_chance_too(minilm_sst2):
    """The gradient method offered beside occlusion. (gradient_x_input is not held to this: on this model it
    does no better than chance, as bench/README.md reports; it stays for comparison only.)"""
    _, classifier, dev = minilm_sst2
    top, chance = deletion_drops(classifier, dev[:40], lambda text: classifier.explain(text, "integrated_gradients"))
    assert top > 2 * chance, f"integrated gradients: top-3 deletion drop {top:.3f} vs random {chance:.3f}"


@pytest.mark.shared
def test_the_deciding_words_get_the_largest_share(minilm_sst2):
    _, classifier, _ = minilm_sst2
    text = "The plot is dull, but the acting is wonderful."
    explanation = classifier.explain(text)
    assert explanation.label == "positive"
    assert explanation.probability == pytest.approx(classifier(text).score, abs=1e-6), "the label the app shows"
    assert explanation.top(1)[0][0] == "wonderful." and explanation.against(1)[0][0] == "dull,"
    assert "".join(piece for piece, _ in explanation.highlighted()) == explanation.text == text
    scores = [score for _, score in explanation.highlighted() if score is not None]
    assert len(scores) == 9 and max(map(abs, scores)) == pytest.approx(1.0), "scaled by the strongest word"
    html = explanation._repr_html_()
    shown = {piece: score for piece, score in explanation.highlighted() if score is not None}
    wonderful, dull = shown["wonderful."], shown["dull,"]
    assert html.startswith("<p><b>positive</b> (0.")
    green = f'<span style="background:rgba(34,139,34,{wonderful:.2f})" title="{wonderful:+.3f}">wonderful.'
    assert green in html
    assert f'<span style="background:rgba(220,20,60,{-dull:.2f})" title="{dull:+.3f}">dull,' in html, "red"
    assert "1.00)" in html, "the strongest word in full colour"


@pytest.mark.parametrize("method", METHODS)
def test_every_method_gives_each_word_a_score(trained_run, method):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(trained_run)
    tokenizer = AutoTokenizer.from_pretrained(trained_run)
    text = "the movie was wonderful and superb story 7"
    explanation = explain(model, tokenizer, text, method)
    assert explanation.method == method and [word for word, _ in explanation.words] == text.split()
    assert any(score != 0 for _, score in explanation.words)


def test_long_texts_are_explained_on_their_start_in_runs_of_words(classifier):
    from bert_sentiment.explain import MAX_OCCLUDED

    text = "the plot was horrible and dull " * 100
    explanation = classifier.explain(text)
    assert explanation.truncated and text.startswith(explanation.text)
    assert len(classifier.tokenizer(explanation.text)["input_ids"]) <= classifier.max_length
    words = len(explanation.words)
    assert explanation.run_length == -(-words // MAX_OCCLUDED) > 1, "at most MAX_OCCLUDED deletions per request"
    run = [score for _, score in explanation.words[: explanation.run_length]]
    assert run == [run[0]] * len(run), "a run's words share its score (one token each here)"
    short = classifier.explain("the plot was horrible and dull")
    assert not short.truncated and short.run_length == 1


def test_bad_requests_are_refused_with_the_fix(classifier):
    with pytest.raises(UserError, match="no text to explain"):
        classifier.explain(" \x00 ")
    with pytest.raises(
        UserError, match="Unknown explanation method 'shap': use one of occlusion, integrated_gradients"
    ):
        classifier.explain("a fine film", method="shap")


def test_the_app_explains_over_http(served):
    classifier, client, _ = served
    text = "the movie was wonderful and superb story 7"
    pieces, note = client.predict(text, api_name="/explain")
    expected = classifier.explain(text)
    assert [(piece["token"], piece["class_or_confidence"]) for piece in pieces] == expected.highlighted()
    assert "".join(piece["token"] for piece in pieces) == text
    assert note.startswith(f"**{expected.label}** ({expected.probability:.1%})")
    assert "Method: how much the label's probability falls" in note
    assert client.predict("   ", api_name="/explain") == ([], "Type or paste a text to explain.")
    long_text = "the plot was horrible and dull " * 100
    _, long_note = client.predict(long_text, api_name="/explain")
    expected = classifier.explain(long_text)
    assert long_note.endswith(
        f"This text is long: runs of {expected.run_length} neighbouring words were scored "
        f"together. Only its first {len(expected.words)} words were explained."
    )


def test_the_explanation_is_an_mcp_tool(served):
    _, _, url = served
    tools, result = call_mcp_tool(url, "explain_sentiment", {"text": "the acting was superb and delightful"})
    assert tools["explain_sentiment"].description.startswith("Explain a sentiment prediction")
    assert not result.isError
    pieces, note = ast.literal_eval(result.content[0].text)
    assert "".join(piece["token"] for piece in pieces) == "the acting was superb and delightful"
    assert note.startswith("**positive**")


class Stub:
    """What explain() asks of a model when a forward function runs its passes: eval() and the label names."""

    config = type("Config", (), {"id2label": {0: "negative", 1: "positive"}})()

    def eval(self):
        return self


def known_forward(tokenizer, effects: dict[str, float]):
    """p(positive) = 0.5 + the effect of each word of `effects` whose WordPieces are all in the text: an occlusion
    of a word must score exactly its effect, however many pieces the tokenizer cut it into."""
    pieces = {word: tokenizer(word, add_special_tokens=False)["input_ids"] for word in effects}

    def forward(rows):
        probabilities = []
        for row in rows:
            positive = 0.5 + sum(
                effect for word, effect in effects.items() if all(piece in row for piece in pieces[word])
            )
            probabilities.append([1 - positive, positive])
        return np.array(probabilities)

    return forward, pieces


def test_occlusion_scores_a_word_by_its_effect_whatever_its_number_of_pieces(tiny_bert):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    forward, pieces = known_forward(tokenizer, {"unbelievable": 0.3, "dull": -0.2})
    assert len(pieces["unbelievable"]) > 1 and len(pieces["dull"]) == 1
    explanation = explain(Stub(), tokenizer, "the unbelievable film was dull", forward=forward)
    assert explanation.label == "positive" and explanation.probability == pytest.approx(0.6)
    assert [word for word, _ in explanation.words] == ["the", "unbelievable", "film", "was", "dull"]
    assert [score for _, score in explanation.words] == pytest.approx([0, 0.3, 0, 0, -0.2])
    assert explanation.top() == [("unbelievable", pytest.approx(0.3))]
    assert explanation.against() == [("dull", pytest.approx(-0.2))]


def test_a_long_text_is_occluded_in_runs_that_share_their_drop(tiny_bert):
    from transformers import AutoTokenizer

    from bert_sentiment.explain import MAX_OCCLUDED

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    forward, _ = known_forward(tokenizer, {"dull": -0.3})
    words = ["film"] * 40 + ["dull"] + ["film"] * 29  # 70 words: runs of 3
    explanation = explain(Stub(), tokenizer, " ".join(words), forward=forward)
    assert explanation.run_length == 3 == -(-70 // MAX_OCCLUDED)
    scores = [score for _, score in explanation.words]
    assert explanation.label == "negative" and explanation.probability == pytest.approx(0.8)
    assert scores[39:42] == pytest.approx([0.1] * 3) and sum(scores) == pytest.approx(0.3), (
        "dull's run (words 39-41) shares dull's push toward negative; no other run moves the answer"
    )


def test_a_text_past_the_limit_is_explained_on_its_start_and_says_so(tiny_bert):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    forward, _ = known_forward(tokenizer, {})
    exactly = " ".join(["film"] * 8)  # 8 tokens and [CLS], [SEP]
    whole = explain(Stub(), tokenizer, exactly, forward=forward, max_tokens=10)
    assert not whole.truncated and whole.text == exactly and len(whole.words) == 8
    cut = explain(Stub(), tokenizer, exactly + " plot", forward=forward, max_tokens=10)
    assert cut.truncated and cut.text == exactly and len(cut.words) == 8


def test_the_highlighted_text_is_the_whole_text_with_scores_scaled_to_the_strongest():
    from bert_sentiment.explain import Explanation

    text = "  great, but dull  "
    explanation = Explanation(
        text=text,
        label="positive",
        probability=0.7,
        words=[("great,", 0.4), ("but", 0.0), ("dull", -0.2)],
        spans=[(2, 8), (9, 12), (13, 17)],
        method="occlusion",
        truncated=False,
    )
    pieces = explanation.highlighted()
    assert "".join(piece for piece, _ in pieces) == text
    assert pieces == [
        ("  ", None),
        ("great,", 1.0),
        (" ", None),
        ("but", 0.0),
        (" ", None),
        ("dull", -0.5),
        ("  ", None),
    ]
    assert repr(explanation) == "Explanation('positive' 0.700, toward it: 'great,' +0.400)"
    many = Explanation("a b c d", "positive", 0.9, [("a", 0.1), ("b", 0.4), ("c", 0.2), ("d", 0.3)], [], "occlusion",
                       False)  # fmt: skip
    assert repr(many) == "Explanation('positive' 0.900, toward it: 'b' +0.400, 'd' +0.300, 'c' +0.200)"
    html = explanation._repr_html_()
    assert html == (
        "<p><b>positive</b> (0.700): "
        '  <span style="background:rgba(34,139,34,1.00)" title="+1.000">great,</span> '
        "but "
        '<span style="background:rgba(220,20,60,0.50)" title="-0.500">dull</span>  </p>'
    )
    assert html.startswith("<p><b>positive</b> (0.700): ")
    assert '<span style="background:rgba(34,139,34,1.00)" title="+1.000">great,</span>' in html
    assert '<span style="background:rgba(220,20,60,0.50)" title="-0.500">dull</span>' in html
    silent = Explanation(text="ok", label="negative", probability=0.5, words=[("ok", 0.0)], spans=[(0, 2)],
                         method="occlusion", truncated=False)  # fmt: skip
    assert silent.highlighted() == [("ok", 0.0)] and silent.top() == [] and silent.against() == []
    escaped = Explanation(text="<b>", label="a&b", probability=0.5, words=[("<b>", 0.1)], spans=[(0, 3)],
                          method="occlusion", truncated=False)._repr_html_()  # fmt: skip
    assert "<b>a&amp;b</b>" in escaped and "&lt;b&gt;</span>" in escaped


def test_top_and_against_take_the_strongest_k_in_order():
    from bert_sentiment.explain import Explanation

    words = [("a", 0.1), ("b", 0.5), ("c", -0.4), ("d", 0.3), ("e", -0.1), ("f", 0.2)]
    explanation = Explanation("a b c d e f", "positive", 0.9, words, [], "occlusion", False)
    assert explanation.top(2) == [("b", 0.5), ("d", 0.3)] and len(explanation.top()) == 3
    assert explanation.against(5) == [("c", -0.4), ("e", -0.1)]
    # Alphabetical order differs from the scores' here: the strongest against come first, three by default.
    against = [("awful", -0.1), ("bad", -0.5), ("cold", -0.2), ("dull", -0.4), ("empty", -0.3)]
    mixed = Explanation("awful bad cold dull empty", "negative", 0.9, against, [], "occlusion", False)
    assert mixed.against() == [("bad", -0.5), ("dull", -0.4), ("empty", -0.3)]


def test_refusals_name_the_fix(tiny_bert):
    from transformers import AutoTokenizer

    fast = AutoTokenizer.from_pretrained(tiny_bert)
    with pytest.raises(UserError) as refused:
        explain(Stub(), fast, "a film", method="shap")
    assert (
        str(refused.value)
        == "Unknown explanation method 'shap': use one of occlusion, integrated_gradients, gradient_x_input."
    )
    with pytest.raises(UserError) as refused:
        explain(Stub(), type("PythonTokenizer", (), {"is_fast": False})(), "a film")
    assert str(refused.value) == (
        "Explanations need a fast tokenizer (character offsets): load it with AutoTokenizer(use_fast=True)."
    )
    for empty in ("", "  \n"):
        with pytest.raises(UserError) as refused:
            explain(Stub(), fast, empty)
        assert str(refused.value) == "There is no text to explain: type or paste one."


@pytest.mark.parametrize("pad", ["the model's", 5, None])
def test_integrated_gradients_share_out_the_change_from_an_empty_text(untrained_classifier, pad):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(untrained_classifier).eval()
    tokenizer = AutoTokenizer.from_pretrained(untrained_classifier)
    if pad != "the model's":
        model.config.pad_token_id = pad  # another id, or none: [PAD]'s place is then taken by id 0
    text = "the unbelievable film was dull"
    explanation = explain(model, tokenizer, text, "integrated_gradients")
    ids = tokenizer(text, return_tensors="pt")["input_ids"]
    empty = ids.clone()
    empty[0, 1:-1] = model.config.pad_token_id or 0  # [CLS] [PAD] ... [PAD] [SEP]
    with torch.no_grad():
        target = model.config.label2id[explanation.label]
        full, baseline = (torch.softmax(model(input_ids=x, attention_mask=torch.ones_like(x)).logits, -1)[0, target]
                          for x in (ids, empty))  # fmt: skip
    assert sum(score for _, score in explanation.words) == pytest.approx(float(full - baseline), abs=1e-4), (
        "integrated gradients sum to the change from the empty text (exactly, on this model)"
    )


def test_gradient_x_input_sums_each_words_pieces_of_gradient_times_embedding(untrained_classifier):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(untrained_classifier).eval()
    tokenizer = AutoTokenizer.from_pretrained(untrained_classifier)
    text = "the unbelievable film was dull"
    explanation = explain(model, tokenizer, text, "gradient_x_input")
    encoded = tokenizer(text, return_offsets_mapping=True)
    _, word_of_token = word_spans(text, encoded["offset_mapping"])
    ids = torch.tensor([encoded["input_ids"]])
    embedded = model.get_input_embeddings()(ids).detach().requires_grad_()
    target = model.config.label2id[explanation.label]
    probability = torch.softmax(model(inputs_embeds=embedded, attention_mask=torch.ones_like(ids)).logits, -1)
    probability[0, target].backward()
    per_token = (embedded.grad * embedded).sum(-1)[0].tolist()
    expected = [
        sum(score for token, score in enumerate(per_token) if word_of_token[token] == word) for word in range(5)
    ]
    assert [word for word, _ in explanation.words] == ["the", "unbelievable", "film", "was", "dull"]
    assert [score for _, score in explanation.words] == pytest.approx(expected, rel=1e-4, abs=1e-7)
    assert explanation.method == "gradient_x_input" and explanation.run_length == 1
    assert explanation.probability == pytest.approx(float(probability[0, target]), abs=1e-6)


def test_occlusion_deletes_each_word_whole_keeps_the_special_tokens_and_sends_the_variants_in_one_batch(tiny_bert):
    """Every word moves the answer here (no zero where a wrong feature count could hide), and the passes are recorded:
    each variant is the text's tokens without one word's pieces, [CLS] and [SEP] kept, sent together."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    effects = {"the": 0.05, "unbelievable": 0.3, "film": 0.1, "was": -0.05, "dull": -0.2}
    forward, pieces = known_forward(tokenizer, effects)
    passes = []

    def recorded(rows):
        passes.append([list(row) for row in rows])
        return forward(rows)

    text = "the unbelievable film was dull"
    explanation = explain(Stub(), tokenizer, text, forward=recorded)
    assert [score for _, score in explanation.words] == pytest.approx(list(effects.values()))
    ids = tokenizer(text)["input_ids"]
    without = {word: [token for token in ids if token not in pieces[word]] for word in effects}
    variants = [row for batch in passes for row in batch if row != ids]
    assert sorted(variants) == sorted(without.values()), "each word deleted whole, once; nothing else changed"
    assert len(passes) <= 3 and max(len(batch) for batch in passes) >= len(effects), (
        "the text, then its variants in one batch (as the app's engine batches them)"
    )


def test_an_explained_text_keeps_what_follows_its_last_word_and_the_tokenizer_stays_quiet(tiny_bert, transformers_log):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)  # fresh: the tokenizer warns once per instance
    forward, _ = known_forward(tokenizer, {"dull": -0.2})
    text = "the film was dull !  \n"
    assert explain(Stub(), tokenizer, text, forward=forward).text == text, "not truncated: the text whole"
    long = " ".join(["film"] * 300)  # past the tokenizer's own limit (128) and the explanation's
    cut = explain(Stub(), tokenizer, long, forward=forward, max_tokens=20)
    assert cut.truncated and len(cut.words) == 18
    assert not transformers_log(), (
        "a long text is cut without the tokenizer's warnings about length or truncation reaching the user's log"
    )


def test_gradient_methods_score_every_word_of_a_long_text_on_its_own(untrained_classifier):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from bert_sentiment.explain import MAX_OCCLUDED

    model = AutoModelForSequenceClassification.from_pretrained(untrained_classifier).eval()
    tokenizer = AutoTokenizer.from_pretrained(untrained_classifier)
    text = " ".join(["the film was dull"] * 20)  # 80 words: occlusion would delete runs of 3
    explanation = explain(model, tokenizer, text, "integrated_gradients")
    assert len(explanation.words) == 80 > MAX_OCCLUDED and explanation.run_length == 1
    assert len({round(score, 9) for _, score in explanation.words}) > 4, "each word its own score, not its run's"


def test_a_text_of_no_readable_words_is_answered_without_words(tiny_bert):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    forward, _ = known_forward(tokenizer, {})
    explanation = explain(Stub(), tokenizer, "\u200b", forward=forward)  # a zero-width space: no token, no word
    assert explanation.words == [] and explanation.probability == pytest.approx(0.5)
    assert explanation.highlighted() == [("\u200b", None)]
