/*
 * Webhooks: endpoints and deliveries through the API, and the delivery
 * cycle the glue runs on the thread pool: record what came of the last
 * attempts, turn new outbox events into deliveries, claim due ones with a
 * lease and resolve their hosts. The glue does the sending.
 */

#include "sales_resource.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* Types an endpoint can subscribe to; webhook.ping goes only to the
 * endpoint pinged. */
static const char *const event_types[] = {
    "client.created", "client.updated", "client.archived",
    "client.unarchived",
    "opportunity.created", "opportunity.updated",
    "opportunity.stage_changed",
    "proposal.created", "proposal.sent", "proposal.revised",
    "proposal.accepted", "proposal.rejected", "proposal.viewed",
    "proposal.expired", "proposal.converted",
    "order.created", "order.confirmed", "order.completed",
    "order.cancelled",
    "proforma.issued",
    "invoice.issued", "invoice.paid", "invoice.overdue",
    "credit_note.issued", "payment.received",
    "contract.created", "contract.sent", "contract.signed",
    "contract.expiring", "contract.terminated", "contract.renewed",
    "commission.period_closed", "commission.payout_approved",
    "commission.payout_exported", "commission.payout_paid",
    "webhook.endpoint_disabled",
    NULL
};

#define MAX_EVENT_PATTERNS  64
#define RETRY_AFTER_MAX_S   86400
#define GRACE_MAX_S         (7 * 86400)

static const char *const disabled_reasons[] = {
    "manual", "gone", "failing", NULL
};

/* webhook_deliveries.once: what the next attempt is. Any but a normal
 * one is sent also to a disabled endpoint, is recorded as a replay
 * (but a ping) and does not count towards disabling it. */
enum {
    ONCE_NORMAL = 0,
    ONCE_REPLAY,            /* of a finished delivery: one attempt */
    ONCE_PING,              /* one attempt */
    ONCE_NUDGE              /* of a pending one: due now, its retries kept */
};


static int check_url(sales_ctx_t *ctx, const sales_field_t *f,
    json_t **value);


static const sales_field_t  endpoint_fields[] = {
    { "url", SALES_F_STRING, SALES_F_REQUIRED, 1, 2048, NULL, check_url,
      NULL, 0, 0 },
    { "description", SALES_F_STRING, 0, 0, 500, NULL, NULL, NULL, 0, 0 },
    { "enabled", SALES_F_BOOL, SALES_F_NOTNULL, 0, 0, NULL, NULL, NULL, 1,
      1 },
    { "events", SALES_F_STRING, SALES_F_READONLY, 0, 0, NULL, NULL, NULL, 0,
      0 },
    { "disabled_at", SALES_F_TIME, SALES_F_READONLY, 0, 0, NULL, NULL, NULL,
      0, 0 },
    { "disabled_reason", SALES_F_ENUM, SALES_F_READONLY, 0, 0,
      disabled_reasons, NULL, NULL, 0, 0 },
    { "failing_since", SALES_F_TIME, SALES_F_READONLY, 0, 0, NULL, NULL,
      NULL, 0, 0 },
    { "previous_secret_expires_at", SALES_F_TIME, SALES_F_READONLY, 0, 0,
      NULL, NULL, NULL, 0, 0 },
    { "secret", SALES_F_STRING, SALES_F_HIDDEN, 0, 0, NULL, NULL, NULL, 0,
      0 },
    { "previous_secret", SALES_F_STRING, SALES_F_HIDDEN, 0, 0, NULL, NULL,
      NULL, 0, 0 },
    { "outbox_cursor", SALES_F_INT, SALES_F_HIDDEN, 0, 0, NULL, NULL, NULL, 0,
      0 },
    { NULL, 0, 0, 0, 0, NULL, NULL, NULL, 0, 0 }
};

static const sales_resource_t  endpoints_res = {
    "webhook_endpoints", "webhook_endpoint", "webhook endpoint",
    endpoint_fields, NULL, NULL, "/webhooks/endpoints"
};


static const char *const delivery_statuses[] = {
    "pending", "succeeded", "failed", NULL
};

static const sales_field_t  delivery_fields[] = {
    { "endpoint_id", SALES_F_INT, SALES_F_READONLY, 0, 0, NULL, NULL, NULL, 0,
      0 },
    { "event_id", SALES_F_STRING, SALES_F_READONLY, 0, 0, NULL, NULL, NULL, 0,
      0 },
    { "event_type", SALES_F_STRING, SALES_F_READONLY, 0, 0, NULL, NULL, NULL,
      0, 0 },
    { "subject", SALES_F_STRING, SALES_F_READONLY, 0, 0, NULL, NULL, NULL, 0,
      0 },
    { "status", SALES_F_ENUM, SALES_F_READONLY, 0, 0, delivery_statuses, NULL,
      NULL, 0, 0 },
    { "attempt_count", SALES_F_INT, SALES_F_READONLY, 0, 0, NULL, NULL, NULL,
      0, 0 },
    { "next_attempt_at", SALES_F_TIME, SALES_F_READONLY, 0, 0, NULL, NULL,
      NULL, 0, 0 },
    { "last_response_status", SALES_F_INT, SALES_F_READONLY, 0, 0, NULL, NULL,
      NULL, 0, 0 },
    { "last_error", SALES_F_STRING, SALES_F_READONLY, 0, 0, NULL, NULL, NULL,
      0, 0 },
    { "delivered_at", SALES_F_TIME, SALES_F_READONLY, 0, 0, NULL, NULL, NULL,
      0, 0 },
    { NULL, 0, 0, 0, 0, NULL, NULL, NULL, 0, 0 }
};

static const sales_resource_t  deliveries_res = {
    "webhook_deliveries", "webhook_delivery", "webhook delivery",
    delivery_fields, NULL, NULL, "/webhooks/deliveries"
};


static const sales_field_t  attempt_fields[] = {
    { "at", SALES_F_TIME, SALES_F_READONLY, 0, 0, NULL, NULL, NULL, 0, 0 },
    { "response_status", SALES_F_INT, SALES_F_READONLY, 0, 0, NULL, NULL,
      NULL, 0, 0 },
    { "latency_ms", SALES_F_INT, SALES_F_READONLY, 0, 0, NULL, NULL, NULL, 0,
      0 },
    { "error", SALES_F_STRING, SALES_F_READONLY, 0, 0, NULL, NULL, NULL, 0,
      0 },
    { "replay", SALES_F_BOOL, SALES_F_READONLY, 0, 0, NULL, NULL, NULL, 0,
      0 },
    { "response_excerpt", SALES_F_STRING, SALES_F_READONLY, 0, 0, NULL, NULL,
      NULL, 0, 0 },
    { NULL, 0, 0, 0, 0, NULL, NULL, NULL, 0, 0 }
};


