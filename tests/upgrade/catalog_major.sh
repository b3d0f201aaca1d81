#!/usr/bin/env bash
# PostgreSQL 17 and 18 (run inside their roots by `scripts/test.sh pg17|pg18`): a fresh install
# of this version has the same SQL surface as 15 upgraded in place from the last release. The
# old releases cannot be built for 17 and 18 (they predate those majors), so the upgrade itself
# is tested on 15 only (tests/upgrade/upgrade.sh, which also proves the upgraded 15 catalog equal
# to a fresh 15 install); here the catalog facts of tests/upgrade/catalog.sql on this major are
# compared with the upgraded 15 catalog that stage left in target/upgrade-test/. Every fact must
# match (names, signatures, defaults, volatility, parallel safety, function bodies, columns,
# constraints, triggers, config dumps, ACLs) once what the server itself records differently is
# folded on both sides, each for a reason of PostgreSQL's:
#   - 17 added the MAINTAIN privilege: a table's owner holds arwdDxtm where 15 says arwdDxt;
#   - 17 records the row types of an extension's tables and views, and the array types of its
#     types, as members of the extension (15 leaves them out): those `type` facts are dropped
#     when their relation or element type is a member fact itself;
#   - 18 records each NOT NULL column as a constraint too (`<table>_<column>_not_null`): those
#     constraint facts are dropped when the column's own fact says notnull=t;
#   - 16 deparses a view over one relation without qualifying its columns: views are compared by
#     their text with column qualifiers removed (tests/upgrade/views.sql), not by catalog.sql's md5.
#
#   tests/upgrade/catalog_major.sh [REFERENCE]   (default target/upgrade-test/catalog-upgraded.txt)
source "$(dirname "$0")/../../scripts/common.sh"
source "$ROOT/tests/lib.sh"
REF=${1:-$ROOT/target/upgrade-test/catalog-upgraded.txt}
DIR=$TARGET/catalog-test
PORT=${CATALOG_PORT:-28824}
[ -s "$REF" ] || fail "no $REF: the upgrade stage on 15 writes it (scripts/test.sh upgrade)"

ensure_installed
trap 'stop_cluster "$DIR"' EXIT
stop_cluster "$DIR"
rm -rf "$DIR/data"
start_cluster "$DIR" "$PORT"
cluster_psql "$DIR" "$PORT" -d postgres -q -c "CREATE DATABASE ntsb_fresh"
cluster_psql "$DIR" "$PORT" -d ntsb_fresh -q -c "CREATE EXTENSION ntsb_perf"
cluster_psql "$DIR" "$PORT" -d ntsb_fresh -AtqX -f "$ROOT/tests/upgrade/catalog.sql" >"$DIR/catalog-fresh.txt"
cluster_psql "$DIR" "$PORT" -d ntsb_fresh -AtqX -f "$ROOT/tests/upgrade/views.sql" >"$DIR/views-fresh.txt"
VIEWS=$(dirname "$REF")/views-upgraded.txt
[ -s "$VIEWS" ] || fail "no $VIEWS: the upgrade stage on 15 writes it (scripts/test.sh upgrade)"
# fold FILE: the facts with what differs by major folded (see above).
fold() {
    python3 - "$1" <<'PY'
import re, sys
lines = open(sys.argv[1]).read().splitlines()
names = {l.split(" | ")[0] for l in lines}
out = []
for l in lines:
    if l.startswith("view "):
        continue
    m = re.match(r"type (\S+?)(\[\])? \| type=(\w)", l)
    if m and ((m[2] and f"type {m[1]}" in names) or (not m[2] and m[3] == "c" and f"relation {m[1]}" in names)):
        continue
    m = re.match(r"constraint (\S+)\.[^.\s]+ \| NOT NULL (\S+)$", l)
    if m and any(n.startswith(f"column {m[1]}.{m[2]} |") and " notnull=t " in n for n in lines):
        continue
    out.append(re.sub(r"=arwdDxtm/", "=arwdDxt/", l))
print("\n".join(out))
PY
}
fold "$REF" >"$DIR/catalog-15-folded.txt"
fold "$DIR/catalog-fresh.txt" >"$DIR/catalog-fresh-folded.txt"
cat "$VIEWS" >>"$DIR/catalog-15-folded.txt"
cat "$DIR/views-fresh.txt" >>"$DIR/catalog-fresh-folded.txt"
if ! diff -u "$DIR/catalog-15-folded.txt" "$DIR/catalog-fresh-folded.txt" >"$DIR/catalog.diff"; then
    head -40 "$DIR/catalog.diff" >&2
    fail "a fresh install on PostgreSQL $PG_MAJOR differs from 15 upgraded from the last release (full diff: $DIR/catalog.diff)"
fi
ok "PostgreSQL $PG_MAJOR: $(wc -l <"$DIR/catalog-fresh-folded.txt") catalog facts of a fresh install ($(wc -l <"$DIR/catalog-fresh.txt") before folding) identical to 15's upgraded catalog ($(grep -m1 '^extension ' "$REF"))"
