"""Publish a finished training run (its output_dir) to the Hugging Face Hub, without retraining.

    python publish.py --output_dir out/sst2 --hub_model_id your-name/sst2-bert [--hub_private]

The token comes from HF_TOKEN or `hf auth login`; it is never printed or written anywhere.
"""

import argparse
import sys
from pathlib import Path

from src.cli import run_command
from src.errors import UserError
from src.publish import check_hub_access, publish
from src.training import RESULTS_FILE


def parse_args(argv: list[str] | None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output_dir", required=True, help="a finished run of train.py")
    parser.add_argument("--hub_model_id", required=True, help="the repo to publish to, e.g. alice/sst2-bert")
    parser.add_argument("--hub_private_repo", "--hub_private", action="store_true", help="create the repo as private")
    parser.add_argument("--license", default="apache-2.0", help="license in the model card (default apache-2.0)")
    return parser.parse_args(argv)


def publish_run(argv: list[str] | None) -> int:
    args = parse_args(argv)
    if not (Path(args.output_dir) / RESULTS_FILE).is_file():
        raise UserError(f"'{args.output_dir}' holds no finished run ({RESULTS_FILE} is missing). Train first with train.py.")
    target = check_hub_access(args.hub_model_id, args.hub_private_repo or None)
    publish(Path(args.output_dir), target, args.license)
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_command(lambda: publish_run(argv))


if __name__ == "__main__":
    sys.exit(main())
