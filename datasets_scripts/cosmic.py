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
"""Read any dataset stored in the COSMIC feature-extraction pickle format.

COSMIC (declare-lab/conv-emotion) keeps a dataset as one pickled list:
`[speakers, labels, (more label dicts), (feature dicts), sentences, train_ids, test_ids, valid_ids]`,
where every dict maps a dialogue key to one entry per utterance. IEMOCAP (`iemocap.pkl`, six items),
MELD (`meld.pkl`, with a sentiment dict too) and the RoBERTa feature files all share it.
"""

import os
from collections.abc import Mapping, Sequence
from typing import Any

import datasets
import numpy as np

from .safe_pickle import restricted_load
from .schema import SPLITS, VECTORS, build_dataset_dict, class_labels, dialogue_features, speaker_name


COSMIC_SPLIT_ORDER = ("train", "test", "validation")
"""The order of the three id lists at the end of a COSMIC pickle."""


def _entry_kind(values: Sequence) -> str:
    """Classify a dict of per-utterance entries by its first entry: strings, ints, one_hot or vectors."""
    first = next((entries[0] for entries in values if len(entries)), None)
    if isinstance(first, str):
        return "strings"
    if isinstance(first, (int, np.integer)):
        return "ints"
    vector = np.asarray(first)
    if vector.ndim == 1 and np.issubdtype(vector.dtype, np.integer):
        return "one_hot"
    if vector.ndim == 1 and np.issubdtype(vector.dtype, np.floating):
        return "vectors"
    raise ValueError(f"unrecognised per-utterance entry {first!r}: expected a string, an int or a 1-D vector")


def _identify_fields(items: list) -> dict[str, Any]:
    """Name the per-dialogue dicts of a COSMIC list by what they hold, not by where they sit.

    - `speakers`: the dict of one-hot integer vectors (MELD) if there is one, else the first dict of
      strings (IEMOCAP's 'M'/'F');
    - `sentences`: the last dict of strings that is not the speakers (absent: utterances are "");
    - `labels`: the first dict of integers; later integer dicts are `extra_labels` (MELD's sentiment);
    - `vectors`: the first dict of float vectors (COSMIC RoBERTa files: the last layer), if any.

    Returns:
        A dict with keys `speakers`, `sentences`, `labels`, `extra_labels` (list), `vectors` (dicts or None).
    """
    by_kind: dict[str, list] = {"strings": [], "ints": [], "one_hot": [], "vectors": []}
    for item in items:
        by_kind[_entry_kind(item.values())].append(item)
    if len(by_kind["one_hot"]) > 1:
        raise ValueError(f"expected at most one dict of one-hot speakers, found {len(by_kind['one_hot'])}")
    speakers = by_kind["one_hot"][0] if by_kind["one_hot"] else (by_kind["strings"] or [None])[0]
    if speakers is None or not by_kind["ints"]:
        raise ValueError(
            "a COSMIC pickle needs a dict of speakers (names or one-hot vectors) and one of integer labels"
        )
    other_strings = [item for item in by_kind["strings"] if item is not speakers]
    return {
        "speakers": speakers,
        "sentences": other_strings[-1] if other_strings else None,
        "labels": by_kind["ints"][0],
        "extra_labels": by_kind["ints"][1:],
        "vectors": by_kind["vectors"][0] if by_kind["vectors"] else None,
    }


def _split_ids(id_lists: list, split_names: Sequence[str]) -> dict[str, list]:
    if sorted(split_names) != sorted(SPLITS) or len(id_lists) != len(split_names):
        raise ValueError(
            f"split_names must name the {len(id_lists)} id lists at the end of the pickle with each of "
            f"{SPLITS} once, got {tuple(split_names)}"
        )
    ids = dict(zip(split_names, id_lists))
    seen: set = set()
    for split in SPLITS:
        overlap = seen.intersection(ids[split])
        if overlap:
            raise ValueError(f"dialogues {sorted(overlap, key=str)[:5]} appear in more than one split")
        seen.update(ids[split])
    return ids


