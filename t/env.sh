# Environment of the test suites; sourced by scripts/test.sh (and by hand:
# `. t/env.sh` after `make`, with TEST_NGINX_REDIS_PORT pointing at a
# redis-server you started).
#
# TASKGW_SAN=1 selects the AddressSanitizer/UBSan build in build/asan.

TASKGW_ROOT=${TASKGW_ROOT:-$(cd "$(dirname "${TASKGW_ENV_SH:-t/env.sh}")/.." && pwd)}

if [ "${TASKGW_SAN:-0}" = 1 ]; then
    TASKGW_OUT=$TASKGW_ROOT/build/asan
    # nginx itself is not instrumented: its wrapper preloads the ASan
    # runtime so the module can be loaded into it.
    TEST_NGINX_BINARY=$TASKGW_OUT/nginx-asan
else
    TASKGW_OUT=$TASKGW_ROOT/build
    TEST_NGINX_BINARY=${TEST_NGINX_BINARY:-/usr/sbin/nginx}
fi

TEST_NGINX_LOAD_MODULES=$TASKGW_OUT/ngx_http_taskgw_module.so
TEST_NGINX_SERVROOT=${TEST_NGINX_SERVROOT:-$TASKGW_OUT/servroot}
TEST_NGINX_REDIS_PORT=${TEST_NGINX_REDIS_PORT:-6379}
TASKGW_WORKER=$TASKGW_OUT/taskgw-worker
TASKGW_CTL=$TASKGW_OUT/taskgwctl
TASKGW_UNIT_TESTS=$TASKGW_OUT/tests

export TASKGW_ROOT TASKGW_OUT TEST_NGINX_BINARY TEST_NGINX_LOAD_MODULES \
    TEST_NGINX_SERVROOT TEST_NGINX_REDIS_PORT TASKGW_WORKER TASKGW_CTL \
    TASKGW_UNIT_TESTS
