"""Run the experiments behind results/RESULTS.md, one `train.py` run per (experiment, seed), and keep their results.

    python results/experiments.py                 # everything still missing, in the order below
    python results/experiments.py --only mosi     # experiments whose name matches the regular expression "mosi"
    python results/experiments.py --list          # the commands, without running them

Each finished run's results.json is copied to results/runs/<experiment>/seed<k>.json, which is what
`results/summarize.py` reads; a run whose copy exists is skipped, so the command can be stopped and started again.
Training folders go to runs/ (not committed).
"""

import argparse
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEEDS = (0, 1, 2)
ABLATIONS = {"no_enhancement": ["--no-enhancement"], "no_graph": ["--no-graph"], "no_fusion": ["--no-fusion"],
             "no_feature_dropout": ["--feature-dropout", "0"]}
MOSI_MODALITIES = ("text", "audio", "visual", "text,audio", "text,visual", "audio,visual", "text,audio,visual")
# The text encoder of the rows that ran when MiniLM was every dataset's default, named now that MELD and IEMOCAP
# default to all-mpnet-base-v2 (train.py DATASET_TEXT_ENCODERS); MOSI ships its own text features.
MINILM = ["--text-encoder", "all-MiniLM-L6-v2"]


# The recipe search behind train.py's DATASET_DEFAULTS, scored on the validation split (seeds 0 and 1). Each recipe
# spells out every flag it fixes, so that its rows keep their meaning when the defaults change. The losses at the old
# reach (3 each way) and the far reaches with plain cross-entropy, then (MELD, where a loss beat cross-entropy) the far
# reaches with that loss: the recipe with the highest mean validation weighted F1 of all becomes the default.
RECIPE_BASE = ["--past-window", "3", "--future-window", "3", "--distance-buckets", "1", "--logit-adjustment", "0"]
RECIPES = {
    "cross_entropy": [],
    "logit_adjusted_0.5": ["--logit-adjustment", "0.5"],
    "logit_adjusted_1": ["--logit-adjustment", "1"],
    "class_balanced": ["--class-weights", "effective_number"],
    "focal": ["--loss", "focal"],
    "reach_10_by_distance": ["--past-window", "10", "--future-window", "10", "--distance-buckets", "1,2,4,8"],
    "reach_30_by_distance": ["--past-window", "30", "--future-window", "30", "--distance-buckets", "1,2,4,8,16"],
}
# Stage two where stage one chose another loss than plain cross-entropy (MELD: logit adjustment 0.5).
SECOND_STAGE = {
    "meld": {
        "logit_adjusted_0.5_reach_10": ["--logit-adjustment", "0.5", *RECIPES["reach_10_by_distance"]],
        "logit_adjusted_0.5_reach_30": ["--logit-adjustment", "0.5", *RECIPES["reach_30_by_distance"]],
    },
}
RECIPE_SEEDS = (0, 1)
# Stage three on MELD's recipe (logit adjustment 0.5, reach 30), after training moved to length-pooled batches:
# feature dropout for Sync-TVA and the BiGRU alike, and two variants of Sync-TVA tried beside it (a lower learning
# rate; the enhancement's update on the recurrent context). MELD is the dataset whose validation split is large enough
# to choose by; train.py's DATASET_DEFAULTS take the winner for MELD and IEMOCAP. Runs with one seed ended there.
MELD_RECIPE = ["--past-window", "30", "--future-window", "30", "--distance-buckets", "1,2,4,8,16", "--logit-adjustment", "0.5"]
THIRD_STAGE = {
    "meld": {
        "feature_dropout_0": ["--feature-dropout", "0"],
        "feature_dropout_0.3": ["--feature-dropout", "0.3"],
        "feature_dropout_0.5": ["--feature-dropout", "0.5"],
        "feature_dropout_0.3_learning_rate_3e-4": ["--feature-dropout", "0.3", "--learning-rate", "3e-4"],
        "feature_dropout_0.3_context_residual": ["--feature-dropout", "0.3", "--enhancement-residual", "context"],
        "gru_baseline_feature_dropout_0": ["--baseline", "gru", "--feature-dropout", "0"],
        "gru_baseline_feature_dropout_0.3": ["--baseline", "gru", "--feature-dropout", "0.3"],
    },
}

