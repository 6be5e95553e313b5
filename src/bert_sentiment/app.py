"""Gradio app for a fine-tuned sentiment model; runs as a Hugging Face Space or locally.

    MODEL_ID=your-name/sst2-bert python app.py       # what a Space does
    python app.py --model out/sst2 --share            # a local run with a public link
    bert-sentiment app --model out/sst2               # the same, once the package is installed

The model loads once at start-up through pipeline("text-classification"); predictions use the
fast CPU path of bert_sentiment/inference.py (ONNX Runtime int8, checked against PyTorch at start-up;
--engine torch serves the PyTorch model, --no_quantize the fp32 graph).
"Why this answer?" (and /explain, and the MCP tool explain_sentiment) scores each word by occlusion on the same
engine (bert_sentiment/explain.py). Nothing of the training stack (the Trainer and the modules that drive it)
is imported here.
"""

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import gradio as gr

from bert_sentiment.admission import PLACES_PER_VISITOR, guard_queue
from bert_sentiment.demo import (
    MAX_BATCH_CHARACTERS,
    MAX_BATCH_ROWS,
    batch_refusal,
    model_facts,
    predictions_table,
    read_batch,
    table_headers,
    write_csv,
)
from bert_sentiment.errors import UserError
from bert_sentiment.inference import ENGINES, MAX_CHARACTERS, NOT_SURE, SentimentClassifier, clean_text, load

QUEUE_SIZE = 64  # visitors waiting at most; the next one is told to retry instead of timing out
MAX_BATCH = 32  # single texts of visitors waiting together go through the model in one pass
JOBS_AT_ONCE = 2  # batch requests running together; their slices take turns with single texts at the model
MAX_UPLOAD = "4mb"  # per file: a CSV of the largest batch, with a few more columns
CACHE_CLEANUP = (600, 1800)  # every 10 minutes, uploads and result files older than 30 minutes are deleted
SESSIONS_KEPT = 500  # the app keeps no state per visitor, but gradio copies the page's config per session (~18 KB)
LOCAL_COMMAND = "bert-sentiment predict --model {model} --input reviews.csv --output predictions.csv"
EXPLAINED_BY = {  # the note under an explanation says how the scores were made
    "occlusion": "how much the label's probability falls when the word is deleted",
    "integrated_gradients": "integrated gradients from an empty text",
    "gradient_x_input": "gradient × input embedding",
}


def limits_text(model_id: str) -> str:
    """The limits, as the page and the API description say them."""
    return (
        f"Limits: {MAX_CHARACTERS:,} characters per text; a batch request holds at most {MAX_BATCH_ROWS:,} texts "
        f"and {MAX_BATCH_CHARACTERS:,} characters, an uploaded file at most {MAX_UPLOAD.upper()}; each visitor may "
        f"have {PLACES_PER_VISITOR} requests waiting or running. Bigger jobs run on your own machine: "
        f"`{LOCAL_COMMAND.format(model=model_id)}`."
    )


def text_refusal(inputs: list) -> str | None:
    """Why a single text is refused at the door, or None."""
    text = inputs[0] if inputs else None
    if isinstance(text, str) and len(text) > MAX_CHARACTERS:
        return (
            f"This text has {len(text):,} characters; the app reads at most {MAX_CHARACTERS:,} per text. "
            "Send its most telling part, or classify long texts on your own machine with `bert-sentiment predict`."
        )
    return None


def answer_label(**options) -> gr.Label:
    """A Label that can say "not sure" above the probabilities, given {"label": ..., "confidences": {label: p}}.
    (Not a subclass: gradio writes a .pyi file beside the module of every component subclass.)"""
    label = gr.Label(**options)
    plain = label.postprocess

    def postprocess(value):
        if isinstance(value, dict) and set(value) == {"label", "confidences"}:
            return plain(value["confidences"]).model_copy(update={"label": value["label"]})
        return plain(value)

    label.postprocess = postprocess
    return label


