# Shared by the scripts under scripts/: paths, and running PostgreSQL as a non-root user.
# shellcheck shell=bash
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_MAJOR=${PG_MAJOR:-15}
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/$PG_MAJOR/bin/pg_config}
PGBIN=/usr/lib/postgresql/$PG_MAJOR/bin
# The majors built and tested. 15 is the host's (Debian 12); 17 and 18 run inside the Debian
# roots of scripts/pg_root.sh, which sets PG_MAJOR. Everything a major builds and every cluster
# it starts lives under $TARGET: target/ for 15, target/pg<major>/ for the others (cargo's
# artifacts among them: those are linked against the root's glibc).
PG_MAJORS=(15 17 18)
if [ "$PG_MAJOR" = 15 ]; then
    TARGET=$ROOT/target
else
    TARGET=$ROOT/target/pg$PG_MAJOR
    export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$TARGET}
fi
# cargo commands that build the extension without cargo pgrx (clippy, schema): the feature of
# this major instead of the default pg15. cargo pgrx install/test/package pick it themselves.
PG_FEATURES=(--no-default-features --features "pg$PG_MAJOR")
export USER=${USER:-$(id -un)}
export PATH="$HOME/.cargo/bin:$PATH"
# Backtraces from the build environment would leak into error DETAIL of servers we start.
unset RUST_BACKTRACE

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# PostgreSQL refuses to run as root: run server commands as `postgres` when we are root.
as_pg() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# start_cluster DIR PORT [DBNAME_FOR_PG_CRON]: initdb DIR if needed and start it on PORT,
# listening on localhost and on a socket in DIR, with pg_cron preloaded.
start_cluster() {
    local dir=$1 port=$2 crondb=${3:-postgres}
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then chown postgres: "$dir"; fi
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        # PostgreSQL 18's initdb turns data checksums on. A page the tests damage on purpose
        # would then fail the server's checksum check (XX001) before ntsb_perf's own page checks
        # see it; those checks are what the tests check, so every major runs without checksums.
        local checksums=()
        [ "$PG_MAJOR" -ge 18 ] && checksums=(--no-data-checksums)
        as_pg "$PGBIN/initdb" -D "$dir/data" --auth=trust --username=postgres \
            --encoding=UTF8 --locale=C.UTF-8 "${checksums[@]}" >"$dir/initdb.log"
        cat >>"$dir/data/postgresql.conf" <<CONF
port = $port
listen_addresses = 'localhost'
unix_socket_directories = '$dir'
shared_preload_libraries = 'pg_cron'
cron.database_name = '$crondb'
max_worker_processes = 16
fsync = off
wal_level = logical
CONF
    fi
    as_pg "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null
}

stop_cluster() {
    local dir=$1
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_pg "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
    fi
}

# psql against the cluster in DIR on PORT.
cluster_psql() {
    local dir=$1 port=$2
    shift 2
    "$PGBIN/psql" -X -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres "$@"
}

# Build and install the extension into the machine's PostgreSQL. Every cluster that has the
# library loaded must be stopped first: the install overwrites the .so in place.
install_extension() {
    local profile=${1:-debug}
    local flags=()
    [ "$profile" = release ] && flags+=(--release)
    log "installing ntsb_perf ($profile) into $($PG_CONFIG --pkglibdir)"
    (cd "$ROOT" && cargo pgrx install "${flags[@]}" --pg-config "$PG_CONFIG" >/dev/null)
}

# ensure_installed: the debug build of this tree is what the machine's PostgreSQL has installed,
# for the stages that use the installed library (scripts/regress.sh, tests/live/*.sh,
# tests/docs/doctest.sh). Installs it unless target/installed-debug.stamp says it is there: the
# stamp holds a hash of what the build reads (sources, SQL, manifests, toolchain) and the sha256
# of every installed ntsb_perf file right after this tree installed them. Any other install
# (another checkout, cargo pgrx test's pg_test build, make install's release build, an old
# release) changes those files, and any edit here changes the hash: both mean a new install.
# Stop the clusters that have the library loaded first (see install_extension).
ensure_installed() {
    local stamp=$TARGET/installed-debug.stamp src
    src=$(source_hash)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$src $(installed_sum)" ]; then
        log "ntsb_perf: this tree's debug build is installed already"
        return
    fi
    rm -f "$stamp"
    install_extension debug
    mkdir -p "$TARGET"
    echo "$src $(installed_sum)" >"$stamp"
}

