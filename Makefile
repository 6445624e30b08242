# factflow developer commands. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

export UV_PYTHON_DOWNLOADS ?= never
# uv on PATH, else the copy pip installed into this Python (`python3 -m uv`).
UV ?= $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
PYTEST_ARGS ?=
SOAK_RUNS ?= 20
BENCH_ARGS ?=
# Run again in worker mode (a server without local worker, two `factflow-server worker` processes).
CLI_TESTS := backend/packages/factflow-cli/tests/commands
WORKER_MODE_TESTS ?= tests/e2e/test_pipeline_runs.py $(CLI_TESTS)/test_execution.py $(CLI_TESTS)/test_pipeline.py \
	$(CLI_TESTS)/test_replay.py $(CLI_TESTS)/test_worker.py
# The web console: sources in frontend/, built assets committed into the server package.
CONSOLE_DIR := backend/packages/factflow-server/src/factflow_server/console
HAVE_NODE := $(shell command -v npm >/dev/null 2>&1 && echo yes)
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

.PHONY: help
help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

.PHONY: uv
uv: ## Install uv with pip when it is missing
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv

.PHONY: install
install: uv ## Sync the workspace (all packages and dev tools) into .venv
	@$(UV) sync --all-packages --frozen

.PHONY: run
run: install ## Start the embedded server (SQLite, memory queue, ./.factflow) with the demo pipeline
	@./scripts/run-embedded.sh

.PHONY: lint
lint: install ## ruff check, ruff format --check, import-linter (the package layering) and mypy --strict
	@$(UV) run --frozen ruff check . && \
	$(UV) run --frozen ruff format --check . && \
	$(UV) run --frozen lint-imports && \
	$(UV) run --frozen mypy backend/packages/*/src workflows/*/src && \
	for tests in backend/packages/*/tests workflows/*/tests tests benchmarks; do \
		[ -z "$$(find $$tests -name '*.py' 2>/dev/null | head -1)" ] || $(UV) run --frozen mypy $$tests || exit 1; \
	done

.PHONY: format
format: install ## Apply ruff fixes and formatting
	@$(UV) run --frozen ruff check --fix . && $(UV) run --frozen ruff format .

.PHONY: test
test: lint chromium frontend-check ## Install everything, lint, check the console build, then run the whole test suite (docs site included), and WORKER_MODE_TESTS again on two worker processes
	@$(UV) run --frozen pytest -n 2 backend/packages workflows $(PYTEST_ARGS)
	@$(UV) run --frozen pytest tests --ignore=tests/faults $(PYTEST_ARGS)
	@$(UV) run --frozen pytest -n 3 tests/faults $(PYTEST_ARGS)
	@FACTFLOW_TEST_WORKERS=2 $(UV) run --frozen pytest $(WORKER_MODE_TESTS) $(PYTEST_ARGS)

.PHONY: soak
soak: install ## Every fault scenario SOAK_RUNS times (default 20): pass counts and recovery times
	@FACTFLOW_FAULT_RUNS=$(SOAK_RUNS) $(UV) run --frozen pytest -n 3 tests/faults -p no:cacheprovider -q $(PYTEST_ARGS)

.PHONY: release-check
release-check: uv ## Build every wheel, install each alone into a fresh venv, import it and load its entry points
	@UV="$(UV)" ./scripts/release-check.sh

.PHONY: chromium
chromium: ## Install Debian's chromium (for the console's browser tests) when it is missing
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

.PHONY: frontend
frontend: install ## Build the web console (needs Node) and copy it into the server package
	@$(UV) run --frozen python scripts/export_openapi.py frontend/openapi.json
	@cd frontend && npm ci --no-audit --no-fund && npm run --silent api && npm run --silent build
	@rm -rf $(CONSOLE_DIR) && cp -r frontend/dist $(CONSOLE_DIR)

