#!/usr/bin/env bash
# tests/package/package.sh's install stage: ntsb_perf installed ONLY by the Debian package, in the
# machine's PostgreSQL 15. Run it under `flock /tmp/ntsb_pg.lock`: it moves the installed
# ntsb_perf files (make install's, cargo pgrx test's) aside, `apt-get install`s the package,
# runs CREATE EXTENSION and queries that call into the library in a throwaway cluster under
# target/package-test (port 28821), purges the package, checks its files are gone and CREATE
# EXTENSION fails, then moves the files back (checked by sha256). The trap restores the machine
# on any failure too; the cluster is stopped before the script (and so the lock) ends.
#
#   tests/package/package_install.sh DEB STAGE RELEASED_VERSION...
source "$(dirname "$0")/../../scripts/common.sh"
DEB=$(realpath "$1")
STAGE=$2
shift 2
RELEASED=("$@")
PKG=postgresql-$PG_MAJOR-ntsb-perf
EXT=ntsb_perf
DIR=$TARGET/package-test
PORT=${PACKAGE_TEST_PORT:-28821}
PKGLIBDIR=$($PG_CONFIG --pkglibdir)
EXTDIR=$($PG_CONFIG --sharedir)/extension
ASIDE=$DIR/aside
VERSION=$(dpkg-deb --field "$DEB" Version)
VERSION=${VERSION%-*}
APT=(apt-get -q -y -o DPkg::Lock::Timeout=300)
export DEBIAN_FRONTEND=noninteractive

[ "$(id -u)" = 0 ] || { echo "the install test needs root (apt-get install, dpkg --purge)" >&2; exit 2; }
state() { dpkg-query -W -f='${db:Status-Abbrev}' "$PKG" 2>/dev/null || true; }
if [ -n "$(state)" ] && [ "$(state)" != "un " ]; then
    echo "$PKG is installed already (dpkg state '$(state)'): the test would purge it; do it first" >&2
    exit 2
fi
if [ -e "$ASIDE" ]; then
    echo "$ASIDE exists: a former run did not restore the files it moved there; move them back first" >&2
    exit 2
fi
our_files() {
    local f
    for f in "$PKGLIBDIR/$EXT.so" "$PKGLIBDIR/$EXT"-*.so "$EXTDIR/$EXT.control" "$EXTDIR/$EXT"--*.sql; do
        [ -e "$f" ] && printf '%s\n' "$f"
    done
    return 0
}
psql_in() { local db=$1; shift; cluster_psql "$DIR" "$PORT" -d "$db" -qAt "$@"; }

restore() {
    local rc=$?
    set +e
    stop_cluster "$DIR"
    if [ -n "$(state)" ] && [ "$(state)" != "un " ]; then
        log "restore: dpkg --purge $PKG"
        dpkg --purge "$PKG" >>"$DIR/dpkg-purge.log" 2>&1 || cat "$DIR/dpkg-purge.log" >&2
    fi
    if [ -f "$ASIDE/files" ]; then
        local f n=0
        while IFS= read -r f; do
            mkdir -p "$(dirname "$f")"
            mv "$ASIDE$f" "$f" && n=$((n + 1))
        done <"$ASIDE/files"
        if sha256sum --quiet -c "$ASIDE/sha256"; then
            log "restore: the $n ntsb_perf files that were installed before are back (sha256 checked)"
            rm -rf "$ASIDE"
        else
            echo "restore: the files moved back differ; what is left is in $ASIDE" >&2
            rc=1
        fi
    fi
    [ $rc = 0 ] || echo "package install test FAILED (rc $rc); the machine is restored" >&2
    exit $rc
}
trap restore EXIT

# 1. Nothing of ntsb_perf installed but what the package brings.
mkdir -p "$ASIDE"
our_files >"$ASIDE/files"
: >"$ASIDE/sha256"
if [ -s "$ASIDE/files" ]; then
    xargs -d '\n' sha256sum <"$ASIDE/files" >"$ASIDE/sha256"
    while IFS= read -r f; do
        mkdir -p "$ASIDE$(dirname "$f")"
        mv "$f" "$ASIDE$f"
    done <"$ASIDE/files"
fi
log "moved aside the $(wc -l <"$ASIDE/files") ntsb_perf files installed before"
[ -z "$(our_files)" ] || { echo "ntsb_perf files remain: $(our_files)" >&2; exit 1; }

# 2. apt-get install resolves Depends (postgresql-15 is installed already).
log "apt-get install $DEB"
"${APT[@]}" install "$DEB" >"$DIR/apt-install.log" 2>&1 ||
    { cat "$DIR/apt-install.log" >&2; exit 1; }
