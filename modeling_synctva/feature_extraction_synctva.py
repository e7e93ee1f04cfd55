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
"""Utterance-level audio features for Sync-TVA: openSMILE functionals (eGeMAPSv02 by default) or a pooled audio
model."""

import io
import math
import os
from collections.abc import Mapping, Sequence
from functools import lru_cache

import numpy as np
import opensmile
import soundfile
import torch
from scipy.signal import resample_poly
from transformers import AutoConfig, AutoFeatureExtractor, AutoModel, BatchFeature, SequenceFeatureExtractor
from transformers.utils import is_av_available


if is_av_available():
    import av

# Sizes of the openSMILE functionals sets; eGeMAPSv02 is the extended Geneva minimalistic set (Eyben et al., 2016).
OPENSMILE_FEATURE_SIZES = {"eGeMAPSv02": 88, "emobase": 988, "ComParE_2016": 6373}
# Containers that libsndfile cannot read; their audio track is decoded with PyAV.
CONTAINER_SUFFIXES = (".mp4", ".m4a", ".mkv", ".mov", ".avi", ".webm", ".aac")


@lru_cache(maxsize=4)
def load_opensmile(feature_set: str) -> opensmile.Smile:
    """The openSMILE extractor of `feature_set` at the functionals level, built once per process."""
    return opensmile.Smile(
        feature_set=opensmile.FeatureSet[feature_set], feature_level=opensmile.FeatureLevel.Functionals
    )


@lru_cache(maxsize=2)
def load_audio_model(name_or_path: str) -> tuple[SequenceFeatureExtractor, torch.nn.Module]:
    """The feature extractor and encoder of an audio model (a Hub id or a local folder), loaded once per process."""
    return AutoFeatureExtractor.from_pretrained(name_or_path), AutoModel.from_pretrained(name_or_path).eval()


def decode_audio_file(source: str | os.PathLike | bytes) -> tuple[np.ndarray, int]:
    """Decode an audio file (wav, flac, ogg, mp3 with libsndfile; mp4 and other containers with PyAV).

    Shapes: -> waveform (samples,) or (samples, channels) float32, sampling rate
    """
    name = "<bytes>" if isinstance(source, bytes) else os.fspath(source)
    if not isinstance(source, bytes) and not os.path.isfile(name):
        raise ValueError(f"audio file not found: {name}")
    if name.lower().endswith(CONTAINER_SUFFIXES):
        return decode_container_audio(name)
    try:
        waveform, sampling_rate = soundfile.read(
            io.BytesIO(source) if isinstance(source, bytes) else name, dtype="float32"
        )
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as error:
        raise ValueError(f"could not decode audio file {name}: {error}") from None
    return waveform, sampling_rate


def decode_container_audio(path: str) -> tuple[np.ndarray, int]:
    """Decode the first audio track of a media container to mono float32 with PyAV.

    Shapes: -> waveform (samples,), sampling rate
    """
    if not is_av_available():
        raise ValueError(f"reading audio from {path} needs PyAV: `pip install av`")
    try:
        with av.open(path) as container:
            if not container.streams.audio:
                raise ValueError(f"{path} has no audio track")
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="flt", layout="mono")
            chunks = [
                out.to_ndarray().reshape(-1) for frame in container.decode(stream) for out in resampler.resample(frame)
            ]
            chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
            sampling_rate = stream.codec_context.sample_rate
    except av.FFmpegError as error:
        raise ValueError(f"could not decode audio file {path}: {error}") from None
    return (np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)), sampling_rate


def load_waveform(audio) -> tuple[np.ndarray, int]:
    """Turn one utterance's audio, in any of the accepted forms, into a waveform and its sampling rate.

    Accepted: a file path; encoded file bytes; a `(waveform, sampling_rate)` pair; a mapping with `array` and
    `sampling_rate` (a decoded `datasets.Audio` value) or with `path` / `bytes` (an undecoded one); an object with
    `get_all_samples()` (a torchcodec `AudioDecoder`, what `datasets.Audio` yields with torchcodec installed).

    Shapes: -> waveform (samples,) or (samples, channels), sampling rate
    """
    if isinstance(audio, (str, os.PathLike, bytes)):
        return decode_audio_file(audio)
    if isinstance(audio, Mapping):
        if "array" in audio and "sampling_rate" in audio:
            return audio["array"], audio["sampling_rate"]
        if audio.get("bytes") is not None or audio.get("path") is not None:
            return decode_audio_file(audio["bytes"] if audio.get("bytes") is not None else audio["path"])
        raise ValueError(
            f"an audio mapping needs `array` and `sampling_rate`, or `path` or `bytes`; got keys {sorted(audio)}"
        )
    if isinstance(audio, tuple) and len(audio) == 2:
        return audio
    if hasattr(audio, "get_all_samples"):
        samples = audio.get_all_samples()
        return samples.data.numpy().T, samples.sample_rate
    raise ValueError(
        f"unsupported audio of type {type(audio).__name__}: expected a file path, bytes, a (waveform, sampling_rate) "
        "pair or a mapping with `array` and `sampling_rate`"
    )


