"""Publish a finished training run (its output_dir) to the Hugging Face Hub (the same as `bert-sentiment publish`).

python publish.py --output_dir out/sst2 --hub_model_id your-name/sst2-bert [--hub_private]
"""

import sys

from bert_sentiment.cli import publish_command, run_command


def main(argv: list[str] | None = None) -> int:
    return run_command(lambda: publish_command(argv))


if __name__ == "__main__":
    sys.exit(main())
