"""`SyncTVAStreamer`: online classification that reuses the past gives exactly the logits of recomputing the whole
dialogue. Features are made up (random); what is pinned is the equality, which random inputs show as well as real."""

import pytest
import torch

from modeling_synctva import SyncTVAForEmotionClassification
from modeling_synctva.streaming_synctva import SyncTVAStreamer

from test_modeling import SIZES, small_config


def causal_model(**overrides) -> SyncTVAForEmotionClassification:
    torch.manual_seed(0)
    return SyncTVAForEmotionClassification(small_config(**{"past_window": 3, "future_window": 0, **overrides})).eval()


def made_up_dialogue(num_utterances: int, seed: int) -> dict[str, torch.Tensor]:
    """Random features (n, F), speakers (n,) and a modality mask (n, 3) with gaps in audio and visual."""
    generator = torch.Generator().manual_seed(seed)
    dialogue = {f"{m}_features": torch.randn(num_utterances, s, generator=generator) for m, s in SIZES.items()}
    dialogue["speaker_ids"] = torch.randint(0, 3, (num_utterances,), generator=generator)
    dialogue["modality_mask"] = torch.rand(num_utterances, 3, generator=generator) > 0.3
    dialogue["modality_mask"][:, 0] = True
    return dialogue


def whole_dialogue_logits(model, dialogue: dict) -> torch.Tensor:
    with torch.inference_mode():
        return model(**{key: value.unsqueeze(0) for key, value in dialogue.items()}).logits[0]


@pytest.mark.parametrize(
    "overrides",
    [{}, {"speaker_aware_edges": False}, {"past_window": 0}, {"graph_layers": 3, "past_window": 1},
     {"use_cross_attention_fusion": False}, {"use_modality_enhancement": False}, {"use_cross_modal_graph": False},
     {"past_window": 8, "distance_buckets": [1, 2, 4]}],
    ids=["default", "speaker-blind", "no-past", "three-layers", "mean-fusion", "no-enhancement", "no-graph",
         "far-reach-by-distance"],
)
def test_streaming_one_utterance_at_a_time_equals_recomputing(overrides):
    model = causal_model(**overrides)
    dialogue = made_up_dialogue(15, seed=1)
    expected = whole_dialogue_logits(model, dialogue)
    streamer = SyncTVAStreamer(model)
    streamed = torch.cat([streamer.step(**{k: v[i : i + 1] for k, v in dialogue.items()}).logits[0] for i in range(15)])
    torch.testing.assert_close(streamed, expected, atol=1e-5, rtol=0)


def test_streaming_in_chunks_and_with_a_modality_missing_from_some_steps():
    model = causal_model()
    dialogue = made_up_dialogue(12, seed=2)
    dialogue["modality_mask"][4:7, 1] = False  # no audio for utterances 4..6: those steps pass no audio at all
    expected = whole_dialogue_logits(model, dialogue)
    streamer = SyncTVAStreamer(model)
    pieces, start = [], 0
    for size in (3, 1, 3, 2, 1, 2):
        step = {k: v[start : start + size] for k, v in dialogue.items()}
        if 4 <= start < 7:
            del step["audio_features"]
        pieces.append(streamer.step(**step).logits[0])
        start += size
    torch.testing.assert_close(torch.cat(pieces), expected, atol=1e-5, rtol=0)


def test_reset_starts_a_new_dialogue():
    model = causal_model()
    first, second = made_up_dialogue(6, seed=3), made_up_dialogue(5, seed=4)
    streamer = SyncTVAStreamer(model)
    for i in range(6):
        streamer.step(**{k: v[i : i + 1] for k, v in first.items()})
    streamer.reset()
    streamed = torch.cat([streamer.step(**{k: v[i : i + 1] for k, v in second.items()}).logits[0] for i in range(5)])
    torch.testing.assert_close(streamed, whole_dialogue_logits(model, second), atol=1e-5, rtol=0)


def test_streaming_memory_stays_bounded_by_the_window():
    model = causal_model(past_window=2)
    dialogue = made_up_dialogue(30, seed=5)
    streamer = SyncTVAStreamer(model)
    for i in range(30):
        streamer.step(**{k: v[i : i + 1] for k, v in dialogue.items()})
    assert streamer.window_present.shape[1] == 2
    assert all(states.shape[1] == 2 for states in streamer.window_states)


def test_streamer_refuses_a_model_that_looks_ahead():
    with pytest.raises(ValueError, match="future_window"):
        SyncTVAStreamer(causal_model(future_window=1))


def test_streamer_refuses_a_model_in_training_mode():
    streamer = SyncTVAStreamer(causal_model().train())
    dialogue = made_up_dialogue(1, seed=6)
    with pytest.raises(ValueError, match="eval"):
        streamer.step(**dialogue)


def test_streamer_checks_its_inputs_like_the_model():
    streamer = SyncTVAStreamer(causal_model())
    dialogue = made_up_dialogue(1, seed=7)
    dialogue["text_features"][0, 0] = float("nan")
    with pytest.raises(ValueError, match="text_features"):
        streamer.step(**dialogue)


def test_a_text_only_stream_through_a_three_modality_model():
    # Made-up features: the streamer's grid holds text only, and the logits are those of the model run on text.
    model = causal_model()
    dialogue = made_up_dialogue(9, seed=8)
    text_only = {"text_features": dialogue["text_features"], "speaker_ids": dialogue["speaker_ids"]}
    expected = whole_dialogue_logits(model, text_only)
    streamer = SyncTVAStreamer(model, modalities=["text"])
    streamed = torch.cat([streamer.step(**{k: v[i : i + 1] for k, v in text_only.items()}).logits[0] for i in range(9)])
    torch.testing.assert_close(streamed, expected, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="pass `modalities`"):
        streamer.step(**{k: v[:1] for k, v in dialogue.items()})
    with pytest.raises(ValueError, match="subset"):
        SyncTVAStreamer(model, modalities=["smell"])


def test_compiled_streamers_of_different_models_each_equal_recomputing():
    # Made-up features, small text-only causal models of the same sizes but different graphs and fusion: the compiled
    # step (inductor) gives each model's whole-dialogue logits at every step, the first ones included, and again
    # after `reset`; a second model must not reuse the first one's compiled step.
    torch._dynamo.reset()
    for overrides in ({}, {"speaker_aware_edges": False, "use_cross_attention_fusion": False}):
        model = causal_model(modalities=["text"], **overrides)
        streamer = SyncTVAStreamer(model, compile=True)
        for seed, length in ((9, 7), (10, 4)):
            dialogue = made_up_dialogue(length, seed=seed)
            text_only = {"text_features": dialogue["text_features"], "speaker_ids": dialogue["speaker_ids"]}
            streamer.reset()
            steps = [streamer.step(**{k: v[i : i + 1] for k, v in text_only.items()}).logits[0] for i in range(length)]
            torch.testing.assert_close(torch.cat(steps), whole_dialogue_logits(model, text_only), atol=1e-5, rtol=0)
