"""One T+A+V dialogue of $1 utterances (default 2,000; 1024/300/342, batch 1, eval): the whole forward pass and its
parts (enhancement, graph building, graph layers, fusion), with the graph attention's inference runs of 2^19, 2^21 and
2^23 elements. Run from the repository root:

    OMP_WAIT_POLICY=PASSIVE python bench/probes/long_dialogue_parts.py 2000
"""
import os, sys, time, statistics
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch
from modeling_synctva import SyncTVAConfig, SyncTVAForEmotionClassification
from modeling_synctva.modeling_synctva import modality_grid
import modeling_synctva.modeling_synctva as MM
torch.set_num_threads(2)
sizes = {"text": 1024, "audio": 300, "visual": 342}
cfg = SyncTVAConfig(**{f"{m}_feature_size": s for m, s in sizes.items()}, modalities=list(sizes))
torch.manual_seed(0)
model = SyncTVAForEmotionClassification(cfg).eval(); m = model.model
N = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
x = {f"{k}_features": torch.randn(1, N, s) for k, s in sizes.items()}; x["speaker_ids"] = torch.randint(0, 4, (1, N))
def tick(): return time.perf_counter()
with torch.inference_mode():
  for chunk in [2**19, 2**21, 2**23]:
    MM.EDGE_CHUNK_ELEMENTS = chunk
    for rep in range(2):
        t0 = tick(); model(**x); whole = tick() - t0
        feats, present, spk, am = m.gather_inputs(x["text_features"], x["audio_features"], x["visual_features"], None, None, None, x["speaker_ids"], None)
        ids, gp = modality_grid(list(feats), present)
        t1 = tick(); ns, _ = m.embed_nodes(feats, gp, am.sum(dim=1)); t2 = tick()
        et, he = m.graph(gp, spk, ids); t3 = tick()
        for l in m.graph_layers: ns, _ = l(ns, et, he)
        t4 = tick(); m.fuse_modalities(ns, gp, ids); t5 = tick()
    print(chunk, "whole %.3f embed %.3f graph %.3f layers %.3f fuse %.3f" % (whole, t2 - t1, t3 - t2, t4 - t3, t5 - t4))
