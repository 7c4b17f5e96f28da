
/*
 * ngx_http_taskgw_admin_tokens: the admin API's run-time tokens: list,
 * create (the token shown once, only its digest stored), revoke.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <sys/random.h>
#include <openssl/sha.h>
#include "ngx_http_taskgw_module.h"
#include "ngx_http_taskgw_redis.h"
#include "ngx_http_taskgw_ops.h"
#include "ngx_http_taskgw_json.h"
#include "tgw_lua.h"
#include "ngx_http_taskgw_admin.h"


#define NGX_HTTP_TASKGW_ADMIN_BODY_MAX      8192   /* POST tokens */
#define NGX_HTTP_TASKGW_ADMIN_OPT_MAX       1024   /* ips=, queues= */
#define NGX_HTTP_TASKGW_TOKEN_RANDOM        32     /* bytes of a token */


/* The body of POST tokens, decoded. */
typedef struct {
    ngx_str_t                   name;
    ngx_str_t                   role;
    ngx_str_t                   ips;        /* comma list, "" for none */
    ngx_str_t                   rate;
    ngx_str_t                   queues;     /* comma list, "" for none */
} ngx_http_taskgw_admin_token_t;


static void ngx_http_taskgw_admin_tokens_list_done(ngx_http_request_t *r,
    redisReply *reply);
static void ngx_http_taskgw_admin_tokens_body(ngx_http_request_t *r);
static void ngx_http_taskgw_admin_tokens_create_done(ngx_http_request_t *r,
    redisReply *reply);
static void ngx_http_taskgw_admin_tokens_revoke_done(ngx_http_request_t *r,
    redisReply *reply);
static const char *ngx_http_taskgw_admin_parse_token(ngx_http_request_t *r,
    u_char *p, u_char *last, ngx_http_taskgw_admin_token_t *t);
static const char *ngx_http_taskgw_admin_check_token(
    ngx_http_taskgw_admin_token_t *t);


ngx_int_t
ngx_http_taskgw_admin_tokens_list(ngx_http_request_t *r, ngx_str_t *arg)
{
    ngx_http_taskgw_redis_cmd_t   cmd;
    ngx_http_taskgw_main_conf_t  *tmcf;

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_taskgw_module);

    cmd.argc = 0;
    ngx_http_taskgw_redis_cmd_arg(&cmd, "EVAL", 4);
    ngx_http_taskgw_redis_cmd_arg(&cmd, tgw_lua_token_list,
                                  sizeof(tgw_lua_token_list) - 1);
    ngx_http_taskgw_redis_cmd_arg(&cmd, "0", 1);
    ngx_http_taskgw_redis_cmd_arg(&cmd, tmcf->prefix.data, tmcf->prefix.len);

    return ngx_http_taskgw_admin_redis(r, &cmd,
                                       ngx_http_taskgw_admin_tokens_list_done);
}


/*
 * {"tokens":[{"name":…,"role":…,"ips":…,"rate":…,"queues":…,
 * "created_at":…,"disabled":false}]}; the digests are never shown.
 */

static void
ngx_http_taskgw_admin_tokens_list_done(ngx_http_request_t *r,
    redisReply *reply)
{
    int64_t                ms;
    ngx_uint_t             i, k;
    redisReply           **f;
    ngx_http_taskgw_jw_t   jw;
    u_char                 iso[sizeof("2026-11-23T10:00:00.123Z")];

    static char  *names[] = { "name", "role", "ips", "rate", "queues" };

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements % 7 != 0)
    {
        ngx_http_taskgw_admin_failed(r, reply);
        return;
    }

    ngx_http_taskgw_jw_init(&jw, r->pool);
    ngx_http_taskgw_jw_open(&jw, '{');
    ngx_http_taskgw_jw_key(&jw, "tokens");
    ngx_http_taskgw_jw_open(&jw, '[');

    for (i = 0; i < reply->elements; i += 7) {
        f = &reply->element[i];

        for (k = 0; k < 7; k++) {
            if (f[k]->type != REDIS_REPLY_STRING) {
                break;
            }
        }

        if (k < 7) {
            continue;
        }

        ngx_http_taskgw_jw_open(&jw, '{');

        for (k = 0; k < 5; k++) {
            ngx_http_taskgw_jw_key(&jw, names[k]);

            if (f[k]->len == 0 && k >= 2) {
                ngx_http_taskgw_jw_value(&jw, (u_char *) "null", 4);
            } else {
                ngx_http_taskgw_jw_str(&jw, (u_char *) f[k]->str, f[k]->len);
            }
        }

        ngx_http_taskgw_jw_key(&jw, "created_at");
        ms = ngx_atoof((u_char *) f[5]->str, f[5]->len);

        if (ms > 0) {
            ngx_http_taskgw_jw_str(&jw, iso,
                                   ngx_http_taskgw_iso_time(iso, ms) - iso);
        } else {
            ngx_http_taskgw_jw_value(&jw, (u_char *) "null", 4);
        }

        ngx_http_taskgw_jw_key(&jw, "disabled");
        ngx_http_taskgw_jw_value(&jw,
                                 (f[6]->len == 0
                                  || (f[6]->len == 1 && f[6]->str[0] == '0'))
                                 ? (u_char *) "false" : (u_char *) "true",
                                 (f[6]->len == 0
                                  || (f[6]->len == 1 && f[6]->str[0] == '0'))
                                 ? 5 : 4);
        ngx_http_taskgw_jw_close(&jw, '}');
    }

    ngx_http_taskgw_jw_close(&jw, ']');
    ngx_http_taskgw_jw_close(&jw, '}');

    ngx_http_finalize_request(r,
                              ngx_http_taskgw_admin_send(r, NGX_HTTP_OK, &jw));
}


