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
"""Tests of the dataset builders: real-data counts, feature-file layouts, safe unpickling, errors."""

import csv
import io
import os
import pickle
import warnings
from collections import Counter

import datasets
import numpy as np
import pytest

from datasets_scripts import (
    default_data_dir,
    export_parquet,
    load_cosmic_pickle,
    load_iemocap,
    load_iemocap_features,
    load_meld,
    load_meld_features,
    load_mosi,
    restricted_load,
)
from datasets_scripts import meld as meld_module
from datasets_scripts.iemocap import IEMOCAP_VALID_IDS
from datasets_scripts.safe_pickle import RefusedGlobalError
from datasets_scripts.schema import MELD_EMOTIONS, MELD_SENTIMENTS


def label_counts(dataset, column="labels"):
    counts = Counter(label for labels in dataset[column] for label in labels)
    return [counts[index] for index in range(dataset.features[column].feature.num_classes)]


def utterance_count(dataset):
    return sum(len(labels) for labels in dataset["labels"])


def write_pickle(path, obj, protocol=pickle.DEFAULT_PROTOCOL):
    with open(path, "wb") as file:
        pickle.dump(obj, file, protocol=protocol)
    return path


# Figures of data/README.md: (dialogues, utterances, label counts[, sentiment counts]) per split.
MELD_README = {
    "train": (1038, 9989, [4710, 1205, 268, 683, 1743, 271, 1109], [4710, 2334, 2945]),
    "validation": (114, 1109, [470, 150, 40, 111, 163, 22, 153], [470, 233, 406]),
    "test": (280, 2610, [1256, 281, 50, 208, 402, 68, 345], [1256, 521, 833]),
}


# --- MELD CSVs ---------------------------------------------------------------------------------------


def test_meld_csv_split_sizes_and_label_counts_match_the_data_readme(data_dir):
    meld = load_meld(data_dir)
    for split, (dialogues, utterances, emotions, sentiments) in MELD_README.items():
        assert len(meld[split]) == dialogues
        assert utterance_count(meld[split]) == utterances
        assert label_counts(meld[split]) == emotions
        assert label_counts(meld[split], "sentiment") == sentiments


def test_meld_class_names_follow_the_published_order(data_dir):
    features = load_meld(data_dir)["train"].features
    assert features["labels"].feature.names == list(MELD_EMOTIONS)
    assert features["sentiment"].feature.names == ["neutral", "positive", "negative"]
    assert features["utterance_ids"].feature == datasets.Value("int32")


def test_meld_text_is_the_csv_utf8_text(data_dir):
    train = load_meld(data_dir)["train"]
    first = train[0]
    assert (
        first["utterances"][0]
        == "also I was the point person on my company\u2019s transition from the KL-5 to GR-6 system."
    )
    texts = [text for utterances in train["utterances"] for text in utterances]
    assert any("\u2019" in text for text in texts)
    assert not any("\x92" in text for text in texts)
    with open(data_dir / "meld" / "csv" / "train_sent_emo.csv", encoding="utf-8", newline="") as file:
        csv_texts = sorted(record["Utterance"] for record in csv.DictReader(file))
    assert sorted(texts) == csv_texts


def test_meld_orders_dialogues_by_id_and_utterances_by_utterance_id(data_dir):
    train = load_meld(data_dir)["train"]
    ids = [int(dialogue_id) for dialogue_id in train["dialogue_id"]]
    assert ids == sorted(ids) and 60 not in ids
    assert all(utterance_ids == sorted(utterance_ids) for utterance_ids in train["utterance_ids"])
    assert train[0]["speakers"][:2] == ["Chandler", "The Interviewer"]


def test_meld_cosmic_pickle_matches_the_readme_and_the_csv_labels(data_dir):
    cosmic = load_cosmic_pickle(
        data_dir / "meld" / "text" / "meld.pkl", MELD_EMOTIONS, extra_label_names={"sentiment": MELD_SENTIMENTS}
    )
    official = load_meld(data_dir)
    for split, (dialogues, utterances, emotions, sentiments) in MELD_README.items():
        assert len(cosmic[split]) == dialogues
        assert utterance_count(cosmic[split]) == utterances
        assert label_counts(cosmic[split]) == emotions
        assert label_counts(cosmic[split], "sentiment") == sentiments
    # train keys equal the CSV Dialogue_ID, and labels agree dialogue by dialogue
    assert dict(zip(cosmic["train"]["dialogue_id"], cosmic["train"]["labels"])) == dict(
        zip(official["train"]["dialogue_id"], official["train"]["labels"])
    )
    assert cosmic["train"][0]["speakers"][:3] == ["speaker_0", "speaker_1", "speaker_0"]


