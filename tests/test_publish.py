"""Publishing, for real, to a Hub-compatible server on loopback, with the real huggingface_hub client."""

import json
import re
import socket
import subprocess
import sys
from importlib.metadata import version

import gradio
import pytest

from bert_sentiment.facts import RunFacts
from bert_sentiment.model_card import render_card
from tests.conftest import english_reviews, quick_training_flags, write_csv
from tests.hub_server import LOAD_BACK, TOKEN, HubServer, hub_env, run


@pytest.fixture(scope="module")
def hub():
    with HubServer({TOKEN: "alice"}) as server:
        yield server


def test_publish_then_load_by_repo_id_like_a_user(hub, trained_run, tmp_path):
    result = run(
        ["publish.py", "--output_dir", trained_run, "--hub_model_id", "alice/sst2-tiny"], hub_env(tmp_path, hub.url)
    )
    assert result.returncode == 0, result.stderr
    assert f"Published and verified: {hub.url}/alice/sst2-tiny" in result.stderr
    assert TOKEN not in result.stdout + result.stderr

    commits = hub.state.repos[("model", "alice/sst2-tiny")].commits
    assert len(commits) == 1, "model, tokenizer, card and images go in one commit"
    files = commits[0][1]
    assert set(files) == {
        "model.safetensors",
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "README.md",
        "run_facts.json",
        "all_results.json",
        "onnx/model.onnx",
        "onnx/model_quantized.onnx",
        *(f"confusion_matrix_{split}.{kind}" for split in ("validation", "test") for kind in ("png", "json")),
    }, "exactly the model, its ONNX graphs, the card and its evidence: no settings pickle, checkpoints or raw texts"
    assert (trained_run / "label_issues.jsonl").is_file() and list(trained_run.glob("wrong_predictions_*.jsonl"))
    assert (trained_run / "labelled_texts.npy").is_file(), "the hashes of the run's texts stay local too"
    assert not any(name.endswith(".jsonl") for name in files), "files of raw training texts stay local"
    assert not any(TOKEN.encode() in content for content in files.values())
    assert b'pipeline("text-classification", model="alice/sst2-tiny")' in files["README.md"]

    card_matches_facts(files["README.md"].decode(), RunFacts.load(trained_run))

    texts = ["the acting was superb and delightful", "the plot was horrible and dull"]
    fresh = hub_env(tmp_path / "fresh", hub.url, token=None)  # a new user: empty cache, no token
    remote = json.loads(run(["-c", LOAD_BACK, "alice/sst2-tiny", *texts], fresh).stdout.splitlines()[-1])
    local = json.loads(run(["-c", LOAD_BACK, trained_run, *texts], fresh).stdout.splitlines()[-1])
    assert remote["labels"] == ["negative", "positive"]
    assert remote == local

    # The card's ONNX Runtime snippet, pasted by a new user, answers like pipeline() on the published model.
    snippet = next(
        block
        for block in re.findall(r"```python\n(.*?)```", files["README.md"].decode(), re.DOTALL)
        if "onnxruntime" in block
    )
    printed = run(["-c", snippet], fresh)
    assert printed.returncode == 0, printed.stderr[-2000:]
    label, probability = printed.stdout.split()
    example = json.loads(re.search(r"tokenizer\(\[(.*?)\]", snippet).group(1))
    expected = max(
        json.loads(run(["-c", LOAD_BACK, trained_run, example], fresh).stdout.splitlines()[-1])["answers"][0],
        key=lambda answer: answer["score"],
    )
    assert label == expected["label"] and float(probability) == pytest.approx(expected["score"], abs=0.02)


def card_matches_facts(card_text: str, facts: RunFacts) -> None:
    """Every figure of the pushed card (model-index and each split's table) is the run's figure for that split."""
    from huggingface_hub import ModelCard

    card = ModelCard(card_text)
    seen = {(result.dataset_split, result.metric_type): result.metric_value for result in card.data.eval_results}
    assert seen == {
        (split, metric): pytest.approx(value, abs=5e-5)
        for split, report in facts.results.items()
        for metric, value in report.metrics.items()
        if metric != "loss"  # kept in the facts for --seeds to choose by; not a score the Hub lists
    }
    for split, report in facts.results.items():
        section = card_text.split(f"### {split.capitalize()} (")[1].split("###")[0]
        m = report.metrics
        assert (
            f"| **this model** | {m['accuracy']:.4f} | {m['precision']:.4f} | {m['recall']:.4f} | {m['f1']:.4f} |"
            in section
        )