def classify_many_at_once(classifier: SentimentClassifier, texts: list[str]) -> list[tuple[dict, str]]:
    """(label -> probability, or "not sure" with them; note) per text; the texts of concurrent visitors share
    forward passes."""
    answers = [({}, "Type or paste a text to classify.") for _ in texts]
    given = [i for i, text in enumerate(texts) if clean_text(text)]
    for i, prediction in zip(given, classifier.predict([texts[i] for i in given])):
        shown = prediction.scores if prediction.sure else {"label": NOT_SURE, "confidences": prediction.scores}
        answers[i] = (
            shown,
            " ".join(filter(None, (unsure_note(classifier, prediction), truncation_note(classifier, prediction)))),
        )
    return answers


def unsure_note(classifier: SentimentClassifier, prediction) -> str:
    if prediction.sure:
        return ""
    precision = getattr(classifier.model.config, "abstain_precision", None)
    right = (
        f", the confidence at which its answers were right {precision:.0%} of the time on validation"
        if precision
        else ""
    )
    return (
        f"Not sure: the most likely label, {prediction.label}, has probability {prediction.score:.1%}, under "
        f"{classifier.abstain_threshold:.1%}{right}."
    )


def truncation_note(classifier: SentimentClassifier, prediction) -> str:
    if not prediction.truncated:
        return ""
    read = "its beginning and end were read" if classifier.long_text == "head_tail" else "only its beginning was read"
    return f"This text is longer than {classifier.max_length} tokens: {read}, as in the model's evaluation."


def single_text_endpoint(classifier: SentimentClassifier):
    """The /predict endpoint and MCP tool. Gradio hands it the texts of up to MAX_BATCH visitors at once."""

    def classify_sentiment(text: list[str]) -> tuple[list[dict], list[str]]:
        """Classify the sentiment of a text with this fine-tuned model.

        Args:
            text: the text to classify, in the model's language; long texts are read as the model was evaluated.

        Returns:
            the probability of every sentiment label (the most likely first; the label is "not sure" when the
            model's confidence is under its chosen threshold), and a note saying why it is not sure or whether the
            text was cut.
        """
        answers = classify_many_at_once(classifier, text)
        return [scores for scores, _ in answers], [note for _, note in answers]

    return classify_sentiment


def explanation_endpoint(classifier: SentimentClassifier):
    """The /explain endpoint and MCP tool: which words made the answer."""

    def explain_sentiment(text: str) -> tuple[list[tuple[str, float | None]], str]:
        """Explain a sentiment prediction: how much each word pushed the model toward its label, or against it.

        Args:
            text: the text to explain, in the model's language.

        Returns:
            the text as (word, score) pieces, score in [-1, 1] (positive: toward the predicted label, negative:
            against it, none for spaces), and a note naming the label, its probability and the strongest words.
        """
        if not clean_text(text):
            return [], "Type or paste a text to explain."
        explanation = classifier.explain(text)
        toward = ", ".join(f"**{word}**" for word, _ in explanation.top(3)) or "none"
        against = ", ".join(f"**{word}**" for word, _ in explanation.against(3)) or "none"
        note = (
            f"**{explanation.label}** ({explanation.probability:.1%}). Words that pushed toward it (red): "
            f"{toward}; against it (purple): {against}. Method: {EXPLAINED_BY[explanation.method]}."
        )
        if explanation.run_length > 1:
            note += f" This text is long: runs of {explanation.run_length} neighbouring words were scored together."
        if explanation.truncated:
            note += f" Only its first {len(explanation.words)} words were explained."
        return explanation.highlighted(), note

    return explain_sentiment


def classify_batch(classifier: SentimentClassifier, pasted: str, file, progress: gr.Progress, outbox: "Outbox"):
    try:
        texts = read_batch(pasted, file)
    except UserError as err:
        raise gr.Error(str(err)) from None
    if not texts:
        return [], None, "Paste one text per line, or upload a .txt or .csv file."
    predictions = classifier.predict(
        texts, progress=lambda done, total: progress(done / total, desc=f"{done}/{total}"), lane="job"
    )
    path = write_csv(
        predictions_table(texts, predictions, classifier.labels),
        table_headers(classifier.labels),
        outbox.new_file("predictions.csv"),
    )
    rows = predictions_table(texts, predictions, classifier.labels, shown_characters=SHOWN_CHARACTERS)
    truncated = sum(p.truncated for p in predictions)
    note = f"{len(texts):,} texts classified." + (
        f" {truncated:,} were longer than {classifier.max_length} tokens and were cut." if truncated else ""
    )
    return rows, str(path), note


