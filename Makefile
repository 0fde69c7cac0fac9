# dockyard — the two Quick start commands are `make demo` and `make test`; both install what they need.
SHELL := /bin/bash
# A real interpreter path: the pyenv shim costs 0.2 s at every start.
PYTHON ?= /usr/bin/python3
VENV := .venv
BIN := $(VENV)/bin
# Debian packages the project and its tests use: the runtime's peers and the base image's sources.
APT_PACKAGES := python3 python3-venv busybox-static libseccomp2 iproute2 iptables procps gcc libc6-dev \
                runc docker.io skopeo docker-registry debootstrap

.PHONY: setup apt venv compile test lint demo bench clean

setup: apt venv compile

# apt-get update runs once, and only when a package is missing. policy-rc.d keeps the docker.io
# package from starting a system dockerd that nobody asked for.
apt:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  guard=; if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; guard=1; fi; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; rc=$$?; \
	  [ -n "$$guard" ] && rm -f /usr/sbin/policy-rc.d; exit $$rc; \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -e '.[test]'
	@# dockyard-runtime starts for every container and dockyard for every command: their launchers
	@# skip `site` (-S, ~3 ms a start), the environment (-I) and the `re` import of pip's wrappers;
	@# both need only the standard library and src/. They end with exit_now (fastexit.py): no teardown.
	for tool in dockyard-runtime:dockyard.runtime.cli dockyard:dockyard.cli.main; do \
	  printf '#!%s -IS\nimport sys\nsys.path.insert(0, "%s")\nfrom %s import main\nfrom dockyard.fastexit import exit_now\nexit_now(main())\n' \
	    "$(abspath $(BIN))/python" "$(abspath src)" "$${tool#*:}" > $(BIN)/$${tool%%:*}; \
	done
	touch $@

# Byte-code once, here: the environment may set PYTHONDONTWRITEBYTECODE, and compiling on every start
# would cost each container start tens of milliseconds.
compile: venv
	$(BIN)/python -m compileall -q src > /dev/null

lint: venv
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

# The CLI's tests run twice: against Debian's dockerd (the reference) and against dockyardd.
test: setup lint
	$(BIN)/python -m pytest -W error tests
	DOCKYARD_TEST_DAEMON=dockyardd $(BIN)/python -m pytest -W error tests/cli

demo: setup
	$(BIN)/python -m dockyard.demo

bench: setup
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache
