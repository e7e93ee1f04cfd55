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
"""IEMOCAP: text, speakers and 6-class labels from the COSMIC pickle, with the standard split."""

import os

import datasets

from .cosmic import load_cosmic_pickle
from .paths import DATA_DIR_HINT, resolve_data_dir
from .schema import IEMOCAP_EMOTIONS


IEMOCAP_PICKLE = os.path.join("iemocap", "text", "iemocap.pkl")

IEMOCAP_VALID_IDS = (
    "Ses04F_script02_1", "Ses02F_impro07", "Ses02M_script01_2", "Ses03M_impro02", "Ses03M_impro08a",
    "Ses01M_impro01", "Ses04F_impro07", "Ses03F_impro01", "Ses02F_impro02", "Ses01M_script03_1",
    "Ses03M_script02_2", "Ses03M_script03_2",
)  # fmt: skip
"""The 12 validation dialogues (Sessions 1-4) of the COSMIC split, as listed in its `valid_ids`."""


def load_iemocap(data_dir: str | os.PathLike | None = None) -> datasets.DatasetDict:
    """Load IEMOCAP from `<data_dir>/iemocap/text/iemocap.pkl` (COSMIC format).

    Args:
        data_dir: the data folder; default `default_data_dir()`.

    Returns:
        `DatasetDict` with the standard split, 108 / 12 / 31 dialogues (5163 / 647 / 1623 utterances):
        `dialogue_id` (e.g. `Ses02F_script01_3`), `speakers` ('M' / 'F'), `utterances`, and `labels`
        over hap, sad, neu, ang, exc, fru. No audio or visual features.

    Raises:
        FileNotFoundError: the pickle is not there; the message says how IEMOCAP is licensed.
    """
    root = resolve_data_dir(data_dir)
    path = root / IEMOCAP_PICKLE if root is not None else None
    if path is None or not path.is_file():
        raise FileNotFoundError(
            f"IEMOCAP pickle not found (looked for {path or IEMOCAP_PICKLE}). IEMOCAP is released by USC SAIL "
            f"under its research licence: request it at https://sail.usc.edu/iemocap, then place the COSMIC "
            f"pickle (declare-lab/conv-emotion, COSMIC/feature-extraction/iemocap/iemocap.pkl) at "
            f"<data_dir>/{IEMOCAP_PICKLE} and {DATA_DIR_HINT}."
        )
    return load_cosmic_pickle(path, IEMOCAP_EMOTIONS)
