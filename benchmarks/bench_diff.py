"""Identity-aware diff vs naive DeepDiff on a big datapackage with a handful of real changes.

Run: python benchmarks/bench_diff.py [--resources N] [--full] [--repeat R]

Prints one table: time per diff (median of R runs) and how many changes each
approach reports, next to the number of real changes.
"""

from __future__ import annotations

import argparse
import copy
import random
import statistics
import time

from deepdiff import DeepDiff

from bot.catalog.diff import diff_documents


def make_datapackage(n: int) -> dict:
    """A datapackage with ``n`` resources, each with a small inline table schema."""
    return {
        "name": "big-dataset",
        "id": "https://example.org/datasets/big-dataset",
        "title": "A big dataset",
        "keywords": ["ocean", "reef", "temperature", "in situ"],
        "contributors": [{"title": "Lab", "role": "publisher"}, {"title": "A. Diver", "role": "author"}],
        "licenses": [{"name": "CC-BY-4.0", "path": "https://creativecommons.org/licenses/by/4.0/"}],
        "resources": [
            {
                "name": f"part-{i:05d}",
                "path": f"data/part-{i:05d}.parquet",
                "format": "parquet",
                "mediatype": "application/vnd.apache.parquet",
                "bytes": 1000 + i,
                "schema": {"fields": [{"name": "time", "type": "datetime"}, {"name": "value", "type": "number"}]},
            }
            for i in range(n)
        ],
    }


def mutate(doc: dict) -> tuple[dict, int]:
    """Six real changes (one is an insertion near the front, which shifts every later index)."""
    new = copy.deepcopy(doc)
    res = new["resources"]
    res.insert(3, {"name": "inserted", "path": "data/inserted.parquet", "format": "parquet"})
    del res[len(res) // 2]
    res[len(res) * 3 // 4]["bytes"] += 1
    new["title"] = "A bigger dataset"
    new["keywords"].append("coral")
    new["contributors"][1]["role"] = "editor"
    return new, 6


def timed(fn, repeat: int) -> tuple[float, object]:
    times = []
    result = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--resources", type=int, default=500)
    parser.add_argument("--full", action="store_true", help="5,000 resources")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    n = 5000 if args.full else args.resources
    random.seed(0)
    old = make_datapackage(n)
    new, real = mutate(old)

    t_naive, naive = timed(lambda: DeepDiff(old, new), args.repeat)
    naive_count = sum(len(v) if hasattr(v, "__len__") else 1 for v in naive.values())  # type: ignore[union-attr]
    t_ours, ours = timed(lambda: diff_documents(old, new, "datapackage"), args.repeat)
    ours_count = len(ours.lines())  # type: ignore[union-attr]
    t_same, _ = timed(lambda: diff_documents(old, copy.deepcopy(old), "datapackage"), args.repeat)

    print(f"datapackage with {n} resources, {real} real changes, median of {args.repeat} runs")
    print(f"{'approach':<34}{'time (ms)':>12}{'reported changes':>20}")
    print(f"{'naive DeepDiff(old, new)':<34}{t_naive * 1000:>12.1f}{naive_count:>20}")
    print(f"{'identity-aware diff_documents':<34}{t_ours * 1000:>12.1f}{ours_count:>20}")
    print(f"{'identical docs (incl. deepcopy)':<34}{t_same * 1000:>12.1f}{0:>20}")
    print(f"speed-up: {t_naive / t_ours:.0f}x; exact: {ours_count == real}")
    for line in ours.lines():  # type: ignore[union-attr]
        print("  " + line)


if __name__ == "__main__":
    main()
