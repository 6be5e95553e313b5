"""Loading the base encoder's tokenizer, config and weights, with errors a user can act on."""

import logging
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification, AutoTokenizer

from bert_sentiment.errors import UserError

logger = logging.getLogger(__name__)


def load_tokenizer_and_config(checkpoint: str, label_names: list[str], model_args):
    """The tokenizer and a config carrying our label names; fails early, before any weights load."""
    options = {"revision": model_args.model_revision, "cache_dir": model_args.cache_dir}
    try:
        config = AutoConfig.from_pretrained(
            checkpoint,
            num_labels=len(label_names),
            id2label=dict(enumerate(label_names)),
            label2id={name: i for i, name in enumerate(label_names)},
            **options,
        )
    except (OSError, ValueError) as err:  # what transformers raises for unknown ids, paths and no network
        raise UserError(_cannot_load_message(checkpoint, err)) from err
    if type(config) not in AutoModelForSequenceClassification._model_mapping:
        raise UserError(
            f"Model '{checkpoint}' is a {config.model_type!r} model, which has no sequence-classification head "
            "in transformers. Use an encoder such as google-bert/bert-base-uncased."
        )
    try:
        tokenizer = AutoTokenizer.from_pretrained(checkpoint, **options)
    except (OSError, ValueError) as err:
        raise UserError(_cannot_load_message(checkpoint, err)) from err
    if len(tokenizer.get_vocab()) <= len(set(tokenizer.all_special_ids)):  # transformers builds an empty one
        raise UserError(
            f"Model '{checkpoint}' has no tokenizer files (tokenizer.json, vocab.txt, ...): its tokenizer would "
            f"read every word as {tokenizer.unk_token}. Save the base model's tokenizer beside it "
            "(tokenizer.save_pretrained) or name the model it came from."
        )
    return tokenizer, config


def _cannot_load_message(checkpoint: str, err: Exception) -> str:
    reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    looks_local = checkpoint.startswith((".", "/", "~")) or Path(checkpoint).exists()
    if looks_local:
        return (
            f"Could not load model from the folder '{checkpoint}': {reason}\n"
            "A model folder needs config.json and tokenizer files (as written by save_pretrained)."
        )
    local_name = checkpoint.rsplit("/", 1)[-1]
    return (
        f"Could not load model '{checkpoint}' from the Hugging Face Hub: {reason}\n"
        "Check the id on https://huggingface.co/models. Without internet, download it once elsewhere "
        f"(hf download {checkpoint} --local-dir {local_name}) and pass --model_name_or_path ./{local_name}"
    )


def load_model(checkpoint: str, config, model_args):
    """(model, what was done to its pooler): pretrained encoder weights plus a freshly initialised classification
    head, the pooler as --reinit_pooler says (see prepare_pooler)."""
    model = AutoModelForSequenceClassification.from_pretrained(
        checkpoint, config=config, revision=model_args.model_revision, cache_dir=model_args.cache_dir
    )
    return model, prepare_pooler(model, model_args.reinit_pooler)


def model_skeleton(config):
    """The model's layout without its weights (on the meta device: no memory, no download), for what the plan
    needs before the weights load: the parameter count and the layers' names."""
    with torch.device("meta"):
        return AutoModelForSequenceClassification.from_config(config)


def prepare_pooler(model, choice: str) -> str | None:
    """Re-initialise the pooler when `choice` is 'true', or 'auto' and its bias is all zero; say what was done.
    Encoders trained without it (sentence-transformers' mean pooling, no next-sentence task) save the pooler as
    initialised (a small random weight; its bias all zero). Off by default: it helped in one of four SST-2 comparisons
    (bench/README.md). None: the model has no pooler."""
    dense = getattr(getattr(model.base_model, "pooler", None), "dense", None)
    if not isinstance(dense, torch.nn.Linear) or dense.bias is None:
        return None
    untrained = not dense.bias.detach().any()
    if choice == "false" and untrained:
        return (
            "kept from the checkpoint, which never trained it (its bias is all zero; --reinit_pooler auto "
            "starts such a pooler afresh)"
        )
    if choice != "true" and not untrained:
        return "kept from the checkpoint"
    torch.nn.init.normal_(dense.weight, std=getattr(model.config, "initializer_range", 0.02))
    torch.nn.init.zeros_(dense.bias)
    why = "the checkpoint's was never trained: its bias is all zero" if untrained else "--reinit_pooler true"
    return f"re-initialised ({why})"


def load_base_encoder(checkpoint: str, model_args):
    """The pretrained encoder alone (no classification head), as it was before any fine-tuning."""
    return AutoModel.from_pretrained(checkpoint, revision=model_args.model_revision, cache_dir=model_args.cache_dir)
