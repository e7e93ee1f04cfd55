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
"""Gradio demo of Sync-TVA: the emotion of every utterance of a dialogue, and what the model attended to.

`python space/app.py` serves on 127.0.0.1 (GRADIO_SERVER_NAME and GRADIO_SERVER_PORT override it) the checkpoint
named by SYNCTVA_MODEL: a local folder or a Hub id, by default the `synctva-meld` folder that
`python train.py --dataset meld --output-dir synctva-meld` writes at the repository root. The checkpoint's
`emotion-recognition-in-conversation` pipeline (model, processor and the pipeline itself) is loaded with remote code,
so the app runs without this repository's packages (on a Hugging Face Space, with the bundled examples); in a
checkout it also offers every MELD test dialogue through `datasets_scripts`. The model logic stays in the checkpoint:
the functions here only check inputs and format outputs.
"""

import importlib
import json
import logging
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from transformers import pipeline


logger = logging.getLogger(__name__)

SPACE_DIR = Path(__file__).resolve().parent
DEFAULT_MODEL = SPACE_DIR.parent / "synctva-meld"
EXAMPLES_FILE = SPACE_DIR / "examples.json"
TRAIN_COMMAND = "python train.py --dataset meld --output-dir synctva-meld"
TRAIN_HINT_MARKDOWN = f"Train one with `{TRAIN_COMMAND}` (from the repository root), then restart the app."
TASK = "emotion-recognition-in-conversation"

MAX_UTTERANCES = 50
MAX_CHARS = 500
MAX_FILE_SIZE = "25mb"
# Model runs at once (the rest wait in the queue) and requests the queue holds before it turns new ones away.
CONCURRENCY = int(os.environ.get("SYNCTVA_CONCURRENCY", "2"))
QUEUE_SIZE = int(os.environ.get("SYNCTVA_QUEUE_SIZE", "64"))

MODALITIES = ("text", "audio", "visual")
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".mp4", ".m4a", ".webm", ".mkv", ".mov", ".avi", ".aac")
FACE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".mp4", ".mkv", ".mov", ".avi", ".webm")
TABLE_HEADERS = ["speaker", "utterance"]
UNKNOWN_SPEAKER = "?"
EMOTION_COLORS = {
    "neutral": "#9e9e9e", "surprise": "#ff9800", "fear": "#7e57c2", "sadness": "#1e88e5",
    "joy": "#fdd835", "disgust": "#43a047", "anger": "#e53935",
}
MODALITY_COLORS = {"text": "#3949ab", "audio": "#00897b", "visual": "#d81b60"}


class InputError(ValueError):
    """A problem with what the user entered; shown in the page, never raised to the server."""


# ---------------------------------------------------------------------------------------------------------------
# Inputs: the table, the files
# ---------------------------------------------------------------------------------------------------------------


def cell_text(value) -> str:
    """A table cell as stripped text (cells arrive as str, numbers or None)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return str(value).strip()


@dataclass
class Dialogue:
    """The utterances kept from the table: their table row numbers (1-based), speakers and texts."""

    rows: list[int]
    speakers: list[str]
    utterances: list[str]
    notes: list[str]


def read_dialogue_table(table) -> Dialogue:
    """Check the (speaker, utterance) table: drop rows without an utterance, cap the size.

    Raises:
        InputError: no utterance at all, more than `MAX_UTTERANCES`, or an utterance longer than `MAX_CHARS`.
    """
    if isinstance(table, pd.DataFrame):
        table = table.values.tolist()
    rows, speakers, utterances, dropped, unnamed = [], [], [], [], []
    for number, row in enumerate(table or [], start=1):
        cells = [cell_text(value) for value in (list(row) + ["", ""])[:2]]
        speaker, utterance = cells
        if not utterance:
            if speaker:
                dropped.append(number)
            continue
        if len(utterance) > MAX_CHARS:
            raise InputError(f"Row {number} has {len(utterance)} characters; at most {MAX_CHARS} are allowed.")
        if not speaker:
            unnamed.append(number)
        rows.append(number)
        speakers.append(speaker or UNKNOWN_SPEAKER)
        utterances.append(utterance)
    if not utterances:
        raise InputError("The dialogue is empty: write at least one utterance in the table (speaker, utterance).")
    if len(utterances) > MAX_UTTERANCES:
        raise InputError(f"The dialogue has {len(utterances)} utterances; at most {MAX_UTTERANCES} are allowed.")
    notes = []
    if dropped:
        notes.append(f"Rows without an utterance were left out: {format_rows(dropped)}.")
    if unnamed:
        notes.append(f"Rows without a speaker count as one speaker '{UNKNOWN_SPEAKER}': {format_rows(unnamed)}.")
    return Dialogue(rows, speakers, utterances, notes)


def format_rows(rows: list[int]) -> str:
    """Row numbers for a message, at most ten of them: '3, 4, 9' or '1, 2, ... (12 rows)'."""
    shown = ", ".join(str(row) for row in rows[:10])
    return shown if len(rows) <= 10 else f"{shown}, ... ({len(rows)} rows)"


def natural_key(path: str) -> list:
    """Sort key of a file name with its numbers compared as numbers: `utt2` before `utt10`."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", os.path.basename(path))]


