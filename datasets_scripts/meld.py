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
"""MELD from the official CSVs, optionally joined with MELD.Raw clip paths and a feature pickle."""

import csv
import hashlib
import os
import warnings
from collections import defaultdict
from pathlib import Path
from urllib.error import URLError
from urllib.request import urlopen

import datasets

from modeling_synctva.atomic_files import atomic_write_bytes
from .feature_files import MELD_KEY_OFFSETS, read_meld_features
from .paths import DATA_DIR_HINT, default_data_dir, is_offline
from .schema import (
    MELD_EMOTIONS,
    MELD_SENTIMENTS,
    SPLITS,
    STRINGS,
    VECTORS,
    build_dataset_dict,
    class_labels,
    dialogue_features,
)


MELD_CSV_FILES = {"train": "train_sent_emo.csv", "validation": "dev_sent_emo.csv", "test": "test_sent_emo.csv"}
MELD_CSV_DIR = os.path.join("meld", "csv")

MELD_COMMIT = "2d2011b409d3ca2d7e94460cd007d434b1d0a102"
MELD_CSV_URL = f"https://raw.githubusercontent.com/declare-lab/MELD/{MELD_COMMIT}/data/MELD/{{name}}"
MELD_CSV_SHA256 = {
    "train_sent_emo.csv": "d2fa2d6529cf03cac2989efec05c9b27d8fd2f4c8fc5974c7ae88aa537fa02db",
    "dev_sent_emo.csv": "2e89c6f8aa182d6f62f8c6331aece905ac7273ca4999660bfb5213e1d0370c1c",
    "test_sent_emo.csv": "8d37103938f7067600839fe29d5a114a6cd1bcdafb75bec101e06464c5006888",
}
"""The UTF-8 CSVs of declare-lab/MELD at `MELD_COMMIT` (last changed 2020-11-15)."""

MELD_CLIP_FOLDERS = {
    "train": ("train_splits", "train/train_splits"),
    "validation": ("dev_splits_complete", "dev/dev_splits_complete"),
    "test": ("output_repeated_splits_test", "test/output_repeated_splits_test"),
}
"""Where each split's `dia{D}_utt{U}.mp4` clips sit inside an unpacked MELD.Raw folder (either form)."""

_MISSING_CSV_HELP = (
    "The MELD CSVs (train_sent_emo.csv, dev_sent_emo.csv, test_sent_emo.csv) are in the declare-lab/MELD "
    "repository, https://github.com/declare-lab/MELD, folder data/MELD. Put them in <data_dir>/"
    f"{MELD_CSV_DIR} and {DATA_DIR_HINT}."
)


def download_cache_dir() -> Path:
    """Return the folder downloaded MELD CSVs go to: `$HF_DATASETS_CACHE/synctva/meld/csv`."""
    cache = os.environ.get("HF_DATASETS_CACHE") or datasets.config.HF_DATASETS_CACHE
    return Path(cache) / "synctva" / MELD_CSV_DIR


def _has_csvs(folder: Path) -> bool:
    return all((folder / name).is_file() for name in MELD_CSV_FILES.values())


