"""What the app shows besides predictions: examples and facts from the model card, batch tables."""

import csv
import io
import logging
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from bert_sentiment.errors import UserError
from bert_sentiment.facts import RESULTS_FILE, RunFacts
from bert_sentiment.inference import Prediction

logger = logging.getLogger(__name__)
csv.field_size_limit(2**31 - 1)  # Python's default, 131,072 characters, stops at a long review

MAX_BATCH_ROWS = 5_000  # per request; a free 2-core Space classifies ~100-300 short texts a second
MAX_BATCH_CHARACTERS = 1_000_000  # per request: about 250,000 tokens, under a minute of MiniLM int8 on 2 cores
DEFAULT_EXAMPLES = {
    "en": ["A gorgeous, witty, seductive movie.", "The plot is thin and the acting is worse."],
    "zh": ["房间干净，服务热情，下次还来。", "等了两个小时才送到，饭都凉了。"],
}


@dataclass
class ModelFacts:
    examples: list[str] = field(default_factory=list)
    about: str = ""  # markdown for the "about this model" panel; empty when there is no card


def model_facts(model_id: str, labels: list[str]) -> ModelFacts:
    """Examples and an about text from the model card (README.md), or from run_facts.json of a local run."""
    card = _load_card(model_id)
    if card is not None:
        return ModelFacts(_card_examples(card, labels), _about_from_card(card, model_id, labels))
    if (Path(model_id) / RESULTS_FILE).is_file():
        facts = RunFacts.load(Path(model_id))
        examples = list(facts.label_examples().values())
        return ModelFacts(examples or _default_examples(labels), _about_from_facts(facts, labels))
    return ModelFacts(_default_examples(labels), f"Model: `{model_id}`; labels: {', '.join(labels)}.")


@lru_cache(maxsize=8)  # the app reads it for the start-up check and again for the page: one download
def _load_card(model_id: str):
    from huggingface_hub import ModelCard

    local = Path(model_id) / "README.md"
    try:
        return ModelCard.load(local if local.is_file() else model_id)
    except Exception as err:  # no card is not fatal: the app works without one
        logger.info("No model card for %s (%s); the about panel stays short.", model_id, type(err).__name__)
        return None


def _card_examples(card, labels: list[str]) -> list[str]:
    widget = card.data.to_dict().get("widget") or []
    return [item["text"] for item in widget if item.get("text")] or _default_examples(labels, card.data.language)


def _default_examples(labels: list[str], language=None) -> list[str]:
    language = language[0] if isinstance(language, list) and language else language
    chinese = language == "zh" or any("\u4e00" <= ch <= "\u9fff" for label in labels for ch in label)
    return DEFAULT_EXAMPLES["zh" if chinese else "en"]


def _about_from_card(card, model_id: str, labels: list[str]) -> str:
    data = card.data.to_dict()
    lines = [f"**Model**: `{model_id}`", f"**Labels**: {', '.join(labels)}"]
    if data.get("base_model"):
        lines.append(f"**Base model**: {data['base_model']}")
    if data.get("datasets"):
        lines.append(f"**Data**: {', '.join(data['datasets'])}")
    scores = [
        f"{r.metric_name} {r.metric_value:.4f} ({r.dataset_split})"
        for r in (card.data.eval_results or [])
        if r.metric_name in ("accuracy", "f1")
    ]
    if scores:
        lines.append(f"**Results**: {'; '.join(scores)}")
    return "  \n".join(lines)


def _about_from_facts(facts: RunFacts, labels: list[str]) -> str:
    lines = [f"**Base model**: {facts.base_model}", f"**Labels**: {', '.join(labels)}"]
    for split, report in facts.results.items():
        metrics = report.metrics
        lines.append(f"**{split}**: accuracy {metrics['accuracy']:.4f}, F1 {metrics['f1']:.4f}")
    return "  \n".join(lines)


def read_batch(pasted: str | None, file_path: str | None) -> list[str]:
    """Texts from pasted lines, or from an uploaded .txt (one per line) or .csv (its text column)."""
    if file_path:
        content = Path(file_path).read_bytes().decode("utf-8", errors="replace")
        texts = _csv_texts(content) if str(file_path).lower().endswith(".csv") else content.splitlines()
    else:
        texts = (pasted or "").splitlines()
    texts = [text.strip() for text in texts if text.strip()]
    refusal = _too_large(len(texts), sum(map(len, texts)))
    if refusal:
        raise UserError(refusal)
    return texts


def batch_refusal(inputs: list) -> str | None:
    """Why pasted texts are refused before they wait for the model, or None (uploads are read when their turn
    comes: their size is bounded by the app's upload limit)."""
    pasted = inputs[0] if inputs else None
    if not isinstance(pasted, str):
        return None
    if len(pasted) > MAX_BATCH_CHARACTERS:  # refused before splitting: a hostile paste may be many megabytes
        return _too_large(0, len(pasted))
    return _too_large(sum(1 for line in pasted.splitlines() if line.strip()), len(pasted))


def _too_large(texts: int, characters: int) -> str | None:
    local = "split them into several requests, or classify the file on your own machine with `bert-sentiment predict`."
    if texts > MAX_BATCH_ROWS:
        return f"{texts:,} texts is more than the {MAX_BATCH_ROWS:,} one request may hold: {local}"
    if characters > MAX_BATCH_CHARACTERS:
        return f"{characters:,} characters is more than the {MAX_BATCH_CHARACTERS:,} one request may hold: {local}"
    return None


def _csv_texts(content: str) -> list[str]:
    from bert_sentiment.columns import TEXT_COLUMN_NAMES

    rows = list(csv.reader(io.StringIO(content)))
    if not rows:
        return []
    header = [cell.strip().lower() for cell in rows[0]]
    column = next((header.index(name) for name in TEXT_COLUMN_NAMES if name in header), None)
    if column is None:  # no known header: the longest column on average holds the text
        width = max(len(row) for row in rows)
        column = max(range(width), key=lambda i: sum(len(row[i]) for row in rows if i < len(row)))
        return [row[column] for row in rows if column < len(row)]
    return [row[column] for row in rows[1:] if column < len(row)]


def predictions_table(
    texts: list[str], predictions: list[Prediction], labels: list[str], shown_characters: int | None = None
) -> list[list]:
    """Rows of text (its first `shown_characters`, when given), the answer (the label, or "not sure"), the top
    probability, each label's probability, and a truncation mark."""
    return [
        [
            _shown(text, shown_characters),
            p.answer,
            round(p.score, 4),
            *(round(p.scores[label], 4) for label in labels),
            p.truncated,
        ]
        for text, p in zip(texts, predictions)
    ]


def _shown(text: str, characters: int | None) -> str:
    return text if characters is None or len(text) <= characters else text[: characters - 1] + "…"


def table_headers(labels: list[str]) -> list[str]:
    return ["text", "label", "score", *(f"p({label})" for label in labels), "truncated"]


def write_csv(rows: list[list], headers: list[str], path: Path) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(headers)
        writer.writerows(rows)
    return path
