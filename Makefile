# tuneline: `make demo` runs the whole pipeline on the bundled sample data; `make test` checks it.
# Targets with a `##` comment are listed by `make help`.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)
export PREFECT_HOME ?= $(CURDIR)/.prefect
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export MLFLOW_DISABLE_TELEMETRY := true
export HF_HUB_OFFLINE := 1
SAMPLE := data/incoming/ridgeline_support.csv

.PHONY: help install demo test lint unit integration ui-mlflow ui-prefect mlflow-server mlflow-users clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(BIN)/tuneline: pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Python 3.11)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	@touch $@

install: $(BIN)/tuneline ## create .venv with the pinned dependencies

demo: install ## run the full pipeline on the sample data with the embedded defaults
	tuneline sample-data $(SAMPLE)
	test -f models/demo-base/config.json || tuneline demo-model
	tuneline run --ingest $(SAMPLE) --reason "make demo"

lint: install ## ruff + mypy
	ruff check src flows tests
	mypy

unit: install ## fast tests only
	python -m pytest -q -m "not integration" tests

integration: install ## end-to-end tests on a tiny model
	python -m pytest -q -m integration tests

test: lint ## lint + the whole test suite (what CI runs)
	python -m pytest -q tests

ui-mlflow: install ## MLflow UI on http://127.0.0.1:5000 (runs, metrics, registry)
	mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db --host 127.0.0.1 --port 5000

mlflow-server: install ## MLflow with logins on http://127.0.0.1:5000 (secrets: infra/mlflow-auth.env)
	tuneline tracking-server start --env-file infra/mlflow-auth.env --port 5000

mlflow-users: install ## on that server: trainer/reviewer accounts and their permissions
	tuneline tracking-server setup --env-file infra/mlflow-auth.env --url http://127.0.0.1:5000

ui-prefect: install ## Prefect UI on http://127.0.0.1:4200 (flow runs of this project)
	prefect server start --host 127.0.0.1 --port 4200

clean: ## remove generated data, models, reports and the MLflow store (keeps .venv)
	rm -rf data/prepared data/split models reports mlruns/mlflow.db mlruns/artifacts .dvc-storage .prefect