static const sales_field_t  rotate_fields[] = {
    { "grace_seconds", SALES_F_INT, SALES_F_NOTNULL, 0, GRACE_MAX_S, NULL,
      NULL, NULL, 86400, 1 },
    { NULL, 0, 0, 0, 0, NULL, NULL, NULL, 0, 0 }
};

static const sales_resource_t  rotate_res = {
    "webhook_endpoints", "webhook_endpoint", "rotation", rotate_fields, NULL,
    NULL, NULL
};


static const sales_field_t  replay_fields[] = {
    { "since", SALES_F_TIME, 0, 0, 0, NULL, NULL, NULL, 0, 0 },
    { "event_id", SALES_F_STRING, 0, 1, 64, NULL, NULL, NULL, 0, 0 },
    { NULL, 0, 0, 0, 0, NULL, NULL, NULL, 0, 0 }
};

static const sales_resource_t  replay_res = {
    "webhook_deliveries", "webhook_delivery", "replay", replay_fields, NULL,
    NULL, NULL
};


static int
check_url(sales_ctx_t *ctx, const sales_field_t *f, json_t **value)
{
    sales_url_t   u;
    const char   *why;

    if (sales_url_parse(json_string_value(*value), json_string_length(*value),
                        &u, &why) != 0)
    {
        return sales_field_error(ctx, f->name, "%s", why);
    }

    return 0;
}


