import numpy as np
import pytest

from bert_sentiment.errors import UserError
from bert_sentiment.lengths import choose_max_length, length_report, model_length_limit, token_lengths


def test_default_covers_the_99th_percentile_rounded_to_8():
    lengths = np.array([10] * 98 + [37, 300])
    max_length, reason = choose_max_length(lengths, None, limit=512)
    assert max_length == 40 and "99th percentile" in reason


def test_default_is_capped_at_the_model_limit():
    max_length, reason = choose_max_length(np.array([900] * 10), None, limit=512)
    assert max_length == 512 and "capped" in reason


def test_requested_length_beyond_the_model_is_refused():
    with pytest.raises(UserError, match="--max_seq_length 1024 must be between 8 and the model's limit of 512"):
        choose_max_length(np.array([10]), 1024, limit=512)


def test_report_counts_truncated_texts():
    report = length_report({"train": np.array([5, 10, 20, 40])}, 16, "test")
    assert report["splits"]["train"]["truncated"] == 2
    assert report["splits"]["train"]["max"] == 40


def test_token_lengths_include_special_tokens(tiny_bert):
    from transformers import AutoConfig, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    assert token_lengths(tokenizer, ["the movie was great", "酒店很好"]).tolist() == [6, 6]
    assert model_length_limit(tokenizer, AutoConfig.from_pretrained(tiny_bert)) == 128


def test_a_text_longer_than_the_model_reads_is_counted_whole_without_the_tokenizers_warning(tiny_bert, caplog):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert, model_max_length=128)  # as a real checkpoint's says
    assert token_lengths(tokenizer, ["great " * 200, "great"]).tolist() == [202, 3], "not cut at the model's 128"
    assert "longer than the specified maximum" not in caplog.text, "measuring is not running the model"
