"""Publishing a finished run to the Hugging Face Hub, and proving it works as users will load it.

Checks that can fail late (repo id, token, reachability) run before training. The push is one
commit: weights, tokenizer, config with label names, card and confusion matrices. Then the
model is loaded back by repo id through `pipeline()` and must answer like the local one.
"""

import logging
import sys
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import HfApi, constants, get_session, get_token
from huggingface_hub.errors import HfHubHTTPError, HFValidationError
from huggingface_hub.utils import validate_repo_id

from bert_sentiment.errors import UserError
from bert_sentiment.facts import OnnxFacts, RunFacts, parse
from bert_sentiment.model_card import write_card
from bert_sentiment.onnx_export import FP32_FILE, INT8_FILE, ONNX_DIR, SERVING_MARGIN, STOCK_TEXTS, try_export_onnx

logger = logging.getLogger(__name__)

# What goes to the Hub. Not training_args.bin (pickled settings), checkpoints, or wrong_predictions
# (raw training texts, which a user may not mean to publish).
UPLOADED = [
    "model.safetensors",
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "special_tokens_map.json",
    "README.md",
    "confusion_matrix_*.png",
    "confusion_matrix_*.json",
    "reliability_*.png",
    "precision_coverage.png",
    "all_results.json",
    "run_facts.json",
    f"{ONNX_DIR}/{FP32_FILE}",
    f"{ONNX_DIR}/{INT8_FILE}",
]
SCORE_TOLERANCE = 1e-4  # local vs reloaded probabilities; the same weights give the same scores


class PublishError(RuntimeError):
    """The published model does not behave like the local one."""


@dataclass
class HubTarget:
    repo_id: str
    token: str
    private: bool | None

    @property
    def url(self) -> str:
        return f"{constants.ENDPOINT}/{self.repo_id}"

    def __repr__(self) -> str:  # never show the token, even in a debugger or a traceback
        return f"HubTarget(repo_id={self.repo_id!r}, private={self.private!r})"


def check_hub_access(
    repo_id: str | None, private: bool | None = None, token: str | None = None, flag: str = "--hub_model_id"
) -> HubTarget:
    """Before any training: the repo id's form, a token, and that the Hub accepts it. `flag` names the repo id's flag."""
    if not repo_id:
        raise UserError(f"--push_to_hub needs {flag}, e.g. {flag} your-name/sst2-bert.")
    try:
        validate_repo_id(repo_id)
    except HFValidationError as err:
        raise UserError(
            f"{flag} '{repo_id}' is not a valid repo id ({err}). Use 'user/name' with letters, "
            "digits, '-', '_' and '.', e.g. alice/sst2-bert."
        ) from None
    token = token or get_token()
    if not token:
        raise UserError(
            "No Hugging Face token found. Set HF_TOKEN, or run `hf auth login`, with a token that can write "
            "(https://huggingface.co/settings/tokens)."
        )
    user = _whoami(token)
    namespace, _, name = repo_id.rpartition("/")
    repo_id = f"{namespace or user['name']}/{name}"
    allowed = {user["name"], *(org["name"] for org in user.get("orgs", []))}
    if repo_id.split("/")[0] not in allowed:
        raise UserError(
            f"Your token belongs to '{user['name']}', which cannot write to '{repo_id.split('/')[0]}'. "
            f"Use {flag} {user['name']}/{name}."
        )
    logger.info("Hub access checked: will publish to %s as %s.", repo_id, user["name"])
    return HubTarget(repo_id, token, private)


