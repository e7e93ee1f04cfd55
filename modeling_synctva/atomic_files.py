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
"""Atomic file writes for the whole project: a reader, or a run killed midway, sees the old file or the new one.

Every writer of a file that another process may read (serving exports, feature caches, downloads, Parquet exports,
checkpoints, results, benchmark JSON) goes through `atomic_write`. It lives here, in the lowest layer (the export
helpers beside the model write files too), so that `modeling_synctva`, `datasets_scripts`, `synctva_training`,
`train.py`, `results/` and `bench/` import the same one.
"""

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def atomic_write(path: str | os.PathLike, write: Callable[[str], None], suffix: str = "") -> Path:
    """Call `write(temporary_path)` for a temporary file beside `path`, then move it onto `path` with `os.replace`.

    `path` is then either the old file or the complete new one; when `write` raises, the temporary file is removed
    and `path` is untouched. `suffix` keeps the extension for writers that read the format from the name
    (matplotlib). Returns `path`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp{suffix}")
    os.close(handle)
    try:
        write(temporary)
        os.chmod(temporary, 0o666 & ~current_umask())  # mkstemp makes 0600; give the file the usual permissions
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return path


def current_umask() -> int:
    """The process's file-creation mask (read by setting it and setting it back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, content: bytes) -> Path:
    """Write `content` to `path` atomically."""
    return atomic_write(path, lambda temporary: Path(temporary).write_bytes(content))


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically."""
    return atomic_write(path, lambda temporary: Path(temporary).write_text(text, encoding="utf-8"))


def atomic_write_json(path: str | os.PathLike, data, indent: int = 2) -> Path:
    """Write `data` as indented JSON (UTF-8, a final newline) to `path` atomically."""
    return atomic_write_text(path, json.dumps(data, indent=indent, ensure_ascii=False) + "\n")