ngx_int_t
ngx_http_taskgw_admin_tokens_create(ngx_http_request_t *r, ngx_str_t *arg)
{
    ngx_int_t  rc;

    if (r->headers_in.content_length_n > NGX_HTTP_TASKGW_ADMIN_BODY_MAX) {
        (void) ngx_http_discard_request_body(r);
        return ngx_http_taskgw_send_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                          "too_large",
                                          "a token request is a small JSON "
                                          "object");
    }

    rc = ngx_http_read_client_request_body(r,
                                         ngx_http_taskgw_admin_tokens_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/*
 * POST tokens: {"name","role","ips","rate","queues"} is checked with the
 * token file's rules, then a token is drawn (tgw_ and 43 base64url
 * characters of 32 random bytes), only its SHA-256 is stored, and the
 * token itself is shown in the 201 reply, this once.
 */

static void
ngx_http_taskgw_admin_tokens_body(ngx_http_request_t *r)
{
    u_char                         *body, *p, *key, *now;
    size_t                          len, nlen = 0;
    ngx_str_t                       src, *who;
    ngx_chain_t                    *cl;
    const char                     *err;
    ngx_http_taskgw_admin_ctx_t    *actx;
    ngx_http_taskgw_redis_cmd_t     cmd;
    ngx_http_taskgw_main_conf_t    *tmcf;
    ngx_http_taskgw_admin_token_t   t;
    u_char                          rnd[NGX_HTTP_TASKGW_TOKEN_RANDOM];
    u_char                          digest[SHA256_DIGEST_LENGTH];
    u_char                          hex[2 * SHA256_DIGEST_LENGTH];

    if (r->request_body == NULL || r->request_body->temp_file) {
        ngx_http_finalize_request(r,
            ngx_http_taskgw_send_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                       "too_large",
                                       "a token request is a small JSON "
                                       "object"));
        return;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        len += cl->buf->last - cl->buf->pos;
    }

    if (len > NGX_HTTP_TASKGW_ADMIN_BODY_MAX) {
        ngx_http_finalize_request(r,
            ngx_http_taskgw_send_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                       "too_large",
                                       "a token request is a small JSON "
                                       "object"));
        return;
    }

    body = ngx_pnalloc(r->pool, len + 1);
    if (body == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    p = body;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        p = ngx_cpymem(p, cl->buf->pos, cl->buf->last - cl->buf->pos);
    }

    if (ngx_http_taskgw_json_valid(body, len) != NGX_OK) {
        ngx_http_finalize_request(r,
            ngx_http_taskgw_send_error(r, NGX_HTTP_BAD_REQUEST,
                                       "invalid_json",
                                       "the body is not one valid JSON "
                                       "value"));
        return;
    }

    err = ngx_http_taskgw_admin_parse_token(r, body, body + len, &t);
    if (err == NULL) {
        err = ngx_http_taskgw_admin_check_token(&t);
    }

    if (err != NULL) {
        ngx_http_finalize_request(r,
            ngx_http_taskgw_send_error(r, NGX_HTTP_BAD_REQUEST,
                                       "bad_request", err));
        return;
    }

    actx = ngx_http_taskgw_admin_get_ctx(r);
    who = ngx_http_taskgw_admin_who(r);
    now = ngx_http_taskgw_admin_now(r, &nlen);

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_taskgw_module);
    key = ngx_pnalloc(r->pool, 3 * tmcf->prefix.len + sizeof(":token:") - 1
                               + sizeof(hex) + sizeof(":tokens:audit"));

    if (actx == NULL || who == NULL || now == NULL || key == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    actx->token.data = ngx_pnalloc(r->pool, 4 + ngx_base64_encoded_length(
                                               NGX_HTTP_TASKGW_TOKEN_RANDOM));
    if (actx->token.data == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t) sizeof(rnd)) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, ngx_errno,
                      "taskgw: getrandom() failed");
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    (void) ngx_cpymem(actx->token.data, "tgw_", 4);
    actx->token.data += 4;
    src.data = rnd;
    src.len = sizeof(rnd);
    ngx_encode_base64url(&actx->token, &src);
    actx->token.data -= 4;
    actx->token.len += 4;
    ngx_explicit_memzero(rnd, sizeof(rnd));

    (void) SHA256(actx->token.data, actx->token.len, digest);
    (void) ngx_hex_dump(hex, digest, sizeof(digest));

    actx->role = t.role;

    cmd.argc = 0;
    ngx_http_taskgw_redis_cmd_arg(&cmd, "EVAL", 4);
    ngx_http_taskgw_redis_cmd_arg(&cmd, tgw_lua_token_create,
                                  sizeof(tgw_lua_token_create) - 1);
    ngx_http_taskgw_redis_cmd_arg(&cmd, "3", 1);

    p = ngx_sprintf(key, "%V:token:", &tmcf->prefix);
    p = ngx_cpymem(p, hex, sizeof(hex));
    ngx_http_taskgw_redis_cmd_arg(&cmd, key, p - key);
    key = p;
    p = ngx_sprintf(key, NGX_HTTP_TASKGW_KEY_TOKENS, &tmcf->prefix);
    ngx_http_taskgw_redis_cmd_arg(&cmd, key, p - key);
    key = p;
    p = ngx_sprintf(key, NGX_HTTP_TASKGW_KEY_AUDIT, &tmcf->prefix);
    ngx_http_taskgw_redis_cmd_arg(&cmd, key, p - key);

    ngx_http_taskgw_redis_cmd_arg(&cmd, t.name.data, t.name.len);
    ngx_http_taskgw_redis_cmd_arg(&cmd, t.role.data, t.role.len);
    ngx_http_taskgw_redis_cmd_arg(&cmd, t.ips.data, t.ips.len);
    ngx_http_taskgw_redis_cmd_arg(&cmd, t.rate.data, t.rate.len);
    ngx_http_taskgw_redis_cmd_arg(&cmd, t.queues.data, t.queues.len);
    ngx_http_taskgw_redis_cmd_arg(&cmd, now, nlen);
    ngx_http_taskgw_redis_cmd_arg(&cmd, hex, sizeof(hex));
    ngx_http_taskgw_redis_cmd_arg(&cmd, who->data, who->len);

    actx->arg = t.name;

    if (ngx_http_taskgw_redis_send(r, &cmd, 1,
                                   ngx_http_taskgw_admin_tokens_create_done)
        != NGX_OK)
    {
        ngx_http_finalize_request(r,
            ngx_http_taskgw_unavailable(r, "redis is unavailable"));
        return;
    }

    /* the body reader's count is ours now: the reply finalizes it */
}