# Stage four on MELD, after the enhancement's GRUs moved to one lockstep recurrence (which changes training
# trajectories by float rounding): today's recipe again, beside a smaller model (one graph layer; hidden size 64),
# more dropout (hidden and attention 0.5; features 0.5, whose second seed stage three did not run) and the BiGRU,
# seeds 0 and 1 on validation. The question: does less capacity or more regularisation close the gap to the BiGRU?
FOURTH_STAGE = {
    "meld": {
        "4_today": ["--feature-dropout", "0.3"],
        "4_graph_layers_1": ["--feature-dropout", "0.3", "--graph-layers", "1"],
        "4_hidden_64": ["--feature-dropout", "0.3", "--hidden-size", "64"],
        "4_dropout_0.5": ["--feature-dropout", "0.3", "--dropout", "0.5"],
        "4_feature_dropout_0.5": ["--feature-dropout", "0.5"],
        "4_gru_baseline": ["--feature-dropout", "0.3", "--baseline", "gru"],
    },
}

# Stage five on MELD: how many of all-mpnet-base-v2's 12 layers to adapt (train.py --adapt-text-encoder-layers), on
# validation, seeds 0 and 1 (all 12 layers: seed 0 only, an epoch of it costs about 12 CPU-minutes). The top 2 layers at learning
# rate 1e-4 are the `full_mpnet_adapted` rows; here the top 6 at the same rate, and all 12 at 4e-5 (the rate of
# `--finetune-text-encoder`, which fine-tunes the whole encoder); and the top 2 with the logit-adjusted loss of MELD's
# recipe (tau 0.5) in the adaptation too, for the rare emotions.
ADAPTED_MPNET = ["--text-encoder", "all-mpnet-base-v2", "--adapt-text-encoder-layers"]
FIFTH_STAGE = {
    "meld": {
        "5_adapt_top6": [*ADAPTED_MPNET, "6"],
        "5_adapt_top12": [*ADAPTED_MPNET, "12", "--adapt-learning-rate", "4e-5"],
        "5_adapt_top2_logit_adjusted_0.5": [*ADAPTED_MPNET, "2", "--adapt-logit-adjustment", "0.5"],
    },
}

# Stage six on MELD, on the top-6 features of stage five (seeds 0 and 1, validation; the reference is
# recipe5_adapt_top6, the same command as today's full row): the rare emotions (a stronger logit adjustment;
# class-balanced weights and the focal loss in its place) and a smaller model (hidden size 64; one graph layer), as
# the features grew stronger. Rule fixed before the runs: a variant replaces today's recipe if its mean validation
# weighted F1 is higher by more than the larger seed spread, or within that spread with a higher validation macro-F1.
# Made stricter after the runs, on validation figures only: a macro-F1 gap inside its seed spread is a tie (two
# variants were ahead by 0.01 and 0.07), and a tie keeps today's recipe. No variant replaced it.
SIXTH_STAGE = {
    "meld": {
        "6_logit_adjusted_1": [*ADAPTED_MPNET, "6", "--logit-adjustment", "1"],
        "6_class_balanced": [*ADAPTED_MPNET, "6", "--logit-adjustment", "0", "--class-weights", "effective_number"],
        "6_focal": [*ADAPTED_MPNET, "6", "--logit-adjustment", "0", "--loss", "focal"],
        "6_hidden_64": [*ADAPTED_MPNET, "6", "--hidden-size", "64"],
        "6_graph_layers_1": [*ADAPTED_MPNET, "6", "--graph-layers", "1"],
    },
}

# Stage seven on MELD: the top-6 adaptation's validation F1 still rose at its third and last epoch (58.2, 59.4, 60.0
# on seed 0), so five epochs, seeds 0 and 1, against recipe5_adapt_top6 by stage six's rule.
SEVENTH_STAGE = {"meld": {"7_adapt_top6_epochs_5": [*ADAPTED_MPNET, "6", "--finetune-epochs", "5"]}}

# Stage eight on MELD: the top-6 adaptation's learning rate (1e-4 so far, never varied), halved and doubled, seeds 0
# and 1, against recipe5_adapt_top6 by stage six's rule (the stricter form). Written before the runs.
EIGHTH_STAGE = {
    "meld": {
        f"8_adapt_top6_learning_rate_{rate}": [*ADAPTED_MPNET, "6", "--adapt-learning-rate", rate] for rate in ("5e-5", "2e-4")
    }
}

# Stage nine on MELD: the top-6 adaptation and the features read each utterance with its dialogue context (3 before,
# 1 after, with speakers: the strings of --finetune-text-encoder; about 4.6x the tokens), seeds 0 and 1, against
# recipe5_adapt_top6 by stage six's rule (the stricter form). Written before the runs.
NINTH_STAGE = {"meld": {"9_adapt_top6_with_context": [*ADAPTED_MPNET, "6", "--adapt-with-context"]}}


