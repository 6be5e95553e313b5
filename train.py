"""Fine-tune a BERT sentiment classifier.

    python train.py --dataset_name glue --dataset_config_name sst2 --output_dir out/sst2
    python train.py --train_file reviews.csv --output_dir out/reviews
    python train.py run.yaml

`python train.py --help` lists every flag, ours and the Trainer's.
"""

import logging
import sys

from src.arguments import parse_args
from src.cli import run_command
from src.seeds import fine_tune_seeds

logger = logging.getLogger("train")

EXIT_INTERRUPTED = 130  # the conventional status after Ctrl-C; a checkpoint was saved


def train(argv: list[str] | None) -> int:
    model_args, data_args, training_args = parse_args(argv)
    facts = fine_tune_seeds(model_args, data_args, training_args)
    if facts is None:
        return EXIT_INTERRUPTED
    logger.info("Done. Model, metrics and run facts are in %s", training_args.output_dir)
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_command(lambda: train(argv))


if __name__ == "__main__":
    sys.exit(main())
