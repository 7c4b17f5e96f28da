/*
 * A task's own parts, shared by task.c (the state machine), task_obj.c
 * (the objects), task_fields.c (the hash read) and task_record.c (the
 * record).  Not used outside them: the rest of the worker has task.h.
 */

#ifndef TGW_TASK_INT_H
#define TGW_TASK_INT_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#include "task.h"

/* task.c */

/* Common entry of every step callback: NULL when the task must stop. */
tgw_task_t *tgw_task_reply(tgw_task_t *t, redisReply *r, const char *step);

/* task_obj.c */

/* The n bytes at s (NULs included) as a string, allocated. */
char *tgw_strndup(const char *s, size_t n);

/* task_fields.c */

/* Reads a task hash (HGETALL, or take's values) into t; -1: no memory. */
int tgw_task_fields(tgw_task_t *t, const redisReply *r, int take,
    char **status, char **cancel, char **bad);

/* task_record.c */

/* Sends the record of the task (t->rec), alone or in its batch. */
void tgw_task_send_record(tgw_task_t *t);

#endif /* TGW_TASK_INT_H */
