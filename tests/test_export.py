"""Serving export (modeling_synctva/export_synctva.py): the `torch.export` program and the ONNX file give the eager
model's logits on dialogues of other lengths than the example they were exported with.

The models are small and untrained and the inputs are made up (random features of MELD's sizes, random speakers and
gaps in audio and visual): these tests show shapes and equivalence with the eager model, not accuracy.
"""

import pytest
import torch

from modeling_synctva import SyncTVAConfig, SyncTVAForEmotionClassification
from modeling_synctva.export_synctva import export_onnx, export_program, save_program


FEATURE_SIZES = {"text": 384, "audio": 88, "visual": 342}
MODALITY_SETS = {"text-only": ["text"], "text-audio-visual": ["text", "audio", "visual"]}


def small_model(modalities: list[str]) -> SyncTVAForEmotionClassification:
    torch.manual_seed(0)
    config = SyncTVAConfig(modalities=modalities, hidden_size=32, intermediate_size=48, num_attention_heads=2)
    return SyncTVAForEmotionClassification(config).eval()


def made_up_dialogues(modalities: list[str], lengths: list[int], seed: int) -> dict[str, torch.Tensor]:
    """A batch of dialogues of `lengths` utterances padded to the longest: random features, speakers and, with
    several modalities, audio and visual missing at random (text always present)."""
    generator = torch.Generator().manual_seed(seed)
    batch_size, num_utterances = len(lengths), max(lengths)
    inputs = {
        f"{m}_features": torch.randn(batch_size, num_utterances, FEATURE_SIZES[m], generator=generator) for m in modalities
    }
    inputs["speaker_ids"] = torch.randint(0, 3, (batch_size, num_utterances), generator=generator)
    modality_mask = torch.rand(batch_size, num_utterances, 3, generator=generator) > 0.4
    modality_mask[..., 0] = True
    inputs["modality_mask"] = modality_mask
    inputs["attention_mask"] = (torch.arange(num_utterances) < torch.tensor(lengths)[:, None]).long()
    return inputs


def eager_logits(model, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    with torch.inference_mode():
        return model(**inputs).logits


@pytest.fixture(scope="module", params=list(MODALITY_SETS))
def exported(request):
    """A model and its program, exported from one made-up dialogue of 9 utterances."""
    model = small_model(MODALITY_SETS[request.param])
    return model, export_program(model, made_up_dialogues(model.config.modalities, [9], seed=0), max_utterances=256)


@pytest.mark.parametrize("length", [2, 3, 7, 40, 256])
def test_exported_program_gives_the_eager_logits_at_other_lengths(exported, length):
    model, program = exported
    inputs = made_up_dialogues(model.config.modalities, [length], seed=length)

    with torch.inference_mode():
        outputs = program.module()(**inputs)

    assert outputs.logits.shape == (1, length, model.config.num_labels)
    torch.testing.assert_close(outputs.logits, eager_logits(model, inputs), atol=1e-5, rtol=0)


def test_exported_program_refuses_dialogues_beyond_its_bounds(exported):
    model, program = exported
    with pytest.raises((AssertionError, RuntimeError, ValueError)):  # torch.export's own range check
        program.module()(**made_up_dialogues(model.config.modalities, [257], seed=0))


def test_dynamic_batch_program_gives_the_eager_logits_of_padded_batches():
    model = small_model(MODALITY_SETS["text-audio-visual"])
    program = export_program(
        model, made_up_dialogues(model.config.modalities, [6, 4], seed=0), max_utterances=64, dynamic_batch=True
    )
    inputs = made_up_dialogues(model.config.modalities, [11, 3, 8], seed=1)

    with torch.inference_mode():
        logits = program.module()(**inputs).logits

    torch.testing.assert_close(logits, eager_logits(model, inputs), atol=1e-5, rtol=0)


def test_saved_program_loads_and_gives_the_same_logits(exported, tmp_path):
    model, program = exported
    path = save_program(program, tmp_path / "synctva.pt2")
    inputs = made_up_dialogues(model.config.modalities, [5], seed=5)

    with torch.inference_mode():
        logits = torch.export.load(path).module()(**inputs).logits

    assert [p.name for p in tmp_path.iterdir()] == ["synctva.pt2"]  # no temporary file left
    torch.testing.assert_close(logits, eager_logits(model, inputs), atol=1e-5, rtol=0)


@pytest.mark.parametrize("modality_set", list(MODALITY_SETS))
def test_onnx_file_gives_the_eager_logits_of_a_shorter_dialogue_padded_to_its_length(modality_set, tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    model = small_model(MODALITY_SETS[modality_set])
    path = export_onnx(model, tmp_path / "synctva.onnx", made_up_dialogues(model.config.modalities, [12], seed=0))
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    dialogue = made_up_dialogues(model.config.modalities, [5], seed=3)
    padded = {
        name: torch.nn.functional.pad(value, (0, 0) * (value.dim() - 2) + (0, 7)) for name, value in dialogue.items()
    }  # 5 utterances, then 7 of padding (attention_mask 0)

    logits, modality_weights, _ = session.run(None, {name: value.numpy() for name, value in padded.items()})

    assert [i.name for i in session.get_inputs()] == list(dialogue)
    assert logits.shape == (1, 12, model.config.num_labels)
    torch.testing.assert_close(torch.from_numpy(logits[:, :5]), eager_logits(model, dialogue), atol=1e-5, rtol=0)
    with torch.inference_mode():
        expected_weights = model(**dialogue).modality_weights
    torch.testing.assert_close(torch.from_numpy(modality_weights[:, :5]), expected_weights, atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    "export, message",
    [
        (lambda m, x: export_program(m.train(), x), "call `model.eval\\(\\)` first"),
        (lambda m, x: export_program(m, {**x, "input_ids": torch.zeros(1, 9, 4, dtype=torch.long)}), "export runs from features"),
        (lambda m, x: export_program(m, {k: v[:, :1] for k, v in x.items()}), "needs 2 to `max_utterances`"),
        (lambda m, x: export_program(m, x, max_utterances=8), "needs 2 to `max_utterances`"),
        (lambda m, x: export_program(m, x, dynamic_batch=True), "`dynamic_batch` needs an example of 2"),
        (lambda m, x: export_program(m, {"speaker_ids": x["speaker_ids"]}), "needs at least one of"),
        (lambda m, x: export_program(m, {**x, "text_features": x["text_features"][..., :10]}), "`text_features` must have shape"),
    ],
    ids=["training-mode", "token-inputs", "one-utterance", "example-too-long", "batch-of-one", "no-features", "wrong-feature-size"],
)
def test_bad_export_arguments_raise_a_clear_error(export, message):
    model = small_model(["text"])
    with pytest.raises(ValueError, match=message):
        export(model, made_up_dialogues(["text"], [9], seed=0))


def test_export_after_another_trace_of_the_gru_keeps_the_length_dynamic():
    """A trace of the GRU earlier in the process (here a plain `torch.export`; in the benchmark `torch.compile`) leaves
    the step-per-utterance GRU cached in the operator: `export_program` must still trace the while_loop one."""
    model = small_model(["text"])
    example = made_up_dialogues(["text"], [9], seed=0)
    torch.export.export(model, args=(), kwargs=example)

    program = export_program(model, example, max_utterances=32)

    inputs = made_up_dialogues(["text"], [4], seed=4)
    with torch.inference_mode():
        torch.testing.assert_close(program.module()(**inputs).logits, eager_logits(model, inputs), atol=1e-5, rtol=0)
