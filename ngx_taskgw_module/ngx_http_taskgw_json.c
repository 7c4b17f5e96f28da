
/*
 * ngx_http_taskgw_json: strict JSON validation (RFC 8259) and escaping.
 * No allocation: the validator walks the buffer once, recursively.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_http_taskgw_json.h"


typedef struct {
    u_char      *p;
    u_char      *last;
    ngx_uint_t   depth;
} ngx_http_taskgw_json_parser_t;


static ngx_int_t ngx_http_taskgw_json_value(ngx_http_taskgw_json_parser_t *js);
static ngx_int_t ngx_http_taskgw_json_string(
    ngx_http_taskgw_json_parser_t *js);
static ngx_int_t ngx_http_taskgw_json_hex4(
    ngx_http_taskgw_json_parser_t *js, ngx_uint_t *cp);
static ngx_int_t ngx_http_taskgw_json_number(
    ngx_http_taskgw_json_parser_t *js);
static ngx_int_t ngx_http_taskgw_json_literal(
    ngx_http_taskgw_json_parser_t *js, const char *word, size_t len);
static void ngx_http_taskgw_json_ws(ngx_http_taskgw_json_parser_t *js);
static size_t ngx_http_taskgw_utf8_len(u_char *p, u_char *last);


/*
 * A document is valid when it is exactly one JSON value with optional
 * white space around it, all strings are valid UTF-8, and nesting stays
 * within NGX_HTTP_TASKGW_JSON_MAX_DEPTH.
 */

