
/*
 * ngx_http_taskgw_redis_fmt: the RESP text of the link's commands, in
 * pieces the link writes and frees; private to the Redis link.
 */


#ifndef _NGX_HTTP_TASKGW_REDIS_FMT_H_INCLUDED_
#define _NGX_HTTP_TASKGW_REDIS_FMT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_http_taskgw_redis.h"


/*
 * A piece of a formatted command, freed once written: bytes in memory,
 * which follow it in the same allocation, or a part of a request body's
 * temporary file, written with sendfile() through a descriptor of its own
 * (the request, and its file, may be gone before the piece is written).
 * A batch's commands follow one another in as few pieces as its body
 * allows: one, unless a part of the body is in a file.  A command always
 * starts in a memory piece, which notes where: hiredis reads the
 * command's name there (the piece ends with a NUL).  A memory piece keeps
 * room before and after its commands for a MULTI and an EXEC, so that a
 * transaction's first and last batch carry them instead of two pieces of
 * their own.
 */
typedef struct {
    ngx_chain_t                     cl;
    ngx_buf_t                       buf;
    ngx_file_t                      file;   /* of a file piece */
    void                           *owner;  /* the batch (op) it is part of;
                                               only ever compared */
    ngx_uint_t                      ncmds;  /* commands starting here */
    size_t                          cmd[NGX_HTTP_TASKGW_REDIS_MAX_BATCH];
                                            /* their offsets in buf */
    unsigned                        multi:1; /* it opens with a MULTI that
                                                is not the owner's */
    unsigned                        exec:1;  /* it ends with an EXEC that
                                                is not the owner's */
} ngx_http_taskgw_redis_out_t;


#define NGX_HTTP_TASKGW_REDIS_MULTI      "*1\r\n$5\r\nMULTI\r\n"
#define NGX_HTTP_TASKGW_REDIS_EXEC       "*1\r\n$4\r\nEXEC\r\n"
#define NGX_HTTP_TASKGW_REDIS_MULTI_LEN  \
    (sizeof(NGX_HTTP_TASKGW_REDIS_MULTI) - 1)
#define NGX_HTTP_TASKGW_REDIS_EXEC_LEN   \
    (sizeof(NGX_HTTP_TASKGW_REDIS_EXEC) - 1)


ngx_chain_t *ngx_http_taskgw_redis_format(ngx_http_taskgw_redis_cmd_t *cmds,
    ngx_uint_t n, ngx_log_t *log);
void ngx_http_taskgw_redis_free_out(ngx_chain_t *cl);


#endif /* _NGX_HTTP_TASKGW_REDIS_FMT_H_INCLUDED_ */
