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
"""Read the audio/visual/text feature pickles that users of published ERC systems have.

These files hold a list of per-dialogue dicts (key -> one entry per utterance) and two id lists,
`trainVid` and `testVid`. Which item is which is fixed by the releasing code; the layouts below follow
the public data loaders of each system, and the item count tells them apart. Sizes are checked
for every dialogue, so a file of another shape is refused instead of silently misread.
"""

import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import datasets
import numpy as np

from modeling_synctva.configuration_synctva import MODALITIES

from .iemocap import IEMOCAP_VALID_IDS
from .safe_pickle import restricted_load
from .schema import (
    IEMOCAP_EMOTIONS,
    MELD_EMOTIONS,
    MELD_SENTIMENTS,
    SPLITS,
    VECTORS,
    build_dataset_dict,
    carve_validation,
    class_labels,
    dialogue_features,
    speaker_name,
)


ROLES = {
    "videoSpeakers": "speakers",
    "videoLabels": "labels",
    "videoSentiments": "sentiment",
    "videoText": "text",
    "videoText0": "text",  # of the four RoBERTa layers in the multimodal files, the first
    "videoAudio": "audio",
    "videoVisual": "visual",
    "videoSentence": "sentences",
    "trainVid": "train",
    "testVid": "test",
}
"""What each item of a layout is used for; items not named here (videoIDs, other layers) are ignored."""


@dataclass(frozen=True)
class Layout:
    """One published file layout: its items in order, and the accepted feature sizes per modality."""

    name: str
    items: tuple[str, ...]
    sizes: tuple[dict[str, int], ...]

    def describe(self) -> str:
        variants = " or ".join(", ".join(f"{m} {d}" for m, d in sizes.items()) for sizes in self.sizes)
        return f"{self.name} ({len(self.items)} items; per-utterance feature sizes {variants})"


MELD_LAYOUTS = (
    Layout(
        "MELD_features_raw.pkl of bc-LSTM (conv-emotion), no visual",
        ("videoIDs", "videoSpeakers", "videoLabels", "videoText", "videoAudio", "videoSentence",
         "trainVid", "testVid", "videoSentiments"),
        ({"text": 600, "audio": 300},),
    ),
    Layout(
        "MELD_features_raw.pkl / MELD_features_raw1.pkl (DialogueRNN, MMGCN, MM-DFN)",
        ("videoIDs", "videoSpeakers", "videoLabels", "videoText", "videoAudio", "videoVisual", "videoSentence",
         "trainVid", "testVid", "videoSentiments"),
        ({"text": 600, "audio": 300, "visual": 342},),
    ),
    Layout(
        "meld_multimodal_features.pkl (M3Net, GraphSmile, SDT)",
        ("videoIDs", "videoSpeakers", "videoLabels", "videoSentiments", "videoText0", "videoText1", "videoText2",
         "videoText3", "videoAudio", "videoVisual", "videoSentence", "trainVid", "testVid", "unused"),
        ({"text": 1024, "audio": 300, "visual": 342},),
    ),
)  # fmt: skip

IEMOCAP_LAYOUTS = (
    Layout(
        "IEMOCAP_features.pkl (DialogueGCN, MMGCN)",
        ("videoIDs", "videoSpeakers", "videoLabels", "videoText", "videoAudio", "videoVisual", "videoSentence",
         "trainVid", "testVid"),
        ({"text": 100, "audio": 100, "visual": 512}, {"text": 100, "audio": 1582, "visual": 342},
         {"text": 1024, "audio": 1582, "visual": 342}),
    ),
    Layout(
        "iemocap_multimodal_features.pkl (M3Net, GraphSmile, SDT)",
        ("videoIDs", "videoSpeakers", "videoLabels", "videoText0", "videoText1", "videoText2", "videoText3",
         "videoAudio", "videoVisual", "videoSentence", "trainVid", "testVid"),
        ({"text": 1024, "audio": 1582, "visual": 342},),
    ),
)  # fmt: skip