static int
type_known(const char *t, size_t prefix_len)
{
    const char *const  *k;

    for (k = event_types; *k; k++) {
        if (prefix_len ? strncmp(*k, t, prefix_len) == 0
                         && (*k)[prefix_len] == '.'
                       : strcmp(*k, t) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/* "events": "*", known types and "prefix.*"; stored as a JSON array. */
static int
events_take(sales_ctx_t *ctx, json_t *body, json_t *values)
{
    json_t  *events, *clean, *v;
    size_t   i;
    int      bad = 0;
    char    *text;

    events = json_object_get(body, "events");
    if (events == NULL) {
        return 0;
    }

    if (!json_is_array(events) || json_array_size(events) == 0
        || json_array_size(events) > MAX_EVENT_PATTERNS)
    {
        return sales_field_error(ctx, "events", "must be an array of 1 to 64 "
                                 "event types, type.* prefixes or \"*\"");
    }

    clean = json_array();

    json_array_foreach(events, i, v) {
        const char  *s = json_string_value(v);
        size_t       n = json_string_length(v);
        char         ptr[32];

        snprintf(ptr, sizeof(ptr), "events/%zu", i);

        if (s == NULL) {
            bad = sales_field_error(ctx, ptr, "must be a string");
            continue;
        }

        if (!(strcmp(s, "*") == 0 || type_known(s, 0)
              || (n > 2 && strcmp(s + n - 2, ".*") == 0
                  && type_known(s, n - 2))))
        {
            bad = sales_field_error(ctx, ptr, "is not an event type, a type.*"
                                    " prefix or \"*\"; GET /webhooks/"
                                    "event-types lists them");
            continue;
        }

        {
            size_t   j;
            json_t  *w;
            int      seen = 0;

            json_array_foreach(clean, j, w) {
                if (json_equal(v, w)) {
                    seen = 1;
                }
            }

            if (!seen) {
                json_array_append(clean, v);
            }
        }
    }

    if (bad) {
        json_decref(clean);
        return -1;
    }

    text = json_dumps(clean, JSON_COMPACT);
    json_decref(clean);

    if (text == NULL) {
        return sales_fail(ctx, 500, "internal", "an internal error occurred");
    }

    json_object_set_new(values, "events", json_string(text));
    free(text);
    return 0;
}


/* The body without "events", for the table-driven checks. */
static json_t *
without_events(json_t *body)
{
    json_t  *copy = json_copy(body);

    json_object_del(copy, "events");
    return copy;
}


static int64_t
endpoint_pending(sales_ctx_t *ctx, int64_t id)
{
    json_t   *binds = json_pack("[I]", (json_int_t) id);
    int64_t   n;

    n = sales_count(ctx, "SELECT count(*) FROM webhook_deliveries"
                         " WHERE endpoint_id = ? AND status = 'pending'",
                    binds);
    json_decref(binds);
    return n;
}


/* The endpoint as the API shows it: events as an array, the pending
 * count. */
static int
endpoint_shape(sales_ctx_t *ctx, json_t *e)
{
    const char  *text = json_string_value(json_object_get(e, "events"));
    json_t      *events = text ? json_loads(text, 0, NULL) : NULL;
    int64_t      pending;

    json_object_set_new(e, "events", events ? events : json_pack("[s]", "*"));

    pending = endpoint_pending(ctx, json_integer_value(json_object_get(e,
                                                                  "id")));
    if (pending < 0) {
        return -1;
    }

    json_object_set_new(e, "pending", json_integer(pending));
    return 0;
}


static int
endpoint_load(sales_ctx_t *ctx, int64_t id, json_t **out)
{
    return sales_load_finished(ctx, &endpoints_res, id, 0, endpoint_shape,
                               out);
}


static int64_t
outbox_last(sales_ctx_t *ctx)
{
    return sales_count(ctx, "SELECT coalesce(max(id), 0) FROM outbox", NULL);
}


int
sales_webhook_endpoints_create(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    json_t   *plain, *values = NULL, *ev;
    char      secret[64];
    int64_t   id, cursor;
    int       rc = -1;

    ev = json_object();
    events_take(ctx, body, ev);         /* errors gather in ctx */
    plain = without_events(body);

    if (sales_validate(ctx, &endpoints_res, plain, NULL, &values) != 0) {
        goto done;
    }

    json_object_set_new(values, "events", json_object_get(ev, "events")
                                  ? json_incref(json_object_get(ev, "events"))
                                  : json_string("[\"*\"]"));

    cursor = outbox_last(ctx);
    if (cursor < 0 || sales_webhook_secret_new(secret) != 0) {
        sales_fail(ctx, 500, "internal", "an internal error occurred");
        goto done;
    }

    json_object_set_new(values, "secret", json_string(secret));
    json_object_set_new(values, "outbox_cursor", json_integer(cursor));

    if (!json_is_true(json_object_get(values, "enabled"))) {
        json_object_set_new(values, "disabled_at",
                            json_integer(ctx->now_ms));
        json_object_set_new(values, "disabled_reason", json_string("manual"));
    }

    id = sales_insert(ctx, &endpoints_res, values);

    if (id < 0 || endpoint_load(ctx, id, out) != 0
        || sales_audit(ctx, "create", "webhook_endpoint", id, *out) != 0)
    {
        goto done;
    }

    json_object_set_new(*out, "secret", json_string(secret));
    snprintf(ctx->location, sizeof(ctx->location), "/webhooks/endpoints/%lld",
             (long long) id);
    rc = 201;

done:

    json_decref(ev);
    json_decref(values);
    json_decref(plain);
    return rc;
}


int
sales_webhook_endpoints_list(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    sales_buf_t   where = {0};
    json_t       *binds;
    int           enabled, rc;

    binds = json_array();
    sales_buf_adds(&where, "1");

    if (sales_param(ctx, "enabled")) {
        if (sales_param_bool(ctx, "enabled", &enabled) != 0) {
            rc = -1;
            goto done;
        }
        sales_buf_adds(&where, " AND t.enabled = ?");
        json_array_append_new(binds, json_integer(enabled));
    }

    rc = sales_list_finished(ctx, &endpoints_res, &where, binds, 0,
                             endpoint_shape, out);

done:

    sales_buf_free(&where);
    json_decref(binds);
    return rc == 0 ? 200 : -1;
}


int
sales_webhook_endpoints_get(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    return endpoint_load(ctx, ctx->ids[0], out) == 0 ? 200 : -1;
}


/* Sets a pending delivery's clock: NULL waits for the endpoint, a time
 * makes it due then. */
static int
endpoint_pending_due(sales_ctx_t *ctx, int64_t id, int resume)
{
    sqlite3_stmt  *st;

    st = sales_prepare(ctx,
        "UPDATE webhook_deliveries SET next_attempt_at = ?1, updated_at = ?2"
        " WHERE endpoint_id = ?3 AND status = 'pending' AND once = 0");
    if (st == NULL) {
        return -1;
    }

    if (resume) {
        sqlite3_bind_int64(st, 1, ctx->now_ms);
    }

    sqlite3_bind_int64(st, 2, ctx->now_ms);
    sqlite3_bind_int64(st, 3, id);
    return sales_step_done(ctx, st);
}


int
sales_webhook_endpoints_update(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    json_t   *before = NULL, *plain, *changes = NULL, *diff = NULL, *ev;
    int64_t   id = ctx->ids[0];
    int       was, now, rc = -1;

    plain = without_events(body);

    if (sales_load(ctx, &endpoints_res, id, NULL, NULL, &before) != 0) {
        goto done;
    }

    ev = json_object();
    events_take(ctx, body, ev);

    if (sales_validate(ctx, &endpoints_res, plain, before, &changes) != 0) {
        json_decref(ev);
        goto done;
    }

    json_object_update(changes, ev);
    json_decref(ev);

    was = json_is_true(json_object_get(before, "enabled"));
    now = json_object_get(changes, "enabled")
          ? json_is_true(json_object_get(changes, "enabled")) : was;

    if (was && !now) {
        json_object_set_new(changes, "disabled_at", json_integer(ctx->now_ms));
        json_object_set_new(changes, "disabled_reason", json_string("manual"));

    } else if (!was && now) {
        json_object_set_new(changes, "disabled_at", json_null());
        json_object_set_new(changes, "disabled_reason", json_null());
        json_object_set_new(changes, "failing_since", json_null());
    }

    if (sales_update(ctx, &endpoints_res, id, before, changes, &diff) != 0
        || (json_object_size(diff)
            && sales_audit(ctx, "update", "webhook_endpoint", id, diff) != 0)
        || (was != now && endpoint_pending_due(ctx, id, now) != 0))
    {
        goto done;
    }

    rc = endpoint_load(ctx, id, out) == 0 ? 200 : -1;

done:

    json_decref(diff);
    json_decref(changes);
    json_decref(before);
    json_decref(plain);
    return rc;
}


int
sales_webhook_endpoints_delete(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    json_t  *before;
    int      rc;

    if (sales_load(ctx, &endpoints_res, ctx->ids[0], NULL, NULL, &before)
        != 0)
    {
        return -1;
    }

    rc = sales_delete_row(ctx, &endpoints_res, ctx->ids[0], before);
    json_decref(before);

    return rc == 0 ? 204 : -1;
}


int
sales_webhook_endpoints_rotate(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    sqlite3_stmt  *st;
    json_t        *values = NULL, *e = NULL;
    char           secret[64], when[32];
    int64_t        grace, id = ctx->ids[0];
    int            rc = -1;

    if (sales_load(ctx, &endpoints_res, id, NULL, NULL, &e) != 0
        || sales_validate(ctx, &rotate_res, body, NULL, &values) != 0)
    {
        goto done;
    }

    grace = json_integer_value(json_object_get(values, "grace_seconds"));

    if (sales_webhook_secret_new(secret) != 0) {
        sales_fail(ctx, 500, "internal", "an internal error occurred");
        goto done;
    }

    st = sales_prepare(ctx,
        "UPDATE webhook_endpoints SET"
        " previous_secret = CASE WHEN ?1 > 0 THEN secret END,"
        " previous_secret_expires_at = CASE WHEN ?1 > 0 THEN ?2 + ?1 END,"
        " secret = ?3, updated_at = ?2, version = version + 1"
        " WHERE id = ?4");
    if (st == NULL) {
        goto done;
    }

    sqlite3_bind_int64(st, 1, grace * 1000);
    sqlite3_bind_int64(st, 2, ctx->now_ms);
    sqlite3_bind_text(st, 3, secret, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, id);

    if (sales_step_done(ctx, st) != 0) {
        goto done;
    }

    sales_time_format(ctx->now_ms + grace * 1000, when);

    if (sales_audit(ctx, "rotate_secret", "webhook_endpoint", id,
                    json_pack("{s:[n,s?]}", "previous_secret_expires_at",
                              grace ? when : NULL))
        != 0)
    {
        goto done;
    }

    *out = json_pack("{s:I, s:s, s:s?}", "id", (json_int_t) id,
                     "secret", secret, "previous_secret_expires_at",
                     grace ? when : NULL);
    rc = 200;

done:

    json_decref(values);
    json_decref(e);
    return rc;
}


static int
delivery_shape(sales_ctx_t *ctx, json_t *d)
{
    sqlite3_stmt  *st;
    json_t        *attempts;
    int            rc;

    st = sales_prepare(ctx,
        "SELECT at, response_status, latency_ms, error, replay,"
        " response_excerpt FROM webhook_attempts WHERE delivery_id = ?"
        " ORDER BY id");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, json_integer_value(json_object_get(d, "id")));
    attempts = json_array();

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const sales_field_t  *f;
        json_t               *a = json_object();
        int                   i = 0;
        char                  when[32];

        for (f = attempt_fields; f->name; f++, i++) {
            if (sqlite3_column_type(st, i) == SQLITE_NULL) {
                json_object_set_new(a, f->name, json_null());

            } else if (f->type == SALES_F_TIME) {
                sales_time_format(sqlite3_column_int64(st, i), when);
                json_object_set_new(a, f->name, json_string(when));

            } else if (f->type == SALES_F_INT) {
                json_object_set_new(a, f->name,
                                    json_integer(sqlite3_column_int64(st, i)));

            } else if (f->type == SALES_F_BOOL) {
                json_object_set_new(a, f->name,
                                    json_boolean(sqlite3_column_int(st, i)));

            } else {
                json_object_set_new(a, f->name, json_string(
                    (const char *) sqlite3_column_text(st, i)));
            }
        }

        json_array_append_new(attempts, a);
    }

    sales_finish(st);

    if (rc != SQLITE_DONE) {
        json_decref(attempts);
        return sales_db_error(ctx, "reading");
    }

    json_object_set_new(d, "attempts", attempts);
    return 0;
}


static int
delivery_load(sales_ctx_t *ctx, int64_t id, json_t **out)
{
    return sales_load_finished(ctx, &deliveries_res, id, 0, delivery_shape,
                               out);
}


int
sales_webhook_deliveries_list(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    sales_buf_t   where = {0};
    const char   *s;
    json_t       *binds;
    int64_t       endpoint_id;
    int           rc = -1;

    binds = json_array();
    sales_buf_adds(&where, "1");

    if (sales_param_int(ctx, "endpoint_id", 1, INT64_MAX, &endpoint_id)
        != 0)
    {
        goto done;
    }

    if (endpoint_id) {
        sales_buf_adds(&where, " AND t.endpoint_id = ?");
        json_array_append_new(binds, json_integer(endpoint_id));
    }

    s = sales_param(ctx, "status");
    if (s) {
        const char *const  *k;

        for (k = delivery_statuses; *k && strcmp(*k, s) != 0; k++) {
            /* void */
        }

        if (*k == NULL) {
            sales_param_error(ctx, "status",
                              "must be pending, succeeded or failed");
            goto done;
        }

        sales_buf_adds(&where, " AND t.status = ?");
        json_array_append_new(binds, json_string(s));
    }

    s = sales_param(ctx, "event");
    if (s) {
        sales_buf_adds(&where, " AND t.event_type = ?");
        json_array_append_new(binds, json_string(s));
    }

    s = sales_param(ctx, "event_id");
    if (s) {
        sales_buf_adds(&where, " AND t.event_id = ?");
        json_array_append_new(binds, json_string(s));
    }

    rc = sales_list_finished(ctx, &deliveries_res, &where, binds, 1,
                             delivery_shape, out);

done:

    sales_buf_free(&where);
    json_decref(binds);
    return rc == 0 ? 200 : -1;
}


int
sales_webhook_deliveries_get(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    return delivery_load(ctx, ctx->ids[0], out) == 0 ? 200 : -1;
}


/*
 * Makes deliveries due for one more attempt each, as replays: a finished
 * one gets one attempt; one still pending is only made due now and keeps
 * its retries (a replay or ping waiting stays what it is). One that is
 * being sent right now is left alone (its own attempt is under way).
 */
static int64_t
replay_where(sales_ctx_t *ctx, const char *cond, json_t *binds)
{
    sales_buf_t    sql = {0};
    sqlite3_stmt  *st;
    json_t        *all;

    sales_buf_printf(&sql,
        "UPDATE webhook_deliveries SET status = 'pending',"
        " once = CASE WHEN status <> 'pending' THEN %d"
        "  WHEN once = %d THEN %d ELSE once END,"
        " next_attempt_at = ?, lease_until = NULL, lease_token = NULL,"
        " updated_at = ?, version = version + 1"
        " WHERE %s AND NOT (status = 'pending'"
        "  AND coalesce(lease_until, 0) > ?)",
        ONCE_REPLAY, ONCE_NORMAL, ONCE_NUDGE, cond);

    all = json_pack("[I,I]", (json_int_t) ctx->now_ms,
                    (json_int_t) ctx->now_ms);
    json_array_extend(all, binds);
    json_array_append_new(all, json_integer(ctx->now_ms));

    st = sales_prepare_bound(ctx, &sql, all);
    json_decref(all);

    if (st == NULL || sales_step_done(ctx, st) != 0) {
        return -1;
    }

    return sqlite3_changes(ctx->db);
}


int
sales_webhook_deliveries_replay(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    json_t   *d, *binds;
    int64_t   n, id = ctx->ids[0];

    if (sales_load(ctx, &deliveries_res, id, NULL, NULL, &d) != 0) {
        return -1;
    }

    json_decref(d);

    binds = json_pack("[I]", (json_int_t) id);
    n = replay_where(ctx, "id = ?", binds);
    json_decref(binds);

    if (n < 0) {
        return -1;
    }

    if (n == 0) {
        return sales_fail(ctx, 409, "conflict", "this delivery is being sent"
                          " right now; replay it once that attempt is over");
    }

    if (sales_audit(ctx, "replay", "webhook_delivery", id, json_object()) != 0
        || delivery_load(ctx, id, out) != 0)
    {
        return -1;
    }

    return 202;
}


int
sales_webhook_endpoints_replay(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    json_t       *e = NULL, *values = NULL, *binds = NULL, *since, *event;
    int64_t       n, id = ctx->ids[0];
    int           rc = -1;

    if (sales_load(ctx, &endpoints_res, id, NULL, NULL, &e) != 0
        || sales_validate(ctx, &replay_res, body, NULL, &values) != 0)
    {
        goto done;
    }

    since = json_object_get(values, "since");
    event = json_object_get(values, "event_id");

    if ((since == NULL) == (event == NULL)) {
        sales_field_error(ctx, "since", "give since or event_id, not both");
        sales_validation_failed(ctx);
        goto done;
    }

    if (since) {
        binds = json_pack("[I,O]", (json_int_t) id, since);
        n = replay_where(ctx, "endpoint_id = ? AND status = 'failed'"
                              " AND created_at >= ?", binds);

    } else {
        binds = json_pack("[I,O]", (json_int_t) id, event);
        n = replay_where(ctx, "endpoint_id = ? AND event_id = ?", binds);

        if (n == 0) {
            sales_fail(ctx, 404, "not_found", "no delivery of that event to "
                       "this endpoint can be replayed now");
            goto done;
        }
    }

    if (n < 0
        || sales_audit(ctx, "replay", "webhook_endpoint", id,
                       json_pack("{s:O, s:I}", since ? "since" : "event_id",
                                 since ? since : event, "replayed",
                                 (json_int_t) n)) != 0)
    {
        goto done;
    }

    *out = json_pack("{s:I}", "replayed", (json_int_t) n);
    rc = 202;

done:

    json_decref(binds);
    json_decref(values);
    json_decref(e);
    return rc;
}


int
sales_webhook_endpoints_ping(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    sqlite3_stmt  *st;
    json_t        *e, *data;
    int64_t        id = ctx->ids[0], outbox_id, delivery_id;
    char           subject[48];
    int            rc;

    if (sales_load(ctx, &endpoints_res, id, NULL, NULL, &e) != 0) {
        return -1;
    }

    json_decref(e);

    data = json_pack("{s:I}", "endpoint_id", (json_int_t) id);
    rc = sales_event(ctx, "webhook.ping", "webhook_endpoint", id, data);
    json_decref(data);

    if (rc != 0) {
        return -1;
    }

    outbox_id = sqlite3_last_insert_rowid(ctx->db);
    snprintf(subject, sizeof(subject), "webhook_endpoint:%lld",
             (long long) id);

    st = sales_prepare(ctx,
        "INSERT INTO webhook_deliveries (endpoint_id, outbox_id, event_id,"
        " event_type, subject, status, once, next_attempt_at, created_at,"
        " updated_at)"
        " SELECT ?1, id, event_id, type, ?2, 'pending', ?5, ?3, ?3, ?3"
        " FROM outbox WHERE id = ?4");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, subject, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, ctx->now_ms);
    sqlite3_bind_int64(st, 4, outbox_id);
    sqlite3_bind_int(st, 5, ONCE_PING);

    if (sales_step_done(ctx, st) != 0) {
        return -1;
    }

    delivery_id = sqlite3_last_insert_rowid(ctx->db);

    if (delivery_load(ctx, delivery_id, out) != 0) {
        return -1;
    }

    snprintf(ctx->location, sizeof(ctx->location), "/webhooks/deliveries/%lld",
             (long long) delivery_id);
    return 202;
}


