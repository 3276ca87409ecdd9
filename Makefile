# factory-ai: set-up, demo, tests and benchmarks on a fresh machine.
#   make demo    create .venv, install, train the demo models on sample data, inspect and forecast with them
#   make test    create .venv, install, start what the tests need, run the whole suite
# Everything installs into .venv; system packages (PostgreSQL, Mosquitto, Chromium) come from apt when
# the machine allows it, and the tests that need them skip with a reason where it does not.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip install --disable-pip-version-check --quiet
# torch 2.13.0's CPU build: pinned so pip takes the local wheel instead of a multi-GB CUDA build.
TORCH  := torch==2.13.0
DEMO   := var/demo
# The forecast demo: hourly pump data, failures and maintenance from events.csv, regimes by load.
FLEET_ARGS := --data sample_data/fleet/readings.csv --events sample_data/fleet/events.csv --time-column timestamp \
	--setting load --horizon 48 --rul-cap 150 --window 24 --width 16 --folds 3 --epochs 15 \
	--gbm-max-iter 150 --gbm-leaves 15
DEMO_ENV := FACTORY_AI_STORE__URL=sqlite:///$(CURDIR)/$(DEMO)/factory.db FACTORY_AI_MODELS__DIR=$(CURDIR)/$(DEMO)/models
# The forecast retrain reads a store of past readings (timestamps kept), apart from the daemon's live one.
HISTORY_ENV := FACTORY_AI_STORE__URL=sqlite:///$(CURDIR)/$(DEMO)/history.db FACTORY_AI_MODELS__DIR=$(CURDIR)/$(DEMO)/models
DEMO_SECONDS ?= 20
# Long enough for the scheduled retrain (about 35 s of training on 2 cores) to reach its decision.
RETRAIN_SECONDS ?= 90
# Two cores in CI: say so explicitly, or torch and onnxruntime oversubscribe and crawl.
THREADS ?= $(shell nproc 2>/dev/null || echo 2)
CONSOLE_PORT ?= 8080
CONSOLE_TOKEN ?= demo

.PHONY: help install install-runtime install-gpu system-deps demo console demo-model demo-forecast-model sample-data test lint bench screenshots clean

help:
	@echo "make demo         set up and run the demo (train on sample data, inspect)"
	@echo "make test         set up and run the test suite"
	@echo "make bench        run the benchmarks in bench/ (long)"
	@echo "make demo-model   retrain the committed demo model in models/demo-surface"
	@echo "make install-gpu  swap onnxruntime for onnxruntime-gpu in .venv"
	@echo "make console      the demo plant's daemon with its operator console on 127.0.0.1:8080 (after make demo)"
	@echo "make screenshots  the README's pictures, from what make demo wrote (headless chromium)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip

# Full development install: torch first (CPU build, pinned), then the package with every extra.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) $(TORCH) numpy
	$(PIP) -e '.[train,dev,postgres]'
	@touch $@

install: $(VENV)/.installed

# What a line-side PC gets: no torch.
install-runtime: | $(BIN)/python
	$(PIP) -e .

# onnxruntime and onnxruntime-gpu install the same module and overwrite each other: remove both,
# then install the GPU build alone, and show which providers it really has.
install-gpu: install
	$(BIN)/python -m pip uninstall --yes --quiet onnxruntime onnxruntime-gpu
	$(PIP) onnxruntime-gpu
	ORT_DISABLE_TELEMETRY=1 $(BIN)/python -c "import onnxruntime as o; print('onnxruntime providers:', o.get_available_providers())"

