# The developer's front door. `make run` and `make test` work on a fresh Debian/Ubuntu machine.
SHELL := /bin/bash
UV ?= uv

.PHONY: run test setup lint typecheck bench clean-state

## Serve everything (private PostGIS + Redis, bundled real data, sandbox network, API, map)
run: setup
	$(UV) run wattlas run

## Run the whole test suite against real PostGIS and Redis started by the suite itself
test: setup
	$(UV) run pytest

## Python and front-end dependencies, from the committed lock files
setup:
	@command -v $(UV) >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen --quiet
	@[ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund --loglevel=error

lint:
	$(UV) run ruff check .
	$(UV) run ruff format --check .

typecheck:
	$(UV) run mypy

## Benchmarks at 300k locations / 1M EVSEs on private services (~15 min); see devtools/bench/results/
bench: setup
	@command -v wrk >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq wrk)
	$(UV) run wattlas bench

clean-state:
	-$(UV) run wattlas services stop
	rm -rf .wattlas
