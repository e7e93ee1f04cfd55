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
"""`pipeline("emotion-recognition-in-conversation", model=..., trust_remote_code=True)`: dialogues in, one emotion per
utterance out.

The task is registered with transformers' `PIPELINE_REGISTRY` when this module is imported; `save_pretrained` of
the pipeline writes it into the checkpoint's config as `custom_pipelines` and copies this file beside the model's
code, so the task travels with the remote code: a user with no package installed loads it by task name.
"""

from collections.abc import Mapping, Sequence

import torch
from transformers import AutoModelForTokenClassification, Pipeline
from transformers.pipelines import PIPELINE_REGISTRY


TASK = "emotion-recognition-in-conversation"


class EmotionRecognitionInConversationPipeline(Pipeline):
    r"""The emotion of every utterance of one dialogue or of a list of dialogues.

    A dialogue is what `SyncTVAProcessor` reads: `speakers` and `utterances`, optionally `audio` (files or
    `(waveform, sampling_rate)` pairs) and `images` (face images, frames or video files), one entry per utterance.
    Up to `batch_size` dialogues (default 8) are padded into one forward pass.

    For each utterance the result is `{"label": str, "score": float}` (the softmax probability), or with
    `top_k=k` a list of the `k` most probable, most probable first. One dialogue in gives one list (an entry per
    utterance); a list of dialogues gives a list of such lists.

    Shapes: logits (B, N, num_labels) -> B lists of N results, padded utterances dropped.
    """

    _load_processor = True
    _load_tokenizer = False
    _load_feature_extractor = False
    _load_image_processor = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # By name: remote code loads the processor and this file as separate modules, so the classes are not the same.
        if type(self.processor).__name__ != "SyncTVAProcessor":
            raise ValueError(f"{TASK} needs the checkpoint's SyncTVAProcessor, got {type(self.processor).__name__}")

    def _sanitize_parameters(self, top_k: int | None = None, **kwargs):
        postprocess_kwargs = {}
        if top_k is not None:
            num_labels = self.model.config.num_labels
            if not isinstance(top_k, int) or not 1 <= top_k <= num_labels:
                raise ValueError(f"`top_k` must be an integer from 1 to {num_labels}, got {top_k!r}")
            postprocess_kwargs["top_k"] = top_k
        return {}, {}, postprocess_kwargs

    def __call__(self, dialogues: Mapping | Sequence[Mapping], batch_size: int = 8, **kwargs):
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"`batch_size` must be a positive integer, got {batch_size!r}")
        single = isinstance(dialogues, Mapping)
        dialogues = [dialogues] if single else list(dialogues)
        if not dialogues or not all(isinstance(dialogue, Mapping) for dialogue in dialogues):
            raise ValueError(f"{TASK} takes a dialogue (a dict with `speakers` and `utterances`) or a list of them")
        # Each group is one input of the base pipeline, so the processor pads a whole group into one batch.
        groups = [dialogues[start : start + batch_size] for start in range(0, len(dialogues), batch_size)]
        results = [result for group in super().__call__(groups, **kwargs) for result in group]
        return results[0] if single else results

    def preprocess(self, dialogues: list[Mapping]) -> dict[str, torch.Tensor]:
        inputs = self.processor([{k: v for k, v in dialogue.items() if k != "labels"} for dialogue in dialogues])
        return dict(inputs)

    def _forward(self, model_inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"logits": self.model(**model_inputs).logits, "attention_mask": model_inputs["attention_mask"]}

    def postprocess(self, model_outputs: dict[str, torch.Tensor], top_k: int | None = None) -> list[list]:
        probabilities = model_outputs["logits"].float().softmax(dim=-1)  # (B, N, num_labels)
        scores, indices = probabilities.topk(top_k or 1, dim=-1)
        id2label = self.model.config.id2label
        results = []
        for dialogue_scores, dialogue_indices, mask in zip(scores, indices, model_outputs["attention_mask"]):
            utterances = []
            for utterance_scores, utterance_indices in zip(dialogue_scores[mask.bool()], dialogue_indices[mask.bool()]):
                ranked = [{"label": id2label[int(i)], "score": float(s)} for s, i in zip(utterance_scores, utterance_indices)]
                utterances.append(ranked if top_k else ranked[0])
            results.append(utterances)
        return results


PIPELINE_REGISTRY.register_pipeline(
    TASK, pipeline_class=EmotionRecognitionInConversationPipeline, pt_model=AutoModelForTokenClassification, type="multimodal"
)
