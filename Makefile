# ntsb_perf: the README's commands. Every target installs what a fresh Debian 12 machine lacks.
SHELL := /bin/bash
ROWS ?= 150000
export ROWS NTSB_CSV

.DEFAULT_GOAL := test
STAGES := lint unit pgtest regress report upgrade reindex-live dump-restore docs package generated pg17 pg18

.PHONY: help test $(addprefix test-,$(STAGES)) demo demo-stop install package package-test \
	package-test-chroot bench setup unit pgtest regress lint

help:            ## this list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 22
	@echo "test stages (make test-<stage>, or scripts/test.sh <stage>...; tests/README.md):"
	@scripts/test.sh --list

test:            ## every test stage in order (lint, unit, pgtest, regress, docs, ...), each timed, a table at the end (CI runs this)
	scripts/test.sh

# make test-regress, make test-docs, ...: one stage alone (it installs what it needs).
# REGRESS_TESTS="bloat reindex" make test-regress runs only those regression files.
$(addprefix test-,$(STAGES)): test-%:
	scripts/test.sh $*

# PG=17 or PG=18: the demo on that major, inside its Debian root (scripts/pg_root.sh), under
# target/pg<major>/demo.
# Inside a root (scripts/pg_root.sh sets PG_MAJOR) a make defaults to that root's major.
PG ?= $(or $(PG_MAJOR),15)

demo:            ## throwaway cluster under target/demo with accident data and the index reports (PG=17, PG=18: that major)
	scripts/pg_root.sh $(PG) -- scripts/demo.sh

demo-stop:
	scripts/pg_root.sh $(PG) -- scripts/demo-stop.sh

install:         ## release build into the machine's PostgreSQL 15 (then CREATE EXTENSION ntsb_perf)
	scripts/setup.sh
	source scripts/common.sh && install_extension release

package:         ## Debian package target/package/postgresql-15-ntsb-perf_<version>-1_amd64.deb (release build, for servers without Rust; PG=17, PG=18: target/pg<major>/package/, built in that major's root)
	scripts/pg_root.sh $(PG) -- scripts/setup.sh
	scripts/pg_root.sh $(PG) -- scripts/package.sh

package-test:    ## META.json check, make package, the package's fields and files, install/purge it in a throwaway cluster
	scripts/test.sh package

package-test-chroot: ## the package installed and purged in a clean Debian root (bookworm; PG=17 trixie, PG=18 forky; debootstrap, needs the Debian mirror)
	scripts/setup.sh
	PG_MAJOR=$(PG) tests/package/package_chroot.sh

bench:           ## benchmarks, printed as ratios against an anchor measured in the same run (PG=17, PG=18: bloat and stats parts on that major)
	scripts/pg_root.sh $(PG) -- scripts/bench.sh

setup:
	scripts/setup.sh

# Former names of four stages.
lint unit pgtest regress:
	scripts/test.sh $@
