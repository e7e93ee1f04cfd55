"""Sync-TVA against the research code it competes with, GraphSmile and M3Net, in one window on this machine: the
same MELD-shaped inputs (MELD's dialogue lengths and speakers, T+A+V at their feature sizes 1024/300/342, batch 16).

    python bench/against_research_code.py --quick   # about 8 minutes (of which torch.compile about 5)
    python bench/against_research_code.py           # about 15 minutes: full epochs, all 280 test dialogues

The research code runs in its own harness, ../shared/anchors (its README says how to build it; `--anchors-root` or
$ANCHORS_ROOT is where it was built). This script only runs the harness and reads its JSON: none of that code is
imported here. In the same window it runs, in this order: `bench.py --sections paper` (Sync-TVA, eager and compiled),
the harness's training and batch-1 runs of both systems, GraphSmile's 2,000-utterance dialogue (M3Net cannot run
one: its fixed-size weights cap a dialogue at 997 utterances), and `bench.py --sections paper --no-compile` again.
Every ratio divides the research code's figure by the mean of the two Sync-TVA runs (the compiled latency by the one
compiled run), so drift of the machine's speed during the window weighs on both sides. The raw results of every run
are kept in the output JSON.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The same OpenMP wait policy for both sides: bench.py's (see there), inherited by the harness's workers.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from modeling_synctva.atomic_files import atomic_write_json  # noqa: E402


HERE = Path(__file__).resolve().parent


def run(command: list[str], **kwargs) -> None:
    print("$", " ".join(command), flush=True)
    subprocess.run(command, check=True, **kwargs)


def ours(args, out: Path, compile_: bool) -> dict:
    """One `bench.py --sections paper` run in a fresh process."""
    command = [sys.executable, str(HERE / "bench.py"), "--sections", "paper", "--threads", "2", "--json", str(out)]
    command += ["--quick"] * args.quick + ["--no-compile"] * (not compile_)
    command += ["--data-dir", args.data_dir] if args.data_dir else []
    run(command)
    return json.loads(out.read_text())


def anchors(args, root: Path, out: Path, extra: list[str]) -> dict:
    """One run of the research code's harness with its own venv."""
    harness = Path(args.anchors_harness)
    command = [str(root / "venv" / "bin" / "python"), str(harness / "run_anchors.py"), "--root", str(root), "--out", str(out)]
    run(command + ["--quick"] * args.quick + extra)
    return json.loads(out.read_text())


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the harness's quick subsets (64 training, 60 test dialogues)")
    parser.add_argument("--anchors-root", default=os.environ.get("ANCHORS_ROOT", str(Path(tempfile.gettempdir()) / "anchors")),
                        help="where ../shared/anchors/setup.sh built the research code and its venv")
    parser.add_argument("--anchors-harness", default=str(HERE.parents[1] / "shared" / "anchors"),
                        help="the folder of run_anchors.py")
    parser.add_argument("--data-dir", help="folder holding meld/ (default: the loader's default)")
    parser.add_argument("--json", help="output (default bench/results/against_research_code[_quick].json)")
    args = parser.parse_args(argv)
    root = Path(args.anchors_root)
    if not (root / "venv" / "bin" / "python").exists():
        raise SystemExit(
            f"no research-code harness in {root}: build it first with ../shared/anchors/setup.sh (see its README), "
            "or pass --anchors-root"
        )
    output = Path(args.json or HERE / "results" / f"against_research_code{'_quick' * args.quick}.json")
    scratch = Path(tempfile.mkdtemp(prefix="against_research_code_"))
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    first = ours(args, scratch / "ours1.json", compile_=True)
    research = anchors(args, root, scratch / "anchors.json", ["--no-long", "--no-1thread"])
    long_run = anchors(
        args, root, scratch / "anchors_long.json", ["--systems", "graphsmile", "--long-sizes", "2000", "--no-1thread"]
    )
    second = ours(args, scratch / "ours2.json", compile_=False)

    def mean_of_ours(key: str) -> float:
        return statistics.mean(side[key] for side in (first, second))

    ratios = {}
    for system in ("graphsmile", "m3net"):
        train, infer = research[system]["train"]["threads2"], research[system]["infer"]["threads2"]
        ratios[f"train_epoch_{system}_over_synctva"] = train["epoch_median_s"] / mean_of_ours("paper_epoch_s")
        ratios[f"infer_p50_{system}_over_synctva"] = infer["p50_ms"] / mean_of_ours("paper_infer_p50_ms")
        if "paper_infer_p50_ms_compiled" in first:
            ratios[f"infer_p50_{system}_over_synctva_compiled"] = infer["p50_ms"] / first["paper_infer_p50_ms_compiled"]
    graphsmile_long = long_run["graphsmile"]["long"].get("2000", {})
    if graphsmile_long.get("ok") and "paper_forward_s_2000" in first:
        ratios["forward_2000_graphsmile_over_synctva"] = graphsmile_long["forward_s"] / mean_of_ours("paper_forward_s_2000")
        ratios["peak_mem_2000_graphsmile_over_synctva"] = graphsmile_long["peak_rss_mib"] / mean_of_ours("paper_peak_mem_mib_2000")
    result = {
        "mode": "quick" if args.quick else "full", "started": started, "ended": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(unset)"), "ratios": ratios,
        "synctva": [first, second], "research_code": research, "research_code_long": long_run,
    }
    atomic_write_json(output, result)
    print(json.dumps(ratios, indent=1))
    print(f"wrote {output}")
    return result


if __name__ == "__main__":
    main()
