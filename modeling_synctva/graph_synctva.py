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
"""The dialogue graph of a Sync-TVA model as PyTorch Geometric objects, and which edges a prediction leaned on.

`build_dialogue_graph(model, **inputs)` gives the graph the model's graph layers run on, for a batch of dialogues: a
homogeneous `Batch` (one `Data` per dialogue, with `edge_type`) and the same graph as a `HeteroData` with node types
text / audio / visual and one edge type per relation, so PyG transforms, utilities and `to_hetero` work on it.
`explain_utterance(model, inputs, dialogue, utterance)` explains one utterance's prediction through
`torch_geometric.explain`'s `AttentionExplainer` over the PyG graph attention.
"""

import copy
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn
from torch_geometric.data import Batch, Data, HeteroData
from torch_geometric.explain import AttentionExplainer, Explainer, Explanation

from .configuration_synctva import MODALITIES, SyncTVAConfig
from .modeling_synctva import SyncTVAForEmotionClassification, SyncTVAModel, modality_grid

MODEL_INPUTS = (
    "text_features", "audio_features", "visual_features", "input_ids", "text_attention_mask", "modality_mask",
    "speaker_ids", "attention_mask",
)
"""The inputs of `SyncTVAModel.forward` that decide the graph and its node states."""


def relation_names(config: SyncTVAConfig) -> list[str]:
    """The name of every relation of `dialogue_window`'s numbering, e.g. `same_utterance`,
    `earlier_other_speaker_distance_2_to_3`: the relation `r` is `relation_names(config)[r]`. Names are Python
    identifiers, as `to_hetero` needs."""
    buckets = config.distance_buckets
    distances = [
        f"distance_{start}" if end == start + 1 else f"distance_{start}_to_{end - 1}"
        for start, end in zip(buckets, buckets[1:])
    ] + [f"distance_{buckets[-1]}_or_more"]
    speakers = ["same_speaker_", "other_speaker_"] if config.speaker_aware_edges else [""]
    return ["same_utterance"] + [
        f"{direction}_{speaker}{distance}"
        for direction in ("earlier", "later")
        for speaker in speakers
        for distance in distances
    ]


def edge_type_names(config: SyncTVAConfig) -> list[tuple[str, str, str]]:
    """(source modality, relation, target modality) of every edge type, in the model's numbering: edge type `t` is
    `edge_type_names(config)[t]`, as `HeteroData` names its edge types."""
    return [(source, relation, target) for source in MODALITIES for target in MODALITIES for relation in relation_names(config)]


class GraphParts(NamedTuple):
    """A batch's graph as the model's graph layers see it (see `SyncTVAModel.edge_list_graph`): the enhanced states
    of the (utterance, modality) grid (B, N, M, H), its presence (B, N, M), its modalities (indices in `MODALITIES`),
    the grid cell of every node (|V|,), and the edges (2, |E|) with their types (|E|,)."""

    grid_states: torch.Tensor
    grid_present: torch.Tensor
    modality_ids: list[int]
    node_cells: torch.Tensor
    edge_index: torch.Tensor
    edge_type: torch.Tensor


class DialogueGraphs(NamedTuple):
    """One batch's dialogue graph as PyTorch Geometric objects (see `build_dialogue_graph`)."""

    homogeneous: Batch
    heterogeneous: HeteroData


def graph_parts(model: SyncTVAModel, inputs: dict, extra_edge_index: torch.Tensor | None = None) -> GraphParts:
    """The graph `model` (the encoder) runs its graph layers on for `inputs` (keyword inputs of `forward`). No
    modality is dropped (`modality_dropout_prob` belongs to training steps of `forward`); the enhancement runs in the
    model's current mode."""
    unknown = set(inputs) - set(MODEL_INPUTS) - {"labels"}
    if unknown:
        raise ValueError(f"unknown inputs {sorted(unknown)}: expected some of {MODEL_INPUTS}")
    features, present, speaker_ids, attention_mask = model.gather_inputs(**{name: inputs.get(name) for name in MODEL_INPUTS})
    modality_ids, grid_present = modality_grid(list(features), present)
    grid_states, _ = model.embed_nodes(features, grid_present, attention_mask.sum(dim=1))
    node_cells, edge_index, edge_type = model.edge_list_graph(grid_present, speaker_ids, modality_ids, extra_edge_index)
    return GraphParts(grid_states, grid_present, modality_ids, node_cells, edge_index, edge_type)


