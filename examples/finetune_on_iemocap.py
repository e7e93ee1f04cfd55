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
"""Fine-tune a trained Sync-TVA checkpoint (e.g. `synctva-meld`) on IEMOCAP's 6 emotions with `transformers.Trainer`.

    python train.py --dataset meld --output-dir synctva-meld
    python examples/finetune_on_iemocap.py --checkpoint synctva-meld --output-dir synctva-meld-iemocap

The checkpoint is loaded with remote code, its 7-way MELD classifier replaced by a new 6-way one
(`ignore_mismatched_sizes=True`); everything else (modality enhancement, graph, fusion) starts from the MELD
weights. The checkpoint holds its frozen text encoder, so every IEMOCAP utterance is encoded once with it, and the
Trainer then trains on those features (an epoch takes seconds, not minutes). The epoch is selected on the
validation weighted F1; the test split is scored once at the end. `--max-steps` makes a quick check.
"""

import argparse
import json
import sys
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForTokenClassification, AutoProcessor, Trainer, TrainingArguments

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a source checkout: the dataset loaders and the metric module live there

import evaluate  # noqa: E402

from datasets_scripts import load_iemocap  # noqa: E402
from modeling_synctva.atomic_files import atomic_write_json  # noqa: E402
from modeling_synctva.collator_synctva import DataCollatorForDialogues  # noqa: E402

METRIC = REPO / "synctva_training" / "erc_metrics"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default="synctva-meld", help="a folder (or Hub id) written by train.py")
    parser.add_argument("--output-dir", default="synctva-meld-iemocap")
    parser.add_argument("--data-dir", help="the data folder holding iemocap/text/iemocap.pkl")
    parser.add_argument("--epochs", type=float, default=20)
    parser.add_argument("--max-steps", type=int, default=-1, help="stop after this many optimiser steps (quick check)")
    parser.add_argument("--learning-rate", type=float, default=3e-4)
    parser.add_argument("--batch-size", type=int, default=4, help="dialogues per batch")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-train-dialogues", type=int, help="use the first N training dialogues only")
    parser.add_argument("--max-eval-dialogues", type=int, help="use the first N validation and test dialogues only")
    return parser.parse_args(argv)


def encode_dialogues(dataset, model, processor):
    """Add `text_features`: every utterance encoded once by the checkpoint's own frozen text encoder (the pooling
    its forward pass uses), so that training reads features."""

    def encode(example):
        inputs = processor({"utterances": example["utterances"], "speakers": example["speakers"]})
        with torch.inference_mode():
            features = model.model.encode_text(inputs["input_ids"], inputs["text_attention_mask"], inputs["attention_mask"])
        return {"text_features": features[0].numpy()}

    return dataset.map(encode, desc="encoding utterances")


def main(argv=None) -> dict:
    args = parse_args(argv)
    dataset = load_iemocap(args.data_dir)
    for split, limit in (("train", args.max_train_dialogues), ("validation", args.max_eval_dialogues), ("test", args.max_eval_dialogues)):
        if limit is not None:
            dataset[split] = dataset[split].select(range(min(limit, len(dataset[split]))))
    label_names = dataset["train"].features["labels"].feature.names

    config = AutoConfig.from_pretrained(args.checkpoint, trust_remote_code=True)
    # MELD's per-label loss settings do not fit IEMOCAP's labels: plain cross-entropy unless the user sets them
    config.class_weights, config.class_priors, config.logit_adjustment = None, None, 0.0
    config.id2label = dict(enumerate(label_names))
    config.label2id = {name: index for index, name in enumerate(label_names)}
    model = AutoModelForTokenClassification.from_pretrained(
        args.checkpoint,
        config=config,
        trust_remote_code=True,
        ignore_mismatched_sizes=True,  # the MELD classifier (7 emotions) is replaced by a new one
    )
    if model.config.text_encoder_config is None:
        raise SystemExit(f"{args.checkpoint} holds no text encoder: this example needs a checkpoint that runs from text")
    processor = AutoProcessor.from_pretrained(args.checkpoint, trust_remote_code=True)
    model.eval()
    dataset = encode_dialogues(dataset, model, processor)

    metric = evaluate.load(str(METRIC))

    def compute_metrics(prediction):
        logits, labels = prediction.predictions, prediction.label_ids
        if isinstance(logits, tuple):
            logits = logits[0]
        labelled = labels != -100
        scores = metric.compute(predictions=logits.argmax(-1)[labelled], references=labels[labelled], label_names=label_names)
        return {key: scores[key] for key in ("accuracy", "weighted_f1", "macro_f1")}

    training_args = TrainingArguments(
        output_dir=args.output_dir,
        remove_unused_columns=False,  # DataCollatorForDialogues needs `speakers`
        per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=8,
        learning_rate=args.learning_rate,
        weight_decay=0.01,
        num_train_epochs=args.epochs,
        max_steps=args.max_steps,
        warmup_steps=0.05,  # a fraction of the training steps
        eval_strategy="epoch" if args.max_steps < 0 else "steps",
        save_strategy="epoch" if args.max_steps < 0 else "steps",
        eval_steps=None if args.max_steps < 0 else args.max_steps,
        save_steps=None if args.max_steps < 0 else args.max_steps,
        load_best_model_at_end=True,
        metric_for_best_model="weighted_f1",
        save_total_limit=1,
        label_names=["labels"],
        report_to=[],
        seed=args.seed,
        use_cpu=not torch.cuda.is_available(),
    )
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=dataset["train"],
        eval_dataset=dataset["validation"],
        data_collator=DataCollatorForDialogues(),
        compute_metrics=compute_metrics,
    )
    trainer.train()
    results = {
        "validation": trainer.evaluate(dataset["validation"], metric_key_prefix="validation"),
        "test": trainer.evaluate(dataset["test"], metric_key_prefix="test"),  # once, with the selected weights
    }
    trainer.save_model(args.output_dir)
    processor.save_pretrained(args.output_dir)
    atomic_write_json(Path(args.output_dir) / "iemocap_results.json", results)
    print(json.dumps({split: {k: round(v, 4) for k, v in scores.items() if isinstance(v, float)} for split, scores in results.items()}, indent=2))
    return results


if __name__ == "__main__":
    main()
