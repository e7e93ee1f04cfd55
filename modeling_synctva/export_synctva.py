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
"""Serving a trained Sync-TVA without its Python code: a `torch.export` program of the classifier from features, and
an ONNX file for onnxruntime.

Utilities around the model, not the model: its forward pass is all in `modeling_synctva.py`. Both run from
precomputed features (the text encoder, when the model holds one, is not exported), in eval mode, and return what
the model returns: `logits` (B, N, num_labels), `modality_weights` (B, N, 3) and `edge_type` (B, N, K, M, M).

* `export_program`: one program for every dialogue of 2 to `max_utterances` utterances (dynamic `num_utterances`),
  at the example's batch size or, with `dynamic_batch=True`, for any batch of 2 to `max_batch_size` dialogues.
  `save_program` writes it as a `.pt2` file for `torch.export.load`.
* `export_onnx`: an ONNX file at the example's shapes (batch size and number of utterances fixed); shorter
  dialogues are padded to that length at the end, with `attention_mask` 0 on the padding, which does not change
  the logits of the real utterances.

Why the ONNX file has fixed shapes: with a dynamic number of utterances, `torch.onnx.export(..., dynamo=True)`
turns the modality enhancement's `nn.GRU` into a `while_loop` (torch's dynamic-shape RNN decomposition), and its
decomposition pass gives the loop's outputs the example's length: the file runs in onnxruntime at the example's
length only, and any other fails ("invalid expand shape" at the backward GRU's `reverse_within_length`). Exporting
the `export_program` program instead fixes every length to the example's (out-of-range `Gather` indices in the
window's `unfold` at other lengths). Measured with torch 2.13, onnxscript 0.7.2, onnxruntime 1.32. With fixed shapes
the GRU is unrolled and the file is exact.
"""

import contextlib
import os
import sys
from collections.abc import Iterator

import torch
from torch.export import Dim, ExportedProgram
from torch.export._patches import register_gru_while_loop_decomposition
from torch.fx.experimental import _config as symbolic_shapes_config

from .atomic_files import atomic_write
from .configuration_synctva import MODALITIES
from .modeling_synctva import SyncTVAForEmotionClassification


INPUT_NAMES = ("text_features", "audio_features", "visual_features", "speaker_ids", "modality_mask", "attention_mask")
"""The inputs an exported Sync-TVA takes, by name: the features and masks of `SyncTVAForEmotionClassification`."""
OUTPUT_NAMES = ("logits", "modality_weights", "edge_type")
MIN_EXPORTED_UTTERANCES = 2
"""The fewest utterances an exported program takes: tracing a dialogue of one utterance specializes the layout of the
graph attention's in-place operations. Pad a one-utterance dialogue to two (`attention_mask` [1, 0])."""


def check_export_inputs(model: SyncTVAForEmotionClassification, example_inputs: dict[str, torch.Tensor]) -> tuple[int, int]:
    """Raise a `ValueError` unless `model` is in eval mode and `example_inputs` are features the model accepts;
    return their (batch_size, num_utterances)."""
    if model.training:
        raise ValueError("export runs the model for inference: call `model.eval()` first")
    unknown = sorted(set(example_inputs) - set(INPUT_NAMES))
    if unknown:
        raise ValueError(f"`example_inputs` may hold only {list(INPUT_NAMES)} (export runs from features), got {unknown}")
    if not all(isinstance(value, torch.Tensor) for value in example_inputs.values()):
        raise ValueError("every value of `example_inputs` must be a tensor (leave out the inputs you do not give)")
    features = [name for name in INPUT_NAMES[:3] if name in example_inputs]
    if not features:
        raise ValueError(f"`example_inputs` needs at least one of {list(INPUT_NAMES[:3])}")
    with torch.inference_mode():
        model(**example_inputs)  # the model's own checks of shapes and values, with its messages
    batch_size, num_utterances = example_inputs[features[0]].shape[:2]
    return batch_size, num_utterances


@contextlib.contextmanager
def whole_dialogue_tracing(model: SyncTVAForEmotionClassification, max_edge_elements: int) -> Iterator[None]:
    """Trace the model so that one graph serves every dialogue length up to the export's bounds.

    * The graph attention makes its edge-sized tensors for runs of utterances (`EDGE_CHUNK_ELEMENTS` elements), with
      a Python loop over runs for long dialogues, which a traced graph cannot keep: within the context a run holds
      `max_edge_elements`, the whole dialogue at the export's largest shapes.
    * `nn.GRU` traces as a `while_loop` over the utterances (torch's dynamic-shape RNN decomposition) instead of one
      step per utterance of the example.
    * Sizes are reasoned about size-obliviously, so that dialogues shorter and longer than the window share the
      graph (else the strided window views specialize the trace to one side).
    """
    modeling = sys.modules[type(model).__module__]
    chunk_elements = modeling.EDGE_CHUNK_ELEMENTS
    modeling.EDGE_CHUNK_ELEMENTS = max(chunk_elements, max_edge_elements)
    # torch's patch swaps the GRU's kernel without emptying the operator's cache of resolved kernels: after a
    # `torch.compile` in the same process the cached step-per-utterance GRU would be traced (and the length fixed), and
    # after the export the while_loop one would stay. So the cache is emptied on the way in and on the way out.
    gru = torch.ops.aten.gru.input
    try:
        with register_gru_while_loop_decomposition(), symbolic_shapes_config.patch(backed_size_oblivious=True):
            gru._dispatch_cache.clear()
            yield
    finally:
        gru._dispatch_cache.clear()
        modeling.EDGE_CHUNK_ELEMENTS = chunk_elements


