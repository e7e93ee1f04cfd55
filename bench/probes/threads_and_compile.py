"""Batch-1 p50 of a T+A+V model (60 of MELD's test dialogues, 1024/300/342): eager at $T threads, or compiled
(`norn_1t`: dynamic, 1-thread kernels; `rnn`: also with dynamo's allow_rnn).

A probe behind a figure of bench/README.md ("Against the research code"), run from the repository root:
    T=1 python bench/probes/threads_and_compile.py eager  # or norn_1t, rnn
"""
import os, sys, time, statistics
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch
sys.path.insert(0, "bench")
import bench as B
from modeling_synctva import SyncTVAForEmotionClassification
from modeling_synctva.streaming_synctva import LATENCY_COMPILE_OPTIONS
torch.set_num_threads(int(os.environ.get("T", 2)))
torch.manual_seed(0)
model = SyncTVAForEmotionClassification(B.paper_config()).eval()
inputs = B.paper_test_inputs(None, 60)
mode = sys.argv[1]
if mode == "rnn":
    torch._dynamo.config.allow_rnn = True
runner = model if mode == "eager" else torch.compile(model, dynamic=True, options=LATENCY_COMPILE_OPTIONS if "1t" in mode or mode == "rnn" else None)
with torch.inference_mode():
    t = time.perf_counter()
    for x in inputs: runner(**x)
    print(mode, "first pass", round(time.perf_counter() - t, 1), "s")
    ts = []
    for r in range(2):
        for x in inputs:
            t = time.perf_counter(); runner(**x); ts.append(time.perf_counter() - t)
    print(mode, "p50 ms", round(1e3 * statistics.median(ts), 3))
    diff = max((runner(**x).logits - model(**x).logits).abs().max().item() for x in inputs[:10])
    print("diff", diff)