int
sales_webhook_event_types(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    const char *const  *k;
    json_t             *items = json_array();

    for (k = event_types; *k; k++) {
        json_array_append_new(items, json_string(*k));
    }

    *out = json_pack("{s:o}", "items", items);
    return 200;
}


/* --- the delivery cycle (thread pool) ----------------------------------- */

/* Disables an endpoint for a reason the server found; audited, told to
 * the admins and to the other endpoints. */
static int
endpoint_disable(sales_ctx_t *ctx, int64_t id, const char *reason)
{
    sqlite3_stmt  *st;
    json_t        *data;
    char           title[160];
    int            rc;

    st = sales_prepare(ctx,
        "UPDATE webhook_endpoints SET enabled = 0, disabled_at = ?1,"
        " disabled_reason = ?2, updated_at = ?1, version = version + 1"
        " WHERE id = ?3 AND enabled = 1");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, ctx->now_ms);
    sqlite3_bind_text(st, 2, reason, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, id);

    if (sales_step_done(ctx, st) != 0) {
        return -1;
    }

    if (sqlite3_changes(ctx->db) == 0) {
        return 0;
    }

    if (endpoint_pending_due(ctx, id, 0) != 0
        || sales_audit(ctx, "disable", "webhook_endpoint", id,
                       json_pack("{s:[b,b], s:[n,s]}", "enabled", 1, 0,
                                 "disabled_reason", reason)) != 0)
    {
        return -1;
    }

    data = json_pack("{s:I, s:s}", "endpoint_id", (json_int_t) id,
                     "reason", reason);
    rc = sales_event(ctx, "webhook.endpoint_disabled", "webhook_endpoint",
                     id, data);
    json_decref(data);

    if (rc != 0) {
        return -1;
    }

    snprintf(title, sizeof(title), "Webhook endpoint %lld was disabled: %s",
             (long long) id,
             strcmp(reason, "gone") == 0 ? "the receiver answered 410 Gone"
                                         : "it kept failing");

    st = sales_prepare(ctx,
        "INSERT INTO notifications (user_id, type, title, created_at)"
        " SELECT id, 'webhook.endpoint_disabled', ?, ? FROM users"
        " WHERE role = 'admin' AND disabled = 0");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_text(st, 1, title, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, ctx->now_ms);
    return sales_step_done(ctx, st);
}


