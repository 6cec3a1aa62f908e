# LightWay MoMo. `make run` starts everything; `make test` runs the whole suite.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint typecheck contracts bench bench-payouts clean-var

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c requirements.lock -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/lightway up

test: install
	$(BIN)/python -m pytest -n 2 --dist loadfile -q

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: install
	$(BIN)/mypy src/lightway

contracts: install
	$(BIN)/lint-imports

bench: install
	$(BIN)/python benchmarks/transfers.py

bench-payouts: install
	$(BIN)/python benchmarks/payouts.py

clean-var:
	rm -rf var
