# The two entry points a newcomer needs (README): `make demo` and `make test`.
.PHONY: setup demo test lint bench bench-quick soak

setup:
	@bash scripts/setup.sh

demo: setup
	.venv/bin/pos-client demo

test: setup
	.venv/bin/ruff check .
	.venv/bin/mypy
	.venv/bin/lint-imports
	.venv/bin/python -m pytest -q

lint: setup
	.venv/bin/ruff check .
	.venv/bin/mypy
	.venv/bin/lint-imports

bench: setup
	.venv/bin/python -m bench

bench-quick: setup
	.venv/bin/python -m bench --quick --json

soak: setup
	SOAK_SCALE=full .venv/bin/python -m pytest -q tests/soak -p no:timeout