def export_program(
    model: SyncTVAForEmotionClassification,
    example_inputs: dict[str, torch.Tensor],
    max_utterances: int = 1024,
    dynamic_batch: bool = False,
    max_batch_size: int = 64,
) -> ExportedProgram:
    r"""`torch.export` the classifier from features, with a dynamic number of utterances.

    Args:
        model (`SyncTVAForEmotionClassification`): the model, in eval mode.
        example_inputs (`dict[str, torch.Tensor]`): inputs of the model's forward pass named in `INPUT_NAMES`, of at
            least `MIN_EXPORTED_UTTERANCES` utterances: the features of the modalities the program will take, of
            shape (B, N, F_modality), and optionally `speaker_ids` (B, N), `modality_mask` (B, N, 3) and
            `attention_mask` (B, N). The program takes the same names.
        max_utterances (`int`, *optional*, defaults to 1024): the longest dialogue the program takes. Its edge-sized
            tensors are made for the whole dialogue at once, (B, N, K, M, M, H) floats, so this bounds its memory.
        dynamic_batch (`bool`, *optional*, defaults to `False`): take any batch of 2 to `max_batch_size`
            dialogues (the example must then have 2 or more); else exactly the example's batch size. A dynamic batch
            cannot include 1: the traced GRU's input projection specializes on it.
        max_batch_size (`int`, *optional*, defaults to 64): with `dynamic_batch`, the largest batch.

    Returns:
        `torch.export.ExportedProgram`: `program.module()(**inputs)` gives the model's output (`logits` (B, N,
        num_labels), `modality_weights` (B, N, 3), `edge_type` (B, N, K, M, M)) for inputs of the example's names.
    """
    batch_size, num_utterances = check_export_inputs(model, example_inputs)
    if not MIN_EXPORTED_UTTERANCES <= num_utterances <= max_utterances:
        raise ValueError(
            f"the example has {num_utterances} utterances; it needs {MIN_EXPORTED_UTTERANCES} to `max_utterances` "
            f"({max_utterances})"
        )
    if dynamic_batch and not 2 <= batch_size <= max_batch_size:
        raise ValueError(f"`dynamic_batch` needs an example of 2 to `max_batch_size` ({max_batch_size}) dialogues, got {batch_size}")
    utterances = Dim("num_utterances", min=MIN_EXPORTED_UTTERANCES, max=max_utterances)
    dims = {0: Dim("batch_size", min=2, max=max_batch_size), 1: utterances} if dynamic_batch else {1: utterances}
    config = model.config
    window = config.past_window + config.future_window + 1
    largest_batch = max_batch_size if dynamic_batch else batch_size
    max_edge_elements = largest_batch * max_utterances * window * len(MODALITIES) ** 2 * config.hidden_size
    with whole_dialogue_tracing(model, max_edge_elements):
        return torch.export.export(
            model, args=(), kwargs=dict(example_inputs), dynamic_shapes={name: dims for name in example_inputs}
        )


def save_program(program: ExportedProgram, path: str | os.PathLike) -> str:
    """Write `program` (from `export_program`) to `path` (a `.pt2` file) atomically; `torch.export.load(path)` reads
    it back. Returns `path`."""
    return str(atomic_write(path, lambda temporary: torch.export.save(program, temporary), suffix=os.path.splitext(path)[1]))


def export_onnx(
    model: SyncTVAForEmotionClassification, path: str | os.PathLike, example_inputs: dict[str, torch.Tensor]
) -> str:
    r"""Write the classifier from features as one ONNX file at `path`, atomically, for onnxruntime.

    The file takes the example's shapes (see the module docstring for why): inputs named as in `example_inputs`,
    features (B, N, F_modality), `speaker_ids` (B, N) int64, `modality_mask` (B, N, 3) bool, `attention_mask`
    (B, N) int64; outputs `logits` (B, N, num_labels), `modality_weights` (B, N, 3) and `edge_type` (B, N, K, M,
    M). Give `attention_mask` in the example, so that shorter dialogues can be run padded to N.

    Returns:
        `str`: `path`.
    """
    check_export_inputs(model, example_inputs)

    def write(temporary: str) -> None:
        torch.onnx.export(
            model, args=(), f=temporary, kwargs=dict(example_inputs), dynamo=True, external_data=False,
            output_names=list(OUTPUT_NAMES), verbose=False,
        )

    return str(atomic_write(path, write, suffix=os.path.splitext(path)[1]))


__all__ = ["INPUT_NAMES", "MIN_EXPORTED_UTTERANCES", "export_onnx", "export_program", "save_program"]
