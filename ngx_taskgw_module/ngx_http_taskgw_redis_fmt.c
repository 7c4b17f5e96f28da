
/*
 * ngx_http_taskgw_redis_fmt: building a command's arguments and turning
 * commands into RESP pieces (memory copies, body parts sent from file).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_http_taskgw_module.h"
#include "ngx_http_taskgw_redis.h"
#include "ngx_http_taskgw_redis_fmt.h"


static ngx_http_taskgw_redis_out_t *ngx_http_taskgw_redis_piece(
    ngx_chain_t ***last, size_t size, ngx_log_t *log);
static ngx_int_t ngx_http_taskgw_redis_file_piece(ngx_chain_t ***last,
    ngx_buf_t *b, ngx_log_t *log);
static u_char *ngx_http_taskgw_redis_count(u_char *p, u_char type, size_t n);


/* The argv[] mark of the argument ngx_http_taskgw_redis_cmd_body() adds. */
static u_char  ngx_http_taskgw_redis_body_mark;


/*
 * Adds an argument; one more than NGX_HTTP_TASKGW_REDIS_MAX_ARGS marks the
 * command overflowed instead (it is then refused by send and fire).
 */

ngx_int_t
ngx_http_taskgw_redis_cmd_arg(ngx_http_taskgw_redis_cmd_t *cmd,
    const void *data, size_t len)
{
    if (cmd->argc < 0 || cmd->argc >= NGX_HTTP_TASKGW_REDIS_MAX_ARGS) {
        cmd->argc = NGX_HTTP_TASKGW_REDIS_MAX_ARGS + 1;
        return NGX_ERROR;
    }

    cmd->argv[cmd->argc] = data;
    cmd->argvlen[cmd->argc] = len;
    cmd->argc++;

    return NGX_OK;
}


/*
 * The request body as an argument: its memory buffers are copied when the
 * command is formatted, the parts in a temporary file are sent from it.
 */

