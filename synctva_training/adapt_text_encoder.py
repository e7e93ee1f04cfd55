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
"""Adapt a text encoder to the emotion labels on a CPU: train only its top layers, from cached lower-layer states.

Full fine-tuning runs every layer forward and backward for every batch of every epoch. Here the encoder's lower
L - K layers stay frozen, so their output for every training and validation utterance is computed once and cached on
disk; each epoch then runs only the top K layers, forward and backward, from those states. Each utterance is read
alone by default (the enhancement and the graph supply the dialogue context), or with its dialogue context
(`text_column`; about 4.6x the tokens on MELD). The classifier is `MeanPoolingHead`, trained with
cross-entropy, optionally logit-adjusted (Menon et al., 2021: the loss scores logits + tau log pi, pi the train
split's label frequencies); the epoch with the best validation weighted F1 is kept::

    h^(L-K) = lower L - K layers(tokens)        once, cached: (tokens, hidden_size) per utterance
    h^(L)   = top K layers(h^(L-K))             trained
    logits  = W mean_t h^(L)_t + b              (utterances, num_labels)
    loss    = cross_entropy(logits + tau log pi, labels)

With `bf16` both passes run under bfloat16 autocast (on a CPU with AMX, about 2.5x faster than float32; the pooled
features stay within cosine 0.9999, `bench/probes/encoder_adaptation_cost.py`). After every epoch the trainable
weights, the best weights so far, the optimizer, the scheduler and the history are written to
`<cache_dir>/adapted/<key>.checkpoint` (atomically, `replace_directory`), so an interrupted run resumes from its last
finished epoch and ends with the same weights. The result is a whole encoder folder, `<cache_dir>/adapted/<key>`
(`save_pretrained` with its tokenizer and `adapt_log.json`), that any code loading a text encoder reads.
"""

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
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm.auto import tqdm
from transformers import AutoConfig, AutoModel, AutoTokenizer, get_scheduler

from filelock import FileLock

from datasets_scripts import encoder_identity
from modeling_synctva.atomic_files import atomic_write

from .batching import length_pooled_batches
from .checkpointing import replace_directory
from .erc_metrics.erc_metrics import erc_scores
from .finetune_text_encoder import MeanPoolingHead, finetuned_key, labelled_texts, save_encoder_folder


def encoder_layers(encoder: nn.Module) -> nn.ModuleList:
    """The encoder's stack of transformer layers (`encoder.encoder.layer`, as BERT, MPNet and RoBERTa name it)."""
    layers = getattr(getattr(encoder, "encoder", None), "layer", None)
    if not isinstance(layers, nn.ModuleList):
        raise ValueError(f"{type(encoder).__name__} has no `encoder.layer` stack whose top layers could be adapted")
    return layers