# PostgreSQL and Mosquitto for the tests that use real servers, Chromium for the tests that open
# pages in a real browser. Neither server is started here; the tests start private instances on
# 127.0.0.1 and stop them. Only what is missing is installed.
system-deps:
	@need=""; \
	{ command -v pg_ctl || ls /usr/lib/postgresql/*/bin/pg_ctl; } >/dev/null 2>&1 || need="$$need postgresql"; \
	{ command -v mosquitto || [ -x /usr/sbin/mosquitto ]; } >/dev/null 2>&1 || need="$$need mosquitto"; \
	{ command -v chromium || [ -x /usr/bin/chromium ]; } >/dev/null 2>&1 || need="$$need chromium"; \
	[ -n "$$need" ] || exit 0; \
	SUDO=""; [ "$$(id -u)" = 0 ] || SUDO="sudo -n"; \
	if command -v apt-get >/dev/null 2>&1; then \
		echo "installing$$need from apt"; \
		( $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$need >/dev/null ) \
		|| echo "warning: could not install$$need; the tests that need them will skip"; \
	else echo "warning: no apt-get; the tests that need$$need will skip"; fi

sample_data/images:
	$(BIN)/factory-ai sample-data images --out sample_data/images

sample_data/fleet:
	$(BIN)/factory-ai sample-data fleet --out sample_data/fleet

sample-data: install
	$(BIN)/factory-ai sample-data images --out sample_data/images
	$(BIN)/factory-ai sample-data fleet --out sample_data/fleet

demo: install sample_data/images sample_data/fleet
	@mkdir -p $(DEMO)
	@echo "== training the demo defect classifier on sample_data/images (CPU, $(THREADS) threads)"
	$(DEMO_ENV) $(BIN)/factory-ai train vision --data sample_data/images --name demo-surface \
		--image-size 96 --width 16 --epochs 12 --patience 12 --int8 --promote --threads $(THREADS)
	@echo "== inspecting the sample images with onnxruntime (no torch)"
	$(DEMO_ENV) $(BIN)/factory-ai inspect sample_data/images --heatmaps $(DEMO)/heatmaps --threads $(THREADS) > $(DEMO)/verdicts.tsv
	@echo "verdicts (path, label, confidence, verdict), first 12 of $$(wc -l < $(DEMO)/verdicts.tsv):"
	@head -n 12 $(DEMO)/verdicts.tsv
	@echo "... all verdicts in $(DEMO)/verdicts.tsv, heatmap overlays in $(DEMO)/heatmaps, results in $(DEMO)/factory.db"
	@echo "== day one for quality: an anomaly detector trained on the GOOD sample parts only, then shown parts with"
	@echo "   scratches, spots and cracks it never saw (a fresh sample set), and judged on them"
	@rm -rf $(DEMO)/unseen && $(BIN)/factory-ai sample-data images --out $(DEMO)/unseen --per-class 20 --seed 23
	$(DEMO_ENV) $(BIN)/factory-ai train anomaly --data sample_data/images/good --test $(DEMO)/unseen \
		--name demo-anomaly --epochs 20 --threads $(THREADS) --no-progress
	$(DEMO_ENV) $(BIN)/factory-ai inspect $(DEMO)/unseen/crack $(DEMO)/unseen/good --model demo-anomaly --json \
		--threads $(THREADS) --no-store > $(DEMO)/anomaly-verdicts.jsonl
	@echo "the detector on 20 cracks (a defect type it was never shown) and 20 good parts, first lines of $(DEMO)/anomaly-verdicts.jsonl:"
	@head -n 3 $(DEMO)/anomaly-verdicts.jsonl
	@echo "verdict counts: $$(grep -o '"verdict": "[a-z]*"' $(DEMO)/anomaly-verdicts.jsonl | sort | uniq -c | tr -s ' ' | tr '\n' ';')"
	@echo "== training the demo failure forecast on sample_data/fleet (12 pumps, hourly)"
	$(DEMO_ENV) $(BIN)/factory-ai train forecast $(FLEET_ARGS) --name demo-fleet --promote --threads $(THREADS) --no-progress
	@echo "== forecasting every pump from its latest 24 hours with onnxruntime (no torch)"
	$(DEMO_ENV) $(BIN)/factory-ai predict --model demo-fleet --data sample_data/fleet/readings.csv \
		--events sample_data/fleet/events.csv --time-column timestamp --threads $(THREADS)
	@echo "plots: $(DEMO)/models/demo-fleet/v*/ (rul_scatter.png, trajectories.png, reliability.png)"
	@echo "== day one for maintenance: a machine-health model of the pumps' normal operation (the first 30 % of every"
	@echo "   run, new pumps), its alarm threshold set on later normal weeks; the recorded failures only judge it"
	$(DEMO_ENV) $(BIN)/factory-ai train health --data sample_data/fleet/readings.csv \
		--events sample_data/fleet/events.csv --time-column timestamp --setting load --name demo-health \
		--threads $(THREADS) --no-progress
	@echo "== the health of every pump now (100 = as normal as when new, 50 = alarm line), and the sensors that moved"
	$(DEMO_ENV) $(BIN)/factory-ai predict --model demo-health --data sample_data/fleet/readings.csv \
		--events sample_data/fleet/events.csv --time-column timestamp --threads $(THREADS) --no-store
	@echo "plot: $(DEMO)/models/demo-health/v1/health.png (every pump's health index over time)"
	@echo "== the plant daemon for $(DEMO_SECONDS) s: connectors/sample-fleet.toml replays the pumps (10 h of data per"
	@echo "   second), connectors/sample-camera.toml watches var/camera, where 40 sample images wait"
	@rm -rf var/camera && mkdir -p var/camera
	@for c in crack good scratch spot; do ls sample_data/images/$$c/*.png | head -n 10 | xargs -I{} cp {} var/camera/; done
	$(DEMO_ENV) FACTORY_AI_DAEMON__SPOOL_DIR=$(CURDIR)/$(DEMO)/spool FACTORY_AI_RUNTIME__THREADS=$(THREADS) \
		FACTORY_AI_DAEMON__HEALTH_MODEL=demo-health \
		$(BIN)/factory-ai run --connectors connectors --duration $(DEMO_SECONDS) --forecast-model demo-fleet \
		--forecast-interval 5 --port 0
	@echo "judged images moved to var/camera/processed (or failed/); everything above is in $(DEMO)/factory.db"
	@echo "== retraining: QA has sorted 60 new parts by defect; import them as labels, then let the scheduler"
	@echo "   train a challenger (sample_data/images + the labels) and judge it against the champion on the frozen holdout"
	@rm -rf $(DEMO)/qa-sorted && $(BIN)/factory-ai sample-data images --out $(DEMO)/qa-sorted --per-class 15 --seed 11
	@printf '%s\n' '[inspect]' 'model = "demo-surface"' '[daemon]' 'images_dir = "images"' \
		'[scheduler.jobs.retrain-vision]' 'interval_seconds = 3600' '[scheduler.jobs.drift]' 'enabled = false' \
		'[scheduler.jobs.score]' 'enabled = false' '[retrain]' 'work_dir = "retrain"' '[retrain.vision]' \
		'base_data = "$(CURDIR)/sample_data/images"' 'min_new_labels = 20' 'min_holdout = 10' 'holdout_percent = 30' \
		'train_args = ["--epochs", "6", "--image-size", "96", "--width", "16", "--patience", "6", "--threads", "$(THREADS)"]' \
		> $(DEMO)/retrain.toml
	$(DEMO_ENV) $(BIN)/factory-ai --config $(DEMO)/retrain.toml review import $(DEMO)/qa-sorted
	$(DEMO_ENV) $(BIN)/factory-ai --config $(DEMO)/retrain.toml scheduler --duration $(RETRAIN_SECONDS)
	@echo "== the scheduled retrain's decision (factory-ai jobs history retrain-vision --json):"
	@$(DEMO_ENV) $(BIN)/factory-ai --config $(DEMO)/retrain.toml jobs history retrain-vision --json
	@echo "registry history: $(DEMO)/models/demo-surface/history.jsonl"
	@echo "== forecast retraining from the store: backfill the pumps' past readings (their own timestamps) and"
	@echo "   the failures and maintenance that ended their runs into $(DEMO)/history.db, then run retrain-forecast"
	@rm -f $(DEMO)/history.db
	@printf '%s\n' '[daemon]' 'forecast_model = "demo-fleet"' '[retrain]' 'work_dir = "retrain"' '[retrain.forecast]' \
		'train_args = ["--epochs", "15", "--gbm-max-iter", "150", "--gbm-leaves", "15", "--threads", "$(THREADS)"]' \
		> $(DEMO)/retrain-forecast.toml
	$(HISTORY_ENV) $(BIN)/factory-ai --config $(DEMO)/retrain-forecast.toml db import-readings \
		sample_data/fleet/readings.csv --time-column timestamp
	$(HISTORY_ENV) $(BIN)/factory-ai --config $(DEMO)/retrain-forecast.toml events import sample_data/fleet/events.csv
	$(HISTORY_ENV) $(BIN)/factory-ai --config $(DEMO)/retrain-forecast.toml jobs run retrain-forecast
	@echo "== the maintenance and quality report of the demo plant (the 8 days the daemon replayed into $(DEMO)/factory.db)"
	$(DEMO_ENV) $(BIN)/factory-ai report --since 8d --output $(DEMO)/report.html
	@echo "open $(DEMO)/report.html in a browser; factory-ai report --format pdf|md writes the other formats"
	@echo "== the operator console: make console serves it on this demo's store at http://127.0.0.1:$(CONSOLE_PORT)/"
	@echo "   (log in with the token $(CONSOLE_TOKEN) to label parts and acknowledge alerts; drop images into var/camera)"

# The demo plant's daemon with its operator console, until Ctrl-C: the camera folder only (the
# pumps' history is already in the store), on 127.0.0.1:$(CONSOLE_PORT).
console: install
	@mkdir -p var/camera
	@echo "operator console: http://127.0.0.1:$(CONSOLE_PORT)/  (token: $(CONSOLE_TOKEN); Ctrl-C stops)"
	$(DEMO_ENV) FACTORY_AI_DAEMON__SPOOL_DIR=$(CURDIR)/$(DEMO)/spool FACTORY_AI_API__TOKEN=$(CONSOLE_TOKEN) \
		FACTORY_AI_RUNTIME__THREADS=$(THREADS) $(BIN)/factory-ai run --connectors connectors/sample-camera.toml \
		--forecast-model demo-fleet --port $(CONSOLE_PORT)

# Rebuild the small model committed in models/ (the one `pip install` ships). It is trained in
# var/ and swapped in at the end: the package build needs the committed one until then.
demo-model: install sample_data/images
	rm -rf var/demo-model
	FACTORY_AI_MODELS__DIR=$(CURDIR)/var/demo-model FACTORY_AI_STORE__URL=sqlite:///$(CURDIR)/var/demo-model/factory.db \
	$(BIN)/factory-ai train vision --data sample_data/images --name demo-surface \
		--image-size 96 --width 16 --epochs 12 --patience 12 --int8 --threads $(THREADS) --no-progress
	rm -rf models/demo-surface
	mv var/demo-model/demo-surface models/demo-surface

# The small forecast model committed in models/demo-fleet.
demo-forecast-model: install sample_data/fleet
	rm -rf var/demo-forecast-model
	FACTORY_AI_MODELS__DIR=$(CURDIR)/var/demo-forecast-model FACTORY_AI_STORE__URL=sqlite:///$(CURDIR)/var/demo-forecast-model/factory.db \
	$(BIN)/factory-ai train forecast $(FLEET_ARGS) --name demo-fleet --threads $(THREADS) --no-progress
	rm -f var/demo-forecast-model/demo-fleet/v1/*.pt
	rm -rf models/demo-fleet
	mv var/demo-forecast-model/demo-fleet models/demo-fleet

test: install system-deps
	OMP_NUM_THREADS=$(THREADS) $(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check factory_ai tests bench
	$(BIN)/lint-imports

bench: install
	$(BIN)/python bench/vision_accuracy.py
	$(BIN)/python bench/inspect_speed.py
	$(BIN)/python bench/forecast_cmapss.py
	$(BIN)/python bench/forecast_ai4i.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/line_latency.py
	$(BIN)/python bench/report.py
	$(BIN)/python bench/console.py

# The README's pictures, taken in headless Chromium from what `make demo` wrote.
screenshots: install system-deps
	$(BIN)/python -m tests.browser $(DEMO)/report.html docs/report.png --height 1100
	$(BIN)/python -m tests.screenshots $(DEMO) docs

clean:
	rm -rf $(VENV) var .pytest_cache
