"""One benchmark, old commit against the working tree, in the same run: "not slower beyond noise", printed.

    .venv/bin/python bench/compare.py --old COMMIT [--rounds 2] --figure cityops_worker.readings_per_s \
        -- bench_sensors.py --runs 3

The old commit's tree is extracted with ``git archive`` (nothing is checked out). Each round runs the old
tree's copy of the script, then the new one's, with the same interpreter and arguments and the version's tree
as working directory, so the machine's noise falls on both alike. Each script prints one JSON object (the
last one in its output is read, on one line or indented); the figures named by ``--figure`` (dotted paths
into that object) are listed per run with their medians per version and the ratio new / old. Prints one
JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def extract(commit: str, dest: Path) -> str:
    """The commit's tree under ``dest``; returns the full commit id."""
    full = subprocess.run(["git", "rev-parse", commit], cwd=REPO_ROOT, check=True, capture_output=True,
                          text=True).stdout.strip()
    archive = subprocess.run(["git", "archive", full], cwd=REPO_ROOT, check=True, capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    return full


def figure(result: dict, path: str) -> float | None:
    """``a.b.c`` of a benchmark's JSON; None when absent or not a number."""
    value: object = result
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def run_script(tree: Path, script: str, args: list[str]) -> dict:
    """Run ``tree/bench/script`` and return the JSON object it printed last."""
    out = subprocess.run([sys.executable, str(tree / "bench" / script), *args], cwd=tree, check=True,
                         capture_output=True, text=True).stdout
    starts = [i for i, line in enumerate(out.splitlines(keepends=True)) if line.startswith("{")]
    lines = out.splitlines(keepends=True)
    for i in reversed(starts):  # the last object, on one line or indented over many
        try:
            return json.loads("".join(lines[i:]))
        except json.JSONDecodeError:
            continue
    raise RuntimeError(f"{script} in {tree} printed no JSON object")


def summary(runs: dict[str, list[dict]], figures: list[str]) -> dict[str, dict[str, object]]:
    """Per figure: every run's value and the median per version, and new / old."""
    out: dict[str, dict[str, object]] = {}
    for path in figures:
        values = {v: [figure(r, path) for r in rs] for v, rs in runs.items()}
        medians = {v: statistics.median(x for x in vs if x is not None) if any(x is not None for x in vs) else None
                   for v, vs in values.items()}
        ratio = medians["new"] / medians["old"] if medians.get("old") and medians.get("new") is not None else None
        out[path] = {"runs": values, "median": medians, "new_over_old": None if ratio is None else round(ratio, 3)}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    p.add_argument("--old", required=True, help="the old commit")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--figure", action="append", default=[], help="dotted path of a figure to compare (repeat)")
    p.add_argument("script", help="the benchmark's file name under bench/")
    p.add_argument("args", nargs=argparse.REMAINDER, help="its arguments (after --)")
    a = p.parse_args(argv)
    script_args = a.args[1:] if a.args[:1] == ["--"] else a.args
    # Beside the repository, so that the old tree finds ../shared (the datasets) as the new one does.
    with tempfile.TemporaryDirectory(prefix="cityops-bench-old-", dir=REPO_ROOT.parent) as tmp:
        old_tree = Path(tmp)
        full = extract(a.old, old_tree)
        runs: dict[str, list[dict]] = {"old": [], "new": []}
        for _ in range(a.rounds):
            runs["old"].append(run_script(old_tree, a.script, script_args))
            runs["new"].append(run_script(REPO_ROOT, a.script, script_args))
    print(json.dumps({"benchmark": a.script, "args": script_args, "old": full, "new": "working tree",
                      "figures": summary(runs, a.figure), "runs": runs}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
