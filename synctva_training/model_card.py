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
"""The model card (README.md) of a trained folder, rendered from the Jinja template `model_card.md`.

The YAML header is `huggingface_hub.ModelCardData`: library, pipeline tag, tags, datasets, metrics, and a
`model-index` whose results are the measured scores of `results.json`: accuracy and weighted F1 on validation and
test, and on test the macro F1 and the F1 of every class. Each F1 entry names its average (`weighted`, `macro`) or
its class in `metric_config`, so `huggingface_hub.metadata_load` and `ModelCard.load` read every one back.
"""

import os

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from modeling_synctva.text_encoders import HUB_TEXT_ENCODER, SPLIT_WHEEL_ENCODERS, default_text_encoder, encoder_cache

DATASET_TITLES = {"meld": "MELD", "iemocap": "IEMOCAP", "mosi": "CMU-MOSI"}
DATASET_DOMAINS = {
    "meld": "English dialogue from one TV sitcom (Friends), with its actors' delivery and a laugh-track register",
    "iemocap": "English dyadic sessions of ten actors, scripted and improvised, recorded in a lab",
    "mosi": "English opinion monologues from online videos, labelled with sentiment only",
}
TASK_TYPE = "text-classification"
TASK_NAME = "Emotion recognition in conversation"

USAGE_FROM_TEXT = '''import torch
from transformers import AutoModelForTokenClassification, AutoProcessor

model = AutoModelForTokenClassification.from_pretrained("{repo}", trust_remote_code=True).eval()
processor = AutoProcessor.from_pretrained("{repo}", trust_remote_code=True)
dialogue = {{"speakers": ["Ross", "Rachel"], "utterances": ["{first}", "{second}"]}}
with torch.inference_mode():
    logits = model(**processor(dialogue)).logits  # (1, utterances, labels)
print([model.config.id2label[i] for i in logits.argmax(-1)[0].tolist()])'''

USAGE_FROM_FEATURES = '''import torch
from transformers import AutoModelForTokenClassification

model = AutoModelForTokenClassification.from_pretrained("{repo}", trust_remote_code=True).eval()
features = {{{features}}}  # (dialogues, utterances, size) each
with torch.inference_mode():
    logits = model(**features, speaker_ids=torch.zeros(1, 4, dtype=torch.long)).logits
print(logits.argmax(-1))'''


def hub_name_of(text_encoder: str | None) -> str | None:
    """The Hub id of a text encoder: the id itself, the MiniLM id for the offline MiniLM folder, the Hub id of an
    encoder assembled from its PyPI parts for its folder, else None."""
    if text_encoder is None:
        return None
    if os.path.isdir(text_encoder):
        if os.path.abspath(text_encoder) == os.path.abspath(default_text_encoder()):
            return HUB_TEXT_ENCODER
        assembled = {os.path.abspath(encoder_cache() / name): spec.hub_id for name, spec in SPLIT_WHEEL_ENCODERS.items()}
        return assembled.get(os.path.abspath(text_encoder))
    return text_encoder


def card_data(results: dict, model_name: str) -> ModelCardData:
    """The YAML header: task, tags, dataset, metrics and the `model-index` with the measured scores."""
    dataset_id = results["dataset"]
    title = DATASET_TITLES.get(dataset_id, dataset_id)
    scores = [  # (split, metric type, metric config, name, value)
        (split, metric, config, f"{label} ({split})", results[split][key])
        for split in ("test", "validation")
        for metric, config, key, label in (("accuracy", None, "accuracy", "Accuracy"), ("f1", "weighted", "weighted_f1", "Weighted F1"))
    ]
    scores.append(("test", "f1", "macro", "Macro F1 (test)", results["test"]["macro_f1"]))
    scores += [("test", "f1", name, f"F1 {name} (test)", f1) for name, f1 in results["test"]["per_class_f1"].items()]
    eval_results = [
        EvalResult(
            task_type=TASK_TYPE,
            task_name=TASK_NAME,
            dataset_type=dataset_id,
            dataset_name=title,
            dataset_split=split,
            metric_type=metric,
            metric_config=config,
            metric_name=name,
            metric_value=round(value, 4),
        )
        for split, metric, config, name, value in scores
    ]
    base_model = hub_name_of(results.get("base_text_encoder"))
    return ModelCardData(
        model_name=model_name,
        library_name="transformers",
        pipeline_tag=TASK_TYPE,
        license="apache-2.0",
        language="en",
        tags=["sync-tva", "emotion-recognition", "emotion-recognition-in-conversation", "multimodal", "graph-attention", "custom_code"],
        datasets=[dataset_id],
        metrics=["accuracy", "f1"],
        base_model=base_model,
        eval_results=eval_results,
    )