# --- IEMOCAP and MOSI --------------------------------------------------------------------------------


def test_iemocap_has_the_standard_split_and_label_counts(data_dir):
    iemocap = load_iemocap(data_dir)
    assert [len(iemocap[split]) for split in ("train", "validation", "test")] == [108, 12, 31]
    assert [utterance_count(iemocap[split]) for split in ("train", "validation", "test")] == [5163, 647, 1623]
    assert label_counts(iemocap["test"]) == [144, 245, 384, 170, 299, 381]
    total = [sum(counts) for counts in zip(*(label_counts(iemocap[split]) for split in iemocap))]
    assert total == [648, 1084, 1708, 1103, 1041, 1849]
    assert iemocap["train"].features["labels"].feature.names == ["hap", "sad", "neu", "ang", "exc", "fru"]
    speakers = Counter(speaker for split in iemocap.values() for names in split["speakers"] for speaker in names)
    assert speakers == {"M": 3939, "F": 3494}
    assert sorted(iemocap["validation"]["dialogue_id"]) == sorted(IEMOCAP_VALID_IDS)


def test_mosi_train_and_validation_together_are_the_release_train_split(data_dir):
    mosi = load_mosi(data_dir)
    train, validation, test = mosi["train"], mosi["validation"], mosi["test"]
    assert (len(train), len(validation), len(test)) == (54, 8, 31)
    assert utterance_count(train) + utterance_count(validation) == 1447
    assert [a + b for a, b in zip(label_counts(train), label_counts(validation))] == [738, 709]
    assert utterance_count(test) == 752 and label_counts(test) == [285, 467]
    assert not set(train["dialogue_id"]) & set(validation["dialogue_id"])


def test_mosi_features_have_the_release_sizes_and_one_speaker_per_video(data_dir):
    video = load_mosi(data_dir)["test"][0]
    n = len(video["labels"])
    assert np.asarray(video["text_features"]).shape == (n, 100)
    assert np.asarray(video["audio_features"]).shape == (n, 73)
    assert np.asarray(video["visual_features"]).shape == (n, 100)
    assert video["speakers"] == [video["dialogue_id"]] * n


def test_mosi_utterances_follow_their_numeric_order(data_dir):
    mosi = load_mosi(data_dir)
    video = next(row for split in mosi.values() for row in split if row["dialogue_id"] == "03bSnISJMiM")
    # transcripts.csv lists 03bSnISJMiM_1, _10, _11, _12, _13, _2, ...; numeric order puts _2 second
    assert video["utterances"][:2] == [
        "ANYHOW IT WAS REALLY GOOD",
        "THAY DID THEY DIDNT REALLY DO A WHOLE BUNCH OF BACKGROUND INFO ON WHY SHE HAS TO FIGHT AND BE PREPARED",
    ]
    assert video["utterances"][9] == "THERE IS SAD PART"


def test_mosi_validation_videos_depend_only_on_the_seed(data_dir):
    first = load_mosi(data_dir, seed=0)["validation"]["dialogue_id"]
    assert load_mosi(data_dir, seed=0)["validation"]["dialogue_id"] == first
    assert load_mosi(data_dir, seed=1)["validation"]["dialogue_id"] != first
    assert len(load_mosi(data_dir, validation_videos=4)["validation"]) == 4


# --- COSMIC format -----------------------------------------------------------------------------------


def test_cosmic_pickle_reads_numpy_int32_one_hot_speakers_and_feature_vectors(tmp_path):
    one_hot = [[np.int32(1), np.int32(0)], [np.int32(0), np.int32(1)]]
    vectors = np.arange(8, dtype=np.float32).reshape(2, 4)
    keys = {"train": ["a"], "test": ["b"], "validation": ["c"]}
    per_key = lambda value: {key: value for ids in keys.values() for key in ids}  # noqa: E731
    path = write_pickle(
        tmp_path / "tiny_cosmic.pkl",
        [per_key(one_hot), per_key([1, 0]), per_key(vectors), per_key(["hi", "there"]),
         keys["train"], keys["test"], keys["validation"]],
    )  # fmt: skip
    loaded = load_cosmic_pickle(path, ["x", "y"])
    row = loaded["test"][0]
    assert row["dialogue_id"] == "b"
    assert row["speakers"] == ["speaker_0", "speaker_1"]
    assert row["utterances"] == ["hi", "there"]
    assert np.asarray(row["text_features"]).tolist() == vectors.tolist()


