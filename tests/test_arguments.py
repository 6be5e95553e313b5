import json

import pytest
import torch

from bert_sentiment import arguments
from bert_sentiment.arguments import build_arguments, parse_args
from bert_sentiment.errors import UserError


def test_sentiment_defaults_and_trainer_flags_from_the_command_line():
    model_args, data_args, training_args = parse_args(["--train_file", "r.csv", "--gradient_accumulation_steps", "4"])
    assert model_args.model_name_or_path is None and data_args.train_file == "r.csv"
    assert training_args.gradient_accumulation_steps == 4
    assert training_args.eval_strategy == "epoch" and training_args.load_best_model_at_end
    assert training_args.train_sampling_strategy == "group_by_length"
    assert training_args.metric_for_best_model == "f1" and training_args.report_to in ("none", [])


def test_yaml_and_json_files_hold_a_whole_run(tmp_path):
    (tmp_path / "run.yaml").write_text("train_file: r.csv\nlearning_rate: 5.0e-5\nmax_seq_length: 64\n")
    (tmp_path / "run.json").write_text(json.dumps({"dataset_name": "imdb", "num_train_epochs": 1}))
    _, data_args, training_args = parse_args([str(tmp_path / "run.yaml")])
    assert (data_args.train_file, data_args.max_seq_length, training_args.learning_rate) == ("r.csv", 64, 5e-5)
    _, data_args, training_args = parse_args([str(tmp_path / "run.json")])
    assert (data_args.dataset_name, training_args.num_train_epochs) == ("imdb", 1)


def test_config_file_values_are_typed_like_flags(tmp_path):
    (tmp_path / "run.yaml").write_text("learning_rate: 3e-3\nbf16: true\nreport_to: [none]\n")
    training_args = parse_args([str(tmp_path / "run.yaml")])[2]
    assert training_args.learning_rate == 0.003 and training_args.bf16


def test_unknown_key_in_config_file(tmp_path):
    (tmp_path / "run.yaml").write_text("learning_rat: 3e-5\n")
    with pytest.raises(UserError, match="unknown argument 'learning_rat'. Did you mean 'learning_rate'"):
        parse_args([str(tmp_path / "run.yaml")])


def test_missing_config_file():
    with pytest.raises(UserError, match="Config file 'nowhere.yaml' does not exist"):
        parse_args(["nowhere.yaml"])


def test_precision_choices():
    assert parse_args(["--precision", "bf16"])[2].bf16
    assert parse_args(["--precision", "fp32"])[2].bf16 is False
    with pytest.raises(UserError, match=r"--precision: invalid choice: 'fp8' \(choose from 'auto', 'fp32', 'tf32'"):
        parse_args(["--precision", "fp8"])
    with pytest.raises(UserError, match="--precision 'fp8' is not one of auto, fp32, tf32, bf16, fp16"):
        build_arguments({"precision": "fp8"})  # the Python API's way in is checked as well


@pytest.mark.parametrize(
    ("flag", "choices"),
    [
        ("--precision", "{auto,fp32,tf32,bf16,fp16}"),
        ("--class_weighting", "{none,balanced}"),
        ("--find_label_issues", "{auto,fast,thorough,false}"),
        ("--reinit_pooler", "{auto,true,false}"),
        ("--language", "{auto,en,zh,multilingual}"),
        ("--long_text", "{truncate,head_tail,chunks}"),
        ("--header", "{auto,yes,no}"),
    ],
)
def test_help_lists_each_choice_flags_values(flag, choices):
    from transformers import HfArgumentParser

    from bert_sentiment.arguments import ALL_ARGUMENTS

    assert f"{flag} {choices}" in HfArgumentParser(ALL_ARGUMENTS).format_help()


def test_class_weighting_choices():
    with pytest.raises(
        UserError, match=r"--class_weighting: invalid choice: 'inverse' \(choose from 'none', 'balanced'\)"
    ):
        parse_args(["--class_weighting", "inverse"])
    with pytest.raises(UserError, match="--class_weighting 'inverse' is not one of none, balanced"):
        build_arguments({"class_weighting": "inverse"})


