# CityOps: the README's two commands. Only Python 3.11 and pip are needed.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= $(or $(CITYOPS_CONSOLE_PORT),8501)

.PHONY: demo test lint venv clean-var chaos

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

# Fault injection: worker SIGKILL x3, Redis restart, broker stopped 30 s under a steady producer; compares the
# read model with an undisturbed run of the same seeded day and prints the table (exit 1 on any difference).
chaos: $(STAMP)
	PYTHONUNBUFFERED=1 $(BIN)/python -m tools.chaos $(CHAOS_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

clean-var:
	rm -rf var
