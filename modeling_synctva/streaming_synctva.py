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
"""Running a trained Sync-TVA fast: the compile recipe for batch-1 latency, and `SyncTVAStreamer` for live dialogues.

Utilities around the model, not the model: its forward pass is all in `modeling_synctva.py`.
"""

import torch
from torch import nn

from .configuration_synctva import MODALITIES
from .modeling_synctva import SyncTVAEmotionClassifierOutput, SyncTVAForEmotionClassification, modality_grid


LATENCY_COMPILE_OPTIONS = {"cpp.threads": 1}
"""`torch.compile` options for batch-1 latency: one dialogue's tensors are too small to split across threads, and
waking a second thread costs more than it saves (see `compile_for_latency`)."""


def allow_recurrent_layers_in_graphs() -> None:
    """Let `torch.compile` trace the enhancement's `nn.GRU` into the compiled graph (dynamo's `allow_rnn`), instead
    of falling back to eager for the whole forward pass. A process-wide dynamo setting, read when a graph is traced."""
    torch._dynamo.config.allow_rnn = True


def compile_for_latency(model: nn.Module) -> nn.Module:
    """`model` compiled for the lowest latency per dialogue: one graph (`dynamic=True`), single-threaded generated
    kernels (`LATENCY_COMPILE_OPTIONS`). The first call compiles (10-30 s on CPU), and so does the first dialogue of
    each new length: the traced GRUs specialise on it (bench/README.md)."""
    allow_recurrent_layers_in_graphs()
    return torch.compile(model, dynamic=True, options=LATENCY_COMPILE_OPTIONS)

STREAMER_COMPILE_OPTIONS = {
    **LATENCY_COMPILE_OPTIONS,
    # With buffer reuse, inductor corrupted the window states a compiled step returns (views of its own buffers).
    "allow_buffer_reuse": False,
    # The step's allocations, views and shape checks of some 60 buffers ran as Python: generate them as C++ instead,
    # and leave out inductor's checks of its own buffers' shapes (a debugging aid).
    "cpp_wrapper": True,
    "size_asserts": False,
}
"""`torch.compile` options of `SyncTVAStreamer(..., compile=True)`."""


