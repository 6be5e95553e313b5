"""Fine-tune a BERT sentiment classifier (the same as `bert-sentiment train`).

    python train.py --dataset_name glue --dataset_config_name sst2 --output_dir out/sst2
    python train.py --train_file reviews.csv --output_dir out/reviews
    python train.py run.yaml

`python train.py --help` lists every flag, ours and the Trainer's.
"""

import sys

from bert_sentiment.cli import run_command, train_command


def main(argv: list[str] | None = None) -> int:
    return run_command(lambda: train_command(argv))


if __name__ == "__main__":
    sys.exit(main())
