# make run   : create .venv if needed, install the project, start a local registry
# make test  : the same, plus test tools and client programs, then run every test
#
# Works on a fresh Debian 12 (Python 3.11) as root or as a user with sudo.

SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
# Python 3.11 is what pulpcore 3.123 and this project support.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
# Debian packages: the python venv module, and the clients the functional tests drive.
APT_FOR_VENV := python3-venv
APT_FOR_TESTS := skopeo podman buildah umoci uidmap fuse-overlayfs docker-registry \
	apache2-utils openssl
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTEST_ARGS ?=

.PHONY: run test unit functional venv clean-venv

run: $(VENV)/.installed
	exec $(BIN)/pulp-registry run

test: $(VENV)/.installed $(VENV)/.test-installed apt-test-packages
	$(BIN)/pytest tests $(PYTEST_ARGS)

unit: $(VENV)/.installed $(VENV)/.test-installed
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

functional: $(VENV)/.installed $(VENV)/.test-installed apt-test-packages
	$(BIN)/pytest tests/functional $(PYTEST_ARGS)

venv: $(BIN)/python

# Shell snippet installing the Debian packages in $$packages that are not installed yet.
APT_INSTALL = missing=""; for pkg in $$packages; do \
	  dpkg-query -W -f='$${Status}' "$$pkg" 2>/dev/null | grep -q "install ok installed" \
	    || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

$(BIN)/python:
	@[ -n "$(PYTHON)" ] || { echo "error: python3.11 is not installed"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || \
	  { echo "error: $(PYTHON) is not Python 3.11 (set PYTHON=/path/to/python3.11)"; exit 1; }
	@# Debian's python3 cannot make a venv (no ensurepip) until python3-venv is installed.
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); packages="$(APT_FOR_VENV)"; $(APT_INSTALL); \
	  $(PYTHON) -m venv $(VENV); }

# Re-installed only when the packaging changes; code edits need nothing (editable install).
$(VENV)/.installed: $(BIN)/python setup.py requirements.txt
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.test-installed: $(BIN)/python requirements-test.txt
	$(BIN)/python -m pip install -q -r requirements-test.txt
	touch $@

.PHONY: apt-test-packages
apt-test-packages:
	@packages="$(APT_FOR_TESTS)"; $(APT_INSTALL)

clean-venv:
	rm -rf $(VENV)