def upload_name(path: str) -> str:
    """The name a file was uploaded under (Gradio keeps it as the last part of the path)."""
    return os.path.basename(str(path))


def attach_files(paths, num_utterances: int, suffixes: tuple[str, ...], kind: str) -> list[str | None]:
    """One file or `None` per utterance: files sorted by name (numbers in natural order) go to the utterances in
    order, the first file to the first utterance.

    Raises:
        InputError: more files than utterances, or a file type that is not in `suffixes`.
    """
    paths = sorted((str(path) for path in paths or []), key=natural_key)
    if len(paths) > num_utterances:
        raise InputError(f"{len(paths)} {kind} files for {num_utterances} utterances: give at most one per utterance.")
    for path in paths:
        if not upload_name(path).lower().endswith(suffixes):
            raise InputError(f"{upload_name(path)}: unsupported {kind} file type; use one of {' '.join(suffixes)}.")
    return paths + [None] * (num_utterances - len(paths))


def place_recording(audio: list, recording: str | None, row, dialogue: Dialogue) -> list:
    """Put a recorded (or single uploaded) audio at the utterance of table row `row`, replacing a file there.

    Raises:
        InputError: the row is not one of the dialogue's utterances.
    """
    if not recording:
        return audio
    if row is None or int(row) not in dialogue.rows:
        raise InputError(
            f"The recording is for row {row}, which holds no utterance; pick one of {format_rows(dialogue.rows)}."
        )
    audio = list(audio)
    audio[dialogue.rows.index(int(row))] = recording
    return audio


def user_message(error: Exception, dialogue: Dialogue | None, uploads: list[str]) -> str:
    """An error for the page: the processor's 0-based 'dialogue 0, utterance n' becomes the table row, and the
    server's paths of uploaded files become their names."""
    rows = dialogue.rows if dialogue is not None else []

    def table_row(match: re.Match) -> str:
        index = int(match.group(1))
        return f"row {rows[index]}" if index < len(rows) else f"utterance {index + 1}"

    message = re.sub(r"dialogue 0, utterance (\d+)", table_row, str(error))
    for path in sorted(uploads, key=len, reverse=True):
        message = message.replace(path, upload_name(path))
    return message


# ---------------------------------------------------------------------------------------------------------------
# The model: the checkpoint's pipeline, its model run under inference mode
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class Analysis:
    """What one model run gives the page, for N utterances and C emotions."""

    predictions: list[dict]  # the pipeline's result per utterance: {"label": str, "score": float}
    probabilities: np.ndarray  # (N, C)
    modality_weights: np.ndarray  # (N, 3), over (text, audio, visual)
    graph_attention: list[np.ndarray]  # per graph layer: (N, N), row i = where utterance i read from
    modality_attention: np.ndarray | None  # (3, 3) of the last graph layer: target modality x source modality


def graph_layer_attentions(attentions) -> list[np.ndarray]:
    """The graph layers' attentions among a model's `attentions`, (B, N, window, M source, M target, heads) each
    (the fusion attention, 5-dimensional, comes after them and is left out)."""
    return [item.float().cpu().numpy() for item in attentions or () if item.dim() == 6]


