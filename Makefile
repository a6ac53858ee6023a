# CityOps: the README's two commands. Only Python 3.11 and pip are needed.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PIP := $(BIN)/python -m pip --disable-pip-version-check
LOCK := requirements/lock.txt
TORCH_LOCK := requirements/torch.txt
PORT ?= $(or $(CITYOPS_CONSOLE_PORT),8501)

.PHONY: demo test test-unit lint venv lock clean-var chaos

venv: $(STAMP)

# Everything from hashed pins (docs/deploy.md "Dependencies"): the lock, then torch's CPU build in its own call
# (its index option applies to that call only; its dependencies came with the lock), then the project itself,
# editable and without dependencies (setuptools, its build backend, is in the lock). The lock is its own
# constraints file too: pip 23.2 (Python 3.11's) otherwise resolves a dependency asked for with an extra, such as
# amqtt's `pwdlib[argon2]>=0.3.0`, to PyPI's newest release, which has no hash in the lock, and stops.
$(STAMP): $(LOCK) $(TORCH_LOCK) pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --require-hashes -r $(LOCK) -c $(LOCK)
	$(PIP) install --quiet --require-hashes --no-deps -r $(TORCH_LOCK)
	$(PIP) install --quiet --no-deps --no-build-isolation -e .
	@touch $(STAMP)

# Regenerates requirements/lock.txt from pyproject.toml with uv, in a throwaway venv, against PyPI alone (so the
# hashes are PyPI's), plus a folder holding the torch 2.13.0+cpu wheel for resolving torch's dependencies
# (fetched from PyTorch's CPU index unless TORCH_FIND_LINKS names one). requirements/torch.txt is kept by hand.
TORCH_FIND_LINKS ?= /tmp/cityops-lock/torch
lock:
	@rm -rf /tmp/cityops-lock && $(PYTHON) -m venv /tmp/cityops-lock
	/tmp/cityops-lock/bin/python -m pip install --quiet --disable-pip-version-check uv
	test -d $(TORCH_FIND_LINKS) || /tmp/cityops-lock/bin/python -m pip download --quiet --no-deps \
	  --index-url https://download.pytorch.org/whl/cpu --only-binary :all: --platform manylinux_2_28_x86_64 \
	  --python-version 3.11 -d $(TORCH_FIND_LINKS) torch==2.13.0+cpu
	sed -n '1,5p' $(LOCK) > /tmp/cityops-lock/lock.txt
	/tmp/cityops-lock/bin/uv pip compile pyproject.toml --extra detectors --extra test --extra dev --universal \
	  --python-version 3.11 --generate-hashes --no-config --no-header --no-annotate --no-emit-package torch \
	  --index-url https://pypi.org/simple --find-links $(TORCH_FIND_LINKS) >> /tmp/cityops-lock/lock.txt
	mv /tmp/cityops-lock/lock.txt $(LOCK) && rm -rf /tmp/cityops-lock

demo: $(STAMP)
	@echo "CityOps console: http://127.0.0.1:$(PORT)"
	@echo "(starting broker, redis, worker, simulator and console; Ctrl-C stops everything)"
	PATH="$(CURDIR)/$(BIN):$$PATH" PYTHONUNBUFFERED=1 $(BIN)/honcho start -f Procfile

# Every layer: tests/unit, tests/integration (real broker and Redis), tests/e2e (browser, chaos), in
# TEST_PROCESSES pytest-xdist processes (whole files per process; each starts its own broker and Redis).
TEST_PROCESSES ?= 2
test: $(STAMP)
	@$(BIN)/python -m pytest -n $(TEST_PROCESSES) --dist loadfile; status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest: no tests collected"; exit 1; fi; exit $$status

# The unit layer alone (pure logic, no infrastructure started): under a minute.
test-unit: $(STAMP)
	@$(BIN)/python -m pytest tests/unit; status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest: no tests collected"; exit 1; fi; exit $$status

# Fault injection: worker SIGKILL x3, Redis restart, broker stopped 30 s under a steady producer; compares the
# read model with an undisturbed run of the same seeded day and prints the table (exit 1 on any difference).
chaos: $(STAMP)
	PYTHONUNBUFFERED=1 $(BIN)/python -m tools.chaos $(CHAOS_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

clean-var:
	rm -rf var