def render_model_card(template_path: str | os.PathLike, results: dict, model_name: str, repo: str) -> str:
    """The README.md text of a trained folder, from `results` (the content of `results.json`).

    Args:
        template_path: the Jinja template (`model_card.md` at the repository root).
        results: scores, configuration, arguments and provenance of the run.
        model_name: the title of the card.
        repo: the Hub id (or folder) the usage example loads.
    """
    config, args = results["config"], results["args"]
    title = DATASET_TITLES.get(results["dataset"], results["dataset"])
    modalities = config["modalities"]
    holds_encoder = config.get("text_encoder_config") is not None
    sizes = {m: config[f"{m}_feature_size"] for m in modalities}
    if holds_encoder:
        usage = USAGE_FROM_TEXT.format(repo=repo, first="You had no right to read my diary!", second="I'm sorry.")
    else:
        usage = USAGE_FROM_FEATURES.format(
            repo=repo, features=", ".join(f'"{m}_features": torch.randn(1, 4, {size})' for m, size in sizes.items())
        )
    reach = f"window {config['past_window']} past / {config['future_window']} future"
    # CODEPATH: checkpoints trained with --whole-dialogue-graph (config written before it has no such key).
    if config.get("whole_dialogue_graph"):
        reach = "over the whole dialogue, PyTorch Geometric implementation"
    parts = [
        "modality enhancement" if config["use_modality_enhancement"] else "no modality enhancement (ablation)",
        f"{config['graph_layers']} graph attention layers ({reach})"
        if config["use_cross_modal_graph"] else "no cross-modal graph (ablation)",
        "cross-attention fusion" if config["use_cross_attention_fusion"] else "mean fusion (ablation)",
    ]
    architecture = f"Architecture: hidden size {config['hidden_size']}, " + ", ".join(parts) + "."
    if results.get("text_input") == "context":
        input_note = (
            "The text encoder was fine-tuned on utterances with their dialogue context, and the classifier was trained "
            "on those features. The saved processor (`text_context_window` [3, 1]) gives the encoder each utterance "
            "the same way: the target, then up to 3 earlier and 1 later utterance with their speakers, joined by the "
            "tokenizer's separator. Pass plain utterances and speakers; its logits from raw text equal those from the "
            f"features used in training (max difference {results.get('from_tokens_max_abs_diff', float('nan')):.1e})."
        )
    elif holds_encoder and "from_tokens_bf16_feature_min_cosine" in results:
        input_note = (
            "The model holds its text encoder, whose top layers were adapted to the labels utterance by utterance, then "
            "frozen; it runs from raw text through the processor, in float32. Training read that encoder's features "
            "encoded under bfloat16 autocast (smallest cosine to the float32 features "
            f"{results['from_tokens_bf16_feature_min_cosine']:.5f}); on float32 features the logits from tokens equal "
            f"those from features (max difference {results.get('from_tokens_max_abs_diff', float('nan')):.1e})."
        )
    elif holds_encoder:
        input_note = (
            "The model holds its (frozen) text encoder, so it runs from raw text through the processor; its logits "
            f"from tokens equal those from the cached features used in training (max difference "
            f"{results.get('from_tokens_max_abs_diff', float('nan')):.1e})."
        )
    else:
        input_note = "The model reads feature vectors; it holds no text encoder."
    if results.get("feature_normalization"):
        input_note += (
            " The input features were z-scored with the training split's mean and standard deviation, stored in "
            "`feature_normalization.json`: apply the same to new features."
        )
    if results.get("text_encoder"):
        base = results.get("base_text_encoder") or results["text_encoder"]
        feature_text = f"text: mean-pooled `{hub_name_of(base) or base}` states"
        if results.get("text_input") == "context":
            feature_text += " after fine-tuning it on the training split with dialogue context"
        feature_text += "."
    else:
        feature_text = ", ".join(f"{m} {size}-d" for m, size in sizes.items()) + " as provided by the dataset."
    loss = "focal loss" if config["loss_type"] == "focal" else "cross-entropy"
    loss_text = loss + (" with inverse-frequency class weights" if config.get("class_weights") else "")
    if set(modalities) == {"text"}:
        modality_limitation = (
            f"This checkpoint reads text only: its audio and visual branches were not trained (this run had no audio or "
            f"video features of {title})."
        )
    else:
        modality_limitation = f"This checkpoint reads {', '.join(modalities)}; other modalities are refused."
    cut = {flag: args.get(key) for flag, key in (("--max-train-dialogues", "max_train_dialogues"), ("--max-eval-dialogues", "max_eval_dialogues")) if args.get(key)}
    smoke_note = (
        "**Smoke run** (" + ", ".join(f"{flag} {n}" for flag, n in cut.items()) + "): the splits were cut, so these "
        "numbers are not comparable with published ones.\n\n"
        if cut else ""
    )
    card = ModelCard.from_template(
        card_data(results, model_name),
        template_path=str(template_path),
        model_name=model_name,
        label_list=", ".join(results["label_names"]),
        dataset_title=title,
        dataset_domain=DATASET_DOMAINS.get(results["dataset"], f"the {title} corpus"),
        modalities_text=" + ".join(modalities),
        architecture_text=architecture,
        seed=results["seed"],
        smoke_note=smoke_note,
        validation=results["validation"],
        test=results["test"],
        usage_code=usage,
        input_note=input_note,
        split_sizes=" / ".join(str(results["split_sizes"][s]) for s in ("train", "validation", "test")),
        feature_text=feature_text,
        learning_rate=args["learning_rate"],
        weight_decay=args["weight_decay"],
        batch_size=args["batch_size"],
        epochs=args["epochs"],
        patience=args["patience"],
        selected_epoch=results["selected_epoch"],
        loss_text=loss_text,
        command=results["command"],
        git_commit=results["git_commit"],
        modality_limitation=modality_limitation,
    )
    return str(card)
