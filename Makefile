# qtfl — the two commands:  `make run` (set up + run the quickstart job)  `make test` (set up + test)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
OUT ?= runs/quickstart
PYTEST_ARGS ?=

.PHONY: run test lint docs setup data browser lock bench clean

# --resume: a second `make run` continues an interrupted run or, when it finished, rewrites
# the same results (a changed quickstart.yaml is refused: pass OUT=runs/other or make clean).
run: $(STAMP) data
	$(VENV)/bin/qtfl run configs/quickstart.yaml --out $(OUT) --resume

# --dist loadscope: a module's tests stay on one worker, so a fixture they share (a Flower
# deployment, a whole run) is built once; modules go out slowest first (tests/conftest.py).
test: $(STAMP) data browser lint docs
	$(PY) -m pytest -n 2 --dist loadscope --no-loadscope-reorder $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy

# The documentation site (docs/_build/html): warnings are errors, then every example runs.
docs: $(STAMP)
	$(VENV)/bin/sphinx-build -b html -W --keep-going -q -d docs/_build/doctrees docs docs/_build/html
	$(VENV)/bin/sphinx-build -b doctest -W --keep-going -q -d docs/_build/doctrees docs docs/_build/doctest

setup: $(STAMP)

# One pip command for everything that depends on torch (torch==2.13.0 pinned in it).
$(STAMP): requirements.txt constraints.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -c constraints.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

# $(call apt_ensure,CHECK,PACKAGE,NOTE): install a Debian package unless CHECK succeeds, where
# apt-get is available as root; never fatal (NOTE says what happens without it).
define apt_ensure
	@if $(1) >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(2) >/dev/null 2>&1 || \
	   (apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(2) >/dev/null 2>&1)) \
	  || echo "note: could not install $(2); $(3)"; \
	else echo "note: apt-get not available as root; $(3)"; fi
endef

# Fashion-MNIST comes from Debian's dataset-fashion-mnist. Digits (the default) is bundled.
data:
	$(call apt_ensure,dpkg -s dataset-fashion-mnist,dataset-fashion-mnist,Fashion-MNIST runs will say how to get it)

# Debian's chromium renders report.html in the report test (skipped with its reason without).
browser:
	$(call apt_ensure,command -v chromium,chromium,the report screenshot test will be skipped)

lock: $(STAMP)
	{ echo "# Full resolved set (pip freeze) behind requirements.txt, so every machine installs the same versions."; \
	  echo "# Regenerate after changing requirements.txt: make lock"; \
	  $(PY) -m pip freeze --exclude-editable | sed 's/^torch==\(.*\)+cpu$$/torch==\1/'; } > constraints.txt

bench: $(STAMP)
	$(VENV)/bin/qtfl bench teleport --json
	$(VENV)/bin/qtfl bench fl --json
	$(VENV)/bin/qtfl bench channel --json
	$(VENV)/bin/qtfl bench security --json
	$(VENV)/bin/qtfl bench qdataset --json

clean:
	rm -rf $(VENV) runs .mypy_cache .ruff_cache .pytest_cache docs/_build docs/reference/api/generated