@torch.no_grad()
def build_dialogue_graph(
    model: SyncTVAModel | SyncTVAForEmotionClassification, extra_edge_index: torch.Tensor | None = None, **inputs
) -> DialogueGraphs:
    r"""The dialogue graph of a batch as PyTorch Geometric objects, with the model's enhanced node states as features.

    The nodes are the present (utterance, modality) pairs, the edges and their types those the model's graph layers
    attend over (its window, or the whole dialogue with `config.whole_dialogue_graph`, and `extra_edge_index`), in
    either `config.graph_implementation`. Edge type `t` is `(3 * source_modality + target_modality) *
    config.num_edge_relations + relation`, as `dialogue_window` numbers them; `edge_type_names(config)[t]` names it.

    Returns:
        `DialogueGraphs` with
        - **homogeneous** (`Batch` of one `Data` per dialogue): `x` (|V|, hidden_size), `edge_index` (2, |E|),
          `edge_type` (|E|,), and per node `modality` (index in (text, audio, visual)), `utterance` (its position in
          the dialogue) and `speaker`.
        - **heterogeneous** (`HeteroData`): node types `text`, `audio`, `visual` with `x`, `utterance`, `speaker` and
          `batch` (the dialogue); one edge type `(source modality, relation, target modality)` per type of the
          numbering (`edge_type_names`, empty where the batch has no such edge), in the numbering's order.
    """
    base = model.base_model
    parts = graph_parts(base, inputs, extra_edge_index)
    batch_size, num_utterances, num_modalities, _ = parts.grid_states.shape
    cell_utterance = parts.node_cells // num_modalities  # (|V|,) over the batch's B * N utterances
    dialogue = cell_utterance // num_utterances
    speaker_ids = inputs.get("speaker_ids")
    speakers = torch.zeros_like(cell_utterance) if speaker_ids is None else speaker_ids.flatten()[cell_utterance]
    node_states = parts.grid_states.flatten(0, 2)[parts.node_cells]
    modality = torch.tensor(parts.modality_ids, device=node_states.device)[parts.node_cells % num_modalities]
    first_node = torch.searchsorted(dialogue, torch.arange(batch_size + 1, device=dialogue.device))  # (B + 1,)
    edge_dialogue = dialogue[parts.edge_index[1]]
    graphs = []
    for index in range(batch_size):
        start, end = first_node[index], first_node[index + 1]
        edges = edge_dialogue == index
        graphs.append(Data(
            x=node_states[start:end], edge_index=parts.edge_index[:, edges] - start, edge_type=parts.edge_type[edges],
            modality=modality[start:end], utterance=cell_utterance[start:end] % num_utterances,
            speaker=speakers[start:end],
        ))
    homogeneous = Batch.from_data_list(graphs)
    heterogeneous = homogeneous.to_heterogeneous(
        node_type=homogeneous.modality, edge_type=homogeneous.edge_type,
        node_type_names=list(MODALITIES), edge_type_names=edge_type_names(base.config),
    )
    return DialogueGraphs(homogeneous, heterogeneous)