static void
ngx_http_taskgw_admin_tokens_create_done(ngx_http_request_t *r,
    redisReply *reply)
{
    ngx_http_taskgw_jw_t          jw;
    ngx_http_taskgw_admin_ctx_t  *actx;

    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
        ngx_http_taskgw_admin_failed(r, reply);
        return;
    }

    actx = ngx_http_taskgw_admin_get_ctx(r);

    if (reply->integer == 0) {
        ngx_http_finalize_request(r,
            ngx_http_taskgw_send_error(r, NGX_HTTP_CONFLICT, "conflict",
                                       "a token with this name exists"));
        return;
    }

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "taskgw: admin: token \"%V\" created", &actx->arg);

    ngx_http_taskgw_jw_init(&jw, r->pool);
    ngx_http_taskgw_jw_open(&jw, '{');
    ngx_http_taskgw_jw_key(&jw, "name");
    ngx_http_taskgw_jw_str(&jw, actx->arg.data, actx->arg.len);
    ngx_http_taskgw_jw_key(&jw, "role");
    ngx_http_taskgw_jw_str(&jw, actx->role.data, actx->role.len);
    ngx_http_taskgw_jw_key(&jw, "token");
    ngx_http_taskgw_jw_str(&jw, actx->token.data, actx->token.len);
    ngx_http_taskgw_jw_close(&jw, '}');

    ngx_http_finalize_request(r,
                              ngx_http_taskgw_admin_send(r, NGX_HTTP_CREATED,
                                                         &jw));
}


