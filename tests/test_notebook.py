"""The Python API in a real Jupyter kernel, as a notebook user runs it (nbclient + ipykernel)."""

import json
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[1]
CELLS = [
    """import pandas as pd
from bert_sentiment import UserError, load, train
from tests.conftest import english_reviews
frame = pd.DataFrame(english_reviews(240), columns=["review", "sentiment"])""",
    """result = train(frame, text="review", label="sentiment", output_dir=OUT + "/reviews", disable_tqdm=False, **OPTIONS)
result.metrics["validation"]["accuracy"]""",
    """try:
    train(frame, text="txt", output_dir=OUT + "/typo")
except UserError as err:
    print("UserError:", err)""",
    """clf = load(OUT + "/reviews")
[p.label for p in clf(["the acting was superb and delightful", "the plot was horrible and dull"])]""",
]


def cell_text(cell, stream: str) -> str:
    return "".join(
        o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream" and o.get("name") == stream
    )


def cell_value(cell) -> str:
    return next(o["data"]["text/plain"] for o in cell.outputs if o.get("output_type") == "execute_result")


def test_train_and_load_in_a_jupyter_kernel(tiny_bert, tmp_path):
    from tests.test_api import quick_options

    options = {k: v for k, v in quick_options(tiny_bert, tmp_path).items() if k not in ("output_dir", "disable_tqdm")}
    setup = f"import sys\nsys.path.insert(0, {str(ROOT)!r})\nOUT = {str(tmp_path)!r}\nOPTIONS = {json.dumps(options)}"
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in [setup, *CELLS]])
    nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3").execute()  # raises if any cell raised

    _, _, trained, mistake, predicted = notebook.cells
    assert float(cell_value(trained)) >= 0.9
    log = cell_text(trained, "stderr")
    assert log.count("Labels: negative, positive") == 1, "each log line once"
    widgets = [o for o in trained.outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert widgets, "the Trainer's progress bars render as notebook widgets"
    assert "UserError: --text_column_names: no column 'txt' in the data" in cell_text(mistake, "stdout")
    assert cell_value(predicted) == "['positive', 'negative']"