static int64_t
retry_delay(const sales_conf_t *conf, int64_t attempt)
{
    uint32_t  r = 0;
    int64_t   base, span;

    base = conf->webhook_retry_ms[attempt];
    span = base / 10;

    if (span > 0 && sales_random(&r, sizeof(r)) == 0) {
        return base - span + (int64_t) (r % (uint32_t) (2 * span + 1));
    }

    return base;
}


static int
record_result(sales_ctx_t *ctx, const sales_wh_result_t *r)
{
    const sales_conf_t  *conf = ctx->conf;
    sqlite3_stmt        *st;
    int64_t              endpoint_id, token, attempts, next = -1;
    int64_t              failing_since = 0;
    const char          *status = "pending";
    int                  once, ok, gone, rc, enabled;

    st = sales_prepare(ctx,
        "SELECT d.endpoint_id, coalesce(d.lease_token, 0), d.attempt_count,"
        " d.once, e.enabled, coalesce(e.failing_since, 0)"
        " FROM webhook_deliveries d"
        " JOIN webhook_endpoints e ON e.id = d.endpoint_id WHERE d.id = ?");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, r->delivery_id);
    rc = sqlite3_step(st);

    if (rc != SQLITE_ROW) {
        sales_finish(st);
        /* deleted with its endpoint meanwhile */
        return rc == SQLITE_DONE ? 0 : sales_db_error(ctx, "reading");
    }

    endpoint_id = sqlite3_column_int64(st, 0);
    token = sqlite3_column_int64(st, 1);
    attempts = sqlite3_column_int64(st, 2);
    once = sqlite3_column_int(st, 3);
    enabled = sqlite3_column_int(st, 4);
    failing_since = sqlite3_column_int64(st, 5);
    sales_finish(st);

    if (!r->sent) {
        if (token != r->lease_token) {
            return 0;
        }

        st = sales_prepare(ctx, "UPDATE webhook_deliveries SET"
                                " lease_until = NULL, lease_token = NULL"
                                " WHERE id = ?");
        if (st == NULL) {
            return -1;
        }

        sqlite3_bind_int64(st, 1, r->delivery_id);
        return sales_step_done(ctx, st);
    }

    st = sales_prepare(ctx,
        "INSERT INTO webhook_attempts (delivery_id, at, response_status,"
        " latency_ms, error, replay, response_excerpt)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, r->delivery_id);
    sqlite3_bind_int64(st, 2, r->at_ms);
    if (r->status) {
        sqlite3_bind_int(st, 3, r->status);
    }
    sqlite3_bind_int64(st, 4, r->latency_ms);
    if (r->error[0]) {
        sqlite3_bind_text(st, 5, r->error, -1, SQLITE_STATIC);
    }
    sqlite3_bind_int(st, 6, r->once == ONCE_REPLAY || r->once == ONCE_NUDGE);
    if (r->excerpt[0]) {
        sqlite3_bind_text(st, 7, r->excerpt, -1, SQLITE_STATIC);
    }

    if (sales_step_done(ctx, st) != 0) {
        return -1;
    }

    /* The lease ran out and another worker took the delivery: the attempt
     * is on record, its outcome is the other's to write. */
    if (token != r->lease_token) {
        return 0;
    }

    ok = r->status >= 200 && r->status < 300;
    gone = r->status == 410;
    attempts++;

    if (ok) {
        status = "succeeded";

    } else if (once == ONCE_REPLAY || once == ONCE_PING) {
        status = "failed";

    } else if (gone) {
        next = -1;                          /* waits for re-enabling */

    } else if (attempts > conf->webhook_nretry) {
        status = "failed";

    } else if ((r->status == 429 || r->status == 503)
               && r->retry_after_s >= 0)
    {
        next = ctx->now_ms + (r->retry_after_s > RETRY_AFTER_MAX_S
                              ? RETRY_AFTER_MAX_S : r->retry_after_s) * 1000;

    } else {
        next = ctx->now_ms + retry_delay(conf, attempts - 1);
    }

    /* a delivery that waits for its disabled endpoint has no time yet */
    if (next >= 0 && !enabled) {
        next = -1;
    }

    st = sales_prepare(ctx,
        "UPDATE webhook_deliveries SET status = ?1, attempt_count = ?2,"
        " once = 0, next_attempt_at = ?3, lease_until = NULL,"
        " lease_token = NULL, last_response_status = ?4, last_error = ?5,"
        " delivered_at = CASE WHEN ?1 = 'succeeded' THEN ?6"
        " ELSE delivered_at END,"
        " updated_at = ?6, version = version + 1 WHERE id = ?7");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_text(st, 1, status, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, attempts);
    if (next >= 0 && strcmp(status, "pending") == 0) {
        sqlite3_bind_int64(st, 3, next);
    }
    if (r->status) {
        sqlite3_bind_int(st, 4, r->status);
    }
    if (r->error[0]) {
        sqlite3_bind_text(st, 5, r->error, -1, SQLITE_STATIC);
    }
    sqlite3_bind_int64(st, 6, ctx->now_ms);
    sqlite3_bind_int64(st, 7, r->delivery_id);

    if (sales_step_done(ctx, st) != 0) {
        return -1;
    }

    if (gone) {
        return endpoint_disable(ctx, endpoint_id, "gone");
    }

    /* replays and pings do not count towards disabling */
    if (once) {
        return 0;
    }

    if (ok) {
        if (failing_since == 0) {
            return 0;
        }

        st = sales_prepare(ctx, "UPDATE webhook_endpoints SET"
                                " failing_since = NULL WHERE id = ?");
        if (st == NULL) {
            return -1;
        }

        sqlite3_bind_int64(st, 1, endpoint_id);
        return sales_step_done(ctx, st);
    }

    if (failing_since == 0) {
        st = sales_prepare(ctx, "UPDATE webhook_endpoints SET"
                                " failing_since = ? WHERE id = ?");
        if (st == NULL) {
            return -1;
        }

        sqlite3_bind_int64(st, 1, r->at_ms);
        sqlite3_bind_int64(st, 2, endpoint_id);
        return sales_step_done(ctx, st);
    }

    if (ctx->now_ms - failing_since >= conf->webhook_disable_after_ms) {
        return endpoint_disable(ctx, endpoint_id, "failing");
    }

    return 0;
}