ngx_int_t
ngx_http_taskgw_json_valid(u_char *p, size_t len)
{
    ngx_http_taskgw_json_parser_t  js;

    js.p = p;
    js.last = p + len;
    js.depth = 0;

    ngx_http_taskgw_json_ws(&js);

    if (ngx_http_taskgw_json_value(&js) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_taskgw_json_ws(&js);

    return js.p == js.last ? NGX_OK : NGX_ERROR;
}


static void
ngx_http_taskgw_json_ws(ngx_http_taskgw_json_parser_t *js)
{
    while (js->p < js->last
           && (*js->p == ' ' || *js->p == '\t' || *js->p == '\n'
               || *js->p == '\r'))
    {
        js->p++;
    }
}


static ngx_int_t
ngx_http_taskgw_json_value(ngx_http_taskgw_json_parser_t *js)
{
    u_char  close;

    if (js->p == js->last) {
        return NGX_ERROR;
    }

    switch (*js->p) {

    case '"':
        return ngx_http_taskgw_json_string(js);

    case 't':
        return ngx_http_taskgw_json_literal(js, "true", 4);

    case 'f':
        return ngx_http_taskgw_json_literal(js, "false", 5);

    case 'n':
        return ngx_http_taskgw_json_literal(js, "null", 4);

    case '[':
    case '{':
        break;

    default:
        return ngx_http_taskgw_json_number(js);
    }

    /* an array or an object */

    if (++js->depth > NGX_HTTP_TASKGW_JSON_MAX_DEPTH) {
        return NGX_ERROR;
    }

    close = (*js->p == '[') ? ']' : '}';
    js->p++;
    ngx_http_taskgw_json_ws(js);

    if (js->p < js->last && *js->p == close) {
        js->p++;
        js->depth--;
        return NGX_OK;
    }

    for ( ;; ) {

        if (close == '}') {
            if (js->p == js->last || *js->p != '"'
                || ngx_http_taskgw_json_string(js) != NGX_OK)
            {
                return NGX_ERROR;
            }

            ngx_http_taskgw_json_ws(js);

            if (js->p == js->last || *js->p != ':') {
                return NGX_ERROR;
            }

            js->p++;
            ngx_http_taskgw_json_ws(js);
        }

        if (ngx_http_taskgw_json_value(js) != NGX_OK) {
            return NGX_ERROR;
        }

        ngx_http_taskgw_json_ws(js);

        if (js->p == js->last) {
            return NGX_ERROR;
        }

        if (*js->p == ',') {
            js->p++;
            ngx_http_taskgw_json_ws(js);
            continue;
        }

        if (*js->p == close) {
            js->p++;
            js->depth--;
            return NGX_OK;
        }

        return NGX_ERROR;
    }
}


/*
 * Strings: escapes as RFC 8259 lists them; a \u escape of a UTF-16
 * surrogate must be a high-low pair, since a lone half encodes no
 * character (RFC 8259 section 8.2) and jansson, which the worker parses
 * payloads with, refuses it.
 */

static ngx_int_t
ngx_http_taskgw_json_string(ngx_http_taskgw_json_parser_t *js)
{
    size_t      n;
    ngx_uint_t  cp;

    js->p++;   /* the opening quote */

    while (js->p < js->last) {

        if (*js->p == '"') {
            js->p++;
            return NGX_OK;
        }

        if (*js->p < 0x20) {
            return NGX_ERROR;
        }

        if (*js->p == '\\') {
            js->p++;

            if (js->p == js->last) {
                return NGX_ERROR;
            }

            switch (*js->p) {
            case '"': case '\\': case '/': case 'b': case 'f': case 'n':
            case 'r': case 't':
                js->p++;
                continue;

            case 'u':
                js->p++;

                if (ngx_http_taskgw_json_hex4(js, &cp) != NGX_OK) {
                    return NGX_ERROR;
                }

                if (cp >= 0xdc00 && cp <= 0xdfff) {
                    /* a low surrogate without its high half */
                    return NGX_ERROR;
                }

                if (cp >= 0xd800 && cp <= 0xdbff) {
                    /* a high surrogate must be followed by a low one */

                    if (js->last - js->p < 2 || js->p[0] != '\\'
                        || js->p[1] != 'u')
                    {
                        return NGX_ERROR;
                    }

                    js->p += 2;

                    if (ngx_http_taskgw_json_hex4(js, &cp) != NGX_OK
                        || cp < 0xdc00 || cp > 0xdfff)
                    {
                        return NGX_ERROR;
                    }
                }

                continue;

            default:
                return NGX_ERROR;
            }
        }

        n = ngx_http_taskgw_utf8_len(js->p, js->last);
        if (n == 0) {
            return NGX_ERROR;
        }

        js->p += n;
    }

    return NGX_ERROR;
}


/* Four hex digits of a \u escape. */

static ngx_int_t
ngx_http_taskgw_json_hex4(ngx_http_taskgw_json_parser_t *js, ngx_uint_t *cp)
{
    ngx_int_t  n;

    if (js->last - js->p < 4) {
        return NGX_ERROR;
    }

    n = ngx_hextoi(js->p, 4);
    if (n == NGX_ERROR) {
        return NGX_ERROR;
    }

    js->p += 4;
    *cp = (ngx_uint_t) n;

    return NGX_OK;
}


static ngx_int_t
ngx_http_taskgw_json_number(ngx_http_taskgw_json_parser_t *js)
{
    u_char  *start;

    if (js->p < js->last && *js->p == '-') {
        js->p++;
    }

    if (js->p == js->last) {
        return NGX_ERROR;
    }

    if (*js->p == '0') {
        js->p++;

    } else if (*js->p >= '1' && *js->p <= '9') {
        while (js->p < js->last && isdigit(*js->p)) {
            js->p++;
        }

    } else {
        return NGX_ERROR;
    }

    if (js->p < js->last && *js->p == '.') {
        js->p++;
        start = js->p;

        while (js->p < js->last && isdigit(*js->p)) {
            js->p++;
        }

        if (js->p == start) {
            return NGX_ERROR;
        }
    }

    if (js->p < js->last && (*js->p == 'e' || *js->p == 'E')) {
        js->p++;

        if (js->p < js->last && (*js->p == '+' || *js->p == '-')) {
            js->p++;
        }

        start = js->p;

        while (js->p < js->last && isdigit(*js->p)) {
            js->p++;
        }

        if (js->p == start) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_taskgw_json_literal(ngx_http_taskgw_json_parser_t *js,
    const char *word, size_t len)
{
    if ((size_t) (js->last - js->p) < len
        || ngx_strncmp(js->p, word, len) != 0)
    {
        return NGX_ERROR;
    }

    js->p += len;

    return NGX_OK;
}


/*
 * The length of the well-formed UTF-8 sequence at p (RFC 3629: no
 * overlong forms, no surrogates, nothing above U+10FFFF), or 0.
 */

static size_t
ngx_http_taskgw_utf8_len(u_char *p, u_char *last)
{
    size_t    n, i;
    uint32_t  cp, min;

    if (*p < 0x80) {
        return 1;
    }

    if ((*p & 0xe0) == 0xc0) {
        n = 2; cp = *p & 0x1f; min = 0x80;

    } else if ((*p & 0xf0) == 0xe0) {
        n = 3; cp = *p & 0x0f; min = 0x800;

    } else if ((*p & 0xf8) == 0xf0) {
        n = 4; cp = *p & 0x07; min = 0x10000;

    } else {
        return 0;
    }

    if ((size_t) (last - p) < n) {
        return 0;
    }

    for (i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }

        cp = (cp << 6) | (p[i] & 0x3f);
    }

    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        return 0;
    }

    return n;
}


/*
 * JSON string escaping: quotes, backslashes and control characters are
 * escaped; bytes that are not well-formed UTF-8 become U+FFFD, so the
 * output is always valid JSON text whatever the input was.
 */

size_t
ngx_http_taskgw_json_escape_len(u_char *s, size_t len)
{
    size_t   n, size;
    u_char  *last;

    /* an absent value (a nil hash field) is NULL: no arithmetic on it */

    if (len == 0) {
        return 0;
    }

    size = 0;
    last = s + len;

    while (s < last) {

        if (*s == '"' || *s == '\\') {
            size += 2;
            s++;
            continue;
        }

        if (*s < 0x20) {
            size += (*s == '\n' || *s == '\r' || *s == '\t') ? 2 : 6;
            s++;
            continue;
        }

        n = ngx_http_taskgw_utf8_len(s, last);

        if (n == 0) {
            size += 6;    /* \ufffd */
            s++;
            continue;
        }

        size += n;
        s += n;
    }

    return size;
}


u_char *
ngx_http_taskgw_json_escape(u_char *dst, u_char *s, size_t len)
{
    size_t         n;
    u_char        *last;
    static u_char  hex[] = "0123456789abcdef";

    if (len == 0) {
        return dst;
    }

    last = s + len;

    while (s < last) {

        switch (*s) {
        case '"':
        case '\\':
            *dst++ = '\\';
            *dst++ = *s++;
            continue;

        case '\n':
            *dst++ = '\\'; *dst++ = 'n'; s++;
            continue;

        case '\r':
            *dst++ = '\\'; *dst++ = 'r'; s++;
            continue;

        case '\t':
            *dst++ = '\\'; *dst++ = 't'; s++;
            continue;
        }

        if (*s < 0x20) {
            dst = ngx_cpymem(dst, "\\u00", 4);
            *dst++ = hex[*s >> 4];
            *dst++ = hex[*s & 0xf];
            s++;
            continue;
        }

        n = ngx_http_taskgw_utf8_len(s, last);

        if (n == 0) {
            dst = ngx_cpymem(dst, "\\ufffd", 6);
            s++;
            continue;
        }

        dst = ngx_cpymem(dst, s, n);
        s += n;
    }

    return dst;
}