ngx_int_t
ngx_http_taskgw_admin_tokens_revoke(ngx_http_request_t *r, ngx_str_t *arg)
{
    u_char                       *key, *p, *now;
    size_t                        nlen = 0;
    ngx_str_t                    *who;
    ngx_http_taskgw_admin_ctx_t  *actx;
    ngx_http_taskgw_redis_cmd_t   cmd;
    ngx_http_taskgw_main_conf_t  *tmcf;

    if (ngx_http_taskgw_valid_name(arg, NGX_HTTP_TASKGW_TOKEN_NAME_MAX, 0)
        != NGX_OK)
    {
        return ngx_http_taskgw_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                          "no run-time token with this "
                                          "name");
    }

    actx = ngx_http_taskgw_admin_get_ctx(r);
    who = ngx_http_taskgw_admin_who(r);
    now = ngx_http_taskgw_admin_now(r, &nlen);

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_taskgw_module);
    key = ngx_pnalloc(r->pool, 2 * tmcf->prefix.len
                               + sizeof(":tokens:audit") - 1);

    if (actx == NULL || who == NULL || now == NULL || key == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    actx->arg = *arg;

    cmd.argc = 0;
    ngx_http_taskgw_redis_cmd_arg(&cmd, "EVAL", 4);
    ngx_http_taskgw_redis_cmd_arg(&cmd, tgw_lua_token_revoke,
                                  sizeof(tgw_lua_token_revoke) - 1);
    ngx_http_taskgw_redis_cmd_arg(&cmd, "2", 1);

    p = ngx_sprintf(key, NGX_HTTP_TASKGW_KEY_TOKENS, &tmcf->prefix);
    ngx_http_taskgw_redis_cmd_arg(&cmd, key, p - key);
    key = p;
    p = ngx_sprintf(key, NGX_HTTP_TASKGW_KEY_AUDIT, &tmcf->prefix);
    ngx_http_taskgw_redis_cmd_arg(&cmd, key, p - key);

    ngx_http_taskgw_redis_cmd_arg(&cmd, arg->data, arg->len);
    ngx_http_taskgw_redis_cmd_arg(&cmd, tmcf->prefix.data, tmcf->prefix.len);
    ngx_http_taskgw_redis_cmd_arg(&cmd, now, nlen);
    ngx_http_taskgw_redis_cmd_arg(&cmd, who->data, who->len);

    return ngx_http_taskgw_admin_redis(r, &cmd,
                                     ngx_http_taskgw_admin_tokens_revoke_done);
}


static void
ngx_http_taskgw_admin_tokens_revoke_done(ngx_http_request_t *r,
    redisReply *reply)
{
    ngx_http_taskgw_jw_t          jw;
    ngx_http_taskgw_admin_ctx_t  *actx;

    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
        ngx_http_taskgw_admin_failed(r, reply);
        return;
    }

    if (reply->integer == 0) {
        ngx_http_finalize_request(r,
            ngx_http_taskgw_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                       "no run-time token with this name"));
        return;
    }

    actx = ngx_http_taskgw_admin_get_ctx(r);

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "taskgw: admin: token \"%V\" revoked", &actx->arg);

    ngx_http_taskgw_jw_init(&jw, r->pool);
    ngx_http_taskgw_jw_open(&jw, '{');
    ngx_http_taskgw_jw_key(&jw, "name");
    ngx_http_taskgw_jw_str(&jw, actx->arg.data, actx->arg.len);
    ngx_http_taskgw_jw_key(&jw, "status");
    ngx_http_taskgw_jw_cstr(&jw, "revoked");
    ngx_http_taskgw_jw_close(&jw, '}');

    ngx_http_finalize_request(r,
                              ngx_http_taskgw_admin_send(r, NGX_HTTP_OK, &jw));
}


