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
"""Publish a loaded dataset: Parquet files on disk, or a dataset repository on the Hugging Face Hub."""

import os
from pathlib import Path

import datasets
from huggingface_hub import CommitInfo

from modeling_synctva.atomic_files import atomic_write


def export_parquet(dataset_dict: datasets.DatasetDict, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write each split to `<out_dir>/<split>.parquet`.

    Each file is written under a temporary name in `out_dir` and renamed into place, so a reader never
    sees a half-written file and an interrupted export leaves the previous file intact. The Parquet
    schema carries the `datasets` features (class names included), and the file names are the ones the
    Hub maps to splits.

    Returns:
        split name -> path of its Parquet file.
    """
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for split, dataset in dataset_dict.items():
        written[split] = atomic_write(folder / f"{split}.parquet", dataset.to_parquet, suffix=".parquet")
    return written


def push_to_hub(dataset_dict: datasets.DatasetDict, repo_id: str, private: bool = False) -> CommitInfo | None:
    """Upload all splits to the Hub dataset repository `repo_id` (created if needed) as Parquet shards.

    Uses the token of `huggingface-cli login` / `HF_TOKEN`. Returns the commit made, as
    `DatasetDict.push_to_hub` does.
    """
    return dataset_dict.push_to_hub(repo_id, private=private)
