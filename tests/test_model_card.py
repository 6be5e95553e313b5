import copy

from huggingface_hub import ModelCard

from src.model_card import card_data, eval_results, load_facts, render_card, write_card

REPO = "alice/sst2-bert"


def test_card_metadata_parses_back_with_the_runs_results(trained_run):
    facts = load_facts(trained_run)
    card = ModelCard.load(write_card(trained_run, REPO))
    data = card.data.to_dict()
    assert data["language"] == "en" and data["license"] == "apache-2.0"
    assert data["pipeline_tag"] == "text-classification" and data["library_name"] == "transformers"
    assert [w["example_title"] for w in data["widget"]] == ["negative", "positive"]
    assert all(w["text"] for w in data["widget"])

    parsed = {(r.dataset_split, r.metric_name): r.metric_value for r in card.data.eval_results}
    for split in ("validation", "test"):
        for metric, value in facts["results"][split]["metrics"].items():
            assert parsed[(split, metric)] == round(value, 4)
    assert {r.dataset_type for r in card.data.eval_results} == {"reviews"}


def test_card_text_has_results_beside_baselines_and_the_usage_snippet(trained_run):
    facts = load_facts(trained_run)
    text = render_card(facts, REPO, image_dir=trained_run).text
    assert f'pipeline("text-classification", model="{REPO}")' in text
    assert "`negative`, `positive`" in text
    assert "| **this model** |" in text and "| TF-IDF + logistic regression |" in text and "| majority class |" in text
    assert f"{facts['results']['test']['metrics']['accuracy']:.4f}" in text
    assert "![Confusion matrix on Test](confusion_matrix_test.png)" in text
    assert "reviews.csv" in text and facts["data"]["source"]["files"]["train"]["sha256"][:16] in text
    assert "(a local model)" in text and "huggingface.co//" not in text
    for placeholder in ("More information needed", "None", "{{", "[]"):
        assert placeholder not in text, placeholder


def test_hub_dataset_and_hub_base_model_appear_in_metadata(trained_run):
    facts = copy.deepcopy(load_facts(trained_run))
    facts["base_model"] = "google-bert/bert-base-uncased"
    facts["data"]["source"] = {"kind": "hub", "dataset_name": "glue", "config": "sst2", "revision": None, "commit": "abc123"}
    data = card_data(facts, REPO, "mit").to_dict()
    assert data["base_model"] == "google-bert/bert-base-uncased"
    assert data["datasets"] == ["glue"] and data["license"] == "mit"
    result = eval_results(facts)[0]
    assert (result.dataset_type, result.dataset_config, result.dataset_revision) == ("glue", "sst2", "abc123")
    text = render_card(facts, REPO).text
    assert "[glue](https://huggingface.co/datasets/glue) (config `sst2`) at commit `abc123`" in text
    assert "![Confusion matrix" not in text  # no image was given: the line is left out


def test_chinese_card_says_chinese(trained_run):
    facts = copy.deepcopy(load_facts(trained_run))
    facts["language"] = "zh"
    facts["label_names"] = ["差评", "好评"]
    for report in facts["results"].values():
        report["label_examples"] = {"差评": "菜品难吃，服务冷漠", "好评": "房间干净，前台热情"}
        report["per_class"] = {"差评": report["per_class"]["negative"], "好评": report["per_class"]["positive"]}
    card = render_card(facts, REPO)
    assert card.data.to_dict()["language"] == "zh"
    assert card.data.to_dict()["widget"][0] == {"text": "菜品难吃，服务冷漠", "example_title": "差评"}
    assert "Chinese texts" in card.text and "`差评`, `好评`" in card.text
