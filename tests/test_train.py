"""End to end through train.py: what a user runs, what they see, what lands in output_dir."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from transformers import TrainerCallback, pipeline

import train
from bert_sentiment.arguments import parse_args
from bert_sentiment.fine_tune import fine_tune
from tests.conftest import english_reviews, quick_training_flags, write_csv

ROOT = Path(__file__).resolve().parents[1]


def run_train(flags) -> int:
    return train.main([str(flag) for flag in flags])


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_learns_separable_english_and_pipeline_answers_with_label_names(tiny_bert, english_csv, tmp_path):
    out = tmp_path / "out"
    test_file = write_csv(tmp_path / "test.csv", english_reviews(40, seed=11))
    assert (
        run_train(["--train_file", english_csv, "--test_file", test_file, *quick_training_flags(tiny_bert, out)]) == 0
    )

    results = read_json(out / "all_results.json")
    assert results["eval_accuracy"] >= 0.9 and results["test_accuracy"] >= 0.9
    facts = read_json(out / "run_facts.json")
    assert facts["label_names"] == ["negative", "positive"]
    assert facts["results"]["test"]["metrics"]["accuracy"] == pytest.approx(results["test_accuracy"])
    assert set(facts["results"]["test"]["baselines"]) == {"majority_class", "tfidf_logistic_regression"}
    assert facts["data"]["source"]["files"]["train"]["name"] == "reviews.csv"
    for artefact in (
        "model.safetensors",
        "tokenizer.json",
        "confusion_matrix_test.png",
        "wrong_predictions_test.jsonl",
    ):
        assert (out / artefact).is_file(), artefact
    assert not list(out.glob("checkpoint-*")), "a finished run keeps only its best model"

    classify = pipeline("text-classification", model=str(out))
    # Validation F1 reaches 1.0 by the second epoch and stays there: of the tied checkpoints the
    # lowest-loss one is kept, so answers are confident, not the earliest tie's near-50/50.
    assert classify("the acting was superb and delightful")[0] == {
        "label": "positive",
        "score": pytest.approx(1, abs=0.1),
    }
    assert classify("the plot was horrible and dull")[0] == {"label": "negative", "score": pytest.approx(1, abs=0.1)}
    assert facts["training"]["best_checkpoint_step"] == facts["training"]["global_steps"]
    assert facts["lengths"]["max_length"] == 16, "training's budget: the 99th percentile of these short texts"
    assert classify.tokenizer.model_max_length == facts["lengths"]["inference_max_length"] == 128, "the model's limit"


def test_a_plain_pipeline_call_reads_past_the_training_max_length(trained_run):
    """Training cuts texts at its max_length (16 tokens here); users' texts are read whole, up to the model's limit."""
    facts = json.loads((trained_run / "run_facts.json").read_text())
    classify = pipeline("text-classification", model=str(trained_run))
    opening = "the movie and the film and the story . " * 3
    cut_at = facts["lengths"]["max_length"]
    answers, cut = {}, {}
    for words in ("superb and delightful", "horrible and dull"):
        text = f"{opening} the acting was {words}"
        assert len(classify.tokenizer(text)["input_ids"]) > 2 * cut_at, "the opinion lies past the training max_length"
        answers[words] = classify(text, truncation=True)[0]
        cut[words] = classify(text, truncation=True, max_length=cut_at)[0]["label"]
    assert cut["superb and delightful"] == cut["horrible and dull"], "read only to max_length, the two look alike"
    assert (
        answers["superb and delightful"]["label"] == "positive" and answers["horrible and dull"]["label"] == "negative"
    )
    assert min(answer["score"] for answer in answers.values()) > 0.75  # the shared run learned from noisy labels
    card = (trained_run / "README.md").read_text()
    assert "A plain pipeline call with `truncation=True` reads up to 128 tokens of a text" in card
    assert f"training read at most {cut_at} tokens per text" in card


def test_chinese_labels_survive_to_the_pipeline(tiny_bert, chinese_csv, tmp_path):
    out = tmp_path / "out"
    assert run_train(["--train_file", chinese_csv, *quick_training_flags(tiny_bert, out)]) == 0
    facts = read_json(out / "run_facts.json")
    assert facts["language"] == "zh" and facts["label_names"] == ["差评", "好评"]
    assert facts["data"]["text_columns"] == ["review"] and facts["data"]["label_column"] == "sentiment"
    answer = pipeline("text-classification", model=str(out))("房间干净，服务热情", top_k=None)
    assert {a["label"] for a in answer} == {"差评", "好评"}


def test_three_classes_report_macro_and_weighted_scores(tiny_bert, tmp_path):
    rows = english_reviews(180)
    rows += [(f"the {noun} was fine and okay {i}", "neutral") for i, noun in enumerate(["film", "plot", "cast"] * 30)]
    data = write_csv(tmp_path / "three.csv", rows, header=("sentence", "sentiment"))
    out = tmp_path / "out"
    assert run_train(["--train_file", data, *quick_training_flags(tiny_bert, out)]) == 0
    facts = read_json(out / "run_facts.json")
    assert facts["label_names"] == ["negative", "neutral", "positive"]
    assert {"f1", "f1_weighted", "precision_weighted"} <= set(facts["results"]["validation"]["metrics"])
    config = read_json(out / "config.json")
    assert config["id2label"] == {"0": "negative", "1": "neutral", "2": "positive"}


def test_run_from_a_yaml_file_with_class_weighting(tiny_bert, tmp_path, caplog):
    rows = english_reviews(200)
    imbalanced = [row for i, row in enumerate(rows) if row[1] == "negative" or i % 8 == 1]  # about 4:1
    data = write_csv(tmp_path / "imbalanced.csv", imbalanced)
    flags = quick_training_flags(tiny_bert, tmp_path / "out")
    config = {flags[i].lstrip("-"): flags[i + 1] for i in range(0, len(flags), 2)}
    config.update(train_file=str(data), class_weighting="balanced")
    (tmp_path / "run.yaml").write_text("".join(f"{key}: {value}\n" for key, value in config.items()))
    caplog.set_level("INFO")
    assert run_train([tmp_path / "run.yaml"]) == 0
    assert "Class weights:" in caplog.text
    assert read_json(tmp_path / "out" / "run_facts.json")["hyperparameters"]["class_weighting"] == "balanced"


class InterruptAtStep(TrainerCallback):
    """Sends this process the Ctrl-C a user would press, in the middle of training."""

    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            os.kill(os.getpid(), signal.SIGINT)


def test_interrupted_run_keeps_a_checkpoint_and_resume_finishes_it(tiny_bert, english_csv, tmp_path, caplog):
    caplog.set_level("INFO")
    out = tmp_path / "out"
    flags = ["--train_file", str(english_csv), *quick_training_flags(tiny_bert, out)]
    assert fine_tune(*parse_args(flags), callbacks=[InterruptAtStep(5)]) is None
    checkpoints = sorted(out.glob("checkpoint-*"))
    assert checkpoints and not (out / "run_facts.json").exists()
    stopped_at = int(checkpoints[-1].name.split("-")[1])
    assert stopped_at in (5, 6), "the checkpoint is taken right after the interrupted step"

    assert run_train(flags) == 2
    assert "already holds an earlier run" in caplog.text and "--resume" in caplog.text

    assert run_train([*flags, "--resume"]) == 0
    facts = read_json(out / "run_facts.json")
    assert facts["training"]["epochs_run"] == 6.0
    assert facts["results"]["validation"]["metrics"]["accuracy"] >= 0.9
    assert f"Resuming from {checkpoints[-1]}" in caplog.text


def test_resume_without_a_checkpoint(tiny_bert, english_csv, tmp_path, caplog):
    assert run_train(["--train_file", english_csv, *quick_training_flags(tiny_bert, tmp_path / "o"), "--resume"]) == 2
    assert "no checkpoint in" in caplog.text


def bad_input_cases(tmp_path: Path) -> dict:
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes("text,label\n很好吃,1\n难吃,0\n".encode("gbk"))
    one_class = write_csv(tmp_path / "one.csv", [(f"great film {i}", "positive") for i in range(10)])
    floats = write_csv(tmp_path / "scores.csv", [(f"film {i}", i / 10 + 0.05) for i in range(10)])
    empty = write_csv(tmp_path / "empty.csv", [("", "positive"), (" ", "negative")])
    good = write_csv(tmp_path / "good.csv", english_reviews(40))
    return {
        "missing file": (["--train_file", tmp_path / "nope.csv"], "does not exist"),
        "not utf-8": (["--train_file", gbk], "iconv -f GB18030 -t UTF-8"),
        "unknown column": (["--train_file", good, "--text_column_names", "txt"], "Did you mean 'text'?"),
        "one class": (["--train_file", one_class], "only one class"),
        "unmappable labels": (["--train_file", floats], "fractional numbers"),
        "empty after cleaning": (["--train_file", empty], "No training examples are left"),
    }


@pytest.mark.parametrize(
    "case", ["missing file", "not utf-8", "unknown column", "one class", "unmappable labels", "empty after cleaning"]
)
def test_bad_data_is_reported_before_any_model_is_loaded(case, tmp_path, caplog):
    flags, message = bad_input_cases(tmp_path)[case]
    # The model path does not exist either: the data error must come first, before any loading.
    code = run_train([*flags, "--model_name_or_path", tmp_path / "no-model", "--output_dir", tmp_path / "out"])
    assert code == 2
    assert message in caplog.text
    assert "no-model" not in caplog.text
    assert not (tmp_path / "out").exists()


def test_unknown_model_path(english_csv, tmp_path, caplog):
    assert (
        run_train(
            ["--train_file", english_csv, "--model_name_or_path", tmp_path / "missing", "--output_dir", tmp_path / "o"]
        )
        == 2
    )
    assert "Could not load model from the folder" in caplog.text


def test_chinese_data_picks_bert_base_chinese_and_says_why(chinese_csv, tmp_path, caplog):
    caplog.set_level("INFO")
    assert run_train(["--train_file", chinese_csv, "--output_dir", tmp_path / "o"]) == 2  # offline: cannot download it
    assert "Detected language: zh" in caplog.text
    assert "using google-bert/bert-base-chinese, the default for language 'zh'" in caplog.text
    assert "hf download google-bert/bert-base-chinese" in caplog.text


def test_hub_dataset_offline_says_how_to_use_a_file(tmp_path, caplog):
    assert run_train(["--dataset_name", "glue", "--dataset_config_name", "sst2", "--output_dir", tmp_path / "o"]) == 2
    assert "Could not load dataset 'glue' (config 'sst2')" in caplog.text and "--train_file" in caplog.text


def test_command_line_errors_are_one_message_not_a_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "train.py", "--train_file", str(tmp_path / "missing.csv")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "missing.csv' does not exist" in result.stderr
    assert "Traceback" not in result.stderr


class FirstStep(TrainerCallback):
    step = None

    def on_step_end(self, args, state, control, **kwargs):
        self.step = self.step or state.global_step


HARD_KILL = """
import os, signal, sys, time
from transformers import TrainerCallback
from bert_sentiment.arguments import parse_args
from bert_sentiment.fine_tune import fine_tune

