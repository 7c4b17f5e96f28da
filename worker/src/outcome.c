/*
 * The outcome rule, the classification of a run and the record plan (see
 * outcome.h).  No I/O: everything here is unit-tested on its own.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "outcome.h"
#include "tgw_keys.h"
#include "tgw_result.h"


tgw_next_t
tgw_outcome_decide(tgw_run_status_t run, int attempts, int max_attempts)
{
    switch (run) {
    case TGW_RUN_SUCCESS:
        return TGW_NEXT_SUCCEEDED;
    case TGW_RUN_PERMANENT:
        return TGW_NEXT_DEAD;
    case TGW_RUN_RETRYABLE:
        break;
    }
    return attempts < max_attempts ? TGW_NEXT_RETRYING : TGW_NEXT_DEAD;
}


const char *
tgw_next_status(tgw_next_t next)
{
    switch (next) {
    case TGW_NEXT_SUCCEEDED:
        return TGW_ST_SUCCEEDED;
    case TGW_NEXT_RETRYING:
        return TGW_ST_RETRYING;
    case TGW_NEXT_DEAD:
        break;
    }
    return TGW_ST_DEAD;
}


const char *
tgw_run_status_name(tgw_run_status_t s)
{
    switch (s) {
    case TGW_RUN_SUCCESS:   return "success";
    case TGW_RUN_RETRYABLE: return "retryable";
    case TGW_RUN_PERMANENT: return "permanent";
    }
    return "unknown";
}


int
tgw_outcome_classify(tgw_run_status_t st, const char *output,
    size_t output_len, int truncated, const char *error, int attempts,
    int max_attempts, tgw_outcome_t *o)
{
    memset(o, 0, sizeof(*o));
    o->next = tgw_outcome_decide(st, attempts, max_attempts);

    if (o->next == TGW_NEXT_SUCCEEDED) {
        if (tgw_result_encode(output, output_len, truncated, &o->result,
                              &o->result_enc) == 0)
        {
            return 0;
        }
        /* No memory for the result: fail this attempt instead of losing
         * it; a retry may fit. */
        o->result = NULL;
        o->result_enc = NULL;
        o->next = tgw_outcome_decide(TGW_RUN_RETRYABLE, attempts,
                                     max_attempts);
        error = "out of memory encoding the result";
    }
    o->error = strdup(error ? error : "failed");
    return o->error ? 0 : -1;
}


void
tgw_outcome_free(tgw_outcome_t *o)
{
    free(o->result);
    free(o->error);
    o->result = NULL;
    o->error = NULL;
}

/* ------------------------------------------------------------------------
 * The record plan
 * ------------------------------------------------------------------------ */

static tgw_args_t *
tgw_plan_next(tgw_plan_t *p)
{
    tgw_args_t *a = &p->cmd[p->n++];

    tgw_args_init(a);
    return a;
}