def grid_modalities(inputs: dict) -> list[int]:
    """Indices in MODALITIES of the modalities the model's graph holds: those the inputs give (text also as tokens)."""
    given = {m for m in MODALITIES if f"{m}_features" in inputs} | ({"text"} if "input_ids" in inputs else set())
    return [index for index, m in enumerate(MODALITIES) if m in given]


def utterance_attention(attention: np.ndarray, past_window: int) -> np.ndarray:
    """Graph attention between utterances of one dialogue, averaged over heads, and over the modality nodes of each
    target utterance (so each row of an utterance with nodes sums to 1).

    Shapes: attention (N, window, M source, M target, heads) -> (N, N) as (target, source)
    """
    num_utterances, window = attention.shape[:2]
    per_slot = attention.mean(axis=-1).sum(axis=(2, 3))  # (N, window): summed over the target's nodes
    nodes = per_slot.sum(axis=1)  # each node's weights sum to 1: the number of nodes of each target
    matrix = np.zeros((num_utterances, num_utterances))
    for target in range(num_utterances):
        for slot in range(window):
            source = target + slot - past_window
            if 0 <= source < num_utterances:
                matrix[target, source] = per_slot[target, slot]
    return matrix / np.maximum(nodes, 1)[:, None]


def modality_attention(attention: np.ndarray, modality_ids: list[int]) -> np.ndarray:
    """Share of graph attention each target modality gave to each source modality (one dialogue), averaged over
    heads and over target nodes: row m sums to 1 when modality m has nodes.

    Shapes: attention (N, window, M source, M target, heads) for the modalities `modality_ids` -> (3, 3) as
    (target, source)
    """
    pairs = attention.mean(axis=-1).sum(axis=(0, 1)).T  # (M target, M source)
    matrix = np.zeros((len(MODALITIES), len(MODALITIES)))
    matrix[np.ix_(modality_ids, modality_ids)] = pairs / np.maximum(pairs.sum(axis=1, keepdims=True), 1)
    return matrix


class EmotionRecognizer:
    """A checkpoint's `emotion-recognition-in-conversation` pipeline behind one call: dialogue in, `Analysis` out."""

    def __init__(self, emotion_pipeline, source: str):
        self.pipeline = emotion_pipeline
        self.model = emotion_pipeline.model.eval()
        self.source = source
        self.modalities = list(self.model.config.modalities)
        self.labels = [self.model.config.id2label[index] for index in range(self.model.config.num_labels)]
        # Fast tokenizers change their truncation state per call and must not be shared between threads at once.
        self.processor_lock = threading.Lock()

    def __call__(self, dialogue: dict) -> Analysis:
        """Run the model on one dialogue (`speakers`, `utterances`, optional `audio` and `images`, one per utterance).

        The pipeline's own steps, with one model run that also returns the attentions for the figures: its
        pre-processing, the model, and its post-processing, which gives the labels and scores (every emotion ranked,
        as `pipeline(dialogue, top_k=C)` returns them).

        Raises:
            ValueError: the processor or the model refused the input (unreadable file, ...).
        """
        with self.processor_lock:
            inputs = self.pipeline.preprocess([dialogue])
        with torch.inference_mode():
            outputs = self.model(**inputs, output_attentions=True)
        ranked = self.pipeline.postprocess(
            {"logits": outputs.logits, "attention_mask": inputs["attention_mask"]}, top_k=len(self.labels)
        )[0]  # per utterance, every emotion, most probable first
        scores = [{result["label"]: result["score"] for result in utterance} for utterance in ranked]
        layers = [attention[0] for attention in graph_layer_attentions(outputs.attentions)]  # the one dialogue
        past_window = self.model.config.past_window
        return Analysis(
            predictions=[utterance[0] for utterance in ranked],
            probabilities=np.array([[utterance[label] for label in self.labels] for utterance in scores]),
            modality_weights=outputs.modality_weights[0].float().cpu().numpy(),
            graph_attention=[utterance_attention(attention, past_window) for attention in layers],
            modality_attention=modality_attention(layers[-1], grid_modalities(inputs)) if layers else None,
        )

    def explain(self, dialogue: dict, utterance: int):
        """Which edges of the dialogue's graph the prediction of utterance `utterance` (0-based) leaned on: the
        checkpoint's `graph_synctva.explain_utterance` (PyTorch Geometric's AttentionExplainer).

        Raises:
            ValueError: the processor or the model refused the input, or the checkpoint has no graph_synctva.py.
        """
        with self.processor_lock:
            inputs = self.pipeline.preprocess([dialogue])
        # The checkpoint's remote code ships graph_synctva.py beside its modeling file.
        package = type(self.model).__module__.rsplit(".", 1)[0]
        try:
            graph_code = importlib.import_module(f"{package}.graph_synctva")
        except ImportError as error:
            raise ValueError(
                "this checkpoint has no graph_synctva.py (saved before graph explanations): save it again with "
                "the current code"
            ) from error
        return graph_code.explain_utterance(self.model, dict(inputs), dialogue=0, utterance=utterance)


