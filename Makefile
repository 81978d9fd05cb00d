# Four Links: `make up` runs the system on this machine, `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
SYSTEM_UV := $(shell command -v uv 2>/dev/null)
UV := $(if $(SYSTEM_UV),$(SYSTEM_UV),$(CURDIR)/var/tools/bin/uv)
RUN := $(UV) run --locked --no-sync
export UV_LINK_MODE ?= copy
# Installed packages keep their bytecode: each process then starts in about half a second instead
# of compiling its imports again (where PYTHONDONTWRITEBYTECODE is set, every time).
export UV_COMPILE_BYTECODE ?= 1

.PHONY: up province test env lint typecheck pytest isolation clean fuzz bench bench-quick browser print-tools monitoring go-tools soak

up: env ## run nats-server, the four services and the console on SQLite under ./var
	$(RUN) fourlinks up

province: env ## a province and three districts on loopback, linked, each seeded small with another year (Ctrl-C stops all)
	$(RUN) fourlinks province

test: env browser print-tools monitoring go-tools lint typecheck isolation pytest ## lint, types, package isolation, tests

env: | $(UV)
	@$(UV) sync --locked --all-packages --quiet

$(CURDIR)/var/tools/bin/uv:
	@echo "uv not found: installing it into var/tools"
	$(PYTHON) -m venv var/tools
	var/tools/bin/pip install --quiet uv

browser: ## what the console's browser tests drive: Debian's chromium and a Chinese font (Playwright never downloads a browser)
	@{ command -v chromium >/dev/null && [ -e /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ]; } || { \
	  echo "installing Debian's chromium and fonts-wqy-zenhei for the console's browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium fonts-wqy-zenhei >/dev/null; }

print-tools: ## what the printed cards' tests run: poppler's pdftoppm and pdffonts, zbar's zbarimg (an independent QR decoder)
	@{ command -v pdftoppm >/dev/null && command -v zbarimg >/dev/null && [ -e /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ]; } || { \
	  echo "installing Debian's poppler-utils, zbar-tools and fonts-wqy-zenhei for the printed cards' tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends poppler-utils zbar-tools fonts-wqy-zenhei >/dev/null; }

monitoring: ## what the deploy tests run: promtool (Debian's prometheus) for the alert rules, kubectl for kustomize
	@command -v promtool >/dev/null || { \
	  echo "installing Debian's prometheus (for promtool) for the alert rules' tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }
	@command -v kubectl >/dev/null || { \
	  echo "installing kubectl (for kubectl kustomize) for the Kubernetes manifests' tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq kubectl >/dev/null; }

go-tools: ## the independent log checker's build (tools/tlogcheck): Debian's Go and golang.org/x/mod, no network
	@{ command -v go >/dev/null && [ -d /usr/share/gocode/src/golang.org/x/mod/sumdb/tlog ]; } || { \
	  echo "installing Debian's golang-go and golang-golang-x-mod-dev for the log's interoperability tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends golang-go golang-golang-x-mod-dev >/dev/null; }

lint:
	$(RUN) ruff check .
	$(RUN) ruff format --check .

typecheck:
	$(RUN) mypy shared services apps tests tools conftest.py

pytest:
	$(RUN) pytest -q $(PYTEST_ARGS)

isolation: ## each package installs alone: an undeclared dependency fails here
	@for pkg in $$(ls -d shared/*/ services/*/ apps/*/); do \
	  name=$$(basename $$pkg); \
	  env_dir=var/isolated/$$name; \
	  UV_COMPILE_BYTECODE=0 UV_PROJECT_ENVIRONMENT=$$env_dir $(UV) sync --locked --quiet --no-dev --package $$(sed -n 's/^name = "\(.*\)"/\1/p' $$pkg/pyproject.toml | head -1) || exit 1; \
	  $$env_dir/bin/python tools/import_all.py $$pkg/src || exit 1; \
	done
	@echo "isolation: every package imports with only its declared dependencies"

fuzz: env ## schemathesis against every service (no 5xx, responses as declared)
	RUN="$(RUN)" tools/fuzz.sh

bench: env ## benchmarks on a district year (1,000,000 events): bench-results.json and a table
	$(RUN) fourlinks bench --plan full

bench-quick: env ## the same code paths at a twentieth of the scale (a couple of minutes)
	$(RUN) fourlinks bench --plan quick

soak: env ## a year's kills under load, then nothing lost or doubled, audit intact, read models = a rebuild (about 20 minutes; docs/reliability.md)
	$(RUN) python -m tools.soak $(SOAK_ARGS)

clean:
	rm -rf var/isolated .mypy_cache .ruff_cache .pytest_cache
