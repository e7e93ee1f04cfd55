"""Baselines for the benchmark: Sync-TVA's graph over a dense adjacency, and Sync-TVA without its graph attention
(the bound on any graph formulation's speed-up). The BiGRU it also times is `synctva_training.baselines`', the model
of `train.py --baseline gru`.

`DenseGraphSyncTVA` is the formulation GraphSmile and MMGCN use: for every dialogue a Python loop over node pairs
builds a dense adjacency and edge-type matrix, and the graph attention is computed as dense masked attention over
all node pairs. It holds a `SyncTVAForEmotionClassification` and uses the SAME parameters (enhancement, graph
layers, fusion, classifier), so on the same input it gives the same logits as the model (tests/test_bench.py pins
this to 1e-5); only the graph's formulation differs, which is what the benchmark compares.
"""

import torch
import torch.nn.functional as F
from torch import nn

from modeling_synctva import SyncTVAForEmotionClassification
from modeling_synctva.modeling_synctva import emotion_classification_loss, modality_grid


def dense_dialogue_graph(
    present: list[list[bool]], speakers: list[int], past_window: int, future_window: int, speaker_aware: bool
) -> tuple[list[list[bool]], list[list[int]]]:
    """The graph of one dialogue as dense (V, V) adjacency and edge-type matrices, [target][source], built with a
    Python loop over node pairs; nodes are the present (utterance, modality) pairs in row-major order. The edge
    types follow `dialogue_window`: (3 source modality + target modality) R + relation."""
    nodes = [(n, m) for n, row in enumerate(present) for m, here in enumerate(row) if here]
    num_relations = 5 if speaker_aware else 3
    adjacency = [[False] * len(nodes) for _ in nodes]
    edge_type = [[0] * len(nodes) for _ in nodes]
    for i, (target_utterance, target_modality) in enumerate(nodes):
        for j, (source_utterance, source_modality) in enumerate(nodes):
            offset = source_utterance - target_utterance
            if not -past_window <= offset <= future_window:
                continue
            relation = 0 if offset == 0 else (1 if offset < 0 else (3 if speaker_aware else 2))
            if speaker_aware and offset != 0 and speakers[source_utterance] != speakers[target_utterance]:
                relation += 1
            adjacency[i][j] = True
            edge_type[i][j] = (source_modality * 3 + target_modality) * num_relations + relation
    return adjacency, edge_type


