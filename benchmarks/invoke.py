"""One forecast's compute: interpreter invoke time per runtime beside the compute floor.

    python -m benchmarks.invoke [--bundle edgecast/models/default.tflite ...] [--repeats 5]

For each bundle and runtime (LiteRT and tf.lite here, tflite-runtime in the interpreter
named by --tflite-python): the median over ``--repeats`` runs of the median of 2,000
``invoke()`` calls alone, and of a whole ``Runner.predict_one`` (reset the LSTM state,
set the input, invoke, read the output). The floor: multiply-adds per forecast counted
from the graph's own ops (FULLY_CONNECTED, UNIDIRECTIONAL_SEQUENCE_LSTM, LSTM loop
bodies are not counted: use the fused or unrolled form), and the time they would take at
the float32 multiply-add rate numpy's GEMM reaches on one core of this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # the floor is per core: one GEMM thread
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "edgecast" / "models" / "default.tflite"


def count_macs(interpreter) -> dict:
    """Multiply-adds of the matrix ops in the graph (batch 1)."""
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    shape = lambda i: tuple(int(d) for d in tensors[i]["shape"])  # noqa: E731
    macs, by_op, unknown = 0, {}, set()
    for op in interpreter._get_ops_details():
        name, ins, outs = op["op_name"], [i for i in op["inputs"] if i >= 0], op["outputs"]
        if name == "FULLY_CONNECTED":
            units, depth = shape(ins[1])
            rows = int(np.prod(shape(outs[0]))) // units
            n = rows * units * depth
        elif name == "UNIDIRECTIONAL_SEQUENCE_LSTM":
            batch, steps, depth = shape(ins[0])
            units = shape(ins[1])[0]  # input-to-input weights (units, depth)
            n = batch * steps * 4 * units * (depth + units)
        elif name in ("CONV_2D", "DEPTHWISE_CONV_2D", "BATCH_MATMUL", "WHILE", "GRU", "SVDF"):
            unknown.add(name)
            continue
        else:
            continue  # element-wise and data movement: not multiply-adds
        macs += n
        by_op[name] = by_op.get(name, 0) + n
    return {"macs": macs, "by_op": by_op, "not_counted": sorted(unknown)}


def gemm_rate(repeats: int) -> float:
    """float32 multiply-adds per second of a single-threaded numpy GEMM (256x256), best of runs."""
    a = np.random.default_rng(0).standard_normal((256, 256)).astype(np.float32)
    best = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(50):
            a @ a
        best.append(50 * 256 ** 3 / (time.perf_counter() - t0))
    return max(best)  # the floor: the best rate this core reached


def measure(bundle: str, runtime: str, repeats: int, calls: int = 2000) -> dict:
    from edgecast.bundle import read_bundle
    from edgecast.runtime import Runner
    b = read_bundle(Path(bundle))
    runner = Runner(b.model_bytes, runtime, quantiles=b.quantiles)
    it = runner._interpreter
    window = np.random.default_rng(0).standard_normal(runner.input_shape).astype(np.float32)
    invoke_runs, predict_runs = [], []
    for _ in range(repeats):
        for _ in range(100):
            runner.predict_one(window)
        ts = np.empty(calls)
        for i in range(calls):
            t0 = time.perf_counter()
            it.invoke()
            ts[i] = time.perf_counter() - t0
        invoke_runs.append(float(np.median(ts)))
        for i in range(calls):
            t0 = time.perf_counter()
            runner.predict_one(window)
            ts[i] = time.perf_counter() - t0
        predict_runs.append(float(np.median(ts)))
    return {"bundle": Path(bundle).name, "runtime": f"{runner.runtime} {runner.version}",
            "invoke_us": statistics.median(invoke_runs) * 1e6, "predict_us": statistics.median(predict_runs) * 1e6,
            **count_macs(it)}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bundle", action="append", default=None)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--runtime", action="append", default=None, help="litert, tensorflow (this interpreter)")
    p.add_argument("--tflite-python", default=os.environ.get("EDGECAST_TFLITE_PYTHON")
                   or (str(ROOT / ".venv-tflite/bin/python") if (ROOT / ".venv-tflite/bin/python").exists() else None))
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    bundles = args.bundle or [str(DEFAULT)]
    if args.child:  # one measurement in this interpreter, as JSON
        print(json.dumps(measure(bundles[0], args.runtime[0], args.repeats)))
        return
    rate = gemm_rate(args.repeats)
    print(f"float32 GEMM on one core: {rate / 1e9:.2f} G multiply-adds/s (numpy, 256x256, best of {args.repeats})")
    for bundle in bundles:
        jobs = [(sys.executable, r) for r in (args.runtime or ["litert", "tensorflow"])]
        if args.tflite_python and not args.runtime:
            jobs.insert(1, (args.tflite_python, "tflite-runtime"))
        for python, runtime in jobs:
            # a fresh process each: no runtime shares a process with another
            out = subprocess.run([python, "-m", "benchmarks.invoke", "--child", "--bundle", bundle,
                                  "--runtime", runtime, "--repeats", str(args.repeats)],
                                 capture_output=True, text=True, cwd=ROOT,
                                 env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
            if out.returncode:
                print(f"{runtime}: failed: {out.stderr.strip().splitlines()[-1:]}")
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            floor_us = r["macs"] / rate * 1e6
            floor = (f"{r['macs']:,} multiply-adds {r['by_op']} -> floor {floor_us:.2f} µs at the GEMM rate; "
                     f"invoke is {r['invoke_us'] / floor_us:.0f}x the floor") if not r["not_counted"] else \
                (f"floor not computed: the multiply-adds inside {', '.join(r['not_counted'])} are not counted "
                 "(same arithmetic as the fused form)")
            print(f"{r['bundle']} {r['runtime']:22s} invoke {r['invoke_us']:6.1f} µs  predict_one "
                  f"{r['predict_us']:6.1f} µs | {floor}", flush=True)


if __name__ == "__main__":
    main()
