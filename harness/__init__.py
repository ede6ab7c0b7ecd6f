"""Real parts shared by the tests and the benchmarks (never installed on a box).

    processes   a mosquitto broker on a free port, `edgecast run` as a subprocess,
                `edgecast replay`, a paho subscriber
    offline     a link that never connects: a Station's publishes recorded in-process

Neither tests/ nor benchmarks/ owns these: both import them, and neither imports the
other. The wheel installs only edgecast/ (pyproject.toml), so nothing here reaches a box.
"""
