/*
 * Fuzz target: the token parsers of the module, with its own sources.
 * The first input byte picks one:
 *
 *   even  the rest is a token file (taskgw_tokens), fed line by line to
 *         the line parser as the file reader does, until a line is refused;
 *   odd   the rest is a token record as Redis holds it: the fields name,
 *         role, ips, rate, queues, disabled, separated by newlines.
 *
 * Every line and field lies in a buffer of exactly its size, so reading
 * past it is an AddressSanitizer report.
 */

#include "ngx_http_taskgw_token_conf.c"


/*
 * The rest of ngx_http_taskgw_token_conf.c (reading the file, the shared
 * cache) calls these; the parsers never do.  A call is a harness bug.
 */

ngx_uint_t  ngx_pagesize = 4096;

void *
ngx_alloc(size_t size, ngx_log_t *log)
{
    abort();
}


ngx_int_t
ngx_conf_full_name(ngx_cycle_t *cycle, ngx_str_t *name, ngx_uint_t conf_prefix)
{
    abort();
}


ssize_t
ngx_read_file(ngx_file_t *file, u_char *buf, size_t size, off_t offset)
{
    abort();
}


ngx_int_t
ngx_http_taskgw_token_cache_add(ngx_conf_t *cf,
    ngx_http_taskgw_main_conf_t *tmcf)
{
    abort();
}


/* A copy of the n bytes at p in an allocation of exactly n bytes. */

static u_char *
fuzz_exact(ngx_pool_t *pool, const uint8_t *p, size_t n)
{
    u_char  *b;

    b = ngx_pnalloc(pool, n);
    if (b != NULL && n) {
        ngx_memcpy(b, p, n);
    }

    return b;
}


static void
fuzz_file(ngx_pool_t *pool, const uint8_t *data, size_t size)
{
    u_char                       *line;
    ngx_str_t                     file = ngx_string("fuzz.tokens");
    ngx_log_t                     log;
    ngx_uint_t                    n;
    ngx_conf_t                    cf;
    const uint8_t                *p, *eol, *last;
    ngx_http_taskgw_main_conf_t   tmcf;

    ngx_memzero(&log, sizeof(ngx_log_t));
    ngx_memzero(&cf, sizeof(ngx_conf_t));
    ngx_memzero(&tmcf, sizeof(ngx_http_taskgw_main_conf_t));
    cf.pool = pool;
    cf.log = &log;

    tmcf.tokens = ngx_array_create(pool, 4, sizeof(ngx_http_taskgw_token_t));
    if (tmcf.tokens == NULL) {
        return;
    }

    p = data;
    last = data + size;

    for (n = 1; p < last; n++) {
        eol = memchr(p, '\n', last - p);
        if (eol == NULL) {
            eol = last;
        }

        line = fuzz_exact(pool, p, eol - p);
        if (line == NULL
            || ngx_http_taskgw_tokens_line(&cf, &tmcf, &file, n, line,
                                           line + (eol - p))
               != NGX_OK)
        {
            break;
        }

        p = eol + 1;
    }
}


static void
fuzz_record(ngx_pool_t *pool, const uint8_t *data, size_t size)
{
    ngx_str_t                 f[NGX_HTTP_TASKGW_TF_COUNT];
    ngx_uint_t                i;
    const char               *err;
    const uint8_t            *p, *eol, *last;
    ngx_http_taskgw_token_t   tok;

    p = data;
    last = data + size;

    for (i = 0; i < NGX_HTTP_TASKGW_TF_COUNT; i++) {
        eol = p < last ? memchr(p, '\n', last - p) : NULL;
        if (eol == NULL) {
            eol = last;
        }

        f[i].len = eol - p;
        f[i].data = fuzz_exact(pool, p, f[i].len);
        if (f[i].data == NULL) {
            return;
        }

        p = eol < last ? eol + 1 : last;
    }

    (void) ngx_http_taskgw_token_from_fields(pool, f, &tok, &err);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ngx_pool_t  *pool;

    if (size == 0) {
        return 0;
    }

    pool = ngx_create_pool(1024, NULL);
    if (pool == NULL) {
        return 0;
    }

    if (data[0] % 2 == 0) {
        fuzz_file(pool, data + 1, size - 1);

    } else {
        fuzz_record(pool, data + 1, size - 1);
    }

    ngx_destroy_pool(pool);

    return 0;
}