def test_cosmic_pickle_refuses_labels_outside_the_given_names(tmp_path):
    path = write_pickle(tmp_path / "bad.pkl", [{"a": ["M"]}, {"a": [7]}, {"a": ["hi"]}, ["a"], [], []])
    with pytest.raises(ValueError, match="outside 0..1"):
        load_cosmic_pickle(path, ["x", "y"])


def test_cosmic_pickle_refuses_split_names_that_do_not_cover_the_three_splits(tmp_path):
    path = write_pickle(tmp_path / "p.pkl", [{"a": ["M"]}, {"a": [0]}, ["a"], [], []])
    with pytest.raises(ValueError, match="split_names"):
        load_cosmic_pickle(path, ["x"], split_names=["train", "test", "test"])


# --- published feature files, in tiny copies ------------------------------------------------------


def dialogue_arrays(rng, n, sizes):
    return {modality: rng.standard_normal((n, size)).astype(np.float32) for modality, size in sizes.items()}


def meld_feature_file(path, layout, keys_train, keys_test, sizes):
    """Write a MELD feature pickle in `layout` ('raw', 'bc_lstm' or 'multimodal'), 3 utterances per dialogue."""
    rng = np.random.default_rng(0)
    keys = keys_train + keys_test
    arrays = {key: dialogue_arrays(rng, 3, sizes) for key in keys}
    ids = {key: [0, 1, 2] for key in keys}
    speakers = {
        key: [[1, 0, 0, 0, 0, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0, 0, 0, 0]] for key in keys
    }
    labels = {key: [0, 6, 2] for key in keys}
    sentiment = {key: [0, 2, 2] for key in keys}
    sentences = {key: ["Oh.", "No way!", "What\u2019s that?"] for key in keys}
    feature = lambda modality: {key: arrays[key][modality] for key in keys}  # noqa: E731
    if layout == "raw":
        items = [ids, speakers, labels, feature("text"), feature("audio"), feature("visual"), sentences,
                 keys_train, keys_test, sentiment]  # fmt: skip
    elif layout == "bc_lstm":
        items = [ids, speakers, labels, feature("text"), feature("audio"), sentences, keys_train, keys_test, sentiment]
    else:
        text = feature("text")
        items = [ids, speakers, labels, sentiment, text, text, text, text, feature("audio"), feature("visual"),
                 sentences, keys_train, keys_test, None]  # fmt: skip
    return write_pickle(path, items), arrays


def iemocap_feature_file(path, train_keys, test_keys, sizes, multimodal=False):
    """Write an IEMOCAP feature pickle at protocol 2, as the Python 2 releases are, 2 utterances per dialogue."""
    rng = np.random.default_rng(1)
    keys = train_keys + test_keys
    arrays = {key: dialogue_arrays(rng, 2, sizes) for key in keys}
    ids = {key: [f"{key}_F000", f"{key}_M000"] for key in keys}
    speakers = {key: ["F", "M"] for key in keys}
    labels = {key: [5, 1] for key in keys}
    sentences = {key: ["Excuse me.", "Do you have your forms?"] for key in keys}
    feature = lambda modality: {key: arrays[key][modality].tolist() for key in keys}  # noqa: E731  lists, as in DialogueGCN
    if multimodal:
        text = feature("text")
        items = [ids, speakers, labels, text, text, text, text, feature("audio"), feature("visual"), sentences,
                 train_keys, test_keys]  # fmt: skip
    else:
        items = [ids, speakers, labels, feature("text"), feature("audio"), feature("visual"), sentences,
                 train_keys, test_keys]  # fmt: skip
    return write_pickle(path, items, protocol=2), arrays


MELD_RAW_SIZES = {"text": 600, "audio": 300, "visual": 342}