def _whoami(token: str) -> dict:
    try:
        return HfApi().whoami(token=token)
    except HfHubHTTPError as err:
        status = err.response.status_code if err.response is not None else None
        if status == 401:
            raise UserError(
                "The Hugging Face token was refused (invalid or expired). Create a new one with write access "
                "at https://huggingface.co/settings/tokens and set HF_TOKEN or run `hf auth login`."
            ) from None
        raise UserError(f"The Hub at {constants.ENDPOINT} answered {status}: {err}") from None
    except _network_errors() as err:
        raise UserError(
            f"Cannot reach the Hugging Face Hub at {constants.ENDPOINT} ({type(err).__name__}). Check your "
            "network (and HF_ENDPOINT if set); train without --push_to_hub and publish later with publish.py."
        ) from None


def _network_errors() -> tuple[type[Exception], ...]:
    """Transport errors of the HTTP library huggingface_hub uses (httpx in 1.x, httpx2 since 2.x)."""
    library = sys.modules[type(get_session()).__module__.split(".")[0]]
    return (library.TransportError, OSError)


def publish(output_dir: Path, target: HubTarget, license: str = "apache-2.0", export_onnx: bool = True) -> str:
    """Write the card, push everything in one commit, verify by reloading; return the model's URL.
    A run without ONNX files (older, or trained with --export_onnx false) gets them first unless export_onnx=False."""
    output_dir = Path(output_dir)
    if export_onnx:
        ensure_onnx(output_dir)
    card = write_card(output_dir, target.repo_id, license)
    logger.info("Wrote the model card %s", card)
    api = HfApi(token=target.token)
    api.create_repo(target.repo_id, private=target.private, exist_ok=True)
    commit = api.upload_folder(
        repo_id=target.repo_id,
        folder_path=output_dir,
        allow_patterns=UPLOADED,
        commit_message="Fine-tuned sentiment classifier: model, tokenizer, card and evaluation",
    )
    logger.info("Pushed commit %s; now loading it back as a user would.", commit.oid)
    verify_published(output_dir, target, commit.oid)
    logger.info("Published and verified: %s", target.url)
    return target.url


def ensure_onnx(output_dir: Path) -> None:
    """Export and verify the ONNX files of a run that has none, on its card examples and stock sentences
    (the validation texts are not kept with a run), and record the check in its facts. With so few texts one
    near-tie flipping under int8 would be a 93% agreement, so labels are compared, as at app start, only on
    texts PyTorch decides by SERVING_MARGIN."""
    if (output_dir / ONNX_DIR / INT8_FILE).is_file() and (output_dir / ONNX_DIR / FP32_FILE).is_file():
        return
    facts = RunFacts.load(output_dir)
    facts.onnx = parse(
        OnnxFacts,
        try_export_onnx(
            output_dir,
            list(facts.label_examples().values()) + STOCK_TEXTS,
            "texts of the card's examples and stock sentences",
            SERVING_MARGIN,
        ),
    )
    facts.save(output_dir)


def verify_published(output_dir: Path, target: HubTarget, revision: str) -> None:
    """Load the model by repo id through pipeline() and compare it with the local model on the card's examples."""
    from transformers import pipeline

    facts = RunFacts.load(output_dir)
    examples = list(facts.label_examples().values()) or ["This is great.", "This is terrible."]
    local = pipeline("text-classification", model=str(output_dir))
    remote = pipeline("text-classification", model=target.repo_id, revision=revision, token=target.token)
    remote_labels = list(remote.model.config.id2label.values())
    if remote_labels != facts.label_names:
        raise PublishError(f"The published model's labels are {remote_labels}, expected {facts.label_names}.")
    expected = local(examples, top_k=None, truncation=True)
    answered = remote(examples, top_k=None, truncation=True)
    for text, mine, theirs in zip(examples, expected, answered):
        mine, theirs = {a["label"]: a["score"] for a in mine}, {a["label"]: a["score"] for a in theirs}
        if mine.keys() != theirs.keys() or any(abs(mine[k] - theirs[k]) > SCORE_TOLERANCE for k in mine):
            raise PublishError(f"The published model answers {theirs} for {text!r}; the local model {mine}.")
        logger.info("  %r -> %s (as locally)", text[:60], max(theirs, key=theirs.get))