ngx_int_t
ngx_http_taskgw_redis_cmd_body(ngx_http_taskgw_redis_cmd_t *cmd,
    ngx_chain_t *bufs)
{
    off_t         len;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    len = 0;

    for (cl = bufs; cl; cl = cl->next) {
        b = cl->buf;
        len += b->in_file ? b->file_last - b->file_pos : b->last - b->pos;
    }

    if (ngx_http_taskgw_redis_cmd_arg(cmd, &ngx_http_taskgw_redis_body_mark,
                                      (size_t) len)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    cmd->body = bufs;

    return NGX_OK;
}


/*
 * The RESP text of n commands (at most NGX_HTTP_TASKGW_REDIS_MAX_BATCH),
 * chained in order: one memory piece holding copies of all the arguments
 * (they need to live only until this returns), split where a part of the
 * body is in its temporary file, which a file piece refers to.  One
 * allocation for the common batch, not one per command.
 */

ngx_chain_t *
ngx_http_taskgw_redis_format(ngx_http_taskgw_redis_cmd_t *cmds, ngx_uint_t n,
    ngx_log_t *log)
{
    u_char                       *p;
    size_t                        size, len;
    ngx_int_t                     i;
    ngx_buf_t                    *b;
    ngx_uint_t                    k;
    ngx_chain_t                  *head, **last, *cl;
    ngx_http_taskgw_redis_out_t  *out;

    if (n == 0 || n > NGX_HTTP_TASKGW_REDIS_MAX_BATCH) {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "taskgw: a redis batch of %ui commands", n);
        return NULL;
    }

    /*
     * "*<argc>\r\n", then "$<len>\r\n<bytes>\r\n" per argument: the size
     * of the memory the batch takes at most
     */

    size = 0;

    for (k = 0; k < n; k++) {
        size += 1 + NGX_INT_T_LEN + 2;

        for (i = 0; i < cmds[k].argc; i++) {
            size += 1 + NGX_SIZE_T_LEN + 2 + 2;

            if (cmds[k].argv[i] != (char *) &ngx_http_taskgw_redis_body_mark)
            {
                size += cmds[k].argvlen[i] & ~NGX_HTTP_TASKGW_REDIS_RESP;
                continue;
            }

            for (cl = cmds[k].body; cl; cl = cl->next) {
                if (!cl->buf->in_file) {
                    size += cl->buf->last - cl->buf->pos;
                }
            }
        }
    }

    head = NULL;
    last = &head;

    out = ngx_http_taskgw_redis_piece(&last, size, log);
    if (out == NULL) {
        return NULL;
    }

    p = out->buf.last;

    for (k = 0; k < n; k++) {

        /* a command starts in memory: after a body's file part, a new piece */

        if (out == NULL) {
            out = ngx_http_taskgw_redis_piece(&last, size, log);
            if (out == NULL) {
                goto failed;
            }

            p = out->buf.last;
        }

        out->cmd[out->ncmds++] = p - out->buf.start;

        p = ngx_http_taskgw_redis_count(p, '*', cmds[k].argc);

        for (i = 0; i < cmds[k].argc; i++) {
            len = cmds[k].argvlen[i];

            if (len & NGX_HTTP_TASKGW_REDIS_RESP) {
                p = ngx_cpymem(p, cmds[k].argv[i],
                               len & ~NGX_HTTP_TASKGW_REDIS_RESP);
                continue;
            }

            p = ngx_http_taskgw_redis_count(p, '$', len);

            if (cmds[k].argv[i] != (char *) &ngx_http_taskgw_redis_body_mark)
            {
                if (len) {
                    p = ngx_cpymem(p, cmds[k].argv[i], len);
                }

                *p++ = CR;
                *p++ = LF;
                continue;
            }

            /*
             * the body: memory buffers copied, a part in a file ends the
             * memory piece and is a piece of its own; the next memory
             * piece starts only when there is something to put in it, so
             * that no piece is empty
             */

            for (cl = cmds[k].body; cl; cl = cl->next) {
                b = cl->buf;

                if (b->in_file && b->file_last > b->file_pos) {
                    if (out) {
                        *p = '\0';
                        size -= p - out->buf.last;
                        out->buf.last = p;
                        out = NULL;
                    }

                    if (ngx_http_taskgw_redis_file_piece(&last, b, log)
                        != NGX_OK)
                    {
                        goto failed;
                    }

                    continue;
                }

                if (b->in_file || b->last == b->pos) {
                    continue;
                }

                if (out == NULL) {
                    out = ngx_http_taskgw_redis_piece(&last, size, log);
                    if (out == NULL) {
                        goto failed;
                    }

                    p = out->buf.last;
                }

                p = ngx_cpymem(p, b->pos, b->last - b->pos);
            }

            if (out == NULL) {
                out = ngx_http_taskgw_redis_piece(&last, size, log);
                if (out == NULL) {
                    goto failed;
                }

                p = out->buf.last;
            }

            *p++ = CR;
            *p++ = LF;
        }
    }

    *p = '\0';
    out->buf.last = p;

    return head;

failed:

    ngx_http_taskgw_redis_free_out(head);

    return NULL;
}


/*
 * "<type><n>\r\n", the head of an array or of a bulk string; written by
 * hand, as ngx_sprintf() costs some hundred instructions per call and a
 * command has one per argument.
 */

static u_char *
ngx_http_taskgw_redis_count(u_char *p, u_char type, size_t n)
{
    *p++ = type;

    /* the lengths of names, ids and small values: one or two digits */

    if (n < 10) {
        *p++ = (u_char) ('0' + n);

    } else if (n < 100) {
        *p++ = (u_char) ('0' + n / 10);
        *p++ = (u_char) ('0' + n % 10);

    } else {
        p = ngx_http_taskgw_redis_decimal(p, n);
    }

    *p++ = CR;
    *p++ = LF;

    return p;
}