/* New outbox events become deliveries of the enabled endpoints that
 * want them; a disabled endpoint's cursor waits where it stopped. */
static int
fan_out(sales_ctx_t *ctx)
{
    sqlite3_stmt  *st;

    st = sales_prepare(ctx,
        "INSERT OR IGNORE INTO webhook_deliveries (endpoint_id, outbox_id,"
        " event_id, event_type, subject, status, next_attempt_at,"
        " created_at, updated_at)"
        " SELECT e.id, o.id, o.event_id, o.type,"
        " o.subject_type || ':' || o.subject_id, 'pending', ?1, ?1, ?1"
        " FROM webhook_endpoints e JOIN outbox o ON o.id > e.outbox_cursor"
        " WHERE e.enabled = 1 AND o.type <> 'webhook.ping'"
        " AND EXISTS (SELECT 1 FROM json_each(e.events) j"
        "  WHERE j.value = '*' OR j.value = o.type"
        "  OR (substr(j.value, -2) = '.*'"
        "   AND substr(o.type, 1, length(j.value) - 1)"
        "       = substr(j.value, 1, length(j.value) - 1)))"
        " ORDER BY o.id, e.id");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, ctx->now_ms);

    if (sales_step_done(ctx, st) != 0) {
        return -1;
    }

    return sales_exec(ctx,
        "UPDATE webhook_endpoints SET"
        " outbox_cursor = (SELECT coalesce(max(id), 0) FROM outbox)"
        " WHERE enabled = 1"
        " AND outbox_cursor < (SELECT coalesce(max(id), 0) FROM outbox)");
}


/* Whether there is anything to do, read without taking the write lock. */
static int
work_waiting(sales_ctx_t *ctx)
{
    sqlite3_stmt  *st;
    int            rc;

    st = sales_prepare(ctx,
        "SELECT EXISTS (SELECT 1 FROM webhook_endpoints WHERE enabled = 1"
        "  AND outbox_cursor < (SELECT coalesce(max(id), 0) FROM outbox))"
        " OR EXISTS (SELECT 1 FROM webhook_deliveries"
        "  WHERE status = 'pending' AND next_attempt_at <= ?1"
        "  AND (lease_until IS NULL OR lease_until <= ?1)"
        "  AND (once <> 0 OR endpoint_id IN"
        "   (SELECT id FROM webhook_endpoints WHERE enabled = 1)))");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, ctx->now_ms);
    rc = sqlite3_step(st);
    rc = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
    sales_finish(st);

    if (rc < 0) {
        sales_db_error(ctx, "reading");
    }

    return rc;
}