def test_a_run_file_says_false_as_yaml_writes_it(tmp_path):
    run_file = tmp_path / "run.yaml"
    run_file.write_text("output_dir: out\nfind_label_issues: false\ncalibrate: false\n")
    _, _, training_args = parse_args([str(run_file)])
    assert training_args.find_label_issues == "false" and training_args.calibrate is False


def test_a_run_files_text_keeps_its_case(tmp_path):
    run_file = tmp_path / "run.yaml"
    run_file.write_text("output_dir: Out/SST2\nhub_model_id: Alice/SST2-BERT\ntext_column_names: Review\n")
    _, data_args, training_args = parse_args([str(run_file)])
    assert (training_args.output_dir, training_args.hub_model_id) == ("Out/SST2", "Alice/SST2-BERT")
    assert data_args.text_column_names == "Review"


def test_conflicting_trainer_flags_are_a_user_error():
    with pytest.raises(UserError, match="Invalid combination of flags: --load_best_model_at_end requires"):
        parse_args(["--save_strategy", "steps"])


@pytest.mark.parametrize(
    "flags, expected",
    [
        ({"amx_bf16", "avx512_bf16", "avx2"}, "bf16"),  # Xeon with AMX
        ({"avx512_bf16", "avx512f", "avx2"}, "bf16"),  # AMD EPYC Zen 4, Cooper Lake
        ({"avx512f", "avx2"}, "fp32"),  # AVX-512 without bf16 instructions
        ({"avx2"}, "fp32"),
    ],
)
def test_auto_precision_follows_the_cpus_bf16_instructions(monkeypatch, flags, expected):
    monkeypatch.setattr(arguments, "cpu_flags", lambda: flags)
    precision, reason = arguments.auto_precision(on_cpu=True)
    assert precision == expected
    assert ("natively" in reason) == (expected == "bf16") and (expected == "bf16" or "emulated" in reason)
    args = parse_args(["--output_dir", "o", "--use_cpu", "true"])[2]
    assert (args.precision_used, args.bf16) == (expected, expected == "bf16")
    assert args.precision_reason == reason


def test_bf16_asked_on_a_cpu_without_it_warns_and_names_auto(monkeypatch, caplog):
    monkeypatch.setattr(arguments, "cpu_flags", lambda: {"avx2"})
    args = parse_args(["--output_dir", "o", "--precision", "bf16"])[2]
    assert args.bf16 and args.precision_used == "bf16"
    assert "emulated" in caplog.text and "--precision auto picks fp32 here" in caplog.text


def test_negative_checkpoint_minutes_is_refused_with_the_fix():
    with pytest.raises(UserError, match=r"--checkpoint_minutes -1 must be 0 \(off\) or more"):
        parse_args(["--output_dir", "o", "--checkpoint_minutes", "-1"])


@pytest.mark.parametrize("value", ["0", "-0.5", "1.2"])
def test_layer_lr_decay_outside_0_to_1_is_refused_with_the_fix(value):
    with pytest.raises(
        UserError, match=rf"--layer_lr_decay {value} must be above 0 and at most 1 \(1 turns it off\), e.g. 0.85"
    ):
        parse_args(["--output_dir", "o", "--layer_lr_decay", value])


@pytest.mark.parametrize(
    "capability, batch, expected",
    [((9, 0), 32, "tf32"), ((8, 0), 127, "tf32"), ((8, 0), 128, "bf16"), ((9, 0), 256, "bf16"), ((7, 5), 256, "fp16")],
)
def test_auto_precision_on_gpus_follows_the_measured_fastest_for_the_batch(monkeypatch, capability, batch, expected):
    monkeypatch.setattr(arguments.torch.cuda, "get_device_capability", lambda device=None: capability)
    monkeypatch.setattr(arguments.torch.cuda, "get_device_name", lambda device=None: "Test GPU")
    precision, reason = arguments.auto_precision(on_cpu=False, batch=batch)
    assert precision == expected and "Test GPU" in reason
    if expected == "bf16":
        assert reason.endswith(f"at {batch} texts a step its matrix products, not its launches, bound the step")


