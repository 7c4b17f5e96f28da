/*
 * A plain, blocking hiredis connection for the tests that check what the
 * worker's code wrote to the real redis-server of the test run: q() sends
 * one command and keeps its reply until the next q().
 */

#ifndef TGW_TREDIS_H
#define TGW_TREDIS_H

#include <stdarg.h>
#include <stdlib.h>

#include <hiredis/hiredis.h>

static redisContext *sync_;
static redisReply   *qr;


static redisReply *
q(const char *fmt, ...)
{
    va_list ap;

    freeReplyObject(qr);
    va_start(ap, fmt);
    qr = redisvCommand(sync_, fmt, ap);
    va_end(ap);
    return qr;
}


/* Connects to 127.0.0.1:port and selects db; -1 when Redis is not there. */
static int
tredis_open(const char *port, int db)
{
    sync_ = redisConnect("127.0.0.1", atoi(port));
    if (sync_ == NULL || sync_->err) {
        return -1;
    }
    q("SELECT %d", db);
    return 0;
}


static void
tredis_close(void)
{
    freeReplyObject(qr);
    qr = NULL;
    redisFree(sync_);
    sync_ = NULL;
}

#endif /* TGW_TREDIS_H */
