
/*
 * ngx_http_taskgw_body: the request body as enqueue needs it: its length,
 * the whole of it for the JSON check, and its SHA-256 for Idempotency-Key.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include "ngx_http_taskgw_module.h"
#include "ngx_http_taskgw_body.h"


/* The most read from a body's temp file in one blocking read. */
#define NGX_HTTP_TASKGW_FILE_READ_MAX  (1024 * 1024)

/* The block the body's SHA-256 reads its temp file in. */
#define NGX_HTTP_TASKGW_HASH_READ      (64 * 1024)


static ngx_int_t ngx_http_taskgw_read_file(ngx_http_request_t *r,
    ngx_buf_t *b, u_char *p);


off_t
ngx_http_taskgw_body_length(ngx_http_request_t *r)
{
    off_t         len;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    len = 0;

    for (cl = r->request_body ? r->request_body->bufs : NULL;
         cl;
         cl = cl->next)
    {
        b = cl->buf;
        len += b->in_file ? b->file_last - b->file_pos : b->last - b->pos;
    }

    return len;
}


/*
 * The whole request body as one contiguous buffer, for the JSON check: a
 * body nginx holds in one memory buffer is used where it is, any other is
 * copied, the parts nginx spooled to a temp file read back from it.
 */

ngx_int_t
ngx_http_taskgw_read_body(ngx_http_request_t *r, ngx_str_t *body)
{
    u_char       *p;
    off_t         len, size;
    ngx_buf_t    *b, *one;
    ngx_uint_t    parts;
    ngx_chain_t  *cl;

    body->data = (u_char *) "";
    body->len = 0;

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_OK;
    }

    len = 0;
    parts = 0;
    one = NULL;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;
        size = b->in_file ? b->file_last - b->file_pos : b->last - b->pos;

        if (size > 0) {
            len += size;
            parts++;
            one = b;
        }
    }

    if (len == 0) {
        return NGX_OK;
    }

    if (parts == 1 && !one->in_file) {
        body->data = one->pos;
        body->len = (size_t) len;
        return NGX_OK;
    }

    body->data = ngx_pnalloc(r->pool, (size_t) len);
    if (body->data == NULL) {
        return NGX_ERROR;
    }

    p = body->data;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (b->in_file) {
            if (ngx_http_taskgw_read_file(r, b, p) != NGX_OK) {
                return NGX_ERROR;
            }

            p += b->file_last - b->file_pos;
            continue;
        }

        /* the chunked parser's last_buf is empty, with no memory at all */

        if (b->last != b->pos) {
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
        }
    }

    body->len = p - body->data;

    return NGX_OK;
}


/*
 * Reads back, for the JSON check, the part of the body nginx spooled to
 * its temp file (the task itself is sent to Redis from the file with
 * sendfile()).  This read blocks the worker process: accepted for the
 * local disk that client_body_temp_path is on, where the file was just
 * written and is normally still in the page cache.  It is bounded: the
 * whole body is at most taskgw_max_payload, and one read at most
 * NGX_HTTP_TASKGW_FILE_READ_MAX.
 */

static ngx_int_t
ngx_http_taskgw_read_file(ngx_http_request_t *r, ngx_buf_t *b, u_char *p)
{
    off_t    pos;
    size_t   size;
    ssize_t  n;

    for (pos = b->file_pos; pos < b->file_last; pos += n) {
        size = (size_t) ngx_min(b->file_last - pos,
                                NGX_HTTP_TASKGW_FILE_READ_MAX);

        n = ngx_read_file(b->file, p, size, pos);

        if (n == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (n == 0) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "taskgw: short read of the request body "
                          "temp file");
            return NGX_ERROR;
        }

        p += n;
    }

    return NGX_OK;
}


/*
 * The SHA-256 of the body, as 64 lowercase hex digits, for the
 * idempotency record: memory buffers hashed where they are, the parts in
 * the temp file read back in blocks (a blocking read of a local file
 * nginx just wrote, bounded by taskgw_max_payload, as for the JSON check).
 */

ngx_int_t
ngx_http_taskgw_body_sha256(ngx_http_request_t *r, u_char *hex)
{
    u_char        *buf, md[EVP_MAX_MD_SIZE];
    off_t          pos;
    size_t         size;
    ssize_t        n;
    ngx_int_t      rc;
    ngx_buf_t     *b;
    ngx_chain_t   *cl;
    unsigned int   mdlen;
    EVP_MD_CTX    *md_ctx;

    md_ctx = EVP_MD_CTX_new();
    if (md_ctx == NULL) {
        return NGX_ERROR;
    }

    rc = NGX_ERROR;
    buf = NULL;

    if (EVP_DigestInit_ex(md_ctx, EVP_sha256(), NULL) != 1) {
        goto done;
    }

    for (cl = r->request_body ? r->request_body->bufs : NULL;
         cl;
         cl = cl->next)
    {
        b = cl->buf;

        if (!b->in_file) {
            if (b->last != b->pos
                && EVP_DigestUpdate(md_ctx, b->pos, b->last - b->pos) != 1)
            {
                goto done;
            }

            continue;
        }

        if (buf == NULL) {
            buf = ngx_pnalloc(r->pool, NGX_HTTP_TASKGW_HASH_READ);
            if (buf == NULL) {
                goto done;
            }
        }

        for (pos = b->file_pos; pos < b->file_last; pos += n) {
            size = (size_t) ngx_min(b->file_last - pos,
                                    NGX_HTTP_TASKGW_HASH_READ);

            n = ngx_read_file(b->file, buf, size, pos);

            if (n == NGX_ERROR) {
                goto done;
            }

            if (n == 0) {
                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "taskgw: short read of the request body "
                              "temp file");
                goto done;
            }

            if (EVP_DigestUpdate(md_ctx, buf, n) != 1) {
                goto done;
            }
        }
    }

    if (EVP_DigestFinal_ex(md_ctx, md, &mdlen) != 1
        || mdlen != SHA256_DIGEST_LENGTH)
    {
        goto done;
    }

    (void) ngx_hex_dump(hex, md, mdlen);
    rc = NGX_OK;

done:

    EVP_MD_CTX_free(md_ctx);

    return rc;
}
