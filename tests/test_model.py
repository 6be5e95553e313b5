import json
import shutil

import pytest
import torch
from transformers import (
    AutoModelForSequenceClassification,
    BertConfig,
    BertForSequenceClassification,
    BertModel,
    DistilBertConfig,
    DistilBertForSequenceClassification,
    ViTConfig,
)

from bert_sentiment.arguments import ModelArguments
from bert_sentiment.errors import UserError
from bert_sentiment.model import (
    _cannot_load_message,
    load_base_encoder,
    load_model,
    load_tokenizer_and_config,
    model_skeleton,
    prepare_pooler,
)
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
    reason = str(error.value.__cause__).strip().splitlines()[0]
    assert first == f"Could not load model from the folder '{tmp_path / 'no-model'}': {reason}"
    assert second == "A model folder needs config.json and tokenizer files (as written by save_pretrained)."


def test_hub_id_without_network_says_how_to_use_a_local_copy():
    with pytest.raises(UserError) as error:
        load_tokenizer_and_config("someone/no-such-bert", ["a", "b"], ModelArgs())
    first, second = str(error.value).split("\n")
    reason = str(error.value.__cause__).strip().splitlines()[0]
    assert first == f"Could not load model 'someone/no-such-bert' from the Hugging Face Hub: {reason}"
    assert second == (
        "Check the id on https://huggingface.co/models. Without internet, download it once elsewhere "
        "(hf download someone/no-such-bert --local-dir no-such-bert) and pass --model_name_or_path ./no-such-bert"
    )


def test_a_folder_with_a_config_but_no_tokenizer_is_refused_before_every_word_reads_as_unknown(tiny_bert, tmp_path):
    shutil.copy(tiny_bert / "config.json", tmp_path / "config.json")
    with pytest.raises(UserError) as error:
        load_tokenizer_and_config(str(tmp_path), ["a", "b"], ModelArgs())
    assert str(error.value) == (
        f"Model '{tmp_path}' has no tokenizer files (tokenizer.json, vocab.txt, ...): its tokenizer would read "
        "every word as [UNK]. Save the base model's tokenizer beside it (tokenizer.save_pretrained) or name the "
        "model it came from."
    )


def test_a_tokenizer_that_cannot_be_read_says_what_a_model_folder_needs(tiny_bert, tmp_path):
    shutil.copytree(tiny_bert, tmp_path / "model")
    (tmp_path / "model" / "tokenizer.json").write_text("{not json")
    with pytest.raises(UserError) as error:
        load_tokenizer_and_config(str(tmp_path / "model"), ["a", "b"], ModelArgs())
    reason = str(error.value.__cause__).strip().splitlines()[0]
    assert str(error.value) == (
        f"Could not load model from the folder '{tmp_path / 'model'}': {reason}\n"
        "A model folder needs config.json and tokenizer files (as written by save_pretrained)."
    )


@pytest.mark.parametrize("path", ["./no-model", "~/models/no-model", "/srv/no-model"])
def test_a_path_that_looks_like_a_folder_is_named_as_one_and_an_empty_reason_by_its_kind(path):
    message = _cannot_load_message(path, OSError())
    assert message.splitlines()[0] == f"Could not load model from the folder '{path}': OSError"


def test_the_local_copy_is_named_after_the_last_part_of_the_id():
    message = _cannot_load_message("team/project/bert", ValueError("first line\nsecond line"))
    assert message.startswith("Could not load model 'team/project/bert' from the Hugging Face Hub: first line\n")
    assert message.endswith("--local-dir bert) and pass --model_name_or_path ./bert")
    assert _cannot_load_message("bert-base-uncased", OSError("offline")).endswith(
        "(hf download bert-base-uncased --local-dir bert-base-uncased) and pass --model_name_or_path ./bert-base-uncased"
    ), "an id of the Hub's first models, without an owner"


def test_the_skeleton_has_the_models_layout_and_holds_no_weights(tiny_bert):
    _, config = load_tokenizer_and_config(str(tiny_bert), ["a", "b", "c"], ModelArgs())
    skeleton = model_skeleton(config)
    loaded = AutoModelForSequenceClassification.from_pretrained(tiny_bert, config=config)
    assert [name for name, _ in skeleton.named_parameters()] == [name for name, _ in loaded.named_parameters()]
    assert skeleton.classifier.out_features == 3
    assert {parameter.device.type for parameter in skeleton.parameters()} == {"meta"}


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


def test_the_pooler_is_drawn_at_the_configs_own_scale(tiny_bert):
    args = pooler_args("true")
    _, config = load_tokenizer_and_config(str(tiny_bert), ["negative", "positive"], args)
    config.initializer_range = 0.5
    model, _ = load_model(str(tiny_bert), config, args)
    assert model.bert.pooler.dense.weight.std().item() == pytest.approx(0.5, rel=0.2)


def test_a_model_without_a_pooler_or_without_its_bias_is_left_alone():
    no_pooler = DistilBertForSequenceClassification(
        DistilBertConfig(dim=32, hidden_dim=37, n_layers=1, n_heads=2, vocab_size=50)
    )
    assert prepare_pooler(no_pooler, "true") is None
    bert = BertForSequenceClassification(
        BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37, vocab_size=50)
    )
    bert.bert.pooler.dense = torch.nn.Linear(32, 32, bias=False)
    weight = bert.bert.pooler.dense.weight.detach().clone()
    assert prepare_pooler(bert, "true") is None and torch.equal(bert.bert.pooler.dense.weight, weight)


@pytest.mark.shared
def test_the_shared_sentence_transformers_encoder_has_an_unlearnt_pooler():
    """all-MiniLM-L6-v2 was trained with mean pooling; its pooler is as initialised, so auto re-initialises it."""
    _, note = load_with(SHARED / "models/all-minilm-l6-v2", "auto")
    assert note == "re-initialised (the checkpoint's was never trained: its bias is all zero)"


def test_a_hub_checkpoint_loads_at_the_revision_asked_for_into_the_cache_dir_asked_for(tiny_bert, local_hub, tmp_path):
    """--model_revision pins the tokenizer, config, weights and base encoder to one commit, and --cache_dir holds the
    download; a later push to the repo (shorter texts, other weights, more dropout) changes none of them."""
    from tests.hub_server import repo_of_folder

    later = tmp_path / "later"
    shutil.copytree(tiny_bert, later)
    tokenizer_config = json.loads((later / "tokenizer_config.json").read_text())
    (later / "tokenizer_config.json").write_text(json.dumps({**tokenizer_config, "model_max_length": 64}))
    pushed = BertModel.from_pretrained(later)
    torch.nn.init.uniform_(pushed.embeddings.word_embeddings.weight, -1, 1)
    pushed.config.hidden_dropout_prob = 0.3
    pushed.save_pretrained(later)
    repo = repo_of_folder(tiny_bert)
    first = repo.commits[0][0]
    repo.commits.append(("b" * 40, repo_of_folder(later).commits[0][1]))
    local_hub.state.repos[("model", "someone/tiny-bert")] = repo
    args = ModelArguments(model_name_or_path="someone/tiny-bert", model_revision=first, cache_dir=str(tmp_path / "c"))

    tokenizer, config = load_tokenizer_and_config("someone/tiny-bert", ["neg", "pos"], args)
    assert tokenizer.model_max_length == 128 and config.hidden_dropout_prob == 0.1
    model, _ = load_model("someone/tiny-bert", config, args)
    embeddings = BertModel.from_pretrained(tiny_bert).embeddings.word_embeddings.weight
    assert torch.equal(model.bert.embeddings.word_embeddings.weight, embeddings)
    assert model.config.id2label == {0: "neg", 1: "pos"}, "the config with our labels, not the checkpoint's"
    encoder = load_base_encoder("someone/tiny-bert", args)
    assert torch.equal(encoder.embeddings.word_embeddings.weight, embeddings)
    assert (tmp_path / "c" / "models--someone--tiny-bert" / "snapshots" / first / "model.safetensors").exists()
    assert not (tmp_path / "hub-cache").exists(), "nothing in the default cache"

    latest = ModelArguments(model_name_or_path="someone/tiny-bert", cache_dir=str(tmp_path / "c"))
    tokenizer, config = load_tokenizer_and_config("someone/tiny-bert", ["neg", "pos"], latest)
    assert tokenizer.model_max_length == 64 and config.hidden_dropout_prob == 0.3, "main, by default"