SHOWN_CHARACTERS = 300  # of each text in the reply's table; the CSV holds them whole


class Outbox:
    """A folder for result files: gradio copies each into its own cache (cleaned by delete_cache) when the
    function returns, so a file here is deleted by the next call once it is a minute old, and the folder itself
    when the app is gone (at exit, or when a notebook drops the demo)."""

    def __init__(self):
        self._folder = tempfile.TemporaryDirectory(prefix="bert-sentiment-app-", ignore_cleanup_errors=True)
        self.folder = Path(self._folder.name)

    def new_file(self, name: str) -> Path:
        for old in self.folder.iterdir():
            if time.time() - old.stat().st_mtime > 60:
                shutil.rmtree(old, ignore_errors=True)
        return Path(tempfile.mkdtemp(dir=self.folder)) / name


def many_texts_endpoint(classifier: SentimentClassifier, outbox: Outbox):
    """The /predict_batch endpoint and MCP tool: a table and a CSV for many texts."""

    def classify_texts(texts: str, file: str | None = None, progress=gr.Progress()):
        """Classify the sentiment of many texts at once.

        Args:
            texts: the texts to classify, one per line.
            file: optionally, a .txt file (one text per line) or a .csv file (its text column) instead of `texts`.

        Returns:
            a table of each text with its label and the probability of every label, a CSV file of that table, and a summary.
        """
        return classify_batch(classifier, texts, file, progress, outbox)

    return classify_texts


class PublicBlocks(gr.Blocks):
    """Blocks whose launch() keeps the public page's upload limit, session memory and MCP server, however it is
    launched."""

    def launch(self, *args, max_file_size=MAX_UPLOAD, state_session_capacity=SESSIONS_KEPT, mcp_server=True, **kwargs):
        return super().launch(
            *args,
            max_file_size=max_file_size,
            state_session_capacity=state_session_capacity,
            mcp_server=mcp_server,
            **kwargs,
        )


def described(function, limits: str) -> str:
    """The API and MCP description of an endpoint: its docstring's summary and returns, then the limits."""
    from gradio.utils import get_function_description

    summary, _, returns = get_function_description(function)  # `returns`: the Returns section's lines
    return f"{summary} Returns: {' '.join(returns).rstrip('.')}. {limits}"