@pytest.mark.parametrize(
    "layout, sizes",
    [("raw", MELD_RAW_SIZES), ("bc_lstm", {"text": 600, "audio": 300}),
     ("multimodal", {"text": 1024, "audio": 300, "visual": 342})],
)  # fmt: skip
def test_meld_feature_files_load_with_their_shapes_and_the_official_dev_split(tmp_path, layout, sizes):
    path, arrays = meld_feature_file(tmp_path / "meld.pkl", layout, [0, 1, 1040], [1153], sizes)
    loaded = load_meld_features(path)
    assert [loaded[split]["dialogue_id"] for split in ("train", "validation", "test")] == [
        ["0", "1"],
        ["1040"],
        ["1153"],
    ]
    row = loaded["test"][0]
    for modality, size in sizes.items():
        assert np.asarray(row[f"{modality}_features"]).shape == (3, size)
        np.testing.assert_array_equal(np.asarray(row[f"{modality}_features"], np.float32), arrays[1153][modality])
    assert ("visual_features" in loaded["test"].features) == ("visual" in sizes)
    assert row["speakers"] == ["speaker_0", "speaker_1", "speaker_0"]
    assert row["labels"] == [0, 6, 2] and row["sentiment"] == [0, 2, 2]
    assert row["utterances"][2] == "What\u2019s that?"


@pytest.mark.parametrize(
    "sizes, multimodal",
    [({"text": 100, "audio": 100, "visual": 512}, False), ({"text": 1024, "audio": 1582, "visual": 342}, False),
     ({"text": 100, "audio": 1582, "visual": 342}, False), ({"text": 1024, "audio": 1582, "visual": 342}, True)],
)  # fmt: skip
def test_iemocap_feature_file_variants_load_with_their_shapes(tmp_path, sizes, multimodal):
    train = ["Ses01F_impro01", "Ses01M_impro01", "Ses02F_impro07"]
    path, arrays = iemocap_feature_file(
        tmp_path / "IEMOCAP_features.pkl", train, ["Ses05F_impro01"], sizes, multimodal
    )
    loaded = load_iemocap_features(path)
    # the standard validation ids present in the file form the validation split
    assert loaded["validation"]["dialogue_id"] == ["Ses01M_impro01", "Ses02F_impro07"]
    assert loaded["train"]["dialogue_id"] == ["Ses01F_impro01"]
    row = loaded["test"][0]
    assert row["speakers"] == ["F", "M"] and row["labels"] == [5, 1]
    for modality, size in sizes.items():
        features = np.asarray(row[f"{modality}_features"], np.float32)
        assert features.shape == (2, size)
        np.testing.assert_array_equal(features, arrays["Ses05F_impro01"][modality])


def test_feature_file_without_standard_validation_ids_carves_a_seeded_validation_split(tmp_path):
    train = [f"dialogue_{index}" for index in range(20)]
    path, _ = iemocap_feature_file(tmp_path / "f.pkl", train, ["test_0"], {"text": 100, "audio": 100, "visual": 512})
    first = load_iemocap_features(path, seed=0)
    assert len(first["validation"]) == 2 and len(first["train"]) == 18
    assert load_iemocap_features(path, seed=0)["validation"]["dialogue_id"] == first["validation"]["dialogue_id"]
    assert load_iemocap_features(path, seed=3)["validation"]["dialogue_id"] != first["validation"]["dialogue_id"]


def test_feature_file_of_the_wrong_size_is_refused_saying_what_was_expected(tmp_path):
    path, _ = iemocap_feature_file(tmp_path / "f.pkl", ["a", "b"], ["c"], {"text": 100, "audio": 99, "visual": 512})
    with pytest.raises(ValueError, match=r"text 100, audio 100, visual 512.*audio': 99"):
        load_iemocap_features(path)


def test_feature_file_with_a_dialogue_of_inconsistent_length_is_refused(tmp_path):
    path, arrays = meld_feature_file(tmp_path / "m.pkl", "raw", [0, 1], [1153], MELD_RAW_SIZES)
    items = restricted_load(path)
    items[4][1] = arrays[1]["audio"][:2]  # dialogue 1: 2 audio vectors for 3 utterances
    write_pickle(path, items)
    with pytest.raises(ValueError, match=r"dialogue 1: expected audio features of shape \(3, 300\).*\(2, 300\)"):
        load_meld_features(path)


def test_feature_file_with_an_unknown_item_count_is_refused_listing_the_layouts(tmp_path):
    path = write_pickle(tmp_path / "f.pkl", [{}, {}, [], []])
    with pytest.raises(ValueError, match="MELD_features_raw.pkl.*meld_multimodal_features.pkl.*list of 4 items"):
        load_meld_features(path)


