"""The command line: `bert-sentiment train|publish|app|deploy|predict ...`, and the top-level scripts that do the same.

Each command imports what it needs when it runs, so `app` never loads the training stack.
"""

import argparse
import inspect
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

from bert_sentiment.errors import UserError
from bert_sentiment.publish import PublishError

logger = logging.getLogger("bert_sentiment.cli")

EXIT_USER_ERROR = 2  # bad input: the message says what to fix
EXIT_PUBLISH_CHECK_FAILED = 1  # the model was pushed but does not load back as it should
EXIT_INTERRUPTED = 130  # the conventional status after Ctrl-C; the log says what was kept (a checkpoint, rows)
# libraries whose loggers print to stderr through a handler of their own and pass each line on to the root logger as
# well, so that every warning (a retried download, say) showed twice; transformers' does not pass them on
SELF_PRINTING_LIBRARIES = ("huggingface_hub", "datasets")


def run_command(command: Callable[[], int]) -> int:
    """Run `command` with logging set up; user mistakes print one line, not a traceback."""
    rank = os.environ.get("RANK")  # set by torchrun / accelerate launch: say which process speaks
    where = f" [rank {rank}]" if rank is not None else ""
    logging.basicConfig(
        format=f"%(asctime)s{where} %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S", level=logging.INFO
    )
    for library in SELF_PRINTING_LIBRARIES:
        logging.getLogger(library).propagate = False
    try:
        return command()
    except UserError as err:
        logger.error("%s", err)
        return EXIT_USER_ERROR
    except PublishError as err:
        logger.error("Published, but the check failed: %s", err)
        return EXIT_PUBLISH_CHECK_FAILED
    except KeyboardInterrupt:  # a second Ctrl-C in training, or one while a file is scored: the log said what is kept
        logger.warning("Interrupted.")
        return EXIT_INTERRUPTED


def train_command(argv: list[str] | None) -> int:
    """Fine-tune a BERT sentiment classifier.

        bert-sentiment train --dataset_name glue --dataset_config_name sst2 --output_dir out/sst2
        bert-sentiment train --train_file reviews.csv --output_dir out/reviews
        bert-sentiment train run.yaml

    `--help` lists every flag, ours and the Trainer's.
    """
    from bert_sentiment.arguments import parse_args
    from bert_sentiment.fine_tune import fine_tune
    from bert_sentiment.seeds import fine_tune_seeds

    model_args, data_args, training_args = parse_args(argv)
    run = fine_tune_seeds if training_args.seeds > 1 else fine_tune  # --seeds N: a loop around fine_tune
    facts = run(model_args, data_args, training_args)
    if facts is None:
        return EXIT_INTERRUPTED
    logger.info("Done. Model, metrics and run facts are in %s", training_args.output_dir)
    return 0


def publish_command(argv: list[str] | None) -> int:
    """Publish a finished training run (its output_dir) to the Hugging Face Hub, without retraining.

        bert-sentiment publish --output_dir out/sst2 --hub_model_id your-name/sst2-bert [--hub_private]

    The token comes from HF_TOKEN or `hf auth login`; it is never printed or written anywhere.
    """
    from bert_sentiment.facts import RESULTS_FILE
    from bert_sentiment.publish import check_hub_access, publish

    parser = _parser("publish", publish_command)
    parser.add_argument("--output_dir", required=True, help="a finished run of train.py")
    parser.add_argument("--hub_model_id", required=True, help="the repo to publish to, e.g. alice/sst2-bert")
    parser.add_argument("--hub_private_repo", "--hub_private", action="store_true", help="create the repo as private")
    parser.add_argument("--license", default="apache-2.0", help="license in the model card (default apache-2.0)")
    parser.add_argument(
        "--export_onnx",
        type=_yes_no,
        default=True,
        metavar="{true,false}",
        help="export and verify onnx/ first when the run has no ONNX files (default true)",
    )
    args = parser.parse_args(argv)
    if not (Path(args.output_dir) / RESULTS_FILE).is_file():
        raise UserError(
            f"'{args.output_dir}' holds no finished run ({RESULTS_FILE} is missing). Train first with train.py."
        )
    target = check_hub_access(args.hub_model_id, args.hub_private_repo or None)
    publish(Path(args.output_dir), target, args.license, args.export_onnx)
    return 0


def _yes_no(value: str) -> bool:
    from transformers.hf_argparser import string_to_bool

    return string_to_bool(value)