def load_cosmic_pickle(
    path: str | os.PathLike,
    label_names: Sequence[str],
    split_names: Sequence[str] | None = None,
    extra_label_names: Mapping[str, Sequence[str]] | None = None,
) -> datasets.DatasetDict:
    """Load a COSMIC-format pickle as one example per dialogue.

    Fields are recognised by content (see `_identify_fields`), so the IEMOCAP and MELD pickles load
    with no code change. Speakers given as one-hot vectors become `"speaker_<slot>"`.

    Args:
        path: the pickle, read through `restricted_load`.
        label_names: class names of the first integer label dict, in index order.
        split_names: the splits of the trailing id lists, in file order; default `COSMIC_SPLIT_ORDER`
            (train, test, validation).
        extra_label_names: column name -> class names for the further label dicts, in file order
            (MELD: `{"sentiment": MELD_SENTIMENTS}`). Unnamed further dicts become `labels_2`,
            `labels_3`, ... as int64 sequences.

    Returns:
        `DatasetDict` (train / validation / test) with `dialogue_id` (the key as a string), `speakers`,
        `utterances`, `labels` and the extra label columns; plus `text_features` (n_utterances, dim)
        when the pickle holds feature vectors. Dialogues follow the order of the id lists.

    Raises:
        ValueError: the pickle is not of this format, the per-utterance lists of a dialogue differ in
            length, or a label is outside `label_names`.
    """
    items = restricted_load(path)
    if not isinstance(items, (list, tuple)) or not all(isinstance(item, (dict, list, tuple)) for item in items):
        raise ValueError(f"{path}: a COSMIC pickle is a list of per-dialogue dicts followed by id lists")
    dicts = [item for item in items if isinstance(item, dict)]
    id_lists = [item for item in items if not isinstance(item, dict)]
    if not all(isinstance(item, dict) for item in items[: len(dicts)]):
        raise ValueError(f"{path}: a COSMIC pickle puts all per-dialogue dicts before the id lists")
    ids = _split_ids(id_lists, split_names or COSMIC_SPLIT_ORDER)
    fields = _identify_fields(dicts)

    named = list((extra_label_names or {}).items())
    extra_columns = {}
    for position in range(len(fields["extra_labels"])):
        if position < len(named):
            extra_columns[named[position][0]] = class_labels(named[position][1])
        else:
            extra_columns[f"labels_{position + 2}"] = datasets.List(datasets.Value("int64"))
    if fields["vectors"] is not None:
        extra_columns["text_features"] = VECTORS
    features = dialogue_features(label_names, **extra_columns)

    def row(key) -> dict:
        labels = [int(label) for label in fields["labels"][key]]
        per_utterance = {
            "speakers": [speaker_name(entry) for entry in fields["speakers"][key]],
            "utterances": list(fields["sentences"][key]) if fields["sentences"] is not None else [""] * len(labels),
            "labels": labels,
        }
        for column, extra in zip(extra_columns, fields["extra_labels"]):
            per_utterance[column] = [int(label) for label in extra[key]]
        if fields["vectors"] is not None:
            per_utterance["text_features"] = np.asarray(fields["vectors"][key], dtype=np.float32)
        lengths = {column: len(values) for column, values in per_utterance.items()}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"{path}: dialogue {key!r} has per-utterance fields of different lengths {lengths}")
        if any(not 0 <= label < len(label_names) for label in labels):
            raise ValueError(f"{path}: dialogue {key!r} has labels outside 0..{len(label_names) - 1}: {labels}")
        return {"dialogue_id": str(key), **per_utterance}

    try:
        rows = {split: [row(key) for key in ids[split]] for split in SPLITS}
    except KeyError as error:
        raise ValueError(f"{path}: dialogue {error} of the id lists is missing from a per-dialogue dict") from None
    return build_dataset_dict(rows, features)
