"""Fine-tune BERT sentiment classifiers, evaluate them honestly, and share them on the Hugging Face Hub.

    from bert_sentiment import train, load
    result = train(df, text="review", label="sentiment", output_dir="out/reviews")
    clf = load("out/reviews")
    clf(["great film", "awful film"])
    clf.explain("great film, awful ending")   # which words pushed the answer, and which way
    clf.predict_file("reviews.csv", "predictions.csv")   # a whole file; continues when interrupted

Names are imported on first use, so `import bert_sentiment` (and the app) never loads the training stack.
"""

from importlib import import_module

__version__ = "0.2.0"

_EXPORTS = {
    "train": "bert_sentiment.api",
    "TrainResult": "bert_sentiment.api",
    "TrainingInterrupted": "bert_sentiment.api",
    "load": "bert_sentiment.inference",
    "SentimentClassifier": "bert_sentiment.inference",
    "Prediction": "bert_sentiment.inference",
    "Explanation": "bert_sentiment.explain",
    "RunFacts": "bert_sentiment.facts",
    "UserError": "bert_sentiment.errors",
}
__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'bert_sentiment' has no attribute '{name}'")