@pytest.mark.skipif(torch.cuda.is_available(), reason="what a machine without a GPU decides")
def test_batches_left_out_are_the_cpus_and_a_gpu_gets_many_texts_a_step_with_the_reason():
    training_args = parse_args(["--train_file", "r.csv"])[2]
    assert (training_args.per_device_train_batch_size, training_args.per_device_eval_batch_size) == (32, 64)
    assert training_args.batch_reason == "", "a CPU's default needs no words"
    asked = parse_args(["--train_file", "r.csv", "--per_device_train_batch_size", "8"])[2]
    assert (asked.per_device_train_batch_size, asked.per_device_eval_batch_size, asked.batch_reason) == (8, 64, "")
    assert (training_args.learning_rate, asked.learning_rate) == (5e-5, 5e-5)
    train, evaluation, reason = arguments.default_batches(on_cpu=False)
    assert (train, evaluation) == (256, 256)
    assert reason == (
        "the default on a GPU, whose step of 32 texts costs about what one of 128 does (bert-base: 1,021 samples/s at "
        "32, 5,279 at 256 on an H200)"
    )


@pytest.mark.parametrize(
    "given, expected",
    [
        ({}, (256, 256, 1.5e-4)),
        ({"learning_rate": 3e-5}, (256, 256, 3e-5)),
        ({"per_device_train_batch_size": 32}, (32, 256, 5e-5)),
        ({"per_device_eval_batch_size": 16}, (256, 16, 1.5e-4)),
    ],
)
def test_on_a_gpu_what_the_flags_leave_out_is_its_batch_and_the_learning_rate_for_it(monkeypatch, given, expected):
    training_args = parse_args(["--train_file", "r.csv"])[2]
    for name in ("per_device_train_batch_size", "per_device_eval_batch_size", "learning_rate"):
        setattr(training_args, name, given.get(name))  # as a GPU machine's parsing meets them
    training_args.use_cpu = False
    monkeypatch.setattr(arguments.torch.cuda, "is_available", lambda: True)
    training_args._apply_batches()
    resolved = (
        training_args.per_device_train_batch_size,
        training_args.per_device_eval_batch_size,
        training_args.learning_rate,
    )
    assert resolved == expected
    if "per_device_train_batch_size" in given:
        assert training_args.batch_reason == "", "a batch asked for needs no reason"
    elif "learning_rate" in given:
        assert training_args.batch_reason == arguments.default_batches(on_cpu=False)[2]
    else:
        assert training_args.batch_reason == (
            arguments.default_batches(on_cpu=False)[2] + "; learning rate 0.00015 for its fewer, larger steps"
        )