# source_hash: a hash of everything `cargo pgrx install` reads from this tree, and of the tools.
source_hash() {
    {
        local p paths=()
        for p in Cargo.toml Cargo.lock build.rs ntsb_perf.control src crates sql .cargo; do
            [ -e "$ROOT/$p" ] && paths+=("$p")
        done
        (cd "$ROOT" && find "${paths[@]}" -type f | LC_ALL=C sort | xargs -d '\n' sha256sum)
        rustc -vV 2>/dev/null || true
        cargo pgrx --version 2>/dev/null || true
        echo "$PG_CONFIG ${RUSTFLAGS:-} ${CARGO_TARGET_DIR:-}"
    } | sha256sum | cut -c1-64
}

# installed_sum: one sha256 over the installed ntsb_perf files (library, control file, scripts).
installed_sum() {
    find "$($PG_CONFIG --pkglibdir)" "$($PG_CONFIG --sharedir)/extension" -maxdepth 1 -type f \
        \( -name 'ntsb_perf.so' -o -name 'ntsb_perf.control' -o -name 'ntsb_perf--*.sql' \) |
        LC_ALL=C sort | xargs -r -d '\n' sha256sum | sha256sum | cut -c1-64
}

# load_csv DIR PORT DB FILE: loads a CAROL-style export into the seed table `events` (which
# demo/schema.sql creates) and prints the counts of loaded and skipped rows.
load_csv() {
    local dir=$1 port=$2 db=$3 file=$4
    cluster_psql "$dir" "$port" -d "$db" -q -c "CREATE UNLOGGED TABLE ntsb_staging (
        accident_number text, event_date text, city text, state text, latitude text,
        longitude text, injury_severity text, aircraft_damage text, aircraft_category text,
        make text, model text, total_fatalities text, total_injuries text, total_uninjured text)"
    cluster_psql "$dir" "$port" -d "$db" -q \
        -c "COPY ntsb_staging FROM STDIN WITH (FORMAT csv, HEADER true, ENCODING 'LATIN1')" <"$file"
    cluster_psql "$dir" "$port" -d "$db" -f "$ROOT/demo/load_csv.sql"
}

# write_load_pgbench FILE MAX_ID PREFIX: the write load that auto-reindex runs under (make bench's
# P7, tests/live/reindex_live.sh): each transaction inserts one event (ev_id PREFIX<n>) and updates
# a random one, so the count of PREFIX rows afterwards must equal the committed transactions.
write_load_pgbench() {
    local file=$1 max_id=$2 prefix=$3
    cat >"$file" <<SQL
\\set id random(1, $max_id)
\\set f random(0, 3)
BEGIN;
INSERT INTO events (ev_id, event_date, state, injury_severity, total_fatalities, aircraft_category)
VALUES ('$prefix' || nextval('load_seq'), date '2021-01-01' + :f, 'AZ', 'NON-FATAL', 0, 'Airplane');
UPDATE events SET total_uninjured = coalesce(total_uninjured, 0) + 1 WHERE id = :id;
END;
SQL
    chmod 644 "$file"
}

# with_pg_lock CMD...: runs CMD holding the machine's lock for everything that installs into
# PostgreSQL's directories or starts a cluster (NTSB_PG_LOCK, /tmp/ntsb_pg.lock), or just runs it
# when this process holds that lock already: under `flock /tmp/ntsb_pg.lock make test`, the
# lock's open file is inherited, and a second flock of the file would wait for ourselves forever.
with_pg_lock() {
    local lock=${NTSB_PG_LOCK:-/tmp/ntsb_pg.lock} fd
    for fd in /proc/"$BASHPID"/fd/*; do
        if [ "$(readlink "$fd")" = "$lock" ] && flock -n "${fd##*/}"; then
            "$@"
            return
        fi
    done
    flock "$lock" "$@"
}
