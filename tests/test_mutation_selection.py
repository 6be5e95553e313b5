"""Which tests a mutation run gives each mutant (tests/conftest.py): none that trains, the slow ones only where they
can fail, fastest first. A wrong rule here drops a module's score or a run's hour without any test failing."""

import json
from pathlib import Path
from types import SimpleNamespace

import tests.conftest as conftest
from tests.conftest import (
    deselected_for,
    likeliest_first,
    mutation_run_leaves_out,
    recorded_seconds,
    renders_pictures,
    trains,
)


def item(name: str, fixtures=(), module: str = "test_x.py", function=None, markers=()) -> SimpleNamespace:
    return SimpleNamespace(
        nodeid=f"tests/{module}::{name}",
        fixturenames=list(fixtures),
        path=Path("tests") / module,
        function=function,
        keywords={name: True, **dict.fromkeys(markers, True)},
    )


def test_a_test_trains_through_its_fixtures_or_its_calls_not_through_the_words_it_asserts():
    def calls_training(tmp_path):
        run_train(["--output_dir", tmp_path])  # noqa: F821 -- read, never run

    def asserts_a_message(caplog):
        assert "call train(...) again with --resume" in caplog.text

    def runs_the_script(tmp_path):
        return ["python", "train.py", "--output_dir", tmp_path]

    assert trains(item("t", ["trained_run"]))
    assert trains(item("t", function=calls_training))
    assert trains(item("t", function=runs_the_script))
    assert not trains(item("t", function=asserts_a_message))
    assert not trains(item("t", ["training_replaced"], function=calls_training)), "training replaced: no training"
    assert trains(item("t", ["trained_run", "training_replaced"])), "a fixture that trained has trained"
    assert not trains(item("t", function=calls_training, markers=["few_steps"])), "a few steps of the tiny model"
    assert trains(item("t", ["trained_run"], markers=["few_steps"])), "the fixture trained in full"


def test_the_served_page_runs_for_the_apps_mutants_and_the_slow_steps_after_training_not_for_the_data_paths():
    page = item("test_the_served_page", ["served_page"], "test_app.py")
    evaluation = item("test_evaluation", ["untrained_evaluation"], "test_fine_tune.py")
    direct = item("test_prepare", ["tmp_path"], "test_prepare.py")

    assert not mutation_run_leaves_out(page, "bert_sentiment.app.x_build_demo__mutmut_3", {})
    assert mutation_run_leaves_out(page, "bert_sentiment.inference.x_load__mutmut_1", {}), "the engine: both sides"
    for data_path in ("prepare", "labels", "local_files", "arguments"):
        assert mutation_run_leaves_out(evaluation, f"bert_sentiment.{data_path}.x_f__mutmut_1", {})
        assert not mutation_run_leaves_out(direct, f"bert_sentiment.{data_path}.x_f__mutmut_1", {})
    for elsewhere in ("fine_tune", "evaluation", "calibration", "app"):
        assert not mutation_run_leaves_out(evaluation, f"bert_sentiment.{elsewhere}.x_f__mutmut_1", {})
    assert not mutation_run_leaves_out(evaluation, "bert_sentiment.prepared_elsewhere.x_f__mutmut_1", {}), (
        "a module whose name starts like one of the data path's is not in it"
    )