/* ------------------------------------------------------------------ */
/* The body of POST tokens                                             */
/* ------------------------------------------------------------------ */

/*
 * A JSON string at *pp (already known to be valid JSON), decoded into the
 * pool.  Every value a token takes is printable ASCII, so an escape of
 * anything else makes the value invalid (NULL).
 */

static u_char *
ngx_http_taskgw_admin_json_str(ngx_pool_t *pool, u_char **pp, u_char *last,
    size_t *len)
{
    u_char      *p, *dst, *out;
    ngx_uint_t   c, i, bad;

    p = *pp + 1;
    out = ngx_pnalloc(pool, last - p + 1);
    if (out == NULL) {
        return NULL;
    }

    dst = out;
    bad = 0;

    while (p < last && *p != '"') {
        if (*p != '\\') {
            if (*p < 0x20 || *p >= 0x7f) {
                bad = 1;
            }
            *dst++ = *p++;
            continue;
        }

        p++;

        switch (*p) {
        case 'u':
            c = 0;
            for (i = 1; i <= 4; i++) {
                c = c * 16 + (ngx_hextoi(p + i, 1) & 0xf);
            }
            p += 5;
            if (c < 0x20 || c >= 0x7f) {
                bad = 1;
            }
            *dst++ = (u_char) c;
            continue;

        case '"':
        case '\\':
        case '/':
            *dst++ = *p++;
            continue;

        default:
            bad = 1;
            p++;
        }
    }

    *pp = p + 1;
    *len = dst - out;

    return bad ? (u_char *) "" : out;
}


static void
ngx_http_taskgw_admin_ws(u_char **pp, u_char *last)
{
    while (*pp < last
           && (**pp == ' ' || **pp == '\t' || **pp == '\n' || **pp == '\r'))
    {
        (*pp)++;
    }
}


/*
 * The body is a JSON object with string members name, role, rate, and
 * ips and queues as strings (comma lists) or arrays of strings.  Errors
 * are messages for the client.
 */

static const char *
ngx_http_taskgw_admin_parse_token(ngx_http_request_t *r, u_char *p,
    u_char *last, ngx_http_taskgw_admin_token_t *t)
{
    u_char      *s, *d;
    size_t       len;
    ngx_str_t   *field, key;
    ngx_uint_t   list, n;

    ngx_memzero(t, sizeof(ngx_http_taskgw_admin_token_t));

    ngx_http_taskgw_admin_ws(&p, last);

    if (p == last || *p != '{') {
        return "the body must be a JSON object";
    }

    p++;

    for ( ;; ) {
        ngx_http_taskgw_admin_ws(&p, last);

        if (p < last && *p == '}') {
            break;
        }

        if (p < last && *p == ',') {
            p++;
            ngx_http_taskgw_admin_ws(&p, last);
        }

        key.data = ngx_http_taskgw_admin_json_str(r->pool, &p, last,
                                                  &key.len);
        if (key.data == NULL) {
            return "out of memory";
        }

        ngx_http_taskgw_admin_ws(&p, last);
        p++;                                   /* ':' */
        ngx_http_taskgw_admin_ws(&p, last);

        list = 0;

        if (key.len == 4 && ngx_strncmp(key.data, "name", 4) == 0) {
            field = &t->name;
        } else if (key.len == 4 && ngx_strncmp(key.data, "role", 4) == 0) {
            field = &t->role;
        } else if (key.len == 4 && ngx_strncmp(key.data, "rate", 4) == 0) {
            field = &t->rate;
        } else if (key.len == 3 && ngx_strncmp(key.data, "ips", 3) == 0) {
            field = &t->ips;
            list = 1;
        } else if (key.len == 6 && ngx_strncmp(key.data, "queues", 6) == 0) {
            field = &t->queues;
            list = 1;
        } else {
            return "unknown member: the members are name, role, ips, rate "
                   "and queues";
        }

        if (field->data != NULL) {
            return "a member is repeated";
        }

        if (*p == 'n') {                       /* null: not set */
            p += 4;
            ngx_str_set(field, "");
            continue;
        }

        if (*p == '"') {
            field->data = ngx_http_taskgw_admin_json_str(r->pool, &p, last,
                                                         &field->len);
            if (field->data == NULL) {
                return "out of memory";
            }

            if (field->data[0] == '\0' && field->len) {
                return "values must be printable ASCII";
            }

            continue;
        }

        if (*p != '[' || !list) {
            return list ? "ips and queues are strings or arrays of strings"
                        : "name, role and rate are strings";
        }

        /* an array of strings becomes the comma list the token file uses */

        p++;
        d = ngx_pnalloc(r->pool, last - p + 1);
        if (d == NULL) {
            return "out of memory";
        }

        field->data = d;
        n = 0;

        for ( ;; ) {
            ngx_http_taskgw_admin_ws(&p, last);

            if (*p == ']') {
                p++;
                break;
            }

            if (*p == ',') {
                p++;
                ngx_http_taskgw_admin_ws(&p, last);
            }

            if (*p != '"') {
                return "ips and queues are strings or arrays of strings";
            }

            s = ngx_http_taskgw_admin_json_str(r->pool, &p, last, &len);
            if (s == NULL) {
                return "out of memory";
            }

            if ((s[0] == '\0' && len) || len == 0
                || ngx_strlchr(s, s + len, ','))
            {
                return "an item of ips or queues is empty or not printable";
            }

            if (n++) {
                *d++ = ',';
            }

            d = ngx_cpymem(d, s, len);
        }

        field->len = d - field->data;
    }

    if (t->name.data == NULL || t->role.data == NULL) {
        return "name and role are required";
    }

    if (t->ips.data == NULL) {
        ngx_str_set(&t->ips, "");
    }

    if (t->rate.data == NULL) {
        ngx_str_set(&t->rate, "");
    }

    if (t->queues.data == NULL) {
        ngx_str_set(&t->queues, "");
    }

    return NULL;
}