def test_a_hub_that_stores_other_weights_fails_the_publish_check(finished_run, tmp_path):
    """The reload check is what catches a push that does not serve the model trained: here the Hub corrupts it, and
    publish.py says so and exits 1."""
    with HubServer({TOKEN: "alice"}) as hub:
        hub.state.tamper = shift_the_classifier
        result = run(
            ["publish.py", "--output_dir", finished_run, "--hub_model_id", "alice/tampered"],
            hub_env(tmp_path, hub.url),
        )
    assert result.returncode == 1, result.stderr[-2000:]
    assert "Published, but the check failed: The published model answers" in result.stderr
    assert "Published and verified" not in result.stderr


def test_train_with_push_to_hub_publishes_a_private_repo_at_the_end(hub, tiny_bert, tmp_path):
    data = write_csv(tmp_path / "reviews.csv", english_reviews(160))
    out = tmp_path / "out"
    flags = [
        "--train_file",
        data,
        *quick_training_flags(tiny_bert, out),
        "--push_to_hub",
        "--hub_model_id",
        "alice/pushed",
        "--hub_private",
        "--hub_token",
        TOKEN,
    ]
    result = run(["train.py", *flags], hub_env(tmp_path, hub.url, token=None))
    assert result.returncode == 0, result.stderr[-3000:]
    repo = hub.state.repos[("model", "alice/pushed")]
    assert repo.private and len(repo.commits) == 1
    assert "Published and verified" in result.stderr  # the private model was loaded back with the token
    anonymous = run(["-c", LOAD_BACK, "alice/pushed", "x"], hub_env(tmp_path / "anon", hub.url, token=None))
    assert anonymous.returncode != 0, "a private model is not served without a token"
    assert TOKEN not in result.stdout + result.stderr
    for saved in out.rglob("*"):
        assert not saved.is_file() or TOKEN.encode() not in saved.read_bytes(), saved


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_app(url: str, process: subprocess.Popen):
    import time

    from gradio_client import Client

    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the Space's app.py exited: {process.stdout.read()[-3000:]}")
        try:
            return Client(url, verbose=False)
        except Exception:  # not listening yet
            time.sleep(1)
    raise AssertionError("the Space's app.py did not start within 180 s")


@pytest.mark.parametrize(
    "case, repo_id, endpoint, token, message",
    [
        ("missing token", "alice/x", None, None, "No Hugging Face token found"),
        ("unreachable hub", "alice/x", "closed", TOKEN, "Cannot reach the Hugging Face Hub"),
    ],
)  # every refusal word for word: test_hub_access_is_refused_in_words_before_anything_runs, in this process
def test_hub_problems_stop_before_training(hub, tiny_bert, tmp_path, case, repo_id, endpoint, token, message):
    endpoint = f"http://127.0.0.1:{closed_port()}" if endpoint == "closed" else hub.url
    data = write_csv(tmp_path / "reviews.csv", english_reviews(40))
    out = tmp_path / "out"
    flags = ["--train_file", data, *quick_training_flags(tiny_bert, out), "--push_to_hub", "--hub_model_id", repo_id]
    result = run(["train.py", *flags], hub_env(tmp_path, endpoint, token))
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists(), "nothing was trained"
    assert TOKEN not in result.stderr


