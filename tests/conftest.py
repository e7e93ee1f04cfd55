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
"""Shared test fixtures: an isolated Hugging Face cache, the real data folder when it is present, and a fresh Python
process in which this repository's packages cannot be imported (as a Hub user with remote code only)."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def isolated_hf_cache(tmp_path, monkeypatch):
    """Point HF_HOME and HF_DATASETS_CACHE at a temporary folder, so tests never touch the user's cache."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf_home" / "datasets"))


@pytest.fixture
def data_dir() -> Path:
    """Return the real data folder ($SYNCTVA_DATA_DIR, else ../shared/data beside the repository); skip if absent."""
    path = Path(os.environ.get("SYNCTVA_DATA_DIR") or Path(__file__).resolve().parents[1].parent / "shared" / "data")
    if not path.is_dir():
        pytest.skip(f"real data not found at {path}")
    return path


BLOCK_THE_PACKAGES = """
import importlib.abc, sys

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("modeling_synctva", "datasets_scripts", "synctva_training"):
            raise ImportError("blocked: " + name)

sys.meta_path.insert(0, Block())
"""


@pytest.fixture
def run_without_the_package(tmp_path):
    """Run a Python script in a fresh offline process where this repository's packages cannot be imported."""

    def run(script: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "HF_HOME": str(tmp_path / "fresh_hf_home"), "HF_HUB_OFFLINE": "1"}
        code = BLOCK_THE_PACKAGES + textwrap.dedent(script)
        return subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)

    return run
