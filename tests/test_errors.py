"""How a mistake is worded: the closest choice offered, and an error said in one line."""

from bert_sentiment.errors import UserError, closest_match, did_you_mean, one_line


def test_the_closest_choice_is_offered_whatever_its_case_and_nothing_when_none_is_close():
    columns = ["Review_Text", "Sentiment", "date"]
    assert closest_match("review_text", columns) == "Review_Text", "the choice as the user wrote it"
    assert did_you_mean("sentimnet", columns) == " Did you mean 'Sentiment'?"
    assert did_you_mean("price", columns) == ""
    assert closest_match("anything", []) is None


def test_an_error_is_said_in_one_line_with_its_type_and_within_the_limit():
    err = ValueError("the first line says it\n  File 'x.py', line 3\n  more")
    assert one_line(err) == "ValueError: the first line says it"
    assert one_line(RuntimeError()) == "RuntimeError: "
    assert len(one_line(ValueError("x" * 1000), limit=50)) == 50
    assert len(one_line(ValueError("x" * 1000))) == 300, "a log line's length by default"


def test_a_user_error_is_not_taken_for_a_library_value_error():
    assert not issubclass(UserError, ValueError), "except ValueError around a library call never swallows ours"
