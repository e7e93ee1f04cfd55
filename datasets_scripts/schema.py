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
"""The one-example-per-dialogue schema every loader returns, and the helpers that fill it.

An example is one dialogue:

- `dialogue_id` (string)
- `speakers`, `utterances` (one string per utterance; `""` where the source has no text)
- `labels` (one class label per utterance)
- optionally `text_features`, `audio_features`, `visual_features`: one float32 vector per utterance,
  so a dialogue of n utterances holds an (n, dim) array per modality.
"""

import random
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

import datasets
import numpy as np

from modeling_synctva.configuration_synctva import MELD_EMOTIONS


SPLITS = ("train", "validation", "test")

MELD_SENTIMENTS = ("neutral", "positive", "negative")
IEMOCAP_EMOTIONS = ("hap", "sad", "neu", "ang", "exc", "fru")
MOSI_SENTIMENTS = ("negative", "positive")

STRINGS = datasets.List(datasets.Value("string"))
VECTORS = datasets.List(datasets.List(datasets.Value("float32")))
"""Per utterance one float32 vector: a dialogue's (n_utterances, dim) array."""


def class_labels(names: Sequence[str]) -> datasets.List:
    """Return the feature of a per-utterance label sequence over `names` (index i is `names[i]`)."""
    return datasets.List(datasets.ClassLabel(names=list(names)))


def dialogue_features(label_names: Sequence[str], **extra: Any) -> datasets.Features:
    """Return the `Features` of the dialogue schema, with `extra` columns (name=feature) appended."""
    return datasets.Features(
        {
            "dialogue_id": datasets.Value("string"),
            "speakers": STRINGS,
            "utterances": STRINGS,
            "labels": class_labels(label_names),
            **extra,
        }
    )


def build_dataset_dict(rows: Mapping[str, list[dict]], features: datasets.Features) -> datasets.DatasetDict:
    """Turn per-split lists of dialogue rows (dicts keyed by the columns of `features`) into a `DatasetDict`.

    Returns:
        A `DatasetDict` with splits `train`, `validation`, `test`, one example per row, in the given order.
    """
    return datasets.DatasetDict(
        {
            split: datasets.Dataset.from_dict(
                {name: [row[name] for row in rows[split]] for name in features}, features=features
            )
            for split in SPLITS
        }
    )


def speaker_name(entry: Any) -> str:
    """Return a speaker's name: a string entry as it is, a one-hot entry as `"speaker_<slot>"`.

    Raises:
        ValueError: the entry is neither a string nor a one-hot vector of 0/1 values.
    """
    if isinstance(entry, str):
        return entry
    values = np.asarray(entry)
    if values.ndim != 1 or not np.isin(values, (0, 1)).all() or values.sum() != 1:
        raise ValueError(f"a speaker entry must be a name or a one-hot vector, got {entry!r}")
    return f"speaker_{int(values.argmax())}"


def carve_validation(train_keys: Iterable[Hashable], count: int, seed: int) -> tuple[list, list]:
    """Split `count` keys off `train_keys` as a validation set, the same way for the same seed.

    The keys are sorted by their string form, `random.Random(seed).sample` picks `count` of them,
    and both parts keep the input order.

    Returns:
        (train_keys, validation_keys).

    Raises:
        ValueError: `count` is not between 1 and len(train_keys) - 1.
    """
    keys = list(train_keys)
    if not 1 <= count < len(keys):
        raise ValueError(f"cannot carve {count} validation dialogues from {len(keys)} training dialogues")
    chosen = set(random.Random(seed).sample(sorted(keys, key=str), count))
    return [key for key in keys if key not in chosen], [key for key in keys if key in chosen]