@pytest.mark.parametrize(
    "capability, batch, accumulation, expected",
    [((9, 0), 64, 2, "bf16"), ((9, 0), 16, 2, "tf32"), ((9, 0), 127, 1, "tf32"), ((7, 5), 256, 1, "fp16")],
)
def test_on_a_gpu_auto_precision_reads_the_texts_of_a_whole_step(
    monkeypatch, capability, batch, accumulation, expected
):
    """A step of 64 texts at a time, accumulated twice, is 128 texts: bf16 on a GPU that has it (faked here)."""
    training_args = parse_args(["--train_file", "r.csv"])[2]
    training_args.per_device_train_batch_size, training_args.gradient_accumulation_steps = batch, accumulation
    training_args.bf16 = training_args.fp16 = training_args.tf32 = False
    training_args.use_cpu = False
    monkeypatch.setattr(arguments.torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(arguments.torch.cuda, "get_device_capability", lambda device=None: capability)
    monkeypatch.setattr(arguments.torch.cuda, "get_device_name", lambda device=None: "Test GPU")
    training_args._apply_precision()
    assert training_args.precision_used == expected
    assert (training_args.bf16, training_args.fp16, training_args.tf32) == (
        expected == "bf16",
        expected == "fp16",
        expected == "tf32",
    )
    assert training_args.precision_reason == arguments.auto_precision(False, batch * accumulation)[1]


def test_flags_left_out_of_the_call_are_read_from_the_command_line(monkeypatch):
    # sys.argv[0] is the program; not "train.py" here, which would mark this test as one that trains (conftest.trains)
    monkeypatch.setattr("sys.argv", ["a-program", "--train_file", "r.csv", "--seed", "7"])
    _, data_args, training_args = parse_args()
    assert (data_args.train_file, training_args.seed) == ("r.csv", 7)


def test_a_run_file_takes_json_with_tabs_and_nested_settings(tmp_path):
    """JSON indented with tabs, which YAML refuses, and a mapping value (the scheduler's settings) passed whole."""
    run_file = tmp_path / "run.json"
    run_file.write_text('{\n\t"train_file": "r.csv",\n\t"lr_scheduler_kwargs": {"num_cycles": 2}\n}')
    training_args = parse_args([str(run_file)])[2]
    assert training_args.lr_scheduler_kwargs == {"num_cycles": 2}
    (tmp_path / "run.yaml").write_text("train_file: r.csv\nlr_scheduler_kwargs:\n  num_cycles: 3\n")
    assert parse_args([str(tmp_path / "run.yaml")])[2].lr_scheduler_kwargs == {"num_cycles": 3}


def test_a_data_file_given_with_an_equals_sign_is_a_flag_not_a_run_file():
    data_args, training_args = parse_args(["--train_file=reviews.json", "--seed", "3"])[1:]
    assert (data_args.train_file, training_args.seed) == ("reviews.json", 3)
    assert parse_args(["--validation_file=dev.yaml"])[1].validation_file == "dev.yaml"


def test_a_run_file_with_flags_after_it_is_refused(tmp_path):
    (tmp_path / "run.yaml").write_text("train_file: r.csv\n")
    with pytest.raises(UserError) as refused:
        parse_args([str(tmp_path / "run.yaml"), "--seed=3"])
    assert str(refused.value) == (
        f"A run file is read on its own: put --seed=3 into '{tmp_path / 'run.yaml'}', or give every setting as flags."
    )


def test_tf32_on_a_cpu_trains_in_fp32_and_says_so():
    args = parse_args(["--output_dir", "o", "--precision", "tf32", "--use_cpu", "true"])[2]
    assert args.precision_used == "fp32" and not args.tf32
    assert args.precision_reason == "asked for with --precision tf32; TF32 is a GPU mode, so a CPU trains in fp32"


@pytest.mark.parametrize(
    ("given", "mode"),
    [(True, "auto"), (False, "false"), ("true", "auto"), (" Thorough ", "thorough"), ("FAST", "fast"),
     ("no", "false"), ("None", "false"), ("auto", "auto"), ("false", "false")],
)  # fmt: skip
def test_find_label_issues_reads_the_ways_people_write_a_mode(given, mode):
    assert arguments.label_issue_mode(given) == mode


def test_an_unknown_label_issue_mode_is_refused_with_the_modes():
    with pytest.raises(UserError) as refused:
        arguments.label_issue_mode("deep")
    assert str(refused.value) == "--find_label_issues 'deep' is not one of auto, fast, thorough, false."


def test_auto_precision_is_bf16_only_where_the_cpu_computes_it_and_tf32_or_fp16_by_the_gpus_generation(monkeypatch):
    monkeypatch.setattr(arguments, "cpu_flags", lambda: {"avx2", "avx512_bf16", "amx_bf16"})
    assert arguments.auto_precision(on_cpu=True) == ("bf16", "the CPU computes bf16 natively (amx_bf16, avx512_bf16)")
    monkeypatch.setattr(arguments, "cpu_flags", lambda: {"avx2", "avx512f"})
    precision, why = arguments.auto_precision(on_cpu=True)
    assert precision == "fp32" and why.startswith("the CPU has no native bf16 (no AMX or AVX-512 BF16 flag)")
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device: "NVIDIA H100")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device: (9, 0))
    assert arguments.auto_precision(on_cpu=False)[0] == "tf32"
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device: (8, 0))
    assert arguments.auto_precision(on_cpu=False) == (
        "tf32",
        "the GPU (NVIDIA H100) has TF32 tensor cores, measured faster than bf16 autocast for BERT",
    )
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device: "Tesla T4")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device: (7, 5))
    assert arguments.auto_precision(on_cpu=False) == (
        "fp16",
        "the GPU (Tesla T4) has fp16 tensor cores but no TF32 or bf16; fp16 with loss scaling",
    )


