"""The Trainer as built for a run: what reaches the loss."""

import pytest
import torch
from datasets import ClassLabel, Dataset, DatasetDict
from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding

from bert_sentiment.arguments import parse_args
from bert_sentiment.training import build_trainer
from tests.conftest import english_reviews, quick_training_flags


def imbalanced_run(tiny_bert, tmp_path, weighting: str):
    rows = english_reviews(80)
    rows = [row for row in rows if row[1] == "negative"] + [row for row in rows if row[1] == "positive"][:10]  # 40 vs 10
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    data = Dataset.from_dict({"text": [t for t, _ in rows], "label": [int(l == "positive") for _, l in rows]})
    data = data.cast_column("label", ClassLabel(names=["negative", "positive"]))
    tokenized = data.map(lambda batch: tokenizer(batch["text"], truncation=True, max_length=32), batched=True,
                         remove_columns=["text"])  # fmt: skip
    _, _, training_args = parse_args([*quick_training_flags(tiny_bert, tmp_path / weighting), "--class_weighting", weighting])
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert, num_labels=2)
    trainer, _ = build_trainer(model, tokenizer, DatasetDict(train=tokenized, validation=tokenized), training_args)
    batch = DataCollatorWithPadding(tokenizer)([tokenized[i] for i in [0, 1, 2, 45, 46, 47]])  # 3 negatives, 3 positives
    return trainer, model, batch


def test_balanced_class_weights_reach_the_loss(tiny_bert, tmp_path):
    trainer, model, batch = imbalanced_run(tiny_bert, tmp_path, "balanced")
    plain_trainer, _, _ = imbalanced_run(tiny_bert, tmp_path, "none")
    with torch.no_grad():
        weighted = trainer.compute_loss(model, dict(batch))
        plain = plain_trainer.compute_loss(model, dict(batch))
        logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits
    weights = torch.tensor([50 / (2 * 40), 50 / (2 * 10)])  # inverse class frequency: the rare positives count 4x
    expected = torch.nn.functional.cross_entropy(logits, batch["labels"], weight=weights)
    assert weighted.item() == pytest.approx(expected.item(), rel=1e-5)
    assert plain.item() == pytest.approx(torch.nn.functional.cross_entropy(logits, batch["labels"]).item(), rel=1e-5)
    assert abs(weighted.item() - plain.item()) > 1e-3
