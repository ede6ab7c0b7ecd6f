"""Training side of edgecast (needs the ``[train]`` extra: TensorFlow, statsmodels, matplotlib).

Read it top to bottom, like the keras-io weather-forecasting example — one model from
CSV to MAE, then to the bundle a box runs:

1. data      ``edgecast.data.load`` reads the Jena file(s); ``edgecast.data.clean.repair``
             fixes sentinel/impossible values (targets stay raw).
2. windows   ``training.dataset.prepare`` computes the schema's feature columns, fits the
             normalisation on the train part only and feeds Keras the reference-protocol
             windows (``edgecast.protocol``) batch by batch.
3. baseline  ``edgecast.protocol.Layout.naive`` (temperature now) and ``training.arima``
             (a seasonal ARIMA fitted once, then Kalman-filtered forward); the peers a
             user would try instead, ``training.peers`` (ridge, LightGBM).
4. model     ``training.models.MODELS``: the seed material's table plus the compact
             residual LSTM/GRU we ship; every model outputs °C. ``training.kinds``
             lists every kind (naive, ARIMA, the peers, each Keras recipe) with how it
             is fitted, scored and described and whether it is exported.
5. evaluate  ``training.train.train`` fits, checkpoints the best validation epoch and
             scores it with ``edgecast.protocol.evaluate`` beside naive;
             ``training.scripts.benchmark_models`` runs the whole table into BENCHMARKS.md.
6. export    ``training.export.export`` converts a trained Keras model to a self-describing
             TFLite bundle, checks it against Keras and measures its MAE through the
             device runtime.

The runnable studies behind BENCHMARKS.md and docs/ are ``training.scripts``; frozen
research, kept as it ran, is ``training/experiments``.

Nothing under ``edgecast/`` imports this package at module level: the device never
loads TensorFlow. Importing ``training`` or ``training.models`` is itself TF-free;
TensorFlow is imported when a model is built or trained.
"""
