"""The cost of single small operators (a batch-1 Sync-TVA call's sizes: a GRU step's batched product, an edge-sized
elementwise operator, ...) at $1 threads: with OMP_WAIT_POLICY=PASSIVE each one that enters the thread pool wakes the
second thread. Run from the repository root, compare PASSIVE / ACTIVE and 1 / 2 threads:

    OMP_WAIT_POLICY=PASSIVE python bench/probes/operator_overhead.py 2
"""
import sys, time, statistics, torch
torch.set_num_threads(int(sys.argv[1]))
h = torch.randn(6, 1, 64); w = torch.randn(6, 64, 192); b = torch.randn(6, 1, 192); a = torch.randn(6,1,128)
w2 = torch.randn(64, 1152); h2 = torch.randn(1, 64)
big = torch.randn(1, 9, 7, 3, 3, 128)
tests = {"baddbmm": lambda: torch.baddbmm(b, h, w), "bmm": lambda: torch.bmm(h, w), "matmul_bcast": lambda: h @ w,
         "mm": lambda: h2 @ w2, "sigmoid": lambda: torch.sigmoid(a), "add": lambda: a + a, "mul": lambda: a * a,
         "einsum": lambda: torch.einsum("gbi,gio->gbo", h, w), "big_add": lambda: big + big, "big_leaky": lambda: torch.nn.functional.leaky_relu(big, 0.2),
         "big_sum": lambda: big.sum(dim=(2,3))}
with torch.inference_mode():
  for k, f in tests.items():
    for _ in range(50): f()
    ts = []
    for _ in range(2000):
        t = time.perf_counter(); f(); ts.append(time.perf_counter() - t)
    print(k, round(statistics.median(ts) * 1e6, 1), "us", end="; ")
print()