class SlowThenKilled(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        time.sleep(0.05)  # slow enough for time-based checkpoints between epochs
        if state.global_step == int(os.environ["KILL_AT_STEP"]):
            os.kill(os.getpid(), signal.SIGKILL)  # what the OOM killer or a preempted machine does: no handler runs

fine_tune(*parse_args(sys.argv[1:]), callbacks=[SlowThenKilled()])
"""


@pytest.mark.parametrize("layer_lr_decay", ["1", "0.7"])  # 0.7: the optimizer's groups by layer are restored too
def test_a_hard_kill_loses_minutes_and_resume_ends_where_an_uninterrupted_run_ends(
    tiny_bert, tmp_path, caplog, layer_lr_decay
):
    data = write_csv(tmp_path / "reviews.csv", english_reviews(400))
    test = write_csv(tmp_path / "test.csv", english_reviews(60, seed=7))

    def flags(out):
        return [
            "--train_file",
            data,
            "--test_file",
            test,
            *quick_training_flags(tiny_bert, out),
            "--num_train_epochs",
            "3",
            "--learning_rate",
            "1e-3",
            "--checkpoint_minutes",
            "0.005",
            "--layer_lr_decay",
            layer_lr_decay,
            *("--export_onnx", "false", "--find_label_issues", "false"),  # not what resuming changes: 12 s a run
        ]

    steps_per_epoch = 23  # 360 training rows (10% held out) in batches of 16
    killed = subprocess.run(
        [sys.executable, "-c", HARD_KILL, *map(str, flags(tmp_path / "killed"))],
        cwd=ROOT,
        env={**os.environ, "KILL_AT_STEP": "40"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    saved = sorted(int(p.name.split("-")[1]) for p in (tmp_path / "killed").glob("checkpoint-*"))
    assert saved and steps_per_epoch < saved[-1] < 40, (
        f"a time-based checkpoint after epoch 1, before the kill: {saved}"
    )
    assert len(saved) <= 3, "old checkpoints are rotated away: the best and the newest stay"

    caplog.set_level("INFO")
    first_step = FirstStep()
    assert fine_tune(*parse_args([str(f) for f in [*flags(tmp_path / "killed"), "--resume"]]), callbacks=[first_step])
    assert f"Resuming from {tmp_path / 'killed' / f'checkpoint-{saved[-1]}'}" in caplog.text
    assert first_step.step == saved[-1] + 1, "the resumed run continues after the saved step, not from step 0"

    assert run_train(flags(tmp_path / "straight")) == 0
    resumed, straight = (
        read_json(tmp_path / "killed" / "all_results.json"),
        read_json(tmp_path / "straight" / "all_results.json"),
    )
    for key in ("eval_loss", "eval_accuracy", "test_loss", "test_accuracy", "test_f1"):
        assert resumed[key] == pytest.approx(straight[key], abs=1e-6), key
    training = read_json(tmp_path / "killed" / "run_facts.json")["training"]
    assert training["global_steps"] == 3 * steps_per_epoch
    if layer_lr_decay != "1":
        assert training["layer_learning_rates"].startswith("0.7 per layer down from the top: head and pooler 0.001,")
        assert (
            f"Layer-wise learning rates: {training['layer_learning_rates']}"
            in (tmp_path / "killed" / "README.md").read_text()
        )
    else:
        assert (
            "layer_learning_rates" not in training
            and "Layer-wise" not in (tmp_path / "killed" / "README.md").read_text()
        )


def test_bf16_training_reports_fp32_evaluation_and_saves_fp32_weights(tiny_bert, english_csv, tmp_path):
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    out = tmp_path / "out"
    test_rows = english_reviews(40, seed=11)
    test_file = write_csv(tmp_path / "test.csv", test_rows)
    assert (
        run_train(
            [
                "--train_file",
                english_csv,
                "--test_file",
                test_file,
                *quick_training_flags(tiny_bert, out),
                "--precision",
                "bf16",
            ]
        )
        == 0
    )
    facts = read_json(out / "run_facts.json")
    assert facts["training"]["precision"] == "bf16" and facts["hyperparameters"]["bf16"] is True
    assert "- Training precision: bf16 (asked for with --precision bf16)" in (out / "README.md").read_text()
    assert {tensor.dtype for tensor in load_file(out / "model.safetensors").values()} == {torch.float32}

    # The reported test loss is the fp32 model's: recompute it in fp32 from the saved files.
    tokenizer, model = (
        AutoTokenizer.from_pretrained(out),
        AutoModelForSequenceClassification.from_pretrained(out).eval(),
    )
    batch = tokenizer([text for text, _ in test_rows], padding=True, truncation=True, return_tensors="pt")
    labels = torch.tensor([int(label == "positive") for _, label in test_rows])
    with torch.no_grad():
        loss = torch.nn.functional.cross_entropy(model(**batch).logits, labels).item()
    assert read_json(out / "all_results.json")["test_loss"] == pytest.approx(loss, abs=1e-6)


def test_the_shared_trained_run_is_not_saturated(trained_run):
    """Card, publishing and app tests read this run: its figures must tell the splits apart."""
    results = read_json(trained_run / "run_facts.json")["results"]
    validation, test = (results[split]["metrics"] for split in ("validation", "test"))
    for metric in ("accuracy", "f1", "precision", "recall"):
        assert validation[metric] != test[metric], metric
    assert 0.6 < validation["accuracy"] < 1.0 and 0.6 < test["accuracy"] < 1.0
    assert (
        results["validation"]["baselines"]["tfidf_logistic_regression"]
        != results["test"]["baselines"]["tfidf_logistic_regression"]
    )


def test_the_run_says_what_it_did_with_the_pooler_and_the_model_still_loads_in_pipeline(
    trained_run, tiny_bert, english_csv, tmp_path
):
    """The tiny model's pooler was never trained (all-zero bias): kept by default, with a hint; started afresh by auto."""
    line = "- Pooler (the dense layer over [CLS] that the head reads): "
    kept = read_json(trained_run / "run_facts.json")["training"]["pooler"]
    assert kept.startswith("kept from the checkpoint, which never trained it") and "--reinit_pooler auto" in kept
    assert line + kept in (trained_run / "README.md").read_text()

    out = tmp_path / "out"
    assert (
        run_train(["--train_file", english_csv, *quick_training_flags(tiny_bert, out), "--reinit_pooler", "auto"]) == 0
    )
    note = "re-initialised (the checkpoint's was never trained: its bias is all zero)"
    assert read_json(out / "run_facts.json")["training"]["pooler"] == note
    assert line + note in (out / "README.md").read_text()
    answers = pipeline("text-classification", model=str(out))(["A wonderful film.", "Dull and far too long."])
    assert len(answers) == 2 and {answer["label"] for answer in answers} <= {"negative", "positive"}


def test_checkpoints_stay_until_the_runs_files_are_saved(tiny_bert, english_csv, tmp_path, monkeypatch):
    from bert_sentiment import fine_tune as fine_tune_module

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fine_tune_module, "save_run", disk_full)
    out = tmp_path / "out"
    with pytest.raises(OSError, match="No space left"):
        fine_tune(*parse_args(["--train_file", str(english_csv), *quick_training_flags(tiny_bert, out)]))
    assert list(out.glob("checkpoint-*")), "the checkpoints are kept: --resume can still finish the run"


