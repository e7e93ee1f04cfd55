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
"""PyTorch Sync-TVA model: emotion recognition for every utterance of a dialogue from text, audio and visual cues.

The data flows, top to bottom of this file:

1. `ModalityEnhancement` (the paper's MSDE), one per modality: project each utterance's features to the hidden
   size and enhance them, through a gate, with a recurrent read of the same modality over the dialogue.
2. `dialogue_window`: one node per (utterance, present modality); typed edges inside a past/future window,
   within and across modalities, typed by modality pair, direction, speaker and distance, stored per window slot.
   `dialogue_edge_list` gives the same graph as a PyTorch Geometric edge list, and graphs a window cannot hold (the
   whole dialogue, extra edges).
3. `GraphAttentionLayer` (a relational graph attention layer, residuals, normalisation): attention over the typed
   edges of the heterogeneous cross-modal graph, by the window kernel `RelationalGraphAttention` or, with the same
   weights, the PyTorch Geometric layer `RelationalGraphAttentionConv` (`config.graph_implementation`).
4. `CrossModalFusion`: per utterance, each modality attends to the other two; a gate with a learned reliability
   per modality weighs them.
5. A linear classifier gives one emotion per utterance.
"""

import math
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.nn import MessagePassing
from torch_geometric.utils import coalesce, softmax
from transformers import AutoModel, PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.utils import ModelOutput, auto_docstring
from transformers.utils.generic import can_return_tuple
from transformers.utils.output_capturing import OutputRecorder, capture_outputs

from .configuration_synctva import MODALITIES, SyncTVAConfig, edge_relation_count


EDGE_CHUNK_ELEMENTS = 2**19
"""Elements of an edge-sized tensor (utterances x window x modalities^2 x hidden size) made at once by the graph
attention without gradients: 2 MiB of float32, which stays in cache."""

TRAINING_EDGE_CHUNK_ELEMENTS = 2**23
"""The same with gradients (training): 32 MiB. Every run of utterances adds its own operators to the backward pass,
and in training they cost more than the cache saves (MELD-shaped T+A+V epochs about 17% shorter than with
`EDGE_CHUNK_ELEMENTS`, bench/README.md)."""


@auto_docstring(custom_intro="Fused utterance states of the Sync-TVA model, and the graph they came through.")
@dataclass
class SyncTVAModelOutput(ModelOutput):
    r"""
    last_hidden_state (`torch.FloatTensor` of shape `(batch_size, num_utterances, hidden_size)`):
        One fused state per utterance (zeros for padded utterances).
    modality_weights (`torch.FloatTensor` of shape `(batch_size, num_utterances, 3)`):
        How much each modality (text, audio, visual) contributed to each utterance's fused state; rows sum to 1
        over the present modalities (0 for padding).
    edge_type (`torch.LongTensor` of shape `(batch_size, num_utterances, window, num_modalities, num_modalities)`):
        The graph, over each utterance's window of `window = config.past_window + config.future_window + 1`
        utterances: `edge_type[b, i, k, s, t]` is the type of the edge from modality `s` of utterance
        `i + k - config.past_window` to modality `t` of utterance `i`, `(3 * source_modality + target_modality) *
        config.num_edge_relations + relation`, and -1 where there is no edge. The modality axes list the modalities
        that were given, in (text, audio, visual) order. With `config.graph_implementation="pyg"`, the type of
        each edge of `edge_index`, of shape `(num_edges,)`.
    edge_index (`torch.LongTensor` of shape `(2, num_edges)`, with `config.graph_implementation="pyg"` only):
        The graph as an edge list (source and target node of each edge), over the nodes of the present
        (utterance, modality) cells of the `(batch_size, num_utterances, num_modalities)` grid in row-major order
        (`graph_synctva.build_dialogue_graph` gives it as PyTorch Geometric objects).
    hidden_states (`tuple(torch.FloatTensor)`, returned with `output_hidden_states=True`):
        States of shape `(batch_size, num_utterances, num_modalities, hidden_size)`: the enhanced inputs, then the
        output of each graph layer (only the cells of present modalities are meaningful).
    attentions (`tuple`, returned with `output_attentions=True`):
        For each graph layer the attention of every edge, of shape `(batch_size, num_utterances, window,
        num_modalities, num_modalities, num_attention_heads)` and laid out as `edge_type` (0 where there is no
        edge), then the fusion attention of shape `(batch_size, num_utterances, num_attention_heads,
        num_modalities, num_modalities)` (query modality, key modality), in training as in evaluation. With
        `config.graph_implementation="pyg"`,
        graph states are of shape `(num_nodes, hidden_size)` and graph attentions `(num_edges, num_attention_heads)`,
        over the nodes and edges of `edge_index`, in training as in evaluation.
    """

    last_hidden_state: torch.FloatTensor | None = None
    modality_weights: torch.FloatTensor | None = None
    edge_type: torch.LongTensor | None = None
    edge_index: torch.LongTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple | None = None


