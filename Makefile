# Set-up and the two everyday commands. Every target installs what it needs first,
# so on a fresh clone `make demo` or `make test` is all there is to type.
PYTHON ?= python3
VENV   := .venv
LEGACY := .venv-tflite
APT_PACKAGES := mosquitto mosquitto-clients openssl faketime
DATA ?= ../shared/data/weather.csv.xz

.PHONY: setup system test demo clean default-model band-model jena-model protocol-figures curve-figures station-figures

setup: system $(VENV)/.installed $(LEGACY)/.installed build/aedes/.installed

# The broker the tests and the demo start on a loopback port (not as a service);
# faketime for the clock-fault tests (the daemon with its wall clock far off).
system:
	@command -v mosquitto >/dev/null 2>&1 && command -v openssl >/dev/null 2>&1 && \
	  command -v faketime >/dev/null 2>&1 || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES); }

# A broker that knows only MQTT 3.1.1 (aedes, on Node), for the test of the daemon's
# fallback from MQTT 5; mosquitto 2.0 accepts 5 on every listener.
build/aedes/.installed:
	npm install --silent --no-save --prefix build/aedes aedes@1
	touch $@

# Workstation + LiteRT environment: training (with the LightGBM peer), export, the daemon and the tests.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[device,train,peers,test]'
	@# training/ is not in the wheel (a box never gets it): the checkout itself goes on the path
	echo "$(CURDIR)" > "$$($(VENV)/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')/edgecast-checkout.pth"
	touch $@

# The older-board runtime: tflite-runtime 2.14 needs NumPy < 2, so it gets its own venv.
$(LEGACY)/.installed: pyproject.toml
	$(PYTHON) -m venv $(LEGACY)
	$(LEGACY)/bin/pip install -q --upgrade pip
	$(LEGACY)/bin/pip install -q -e '.[device-legacy,test]'
	touch $@

test: setup
	EDGECAST_TFLITE_PYTHON=$(CURDIR)/$(LEGACY)/bin/python $(VENV)/bin/python -m pytest

clean:
	rm -rf $(VENV) $(LEGACY) build *.egg-info

# The main job, end to end in about a minute: broker, daemon, real-data replay, forecasts.
# Data: $(DATA), else the official Keras file (`edgecast data fetch`, downloaded once).
demo: setup
	$(VENV)/bin/edgecast demo --data "$$(test -f $(DATA) && echo $(DATA) || $(VENV)/bin/edgecast data fetch | tail -1 | sed 's/.*--data //')"

# How the bundled models were made. default and bme280: the any-roof recipes
# (training/models.py `_anyroof`, site-free inputs) on the stations protocol (edgecast/places.py:
# trained on the train places, epochs chosen on the validation places, the test places never
# seen), exported with the fused LSTM op. Each bundle is one graph of two models: the hourly
# curve +1 … +23 h from *_curve, +24 h from the dedicated model. ~25 minutes here.
# jena: the Jena-only recipe (compact_lstm on every Jena year, `--protocol final`), the best
# bundle for a box at the Jena station itself (`[model] path = "jena"`). ~7 minutes.
YEARS := $(foreach f,jena_climate_2009_2016_hourly mpi_roof_2017b weather mpi_roof_2021_hourly mpi_roof_2022_hourly,--data $(dir $(DATA))$(f).csv.xz)
PLACES := --protocol stations --data $(dir $(DATA)) --seed 0
default-model: $(VENV)/.installed
	for k in compact_lstm_anyroof compact_lstm_anyroof_bme280; do \
	  $(VENV)/bin/edgecast train $$k $(PLACES) --out runs/stations/$$k && \
	  $(VENV)/bin/edgecast train $${k}_curve $(PLACES) --out runs/stations/$${k}_curve || exit 1; \
	done
	$(VENV)/bin/edgecast export runs/stations/compact_lstm_anyroof --curve runs/stations/compact_lstm_anyroof_curve \
	  --fused -o edgecast/models/default.tflite
	$(VENV)/bin/edgecast export runs/stations/compact_lstm_anyroof_bme280 \
	  --curve runs/stations/compact_lstm_anyroof_bme280_curve --fused -o edgecast/models/bme280.tflite

