"""Fine-tune a BERT sentiment classifier.

    python train.py --dataset_name glue --dataset_config_name sst2 --output_dir out/sst2
    python train.py --train_file reviews.csv --output_dir out/reviews
    python train.py run.yaml

`python train.py --help` lists every flag, ours and the Trainer's.
"""

import logging
import sys

from src.arguments import parse_args
from src.errors import UserError
from src.fine_tune import fine_tune
from src.publish import PublishError

logger = logging.getLogger("train")


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S", level=logging.INFO)
    try:
        model_args, data_args, training_args = parse_args(argv)
        facts = fine_tune(model_args, data_args, training_args)
    except UserError as err:
        logger.error("%s", err)
        return 2
    except PublishError as err:
        logger.error("Published, but the check failed: %s", err)
        return 1
    if facts is None:
        return 130  # interrupted; the conventional exit status for Ctrl-C
    logger.info("Done. Model, metrics and run facts are in %s", training_args.output_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
