"""The forecasting daemon (`edgecast run`): one module per concern.

    config      the TOML file, as typed and validated sections
    readings    one MQTT payload -> a validated Reading, or a counted rejection
    physics     derive the Jena humidity/pressure channels from p, T and rh
    ordering    event-time admission: duplicates, out-of-order, far-future jumps
    hourly      event-time hourly resampler and the 120-hour buffer (gap policy)
    state       the buffer on disk, written atomically after every completed hour
    forecast    model or naive: the decision and the payload
    mqtt_link   the paho-mqtt client: session, availability, TLS, reconnects
    notify      the systemd notify protocol, written straight to $NOTIFY_SOCKET
    service     the process: wires the above together, signals, stats
    cli         the `run`, `replay` and `watch` commands

Nothing here imports TensorFlow; the model runs in a TFLite interpreter
(edgecast.forecaster), loaded only when the daemon starts.
"""
