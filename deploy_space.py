"""Deploy the demo app as a Hugging Face Space for a published model (the same as `bert-sentiment deploy`).

python deploy_space.py --model_id your-name/sst2-bert --space_id your-name/sst2-demo [--private]
"""

import sys

from bert_sentiment.cli import deploy_command, run_command


def main(argv: list[str] | None = None) -> int:
    return run_command(lambda: deploy_command(argv))


if __name__ == "__main__":
    sys.exit(main())