@auto_docstring(custom_intro="Per-utterance emotion logits of the Sync-TVA model.")
@dataclass
class SyncTVAEmotionClassifierOutput(ModelOutput):
    r"""
    loss (`torch.FloatTensor` of shape `()`, returned when `labels` is provided):
        Classification loss (class-weighted cross-entropy or focal) over the labelled utterances.
    logits (`torch.FloatTensor` of shape `(batch_size, num_utterances, config.num_labels)`):
        Emotion scores of every utterance, before softmax.
    modality_weights (`torch.FloatTensor` of shape `(batch_size, num_utterances, 3)`):
        How much each modality contributed to each utterance (see `SyncTVAModelOutput`).
    edge_type (`torch.LongTensor` of shape `(batch_size, num_utterances, window, num_modalities, num_modalities)`):
        The graph: the type of every edge in each utterance's window, -1 where there is none (see
        `SyncTVAModelOutput`); `(num_edges,)` with `config.graph_implementation="pyg"`.
    edge_index (`torch.LongTensor` of shape `(2, num_edges)`, with `config.graph_implementation="pyg"` only):
        The graph as an edge list over the present (utterance, modality) nodes (see `SyncTVAModelOutput`).
    hidden_states (`tuple(torch.FloatTensor)`, returned with `output_hidden_states=True`):
        States of the (utterance, modality) grid: the enhanced inputs, then the output of each graph layer.
    attentions (`tuple`, returned with `output_attentions=True`):
        Graph attention per layer and the fusion attention (see `SyncTVAModelOutput`).
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    modality_weights: torch.FloatTensor | None = None
    edge_type: torch.LongTensor | None = None
    edge_index: torch.LongTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple | None = None


def reverse_within_length(values: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    r"""Each row's first `lengths[b]` entries in reverse order, padding left in place: row :math:`b` becomes
    :math:`(v_{L_b - 1}, \dots, v_0, v_{L_b}, \dots)`. Its own inverse, so applying it twice gives `values` back.

    Shapes:
        values (B, N, *), lengths (B,) -> (B, N, *)
    """
    positions = torch.arange(values.shape[1], device=values.device)  # (N,)
    reversed_positions = lengths.unsqueeze(-1) - 1 - positions  # (B, N)
    index = torch.where(positions < lengths.unsqueeze(-1), reversed_positions, positions)
    index = index.view(*index.shape, *(1,) * (values.dim() - 2)).expand_as(values)
    return values.gather(1, index)


class ModalityEnhancement(nn.Module):
    r"""Modality-specific dynamic enhancement (the paper's MSDE) for one modality.

    A weak modality is strengthened from its own dialogue, read in order, before it meets the others:

    .. math::
        \mathbf{h}_i &= \mathrm{LN}(\mathbf{W}_{in} \mathrm{Dropout}_f(\mathbf{x}_i)) \\
        \mathbf{c}_i &= \big[\overrightarrow{\mathrm{GRU}}(p_1 \mathbf{h}_1, \dots, p_i \mathbf{h}_i) ;
                       \overleftarrow{\mathrm{GRU}}(p_N \mathbf{h}_N, \dots, p_i \mathbf{h}_i)\big] \\
        \mathbf{g}_i &= \sigma(\mathbf{W}_g [\mathbf{h}_i ; \mathbf{c}_i]) \\
        \mathbf{h}'_i &= \mathrm{LN}\big(\mathbf{h}_i + \mathbf{g}_i \odot \mathrm{Dropout}(\mathbf{W}_c \mathbf{c}_i)\big)

    with :math:`\mathrm{Dropout}_f` the feature dropout (`config.feature_dropout_prob`), :math:`p_j` 1 where the
    modality is present in utterance :math:`j` (an absent one reads as zeros) and :math:`N` the dialogue's length. Each direction has `hidden_size / 2` units; in causal mode
    (`future_window=0`) there is only the forward GRU, with `hidden_size` units, and its last hidden state is what
    a stream carries from one piece of the dialogue to the next (`SyncTVAStreamer`). With
    `config.use_modality_enhancement=False`, :math:`\mathbf{h}'_i = \mathbf{h}_i`. Every utterance gets a state;
    those of utterances where the modality is absent are never read.

    The GRUs of all modalities read their dialogues together (`read_dialogues`), so this module has three steps:
    `project` gives :math:`\mathbf{h}`, `dialogue_input` the sequence its GRUs read, and `update` gives
    :math:`\mathbf{h}'` from :math:`\mathbf{h}` and the context :math:`\mathbf{c}`.

    Shapes:
        features (B, N, F_modality) -> h (B, N, H); h and present (B, N) -> GRU input (B, N, H);
        h and c (B, N, H) -> h' (B, N, H)
    """

    def __init__(self, config: SyncTVAConfig, modality: str):
        super().__init__()
        feature_size = getattr(config, f"{modality}_feature_size")
        self.residual = config.enhancement_residual
        self.feature_dropout = nn.Dropout(config.feature_dropout_prob)
        self.input_projection = nn.Linear(feature_size, config.hidden_size)
        self.input_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        # CODEPATH: ablation checkpoints (use_modality_enhancement=False) keep the projection only.
        if not config.use_modality_enhancement:
            return
        # CODEPATH: causal checkpoints (future_window=0) read forward only, with the whole hidden size.
        direction_size = config.hidden_size if config.is_causal else config.hidden_size // 2
        self.forward_context = nn.GRU(config.hidden_size, direction_size, batch_first=True)
        # CODEPATH: non-causal checkpoints (future_window > 0) also read the dialogue backwards.
        if not config.is_causal:
            self.backward_context = nn.GRU(config.hidden_size, direction_size, batch_first=True)
        self.context_gate = nn.Linear(2 * config.hidden_size, config.hidden_size)
        self.context_projection = nn.Linear(config.hidden_size, config.hidden_size)
        self.output_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def project(self, features: torch.Tensor) -> torch.Tensor:
        """:math:`\\mathbf{h}`: each utterance's features projected to the hidden size. (B, N, F) -> (B, N, H)"""
        return self.input_norm(self.input_projection(self.feature_dropout(features)))

    def dialogue_input(self, states: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """What the GRUs read: :math:`p_j \\mathbf{h}_j`. (B, N, H), (B, N) -> (B, N, H)"""
        inputs = states * present.unsqueeze(-1).to(states.dtype)
        # CODEPATH: enhancement_residual="context" checkpoints (the gated update on the context) drop the input.
        if self.residual == "context":
            inputs = self.dropout(inputs)
        return inputs

    def update(self, states: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """:math:`\\mathbf{h}'` from :math:`\\mathbf{h}` and the context :math:`\\mathbf{c}`. (B, N, H) each -> (B, N, H)"""
        gate = torch.sigmoid(self.context_gate(torch.cat([states, context], dim=-1)))
        # CODEPATH: enhancement_residual="context" checkpoints put the gated update on the context.
        if self.residual == "context":
            return self.output_norm(self.context_projection(context) + gate * self.dropout(states))
        update = self.dropout(self.context_projection(context))
        return self.output_norm(states + gate * update)


def grus_in_lockstep(
    grus: list[nn.GRU], sequences: torch.Tensor, initial: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""G one-layer GRUs of the same sizes (batch first), GRU :math:`g` over sequence :math:`g`, run side by side:
    each step is one batched matrix product for all of them, so a dialogue costs as many steps as it has
    utterances, not G times as many. For each GRU, at step :math:`t` (`nn.GRU`'s own equations and weights):

    .. math::
        \mathbf{r}_t &= \sigma(\mathbf{W}_{ir} \mathbf{x}_t + \mathbf{b}_{ir} + \mathbf{W}_{hr} \mathbf{h}_{t-1}
                        + \mathbf{b}_{hr}), \quad
        \mathbf{z}_t = \sigma(\mathbf{W}_{iz} \mathbf{x}_t + \mathbf{b}_{iz} + \mathbf{W}_{hz} \mathbf{h}_{t-1}
                        + \mathbf{b}_{hz}) \\
        \mathbf{n}_t &= \tanh\big(\mathbf{W}_{in} \mathbf{x}_t + \mathbf{b}_{in}
                        + \mathbf{r}_t \odot (\mathbf{W}_{hn} \mathbf{h}_{t-1} + \mathbf{b}_{hn})\big), \quad
        \mathbf{h}_t = \mathbf{n}_t + \mathbf{z}_t \odot (\mathbf{h}_{t-1} - \mathbf{n}_t)

    Under `torch.compile` and `torch.export` each GRU runs as itself: a loop over a dialogue's length cannot be
    traced for every length, and `nn.GRU` can.

    Shapes:
        sequences (G, B, N, I), initial (G, B, H) or None (zeros) -> outputs (G, B, N, H), last states (G, B, H)
    """
    if torch.compiler.is_compiling():
        runs = [
            gru(sequence, None if initial is None else initial[g : g + 1])
            for g, (gru, sequence) in enumerate(zip(grus, sequences))
        ]
        return torch.stack([outputs for outputs, _ in runs]), torch.cat([last for _, last in runs])
    num_grus, batch_size, num_steps, input_size = sequences.shape
    hidden_size = grus[0].hidden_size
    input_weights = torch.stack([gru.weight_ih_l0 for gru in grus]).transpose(1, 2)  # (G, I, 3H)
    hidden_weights = torch.stack([gru.weight_hh_l0 for gru in grus]).transpose(1, 2)  # (G, H, 3H)
    input_bias = torch.stack([gru.bias_ih_l0 for gru in grus]).unsqueeze(1)  # (G, 1, 3H)
    hidden_bias = torch.stack([gru.bias_hh_l0 for gru in grus]).unsqueeze(1)
    input_gates = torch.baddbmm(input_bias, sequences.reshape(num_grus, -1, input_size), input_weights)
    input_gates = input_gates.view(num_grus, batch_size, num_steps, 3 * hidden_size)
    state = sequences.new_zeros(num_grus, batch_size, hidden_size) if initial is None else initial
    outputs = []
    for step in range(num_steps):
        hidden_gates = torch.baddbmm(hidden_bias, state, hidden_weights)  # (G, B, 3H)
        step_gates = input_gates[:, :, step]
        reset, keep = torch.sigmoid(step_gates[..., : 2 * hidden_size] + hidden_gates[..., : 2 * hidden_size]).chunk(2, dim=-1)
        candidate = torch.tanh(step_gates[..., 2 * hidden_size :] + reset * hidden_gates[..., 2 * hidden_size :])
        state = candidate + keep * (state - candidate)
        outputs.append(state)
    return torch.stack(outputs, dim=2), state


def read_dialogues(
    enhancements: list[ModalityEnhancement],
    inputs: torch.Tensor,
    lengths: torch.Tensor,
    causal: bool,
    carried: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""The context :math:`\mathbf{c}` of every modality's enhancement (`ModalityEnhancement`): its forward GRU
    over the dialogue and, unless `causal`, its backward GRU over the dialogue reversed, all in lockstep
    (`grus_in_lockstep`). `carried` starts the forward GRUs from the state a stream kept.

    Shapes:
        inputs (B, N, M, H) the GRUs' inputs of the M modalities, lengths (B,), carried (M, B, H_direction) ->
        context (B, N, M, H), the forward GRUs' last states (M, B, H_direction)
    """
    num_modalities = inputs.shape[2]
    grus = [enhancement.forward_context for enhancement in enhancements]
    sequences = inputs.permute(2, 0, 1, 3)  # (M, B, N, H)
    # CODEPATH: non-causal checkpoints (future_window > 0) read the dialogues backwards too.
    if not causal:
        grus += [enhancement.backward_context for enhancement in enhancements]
        sequences = torch.cat([sequences, reverse_within_length(inputs, lengths).permute(2, 0, 1, 3)])
    outputs, last_states = grus_in_lockstep(grus, sequences, carried)
    outputs = outputs.permute(1, 2, 0, 3)  # (B, N, G, H_direction)
    context = outputs[:, :, :num_modalities]
    if not causal:
        context = torch.cat([context, reverse_within_length(outputs[:, :, num_modalities:], lengths)], dim=-1)
    return context, last_states[:num_modalities]


def mean_pool(token_states: torch.Tensor, token_mask: torch.Tensor) -> torch.Tensor:
    r"""The mean of the real tokens' states: :math:`\mathbf{x} = \sum_l m_l \mathbf{e}_l / \sum_l m_l` (the text
    encoder's pooling, for the features cached for training and for the model run from tokens alike).

    Shapes:
        token_states (K, L, D), token_mask (K, L) -> (K, D)
    """
    mask = token_mask.unsqueeze(-1).to(token_states.dtype)
    return (token_states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)


def modality_grid(modalities: list[str], present: torch.Tensor) -> tuple[list[int], torch.Tensor]:
    """The graph's grid over `modalities` (names, in (text, audio, visual) order): their indices in `MODALITIES`
    and their presence. Shapes: present (B, N, 3) -> [M indices], (B, N, M)"""
    modality_ids = [MODALITIES.index(m) for m in modalities]
    return modality_ids, present[..., modality_ids]


def window_slots(values: torch.Tensor, past_window: int, future_window: int, fill: float | bool = 0) -> torch.Tensor:
    r"""Each utterance's window of values: slot :math:`k` of utterance :math:`i` holds utterance
    :math:`i + k - \text{past}`, or `fill` where that is outside the dialogue. A strided view of the padded values
    (no copy, and a cheap backward).

    Shapes:
        values (B, N, *) -> (B, N, K, *) with K = past + future + 1
    """
    padded = F.pad(values, (0, 0) * (values.dim() - 2) + (past_window, future_window), value=fill)
    return padded.unfold(1, past_window + future_window + 1, 1).movedim(-1, 2)


def dialogue_window(
    present: torch.Tensor,
    speaker_ids: torch.Tensor,
    modality_ids: torch.Tensor,
    past_window: int,
    future_window: int,
    speaker_aware: bool,
    distance_buckets: list[int] = (1,),
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""The heterogeneous cross-modal graph of a batch of dialogues, as a fixed-size window around each utterance.

    Nodes are the present (utterance, modality) pairs. Node :math:`(j, m')` sends a message to node :math:`(i, m)`
    of the same dialogue when :math:`j = i + k - \text{past}` for a window slot
    :math:`k \in [0, \text{past} + \text{future}]`, for every pair of modalities (text-text, text-audio, ...,
    visual-visual), including the self loop :math:`(i, m) \to (i, m)`. The edge type is

    .. math::
        t &= (3 m' + m) R + r \\
        r &= 0 \text{ for the same utterance, else } 1 + (\delta S + s) D + d

    with :math:`m, m'` the modalities' indices in (text, audio, visual), :math:`\delta` 0 for an earlier and 1 for
    a later source, :math:`s` 1 for another speaker (only when `speaker_aware`: :math:`S = 2`, else
    :math:`S = 1` and :math:`s = 0`), and :math:`d` the distance bucket of :math:`|j - i|` among the
    :math:`D` = `len(distance_buckets)` buckets (bucket :math:`d` starts at distance `distance_buckets[d]`), so
    :math:`R = 1 + 2 S D` relations. The graph is stored as dense
    (B, N, K, M, M) tensors over window slots (`window_slots`), with K = past + future + 1: no edge list to build or
    gather along, no dense N x N adjacency, and memory O(B N K M^2). Padding utterances are absent nodes.

    Shapes:
        present (B, N, M) bool over the M modalities listed in `modality_ids` (M,), speaker_ids (B, N) ->
        edge_type (B, N, K, M source, M target), has_edge (B, N, K, M source, M target) bool
    """
    source_present = window_slots(present, past_window, future_window, fill=False)  # (B, N, K, M)
    has_edge = source_present.unsqueeze(-1) & present[:, :, None, None, :]

    offsets = torch.arange(-past_window, future_window + 1, device=present.device)  # (K,)
    other_speaker = None
    if speaker_aware:
        other_speaker = window_slots(speaker_ids, past_window, future_window) != speaker_ids.unsqueeze(-1)  # (B, N, K)
    relation = edge_relation(offsets, other_speaker, distance_buckets)  # (K,) or (B, N, K)
    num_relations = edge_relation_count(speaker_aware, len(distance_buckets))
    modality_pair = modality_ids[:, None] * len(MODALITIES) + modality_ids[None, :]  # (source, target)
    edge_type = modality_pair * num_relations + relation[..., None, None]
    return edge_type.expand_as(has_edge), has_edge


def edge_relation(
    offsets: torch.Tensor, other_speaker: torch.Tensor | None, distance_buckets: list[int]
) -> torch.Tensor:
    r"""The relation :math:`r` of `dialogue_window`'s edge types for edges whose source utterance is `offsets`
    utterances after the target (negative: before), from another speaker where `other_speaker` (None: edges are
    not typed by speaker).

    Shapes:
        offsets (*), other_speaker (*) or None -> (*)
    """
    num_speaker_relations, num_buckets = (1 if other_speaker is None else 2), len(distance_buckets)
    boundaries = torch.tensor(distance_buckets, device=offsets.device)
    bucket = torch.bucketize(offsets.abs(), boundaries, right=True) - 1  # -1 for the utterance itself
    relation = 1 + (offsets > 0).long() * num_speaker_relations * num_buckets + bucket
    if other_speaker is not None:
        relation = relation + other_speaker.long() * num_buckets
    return torch.where(offsets == 0, 0, relation)


def dialogue_edge_list(
    present: torch.Tensor,
    speaker_ids: torch.Tensor,
    modality_ids: torch.Tensor,
    past_window: int | None,
    future_window: int | None,
    speaker_aware: bool,
    distance_buckets: list[int] = (1,),
    extra_edge_index: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""The heterogeneous cross-modal graph of `dialogue_window` as an edge list (PyTorch Geometric's layout), for
    any reach: a window, the whole dialogue (`past_window` / `future_window` None), and extra edges.

    The nodes are the present cells of the (B, N, M) grid, numbered in the grid's row-major order, so a dialogue's
    nodes are consecutive. The edges and their types are exactly those of `dialogue_window` (the whole dialogue is
    its window as long as the batch's rows). Each extra edge, from utterance `j` to utterance `i` of the same
    dialogue (numbered `b * N + n` over the batch), joins every present modality of `j` to every present modality
    of `i`, typed like a window edge at that distance; an edge the graph already has is kept once.

    Shapes:
        present (B, N, M) bool over the M modalities listed in `modality_ids` (M,), speaker_ids (B, N),
        extra_edge_index (2, E_extra) or None ->
        node_cells (|V|,) indices into the flattened (B, N, M) grid, edge_index (2, |E|) source and target nodes,
        edge_type (|E|,)
    """
    batch_size, num_utterances, num_modalities = present.shape
    past = num_utterances - 1 if past_window is None else past_window
    future = num_utterances - 1 if future_window is None else future_window
    window_type, has_edge = dialogue_window(
        present, speaker_ids, modality_ids, past, future, speaker_aware, distance_buckets
    )
    row, target, slot, source_modality, target_modality = has_edge.nonzero(as_tuple=True)
    source_cell = ((row * num_utterances + target + slot - past) * num_modalities + source_modality)
    target_cell = (row * num_utterances + target) * num_modalities + target_modality
    cells = torch.stack([source_cell, target_cell])  # (2, |E|)
    edge_type = window_type[has_edge]
    # CODEPATH: extra edges given to `forward` (e.g. from a discourse parser), PyG implementation only.
    if extra_edge_index is not None:
        source_utterance, target_utterance = extra_edge_index  # (E_extra,) each
        other_speaker = None
        flat_speakers = speaker_ids.flatten()
        if speaker_aware:
            other_speaker = flat_speakers[source_utterance] != flat_speakers[target_utterance]
        relation = edge_relation(source_utterance - target_utterance, other_speaker, distance_buckets)
        flat_present = present.flatten(0, 1)  # (B * N, M)
        pair_present = flat_present[source_utterance, :, None] & flat_present[target_utterance, None, :]  # (E_extra, M, M)
        edge, source_modality, target_modality = pair_present.nonzero(as_tuple=True)
        extra_cells = torch.stack([
            source_utterance[edge] * num_modalities + source_modality,
            target_utterance[edge] * num_modalities + target_modality,
        ])
        modality_pair = modality_ids[source_modality] * len(MODALITIES) + modality_ids[target_modality]
        extra_type = modality_pair * edge_relation_count(speaker_aware, len(distance_buckets)) + relation[edge]
        cells, edge_type = coalesce(
            torch.cat([cells, extra_cells], dim=1), torch.cat([edge_type, extra_type]), present.numel(), reduce="max"
        )
    node_cells = present.flatten().nonzero().squeeze(-1)  # (|V|,)
    node_of_cell = torch.full((present.numel(),), -1, dtype=torch.long, device=present.device)
    node_of_cell[node_cells] = torch.arange(len(node_cells), device=present.device)
    return node_cells, node_of_cell[cells], edge_type


class RelationalGraphAttention(nn.Module):
    r"""GATv2-style multi-head attention over typed edges (a relational graph attention layer).

    For an edge :math:`j \to i` of type :math:`t` and head :math:`k`:

    .. math::
        e_{ij}^{k} &= \mathbf{a}_k^\top \mathrm{LeakyReLU}\big(\mathbf{W}_s \mathbf{x}_j + \mathbf{W}_t \mathbf{x}_i
                      + \mathbf{r}_t\big)_k \\
        \alpha_{ij}^{k} &= \operatorname{softmax}_{j \in \mathcal{N}(i)} e_{ij}^{k} \\
        \mathbf{x}'_i &= \mathbf{W}_o \big\Vert_k \sum_{j \in \mathcal{N}(i)} \alpha_{ij}^{k}
                        \big(\mathbf{W}_v \mathbf{x}_j + \mathbf{v}_t\big)_k

    with learned edge-type embeddings :math:`\mathbf{r}_t` (in the score) and :math:`\mathbf{v}_t` (in the
    message), so each of the typed relations (modality pair, direction, speaker) is attended to and carries
    information in its own way, with one set of projections for the whole graph.

    The neighbourhood :math:`\mathcal{N}(i)` of a node is its window of `dialogue_window`: the sources are a
    strided view of the projected states (`window_slots`), and the softmax runs over the window's (slot, source
    modality) axes with non-edges masked. A few large operations, whatever the batch.

    Shapes:
        x (B, N, M, H), edge_type and has_edge (B, N, K, M, M) ->
        (B, N, M, H), and the attention (B, N, K, M source, M target, heads), zero where there is no edge
    """

    def __init__(self, config: SyncTVAConfig):
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_size = config.hidden_size // config.num_attention_heads
        self.past_window, self.future_window = config.past_window, config.future_window
        self.source_projection = nn.Linear(config.hidden_size, config.hidden_size)
        self.target_projection = nn.Linear(config.hidden_size, config.hidden_size)
        self.value_projection = nn.Linear(config.hidden_size, config.hidden_size)
        self.output_projection = nn.Linear(config.hidden_size, config.hidden_size)
        self.edge_type_score = nn.Embedding(config.num_edge_types, config.hidden_size)
        self.edge_type_value = nn.Embedding(config.num_edge_types, config.hidden_size)
        self.score_vector = nn.Parameter(torch.empty(config.num_attention_heads, self.head_size))
        self.negative_slope = config.graph_attention_negative_slope
        self.attention_dropout = nn.Dropout(config.attention_dropout_prob)

    def attend(
        self,
        sources: torch.Tensor,
        targets: torch.Tensor,
        values: torch.Tensor,
        edge_type: torch.Tensor,
        has_edge: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The attention of a run of utterances. Shapes: sources and values (B, n, K, M, H) of each utterance's
        window, targets (B, n, M, H), edge_type and has_edge (B, n, K, M, M) -> (B, n, M, H), (B, n, K, M, M, heads)"""
        by_head = (*has_edge.shape, self.num_heads, self.head_size)  # (B, n, K, M, M, heads, head_size)
        scores = sources.unsqueeze(-2) + targets[:, :, None, None]  # (B, n, K, M, M, H)
        scores += self.edge_type_score(edge_type)
        scores = F.leaky_relu(scores, negative_slope=self.negative_slope, inplace=True)
        scores = (scores.view(by_head) * self.score_vector).sum(dim=-1)  # (B, n, K, M, M, heads)
        scores = scores.masked_fill(~has_edge.unsqueeze(-1), torch.finfo(scores.dtype).min)
        # Softmax over each target's (slot, source modality) pairs; targets that are not nodes get no weight.
        attention = scores.flatten(2, 3).softmax(dim=2).view_as(scores) * has_edge.unsqueeze(-1)
        messages = values.unsqueeze(-2) + self.edge_type_value(edge_type)
        out = (messages.view(by_head) * self.attention_dropout(attention).unsqueeze(-1)).sum(dim=(2, 3))
        return out.flatten(-2), attention

    def forward(
        self, x: torch.Tensor, edge_type: torch.Tensor, has_edge: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        sources = window_slots(self.source_projection(x), self.past_window, self.future_window)  # (B, N, K, M, H)
        values = window_slots(self.value_projection(x), self.past_window, self.future_window)
        targets = self.target_projection(x)
        # Edge-sized tensors are made for a run of utterances at a time, small enough to stay in cache in inference
        # (a MELD dialogue is one run; a 2,000-utterance T+A+V dialogue, 31) and larger in training.
        chunk = TRAINING_EDGE_CHUNK_ELEMENTS if torch.is_grad_enabled() and x.requires_grad else EDGE_CHUNK_ELEMENTS
        run = max(1, chunk // (edge_type[:, :1].numel() * x.shape[-1]))
        # A comparison, not a loop over runs, for dialogues of one run: `torch.compile(dynamic=True)` then compiles
        # one graph for all of them instead of one per length.
        if x.shape[1] <= run:
            out, attention = self.attend(sources, targets, values, edge_type, has_edge)
        # CODEPATH: long dialogues only (several runs).
        else:
            chunks = [
                self.attend(*(t[:, start : start + run] for t in (sources, targets, values, edge_type, has_edge)))
                for start in range(0, x.shape[1], run)
            ]
            out, attention = (torch.cat(parts, dim=1) for parts in zip(*chunks))
        return self.output_projection(out), attention


class RelationalGraphAttentionConv(MessagePassing):
    r"""`RelationalGraphAttention` as a PyTorch Geometric layer over an edge list, for any graph: the same maths
    and the same parameter names, so either runs the other's weights.

    .. math::
        e_{ij}^{k} &= \mathbf{a}_k^\top \mathrm{LeakyReLU}\big(\mathbf{W}_s \mathbf{x}_j + \mathbf{W}_t \mathbf{x}_i
                      + \mathbf{r}_{t_{ji}}\big)_k \\
        \alpha_{ij}^{k} &= \operatorname{softmax}_{j \in \mathcal{N}(i)} e_{ij}^{k} \\
        \mathbf{x}'_i &= \mathbf{W}_o \big\Vert_k \sum_{j \in \mathcal{N}(i)} \alpha_{ij}^{k}
                        \big(\mathbf{W}_v \mathbf{x}_j + \mathbf{v}_{t_{ji}}\big)_k

    with :math:`t_{ji}` the type of the edge :math:`j \to i` and :math:`\mathcal{N}(i)` the sources of the edges
    into :math:`i` in `edge_index` (the softmax is `torch_geometric.utils.softmax` over them). A node without
    incoming edges gets :math:`\mathbf{x}'_i = \mathbf{W}_o \mathbf{0}`, as an absent node of the window kernel.

    Args:
        hidden_size (int): Size of the node states, in and out.
        num_heads (int): Attention heads; must divide `hidden_size`.
        num_edge_types (int): Edge types; `edge_type` takes values in `[0, num_edge_types)`.
        negative_slope (float, optional): Slope of the LeakyReLU in the scores. (default: `0.2`)
        attention_dropout (float, optional): Dropout on the attention weights. (default: `0.0`)

    Shapes:
        - **input:** node states :math:`(|\mathcal{V}|, F)`, edge_index :math:`(2, |\mathcal{E}|)`, edge_type
          :math:`(|\mathcal{E}|)`
        - **output:** node states :math:`(|\mathcal{V}|, F)`, attention :math:`(|\mathcal{E}|, \text{heads})`
    """

    def __init__(
        self,
        hidden_size: int,
        num_heads: int,
        num_edge_types: int,
        negative_slope: float = 0.2,
        attention_dropout: float = 0.0,
    ):
        super().__init__(aggr="sum", node_dim=0)
        if num_heads < 1 or hidden_size % num_heads:
            raise ValueError(f"`num_heads` ({num_heads}) must be >= 1 and divide `hidden_size` ({hidden_size})")
        if num_edge_types < 1:
            raise ValueError(f"`num_edge_types` must be >= 1, got {num_edge_types}")
        self.num_heads = num_heads
        self.head_size = hidden_size // num_heads
        self.source_projection = nn.Linear(hidden_size, hidden_size)
        self.target_projection = nn.Linear(hidden_size, hidden_size)
        self.value_projection = nn.Linear(hidden_size, hidden_size)
        self.output_projection = nn.Linear(hidden_size, hidden_size)
        self.edge_type_score = nn.Embedding(num_edge_types, hidden_size)
        self.edge_type_value = nn.Embedding(num_edge_types, hidden_size)
        self.score_vector = nn.Parameter(torch.empty(num_heads, self.head_size))
        self.negative_slope = negative_slope
        self.attention_dropout = nn.Dropout(attention_dropout)
        self.reset_parameters()

    @classmethod
    def from_config(cls, config: SyncTVAConfig) -> "RelationalGraphAttentionConv":
        """The layer with a Sync-TVA model's sizes, edge types, slope and dropout."""
        return cls(
            config.hidden_size, config.num_attention_heads, config.num_edge_types,
            config.graph_attention_negative_slope, config.attention_dropout_prob,
        )

    def reset_parameters(self):
        """PyTorch's default start for the projections and embeddings, Glorot for the score vector (as GATv2)."""
        super().reset_parameters()
        for module in (self.source_projection, self.target_projection, self.value_projection, self.output_projection,
                       self.edge_type_score, self.edge_type_value):
            module.reset_parameters()
        nn.init.xavier_uniform_(self.score_vector)

    def forward(
        self, x: torch.Tensor, edge_index: torch.Tensor, edge_type: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        attention = self.edge_updater(
            edge_index, source=self.source_projection(x), target=self.target_projection(x), edge_type=edge_type
        )  # (|E|, heads)
        out = self.propagate(edge_index, value=self.value_projection(x), alpha=attention, edge_type=edge_type)
        return self.output_projection(out), attention

    def edge_update(
        self,
        source_j: torch.Tensor,
        target_i: torch.Tensor,
        edge_type: torch.Tensor,
        index: torch.Tensor,
        ptr: Optional[torch.Tensor],  # `Optional`: PyG's signature inspector cannot read `X | None`
        dim_size: Optional[int],
    ) -> torch.Tensor:
        """The attention of every edge over its target's incoming edges: (|E|, H) each -> (|E|, heads)"""
        scores = source_j + target_i + self.edge_type_score(edge_type)
        scores = F.leaky_relu(scores, negative_slope=self.negative_slope)
        scores = (scores.view(-1, self.num_heads, self.head_size) * self.score_vector).sum(dim=-1)
        return softmax(scores, index, ptr, dim_size)

    def message(self, value_j: torch.Tensor, alpha: torch.Tensor, edge_type: torch.Tensor) -> torch.Tensor:
        """What flows along an edge: its source's value and its type's, weighted per head. -> (|E|, H)"""
        messages = (value_j + self.edge_type_value(edge_type)).view(-1, self.num_heads, self.head_size)
        return (messages * self.attention_dropout(alpha).unsqueeze(-1)).flatten(1)


GRAPH_ATTENTION_IMPLEMENTATIONS = {
    "window": RelationalGraphAttention,
    "pyg": RelationalGraphAttentionConv.from_config,
}
"""The graph attention of each `config.graph_implementation`: a constructor from the config. Every implementation
has the same parameter names and computes the same function on the same graph."""


class GraphAttentionLayer(GradientCheckpointingLayer):
    r"""One layer over the cross-modal utterance graph: relational attention, then a feed-forward block.

    .. math::
        \mathbf{x} &\leftarrow \mathrm{LN}(\mathbf{x} + \mathrm{Dropout}(\mathrm{RelationalGraphAttention}(\mathbf{x}))) \\
        \mathbf{x} &\leftarrow \mathrm{LN}(\mathbf{x} + \mathrm{Dropout}(\mathbf{W}_2\,\phi(\mathbf{W}_1 \mathbf{x})))

    with :math:`\phi` the activation `config.hidden_act`.

    The attention is `GRAPH_ATTENTION_IMPLEMENTATIONS[config.graph_implementation]`, and `graph` is what it reads:
    the window kernel's grid and window, or a PyTorch Geometric layer's node list and edge list.

    Shapes:
        window: node_states (B, N, M, H), graph = (edge_type, has_edge) (B, N, K, M, M) -> (B, N, M, H),
        attention (B, N, K, M, M, heads);
        pyg: node_states (|V|, H), graph = (edge_index (2, |E|), edge_type (|E|,)) -> (|V|, H), attention (|E|, heads)
    """

    def __init__(self, config: SyncTVAConfig):
        super().__init__()
        self.attention = GRAPH_ATTENTION_IMPLEMENTATIONS[config.graph_implementation](config)
        self.attention_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.feed_forward_in = nn.Linear(config.hidden_size, config.intermediate_size)
        self.feed_forward_out = nn.Linear(config.intermediate_size, config.hidden_size)
        self.feed_forward_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.activation = ACT2FN[config.hidden_act]
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, node_states: torch.Tensor, *graph: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        attended, attention = self.attention(node_states, *graph)
        node_states = self.attention_norm(node_states + self.dropout(attended))
        update = self.feed_forward_out(self.dropout(self.activation(self.feed_forward_in(node_states))))
        node_states = self.feed_forward_norm(node_states + self.dropout(update))
        return node_states, attention


class CrossModalFusion(nn.Module):
    r"""Cross-attention fusion of an utterance's modalities, then a gated combination.

    Each present modality :math:`m` queries the *other* present modalities of the same utterance
    (MultiEMO-style exchange), and a gate weighs the exchanged states, with a learned reliability
    :math:`\rho_m` of each modality (0 at initialisation) as the prior of its weight:

    .. math::
        \mathbf{s}'_m &= \mathrm{LN}\big(\mathbf{s}_m + \mathbf{W}_o \operatorname{softmax}_{n \ne m}
                        \big(\tfrac{(\mathbf{W}_q \mathbf{s}_m)^\top \mathbf{W}_k \mathbf{s}_n}{\sqrt{d}}\big)
                        \mathbf{W}_v \mathbf{s}_n\big) \\
        \beta_m &= \operatorname{softmax}_m(\mathbf{w}_g^\top \mathbf{s}'_m + \rho_m), \quad
        \mathbf{u} = \sum_m \beta_m \mathbf{s}'_m

    A modality with no other modality present exchanges nothing (its attention output is zero, so
    :math:`\mathbf{s}'_m = \mathrm{LN}(\mathbf{s}_m + \mathbf{b}_o)`), and an utterance with a single modality
    gives it weight :math:`\beta_m = 1`. Absent modalities get no weight and no attention. With one modality in
    the batch the attention is skipped: its output is zero.

    Shapes:
        node_states (B, N, M, H), present (B, N, M), modality_ids (M,) indices in (text, audio, visual) ->
        fused (B, N, H), modality weights (B, N, M), attention (B, N, heads, M query, M key)
    """

    def __init__(self, config: SyncTVAConfig):
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_size = config.hidden_size // config.num_attention_heads
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)
        self.output_projection = nn.Linear(config.hidden_size, config.hidden_size)
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.gate = nn.Linear(config.hidden_size, 1)
        self.reliability = nn.Parameter(torch.zeros(len(MODALITIES)))
        self.attention_dropout = nn.Dropout(config.attention_dropout_prob)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(
        self, node_states: torch.Tensor, present: torch.Tensor, modality_ids: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        batch_size, num_utterances, num_modalities = present.shape
        if num_modalities > 1:
            by_head = (batch_size, num_utterances, num_modalities, self.num_heads, self.head_size)
            query, key, value = (project(node_states).view(by_head).transpose(2, 3) for project in (self.query, self.key, self.value))
            scores = query @ key.transpose(-1, -2) / math.sqrt(self.head_size)  # (B, N, heads, M, M)
            other_modality = ~torch.eye(num_modalities, dtype=torch.bool, device=present.device)
            allowed = (present.unsqueeze(-1) & present.unsqueeze(-2) & other_modality).unsqueeze(2)
            scores = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
            attention = scores.softmax(dim=-1) * allowed.any(dim=-1, keepdim=True)
            exchanged = (self.attention_dropout(attention) @ value).transpose(2, 3).flatten(-2)  # (B, N, M, H)
            projected = self.output_projection(exchanged)
        # CODEPATH: batches with one modality (text-only models) have nothing to exchange: the attention output is
        # zero, and its output projection the bias.
        else:
            attention = node_states.new_zeros(batch_size, num_utterances, self.num_heads, 1, 1)
            projected = self.output_projection.bias.expand_as(node_states)
        node_states = self.norm(node_states + self.dropout(projected))

        gate_scores = self.gate(node_states).squeeze(-1) + self.reliability[modality_ids]  # (B, N, M)
        gate_scores = gate_scores.masked_fill(~present, torch.finfo(gate_scores.dtype).min)
        modality_weights = gate_scores.softmax(dim=-1) * present.any(dim=-1, keepdim=True)
        fused = (modality_weights.unsqueeze(-1) * node_states).sum(dim=-2)
        return fused, modality_weights, attention


@auto_docstring
class SyncTVAPreTrainedModel(PreTrainedModel):
    config: SyncTVAConfig
    base_model_prefix = "model"
    main_input_name = "text_features"
    supports_gradient_checkpointing = True
    _no_split_modules = ["GraphAttentionLayer"]
    _can_record_outputs = {
        "hidden_states": GraphAttentionLayer,
        "attentions": [
            OutputRecorder(GraphAttentionLayer, index=1),
            OutputRecorder(CrossModalFusion, index=2),
        ],
    }

    def save_pretrained(self, save_directory, *args, **kwargs):
        """Save as usual; with remote code, `auto_map` also names `SyncTVAModel`, so `AutoModel` loads any
        Sync-TVA checkpoint (a classification checkpoint gives its encoder)."""
        if self._auto_class is not None:
            auto_map = getattr(self.config, "auto_map", None) or {}
            self.config.auto_map = {**auto_map, "AutoModel": f"{__name__.rsplit('.', 1)[-1]}.SyncTVAModel"}
        return super().save_pretrained(save_directory, *args, **kwargs)

    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, (RelationalGraphAttention, RelationalGraphAttentionConv)):
            init.normal_(module.score_vector, mean=0.0, std=self.config.initializer_range)
        elif isinstance(module, CrossModalFusion):
            init.zeros_(module.reliability)
        elif isinstance(module, nn.GRU):  # PyTorch's own initialisation, as the GRU baseline has
            bound = 1 / math.sqrt(module.hidden_size)
            for parameter in module.parameters():
                init.uniform_(parameter, -bound, bound)


def check_values(holds: torch.Tensor, message: str) -> None:
    """Raise a `ValueError` with `message` unless the boolean scalar tensor `holds` is true. Under `torch.compile` the
    check stays in the compiled graph as an assertion (a `RuntimeError` with the same message) instead of breaking
    the graph on a data-dependent branch."""
    if torch.compiler.is_compiling():
        torch._assert_async(holds, message)
    elif not holds:
        raise ValueError(message)


def check_feature_input(name: str, features: torch.Tensor, expected_size: int) -> None:
    """Raise a `ValueError` naming `name` unless `features` is a finite (B, N, expected_size) float tensor."""
    if features.dim() != 3 or features.shape[-1] != expected_size:
        raise ValueError(
            f"`{name}` must have shape (batch_size, num_utterances, {expected_size}), got {tuple(features.shape)}"
        )
    if not features.is_floating_point():
        raise ValueError(f"`{name}` must be a float tensor, got {features.dtype}")
    check_values(torch.isfinite(features).all(), f"`{name}` contains NaN or inf values")


def check_shape(name: str, tensor: torch.Tensor | None, expected: tuple[int, ...]) -> None:
    """Raise a `ValueError` naming `name` unless `tensor` (when given) starts with the `expected` dimensions."""
    if tensor is not None and tuple(tensor.shape[: len(expected)]) != expected:
        raise ValueError(
            f"`{name}` has shape {tuple(tensor.shape)} but the other inputs give (batch_size, num_utterances) = "
            f"{expected[:2]}" + (f" and expect {expected}" if len(expected) > 2 else "")
        )


@auto_docstring(
    custom_intro="""
    The Sync-TVA encoder: modality enhancement, attention over the heterogeneous cross-modal utterance graph, and
    cross-attention fusion. It returns one fused state per utterance.
    """
)
class SyncTVAModel(SyncTVAPreTrainedModel):
    def __init__(self, config: SyncTVAConfig):
        super().__init__(config)
        self.text_encoder = None
        # CODEPATH: end-to-end checkpoints (text_encoder_config set) run from tokens; feature checkpoints do not.
        if config.text_encoder_config is not None:
            self.text_encoder = AutoModel.from_config(config.text_encoder_config)
        # CODEPATH: freeze_text_encoder=False checkpoints fine-tune the text encoder with the rest.
        if self.text_encoder is not None and config.freeze_text_encoder:
            self.text_encoder.requires_grad_(False)
        self.enhancements = nn.ModuleDict({m: ModalityEnhancement(config, m) for m in config.modalities})
        # CODEPATH: ablation checkpoints (use_cross_modal_graph=False) have no graph layers.
        num_graph_layers = config.graph_layers if config.use_cross_modal_graph else 0
        self.graph_layers = nn.ModuleList([GraphAttentionLayer(config) for _ in range(num_graph_layers)])
        # CODEPATH: ablation checkpoints (use_cross_attention_fusion=False) have no fusion module.
        self.fusion = CrossModalFusion(config) if config.use_cross_attention_fusion else None
        self.post_init()

    def train(self, mode: bool = True):
        """Keep a frozen text encoder in eval mode, so its features match precomputed ones."""
        super().train(mode)
        # CODEPATH: only end-to-end checkpoints with a frozen text encoder.
        if self.text_encoder is not None and self.config.freeze_text_encoder:
            self.text_encoder.eval()
        return self

    def encode_text(
        self, input_ids: torch.Tensor, text_attention_mask: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        r"""Mean-pooled text encoder states of the real utterances.

        .. math:: \mathbf{x}_i = \frac{\sum_l m_{il} \mathbf{e}_{il}}{\sum_l m_{il}}

        Shapes:
            input_ids, text_attention_mask (B, N, L), attention_mask (B, N) -> (B, N, text_feature_size)
        """
        real = attention_mask.bool()
        token_mask = text_attention_mask[real]
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.config.freeze_text_encoder):
            token_states = self.text_encoder(input_ids=input_ids[real], attention_mask=token_mask).last_hidden_state
        pooled = mean_pool(token_states, token_mask)
        text_features = pooled.new_zeros(*attention_mask.shape, pooled.shape[-1])
        text_features[real] = pooled
        return text_features

    def gather_inputs(
        self,
        text_features: torch.Tensor | None,
        audio_features: torch.Tensor | None,
        visual_features: torch.Tensor | None,
        input_ids: torch.Tensor | None,
        text_attention_mask: torch.Tensor | None,
        modality_mask: torch.Tensor | None,
        speaker_ids: torch.Tensor | None,
        attention_mask: torch.Tensor | None,
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor, torch.Tensor]:
        """Check every input once, at the model's entry, and return the features per modality, the (B, N, 3)
        presence of every modality, the speaker ids and the utterance mask. Errors name the wrong argument."""
        if input_ids is not None and self.text_encoder is None:
            raise ValueError("`input_ids` was given but this model holds no text encoder: pass `text_features`")
        if input_ids is not None and text_features is not None:
            raise ValueError("pass either `input_ids` or `text_features`, not both")
        given = {"text_features": text_features, "audio_features": audio_features, "visual_features": visual_features}
        for name, features in given.items():
            modality = name.removesuffix("_features")
            if features is not None and modality not in self.config.modalities:
                raise ValueError(f"`{name}` was given but the model reads only {self.config.modalities}")
            if features is not None:
                check_feature_input(name, features, getattr(self.config, f"{modality}_feature_size"))
        if input_ids is not None and input_ids.dim() != 3:
            raise ValueError(f"`input_ids` must have shape (batch_size, num_utterances, length), got {input_ids.shape}")
        leading = [t.shape[:2] for t in (*given.values(), input_ids) if t is not None]
        if not leading:
            raise ValueError("no input: pass at least one of `text_features`, `audio_features`, `visual_features`, `input_ids`")
        batch_size, num_utterances = leading[0]
        for name, tensor in {**given, "input_ids": input_ids}.items():
            check_shape(name, tensor, (batch_size, num_utterances))
        check_shape("attention_mask", attention_mask, (batch_size, num_utterances))
        check_shape("speaker_ids", speaker_ids, (batch_size, num_utterances))
        check_shape("modality_mask", modality_mask, (batch_size, num_utterances, len(MODALITIES)))
        if input_ids is not None:
            check_shape("text_attention_mask", text_attention_mask, tuple(input_ids.shape))

        device = next(t for t in (*given.values(), input_ids) if t is not None).device
        if attention_mask is None:
            attention_mask = torch.ones(batch_size, num_utterances, dtype=torch.long, device=device)
        if speaker_ids is None:
            speaker_ids = torch.zeros(batch_size, num_utterances, dtype=torch.long, device=device)
        check_values((speaker_ids >= 0).all(), "`speaker_ids` must be >= 0 (the speaker's slot in its dialogue)")
        check_values(
            (attention_mask[:, 1:] <= attention_mask[:, :-1]).all(),
            "`attention_mask` must pad at the end of each dialogue: its 1s first, then its 0s",
        )
        if input_ids is not None:
            if text_attention_mask is None:
                text_attention_mask = torch.ones_like(input_ids)
            given["text_features"] = self.encode_text(input_ids, text_attention_mask, attention_mask)

        features = {m: given[f"{m}_features"] for m in MODALITIES}
        given_modalities = torch.tensor([f is not None for f in features.values()], device=device)  # (3,)
        real = attention_mask.bool()
        present = real.unsqueeze(-1) & given_modalities
        if modality_mask is not None:
            present = present & modality_mask.bool()
        check_values(
            (present.any(dim=-1) | ~real).all(),
            "an utterance has no modality at all: every real utterance (`attention_mask`) needs at least one "
            "modality given and marked present in `modality_mask`",
        )
        return {m: f for m, f in features.items() if f is not None}, present, speaker_ids, attention_mask

    def embed_nodes(
        self,
        features: dict[str, torch.Tensor],
        present: torch.Tensor,
        lengths: torch.Tensor,
        carried_context: dict[str, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The enhanced state of every (utterance, modality) cell of the graph's grid, and each modality's last
        forward context state (`carried_context` starts them from earlier utterances when streaming; None without
        enhancement). Shapes: features {modality: (B, N, F)} for the M modalities of the grid, present (B, N, M),
        lengths (B,) -> (B, N, M, H), {modality: (1, B, H)}"""
        enhancements = [self.enhancements[modality] for modality in features]
        states = [enhancement.project(f) for enhancement, f in zip(enhancements, features.values())]
        # CODEPATH: ablation checkpoints (use_modality_enhancement=False) use the projections as they are.
        if not self.config.use_modality_enhancement:
            return torch.stack(states, dim=2), dict.fromkeys(features)
        inputs = torch.stack(
            [enhancement.dialogue_input(s, present[..., index]) for index, (enhancement, s) in enumerate(zip(enhancements, states))],
            dim=2,
        )  # (B, N, M, H)
        carried = None if carried_context is None else torch.cat([carried_context[m] for m in features])
        context, last_states = read_dialogues(enhancements, inputs, lengths, self.config.is_causal, carried)
        enhanced = [enhancement.update(s, context[:, :, index]) for index, (enhancement, s) in enumerate(zip(enhancements, states))]
        return torch.stack(enhanced, dim=2), dict(zip(features, last_states.split(1)))

    def fuse_modalities(
        self, node_states: torch.Tensor, present: torch.Tensor, modality_ids: list[int]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One state per utterance from its modalities' states, and the weight of each of the three modalities (0
        for those not in the grid). Shapes: node_states (B, N, M, H), present (B, N, M) for the modalities
        `modality_ids` -> fused (B, N, H), modality weights (B, N, 3)"""
        # CODEPATH: ablation checkpoints (use_cross_attention_fusion=False) average the present modalities.
        if self.fusion is None:
            grid_weights = present.to(node_states.dtype)
            grid_weights = grid_weights / grid_weights.sum(dim=-1, keepdim=True).clamp(min=1.0)
            fused = (grid_weights.unsqueeze(-1) * node_states).sum(dim=-2)
        else:
            fused, grid_weights, _ = self.fusion(node_states, present, torch.tensor(modality_ids, device=present.device))
        modality_weights = grid_weights.new_zeros(*present.shape[:2], len(MODALITIES))
        modality_weights[..., modality_ids] = grid_weights
        return fused, modality_weights

    def graph(
        self,
        present: torch.Tensor,
        speaker_ids: torch.Tensor,
        modality_ids: list[int],
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """`dialogue_window` with this model's window and edge types, over the grid of the modalities
        `modality_ids` (indices in `MODALITIES`). Shapes: present (B, N, M), speaker_ids (B, N) ->
        (B, N, K, M, M), (B, N, K, M, M)"""
        return dialogue_window(
            present, speaker_ids, torch.tensor(modality_ids, device=present.device), self.config.past_window,
            self.config.future_window, self.config.speaker_aware_edges,
            self.config.distance_buckets,
        )

    def edge_list_graph(
        self,
        present: torch.Tensor,
        speaker_ids: torch.Tensor,
        modality_ids: list[int],
        extra_edge_index: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """`dialogue_edge_list` with this model's reach (its window, or the whole dialogue) and edge types, over the
        grid of the modalities `modality_ids`. Shapes: present (B, N, M), speaker_ids (B, N), extra_edge_index
        (2, E_extra) -> node_cells (|V|,), edge_index (2, |E|), edge_type (|E|,)"""
        if extra_edge_index is not None:
            real = present.any(dim=-1).flatten()  # (B * N,)
            num_utterances = present.shape[1]
            if extra_edge_index.dim() != 2 or extra_edge_index.shape[0] != 2 or extra_edge_index.dtype != torch.long:
                raise ValueError(
                    "`extra_edge_index` must be a long tensor of shape (2, num_extra_edges), got "
                    f"{extra_edge_index.dtype} {tuple(extra_edge_index.shape)}"
                )
            if ((extra_edge_index < 0) | (extra_edge_index >= real.numel())).any() or not real[extra_edge_index].all():
                raise ValueError(
                    "`extra_edge_index` must join real utterances, numbered `dialogue * num_utterances + utterance`"
                )
            if (extra_edge_index[0] // num_utterances != extra_edge_index[1] // num_utterances).any():
                raise ValueError("`extra_edge_index` has an edge between two dialogues: edges stay within a dialogue")
        whole_dialogue = self.config.whole_dialogue_graph
        return dialogue_edge_list(
            present, speaker_ids, torch.tensor(modality_ids, device=present.device),
            None if whole_dialogue else self.config.past_window, None if whole_dialogue else self.config.future_window,
            self.config.speaker_aware_edges, self.config.distance_buckets, extra_edge_index,
        )

    def dialogue_graph(self, extra_edge_index: torch.Tensor | None = None, **inputs):
        """The graph this model's graph layers run on for `inputs` (keyword inputs of `forward`) as PyTorch Geometric
        objects: a `Batch` and a `HeteroData` (see `graph_synctva.build_dialogue_graph`)."""
        # Imported here because graph_synctva builds on this file; the import also makes remote code ship it.
        from .graph_synctva import build_dialogue_graph

        return build_dialogue_graph(self, extra_edge_index, **inputs)

    def drop_modalities(self, present: torch.Tensor) -> torch.Tensor:
        """During training, hide each (utterance, modality) with `config.modality_dropout_prob`, never the last
        modality of an utterance. Shapes: (B, N, 3) -> (B, N, 3)"""
        kept = present & (torch.rand(present.shape, device=present.device) >= self.config.modality_dropout_prob)
        return torch.where(kept.any(dim=-1, keepdim=True), kept, present)

    @capture_outputs(tie_last_hidden_states=False)
    @auto_docstring
    def forward(
        self,
        text_features: torch.FloatTensor | None = None,
        audio_features: torch.FloatTensor | None = None,
        visual_features: torch.FloatTensor | None = None,
        input_ids: torch.LongTensor | None = None,
        text_attention_mask: torch.LongTensor | None = None,
        modality_mask: torch.BoolTensor | None = None,
        speaker_ids: torch.LongTensor | None = None,
        attention_mask: torch.LongTensor | None = None,
        extra_edge_index: torch.LongTensor | None = None,
        **kwargs,
    ) -> SyncTVAModelOutput:
        r"""
        text_features (`torch.FloatTensor` of shape `(batch_size, num_utterances, config.text_feature_size)`, *optional*):
            One text feature vector per utterance (e.g. a sentence encoder's pooled output).
        audio_features (`torch.FloatTensor` of shape `(batch_size, num_utterances, config.audio_feature_size)`, *optional*):
            One audio feature vector per utterance (e.g. openSMILE eGeMAPS functionals).
        visual_features (`torch.FloatTensor` of shape `(batch_size, num_utterances, config.visual_feature_size)`, *optional*):
            One visual feature vector per utterance (e.g. pooled face features).
        input_ids (`torch.LongTensor` of shape `(batch_size, num_utterances, text_length)`, *optional*):
            Tokens of every utterance for the text encoder the model holds; used instead of `text_features`.
        text_attention_mask (`torch.LongTensor` of shape `(batch_size, num_utterances, text_length)`, *optional*):
            1 for real tokens of `input_ids`, 0 for padding.
        modality_mask (`torch.BoolTensor` of shape `(batch_size, num_utterances, 3)`, *optional*):
            Whether the text, audio and visual modality of each utterance is present. Missing modalities are a
            normal case: they get no graph node. Defaults to every given modality present.
        speaker_ids (`torch.LongTensor` of shape `(batch_size, num_utterances)`, *optional*):
            Speaker of each utterance, any non-negative id (only equality within a dialogue matters).
        attention_mask (`torch.LongTensor` of shape `(batch_size, num_utterances)`, *optional*):
            1 for real utterances, 0 for padding.
        extra_edge_index (`torch.LongTensor` of shape `(2, num_extra_edges)`, *optional*):
            Edges to add to the graph (e.g. from a discourse parser), from a source utterance to a target utterance
            of the same dialogue, numbered `dialogue * num_utterances + utterance` over the batch. Each joins every
            present modality of the source to every present modality of the target, typed by direction, speaker and
            distance like the window's edges. Needs `config.graph_implementation="pyg"`.
        """
        features, present, speaker_ids, attention_mask = self.gather_inputs(
            text_features, audio_features, visual_features, input_ids, text_attention_mask,
            modality_mask, speaker_ids, attention_mask,
        )
        # CODEPATH: training with modality_dropout_prob > 0 only; inference never drops a modality.
        if self.training and self.config.modality_dropout_prob > 0:
            present = self.drop_modalities(present)

        # The graph's grid holds the given modalities only: the others have no node anywhere.
        modality_ids, grid_present = modality_grid(list(features), present)  # (B, N, M)
        node_states, _ = self.embed_nodes(features, grid_present, attention_mask.sum(dim=1))  # (B, N, M, H)

        # CODEPATH: PyTorch Geometric graph attention (config.graph_implementation="pyg"), over an edge list.
        if self.config.graph_implementation == "pyg":
            return self.edge_list_forward(node_states, grid_present, speaker_ids, modality_ids, extra_edge_index)
        if extra_edge_index is not None:
            raise ValueError(
                "`extra_edge_index` needs `graph_implementation=\"pyg\"`: the window kernel holds the window's edges "
                "only (load the model with `graph_implementation=\"pyg\"`, the weights are the same)"
            )

        edge_type, has_edge = self.graph(grid_present, speaker_ids, modality_ids)
        for layer in self.graph_layers:
            node_states, _ = layer(node_states, edge_type, has_edge)
        fused, modality_weights = self.fuse_modalities(node_states, grid_present, modality_ids)
        edge_type = edge_type.masked_fill(~has_edge, -1)

        return SyncTVAModelOutput(
            last_hidden_state=fused,
            modality_weights=modality_weights,
            edge_type=edge_type,
        )

    def edge_list_forward(
        self,
        node_states: torch.Tensor,
        present: torch.Tensor,
        speaker_ids: torch.Tensor,
        modality_ids: list[int],
        extra_edge_index: torch.Tensor | None,
    ) -> SyncTVAModelOutput:
        """The graph layers and the fusion of `forward` over the graph's edge list (`edge_list_graph`): the present
        cells of the grid are the nodes, padding and absent modalities cost nothing. Shapes: node_states
        (B, N, M, H), present (B, N, M), speaker_ids (B, N), extra_edge_index (2, E_extra)"""
        node_cells, edge_index, edge_type = self.edge_list_graph(present, speaker_ids, modality_ids, extra_edge_index)
        nodes = node_states.flatten(0, 2).index_select(0, node_cells)  # (|V|, H)
        for layer in self.graph_layers:
            nodes, _ = layer(nodes, edge_index, edge_type)
        node_states = node_states.flatten(0, 2).index_copy(0, node_cells, nodes).view_as(node_states)
        fused, modality_weights = self.fuse_modalities(node_states, present, modality_ids)
        return SyncTVAModelOutput(
            last_hidden_state=fused,
            modality_weights=modality_weights,
            edge_type=edge_type,
            edge_index=edge_index,
        )


def emotion_classification_loss(
    logits: torch.Tensor, labels: torch.Tensor, config: SyncTVAConfig
) -> torch.Tensor:
    r"""Class-weighted cross-entropy or focal loss over the labelled utterances (label -100 is ignored), optionally
    logit-adjusted.

    .. math::
        \mathcal{L}_{CE} = \frac{\sum_i w_{y_i} (-\log p_{i,y_i})}{\sum_i w_{y_i}}, \qquad
        \mathcal{L}_{focal} = \frac{\sum_i w_{y_i} (1 - p_{i,y_i})^{\gamma} (-\log p_{i,y_i})}{\sum_i w_{y_i}}, \qquad
        p_{i} = \operatorname{softmax}(\mathbf{z}_i + \tau \log \boldsymbol{\pi})

    with :math:`w` the `class_weights` (1 when not given), :math:`\boldsymbol{\pi}` the `class_priors` and
    :math:`\tau` the `logit_adjustment` (0: plain logits). Predictions use the plain logits :math:`\mathbf{z}`.

    Shapes:
        logits (B, N, C), labels (B, N) -> ()
    """
    logits = logits.flatten(0, -2)
    labels = labels.flatten()
    labelled = labels != -100
    weights = torch.ones(config.num_labels, dtype=logits.dtype, device=logits.device)
    # CODEPATH: checkpoints trained with class_weights (imbalanced data) weigh the labels.
    if config.class_weights is not None:
        weights = torch.tensor(config.class_weights, dtype=logits.dtype, device=logits.device)
    # CODEPATH: checkpoints trained with logit_adjustment > 0 (imbalanced data) score adjusted logits.
    if config.logit_adjustment:
        priors = torch.tensor(config.class_priors, dtype=logits.dtype, device=logits.device)
        logits = logits + config.logit_adjustment * priors.log()
    # Unlabelled utterances are scored against class 0 and then weighted 0: no data-dependent shapes.
    labels = labels.masked_fill(~labelled, 0)
    log_probs = logits.log_softmax(dim=-1).gather(1, labels.unsqueeze(1)).squeeze(1)
    per_utterance = -log_probs
    # CODEPATH: checkpoints trained with loss_type="focal" down-weight easy utterances.
    if config.loss_type == "focal":
        per_utterance = (1 - log_probs.exp()).pow(config.focal_gamma) * per_utterance
    label_weights = weights[labels] * labelled
    return (label_weights * per_utterance).sum() / label_weights.sum().clamp(min=torch.finfo(logits.dtype).tiny)


@auto_docstring(
    custom_intro="""
    Sync-TVA with an emotion classifier on top: one emotion per utterance of every dialogue.
    """
)
class SyncTVAForEmotionClassification(SyncTVAPreTrainedModel):
    def __init__(self, config: SyncTVAConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.model = SyncTVAModel(config)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    @classmethod
    def from_text_encoder(cls, text_encoder_name_or_path: str, **config_kwargs) -> "SyncTVAForEmotionClassification":
        """A new model that holds the pretrained text encoder `text_encoder_name_or_path` (a Hub id or a local
        folder), so it runs from tokens; `config_kwargs` go to `SyncTVAConfig`."""
        encoder = AutoModel.from_pretrained(text_encoder_name_or_path)
        config = SyncTVAConfig(text_encoder_config=encoder.config.to_dict(), **config_kwargs)
        model = cls(config)
        model.model.text_encoder.load_state_dict(encoder.state_dict())
        return model

    @can_return_tuple
    @auto_docstring
    def forward(
        self,
        text_features: torch.FloatTensor | None = None,
        audio_features: torch.FloatTensor | None = None,
        visual_features: torch.FloatTensor | None = None,
        input_ids: torch.LongTensor | None = None,
        text_attention_mask: torch.LongTensor | None = None,
        modality_mask: torch.BoolTensor | None = None,
        speaker_ids: torch.LongTensor | None = None,
        attention_mask: torch.LongTensor | None = None,
        labels: torch.LongTensor | None = None,
        **kwargs,
    ) -> SyncTVAEmotionClassifierOutput:
        r"""
        text_features (`torch.FloatTensor` of shape `(batch_size, num_utterances, config.text_feature_size)`, *optional*):
            One text feature vector per utterance.
        audio_features (`torch.FloatTensor` of shape `(batch_size, num_utterances, config.audio_feature_size)`, *optional*):
            One audio feature vector per utterance.
        visual_features (`torch.FloatTensor` of shape `(batch_size, num_utterances, config.visual_feature_size)`, *optional*):
            One visual feature vector per utterance.
        input_ids (`torch.LongTensor` of shape `(batch_size, num_utterances, text_length)`, *optional*):
            Tokens of every utterance for the text encoder the model holds.
        text_attention_mask (`torch.LongTensor` of shape `(batch_size, num_utterances, text_length)`, *optional*):
            1 for real tokens of `input_ids`, 0 for padding.
        modality_mask (`torch.BoolTensor` of shape `(batch_size, num_utterances, 3)`, *optional*):
            Whether the text, audio and visual modality of each utterance is present.
        speaker_ids (`torch.LongTensor` of shape `(batch_size, num_utterances)`, *optional*):
            Speaker of each utterance, any non-negative id.
        attention_mask (`torch.LongTensor` of shape `(batch_size, num_utterances)`, *optional*):
            1 for real utterances, 0 for padding.
        labels (`torch.LongTensor` of shape `(batch_size, num_utterances)`, *optional*):
            Emotion of each utterance in `[0, config.num_labels)`, or -100 for utterances without a label.
        """
        if labels is not None:
            valid = (labels == -100) | ((labels >= 0) & (labels < self.num_labels))
            check_values(valid.all(), f"`labels` must be in [0, {self.num_labels}) or -100 (ignored)")
        outputs = self.model(
            text_features=text_features,
            audio_features=audio_features,
            visual_features=visual_features,
            input_ids=input_ids,
            text_attention_mask=text_attention_mask,
            modality_mask=modality_mask,
            speaker_ids=speaker_ids,
            attention_mask=attention_mask,
            **kwargs,
        )
        logits = self.classifier(self.dropout(outputs.last_hidden_state))
        loss = None
        if labels is not None:
            check_shape("labels", labels, tuple(logits.shape[:2]))
            loss = emotion_classification_loss(logits, labels, self.config)
        return SyncTVAEmotionClassifierOutput(
            loss=loss,
            logits=logits,
            modality_weights=outputs.modality_weights,
            edge_type=outputs.edge_type,
            edge_index=outputs.edge_index,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )


__all__ = ["SyncTVAPreTrainedModel", "SyncTVAModel", "SyncTVAForEmotionClassification"]