def is_local_path(source: str) -> bool:
    """Whether `source` names a local folder (an absolute or relative path, or one that exists) rather than a Hub id."""
    return os.path.isabs(source) or source.startswith((".", "~")) or os.path.exists(source)


def load_recognizer(source: str) -> tuple[EmotionRecognizer | None, str]:
    """The recognizer of checkpoint `source` (a local folder or a Hub id) and a Markdown line about it; without a
    usable checkpoint, `None` and a message that says how to make one."""
    help_text = (
        f"Make one from the repository root with `{TRAIN_COMMAND}` and restart, or set `SYNCTVA_MODEL` to a "
        "checkpoint folder or Hub id."
    )
    if is_local_path(source) and not os.path.isdir(os.path.expanduser(source)):
        return None, f"**No checkpoint at `{source}`.** {help_text}"
    source = os.path.expanduser(source)
    try:
        emotion_pipeline = pipeline(TASK, model=source, trust_remote_code=True, device="cpu")
    except KeyError:
        logger.exception("no %s pipeline in %s", TASK, source)
        return None, (
            f"**`{source}` has no `{TASK}` pipeline** in its config (`custom_pipelines`): checkpoints written by "
            f"`train.py` have it. {help_text}"
        )
    except (OSError, ValueError) as error:
        logger.exception("could not load %s", source)
        return None, f"**Could not load the checkpoint `{source}`:** {error}. {help_text}"
    model, processor = emotion_pipeline.model, emotion_pipeline.processor
    if getattr(model.config, "text_encoder_config", None) is None:
        return None, (
            f"**`{source}` reads precomputed text features**, not raw text: the demo needs a checkpoint that holds "
            f"its text encoder (`SyncTVAForEmotionClassification.from_text_encoder`). {help_text}"
        )
    recognizer = EmotionRecognizer(emotion_pipeline, source)
    context_note = ""
    if getattr(processor, "text_context_window", None):
        context_note = " Its text encoder reads each utterance with its dialogue context, as in training."
    return recognizer, f"Checkpoint `{source}`: {modality_note(recognizer.modalities)}{context_note}"


def modality_note(modalities: list[str]) -> str:
    """What the checkpoint reads, and which of the page's inputs it ignores."""
    ignored = [name for modality, name in (("audio", "audio files"), ("visual", "face images/videos"))
               if modality not in modalities]
    note = f"reads {', '.join(modalities)}."
    return note + (f" It ignores {' and '.join(ignored)}." if ignored else "")


# ---------------------------------------------------------------------------------------------------------------
# Outputs: the table and the figures
# ---------------------------------------------------------------------------------------------------------------


def emotion_table(
    dialogue: Dialogue, analysis: Analysis, labels: list[str], modalities: list[str], reference: list[str] | None
) -> pd.DataFrame:
    """One row per utterance: its table row, speaker, text, predicted emotion, confidence, the dataset's annotation
    when the dialogue is one of the examples, every emotion's probability and every modality's weight."""
    probabilities = analysis.probabilities.astype(np.float64)
    table = pd.DataFrame({
        "#": dialogue.rows,
        "speaker": dialogue.speakers,
        "utterance": dialogue.utterances,
        "emotion": [prediction["label"] for prediction in analysis.predictions],
        "confidence": np.array([prediction["score"] for prediction in analysis.predictions]).round(3),
    })
    if reference is not None:
        table["annotated"] = reference
    for index, label in enumerate(labels):
        table[f"p({label})"] = probabilities[:, index].round(3)
    for modality in modalities:
        weights = analysis.modality_weights[:, MODALITIES.index(modality)]
        table[f"{modality} weight"] = weights.astype(np.float64).round(3)
    return table


