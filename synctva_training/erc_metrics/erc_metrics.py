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
"""ERC metrics: accuracy, weighted F1, macro F1, per-class F1 and the confusion matrix, in one `evaluate` module.

It loads offline from its path (no Hub access), unlike `evaluate.load("f1")`:

    >>> import evaluate
    >>> metric = evaluate.load("synctva_training/erc_metrics")  # or the path of this file
    >>> metric.compute(predictions=[0, 1, 1], references=[0, 1, 0], label_names=["neutral", "joy"])["accuracy"]
    0.6666666666666666

The numbers follow scikit-learn's definitions (`accuracy_score`, `f1_score(average=...)` with `zero_division=0`,
`confusion_matrix`), computed here from the confusion matrix with numpy alone.
"""

from collections.abc import Sequence

import datasets
import evaluate
import numpy as np


_DESCRIPTION = """
Emotion recognition in conversation is scored per utterance: accuracy, the support-weighted F1 the ERC literature
reports, the macro F1 (every class counts the same, so rare emotions such as fear and disgust weigh in), the F1 of
every class and the confusion matrix (rows: true class, columns: predicted class).
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list[int]`): predicted class of each utterance.
    references (`list[int]`): true class of each utterance (drop unlabelled utterances, e.g. -100, before).
    labels (`list[int]`, *optional*): the classes to score, in the order of the confusion matrix and of
        `per_class_f1`. Defaults to `range(len(label_names))` with `label_names`, else the sorted classes seen in
        predictions and references. A prediction or reference outside `labels` is an error.
    label_names (`list[str]`, *optional*): a name for each entry of `labels` (the keys of `per_class_f1`).
Returns:
    accuracy (`float`): fraction of utterances predicted right.
    weighted_f1 (`float`): per-class F1 averaged with the classes' support (number of true utterances) as weights.
    macro_f1 (`float`): unweighted mean of the per-class F1 over `labels`.
    per_class_f1 (`dict[str, float]`): F1 of each class, keyed by its name (or its index as a string).
    confusion_matrix (`list[list[int]]`): counts, row i = true `labels[i]`, column j = predicted `labels[j]`.
    labels (`list[int]`): the classes, in the order used above.
Examples:
    >>> metric = evaluate.load("synctva_training/erc_metrics")
    >>> result = metric.compute(predictions=[0, 2, 1, 1], references=[0, 1, 1, 2], labels=[0, 1, 2])
    >>> result["confusion_matrix"]
    [[1, 0, 0], [0, 1, 1], [0, 1, 0]]
"""

_CITATION = ""


def erc_scores(
    predictions: Sequence[int],
    references: Sequence[int],
    labels: Sequence[int] | None = None,
    label_names: Sequence[str] | None = None,
) -> dict:
    """Accuracy, weighted / macro / per-class F1 and the confusion matrix of one set of predictions.

    Raises:
        ValueError: empty or unequal inputs, `label_names` of the wrong length, or a prediction or reference
            outside `labels`.
    """
    predictions = np.asarray(predictions, dtype=np.int64).ravel()
    references = np.asarray(references, dtype=np.int64).ravel()
    if predictions.size == 0 or predictions.size != references.size:
        raise ValueError(
            f"need as many predictions as references, at least one: got {predictions.size} and {references.size}"
        )
    if labels is None:
        labels = range(len(label_names)) if label_names is not None else np.union1d(predictions, references)
    labels = [int(label) for label in labels]
    if len(set(labels)) != len(labels):
        raise ValueError(f"`labels` has duplicates: {labels}")
    if label_names is not None and len(label_names) != len(labels):
        raise ValueError(f"`label_names` has {len(label_names)} names for {len(labels)} labels")
    names = [str(name) for name in label_names] if label_names is not None else [str(label) for label in labels]

    position = {label: index for index, label in enumerate(labels)}
    for kind, values in (("prediction", predictions), ("reference", references)):
        unknown = sorted(set(values.tolist()) - set(position))
        if unknown:
            raise ValueError(f"{kind} classes {unknown} are not among the labels {labels}")
    true_index = np.array([position[value] for value in references.tolist()])
    predicted_index = np.array([position[value] for value in predictions.tolist()])
    confusion = np.zeros((len(labels), len(labels)), dtype=np.int64)
    np.add.at(confusion, (true_index, predicted_index), 1)

    true_positives = np.diag(confusion).astype(np.float64)
    support = confusion.sum(axis=1)
    predicted = confusion.sum(axis=0)
    # F1 = 2 TP / (support + predicted); 0 when the class is neither present nor predicted (zero_division=0).
    denominator = support + predicted
    f1 = np.divide(2 * true_positives, denominator, out=np.zeros(len(labels)), where=denominator > 0)
    return {
        "accuracy": float(true_positives.sum() / predictions.size),
        "weighted_f1": float((f1 * support).sum() / support.sum()) if support.sum() else 0.0,
        "macro_f1": float(f1.mean()),
        "per_class_f1": {name: float(score) for name, score in zip(names, f1)},
        "confusion_matrix": confusion.tolist(),
        "labels": labels,
    }


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class ErcMetrics(evaluate.Metric):
    """Accuracy, weighted F1, macro F1, per-class F1 and the confusion matrix of per-utterance emotion predictions."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}
            ),
            reference_urls=["https://scikit-learn.org/stable/modules/model_evaluation.html#classification-metrics"],
        )

    def _compute(self, predictions, references, labels=None, label_names=None) -> dict:
        return erc_scores(predictions, references, labels=labels, label_names=label_names)
