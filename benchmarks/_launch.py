"""`edgecast` as the benchmarks start it: the real CLI, optionally on a forced runtime.

EDGECAST_BENCH_RUNTIME=tensorflow makes the daemon's ``auto`` runtime resolve to
``tf.lite`` from full TensorFlow — the same daemon loop a user would get without a slim
runtime. The product's configuration keeps refusing ``tensorflow`` (the device side never
imports it); only this benchmark launcher swaps it in.
"""

import os
import sys

if __name__ == "__main__":
    forced = os.environ.get("EDGECAST_BENCH_RUNTIME")
    if forced:
        import edgecast.runtime
        edgecast.runtime.PREFERENCE = (forced,)
    from edgecast.cli import main
    sys.argv[0] = "edgecast"
    main()
