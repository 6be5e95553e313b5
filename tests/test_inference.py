"""The app's engine on its own: answers in order, each as if alone, at the reading limit and one past it."""

import pytest

from bert_sentiment.inference import MAX_CHARACTERS, clean_text, load


@pytest.fixture(scope="module")
def classifier(trained_run):
    return load(str(trained_run), engine="torch")


def test_each_answer_in_a_mixed_batch_is_that_texts_answer_alone(classifier):
    texts = ["the acting was superb and delightful 1", "", "the plot " * 60, "dull", "   ", "the plot was horrible 2"]
    together = classifier.predict(texts)
    assert len(together) == len(texts)
    for text, answer in zip(texts, together):
        alone = classifier.predict([text])[0]
        assert answer.label == alone.label and answer.truncated == alone.truncated
        assert answer.scores == pytest.approx(alone.scores, abs=1e-5)


def test_a_batch_job_answers_as_single_predictions_do(classifier):
    texts = [f"the acting was superb {i}" if i % 3 else "the plot " * (i + 1) for i in range(40)]
    singles, job = classifier.predict(texts), classifier.predict(texts, lane="job")
    for single, sliced in zip(singles, job):
        assert single.scores == pytest.approx(sliced.scores, abs=1e-5)


def test_a_text_of_exactly_the_reading_length_is_whole_and_one_token_more_is_cut(classifier):
    word = "superb"
    assert len(classifier.tokenizer(word, add_special_tokens=False)["input_ids"]) == 1
    fits = " ".join([word] * (classifier.max_length - 2))  # [CLS] and [SEP] take two places
    assert len(classifier.tokenizer(fits)["input_ids"]) == classifier.max_length
    assert classifier(fits).truncated is False
    assert classifier(fits + " " + word).truncated is True


def test_a_text_of_exactly_the_character_limit_is_kept_whole_and_longer_is_cut_to_it():
    assert clean_text("a" * MAX_CHARACTERS) == "a" * MAX_CHARACTERS
    assert clean_text("a" * (MAX_CHARACTERS + 1)) == "a" * MAX_CHARACTERS
    assert clean_text(None) == "" and clean_text(12) == "12"


def test_probabilities_sum_to_one_and_the_label_is_the_most_likely(classifier):
    for prediction in classifier.predict(["great", "awful", "the plot was horrible and dull 9"]):
        assert sum(prediction.scores.values()) == pytest.approx(1.0, abs=1e-6)
        assert prediction.label == max(prediction.scores, key=prediction.scores.get)
        assert prediction.sure and prediction.answer == prediction.label
