# ntsb_perf: the README's commands. Every target installs what a fresh Debian 12 machine lacks.
SHELL := /bin/bash
ROWS ?= 150000
export ROWS NTSB_CSV

.PHONY: test demo demo-stop install package package-test package-test-chroot bench setup unit pgtest regress lint

test:            ## fmt, clippy, pure Rust tests, cargo pgrx test pg15, SQL regression tests, documentation examples
	scripts/test.sh

demo:            ## throwaway cluster under target/demo with accident data and the index reports
	scripts/demo.sh

demo-stop:
	scripts/demo-stop.sh

install:         ## release build into the machine's PostgreSQL 15 (then CREATE EXTENSION ntsb_perf)
	scripts/setup.sh
	source scripts/common.sh && install_extension release

package:         ## Debian package target/package/postgresql-15-ntsb-perf_<version>-1_amd64.deb (release build, for servers without Rust)
	scripts/setup.sh
	scripts/package.sh

package-test:    ## META.json check, make package, the package's fields and files, install/purge it in a throwaway cluster
	tests/package.sh

package-test-chroot: ## the package on a clean Debian 12 root (debootstrap; needs the Debian mirror, about 1 minute)
	scripts/setup.sh
	tests/package_chroot.sh

bench:           ## benchmarks, printed as ratios against an anchor measured in the same run
	scripts/bench.sh

setup:
	scripts/setup.sh

lint:
	cargo fmt --all --check
	cargo clippy --all-targets -- -D warnings

unit:
	cargo test -p ntsb_perf_core

pgtest:
	scripts/test.sh pgtest

regress:
	scripts/regress.sh
