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