/*
 * The token file's rules: a name of 1-64 [A-Za-z0-9._-], a role of dev,
 * ops or admin, ips a comma list of addresses or CIDR ranges, rate
 * Nr/s or Nr/m, queues a comma list of queue names.
 */

static const char *
ngx_http_taskgw_admin_check_token(ngx_http_taskgw_admin_token_t *t)
{
    u_char      *p, *last, *item;
    ngx_str_t    s;
    ngx_int_t    n;
    ngx_cidr_t   cidr;

    if (ngx_http_taskgw_valid_name(&t->name, NGX_HTTP_TASKGW_TOKEN_NAME_MAX,
                                   0)
        != NGX_OK)
    {
        return "name must be 1-64 characters of A-Z a-z 0-9 . _ -";
    }

    if (!((t->role.len == 3 && ngx_strncmp(t->role.data, "dev", 3) == 0)
          || (t->role.len == 3 && ngx_strncmp(t->role.data, "ops", 3) == 0)
          || (t->role.len == 5 && ngx_strncmp(t->role.data, "admin", 5) == 0)))
    {
        return "role must be \"dev\", \"ops\" or \"admin\"";
    }

    if (t->ips.len > NGX_HTTP_TASKGW_ADMIN_OPT_MAX
        || t->queues.len > NGX_HTTP_TASKGW_ADMIN_OPT_MAX)
    {
        return "ips or queues is too long";
    }

    for (p = t->ips.data, last = p + t->ips.len; p < last; p++) {
        item = p;

        while (p < last && *p != ',') {
            p++;
        }

        s.data = item;
        s.len = p - item;

        if (s.len == 0 || ngx_ptocidr(&s, &cidr) == NGX_ERROR) {
            return "ips must be a comma list of addresses or CIDR ranges";
        }
    }

    for (p = t->queues.data, last = p + t->queues.len; p < last; p++) {
        item = p;

        while (p < last && *p != ',') {
            p++;
        }

        s.data = item;
        s.len = p - item;

        if (ngx_http_taskgw_valid_name(&s, NGX_HTTP_TASKGW_QUEUE_MAX, 0)
            != NGX_OK)
        {
            return "queues must be a comma list of queue names";
        }
    }

    if (t->rate.len) {
        if (t->rate.len < 4
            || t->rate.data[t->rate.len - 3] != 'r'
            || t->rate.data[t->rate.len - 2] != '/'
            || (t->rate.data[t->rate.len - 1] != 's'
                && t->rate.data[t->rate.len - 1] != 'm'))
        {
            return "rate must be Nr/s or Nr/m";
        }

        n = ngx_atoi(t->rate.data, t->rate.len - 3);
        if (n <= 0 || n > 1000000) {
            return "rate must be Nr/s or Nr/m";
        }
    }

    return NULL;
}
