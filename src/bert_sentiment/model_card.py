"""The model card, rendered from the facts a training run recorded (run_facts.json).

Metadata goes through huggingface_hub's card API (ModelCardData, EvalResult) so the Hub reads a
valid model-index; the prose comes from the `model_card.md` template. Nothing is hand-filled:
a section with no facts behind it is left out.
"""

from importlib.resources import files
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from bert_sentiment.atomic import written_whole
from bert_sentiment.card_text import dataset_identity, is_hub_id, template_variables
from bert_sentiment.facts import RunFacts

TEMPLATE = files("bert_sentiment") / "model_card.md"  # shipped inside the package (the repo's top level links to it)
CARD_FILE = "README.md"  # what the Hub shows as the model card


def eval_results(facts: RunFacts) -> list[EvalResult]:
    """One EvalResult per split and metric, for the Hub's model-index."""
    dataset = dataset_identity(facts.data.source)
    results = []
    for split, report in facts.results.items():
        for metric, value in report.metrics.items():
            if metric == "loss":  # kept for --seeds to choose by, not a score to list on the Hub
                continue
            results.append(
                EvalResult(
                    task_type="text-classification",
                    task_name="Sentiment classification",
                    dataset_type=dataset["type"],
                    dataset_name=dataset["name"],
                    dataset_config=dataset["config"],
                    dataset_split=split,
                    dataset_revision=dataset["revision"],
                    metric_type=metric.split("_")[0],
                    metric_name=metric,
                    metric_value=round(value, 4),
                    metric_config=_average(metric, len(facts.label_names)),
                )
            )
    return results


def _average(metric: str, num_labels: int) -> str | None:
    if metric == "accuracy":
        return None
    if metric.endswith("_weighted"):
        return "weighted"
    return "binary" if num_labels == 2 else "macro"


def card_data(facts: RunFacts, repo_id: str, license: str) -> ModelCardData:
    dataset = dataset_identity(facts.data.source)
    language = facts.language if facts.language in ("en", "zh") else None
    examples = facts.label_examples()
    return ModelCardData(
        model_name=repo_id.split("/")[-1],
        base_model=facts.base_model if is_hub_id(facts.base_model) and not facts.base_model_local else None,
        datasets=[dataset["type"]] if dataset["on_hub"] else None,
        language=language,
        license=license,
        library_name="transformers",
        pipeline_tag="text-classification",
        tags=[
            "text-classification",
            "sentiment-analysis",
            "bert",
            *(["onnx", "transformers.js"] if facts.has_onnx else []),
        ],
        metrics=["accuracy", "precision", "recall", "f1"],
        widget=[{"text": text, "example_title": label} for label, text in examples.items()] or None,
        eval_results=eval_results(facts),
    )


def render_card(facts: RunFacts, repo_id: str, license: str = "apache-2.0", image_dir: Path | None = None) -> ModelCard:
    variables = template_variables(facts, repo_id, image_dir)
    return ModelCard.from_template(card_data(facts, repo_id, license), template_path=str(TEMPLATE), **variables)


def write_card(output_dir: Path, repo_id: str, license: str = "apache-2.0") -> Path:
    """Render the card of the run in output_dir into output_dir/README.md."""
    output_dir = Path(output_dir)
    card = render_card(RunFacts.load(output_dir), repo_id, license, image_dir=output_dir)
    path = output_dir / CARD_FILE
    with written_whole(path) as partial:
        card.save(partial)
    return path
