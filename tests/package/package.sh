#!/usr/bin/env bash
# The Debian package and META.json (make test's last stage; `make package-test` alone):
#  1. META.json follows PGXN Meta Spec 1.0.0 and has Cargo.toml's version (tests/package/meta_json.py);
#  2. make package builds the .deb; tests/package/package_check.py checks its control fields, that its
#     files are exactly what cargo pgrx package staged (same paths under /usr/lib/postgresql/<major>
#     and /usr/share/postgresql/<major>, same sha256) plus the docs, that Depends covers the libraries
#     and symbol versions the module needs, and that every released version has an upgrade path;
#  3. packing the staged tree again gives the same .deb, byte for byte;
#  4. the checks can fail: altered copies of the package (a script missing, a stale one added,
#     a file moved, Depends without libc6's version, libgcc-s1 or the server, a package apt does
#     not know, a changed module, a wrong Installed-Size) must each be refused for that reason;
#  5. under `flock /tmp/ntsb_pg.lock`, tests/package/package_install.sh installs the package with apt-get
#     as the only source of ntsb_perf, runs CREATE EXTENSION and queries, purges it and puts the
#     machine's former files back.
source "$(dirname "$0")/../../scripts/common.sh"
cd "$ROOT"
# Versions released before this one (tests/upgrade/releases): the package must carry an upgrade
# path from each. PG_MAJOR picks the major (17 and 18 run this inside their roots: scripts/pg_root.sh).
mapfile -t RELEASED < <(awk '!/^#/ && NF {print $1}' tests/upgrade/releases)
STAGE=$TARGET/release/ntsb_perf-pg$PG_MAJOR
start=$(date +%s)

log "META.json (PGXN Meta Spec 1.0.0)"
python3 tests/package/meta_json.py

log "make package"
t0=$(date +%s)
DEB=$(make -s --no-print-directory package | tail -n 1)
[ -f "$DEB" ] || { echo "make package printed no package path (got '$DEB')" >&2; exit 1; }
log "make package: ${DEB#"$ROOT"/} in $(( $(date +%s) - t0 )) s"
dpkg-deb --info "$DEB"
dpkg-deb --contents "$DEB"
python3 tests/package/package_check.py "$DEB" "$STAGE" --released "${RELEASED[@]}"

log "packing again gives the same .deb"
again=$(PACKAGE_OUT=$TARGET/package/repro scripts/package.sh --no-build 2>/dev/null | tail -n 1)
cmp "$DEB" "$again" || { echo "a second packing of the same tree differs: $again" >&2; exit 1; }
rm -rf "$TARGET/package/repro"

log "the checks refuse altered packages"
MUT=$TARGET/package/mutants
rm -rf "$MUT"
ext=usr/share/postgresql/$PG_MAJOR/extension
lib=usr/lib/postgresql/$PG_MAJOR/lib
# mutant NAME EXPECTED_MESSAGE_REGEX SHELL_CODE (run in the unpacked tree; DEBIAN/ is its control)
mutant() {
    local name=$1 expect=$2 code=$3 dir=$MUT/$1 out
    mkdir -p "$dir"
    dpkg-deb -R "$DEB" "$dir/root"
    (cd "$dir/root" && eval "$code")
    mkdir -p "$dir/out"
    dpkg-deb --root-owner-group -Znone -b "$dir/root" "$dir/out/$(basename "$DEB")" >/dev/null 2>&1
    if out=$(python3 tests/package/package_check.py "$dir/out/$(basename "$DEB")" "$STAGE" --released "${RELEASED[@]}"); then
        echo "the check passed an altered package ($name)" >&2; exit 1
    fi
    grep -Eq "$expect" <<<"$out" || { echo "altered package ($name) refused, but not for /$expect/:"; echo "$out"; exit 1; } >&2
    echo "  refused: $name ($(grep -Em1 "$expect" <<<"$out"))"
}
upgrade=$(find sql -maxdepth 1 -name 'ntsb_perf--*--*.sql' -printf '%f\n' | sort | sed -n 1p)
version=$(dpkg-deb --field "$DEB" Version)
version=${version%-*}
mutant missing-script "missing from the package: /$ext/${upgrade:-ntsb_perf--$version.sql}" \
    "rm $ext/${upgrade:-ntsb_perf--$version.sql}"
mutant stale-script "in the package but not expected: /$ext/ntsb_perf--0.0.9--0.1.0.sql" \
    "echo 'SELECT 1;' >$ext/ntsb_perf--0.0.9--0.1.0.sql"
mutant wrong-path "missing from the package: /$ext/ntsb_perf.control" \
    "mkdir -p usr/share/postgresql/extension && mv $ext/ntsb_perf.control usr/share/postgresql/extension/"
mutant libc6-unversioned "Depends needs libc6 \(>= 2\.[0-9]+\)" \
    "sed -i 's/libc6 ([^)]*)/libc6/' DEBIAN/control"
mutant libc6-too-old "libc6 \(>= 2\.2\.5\) is older than" \
    "sed -i 's/libc6 ([^)]*)/libc6 (>= 2.2.5)/' DEBIAN/control"
mutant no-libgcc "needs libgcc_s\.so\.1 .*which Depends does not name" \
    "sed -i 's/, libgcc-s1 ([^)]*)//' DEBIAN/control"
mutant no-server "Depends lacks the server package" \
    "sed -i 's/^Depends: postgresql-$PG_MAJOR, /Depends: /' DEBIAN/control"
mutant unknown-package "postgresql-$PG_MAJOR-postgis-9 \(named in the relations\) is no package apt can install" \
    "sed -i 's/^Suggests: .*/Suggests: postgresql-$PG_MAJOR-postgis-9/' DEBIAN/control"
mutant changed-module "$lib/ntsb_perf.so: sha256 .* differs from the staged" \
    "printf x >>$lib/ntsb_perf.so"
mutant installed-size "Installed-Size is 1," \
    "sed -i 's/^Installed-Size: .*/Installed-Size: 1/' DEBIAN/control"
rm -rf "$MUT"

log "install from the package only (flock /tmp/ntsb_pg.lock)"
t0=$(date +%s)
with_pg_lock "$ROOT/tests/package/package_install.sh" "$DEB" "$STAGE" "${RELEASED[@]}"
log "install stage: $(( $(date +%s) - t0 )) s (waiting for the lock included)"
echo "$DEB" >"$TARGET/package/tested-deb"   # for the clean-root test (scripts/test.sh)
log "package tests passed in $(( $(date +%s) - start )) s"