int
tgw_plan_build(const tgw_plan_in_t *in, tgw_plan_t *p)
{
    const tgw_outcome_t *o = in->outcome;
    const char          *error;
    tgw_args_t          *a;
    int                  i, bad = 0;

    p->n = 0;
    p->terminal = 0;
    error = o && o->error ? o->error : "failed";
    if (in->hook_url && strlen(in->id) > TGW_TASK_ID_MAX_PLAN) {
        return -1;                  /* no task has such an id */
    }
    if (in->rec == TGW_REC_OUTCOME && o == NULL) {
        return -1;                  /* an outcome record needs its outcome */
    }

    switch (in->rec) {
    case TGW_REC_OUTCOME:
        a = tgw_plan_next(p);
        tgw_args_add(a, "HSET");
        tgw_args_keyf(a, TGW_KEY_TASK, in->prefix, in->id);
        tgw_args_add(a, TGW_F_STATUS);
        tgw_args_add(a, tgw_next_status(o->next));
        if (o->next == TGW_NEXT_SUCCEEDED) {
            p->terminal = 1;
            tgw_args_add(a, TGW_F_RESULT);
            tgw_args_add(a, o->result ? o->result : "null");
            tgw_args_add(a, TGW_F_FINISHED_AT);
            tgw_args_addu(a, in->finished_ms);
            if (o->result_enc) {
                tgw_args_add(a, TGW_F_RESULT_ENC);
                tgw_args_add(a, o->result_enc);
            }
            /* what an earlier attempt left behind */
            a = tgw_plan_next(p);
            tgw_args_add(a, "HDEL");
            tgw_args_keyf(a, TGW_KEY_TASK, in->prefix, in->id);
            tgw_args_add(a, TGW_F_ERROR);
            if (o->result_enc == NULL) {
                tgw_args_add(a, TGW_F_RESULT_ENC);
            }
            break;
        }
        tgw_args_add(a, TGW_F_ERROR);
        tgw_args_add(a, error);
        if (o->next == TGW_NEXT_RETRYING) {
            a = tgw_plan_next(p);
            tgw_args_add(a, "ZADD");
            tgw_args_keyf(a, TGW_KEY_SCHEDULED, in->prefix);
            tgw_args_addu(a, in->due_ms);
            tgw_args_add(a, in->id);
            break;
        }
        p->terminal = 1;
        tgw_args_add(a, TGW_F_FINISHED_AT);
        tgw_args_addu(a, in->finished_ms);
        a = tgw_plan_next(p);
        tgw_args_add(a, "XADD");
        tgw_args_keyf(a, TGW_KEY_DEAD, in->prefix, in->queue);
        tgw_args_add(a, "*");
        tgw_args_add(a, "id");
        tgw_args_add(a, in->id);
        tgw_args_add(a, TGW_F_ERROR);
        tgw_args_add(a, error);
        tgw_args_add(a, TGW_F_ATTEMPTS);
        tgw_args_addu(a, (uint64_t) (in->attempts > 0 ? in->attempts : 0));
        tgw_args_add(a, "failed_at");
        tgw_args_addu(a, in->finished_ms);
        break;

    case TGW_REC_CANCELLED:
        p->terminal = 1;
        a = tgw_plan_next(p);
        tgw_args_add(a, "HSET");
        tgw_args_keyf(a, TGW_KEY_TASK, in->prefix, in->id);
        tgw_args_add(a, TGW_F_STATUS);
        tgw_args_add(a, TGW_ST_CANCELLED);
        tgw_args_add(a, TGW_F_FINISHED_AT);
        tgw_args_addu(a, in->finished_ms);
        break;

    case TGW_REC_DEFER:
        a = tgw_plan_next(p);
        tgw_args_add(a, "HSET");
        tgw_args_keyf(a, TGW_KEY_TASK, in->prefix, in->id);
        tgw_args_add(a, TGW_F_STATUS);
        tgw_args_add(a, TGW_ST_SCHEDULED);
        /* fall through */
    case TGW_REC_POSTPONE:
        a = tgw_plan_next(p);
        tgw_args_add(a, "ZADD");
        tgw_args_keyf(a, TGW_KEY_SCHEDULED, in->prefix);
        tgw_args_addu(a, in->due_ms);
        tgw_args_add(a, in->id);
        break;

    case TGW_REC_HANDBACK:
        a = tgw_plan_next(p);
        tgw_args_add(a, "XADD");
        tgw_args_add(a, in->stream);
        tgw_args_add(a, "*");
        tgw_args_add(a, TGW_STREAM_FIELD_ID);
        tgw_args_add(a, in->id);
        break;

    case TGW_REC_ACK:
        break;
    }

    if (p->terminal && in->hook_url) {
        snprintf(p->event, sizeof(p->event), TGW_EVENT_ID_FMT, in->id,
                 (unsigned long long) in->finished_ms);
        /* only an OUTCOME or CANCELLED record is terminal, and an OUTCOME
         * record has its outcome (checked above); the analyser cannot see
         * that the tgw_args_* calls leave p->terminal alone */
        /* NOLINTBEGIN(clang-analyzer-core.NullDereference) */
        snprintf(p->type, sizeof(p->type), "task.%s",
                 in->rec == TGW_REC_CANCELLED ? TGW_ST_CANCELLED
                                              : tgw_next_status(o->next));
        /* NOLINTEND(clang-analyzer-core.NullDereference) */
        a = tgw_plan_next(p);
        tgw_args_add(a, "HSET");
        tgw_args_keyf(a, TGW_KEY_TASK, in->prefix, in->id);
        tgw_args_add(a, TGW_F_WEBHOOK_STATUS);
        tgw_args_add(a, TGW_WH_PENDING);
        tgw_args_add(a, TGW_F_WEBHOOK_ATTEMPTS);
        tgw_args_add(a, "0");
        a = tgw_plan_next(p);
        tgw_args_add(a, "HSET");
        tgw_args_keyf(a, TGW_KEY_EVENT, in->prefix, p->event);
        tgw_args_add(a, TGW_EV_TASK_ID);
        tgw_args_add(a, in->id);
        tgw_args_add(a, TGW_EV_TYPE);
        tgw_args_add(a, p->type);
        tgw_args_add(a, TGW_EV_URL);
        tgw_args_add(a, in->hook_url);
        tgw_args_add(a, TGW_EV_CREATED_AT);
        tgw_args_addu(a, in->finished_ms);
        a = tgw_plan_next(p);
        tgw_args_add(a, "ZADD");
        tgw_args_keyf(a, TGW_KEY_OUTBOX, in->prefix);
        tgw_args_addu(a, in->finished_ms);
        tgw_args_add(a, p->event);
    }
    if (p->terminal) {
        a = tgw_plan_next(p);
        tgw_args_add(a, "PEXPIRE");
        tgw_args_keyf(a, TGW_KEY_TASK, in->prefix, in->id);
        tgw_args_addu(a, in->result_ttl_ms);
        /* last: whoever hears the id can read the outcome already */
        a = tgw_plan_next(p);
        tgw_args_add(a, "PUBLISH");
        tgw_args_keyf(a, TGW_KEY_CHAN_DONE, in->prefix);
        tgw_args_add(a, in->id);
    }

    for (i = 0; i < p->n; i++) {
        bad |= p->cmd[i].overflow;
    }
    if (bad) {
        tgw_plan_free(p);
        return -1;
    }
    return 0;
}


void
tgw_plan_free(tgw_plan_t *p)
{
    int i;

    for (i = 0; i < p->n; i++) {
        tgw_args_free(&p->cmd[i]);
    }
    p->n = 0;
}
