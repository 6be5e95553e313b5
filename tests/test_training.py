"""The Trainer as built for a run: what reaches the loss."""

import pytest
import torch
from datasets import ClassLabel, Dataset, DatasetDict
from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding

from bert_sentiment.arguments import parse_args
from bert_sentiment.errors import UserError
from bert_sentiment.training import build_trainer, layer_depths, layer_lr_note
from tests.conftest import english_reviews, quick_training_flags, set_monotonic


def imbalanced_run(tiny_bert, tmp_path, weighting: str, *flags: str):
    rows = english_reviews(80)
    rows = [row for row in rows if row[1] == "negative"] + [row for row in rows if row[1] == "positive"][
        :10
    ]  # 40 vs 10
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    data = Dataset.from_dict({"text": [t for t, _ in rows], "label": [int(lab == "positive") for _, lab in rows]})
    data = data.cast_column("label", ClassLabel(names=["negative", "positive"]))
    tokenized = data.map(
        lambda batch: tokenizer(batch["text"], truncation=True, max_length=32), batched=True, remove_columns=["text"]
    )
    _, _, training_args = parse_args(
        [*quick_training_flags(tiny_bert, tmp_path / weighting), "--class_weighting", weighting, *flags]
    )
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert, num_labels=2)
    trainer, _ = build_trainer(model, tokenizer, DatasetDict(train=tokenized, validation=tokenized), training_args)
    batch = DataCollatorWithPadding(tokenizer)(
        [tokenized[i] for i in [0, 1, 2, 45, 46, 47]]
    )  # 3 negatives, 3 positives
    return trainer, model, batch


def test_balanced_class_weights_reach_the_loss(tiny_bert, tmp_path):
    trainer, model, batch = imbalanced_run(tiny_bert, tmp_path, "balanced")
    plain_trainer, _, _ = imbalanced_run(tiny_bert, tmp_path, "none")
    with torch.no_grad():
        weighted = trainer.compute_loss(model, dict(batch))
        plain = plain_trainer.compute_loss(model, dict(batch))
        logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits
    weights = torch.tensor([50 / (2 * 40), 50 / (2 * 10)])  # inverse class frequency: the rare positives count 4x
    expected = torch.nn.functional.cross_entropy(logits, batch["labels"], weight=weights)
    assert weighted.item() == pytest.approx(expected.item(), rel=1e-5)
    assert plain.item() == pytest.approx(torch.nn.functional.cross_entropy(logits, batch["labels"]).item(), rel=1e-5)
    assert abs(weighted.item() - plain.item()) > 1e-3


def learning_rates(trainer, model) -> dict[str, tuple[float, float]]:
    """Each parameter's (learning rate, weight decay) in the trainer's optimizer."""
    groups = {id(param): group for group in trainer.create_optimizer().param_groups for param in group["params"]}
    return {
        name: (groups[id(param)]["lr"], groups[id(param)]["weight_decay"]) for name, param in model.named_parameters()
    }


def test_layer_lr_decay_lowers_the_rate_one_layer_at_a_time(tiny_bert, tmp_path):
    trainer, model, _ = imbalanced_run(
        tiny_bert, tmp_path, "none", "--learning_rate", "1e-3", "--layer_lr_decay", "0.5"
    )
    rates = learning_rates(trainer, model)
    assert rates["classifier.weight"] == (1e-3, 0.01) and rates["bert.pooler.dense.bias"] == (1e-3, 0.0)
    assert rates["bert.encoder.layer.1.attention.self.query.weight"] == (5e-4, 0.01)  # top layer of two
    assert rates["bert.encoder.layer.0.output.LayerNorm.weight"] == (2.5e-4, 0.0)  # no weight decay, as without decay
    assert rates["bert.embeddings.word_embeddings.weight"] == (1.25e-4, 0.01)
    trainer.create_scheduler(num_training_steps=10)
    for _ in range(5):
        trainer.optimizer.step()  # no gradients yet: the weights stay, the schedule moves on
        trainer.lr_scheduler.step()  # the schedule scales every group alike: the ratios hold through training
    lrs = sorted({group["lr"] for group in trainer.optimizer.param_groups}, reverse=True)
    assert lrs == pytest.approx([lrs[0] * 0.5**depth for depth in range(4)]) and 0 < lrs[0] < 1e-3

    plain_trainer, plain_model, _ = imbalanced_run(tiny_bert, tmp_path, "none", "--learning_rate", "1e-3")
    assert {lr for lr, _ in learning_rates(plain_trainer, plain_model).values()} == {1e-3}
    assert layer_lr_note(plain_model, 1e-3, 1.0) is None
    assert layer_lr_note(model, 1e-3, 0.5) == (
        "0.5 per layer down from the top: head and pooler 0.001, "
        "encoder layers 0.0005 (top) to 0.00025 (bottom), embeddings 0.000125"
    )


def test_layer_lr_decay_on_a_model_without_numbered_layers_says_so():
    model = torch.nn.Sequential(torch.nn.Embedding(10, 4), torch.nn.Linear(4, 2))
    with pytest.raises(UserError, match="Sequential has none; drop --layer_lr_decay"):
        layer_depths(model)


