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
"""Where the data lives: the default data folder and the offline switch."""

import os
from pathlib import Path

from huggingface_hub import constants as hub_constants


DATA_DIR_HINT = "pass `data_dir=`, set SYNCTVA_DATA_DIR, or give `--data-dir` on the command line"

_TRUE = {"1", "ON", "YES", "TRUE"}


def default_data_dir() -> Path | None:
    """Return the data folder used when a loader gets no `data_dir`.

    Returns:
        `$SYNCTVA_DATA_DIR` when set; else the `shared/data` folder beside a source checkout of this
        repository (`<repo>/../shared/data`) when it exists; else `None`.
    """
    if os.environ.get("SYNCTVA_DATA_DIR"):
        return Path(os.environ["SYNCTVA_DATA_DIR"])
    beside_checkout = Path(__file__).resolve().parents[2] / "shared" / "data"
    return beside_checkout if beside_checkout.is_dir() else None


def resolve_data_dir(data_dir: str | os.PathLike | None) -> Path | None:
    """Return `data_dir` as a `Path`, or `default_data_dir()` when it is `None`."""
    return Path(data_dir) if data_dir is not None else default_data_dir()


def is_offline() -> bool:
    """Return whether downloads are forbidden (HF_HUB_OFFLINE or HF_DATASETS_OFFLINE set), read at call time."""
    from_env = any(os.environ.get(name, "").upper() in _TRUE for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))
    return from_env or hub_constants.is_offline_mode()