MELD_KEY_OFFSETS = {"train": 0, "validation": 1039, "test": 1153}
"""conv-emotion keys of MELD dialogues: CSV Dialogue_ID plus this offset per split (as in COSMIC's meld.pkl)."""

MELD_DEV_KEYS = range(MELD_KEY_OFFSETS["validation"], MELD_KEY_OFFSETS["test"])
"""Keys of the official MELD dev dialogues, which these files fold into `trainVid`."""


@dataclass
class FeatureTable:
    """A feature pickle read and checked: per dialogue key, its per-utterance columns.

    `dialogues[key]` holds `speakers`, `utterances`, `labels` (and `sentiment` for MELD) as lists, and
    `<modality>_features` as (n_utterances, size) float32 arrays.
    """

    layout: Layout
    sizes: dict[str, int]
    dialogues: dict[Any, dict[str, Any]]
    train_keys: list
    test_keys: list


def _match_layout(items: Any, layouts: Sequence[Layout], path) -> Layout:
    by_length = {len(layout.items): layout for layout in layouts}
    if not isinstance(items, (list, tuple)) or len(items) not in by_length:
        found = f"a list of {len(items)} items" if isinstance(items, (list, tuple)) else type(items).__name__
        expected = "; ".join(layout.describe() for layout in layouts)
        raise ValueError(f"{path}: expected one of: {expected}. Found {found}.")
    return by_length[len(items)]


def read_feature_pickle(path: str | os.PathLike, layouts: Sequence[Layout], label_names) -> FeatureTable:
    """Read a feature pickle of one of `layouts` (chosen by item count) and check every dialogue.

    Returns:
        A `FeatureTable` covering the dialogues of `trainVid` and `testVid`.

    Raises:
        ValueError: the file is of none of the layouts, its feature sizes are not an accepted variant,
            a dialogue's columns differ in length, a dialogue is missing from a column, or a label is
            outside `label_names`. The message says what was expected.
    """
    items = restricted_load(path)
    layout = _match_layout(items, layouts, path)
    columns = {ROLES[name]: item for name, item in zip(layout.items, items) if name in ROLES}
    modalities = [modality for modality in MODALITIES if modality in columns]
    train_keys, test_keys = list(columns.pop("train")), list(columns.pop("test"))
    if set(train_keys) & set(test_keys):
        raise ValueError(
            f"{path}: dialogues {sorted(set(train_keys) & set(test_keys), key=str)[:5]} are in both splits"
        )

    if not train_keys or not test_keys:
        raise ValueError(
            f"{path}: expected non-empty trainVid and testVid, found {len(train_keys)} and {len(test_keys)}"
        )

    def column(role: str, key) -> Any:
        if key not in columns[role]:
            raise ValueError(f"{path}: dialogue {key!r} of the split lists is missing from {role}")
        return columns[role][key]

    first = train_keys[0]
    sizes = {modality: np.shape(column(modality, first))[-1] for modality in modalities}
    if sizes not in layout.sizes:
        raise ValueError(f"{path}: expected {layout.describe()}; dialogue {first!r} has feature sizes {sizes}")

    dialogues = {}
    for key in train_keys + test_keys:
        labels = [int(label) for label in column("labels", key)]
        n = len(labels)
        if any(not 0 <= label < len(label_names) for label in labels):
            raise ValueError(f"{path}: dialogue {key!r} has labels outside 0..{len(label_names) - 1}: {labels}")
        record = {
            "speakers": [speaker_name(entry) for entry in column("speakers", key)],
            "utterances": [str(text) for text in column("sentences", key)],
            "labels": labels,
        }
        if "sentiment" in columns:
            record["sentiment"] = [int(label) for label in column("sentiment", key)]
        for name, values in record.items():
            if len(values) != n:
                raise ValueError(f"{path}: dialogue {key!r} has {n} labels but {len(values)} {name}")
        for modality in modalities:
            array = np.asarray(column(modality, key), dtype=np.float32)
            if array.shape != (n, sizes[modality]):
                raise ValueError(
                    f"{path}: dialogue {key!r}: expected {modality} features of shape ({n}, {sizes[modality]}) "
                    f"(one {sizes[modality]}-vector per utterance), found {array.shape}"
                )
            record[f"{modality}_features"] = array
        dialogues[key] = record
    return FeatureTable(layout, sizes, dialogues, train_keys, test_keys)