def utterance_names(dialogue: Dialogue) -> list[str]:
    """Plot labels of the utterances, '07 Ross': the table row zero-padded, so that sorting them as text (what the
    browser's plots do) keeps the dialogue's order."""
    width = len(str(max(dialogue.rows)))
    return [f"{row:0{width}d} {speaker}" for row, speaker in zip(dialogue.rows, dialogue.speakers)]


def emotion_curves(dialogue: Dialogue, probabilities: np.ndarray, labels: list[str]) -> pd.DataFrame:
    """The emotion probabilities through the dialogue, one row per (utterance, emotion), for a line plot drawn in
    the browser."""
    return pd.DataFrame({
        "utterance": np.repeat(utterance_names(dialogue), len(labels)),
        "emotion": np.tile(labels, len(dialogue.rows)),
        "probability": probabilities.astype(np.float64).round(3).reshape(-1),
    })


def attention_figure(dialogue: Dialogue, analysis: Analysis, modalities: list[str]) -> Figure:
    """Heatmaps of the graph attention: utterance x utterance for the first and the last graph layer, and, for a
    checkpoint that reads several modalities, the share each modality's nodes gave to each modality in the last
    layer."""
    layers = analysis.graph_attention
    # Fixed margins instead of a layout engine: the constrained layout doubled the drawing time of every request.
    figure = Figure(figsize=(11, 4.2))
    figure.subplots_adjust(left=0.06, right=0.97, bottom=0.17, top=0.88, wspace=0.45)
    if not layers:
        figure.text(0.5, 0.5, "This checkpoint has no graph layers: there is no graph attention to show.", ha="center")
        return figure
    shown = [("first graph layer", layers[0])] + ([("last graph layer", layers[-1])] if len(layers) > 1 else [])
    pair_panel = len(modalities) > 1
    grid = figure.add_gridspec(1, len(shown) + pair_panel, width_ratios=[3] * len(shown) + [2] * pair_panel)
    ticks = [str(row) for row in dialogue.rows]
    for column, (title, matrix) in enumerate(shown):
        axes = figure.add_subplot(grid[0, column])
        image = axes.imshow(matrix, cmap="viridis", vmin=0, vmax=max(float(matrix.max()), 1e-6))
        axes.set_title(f"{title}: utterance attention", fontsize=10)
        axes.set_xticks(range(len(ticks)), ticks, fontsize=7, rotation=90)
        axes.set_yticks(range(len(ticks)), ticks, fontsize=7)
        axes.set(xlabel="attended utterance (row)", ylabel="attending utterance (row)")
        figure.colorbar(image, ax=axes, shrink=0.8)
    if not pair_panel:
        return figure
    used = [MODALITIES.index(modality) for modality in modalities]
    pairs = analysis.modality_attention[np.ix_(used, used)]
    axes = figure.add_subplot(grid[0, -1])
    axes.imshow(pairs, cmap="magma", vmin=0, vmax=1)
    for (i, j), share in np.ndenumerate(pairs):
        axes.text(j, i, f"{share:.2f}", ha="center", va="center", color="white" if share < 0.6 else "black")
    axes.set_xticks(range(len(modalities)), modalities)
    axes.set_yticks(range(len(modalities)), modalities)
    axes.set_title("last graph layer:\nmodality attention", fontsize=10)
    axes.set(xlabel="attended modality", ylabel="attending modality")
    return figure


def modality_bars(dialogue: Dialogue, modality_weights: np.ndarray, modalities: list[str]) -> pd.DataFrame:
    """How much each modality the checkpoint reads contributed to each utterance (the fusion's weights), one row
    per (utterance, modality), for stacked bars drawn in the browser."""
    used = [MODALITIES.index(modality) for modality in modalities]
    return pd.DataFrame({
        "utterance": np.repeat(utterance_names(dialogue), len(used)),
        "modality": np.tile(modalities, len(dialogue.rows)),
        "weight": modality_weights[:, used].astype(np.float64).round(3).reshape(-1),
    })


