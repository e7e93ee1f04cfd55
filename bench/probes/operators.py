"""The operators of a batch-1 T+A+V call at 1 thread (60 of MELD's test dialogues, 1024/300/342), `torch.profiler`:
operators per call and the 25 with the most self time.

A probe behind a figure of bench/README.md ("Against the research code"), run from the repository root:
    python bench/probes/operators.py
"""
import os, sys
import torch
sys.path.insert(0, "bench")
import bench as B
from modeling_synctva import SyncTVAForEmotionClassification
torch.set_num_threads(1)
torch.manual_seed(0)
model = SyncTVAForEmotionClassification(B.paper_config()).eval()
inputs = B.paper_test_inputs(None, 60)
from torch.profiler import profile
with torch.inference_mode():
    for x in inputs[:10]: model(**x)
    with profile() as prof:
        for x in inputs: model(**x)
ev = prof.key_averages()
print("ops/call", sum(e.count for e in ev) / 60, "self ms/call", sum(e.self_cpu_time_total for e in ev) / 60 / 1e3)
for e in sorted(ev, key=lambda e: -e.self_cpu_time_total)[:25]:
    print(f"{e.key:<35} {e.self_cpu_time_total/60/1e3:7.3f} ms x{e.count/60:.0f}")