def test_length_grouped_batches_read_each_texts_own_length_and_hold_texts_of_similar_length(tiny_bert, tmp_path):
    trainer, _, _ = imbalanced_run(tiny_bert, tmp_path, "none", "--per_device_train_batch_size", "4")
    sampler = trainer._get_train_sampler()
    assert sampler.lengths == [len(ids) for ids in trainer.train_dataset["input_ids"][:]]
    order = list(sampler)
    assert sorted(order) == list(range(len(trainer.train_dataset))), "every text once an epoch"
    assert sampler.lengths[order[0]] == max(sampler.lengths), "the longest text first, so memory trouble shows at once"


def fake_checkpoint(folder, step: int, cut: str | None = None):
    """A checkpoint's files as the Trainer writes them; `cut`: the file a kill cut off halfway."""
    import json

    import torch
    from safetensors.torch import save_file

    checkpoint = folder / f"checkpoint-{step}"
    checkpoint.mkdir(parents=True)
    (checkpoint / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    save_file({"weight": torch.ones(64, 64)}, str(checkpoint / "model.safetensors"))
    torch.save({"state": {0: torch.ones(64, 64)}}, checkpoint / "optimizer.pt")
    torch.save({"cpu": torch.ones(64)}, checkpoint / "rng_state.pth")
    torch.save({"seed": torch.ones(64)}, checkpoint / "training_args.bin")
    if cut:
        data = (checkpoint / cut).read_bytes()
        (checkpoint / cut).write_bytes(data[: len(data) // 2])
    return checkpoint


@pytest.mark.parametrize(
    "cut", ["model.safetensors", "optimizer.pt", "trainer_state.json", "rng_state.pth", "training_args.bin"]
)
def test_resume_passes_over_a_cut_off_newest_checkpoint(tmp_path, caplog, cut):
    from bert_sentiment.training import newest_intact_checkpoint

    intact = fake_checkpoint(tmp_path, 10)
    fake_checkpoint(tmp_path, 20, cut=cut)
    caplog.set_level("INFO")
    assert newest_intact_checkpoint(tmp_path) == str(intact)
    assert f"Passed over damaged checkpoints (checkpoint-20: {cut} is unreadable" in caplog.text


def test_resume_with_no_intact_checkpoint_is_one_message(tmp_path):
    from bert_sentiment.errors import UserError
    from bert_sentiment.training import newest_intact_checkpoint

    fake_checkpoint(tmp_path, 20, cut="model.safetensors")
    fake_checkpoint(tmp_path, 10, cut="rng_state.pth")
    with pytest.raises(UserError) as error:
        newest_intact_checkpoint(tmp_path)
    assert str(error.value) == (
        f"--resume: no intact checkpoint in '{tmp_path}' (checkpoint-20: model.safetensors is unreadable "
        "(SafetensorError); checkpoint-10: rng_state.pth is unreadable (BadZipFile)). Drop --resume to start anew."
    )


def test_the_cost_line_comes_once_from_the_steps_after_the_first(monkeypatch):
    from types import SimpleNamespace

    from bert_sentiment import training

    now = [100.0]
    set_monotonic(monkeypatch, training, lambda: now[0])
    said = []
    costs = training.MeasuredCosts(
        lambda speed, left, reading, validation_seconds: said.append((speed, left)), steps=4, seconds=1e9
    )
    args = SimpleNamespace(train_batch_size=8, gradient_accumulation_steps=2, world_size=1, eval_strategy="epoch")
    state = SimpleNamespace(global_step=1, max_steps=1000)
    costs.on_step_end(args, state, None)  # the first step (which warmed up for minutes) ends: timing starts here
    for step in range(2, 12):
        now[0] += 2.0
        state.global_step = step
        costs.on_step_end(args, state, None)
    assert len(said) == 1, "said once"
    speed, left = said[0]
    assert speed == pytest.approx(4 * 16 / 8) and left == pytest.approx(995 * 2.0)
    costs.on_train_end(args, state, None)
    assert len(said) == 1, "not said again at the end"

    short = training.MeasuredCosts(
        lambda speed, left, reading, validation_seconds: said.append((speed, left)), steps=20, seconds=1e9
    )
    state = SimpleNamespace(global_step=1, max_steps=5)
    short.on_step_end(args, state, None)
    for step in range(2, 6):
        now[0] += 2.0
        state.global_step = step
        short.on_step_end(args, state, None)
    assert len(said) == 1, "a five-step try never reaches 20 steps"
    now[0] += 600.0  # the end-of-training validation pass and checkpoint: no training speed
    short.on_train_end(args, state, None)
    assert said[-1] == (pytest.approx(4 * 16 / 8), 0), "so it says them when the training ends"


def test_a_short_try_times_its_readings_on_the_validation_pass_and_fp32_against_mixed_precision(monkeypatch):
    """Its first steps (the longest batches) say little about reading: the validation pass within training says how
    fast texts are read in the training's precision, and a few of them read both ways how much slower fp32 is."""
    from types import SimpleNamespace

    import torch

    from bert_sentiment import training

    now = [0.0]
    set_monotonic(monkeypatch, training, lambda: now[0])

    class Model:
        device = torch.device("cpu")
        rows = []

        def forward(self, input_ids, attention_mask):  # bf16 under accelerate's wrapper: 1 s
            now[0] += 1.0
            self.rows.append(len(input_ids))

        def _original_forward(self, input_ids, attention_mask):  # fp32: 2.5 s
            now[0] += 2.5

    rows = [{"input_ids": torch.ones(7), "attention_mask": torch.ones(7), "labels": torch.tensor(0)}] * 32
    batches = torch.utils.data.DataLoader(rows, batch_size=32)
    said = []
    short = training.MeasuredCosts(
        lambda speed, left, reading, validation_seconds: said.append(reading), steps=20, seconds=3.0
    )
    args = SimpleNamespace(train_batch_size=8, gradient_accumulation_steps=1, world_size=1, bf16=True, fp16=False)
    state = SimpleNamespace(global_step=1, max_steps=5)
    for step in range(1, 6):
        now[0] += 2.0
        state.global_step = step
        short.on_step_end(args, state, None)
    assert said == [], "a minute of slow steps, little training left: it waits for the validation pass"
    metrics = {"eval_samples_per_second": 90.0}
    random_state = torch.get_rng_state()
    short.on_evaluate(args, state, None, metrics=metrics, model=Model(), eval_dataloader=batches)
    assert said == [(90.0, pytest.approx(36.0))], "fp32 read 2.5 times as slowly as bf16"
    assert torch.equal(torch.get_rng_state(), random_state), "the training's random draws are left as they were"
    short.on_train_end(args, state, None)
    assert len(said) == 1, "said once"
    assert Model.rows == [training.FP32_TIMED_ROWS] * (1 + training.FP32_TIMINGS), "a few rows; once to warm up"

    fp32_run = training.MeasuredCosts(
        lambda speed, left, reading, validation_seconds: said.append(reading), steps=20, seconds=1e9
    )
    fp32_args = SimpleNamespace(**{**vars(args), "bf16": False})
    metrics = {"eval_samples_per_second": 40.0}
    fp32_run.on_evaluate(fp32_args, state, None, metrics=metrics, model=Model(), eval_dataloader=batches)
    assert fp32_run.reading == (40.0, 40.0), "a run in fp32 reads after training as it read within it"


def test_resume_takes_checkpoint_10_over_9_and_passes_over_every_damaged_one_newer(tmp_path, caplog):
    from bert_sentiment.training import newest_intact_checkpoint

    fake_checkpoint(tmp_path, 2)
    intact = fake_checkpoint(tmp_path, 10)
    fake_checkpoint(tmp_path, 9)
    caplog.set_level("INFO")
    assert newest_intact_checkpoint(tmp_path) == str(intact), "numbered, not alphabetical: 10 is newer than 9"
    assert caplog.messages == [f"Resuming from {intact}."]
    fake_checkpoint(tmp_path, 100, cut="optimizer.pt")
    (fake_checkpoint(tmp_path, 11) / "trainer_state.json").unlink()
    caplog.clear()
    assert newest_intact_checkpoint(tmp_path) == str(intact)
    assert caplog.messages == [
        "Passed over damaged checkpoints (checkpoint-100: optimizer.pt is unreadable (BadZipFile); "
        "checkpoint-11: trainer_state.json is missing).",
        f"Resuming from {intact}.",
    ]


def test_a_run_refuses_a_folder_holding_an_earlier_run_or_other_files_unless_told(tmp_path):
    from types import SimpleNamespace

    from bert_sentiment.errors import UserError
    from bert_sentiment.training import check_output_dir, checkpoint_to_resume

    def args(**flags):
        return SimpleNamespace(
            **{"output_dir": str(tmp_path / "out"), "resume": False, "overwrite_output_dir": False} | flags
        )

    assert checkpoint_to_resume(args()) is None, "a folder not made yet"
    with pytest.raises(UserError) as error:
        checkpoint_to_resume(args(resume=True))
    assert str(error.value) == (
        f"--resume: no checkpoint in '{tmp_path / 'out'}' to continue from. Drop --resume to start anew."
    )
    fake_checkpoint(tmp_path / "out", 5)
    assert checkpoint_to_resume(args(resume=True)) == str(tmp_path / "out" / "checkpoint-5")
    for name in ("run_facts.json", "a.txt", "b.txt"):
        (tmp_path / "out" / name).write_text("{}")
    with pytest.raises(UserError) as error:
        checkpoint_to_resume(args())
    assert str(error.value) == (
        f"--output_dir '{tmp_path / 'out'}' already holds an earlier run (a.txt, b.txt, checkpoint-5, …). Pass "
        "--resume to continue an interrupted run, --overwrite_output_dir to write there anyway, or choose another "
        "--output_dir."
    )
    assert checkpoint_to_resume(args(overwrite_output_dir=True)) is None
    other = tmp_path / "notes"
    other.mkdir()
    for name in ("notes.md", "a.md", "b.md"):
        (other / name).write_text("mine")
    with pytest.raises(UserError, match=r"already holds other files \(a\.md, b\.md, notes\.md\)\. Pass --resume"):
        check_output_dir(other, overwrite=False)  # three names, all of them: no "…"
    check_output_dir(other, overwrite=False, ours=("notes.md", "a.md", "b.md"))  # what this run put there itself


def keeper(metric: str, greater: bool):
    """The trainer's choice of best checkpoint, alone: evaluate(step, accuracy=..., loss=...) -> a new best?"""
    from types import SimpleNamespace

    from transformers import TrainerState

    from bert_sentiment.training import SentimentTrainer

    trainer = SentimentTrainer.__new__(SentimentTrainer)
    trainer.args = SimpleNamespace(metric_for_best_model=metric, greater_is_better=greater, save_strategy="steps")
    trainer.state = TrainerState()

    def evaluate(step, **metrics):
        trainer.state.global_step = step
        scores = {f"eval_{name}": value for name, value in metrics.items()}
        trainer.state.log_history.append({"step": step, **scores})
        return trainer._determine_best_metric(scores, None)

    return trainer, evaluate


def resumed(metric: str, log_history: list[dict], best_step: int):
    """keeper() for a run resumed with `log_history` restored, whose best checkpoint (accuracy 0.8) is `best_step`."""
    trainer, evaluate = keeper(metric, greater=True)
    trainer.state.log_history = log_history
    trainer.state.best_metric, trainer.state.best_global_step = 0.8, best_step
    return trainer, evaluate


def test_the_best_checkpoint_breaks_an_accuracy_tie_by_the_lower_loss():
    trainer, evaluate = keeper("accuracy", greater=True)
    assert evaluate(10, accuracy=0.8, loss=0.5)
    assert evaluate(20, accuracy=0.8, loss=0.4) and trainer.state.best_global_step == 20, "tied, and surer"
    assert not evaluate(30, accuracy=0.8, loss=0.45) and trainer.state.best_global_step == 20
    assert not evaluate(40, accuracy=0.79, loss=0.1), "accuracy decides first"
    assert evaluate(50, accuracy=0.81, loss=0.9) and trainer.state.best_global_step == 50
    assert trainer.state.best_metric == 0.81


def test_a_metric_where_lower_is_better_keeps_the_lowest():
    trainer, evaluate = keeper("loss", greater=False)
    assert evaluate(10, loss=0.5)
    assert not evaluate(20, loss=0.6)
    assert evaluate(30, loss=0.4) and trainer.state.best_global_step == 30 and trainer.state.best_metric == 0.4


def test_a_resumed_run_reads_its_best_checkpoints_loss_from_the_log_and_a_new_run_forgets_it():
    trainer, evaluate = resumed(
        "eval_accuracy",
        [{"step": 10, "eval_accuracy": 0.8, "eval_loss": 0.3}, {"step": 20, "eval_accuracy": 0.7, "eval_loss": 0.2}],
        best_step=10,
    )
    assert not evaluate(30, accuracy=0.8, loss=0.35), "the restored best (step 10) had the lower loss"
    assert evaluate(40, accuracy=0.8, loss=0.25) and trainer.state.best_global_step == 40
    trainer.state = type(trainer.state)()  # the next search trial starts afresh
    assert evaluate(10, accuracy=0.5, loss=0.9)
    assert evaluate(20, accuracy=0.5, loss=0.8), "the last trial's best loss is not this one's"


@pytest.mark.parametrize(
    ("flags", "every_seconds", "patience"),
    [
        (["--checkpoint_minutes", "0.5", "--early_stopping_patience", "1"], 30.0, 1),
        (["--checkpoint_minutes", "0", "--early_stopping_patience", "0"], None, None),
        # no checkpoints to make, no evaluations to stop on
        (["--eval_strategy", "no", "--save_strategy", "no", "--checkpoint_minutes", "10"], None, None),
        (["--eval_strategy", "no", "--save_strategy", "no", "--early_stopping_patience", "2"], None, None),
    ],
)
def test_the_trainer_built_for_a_run_holds_the_safeguards_its_flags_ask_for(
    tiny_bert, tmp_path, flags, every_seconds, patience
):
    from transformers import EarlyStoppingCallback

    from bert_sentiment.training import CheckpointEvery, SaveOnInterrupt

    trainer, _, _ = imbalanced_run(tiny_bert, tmp_path, "none", *flags)
    callbacks = trainer.callback_handler.callbacks
    assert sum(isinstance(callback, SaveOnInterrupt) for callback in callbacks) == 1, "Ctrl-C saves, on every run"
    timed = [callback.seconds for callback in callbacks if isinstance(callback, CheckpointEvery)]
    assert timed == ([every_seconds] if every_seconds else [])
    stopping = [
        callback.early_stopping_patience for callback in callbacks if isinstance(callback, EarlyStoppingCallback)
    ]
    assert stopping == ([patience] if patience else [])


def test_the_trainer_scores_with_the_runs_metrics_pads_on_a_cpu_to_the_longest_text_and_saves_the_tokenizer(
    tiny_bert, tmp_path
):
    trainer, model, _ = imbalanced_run(tiny_bert, tmp_path, "none")
    metrics = trainer.evaluate()
    predictions = trainer.predict(trainer.eval_dataset)
    accuracy = (predictions.predictions.argmax(-1) == predictions.label_ids).mean()
    assert metrics["eval_accuracy"] == pytest.approx(accuracy) and "eval_f1" in metrics, "binary: F1 of 'positive'"
    rows = [trainer.train_dataset[i] for i in (0, 1)]
    batch = trainer.data_collator([{k: v for k, v in row.items() if k != "label"} for row in rows])
    assert batch["input_ids"].shape[1] == max(len(row["input_ids"]) for row in rows), "no padding past the longest"
    trainer.save_model(str(tmp_path / "saved"))
    assert (tmp_path / "saved" / "tokenizer.json").is_file() or (tmp_path / "saved" / "vocab.txt").is_file()


def test_a_search_builds_each_trial_from_model_init(tiny_bert, tmp_path):
    rows = english_reviews(8)
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    data = Dataset.from_dict({"input_ids": [tokenizer(t)["input_ids"] for t, _ in rows], "label": [0, 1] * 4})
    data = data.cast_column("label", ClassLabel(names=["negative", "positive"]))
    _, _, training_args = parse_args(quick_training_flags(tiny_bert, tmp_path / "search"))
    made = []

    def model_init(trial=None):
        made.append(AutoModelForSequenceClassification.from_pretrained(tiny_bert, num_labels=2))
        return made[-1]

    trainer, _ = build_trainer(
        None, tokenizer, DatasetDict(train=data, validation=data), training_args, model_init=model_init
    )
    assert trainer.model is made[-1]


def test_balanced_weights_give_a_class_missing_from_the_training_data_the_weight_of_one_text(caplog):
    from bert_sentiment.training import balanced_loss

    caplog.set_level("INFO")
    loss = balanced_loss([0, 0, 0, 1], num_labels=3)
    assert caplog.messages == ["Class weights: 0.44, 1.33, 1.33"], "4 / (3 classes x 3, 1 and none)"
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]])
    labels = torch.tensor([0, 2])
    expected = torch.nn.functional.cross_entropy(logits, labels, weight=torch.tensor([4 / 9, 4 / 3, 4 / 3]))
    outputs = type("Outputs", (), {"logits": logits})
    assert loss(outputs, labels).item() == pytest.approx(expected.item(), rel=1e-6)
    outputs.logits = logits.to(torch.bfloat16)  # a bf16 run's logits
    assert loss(outputs, labels).item() == pytest.approx(expected.item(), rel=2e-2)