# ---------------------------------------------------------------------------------------------------------------
# Examples: the MELD test split when the data is here, else the dialogues bundled in examples.json
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class Example:
    """An example dialogue with its dataset's emotion annotation."""

    name: str
    speakers: list[str]
    utterances: list[str]
    emotions: list[str]


def load_examples() -> tuple[list[Example], str]:
    """The example dialogues and where they come from: every MELD test dialogue when `datasets_scripts` and the
    MELD CSVs are available here, else the few bundled in `examples.json`."""
    try:
        from datasets_scripts import default_data_dir, load_meld

        data_dir = default_data_dir()
        if data_dir is not None:
            test = load_meld(data_dir)["test"]
            names = test.features["labels"].feature.names
            examples = [
                Example(f"MELD test dialogue {row['dialogue_id']} ({len(row['utterances'])} utterances)",
                        row["speakers"], row["utterances"], [names[label] for label in row["labels"]])
                for row in test
                if len(row["utterances"]) <= MAX_UTTERANCES
            ]
            return examples, f"the MELD test split in `{data_dir}`"
    except (ImportError, FileNotFoundError, ValueError) as error:
        logger.info("MELD data not available (%s): using %s", error, EXAMPLES_FILE.name)
    bundled = json.loads(EXAMPLES_FILE.read_text(encoding="utf-8"))
    examples = [
        Example(f"MELD {d['split']} dialogue {d['dialogue_id']} ({len(d['utterances'])} utterances)",
                d["speakers"], d["utterances"], d["emotions"])
        for d in bundled["dialogues"]
    ]
    return examples, f"{len(examples)} MELD test dialogues bundled in `space/{EXAMPLES_FILE.name}` (GPL-3.0)"


def example_rows(example: Example) -> list[list[str]]:
    return [[speaker, utterance] for speaker, utterance in zip(example.speakers, example.utterances)]


# ---------------------------------------------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------------------------------------------


def read_inputs(recognizer, table, audio_files, recording, recording_row, face_files) -> tuple[Dialogue, dict, list[str]]:
    """The page's inputs as the recognizer takes them: the checked dialogue, the processor's input (speakers,
    utterances, the files of the modalities the checkpoint reads) and notes for the user.

    Raises:
        InputError: the table or the files are not usable (see `read_dialogue_table`, `attach_files`).
    """
    dialogue = read_dialogue_table(table)
    count = len(dialogue.utterances)
    audio = attach_files(audio_files, count, AUDIO_SUFFIXES, "audio")
    audio = place_recording(audio, recording, recording_row, dialogue)
    images = attach_files(face_files, count, FACE_SUFFIXES, "face")
    notes = list(dialogue.notes)
    inputs = {"speakers": dialogue.speakers, "utterances": dialogue.utterances}
    for modality, key, values, name in (("audio", "audio", audio, "audio"), ("visual", "images", images, "face")):
        given = sum(value is not None for value in values)
        if given and modality in recognizer.modalities:
            inputs[key] = values
            notes.append(f"{name.capitalize()} files used for {given} of {count} utterances.")
        elif given:
            notes.append(f"This checkpoint does not read {modality}: the {given} {name} file(s) were ignored.")
    return dialogue, inputs, notes


def explanation_table(dialogue: Dialogue, ranking: list[dict], top: int = 15) -> pd.DataFrame:
    """The `top` edges an utterance's prediction leaned on most, as table rows and speakers: from which utterance
    and modality, by which relation, into which utterance and modality, with the attention they got."""
    return pd.DataFrame([
        {
            "from": f"{dialogue.rows[edge['source_utterance']]} {dialogue.speakers[edge['source_utterance']]}",
            "from modality": edge["source_modality"],
            "relation": edge["relation"].replace("_", " "),
            "into": f"{dialogue.rows[edge['target_utterance']]} {dialogue.speakers[edge['target_utterance']]}",
            "into modality": edge["target_modality"],
            "attention": round(edge["weight"], 3),
        }
        for edge in ranking[:top]
    ], columns=["from", "from modality", "relation", "into", "into modality", "attention"])