/* The HTTP request of one attempt, but for its signature: that is made
 * when the attempt starts, so webhook-timestamp is the time it is sent. */
static int
job_build(sales_ctx_t *ctx, sales_wh_job_t *job, const char *url,
    const char *secret, const char *previous, const char *payload)
{
    sales_url_t   u;
    sales_buf_t   text = {0};
    const char   *why;
    json_t       *p;
    char         *body, host[300];
    size_t        len;

    if (sales_url_parse(url, strlen(url), &u, &why) != 0) {
        snprintf(job->error, sizeof(job->error), "the url %s", why);
        return 0;
    }

    job->tls = u.tls;
    job->port = u.port;
    snprintf(job->host, sizeof(job->host), "%s", u.host);

    if (strlen(secret) >= sizeof(job->secret)
        || (previous && strlen(previous) >= sizeof(job->previous)))
    {
        snprintf(job->error, sizeof(job->error), "the endpoint's secret is "
                 "not a whsec_ secret");
        return 0;
    }

    snprintf(job->secret, sizeof(job->secret), "%s", secret);
    snprintf(job->previous, sizeof(job->previous), "%s",
             previous ? previous : "");

    /* {"type", "timestamp", "data"}: the id travels in webhook-id */
    p = json_loads(payload, 0, NULL);
    if (p == NULL) {
        snprintf(job->error, sizeof(job->error), "the event is not JSON");
        return 0;
    }

    json_object_del(p, "id");
    body = json_dumps(p, JSON_COMPACT);
    json_decref(p);

    if (body == NULL) {
        return -1;
    }

    len = strlen(body);

    if ((u.port == 443 && u.tls) || (u.port == 80 && !u.tls)) {
        snprintf(host, sizeof(host), u.ipv6 ? "[%s]" : "%s", u.host);
    } else {
        snprintf(host, sizeof(host), u.ipv6 ? "[%s]:%d" : "%s:%d", u.host,
                 u.port);
    }

    sales_buf_adds(&text, "POST ");
    if (u.path[0] == '?') {
        sales_buf_adds(&text, "/");
    }
    sales_buf_add(&text, u.path, u.path_len);
    sales_buf_printf(&text,
        " HTTP/1.1\r\n"
        "Host: %s\r\n"
        "User-Agent: ngx_sales_module\r\n"
        "Content-Type: application/json\r\n"
        "Content-Length: %zu\r\n"
        "Connection: close\r\n"
        "webhook-id: %s\r\n",
        host, len, job->event_id);
    job->head_len = text.len;
    sales_buf_add(&text, body, len);
    free(body);

    if (text.failed) {
        sales_buf_free(&text);
        return -1;
    }

    job->text = text.data;
    job->body_len = len;
    return 0;
}


int
sales_webhook_job_sign(sales_wh_job_t *job, int64_t now_s)
{
    sales_buf_t   req = {0};
    const char   *body = job->text + job->head_len;
    char          sig[64], sig2[64];
    int           two = job->previous[0] != '\0';

    if (sales_webhook_sign(job->secret, job->event_id, now_s, body,
                           job->body_len, sig) != 0
        || (two
            && sales_webhook_sign(job->previous, job->event_id, now_s, body,
                                  job->body_len, sig2) != 0))
    {
        snprintf(job->error, sizeof(job->error), "the endpoint's secret is "
                 "not a whsec_ secret");
        return -1;
    }

    sales_buf_add(&req, job->text, job->head_len);
    sales_buf_printf(&req,
        "webhook-timestamp: %lld\r\n"
        "webhook-signature: %s%s%s\r\n"
        "\r\n",
        (long long) now_s, sig, two ? " " : "", two ? sig2 : "");
    sales_buf_add(&req, body, job->body_len);

    if (req.failed) {
        sales_buf_free(&req);
        snprintf(job->error, sizeof(job->error), "out of memory");
        return -1;
    }

    free(job->request);
    job->request = req.data;
    job->request_len = req.len;
    return 0;
}


static int
claim(sales_ctx_t *ctx, size_t max, sales_wh_job_t **out, size_t *nout)
{
    sqlite3_stmt    *st, *lease;
    sales_wh_job_t  *jobs;
    size_t           n = 0;
    int              rc;

    *out = NULL;
    *nout = 0;

    if (max == 0) {
        return 0;
    }

    jobs = calloc(max, sizeof(sales_wh_job_t));
    if (jobs == NULL) {
        return sales_fail(ctx, 500, "internal", "out of memory");
    }

    st = sales_prepare(ctx,
        "SELECT d.id, d.once, d.event_id, e.url, e.secret,"
        " CASE WHEN e.previous_secret_expires_at > ?1"
        "  THEN e.previous_secret END, o.payload"
        " FROM webhook_deliveries d"
        " JOIN webhook_endpoints e ON e.id = d.endpoint_id"
        " JOIN outbox o ON o.id = d.outbox_id"
        " WHERE d.status = 'pending' AND d.next_attempt_at <= ?1"
        " AND (d.lease_until IS NULL OR d.lease_until <= ?1)"
        " AND (e.enabled = 1 OR d.once <> 0)"
        " AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p"
        "  WHERE p.endpoint_id = d.endpoint_id AND p.subject = d.subject"
        "  AND p.status = 'pending' AND p.id < d.id)"
        " ORDER BY d.next_attempt_at, d.id LIMIT ?2");
    if (st == NULL) {
        free(jobs);
        return -1;
    }

    sqlite3_bind_int64(st, 1, ctx->now_ms);
    sqlite3_bind_int64(st, 2, (sqlite3_int64) max);

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        sales_wh_job_t  *job = &jobs[n];
        const char      *prev = (const char *) sqlite3_column_text(st, 5);

        job->delivery_id = sqlite3_column_int64(st, 0);
        job->once = sqlite3_column_int(st, 1);
        job->send_by_ms = ctx->now_ms + ctx->conf->webhook_start_ms;
        snprintf(job->event_id, sizeof(job->event_id), "%s",
                 (const char *) sqlite3_column_text(st, 2));

        if (sales_random(&job->lease_token, sizeof(job->lease_token)) != 0
            || job_build(ctx, job, (const char *) sqlite3_column_text(st, 3),
                         (const char *) sqlite3_column_text(st, 4), prev,
                         (const char *) sqlite3_column_text(st, 6)) != 0)
        {
            break;
        }

        job->lease_token &= INT64_MAX;
        job->lease_token |= 1;
        n++;
    }

    sales_finish(st);

    if (rc != SQLITE_DONE) {
        sales_webhook_jobs_free(jobs, n);
        return sales_db_error(ctx, "claiming deliveries");
    }

    lease = NULL;

    for (size_t i = 0; i < n; i++) {
        lease = sales_prepare(ctx, "UPDATE webhook_deliveries SET"
                                   " lease_until = ?, lease_token = ?"
                                   " WHERE id = ?");
        if (lease == NULL) {
            sales_webhook_jobs_free(jobs, n);
            return -1;
        }

        sqlite3_bind_int64(lease, 1, ctx->now_ms + ctx->conf->webhook_lease_ms);
        sqlite3_bind_int64(lease, 2, jobs[i].lease_token);
        sqlite3_bind_int64(lease, 3, jobs[i].delivery_id);

        if (sales_step_done(ctx, lease) != 0) {
            sales_webhook_jobs_free(jobs, n);
            return -1;
        }
    }

    if (n == 0) {
        free(jobs);
        jobs = NULL;
    }

    *out = jobs;
    *nout = n;
    return 0;
}