def test_optim_that_needs_a_missing_package_is_refused_naming_the_package(tiny_bert, tmp_path):
    import importlib.util

    from bert_sentiment.training import optimizer_class

    if importlib.util.find_spec("bitsandbytes"):
        pytest.skip("bitsandbytes is installed here")
    _, _, training_args = parse_args([*quick_training_flags(tiny_bert, tmp_path), "--optim", "adamw_bnb_8bit"])
    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert, num_labels=2)
    with pytest.raises(UserError) as error:
        optimizer_class(training_args, model)
    assert str(error.value).startswith(
        "--optim adamw_bnb_8bit cannot be used here: You need to install `bitsandbytes` in order to use bitsandbytes "
        "optimizers"
    )


@pytest.mark.parametrize("takes", ["params", "model", "optimizer_dict"])
def test_layer_lr_decay_with_an_optimizer_that_takes_no_parameter_groups_is_refused(
    tiny_bert, tmp_path, monkeypatch, takes
):
    """As --optim lomo, galore_adamw_layerwise or apollo_adamw_layerwise where their packages are installed: their
    optimizers take the model or their own parameter list, so per-layer rates would be dropped without a word."""
    from transformers import Trainer

    from bert_sentiment.training import optimizer_class

    received = []

    def lomo_like(args, model=None):
        received.append(model)
        return torch.optim.AdamW, {takes: model, "lr": args.learning_rate}

    monkeypatch.setattr(Trainer, "get_optimizer_cls_and_kwargs", staticmethod(lomo_like))
    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert, num_labels=2)
    _, _, plain = parse_args([*quick_training_flags(tiny_bert, tmp_path), "--optim", "sgd"])
    assert optimizer_class(plain, model) == (torch.optim.AdamW, {takes: model, "lr": 3e-3}), "alone, it is fine"
    assert received == [model]
    _, _, decaying = parse_args(
        [*quick_training_flags(tiny_bert, tmp_path), "--optim", "sgd", "--layer_lr_decay", "0.8"]
    )
    with pytest.raises(UserError) as error:
        optimizer_class(decaying, model)
    assert str(error.value) == (
        "--layer_lr_decay works with optimizers over parameter groups (adamw_torch_fused, adamw_torch, sgd, ...), "
        "not --optim sgd; drop one of the two."
    )


