"""The T+A+V training epoch of the research code's 64 quick-run dialogues (1024/300/342, batch 16), eager against
`torch.compile(model, dynamic=True)` (the first compiled epoch includes compilation), 3 interleaved rounds. Pass `rnn`
to also trace the GRUs (dynamo's allow_rnn). Run from the repository root:

    python bench/probes/compiled_training.py
"""
import os, sys, time, statistics
import torch
sys.path.insert(0, "bench")
import bench as B
from modeling_synctva import SyncTVAConfig, SyncTVAForEmotionClassification
from modeling_synctva.collator_synctva import DataCollatorForDialogues
from modeling_synctva.streaming_synctva import allow_recurrent_layers_in_graphs
torch.set_num_threads(2)
batches = B.paper_training_batches(B.meld_train_dialogues(None), 64)
collator = DataCollatorForDialogues()
torch.manual_seed(0)
cfg = SyncTVAConfig(**B.feature_size_arguments(B.PAPER_FEATURE_SIZES), modalities=list(B.PAPER_FEATURE_SIZES))
model = SyncTVAForEmotionClassification(cfg)
eager = B.Trainee("e", model)
if sys.argv[1:] == ["rnn"]: allow_recurrent_layers_in_graphs()
cm = torch.compile(model, dynamic=True)
comp = B.Trainee("c", cm)
t = time.perf_counter(); B.time_epoch(comp, batches, collator); print("compile epoch", time.perf_counter() - t)
B.time_epoch(eager, batches, collator)
for r in range(3):
    print("eager", round(B.time_epoch(eager, batches, collator), 3), "compiled", round(B.time_epoch(comp, batches, collator), 3))
