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
"""Encode every utterance of a dataset once and cache the vectors, so that training reads features, not encoders.

Text features are the mean of the text encoder's last hidden state over the utterance's tokens (the pooling
`SyncTVAModel.encode_text` uses); audio features come from `SyncTVAFeatureExtractor` (openSMILE eGeMAPSv02 by
default). Each (dataset, split, modality) is cached under `cache_dir` as one safetensors file whose name is a hash
of everything the vectors depend on: the encoder's identity (id or path, and its revision or the names and sizes of
its files), the pooling, the maximum length and the utterances (or clips) themselves.

    python -m datasets_scripts.extract_features --dataset meld --split train --cache-dir cache/features
"""

import argparse
import hashlib
import json
import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path

import datasets
import numpy as np
import torch
from safetensors.numpy import load_file, save_file
from tqdm.auto import tqdm
from transformers import AutoModel, AutoTokenizer
from transformers.utils import cached_file

from modeling_synctva.feature_extraction_synctva import SyncTVAFeatureExtractor, load_waveform
from modeling_synctva.modeling_synctva import mean_pool
from modeling_synctva.processing_synctva import default_text_encoder

from modeling_synctva.atomic_files import atomic_write
from .loaders import LOADERS
from .schema import VECTORS


POOLING = "mean"
ENCODER_FILE_SUFFIXES = (".json", ".safetensors", ".bin", ".txt", ".model")


def default_cache_dir() -> Path:
    """`$SYNCTVA_FEATURE_CACHE`, else `$HF_HOME/synctva/features` (HF_HOME defaulting to ~/.cache/huggingface)."""
    if os.environ.get("SYNCTVA_FEATURE_CACHE"):
        return Path(os.environ["SYNCTVA_FEATURE_CACHE"])
    hf_home = os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface"
    return Path(hf_home) / "synctva" / "features"


def encoder_identity(name_or_path: str) -> dict:
    """What identifies an encoder's weights without loading them: for a local folder its absolute path and the names
    and sizes of its config, vocabulary and weight files; for a Hub id, the id and the resolved commit."""
    if os.path.isdir(name_or_path):
        files = sorted(
            (entry.name, entry.stat().st_size)
            for entry in os.scandir(name_or_path)
            if entry.is_file() and entry.name.endswith(ENCODER_FILE_SUFFIXES)
        )
        return {"encoder": os.path.abspath(name_or_path), "files": files}
    config_file = cached_file(name_or_path, "config.json")  # .../snapshots/<commit>/config.json
    return {"encoder": name_or_path, "revision": Path(config_file).parent.name}


def cache_path(cache_dir: Path, dataset_name: str, split: str, modality: str, key_parts: dict) -> Path:
    """The cache file of one (dataset, split, modality): `<cache_dir>/<dataset>/<split>/<modality>-<hash>.safetensors`,
    the hash over `key_parts`."""
    digest = hashlib.sha256(json.dumps(key_parts, sort_keys=True).encode()).hexdigest()[:24]
    return cache_dir / dataset_name / split / f"{modality}-{digest}.safetensors"


def read_cache(path: Path, lengths: np.ndarray) -> np.ndarray | None:
    """The cached (utterances, dim) array at `path`, or None when absent or not for these dialogue lengths."""
    if not path.is_file():
        return None
    tensors = load_file(path)
    return tensors["features"] if np.array_equal(tensors["lengths"], lengths) else None


def write_cache(path: Path, features: np.ndarray, lengths: np.ndarray, metadata: dict) -> None:
    """Write the cache file atomically (`atomic_write`): a crash leaves no partial file."""
    tensors = {"features": features, "lengths": lengths}
    atomic_write(path, lambda temporary: save_file(tensors, temporary, metadata={k: str(v) for k, v in metadata.items()}))


def load_text_encoder(name_or_path: str, device: str) -> tuple:
    """The tokenizer and the encoder (in eval mode, on `device`) of a text model given by Hub id or local folder."""
    return AutoTokenizer.from_pretrained(name_or_path), AutoModel.from_pretrained(name_or_path).to(device).eval()


