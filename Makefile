# The README's two commands: `make demo` and `make test`. Everything they need is set up here.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: all venv demo test system-deps realnode-note images lint typecheck unit integration testplane-build testplane-up testplane-down testplane-prune crds bench-operator bench-records bench-optimizers torch test-torch test-ddp clean

all: test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[operator,dev]'
	touch $(STAMP)

venv: $(STAMP)

## demo: a 21-trial, 3-parallel Bayesian search of a scikit-learn model, on this machine
demo: $(STAMP)
	$(BIN)/hyper run examples/digits-svm/search.yaml --fresh

## test: system packages, lint, type-check, then every test (starts the local control plane itself)
test: system-deps realnode-note $(STAMP) lint typecheck testplane-build
	$(BIN)/pytest -q

## system-deps: the Debian packages the tests drive (e2e/system-packages.txt); installs as root,
## otherwise stops at once naming what is missing and the command that installs it
system-deps:
	e2e/system-deps

# Says at the top of `make test` when the real-node tests (tests/e2e/test_real_node.py) will skip.
realnode-note:
	@e2e/realnode check >/dev/null || echo "make test: the real-node tests will be skipped: $$(e2e/realnode check)"

## images: the operator and digits-svm images as OCI archives, built without Docker (root; images/build)
images:
	images/build operator examples-digits-svm

lint: $(STAMP)
	$(BIN)/ruff check operator tests bench examples
	$(BIN)/ruff format --check operator tests bench examples
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

integration: $(STAMP) testplane-build
	$(BIN)/pytest -q -m integration

testplane-build:
	e2e/testplane build

testplane-up:
	e2e/testplane up

testplane-down:
	e2e/testplane down

testplane-prune:
	e2e/testplane prune

## crds: regenerate the CRDs from kube/schema.py and kube/schema_record.py, and the chart's copies
crds: $(STAMP)
	$(BIN)/python -m hypersearch.kube.crd > crds/hypersearch.io_hypersearches.yaml
	$(BIN)/python -m hypersearch.kube.crd --trial > crds/hypersearch.io_hypersearchtrials.yaml
	$(BIN)/python charts/sync-files.py

## bench-optimizers: ours beside Optuna, scikit-optimize and hyperopt (docs/benchmarks.md)
bench-optimizers: $(STAMP)
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/python bench/optimizers.py --seeds 10 --jobs 2 --timing

bench-operator: $(STAMP) testplane-up
	$(BIN)/python bench/operator_latency.py

## bench-records: trial records in one status list beside one object per trial (docs/benchmarks.md)
bench-records: $(STAMP) testplane-up
	$(BIN)/python bench/trial_records.py

## torch: the optional extra for the CNN example (a large CUDA build from PyPI)
torch: $(STAMP)
	$(BIN)/pip install -q -e '.[torch]'

test-torch: torch
	$(BIN)/pytest -q -m torch

## test-ddp: the DDP JobSet example on the real node (root): builds the CNN image first (PyTorch
## from PyPI, a 4.6 GB archive, ~17 min cold; then cached and run by `make test` too)
test-ddp: $(STAMP) testplane-build
	HYPERSEARCH_BUILD_CNN_IMAGE=1 $(BIN)/pytest -q tests/e2e/test_real_node_ddp.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