def experiments() -> dict[str, dict]:
    """name -> {dataset, modalities, variant, args, seeds}: the rows of RESULTS.md."""
    table: dict[str, dict] = {}

    def add(name, dataset, modalities, variant, args, seeds=SEEDS):
        table[name] = {"dataset": dataset, "modalities": modalities, "variant": variant, "args": args, "seeds": seeds}

    for dataset, modalities in (("meld", "T"), ("iemocap", "T"), ("mosi", "T+A+V")):
        for recipe, flags in {**RECIPES, **SECOND_STAGE.get(dataset, {})}.items():
            add(f"{dataset}-{modalities}-recipe_{recipe}", dataset, modalities, f"recipe_{recipe}",
                ["--dataset", dataset, *([] if dataset == "mosi" else MINILM), *RECIPE_BASE, *flags], seeds=RECIPE_SEEDS)

    for dataset, stage in THIRD_STAGE.items():
        for recipe, flags in stage.items():
            add(f"{dataset}-T-recipe_{recipe}", dataset, "T", f"recipe_{recipe}",
                ["--dataset", dataset, *MINILM, *MELD_RECIPE, *flags], seeds=RECIPE_SEEDS)

    for dataset, stage in FOURTH_STAGE.items():
        for recipe, flags in stage.items():
            add(f"{dataset}-T-recipe{recipe}", dataset, "T", f"recipe{recipe}",
                ["--dataset", dataset, *MINILM, *MELD_RECIPE, *flags], seeds=RECIPE_SEEDS)
    for dataset, stage in [*FIFTH_STAGE.items(), *SIXTH_STAGE.items(), *SEVENTH_STAGE.items(), *EIGHTH_STAGE.items(),
                           *NINTH_STAGE.items()]:
        for recipe, flags in stage.items():
            add(f"{dataset}-T-recipe{recipe}", dataset, "T", f"recipe{recipe}", ["--dataset", dataset, *flags],
                seeds=(0,) if "top12" in recipe else RECIPE_SEEDS)

    for modalities in MOSI_MODALITIES:
        short = "+".join(m[0].upper() for m in modalities.split(","))
        add(f"mosi-{short}-full", "mosi", short, "full", ["--dataset", "mosi", "--modalities", modalities])
    for variant, flags in ABLATIONS.items():
        add(f"mosi-T+A+V-{variant}", "mosi", "T+A+V", variant, ["--dataset", "mosi", *flags])
    add("mosi-T+A+V-gru_baseline", "mosi", "T+A+V", "gru_baseline", ["--dataset", "mosi", "--baseline", "gru"])
    # MOSI's text from its transcripts through frozen all-mpnet-base-v2 instead of the released text features (which
    # were fit on the training videos): the whole pipeline from raw text on the one tri-modal set, Sync-TVA and the BiGRU.
    mosi_mpnet = ["--dataset", "mosi", "--text-encoder", "all-mpnet-base-v2"]
    add("mosi-T+A+V-full_mpnet", "mosi", "T+A+V", "full_mpnet", mosi_mpnet)
    add("mosi-T+A+V-gru_baseline_mpnet", "mosi", "T+A+V", "gru_baseline_mpnet", [*mosi_mpnet, "--baseline", "gru"])
    for dataset in ("meld", "iemocap"):
        minilm = ["--dataset", dataset, *MINILM]
        add(f"{dataset}-T-full", dataset, "T", "full", minilm)
        add(f"{dataset}-T-gru_baseline", dataset, "T", "gru_baseline", [*minilm, "--baseline", "gru"])
        for variant, flags in ABLATIONS.items():
            if variant != "no_fusion":  # with one modality the fusion has nothing to fuse: the ablation is the model
                add(f"{dataset}-T-{variant}", dataset, "T", variant, [*minilm, *flags])
    # The whole dialogue as the graph (no window), through the PyTorch Geometric implementation: IEMOCAP's dialogues
    # are long (about 49 utterances), so this is where a reach beyond the window could matter.
    add("iemocap-T-full_pyg_whole_dialogue", "iemocap", "T", "full_pyg_whole_dialogue",
        ["--dataset", "iemocap", *MINILM, "--graph-implementation", "pyg", "--whole-dialogue-graph"])
    # The larger offline text encoder (all-mpnet-base-v2, frozen): encoding MELD takes about 20 minutes on 2 cores,
    # once; every later run reads the cached features.
    for dataset in ("meld", "iemocap"):
        mpnet = ["--dataset", dataset, "--text-encoder", "all-mpnet-base-v2"]
        add(f"{dataset}-T-full_mpnet", dataset, "T", "full_mpnet", mpnet)
        add(f"{dataset}-T-gru_baseline_mpnet", dataset, "T", "gru_baseline_mpnet", [*mpnet, "--baseline", "gru"])
        if dataset == "iemocap":  # IEMOCAP's default encoder (chosen on validation): each part off in turn
            for variant in ("no_enhancement", "no_graph", "no_feature_dropout"):
                add(f"{dataset}-T-{variant}_mpnet", dataset, "T", f"{variant}_mpnet", [*mpnet, *ABLATIONS[variant]])
    # all-mpnet-base-v2 with its top 2 layers adapted to the labels from cached lower-layer states (about 10 CPU-minutes
    # per dataset and seed on MELD); Sync-TVA and the BiGRU of one seed share the adapted encoder and its features.
    for dataset in ("meld", "iemocap"):
        adapted = ["--dataset", dataset, "--text-encoder", "all-mpnet-base-v2", "--adapt-text-encoder-layers", "2"]
        add(f"{dataset}-T-full_mpnet_adapted", dataset, "T", "full_mpnet_adapted", adapted)
        add(f"{dataset}-T-gru_baseline_mpnet_adapted", dataset, "T", "gru_baseline_mpnet_adapted", [*adapted, "--baseline", "gru"])
        for variant in ("no_enhancement", "no_graph"):
            add(f"{dataset}-T-{variant}_mpnet_adapted", dataset, "T", f"{variant}_mpnet_adapted", [*adapted, *ABLATIONS[variant]])
    # Stage five chose the top 6 layers on MELD's validation split (seeds 0 and 1): its rows, Sync-TVA and the BiGRU.
    for dataset in ("meld", "iemocap"):
        top6 = ["--dataset", dataset, *ADAPTED_MPNET, "6"]
        add(f"{dataset}-T-full_mpnet_adapted_top6", dataset, "T", "full_mpnet_adapted_top6", top6)
        add(f"{dataset}-T-gru_baseline_mpnet_adapted_top6", dataset, "T", "gru_baseline_mpnet_adapted_top6", [*top6, "--baseline", "gru"])
        # MELD's default encoder: each part off in turn, feature dropout too.
        for variant in ("no_enhancement", "no_graph", *(("no_feature_dropout",) if dataset == "meld" else ())):
            add(f"{dataset}-T-{variant}_mpnet_adapted_top6", dataset, "T", f"{variant}_mpnet_adapted_top6", [*top6, *ABLATIONS[variant]])
    # Stage nine's encoder on MELD (the top 6 adapted on context strings, --adapt-with-context): Sync-TVA, the BiGRU and
    # each part off, 3 seeds, so that the recipe its validation scores took can be read on test.
    context = ["--dataset", "meld", *ADAPTED_MPNET, "6", "--adapt-with-context"]
    add("meld-T-full_mpnet_adapted_top6_context", "meld", "T", "full_mpnet_adapted_top6_context", context)
    add("meld-T-gru_baseline_mpnet_adapted_top6_context", "meld", "T", "gru_baseline_mpnet_adapted_top6_context", [*context, "--baseline", "gru"])
    for variant in ("no_enhancement", "no_graph", "no_feature_dropout"):
        add(f"meld-T-{variant}_mpnet_adapted_top6_context", "meld", "T", f"{variant}_mpnet_adapted_top6_context", [*context, *ABLATIONS[variant]])
    return table


