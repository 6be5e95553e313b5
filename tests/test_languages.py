import pytest

from bert_sentiment.errors import UserError
from bert_sentiment.languages import BASE_CHECKPOINTS, default_checkpoint, detect_language, resolve_language


def test_english_and_chinese_detected():
    assert detect_language(["A wonderful film, truly.", "Boring."])[0] == "en"
    assert detect_language(["房间很干净，服务也好 OK", "太差了"])[0] == "zh"
    assert detect_language(["Отличный фильм", "Ужасно"])[0] == "multilingual"


def test_default_checkpoints_and_the_log_says_why(caplog):
    caplog.set_level("INFO")
    assert resolve_language("auto", ["这家酒店很好"]) == "zh"
    assert default_checkpoint("zh") == BASE_CHECKPOINTS["zh"] == "google-bert/bert-base-chinese"
    assert "Chinese characters" in caplog.text
    assert caplog.messages[-1] == (
        "No --model_name_or_path given: using google-bert/bert-base-chinese, the default for language 'zh'."
    )
    assert BASE_CHECKPOINTS["en"] == "google-bert/bert-base-uncased"


def test_unknown_language_lists_choices():
    with pytest.raises(UserError, match="--language 'fr' is not one of auto, en, zh, multilingual"):
        resolve_language("fr", ["x"])