.PHONY: frontend-check
frontend-check: install ## With Node: console unit tests, tsc, and committed assets == a fresh build
ifeq ($(HAVE_NODE),yes)
	@$(UV) run --frozen python scripts/export_openapi.py --check frontend/openapi.json
	@cd frontend && npm ci --no-audit --no-fund --loglevel=error
	@cd frontend && npx openapi-typescript openapi.json -o .check-schema.d.ts >/dev/null && \
		{ cmp -s .check-schema.d.ts src/api/schema.d.ts || { rm -f .check-schema.d.ts; echo "frontend/src/api/schema.d.ts is stale: run make frontend" >&2; exit 1; }; }; \
		rm -f .check-schema.d.ts
	@cd frontend && npm run --silent typecheck && npm test --silent
	@rm -rf frontend/.check-dist && cd frontend && npx vite build --logLevel error --outDir .check-dist --emptyOutDir
	@diff -r frontend/.check-dist $(CONSOLE_DIR) >/dev/null || { rm -rf frontend/.check-dist; \
		echo "$(CONSOLE_DIR) differs from a fresh build of frontend/: run make frontend and commit it" >&2; exit 1; }
	@rm -rf frontend/.check-dist
else
	@echo "frontend-check: Node.js not found, console sources not checked (the committed build is served as is)"
endif

.PHONY: screenshots
screenshots: install chromium ## Regenerate the console screenshots in docs/console/
	@$(UV) run --frozen python -m tests.console.screenshots docs/console

.PHONY: bench
bench: install ## Throughput benchmark (memory/Redis, storage+lineage off/on, vs a redis-py ceiling), then bench-scale (BENCH_ARGS=--quick); BENCH_ARGS="--workers N": the lineage pipeline on 1 … N worker processes (speed-up, exact counts)
	@$(UV) run --frozen python -m benchmarks.run $(BENCH_ARGS)

.PHONY: bench-scale
bench-scale: install ## Read endpoints against 1,000,000 lineage rows and 100,000 executions on PostgreSQL (p50/p99, bytes per row)
	@$(UV) run --frozen python -m benchmarks.run --only scale $(BENCH_ARGS)

.PHONY: bench-layout
bench-layout: install ## Bytes per lineage row of candidate table layouts on PostgreSQL (LAYOUT_ARGS=--ordered-ids --rows N)
	@$(UV) run --frozen python -m benchmarks.lineage_layout $(LAYOUT_ARGS)


.PHONY: docs
docs: install ## Regenerate the generated reference pages and build the site into ./site (--strict, offline)
	@$(UV) run --frozen python -m factflow_engine.config.codes --write docs/reference/error-codes.md
	@$(UV) run --frozen python -m factflow_foundation.settings_reference --write docs/reference/settings.md
	@$(UV) run --frozen python -m factflow_server.api_reference --write docs/reference/http-api-endpoints.md --openapi docs/reference/openapi.json
	@NO_MKDOCS_2_WARNING=1 $(UV) run --frozen mkdocs build --strict --site-dir site

.PHONY: docs-check
docs-check: install ## Fail when a generated reference page is stale or the site does not build strictly
	@$(UV) run --frozen python -m factflow_engine.config.codes --check docs/reference/error-codes.md
	@$(UV) run --frozen python -m factflow_foundation.settings_reference --check docs/reference/settings.md
	@$(UV) run --frozen python -m factflow_server.api_reference --check docs/reference/http-api-endpoints.md --openapi docs/reference/openapi.json
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
		NO_MKDOCS_2_WARNING=1 $(UV) run --frozen mkdocs build --strict --quiet --site-dir "$$tmp"

.PHONY: docs-serve
docs-serve: install ## Serve the docs site with live reload on http://127.0.0.1:8001
	@NO_MKDOCS_2_WARNING=1 $(UV) run --frozen mkdocs serve --strict --dev-addr 127.0.0.1:8001

.PHONY: up
up: ## Start the production stack (PostgreSQL, Redis, MinIO, server) with docker compose
	docker compose up -d --build

.PHONY: down
down: ## Stop the compose stack (volumes are kept)
	docker compose down