def test_hub_dataset_by_name_loads_through_the_hub_api(hub, tiny_bert, tmp_path):
    """--dataset_name alice/reviews resolves, lists and downloads through the Hub protocol, like glue or imdb."""
    folder = tmp_path / "dataset"
    folder.mkdir()
    write_csv(folder / "train.csv", english_reviews(160))
    write_csv(folder / "test.csv", english_reviews(30, seed=3))
    upload = f"""
from huggingface_hub import HfApi
api = HfApi(token="{TOKEN}")
api.create_repo("alice/reviews", repo_type="dataset")
print(api.upload_folder(repo_id="alice/reviews", repo_type="dataset", folder_path="{folder}").oid)
"""
    uploaded = run(["-c", upload], hub_env(tmp_path, hub.url))
    assert uploaded.returncode == 0, uploaded.stderr[-2000:]
    commit = uploaded.stdout.split()[-1]

    out = tmp_path / "out"
    result = run(
        [
            "train.py",
            "--dataset_name",
            "alice/reviews",
            *quick_training_flags(tiny_bert, out),
            "--export_onnx",
            "false",
        ],
        hub_env(tmp_path, hub.url),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    facts = json.loads((out / "run_facts.json").read_text())
    assert facts["data"]["source"] == {"kind": "hub", "dataset_name": "alice/reviews", "commit": commit}
    assert set(facts["results"]) == {"validation", "test"}
    assert f"at commit `{commit}`" in render_card(RunFacts.from_dict(facts), "alice/from-hub-data").text


def test_deploy_space_uploads_the_app_pinned_and_sets_model_id(hub, trained_run, tmp_path):
    from huggingface_hub import SpaceCard

    published = run(
        ["publish.py", "--output_dir", trained_run, "--hub_model_id", "alice/sst2-tiny"], hub_env(tmp_path, hub.url)
    )
    assert published.returncode == 0, published.stderr[-2000:]
    result = run(
        ["deploy_space.py", "--model_id", "alice/sst2-tiny", "--space_id", "alice/sst2-demo"],
        hub_env(tmp_path, hub.url),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"{hub.url}/spaces/alice/sst2-demo" in result.stderr
    space = hub.state.repos[("space", "alice/sst2-demo")]
    assert space.sdk == "gradio" and space.variables["MODEL_ID"]["value"] == "alice/sst2-tiny"
    pinned = hub.state.repos[("model", "alice/sst2-tiny")].commits[-1][0]
    assert space.variables["MODEL_REVISION"]["value"] == pinned, "the Space serves the commit that was checked"
    assert len(space.commits) == 1
    files = space.commits[0][1]
    assert {
        "app.py",
        "bert_sentiment/inference.py",
        "bert_sentiment/demo.py",
        "bert_sentiment/app.py",
        "requirements.txt",
        "README.md",
    } <= set(files)
    assert not any("__pycache__" in name for name in files)

    card = SpaceCard(files["README.md"].decode())
    assert (card.data.sdk, card.data.sdk_version, card.data.app_file) == ("gradio", gradio.__version__, "app.py")
    assert card.data.models == ["alice/sst2-tiny"] and card.data.title and card.data.emoji
    requirements = files["requirements.txt"].decode().splitlines()
    assert f"transformers=={version('transformers')}" in requirements
    assert f"torch=={version('torch').split('+')[0]}" in requirements

    # The Space runs from its own files alone, as the Space runner does: python app.py with MODEL_ID set.
    space_dir = tmp_path / "space"
    for name, content in files.items():
        (space_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (space_dir / name).write_bytes(content)
    port = closed_port()
    env = hub_env(tmp_path / "space-home", hub.url, token=None)
    later = run(
        ["publish.py", "--output_dir", trained_run, "--hub_model_id", "alice/sst2-tiny"], hub_env(tmp_path, hub.url)
    )
    assert later.returncode == 0 and hub.state.repos[("model", "alice/sst2-tiny")].commits[-1][0] != pinned
    env.update(
        MODEL_ID=space.variables["MODEL_ID"]["value"],
        MODEL_REVISION=space.variables["MODEL_REVISION"]["value"],
        SPACE_ID="alice/sst2-demo",
        GRADIO_SERVER_PORT=str(port),
        GRADIO_ANALYTICS_ENABLED="False",
        PYTHONPATH="",
    )
    app = subprocess.Popen(
        [sys.executable, "app.py"], cwd=space_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        label, _ = wait_for_app(f"http://127.0.0.1:{port}", app).predict(
            "the acting was superb and delightful", api_name="/predict"
        )
        assert label["label"] == "positive"
    finally:
        app.terminate()
        app.wait(timeout=30)
    log = app.stdout.read()
    served = log.split("serving with ", 1)[1].splitlines()[0]
    assert served.startswith("ONNX Runtime int8 (int8 for this CPU, ") and served.endswith(
        "from the Hub repo's file)."
    ), "the Space builds its own graph from the model.onnx it downloaded"
    assert f"Loaded alice/sst2-tiny at revision {pinned}" in log, "the pinned commit, not the later push"


def test_deploy_space_names_its_own_flag_for_a_bad_space_id(hub, tmp_path):
    result = run(
        ["deploy_space.py", "--model_id", "alice/m", "--space_id", "alice/bad name!"], hub_env(tmp_path, hub.url)
    )
    assert result.returncode == 2
    assert "--space_id 'alice/bad name!' is not a valid repo id" in result.stderr
    assert "Traceback" not in result.stderr


def test_no_local_path_reaches_an_uploaded_file(hub, tiny_bert, tmp_path):
    """A run built from absolute paths under a home folder: the model, a glob of class files, the output_dir.
    Every file the Hub receives is searched for that folder, and the test split's texts stay local."""
    import shutil

    home = tmp_path / "home" / "alice"
    model = shutil.copytree(tiny_bert, home / "models" / "tiny-bert")
    data = home / "data" / "reviews"
    data.mkdir(parents=True)
    for label in ("negative", "positive"):
        texts = [text for text, given in english_reviews(160) if given == label]
        (data / f"{label}.txt").write_text("\n".join(texts), encoding="utf-8")
    test = write_csv(
        home / "data" / "test.csv",
        [("a quiet secret test review, superb", "positive"), ("another private test text, awful", "negative")] * 10,
    )
    out = home / "runs" / "reviews"
    flags = [*quick_training_flags(model, out), "--train_file", f"{data}/*.txt", "--test_file", test]
    trained = run(["train.py", *map(str, flags)], hub_env(tmp_path, hub.url))
    assert trained.returncode == 0, trained.stderr[-3000:]
    published = run(
        ["publish.py", "--output_dir", out, "--hub_model_id", "alice/private-paths"], hub_env(tmp_path, hub.url)
    )
    assert published.returncode == 0, published.stderr[-3000:]
    files = hub.state.repos[("model", "alice/private-paths")].commits[-1][1]
    for name, content in files.items():
        assert str(tmp_path).encode() not in content, f"{name} names a local folder"
        assert b"quiet secret test review" not in content and b"private test text" not in content, (
            f"{name} holds test texts"
        )
    facts = json.loads(files["run_facts.json"])
    assert facts["base_model"] == "tiny-bert" and facts["base_model_local"] is True
    assert facts["data"]["source"]["files"]["train"]["name"] == "reviews/*.txt"
    assert "base_model:" not in files["README.md"].decode().split("---")[1], "no Hub link to a model that is not there"


# Publishing in this process, without training: a finished run is the untrained classifier with a run's facts.


@pytest.fixture
def finished_run(untrained_classifier, tmp_path):
    """A run's output folder: the model and tokenizer, its facts, and what a run keeps that must not be uploaded."""
    import shutil

    from tests.conftest import facts_literal

    folder = tmp_path / "run"
    shutil.copytree(untrained_classifier, folder)
    facts_literal().save(folder)
    (folder / "training_args.bin").write_bytes(b"pickled settings")
    (folder / "wrong_predictions_validation.jsonl").write_text('{"text": "a user\'s own text"}\n')
    (folder / "checkpoint-5").mkdir()
    (folder / "checkpoint-5" / "model.safetensors").write_bytes(b"weights")
    return folder


@pytest.mark.parametrize(
    ("repo_id", "token", "message"),
    [
        (None, TOKEN, "--push_to_hub needs --hub_model_id, e.g. --hub_model_id your-name/sst2-bert."),
        ("alice/bad name!", TOKEN, "--hub_model_id 'alice/bad name!' is not a valid repo id ("),
        (
            "alice/x",
            None,
            "No Hugging Face token found. Set HF_TOKEN, or run `hf auth login`, with a token that can write "
            "(https://huggingface.co/settings/tokens).",
        ),
        (
            "alice/x",
            "hf_wrong",
            "The Hugging Face token was refused (invalid or expired). Create a new one with write access at "
            "https://huggingface.co/settings/tokens and set HF_TOKEN or run `hf auth login`.",
        ),
        ("bob/x", TOKEN, "Your token belongs to 'alice', which cannot write to 'bob'. Use --hub_model_id alice/x."),
        ("closed", TOKEN, "Cannot reach the Hugging Face Hub at http://127.0.0.1:"),
    ],
)
def test_hub_access_is_refused_in_words_before_anything_runs(local_hub, monkeypatch, repo_id, token, message):
    from huggingface_hub import constants

    from bert_sentiment.errors import UserError
    from bert_sentiment.publish import check_hub_access

    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr("bert_sentiment.publish.get_token", lambda: None)  # nor a login on this machine
    if repo_id == "closed":
        repo_id = "alice/x"
        monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(UserError) as error:
        check_hub_access(repo_id, token=token)
    assert str(error.value).startswith(message)
    if "valid repo id" in message:
        assert str(error.value).endswith(
            "). Use 'user/name' with letters, digits, '-', '_' and '.', e.g. alice/sst2-bert."
        )
    if "Cannot reach" in message:
        assert str(error.value).endswith(
            "(ConnectError). Check your network (and HF_ENDPOINT if set); train without --push_to_hub and publish "
            "later with publish.py."
        )


def test_a_repo_name_alone_publishes_under_the_tokens_user_and_the_token_never_shows(local_hub, caplog):
    from bert_sentiment.publish import check_hub_access

    caplog.set_level("INFO")
    target = check_hub_access("sst2-bert", private=True, token=TOKEN, flag="--space_id")
    assert (target.repo_id, target.private, target.token) == ("alice/sst2-bert", True, TOKEN)
    assert target.url == f"{local_hub.url}/alice/sst2-bert"
    assert TOKEN not in repr(target) and repr(target) == "HubTarget(repo_id='alice/sst2-bert', private=True)"
    ours = [record.getMessage() for record in caplog.records if record.name.startswith("bert_sentiment")]
    assert ours == ["Hub access checked: will publish to alice/sst2-bert as alice."]
    with pytest.raises(Exception, match="--space_id 'alice/x y' is not a valid repo id"):
        check_hub_access("alice/x y", token=TOKEN, flag="--space_id")


def test_a_token_publishes_to_an_organisation_its_user_belongs_to_and_no_other(local_hub, caplog):
    from bert_sentiment.errors import UserError
    from bert_sentiment.publish import check_hub_access

    local_hub.state.orgs["alice"] = ["acme", "film-lab"]
    caplog.set_level("INFO")
    assert check_hub_access("film-lab/sst2-bert", token=TOKEN).repo_id == "film-lab/sst2-bert"
    assert caplog.messages[-1] == "Hub access checked: will publish to film-lab/sst2-bert as alice."
    with pytest.raises(UserError) as error:
        check_hub_access("acme-rival/sst2-bert", token=TOKEN)
    assert str(error.value) == (
        "Your token belongs to 'alice', which cannot write to 'acme-rival'. Use --hub_model_id alice/sst2-bert."
    )


def test_publish_pushes_the_run_in_one_commit_without_its_private_files_and_checks_it_by_reloading(
    local_hub, finished_run, caplog
):
    from bert_sentiment.publish import HubTarget, publish

    caplog.set_level("INFO")
    (finished_run / "onnx").mkdir()
    for name in ("model.onnx", "model_quantized.onnx"):  # exported by the run: kept as they are
        (finished_run / "onnx" / name).write_bytes(b"graph " + name.encode())
    url = publish(finished_run, HubTarget("alice/sst2-bert", TOKEN, private=True))
    assert url == f"{local_hub.url}/alice/sst2-bert"
    repo = local_hub.state.repos[("model", "alice/sst2-bert")]
    assert repo.private and len(repo.commits) == 1
    assert repo.messages == ["Fine-tuned sentiment classifier: model, tokenizer, card and evaluation"]
    oid, uploaded = repo.commits[0]
    assert {"model.safetensors", "config.json", "tokenizer.json", "README.md", "run_facts.json"} <= set(uploaded)
    assert uploaded["onnx/model_quantized.onnx"] == b"graph model_quantized.onnx"
    assert not {"training_args.bin", "wrong_predictions_validation.jsonl", "checkpoint-5/model.safetensors"} & set(
        uploaded
    )
    card = uploaded["README.md"].decode()
    assert "license: apache-2.0" in card and 'model="alice/sst2-bert"' in card
    ours = [record.getMessage() for record in caplog.records if record.name.startswith("bert_sentiment")]
    examples = RunFacts.load(finished_run).label_examples()
    assert ours[:2] == [
        f"Wrote the model card {finished_run / 'README.md'}",
        f"Pushed commit {oid}; now loading it back as a user would.",
    ]
    assert ours[-1] == f"Published and verified: {url}"
    answered = [re.fullmatch(r"  (.+) -> (negative|positive) \(as locally\)", line) for line in ours[2:-1]]
    assert [match and match[1] for match in answered] == [repr(text[:60]) for text in examples.values()]
    publish(finished_run, HubTarget("alice/sst2-bert", TOKEN, private=True))  # after retraining: the same repo
    assert len(repo.commits) == 2


def shift_the_classifier(path: str, content: bytes) -> bytes:
    """A Hub that stores other weights than it was sent: the classifier's bias moved."""
    import torch
    from safetensors.torch import load, save

    if path != "model.safetensors":
        return content
    weights = load(content)
    weights["classifier.bias"] = weights["classifier.bias"] + torch.tensor([2.0, -2.0])
    return save(weights)


def test_a_hub_that_serves_other_weights_or_other_labels_fails_the_check(local_hub, finished_run):
    from bert_sentiment.publish import HubTarget, PublishError, publish

    local_hub.state.tamper = shift_the_classifier
    with pytest.raises(PublishError, match=r"^The published model answers \{"):
        publish(finished_run, HubTarget("alice/tampered", TOKEN, None), export_onnx=False)

    def rename_the_labels(path: str, content: bytes) -> bytes:
        if path != "config.json":
            return content
        config = json.loads(content)
        config["id2label"] = {"0": "bad", "1": "good"}
        config["label2id"] = {"bad": 0, "good": 1}
        return json.dumps(config).encode()

    local_hub.state.tamper = rename_the_labels
    with pytest.raises(PublishError) as error:
        publish(finished_run, HubTarget("alice/relabelled", TOKEN, None), export_onnx=False)
    assert str(error.value) == "The published model's labels are ['bad', 'good'], expected ['negative', 'positive']."


def test_a_run_without_onnx_files_gets_them_checked_on_its_examples_and_the_facts_say_why_none_passed(
    finished_run, exported_once
):
    """The random head of the untrained classifier: its int8 graph fails the check, so no graph is kept."""
    from bert_sentiment.facts import RunFacts
    from bert_sentiment.publish import ensure_onnx

    ensure_onnx(finished_run)
    onnx = RunFacts.load(finished_run).onnx
    assert onnx.files == [] and not (finished_run / "onnx" / "model.onnx").exists()
    assert re.match(  # which check the random head's int8 graph fails first varies with its answers
        r"OnnxMismatch: per-channel int8, every linear layer: model_quantized\.onnx( gives PyTorch's label on "
        r"[\d.]+% of \d+ texts \(at least 99% required\)|'s probabilities differ from PyTorch's by [\d.]+)",
        onnx.error,
    )


def test_the_reload_check_reads_the_commit_it_pushed_on_long_examples_or_stock_ones(local_hub, finished_run, caplog):
    from huggingface_hub import HfApi

    from bert_sentiment.facts import RunFacts
    from bert_sentiment.publish import HubTarget, PublishError, publish, verify_published

    facts = RunFacts.load(finished_run)
    for report in facts.results.values():  # examples longer than the model reads: compared on what it reads
        report.label_examples = {label: f"{text} " * 200 for label, text in report.label_examples.items()}
    facts.save(finished_run)
    target = HubTarget("alice/sst2-bert", TOKEN, None)
    publish(finished_run, target, export_onnx=False)
    repo = local_hub.state.repos[("model", "alice/sst2-bert")]
    local_hub.state.tamper = shift_the_classifier  # then someone pushes other weights on top
    HfApi(token=TOKEN).upload_file(
        path_or_fileobj=str(finished_run / "model.safetensors"),
        path_in_repo="model.safetensors",
        repo_id=target.repo_id,
    )
    verify_published(finished_run, target, repo.commits[0][0])  # the commit this run pushed still answers as locally
    with pytest.raises(PublishError):
        verify_published(finished_run, target, repo.commits[-1][0])
    for report in facts.results.values():  # a run that kept no examples: two stock sentences
        report.label_examples = {}
    facts.save(finished_run)
    caplog.set_level("INFO")
    caplog.clear()
    verify_published(finished_run, target, repo.commits[0][0])
    ours = [record.getMessage() for record in caplog.records if record.name.startswith("bert_sentiment")]
    assert [line.split(" -> ")[0] for line in ours] == ["  'This is great.'", "  'This is terrible.'"]
