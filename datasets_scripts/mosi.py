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
"""CMU-MOSI from the bc-LSTM CSV release: videos as dialogues, binary sentiment, text/audio/video features."""

import csv
import os
from pathlib import Path

import datasets
import numpy as np
import pandas as pd

from .paths import DATA_DIR_HINT, resolve_data_dir
from .schema import MOSI_SENTIMENTS, SPLITS, VECTORS, build_dataset_dict, carve_validation, dialogue_features


MOSI_CSV_DIR = os.path.join("mosi", "csv")
MOSI_SIZES = {"text": 100, "audio": 73, "visual": 100}


def _numbers(path: Path, columns: int) -> np.ndarray:
    table = pd.read_csv(path, header=None, dtype=np.float64).to_numpy()
    if table.shape[1] != columns:
        raise ValueError(f"{path}: expected {columns} columns per row, found {table.shape[1]}")
    return table


def _read_transcripts(path: Path) -> list[tuple[str, str, int]]:
    with open(path, encoding="utf-8", newline="") as file:
        return [(utterance_id, text, int(label)) for utterance_id, text, _video_no, label in csv.reader(file)]


def _split_utterances(folder: Path, split: str, transcripts: list) -> dict[str, list[tuple[int, dict]]]:
    """Return video -> [(utterance number, utterance)] for one bc-LSTM split, checking the files agree.

    Row i of `text_{split}.csv` is `transcripts.csv` row `text_{split}.csv[i, 0]` followed by the text
    features; row i of `audio_{split}0.csv` and `video_{split}0.csv` is the same utterance, with its
    label last.
    """
    text = _numbers(folder / f"text_{split}.csv", 1 + MOSI_SIZES["text"])
    audio = _numbers(folder / f"audio_{split}0.csv", MOSI_SIZES["audio"] + 1)
    visual = _numbers(folder / f"video_{split}0.csv", MOSI_SIZES["visual"] + 1)
    if not len(text) == len(audio) == len(visual):
        raise ValueError(
            f"{folder}: {split} files differ in rows: text {len(text)}, audio {len(audio)}, video {len(visual)}"
        )
    videos: dict[str, list[tuple[int, dict]]] = {}
    for row in range(len(text)):
        utterance_id, utterance, label = transcripts[int(text[row, 0])]
        if audio[row, -1] != label or visual[row, -1] != label:
            raise ValueError(f"{folder}: {split} row {row} ({utterance_id}) has labels that disagree across files")
        video, number = utterance_id.rsplit("_", 1)
        videos.setdefault(video, []).append(
            (
                int(number),
                {
                    "utterance": utterance,
                    "label": label,
                    "text_features": text[row, 1:],
                    "audio_features": audio[row, :-1],
                    "visual_features": visual[row, :-1],
                },
            )
        )
    return videos


def _dialogue(video: str, utterances: list[tuple[int, dict]]) -> dict:
    ordered = [utterance for _, utterance in sorted(utterances, key=lambda pair: pair[0])]
    return {
        "dialogue_id": video,
        "speakers": [video] * len(ordered),
        "utterances": [utterance["utterance"] for utterance in ordered],
        "labels": [utterance["label"] for utterance in ordered],
        **{
            column: np.stack([utterance[column] for utterance in ordered]).astype(np.float32)
            for column in ("text_features", "audio_features", "visual_features")
        },
    }


def load_mosi(
    data_dir: str | os.PathLike | None = None, validation_videos: int = 8, seed: int = 0
) -> datasets.DatasetDict:
    """Load CMU-MOSI from `<data_dir>/mosi/csv/` (the bc-LSTM release, 62 train / 31 test videos).

    Each video is a dialogue of one speaker. The validation split is `validation_videos` training videos
    picked by `carve_validation(sorted videos, validation_videos, seed)`; the others stay in train.

    Args:
        data_dir: the data folder; default `default_data_dir()`.
        validation_videos: how many training videos form the validation split.
        seed: seed of that pick.

    Returns:
        `DatasetDict` ordered by video id, utterances by their number n in `<video>_<n>`, with
        `dialogue_id` (the video id), `speakers` (the video id per utterance), `utterances` (transcript,
        upper case), `labels` (0 negative, 1 positive), `text_features` (n, 100), `audio_features` (n, 73)
        and `visual_features` (n, 100). Features are as released (audio and video unnormalised).

    Raises:
        FileNotFoundError: the CSVs are not there.
        ValueError: the files disagree in rows, columns or labels.
    """
    root = resolve_data_dir(data_dir)
    folder = root / MOSI_CSV_DIR if root is not None else None
    if folder is None or not (folder / "transcripts.csv").is_file():
        raise FileNotFoundError(
            f"CMU-MOSI CSVs not found (looked for {folder or MOSI_CSV_DIR}/transcripts.csv). They are the bc-LSTM "
            f"release in github soujanyaporia/multimodal-sentiment-analysis (data/, commit 948cf07); put "
            f"transcripts.csv, text_{{train,test}}.csv and {{audio,video}}_{{train,test}}0.csv in <data_dir>/"
            f"{MOSI_CSV_DIR} and {DATA_DIR_HINT}."
        )
    transcripts = _read_transcripts(folder / "transcripts.csv")
    train = _split_utterances(folder, "train", transcripts)
    test = _split_utterances(folder, "test", transcripts)
    if set(train) & set(test):
        raise ValueError(f"{folder}: videos {sorted(set(train) & set(test))[:5]} are in both train and test")
    train_videos, held_out = carve_validation(sorted(train), validation_videos, seed)
    videos = {"train": train_videos, "validation": held_out, "test": sorted(test)}
    utterances = {**train, **test}
    features = dialogue_features(
        MOSI_SENTIMENTS, text_features=VECTORS, audio_features=VECTORS, visual_features=VECTORS
    )
    rows = {split: [_dialogue(video, utterances[video]) for video in videos[split]] for split in SPLITS}
    return build_dataset_dict(rows, features)
