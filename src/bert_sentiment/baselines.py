"""Two baselines on the same splits as BERT, so a user sees whether fine-tuning paid off."""

import logging

import numpy as np
from sklearn.dummy import DummyClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from bert_sentiment.evaluation import classification_metrics

logger = logging.getLogger(__name__)

TFIDF_MAX_FEATURES = 200_000  # bounds memory on large corpora; far above what SST-2 or IMDB need


def tfidf_vectorizer(language: str) -> TfidfVectorizer:
    """Word uni+bigrams for space-separated languages; character 1-3 grams for Chinese (no spaces)."""
    if language == "zh":
        return TfidfVectorizer(analyzer="char", ngram_range=(1, 3), max_features=TFIDF_MAX_FEATURES, sublinear_tf=True)
    return TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_features=TFIDF_MAX_FEATURES, sublinear_tf=True)


def baseline_results(
    splits, language: str, seed: int, max_texts: int | None = None, show_progress: bool = False
) -> dict[str, dict[str, dict]]:
    """{split: {baseline: metrics}} for every evaluation split, fitted on the training split (on a stratified sample
    of `max_texts` of it when it is larger)."""
    from tqdm.auto import tqdm

    from bert_sentiment.budget import stratified_sample
    from bert_sentiment.hardware import sklearn_threads

    train = splits["train"]
    if max_texts and max_texts < len(train):
        train = train.select(stratified_sample(train["label"][:], max_texts, seed))
    num_labels = train.features["label"].num_classes
    models = {
        "majority_class": DummyClassifier(strategy="most_frequent"),
        "tfidf_logistic_regression": make_pipeline(
            tfidf_vectorizer(language), LogisticRegression(max_iter=2000, random_state=seed)
        ),
    }
    results = {name: {} for name in splits if name != "train"}
    texts, labels = train["text"][:], np.asarray(train["label"][:])
    for baseline, model in tqdm(models.items(), desc="Baselines", disable=not show_progress):
        logger.info("Fitting the %s baseline on %s texts.", baseline, f"{len(train):,}")
        with sklearn_threads():
            model.fit(texts, labels)
        for split in results:
            predictions = model.predict(splits[split]["text"][:])
            results[split][baseline] = classification_metrics(splits[split]["label"][:], predictions, num_labels)
    return results
