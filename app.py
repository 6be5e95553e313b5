"""Gradio app for a fine-tuned sentiment model; runs as a Hugging Face Space or locally.

    MODEL_ID=your-name/sst2-bert python app.py       # what a Space does
    python app.py --model out/sst2 --share            # a local run with a public link

The app itself is bert_sentiment/app.py; this file is what a Space runs.
"""

import sys

from bert_sentiment.app import build_demo, load_classifier, serve
from bert_sentiment.cli import run_command

__all__ = ["build_demo", "load_classifier", "serve"]

if __name__ == "__main__":
    sys.exit(run_command(lambda: serve(sys.argv[1:])))
