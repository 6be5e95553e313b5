import shutil

import pytest
import torch
from transformers import BertModel, ViTConfig

from bert_sentiment.arguments import ModelArguments
from bert_sentiment.errors import UserError
from bert_sentiment.model import load_model, load_tokenizer_and_config
from tests.conftest import SHARED


class ModelArgs:
    model_revision = "main"
    cache_dir = None


def test_label_names_go_into_the_config(tiny_bert):
    tokenizer, config = load_tokenizer_and_config(str(tiny_bert), ["差评", "好评"], ModelArgs())
    assert config.id2label == {0: "差评", 1: "好评"} and config.label2id == {"差评": 0, "好评": 1}
    assert tokenizer.tokenize("酒店很好") == ["酒", "店", "很", "好"]  # BERT splits Chinese into characters


def test_missing_local_folder(tmp_path):
    with pytest.raises(UserError) as error:
        load_tokenizer_and_config(str(tmp_path / "no-model"), ["a", "b"], ModelArgs())
    first, second = str(error.value).split("\n")
    assert first.startswith(f"Could not load model from the folder '{tmp_path / 'no-model'}': ")
    assert second == "A model folder needs config.json and tokenizer files (as written by save_pretrained)."


def test_hub_id_without_network_says_how_to_use_a_local_copy():
    with pytest.raises(UserError) as error:
        load_tokenizer_and_config("someone/no-such-bert", ["a", "b"], ModelArgs())
    first, second = str(error.value).split("\n")
    assert first.startswith("Could not load model 'someone/no-such-bert' from the Hugging Face Hub: ")
    assert second == (
        "Check the id on https://huggingface.co/models. Without internet, download it once elsewhere "
        "(hf download someone/no-such-bert --local-dir no-such-bert) and pass --model_name_or_path ./no-such-bert"
    )


def test_model_without_a_classification_head(tmp_path):
    ViTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32).save_pretrained(
        tmp_path
    )
    with pytest.raises(UserError) as error:
        load_tokenizer_and_config(str(tmp_path), ["a", "b"], ModelArgs())
    assert str(error.value) == (
        f"Model '{tmp_path}' is a 'vit' model, which has no sequence-classification head in transformers. "
        "Use an encoder such as google-bert/bert-base-uncased."
    )


def pooler_args(choice: str) -> ModelArguments:
    return ModelArguments(model_name_or_path="unused", reinit_pooler=choice)


def saved_pooler(checkpoint) -> tuple[torch.Tensor, torch.Tensor]:
    pooler = BertModel.from_pretrained(checkpoint).pooler.dense
    return pooler.weight.detach(), pooler.bias.detach()


def load_with(checkpoint, choice: str):
    args = pooler_args(choice)
    _, config = load_tokenizer_and_config(str(checkpoint), ["negative", "positive"], args)
    model, note = load_model(str(checkpoint), config, args)
    return model.bert.pooler.dense, note


@pytest.fixture
def learnt_pooler(tiny_bert, tmp_path):
    """The tiny model with a pooler that learnt something: its bias is no longer zero."""
    shutil.copytree(tiny_bert, tmp_path / "trained-pooler")
    model = BertModel.from_pretrained(tmp_path / "trained-pooler")
    torch.nn.init.uniform_(model.pooler.dense.bias, -0.1, 0.1)
    model.save_pretrained(tmp_path / "trained-pooler")
    return tmp_path / "trained-pooler"


def test_auto_reinitialises_a_pooler_that_was_never_trained_and_keeps_a_trained_one(tiny_bert, learnt_pooler):
    weight, bias = saved_pooler(tiny_bert)
    assert not bias.any(), "a freshly initialised BERT saves its pooler with an all-zero bias"
    pooler, note = load_with(tiny_bert, "auto")
    assert not torch.equal(pooler.weight, weight) and not pooler.bias.any()
    assert pooler.weight.std().item() == pytest.approx(0.02, rel=0.2), "drawn like BERT's own initialisation"
    assert note == "re-initialised (the checkpoint's was never trained: its bias is all zero)"

    weight, bias = saved_pooler(learnt_pooler)
    pooler, note = load_with(learnt_pooler, "auto")
    assert torch.equal(pooler.weight, weight) and torch.equal(pooler.bias, bias) and note == "kept from the checkpoint"


def test_reinit_pooler_true_and_false_override_the_check(tiny_bert, learnt_pooler):
    weight, _ = saved_pooler(tiny_bert)
    pooler, note = load_with(tiny_bert, "false")
    assert torch.equal(pooler.weight, weight)
    assert note == (
        "kept from the checkpoint, which never trained it (its bias is all zero; --reinit_pooler auto "
        "starts such a pooler afresh)"
    )
    assert ModelArguments(model_name_or_path="unused").reinit_pooler == "false", "off unless asked for"
    weight, _ = saved_pooler(learnt_pooler)
    pooler, note = load_with(learnt_pooler, "true")
    assert not torch.equal(pooler.weight, weight) and note == "re-initialised (--reinit_pooler true)"


def test_an_unknown_reinit_pooler_value_names_the_choices():
    with pytest.raises(UserError, match="--reinit_pooler 'yes' is not one of auto, true, false"):
        pooler_args("yes")


@pytest.mark.shared
def test_the_shared_sentence_transformers_encoder_has_an_unlearnt_pooler():
    """all-MiniLM-L6-v2 was trained with mean pooling; its pooler is as initialised, so auto re-initialises it."""
    _, note = load_with(SHARED / "models/all-minilm-l6-v2", "auto")
    assert note == "re-initialised (the checkpoint's was never trained: its bias is all zero)"
