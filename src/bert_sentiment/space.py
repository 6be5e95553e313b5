"""Deploying app.py as a Hugging Face Space for a published model, in one command and one commit."""

import logging
import shutil
import tempfile
from importlib.metadata import version
from pathlib import Path

from huggingface_hub import HfApi, SpaceCard, SpaceCardData, constants

from bert_sentiment.publish import HubTarget

logger = logging.getLogger(__name__)

PACKAGE = Path(__file__).resolve().parent
# What the Space runs: a two-line app.py beside our package (small; the app imports only its serving modules).
SPACE_APP = """import sys

from bert_sentiment.app import serve
from bert_sentiment.cli import run_command

if __name__ == "__main__":
    sys.exit(run_command(lambda: serve(sys.argv[1:])))
"""
# Pinned to the versions this app was tested with. gradio itself comes from the card's sdk_version.
PINNED = [
    "torch",
    "transformers",
    "accelerate",
    "datasets",
    "huggingface_hub",
    "tokenizers",
    "scikit-learn",
    "numpy",
    "pyyaml",
    "onnxruntime",
    "onnx",
    "onnxscript",
    "mcp",
    "captum",
]
# Free Spaces have no GPU: the CPU build of torch is a fraction of the CUDA one's download.
TORCH_INDEX = "--extra-index-url https://download.pytorch.org/whl/cpu"


def pinned_requirements() -> str:
    lines = [TORCH_INDEX]
    for package in PINNED:
        tested = version(package).split("+")[0]  # 2.13.0+cpu -> 2.13.0, found on either index
        lines.append(f"{package}=={tested}")
    return "\n".join(lines) + "\n"


def space_card(model_id: str) -> SpaceCard:
    import gradio

    data = SpaceCardData(
        title=f"Sentiment: {model_id.split('/')[-1]}",
        sdk="gradio",
        sdk_version=gradio.__version__,
        app_file="app.py",
        models=[model_id],
        license="apache-2.0",
        emoji="💬",
        colorFrom="blue",
        colorTo="green",
        short_description=f"Sentiment classifier demo for {model_id}"[:60],
        pinned=False,
    )
    body = (
        f"# {data.title}\n\nA demo of [{model_id}](https://huggingface.co/{model_id}): type a text, or upload many, "
        "and see the probability of every label.\n\nThe model is set by the Space variable `MODEL_ID`. "
        'The API is callable with `gradio_client`: `Client("<this space>").predict("text", api_name="/predict")`.\n'
    )
    return SpaceCard(f"---\n{data.to_yaml()}\n---\n\n{body}")


def stage_space(model_id: str, directory: Path) -> Path:
    """Everything the Space needs, laid out in `directory`."""
    (directory / "app.py").write_text(SPACE_APP, encoding="utf-8")
    shutil.copytree(PACKAGE, directory / PACKAGE.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (directory / "requirements.txt").write_text(pinned_requirements(), encoding="utf-8")
    space_card(model_id).save(directory / "README.md")
    return directory


def deploy_space(model_id: str, target: HubTarget) -> str:
    """Create (or update) the Space, set MODEL_ID, upload the app in one commit; return the Space's URL."""
    api = HfApi(token=target.token)
    api.create_repo(target.repo_id, repo_type="space", space_sdk="gradio", private=target.private, exist_ok=True)
    api.add_space_variable(target.repo_id, "MODEL_ID", model_id, description="The model the app serves")
    revision = api.model_info(model_id).sha  # pinned: a later push to the model does not change the Space silently
    api.add_space_variable(target.repo_id, "MODEL_REVISION", revision, description="The model commit the app serves")
    logger.info("The Space serves %s at revision %s; deploy again to serve a newer one.", model_id, revision)
    with tempfile.TemporaryDirectory() as staging:
        stage_space(model_id, Path(staging))
        commit = api.upload_folder(
            repo_id=target.repo_id,
            repo_type="space",
            folder_path=staging,
            commit_message=f"Sentiment demo for {model_id}",
        )
    url = f"{constants.ENDPOINT}/spaces/{target.repo_id}"
    logger.info("Deployed the app (commit %s): %s", commit.oid, url)
    return url