def test_a_slow_test_runs_only_for_mutants_of_the_module_its_file_is_named_for():
    whole_run = item("test_a_run_saves", ["training_replaced"], "test_fine_tune.py")
    catalogue = item("test_the_catalogue", [], "test_messages.py")
    seconds = {whole_run.nodeid: 2.0, catalogue.nodeid: 2.0}

    assert not mutation_run_leaves_out(whole_run, "bert_sentiment.fine_tune.x_fine_tune__mutmut_7", seconds)
    for elsewhere in ("card_text", "facts", "evaluation", "fine_tuned"):
        assert mutation_run_leaves_out(whole_run, f"bert_sentiment.{elsewhere}.x_f__mutmut_1", seconds)
    assert not mutation_run_leaves_out(whole_run, "bert_sentiment.card_text.x_f__mutmut_1", {whole_run.nodeid: 0.4})
    assert not mutation_run_leaves_out(whole_run, "bert_sentiment.card_text.x_f__mutmut_1", {}), (
        "without mutmut's stats every test runs"
    )
    assert not mutation_run_leaves_out(catalogue, "bert_sentiment.labels.x_f__mutmut_1", seconds), (
        "a file named for no module (the data path's messages) runs for every mutant it reaches"
    )
    export = item("test_a_model_without_onnx_files_is_exported", [], "test_inference.py")
    direct = item("test_the_exports_check", [], "test_onnx_export.py")
    seconds[export.nodeid] = 3.3
    mutant = "bert_sentiment.onnx_export.x__export__mutmut_4"
    assert deselected_for([export, direct], mutant, seconds) == [export], "the module's own test runs, the slow one not"
    assert deselected_for([export], mutant, seconds) == [], "code only a slow test reaches keeps that test"


def test_a_mutants_quick_tests_run_first_fastest_first_and_its_own_modules_before_the_others(tmp_path, monkeypatch):
    slow, quick, unrecorded, middle = (item(name) for name in ("slow", "quick", "unrecorded", "middle"))
    stats = tmp_path / "mutmut-stats.json"
    stats.write_text(json.dumps({"duration_by_test": {slow.nodeid: 2.5, quick.nodeid: 0.01, middle.nodeid: 0.4}}))
    monkeypatch.setattr(conftest, "MUTMUT_STATS", stats)
    items = [slow, quick, unrecorded, middle]
    likeliest_first(items, recorded_seconds())
    assert items == [unrecorded, quick, middle, slow], "a test newer than the stats counts as quick"

    own_quick, own_slow = item("own_quick", module="test_inference.py"), item("own_slow", module="test_inference.py")
    other_module = item("other_module", module="test_app.py")
    seconds = {quick.nodeid: 0.01, own_quick.nodeid: 0.3, own_slow.nodeid: 4.4, slow.nodeid: 2.5}
    items = [slow, own_slow, quick, own_quick, other_module]
    likeliest_first(items, seconds, "bert_sentiment.inference.xǁSentimentClassifierǁ_predict__mutmut_3")
    assert items == [own_quick, other_module, quick, own_slow, slow], (
        "quick ones first, each kind its own module's first"
    )
    likeliest_first(items, seconds, "bert_sentiment.app.x_f__mutmut_1")
    assert items == [other_module, quick, own_quick, slow, own_slow]
    likeliest_first(items, seconds, "bert_sentiment.inferences.x_f__mutmut_1")
    assert items == [other_module, quick, own_quick, slow, own_slow], "a module whose name starts like another's"

    monkeypatch.setattr(conftest, "MUTMUT_STATS", tmp_path / "absent.json")
    assert recorded_seconds() == {}
    items = [slow, quick, middle]
    likeliest_first(items, recorded_seconds())
    assert items == [slow, quick, middle], "without mutmut's stats the order is left as it was"


def test_the_steps_after_training_render_pictures_only_for_mutants_of_the_code_that_draws_them():
    for after_training in ("test_fine_tune.py", "test_publish.py", "test_label_issues.py", "test_hp_search.py"):
        for elsewhere in ("fine_tune", "card_text", "facts", "evaluations"):
            assert not renders_pictures(after_training, f"bert_sentiment.{elsewhere}.x_f__mutmut_1")
        for drawing in ("evaluation", "calibration", "abstain", "atomic"):
            assert renders_pictures(after_training, f"bert_sentiment.{drawing}.x_plot__mutmut_1")
        assert renders_pictures(after_training, ""), "outside a mutant (mutmut's clean and stats runs) they render"
    for own in ("test_calibration.py", "test_evaluation.py", "test_abstain.py", "test_model_card.py"):
        assert renders_pictures(own, "bert_sentiment.fine_tune.x_f__mutmut_1"), "tests that read pictures render them"
