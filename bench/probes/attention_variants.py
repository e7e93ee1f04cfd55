"""Variants of the graph attention's per-edge work on made-up tensors, against today's (`old`): `new`, the messages as a
matrix product over the window plus a per-type scatter; `new2`, the head contraction as one matrix product with
gathered type embeddings. Batch-1 inference and training (forward and backward), and the largest difference from
`old`.

A probe behind a figure of bench/README.md ("Against the research code"), run from the repository root:
    python bench/probes/attention_variants.py
"""
import sys, time, statistics, torch
import torch.nn.functional as F
torch.set_num_threads(2)
torch.manual_seed(0)
H, heads, T = 128, 4, 45
hs = H // heads
score_vec = torch.randn(heads, hs, requires_grad=True)
emb_s = torch.nn.Embedding(T, H); emb_v = torch.nn.Embedding(T, H)

def common(src, tgt, et, he):
    by_head = (*he.shape, heads, hs)
    scores = src.unsqueeze(-2) + tgt[:, :, None, None]
    scores = scores + emb_s(et)
    scores = F.leaky_relu(scores, 0.2)
    scores = (scores.view(by_head) * score_vec).sum(-1)
    scores = scores.masked_fill(~he.unsqueeze(-1), torch.finfo(scores.dtype).min)
    att = scores.flatten(2, 3).softmax(dim=2).view_as(scores) * he.unsqueeze(-1)
    return att

def old(src, tgt, val, et, he):
    att = common(src, tgt, et, he)
    by_head = (*he.shape, heads, hs)
    messages = val.unsqueeze(-2) + emb_v(et)
    return (messages.view(by_head) * att.unsqueeze(-1)).sum(dim=(2, 3)).flatten(-2)

def new(src, tgt, val, et, he):
    att = common(src, tgt, et, he)  # (B,n,K,Ms,Mt,heads)
    B, n, K, Ms, Mt = he.shape
    out_v = torch.einsum("bnkstH,bnksHd->bntHd", att, val.view(B, n, K, Ms, heads, hs))
    typed = att.new_zeros(B, n, Mt, heads, T)
    idx = et.permute(0, 1, 4, 2, 3).reshape(B, n, Mt, 1, K * Ms).expand(B, n, Mt, heads, K * Ms)
    typed = typed.scatter_add(-1, idx, att.permute(0, 1, 4, 5, 2, 3).reshape(B, n, Mt, heads, K * Ms))
    out_t = torch.einsum("bnthT,Thd->bnthd", typed, emb_v.weight.view(T, heads, hs))
    return (out_v + out_t).flatten(-2)

def inputs(B, N, K=7, M=3, grad=False):
    src = torch.randn(B, N, K, M, H, requires_grad=grad); tgt = torch.randn(B, N, M, H, requires_grad=grad)
    val = torch.randn(B, N, K, M, H, requires_grad=grad)
    et = torch.randint(0, T, (B, N, K, M, M)); he = torch.rand(B, N, K, M, M) > 0.2
    return src, tgt, val, et, he

def common2(src, tgt, et, he):
    by_head = (*he.shape, heads, hs)
    scores = src.unsqueeze(-2) + tgt[:, :, None, None]
    scores += emb_s.weight.index_select(0, et.flatten()).view_as(scores)
    scores = F.leaky_relu(scores, 0.2, inplace=True)
    contraction = torch.block_diag(*score_vec.unsqueeze(-1))  # (H, heads)
    scores = (scores.view(-1, H) @ contraction).view(*he.shape, heads)
    scores = scores.masked_fill(~he.unsqueeze(-1), torch.finfo(scores.dtype).min)
    return scores.flatten(2, 3).softmax(dim=2).view_as(scores) * he.unsqueeze(-1)

def new2(src, tgt, val, et, he):
    att = common2(src, tgt, et, he)
    by_head = (*he.shape, heads, hs)
    messages = val.unsqueeze(-2) + emb_v.weight.index_select(0, et.flatten()).view(*he.shape, H)
    return (messages.view(by_head) * att.unsqueeze(-1)).sum(dim=(2, 3)).flatten(-2)



def compare(candidates, shapes=((1, 9, False), (16, 4, True), (16, 20, True))):
    """Median time of `old` and each candidate, alternated, and each candidate's largest difference from `old`."""
    for B, N, train in shapes:
        x = inputs(B, N, grad=train)
        for f in candidates:
            print(B, N, f.__name__, "max abs diff from old", (old(*x) - f(*x)).abs().max().item())
        for f in [old, *candidates] * 2:
            ts = []
            for _ in range(100 if not train else 30):
                t = time.perf_counter()
                if train:
                    f(*x).sum().backward()
                else:
                    with torch.inference_mode():
                        f(*x)
                ts.append(time.perf_counter() - t)
            print(B, N, "train" if train else "infer", f.__name__, round(statistics.median(ts) * 1e3, 3), "ms")


if __name__ == "__main__":
    compare([new, new2])
