"""The Space's files on their own, and deploying them to the local Hub (tests/hub_server.py) with no trained run.
tests/test_publish.py deploys a trained model's Space and runs it as the Space runner would."""

import logging
import os
from importlib.metadata import version
from pathlib import Path

import pytest
from huggingface_hub import SpaceCard
from huggingface_hub.errors import HfHubHTTPError

from bert_sentiment import space
from bert_sentiment.publish import HubTarget
from bert_sentiment.space import (
    PINNED,
    SPACE_APP,
    TORCH_INDEX,
    deploy_space,
    pinned_requirements,
    space_card,
    stage_space,
)
from tests.hub_server import TOKEN, Repo


def test_requirements_pin_every_package_to_the_version_tested_here_with_the_cpu_torch_index_first():
    lines = pinned_requirements().splitlines()
    assert lines[0] == TORCH_INDEX, "a free Space has no GPU: the CPU build of torch"
    pins = dict(line.split("==") for line in lines[1:])
    assert list(pins) == PINNED
    assert pins["torch"] == version("torch").split("+")[0] and "+" not in "".join(pins.values())
    assert pins["onnxruntime"] == version("onnxruntime")


def test_the_space_card_runs_the_tested_gradio_on_the_model_with_a_short_description():
    import gradio

    long_id = "someone-with-a-long-name/a-sentiment-model-with-a-very-long-name"
    card = space_card(long_id)
    data = card.data.to_dict()
    assert data["sdk"] == "gradio" and data["sdk_version"] == gradio.__version__ and data["app_file"] == "app.py"
    assert data["models"] == [long_id] and len(data["short_description"]) <= 60, "the Hub refuses longer ones"
    assert f"[{long_id}](https://huggingface.co/{long_id})" in card.text


def test_the_space_card_matches_its_reviewed_golden_file():
    """The Space's page as a visitor sees it (title, licence, colours, how to call the API), gradio's version aside.
    After a deliberate change: UPDATE_GOLDEN=1 python -m pytest tests/test_space.py."""
    import gradio

    text = str(space_card("alice/sst2-bert")).replace(f"sdk_version: {gradio.__version__}", "sdk_version: GRADIO")
    golden = Path(__file__).parent / "golden" / "space_card.md"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")


def test_staging_lays_out_the_app_the_package_its_pins_and_the_card(tmp_path):
    stage_space("alice/sst2-bert", tmp_path)
    assert (tmp_path / "app.py").read_text() == SPACE_APP
    package = tmp_path / "bert_sentiment"
    assert (package / "app.py").is_file() and (package / "model_card.md").is_file()
    assert (tmp_path / "requirements.txt").read_text() == pinned_requirements()
    assert SpaceCard.load(tmp_path / "README.md").data.to_dict()["models"] == ["alice/sst2-bert"]


def test_staging_leaves_compiled_files_behind(tmp_path, monkeypatch):
    package = tmp_path / "src" / "bert_sentiment"
    for name in ("app.py", "__pycache__/app.cpython-311.pyc", "sub/part.py", "sub/stale.pyc", "sub/__pycache__/x"):
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text("")
    monkeypatch.setattr(space, "PACKAGE", package)
    (tmp_path / "space").mkdir()
    staged = stage_space("alice/sst2-bert", tmp_path / "space") / "bert_sentiment"
    assert sorted(str(path.relative_to(staged)) for path in staged.rglob("*")) == ["app.py", "sub", "sub/part.py"]


@pytest.fixture
def hub(local_hub):
    """The local Hub holding alice/sst2-bert at one commit."""
    model = Repo("model", private=False)
    model.commits.append(("a" * 40, {"config.json": b"{}"}))
    local_hub.state.repos[("model", "alice/sst2-bert")] = model
    return local_hub


def test_deploy_creates_the_space_pins_the_models_commit_and_uploads_the_app_in_one_commit(hub, caplog):
    caplog.set_level(logging.INFO, logger="bert_sentiment.space")
    url = deploy_space("alice/sst2-bert", HubTarget("alice/sst2-demo", TOKEN, private=True))

    assert url == f"{hub.url}/spaces/alice/sst2-demo"
    deployed = hub.state.repos[("space", "alice/sst2-demo")]
    assert deployed.sdk == "gradio" and deployed.private, "the user asked for a private Space"
    assert {key: (value["value"], value["description"]) for key, value in deployed.variables.items()} == {
        "MODEL_ID": ("alice/sst2-bert", "The model the app serves"),
        "MODEL_REVISION": ("a" * 40, "The model commit the app serves"),
    }, "the Space's settings page explains each variable"
    assert deployed.messages == ["Sentiment demo for alice/sst2-bert"]
    files = deployed.commits[0][1]
    assert files["app.py"].decode() == SPACE_APP
    assert files["requirements.txt"].decode() == pinned_requirements()
    assert SpaceCard(files["README.md"].decode()).data.models == ["alice/sst2-bert"]
    assert "bert_sentiment/inference.py" in files and not any(".pyc" in name for name in files)
    assert caplog.messages == [
        f"The Space serves alice/sst2-bert at revision {'a' * 40}; deploy again to serve a newer one.",
        f"Deployed the app (commit {deployed.commits[0][0]}): {url}",
    ]


def test_deploying_again_updates_the_same_space_to_the_models_newer_commit(hub):
    target = HubTarget("alice/sst2-demo", TOKEN, private=None)
    deploy_space("alice/sst2-bert", target)
    hub.state.repos[("model", "alice/sst2-bert")].commits.append(("b" * 40, {"config.json": b"{}"}))
    deploy_space("alice/sst2-bert", target)

    deployed = hub.state.repos[("space", "alice/sst2-demo")]
    assert not deployed.private and len(deployed.commits) == 2, "the second deploy is a commit on the same Space"
    assert deployed.variables["MODEL_REVISION"]["value"] == "b" * 40


def test_a_token_without_rights_creates_no_space(hub):
    with pytest.raises(HfHubHTTPError):
        deploy_space("alice/sst2-bert", HubTarget("alice/sst2-demo", "hf_not_a_token", private=None))
    assert ("space", "alice/sst2-demo") not in hub.state.repos
