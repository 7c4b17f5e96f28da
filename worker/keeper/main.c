/*
 * taskgw-exec-keeper: the exec keeper (src/keeper.h) as a program of its
 * own.  The worker runs one per exec task; its own binary, linked with
 * libuv, hiredis, libcurl and all they pull in, spends most of a short
 * task's time in the dynamic loader, while this one is small and linked
 * statically.  The worker falls back to its own binary when this one is
 * not installed next to it.
 */

#include <stdio.h>

#include "keeper.h"


int
main(int argc, char **argv)
{
    if (tgw_keeper_wanted(argc, argv)) {
        tgw_keeper_main(argc, argv);
    }
    fprintf(stderr, "usage: taskgw-exec-keeper " TGW_KEEPER_ARG
            " <worker pid> -- <program> [args...]\n"
            "(started by taskgw-worker for its exec handlers)\n");
    return 2;
}
