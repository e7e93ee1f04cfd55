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
"""SyncTVAProcessor and SyncTVAFeatureExtractor: real speech, resampling, images, padding, errors, save and load."""

import json
import shutil
import subprocess

import numpy as np
import pytest
import soundfile
import torch
from PIL import Image
from transformers import (
    AutoProcessor,
    ViTConfig,
    ViTImageProcessor,
    ViTModel,
    Wav2Vec2Config,
    Wav2Vec2FeatureExtractor,
    Wav2Vec2Model,
)
from transformers.utils import is_av_available

from modeling_synctva.feature_extraction_synctva import SyncTVAFeatureExtractor, load_opensmile
from modeling_synctva.processing_synctva import SyncTVAProcessor


F0_MEAN = "F0semitoneFrom27.5Hz_sma3nz_amean"


@pytest.fixture(autouse=True)
def isolated_hf_home(tmp_path, monkeypatch):
    """Keep every Hugging Face cache inside the test's folder, and never reach the Hub."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture
def speak(tmp_path):
    """A function that writes `text` spoken by espeak-ng (22050 Hz mono) to a wav file and returns its path."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng): no real speech to test on")

    def write(text: str, name: str) -> str:
        path = tmp_path / f"{name}.wav"
        subprocess.run(["espeak-ng", "-w", str(path), text], check=True, capture_output=True)
        return str(path)

    return write


@pytest.fixture
def processor() -> SyncTVAProcessor:
    return SyncTVAProcessor()


@pytest.fixture
def tiny_vit(tmp_path) -> str:
    """A randomly initialised 24-d ViT with its image processor, saved to a local folder."""
    torch.manual_seed(0)
    config = ViTConfig(
        image_size=32, patch_size=8, hidden_size=24, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32
    )
    folder = tmp_path / "tiny-vit"
    ViTModel(config).save_pretrained(folder)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    return str(folder)


@pytest.fixture
def tiny_wav2vec2(tmp_path) -> str:
    """A randomly initialised 16-d wav2vec2 with its feature extractor, saved to a local folder."""
    torch.manual_seed(0)
    config = Wav2Vec2Config(
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        conv_dim=(8, 8),
        conv_stride=(5, 4),
        conv_kernel=(10, 8),
        num_conv_pos_embeddings=8,
        num_conv_pos_embedding_groups=2,
    )
    folder = tmp_path / "tiny-wav2vec2"
    Wav2Vec2Model(config).save_pretrained(folder)
    Wav2Vec2FeatureExtractor(sampling_rate=16000).save_pretrained(folder)
    return str(folder)


def sine(frequency: float, sampling_rate: int, seconds: float = 1.0) -> np.ndarray:
    time = np.arange(int(sampling_rate * seconds)) / sampling_rate
    return 0.3 * np.sin(2 * np.pi * frequency * time)


def random_image(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(40, 50, 3), dtype=np.uint8)


def test_espeak_speech_gives_finite_egemaps_features_that_differ_between_sentences(processor, speak):
    happy = speak("I am so happy to see you again, this is wonderful!", "happy")
    angry = speak("Why did you do that? I told you never to touch it.", "angry")
    inputs = processor({"speakers": ["A", "B"], "utterances": ["so happy", "why"], "audio": [happy, angry]})

    features = inputs["audio_features"]
    assert features.shape == (1, 2, 88) and features.dtype == torch.float32
    assert torch.isfinite(features).all()
    assert not torch.allclose(features[0, 0], features[0, 1], rtol=1e-3)
    assert inputs["modality_mask"][0, :, 1].tolist() == [True, True]


def test_resampling_keeps_the_pitch_of_a_tone():
    """A 220 Hz tone is 36 semitones above 27.5 Hz whatever its sampling rate, once resampled to 16 kHz; read at
    the wrong rate, its pitch moves."""
    extractor = SyncTVAFeatureExtractor()
    f0 = load_opensmile("eGeMAPSv02").feature_names.index(F0_MEAN)
    for rate in (16000, 22050, 44100, 8000):
        features = extractor(sine(220.0, rate), sampling_rate=rate)["audio_features"]
        assert features[0][f0] == pytest.approx(36.0, abs=0.2), rate
    mislabelled = extractor(sine(220.0, 22050), sampling_rate=16000)["audio_features"]
    assert mislabelled[0][f0] < 33.0