def _to_dataset_dict(
    table: FeatureTable,
    features: datasets.Features,
    standard_validation: Collection,
    validation_fraction: float,
    seed: int,
) -> datasets.DatasetDict:
    validation = [key for key in table.train_keys if key in standard_validation]
    if validation:
        train = [key for key in table.train_keys if key not in standard_validation]
    else:
        count = max(1, round(validation_fraction * len(table.train_keys)))
        train, validation = carve_validation(table.train_keys, count, seed)
    keys = {"train": train, "validation": validation, "test": table.test_keys}
    rows = {split: [{"dialogue_id": str(key), **table.dialogues[key]} for key in keys[split]] for split in SPLITS}
    return build_dataset_dict(rows, features)


def _modality_columns(table: FeatureTable) -> dict[str, datasets.List]:
    return {f"{modality}_features": VECTORS for modality in table.sizes}


def read_meld_features(path: str | os.PathLike) -> FeatureTable:
    """Read and check a MELD feature pickle of one of `MELD_LAYOUTS` (keys follow `MELD_KEY_OFFSETS`)."""
    return read_feature_pickle(path, MELD_LAYOUTS, MELD_EMOTIONS)


def load_meld_features(
    path: str | os.PathLike, validation_fraction: float = 0.1, seed: int = 0
) -> datasets.DatasetDict:
    """Load a MELD feature pickle (`MELD_features_raw.pkl`, `meld_multimodal_features.pkl`, ...).

    The files have train and test lists only. Validation is the official dev set: the train keys in
    `MELD_DEV_KEYS` (1039..1152). A file holding none of those keys gets a validation split carved
    from train instead: `round(validation_fraction * n_train)` dialogues (at least 1) picked by
    `carve_validation(..., seed)`.

    Returns:
        `DatasetDict` with `dialogue_id` (the file's key), `speakers` (`speaker_<slot>` from the one-hot
        vectors), `utterances`, `labels` (7 emotions), `sentiment` (neutral / positive / negative), and
        `text_features` (n, 600 or 1024), `audio_features` (n, 300), `visual_features` (n, 342) when the
        file has visual features.

    Raises:
        ValueError: the file is not of a known MELD layout or of its sizes; the message lists them.
    """
    table = read_meld_features(path)
    features = dialogue_features(MELD_EMOTIONS, sentiment=class_labels(MELD_SENTIMENTS), **_modality_columns(table))
    return _to_dataset_dict(table, features, MELD_DEV_KEYS, validation_fraction, seed)


def load_iemocap_features(
    path: str | os.PathLike, validation_fraction: float = 0.1, seed: int = 0
) -> datasets.DatasetDict:
    """Load an IEMOCAP feature pickle (`IEMOCAP_features.pkl` or `iemocap_multimodal_features.pkl`).

    The variant is told apart by its sizes: text 100 / audio 100 / visual 512 (DialogueGCN), text 100 /
    audio 1582 / visual 342 (MMGCN), or text 1024 / audio 1582 / visual 342 (RoBERTa text). Validation
    is the 12 standard dialogues `IEMOCAP_VALID_IDS` taken out of train; a file holding none of them gets
    `round(validation_fraction * n_train)` dialogues carved by `carve_validation(..., seed)`.

    Returns:
        `DatasetDict` with `dialogue_id`, `speakers` ('M' / 'F'), `utterances`, `labels` (hap, sad, neu,
        ang, exc, fru), and `text_features`, `audio_features`, `visual_features` of shape (n, size).

    Raises:
        ValueError: the file is not of a known IEMOCAP layout or of its sizes; the message lists them.
    """
    table = read_feature_pickle(path, IEMOCAP_LAYOUTS, IEMOCAP_EMOTIONS)
    features = dialogue_features(IEMOCAP_EMOTIONS, **_modality_columns(table))
    return _to_dataset_dict(table, features, IEMOCAP_VALID_IDS, validation_fraction, seed)
