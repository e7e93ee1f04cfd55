"""Batching of dialogues for Sync-TVA: pads utterances (and tokens) and builds the masks the model reads."""

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .configuration_synctva import MODALITIES

FEATURE_KEYS = tuple(f"{modality}_features" for modality in MODALITIES)


def speaker_slots(speakers: Sequence) -> list[int]:
    """Each utterance's speaker as its slot in the dialogue, in order of first appearance: [A, B, A] -> [0, 1, 0]."""
    slots: dict = {}
    return [slots.setdefault(speaker, len(slots)) for speaker in speakers]


def pad_stack(rows: list[torch.Tensor], length: int, value: float | int) -> torch.Tensor:
    """Stack tensors of shape (n_i, ...) into (len(rows), length, ...), padding dimension 0 with `value`."""
    out = rows[0].new_full((len(rows), length, *rows[0].shape[1:]), value)
    for index, row in enumerate(rows):
        out[index, : row.shape[0]] = row
    return out


@dataclass
class DataCollatorForDialogues:
    """Collates dialogues (one example each) into a padded batch for `SyncTVAForEmotionClassification`.

    An example holds, per utterance: any of `text_features`, `audio_features`, `visual_features` (a vector each),
    or `input_ids` (a token list each, optionally `text_attention_mask`); `speakers` (any hashable names) or
    `speaker_ids`; optionally `modality_mask` (3 booleans each) and `labels` (ints). Every example of a batch must
    carry the same keys. Other keys (dialogue ids, texts) are dropped.

    Returns tensors: features (B, N, F), `input_ids` / `text_attention_mask` (B, N, L), `speaker_ids` (B, N),
    `attention_mask` (B, N), `modality_mask` (B, N, 3) when given, `labels` (B, N) padded with -100.
    """

    pad_token_id: int = 0
    label_pad_id: int = -100

    def __call__(self, examples: list[dict]) -> dict[str, torch.Tensor]:
        if not examples:
            raise ValueError("cannot collate an empty list of dialogues")
        lengths = [self.dialogue_length(example) for example in examples]
        num_utterances = max(lengths)
        batch: dict[str, torch.Tensor] = {
            "attention_mask": pad_stack([torch.ones(n, dtype=torch.long) for n in lengths], num_utterances, 0)
        }
        for key in FEATURE_KEYS:
            if key in examples[0]:
                rows = [torch.as_tensor(example[key], dtype=torch.float32) for example in examples]
                batch[key] = pad_stack(rows, num_utterances, 0.0)
        if "input_ids" in examples[0]:
            batch.update(self.pad_tokens(examples, num_utterances))
        if not {"speakers", "speaker_ids"} & set(examples[0]):
            raise ValueError(
                "a dialogue needs `speakers` or `speaker_ids` (with `Trainer`, pass `remove_unused_columns=False` so "
                "that `speakers` reaches the collator)"
            )
        speakers = [
            example["speaker_ids"] if "speaker_ids" in example else speaker_slots(example["speakers"])
            for example in examples
        ]
        batch["speaker_ids"] = pad_stack([torch.as_tensor(s, dtype=torch.long) for s in speakers], num_utterances, 0)
        if "modality_mask" in examples[0]:
            rows = [torch.as_tensor(example["modality_mask"], dtype=torch.bool) for example in examples]
            batch["modality_mask"] = pad_stack(rows, num_utterances, False)
        if "labels" in examples[0]:
            rows = [torch.as_tensor(example["labels"], dtype=torch.long) for example in examples]
            batch["labels"] = pad_stack(rows, num_utterances, self.label_pad_id)
        return batch

    @staticmethod
    def dialogue_length(example: dict) -> int:
        """Number of utterances of a dialogue; raises `ValueError` on an empty dialogue or ragged fields."""
        fields = [k for k in (*FEATURE_KEYS, "input_ids", "speakers", "speaker_ids", "labels", "modality_mask") if k in example]
        lengths = {k: len(example[k]) for k in fields}
        if not lengths:
            raise ValueError(f"a dialogue needs features or input_ids and speakers, got keys {sorted(example)}")
        if len(set(lengths.values())) != 1:
            raise ValueError(f"the fields of a dialogue disagree on its number of utterances: {lengths}")
        length = next(iter(lengths.values()))
        if length == 0:
            raise ValueError("empty dialogue: a dialogue needs at least one utterance")
        return length

    def pad_tokens(self, examples: list[dict], num_utterances: int) -> dict[str, torch.Tensor]:
        """Pad token lists to (B, N, L) with `pad_token_id`; the token mask is 0 on padding."""
        text_length = max(len(tokens) for example in examples for tokens in example["input_ids"])
        input_ids = torch.full((len(examples), num_utterances, text_length), self.pad_token_id, dtype=torch.long)
        token_mask = torch.zeros_like(input_ids)
        for b, example in enumerate(examples):
            masks = example.get("text_attention_mask") or [[1] * len(tokens) for tokens in example["input_ids"]]
            for n, (tokens, mask) in enumerate(zip(example["input_ids"], masks)):
                input_ids[b, n, : len(tokens)] = torch.as_tensor(tokens, dtype=torch.long)
                token_mask[b, n, : len(mask)] = torch.as_tensor(mask, dtype=torch.long)
        return {"input_ids": input_ids, "text_attention_mask": token_mask}
