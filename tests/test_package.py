"""The package as users install it: the wheel's contents, the console script, and the app's light imports."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(args: list, **options) -> subprocess.CompletedProcess:
    return subprocess.run([*map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=300, **options)


def test_the_wheel_ships_the_package_its_card_template_and_the_command(tmp_path):
    result = run([sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation", "-q", "-w", tmp_path])
    assert result.returncode == 0, result.stderr[-2000:]
    wheel = next(tmp_path.glob("bert_sentiment-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "bert_sentiment/model_card.md" in names, "the card template is inside the package"
    assert {"bert_sentiment/api.py", "bert_sentiment/app.py", "bert_sentiment/cli.py"} <= set(names)
    assert not any(name.startswith(("src/", "tests/", "bench/")) for name in names)
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "bert-sentiment = bert_sentiment.cli:main" in entry_points
    template = zipfile.ZipFile(wheel).read("bert_sentiment/model_card.md").decode()
    assert template == (ROOT / "model_card.md").read_text(encoding="utf-8"), (
        "the top-level model_card.md is the same file"
    )


def test_the_console_script_lists_and_runs_its_commands(tmp_path):
    command = shutil.which("bert-sentiment", path=str(Path(sys.executable).parent))
    assert command, "pip install -e . (requirements.txt) installs the bert-sentiment command"
    listed = run([command, "--help"])
    assert listed.returncode == 0 and "{train,publish,app,deploy,predict,review}" in listed.stdout
    assert "--learning_rate" in run([command, "train", "--help"]).stdout
    assert "--hub_model_id" in run([command, "publish", "--help"]).stdout
    unknown = run([command, "fit"])
    assert unknown.returncode == 2 and "unknown command 'fit'" in unknown.stderr
    missing = run([command, "train", "--train_file", tmp_path / "nope.csv"])
    assert (
        missing.returncode == 2 and "nope.csv' does not exist" in missing.stderr and "Traceback" not in missing.stderr
    )


LAYERING = """
import sys
import app
classifier = app.load_classifier(sys.argv[1])
print(classifier(["the acting was superb"])[0].label)
heavy = [m for m in ("transformers.trainer", "bert_sentiment.training", "bert_sentiment.fine_tune", "optuna", "sklearn")
         if m in sys.modules]
print("training modules loaded:", heavy)
"""


def test_the_app_and_prediction_import_nothing_of_the_training_stack(trained_run):
    result = run([sys.executable, "-c", LAYERING, trained_run])
    assert result.returncode == 0, result.stderr[-2000:]
    assert "training modules loaded: []" in result.stdout


REVIEW = """
import sys
from bert_sentiment.review import write_review
write_review(sys.argv[1], sys.argv[2])
heavy = [m for m in ("torch", "transformers", "bert_sentiment.training", "bert_sentiment.label_issues", "sklearn")
         if m in sys.modules]
print("training modules loaded:", heavy)
"""


def test_reviewing_a_runs_label_errors_loads_no_model_stack(trained_run, tmp_path):
    """`bert-sentiment review OUTPUT_DIR` only reads files: it starts in a second, not after importing torch."""
    assert (trained_run / "label_issues.jsonl").is_file()
    result = run([sys.executable, "-c", REVIEW, trained_run, tmp_path / "review.xlsx"])
    assert result.returncode == 0, result.stderr[-2000:]
    assert "training modules loaded: []" in result.stdout and (tmp_path / "review.xlsx").is_file()