def command(name: str, spec: dict, seed: int) -> list[str]:
    return [sys.executable, "train.py", *spec["args"], "--seed", str(seed), "--output-dir", f"runs/{name}/seed{seed}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="", help="run the experiments whose name matches this regular expression")
    parser.add_argument("--seeds", help="comma-separated seeds (default: each experiment's own, 0,1,2 for results rows)")
    parser.add_argument("--list", action="store_true")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else None
    for name, spec in experiments().items():
        if not re.search(args.only, name):
            continue
        for seed in seeds or spec["seeds"]:
            kept = ROOT / "results" / "runs" / name / f"seed{seed}.json"
            cmd = command(name, spec, seed)
            if args.list:
                print(shlex.join(cmd[1:]))
                continue
            if kept.exists():
                continue
            print(f"== {name} seed {seed}: {shlex.join(cmd[1:])}", flush=True)
            resume = ["--resume"] if (ROOT / f"runs/{name}/seed{seed}/checkpoints").exists() else []
            if subprocess.run(cmd + resume, cwd=ROOT).returncode != 0:
                print(f"!! {name} seed {seed} failed", flush=True)
                continue
            kept.parent.mkdir(parents=True, exist_ok=True)
            temporary = kept.with_suffix(".tmp")
            shutil.copyfile(ROOT / f"runs/{name}/seed{seed}/results.json", temporary)
            temporary.replace(kept)


if __name__ == "__main__":
    main()
