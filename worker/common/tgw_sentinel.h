/*
 * tgw_sentinel: Redis Sentinel for the worker and taskgwctl (pure code,
 * no I/O): the sentinel address list, the master name rule, and reading
 * the replies of SENTINEL get-master-addr-by-name and ROLE.  Both
 * programs ask the sentinels in turn for the master's address, connect
 * to it, and confirm with ROLE that it is a master (docs/operations.md).
 */

#ifndef TGW_SENTINEL_H
#define TGW_SENTINEL_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#define TGW_ADDR_HOST_MAX     255
#define TGW_SENTINEL_MAX      16        /* sentinels in a list */
#define TGW_MASTER_NAME_MAX   128

/* A TCP address: host name or IP (an IPv6 one without brackets). */
typedef struct {
    char  host[TGW_ADDR_HOST_MAX + 1];
    int   port;
} tgw_addr_t;

/*
 * Parses len bytes of "host:port" or "[v6]:port" (the port is required:
 * a sentinel's is not Redis's).  0, or -1 when malformed.
 */
int tgw_addr_parse(const char *s, size_t len, tgw_addr_t *a);

/* "host:port", or "[v6]:port" when host holds a colon. */
void tgw_addr_format(const tgw_addr_t *a, char *buf, size_t size);

int tgw_addr_equal(const tgw_addr_t *a, const tgw_addr_t *b);

/*
 * Parses a comma-separated list of sentinel addresses into out (max
 * entries).  Returns how many, or -1 with a message in err: an empty
 * list, an empty item, a bad address, too many.
 */
int tgw_sentinel_parse_list(const char *s, tgw_addr_t *out, int max,
    char *err, size_t errlen);

/* 1 when name is a usable master name: 1..128 visible characters. */
int tgw_master_name_ok(const char *name);

/*
 * Reads the reply of SENTINEL get-master-addr-by-name: 0 with the
 * master's address in a, or -1 with the reason in why (an error reply,
 * a sentinel that does not know the name, a malformed reply).
 */
int tgw_sentinel_master_reply(const redisReply *r, tgw_addr_t *a,
    char *why, size_t size);

/*
 * Reads the reply of ROLE: 1 when the server is a master, 0 when it is
 * not (why names its role: "slave", "sentinel"), -1 on an error or a
 * malformed reply (why says so).
 */
int tgw_role_reply(const redisReply *r, char *why, size_t size);

#endif /* TGW_SENTINEL_H */