def test_layer_lr_decay_keeps_the_users_own_optimizer_settings(tiny_bert, tmp_path):
    trainer, _, _ = imbalanced_run(
        tiny_bert, tmp_path, "none", "--layer_lr_decay", "0.5", "--adam_beta2", "0.9", "--adam_epsilon", "1e-6"
    )
    optimizer = trainer.create_optimizer()
    assert optimizer.defaults["betas"] == (0.9, 0.9) and optimizer.defaults["eps"] == 1e-6
    assert trainer.create_optimizer() is optimizer, "made once"


def test_the_layer_lr_note_names_no_pooler_where_the_encoder_has_none():
    from bert_sentiment.training import layer_lr_note

    model = torch.nn.ModuleDict(
        {
            "embeddings": torch.nn.Embedding(10, 4),
            "encoder": torch.nn.ModuleDict({"layer": torch.nn.ModuleList([torch.nn.Linear(4, 4) for _ in range(3)])}),
            "classifier": torch.nn.Linear(4, 2),
        }
    )
    assert layer_lr_note(model, 1e-3, 0.5) == (
        "0.5 per layer down from the top: head 0.001, encoder layers 0.0005 (top) to 0.000125 (bottom), "
        "embeddings 6.25e-05"
    )


def sampler_of(tiny_bert, tmp_path, *flags):
    trainer, _, _ = imbalanced_run(tiny_bert, tmp_path, "none", "--per_device_train_batch_size", "4", *flags)
    return trainer, trainer._get_train_sampler()


