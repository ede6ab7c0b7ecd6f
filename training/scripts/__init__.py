"""Runnable studies of the training side: each module is a command (``python -m
training.scripts.NAME --help``) that trains, exports or reads trained models and writes a
table of BENCHMARKS.md or a figure of docs/. Nothing in the library (``training.*``) or the
device package imports them.

- ``benchmark_models``    every kind of the model table on one protocol -> BENCHMARKS.md
- ``station_references``  naive, pooled LightGBM and own-year ridge per station (stations protocol)
- ``choose_blend``        how the +24 h model's correction is phased into a curve (export.BLEND_HOURS)
- ``frost``               frost-warning scores of a next-day curve
- ``plot_forecast``       three weeks of a bundle's forecasts against the measured temperature
- ``plot_horizons``       MAE by horizon +1 … +24 h of naive, curve models and bundles

Costs (time, memory, size) are measured by ``benchmarks/`` instead (e.g. ``benchmarks.export``
for the graph forms); frozen research that is no longer run is ``training/experiments/``.
"""
