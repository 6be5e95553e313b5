"""The Trainer as built for a run: what reaches the loss."""

import pytest
import torch
from datasets import ClassLabel, Dataset, DatasetDict
from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding

from bert_sentiment.arguments import parse_args
from bert_sentiment.errors import UserError
from bert_sentiment.training import build_trainer, layer_depths, layer_lr_note
from tests.conftest import english_reviews, quick_training_flags


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
    if cut:
        data = (checkpoint / cut).read_bytes()
        (checkpoint / cut).write_bytes(data[: len(data) // 2])
    return checkpoint


@pytest.mark.parametrize("cut", ["model.safetensors", "optimizer.pt", "trainer_state.json"])
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
    with pytest.raises(
        UserError, match=r"no intact checkpoint in .*checkpoint-20: model.safetensors is unreadable.*Drop --resume"
    ):
        newest_intact_checkpoint(tmp_path)


def test_the_cost_line_comes_once_from_the_steps_after_the_first(monkeypatch):
    from types import SimpleNamespace

    from bert_sentiment import training

    now = [100.0]
    monkeypatch.setattr(training.time, "monotonic", lambda: now[0])
    said = []
    costs = training.MeasuredCosts(lambda speed, left, reading: said.append((speed, left)), steps=4, seconds=1e9)
    args = SimpleNamespace(train_batch_size=8, gradient_accumulation_steps=2, world_size=1)
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

    short = training.MeasuredCosts(lambda speed, left, reading: said.append((speed, left)), steps=20, seconds=1e9)
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
    monkeypatch.setattr(training.time, "monotonic", lambda: now[0])

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
    short = training.MeasuredCosts(lambda speed, left, reading: said.append(reading), steps=20, seconds=3.0)
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
    assert Model.rows == [training.FP32_TIMED_ROWS] * 2, "a few rows, read twice (once to warm up)"

    fp32_run = training.MeasuredCosts(lambda speed, left, reading: said.append(reading), steps=20, seconds=1e9)
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
    (other / "notes.md").write_text("mine")
    with pytest.raises(UserError, match=r"already holds other files \(notes\.md\)\. Pass --resume"):
        check_output_dir(other, overwrite=False)
    check_output_dir(other, overwrite=False, ours=("notes.md",))  # what this run put there itself


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
    trainer, evaluate = keeper("eval_accuracy", greater=True)
    trainer.state.log_history = [
        {"step": 10, "eval_accuracy": 0.8, "eval_loss": 0.3},
        {"step": 20, "eval_accuracy": 0.7, "eval_loss": 0.2},
    ]
    trainer.state.best_metric, trainer.state.best_global_step = 0.8, 10
    assert not evaluate(30, accuracy=0.8, loss=0.35), "the restored best (step 10) had the lower loss"
    assert evaluate(40, accuracy=0.8, loss=0.25) and trainer.state.best_global_step == 40
    trainer.state = type(trainer.state)()  # the next search trial starts afresh
    assert evaluate(10, accuracy=0.5, loss=0.9)
    assert evaluate(20, accuracy=0.5, loss=0.8), "the last trial's best loss is not this one's"