def test_length_grouped_order_comes_from_the_data_seed_and_the_epoch_alone(tiny_bert, tmp_path):
    from bert_sentiment.training import EpochSeededLengthGroupedSampler

    _, sampler = sampler_of(tiny_bert, tmp_path, "--seed", "3")
    first = list(sampler)
    torch.manual_seed(99)  # dropout and the like move the global generator
    sampler.set_epoch(0)
    assert list(sampler) == first, "the same epoch, the same order: a fresh sampler starts at epoch 0"
    sampler.set_epoch(1)
    second = list(sampler)
    assert second != first and sorted(second) == sorted(first)
    resumed = EpochSeededLengthGroupedSampler(4, lengths=sampler.lengths, seed=3)
    resumed.set_epoch(1)
    assert list(resumed) == second, "and epoch 1's, without having gone through epoch 0"
    _, by_data_seed = sampler_of(tiny_bert, tmp_path, "--seed", "3", "--data_seed", "4")
    assert by_data_seed.seed == 4 and list(by_data_seed) != first


def test_random_batches_or_data_without_token_ids_use_the_trainers_own_sampler(tiny_bert, tmp_path):
    from bert_sentiment.training import EpochSeededLengthGroupedSampler

    trainer, _ = sampler_of(tiny_bert, tmp_path, "--train_sampling_strategy", "random")
    assert not isinstance(trainer._get_train_sampler(), EpochSeededLengthGroupedSampler)
    trainer, _ = sampler_of(tiny_bert, tmp_path)
    four = trainer.train_dataset.select(range(4))
    assert len(list(trainer._get_train_sampler(four))) == 4, "a dataset passed in is the one sampled"
    measured = four.remove_columns(["input_ids"]).add_column("length", [3, 1, 4, 1])  # lengths given, no token ids
    sampler = trainer._get_train_sampler(measured)
    assert not isinstance(sampler, EpochSeededLengthGroupedSampler) and sampler.lengths == [3, 1, 4, 1]


