/*
 * taskgw-worker: command line, config loading, the event loop.
 *
 *   taskgw-worker -c FILE [--check] [--log-json] [--debug]
 */

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <uv.h>

#include "conf.h"
#include "keeper.h"
#include "log.h"
#include "run.h"
#include "task.h"
#include "worker.h"

#define TGW_VERSION "0.1.0"


static void
tgw_usage(FILE *f)
{
    fprintf(f,
        "usage: taskgw-worker -c FILE [--check] [--log-json] [--debug]\n"
        "  -c, --config FILE  JSON config (see docs/worker-config.md)\n"
        "      --check        validate the config, print ok or the errors\n"
        "      --log-json     log one JSON object per line\n"
        "      --debug        log debug events too\n"
        "  -V, --version      print the version\n");
}


static void
tgw_log_on_prepare(uv_prepare_t *h)
{
    tgw_log_flush();
}


static void
tgw_close_leftover(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h)) {
        uv_close(h, NULL);
    }
}


int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "config",   required_argument, NULL, 'c' },
        { "check",    no_argument,       NULL, 'k' },
        { "log-json", no_argument,       NULL, 'j' },
        { "debug",    no_argument,       NULL, 'd' },
        { "version",  no_argument,       NULL, 'V' },
        { "help",     no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char         *path = NULL;
    int                 check = 0, json = 0, debug = 0, ch;
    size_t              i;
    tgw_conf_t         *conf;
    tgw_conf_errors_t   errs;
    tgw_worker_t        w;
    uv_loop_t           loop;
    uv_prepare_t        logflush;

    if (tgw_keeper_wanted(argc, argv)) {
        tgw_keeper_main(argc, argv);        /* the exec spawner */
    }

    while ((ch = getopt_long(argc, argv, "c:Vh", opts, NULL)) != -1) {
        switch (ch) {
        case 'c': path = optarg; break;
        case 'k': check = 1; break;
        case 'j': json = 1; break;
        case 'd': debug = 1; break;
        case 'V': printf("taskgw-worker %s\n", TGW_VERSION); return 0;
        case 'h': tgw_usage(stdout); return 0;
        default:  tgw_usage(stderr); return 2;
        }
    }
    if (path == NULL || optind != argc) {
        tgw_usage(stderr);
        return 2;
    }

    /* Parse and validate everything before touching anything. */
    conf = tgw_conf_load(path, &errs);
    if (conf == NULL) {
        /* "<file>: <key.path>: <reason>", one a line (file errors and
         * JSON syntax errors already start with the file name) */
        for (i = 0; i < errs.n; i++) {
            if (strncmp(errs.msg[i], path, strlen(path)) == 0) {
                fprintf(stderr, "%s\n", errs.msg[i]);
            } else {
                fprintf(stderr, "%s: %s\n", path, errs.msg[i]);
            }
        }
        tgw_conf_errors_free(&errs);
        return 1;
    }
    tgw_conf_errors_free(&errs);
    if (check) {
        printf("ok\n");
        tgw_conf_unref(conf);
        return 0;
    }

    tgw_log_init(json, debug ? TGW_LOG_DEBUG : TGW_LOG_INFO);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        tgw_log(TGW_LOG_ERROR, "start_failed", "error", "curl init", NULL);
        tgw_conf_unref(conf);
        return 1;
    }
    /* A child that stops reading its stdin must not kill us. */
    signal(SIGPIPE, SIG_IGN);

    if (uv_loop_init(&loop) != 0
        || tgw_worker_init(&w, &loop, conf) != 0)
    {
        tgw_log(TGW_LOG_ERROR, "start_failed", "error", "out of memory",
                NULL);
        tgw_conf_unref(conf);
        curl_global_cleanup();
        return 1;
    }
    tgw_conf_unref(conf);           /* the worker holds its own */

    /* Log lines written during a loop iteration go out together, before
     * the loop waits (unref'd: it keeps no loop alive). */
    uv_prepare_init(&loop, &logflush);
    uv_prepare_start(&logflush, tgw_log_on_prepare);
    uv_unref((uv_handle_t *) &logflush);
    atexit(tgw_log_flush);
    tgw_log_buffer(1);

    uv_run(&loop, UV_RUN_DEFAULT);

    tgw_exec_spawner_stop();        /* no run is left: it exits */
    tgw_log_buffer(0);
    uv_close((uv_handle_t *) &logflush, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);

    /* Anything still open (there should be nothing) is closed, so the
     * loop and every allocation are released. */
    if (uv_loop_close(&loop) == UV_EBUSY) {
        uv_walk(&loop, tgw_close_leftover, NULL);
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
    }
    tgw_worker_free(&w);
    tgw_task_cache_free();
    curl_global_cleanup();
    return 0;
}
