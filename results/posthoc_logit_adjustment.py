"""Post-hoc logit adjustment (Menon et al. 2021) on the trained MELD runs, with tau chosen on the validation split.

    python results/posthoc_logit_adjustment.py
    python results/posthoc_logit_adjustment.py --rows meld-T-full --tolerance-points 1

Each run of `runs/<row>/seed<k>` (trained by `results/experiments.py`) predicts argmax_c (z_c - tau * log pi_c),
z its logits and pi the train split's label frequencies, for tau = 0, 0.1, ..., 2.0. Per run, tau is selected on the
validation split only: the highest validation macro F1 among the taus whose validation weighted F1 is at most
`--tolerance-points` points below that of tau = 0 (ties: the smallest tau); the test split is read at tau = 0 and at
the selected tau. Before anything is scored, tau = 0 must give the validation and test weighted and macro F1 stored in
the run's results.json exactly, or the script raises.

The features are rebuilt with train.py's own functions and the run's stored command, from the feature cache that
run wrote (under `cache/features`): a missing cache file raises, naming it, instead of encoding. The mpnet rows find
their encoder under `$HF_HOME/synctva/encoders`: set HF_HOME to the one their runs were trained with.

Writes results/posthoc_logit_adjustment.json: per row the taus selected per seed, the test mean and sample standard
deviation over seeds (percentage points) of weighted, macro, fear and disgust F1 at tau = 0 and at the selected tau,
and per run the validation and test curves over tau (fractions, as results.json stores them), rounded to 4 decimals.
"""

import argparse
import json
import shlex
import statistics
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import train  # noqa: E402
from datasets_scripts import extract_features  # noqa: E402
from modeling_synctva import SyncTVAForEmotionClassification  # noqa: E402
from modeling_synctva.atomic_files import atomic_write_json  # noqa: E402
from modeling_synctva.text_encoders import SPLIT_WHEEL_ENCODERS, encoder_cache  # noqa: E402

RESULTS = Path(__file__).resolve().parent
OUTPUT = RESULTS / "posthoc_logit_adjustment.json"
ROWS = ("meld-T-full", "meld-T-gru_baseline", "meld-T-full_mpnet", "meld-T-gru_baseline_mpnet")
SEEDS = (0, 1, 2)
TAUS = tuple(round(0.1 * step, 1) for step in range(21))
SPLITS = ("validation", "test")
RARE_CLASSES = ("fear", "disgust")  # MELD's two rarest emotions, the ones the adjustment is meant to help
METRICS = ("weighted_f1", "macro_f1", *(f"{label}_f1" for label in RARE_CLASSES))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs-dir", default="runs", help="training folders, relative to the repository root")
    parser.add_argument("--rows", nargs="+", default=list(ROWS), help="experiments under --runs-dir")
    parser.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    parser.add_argument("--tolerance-points", type=float, default=0.5,
                        help="validation weighted-F1 drop from tau = 0 allowed for the selected tau, in points")
    return parser.parse_args(argv)


def run_args(results: dict) -> argparse.Namespace:
    """train.py's arguments of a run, parsed from its stored command, with relative folders under the repository root
    (where the runs were started)."""
    words = shlex.split(results["command"])
    if words[:2] != ["python", "train.py"]:
        raise ValueError(f"expected a `python train.py ...` command in results.json, got {results['command']!r}")
    args = train.parse_args(words[2:])
    if args.finetune_text_encoder:
        raise ValueError("runs with --finetune-text-encoder are not supported: their encoder is not rebuilt here")
    args.cache_dir = str(ROOT / args.cache_dir)
    if args.data_dir:
        args.data_dir = str(ROOT / args.data_dir)
    return args


def check_feature_cache(dataset_dict, args, results: dict) -> None:
    """Raise unless train.prepare_features will read every split's text features from the cache (and so encode
    nothing and write nothing), with the text encoder the run used."""
    if "text_features" in dataset_dict["train"].column_names and not args.text_encoder:
        return  # shipped features, no encoder
    rebuild = (f"train.py writes it before training: run `{results['command']}` from the repository root, with the "
               "same HF_HOME and another --output-dir, and stop it once the features are cached")
    name = args.text_encoder
    if name in SPLIT_WHEEL_ENCODERS and not (encoder_cache() / name / "config.json").is_file():
        raise FileNotFoundError(f"no assembled {name} encoder under {encoder_cache()} (the run used "
                                f"{results['text_encoder']}): set HF_HOME to the one the run was trained with")
    encoder = train.resolve_text_encoder(name) if name else train.default_text_encoder()
    if encoder != results["text_encoder"]:
        raise ValueError(f"the text encoder resolves to {encoder}, the run used {results['text_encoder']}")
    key = {**extract_features.encoder_identity(encoder), "pooling": extract_features.POOLING,
           "max_length": train.MAX_TEXT_LENGTH}
    for split, dataset in dataset_dict.items():
        rows = dataset["utterances"]
        texts = [text for row in rows for text in row]
        path = extract_features.cache_path(Path(args.cache_dir) / "features", args.dataset_name, split, "text",
                                           {**key, "texts": texts})
        if extract_features.read_cache(path, extract_features.dialogue_lengths(rows)) is None:
            raise FileNotFoundError(f"no cached {split} text features of {results['text_encoder']} at {path}; {rebuild}")