class DenseGraphSyncTVA(nn.Module):
    """Sync-TVA with its graph attention computed densely over padded (B, V, V) node pairs.

    Shapes: the inputs of `SyncTVAForEmotionClassification.forward`; the dense scores take (B, V, V, H) memory.
    """

    def __init__(self, model: SyncTVAForEmotionClassification):
        super().__init__()
        self.model = model

    def dense_attention(self, attention, states, adjacency, edge_type):
        """`RelationalGraphAttention` over dense pairs: states (B, V, H), adjacency / edge_type (B, V, V) -> (B, V, H)"""
        batch_size, num_nodes, hidden_size = states.shape
        heads, head_size = attention.num_heads, attention.head_size
        source = attention.source_projection(states)[:, None, :, :]  # (B, 1, V source, H)
        target = attention.target_projection(states)[:, :, None, :]  # (B, V target, 1, H)
        scores = F.leaky_relu(source + target + attention.edge_type_score(edge_type), negative_slope=attention.negative_slope)
        scores = (scores.view(batch_size, num_nodes, num_nodes, heads, head_size) * attention.score_vector).sum(-1)
        scores = scores.masked_fill(~adjacency.unsqueeze(-1), float("-inf"))
        weights = torch.nan_to_num(scores.softmax(dim=2), nan=0.0)  # padding rows have no edge
        weights = attention.attention_dropout(weights)  # (B, V target, V source, heads)
        values = attention.value_projection(states)[:, None, :, :] + attention.edge_type_value(edge_type)
        values = values.view(batch_size, num_nodes, num_nodes, heads, head_size)
        out = (weights.unsqueeze(-1) * values).sum(dim=2).reshape(batch_size, num_nodes, hidden_size)
        return attention.output_projection(out)

    def forward(self, labels=None, **inputs):
        base, config = self.model.model, self.model.config
        features, present, speaker_ids, attention_mask = base.gather_inputs(
            *(inputs.get(name) for name in (
                "text_features", "audio_features", "visual_features", "input_ids", "text_attention_mask",
                "modality_mask", "speaker_ids", "attention_mask",
            ))
        )
        modality_ids, grid_present = modality_grid(list(features), present)
        grid_states, _ = base.embed_nodes(features, grid_present, attention_mask.sum(dim=1))  # (B, N, M, H)
        node_states = grid_states[grid_present]  # (|V|, H), row-major over (dialogue, utterance, modality)

        # Per dialogue: the dense graph from Python loops, then everything padded to (B, V_max, ...).
        counts = present.flatten(1).sum(dim=1).tolist()
        graphs = [
            dense_dialogue_graph(present[b].tolist(), speaker_ids[b].tolist(), config.past_window,
                                 config.future_window, config.speaker_aware_edges)
            for b in range(present.shape[0])
        ]
        num_nodes = max(counts)
        adjacency = torch.zeros(len(graphs), num_nodes, num_nodes, dtype=torch.bool)
        edge_type = torch.zeros(len(graphs), num_nodes, num_nodes, dtype=torch.long)
        for b, (dialogue_adjacency, dialogue_types) in enumerate(graphs):
            adjacency[b, : counts[b], : counts[b]] = torch.tensor(dialogue_adjacency, dtype=torch.bool).view(counts[b], -1)
            edge_type[b, : counts[b], : counts[b]] = torch.tensor(dialogue_types, dtype=torch.long).view(counts[b], -1)
        is_node = torch.arange(num_nodes)[None, :] < torch.tensor(counts)[:, None]  # (B, V_max)
        states = node_states.new_zeros(len(graphs), num_nodes, node_states.shape[-1])
        states[is_node] = node_states

        for layer in base.graph_layers:  # GraphAttentionLayer.forward with the dense attention
            attended = self.dense_attention(layer.attention, states, adjacency, edge_type)
            states = layer.attention_norm(states + layer.dropout(attended))
            update = layer.feed_forward_out(layer.dropout(layer.activation(layer.feed_forward_in(states))))
            states = layer.feed_forward_norm(states + layer.dropout(update))

        grid_states = grid_states.new_zeros(grid_states.shape)
        grid_states[grid_present] = states[is_node]
        fused, _ = base.fuse_modalities(grid_states, grid_present, modality_ids)
        logits = self.model.classifier(self.model.dropout(fused))
        loss = None if labels is None else emotion_classification_loss(logits, labels, config)
        return loss, logits


class OwnStateAttention(nn.Module):
    """A stand-in for `RelationalGraphAttention` that attends to nothing: each node's output is the attention's output
    projection of its own state.

    A model with it in every graph layer still does everything else (the enhancement, building the graph, the
    layers' feed-forward blocks and norms, the fusion, the loss, the optimizer step): work that the dense formulation
    does too, with the same layers. The dense baseline's time over this model's time is the speed-up Sync-TVA would
    have if its graph attention cost nothing, so no formulation of the graph can beat the dense one by more.

    Shapes: x (B, N, M, H), edge_type and has_edge (B, N, K, M, M) -> (B, N, M, H), None (no attention weights)
    """

    def __init__(self, attention: nn.Module):
        super().__init__()
        self.output_projection = attention.output_projection

    def forward(self, x, edge_type, has_edge):
        return self.output_projection(x), None


def without_graph_attention(model: SyncTVAForEmotionClassification) -> SyncTVAForEmotionClassification:
    """`model` with `OwnStateAttention` in place of every graph layer's attention (in place; returns it)."""
    for layer in model.model.graph_layers:
        layer.attention = OwnStateAttention(layer.attention)
    return model