/* getaddrinfo on the pool's thread: /etc/hosts and the system resolver,
 * never on the event loop. */
static void
lookup(sales_wh_job_t *job)
{
    struct addrinfo   hints, *res, *ai;
    char              port[8];
    int               rc;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;

    snprintf(port, sizeof(port), "%d", job->port);
    rc = getaddrinfo(job->host, port, &hints, &res);

    if (rc != 0) {
        snprintf(job->error, sizeof(job->error), "cannot resolve %s: %s",
                 job->host, gai_strerror(rc));
        return;
    }

    for (ai = res; ai && job->naddrs < SALES_WH_MAX_ADDRS; ai = ai->ai_next) {
        if (ai->ai_addrlen > sizeof(struct sockaddr_storage)) {
            continue;
        }

        memcpy(&job->addrs[job->naddrs], ai->ai_addr, ai->ai_addrlen);
        job->addrlens[job->naddrs] = ai->ai_addrlen;
        job->naddrs++;
    }

    freeaddrinfo(res);

    if (job->naddrs == 0) {
        snprintf(job->error, sizeof(job->error), "%s has no address",
                 job->host);
    }
}


/*
 * Each host and port is looked up once a cycle, and what came of it
 * (addresses or why there are none) serves every job that names it: a
 * resolver that does not answer costs its timeout once, not once per
 * delivery. Lookups stop when the time to start the attempts is over;
 * the jobs left have send_by_ms 0, so the glue gives them back.
 */
static void
resolve(sales_wh_job_t *jobs, size_t n)
{
    sales_wh_job_t  *job, *same;
    size_t           i, j;
    unsigned char   *done;

    done = calloc(n ? n : 1, 1);

    for (i = 0; i < n; i++) {
        job = &jobs[i];

        if (job->error[0] || (done && done[i])) {
            continue;
        }

        if (sales_now_ms() >= job->send_by_ms) {
            for (j = i; j < n; j++) {
                jobs[j].send_by_ms = 0;
            }
            break;
        }

        lookup(job);

        for (j = i + 1; done && j < n; j++) {
            same = &jobs[j];

            if (same->error[0] || done[j] || same->port != job->port
                || strcmp(same->host, job->host) != 0)
            {
                continue;
            }

            memcpy(same->addrs, job->addrs, sizeof(job->addrs));
            memcpy(same->addrlens, job->addrlens, sizeof(job->addrlens));
            same->naddrs = job->naddrs;
            memcpy(same->error, job->error, sizeof(job->error));
            done[j] = 1;
        }
    }

    free(done);
}


void
sales_webhook_job_clear(sales_wh_job_t *job)
{
    free(job->text);
    free(job->request);
    job->text = NULL;
    job->request = NULL;
}


void
sales_webhook_jobs_free(sales_wh_job_t *jobs, size_t n)
{
    size_t  i;

    if (jobs == NULL) {
        return;
    }

    for (i = 0; i < n; i++) {
        sales_webhook_job_clear(&jobs[i]);
    }

    free(jobs);
}


int
sales_webhook_cycle(const sales_conf_t *conf, int own_connection,
    const sales_wh_result_t *results, size_t nresults, size_t max_jobs,
    sales_wh_job_t **jobs, size_t *njobs, char *err, size_t err_size)
{
    sales_ctx_t   ctx;
    sqlite3      *db;
    size_t        i;
    int           rc = -1;

    *jobs = NULL;
    *njobs = 0;

    db = sales_db_for(conf, own_connection, err, err_size);
    if (db == NULL) {
        return -1;
    }

    memset(&ctx, 0, sizeof(ctx));
    ctx.db = db;
    ctx.conf = conf;
    ctx.now_ms = sales_now_ms();

    if (nresults == 0) {
        if (max_jobs == 0) {
            rc = 0;
            goto done;
        }

        rc = work_waiting(&ctx);
        if (rc < 0) {
            goto done;
        }

        if (rc == 0 && !sales_sweep_due(ctx.now_ms)) {
            goto done;
        }
    }

    rc = -1;

    if (sales_exec(&ctx, "BEGIN IMMEDIATE") != 0) {
        goto done;
    }

    for (i = 0; i < nresults; i++) {
        if (record_result(&ctx, &results[i]) != 0) {
            goto rollback;
        }
    }

    if (max_jobs
        && (sales_sweep(&ctx) != 0 || fan_out(&ctx) != 0
            || claim(&ctx, max_jobs, jobs, njobs) != 0))
    {
        goto rollback;
    }

    if (sales_exec(&ctx, "COMMIT") != 0) {
        goto rollback;
    }

    rc = 0;
    goto done;

rollback:

    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    sales_webhook_jobs_free(*jobs, *njobs);
    *jobs = NULL;
    *njobs = 0;

done:

    if (rc != 0) {
        snprintf(err, err_size, "%s",
                 ctx.log[0] ? ctx.log
                 : ctx.detail[0] ? ctx.detail : sqlite3_errmsg(db));
    }

    json_decref(ctx.errors);
    sales_db_done(db, own_connection);

    if (rc == 0 && *njobs) {
        resolve(*jobs, *njobs);
    }

    return rc;
}