def encode_texts(texts: list[str], tokenizer, model, batch_size: int, max_length: int, desc: str, bf16: bool = False) -> np.ndarray:
    """Mean-pooled last hidden states of `texts`, in batches of similar length (less padding, same result), under
    bfloat16 autocast where `bf16`.

    Shapes: K texts -> (K, hidden_size) float32
    """
    features = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
    order = np.argsort([len(text) for text in texts], kind="stable")
    with torch.inference_mode(), torch.autocast(model.device.type, dtype=torch.bfloat16, enabled=bf16):
        for start in tqdm(range(0, len(texts), batch_size), desc=desc, unit="batch"):
            batch = order[start : start + batch_size]
            inputs = tokenizer(
                [texts[i] for i in batch], padding=True, truncation=True, max_length=max_length, return_tensors="pt"
            ).to(model.device)
            hidden_states = model(**inputs).last_hidden_state
            features[batch] = mean_pool(hidden_states, inputs["attention_mask"]).float().cpu().numpy()
    return features


def encode_audio(clips: list, extractor: SyncTVAFeatureExtractor, positions: list, desc: str) -> np.ndarray:
    """Audio feature vectors of `clips`, one at a time; an error names the dialogue and utterance of the clip.

    Shapes: K clips -> (K, extractor.feature_size) float32
    """
    features = np.zeros((len(clips), extractor.feature_size), dtype=np.float32)
    for index, clip in enumerate(tqdm(clips, desc=desc, unit="clip")):
        try:
            features[index] = extractor.encode([extractor.prepare_waveform(*load_waveform(clip))])[0]
        except ValueError as error:
            dialogue, utterance = positions[index]
            raise ValueError(f"row {dialogue}, utterance {utterance} ({clip}): {error}") from None
    return features


def is_present(value) -> bool:
    """Whether a text or clip entry holds something: the schema writes "" (or None) where the source has none."""
    return value is not None and not (isinstance(value, str) and not value.strip())


def clip_fingerprint(clip) -> list:
    """What identifies a clip's content: a file's path, size and modification time, or a hash of inline audio."""
    if isinstance(clip, Mapping) and "array" not in clip and clip.get("bytes") is None:
        clip = clip.get("path")  # an undecoded `datasets.Audio` value
    if isinstance(clip, (str, os.PathLike)):
        if not os.path.isfile(clip):
            raise ValueError(f"audio file not found: {clip}")
        stat = os.stat(clip)
        return [os.path.abspath(clip), stat.st_size, stat.st_mtime_ns]
    waveform, sampling_rate = load_waveform(clip)
    return [hashlib.sha256(np.ascontiguousarray(waveform).tobytes()).hexdigest(), int(sampling_rate)]


def dialogue_lengths(rows: list) -> np.ndarray:
    """The number of utterances of each dialogue. Shapes: B rows -> (B,)"""
    return np.array([len(row) for row in rows], dtype=np.int64)


def split_by_dialogue(features: np.ndarray, rows: list) -> list[list[list[float]]]:
    """Per dialogue, its utterances' vectors. Shapes: (sum n_b, D), B rows of n_b utterances -> B lists of (n_b, D)"""
    return [part.tolist() for part in np.split(features, np.cumsum(dialogue_lengths(rows))[:-1])]


def resolve_audio(audio) -> SyncTVAFeatureExtractor | None:
    """The audio extractor for the `audio` option: an extractor as given, True for openSMILE eGeMAPSv02, a string
    for that audio model (Hub id or local folder), False or None for none."""
    if audio is None or audio is False:
        return None
    if audio is True:
        return SyncTVAFeatureExtractor()
    if isinstance(audio, str):
        return SyncTVAFeatureExtractor.from_audio_model(audio)
    if isinstance(audio, SyncTVAFeatureExtractor):
        return audio
    raise ValueError(
        f"`audio` must be a bool, an audio model id or a SyncTVAFeatureExtractor, got {type(audio).__name__}"
    )