def meld_join_file(path, meld, keep=lambda key: True, relabel=()):
    """Write a bc-LSTM layout MELD feature file for the CSV dialogues whose conv-emotion key passes `keep`."""
    offsets = {"train": 0, "validation": 1039, "test": 1153}
    rng = np.random.default_rng(0)
    labels = {
        int(row["dialogue_id"]) + offsets[split]: row["labels"]
        for split in meld for row in meld[split].select_columns(["dialogue_id", "labels"])
    }  # fmt: skip
    for key in relabel:
        labels[key] = [(label + 1) % 7 for label in labels[key]]
    keys = [key for key in sorted(labels) if keep(key)]
    arrays = {key: dialogue_arrays(rng, len(labels[key]), {"text": 600, "audio": 300}) for key in keys}
    per_utterance = lambda value: {key: [value] * len(labels[key]) for key in keys}  # noqa: E731
    items = [
        per_utterance(0), per_utterance([1] + [0] * 8), {key: labels[key] for key in keys},
        {key: arrays[key]["text"] for key in keys}, {key: arrays[key]["audio"] for key in keys}, per_utterance(""),
        [key for key in keys if key < 1153], [key for key in keys if key >= 1153], per_utterance(0),
    ]  # fmt: skip
    return write_pickle(path, items), arrays


def test_meld_features_file_is_joined_onto_the_csv_dialogues(data_dir, tmp_path):
    meld = load_meld(data_dir)
    path, arrays = meld_join_file(tmp_path / "MELD_features_raw.pkl", meld)
    joined = load_meld(data_dir, features_file=path)
    row = joined["validation"][5]
    np.testing.assert_array_equal(np.asarray(row["audio_features"], np.float32), arrays[1039 + 5]["audio"])
    np.testing.assert_array_equal(np.asarray(joined["test"][0]["text_features"], np.float32), arrays[1153]["text"])
    assert "visual_features" not in joined["validation"].features
    assert row["utterances"] == meld["validation"][5]["utterances"]


def test_meld_features_file_missing_a_csv_dialogue_is_refused(data_dir, tmp_path):
    path, _ = meld_join_file(tmp_path / "m.pkl", load_meld(data_dir), keep=lambda key: key < 6 or key == 1153)
    with pytest.raises(ValueError, match=r"dialogue key 6 \(MELD train Dialogue_ID 6\) is missing"):
        load_meld(data_dir, features_file=path)


def test_meld_features_file_whose_labels_disagree_with_the_csv_is_refused(data_dir, tmp_path):
    path, _ = meld_join_file(
        tmp_path / "m.pkl", load_meld(data_dir), keep=lambda key: key < 9 or key == 1153, relabel=[7]
    )
    with pytest.raises(ValueError, match=r"dialogue key 7 .* labels that differ from the CSV"):
        load_meld(data_dir, features_file=path)


# --- safe unpickling ---------------------------------------------------------------------------------