def test_evaluation_reads_texts_in_order_so_predictions_line_up_with_them():
    from types import SimpleNamespace

    from torch.utils.data import SequentialSampler

    from bert_sentiment.training import SentimentTrainer

    trainer = SentimentTrainer.__new__(SentimentTrainer)
    trainer.args = SimpleNamespace(world_size=1)
    sampler = trainer._get_eval_sampler(list("abcde"))
    assert isinstance(sampler, SequentialSampler) and list(sampler) == [0, 1, 2, 3, 4]
    assert trainer._get_eval_sampler(None) is None
    trainer.args.world_size = 2  # accelerate shards in order and gathers back in order
    assert trainer._get_eval_sampler(list("abcde")) is None


def test_the_best_checkpoint_keeps_the_earlier_of_two_that_tie_on_metric_and_loss():
    trainer, evaluate = keeper("accuracy", greater=True)
    assert evaluate(10, accuracy=0.8, loss=0.5)
    assert evaluate(20, accuracy=0.8, loss=0.4)
    assert not evaluate(30, accuracy=0.8, loss=0.4) and trainer.state.best_global_step == 20, "no surer: kept"
    assert evaluate(40, accuracy=0.8, loss=0.35) and trainer.state.best_global_step == 40, "a tie won, then another"


def test_a_resumed_run_reads_the_loss_of_its_best_step_not_of_the_first_logged():
    trainer, evaluate = resumed(
        "accuracy",
        [{"step": 10, "eval_accuracy": 0.7, "eval_loss": 0.1}, {"step": 20, "eval_accuracy": 0.8, "eval_loss": 0.3}],
        best_step=20,
    )
    assert evaluate(30, accuracy=0.8, loss=0.2) and trainer.state.best_global_step == 30, "0.2 beats step 20's 0.3"


def test_a_resumed_run_whose_log_lacks_its_best_loss_goes_on_by_the_metric_alone():
    trainer, evaluate = resumed("accuracy", [{"step": 10, "eval_accuracy": 0.8}], best_step=10)  # no loss logged
    assert not evaluate(20, accuracy=0.8, loss=0.2) and trainer.state.best_global_step == 10
    assert evaluate(30, accuracy=0.9, loss=0.5)


def test_a_checkpoint_comes_once_the_minutes_have_passed_since_the_last_one(monkeypatch):
    from transformers import TrainerControl

    from bert_sentiment import training

    now = [1000.0]
    set_monotonic(monkeypatch, training, lambda: now[0])
    every = training.CheckpointEvery(0.5)
    now[0] = 5000.0  # loading and preparing took long: the clock starts with training
    every.on_train_begin(None, None, TrainerControl())
    now[0] += 29.9
    assert not every.on_step_end(None, None, TrainerControl()).should_save
    now[0] += 0.1
    assert every.on_step_end(None, None, TrainerControl()).should_save, "at 30 s exactly"
    every.on_save(None, None, TrainerControl())  # any checkpoint (an epoch's too) restarts the count
    now[0] += 29.9
    assert not every.on_step_end(None, None, TrainerControl()).should_save