def extract_dataset_features(
    dataset_dict: datasets.DatasetDict,
    text_encoder: str | None = None,
    audio: bool | str | SyncTVAFeatureExtractor | None = None,
    cache_dir: str | os.PathLike | None = None,
    dataset_name: str = "dataset",
    text_column: str = "utterances",
    audio_column: str | None = None,
    batch_size: int = 64,
    max_length: int = 128,
    device: str | None = None,
    overwrite: bool = False,
    bf16: bool = False,
) -> datasets.DatasetDict:
    """Add `text_features` (and `audio_features`) to every split: one float32 vector per utterance.

    Args:
        dataset_dict: dialogues, one per row, with a list of utterance strings in `text_column`.
        text_encoder: Hub id or local folder of the text encoder; `default_text_encoder()` (MiniLM) when unset.
        audio: audio features from `audio_column`: None extracts openSMILE eGeMAPSv02 when that column exists,
            True requires it, a string names an audio model, an extractor is used as given, False skips audio.
        cache_dir: where the vectors are cached; `default_cache_dir()` when unset.
        dataset_name: the dataset's name in the cache layout.
        audio_column: per utterance a clip (path, `(waveform, rate)` pair or `datasets.Audio` value; "" or None
            where absent); `clips`, else `audio`, when unset.
        batch_size, max_length: utterances per encoder call, and tokens kept per utterance.
        device: where the text encoder runs; CUDA when available.
        bf16: run the text encoder under bfloat16 autocast (a separate cache entry).
        overwrite: replace `text_features` / `audio_features` columns the dataset already has.

    Returns:
        The `DatasetDict` with `text_features` (rows of (n, hidden_size)) and, with audio, `audio_features`
        (rows of (n, feature_size)), both `List(List(float32))`. Utterances without text or clip get zeros:
        presence is `utterance != ""` and `clip != ""`.

    Raises:
        ValueError: a feature column exists and `overwrite` is False, `audio` is True without an audio column, or
            a clip cannot be read or is empty, silent or too short (the message names the row and utterance).
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    text_encoder = text_encoder or default_text_encoder()
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    columns = next(iter(dataset_dict.values())).column_names
    audio_column = audio_column or next((c for c in ("clips", "audio") if c in columns), None)
    if audio is True and audio_column is None:
        raise ValueError(f"`audio=True` but the dataset has no `clips` or `audio` column (columns: {columns})")
    extractor = resolve_audio(True if audio is None and audio_column else audio)
    existing = [c for c in ("text_features", "audio_features") if c in columns and (c == "text_features" or extractor)]
    if existing and not overwrite:
        raise ValueError(f"the dataset already has {existing}: pass `overwrite=True` to replace them")

    text_key = {**encoder_identity(text_encoder), "pooling": POOLING, "max_length": max_length}
    if bf16:
        text_key["autocast"] = "bfloat16"
    # loaded on the first cache miss only, then shared by the splits
    encoder = cache(lambda: load_text_encoder(text_encoder, device))
    result = {}
    for split, dataset in dataset_dict.items():
        location = (cache_dir, dataset_name, split)
        rows = dataset[text_column]
        features = cached_text_features(rows, encoder, text_key, location, batch_size, max_length)
        dataset = dataset.remove_columns(existing)
        dataset = dataset.add_column("text_features", split_by_dialogue(features, rows), feature=VECTORS)
        if extractor:
            features = cached_audio_features(dataset[audio_column], rows, extractor, location)
            dataset = dataset.add_column("audio_features", split_by_dialogue(features, rows), feature=VECTORS)
        result[split] = dataset
    return datasets.DatasetDict(result)


def cached_text_features(rows: list, encoder, key: dict, location: tuple, batch_size: int, max_length: int):
    """The text vectors of one split's utterances, from the cache or encoded and cached; zeros where there is no text.

    Shapes: B rows of n_b utterances -> (sum n_b, hidden_size)
    """
    lengths = dialogue_lengths(rows)
    texts = [text for row in rows for text in row]
    path = cache_path(*location, "text", {**key, "texts": texts})
    features = read_cache(path, lengths)
    if features is None:
        present = [i for i, text in enumerate(texts) if is_present(text)]
        tokenizer, model = encoder()
        encoded = encode_texts(
            [texts[i] for i in present], tokenizer, model, batch_size, max_length, f"{location[2]} text",
            bf16=key.get("autocast") == "bfloat16",
        )
        features = np.zeros((len(texts), encoded.shape[1]), dtype=np.float32)
        features[present] = encoded
        write_cache(path, features, lengths, {"encoder": key["encoder"], "pooling": POOLING, "max_length": max_length})
    return features


def cached_audio_features(clip_rows: list, rows: list, extractor: SyncTVAFeatureExtractor, location: tuple):
    """The audio vectors of one split's clips, from the cache or extracted and cached; zeros where there is no clip.

    Shapes: B rows of n_b clips -> (sum n_b, extractor.feature_size)
    """
    lengths = dialogue_lengths(rows)
    if dialogue_lengths(clip_rows).tolist() != lengths.tolist():
        raise ValueError(f"{location[2]}: the clips must have one entry per utterance in every row")
    clips = [clip for row in clip_rows for clip in row]
    positions = [(b, n) for b, row in enumerate(rows) for n in range(len(row))]
    key = json.loads(extractor.to_json_string())
    if extractor.audio_model:
        key["audio_model"] = encoder_identity(extractor.audio_model)
    key["clips"] = [clip_fingerprint(clip) if is_present(clip) else None for clip in clips]
    path = cache_path(*location, "audio", key)
    features = read_cache(path, lengths)
    if features is None:
        present = [i for i, clip in enumerate(clips) if is_present(clip)]
        encoded = encode_audio(
            [clips[i] for i in present], extractor, [positions[i] for i in present], f"{location[2]} audio"
        )
        features = np.zeros((len(clips), extractor.feature_size), dtype=np.float32)
        features[present] = encoded
        write_cache(path, features, lengths, {"extractor": extractor.to_json_string()})
    return features


def main(argv: list[str] | None = None) -> None:
    """Command line: load a dataset with its loader, extract and cache its features, optionally save the result."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", required=True, choices=sorted(LOADERS))
    parser.add_argument("--split", action="append", help="a split to encode (repeatable); all splits when unset")
    parser.add_argument("--data-dir", help="the data folder (see datasets_scripts.paths)")
    parser.add_argument("--clips-dir", help="MELD only: an unpacked MELD.Raw folder, for audio features")
    parser.add_argument("--text-encoder", help="Hub id or local folder; the MiniLM sentence encoder when unset")
    parser.add_argument(
        "--audio", choices=("auto", "none", "egemaps"), default="auto", help="audio features from clips"
    )
    parser.add_argument("--audio-model", help="Hub id or local folder of an audio encoder, instead of eGeMAPS")
    parser.add_argument("--cache-dir", help="where features are cached; see default_cache_dir()")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--overwrite", action="store_true", help="replace feature columns the dataset already has")
    parser.add_argument("--save-to", help="save the DatasetDict with the new columns to this folder")
    args = parser.parse_args(argv)

    loader_kwargs = {"data_dir": args.data_dir}
    if args.clips_dir:
        loader_kwargs["clips_dir"] = args.clips_dir
    dataset_dict = LOADERS[args.dataset](**loader_kwargs)
    if args.split:
        unknown = set(args.split) - set(dataset_dict)
        if unknown:
            parser.error(f"unknown split(s) {sorted(unknown)}; {args.dataset} has {list(dataset_dict)}")
        dataset_dict = datasets.DatasetDict({split: dataset_dict[split] for split in args.split})
    audio = args.audio_model or {"auto": None, "none": False, "egemaps": True}[args.audio]
    dataset_dict = extract_dataset_features(
        dataset_dict,
        text_encoder=args.text_encoder,
        audio=audio,
        cache_dir=args.cache_dir,
        dataset_name=args.dataset,
        batch_size=args.batch_size,
        max_length=args.max_length,
        overwrite=args.overwrite,
    )
    print(dataset_dict)
    if args.save_to:
        dataset_dict.save_to_disk(args.save_to)


if __name__ == "__main__":
    main()
