import pytest

from bert_sentiment.errors import UserError
from bert_sentiment.languages import BASE_CHECKPOINTS, default_checkpoint, detect_language, resolve_language


def test_english_and_chinese_detected():
    assert detect_language(["A wonderful film, truly.", "Boring."])[0] == "en"
    assert detect_language(["房间很干净，服务也好 OK", "太差了"])[0] == "zh"
    assert detect_language(["Отличный фильм", "Ужасно"])[0] == "multilingual"


def test_the_shares_decide_at_their_limits_and_are_said_in_the_reason():
    assert detect_language(["好好好" + "ж" * 7]) == ("zh", "30% of letters are Chinese characters")
    assert detect_language(["goodbye" + "ура"]) == ("en", "70% of letters are Latin")
    assert detect_language(["Good Отлично"]) == ("multilingual", "only 36% Latin and 0% Chinese letters")
    assert detect_language(["好 Отличный фильм"]) == ("multilingual", "only 0% Latin and 7% Chinese letters")
    assert detect_language(["123", "!!!"]) == ("multilingual", "only 0% Latin and 0% Chinese letters")


def test_many_one_letter_texts_are_read_as_they_are():
    assert detect_language(["Я", "Ы"] * 25)[0] == "multilingual", "nothing Latin between the texts"


def test_default_checkpoints_and_the_log_says_why(caplog):
    caplog.set_level("INFO")
    assert resolve_language("auto", ["这家酒店很好"]) == "zh"
    assert default_checkpoint("zh") == BASE_CHECKPOINTS["zh"] == "google-bert/bert-base-chinese"
    assert "Detected language: zh (100% of letters are Chinese characters, in a sample of 1 texts)." in caplog.messages
    assert caplog.messages[-1] == (
        "No --model_name_or_path given: using google-bert/bert-base-chinese, the default for language 'zh'."
    )
    assert BASE_CHECKPOINTS["en"] == "google-bert/bert-base-uncased"


def test_unknown_language_lists_choices():
    with pytest.raises(UserError, match="--language 'fr' is not one of auto, en, zh, multilingual"):
        resolve_language("fr", ["x"])


def test_an_encoder_whose_vocabulary_misses_the_texts_is_named_before_training(tiny_bert, tmp_path, caplog):
    """The tests' tiny BERT knows English and Chinese toy reviews, not Cyrillic: a user who names such an encoder for
    Russian reviews hears it before the weights load, with the encoder made for the language."""
    from transformers import AutoTokenizer

    from bert_sentiment import fine_tune
    from bert_sentiment.arguments import parse_args
    from bert_sentiment.languages import UNKNOWN_TOKEN_WARNING, unknown_token_share, warn_unknown_tokens
    from tests.conftest import english_reviews, write_csv

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    english = [text for text, _ in english_reviews(200)]
    russian = [f"{word} фильм, {n}" for n in range(100) for word in ("отличный", "ужасный")]
    assert unknown_token_share(tokenizer, english) == 0
    assert unknown_token_share(tokenizer, russian + english) > UNKNOWN_TOKEN_WARNING
    caplog.set_level("WARNING")
    assert warn_unknown_tokens(tokenizer, "tiny", "en", english) == 0 and not caplog.messages
    assert unknown_token_share(tokenizer, []) == 0
    warn_unknown_tokens(tokenizer, BASE_CHECKPOINTS["multilingual"], "multilingual", russian)
    assert caplog.messages[-1].endswith(
        "(language: multilingual). An encoder whose vocabulary covers these texts would read them."
    ), "the language's own default named: no other to suggest"
    caplog.clear()

    data = write_csv(
        tmp_path / "отзывы.csv", [(text, ["positive", "negative"][i % 2]) for i, text in enumerate(russian)]
    )
    model_args, data_args, training_args = parse_args(
        ["--train_file", str(data), "--model_name_or_path", str(tiny_bert), "--output_dir", str(tmp_path / "out")]
    )
    fine_tune.prepare_data(model_args, data_args, training_args)
    (warning,) = [message for message in caplog.messages if "unknown to the tokenizer" in message]
    share = unknown_token_share(tokenizer, russian)
    assert warning == (
        f"{100 * share:.0f}% of the training texts' tokens are unknown to the tokenizer of {tiny_bert} (read as [UNK]): "
        "the model will learn little from them (language: multilingual). An encoder made for this language reads it: "
        f"{BASE_CHECKPOINTS['multilingual']}, the default for 'multilingual' (leave out --model_name_or_path)."
    )
