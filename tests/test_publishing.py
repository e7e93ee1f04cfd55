"""The model card of a trained folder: what a Hub user reads (per-class F1, protocol, uses, limitations, citation) and
model-index metadata that huggingface_hub parses back to the numbers of results.json."""

from pathlib import Path

import pytest
from huggingface_hub import ModelCard, metadata_load

from modeling_synctva import SyncTVAConfig
from modeling_synctva.configuration_synctva import MELD_EMOTIONS
from synctva_training.model_card import render_model_card

TEMPLATE = Path(__file__).resolve().parents[1] / "model_card.md"
PER_CLASS_F1 = dict(zip(MELD_EMOTIONS, (0.7512, 0.5031, 0.0, 0.2875, 0.5544, 0.1111, 0.4167)))


def scores(accuracy: float, weighted_f1: float) -> dict:
    return {"accuracy": accuracy, "weighted_f1": weighted_f1, "macro_f1": 0.3749, "per_class_f1": PER_CLASS_F1}


def meld_results(**changes) -> dict:
    """A results.json of a text-only MELD run, as train.py writes it (fields the card reads)."""
    results = {
        "model": "sync-tva", "dataset": "meld", "label_names": list(MELD_EMOTIONS),
        "validation": scores(0.5932, 0.5711), "test": scores(0.6123, 0.5987),
        "selected_epoch": 7, "seed": 1, "git_commit": "unknown",
        "command": "python train.py --dataset meld --output-dir synctva-meld --seed 1",
        "args": {"learning_rate": 1e-3, "weight_decay": 0.01, "batch_size": 16, "epochs": 30, "patience": 5},
        "config": SyncTVAConfig(modalities=["text"]).to_dict(),
        "text_encoder": None, "base_text_encoder": None, "text_input": "utterance", "feature_normalization": None,
        "split_sizes": {"train": 1038, "validation": 114, "test": 280},
    }
    return {**results, **changes}


@pytest.fixture
def card_file(tmp_path) -> Path:
    path = tmp_path / "README.md"
    path.write_text(render_model_card(TEMPLATE, meld_results(), model_name="synctva-meld", repo="user/synctva-meld"))
    return path


def test_model_index_round_trips_every_measured_score(card_file):
    results = meld_results()
    metadata = metadata_load(card_file)
    parsed = {
        (r.dataset_split, r.metric_type, r.metric_config): r.metric_value for r in ModelCard.load(card_file).data.eval_results
    }

    assert metadata["model-index"][0]["name"] == "synctva-meld"
    assert parsed[("test", "accuracy", None)] == results["test"]["accuracy"]
    assert parsed[("test", "f1", "weighted")] == results["test"]["weighted_f1"]
    assert parsed[("validation", "f1", "weighted")] == results["validation"]["weighted_f1"]
    assert parsed[("test", "f1", "macro")] == results["test"]["macro_f1"]
    assert {name: parsed[("test", "f1", name)] for name in MELD_EMOTIONS} == PER_CLASS_F1
    assert metadata["pipeline_tag"] and metadata["library_name"] == "transformers" and metadata["datasets"] == ["meld"]


def test_card_text_shows_per_class_f1_protocol_uses_limitations_and_citation(card_file):
    text = ModelCard.load(card_file).text

    assert "| " + " | ".join(MELD_EMOTIONS) + " |" in text
    assert "| 75.12 | 50.31 | 0.00 | 28.75 | 55.44 | 11.11 | 41.67 |" in text  # fear and disgust included
    assert "selected on the validation split only" in text and "one seed (1)" in text
    for heading in ("## Intended uses", "## Out-of-scope uses", "## Limitations", "## Citation"):
        assert heading in text
    assert "Friends" in text and "reads text only" in text
    assert "arXiv:2507.21395" in text
    assert "Smoke run" not in text  # full splits: nothing flagged
