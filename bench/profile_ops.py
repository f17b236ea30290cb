#!/usr/bin/python3
"""Sums autograd-profiler Chrome traces per op and prints them side by side: where a
training step's time goes in wmark's loop (bench_train with WMARK_PROFILE=...) and in
the Python twin (train_python.py --profile=...).

Times are inclusive (an op's time contains the ops it calls, so aten::conv2d contains
aten::convolution and its kernel), in ms per training step.
Usage: profile_ops.py STEPS TRACE_A [TRACE_B] [--top=30]"""
import json
import sys
from collections import defaultdict


def per_op(path, steps):
    with open(path) as f:
        trace = json.load(f)
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    total = defaultdict(float)
    calls = defaultdict(int)
    for event in events:
        if event.get("ph") == "X" and "dur" in event:
            total[event["name"]] += event["dur"] / 1000.0 / steps
            calls[event["name"]] += 1
    return total, calls


def main():
    top = 30
    args = []
    for a in sys.argv[1:]:
        if a.startswith("--top="):
            top = int(a[6:])
        else:
            args.append(a)
    if len(args) < 2:
        sys.exit(__doc__)
    steps = float(args[0])
    traces = [per_op(p, steps) for p in args[1:]]
    names = set()
    for total, _ in traces:
        names |= set(total)
    ranked = sorted(names, key=lambda n: -max(t[0].get(n, 0.0) for t in traces))[:top]
    header = "op".ljust(48) + "".join(f"{p[-28:]:>30}" for p in args[1:])
    print(header)
    for name in ranked:
        cells = "".join(f"{t[0].get(name, 0.0):>20.3f} ms ({t[1].get(name, 0) / steps:4.1f}x)" for t in traces)
        print(name[:48].ljust(48) + cells)


if __name__ == "__main__":
    main()
