"""The same T+A+V training epoch with the graph attention's edge-sized tensors made in runs of 2^19 and 2^23 elements
(`TRAINING_EDGE_CHUNK_ELEMENTS`), 6 interleaved rounds.

A probe behind a figure of bench/README.md ("Against the research code"), run from the repository root:
    python bench/probes/training_runs.py
"""
import os, sys, time, statistics
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch
sys.path.insert(0, "bench")
import bench as B
import modeling_synctva.modeling_synctva as MM
from modeling_synctva import SyncTVAConfig, SyncTVAForEmotionClassification
from modeling_synctva.collator_synctva import DataCollatorForDialogues
torch.set_num_threads(2)
sizes = B.PAPER_FEATURE_SIZES; mods = list(sizes)
train = B.evenly_spaced(B.meld_train_dialogues(None), 64)
batches = B.shuffled_batches(B.with_features(train, mods, sizes=sizes))
collator = DataCollatorForDialogues()
torch.manual_seed(0)
tr = B.Trainee("s", SyncTVAForEmotionClassification(SyncTVAConfig(**B.feature_size_arguments(sizes), modalities=mods)))
B.time_epoch(tr, batches, collator)
res = {}
for r in range(6):
    for c in [2**19, 2**23]:
        MM.TRAINING_EDGE_CHUNK_ELEMENTS = c
        res.setdefault(c, []).append(B.time_epoch(tr, batches, collator))
print({k: round(statistics.median(v), 3) for k, v in res.items()})
