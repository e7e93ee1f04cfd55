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
"""PNG figures of a training run: the curves per epoch and the test confusion matrix (matplotlib, Agg backend)."""

import os
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from modeling_synctva.atomic_files import atomic_write  # noqa: E402


def save_figure(figure, path: str | os.PathLike) -> None:
    """Save `figure` as a PNG at `path` atomically, then close it."""
    atomic_write(path, lambda temporary: figure.savefig(temporary, dpi=120, bbox_inches="tight"), suffix=".png")
    plt.close(figure)


def plot_training_curves(history: list[dict], path: str | os.PathLike, selected_epoch: int | None = None) -> None:
    """Train and validation loss, and validation accuracy and weighted F1, per epoch; the selected epoch dashed."""
    epochs = [record["epoch"] for record in history]
    figure, (loss_axis, score_axis) = plt.subplots(1, 2, figsize=(10, 4))
    loss_axis.plot(epochs, [r["train_loss"] for r in history], marker="o", label="train")
    loss_axis.plot(epochs, [r["validation_loss"] for r in history], marker="o", label="validation")
    loss_axis.set(xlabel="epoch", ylabel="loss", title="Loss")
    score_axis.plot(epochs, [r["validation_accuracy"] for r in history], marker="o", label="accuracy")
    score_axis.plot(epochs, [r["validation_weighted_f1"] for r in history], marker="o", label="weighted F1")
    score_axis.plot(epochs, [r["validation_macro_f1"] for r in history], marker="o", label="macro F1")
    score_axis.set(xlabel="epoch", ylabel="score", title="Validation")
    for axis in (loss_axis, score_axis):
        if selected_epoch is not None:
            axis.axvline(selected_epoch, color="grey", linestyle="--", label=f"selected (epoch {selected_epoch})")
        axis.legend()
        axis.grid(alpha=0.3)
    save_figure(figure, path)


def plot_confusion_matrix(matrix: Sequence[Sequence[int]], label_names: Sequence[str], path: str | os.PathLike, title: str) -> None:
    """Row-normalised confusion matrix (rows: true class) with the counts written in each cell."""
    counts = np.asarray(matrix)
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    size = max(4.0, 0.8 * len(label_names) + 2)
    figure, axis = plt.subplots(figsize=(size, size))
    image = axis.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    figure.colorbar(image, ax=axis, fraction=0.046, pad=0.04, label="fraction of the true class")
    ticks = np.arange(len(label_names))
    axis.set_xticks(ticks, label_names, rotation=45, ha="right")
    axis.set_yticks(ticks, label_names)
    axis.set(xlabel="predicted", ylabel="true", title=title)
    for row in range(counts.shape[0]):
        for column in range(counts.shape[1]):
            color = "white" if rates[row, column] > 0.5 else "black"
            axis.text(column, row, str(counts[row, column]), ha="center", va="center", color=color, fontsize=8)
    save_figure(figure, path)