class RunsAShellCommand:
    """Unpickling this with `pickle.load` would run `touch <marker>`."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_hostile_pickle_is_refused_without_running_its_payload(tmp_path):
    marker = tmp_path / "payload_ran"
    path = write_pickle(tmp_path / "hostile.pkl", [{"a": [RunsAShellCommand(marker)]}, {"a": [0]}, ["a"], [], []])
    with pytest.raises(pickle.UnpicklingError, match=r"refused to load global '(posix|nt)\.system'"):
        load_cosmic_pickle(path, ["x"])
    assert not marker.exists()


def test_restricted_load_refuses_builtins_that_are_not_containers():
    payload = pickle.dumps(eval)  # a pickled reference to builtins.eval
    with pytest.raises(RefusedGlobalError, match="builtins.eval"):
        restricted_load(io.BytesIO(payload))


def test_restricted_load_reads_numpy_arrays_and_scalars_of_any_protocol():
    value = {"x": np.arange(6, dtype=np.float32).reshape(2, 3), "s": np.int32(3), "set": {1, 2}}
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        loaded = restricted_load(io.BytesIO(pickle.dumps(value, protocol=protocol)))
        np.testing.assert_array_equal(loaded["x"], value["x"])
        assert loaded["s"] == 3 and loaded["s"].dtype == np.int32 and loaded["set"] == {1, 2}


def test_truncated_pickle_gives_a_clear_error(tmp_path):
    whole = pickle.dumps([{"a": ["M", "F"]}, {"a": [0, 1]}, ["a"], [], []])
    path = tmp_path / "truncated.pkl"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(pickle.UnpicklingError, match="truncated or corrupt"):
        load_cosmic_pickle(path, ["x", "y"])
    path.write_bytes(b"")
    with pytest.raises(pickle.UnpicklingError, match="truncated or corrupt"):
        restricted_load(path)


# --- missing data, download, clips -------------------------------------------------------------------


def test_missing_meld_data_dir_says_where_to_get_the_csvs(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"declare-lab/MELD.*data_dir="):
        load_meld(tmp_path / "nowhere")


def test_meld_without_local_copy_offline_says_where_to_get_it_and_does_not_download(monkeypatch):
    monkeypatch.setattr(meld_module, "default_data_dir", lambda: None)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def no_download(folder):
        raise AssertionError("tried to download while offline")

    monkeypatch.setattr(meld_module, "download_meld_csvs", no_download)
    with pytest.raises(FileNotFoundError, match=r"offline.*declare-lab/MELD.*SYNCTVA_DATA_DIR"):
        load_meld()


def test_meld_without_local_copy_downloads_the_pinned_csvs_into_the_cache(data_dir, monkeypatch):
    monkeypatch.setattr(meld_module, "default_data_dir", lambda: None)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    requested = []

    def fake_urlopen(url, timeout):  # serves the local copies instead of the network
        requested.append(url)
        return io.BytesIO((data_dir / "meld" / "csv" / url.rsplit("/", 1)[1]).read_bytes())

    monkeypatch.setattr(meld_module, "urlopen", fake_urlopen)
    meld = load_meld()
    assert len(requested) == 3 and all("declare-lab/MELD/" in url for url in requested)
    assert len(meld["validation"]) == 114
    assert sorted(os.listdir(meld_module.download_cache_dir())) == sorted(meld_module.MELD_CSV_FILES.values())
    load_meld()  # a second call reads the cache
    assert len(requested) == 3


def test_meld_download_with_the_wrong_checksum_is_refused(monkeypatch, tmp_path):
    monkeypatch.setattr(meld_module, "urlopen", lambda url, timeout: io.BytesIO(b"not the MELD csv"))
    with pytest.raises(ValueError, match="sha256"):
        meld_module.download_meld_csvs(tmp_path)
    assert os.listdir(tmp_path) == []


def test_missing_iemocap_names_the_usc_sail_licence_and_the_argument(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"USC SAIL.*sail\.usc\.edu/iemocap.*data_dir="):
        load_iemocap(tmp_path)


def test_missing_mosi_says_where_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"soujanyaporia/multimodal-sentiment-analysis.*data_dir="):
        load_mosi(tmp_path)


def test_default_data_dir_honours_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SYNCTVA_DATA_DIR", str(tmp_path))
    assert default_data_dir() == tmp_path


def test_meld_clips_are_absolute_paths_and_missing_ones_are_empty_with_a_warning(data_dir, tmp_path):
    dev = tmp_path / "MELD.Raw" / "dev" / "dev_splits_complete"
    dev.mkdir(parents=True)
    (dev / "dia0_utt0.mp4").write_bytes(b"")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        meld = load_meld(data_dir, clips_dir=tmp_path / "MELD.Raw")
    clips = meld["validation"][0]["clips"]
    assert clips[0] == str((dev / "dia0_utt0.mp4").resolve()) and os.path.isabs(clips[0])
    assert len(clips) == 2 and clips[1] == ""
    assert any("1108 of 1109 clips not found" in str(warning.message) for warning in caught)
    assert set(clip for clips in meld["test"]["clips"] for clip in clips) == {""}


def test_meld_clips_dir_without_any_split_folder_is_refused(data_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match="dev_splits_complete"):
        load_meld(data_dir, clips_dir=tmp_path)


# --- export ------------------------------------------------------------------------------------------


def test_export_parquet_writes_one_file_per_split_that_reloads_with_the_same_features(data_dir, tmp_path):
    iemocap = load_iemocap(data_dir)
    out = tmp_path / "parquet"
    written = export_parquet(iemocap, out)
    assert sorted(os.listdir(out)) == ["test.parquet", "train.parquet", "validation.parquet"]
    reloaded = datasets.Dataset.from_parquet(str(written["validation"]))
    assert reloaded.features == iemocap["validation"].features
    assert reloaded["labels"] == iemocap["validation"]["labels"]
    export_parquet(iemocap, out)  # overwriting leaves no temporary file behind
    assert sorted(os.listdir(out)) == ["test.parquet", "train.parquet", "validation.parquet"]