def run_features(args, results: dict) -> dict:
    """The examples of every split, the label names and the config sizes of a run, as train.main builds them."""
    dataset_dict = train.load_dialogues(args)
    check_feature_cache(dataset_dict, args, results)
    dataset_dict, text_info = train.prepare_features(dataset_dict, args, train.Accelerator(cpu=True))
    torch.set_num_threads(1)  # as train.main on CPU
    label_names = dataset_dict["train"].features["labels"].feature.names
    available = [m for m in train.MODALITIES if f"{m}_features" in dataset_dict["train"].column_names]
    modalities = args.modalities or available
    examples = {split: train.dialogue_examples(dataset_dict[split], modalities, text_info["text_column"])
                for split in ("train", *SPLITS)}
    provided = [m for m in modalities if not (m == "text" and text_info["text_encoder"])]
    if provided:
        train.zscore(examples, provided)
    return {
        "examples": examples, "label_names": label_names, "modalities": modalities,
        "sizes": {m: int(examples["train"][0][f"{m}_features"].shape[1]) for m in modalities},
        "counts": train.label_counts(examples["train"], len(label_names)),
    }


def feature_key(args) -> tuple:
    """The arguments that decide a run's features: runs that share them (the seeds of a row) share one build."""
    return (args.dataset, args.data_dir, args.cosmic_pickle, args.text_encoder, args.modalities,
            args.max_train_dialogues, args.max_eval_dialogues)


def load_model(folder: Path, args, features: dict) -> torch.nn.Module:
    """The run's trained model in eval mode: the Hub folder for Sync-TVA, gru_baseline.safetensors for the BiGRU."""
    if args.baseline != "gru":
        return SyncTVAForEmotionClassification.from_pretrained(folder).eval()
    counts = features["counts"]
    weights = train.class_weights(counts, args.class_weights, args.class_balance_beta) if args.class_weights != "none" else None
    kwargs = train.config_kwargs(args, features["label_names"], features["modalities"], features["sizes"], weights,
                                 train.class_priors(counts))
    model = train.build_model(args, kwargs)
    model.load_state_dict(load_file(folder / "gru_baseline.safetensors"), strict=True)
    return model.eval()