def test_ctrl_c_saves_and_stops_after_the_step_a_second_aborts_and_the_handlers_are_put_back(caplog):
    import signal
    import threading

    from transformers import TrainerControl

    from bert_sentiment.training import SaveOnInterrupt

    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    interrupt = SaveOnInterrupt()
    assert not interrupt.on_step_end(None, None, TrainerControl()).should_save, "nothing asked yet"
    interrupt.on_train_begin(None, None, None)
    try:
        assert all(signal.getsignal(sig) == interrupt._request_stop for sig in before), "both caught"
        signal.raise_signal(signal.SIGTERM)  # as a scheduler's preemption sends it
        assert interrupt.interrupted
        assert caplog.messages == ["Interrupted: saving a checkpoint after this step (interrupt again to abort)."]
        control = interrupt.on_step_end(None, None, TrainerControl())
        assert control.should_save and control.should_training_stop
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
    finally:
        interrupt.on_train_end(None, None, None)
    assert {sig: signal.getsignal(sig) for sig in before} == before
    interrupt.on_train_end(None, None, None)  # ended twice (an error after the end): nothing left to put back

    in_a_thread = SaveOnInterrupt()  # training started from a worker thread (a notebook's, a server's)
    worker = threading.Thread(target=in_a_thread.on_train_begin, args=(None, None, None))
    worker.start()
    worker.join()
    assert {sig: signal.getsignal(sig) for sig in before} == before, "Python sets handlers in the main thread only"


def test_the_cost_line_waits_at_its_limits_and_counts_every_process(monkeypatch):
    from types import SimpleNamespace

    from bert_sentiment import training

    now = [0.0]
    set_monotonic(monkeypatch, training, lambda: now[0])
    args = SimpleNamespace(train_batch_size=8, gradient_accumulation_steps=1, world_size=2)

    def said_after(max_steps, steps_timed, step_seconds=1.0, **limits):
        said = []
        costs = training.MeasuredCosts(
            lambda speed, left, reading, validation_seconds: said.append((speed, left, reading)), **limits
        )
        state = SimpleNamespace(global_step=1, max_steps=max_steps)
        costs.on_step_end(args, state, None)
        for step in range(2, 2 + steps_timed):
            now[0] += step_seconds
            state.global_step = step
            costs.on_step_end(args, state, None)
        return said

    assert said_after(305, 4, steps=4) == [(16.0, 300.0, None)], "300 s left is not under 300: said; 2 processes"
    assert said_after(304, 4, steps=4) == [], "299 s left: waits for the validation pass"
    assert said_after(296, 4, steps=4) == []
    assert said_after(10_000, 2, seconds=4.0, step_seconds=2.0) == [(8.0, 9997 * 2.0, None)], "at 4 s exactly"
    assert said_after(10_000, 19) == [] and len(said_after(10_000, 20)) == 1, "by default: 20 timed steps"
    assert said_after(10_000, 1, step_seconds=59.0) == [] and len(said_after(10_000, 2, step_seconds=30.0)) == 1, (
        "or a minute"
    )


def test_a_short_try_without_validation_in_training_says_the_steps_after_the_validation_split_is_read(monkeypatch):
    """With no validation pass within training (plan.only_validation_at_the_end), the readings are timed on the
    evaluation's validation pass after it, in fp32, and fp32 against mixed precision when the training ends."""
    from types import SimpleNamespace

    from bert_sentiment import training

    now = [0.0]
    set_monotonic(monkeypatch, training, lambda: now[0])
    timed = []
    monkeypatch.setattr(training, "fp32_slowdown", lambda model, batches: timed.append((model, batches)) or 2.5)
    said = []
    short = training.MeasuredCosts(lambda *line: said.append(line), steps=20, seconds=1e9)
    args = SimpleNamespace(
        train_batch_size=8, gradient_accumulation_steps=1, world_size=1, bf16=True, fp16=False, eval_strategy="no"
    )
    state = SimpleNamespace(global_step=1, max_steps=5)
    for step in range(1, 6):
        now[0] += 2.0
        state.global_step = step
        short.on_step_end(args, state, None)
    short.on_train_end(args, state, None, model="model", train_dataloader="batches")
    assert said == [] and timed == [("model", "batches")], "fp32 timed against bf16 while the model is still mixed"
    short.on_predict(args, state, None, metrics={"test_samples_per_second": 70.0, "test_runtime": 9.0})
    assert said == [], "the validation split is read first; nothing else says how fast"
    short.on_predict(args, state, None, metrics={"eval_samples_per_second": 40.0, "eval_runtime": 73.0})
    assert said == [(4.0, 0.0, (100.0, 40.0), 73.0)], "read in fp32 at 40 a second: bf16 2.5 times as fast"
    short.on_predict(args, state, None, metrics={"eval_samples_per_second": 10.0, "eval_runtime": 1.0})
    assert len(said) == 1, "said once"

    fp32 = training.MeasuredCosts(lambda *line: said.append(line), steps=20, seconds=1e9)
    fp32_args = SimpleNamespace(**{**vars(args), "bf16": False})
    for step in (1, 2):
        now[0] += 2.0
        fp32.on_step_end(fp32_args, SimpleNamespace(global_step=step, max_steps=5), None)
    fp32.on_train_end(fp32_args, state, None, model="model", train_dataloader="batches")
    fp32.on_predict(fp32_args, state, None, metrics={"eval_samples_per_second": 40.0, "eval_runtime": 73.0})
    assert said[-1][2] == (40.0, 40.0) and len(timed) == 1, "a run in fp32 times nothing more"

    with_validation = training.MeasuredCosts(lambda *line: said.append(line), steps=20, seconds=1e9)
    epoch_args = SimpleNamespace(**{**vars(args), "eval_strategy": "epoch"})
    for step in (1, 2):
        now[0] += 2.0
        with_validation.on_step_end(epoch_args, SimpleNamespace(global_step=step, max_steps=5), None)
    with_validation.on_train_end(epoch_args, state, None, model="model", train_dataloader="batches")
    assert said[-1][3] is None and len(said) == 3, "a validation pass within training had its chance: said at the end"