def explain_row(recognizer, table, audio_files, recording, recording_row, face_files, row) -> tuple[str, pd.DataFrame | None]:
    """The Explain button: (status, the edges the prediction of the utterance in table row `row` leaned on)."""
    if recognizer is None:
        return f"There is no model to run. {TRAIN_HINT_MARKDOWN}", None
    dialogue = None
    uploads = [str(path) for path in [*(audio_files or []), *(face_files or []), recording] if path]
    try:
        dialogue, inputs, _ = read_inputs(recognizer, table, audio_files, recording, recording_row, face_files)
        if row not in dialogue.rows:
            raise InputError(f"Row {row} holds no utterance: choose one of the rows {format_rows(dialogue.rows)}.")
        explained = recognizer.explain(inputs, dialogue.rows.index(row))
    except ValueError as error:
        message = user_message(error, dialogue, uploads)
        gr.Warning(message)
        return f"**Could not explain the utterance:** {message}", None
    status = (
        f"Row {row} is predicted **{explained.predicted_label}**. The edges of the dialogue's graph its prediction "
        "leaned on, by graph attention (PyTorch Geometric's AttentionExplainer, the largest over heads and layers):"
    )
    return status, explanation_table(dialogue, explained.ranking)


def analyse_dialogue(recognizer, examples, table, audio_files, recording, recording_row, face_files):
    """The Analyse button: (status, emotion table, emotion plot, attention plot, modality plot)."""
    empty = (None, None, None, None)
    if recognizer is None:
        return (f"There is no model to run. {TRAIN_HINT_MARKDOWN}", *empty)
    dialogue = None
    uploads = [str(path) for path in [*(audio_files or []), *(face_files or []), recording] if path]
    try:
        dialogue, inputs, notes = read_inputs(recognizer, table, audio_files, recording, recording_row, face_files)
        count = len(dialogue.utterances)
        analysis = recognizer(inputs)
    except ValueError as error:
        message = user_message(error, dialogue, uploads)
        gr.Warning(message)
        return f"**Could not analyse the dialogue:** {message}", *empty
    reference = next((e.emotions for e in examples if e.utterances == dialogue.utterances), None)
    status = f"Analysed {count} utterances." + "".join(f"\n- {note}" for note in notes)
    if reference is not None:
        status += "\n- This is an example dialogue: the `annotated` column gives the dataset's emotions."
    return (
        status,
        emotion_table(dialogue, analysis, recognizer.labels, recognizer.modalities, reference),
        emotion_curves(dialogue, analysis.probabilities, recognizer.labels),
        attention_figure(dialogue, analysis, recognizer.modalities),
        modality_bars(dialogue, analysis.modality_weights, recognizer.modalities),
    )


