import pytest
from datasets import ClassLabel, Value

from bert_sentiment.errors import UserError
from bert_sentiment.labels import build_label_mapping

STRING = Value("string")
INT = Value("int64")


def test_sentiment_words_ordered_negative_to_positive():
    mapping = build_label_mapping(["positive", "neutral", "negative"], STRING, None, "label")
    assert mapping.names == ["negative", "neutral", "positive"]
    assert mapping.encode(" positive ", "train") == 2


def test_chinese_label_words_kept_as_names():
    mapping = build_label_mapping(["好评", "差评"], STRING, None, "label")
    assert mapping.names == ["差评", "好评"]


def test_binary_integers_read_as_negative_positive():
    mapping = build_label_mapping([1, 0], INT, None, "label")
    assert mapping.names == ["negative", "positive"]
    assert "read as" in mapping.how
    assert mapping.encode("1", "validation") == 1 and mapping.encode(0.0, "test") == 0


def test_polarity_minus_one_to_one():
    assert build_label_mapping([-1, 0, 1], INT, None, "y").names == ["negative", "neutral", "positive"]


def test_unnamed_multiclass_integers_ask_for_class_names():
    with pytest.raises(UserError, match=r"integers \[0, 1, 2, 3, 4\] with no names.*--class_names"):
        build_label_mapping([0, 1, 2, 3, 4], INT, None, "label")


def test_class_names_name_sorted_integer_labels():
    mapping = build_label_mapping([5, 1, 3], INT, "bad,ok,good", "stars")
    assert mapping.names == ["bad", "ok", "good"]
    assert [mapping.encode(v, "train") for v in (1, 3, 5)] == [0, 1, 2]


def test_class_names_count_must_match():
    with pytest.raises(UserError, match="--class_names has 2 names.*3 distinct values"):
        build_label_mapping([0, 1, 2], INT, "neg,pos", "label")


def test_class_label_feature_names_survive():
    mapping = build_label_mapping([0, 1], ClassLabel(names=["neg", "pos"]), None, "label")
    assert mapping.names == ["neg", "pos"]
    assert mapping.how == "the dataset's ClassLabel feature"


def test_class_names_rename_a_class_label_feature_of_the_same_size():
    mapping = build_label_mapping([0, 1], ClassLabel(names=["0", "1"]), "negative,positive", "label")
    assert mapping.names == ["negative", "positive"] and mapping.how == "--class_names"
    assert [mapping.encode(v, "train") for v in (0, 1)] == [0, 1]


def test_class_names_must_match_a_class_label_features_size():
    with pytest.raises(
        UserError, match=r"--class_names has 3 names but the dataset's label has 2 classes \(neg, pos\)"
    ):
        build_label_mapping([0, 1], ClassLabel(names=["neg", "pos"]), "bad,ok,good", "label")


def test_empty_and_missing_labels_are_missing_but_zero_is_not():
    from bert_sentiment.labels import is_missing

    assert [is_missing(v) for v in (None, float("nan"), "", "  ")] == [True] * 4
    assert [is_missing(v) for v in (0, 0.0, "0", "negative", False)] == [False] * 5


def test_fractional_scores_are_refused():
    with pytest.raises(
        UserError, match=r"Label column .score. holds fractional numbers \(e\.g\. 0\.1\): scores, not classes"
    ):
        build_label_mapping([0.73, 0.1, 1.0], Value("float64"), None, "score")


def test_one_class_only_is_refused():
    with pytest.raises(UserError, match="only one class \\('positive'"):
        build_label_mapping(["positive"], STRING, None, "label")


def test_label_unseen_in_training_names_split_and_value():
    mapping = build_label_mapping(["positive", "negative"], STRING, None, "label")
    with pytest.raises(UserError, match="Label 'neutral' in the validation split does not occur in training"):
        mapping.encode("neutral", "validation")


def test_mixed_numbers_and_words_are_refused():
    with pytest.raises(UserError, match="mixes numbers and words"):
        build_label_mapping(["1", "positive"], STRING, None, "label")


@pytest.mark.parametrize(
    "values, expected",
    [
        (["pos", "neg"], ["neg", "pos"]),
        (["good", "bad"], ["bad", "good"]),
        (["Positive", "Negative", "Neutral"], ["Negative", "Neutral", "Positive"]),
        (
            ["very positive", "positive", "neutral", "negative", "very negative"],
            ["very negative", "negative", "neutral", "positive", "very positive"],
        ),
        (["正面", "负面"], ["负面", "正面"]),
        (["积极", "中性", "消极"], ["消极", "中性", "积极"]),
    ],
)
def test_string_labels_are_ranked_negative_first_whatever_their_spelling(values, expected):
    mapping = build_label_mapping(values, STRING, None, "label")
    assert mapping.names == expected
    assert mapping.how == "the label strings, ordered negative to positive"
    assert [mapping.encode(name, "train") for name in expected] == list(range(len(expected)))


def test_other_string_labels_are_sorted_and_say_so():
    mapping = build_label_mapping(["sports", "arts", "news"], STRING, None, "topic")
    assert mapping.names == ["arts", "news", "sports"] and mapping.how == "the label strings, sorted"


@pytest.mark.parametrize("bad", ["good|great", "bad\nreview", "`ok`"])
def test_a_label_name_that_would_break_the_card_is_refused_with_the_reason(bad):
    with pytest.raises(UserError, match="label names appear in the model card's tables, its code and the app.*Rename"):
        build_label_mapping([bad, "negative"], Value("string"), None, "label")


def test_a_label_holding_several_characters_that_break_the_card_names_each_in_its_refusal():
    with pytest.raises(UserError) as refused:
        build_label_mapping(["good|`great`", "negative"], Value("string"), None, "label")
    assert str(refused.value) == (
        "Label 'good|`great`' holds '`', '|': label names appear in the model card's tables, its code and the app, "
        "which that would break. Rename that class in the label column (for example 'good|great' to 'good')."
    )