def deploy_command(argv: list[str] | None) -> int:
    """Deploy the demo app as a Hugging Face Space serving a published model.

        bert-sentiment deploy --model_id your-name/sst2-bert --space_id your-name/sst2-demo [--private]

    The Space gets app.py, the bert_sentiment package, a requirements.txt pinned to the tested versions
    and a README.md whose header says sdk: gradio with the tested sdk_version; MODEL_ID is set as a
    Space variable. The token comes from HF_TOKEN or `hf auth login`.
    """
    from bert_sentiment.publish import check_hub_access
    from bert_sentiment.space import deploy_space

    parser = _parser("deploy", deploy_command)
    parser.add_argument("--model_id", required=True, help="the published model the Space serves")
    parser.add_argument("--space_id", required=True, help="the Space to create or update, e.g. alice/sst2-demo")
    parser.add_argument("--private", action="store_true", help="create the Space as private")
    args = parser.parse_args(argv)
    target = check_hub_access(args.space_id, args.private or None, flag="--space_id")
    deploy_space(args.model_id, target)
    return 0


def predict_command(argv: list[str] | None) -> int:
    """Predict the sentiment of every row of a file, on this machine, with the app's engine.

        bert-sentiment predict --model your-name/sst2-bert --input reviews.csv --output predictions.csv

    The input is any file train.py reads (CSV/TSV/JSON/Parquet/Excel/.txt/.zip, a folder of class files).
    The output CSV holds the input's columns, then the predicted label, its probability, every label's
    probability and whether the text was cut. Interrupted, the same command continues where it stopped.
    """
    from bert_sentiment.inference import ENGINES, load

    parser = _parser("predict", predict_command)
    parser.add_argument("--model", required=True, help="a Hub id or a local output_dir of train.py")
    parser.add_argument("--input", required=True, help="the file (or folder, or pattern) of texts")
    parser.add_argument("--output", required=True, help="the CSV to write (continued when interrupted)")
    parser.add_argument("--text_column", help="the column to classify (default: found by name, else the longest)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output instead of refusing")
    parser.add_argument("--engine", choices=ENGINES, default="onnx", help="onnx (int8, the app's default) or torch")
    parser.add_argument("--no_quantize", action="store_true", help="with --engine onnx: the fp32 graph instead of int8")
    args = parser.parse_args(argv)
    classifier = load(args.model, engine=args.engine, quantize=not args.no_quantize)
    classifier.predict_file(args.input, args.output, text_column=args.text_column, overwrite=args.overwrite)
    return 0


def review_command(argv: list[str] | None) -> int:
    """Write the labels worth a person's look to a spreadsheet, to fill in and train on again.

        bert-sentiment review out/reviews                                   # likely label errors
        bert-sentiment review out/reviews --unlabeled_file more_reviews.csv # and unlabeled texts to label
        python train.py --train_file reviews.csv --label_corrections out/reviews/review.xlsx ...

    Fill in the corrected_label column where a label is wrong (and for each text on the "to label" sheet), or pick
    "(leave out)" where no label fits; the next run corrects those labels by text, adds the newly labelled texts to
    training, and leaves out the others.
    """
    from bert_sentiment.review import POOL_CHOICES, TO_LABEL, write_review

    parser = _parser("review", review_command)
    parser.add_argument("output_dir", help="a finished run of train.py")
    parser.add_argument("--output", help="the spreadsheet to write (default: OUTPUT_DIR/review.xlsx)")
    parser.add_argument(
        "--unlabeled_file",
        help="texts without labels (any file train.py reads): the model picks those whose labels would help most",
    )
    parser.add_argument(
        "--to_label", type=int, default=TO_LABEL, help=f"how many unlabeled texts to pick (default {TO_LABEL})"
    )
    parser.add_argument(
        "--text_column", help="the unlabeled file's text column (default: found by name, else the longest)"
    )
    parser.add_argument(
        "--pool_sample", default="auto", help=f"how many unlabeled texts the model scores: {POOL_CHOICES}"
    )
    args = parser.parse_args(argv)
    write_review(args.output_dir, args.output, args.unlabeled_file, args.to_label, args.text_column, args.pool_sample)
    return 0


def app_command(argv: list[str] | None) -> int:
    from bert_sentiment.app import serve

    return serve(argv)


COMMANDS = {
    "train": train_command,
    "publish": publish_command,
    "app": app_command,
    "deploy": deploy_command,
    "predict": predict_command,
    "review": review_command,
}


def _parser(name: str, command: Callable) -> argparse.ArgumentParser:
    return argparse.ArgumentParser(
        prog=f"bert-sentiment {name}",
        description=inspect.cleandoc(command.__doc__),  # as the docstring reads: examples indented, text flush
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def main(argv: list[str] | None = None) -> int:
    """`bert-sentiment COMMAND ...`, the console script pip installs."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] not in COMMANDS:
        usage = "usage: bert-sentiment {train,publish,app,deploy,predict,review} ...   (bert-sentiment COMMAND --help for its flags)"
        if argv and argv[0] not in ("-h", "--help"):
            print(f"bert-sentiment: unknown command '{argv[0]}'.\n{usage}", file=sys.stderr)
            return EXIT_USER_ERROR
        print(usage)
        return 0 if argv else EXIT_USER_ERROR
    return run_command(lambda: COMMANDS[argv[0]](argv[1:]))
