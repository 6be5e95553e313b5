import numpy as np
import pytest
from datasets import ClassLabel, Dataset, DatasetDict

from bert_sentiment.baselines import baseline_results
from tests.conftest import chinese_reviews, english_reviews


def splits_of(rows_train, rows_eval, names):
    def build(rows):
        data = Dataset.from_dict({"text": [t for t, _ in rows], "label": [names.index(lab) for _, lab in rows]})
        return data.cast_column("label", ClassLabel(names=names))

    return DatasetDict({"train": build(rows_train), "validation": build(rows_eval)})


def test_tfidf_beats_majority_on_separable_english():
    results = baseline_results(
        splits_of(english_reviews(200), english_reviews(40, seed=5), ["negative", "positive"]), "en", 0
    )
    assert results["validation"]["tfidf_logistic_regression"]["accuracy"] >= 0.95
    assert results["validation"]["majority_class"]["accuracy"] == 0.5


def test_tfidf_uses_characters_for_chinese():
    splits = splits_of(chinese_reviews(200), chinese_reviews(40, seed=5), ["差评", "好评"])
    assert baseline_results(splits, "zh", 0)["validation"]["tfidf_logistic_regression"]["accuracy"] >= 0.95


def test_baselines_learn_from_the_training_split_only():
    """Evaluation texts with the training associations reversed: a baseline fitted on them would score 1.0."""
    train = [
        (f"a {word} film {i}", label)
        for i in range(30)
        for word, label in (("superb", "positive"), ("dreadful", "negative"))
    ]
    train += [(f"a superb story {i}", "positive") for i in range(20)]  # positive is the training majority
    reversed_eval = [
        (f"a {word} film {i}", label)
        for i in range(10)
        for word, label in (("superb", "negative"), ("dreadful", "positive"))
    ]
    reversed_eval += [(f"a superb plot {i}", "negative") for i in range(4)]  # ... and the evaluation minority
    results = baseline_results(splits_of(train, reversed_eval, ["negative", "positive"]), "en", 0)["validation"]
    assert results["tfidf_logistic_regression"]["accuracy"] < 0.2
    assert results["majority_class"]["accuracy"] == 10 / 24, "always 'positive', the training majority"


def test_the_tfidf_features_are_word_pairs_for_english_and_characters_for_chinese():
    """What the README promises: word 1-2-grams seen in at least two texts, with sublinear term counts;
    character 1-3-grams for Chinese."""
    from bert_sentiment.baselines import tfidf_vectorizer

    english = tfidf_vectorizer("en").fit(["a great film", "a great cast", "a dull film"])
    assert english.get_feature_names_out().tolist() == ["film", "great"]  # "a" is one letter; pairs occur once
    english = tfidf_vectorizer("en").fit(["great fun film", "great fun film", "dull film"])
    assert english.get_feature_names_out().tolist() == ["film", "fun", "fun film", "great", "great fun"], "no triple"
    english = tfidf_vectorizer("en").fit(["great film", "great film", "dull film"])
    assert english.get_feature_names_out().tolist() == ["film", "great", "great film"]
    weights = english.transform(["great great great film"]).toarray()[0]
    assert weights[1] / weights[0] == pytest.approx((1 + np.log(3)) * english.idf_[1] / english.idf_[0]), (
        "1 + log(count)"
    )
    chinese = tfidf_vectorizer("zh").fit(["很好吃", "不好吃了"])
    assert chinese.get_feature_names_out().tolist() == [
        "不",
        "不好",
        "不好吃",
        "了",
        "吃",
        "吃了",
        "好",
        "好吃",
        "好吃了",
        "很",
        "很好",
        "很好吃",
    ], "no run of four characters"
    weights = chinese.transform(["好好好吃"]).toarray()[0]
    good, eat = chinese.vocabulary_["好"], chinese.vocabulary_["吃"]
    assert weights[good] / weights[eat] == pytest.approx((1 + np.log(3)) * chinese.idf_[good] / chinese.idf_[eat])


