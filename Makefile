# CityOps: the README's two commands. Only Python 3.11 and pip are needed.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= $(or $(CITYOPS_CONSOLE_PORT),8501)

.PHONY: demo test lint venv clean-var

venv: $(STAMP)

$(STAMP): requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $(STAMP)

demo: $(STAMP)
	@echo "CityOps console: http://127.0.0.1:$(PORT)"
	@echo "(starting broker, redis, worker, simulator and console; Ctrl-C stops everything)"
	PATH="$(CURDIR)/$(BIN):$$PATH" PYTHONUNBUFFERED=1 $(BIN)/honcho start -f Procfile

test: $(STAMP)
	@$(BIN)/python -m pytest; status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest: no tests collected"; exit 1; fi; exit $$status

lint: $(STAMP)
	$(BIN)/ruff check .

clean-var:
	rm -rf var
