import pytest
from transformers import ViTConfig

from bert_sentiment.errors import UserError
from bert_sentiment.model import load_tokenizer_and_config


class ModelArgs:
    model_revision = "main"
    cache_dir = None


def test_label_names_go_into_the_config(tiny_bert):
    tokenizer, config = load_tokenizer_and_config(str(tiny_bert), ["差评", "好评"], ModelArgs())
    assert config.id2label == {0: "差评", 1: "好评"} and config.label2id == {"差评": 0, "好评": 1}
    assert tokenizer.tokenize("酒店很好") == ["酒", "店", "很", "好"]  # BERT splits Chinese into characters


def test_missing_local_folder(tmp_path):
    with pytest.raises(UserError, match="Could not load model from the folder '.*no-model'"):
        load_tokenizer_and_config(str(tmp_path / "no-model"), ["a", "b"], ModelArgs())


def test_hub_id_without_network_says_how_to_use_a_local_copy():
    with pytest.raises(UserError) as error:
        load_tokenizer_and_config("someone/no-such-bert", ["a", "b"], ModelArgs())
    message = str(error.value)
    assert "Could not load model 'someone/no-such-bert' from the Hugging Face Hub" in message
    assert "hf download someone/no-such-bert --local-dir no-such-bert" in message


def test_model_without_a_classification_head(tmp_path):
    ViTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32).save_pretrained(tmp_path)
    with pytest.raises(UserError, match="is a 'vit' model, which has no sequence-classification head"):
        load_tokenizer_and_config(str(tmp_path), ["a", "b"], ModelArgs())
