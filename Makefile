# make deploy: engine, images, venv, first start if needed, then a verified zdd deploy.
# make test:   the whole suite, three tiers, against a real engine (JOBS parallel workers;
#              the tests that change the engine for everyone, by restarting it or by turning
#              swarm mode on and off, run after the other engine tests, one at a time,
#              `alone`, beside the pure and compose tiers, which need no engine).
# make test-unit / test-compose / test-engine: one tier each (pure; compose binaries, no
#              engine; a real engine).
VENV ?= .venv
PY := $(VENV)/bin/python
ZDD := $(VENV)/bin/zdd
DEMO_URL ?= http://127.0.0.1:8000/
# Offline stand-ins built by scripts/images.sh; set these to public images where a
# registry is reachable (e.g. ZDD_PYTHON_IMAGE=python:3.12-slim ZDD_NGINX_IMAGE=nginx:1.27).
export ZDD_PYTHON_IMAGE ?= zdd/python-base:bookworm
export ZDD_NGINX_IMAGE ?= zdd/nginx-base:bookworm

# 2 workers: one engine test keeps about one of this machine's two cores busy (the probe's
# 300 requests/s through docker-proxy, nginx and the app). With 3, once each test was its own
# unit of work, three engine tests ran at once all the time: 1598-1727 s, but every one of four
# CI runs failed a different compose v1 timing (a healthy container the proxy could not reach,
# a container read mid-attach, 1834 connection failures in a discovery rollback).
JOBS ?= 2
# An engine test is run once more only when zdd itself named a fault of the Docker engine (an
# address handed out twice, two networks of one name: seen under CI's load with compose v1,
# never reproduced alone); every other failure fails the run at once. The reruns are counted
# in pytest's summary line.
ENGINE_FAULTS := --reruns 1 --only-rerun "Docker IP allocation fault" \
	--only-rerun "two networks are named" --only-rerun "a fault of compose or the engine" \
	--only-rerun "gets no HTTP answer from"
# (the last: the proxy cannot reach a container that passed its gate inside itself; seen only
# with compose v1 under CI load, 1 run in 2, never alone; its cause is not known yet)
# xdist, loadscope as tests/conftest.py refines it: each test is its own unit of work, except
# the modules that share one swarm or SSH engine, which run whole on one worker. (loadgroup
# with xdist_group marks does not group under pytest 9 + xdist 3.8.)
PARALLEL := -n $(JOBS) --dist loadscope $(ENGINE_FAULTS)

.PHONY: deploy test test-unit test-compose test-engine unit lint engine images browser engine-down demo-down

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

engine:
	scripts/engine-up.sh

images: engine
	scripts/images.sh

browser:
	scripts/browser-up.sh

deploy: $(VENV)/.installed images
	@if [ -z "$$(docker ps -q --filter label=com.docker.compose.project=zdd-demo --filter label=com.docker.compose.service=service_a)" ]; then \
		echo "zdd: first start of the demo stack"; $(ZDD) deploy; fi
	$(ZDD) deploy --verify $(DEMO_URL)
	@curl -s $(DEMO_URL)

# The engine tests first (JOBS workers); then the `alone` ones, which change the engine under
# every other engine test, beside the pure and compose tiers, which use no engine at all (the
# alone log is printed after the tiers' own).
test: $(VENV)/.installed images browser
	$(PY) -m pytest tests/engine $(PARALLEL) -m "not alone" --durations=25
	@alone=$$(mktemp); \
	$(PY) -m pytest tests/engine $(ENGINE_FAULTS) -m alone --durations=10 >$$alone 2>&1 & pid=$$!; \
	$(PY) -m pytest tests/unit -n $(JOBS) --durations=10; tiers=$$?; \
	wait $$pid; engine=$$?; echo "== the alone engine tests, run beside the tiers:"; \
	cat $$alone; rm -f $$alone; test $$tiers -eq 0 && test $$engine -eq 0

test-unit: $(VENV)/.installed
	$(PY) -m pytest tests/unit -m "not compose and not browser"

test-compose: $(VENV)/.installed engine browser
	$(PY) -m pytest tests/unit -m "compose or browser" -n 2

test-engine: $(VENV)/.installed images
	$(PY) -m pytest tests/engine $(PARALLEL) -m "not alone"
	$(PY) -m pytest tests/engine $(ENGINE_FAULTS) -m alone

unit: test-unit

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check zdd tests bench
	$(VENV)/bin/ruff format --check zdd tests bench
	$(VENV)/bin/mypy

demo-down:
	docker compose down -v --remove-orphans

engine-down:
	scripts/engine-down.sh
