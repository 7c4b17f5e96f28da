/*
 * Fuzz target: the worker's JSON config loader (tgw_conf_parse), every key
 * read and validated.  A config that parses is released again; one that
 * does not must come with at least one error message.
 */

#include <stdint.h>
#include <stdlib.h>

#include "conf.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tgw_conf_t         *conf;
    tgw_conf_errors_t   errs;

    conf = tgw_conf_parse((const char *) data, size, "fuzz.json", &errs);
    if (conf != NULL) {
        (void) tgw_conf_handler(conf, "fuzz.type");
        tgw_conf_unref(conf);
    } else if (errs.n == 0) {
        abort();
    }
    tgw_conf_errors_free(&errs);

    return 0;
}
