
/*
 * Fuzz target: the rate syntax "Nr/s" or "Nr/m", as taskgw_limit_zone's
 * rate= takes it and as a token's rate= does (the token's is the zone's
 * parser, its value turned into requests per second times 1000).
 *
 * The input is the rate.  Both must agree on what is a rate and on its
 * value; a rate taken must be 1 to 1000000 requests and must parse back
 * to itself when written as "%ur/s" or "%ur/m".
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_http_taskgw_parse.h"
#include "ngx_fuzz.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                  *buf, line[64], *p;
    ngx_int_t                zone_rc, tok;
    ngx_str_t                s;
    ngx_http_taskgw_rate_t   rate, again;

    buf = malloc(size ? size : 1);
    if (buf == NULL) {
        return 0;
    }

    ngx_memcpy(buf, data, size);

    s.data = buf;
    s.len = size;

    zone_rc = ngx_http_taskgw_parse_rate(&s, &rate);
    tok = ngx_http_taskgw_token_parse_rate(&s);

    if ((zone_rc == NGX_OK) != (tok != NGX_ERROR)) {
        ngx_fuzz_fail("\"%V\": taskgw_limit_zone says %i, a token %i",
                      &s, zone_rc, tok);
    }

    if (zone_rc == NGX_OK) {
        if (rate.n < 1 || rate.n > NGX_HTTP_TASKGW_RATE_MAX
            || (rate.period != 1 && rate.period != 60))
        {
            ngx_fuzz_fail("\"%V\" is %ui per %uis", &s, rate.n,
                          rate.period);
        }

        if ((ngx_uint_t) tok != rate.n * 1000 / rate.period) {
            ngx_fuzz_fail("\"%V\": a token's rate %i is not %ui per %uis",
                          &s, tok, rate.n, rate.period);
        }

        p = ngx_sprintf(line, "%uir/%c", rate.n,
                        rate.period == 1 ? 's' : 'm');

        s.data = line;
        s.len = p - line;

        if (ngx_http_taskgw_parse_rate(&s, &again) != NGX_OK
            || again.n != rate.n || again.period != rate.period)
        {
            ngx_fuzz_fail("\"%V\" does not parse back", &s);
        }
    }

    free(buf);

    return 0;
}
