/*
 * Fuzz target: the task JSON nginx renders for GET /status (and the
 * admin's listings) from the fields of a task hash, whatever Redis holds
 * there: arbitrary bytes, numbers out of range, stored "results" that are
 * almost JSON.  The input gives each field in turn: one length byte (255:
 * two more bytes of length follow, big-endian), then the value.  The body
 * is allocated at the size the renderer computes, so writing past it is
 * an AddressSanitizer report; the body must be one valid JSON object.
 */

#include "ngx_http_taskgw_status.c"

#include <jansson.h>

/* as many fields as the renderer's table has, whatever its enum calls it */
#define FUZZ_NFIELDS                                                         \
    (sizeof(ngx_http_taskgw_fields) / sizeof(ngx_http_taskgw_fields[0]))


/*
 * The request path of ngx_http_taskgw_status.c (Redis, replies) calls
 * these; the renderer never does.  A call is a harness bug.
 */

ngx_module_t  ngx_http_taskgw_module;

#define FUZZ_UNREACHABLE(ret, name, args)                                    \
    ret name args { abort(); }

FUZZ_UNREACHABLE(ngx_int_t, ngx_http_complex_value,
    (ngx_http_request_t *r, ngx_http_complex_value_t *val, ngx_str_t *value))
FUZZ_UNREACHABLE(ngx_int_t, ngx_http_discard_request_body,
    (ngx_http_request_t *r))
FUZZ_UNREACHABLE(void, ngx_http_finalize_request,
    (ngx_http_request_t *r, ngx_int_t rc))
FUZZ_UNREACHABLE(int64_t, ngx_http_taskgw_now_ms, (void))
FUZZ_UNREACHABLE(ngx_int_t, ngx_http_taskgw_send_json,
    (ngx_http_request_t *r, ngx_uint_t status, ngx_str_t *outcome,
     u_char *body, size_t len))
FUZZ_UNREACHABLE(ngx_int_t, ngx_http_taskgw_send_error,
    (ngx_http_request_t *r, ngx_uint_t status, const char *code,
     const char *message))
FUZZ_UNREACHABLE(ngx_int_t, ngx_http_taskgw_unavailable,
    (ngx_http_request_t *r, const char *message))
FUZZ_UNREACHABLE(ngx_int_t, ngx_http_taskgw_not_allowed,
    (ngx_http_request_t *r, char *allow, const char *message))
FUZZ_UNREACHABLE(ngx_int_t, ngx_http_taskgw_queue_allowed,
    (ngx_http_taskgw_ctx_t *ctx, ngx_str_t *queue))
FUZZ_UNREACHABLE(ngx_int_t, ngx_http_taskgw_redis_send,
    (ngx_http_request_t *r, ngx_http_taskgw_redis_cmd_t *cmds, ngx_uint_t n,
     ngx_http_taskgw_redis_done_pt done))
FUZZ_UNREACHABLE(ngx_int_t, ngx_http_taskgw_redis_cmd_arg,
    (ngx_http_taskgw_redis_cmd_t *cmd, const void *data, size_t len))


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char              *body;
    size_t               len, n;
    json_t              *v;
    ngx_uint_t           i;
    ngx_str_t            f[FUZZ_NFIELDS];
    json_error_t         err;
    ngx_http_request_t   r;

    ngx_memzero(&r, sizeof(ngx_http_request_t));

    r.pool = ngx_create_pool(1024, NULL);
    if (r.pool == NULL) {
        return 0;
    }

    for (i = 0; i < FUZZ_NFIELDS; i++) {
        n = 0;

        if (size >= 1) {
            n = data[0];
            data++;
            size--;

            if (n == 255 && size >= 2) {
                n = (size_t) data[0] << 8 | data[1];
                data += 2;
                size -= 2;
            }
        }

        if (n > size) {
            n = size;
        }

        /* each value in an allocation of exactly its size */
        f[i].len = n;
        f[i].data = ngx_pnalloc(r.pool, n);
        if (f[i].data == NULL) {
            goto done;
        }

        ngx_memcpy(f[i].data, data, n);
        data += n;
        size -= n;
    }

    body = ngx_http_taskgw_render_task(&r, f, &len);

    if (body != NULL) {
        v = json_loadb((char *) body, len, JSON_ALLOW_NUL
                       | JSON_DECODE_INT_AS_REAL, &err);
        /*
         * a stored result such as 1e400 is valid JSON (RFC 8259 sets no
         * range), which jansson refuses as an overflow: not a failure
         */
        if (v == NULL && strstr(err.text, "overflow") != NULL) {
            goto done;
        }

        if (v == NULL || !json_is_object(v)) {
            fprintf(stderr, "not a JSON object (%s): %.*s\n",
                    v ? "not an object" : err.text, (int) len, body);
            abort();
        }
        json_decref(v);
    }

done:

    ngx_destroy_pool(r.pool);

    return 0;
}