class LogitsFromGraph(nn.Module):
    """A Sync-TVA classifier from its graph on: the graph layers over `(x, edge_index, edge_type)`, the fusion and the
    classifier, with every node given its utterance's logits, as `torch_geometric.explain` calls a node-level model.
    Shapes: x (|V|, H), edge_index (2, |E|), edge_type (|E|,) -> (|V|, num_labels)"""

    def __init__(self, model: SyncTVAForEmotionClassification, parts: GraphParts):
        super().__init__()
        self.model = model
        self.parts = parts

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, edge_type: torch.Tensor) -> torch.Tensor:
        base, parts = self.model.model, self.parts
        for layer in base.graph_layers:
            x, _ = layer(x, edge_index, edge_type)
        grid_states = parts.grid_states.flatten(0, 2).index_copy(0, parts.node_cells, x).view_as(parts.grid_states)
        fused, _ = base.fuse_modalities(grid_states, parts.grid_present, parts.modality_ids)
        logits = self.model.classifier(fused).flatten(0, 1)  # (B * N, num_labels)
        return logits[parts.node_cells // parts.grid_present.shape[-1]]


@dataclass
class UtteranceExplanation:
    """Which edges one utterance's prediction leaned on (see `explain_utterance`).

    Attributes:
        explanation (`torch_geometric.explain.Explanation`): PyG's explanation over the homogeneous graph (`x`,
            `edge_index`, `edge_type`, `edge_mask`, `index`: the utterance's nodes, `prediction`).
        edge_mask (`torch.Tensor` of shape `(num_edges,)`): the attention each edge of the dialogue's graph got,
            reduced over heads and layers, 0 outside the utterance's receptive field.
        ranking (`list[dict]`): the edges with a non-zero mask, largest first: `source_utterance`,
            `source_modality`, `target_utterance`, `target_modality`, `edge_type` (the integer), `relation` (its
            name) and `weight`.
        predicted_label (`str`): the utterance's predicted emotion.
    """

    explanation: Explanation
    edge_mask: torch.Tensor
    ranking: list[dict]
    predicted_label: str


@torch.no_grad()
def explain_utterance(
    model: SyncTVAForEmotionClassification,
    inputs: dict,
    dialogue: int = 0,
    utterance: int = 0,
    reduce: str = "max",
    extra_edge_index: torch.Tensor | None = None,
) -> UtteranceExplanation:
    r"""Explain the prediction of utterance `utterance` of dialogue `dialogue` in the batch `inputs` (keyword inputs
    of the model): which source utterances, modalities and edge types its graph attention weighed most.

    PyTorch Geometric's `AttentionExplainer` reads the attention of every edge from the PyG graph attention
    (`RelationalGraphAttentionConv`) of each graph layer, reduces it over heads and layers with `reduce` (`"max"` or
    `"mean"`), and keeps the edges within as many hops of the utterance's nodes as the model has graph layers. A
    model with the window kernel is explained through its PyG twin: the same weights, the same graph. Puts `model`
    in evaluation mode.
    """
    if model.config.graph_implementation != "pyg":
        config = copy.deepcopy(model.config)
        config.graph_implementation = "pyg"
        twin = SyncTVAForEmotionClassification(config).to(model.device)
        twin.load_state_dict(model.state_dict())
        model = twin
    model.eval()  # an explanation is of the model's inference; the user's model stays in evaluation mode
    parts = graph_parts(model.model, inputs, extra_edge_index)
    batch_size, grid_utterances, num_modalities = parts.grid_present.shape
    if not 0 <= dialogue < batch_size:
        raise ValueError(f"`dialogue` must be in [0, {batch_size}), got {dialogue}")
    num_utterances = int(parts.grid_present[dialogue].any(dim=-1).sum())
    if not 0 <= utterance < num_utterances:
        raise ValueError(f"`utterance` must be in [0, {num_utterances}) for dialogue {dialogue}, got {utterance}")
    node_utterance = parts.node_cells // num_modalities  # (|V|,) over the batch's B * N utterances
    target_nodes = (node_utterance == dialogue * grid_utterances + utterance).nonzero().squeeze(-1)
    node_states = parts.grid_states.flatten(0, 2)[parts.node_cells]

    explainer = Explainer(
        model=LogitsFromGraph(model, parts).eval(),  # the explainer restores the mode it finds after each pass
        algorithm=AttentionExplainer(reduce=reduce),
        explanation_type="model",
        edge_mask_type="object",
        model_config={"mode": "multiclass_classification", "task_level": "node", "return_type": "raw"},
    )
    explanation = explainer(node_states, parts.edge_index, index=target_nodes, edge_type=parts.edge_type)
    edge_mask = explanation.edge_mask

    relations = relation_names(model.config)
    modality_names = [MODALITIES[i] for i in parts.modality_ids]
    source, target = parts.edge_index
    ranking = [
        {
            "source_utterance": int(node_utterance[source[edge]] % grid_utterances),
            "source_modality": modality_names[int(parts.node_cells[source[edge]] % num_modalities)],
            "target_utterance": int(node_utterance[target[edge]] % grid_utterances),
            "target_modality": modality_names[int(parts.node_cells[target[edge]] % num_modalities)],
            "edge_type": int(parts.edge_type[edge]),
            "relation": relations[int(parts.edge_type[edge]) % model.config.num_edge_relations],
            "weight": float(edge_mask[edge]),
        }
        for edge in edge_mask.argsort(descending=True)[: int((edge_mask > 0).sum())].tolist()
    ]
    label = int(explanation.prediction[target_nodes[0]].argmax())
    return UtteranceExplanation(explanation, edge_mask, ranking, model.config.id2label[label])


__all__ = ["DialogueGraphs", "UtteranceExplanation", "build_dialogue_graph", "edge_type_names", "explain_utterance", "relation_names"]
