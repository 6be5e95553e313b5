"""Deploy app.py as a Hugging Face Space serving a published model.

    python deploy_space.py --model_id your-name/sst2-bert --space_id your-name/sst2-demo [--private]

The Space gets app.py, src/, a requirements.txt pinned to the tested versions and a README.md
whose header says sdk: gradio with the tested sdk_version; MODEL_ID is set as a Space variable.
The token comes from HF_TOKEN or `hf auth login`.
"""

import argparse
import sys

from src.cli import run_command
from src.publish import check_hub_access
from src.space import deploy_space


def deploy(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_id", required=True, help="the published model the Space serves")
    parser.add_argument("--space_id", required=True, help="the Space to create or update, e.g. alice/sst2-demo")
    parser.add_argument("--private", action="store_true", help="create the Space as private")
    args = parser.parse_args(argv)
    target = check_hub_access(args.space_id, args.private or None, flag="--space_id")
    deploy_space(args.model_id, target)
    return 0


if __name__ == "__main__":
    sys.exit(run_command(lambda: deploy(sys.argv[1:])))