def build_demo(
    recognizer: EmotionRecognizer | None, model_note: str, examples: list[Example], examples_note: str
) -> gr.Blocks:
    """The page: the dialogue table, optional audio and face files, and the outputs."""
    by_name = {example.name: example for example in examples}
    first = next((e for e in examples if 5 <= len(e.utterances) <= 12), examples[0]) if examples else None

    def analyse(table, audio_files, recording, recording_row, face_files):
        return analyse_dialogue(recognizer, examples, table, audio_files, recording, recording_row, face_files)

    def explain(table, audio_files, recording, recording_row, face_files, row):
        return explain_row(recognizer, table, audio_files, recording, recording_row, face_files, row)

    def load_example(name):
        if not name:  # the Clear button empties the choice: leave the table as Clear left it
            return gr.skip()
        example = by_name.get(name)
        if example is None:
            raise gr.Error(f"Unknown example {name!r}.")
        return example_rows(example)

    with gr.Blocks(title="Sync-TVA: emotions in a conversation", analytics_enabled=False) as demo:
        gr.Markdown(
            "# Sync-TVA: the emotion of every utterance in a conversation\n"
            "Graph attention over the text, audio and visual cues of a dialogue "
            "([arXiv 2507.21395](https://arxiv.org/abs/2507.21395)). Edit the dialogue or load an example, optionally "
            "add an audio clip or a face image/video per utterance, and press **Analyse**.\n\n"
            f"{model_note}",
            elem_id="model-note",
        )
        example_choice = gr.Dropdown(
            choices=list(by_name), value=first.name if first else None, label="Example dialogue",
            info=f"From {examples_note}.",
        )
        table = gr.Dataframe(
            value=example_rows(first) if first else [["", ""]],
            headers=TABLE_HEADERS, datatype="str", type="array", column_count=2, interactive=True,
            label=f"Dialogue: one utterance per row (at most {MAX_UTTERANCES} rows of {MAX_CHARS} characters)",
            show_row_numbers=True, wrap=True, column_widths=["18%", "82%"], elem_id="dialogue-table",
        )
        with gr.Accordion("Audio and faces (optional)", open=False):
            gr.Markdown(
                "Uploaded files, sorted by name (`utt2` before `utt10`), go to the utterances in order: the first file "
                f"to the first utterance. Audio: {' '.join(AUDIO_SUFFIXES)}. Faces: {' '.join(FACE_SUFFIXES)}."
            )
            with gr.Row():
                audio_files = gr.File(file_count="multiple", label="Audio per utterance", elem_id="audio-files")
                face_files = gr.File(
                    file_count="multiple", label="Face image or video per utterance", elem_id="face-files"
                )
            with gr.Row():
                recording = gr.Audio(
                    sources=["microphone", "upload"], type="filepath", label="Or record one utterance", scale=3
                )
                recording_row = gr.Number(value=1, precision=0, minimum=1, label="for table row", scale=1)
        with gr.Row():
            analyse_button = gr.Button("Analyse", variant="primary", elem_id="analyse")
            clear_button = gr.ClearButton(value="Clear", elem_id="clear")
        status = gr.Markdown(elem_id="status")
        emotions = gr.Dataframe(label="Emotion of each utterance", interactive=False, wrap=True, elem_id="emotions")
        with gr.Tabs():
            with gr.Tab("Emotions through the dialogue"):
                emotion_plot = gr.LinePlot(
                    x="utterance", y="probability", color="emotion", color_map=EMOTION_COLORS, y_lim=[0, 1],
                    x_title="utterance (table row, speaker)", x_label_angle=-45, sort="x", tooltip="all",
                    label="emotions", show_label=False,
                    elem_id="emotion-plot",
                )
            with gr.Tab("Graph attention"):
                attention_plot = gr.Plot(
                    label="graph attention", show_label=False, format="png", elem_id="attention-plot"
                )
                with gr.Row():
                    explain_row_number = gr.Number(
                        value=1, precision=0, minimum=1, label="Explain the utterance of table row", scale=3
                    )
                    explain_button = gr.Button("Explain", elem_id="explain", scale=1)
                explain_status = gr.Markdown(elem_id="explain-status")
                explanation = gr.Dataframe(
                    label="edges the prediction leaned on", interactive=False, wrap=True, elem_id="explanation"
                )
            with gr.Tab("Modality contributions"):
                modality_plot = gr.BarPlot(
                    x="utterance", y="weight", color="modality", color_map=MODALITY_COLORS, y_lim=[0, 1],
                    x_title="utterance (table row, speaker)", x_label_angle=-45, sort="x",
                    y_title="weight in the fused state", tooltip="all",
                    label="modality contributions", show_label=False, elem_id="modality-plot",
                )
        outputs = [status, emotions, emotion_plot, attention_plot, modality_plot]
        clear_button.add([example_choice, table, audio_files, recording, face_files, *outputs, explain_status, explanation])
        example_choice.change(load_example, example_choice, table, api_name="load_example")
        analyse_button.click(
            analyse, [table, audio_files, recording, recording_row, face_files], outputs, api_name="analyse"
        )
        explain_button.click(
            explain, [table, audio_files, recording, recording_row, face_files, explain_row_number],
            [explain_status, explanation], api_name="explain",
        )
    return demo


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    # Each of the CONCURRENCY model runs gets its share of the cores: more threads than cores make torch spin and
    # run several times slower (measured: 4x on 2 busy cores). Containers may show more cores than they get, so
    # SYNCTVA_TORCH_THREADS can set it.
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    torch.set_num_threads(int(os.environ.get("SYNCTVA_TORCH_THREADS") or max(1, cores // CONCURRENCY)))
    recognizer, model_note = load_recognizer(os.environ.get("SYNCTVA_MODEL") or str(DEFAULT_MODEL))
    if recognizer is None:
        logger.warning(model_note)
    examples, examples_note = load_examples()
    demo = build_demo(recognizer, model_note, examples, examples_note)
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_SIZE).launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        max_file_size=MAX_FILE_SIZE,
    )


if __name__ == "__main__":
    main()
