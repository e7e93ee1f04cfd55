# Copyright 2026 The synctva authors.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""The dataset feature cache: encodes once, reads back on the second run, and keys on the encoder."""

import shutil
import subprocess

import datasets
import numpy as np
import pytest
import soundfile
import torch
from transformers import AutoModel, AutoTokenizer, BertConfig, BertModel

from datasets_scripts import extract_features
from datasets_scripts.extract_features import extract_dataset_features, main
from modeling_synctva.processing_synctva import SyncTVAProcessor, default_text_encoder


@pytest.fixture(autouse=True)
def isolated_hf_home(tmp_path, monkeypatch):
    """Keep every Hugging Face cache inside the test's folder, and never reach the Hub."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture
def dialogues() -> datasets.DatasetDict:
    """A handful of MELD-like dialogues, one with an utterance without text."""

    def split(rows):
        return datasets.Dataset.from_dict(
            {
                "dialogue_id": [str(i) for i in range(len(rows))],
                "speakers": [[f"S{j % 2}" for j in range(len(r))] for r in rows],
                "utterances": rows,
            }
        )

    return datasets.DatasetDict(
        {
            "train": split(
                [
                    ["Oh my God, you're back!", "Yeah, I missed you guys.", "How was London?"],
                    ["I can't believe you did that.", ""],
                    ["Pivot! Pivot!"],
                ]
            ),
            "validation": split([["We were on a break!", "No, we weren't."]]),
        }
    )


@pytest.fixture
def tiny_bert(tmp_path) -> str:
    """A randomly initialised 32-d BERT with the MiniLM vocabulary, saved to a local folder."""
    tokenizer = AutoTokenizer.from_pretrained(default_text_encoder())
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
    )
    folder = tmp_path / "tiny-bert"
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture
def encoder_calls(monkeypatch) -> list:
    """Records every call of the text encoder over a batch of utterances."""
    calls = []
    encode = extract_features.encode_texts

    def spy(texts, *args, **kwargs):
        calls.append(len(texts))
        return encode(texts, *args, **kwargs)

    monkeypatch.setattr(extract_features, "encode_texts", spy)
    return calls


def cache_files(cache_dir) -> list:
    return sorted(path.relative_to(cache_dir).as_posix() for path in cache_dir.rglob("*") if path.is_file())


def test_second_run_reads_the_cache_without_encoding(dialogues, tmp_path, encoder_calls):
    cache = tmp_path / "cache"
    first = extract_dataset_features(dialogues, cache_dir=cache, dataset_name="toy")
    assert encoder_calls == [5, 2]  # the train utterance without text is not encoded
    files = cache_files(cache)
    assert [f.split("/")[:2] for f in files] == [["toy", "train"], ["toy", "validation"]]
    assert all(f.split("/")[2].startswith("text-") and f.endswith(".safetensors") for f in files)
    mtimes = [(cache / f).stat().st_mtime_ns for f in files]

    second = extract_dataset_features(dialogues, cache_dir=cache, dataset_name="toy")
    assert encoder_calls == [5, 2]
    assert cache_files(cache) == files and [(cache / f).stat().st_mtime_ns for f in files] == mtimes
    for split in dialogues:
        assert second[split]["text_features"] == first[split]["text_features"]


def test_features_are_one_mean_pooled_vector_per_utterance(dialogues, tmp_path):
    """The cached vectors equal mean pooling of the encoder over the processor's tokens: what the model computes."""
    features = extract_dataset_features(dialogues, cache_dir=tmp_path / "cache")["train"]
    assert features.features["text_features"] == datasets.List(datasets.List(datasets.Value("float32")))
    rows = [np.asarray(row, dtype=np.float32) for row in features["text_features"]]
    assert [row.shape for row in rows] == [(3, 384), (2, 384), (1, 384)]
    assert not rows[1][1].any()  # no text: zeros

    processor = SyncTVAProcessor()
    inputs = processor({"speakers": ["A", "B", "A"], "utterances": list(dialogues["train"][0]["utterances"])})
    encoder = AutoModel.from_pretrained(default_text_encoder()).eval()
    with torch.inference_mode():
        states = encoder(
            input_ids=inputs["input_ids"][0], attention_mask=inputs["text_attention_mask"][0]
        ).last_hidden_state
    mask = inputs["text_attention_mask"][0].unsqueeze(-1).float()
    expected = (states * mask).sum(1) / mask.sum(1)
    np.testing.assert_allclose(rows[0], expected.numpy(), rtol=1e-4, atol=1e-5)


def test_a_different_encoder_gets_its_own_cache_entry(dialogues, tmp_path, tiny_bert, encoder_calls):
    cache = tmp_path / "cache"
    minilm = extract_dataset_features(dialogues, cache_dir=cache, dataset_name="toy")
    files = cache_files(cache)
    bert = extract_dataset_features(dialogues, text_encoder=tiny_bert, cache_dir=cache, dataset_name="toy")

    assert encoder_calls == [5, 2, 5, 2]
    assert len(cache_files(cache)) == 2 * len(files) and set(files) < set(cache_files(cache))
    assert np.asarray(minilm["train"][0]["text_features"]).shape == (3, 384)
    assert np.asarray(bert["train"][0]["text_features"]).shape == (3, 32)
    # a changed weight file makes a different encoder too
    before = extract_features.encoder_identity(tiny_bert)
    with open(f"{tiny_bert}/model.safetensors", "ab") as weights:
        weights.write(b"\0")
    assert extract_features.encoder_identity(tiny_bert) != before


