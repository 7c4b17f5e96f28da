#!/bin/sh
# `make run`: a private taskgw stack on loopback, in the foreground:
# redis-server, nginx with the module and conf/nginx.conf, one worker with
# conf/taskgw-worker.json.  Ctrl-C stops everything it started.
set -u

cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
RUN=$ROOT/build/run
rm -rf "$RUN"
mkdir -p "$RUN/logs" "$RUN/conf" "$RUN/temp"

REDIS_PORT=$(perl scripts/free-port.pl)
HTTP_PORT=8080
if ! perl -MIO::Socket::INET -e 'IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 8080, Listen => 1, ReuseAddr => 1) or exit 1'; then
    HTTP_PORT=$(perl scripts/free-port.pl)
fi

PIDS=
cleanup() {
    trap - INT TERM EXIT
    for p in $PIDS; do
        kill -TERM "$p" 2>/dev/null
    done
    wait 2>/dev/null
    echo
    echo "taskgw: stopped (logs in $RUN/logs)"
}
trap cleanup EXIT
# Ctrl-C is the normal way out: stop everything and exit 0
trap 'exit 0' INT TERM

# nginx: the example config with this stack's ports and private paths
sed -e "s#load_module modules/ngx_http_taskgw_module.so;#load_module $ROOT/build/ngx_http_taskgw_module.so;#" \
    -e "s#127.0.0.1:6379#127.0.0.1:$REDIS_PORT#" \
    -e "s#listen 127.0.0.1:8080;#listen 127.0.0.1:$HTTP_PORT;#" \
    -e "s#^http {#http {\n    client_body_temp_path temp/body;\n    proxy_temp_path temp/proxy;\n    fastcgi_temp_path temp/fastcgi;\n    uwsgi_temp_path temp/uwsgi;\n    scgi_temp_path temp/scgi;#" \
    conf/nginx.conf > "$RUN/conf/nginx.conf"

sed -e "s#\"127.0.0.1:6379\"#\"127.0.0.1:$REDIS_PORT\"#" \
    conf/taskgw-worker.json > "$RUN/conf/taskgw-worker.json" || exit 1

redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' \
    --appendonly no --dir "$RUN" --logfile "$RUN/logs/redis.log" &
PIDS="$PIDS $!"

i=0
until redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; do
    i=$((i + 1))
    [ $i -gt 100 ] && { echo "taskgw: redis-server did not start" >&2; exit 1; }
    sleep 0.05
done

/usr/sbin/nginx -p "$RUN/" -c conf/nginx.conf \
    -g "daemon off; pid logs/nginx.pid; error_log logs/error.log info;" &
NGINX_PID=$!
PIDS="$PIDS $NGINX_PID"

build/taskgw-worker -c "$RUN/conf/taskgw-worker.json" 2>"$RUN/logs/worker.log" &
WORKER_PID=$!
PIDS="$PIDS $WORKER_PID"

sleep 0.5

for name in nginx worker; do
    case $name in
        nginx)  pid=$NGINX_PID;  log=$RUN/logs/error.log ;;
        worker) pid=$WORKER_PID; log=$RUN/logs/worker.log ;;
    esac
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "taskgw: $name did not start; its log ($log):" >&2
        tail -20 "$log" >&2
        exit 1
    fi
done

cat <<MSG

taskgw is running: nginx on 127.0.0.1:$HTTP_PORT, redis on 127.0.0.1:$REDIS_PORT
logs: $RUN/logs (nginx error.log, access.log, worker.log)

Try:

  curl -si -X POST http://127.0.0.1:$HTTP_PORT/v1/tasks/system.ping -H 'Content-Type: application/json' -d '{}'
  curl -s http://127.0.0.1:$HTTP_PORT/v1/tasks/status/<id from the reply>

Ctrl-C stops everything.
MSG

wait
