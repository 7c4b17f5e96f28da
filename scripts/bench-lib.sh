# Shared by the scripts/bench-*.sh benchmarks; sourced, not run.
#
#   bench_start NAME    a private directory ($DIR with logs/ and conf/),
#                       two free loopback ports ($REDIS_PORT, $HTTP_PORT),
#                       a redis-server on the first, answering PING; at
#                       exit nginx (if bench_nginx_pid names one, or the
#                       daemon of $DIR), the extra $BENCH_PID (one pid
#                       or several, blank-separated) and Redis are
#                       stopped and $DIR removed.  BENCH_REDIS: more
#                       redis-server settings for it, e.g.
#                       "--hash-max-listpack-value 1024" (none: Redis's
#                       defaults).
#   bench_tokens        $DIR/conf/tokens: 49 filler tokens and one whose
#                       plaintext is $STATIC; $RUNTIME, a run-time token
#                       created in the bench Redis.
#   bench_nginx         starts nginx on $DIR/conf/nginx.conf and waits
#                       until it takes connections on $HTTP_PORT.
#   bench_wrk_post      $DIR/post.lua: a POST of a 32-byte JSON body.
#   bench_rate PATH     req/s of one wrk run (1 thread, $CONNS connections,
#                       $SECS s, $DIR/post.lua) against PATH on
#                       $HTTP_PORT; a count of non-2xx replies on stderr.
#   bench_median N...   the median of the numbers (of an even count, the
#                       lower of the middle two).

BENCH_PID=
REDIS_PID=

bench_cleanup() {
    # shellcheck disable=SC2086
    [ -n "$BENCH_PID" ] && kill $BENCH_PID 2>/dev/null \
        && wait $BENCH_PID 2>/dev/null
    [ -f "$DIR/logs/nginx.pid" ] \
        && /usr/sbin/nginx -p "$DIR/" -c conf/nginx.conf -s stop 2>/dev/null
    [ -n "$REDIS_PID" ] && kill "$REDIS_PID" 2>/dev/null \
        && wait "$REDIS_PID" 2>/dev/null
    rm -rf "$DIR"
}

bench_start() {
    DIR=$(mktemp -d "${TMPDIR:-/tmp}/taskgw-$1.XXXXXX")
    chmod 755 "$DIR"
    mkdir -p "$DIR/logs" "$DIR/conf"
    REDIS_PORT=$(perl scripts/free-port.pl)
    HTTP_PORT=$(perl scripts/free-port.pl)
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM

    # shellcheck disable=SC2086
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' \
        --appendonly no --dir "$DIR" --logfile "$DIR/logs/redis.log" \
        ${BENCH_REDIS:-} &
    REDIS_PID=$!
    i=0
    until redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; do
        i=$((i + 1))
        [ $i -gt 100 ] && { echo "bench: redis did not start" >&2; exit 1; }
        sleep 0.05
    done
}

bench_tokens() {
    STATIC=bench-static-token-0123456789abcdefghijklmnopq
    : > "$DIR/conf/tokens"
    n=1
    while [ $n -lt 50 ]; do
        printf 'filler-%d dev sha256:%s\n' $n \
            "$(printf 'filler %d' $n | sha256sum | cut -d' ' -f1)" \
            >> "$DIR/conf/tokens"
        n=$((n + 1))
    done
    printf '%s\n' "$STATIC" | build/taskgwctl token hash bench dev \
        >> "$DIR/conf/tokens"
    RUNTIME=$(build/taskgwctl -r "127.0.0.1:$REDIS_PORT" token create rt dev \
              2>/dev/null)
}

bench_nginx() {
    /usr/sbin/nginx -p "$DIR/" -c conf/nginx.conf || exit 1
    i=0
    until perl -MIO::Socket::INET -e 'exit !IO::Socket::INET->new(
              PeerAddr => "127.0.0.1:$ARGV[0]")' "$HTTP_PORT"; do
        i=$((i + 1))
        [ $i -gt 100 ] && { echo "bench: nginx did not start" >&2; exit 1; }
        sleep 0.05
    done
}

bench_wrk_post() {
    cat > "$DIR/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body   = '{"report":"monthly","rows":1000}'
wrk.headers["Content-Type"] = "application/json"
LUA
}

bench_rate() {
    wrk -t 1 -c "$CONNS" -d "${SECS}s" -s "$DIR/post.lua" \
        "http://127.0.0.1:$HTTP_PORT$1" 2>&1 \
        | awk '/Requests\/sec/ { print $2 } /Non-2xx/ { bad = $NF } END { if (bad) print "non-2xx " bad > "/dev/stderr" }'
}

bench_median() {
    printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"
}