def test_changed_utterances_miss_the_cache(dialogues, tmp_path, encoder_calls):
    cache = tmp_path / "cache"
    extract_dataset_features(dialogues, cache_dir=cache)
    edited = datasets.DatasetDict(
        {"validation": dialogues["validation"].map(lambda row: {"utterances": [u.upper() for u in row["utterances"]]})}
    )
    extract_dataset_features(edited, cache_dir=cache)
    assert encoder_calls == [5, 2, 2]


def test_writes_are_atomic_and_leave_no_temporary_files(dialogues, tmp_path, monkeypatch):
    cache = tmp_path / "cache"

    def crash(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(extract_features, "save_file", crash)
    with pytest.raises(RuntimeError, match="disk full"):
        extract_dataset_features(dialogues, cache_dir=cache)
    assert cache_files(cache) == []


def test_existing_feature_columns_need_overwrite(dialogues, tmp_path):
    with_features = extract_dataset_features(dialogues, cache_dir=tmp_path / "cache")
    with pytest.raises(ValueError, match="already has \\['text_features'\\]"):
        extract_dataset_features(with_features, cache_dir=tmp_path / "cache")
    again = extract_dataset_features(with_features, cache_dir=tmp_path / "cache", overwrite=True)
    assert again["train"].column_names.count("text_features") == 1


def test_audio_features_from_clips_are_cached_too(tmp_path, monkeypatch):
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng): no real speech to test on")
    clips = []
    for index, text in enumerate(["Good morning everyone.", "I am not happy about this."]):
        path = tmp_path / f"clip{index}.wav"
        subprocess.run(["espeak-ng", "-w", str(path), text], check=True, capture_output=True)
        clips.append(str(path))
    data = datasets.DatasetDict(
        {
            "test": datasets.Dataset.from_dict(
                {
                    "speakers": [["A", "B", "A"]],
                    "utterances": [["Good morning everyone.", "Hm.", "I am not happy about this."]],
                    "clips": [[clips[0], "", clips[1]]],
                }
            )
        }
    )
    cache = tmp_path / "cache"
    audio = np.asarray(extract_dataset_features(data, cache_dir=cache)["test"][0]["audio_features"])
    assert audio.shape == (3, 88) and np.isfinite(audio).all()
    assert audio[0].any() and not audio[1].any() and not np.allclose(audio[0], audio[2])

    monkeypatch.setattr(extract_features, "encode_audio", lambda *args: pytest.fail("audio was encoded again"))
    cached = np.asarray(extract_dataset_features(data, cache_dir=cache)["test"][0]["audio_features"])
    np.testing.assert_array_equal(cached, audio)


def test_inline_waveforms_in_an_audio_column_are_keyed_by_content(tmp_path):
    def tone(frequency):
        return {
            "array": (0.3 * np.sin(2 * np.pi * frequency * np.arange(16000) / 16000)).tolist(),
            "sampling_rate": 16000,
        }

    def data(frequency):
        return datasets.DatasetDict(
            {
                "test": datasets.Dataset.from_dict(
                    {
                        "speakers": [["A", "B"]],
                        "utterances": [["Hello.", "Hi."]],
                        "audio": [[tone(frequency), None]],
                    }
                )
            }
        )

    cache = tmp_path / "cache"
    low = np.asarray(extract_dataset_features(data(220.0), cache_dir=cache)["test"][0]["audio_features"])
    high = np.asarray(extract_dataset_features(data(440.0), cache_dir=cache)["test"][0]["audio_features"])
    assert low.shape == high.shape == (2, 88) and not low[1].any()
    assert not np.allclose(low[0], high[0])
    assert len([f for f in cache_files(cache) if "/audio-" in f]) == 2


def test_a_bad_clip_names_its_row_and_utterance(tmp_path):
    silent = tmp_path / "silent.wav"
    soundfile.write(silent, np.zeros(16000, dtype=np.float32), 16000)
    data = datasets.DatasetDict(
        {
            "test": datasets.Dataset.from_dict(
                {
                    "speakers": [["A"], ["A", "B"]],
                    "utterances": [["a"], ["b", "c"]],
                    "clips": [[""], ["", str(silent)]],
                }
            )
        }
    )
    with pytest.raises(ValueError, match="row 1, utterance 1 .*silent.wav.*silent"):
        extract_dataset_features(data, cache_dir=tmp_path / "cache")


def test_command_line_on_real_mosi_validation(data_dir, tmp_path, capsys):
    main(
        [
            "--dataset",
            "mosi",
            "--split",
            "validation",
            "--data-dir",
            str(data_dir),
            "--cache-dir",
            str(tmp_path / "cache"),
            "--overwrite",
            "--save-to",
            str(tmp_path / "saved"),
        ]
    )
    assert "text_features" in capsys.readouterr().out
    saved = datasets.load_from_disk(str(tmp_path / "saved"))["validation"]
    row = saved[0]
    assert np.asarray(row["text_features"]).shape == (len(row["utterances"]), 384)
    assert cache_files(tmp_path / "cache")[0].startswith("mosi/validation/text-")
