"""Which language the texts are in, and the base checkpoint each language starts from."""

import logging
import re
from collections.abc import Sequence
from typing import Literal, get_args

from bert_sentiment.errors import UserError

logger = logging.getLogger(__name__)

# The one map from language to default encoder; training, the card and the app read it.
BASE_CHECKPOINTS = {
    "en": "google-bert/bert-base-uncased",
    "zh": "google-bert/bert-base-chinese",
    "multilingual": "google-bert/bert-base-multilingual-cased",
}
Language = Literal["auto", "en", "zh", "multilingual"]  # --language: auto or a key of BASE_CHECKPOINTS
LANGUAGES = get_args(Language)

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")
_LETTER = re.compile(r"[^\W\d_]")
SAMPLE_SIZE = 2000  # texts looked at; enough to be sure, cheap on any dataset


def detect_language(texts: Sequence[str]) -> tuple[str, str]:
    """Return (language, reason) from the share of Chinese and Latin letters in a sample."""
    sample = "".join(texts[:SAMPLE_SIZE])
    letters = len(_LETTER.findall(sample)) or 1
    han_share = len(_HAN.findall(sample)) / letters
    latin_share = len(_LATIN.findall(sample)) / letters
    if han_share >= 0.3:
        return "zh", f"{han_share:.0%} of letters are Chinese characters"
    if latin_share >= 0.7:
        return "en", f"{latin_share:.0%} of letters are Latin"
    return "multilingual", f"only {latin_share:.0%} Latin and {han_share:.0%} Chinese letters"


def resolve_language(requested: str, texts: Sequence[str]) -> str:
    """The language the user named, or the detected one (logged with its reason)."""
    if requested not in LANGUAGES:
        raise UserError(f"--language '{requested}' is not one of {', '.join(LANGUAGES)}.")
    if requested != "auto":
        return requested
    language, reason = detect_language(texts)
    logger.info("Detected language: %s (%s, in a sample of %d texts).", language, reason, min(len(texts), SAMPLE_SIZE))
    return language


def default_checkpoint(language: str) -> str:
    """The base checkpoint for `language`, logged so the user knows what was chosen and why."""
    checkpoint = BASE_CHECKPOINTS[language]
    logger.info("No --model_name_or_path given: using %s, the default for language '%s'.", checkpoint, language)
    return checkpoint
