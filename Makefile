# Set-up and everyday commands. `make demo` and `make test` create the
# virtual environment they need; nothing else has to be installed by hand.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.flowrec-installed

.PHONY: venv demo test browser clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "flowrec needs Python 3.10 or newer; set PYTHON=python3.x")'
	$(PYTHON) -m venv $(VENV) || { echo "cannot create a virtual environment: on Debian or Ubuntu run 'apt-get install python3-venv'"; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

demo: venv
	$(BIN)/flowrec check example_notebooks/breast_cancer.ipynb

test: venv browser
	$(BIN)/python -m pytest

# Browser tests drive Debian's Chromium through Playwright (never Playwright's
# own download). Installing it needs root; without it those tests skip.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else \
	    echo "chromium is not installed and cannot be installed here: browser tests will skip"; \
	  fi; }

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts
