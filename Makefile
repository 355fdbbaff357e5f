# Silkroute Academy — two commands: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: demo prod-local test setup lint check-layers migrate seed run browser cjk-font pdf-tools clean messages

## Create the virtualenv and install the locked dependencies (only when they change),
## and a CJK font for the Chinese PDF certificates. --compile-bytecode: every module
## compiled once here (~45 CPU s), not by the first processes that import it: a lab
## server's first start otherwise costs ~3.5 CPU s more, paid by every server of a
## class that opens its labs at once right after setup.
setup: $(STAMP) cjk-font
$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { \
	  echo "Could not create a virtualenv: on Debian/Ubuntu run 'apt-get install python3-venv'."; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip uv
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -r requirements.lock
	@touch $(STAMP)

migrate: setup
	@mkdir -p var
	$(BIN)/python manage.py migrate --noinput --verbosity 0

seed: migrate
	$(BIN)/python manage.py seed_demo

## Set everything up and run the whole platform at http://127.0.0.1:8000 (Ctrl-C stops it).
demo: seed
	$(BIN)/python manage.py runplatform

## The production-shaped run (deploy/prod-local.sh): this machine's PostgreSQL and
## Redis, DEBUG off, collected static files, several uvicorn workers, Celery worker
## and beat, the hub; state under var/prod/. /healthz and /readyz tell when it is up.
prod-local: setup
	deploy/prod-local.sh

## Install the browser the end-to-end tests drive (Debian's chromium) when missing.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing Debian's chromium for the browser tests..."; \
	    (apt-get install -y -qq chromium >/dev/null 2>&1 || \
	     (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)); \
	  else echo "chromium not found: browser tests will be skipped (apt-get install chromium)."; fi; }

## A CJK font for the Chinese certificate PDFs (WenQuanYi Micro Hei: one 5 MB file),
## installed as root with apt-get when no Chinese font is present.
cjk-font:
	@fc-list :lang=zh 2>/dev/null | grep -q . || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing a CJK font (fonts-wqy-microhei) for Chinese PDFs..."; \
	    (apt-get install -y -qq fonts-wqy-microhei >/dev/null 2>&1 || \
	     (apt-get update -qq && apt-get install -y -qq fonts-wqy-microhei >/dev/null)) || \
	    echo "Could not install a CJK font: Chinese PDFs will show empty boxes."; \
	  else echo "No CJK font: Chinese PDFs will show empty boxes (apt-get install fonts-wqy-microhei)."; fi; }

## pdftotext and pdftoppm (poppler-utils), with which the tests read the certificate
## PDFs back, and zbarimg (zbar-tools), with which the journey reads their QR codes.
## The PDF text tests skip without them; the journey test (--journey) fails.
pdf-tools:
	@{ command -v pdftotext && command -v zbarimg; } >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing poppler-utils and zbar-tools for the PDF and QR tests..."; \
	    (apt-get install -y -qq poppler-utils zbar-tools >/dev/null 2>&1 || \
	     (apt-get update -qq && apt-get install -y -qq poppler-utils zbar-tools >/dev/null)); \
	  else echo "pdftotext or zbarimg not found: PDF tests will be skipped (apt-get install poppler-utils zbar-tools)."; fi; }

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

## Set up and run the whole suite (lint, layer contract, tests).
test: setup browser pdf-tools lint
	$(BIN)/pytest

## Regenerate the translation catalogue after changing interface strings, then compile
## it (needs GNU gettext). The compiled .mo is committed, so running needs no gettext.
messages: setup
	$(BIN)/python manage.py makemessages -l zh_Hans --ignore=.venv --ignore=var --ignore=tests --no-obsolete
	$(BIN)/python manage.py compilemessages -l zh_Hans --ignore=.venv

clean:
	rm -rf var