def test_resampling_espeak_speech_from_22050_hz(speak):
    waveform, rate = soundfile.read(speak("Resampling should not change this sentence.", "resample"), dtype="float32")
    assert rate == 22050
    extractor = SyncTVAFeatureExtractor()
    prepared = extractor.prepare_waveform(waveform, rate)
    assert prepared.dtype == np.float32 and abs(len(prepared) - len(waveform) * 16000 / 22050) <= 1
    native = extractor(waveform, sampling_rate=rate)["audio_features"]
    # 16-bit PCM is scaled to [-1, 1]: the same features up to quantisation noise
    pcm16 = extractor((waveform * 32767).astype(np.int16), sampling_rate=rate)["audio_features"]
    np.testing.assert_allclose(native, pcm16, rtol=0.05, atol=0.05)


def test_image_inputs_through_a_tiny_vit_give_one_vector_per_utterance(tiny_vit):
    processor = SyncTVAProcessor(visual_encoder=tiny_vit)
    frames = [random_image(1), random_image(2)]
    dialogues = [
        {
            "speakers": ["A", "B", "A"],
            "utterances": ["one", "two", "three"],
            "images": [Image.fromarray(random_image(1)), None, frames],
        },
        {"speakers": ["C"], "utterances": ["four"], "images": [random_image(2)]},
    ]
    visual = processor(dialogues)["visual_features"]

    assert visual.shape == (2, 3, 24)
    assert torch.equal(visual[0, 1], torch.zeros(24)) and torch.equal(visual[1, 1:], torch.zeros(2, 24))
    # an utterance's vector is the mean over its frames
    torch.testing.assert_close(visual[0, 2], (visual[0, 0] + visual[1, 0]) / 2, rtol=1e-4, atol=1e-5)
    assert processor(dialogues)["modality_mask"][..., 2].tolist() == [[True, False, True], [True, False, False]]


def test_images_without_a_visual_encoder_are_refused(processor):
    with pytest.raises(ValueError, match="no `visual_encoder`"):
        processor({"speakers": ["A"], "utterances": ["hi"], "images": [random_image(0)]})


