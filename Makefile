# sdwh — two commands matter: `make demo` and `make test`. Both bootstrap .venv themselves.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export SDWH_HOME ?= $(CURDIR)/var

DEMO_PERSONS ?= 20000
DEMO_SEED ?= 42

.PHONY: demo test test-spark install lint unit benchmark clean help hub hub-env chromium

help:
	@echo "make demo   set up and run synth -> ingest -> deliveries report on synthetic data (SDWH_HOME=$(SDWH_HOME))"
	@echo "make test   set up and run the test suite (lint + pytest)"
	@echo "make hub    start the remote-access enclave (JupyterHub, as root) with demo accounts"

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { apt-get update -qq && apt-get install -y -qq python3 python3-venv; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "sdwh needs Python >= 3.11"; exit 1; }
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { apt-get update -qq && apt-get install -y -qq python3-venv && $(PYTHON) -m venv $(VENV); }
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[test]'
	@touch $(STAMP)

# ACRO (the anchor our output checks are compared with) pins pandas 2, so it gets its own
# interpreter; the oracle tests call it in a subprocess.
ACRO_VENV := .venv-acro
ACRO_STAMP := $(ACRO_VENV)/.installed
export SDWH_ACRO_PYTHON := $(CURDIR)/$(ACRO_VENV)/bin/python

$(ACRO_STAMP):
	$(PYTHON) -m venv $(ACRO_VENV)
	$(ACRO_VENV)/bin/pip install -q acro==1.0.2
	@touch $(ACRO_STAMP)

# The enclave's researcher side (JupyterLab, kernel, pandas, DuckDB) runs under researcher
# accounts, which cannot reach a Python under /root: it gets Debian's python3 and its own
# environment, with JupyterLab's download/export plugins disabled and locked.
ENCLAVE_VENV := .venv-enclave
ENCLAVE_STAMP := $(ENCLAVE_VENV)/.installed
ENCLAVE_PYTHON ?= /usr/bin/python3
ENCLAVE_PACKAGES := jupyterhub jupyterlab ipykernel pandas duckdb pyarrow numpy pydantic \
	pydantic-settings sqlglot pyyaml
LAB_LOCKED := @jupyterlab/docmanager-extension:download @jupyterlab/filebrowser-extension:download \
	@jupyterlab/filebrowser-extension:open-browser-tab @jupyterlab/notebook-extension:export \
	@jupyterlab/apputils-extension:announcements @jupyterlab/extensionmanager-extension:plugin \
	@jupyterlab/terminal-extension:plugin

$(ENCLAVE_STAMP): constraints.txt
	@test -x $(ENCLAVE_PYTHON) && $(ENCLAVE_PYTHON) -c 'import ensurepip' 2>/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv; }
	$(ENCLAVE_PYTHON) -m venv $(ENCLAVE_VENV)
	$(ENCLAVE_VENV)/bin/pip install -q -c constraints.txt $(ENCLAVE_PACKAGES)
	@for id in $(LAB_LOCKED); do \
	  $(ENCLAVE_VENV)/bin/jupyter labextension disable --level=sys_prefix $$id >/dev/null 2>&1; \
	  $(ENCLAVE_VENV)/bin/jupyter labextension lock --level=sys_prefix $$id >/dev/null 2>&1; done
	@touch $(ENCLAVE_STAMP)

hub-env: $(ENCLAVE_STAMP)

# Headless Chromium from Debian for the enclave's browser tests (Playwright drives it; no
# browser download).
chromium:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# The enclave hub on 127.0.0.1:8000 with demo accounts (as root: it creates system accounts
# and network namespaces). Ctrl-C stops it and removes the demo accounts.
hub: $(STAMP) $(ENCLAVE_STAMP)
	$(BIN)/sdwh serve hub --demo

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check sdwh disclosure tests benchmarks

unit: $(STAMP)
	$(BIN)/pytest -q tests/unit disclosure/tests

test: $(STAMP) $(ACRO_STAMP) $(ENCLAVE_STAMP) chromium lint
	$(BIN)/pytest -q -n 2 --dist loadfile

# Scale-out check (issue 9): the same dbt project built on Spark (pyspark in-process, Java 17)
# on a small synthetic sample, compared with the DuckDB build; also validates infra/ configs.
SCALEOUT_STAMP := $(VENV)/.installed-scaleout

# Spark 4 needs Java 17 or newer: Debian's headless JRE 17 unless one is there already.
$(SCALEOUT_STAMP): $(STAMP) pyproject.toml constraints.txt
	@java -version 2>&1 | grep -qE 'version "(1[7-9]|[2-9][0-9])' || dpkg -s openjdk-17-jre-headless >/dev/null 2>&1 || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless; }
	$(BIN)/pip install -q -c constraints.txt -e '.[test,scaleout]'
	@touch $(SCALEOUT_STAMP)

# The two files run side by side: the infra checks (dbt parse) beside the Spark build.
test-spark: $(SCALEOUT_STAMP)
	$(BIN)/pytest -q -m spark -n 2 --dist loadfile tests/spark

demo: $(STAMP)
	$(BIN)/sdwh synth --persons $(DEMO_PERSONS) --from 2023Q1 --to 2025Q4 --seed $(DEMO_SEED)
	$(BIN)/sdwh ingest
	$(BIN)/sdwh build
	@# TTP survey service: draw an LFS-like sample, simulate its fieldwork, land and link it.
	sample=$$($(BIN)/sdwh sample draw --design sdwh/sampling/designs/lfs-2025q4.yml \
	    --seed $(DEMO_SEED) --json | $(BIN)/python -c "import json,sys; print(json.load(sys.stdin)['sample_id'])") && \
	  $(BIN)/sdwh sample show $$sample && \
	  $(BIN)/sdwh sample synth-responses $$sample --seed $(DEMO_SEED) && \
	  $(BIN)/sdwh ingest && $(BIN)/sdwh sample link $$sample
	$(BIN)/sdwh build
	$(BIN)/sdwh deliveries
	$(BIN)/sdwh api build
	@# VOS release 2025Q4 (disclosure-protected, five formats), its DCAT-AP catalogue, the site
	test -f $(SDWH_HOME)/releases/2025Q4/release.json || $(BIN)/sdwh publish --release 2025Q4
	$(BIN)/sdwh catalog build
	$(BIN)/sdwh site
	@echo "Results are under $(SDWH_HOME): landing/ (deliveries), raw/ (pseudonymised Parquet), quarantine/, register.sqlite"
	@echo "Remote-access enclave: run 'make hub' (as root) to start JupyterHub on 127.0.0.1:8000 with demo accounts (docs/researcher-guide.md)."
	@echo "Publication site: $(SDWH_HOME)/site/index.html; 'sdwh feedback serve' serves it with the error form on http://127.0.0.1:8765/ (docs/publication.md)."
	@echo "Policy-service API: 'sdwh api token create NAME --role tables --role sql', then 'sdwh serve api' (127.0.0.1:8750, docs/policy-services.md)."

benchmark: $(STAMP)
	$(BIN)/python benchmarks/bench_synth_ingest.py

clean:
	rm -rf var .pytest_cache target logs
