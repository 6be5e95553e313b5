"""Which sentence vector the classifier reads: BERT's [CLS] pooler (what train.py trains and publishes) or the
mean of the token vectors (what sentence-transformers trained all-MiniLM-L6-v2 to produce).

    python -m bench.bench_pooling                        # MiniLM from ../shared, all of SST-2's training set, 2 epochs
    python -m bench.bench_pooling --train_samples 2000 --epochs 1    # a quick check of the script

A question about issue 11's target, not a training option: a mean-pooling head is not a model class that
`pipeline("text-classification", model=...)` loads without custom code, so train.py cannot publish one.
Both heads train with the same Trainer settings as train.py's defaults (lr 5e-5, 10% warmup, weight decay
0.01, batch 32, length-grouped batches, --precision auto's choice) on the same sentences with
the same seed, one after the other in this process; SST-2 dev accuracy is measured after every epoch, in the
training precision, as train.py's evaluations during training are.
"""

import argparse
import tempfile

import torch
from torch import nn

from bench.bench_train import BATCH_SIZE, common_flags
from bench.common import MINILM, machine_summary


class MeanPoolingClassifier(nn.Module):
    """The encoder's token vectors averaged over the real (unpadded) tokens, then dropout and a linear layer."""

    def __init__(self, model: str, num_labels: int = 2):
        from transformers import AutoModel

        super().__init__()
        self.encoder = AutoModel.from_pretrained(model, add_pooling_layer=False)
        self.dropout = nn.Dropout(self.encoder.config.hidden_dropout_prob)
        self.classifier = nn.Linear(self.encoder.config.hidden_size, num_labels)

    def forward(self, input_ids, attention_mask, token_type_ids=None, labels=None):
        tokens = self.encoder(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)[0]
        mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
        sentence = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1)
        logits = self.classifier(self.dropout(sentence))
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return {"loss": loss, "logits": logits}


def dev_accuracy_by_epoch(head: str, splits, tokenizer, epochs: float, seed: int) -> tuple[list[float], float]:
    import numpy as np
    from transformers import AutoModelForSequenceClassification, DataCollatorWithPadding, Trainer, TrainingArguments

    from bert_sentiment.arguments import auto_precision

    on_cpu = not torch.cuda.is_available()
    precision, _ = auto_precision(on_cpu)  # train.py's --precision auto
    torch.manual_seed(seed)  # the new head's initial weights
    network = (
        AutoModelForSequenceClassification.from_pretrained(str(MINILM), num_labels=2)
        if head == "cls"
        else (MeanPoolingClassifier(str(MINILM)))
    )
    accuracies = []

    def accuracy(prediction):
        accuracies.append(float((np.argmax(prediction.predictions, -1) == prediction.label_ids).mean()))
        return {"accuracy": accuracies[-1]}

    with tempfile.TemporaryDirectory() as output_dir:
        args = TrainingArguments(
            output_dir=output_dir,
            learning_rate=5e-5,
            warmup_steps=0.1,
            weight_decay=0.01,
            num_train_epochs=epochs,
            per_device_train_batch_size=BATCH_SIZE,
            per_device_eval_batch_size=64,
            use_cpu=on_cpu,
            bf16=precision == "bf16",
            fp16=precision == "fp16",
            tf32=precision == "tf32" or None,
            train_sampling_strategy="group_by_length",
            eval_strategy="epoch",
            save_strategy="no",
            report_to="none",
            seed=seed,
            disable_tqdm=True,
            logging_steps=500,
        )
        trainer = Trainer(
            model=network,
            args=args,
            train_dataset=splits["train"],
            eval_dataset=splits["validation"],
            data_collator=DataCollatorWithPadding(tokenizer),
            compute_metrics=accuracy,
        )
        samples_per_second = trainer.train().metrics["train_samples_per_second"]
    return accuracies, samples_per_second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train_samples", type=int, default=67349, help="SST-2 training sentences (all: 67,349)")
    parser.add_argument("--epochs", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--heads", nargs="+", choices=("cls", "mean"), default=["cls", "mean"])
    options = parser.parse_args()

    from transformers import AutoTokenizer

    from bert_sentiment.arguments import parse_args
    from bert_sentiment.data import load_raw_splits
    from bert_sentiment.prepare import prepare_splits

    _, data_args, _ = parse_args(common_flags(str(MINILM), "unused", options.train_samples))
    splits = prepare_splits(load_raw_splits(data_args)[0], data_args, seed=options.seed).splits
    tokenizer = AutoTokenizer.from_pretrained(str(MINILM))
    splits = splits.map(lambda batch: tokenizer(batch["text"], truncation=True, max_length=128), batched=True)
    splits = splits.remove_columns("text")
    results = {
        head: dev_accuracy_by_epoch(head, splits, tokenizer, options.epochs, options.seed) for head in options.heads
    }

    print(
        f"\nSST-2 dev accuracy after each epoch; {len(splits['train']):,} training sentences, MiniLM-L6-H384 "
        f"from ../shared, seed {options.seed}; {machine_summary()}"
    )
    for head, (accuracies, speed) in results.items():
        name = "[CLS] pooler (train.py)" if head == "cls" else "mean of token vectors"
        print(f"  {name:<24} {', '.join(f'{a:.4f}' for a in accuracies)}   ({speed:.1f} train samples/s)")
    if len(results) < 2:
        return
    (cls, _), (mean, _) = results["cls"], results["mean"]
    print(
        f"  mean pooling minus [CLS], last epoch: {100 * (mean[-1] - cls[-1]):+.2f} points; "
        f"best epoch: {100 * (max(mean) - max(cls)):+.2f} points"
    )


if __name__ == "__main__":
    main()