@torch.inference_mode()
def split_logits(model, examples: list[dict], collator, batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """The logits (utterances, classes) and labels (utterances,) of the labelled utterances of a split, batched as
    train.evaluate_split batches them."""
    logits, labels = [], []
    for start in range(0, len(examples), batch_size):
        batch = collator(examples[start : start + batch_size])
        real = batch["labels"] != -100
        logits.append(model(**batch).logits[real].float())
        labels.append(batch["labels"][real])
    return torch.cat(logits).numpy().astype(np.float64), torch.cat(labels).numpy()


def tau_curve(logits: np.ndarray, labels: np.ndarray, log_prior: np.ndarray, label_names: list[str]) -> dict:
    """Weighted, macro and per-class F1 and accuracy of argmax(logits - tau * log_prior), one list entry per tau."""
    scores = [train.erc_scores((logits - tau * log_prior).argmax(1), labels, label_names=label_names) for tau in TAUS]
    curve = {metric: [s[metric] for s in scores] for metric in ("weighted_f1", "macro_f1", "accuracy")}
    curve["per_class_f1"] = {label: [s["per_class_f1"][label] for s in scores] for label in label_names}
    return curve


def check_reproduces_stored(curves: dict, results: dict, folder: Path) -> None:
    """Raise unless tau = 0 gives exactly the weighted and macro F1 the run stored for validation and test."""
    for split in SPLITS:
        for metric in ("weighted_f1", "macro_f1"):
            if curves[split][metric][0] != results[split][metric]:
                raise RuntimeError(f"{folder}: {split} {metric} at tau = 0 is {curves[split][metric][0]!r}, "
                                   f"results.json stores {results[split][metric]!r}; the features or model differ")


def select_tau(validation: dict, tolerance_points: float) -> int:
    """Index of the tau with the highest validation macro F1 among those within `tolerance_points` of tau = 0's
    validation weighted F1 (ties: the smallest tau)."""
    floor = validation["weighted_f1"][0] - tolerance_points / 100
    eligible = [i for i, weighted in enumerate(validation["weighted_f1"]) if weighted >= floor]
    return max(eligible, key=lambda i: (validation["macro_f1"][i], -i))


def test_scores(curve: dict, index: int) -> dict:
    """The test metrics of METRICS at one tau index."""
    scores = {"weighted_f1": curve["weighted_f1"][index], "macro_f1": curve["macro_f1"][index]}
    scores.update({f"{label}_f1": curve["per_class_f1"][label][index] for label in RARE_CLASSES})
    return scores


def over_seeds(values: list[float]) -> dict:
    """Mean and sample standard deviation in percentage points, with the values."""
    points = [100 * value for value in values]
    return {"mean": statistics.fmean(points), "sd": statistics.stdev(points) if len(points) > 1 else None,
            "values": points}


def rounded(value, digits: int = 4):
    """`value` with every float rounded to `digits` decimals (nested dicts and lists)."""
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, dict):
        return {key: rounded(item, digits) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [rounded(item, digits) for item in value]
    return value


def measure_row(row: str, cli, feature_builds: dict, collator) -> dict:
    """Curves, selected taus and the test summary over seeds of one row."""
    seeds, trained_tau = {}, set()
    for seed in cli.seeds:
        folder = ROOT / cli.runs_dir / row / f"seed{seed}"
        results = json.loads((folder / "results.json").read_text())
        args = run_args(results)
        key = feature_key(args)
        if key not in feature_builds:
            feature_builds[key] = run_features(args, results)
        features = feature_builds[key]
        if features["label_names"] != results["label_names"]:
            raise ValueError(f"{folder}: labels {features['label_names']} differ from the run's {results['label_names']}")
        counts = features["counts"].astype(np.float64)
        frequencies = counts / counts.sum()
        model = load_model(folder, args, features)
        curves = {split: tau_curve(*split_logits(model, features["examples"][split], collator), np.log(frequencies),
                                   features["label_names"]) for split in SPLITS}
        check_reproduces_stored(curves, results, folder)
        selected = select_tau(curves["validation"], cli.tolerance_points)
        seeds[str(seed)] = {"selected_tau": TAUS[selected], "curves": curves}
        trained_tau.add(args.logit_adjustment)
        print(f"{row} seed{seed}: tau = 0 reproduces validation / test weighted F1 "
              f"{100 * results['validation']['weighted_f1']:.2f} / {100 * results['test']['weighted_f1']:.2f}; "
              f"selected tau {TAUS[selected]}", flush=True)
    summary = {}
    for setting in ("tau0", "selected"):
        picks = [test_scores(s["curves"]["test"], 0 if setting == "tau0" else TAUS.index(s["selected_tau"]))
                 for s in seeds.values()]
        summary[setting] = {metric: over_seeds([pick[metric] for pick in picks]) for metric in METRICS}
    return {
        "trained_with_logit_adjustment_loss": sorted(trained_tau),
        "train_label_frequencies": dict(zip(features["label_names"], frequencies.tolist())),
        "selected_taus": [s["selected_tau"] for s in seeds.values()],
        "test": summary,
        "seeds": seeds,
    }


def mean_sd(entry: dict) -> str:
    """`mean ± sd` of an over_seeds entry (the mean alone for one seed)."""
    return f"{entry['mean']:.2f}" + (f" ± {entry['sd']:.2f}" if entry["sd"] is not None else "")


def print_table(rows: dict) -> None:
    """One line per (row, tau = 0 or selected): taus per seed and test mean ± sd in points."""
    print(f"{'row':27s} {'tau':8s} {'taus per seed':15s}" + "".join(f"{metric:>16s}" for metric in METRICS))
    for row, result in rows.items():
        for setting in ("tau0", "selected"):
            taus = [0.0] * len(result["selected_taus"]) if setting == "tau0" else result["selected_taus"]
            cells = "".join(f"{mean_sd(result['test'][setting][m]):>16s}" for m in METRICS)
            print(f"{row:27s} {setting:8s} {','.join(f'{t:g}' for t in taus):15s}{cells}")


def main(argv: list[str] | None = None) -> dict:
    cli = parse_args(argv)
    torch.set_num_threads(1)
    collator = train.DataCollatorForDialogues()
    feature_builds = {}
    rows = {row: measure_row(row, cli, feature_builds, collator) for row in cli.rows}
    report = {
        "method": "argmax_c (z_c - tau * log pi_c), pi the train split's label frequencies",
        "rule": f"per run, the tau with the highest validation macro F1 among those whose validation weighted F1 is at "
                f"most {cli.tolerance_points} points below tau = 0's (ties: the smallest tau)",
        "taus": list(TAUS),
        "summary_units": "test, percentage points: mean and sample sd over seeds; curves are fractions",
        "rows": rows,
    }
    atomic_write_json(OUTPUT, rounded(report), indent=1)
    print_table(rows)
    return report


if __name__ == "__main__":
    main()
