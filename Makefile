# LightWay MoMo. `make run` starts everything; `make test` runs the whole suite.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# npm ci writes node_modules/.package-lock.json: the front-end libraries are installed.
NODE_STAMP := node_modules/.package-lock.json

.PHONY: install run test lint typecheck contracts audit bench bench-live bench-pages bench-payouts clean-var messages

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c requirements.lock -e ".[dev]"
	@touch $(STAMP)

# The panels' front-end libraries (HTMX, Chart.js; axe-core for the tests) from the npm
# registry, pinned in package-lock.json and served locally by Django (no CDN).
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $(NODE_STAMP)

install: $(STAMP) $(NODE_STAMP)

run: install
	$(BIN)/lightway up

test: install
	$(BIN)/python -m pytest -n 2 --dist loadfile -q

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: install
	LIGHTWAY_NO_DATABASE=1 $(BIN)/mypy src/lightway

contracts: install
	$(BIN)/lint-imports

# Known vulnerabilities in the pinned dependencies (requirements.lock), from the
# vulnerability service pip-audit asks. It needs the network, so it is not part of
# `make test`; production CI runs it (docs/operations.md, "Dependency audit"). It fails
# when a pinned version has a known vulnerability, and also when any package could not be
# checked (offline, or the service did not answer): an audit that checked nothing passes
# nothing.
audit: install
	@out=$$(mktemp); \
	if $(BIN)/pip-audit --requirement requirements.lock --no-deps --disable-pip --strict \
		--progress-spinner off >"$$out" 2>&1; then \
		cat "$$out"; rm -f "$$out"; echo "make audit: no known vulnerabilities"; \
	elif grep -qiE "could not be audited|connection|resolve|timed out|max retries" "$$out"; then \
		grep -iE "error|warning" "$$out" | head -5; rm -f "$$out"; \
		echo "make audit: FAILED: the vulnerability database could not be reached, so" \
			"nothing was checked. Run it where the network reaches it (production CI)."; \
		exit 2; \
	else \
		cat "$$out"; rm -f "$$out"; \
		echo "make audit: FAILED: a pinned dependency has a known vulnerability (above):" \
			"upgrade it in pyproject.toml and requirements.lock"; \
		exit 1; \
	fi

# First 30 s of live payments against the running `make run` platform (its dashboards
# move; skipped when none answers), then the transfers benchmark on a database of its own,
# then the P2P API on partitioned tables against the tables before partitioning.
bench: install
	$(BIN)/python benchmarks/live.py --seconds 30 --if-running
	$(BIN)/python benchmarks/transfers.py
	$(BIN)/python benchmarks/partitions.py

bench-live: install
	$(BIN)/python benchmarks/live.py

# Server time of every main page on the database DATABASE_URL names (else the embedded
# one): load it first with `lightway seed-volume` (docs/performance.md). var/bench/pages.json
bench-pages: install
	$(BIN)/python benchmarks/pages.py

bench-payouts: install
	$(BIN)/python benchmarks/payouts.py

clean-var:
	rm -rf var

# The customer app's translations (docs/panels.md, "Languages"): add the strings the code
# marks to src/lightway/locale/fr/LC_MESSAGES/django.po (translations kept; new strings come
# empty: translate them), then compile django.mo with Babel. No GNU gettext needed.
messages: install
	$(BIN)/lightway messages update
	$(BIN)/lightway messages compile
	$(BIN)/lightway messages check