class SyncTVAFeatureExtractor(SequenceFeatureExtractor):
    r"""
    One feature vector per utterance from its waveform: openSMILE functionals of `feature_set` (88 eGeMAPSv02
    features by default), or, when `audio_model` is set, the time-mean of an audio encoder's last hidden state
    (wav2vec2, HuBERT, WavLM, ...). Waveforms are mixed down to mono and resampled to `sampling_rate`. Empty,
    non-finite, too short or silent waveforms are refused with a `ValueError`.

    Args:
        feature_size (`int`, *optional*):
            Size of one utterance's vector. Defaults to the size of `feature_set`; with `audio_model`, use
            [`~SyncTVAFeatureExtractor.from_audio_model`], which reads it from the model.
        sampling_rate (`int`, *optional*, defaults to 16000):
            Rate every waveform is resampled to before extraction.
        padding_value (`float`, *optional*, defaults to 0.0):
            Value of the vectors of utterances without audio.
        feature_set (`str`, *optional*, defaults to `"eGeMAPSv02"`):
            openSMILE functionals set: one of `eGeMAPSv02`, `emobase`, `ComParE_2016`.
        audio_model (`str`, *optional*):
            Hub id or local folder of an audio encoder to use instead of openSMILE.
        min_duration (`float`, *optional*, defaults to 0.06):
            Shortest accepted waveform in seconds (openSMILE's eGeMAPS functionals need 60 ms).
        min_rms (`float`, *optional*, defaults to 1e-4):
            Waveforms whose root mean square is below this are refused as silent.
    """

    model_input_names = ["audio_features"]

    def __init__(
        self,
        feature_size: int | None = None,
        sampling_rate: int = 16000,
        padding_value: float = 0.0,
        feature_set: str = "eGeMAPSv02",
        audio_model: str | None = None,
        min_duration: float = 0.06,
        min_rms: float = 1e-4,
        **kwargs,
    ):
        if feature_set not in OPENSMILE_FEATURE_SIZES:
            raise ValueError(f"`feature_set` must be one of {sorted(OPENSMILE_FEATURE_SIZES)}, got {feature_set!r}")
        if feature_size is None:
            if audio_model is not None:
                raise ValueError(
                    "with `audio_model`, give `feature_size` or use `SyncTVAFeatureExtractor.from_audio_model`"
                )
            feature_size = OPENSMILE_FEATURE_SIZES[feature_set]
        super().__init__(feature_size=feature_size, sampling_rate=sampling_rate, padding_value=padding_value, **kwargs)
        self.feature_set = feature_set
        self.audio_model = audio_model
        self.min_duration = min_duration
        self.min_rms = min_rms

    @classmethod
    def from_audio_model(cls, name_or_path: str, **kwargs) -> "SyncTVAFeatureExtractor":
        """An extractor that pools the audio encoder `name_or_path` (Hub id or local folder), with its hidden size
        as `feature_size` and its sampling rate."""
        hidden_size = AutoConfig.from_pretrained(name_or_path).hidden_size
        sampling_rate = AutoFeatureExtractor.from_pretrained(name_or_path).sampling_rate
        return cls(feature_size=hidden_size, sampling_rate=sampling_rate, audio_model=name_or_path, **kwargs)

    def prepare_waveform(self, waveform, sampling_rate) -> np.ndarray:
        """Check one waveform and bring it to mono float32 at `self.sampling_rate`.

        Integer PCM is scaled to [-1, 1]; a 2-D array is mixed down over its shorter axis (the channels).

        Shapes: (samples,) or (samples, channels) or (channels, samples) -> (samples at self.sampling_rate,)
        """
        if isinstance(waveform, torch.Tensor):
            waveform = waveform.detach().cpu().numpy()
        if not isinstance(waveform, (np.ndarray, list)):
            raise ValueError(
                f"a waveform must be a numpy array, a tensor or a list of floats, got {type(waveform).__name__}"
            )
        waveform = np.asarray(waveform)
        if not (np.issubdtype(waveform.dtype, np.floating) or np.issubdtype(waveform.dtype, np.integer)):
            raise ValueError(f"a waveform must hold numbers, got dtype {waveform.dtype}")
        if isinstance(sampling_rate, bool) or not isinstance(sampling_rate, (int, np.integer)) or sampling_rate <= 0:
            raise ValueError(f"`sampling_rate` must be a positive integer, got {sampling_rate!r}")
        if np.issubdtype(waveform.dtype, np.integer):
            waveform = waveform / float(np.iinfo(waveform.dtype).max + 1)
        if waveform.ndim == 2:
            waveform = waveform.mean(axis=int(np.argmin(waveform.shape)))
        if waveform.ndim != 1:
            raise ValueError(f"a waveform must be 1-D (mono) or 2-D (with channels), got shape {waveform.shape}")
        if waveform.size == 0:
            raise ValueError("the waveform is empty")
        if not np.isfinite(waveform).all():
            raise ValueError("the waveform has NaN or infinite samples")
        if waveform.size < math.ceil(self.min_duration * sampling_rate):
            raise ValueError(
                f"the waveform is too short: {waveform.size / sampling_rate:.3f} s, "
                f"at least {self.min_duration} s needed"
            )
        rms = float(np.sqrt(np.mean(np.square(waveform, dtype=np.float64))))
        if rms < self.min_rms:
            raise ValueError(f"the waveform is silent (RMS {rms:.2g} < min_rms {self.min_rms:g})")
        if sampling_rate != self.sampling_rate:
            divisor = math.gcd(int(sampling_rate), self.sampling_rate)
            waveform = resample_poly(waveform, self.sampling_rate // divisor, int(sampling_rate) // divisor)
        return waveform.astype(np.float32)

    def __call__(
        self,
        raw_speech: np.ndarray | Sequence[np.ndarray],
        sampling_rate: int | Sequence[int] | None = None,
        return_tensors: str | None = None,
        **kwargs,
    ) -> BatchFeature:
        r"""
        Extract one feature vector per waveform.

        Args:
            raw_speech (`np.ndarray` or list of `np.ndarray`):
                One waveform or a list of waveforms, each 1-D (mono) or 2-D (with channels).
            sampling_rate (`int` or list of `int`):
                Sampling rate of the waveforms, one for all or one per waveform. Required.
            return_tensors (`str`, *optional*):
                `"pt"` or `"np"`; lists of floats when unset.

        Returns:
            [`BatchFeature`] with `audio_features` of shape (number of waveforms, feature_size).
        """
        if kwargs:
            raise ValueError(f"unexpected arguments: {sorted(kwargs)}")
        if sampling_rate is None:
            raise ValueError("`sampling_rate` is required: the rate of the given waveforms")
        is_single = isinstance(raw_speech, np.ndarray) and raw_speech.ndim == 1
        waveforms = [raw_speech] if is_single else list(raw_speech)
        rates = list(sampling_rate) if isinstance(sampling_rate, Sequence) else [sampling_rate] * len(waveforms)
        if len(rates) != len(waveforms):
            raise ValueError(f"got {len(waveforms)} waveforms but {len(rates)} sampling rates")
        prepared = []
        for index, (waveform, rate) in enumerate(zip(waveforms, rates)):
            try:
                prepared.append(self.prepare_waveform(waveform, rate))
            except ValueError as error:
                raise ValueError(f"audio item {index}: {error}") from None
        features = self.encode(prepared)
        return BatchFeature({"audio_features": features}, tensor_type=return_tensors)

    def encode(self, waveforms: list[np.ndarray]) -> np.ndarray:
        """Feature vectors of waveforms already prepared by `prepare_waveform`.

        Shapes: K waveforms (samples,) -> (K, feature_size) float32
        """
        if self.audio_model is not None:
            features = self.encode_with_model(waveforms)
        else:
            smile = load_opensmile(self.feature_set)
            features = (
                np.stack([smile.process_signal(w, self.sampling_rate).to_numpy(np.float32)[0] for w in waveforms])
                if waveforms
                else np.zeros((0, self.feature_size), dtype=np.float32)
            )
        if features.shape[1] != self.feature_size:
            raise ValueError(
                f"the audio features have size {features.shape[1]}, but `feature_size` is {self.feature_size}"
            )
        bad = np.flatnonzero(~np.isfinite(features).all(axis=1))
        if bad.size:
            raise ValueError(f"non-finite audio features for audio item(s) {bad.tolist()}: is the audio too short?")
        return features

    def encode_with_model(self, waveforms: list[np.ndarray]) -> np.ndarray:
        """Time-mean of the audio model's last hidden state, one waveform at a time so that no padding enters it.

        Shapes: K waveforms (samples,) -> (K, hidden_size) float32
        """
        extractor, model = load_audio_model(self.audio_model)
        features = np.zeros((len(waveforms), self.feature_size), dtype=np.float32)
        with torch.inference_mode():
            for index, waveform in enumerate(waveforms):
                inputs = extractor(waveform, sampling_rate=self.sampling_rate, return_tensors="pt")
                hidden_states = model(**inputs.to(model.device)).last_hidden_state  # (1, frames, hidden)
                features[index] = hidden_states.mean(dim=1)[0].float().cpu().numpy()
        return features


__all__ = ["SyncTVAFeatureExtractor", "load_waveform"]