@pytest.mark.parametrize(
    ("flags", "refusal"),
    [
        (["--seeds", "0"], "--seeds 0 must be at least 1."),
        (["--hp_search", "true", "--seeds", "2"],
         "Run --hp_search first, then --seeds with the values it chose (hp_search.json)."),
        (["--hp_search", "true", "--hp_search_trials", "0"], "--hp_search_trials 0 must be at least 1."),
        (["--abstain_precision", "1"],
         "--abstain_precision 1 must be between 0 and 1, e.g. 0.95 (answers right 95% of the time)."),
        (["--abstain_precision", "0"],
         "--abstain_precision 0 must be between 0 and 1, e.g. 0.95 (answers right 95% of the time)."),
    ],
)  # fmt: skip
def test_combinations_a_run_cannot_make_are_refused_before_anything_loads(flags, refusal):
    with pytest.raises(UserError) as refused:
        parse_args(["--train_file", "r.csv", *flags])
    assert str(refused.value) == refusal


def test_the_limits_themselves_are_accepted_and_settings_resolve_once():
    accepted = [
        ["--hp_search", "true", "--seeds", "1", "--hp_search_trials", "1"],
        ["--hp_search_trials", "0"],  # no search: the trial count is not read
        ["--abstain_precision", "0.95"],
        ["--find_label_issues", "thorough"],
    ]
    for flags in accepted:
        parse_args(["--train_file", "r.csv", *flags])
    training_args = parse_args(["--train_file", "r.csv", "--seed", "7", "--find_label_issues", "thorough"])[2]
    assert training_args.split_seed == 7, "the split follows the seed unless it is given"
    assert training_args.find_label_issues == "thorough"
    assert parse_args(["--train_file", "r.csv", "--seed", "7", "--split_seed", "3"])[2].split_seed == 3
    assert parse_args(["--train_file", "r.csv", "--hub_private", "true"])[2].hub_private_repo is True
    assert not parse_args(["--train_file", "r.csv"])[2].hub_private_repo, "public unless asked"


@pytest.mark.skipif(torch.cuda.is_available(), reason="what a machine without a GPU decides")
def test_on_a_cpu_pinning_is_off_and_the_precision_is_said_with_its_reason(monkeypatch, caplog):
    training_args = parse_args(["--train_file", "r.csv"])[2]
    assert training_args.dataloader_pin_memory is False, "pinning only helps copies to a GPU"
    monkeypatch.setattr(arguments, "cpu_flags", lambda: {"avx2"})
    with caplog.at_level("WARNING", logger="bert_sentiment"):
        asked = parse_args(["--train_file", "r.csv", "--bf16", "true"])[2]
    assert asked.bf16 and asked.use_cpu and asked.precision_reason == "asked for with --bf16/--fp16"
    assert caplog.messages == [
        "bf16 on this CPU is emulated (no AMX or AVX-512 BF16) and will be slow; --precision auto picks fp32 here."
    ]
    caplog.clear()
    with caplog.at_level("WARNING", logger="bert_sentiment"):
        tf32 = parse_args(["--train_file", "r.csv", "--precision", "tf32"])[2]
    assert not tf32.bf16 and not tf32.fp16 and not tf32.tf32 and tf32.precision_used == "fp32"
    assert tf32.precision_reason == "asked for with --precision tf32; TF32 is a GPU mode, so a CPU trains in fp32"
    assert caplog.messages == [], "fp32 asked for: no warning about bf16"
    fp32 = parse_args(["--train_file", "r.csv", "--precision", "fp32"])[2]
    assert fp32.use_cpu is False, "fp32 on a CPU needs no flag set"


def test_a_run_file_may_be_yml_leave_values_empty_and_must_hold_a_mapping(tmp_path):
    (tmp_path / "run.yml").write_text("dataset_name:\ntrain_file: r.csv\nmax_seq_length: 64\n")
    _, data_args, _ = parse_args([str(tmp_path / "run.yml")])
    assert data_args.dataset_name is None and (data_args.train_file, data_args.max_seq_length) == ("r.csv", 64), (
        "an empty value keeps the default, and the keys after it are read"
    )
    (tmp_path / "list.yaml").write_text("- train_file\n- r.csv\n")
    with pytest.raises(UserError) as refused:
        parse_args([str(tmp_path / "list.yaml")])
    assert (
        str(refused.value) == f"Config file '{tmp_path / 'list.yaml'}' must hold a mapping of argument names to values."
    )
    (tmp_path / "run.json").write_text('{"train_file": "r.csv", "learning_rate": "3e-5"}')
    assert parse_args([str(tmp_path / "run.json")])[2].learning_rate == 3e-5, "a JSON file is read as JSON"
