"""The Space's files on their own (tests/test_publish.py deploys them to the local Hub): what a Space builds from."""

from importlib.metadata import version

from huggingface_hub import SpaceCard

from bert_sentiment.space import PINNED, TORCH_INDEX, pinned_requirements, space_card, stage_space


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


def test_staging_lays_out_the_app_the_package_its_pins_and_the_card(tmp_path):
    stage_space("alice/sst2-bert", tmp_path)
    assert "from bert_sentiment.app import serve" in (tmp_path / "app.py").read_text()
    package = tmp_path / "bert_sentiment"
    assert (package / "app.py").is_file() and (package / "model_card.md").is_file()
    assert not list(package.rglob("__pycache__")) and not list(package.rglob("*.pyc")), "no compiled files uploaded"
    assert (tmp_path / "requirements.txt").read_text() == pinned_requirements()
    assert SpaceCard.load(tmp_path / "README.md").data.to_dict()["models"] == ["alice/sst2-bert"]
