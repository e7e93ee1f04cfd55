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
"""Dataset builders: ERC corpora and published feature files as one example per dialogue.

Every loader returns a `datasets.DatasetDict` with splits `train`, `validation`, `test` and the columns
described in `schema`, and `LOADERS` names them. Pickles are only ever read through `safe_pickle.restricted_load`;
files are written through `modeling_synctva.atomic_files`. `extract_features` encodes and caches the utterances of a dataset.
"""

from .cosmic import load_cosmic_pickle
from .extract_features import encoder_identity, extract_dataset_features
from .feature_files import load_iemocap_features, load_meld_features
from .hub import export_parquet, push_to_hub
from .iemocap import load_iemocap
from .loaders import LOADERS
from .meld import load_meld
from .mosi import load_mosi
from .paths import default_data_dir
from .safe_pickle import restricted_load


__all__ = [
    "LOADERS",
    "default_data_dir",
    "encoder_identity",
    "export_parquet",
    "extract_dataset_features",
    "load_cosmic_pickle",
    "load_iemocap",
    "load_iemocap_features",
    "load_meld",
    "load_meld_features",
    "load_mosi",
    "push_to_hub",
    "restricted_load",
]