def download_meld_csvs(folder: Path) -> None:
    """Download the three CSVs from `MELD_CSV_URL` into `folder`, checking `MELD_CSV_SHA256`.

    Each file is written to a temporary name and renamed, so an interrupted download leaves no partial CSV.

    Raises:
        FileNotFoundError: the download failed (no network, or an HTTP error).
        ValueError: a downloaded file does not have the expected sha256.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for name in MELD_CSV_FILES.values():
        url = MELD_CSV_URL.format(name=name)
        try:
            with urlopen(url, timeout=60) as response:
                content = response.read()
        except (URLError, OSError) as error:
            raise FileNotFoundError(f"could not download {url} ({error}). {_MISSING_CSV_HELP}") from error
        digest = hashlib.sha256(content).hexdigest()
        if digest != MELD_CSV_SHA256[name]:
            raise ValueError(f"{url} has sha256 {digest}, expected {MELD_CSV_SHA256[name]}")
        atomic_write_bytes(folder / name, content)


def meld_csv_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """Return the folder that holds the three MELD CSVs.

    With `data_dir`, it must hold `meld/csv/`. Without it: the copy under `default_data_dir()`, else an
    earlier download in `download_cache_dir()`, else a fresh download there, unless offline
    (HF_HUB_OFFLINE / HF_DATASETS_OFFLINE).

    Raises:
        FileNotFoundError: no copy was found and none could be downloaded; the message says where to get it.
    """
    if data_dir is not None:
        folder = Path(data_dir) / MELD_CSV_DIR
        if not _has_csvs(folder):
            raise FileNotFoundError(f"MELD CSVs not found in {folder}. {_MISSING_CSV_HELP}")
        return folder
    default = default_data_dir()
    if default is not None and _has_csvs(default / MELD_CSV_DIR):
        return default / MELD_CSV_DIR
    cache = download_cache_dir()
    if not _has_csvs(cache):
        if is_offline():
            raise FileNotFoundError(f"MELD CSVs not found and downloads are off (offline mode). {_MISSING_CSV_HELP}")
        download_meld_csvs(cache)
    return cache


def read_meld_csv(path: Path) -> list[dict]:
    """Read one official MELD CSV as dialogues.

    Returns:
        One dict per dialogue, ordered by Dialogue_ID, with `dialogue_id` (the Dialogue_ID as a string)
        and, ordered by Utterance_ID, `speakers`, `utterances` (the CSV's text exactly), `labels` and
        `sentiment` (class indices) and `utterance_ids`.

    Raises:
        ValueError: the file is not UTF-8, lacks a column, or has an unknown emotion or sentiment.
    """
    by_dialogue = defaultdict(list)
    try:
        with open(path, encoding="utf-8", newline="") as file:
            reader = csv.DictReader(file)
            missing = {"Utterance", "Speaker", "Emotion", "Sentiment", "Dialogue_ID", "Utterance_ID"}.difference(
                reader.fieldnames or ()
            )
            if missing:
                raise ValueError(f"{path} lacks the MELD columns {sorted(missing)}")
            for record in reader:
                by_dialogue[int(record["Dialogue_ID"])].append(record)
    except UnicodeDecodeError as error:
        raise ValueError(
            f"{path} is not UTF-8 ({error}); it may be the cp1252 release from before November 2020. "
            f"{_MISSING_CSV_HELP}"
        ) from error

    def index(names, value, record) -> int:
        if value not in names:
            raise ValueError(f"{path}: row {record['Sr No.']!r} has {value!r}, expected one of {names}")
        return names.index(value)

    dialogues = []
    for dialogue_id in sorted(by_dialogue):
        records = sorted(by_dialogue[dialogue_id], key=lambda record: int(record["Utterance_ID"]))
        dialogues.append(
            {
                "dialogue_id": str(dialogue_id),
                "speakers": [record["Speaker"] for record in records],
                "utterances": [record["Utterance"] for record in records],
                "labels": [index(MELD_EMOTIONS, record["Emotion"], record) for record in records],
                "sentiment": [index(MELD_SENTIMENTS, record["Sentiment"], record) for record in records],
                "utterance_ids": [int(record["Utterance_ID"]) for record in records],
            }
        )
    return dialogues


def _clip_folders(clips_dir: str | os.PathLike) -> dict[str, Path | None]:
    root = Path(clips_dir).resolve()
    folders = {
        split: next((root / name for name in names if (root / name).is_dir()), None)
        for split, names in MELD_CLIP_FOLDERS.items()
    }
    if not any(folders.values()):
        expected = ", ".join(name for names in MELD_CLIP_FOLDERS.values() for name in names)
        raise FileNotFoundError(f"{root} holds no MELD.Raw clip folder; expected one of: {expected}")
    return folders


def _add_clips(split: str, dialogues: list[dict], folder: Path | None) -> None:
    missing = total = 0
    for dialogue in dialogues:
        dialogue["clips"] = []
        for utterance_id in dialogue["utterance_ids"]:
            clip = folder / f"dia{dialogue['dialogue_id']}_utt{utterance_id}.mp4" if folder else None
            found = clip is not None and clip.is_file()
            dialogue["clips"].append(str(clip) if found else "")
            missing += not found
            total += 1
    if missing:
        warnings.warn(
            f"MELD {split}: {missing} of {total} clips not found in {folder}; their `clips` entries are ''",
            stacklevel=3,
        )


def _add_features(split: str, dialogues: list[dict], table) -> None:
    for dialogue in dialogues:
        key = int(dialogue["dialogue_id"]) + MELD_KEY_OFFSETS[split]
        record = table.dialogues.get(key)
        if record is None or record["labels"] != dialogue["labels"]:
            problem = "is missing" if record is None else "has labels that differ from the CSV's"
            raise ValueError(
                f"features_file: dialogue key {key} (MELD {split} Dialogue_ID {dialogue['dialogue_id']}) {problem}; "
                f"the file must follow the conv-emotion key convention (Dialogue_ID + {MELD_KEY_OFFSETS})"
            )
        for modality in table.sizes:
            dialogue[f"{modality}_features"] = record[f"{modality}_features"]


def load_meld(
    data_dir: str | os.PathLike | None = None,
    clips_dir: str | os.PathLike | None = None,
    features_file: str | os.PathLike | None = None,
) -> datasets.DatasetDict:
    """Load MELD from the official CSVs (train, dev as `validation`, test).

    Args:
        data_dir: folder holding `meld/csv/{train,dev,test}_sent_emo.csv`; see `meld_csv_dir` for what
            happens without it (default copy, then download from declare-lab/MELD).
        clips_dir: an unpacked MELD.Raw folder (holding `train_splits`, `dev_splits_complete`,
            `output_repeated_splits_test`, directly or under `train/`, `dev/`, `test/`). Adds `clips`:
            the absolute path of each utterance's `dia{D}_utt{U}.mp4`, or "" where the clip is absent
            (MELD.Raw lacks a few); a warning gives the count per split.
        features_file: a MELD feature pickle (see `feature_files.MELD_LAYOUTS`) whose per-utterance
            features are joined by dialogue key and position; every dialogue must be present with the
            same emotion labels, which guards the alignment.

    Returns:
        `DatasetDict` of 1038 / 114 / 280 dialogues (9989 / 1109 / 2610 utterances) ordered by
        Dialogue_ID, utterances by Utterance_ID, with `dialogue_id`, `speakers` (names), `utterances`,
        `labels` (7 emotions), `sentiment` (neutral / positive / negative), `utterance_ids` (int32);
        plus `clips` and `text_features` (n, 600 or 1024), `audio_features` (n, 300),
        `visual_features` (n, 342) when asked for.

    Raises:
        FileNotFoundError: the CSVs could not be found or downloaded, or `clips_dir` holds no clip folder.
        ValueError: a CSV or the feature file does not match what is expected.
    """
    folder = meld_csv_dir(data_dir)
    rows = {split: read_meld_csv(folder / MELD_CSV_FILES[split]) for split in SPLITS}
    extra = {"sentiment": class_labels(MELD_SENTIMENTS), "utterance_ids": datasets.List(datasets.Value("int32"))}
    if clips_dir is not None:
        clip_folders = _clip_folders(clips_dir)
        for split in SPLITS:
            _add_clips(split, rows[split], clip_folders[split])
        extra["clips"] = STRINGS
    if features_file is not None:
        table = read_meld_features(features_file)
        for split in SPLITS:
            _add_features(split, rows[split], table)
        extra.update({f"{modality}_features": VECTORS for modality in table.sizes})
    return build_dataset_dict(rows, dialogue_features(MELD_EMOTIONS, **extra))
