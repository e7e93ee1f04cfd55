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
"""Fine-tune the text encoder as an utterance classifier with dialogue context, before Sync-TVA reads its features.

As EmoBERTa and COSMIC do, each utterance is classified from a string that also holds its neighbours
(`modeling_synctva.processing_synctva.context_texts`, which the saved processor applies at inference): the target
utterance, then up to `past` earlier and `future` later utterances, each prefixed with its speaker, the three parts
separated by the tokenizer's separator token. The classifier is the encoder's states mean-pooled over the tokens (the pooling Sync-TVA
and `extract_dataset_features` use) and a linear layer; the epoch is selected on the validation weighted F1, and
only the encoder (with its tokenizer) is kept, saved atomically under `<cache_dir>/finetuned/<key>`, the key a hash
of everything the weights depend on.
"""

import copy
import hashlib
import json
import math
import os
import shutil
import time
from pathlib import Path

import datasets
import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm
from transformers import AutoModel, AutoTokenizer, get_scheduler

from datasets_scripts import encoder_identity
from modeling_synctva.modeling_synctva import mean_pool
from modeling_synctva.processing_synctva import context_texts

from .batching import length_pooled_batches
from .erc_metrics.erc_metrics import erc_scores

CONTEXT_COLUMN = "context_utterances"
CONTEXT_WINDOW = (3, 1)
"""(past, future) utterances of context around each utterance, as EmoBERTa reads MELD."""


def add_context_column(dataset_dict: datasets.DatasetDict, separator: str, window: tuple[int, int] = CONTEXT_WINDOW) -> datasets.DatasetDict:
    """Add `context_utterances` (see `context_texts`) to every split."""
    return datasets.DatasetDict(
        {
            split: dataset.add_column(
                CONTEXT_COLUMN,
                [context_texts(s, u, separator, *window) for s, u in zip(dataset["speakers"], dataset["utterances"])],
                feature=datasets.List(datasets.Value("string")),
            )
            for split, dataset in dataset_dict.items()
        }
    )


class MeanPoolingHead(nn.Module):
    r"""The utterance classifier on top of a text encoder: :math:`\mathbf{y} = W\,\mathrm{dropout}(\sum_t m_t
    \mathbf{h}_t / \sum_t m_t) + \mathbf{b}`.

    Shapes:
        states (K, L, hidden_size), attention_mask (K, L) -> (K, num_labels)
    """

    def __init__(self, hidden_size: int, num_labels: int):
        super().__init__()
        self.dropout = nn.Dropout(0.1)
        self.classifier = nn.Linear(hidden_size, num_labels)

    def forward(self, states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(mean_pool(states, attention_mask)))


class MeanPoolingClassifier(nn.Module):
    """A text encoder and a `MeanPoolingHead`: one class per input string."""

    def __init__(self, encoder: nn.Module, num_labels: int):
        super().__init__()
        self.encoder = encoder
        self.head = MeanPoolingHead(encoder.config.hidden_size, num_labels)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        states = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.head(states, attention_mask)


def labelled_texts(dataset: datasets.Dataset, column: str = CONTEXT_COLUMN) -> tuple[list[str], np.ndarray]:
    """The strings in `column` (by default the context strings) of the labelled utterances that have text, and their
    labels."""
    texts, labels = [], []
    for row_texts, row_labels in zip(dataset[column], dataset["labels"]):
        for text, label in zip(row_texts, row_labels):
            if text and label >= 0:
                texts.append(text)
                labels.append(label)
    return texts, np.asarray(labels, dtype=np.int64)


def finetuned_key(text_encoder: str, dataset_name: str, splits: dict[str, tuple[list[str], np.ndarray]], settings: dict) -> str:
    """A hash of what the fine-tuned weights depend on: the base encoder, the strings and labels of the training and
    validation (epoch selection) splits, the hyper-parameters and the seed."""
    digest = hashlib.sha256()
    digest.update(json.dumps({**encoder_identity(text_encoder), "dataset": dataset_name, **settings}, sort_keys=True).encode())
    for split in sorted(splits):
        texts, labels = splits[split]
        digest.update(json.dumps([split, texts]).encode())
        digest.update(labels.tobytes())
    return f"{dataset_name}-{digest.hexdigest()[:20]}"


def predict(model: MeanPoolingClassifier, tokenizer, texts: list[str], max_length: int, device, batch_size: int = 64) -> np.ndarray:
    """Predicted class of every string, in batches of similar length."""
    model.eval()
    predictions = np.zeros(len(texts), dtype=np.int64)
    order = np.argsort([len(text) for text in texts], kind="stable")
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            batch = order[start : start + batch_size]
            inputs = tokenizer([texts[i] for i in batch], padding=True, truncation=True, max_length=max_length, return_tensors="pt").to(device)
            predictions[batch] = model(inputs["input_ids"], inputs["attention_mask"]).argmax(-1).cpu().numpy()
    return predictions


