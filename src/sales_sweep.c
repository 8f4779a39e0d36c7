/*
 * The sweep: what time alone changes (a proposal past its validity, an
 * invoice past its due date, a contract near its end) is read from the
 * dates at every request, without a write; the events about it, and what
 * the passing of time must write, are done here. It runs inside the
 * webhook delivery cycle on the thread pool: at a pool thread's first
 * cycle, then once a minute. Every step writes at most once per object,
 * so workers and threads sweeping side by side change nothing twice.
 */

#include "sales_resource.h"


#define SWEEP_EVERY_MS  60000

static __thread int64_t  last_sweep;

/* Each takes ctx (now_ms is the real time) and today's date. */
static int (*const sweeps[])(sales_ctx_t *ctx, const char *today) = {
    sales_proposals_sweep,
    sales_invoices_sweep,
    sales_loyalty_sweep,
    sales_contracts_sweep,
    NULL
};


int
sales_sweep_due(int64_t now_ms)
{
    return last_sweep == 0 || now_ms - last_sweep >= SWEEP_EVERY_MS;
}


/* Inside the caller's write transaction. */
int
sales_sweep(sales_ctx_t *ctx)
{
    char  today[11];
    int   i;

    if (!sales_sweep_due(ctx->now_ms)) {
        return 0;
    }

    sales_date_of(ctx->now_ms, today);

    for (i = 0; sweeps[i]; i++) {
        if (sweeps[i](ctx, today) != 0) {
            return -1;
        }
    }

    last_sweep = ctx->now_ms;
    return 0;
}


/*
 * Writes one event per row of st, a prepared query answering (subject id,
 * the event's data as JSON text); finishes st.
 */
int
sales_sweep_events(sales_ctx_t *ctx, sqlite3_stmt *st, const char *type,
    const char *subject_type)
{
    for ( ;; ) {
        json_t  *data;
        int      rc = sqlite3_step(st);

        if (rc == SQLITE_DONE) {
            break;
        }

        if (rc != SQLITE_ROW) {
            sales_finish(st);
            return sales_db_error(ctx, "sweeping");
        }

        data = json_loads((const char *) sqlite3_column_text(st, 1), 0, NULL);
        rc = data ? sales_event(ctx, type, subject_type,
                                sqlite3_column_int64(st, 0), data)
                  : sales_fail(ctx, 500, "internal", "a sweep's event data "
                               "is not JSON");
        json_decref(data);

        if (rc != 0) {
            sales_finish(st);
            return -1;
        }
    }

    sales_finish(st);
    return 0;
}
