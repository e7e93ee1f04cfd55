"""The ERC metric module: loads offline from its path and agrees with scikit-learn."""

from pathlib import Path

import evaluate
import numpy as np
import pytest
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

from modeling_synctva.configuration_synctva import MELD_EMOTIONS

METRIC_DIR = Path(__file__).resolve().parents[1] / "synctva_training" / "erc_metrics"


@pytest.fixture(scope="module")
def metric():
    return evaluate.load(str(METRIC_DIR))


def skewed_predictions(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """References with MELD-like imbalance; predictions right 60% of the time, class 5 never predicted and class 6
    never true (so both zero-division cases of F1 occur)."""
    rng = np.random.default_rng(seed)
    references = rng.choice(6, size=500, p=[0.45, 0.15, 0.05, 0.1, 0.17, 0.08])
    predictions = np.where(rng.random(500) < 0.6, references, rng.choice([0, 1, 2, 3, 4, 6], size=500))
    predictions[predictions == 5] = 0
    return predictions, references


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scores_equal_scikit_learn_with_a_label_list(metric, seed):
    predictions, references = skewed_predictions(seed)
    labels = list(range(7))
    result = metric.compute(predictions=predictions, references=references, label_names=MELD_EMOTIONS)

    assert result["accuracy"] == pytest.approx(accuracy_score(references, predictions), abs=1e-12)
    for average in ("weighted", "macro"):
        expected = f1_score(references, predictions, labels=labels, average=average, zero_division=0)
        assert result[f"{average}_f1"] == pytest.approx(expected, abs=1e-12)
    per_class = f1_score(references, predictions, labels=labels, average=None, zero_division=0)
    assert list(result["per_class_f1"]) == list(MELD_EMOTIONS)
    assert list(result["per_class_f1"].values()) == pytest.approx(per_class.tolist(), abs=1e-12)
    assert result["confusion_matrix"] == confusion_matrix(references, predictions, labels=labels).tolist()


def test_without_a_label_list_the_classes_seen_are_scored_in_sorted_order(metric):
    predictions, references = [3, 1, 1, 7], [1, 1, 3, 7]
    result = metric.compute(predictions=predictions, references=references)

    assert result["labels"] == [1, 3, 7]
    assert result["macro_f1"] == pytest.approx(f1_score(references, predictions, average="macro"), abs=1e-12)
    assert result["confusion_matrix"] == confusion_matrix(references, predictions).tolist()


def test_a_known_small_case_by_hand(metric):
    # true 0 0 1 1 2, predicted 0 1 1 1 0: F1(0) = 2*1/(2+2) = 0.5, F1(1) = 2*2/(2+3) = 0.8, F1(2) = 0
    result = metric.compute(predictions=[0, 1, 1, 1, 0], references=[0, 0, 1, 1, 2], labels=[0, 1, 2])

    assert result["accuracy"] == pytest.approx(0.6)
    assert result["per_class_f1"] == pytest.approx({"0": 0.5, "1": 0.8, "2": 0.0})
    assert result["weighted_f1"] == pytest.approx((2 * 0.5 + 2 * 0.8 + 0) / 5)
    assert result["macro_f1"] == pytest.approx(1.3 / 3)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(predictions=[0, 9], references=[0, 1], labels=[0, 1]), "prediction classes \\[9\\]"),
        (dict(predictions=[0, 1], references=[0, 1], labels=[0, 1], label_names=["a"]), "label_names"),
        (dict(predictions=[], references=[]), "at least one"),
    ],
)
def test_bad_input_is_refused_with_a_message(metric, kwargs, message):
    with pytest.raises(ValueError, match=message):
        metric.compute(**kwargs)
