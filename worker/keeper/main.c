/*
 * taskgw-exec-keeper: the exec spawner (src/keeper.h) as a program of its
 * own.  Each worker runs one, which starts its exec handlers' programs;
 * a small static binary takes less memory than a second copy of the
 * worker's own, linked with libuv, hiredis, libcurl and all they pull
 * in.  The worker falls back to its own binary when this one is not
 * installed next to it.
 */

#include <stdio.h>

#include "keeper.h"


int
main(int argc, char **argv)
{
    if (tgw_keeper_wanted(argc, argv)) {
        tgw_keeper_main(argc, argv);
    }
    fprintf(stderr, "usage: taskgw-exec-keeper " TGW_SPAWNER_ARG
            " <worker pid>\n"
            "(started by taskgw-worker for its exec handlers)\n");
    return 2;
}
