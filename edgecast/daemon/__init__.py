"""The forecasting daemon (`edgecast run`): one module per concern.

    settings    how a key is declared once (default, doc, live/restart, check) and shown
    topics      what a topic, template or id may hold
    config      the TOML file, as typed and validated sections; [[stations]] -> one Config each
    adapters/   firmware payloads (native, ESPHome, Tasmota, rtl_433) -> readings, units;
                each adapter registers itself with its own [input] keys
    admission   a message's way in: adapter result -> reading rules -> event clock -> one Verdict
    plausibility  a value no weather makes after the channel's last accepted one (a glitch)
    ordering    the event clock: duplicates, out-of-order, steps ahead held until confirmed
    hourly      event-time hourly resampler and the 120-hour buffer (gap policy)
    state       the buffer on disk, written atomically after every completed hour
    forecast    model or naive: the decision and the payload
    skill       each forecast scored against the box's own reading 24 h later; the guard
                that serves naive while the model loses
    correction  the on-box correction: an online linear fit of the model's residual per horizon
    calibration the 10–90 % band around each hour, kept calibrated by the verified forecasts
    frost_alert the frost warning's state on the alert topic, carried across restarts
    silence     how long the sensor has not been heard (stale), and whether anything arrives
    mqtt_link   the paho-mqtt client: session, availability, TLS, reconnects
    netloop     one network thread for every station's client (paho's external loop), its timers
    broker_watch  what the broker refuses (connects, publishes, subscriptions), made visible
    outbox      forecasts not yet acknowledged, saved with the buffer (at-least-once)
    homeassistant  MQTT discovery of the forecast entities
    jsontext    every published JSON through one writer: strict JSON, never bare NaN
    notify      the systemd notify protocol, written straight to $NOTIFY_SOCKET
    logs        per-station log tagging, rate-limited warnings, the last problem for stats
    station     one station's pipeline over its collaborators (given), its stats
    wiring      builds a station's real collaborators from its Config
    service     the process: its stations, signals, watchdog, periodic stats, reload
    cli         the `run`, `config check|print`, `discovery remove`, `replay` and `watch` commands

Below the daemon, shared with the rest of edgecast: edgecast.readings (the reading
payload contract: one payload -> a validated Reading or a counted rejection, also read
by `edgecast replay`/`watch`), edgecast.physics (the channels derived from p, T, rh),
edgecast.schema. Nothing in edgecast/ outside this package imports it, except the CLI
(tests/test_imports.py).

Nothing here imports TensorFlow; the model runs in a TFLite interpreter
(edgecast.forecaster), loaded only when the daemon starts.
"""
