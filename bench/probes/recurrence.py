"""Six (or $G) GRUs of the enhancement's sizes, one by one (`nn.GRU` each), as one block-diagonal GRU, and in lockstep
(`grus_in_lockstep`'s schedule): batch-1 inference over 9 steps, a training batch (16 x 20, forward and backward),
2,000 steps; $T threads.

A probe behind a figure of bench/README.md ("Against the research code"), run from the repository root:
    T=2 G=6 OMP_WAIT_POLICY=PASSIVE python bench/probes/recurrence.py
"""
import os
import os, time, statistics, torch
from torch import nn
torch.set_num_threads(int(os.environ.get("T", 2)))
torch.manual_seed(0)
H, Hd, G = 128, 64, int(os.environ.get("G", 6))
grus = [nn.GRU(H, Hd, batch_first=True) for _ in range(G)]

def separate(x):  # x (G, B, N, H)
    return torch.stack([g(x[i])[0] for i, g in enumerate(grus)])

def gate_blocks(name):
    ws = [getattr(g, name) for g in grus]
    return [[w.chunk(3, 0)[k] for w in ws] for k in range(3)]

def blockdiag(x):
    wih = torch.cat([torch.block_diag(*b) for b in gate_blocks("weight_ih_l0")])
    whh = torch.cat([torch.block_diag(*b) for b in gate_blocks("weight_hh_l0")])
    bih = torch.cat([torch.cat(b) for b in gate_blocks("bias_ih_l0")])
    bhh = torch.cat([torch.cat(b) for b in gate_blocks("bias_hh_l0")])
    xin = x.permute(1, 2, 0, 3).flatten(2)  # (B, N, G*H)
    out, _ = torch._VF.gru(xin, torch.zeros(1, x.shape[1], G * Hd), [wih, whh, bih, bhh], True, 1, 0.0, False, False, True)
    return out.view(*out.shape[:2], G, Hd).permute(2, 0, 1, 3)

def lockstep(x):
    wih = torch.stack([g.weight_ih_l0 for g in grus]); whh = torch.stack([g.weight_hh_l0 for g in grus])
    bih = torch.stack([g.bias_ih_l0 for g in grus]); bhh = torch.stack([g.bias_hh_l0 for g in grus])
    Gn, B, N, I = x.shape
    gi = torch.baddbmm(bih.unsqueeze(1), x.reshape(Gn, B * N, I), wih.transpose(1, 2)).view(Gn, B, N, -1)
    whh_t = whh.transpose(1, 2); bhh = bhh.unsqueeze(1)
    h = x.new_zeros(Gn, B, Hd); outs = []
    for t in range(N):
        gh = torch.baddbmm(bhh, h, whh_t)
        git = gi[:, :, t]
        rz = torch.sigmoid(git[..., :2 * Hd] + gh[..., :2 * Hd])
        r, z = rz[..., :Hd], rz[..., Hd:]
        n = torch.tanh(git[..., 2 * Hd:] + r * gh[..., 2 * Hd:])
        h = n + z * (h - n)
        outs.append(h)
    return torch.stack(outs, 2)

def timeit(f, x, train, reps):
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        if train:
            xx = x.clone().requires_grad_(); f(xx).sum().backward()
        else:
            with torch.inference_mode(): f(x)
        ts.append(time.perf_counter() - t)
    return statistics.median(ts) * 1e3

for B, N, train, reps in [(1, 9, False, 200), (16, 20, True, 30), (1, 2000, False, 3)]:
    x = torch.randn(G, B, N, H)
    with torch.no_grad():
        a, b, c = separate(x), blockdiag(x), lockstep(x)
    print(B, N, "maxdiff", (a - b).abs().max().item(), (a - c).abs().max().item())
    for rnd in range(2):
        print(B, N, "train" if train else "infer", {f.__name__: round(timeit(f, x, train, reps), 3) for f in (separate, blockdiag, lockstep)})
