# The two commands a newcomer needs: `make demo` and `make test`. Both create .venv and install on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: install demo test lint bench lock clean

# constraints.txt pins every version we tested with (regenerate with `make lock`).
$(INSTALLED): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test,sandbox]'
	touch $(INSTALLED)

# Where PYTHONDONTWRITEBYTECODE is set (these machines set it) Python never caches our modules' bytecode, and every
# command compiles ~150 of them again: 0.2 s of `billit-etl status`'s 0.45 s. compileall writes it regardless, and
# skips what is up to date.
install: $(INSTALLED)
	$(BIN)/python -m compileall -q connectors tasks flows cli sandbox

demo: install
	$(BIN)/billit-etl demo

# Three workers on CI's two cores: the Prefect tests share one (xdist_group: two temporary Prefect servers at once
# time out starting), and on a slow machine of the kind that group alone takes 10 minutes, while the rest of the
# suite, much of it waiting (latency, servers, rate limits), shares the other two. With two workers the suite took
# 13-15 minutes there.
test: install
	$(BIN)/pytest -q -n 3 --dist loadgroup

lint: install
	$(BIN)/ruff check connectors tasks flows cli sandbox tests bench
	$(BIN)/ruff format --check connectors tasks flows cli sandbox tests bench
	$(BIN)/mypy connectors tasks flows cli sandbox

bench: install
	$(BIN)/python bench/client_fetch.py --json bench/results/client_fetch.json
	$(BIN)/python bench/extract.py --json bench/results/extract.json
	$(BIN)/python bench/push.py --json bench/results/push.json
	$(BIN)/python bench/sync_all.py --memory-orders 5000 50000 --json bench/results/sync_all.json
	$(BIN)/python bench/replay.py --json bench/results/replay.json

lock: $(INSTALLED)
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^-e' > constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
