"""A T+A+V training epoch (the research code's 64 quick-run dialogues, 1024/300/342, batch 16) of the default model and
with each part switched off, interleaved: what each part costs.

A probe behind a figure of bench/README.md ("Against the research code"), run from the repository root:
    python bench/probes/parts.py
"""
import os, sys, time, statistics
import torch
sys.path.insert(0, "bench")
import bench as B
from modeling_synctva import SyncTVAConfig, SyncTVAForEmotionClassification
from modeling_synctva.collator_synctva import DataCollatorForDialogues
torch.set_num_threads(2)
batches = B.paper_training_batches(B.meld_train_dialogues(None), 64)
collator = DataCollatorForDialogues()
variants = {"full": {}, "no_graph": dict(use_cross_modal_graph=False), "no_enh": dict(use_modality_enhancement=False),
            "no_fusion": dict(use_cross_attention_fusion=False), "1layer": dict(graph_layers=1), "nothing": dict(use_cross_modal_graph=False, use_modality_enhancement=False, use_cross_attention_fusion=False),
            "no_dropout": dict(hidden_dropout_prob=0.0, attention_dropout_prob=0.0, feature_dropout_prob=0.0, modality_dropout_prob=0.0)}
trainees = {}
for k, v in variants.items():
    torch.manual_seed(0)
    cfg = SyncTVAConfig(**B.feature_size_arguments(B.PAPER_FEATURE_SIZES), modalities=list(B.PAPER_FEATURE_SIZES), **v)
    trainees[k] = B.Trainee(k, SyncTVAForEmotionClassification(cfg))
    B.time_epoch(trainees[k], batches, collator)
res = {k: [] for k in variants}
for r in range(3):
    for k in variants:
        res[k].append(B.time_epoch(trainees[k], batches, collator))
print({k: round(statistics.median(v), 3) for k, v in res.items()})
