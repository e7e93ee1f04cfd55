"""How often `compile_for_latency` compiles: the model (MiniLM sizes with `text`, 1024/300/342 with
`text,audio,visual`) on dialogues of 3, 5, 8, 13 and 21 utterances, with the seconds of each call and dynamo's
count of graphs. Run from the repository root:

    python bench/probes/recompiles.py text
"""
import time, torch, sys
sys.path.insert(0, "bench")
import bench as B
from modeling_synctva import SyncTVAForEmotionClassification, SyncTVAConfig
from modeling_synctva.streaming_synctva import compile_for_latency
torch.set_num_threads(2)
mods = sys.argv[1].split(",")
cfg = B.paper_config() if len(mods) == 3 else SyncTVAConfig()
model = SyncTVAForEmotionClassification(cfg).eval()
c = compile_for_latency(model)
from torch._dynamo.utils import counters
gen = torch.Generator().manual_seed(0)
with torch.inference_mode():
    for n in [3, 5, 8, 13, 21]:
        x = B.dialogue_inputs({"speakers": ["a", "b"] * (n // 2) + ["a"] * (n % 2)}, mods, gen, B.PAPER_FEATURE_SIZES if len(mods) == 3 else None)
        t = time.perf_counter(); c(**x); print(n, round(time.perf_counter() - t, 2), "s", dict(counters["stats"]))
