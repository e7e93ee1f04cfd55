"""What adapting all-mpnet-base-v2 would cost on this CPU: one batch of 64 MELD training utterances (utterance only,
padded to the batch's longest), the encoder's full forward in float32 and under bfloat16 autocast (this CPU has AMX
bf16), how far bf16 moves the mean-pooled features (cosine), and one training step of only the top K layers (forward
and backward from cached layer-(12 - K) states) in both precisions. The figures behind results/RESULTS.md's
"encoder adaptation" note; run from the repository root, with HF_HOME where the encoder was assembled:

    HF_HOME=... python bench/probes/encoder_adaptation_cost.py [--top-layers 2] [--threads 2]
"""

import argparse
import statistics
import time

import torch
from transformers import AutoModel, AutoTokenizer

from datasets_scripts import load_meld
from modeling_synctva.modeling_synctva import mean_pool
from modeling_synctva.processing_synctva import context_texts
from modeling_synctva.text_encoders import resolve_text_encoder
from synctva_training.finetune_text_encoder import CONTEXT_WINDOW


def median_seconds(step, repeats: int = 3) -> float:
    step()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--top-layers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--context", action="store_true", help="each utterance with its dialogue context")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    path = resolve_text_encoder("all-mpnet-base-v2")
    tokenizer, encoder = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()
    train = load_meld()["train"]
    if args.context:
        dialogues = [context_texts(s, u, tokenizer.sep_token, *CONTEXT_WINDOW) for s, u in zip(train["speakers"], train["utterances"])]
    else:
        dialogues = train["utterances"]
    all_texts = [text for dialogue in dialogues for text in dialogue]
    lengths = [len(ids) for ids in tokenizer(all_texts, truncation=True, max_length=128)["input_ids"]]
    print(f"train split: {len(lengths)} texts, {sum(lengths)} tokens (mean {sum(lengths) / len(lengths):.1f}, at most 128)")
    texts = all_texts[:64]
    batch = tokenizer(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
    mask = batch["attention_mask"]
    print(f"batch {tuple(batch['input_ids'].shape)}, mean tokens {mask.sum(1).float().mean():.1f}")

    def forward(bf16: bool, hidden_states: bool = False):
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            return encoder(**batch, output_hidden_states=hidden_states)

    for bf16 in (False, True):
        print(f"full forward, {'bf16' if bf16 else 'fp32'}: {median_seconds(lambda: forward(bf16)):.3f} s")
    pooled = {bf16: mean_pool(forward(bf16).last_hidden_state.float(), mask) for bf16 in (False, True)}
    print(f"pooled features, bf16 against fp32: min cosine {torch.cosine_similarity(pooled[False], pooled[True]).min():.6f}")

    layers = encoder.encoder.layer
    cached = forward(False, hidden_states=True).hidden_states[len(layers) - args.top_layers].clone()
    additive_mask = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
    encoder.train()

    def top_layers_step(bf16: bool) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            states = cached
            for layer in layers[len(layers) - args.top_layers :]:
                states = layer(states, attention_mask=additive_mask, position_bias=encoder.encoder.compute_position_bias(states))[0]
            loss = mean_pool(states.float(), mask).square().mean()
        loss.backward()

    for bf16 in (False, True):
        seconds = median_seconds(lambda: top_layers_step(bf16))
        print(f"top {args.top_layers} layers, forward + backward, {'bf16' if bf16 else 'fp32'}: {seconds:.3f} s")


if __name__ == "__main__":
    main()
