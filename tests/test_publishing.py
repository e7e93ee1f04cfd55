"""Publishing a trained folder, offline: its model card (what a Hub user reads, and model-index metadata that
huggingface_hub parses back to the numbers of results.json) and `--push-to-hub` through a stubbed Hub API."""

import json
import sys
from pathlib import Path

import httpx
import pytest
import yaml
from huggingface_hub import HfApi, ModelCard, constants, metadata_load
from huggingface_hub.errors import HfHubHTTPError

from modeling_synctva import SyncTVAConfig, SyncTVAForEmotionClassification
from modeling_synctva.configuration_synctva import MELD_EMOTIONS
from synctva_training.hub_upload import UPLOAD_IGNORE, HubUploadError, check_upload, push_folder, upload_file_list
from synctva_training.model_card import render_model_card

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = REPO / "model_card.md"
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


@pytest.fixture
def trained_folder(tmp_path) -> Path:
    """A folder laid out as train.py leaves it: a tiny model with its code, the card, results, and training state."""
    folder = tmp_path / "synctva-meld"
    config = SyncTVAConfig(modalities=["text"], hidden_size=16, intermediate_size=16, num_attention_heads=2)
    SyncTVAForEmotionClassification(config).save_pretrained(folder)
    (folder / "README.md").write_text(render_model_card(TEMPLATE, meld_results(), "synctva-meld", "user/synctva-meld"))
    (folder / "results.json").write_text(json.dumps(meld_results()))
    for state in ("checkpoints/last/training_state.json", "checkpoints/last/best_model.safetensors", "processes/rank0.json"):
        (folder / state).parent.mkdir(parents=True, exist_ok=True)
        (folder / state).write_text("{}")
    return folder


class StubHubApi:
    """Records the calls `push_folder` makes; `failure` is raised by the first call instead."""

    def __init__(self, failure: Exception | None = None):
        self.calls, self.failure = [], failure

    def create_repo(self, repo_id, **kwargs):
        if self.failure is not None:
            raise self.failure
        self.calls.append(("create_repo", repo_id, kwargs))

    def upload_folder(self, **kwargs):
        self.calls.append(("upload_folder", kwargs["repo_id"], kwargs))
        return "commit"


def test_upload_holds_the_model_its_code_and_card_but_no_training_state(trained_folder):
    files = check_upload(trained_folder)
    config = json.loads((trained_folder / "config.json").read_text())
    header = yaml.safe_load((trained_folder / "README.md").read_text().split("---")[1])

    assert files == [
        "README.md", "config.json", "configuration_synctva.py", "graph_synctva.py", "model.safetensors",
        "modeling_synctva.py", "results.json",
    ]
    assert config["auto_map"]["AutoModelForTokenClassification"] == "modeling_synctva.SyncTVAForEmotionClassification"
    assert header["model-index"][0]["results"][0]["dataset"]["type"] == "meld" and header["library_name"] == "transformers"


def test_push_creates_the_repository_then_uploads_the_checked_folder(trained_folder):
    api = StubHubApi()

    assert push_folder(trained_folder, "user/synctva-meld", api=api) == "commit"
    assert [(name, repo) for name, repo, _ in api.calls] == [("create_repo", "user/synctva-meld"), ("upload_folder", "user/synctva-meld")]
    upload = api.calls[1][2]
    assert upload["folder_path"] == str(trained_folder) and upload["repo_type"] == "model"
    assert upload["ignore_patterns"] == UPLOAD_IGNORE  # what upload_file_list left out


def test_a_folder_without_auto_map_or_model_index_is_refused_before_any_call(trained_folder):
    config = json.loads((trained_folder / "config.json").read_text())
    del config["auto_map"]
    (trained_folder / "config.json").write_text(json.dumps(config))
    api = StubHubApi()

    with pytest.raises(HubUploadError, match="no auto_map"):
        push_folder(trained_folder, "user/synctva-meld", api=api)
    (trained_folder / "README.md").write_text("# a card without metadata\n")
    with pytest.raises(HubUploadError, match="no model-index"):
        check_upload(trained_folder)
    assert api.calls == []


def test_a_custom_pipeline_is_refused_without_its_code_file(trained_folder):
    config = json.loads((trained_folder / "config.json").read_text())
    config["custom_pipelines"] = {
        "emotion-recognition-in-conversation": {
            "impl": "pipeline_synctva.EmotionRecognitionInConversationPipeline", "pt": ["AutoModelForTokenClassification"],
        }
    }
    (trained_folder / "config.json").write_text(json.dumps(config))

    with pytest.raises(HubUploadError, match="lacks pipeline_synctva.py"):
        check_upload(trained_folder)
    (trained_folder / "pipeline_synctva.py").write_text("")
    assert "pipeline_synctva.py" in check_upload(trained_folder)


def one_line_exit(folder: Path, monkeypatch, api) -> str:
    """The message train.py's --push-to-hub ends with, the Hub API replaced by `api`."""
    sys.path.insert(0, str(REPO))
    import train

    monkeypatch.setattr("synctva_training.hub_upload.HfApi", lambda: api)
    with pytest.raises(SystemExit) as exit_info:
        train.push_to_hub(folder, "user/synctva-meld")
    message = str(exit_info.value)
    assert "\n" not in message and message.startswith("--push-to-hub: cannot push to user/synctva-meld")
    return message


def test_offline_push_ends_with_one_line_naming_hf_hub_offline(trained_folder, monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)

    message = one_line_exit(trained_folder, monkeypatch, HfApi(token="hf_not_a_real_token"))

    assert "HF_HUB_OFFLINE is set" in message and f"hf upload user/synctva-meld {trained_folder}" in message


def test_refused_token_ends_with_one_line_saying_how_to_log_in(trained_folder, monkeypatch):
    request = httpx.Request("POST", "https://huggingface.co/api/repos/create")
    refused = HfHubHTTPError("401 Client Error: Unauthorized", response=httpx.Response(401, request=request))

    message = one_line_exit(trained_folder, monkeypatch, StubHubApi(failure=refused))

    assert "refused the token (HTTP 401)" in message and "hf auth login" in message


def test_the_card_names_an_encoder_assembled_from_pypi_parts_by_its_hub_id(tmp_path, monkeypatch):
    """A folder of the encoder cache (made up, empty but for its config) stands for the assembled mpnet."""
    from synctva_training.model_card import hub_name_of

    monkeypatch.setenv("SYNCTVA_ENCODER_CACHE", str(tmp_path))
    (tmp_path / "all-mpnet-base-v2").mkdir()
    (tmp_path / "other").mkdir()
    assert hub_name_of(str(tmp_path / "all-mpnet-base-v2")) == "sentence-transformers/all-mpnet-base-v2"
    assert hub_name_of(str(tmp_path / "other")) is None  # a local folder of unknown origin: no Hub id
    assert hub_name_of("org/model") == "org/model"