/*
 * The argument data as RESP, "$<len>\r\n<bytes>\r\n", at p (at most len +
 * NGX_HTTP_TASKGW_REDIS_RESP_FRAME bytes); returns the end.  Passed to
 * ngx_http_taskgw_redis_cmd_arg() with its length or'ed with
 * NGX_HTTP_TASKGW_REDIS_RESP, it is copied into commands as it is.
 */

u_char *
ngx_http_taskgw_redis_resp_arg(u_char *p, const void *data, size_t len)
{
    p = ngx_http_taskgw_redis_count(p, '$', len);
    p = ngx_cpymem(p, data, len);
    *p++ = CR;
    *p++ = LF;

    return p;
}


/*
 * n in decimal, as "%uL" would write it, without ngx_sprintf()'s walk of
 * a format: RESP lengths and the enqueue's numbers, several per request.
 */

u_char *
ngx_http_taskgw_redis_decimal(u_char *p, uint64_t n)
{
    u_char  *d, digits[NGX_INT64_LEN];

    d = digits + sizeof(digits);

    do {
        *--d = (u_char) ('0' + n % 10);
        n /= 10;
    } while (n);

    return ngx_cpymem(p, d, digits + sizeof(digits) - d);
}


/*
 * A memory piece for up to size bytes (and a NUL), at *last, with room for
 * a MULTI before them and an EXEC after.
 */

static ngx_http_taskgw_redis_out_t *
ngx_http_taskgw_redis_piece(ngx_chain_t ***last, size_t size, ngx_log_t *log)
{
    u_char                       *p;
    ngx_http_taskgw_redis_out_t  *out;

    out = ngx_alloc(sizeof(ngx_http_taskgw_redis_out_t)
                    + NGX_HTTP_TASKGW_REDIS_MULTI_LEN + size
                    + NGX_HTTP_TASKGW_REDIS_EXEC_LEN + 1, log);
    if (out == NULL) {
        return NULL;
    }

    ngx_memzero(out, sizeof(ngx_http_taskgw_redis_out_t));

    p = (u_char *) (out + 1) + NGX_HTTP_TASKGW_REDIS_MULTI_LEN;

    out->buf.start = p;
    out->buf.pos = p;
    out->buf.last = p;
    out->buf.end = p + size;
    out->buf.memory = 1;

    out->cl.buf = &out->buf;

    **last = &out->cl;
    *last = &out->cl.next;

    return out;
}


/* A file piece for the part of the body that buffer b has in its file. */

static ngx_int_t
ngx_http_taskgw_redis_file_piece(ngx_chain_t ***last, ngx_buf_t *b,
    ngx_log_t *log)
{
    ngx_fd_t                      fd;
    ngx_http_taskgw_redis_out_t  *out;

    if (!(ngx_io.flags & NGX_IO_SENDFILE)) {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "taskgw: a body in a temporary file needs sendfile()");
        return NGX_ERROR;
    }

    fd = fcntl(b->file->fd, F_DUPFD_CLOEXEC, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      "taskgw: dup() of \"%V\" failed", &b->file->name);
        return NGX_ERROR;
    }

    out = ngx_calloc(sizeof(ngx_http_taskgw_redis_out_t), log);
    if (out == NULL) {
        (void) ngx_close_file(fd);
        return NGX_ERROR;
    }

    out->file.fd = fd;
    ngx_str_set(&out->file.name, "the request body's temporary file");
    out->file.log = log;

    out->buf.in_file = 1;
    out->buf.file = &out->file;
    out->buf.file_pos = b->file_pos;
    out->buf.file_last = b->file_last;

    out->cl.buf = &out->buf;

    **last = &out->cl;
    *last = &out->cl.next;

    return NGX_OK;
}


void
ngx_http_taskgw_redis_free_out(ngx_chain_t *cl)
{
    ngx_chain_t                  *next;
    ngx_http_taskgw_redis_out_t  *out;

    while (cl) {
        next = cl->next;

        /* the chain link opens the piece */
        out = (ngx_http_taskgw_redis_out_t *) cl;

        if (out->buf.in_file) {
            (void) ngx_close_file(out->file.fd);
        }

        ngx_free(out);
        cl = next;
    }
}