# The curve and its 10/50/90 % quantiles from ONE network (compact_lstm_anyroof_band, two
# members, median ∓ softplus gaps), on the stations protocol, beside the shipped default on
# the validation parts (BENCHMARKS.md, "One graph for the curve and its band"). ~15 minutes.
band-model: $(VENV)/.installed
	$(VENV)/bin/edgecast train compact_lstm_anyroof_band $(PLACES) --out runs/stations/compact_lstm_anyroof_band
	$(VENV)/bin/edgecast export runs/stations/compact_lstm_anyroof_band --fused -o runs/stations/band.tflite
	$(VENV)/bin/python -m benchmarks.invoke --bundle edgecast/models/default.tflite --bundle runs/stations/band.tflite \
	  --runtime litert --repeats 9
	$(VENV)/bin/python -m training.scripts.band_graph --data $(dir $(DATA)) \
	  --bundle edgecast/models/default.tflite --bundle runs/stations/band.tflite

jena-model: $(VENV)/.installed
	$(VENV)/bin/edgecast train compact_lstm $(YEARS) --protocol final --out runs/final_compact_lstm --seed 0
	$(VENV)/bin/edgecast train compact_lstm_curve $(YEARS) --protocol final --out runs/final_compact_lstm_curve --seed 0
	$(VENV)/bin/edgecast export runs/final_compact_lstm --curve runs/final_compact_lstm_curve --fused \
	  -o edgecast/models/jena.tflite

# The same recipes (and the curve) on the protocols' held-out parts: their rows of the
# years and seed tables in BENCHMARKS.md, models in runs/{years,seed}/KIND. ~15 minutes.
COMPACT := compact_lstm,compact_lstm_bme280,compact_lstm_curve,compact_lstm_bme280_curve
protocol-figures: $(VENV)/.installed
	$(VENV)/bin/python -m training.scripts.benchmark_models --protocol years $(YEARS) --only $(COMPACT) --out-root runs
	$(VENV)/bin/python -m training.scripts.benchmark_models --protocol seed --only $(COMPACT) --out-root runs \
	  --data $(dir $(DATA))jena_climate_2009_2016_hourly.csv.xz

# The shipped pairing (a +24 h model with its curve, `export --curve`) on both protocols'
# test parts, per horizon: BENCHMARKS.md "The next day" and docs/curve_by_horizon.png.
# Needs the models of protocol-figures. ~6 minutes.
curve-figures: $(VENV)/.installed
	for k in compact_lstm compact_lstm_bme280; do \
	  $(VENV)/bin/edgecast export runs/years/$$k --curve runs/years/$${k}_curve --fused \
	    -o runs/years/$${k}_with_curve.tflite && \
	  $(VENV)/bin/edgecast export runs/seed/$$k --curve runs/seed/$${k}_curve --fused \
	    -o runs/seed/$${k}_with_curve.tflite || exit 1; \
	done
	$(VENV)/bin/python -m training.scripts.plot_horizons --bundle runs/years/compact_lstm_with_curve.tflite \
	  --bundle runs/seed/compact_lstm_with_curve.tflite --out docs/curve_by_horizon.png

# Away from Jena: every station replayed through a real `edgecast run` from an empty state
# (default config + the station's location), the reference models per station, and the
# table and plot of BENCHMARKS.md "Away from Jena". ~40 minutes here.
station-figures: $(VENV)/.installed
	$(VENV)/bin/python -m training.scripts.station_references --data $(dir $(DATA)) --out runs/station_references.json
	$(VENV)/bin/python -m benchmarks.stations_daemon --data-dir $(dir $(DATA)) --jobs 2 \
	  --out runs/stations_daemon.json --plot docs/stations_daemon.png