def test_the_cost_line_ignores_evaluations_without_a_speed_and_times_fp32_only_once(monkeypatch):
    from types import SimpleNamespace

    from bert_sentiment import training

    timed, clock = [], iter(range(100))
    set_monotonic(monkeypatch, training, lambda: next(clock))
    monkeypatch.setattr(training, "fp32_slowdown", lambda model, batches: timed.append(model) or 2.0)
    said = []
    costs = training.MeasuredCosts(lambda speed, left, reading, validation_seconds: said.append(reading))
    args = SimpleNamespace(train_batch_size=8, gradient_accumulation_steps=1, world_size=1, bf16=True, fp16=False)
    state = SimpleNamespace(global_step=1, max_steps=5)
    for step in (1, 2):  # a short try: two steps, then its validation pass
        state.global_step = step
        costs.on_step_end(args, state, None)
    costs.on_evaluate(args, state, None, metrics=None)
    costs.on_evaluate(args, state, None, metrics={"eval_loss": 0.3})
    assert costs.reading is None and timed == []
    costs.on_evaluate(args, state, None, metrics={"eval_samples_per_second": 50.0}, model="m", eval_dataloader=[])
    assert costs.reading == (50.0, 25.0) and timed == ["m"]
    costs.on_evaluate(args, state, None, metrics={"eval_samples_per_second": 80.0}, model="m", eval_dataloader=[])
    assert costs.reading == (50.0, 25.0) and timed == ["m"], "every later evaluation: no second timing"


@pytest.mark.parametrize(
    ("mixed_seconds", "fp32_seconds", "slowdown"), [(2.0, 5.0, 2.5), (2.0, 3.0, 1.5), (0.5, 0.4, 1.0), (0.0, 1e-3, 1e6)]
)
def test_fp32_slowdown_is_the_ratio_of_the_two_timings_never_under_one(
    monkeypatch, mixed_seconds, fp32_seconds, slowdown
):
    from bert_sentiment import training

    now = [0.0]
    set_monotonic(monkeypatch, training, lambda: now[0])

    class Model:
        device = torch.device("cpu")

        def forward(self, input_ids):
            now[0] += mixed_seconds

        def _original_forward(self, input_ids):
            now[0] += fp32_seconds

    batches = [{"input_ids": torch.ones(8, 5), "labels": torch.zeros(8)}]
    assert training.fp32_slowdown(Model(), batches) == pytest.approx(slowdown)
    assert training.fp32_slowdown(Model(), None) == 1.0, "no validation batches"
    assert training.fp32_slowdown(torch.nn.Linear(2, 2), batches) == 1.0, "not wrapped by mixed precision"


def test_fp32_slowdown_keeps_each_ways_fastest_timing(monkeypatch):
    """One slow call (the machine busy for a moment) would read the ratio wrong: each way is timed a few times."""
    from bert_sentiment import training

    now = [0.0]
    set_monotonic(monkeypatch, training, lambda: now[0])
    mixed, fp32 = iter([1.0, 5.0, 1.0, 1.2]), iter([2.0, 2.0, 2.1, 2.2])  # the first call of each warms up

    class Model:
        device = torch.device("cpu")

        def forward(self, input_ids):
            now[0] += next(mixed)

        def _original_forward(self, input_ids):
            now[0] += next(fp32)

    batches = [{"input_ids": torch.ones(8, 5)}]
    assert training.fp32_slowdown(Model(), batches) == pytest.approx(2.0)


def test_at_the_trainings_end_fp32_is_timed_without_dropout_and_the_model_is_left_training():
    """Timed at the end of a training without validation passes, the model is still in training mode, where dropout
    slows both readings alike (MiniLM on 4 rows of 512 tokens: four times as slow, fp32 against bf16 1.04-1.08,
    where evaluation mode reads 1.39-1.42)."""
    from bert_sentiment import training

    seen = []

    class Model(torch.nn.Module):
        device = torch.device("cpu")

        def forward(self, input_ids):
            seen.append(self.training)

        def _original_forward(self, input_ids):
            seen.append(self.training)

    model = Model()
    batches = [{"input_ids": torch.ones(8, 5), "labels": torch.zeros(8)}]
    training.fp32_slowdown(model, batches)
    assert seen == [False] * 2 * (1 + training.FP32_TIMINGS), "read as evaluation reads"
    assert model.training, "training mode restored"
    model.eval()
    training.fp32_slowdown(model, batches)
    assert not model.training, "a model in evaluation mode stays so"


@pytest.mark.parametrize(("gpu", "use_cpu", "multiple"), [(True, False, 8), (True, True, None), (False, False, None)])
def test_batches_are_padded_to_a_multiple_of_8_only_on_a_gpu(monkeypatch, gpu, use_cpu, multiple):
    from types import SimpleNamespace

    from bert_sentiment import training

    monkeypatch.setattr(training.torch.cuda, "is_available", lambda: gpu)
    assert training.pad_multiple(SimpleNamespace(use_cpu=use_cpu)) == multiple