def test_a_folder_of_other_files_is_not_taken_as_output_dir(tiny_bert, english_csv, tmp_path, caplog):
    out = tmp_path / "Documents"
    out.mkdir()
    (out / "thesis.docx").write_text("years of work")
    flags = ["--train_file", str(english_csv), *quick_training_flags(tiny_bert, out)]
    assert run_train(flags) == 2
    assert (
        "already holds other files (thesis.docx). Pass --resume" in caplog.text
        and "--overwrite_output_dir" in caplog.text
    )
    assert [p.name for p in out.iterdir()] == ["thesis.docx"], "nothing was written there"
    assert run_train([*flags, "--overwrite_output_dir"]) == 0
    assert (out / "thesis.docx").read_text() == "years of work" and (out / "run_facts.json").exists()


def test_seeds_do_not_overwrite_an_earlier_run(trained_run, tiny_bert, english_csv, tmp_path, caplog):
    import shutil

    out = tmp_path / "out"
    shutil.copytree(trained_run, out)
    before = (out / "model.safetensors").read_bytes()
    assert run_train(["--train_file", str(english_csv), *quick_training_flags(tiny_bert, out), "--seeds", "2"]) == 2
    assert "already holds an earlier run" in caplog.text
    assert (out / "model.safetensors").read_bytes() == before and not list(out.glob("seed-*"))


@pytest.mark.parametrize(
    "recorded, named, local",
    [
        ("google-bert/bert-base-uncased", "google-bert/bert-base-uncased", False),  # a download records its Hub id
        ("/home/alice/models/bert", "my-bert", True),  # a path is never published: the folder's name, marked local
        (None, "my-bert", True),
    ],
)
def test_a_local_base_model_is_named_by_its_hub_id_or_its_folder_never_its_path(tmp_path, recorded, named, local):
    from bert_sentiment.fine_tune import public_base_model

    folder = tmp_path / "my-bert"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"_name_or_path": recorded} if recorded else {}))
    assert public_base_model(str(folder), None) == {
        "base_model": named,
        **({"base_model_local": True} if local else {}),
    }
    assert public_base_model(str(folder), "bert-base-uncased") == {"base_model": "bert-base-uncased"}