class SyncTVAStreamer:
    r"""Online emotion recognition: classify each new utterance of a live dialogue as it arrives, exactly as the
    whole dialogue would be classified, at a cost that does not grow with the dialogue.

    It needs a causal model (`future_window=0`). There, the logits of utterance :math:`i` depend on earlier
    utterances in two ways only, and the streamer keeps just that:

    * the dialogue context of the modality enhancement, a forward GRU: per modality its hidden state after the
      last utterance so far, of shape (1, 1, H) (see `ModalityEnhancement`);
    * the graph: node :math:`(i, m)` after layer :math:`l` reads the layer-:math:`(l - 1)` states of utterances
      :math:`i - P, \dots, i` (:math:`P` = `past_window`), and in causal mode those states never change once
      computed. So for every layer the streamer keeps its input states of the last :math:`P` utterances, (1, P, M,
      H) for the M modalities the model reads, with their modality presence (1, P, M) and speakers (1, P). Before
      the dialogue has :math:`P` utterances, the window is filled with absent nodes, which have no edges: every
      step has the same shapes.

    Each `step` runs the enhancement on the new utterances only, then each graph layer on the kept utterances and
    the new ones, keeping the new ones' outputs, then the fusion and the classifier for the new utterances. The
    work per utterance is O(graph_layers x P x M^2) edges and the memory O(graph_layers x P x M x H), whatever the
    dialogue's length. The logits equal those of the model run on the whole dialogue so far (to float rounding).

    Args:
        model (`SyncTVAForEmotionClassification`): a causal model in eval mode.
        modalities (`list[str]`, *optional*): the modalities the dialogue's utterances may have, a subset of
            `model.config.modalities` (the default). The graph's grid holds these only, so a text-only stream
            through a T+A+V model does a third of the work in each direction.
        compile (`bool`, *optional*, defaults to `False`): run each step through `torch.compile` with
            `STREAMER_COMPILE_OPTIONS`. The first step compiles it (seconds to a minute on CPU); after that a step
            is a dozen fused kernels and the matrix products, two to three times as fast as eager. Its checks of
            input values (NaN, negative speakers) raise a `RuntimeError` with the same message.

    Example:

    ```python
    >>> streamer = SyncTVAStreamer(model, modalities=["text"])
    >>> for features, speaker in live_dialogue:  # features: (text_feature_size,)
    ...     logits = streamer.step(text_features=features[None], speaker_ids=torch.tensor([speaker])).logits[0, -1]
    ```
    """

    def __init__(
        self, model: SyncTVAForEmotionClassification, modalities: list[str] | None = None, compile: bool = False
    ):
        if not model.config.is_causal:
            raise ValueError(
                f"streaming needs a causal model (`future_window=0`), this one looks {model.config.future_window} "
                "utterances ahead"
            )
        if model.config.graph_implementation != "window":
            raise ValueError(
                "streaming runs the window kernel: load the model with `graph_implementation=\"window\"` (the weights "
                f"are the same), got {model.config.graph_implementation!r}"
            )
        modalities = model.config.modalities if modalities is None else modalities
        if not modalities or set(modalities) - set(model.config.modalities):
            raise ValueError(f"`modalities` must be a non-empty subset of the model's {model.config.modalities}, got {modalities}")
        self.model = model
        self.modalities = [m for m in MODALITIES if m in modalities]
        self.advance = self.run_step
        # CODEPATH: compile=True only (latency-bound live use).
        if compile:
            allow_recurrent_layers_in_graphs()
            self.advance = torch.compile(self.run_step, options=STREAMER_COMPILE_OPTIONS)
        self.reset()

    @torch.inference_mode()
    def reset(self) -> None:
        """Forget the dialogue: the next `step` starts a new one."""
        device, dtype, config = self.model.device, self.model.dtype, self.model.config
        num_modalities, past = len(self.modalities), config.past_window
        # Every window tensor is laid out as a one-utterance step leaves it (the last P of P + 1 utterances), and none
        # is a view of another, so that a compiled step sees the same kind of inputs at every step.
        # modality -> the enhancement's forward GRU state (1, 1, H), the GRU's own start; none without enhancement
        self.context_states = {
            m: torch.zeros(1, 1, config.hidden_size, dtype=dtype, device=device) if config.use_modality_enhancement else None
            for m in self.modalities
        }
        self.window_present = torch.zeros(1, past + 1, num_modalities, dtype=torch.bool, device=device)[:, 1:]  # (1, P, M)
        self.window_speakers = torch.zeros(1, past + 1, dtype=torch.long, device=device)[:, 1:]  # (1, P)
        # Per graph layer, its input states of the window's utterances: (1, P, M, H)
        self.window_states = [
            torch.zeros(1, past + 1, num_modalities, config.hidden_size, dtype=dtype, device=device)[:, 1:]
            for _ in self.model.model.graph_layers
        ]

    @torch.inference_mode()
    def step(
        self,
        text_features: torch.FloatTensor | None = None,
        audio_features: torch.FloatTensor | None = None,
        visual_features: torch.FloatTensor | None = None,
        input_ids: torch.LongTensor | None = None,
        text_attention_mask: torch.LongTensor | None = None,
        modality_mask: torch.BoolTensor | None = None,
        speaker_ids: torch.LongTensor | None = None,
    ) -> SyncTVAEmotionClassifierOutput:
        r"""Classify the next `k` utterances of the dialogue (usually one).

        Inputs are those of `SyncTVAForEmotionClassification.forward` for the new utterances only, without the batch
        dimension: features (k, F), `input_ids` / `text_attention_mask` (k, L), `modality_mask` (k, 3),
        `speaker_ids` (k,) (the same id for the same speaker across steps). Returns `logits` (1, k, num_labels) and
        `modality_weights` (1, k, 3).
        """
        if self.model.training:
            raise ValueError("streaming runs the model for inference: call `model.eval()` first")
        inputs = {
            "text_features": text_features, "audio_features": audio_features, "visual_features": visual_features,
            "input_ids": input_ids, "text_attention_mask": text_attention_mask, "modality_mask": modality_mask,
            "speaker_ids": speaker_ids,
        }
        window = (self.context_states, self.window_present, self.window_speakers, self.window_states)
        logits, modality_weights, window = self.advance(inputs, window)
        self.context_states, self.window_present, self.window_speakers, self.window_states = window
        return SyncTVAEmotionClassifierOutput(logits=logits, modality_weights=modality_weights)

    def run_step(
        self, inputs: dict[str, torch.Tensor | None], window: tuple
    ) -> tuple[torch.Tensor, torch.Tensor, tuple]:
        """One step as a function of the inputs of `step` and the kept window (context states, presence, speakers,
        per-layer states): the logits and modality weights of the new utterances, and the next window."""
        context_states, window_present, window_speakers, window_states = window
        base, config = self.model.model, self.model.config
        batch = {name: None if value is None else value.unsqueeze(0) for name, value in inputs.items()}
        features, present, speaker_ids, attention_mask = base.gather_inputs(**batch, attention_mask=None)
        # The grid holds the stream's modalities; those not given in this step are absent.
        if set(features) - set(self.modalities):
            raise ValueError(f"this stream has the modalities {self.modalities}, got {sorted(features)}: pass `modalities` to the streamer")
        features = {
            m: features[m] if m in features else present.new_zeros(*present.shape[:2], getattr(config, f"{m}_feature_size"), dtype=self.model.dtype)
            for m in self.modalities
        }
        modality_ids, grid_present = modality_grid(self.modalities, present)
        node_states, context_states = base.embed_nodes(features, grid_present, attention_mask.sum(dim=1), context_states)

        past = config.past_window
        present_all = torch.cat([window_present, grid_present], dim=1)  # (1, P + k, M)
        speakers_all = torch.cat([window_speakers, speaker_ids], dim=1)
        graph = base.graph(present_all, speakers_all, modality_ids)
        last_past = slice(present_all.shape[1] - past, None)  # the next step's window: the last P utterances
        next_states = []
        for layer, kept_states in zip(base.graph_layers, window_states):
            layer_input = torch.cat([kept_states, node_states], dim=1)
            node_states = layer(layer_input, *graph)[0][:, past:]
            next_states.append(layer_input[:, last_past])

        fused, modality_weights = base.fuse_modalities(node_states, grid_present, modality_ids)
        next_window = (context_states, present_all[:, last_past], speakers_all[:, last_past], next_states)
        return self.model.classifier(fused), modality_weights, next_window


__all__ = ["SyncTVAStreamer", "LATENCY_COMPILE_OPTIONS", "compile_for_latency"]