[ "$(state)" = "ii " ] || { echo "dpkg state of $PKG is '$(state)' after apt-get install" >&2; exit 1; }
dpkg --verify "$PKG" || { echo "dpkg --verify $PKG found changed files" >&2; exit 1; }
listed=$(dpkg -L "$PKG" | while IFS= read -r p; do [ -f "$p" ] && printf '%s\n' "$p"; done | sort)
want=$(dpkg-deb --fsys-tarfile "$DEB" | tar -t | sed -n 's|^\./\(.*[^/]\)$|/\1|p' | sort)
[ "$listed" = "$want" ] || { echo "dpkg -L lists other files than the package holds:"; diff <(echo "$want") <(echo "$listed"); exit 1; } >&2
payload=$(cd "$STAGE" && find . -type f | sed 's|^\.||' | sort)
for p in $payload; do
    [ "$(sha256sum <"$p")" = "$(sha256sum <"$STAGE$p")" ] || { echo "installed $p differs from the staged one" >&2; exit 1; }
done
[ "$(our_files | sort)" = "$payload" ] ||
    { echo "the ntsb_perf files in place are not the package's: $(our_files)" >&2; exit 1; }
log "dpkg -L: $(wc -l <<<"$listed") files, the $(wc -w <<<"$payload") staged ones in place with equal sha256"

# 3. CREATE EXTENSION and calls into the library.
rm -rf "$DIR/data"
start_cluster "$DIR" "$PORT"
psql_in postgres -c "CREATE DATABASE pkgtest"
psql_in pkgtest -c "CREATE EXTENSION ntsb_perf" \
    -c "CREATE TABLE t (id int PRIMARY KEY, v text)" -c "CREATE INDEX t_v ON t (v)"
got=$(psql_in pkgtest -F ' ' -c "SELECT extversion FROM pg_extension WHERE extname = 'ntsb_perf'" \
    -c "SELECT count(*) >= 2 FROM ntsb_perf.index_usage()" -c "SELECT count(*) FROM ntsb_perf.index_usage('public')" \
    -c "SELECT ntsb_perf.accidents(s), ntsb_perf.fatal_accidents(s), ntsb_perf.fatalities(s),
               ntsb_perf.uninjured(s), ntsb_perf.severity_counts(s)
          FROM (SELECT ntsb_perf.accident_stats(sev, f, ser, mi, un) AS s
                  FROM (VALUES ('FATAL(2)', 2, 0, 0, 0), ('NON-FATAL', 0, 1, 1, 3),
                               ('FATL', 1, NULL, NULL, NULL), ('MINR', 0, 0, 2, 1), (NULL, 0, 0, 0, 0))
                       v(sev, f, ser, mi, un)) q" \
    -c "SELECT count(*) FROM pg_available_extensions WHERE name = 'ntsb_perf' AND default_version = '$VERSION'")
expected="$VERSION
t
2
5 2 3 4 {\"FATL\": 2, \"MINR\": 1, \"NONE\": 1, \"SERS\": 0, \"UNKN\": 1}
1"
if [ "$got" != "$expected" ]; then
    echo "smoke queries gave:"; echo "$got"; echo "expected:"; echo "$expected"; exit 1
fi >&2
for r in "${RELEASED[@]}"; do
    path=$(psql_in pkgtest -c "SELECT path FROM pg_extension_update_paths('ntsb_perf')
                                WHERE source = '$r' AND target = '$VERSION'")
    [ -n "$path" ] || { echo "PostgreSQL finds no update path from $r to $VERSION in the package" >&2; exit 1; }
    log "update path $r -> $VERSION: $path"
done
log "CREATE EXTENSION ntsb_perf $VERSION from the package; index_usage and accident_stats answer"
stop_cluster "$DIR"

# 4. Purged: the files are gone and CREATE EXTENSION fails.
dpkg --purge "$PKG" >"$DIR/dpkg-purge.log" 2>&1 || { cat "$DIR/dpkg-purge.log" >&2; exit 1; }
[ -z "$(state)" ] || [ "$(state)" = "un " ] || { echo "dpkg state after purge: '$(state)'" >&2; exit 1; }
for p in $payload /usr/share/doc/$PKG; do
    [ ! -e "$p" ] || { echo "$p is still there after dpkg --purge" >&2; exit 1; }
done
[ -z "$(our_files)" ] || { echo "ntsb_perf files after purge: $(our_files)" >&2; exit 1; }
start_cluster "$DIR" "$PORT"
psql_in postgres -c "CREATE DATABASE after_purge"
if err=$(psql_in after_purge -c "CREATE EXTENSION ntsb_perf" 2>&1); then
    echo "CREATE EXTENSION ntsb_perf succeeded after dpkg --purge" >&2; exit 1
fi
# PostgreSQL 15 says "could not open extension control file"; 16 and later "is not available".
grep -Eq 'could not open extension control file|extension "ntsb_perf" is not available' <<<"$err" ||
    { echo "CREATE EXTENSION after purge failed otherwise: $err" >&2; exit 1; }
[ "$(psql_in postgres -c "SELECT count(*) FROM pg_available_extensions WHERE name = 'ntsb_perf'")" = 0 ] ||
    { echo "ntsb_perf is still in pg_available_extensions after purge" >&2; exit 1; }
log "purged: files gone, CREATE EXTENSION fails (${err#ERROR:  })"
stop_cluster "$DIR"
