# Two entry points for a fresh machine: `make run` (the default study) and `make test` (linters, then tests).
# .venv is (re)built only when a lock file or pyproject.toml changed since the last build.
# requirements-nodeps.lock: hash-pinned wheels installed without their dependencies (the Inception-v3 file).
PY ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed
CORES ?= all

.PHONY: run test venv clean-results

venv: $(STAMP)

$(STAMP): requirements.lock requirements-nodeps.lock pyproject.toml
	test -x $(VENV)/bin/python || $(PY) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps --require-hashes -r requirements-nodeps.lock
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

run: $(STAMP)
	. $(VENV)/bin/activate && snakemake --cores $(CORES) && snakemake --report results/report.html

test: $(STAMP)
	. $(VENV)/bin/activate && ruff check . && snakefmt --check Snakefile workflow && python -m pytest -q

clean-results:
	rm -rf results/* .snakemake
	git checkout -- results/README.md