def test_padding_and_masks_for_two_dialogues_of_different_lengths(processor):
    long = {"speakers": ["A", "B", "A"], "utterances": ["Hello there, how are you doing today?", "Fine.", "Good!"]}
    short = {"speakers": ["C"], "utterances": ["Okay."]}
    inputs = processor([long, short])
    pad = processor.tokenizer.pad_token_id

    assert inputs["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert inputs["attention_mask"].dtype == torch.long
    assert inputs["input_ids"].shape[:2] == (2, 3) == inputs["text_attention_mask"].shape[:2]
    assert (inputs["input_ids"][1, 1:] == pad).all() and (inputs["text_attention_mask"][1, 1:] == 0).all()
    assert inputs["modality_mask"].dtype == torch.bool
    assert inputs["modality_mask"].tolist() == [[[True, False, False]] * 3, [[True, False, False]] + [[False] * 3] * 2]
    assert "audio_features" not in inputs and "visual_features" not in inputs
    # padding does not change the real utterances' tokens
    alone = processor(short)
    length = int(alone["text_attention_mask"][0, 0].sum())
    assert torch.equal(inputs["input_ids"][1, 0, :length], alone["input_ids"][0, 0, :length])
    assert int(inputs["text_attention_mask"][1, 0].sum()) == length


def test_long_utterances_are_truncated_to_max_text_length():
    processor = SyncTVAProcessor(max_text_length=8)
    inputs = processor({"speakers": ["A"], "utterances": [" ".join(["word"] * 50)]})
    assert inputs["input_ids"].shape == (1, 1, 8)


def test_context_window_reads_each_utterance_with_its_neighbours_and_survives_save_and_load(tmp_path):
    from modeling_synctva.processing_synctva import context_texts

    processor = SyncTVAProcessor(text_context_window=[2, 1])
    dialogue = {
        "speakers": ["Ross", "Rachel", "Ross", "Joey"],
        "utterances": ["Hi.", None, "Where were you?", "Here!"],
        "audio": [None, (sine(220.0, 16000), 16000), None, None],  # utterance 1 has no text
    }
    separator = processor.tokenizer.sep_token
    expected_texts = context_texts(dialogue["speakers"], dialogue["utterances"], separator, past=2, future=1)
    assert expected_texts[2] == f"Ross: Where were you? {separator} Ross: Hi. {separator} Joey: Here!"  # no text: skipped

    inputs = processor(dialogue)
    plain = SyncTVAProcessor()(dialogue)
    for n in (0, 2, 3):
        tokens = processor.tokenizer(expected_texts[n])["input_ids"]
        assert inputs["input_ids"][0, n, : len(tokens)].tolist() == tokens
    assert inputs["text_attention_mask"][0, 1].sum() == 0
    assert inputs["input_ids"].shape[-1] > plain["input_ids"].shape[-1]

    processor.save_pretrained(tmp_path / "saved")
    loaded = AutoProcessor.from_pretrained(tmp_path / "saved", trust_remote_code=True)
    assert loaded.text_context_window == [2, 1]
    torch.testing.assert_close(loaded(dialogue)["input_ids"], inputs["input_ids"])


@pytest.mark.parametrize("window", [[3], [-1, 1], [1.5, 0], "31"])
def test_a_bad_context_window_is_refused(window):
    with pytest.raises(ValueError, match="text_context_window"):
        SyncTVAProcessor(text_context_window=window)


def test_speaker_slots_follow_order_of_first_appearance(processor):
    dialogues = [
        {"speakers": ["Ross", "Rachel", "Ross", "Joey", "Rachel"], "utterances": ["a", "b", "c", "d", "e"]},
        {"speakers": ["Joey", "Ross"], "utterances": ["f", "g"]},
    ]
    speaker_ids = processor(dialogues)["speaker_ids"]
    assert speaker_ids.dtype == torch.long
    assert speaker_ids.tolist() == [[0, 1, 0, 2, 1], [0, 1, 0, 0, 0]]


def test_utterance_without_text_is_marked_absent_and_all_padding(processor):
    inputs = processor(
        {"speakers": ["A", "B"], "utterances": ["Hi!", None], "audio": [None, (sine(220.0, 16000), 16000)]}
    )
    assert inputs["modality_mask"][0].tolist() == [[True, False, False], [False, True, False]]
    assert (inputs["text_attention_mask"][0, 1] == 0).all()


def test_labels_are_padded_with_minus_100(processor):
    inputs = processor(
        [
            {"speakers": ["A", "B"], "utterances": ["a", "b"], "labels": [3, None]},
            {"speakers": ["A"], "utterances": ["c"]},
        ]
    )
    assert inputs["labels"].tolist() == [[3, -100], [-100, -100]]


@pytest.mark.parametrize(
    ("dialogue", "message"),
    [
        ({"speakers": [], "utterances": []}, "no utterances"),
        ({"speakers": ["A"], "utterances": ["a", "b"]}, "1 speakers for 2 utterances"),
        ({"speakers": ["A", "B"], "utterances": ["a", "  "]}, "utterance 1: empty text"),
        ({"speakers": ["A"], "utterances": "a single string"}, "`utterances` must be a list"),
        ({"speakers": ["A"], "utterances": ["a"], "audio": [(np.zeros(0), 16000)]}, "waveform is empty"),
        ({"speakers": ["A"], "utterances": ["a"], "audio": [(np.zeros(16000), 16000)]}, "silent"),
        ({"speakers": ["A"], "utterances": ["a"], "audio": [(np.full(16000, 1e-6), 16000)]}, "silent"),
        ({"speakers": ["A"], "utterances": ["a"], "audio": [(sine(220.0, 16000, 0.01), 16000)]}, "too short"),
        ({"speakers": ["A"], "utterances": ["a"], "audio": [(sine(220.0, 16000), 0)]}, "sampling_rate"),
        ({"speakers": ["A"], "utterances": ["a"], "audio": [7]}, "unsupported audio of type int"),
        ({"speakers": ["A"], "utterances": ["a"], "audio": [np.ones(16000)]}, "unsupported audio of type ndarray"),
        ({"speakers": ["A"], "utterances": ["a"], "audio": ["/no/such/clip.wav"]}, "audio file not found"),
        ({"speakers": ["A"], "utterances": ["a"], "audio": [None, None]}, "2 audio for 1 utterances"),
        ({"speakers": ["A"], "utterances": [None]}, "no text, audio or images"),
        ({"speakers": [1.5], "utterances": ["a"]}, "speaker must be a str or int"),
        ({"speakers": ["A"], "utterances": ["a"], "labels": ["joy"]}, "a label must be an int"),
    ],
)
def test_bad_dialogues_raise_a_value_error_that_says_what_is_wrong(processor, dialogue, message):
    with pytest.raises(ValueError, match=message):
        processor(dialogue)


def test_corrupt_audio_file_raises_a_value_error_naming_the_file(processor, tmp_path):
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(
        ValueError, match=r"dialogue 0, utterance 1: audio: could not decode audio file .*corrupt\.wav"
    ):
        processor({"speakers": ["A", "B"], "utterances": ["a", "b"], "audio": [None, str(corrupt)]})


def test_too_many_utterances_are_refused_when_capped():
    processor = SyncTVAProcessor(max_utterances=2)
    with pytest.raises(ValueError, match="3 utterances, more than max_utterances=2"):
        processor({"speakers": ["A", "B", "A"], "utterances": ["a", "b", "c"]})


def test_save_and_load_round_trip_including_auto_processor(tmp_path, speak, tiny_vit):
    processor = SyncTVAProcessor(visual_encoder=tiny_vit, max_text_length=32, max_utterances=50)
    processor.save_pretrained(tmp_path / "saved")
    saved = json.loads((tmp_path / "saved" / "processor_config.json").read_text())
    assert saved["auto_map"] == {"AutoProcessor": "processing_synctva.SyncTVAProcessor"}
    assert (tmp_path / "saved" / "processing_synctva.py").is_file()
    assert (tmp_path / "saved" / "feature_extraction_synctva.py").is_file()

    dialogue = {
        "speakers": ["A", "B"],
        "utterances": ["Nice to meet you.", "Likewise."],
        "audio": [speak("Nice to meet you.", "nice"), None],
        "images": [None, random_image(3)],
    }
    expected = processor(dialogue)
    for loaded in (
        SyncTVAProcessor.from_pretrained(tmp_path / "saved"),
        AutoProcessor.from_pretrained(tmp_path / "saved", trust_remote_code=True),
    ):
        assert type(loaded).__name__ == "SyncTVAProcessor"
        assert (loaded.max_text_length, loaded.max_utterances, loaded.visual_encoder) == (32, 50, tiny_vit)
        assert loaded.feature_extractor.to_dict()["feature_set"] == "eGeMAPSv02"
        outputs = loaded(dialogue)
        assert outputs.keys() == expected.keys()
        for key in expected:
            torch.testing.assert_close(outputs[key], expected[key])


def test_audio_model_gives_its_pooled_hidden_states_and_survives_save_and_load(tmp_path, tiny_wav2vec2):
    processor = SyncTVAProcessor.from_text_encoder(audio_model=tiny_wav2vec2)
    assert (processor.feature_extractor.feature_size, processor.feature_extractor.sampling_rate) == (16, 16000)
    dialogue = {
        "speakers": ["A", "B"],
        "utterances": ["a", "b"],
        "audio": [(sine(220.0, 22050), 22050), (sine(440.0, 16000), 16000)],
    }
    features = processor(dialogue)["audio_features"]
    assert features.shape == (1, 2, 16) and torch.isfinite(features).all()
    assert not torch.allclose(features[0, 0], features[0, 1])

    processor.save_pretrained(tmp_path / "saved")
    loaded = SyncTVAProcessor.from_pretrained(tmp_path / "saved")
    assert loaded.feature_extractor.audio_model == tiny_wav2vec2
    torch.testing.assert_close(loaded(dialogue)["audio_features"], features)


@pytest.mark.skipif(not is_av_available(), reason="PyAV (`pip install av`) reads video files")
def test_video_file_gives_frames_and_audio(tmp_path, speak, tiny_vit):
    import av

    waveform, rate = soundfile.read(speak("A short clip with sound.", "clip"), dtype="float32")
    clip = str(tmp_path / "clip.mp4")
    with av.open(clip, "w") as container:
        video = container.add_stream("mpeg4", rate=10)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = container.add_stream("aac", rate=rate)
        audio.layout = "mono"
        for index in range(12):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), index * 20, np.uint8), format="rgb24")
            container.mux(video.encode(frame))
        container.mux(video.encode())
        for start in range(0, len(waveform), 1024):
            frame = av.AudioFrame.from_ndarray(waveform[None, start : start + 1024], format="flt", layout="mono")
            frame.sample_rate = rate
            container.mux(audio.encode(frame))
        container.mux(audio.encode())

    processor = SyncTVAProcessor(visual_encoder=tiny_vit, num_video_frames=4)
    assert len(processor.load_frames(clip)) == 4
    inputs = processor(
        {"speakers": ["A"], "utterances": ["A short clip with sound."], "audio": [clip], "images": [clip]}
    )
    assert inputs["audio_features"].shape == (1, 1, 88) and torch.isfinite(inputs["audio_features"]).all()
    assert inputs["visual_features"].shape == (1, 1, 24)
    assert inputs["modality_mask"].tolist() == [[[True, True, True]]]