def build_demo(classifier: SentimentClassifier, cache_cleanup: tuple[int, int] = CACHE_CLEANUP) -> gr.Blocks:
    facts = model_facts(classifier.model_id, classifier.labels)
    limits = limits_text(classifier.model_id)
    predict, explain = single_text_endpoint(classifier), explanation_endpoint(classifier)
    classify_texts = many_texts_endpoint(classifier, Outbox())
    with PublicBlocks(title=f"Sentiment: {classifier.model_id}", delete_cache=cache_cleanup) as demo:
        gr.Markdown(f"# Sentiment classifier\n`{classifier.model_id}` answers: {', '.join(classifier.labels)}")
        with gr.Tab("One text"):
            text = gr.Textbox(
                label="Text",
                lines=3,
                max_length=MAX_CHARACTERS,
                placeholder=facts.examples[0] if facts.examples else "",
            )
            button = gr.Button("Classify", variant="primary")
            label = answer_label(label="Prediction", num_top_classes=len(classifier.labels))
            note = gr.Markdown()
            gr.Examples([[example] for example in facts.examples], inputs=text)
            why = gr.Button("Why this answer?")
            words = gr.HighlightedText(label="Words toward the label (red) and against it (purple)", show_legend=False)
            why_note = gr.Markdown()
            # Single texts of waiting visitors share passes; jobs (batches, explanations) run in slices between them.
            single = {"batch": True, "max_batch_size": MAX_BATCH, "show_progress": "hidden", "concurrency_id": "single"}
            button.click(
                predict,
                inputs=text,
                outputs=[label, note],
                api_name="predict",
                api_description=described(predict, limits),
                **single,
            )
            text.submit(predict, inputs=text, outputs=[label, note], api_name=False, **single)
            why.click(predict, inputs=text, outputs=[label, note], api_name=False, **single)  # the answer it explains
            why.click(
                explain,
                inputs=text,
                outputs=[words, why_note],
                api_name="explain",
                concurrency_id="explain",
                api_description=described(explain, limits),
            )
        with gr.Tab("Many texts"):
            pasted = gr.Textbox(label="One text per line", lines=8, max_length=MAX_BATCH_CHARACTERS)
            upload = gr.File(label="…or a .txt / .csv file", file_types=[".txt", ".csv"], type="filepath")
            run_batch = gr.Button("Classify all", variant="primary")
            batch_note = gr.Markdown()
            table = gr.Dataframe(headers=table_headers(classifier.labels), label="Predictions", wrap=True)
            download = gr.File(label="Download as CSV")
            run_batch.click(
                classify_texts,
                inputs=[pasted, upload],
                outputs=[table, download, batch_note],
                api_name="predict_batch",
                concurrency_id="jobs",
                concurrency_limit=JOBS_AT_ONCE,
                api_description=described(classify_texts, limits),
            )
        gr.Markdown(limits)
        with gr.Accordion("About this model", open=False):
            gr.Markdown(facts.about)
    demo.queue(default_concurrency_limit=1, max_size=QUEUE_SIZE, api_open=False)
    guard_queue(demo, {predict: text_refusal, explain: text_refusal, classify_texts: batch_refusal})
    return demo


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="app.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model", default=os.environ.get("MODEL_ID"), help="Hub id or local output_dir (default: $MODEL_ID)"
    )
    parser.add_argument(
        "--revision",
        default=os.environ.get("MODEL_REVISION") or None,
        help="the model's commit to serve (default: $MODEL_REVISION, which deploy_space.py sets to the "
        "commit it checked; else the newest)",
    )
    parser.add_argument(
        "--share", action="store_true", help="also serve a public gradio.live link (not inside a Space)"
    )
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default=os.environ.get("ENGINE", "onnx"),
        help="onnx: ONNX Runtime on the model's onnx/ files (exported at start when missing); "
        "torch: the PyTorch model (default: $ENGINE, else onnx)",
    )
    parser.add_argument("--no_quantize", action="store_true", help="with --engine onnx: the fp32 graph instead of int8")
    # Inside a Space the app must listen on every interface; locally, only on this machine.
    default_host = "0.0.0.0" if os.environ.get("SPACE_ID") else "127.0.0.1"
    parser.add_argument(
        "--host",
        default=os.environ.get("GRADIO_SERVER_NAME", default_host),
        help="the address to listen on (default: $GRADIO_SERVER_NAME, else 0.0.0.0 inside a Space and 127.0.0.1, "
        "this machine only, elsewhere)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)),
        help="the port to listen on (default: $GRADIO_SERVER_PORT, else 7860)",
    )
    return parser.parse_args(argv)


def load_classifier(
    model: str | None, engine: str = "onnx", quantize: bool = True, revision: str | None = None
) -> SentimentClassifier:
    """The classifier, checked against the examples of the model's card, and warmed up."""
    examples = model_facts(model, []).examples if model else []
    classifier = load(model, engine=engine, quantize=quantize, revision=revision, check_texts=examples, serving=True)
    classifier.warm_up()
    return classifier


def serve(argv) -> int:
    args = parse_args(argv)
    classifier = load_classifier(args.model, engine=args.engine, quantize=not args.no_quantize, revision=args.revision)
    in_space = bool(os.environ.get("SPACE_ID"))
    build_demo(classifier).launch(server_name=args.host, server_port=args.port, share=args.share and not in_space)
    return 0
