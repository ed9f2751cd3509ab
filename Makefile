# `make demo` and `make test` work on a fresh machine with Python 3.11 and pip: each one
# creates or refreshes .venv first (reinstalling only when pyproject.toml changed).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR := .demo
PIP_QUIET := --quiet --disable-pip-version-check

.PHONY: setup system-packages demo test test-fast bench reliability cluster-up cluster-down clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install $(PIP_QUIET) --upgrade pip
	$(BIN)/pip install $(PIP_QUIET) -e ".[dev]"
	touch $(STAMP)

# Debian packages whose real binaries the tests run, as PACKAGE:BINARY; a plain PACKAGE installs a binary of its name.
SYSTEM_PACKAGES := prometheus prometheus-pushgateway chromium shellcheck kubernetes-client:kubectl

# Installs the missing ones when run as root with apt-get; otherwise says which are missing (their tests skip).
system-packages:
	@missing=""; \
	for entry in $(SYSTEM_PACKAGES); do \
		package=$${entry%%:*}; bin=$${entry#*:}; \
		command -v $$bin >/dev/null 2>&1 || test -x /usr/bin/$$bin || missing="$$missing $$package"; \
	done; \
	if [ -z "$$missing" ]; then \
		echo "system packages: all present ($(SYSTEM_PACKAGES))"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "system packages: installing$$missing"; \
		apt-get update && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
	else \
		echo "system packages: missing$$missing; the tests needing them will skip (fail when CI=true)"; \
	fi

demo: $(STAMP)
	test -d $(DEMO_DIR)/digits || $(BIN)/imgclf data digits $(DEMO_DIR)/digits
	$(BIN)/imgclf train --data $(DEMO_DIR)/digits --name digits --image-size 32 --epochs 15 --optimize int8 \
		--registry $(DEMO_DIR)/registry --output $(DEMO_DIR)/runs --storage-path $(DEMO_DIR)/ray_results
	rm -rf $(DEMO_DIR)/predictions
	$(BIN)/imgclf classify $(DEMO_DIR)/digits --model digits-vgg16 --registry $(DEMO_DIR)/registry \
		--output $(DEMO_DIR)/predictions --show 10
	$(BIN)/imgclf serve --config serve_config.yaml --registry $(DEMO_DIR)/registry --model 'digits-*' \
		--examples $(DEMO_DIR)/digits

test: $(STAMP) system-packages
	$(BIN)/mkdocs build --strict --site-dir .site
	$(BIN)/pytest

test-fast: $(STAMP) system-packages
	$(BIN)/pytest -m "not slow"

# Reuses the demo's trained digits model when there is one; otherwise trains one under .bench/.
bench: $(STAMP)
	$(BIN)/python -m bench --output .bench/results.json --photos ../shared/datasets/hymenoptera \
		--serve-config serve_config.yaml \
		$(if $(wildcard $(DEMO_DIR)/registry/digits-vgg16),--registry $(DEMO_DIR)/registry)

# Load, faults and hostile input at full size; prints the table, writes .reliability/results.json.
reliability: $(STAMP) system-packages
	IMGCLF_RELIABILITY=full $(BIN)/pytest tests/integration/reliability -q

# A local Ray cluster: head (dashboard :8265, metrics :8080) + WORKERS extra nodes on this machine.
WORKERS ?= 0
cluster-up: $(STAMP)
	$(BIN)/imgclf cluster up --workers $(WORKERS)

cluster-down: $(STAMP)
	$(BIN)/imgclf cluster down

clean:
	rm -rf $(VENV) $(DEMO_DIR) .bench .reliability .pytest_cache .site
