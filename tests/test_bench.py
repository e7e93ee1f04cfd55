"""The benchmark runs and reports every figure, and its dense-graph baseline computes the same function as the model
(so the speed comparison is fair). No speed is asserted here: speed is measured by bench/bench.py."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from modeling_synctva import SyncTVAConfig, SyncTVAForEmotionClassification

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from baselines import DenseGraphSyncTVA, dense_dialogue_graph, without_graph_attention  # noqa: E402
from bench import gru_baseline  # noqa: E402

REQUIRED_KEYS = [
    "train_speedup_vs_dense", "train_speedup_vs_gru", "meld_epoch_s", "infer_p50_ms", "forward_s_2000",
    "peak_mem_mib_2000", "stream_p50_ms", "stream_speedup_vs_recompute", "infer_p95_ms", "e2e_p50_ms",
    "train_dialogues_per_s_synctva", "train_dialogues_per_s_dense", "train_dialogues_per_s_gru", "edges_2000",
    "torch_threads", "cpu_count", "infer_p50_ms_compiled", "compile_s_infer", "stream_p50_ms_compiled",
    "stream_speedup_vs_recompute_compiled", "compile_s_stream", "train_speedup_bound_vs_dense",
    "graph_train_dialogues_per_s_window", "graph_train_dialogues_per_s_pyg", "graph_train_dialogues_per_s_pyg_whole",
    "graph_infer_p50_ms_window", "graph_infer_p50_ms_pyg", "graph_forward_s_2000_window", "graph_forward_s_2000_pyg",
    "export_p50_ms_eager", "export_p50_ms_program", "export_p50_ms_onnx", "export_speedup_vs_eager_program",
    "export_speedup_vs_eager_onnx",
]


def made_up_batch(seed: int) -> dict[str, torch.Tensor]:
    """Three padded dialogues (8, 5 and 2 utterances) with random T+A+V features and gaps in audio and visual."""
    generator = torch.Generator().manual_seed(seed)
    batch = {
        "text_features": torch.randn(3, 8, 384, generator=generator),
        "audio_features": torch.randn(3, 8, 88, generator=generator),
        "visual_features": torch.randn(3, 8, 342, generator=generator),
        "speaker_ids": torch.randint(0, 3, (3, 8), generator=generator),
        "modality_mask": torch.rand(3, 8, 3, generator=generator) > 0.3,
        "attention_mask": torch.tensor([[1] * 8, [1] * 5 + [0] * 3, [1] * 2 + [0] * 6]),
        "labels": torch.randint(0, 7, (3, 8), generator=generator),
    }
    batch["modality_mask"][..., 0] = True
    return batch


@pytest.mark.parametrize(
    "overrides", [{}, {"future_window": 0, "speaker_aware_edges": False}, {"past_window": 1, "future_window": 2}],
    ids=["default", "causal-speaker-blind", "asymmetric-window"],
)
def test_dense_baseline_equals_the_model_on_the_same_graph(overrides):
    torch.manual_seed(0)
    model = SyncTVAForEmotionClassification(SyncTVAConfig(hidden_size=32, intermediate_size=48, **overrides)).eval()
    batch = made_up_batch(seed=0)
    expected = model(**batch)
    loss, logits = DenseGraphSyncTVA(model)(**batch)
    torch.testing.assert_close(logits, expected.logits, atol=1e-5, rtol=0)
    torch.testing.assert_close(loss, expected.loss, atol=1e-5, rtol=0)


def test_the_bound_model_skips_only_the_graph_attention():
    """The model behind `train_speedup_bound_vs_dense` (made-up batch) backpropagates into every parameter outside
    the graph attention and into none inside it but the output projection: it times exactly the work shared with the
    dense model. Reached, not nonzero: a gradient can be zero by the maths (a scale that a LayerNorm cancels) or by
    rounding, and either way the backward pass did the work being timed."""
    torch.manual_seed(0)
    model = without_graph_attention(SyncTVAForEmotionClassification(SyncTVAConfig(hidden_size=32, intermediate_size=48)))
    model.train()(**made_up_batch(seed=0)).loss.backward()
    trained = {name for name, p in model.named_parameters() if p.grad is not None}
    reference = SyncTVAForEmotionClassification(SyncTVAConfig(hidden_size=32, intermediate_size=48))
    attention_only = {
        name for name, _ in reference.named_parameters() if ".attention." in name and "output_projection" not in name
    }
    assert trained == {name for name, _ in reference.named_parameters()} - attention_only


def test_dense_graph_has_the_edges_and_types_of_the_window_graph():
    from modeling_synctva.modeling_synctva import dialogue_window

    batch = made_up_batch(seed=1)
    present = batch["modality_mask"][:1]
    edge_type, has_edge = dialogue_window(present, batch["speaker_ids"][:1], torch.arange(3), 3, 2, True)
    window = {
        ((i + k - 3, s), (i, t), int(edge_type[0, i, k, s, t]))
        for _, i, k, s, t in has_edge.nonzero().tolist()
    }
    adjacency, types = dense_dialogue_graph(present[0].tolist(), batch["speaker_ids"][0].tolist(), 3, 2, True)
    nodes = present[0].nonzero().tolist()  # node -> (utterance, modality), row-major as the dense graph numbers them
    dense = {
        (tuple(nodes[j]), tuple(nodes[i]), types[i][j])
        for i, row in enumerate(adjacency) for j, edge in enumerate(row) if edge
    }
    assert dense == window


def test_benchmark_times_the_gru_baseline_of_the_results():
    from synctva_training.baselines import BiGRUContextClassifier

    gru = gru_baseline(["text", "audio"])
    assert type(gru) is BiGRUContextClassifier  # the model train.py --baseline gru trains and results/ reports
    assert gru.context.hidden_size == gru.config.hidden_size // 2 and gru.context.bidirectional
    assert gru.projection.in_features == 384 + 88  # the features of the given modalities only


def test_quick_benchmark_reports_every_figure(tmp_path):
    out = tmp_path / "bench.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "bench.py"), "--quick", "--json", str(out)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(out.read_text())
    for key in REQUIRED_KEYS:
        assert isinstance(results.get(key), (int, float)) and math.isfinite(results[key]) and results[key] > 0, key
    assert results["dense_max_abs_diff"] < 1e-5
    assert -1 < results["train_attention_share"] < 1  # a share of the step: only noise can make it negative
    assert results["stream_max_abs_diff"] < 1e-5
    assert results["infer_compiled_max_abs_diff"] < 1e-5  # torch.compile gives the eager model's logits
    assert results["graph_pyg_max_abs_diff"] < 1e-5  # the PyG graph attention gives the window kernel's logits
    assert results["export_max_abs_diff_program"] < 1e-5 and results["export_max_abs_diff_onnx"] < 1e-5
    sizes = [row["utterances"] for row in results["scaling"]]
    assert sizes == sorted(sizes) and all(row["edges"] > 0 for row in results["scaling"])
    assert "meld_epoch_s" in done.stdout  # the table is printed


def test_paper_setting_section_reports_its_figures(tmp_path):
    # The research code's setting (T+A+V at 1024/300/342, its quick subsets), eager only: compiling takes minutes.
    out = tmp_path / "paper.json"
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "bench.py"), "--quick", "--sections", "paper", "--no-compile", "--json", str(out)],
        cwd=REPO, env={**os.environ, "HF_HUB_OFFLINE": "1"}, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(out.read_text())
    for key in ("paper_epoch_s", "paper_infer_p50_ms", "paper_forward_s_2000", "paper_peak_mem_mib_2000"):
        assert isinstance(results.get(key), (int, float)) and math.isfinite(results[key]) and results[key] > 0, key
    assert results["paper_epoch_dialogues"] == 64 and results["paper_infer_dialogues"] == 60
    assert results["paper_long_dialogue"]["nodes"] == 3 * 2000


def test_comparison_with_the_research_code_says_where_to_build_it(tmp_path):
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "against_research_code.py"), "--anchors-root", str(tmp_path / "none")],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode != 0 and "setup.sh" in done.stderr and str(tmp_path / "none") in done.stderr
