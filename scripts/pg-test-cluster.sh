#!/bin/sh
# pg-test-cluster.sh - a throwaway PostgreSQL cluster for steme's pg tests.
#
#   pg-test-cluster.sh start     initdb a cluster in a temporary directory, start it on
#                                127.0.0.1:$STEME_PG_PORT (default 54329), create the
#                                database "steme", print its URL
#   pg-test-cluster.sh url       print the URL of the running cluster
#   pg-test-cluster.sh restart   pg_ctl restart (fast shutdown: sessions are cut, as in a
#                                real server restart); the URL stays the same
#   pg-test-cluster.sh stop      stop the cluster and delete its directory
#   pg-test-cluster.sh status    exit 0 if it is running
#
# Typical use:  export STEME_PG_URL=$(scripts/pg-test-cluster.sh start)
#
# PostgreSQL refuses to run as root, so as root (CI) the cluster belongs to a system user
# ($STEME_PG_OSUSER, default steme-pg, created if missing) and every server command runs
# as that user. The state file ($STEME_PG_STATE, default /tmp/steme-pg-test.state) records
# the cluster's directory so that url/restart/stop find it from another shell.
# Binaries: $STEME_PG_BIN, else /usr/lib/postgresql/<newest>/bin (Debian), else $PATH.
# Authentication is "trust" and the server listens on loopback only: a test cluster.
set -eu

PORT=${STEME_PG_PORT:-54329}
OSUSER=${STEME_PG_OSUSER:-steme-pg}
STATE=${STEME_PG_STATE:-/tmp/steme-pg-test.state}
DBNAME=steme
DBUSER=steme

die() { echo "pg-test-cluster: $*" >&2; exit 1; }

find_bin() {
    if [ -n "${STEME_PG_BIN:-}" ]; then echo "$STEME_PG_BIN"; return; fi
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -n "$d" ] && [ -x "$d/initdb" ]; then echo "$d"; return; fi
    p=$(command -v initdb 2>/dev/null || true)
    [ -n "$p" ] || die "initdb not found: apt-get install postgresql (or set STEME_PG_BIN)"
    dirname "$p"
}

# Run a command as the cluster's owner (ourselves unless we are root).
as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u "$OSUSER" -- "$@"
    else
        "$@"
    fi
}

url_of() { echo "postgres://$DBUSER@127.0.0.1:$PORT/$DBNAME"; }

cluster_dir() {
    [ -f "$STATE" ] || return 1
    d=$(cat "$STATE")
    [ -d "$d/data" ] || return 1
    echo "$d"
}

cmd_start() {
    if d=$(cluster_dir); then
        if as_owner "$(find_bin)/pg_ctl" -D "$d/data" status >/dev/null 2>&1; then
            url_of
            return
        fi
        # A throwaway cluster left behind by a process that was killed (its
        # server is gone): discard it and start afresh.
        echo "pg-test-cluster: discarding a stale cluster recorded in $STATE ($d)" >&2
        rm -rf "$d"
        rm -f "$STATE"
    elif [ -f "$STATE" ]; then
        rm -f "$STATE" # records a directory that no longer exists
    fi
    bin=$(find_bin)
    if [ "$(id -u)" = 0 ]; then
        id "$OSUSER" >/dev/null 2>&1 ||
            useradd --system --no-create-home --shell /usr/sbin/nologin "$OSUSER" ||
            die "cannot create user $OSUSER"
    fi
    d=$(mktemp -d "${TMPDIR:-/tmp}/steme-pg.XXXXXX")
    chmod 755 "$d"
    [ "$(id -u)" = 0 ] && chown "$OSUSER" "$d"
    echo "$d" >"$STATE"
    as_owner "$bin/initdb" -D "$d/data" -U "$DBUSER" --auth=trust --encoding=UTF8 \
        --no-instructions >"$d/initdb.log" 2>&1 || { cat "$d/initdb.log" >&2; die "initdb failed"; }
    # Loopback TCP plus a socket in our own directory (not /var/run/postgresql, which
    # needs root). max_connections leaves room for the tests' pools and helpers.
    as_owner "$bin/pg_ctl" -D "$d/data" -l "$d/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $PORT -k $d -c max_connections=200" \
        start >/dev/null || { cat "$d/server.log" >&2; die "the server did not start"; }
    as_owner "$bin/createdb" -h 127.0.0.1 -p "$PORT" -U "$DBUSER" "$DBNAME" ||
        die "createdb failed"
    url_of
}

cmd_url() {
    cluster_dir >/dev/null || die "no cluster (run '$0 start')"
    url_of
}

cmd_restart() {
    d=$(cluster_dir) || die "no cluster (run '$0 start')"
    as_owner "$(find_bin)/pg_ctl" -D "$d/data" -l "$d/server.log" -w -t 60 -m fast \
        restart >/dev/null || { tail -n 20 "$d/server.log" >&2; die "restart failed"; }
}

cmd_status() {
    d=$(cluster_dir) || exit 1
    as_owner "$(find_bin)/pg_ctl" -D "$d/data" status >/dev/null 2>&1
}

cmd_stop() {
    if d=$(cluster_dir); then
        as_owner "$(find_bin)/pg_ctl" -D "$d/data" -w -t 60 -m fast stop >/dev/null 2>&1 || true
        rm -rf "$d"
    fi
    rm -f "$STATE"
}

case "${1:-}" in
start) cmd_start ;;
url) cmd_url ;;
restart) cmd_restart ;;
stop) cmd_stop ;;
status) cmd_status ;;
*) echo "usage: $0 start|url|restart|stop|status" >&2; exit 2 ;;
esac