def run_top_layers(encoder: nn.Module, states: torch.Tensor, attention_mask: torch.Tensor, top_layers: int) -> torch.Tensor:
    """The encoder's last hidden states, from the input of its top `top_layers` layers.

    Equals `encoder(...).last_hidden_state` at the real tokens when `states` is `hidden_states[L - top_layers]` of
    the same call (tested for BERT and MPNet). Padded positions are masked out of the attention.

    Shapes:
        states (K, T, hidden_size), attention_mask (K, T) -> (K, T, hidden_size)
    """
    additive_mask = (1.0 - attention_mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
    stack = encoder.encoder
    extra = {"position_bias": stack.compute_position_bias(states)} if hasattr(stack, "compute_position_bias") else {}
    for layer in encoder_layers(encoder)[-top_layers:]:
        output = layer(states, additive_mask, **extra)
        states = output[0] if isinstance(output, tuple) else output
    return states


def lower_layer_states(
    encoder: nn.Module, tokenizer, texts: list[str], top_layers: int, max_length: int, bf16: bool, batch_size: int = 64
) -> tuple[torch.Tensor, torch.Tensor]:
    """The input of the top `top_layers` layers for every text, its tokens concatenated.

    Returns:
        states (total tokens, hidden_size) bfloat16, and offsets (len(texts) + 1,): text i's tokens are
        `states[offsets[i]:offsets[i + 1]]`.
    """
    per_text = [None] * len(texts)
    order = np.argsort([len(text) for text in texts], kind="stable")
    encoder.eval()
    with torch.inference_mode(), torch.autocast(encoder.device.type, dtype=torch.bfloat16, enabled=bf16):
        for start in tqdm(range(0, len(texts), batch_size), desc="lower-layer states", unit="batch"):
            batch = order[start : start + batch_size]
            inputs = tokenizer([texts[i] for i in batch], padding=True, truncation=True, max_length=max_length, return_tensors="pt")
            inputs = inputs.to(encoder.device)
            hidden = encoder(**inputs, output_hidden_states=True).hidden_states[-top_layers - 1]
            for row, index in enumerate(batch):
                per_text[index] = hidden[row, inputs["attention_mask"][row].bool()].to("cpu", torch.bfloat16)
    lengths = torch.tensor([0] + [len(states) for states in per_text])
    return torch.cat(per_text), lengths.cumsum(0)


def cached_lower_layer_states(encoder, tokenizer, texts, top_layers, max_length, bf16, path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """`lower_layer_states`, read from `path` when an earlier run wrote it, else computed and written atomically."""
    if path.is_file():
        stored = load_file(path)
        return stored["states"], stored["offsets"]
    states, offsets = lower_layer_states(encoder, tokenizer, texts, top_layers, max_length, bf16)
    atomic_write(path, lambda temporary: save_file({"states": states, "offsets": offsets}, temporary))
    return states, offsets


def padded_batch(states: torch.Tensor, offsets: torch.Tensor, indices, device) -> tuple[torch.Tensor, torch.Tensor]:
    """The cached states of the texts `indices`, padded to the longest, as float32, with their attention mask.

    Shapes: -> (len(indices), T, hidden_size), (len(indices), T)
    """
    pieces = [states[offsets[i] : offsets[i + 1]] for i in indices]
    padded = nn.utils.rnn.pad_sequence(pieces, batch_first=True).float()
    mask = nn.utils.rnn.pad_sequence([torch.ones(len(piece), dtype=torch.long) for piece in pieces], batch_first=True)
    return padded.to(device), mask.to(device)


class TopLayerClassifier(nn.Module):
    """The encoder's top `top_layers` layers and a `MeanPoolingHead`, run on cached lower-layer states."""

    def __init__(self, encoder: nn.Module, top_layers: int, num_labels: int):
        super().__init__()
        self.encoder, self.top_layers = encoder, top_layers
        self.head = MeanPoolingHead(encoder.config.hidden_size, num_labels)

    def trainable(self) -> dict[str, nn.Parameter]:
        """The adapted parameters: the top layers' and the head's, by name."""
        top = encoder_layers(self.encoder)[-self.top_layers :]
        return {**{f"top.{k}": v for k, v in top.named_parameters()}, **{f"head.{k}": v for k, v in self.head.named_parameters()}}

    def forward(self, states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.head(run_top_layers(self.encoder, states, attention_mask, self.top_layers), attention_mask)


def predict(model: TopLayerClassifier, states, offsets, device, bf16: bool, batch_size: int = 128) -> np.ndarray:
    """The predicted class of every cached text, in batches of similar length."""
    model.eval()
    count = len(offsets) - 1
    order = np.argsort((offsets[1:] - offsets[:-1]).numpy(), kind="stable")
    predictions = np.zeros(count, dtype=np.int64)
    with torch.inference_mode(), torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=bf16):
        for start in range(0, count, batch_size):
            batch = order[start : start + batch_size]
            predictions[batch] = model(*padded_batch(states, offsets, batch, device)).argmax(-1).cpu().numpy()
    return predictions


def save_progress(folder: Path, model: TopLayerClassifier, best: dict, optimizer, scheduler, progress: dict) -> None:
    """Write the state after a finished epoch to `folder`: written beside it, then swapped in (`replace_directory`)."""
    temporary = folder.with_name(folder.name + ".tmp")
    if temporary.exists():
        shutil.rmtree(temporary)
    temporary.mkdir(parents=True)
    save_file({k: v.detach().contiguous() for k, v in model.trainable().items()}, temporary / "trainable.safetensors")
    save_file(best, temporary / "best.safetensors")
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, temporary / "optimizer.pt")
    (temporary / "progress.json").write_text(json.dumps(progress, indent=2) + "\n", encoding="utf-8")
    replace_directory(temporary, folder)


def load_progress(folder: Path, model: TopLayerClassifier, optimizer, scheduler) -> tuple[dict, dict] | None:
    """Restore a `save_progress` folder (or the `.old` copy a crash mid-swap leaves) into the model, optimizer and
    scheduler; return the best weights and the progress, or None when there is none."""
    for candidate in (folder, folder.with_name(folder.name + ".old")):
        if (candidate / "progress.json").is_file():
            with torch.no_grad():
                for name, value in load_file(candidate / "trainable.safetensors").items():
                    model.trainable()[name].copy_(value)
            state = torch.load(candidate / "optimizer.pt", weights_only=True)  # tensors and numbers only
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            return load_file(candidate / "best.safetensors"), json.loads((candidate / "progress.json").read_text(encoding="utf-8"))
    return None


def adapt_text_encoder(
    dataset_dict: datasets.DatasetDict,
    text_encoder: str,
    cache_dir: str | os.PathLike,
    dataset_name: str,
    top_layers: int = 2,
    text_column: str = "utterances",
    seed: int = 0,
    epochs: int = 3,
    learning_rate: float = 1e-4,
    batch_size: int = 32,
    max_length: int = 128,
    bf16: bool = True,
    logit_adjustment: float = 0.0,
    device: str | torch.device = "cpu",
    show_progress: bool = True,
) -> Path:
    """Adapt the top `top_layers` layers of `text_encoder` to the train split's texts in `text_column` (each
    utterance alone, or `finetune_text_encoder.CONTEXT_COLUMN`: with its dialogue context) and `labels`; return the
    folder of the encoder with the best epoch's top layers (selected on validation weighted F1).

    An earlier result with the same key (the encoder, the texts and labels, every setting, the seed) is reused, and an
    interrupted one resumes from its checkpoint.

    Raises:
        ValueError: `top_layers` is not between 1 and the encoder's number of layers, or the encoder has no layer
            stack to adapt.
    """
    layer_count = AutoConfig.from_pretrained(text_encoder).num_hidden_layers
    if not 1 <= top_layers <= layer_count:
        raise ValueError(f"top_layers must be between 1 and the encoder's {layer_count} layers, got {top_layers}")
    splits = {split: labelled_texts(dataset_dict[split], text_column) for split in ("train", "validation")}
    settings = {"adapted_top_layers": top_layers, "seed": seed, "epochs": epochs, "learning_rate": learning_rate,
                "batch_size": batch_size, "max_length": max_length, "bf16": bf16, "pooling": "mean"}
    if logit_adjustment:  # only when set, so that the keys of plain cross-entropy runs stay as they were
        settings["logit_adjustment"] = logit_adjustment
    target = Path(cache_dir) / "adapted" / finetuned_key(text_encoder, dataset_name, splits, settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Runs that share the key (Sync-TVA and the BiGRU of one seed) wait for each other instead of racing on the checkpoint.
    with FileLock(target.with_name(target.name + ".lock")):
        if target.is_dir():  # complete: the folder only appears by the final rename
            return target
        tokenizer, encoder = AutoTokenizer.from_pretrained(text_encoder), AutoModel.from_pretrained(text_encoder).to(device)
        encoder_layers(encoder)  # raises for an encoder without a layer stack
        return adapt(dataset_dict, encoder, tokenizer, text_encoder, splits, settings, target, dataset_name, device, show_progress)


def adapt(dataset_dict, encoder, tokenizer, text_encoder: str, splits: dict, settings: dict, target: Path, dataset_name: str,
          device, show_progress: bool) -> Path:
    """The adaptation of `adapt_text_encoder` once its key is known and no result exists; see there."""
    top_layers, seed, epochs, bf16 = settings["adapted_top_layers"], settings["seed"], settings["epochs"], settings["bf16"]
    batch_size, max_length = settings["batch_size"], settings["max_length"]
    learning_rate, logit_adjustment = settings["learning_rate"], settings.get("logit_adjustment", 0.0)
    cache_dir = target.parent.parent
    label_names = dataset_dict["train"].features["labels"].feature.names

    cached = {}
    for split, (texts, _) in splits.items():
        digest = hashlib.sha256(json.dumps([encoder_identity(text_encoder), texts, top_layers, max_length, bf16]).encode())
        path = Path(cache_dir) / "adapted" / "lower_states" / f"{dataset_name}-{split}-{digest.hexdigest()[:20]}.safetensors"
        cached[split] = cached_lower_layer_states(encoder, tokenizer, texts, top_layers, max_length, bf16, path)
    (train_states, train_offsets), train_labels = cached["train"], splits["train"][1]

    torch.manual_seed(seed)
    model = TopLayerClassifier(encoder, top_layers, len(label_names)).to(device)
    for parameter in encoder.parameters():
        parameter.requires_grad_(False)
    parameters = list(model.trainable().values())
    for parameter in parameters:
        parameter.requires_grad_(True)
    optimizer = torch.optim.AdamW(parameters, lr=learning_rate, weight_decay=0.01)
    steps_per_epoch = math.ceil(len(train_labels) / batch_size)
    scheduler = get_scheduler("linear", optimizer, num_warmup_steps=int(0.1 * steps_per_epoch * epochs), num_training_steps=steps_per_epoch * epochs)
    checkpoint = target.with_name(target.name + ".checkpoint")
    restored = load_progress(checkpoint, model, optimizer, scheduler)
    best, progress = restored or (None, {"history": [], "best_score": -1.0})
    token_counts = (train_offsets[1:] - train_offsets[:-1]).tolist()
    loss_function = nn.CrossEntropyLoss()
    frequencies = np.bincount(train_labels, minlength=len(label_names)) / len(train_labels)
    adjustment = logit_adjustment * torch.log(torch.as_tensor(frequencies, dtype=torch.float32).clamp(min=1e-12)).to(device)
    autocast = torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=bf16)
    for epoch in range(len(progress["history"]) + 1, epochs + 1):
        started = time.perf_counter()
        torch.manual_seed(seed * 10_000 + epoch)  # the dropout of an epoch does not depend on a resume before it
        model.train()
        batches = length_pooled_batches(token_counts, batch_size, torch.Generator().manual_seed(seed * 10_000 + epoch))
        total_loss = 0.0
        for batch in tqdm(batches, desc=f"adapt encoder, epoch {epoch}", disable=not show_progress):
            with autocast:
                logits = model(*padded_batch(train_states, train_offsets, batch, device))
            loss = loss_function(logits.float() + adjustment, torch.as_tensor(train_labels[batch], device=device))
            loss.backward()
            nn.utils.clip_grad_norm_(parameters, 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            total_loss += loss.item() * len(batch)
        scores = erc_scores(predict(model, *cached["validation"], device, bf16), splits["validation"][1], label_names=label_names)
        progress["history"].append(
            {"epoch": epoch, "train_loss": total_loss / len(train_labels), "validation_accuracy": scores["accuracy"],
             "validation_weighted_f1": scores["weighted_f1"], "seconds": time.perf_counter() - started}
        )
        print(f"adapt encoder epoch {epoch}: validation weighted F1 {100 * scores['weighted_f1']:.2f}", flush=True)
        if scores["weighted_f1"] > progress["best_score"]:
            progress["best_score"] = scores["weighted_f1"]
            best = {k: v.detach().clone().contiguous() for k, v in model.trainable().items() if k.startswith("top.")}
        save_progress(checkpoint, model, best, optimizer, scheduler, progress)

    with torch.no_grad():
        for name, value in best.items():
            model.trainable()[name].copy_(value)
    selected = max(progress["history"], key=lambda record: record["validation_weighted_f1"])["epoch"]
    log = {"base_encoder": text_encoder, "settings": settings, "selected_epoch": selected, "history": progress["history"]}
    folder = save_encoder_folder(encoder, tokenizer, target, "adapt_log.json", log)
    shutil.rmtree(checkpoint, ignore_errors=True)
    return folder
