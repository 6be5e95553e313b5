"""Publish a finished training run (its output_dir) to the Hugging Face Hub, without retraining.

    python publish.py --output_dir out/sst2 --hub_model_id your-name/sst2-bert [--hub_private_repo]

The token comes from HF_TOKEN or `hf auth login`; it is never printed or written anywhere.
"""

import argparse
import logging
import sys
from pathlib import Path

from src.errors import UserError
from src.publish import PublishError, check_hub_access, publish
from src.training import RESULTS_FILE

logger = logging.getLogger("publish")


def parse_args(argv: list[str] | None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output_dir", required=True, help="a finished run of train.py")
    parser.add_argument("--hub_model_id", required=True, help="the repo to publish to, e.g. alice/sst2-bert")
    parser.add_argument("--hub_private_repo", action="store_true", help="create the repo as private")
    parser.add_argument("--license", default="apache-2.0", help="license in the model card (default apache-2.0)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S", level=logging.INFO)
    args = parse_args(argv)
    try:
        if not (Path(args.output_dir) / RESULTS_FILE).is_file():
            raise UserError(f"'{args.output_dir}' holds no finished run ({RESULTS_FILE} is missing). Train first with train.py.")
        target = check_hub_access(args.hub_model_id, args.hub_private_repo or None)
        publish(Path(args.output_dir), target, args.license)
    except UserError as err:
        logger.error("%s", err)
        return 2
    except PublishError as err:
        logger.error("Published, but the check failed: %s", err)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