def finetune_text_encoder(
    dataset_dict: datasets.DatasetDict,
    text_encoder: str,
    cache_dir: str | os.PathLike,
    dataset_name: str,
    seed: int = 0,
    epochs: int = 3,
    learning_rate: float = 4e-5,
    batch_size: int = 32,
    max_length: int = 128,
    device: str | torch.device = "cpu",
    show_progress: bool = True,
) -> Path:
    """Fine-tune `text_encoder` on the train split's `context_utterances` and return the folder of the best encoder.

    An earlier result with the same key is reused. The folder holds the encoder and tokenizer (`save_pretrained`)
    and `finetune_log.json` (validation scores per epoch, the selected epoch).

    Args:
        dataset_dict: splits `train` and `validation` with `context_utterances` (see `add_context_column`) and
            `labels`.
        text_encoder: Hub id or local folder of the encoder to start from.
        cache_dir: the fine-tuned encoder goes to `<cache_dir>/finetuned/<key>`.
    """
    tokenizer = AutoTokenizer.from_pretrained(text_encoder)
    train_texts, train_labels = labelled_texts(dataset_dict["train"])
    validation_texts, validation_labels = labelled_texts(dataset_dict["validation"])
    settings = {"seed": seed, "epochs": epochs, "learning_rate": learning_rate, "batch_size": batch_size, "max_length": max_length, "pooling": "mean", "batching": "length_pools"}
    splits = {"train": (train_texts, train_labels), "validation": (validation_texts, validation_labels)}
    target = Path(cache_dir) / "finetuned" / finetuned_key(text_encoder, dataset_name, splits, settings)
    if target.is_dir():  # complete: the folder only appears by the final rename
        return target
    label_names = dataset_dict["train"].features["labels"].feature.names

    torch.manual_seed(seed)
    model = MeanPoolingClassifier(AutoModel.from_pretrained(text_encoder), len(label_names)).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.01)
    steps_per_epoch = math.ceil(len(train_texts) / batch_size)
    scheduler = get_scheduler("linear", optimizer, num_warmup_steps=int(0.1 * steps_per_epoch * epochs), num_training_steps=steps_per_epoch * epochs)
    loss_function = nn.CrossEntropyLoss()
    history, best_state, best_score = [], None, -1.0
    for epoch in range(1, epochs + 1):
        started = time.perf_counter()
        model.train()
        generator = torch.Generator().manual_seed(seed * 10_000 + epoch)
        batches = length_pooled_batches([len(text) for text in train_texts], batch_size, generator)
        total_loss = 0.0
        for batch in tqdm(batches, desc=f"fine-tune encoder, epoch {epoch}", disable=not show_progress):
            inputs = tokenizer([train_texts[i] for i in batch], padding=True, truncation=True, max_length=max_length, return_tensors="pt").to(device)
            logits = model(inputs["input_ids"], inputs["attention_mask"])
            loss = loss_function(logits, torch.as_tensor(train_labels[batch], device=device))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            total_loss += loss.item() * len(batch)
        scores = erc_scores(
            predict(model, tokenizer, validation_texts, max_length, device), validation_labels, label_names=label_names
        )
        history.append(
            {
                "epoch": epoch,
                "train_loss": total_loss / len(train_texts),
                "validation_accuracy": scores["accuracy"],
                "validation_weighted_f1": scores["weighted_f1"],
                "seconds": time.perf_counter() - started,
            }
        )
        print(f"fine-tune encoder epoch {epoch}: validation weighted F1 {100 * scores['weighted_f1']:.2f}", flush=True)
        if scores["weighted_f1"] > best_score:
            best_score, best_state = scores["weighted_f1"], copy.deepcopy(model.encoder.state_dict())

    model.encoder.load_state_dict(best_state)
    selected = max(history, key=lambda record: record["validation_weighted_f1"])["epoch"]
    log = {"base_encoder": text_encoder, "settings": settings, "selected_epoch": selected, "history": history}
    return save_encoder_folder(model.encoder, tokenizer, target, "finetune_log.json", log)


def save_encoder_folder(encoder: nn.Module, tokenizer, target: Path, log_name: str, log: dict) -> Path:
    """Save `encoder` and `tokenizer` (`save_pretrained`) and `log` (JSON, as `log_name`) to the folder `target`.

    The folder is written as `<target>.tmp` and renamed, so `target` only ever exists complete. Returns `target`.
    """
    temporary = target.with_name(target.name + ".tmp")
    if temporary.exists():
        shutil.rmtree(temporary)
    encoder.save_pretrained(temporary)
    tokenizer.save_pretrained(temporary)
    (temporary / log_name).write_text(json.dumps(log, indent=2) + "\n", encoding="utf-8")
    try:
        os.rename(temporary, target)
    except OSError:  # another run with the same key finished first: keep its (identical) result
        shutil.rmtree(temporary)
    return target