@pytest.mark.parametrize("language", ["en", "zh"])
def test_the_features_are_capped_at_the_most_frequent(monkeypatch, language):
    """TFIDF_MAX_FEATURES bounds the baseline's memory on a large corpus: the most frequent n-grams are kept."""
    from bert_sentiment import baselines

    monkeypatch.setattr(baselines, "TFIDF_MAX_FEATURES", 2)
    texts = ["good film good", "good film", "dull plot"] * 2 if language == "en" else ["好好吃", "好吃", "差"] * 2
    kept = baselines.tfidf_vectorizer(language).fit(texts).get_feature_names_out().tolist()
    assert kept == (["film", "good"] if language == "en" else ["吃", "好"])


def test_each_evaluation_split_gets_both_baselines_and_the_log_says_what_was_fitted(caplog):
    caplog.set_level("INFO")
    splits = splits_of(english_reviews(60), english_reviews(20, seed=5), ["negative", "positive"])
    splits["test"] = splits["validation"]
    results = baseline_results(splits, "en", 0)
    assert set(results) == {"validation", "test"} and all(
        set(r) == {"majority_class", "tfidf_logistic_regression"} for r in results.values()
    )
    assert caplog.messages == [
        "Fitting the majority_class baseline on 60 texts.",
        "Fitting the tfidf_logistic_regression baseline on 60 texts.",
    ]


def test_the_fits_run_on_one_blas_thread_and_leave_the_machines_threads_as_they_were(monkeypatch):
    """Two cores shared by BLAS calls this small made the baseline 2.2x slower at 100,000 texts."""
    from sklearn.linear_model import LogisticRegression

    from tests.conftest import blas_threads

    before, seen = blas_threads(), []
    fit = LogisticRegression.fit
    monkeypatch.setattr(
        LogisticRegression, "fit", lambda self, *a, **k: seen.append(blas_threads()) or fit(self, *a, **k)
    )
    baseline_results(splits_of(english_reviews(60), english_reviews(20, seed=5), ["negative", "positive"]), "en", 0)
    assert seen == [{1}]
    assert blas_threads() == before


def fitted_texts(monkeypatch) -> list:
    """The texts each baseline is fitted on, in order, as the baselines' fit methods see them."""
    from sklearn.dummy import DummyClassifier
    from sklearn.pipeline import Pipeline

    seen = []
    for cls in (DummyClassifier, Pipeline):
        fit = cls.fit
        monkeypatch.setattr(cls, "fit", lambda self, X, y, _fit=fit, **k: seen.append(list(X)) or _fit(self, X, y, **k))
    return seen


def test_a_large_training_split_is_fitted_on_the_stratified_sample_its_budget_names(monkeypatch, caplog):
    """--baseline budget: 1,000,000 texts are fitted on a sample, the same one for the same seed, classes kept."""
    from bert_sentiment.budget import stratified_sample

    caplog.set_level("INFO")
    rows = english_reviews(90)
    rows = rows[:60] + [(text, "negative") for text, _ in rows[60:]]  # 2 negatives to 1 positive, and more
    splits = splits_of(rows, english_reviews(20, seed=5), ["negative", "positive"])
    labels = splits["train"]["label"][:]
    sample = [splits["train"]["text"][int(i)] for i in stratified_sample(labels, 30, seed=7)]
    assert sample != [text for text, _ in rows[:30]] and sample != [text for text, _ in rows[-30:]]
    seen = fitted_texts(monkeypatch)
    baseline_results(splits, "en", seed=7, max_texts=30)
    assert seen == [sample, sample], "each baseline on the seed's stratified sample of 30"
    assert caplog.messages[0] == "Fitting the majority_class baseline on 30 texts."
    seen.clear()
    baseline_results(splits, "en", seed=7, max_texts=90)
    assert seen == [[text for text, _ in rows]] * 2, "a budget that covers the split fits on all of it, in order"


def test_the_fits_show_a_progress_bar_only_when_asked(capsys):
    splits = splits_of(english_reviews(40), english_reviews(10, seed=5), ["negative", "positive"])
    capsys.readouterr()  # the splits' own casting bars
    baseline_results(splits, "en", 0)
    assert capsys.readouterr().err == "", "quiet by default: the run's own progress lines say where it is"
    baseline_results(splits, "en", 0, show_progress=True)
    bar = capsys.readouterr().err
    assert bar.startswith("\rBaselines:") and "2/2" in bar
