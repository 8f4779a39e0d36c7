/*
 * Activities (calls, e-mails, meetings, notes) and a client's history:
 * one timeline over everything that happened with the client.
 */

#include "sales_resource.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static const char *const  activity_types[] = {
    "call", "email", "meeting", "note", NULL
};

static int activity_derive(sales_ctx_t *ctx, json_t *before, json_t *merged,
    json_t *write);

static const sales_field_t  activity_fields[] = {
    { "type", SALES_F_ENUM, SALES_F_REQUIRED, 0, 0, activity_types, NULL,
      NULL, 0, 0 },
    { "client_id", SALES_F_INT, SALES_F_REQUIRED, 1, INT64_MAX, NULL, NULL,
      NULL, 0, 0 },
    { "opportunity_id", SALES_F_INT, 0, 1, INT64_MAX, NULL, NULL, NULL, 0,
      0 },
    { "user_id", SALES_F_INT, SALES_F_READONLY, 0, 0, NULL, NULL, NULL, 0,
      0 },
    { "occurred_at", SALES_F_TIME, SALES_F_NOTNULL, 0, 0, NULL, NULL, NULL,
      0, 0 },
    { "summary", SALES_F_STRING, SALES_F_REQUIRED | SALES_F_MULTILINE, 1,
      2000, NULL, NULL, NULL, 0, 0 },
    { "outcome", SALES_F_STRING, SALES_F_MULTILINE, 1, 2000, NULL, NULL,
      NULL, 0, 0 },
    { NULL, 0, 0, 0, 0, NULL, NULL, NULL, 0, 0 }
};

static const sales_resource_t  activities_res = {
    "activities", "activity", "activity", activity_fields, NULL,
    activity_derive, "/activities"
};


/* The opportunity must belong to the activity's client. */
static int
check_opportunity(sales_ctx_t *ctx, int64_t opportunity_id, int64_t client_id)
{
    sqlite3_stmt  *st;
    int            rc;

    st = sales_prepare(ctx, "SELECT client_id FROM opportunities"
                            " WHERE id = ?");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, opportunity_id);
    rc = sqlite3_step(st);

    if (rc == SQLITE_ROW && sqlite3_column_int64(st, 0) == client_id) {
        sales_finish(st);
        return 0;
    }

    sales_finish(st);

    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        return sales_db_error(ctx, "reading an opportunity");
    }

    return sales_field_error(ctx, "opportunity_id",
                             "must be an opportunity of the same client");
}


static int
activity_derive(sales_ctx_t *ctx, json_t *before, json_t *merged,
    json_t *write)
{
    json_t  *client = json_object_get(write, "client_id");
    json_t  *opp = json_object_get(write, "opportunity_id");
    int      rc = 0;

    if (client && before) {
        return sales_field_error(ctx, "client_id", "cannot be changed");
    }

    if (client
        && sales_client_usable(ctx, json_integer_value(client), "client_id",
                               NULL) != 0)
    {
        if (ctx->status != 422) {
            return -1;
        }
        rc = -1;
    }

    if (opp && !json_is_null(opp) && json_object_get(merged, "client_id")
        && check_opportunity(ctx, json_integer_value(opp),
                             json_integer_value(json_object_get(merged,
                                                                "client_id")))
           != 0)
    {
        if (ctx->status != 422) {
            return -1;
        }
        rc = -1;
    }

    if (before == NULL) {
        json_object_set_new(write, "user_id", json_integer(ctx->user.id));

        if (json_object_get(write, "occurred_at") == NULL) {
            json_object_set_new(write, "occurred_at",
                                json_integer(ctx->now_ms));
        }
    }

    return rc;
}


/* An opportunity's last activity: the latest of its activities. */
static int
touch_opportunity(sales_ctx_t *ctx, json_t *opportunity_id)
{
    sqlite3_stmt  *st;

    if (opportunity_id == NULL || json_is_null(opportunity_id)) {
        return 0;
    }

    st = sales_prepare(ctx, "UPDATE opportunities SET last_activity_at ="
                            " (SELECT max(occurred_at) FROM activities"
                            "  WHERE opportunity_id = ?1) WHERE id = ?1");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, json_integer_value(opportunity_id));
    return sales_step_done(ctx, st);
}


/* An activity is visible to whoever sees its client. */
#define ACTIVITIES_FROM \
    "activities t JOIN clients c ON c.id = t.client_id"

static int
load_activity(sales_ctx_t *ctx, int64_t id, json_t **out)
{
    sales_buf_t  where = {0};
    json_t      *binds = json_array();
    int          rc;

    sales_buf_adds(&where, "t.client_id IN (SELECT c.id FROM clients c"
                           " WHERE ");
    sales_scope_sql(ctx, "c.owner_id", &where, binds);
    sales_buf_adds(&where, ")");

    rc = sales_load(ctx, &activities_res, id, where.data, binds, out);
    sales_buf_free(&where);
    json_decref(binds);
    return rc;
}


int
sales_activities_create(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    json_t   *values;
    int64_t   id;

    if (sales_validate(ctx, &activities_res, body, NULL, &values) != 0) {
        json_decref(values);
        return -1;
    }

    id = sales_insert(ctx, &activities_res, values);

    if (id < 0
        || touch_opportunity(ctx, json_object_get(values, "opportunity_id"))
           != 0
        || load_activity(ctx, id, out) != 0
        || sales_audit(ctx, "create", "activity", id, *out) != 0)
    {
        json_decref(values);
        return -1;
    }

    json_decref(values);
    snprintf(ctx->location, sizeof(ctx->location), "/activities/%lld",
             (long long) id);
    return 201;
}


int
sales_activities_get(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    return load_activity(ctx, ctx->ids[0], out) == 0 ? 200 : -1;
}


int
sales_activities_update(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    json_t  *before, *changes = NULL, *diff = NULL, *old_opp;
    int      rc = -1;

    if (load_activity(ctx, ctx->ids[0], &before) != 0) {
        return -1;
    }

    if (sales_validate(ctx, &activities_res, body, before, &changes) != 0
        || sales_update(ctx, &activities_res, ctx->ids[0], before, changes,
                        &diff) != 0)
    {
        goto done;
    }

    old_opp = json_object_get(before, "opportunity_id");

    if (json_object_size(diff)
        && (touch_opportunity(ctx, old_opp) != 0
            || touch_opportunity(ctx, json_object_get(changes,
                                                      "opportunity_id")) != 0
            || sales_audit(ctx, "update", "activity", ctx->ids[0], diff)
               != 0))
    {
        goto done;
    }

    rc = load_activity(ctx, ctx->ids[0], out) == 0 ? 200 : -1;

done:

    json_decref(diff);
    json_decref(changes);
    json_decref(before);
    return rc;
}


int
sales_activities_delete(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    json_t        *before;
    int            rc;

    if (load_activity(ctx, ctx->ids[0], &before) != 0) {
        return -1;
    }

    rc = sales_delete_row(ctx, &activities_res, ctx->ids[0], before) == 0
         && touch_opportunity(ctx, json_object_get(before, "opportunity_id"))
            == 0;
    json_decref(before);

    return rc ? 204 : -1;
}


static const sales_sort_t  activity_sorts[] = {
    { "occurred_at", "t.occurred_at", SALES_F_INT },
    { NULL, NULL, 0 }
};


int
sales_activities_list(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    static const char *const  ids[] = {
        "client_id", "opportunity_id", "user_id", NULL
    };

    sales_buf_t   where = {0};
    const char   *type;
    json_t       *binds = json_array();
    int           rc = -1;

    sales_scope_sql(ctx, "c.owner_id", &where, binds);

    if (sales_id_filters(ctx, ids, &where, binds) != 0
        || sales_param_enum(ctx, "type", activity_types, "must be call, "
                            "email, meeting or note", &type) != 0)
    {
        goto done;
    }

    if (type) {
        sales_buf_adds(&where, " AND t.type = ?");
        json_array_append_new(binds, json_string(type));
    }

    rc = sales_list_sorted(ctx, &activities_res, ACTIVITIES_FROM, &where,
                           binds, &activity_sorts[0], 1, out) == 0 ? 200 : -1;

done:

    sales_buf_free(&where);
    json_decref(binds);
    return rc;
}


/*
 * The client's timeline is a union of sources, one per kind of event.
 * Each yields (at, kind, seq, subject_type, subject_id, user_id, summary,
 * data) for client ?1; seq is unique within its kind, so (at, kind, seq)
 * orders every row. Later documents (proposals, orders, contracts,
 * invoices, payments) join by adding their source here.
 */
static const char *const  timeline_sources[] = {

    "SELECT c.created_at AS at, 'client.created' AS kind, c.id AS seq,"
    " 'client' AS subject_type, c.id AS subject_id,"
    " (SELECT a.user_id FROM audit_log a WHERE a.object_type = 'client'"
    "  AND a.object_id = c.id AND a.action = 'create') AS user_id,"
    " c.name AS summary, NULL AS data"
    " FROM clients c WHERE c.id = ?1",

    "SELECT h.at, 'opportunity.created', h.id, 'opportunity', o.id,"
    " h.user_id, o.title,"
    " json_object('stage', h.to_stage, 'value_minor', o.value_minor,"
    "             'currency', o.currency)"
    " FROM opportunity_stage_history h"
    " JOIN opportunities o ON o.id = h.opportunity_id"
    " WHERE o.client_id = ?1 AND h.from_stage IS NULL",

    "SELECT h.at, 'opportunity.stage_changed', h.id, 'opportunity', o.id,"
    " h.user_id, o.title,"
    " json_object('from', h.from_stage, 'to', h.to_stage,"
    "             'reopened', json(CASE WHEN h.reopened THEN 'true'"
    "                                   ELSE 'false' END))"
    " FROM opportunity_stage_history h"
    " JOIN opportunities o ON o.id = h.opportunity_id"
    " WHERE o.client_id = ?1 AND h.from_stage IS NOT NULL",

    "SELECT a.occurred_at, 'activity', a.id, 'activity', a.id, a.user_id,"
    " a.summary,"
    " json_object('type', a.type, 'outcome', a.outcome,"
    "             'opportunity_id', a.opportunity_id)"
    " FROM activities a WHERE a.client_id = ?1",

    /* The documents of the deal, each at the moment that matters. */
    "SELECT p.created_at, 'proposal.created', p.id, 'proposal', p.id,"
    " p.owner_id, p.number || ' rev. ' || p.revision,"
    " json_object('status', p.status, 'gross_minor', p.gross_minor,"
    "             'currency', p.currency, 'opportunity_id', p.opportunity_id)"
    " FROM proposals p WHERE p.client_id = ?1",

    "SELECT o.created_at, 'order.created', o.id, 'order', o.id, o.owner_id,"
    " o.number,"
    " json_object('status', o.status, 'gross_minor', o.gross_minor,"
    "             'currency', o.currency, 'proposal_id', o.proposal_id)"
    " FROM sales_orders o WHERE o.client_id = ?1",

    "SELECT o.confirmed_at, 'order.confirmed', o.id, 'order', o.id,"
    " o.confirmed_by, o.number,"
    " json_object('gross_minor', o.gross_minor, 'currency', o.currency)"
    " FROM sales_orders o WHERE o.client_id = ?1"
    " AND o.confirmed_at IS NOT NULL",

    "SELECT f.issued_at, 'proforma.issued', f.id, 'proforma', f.id,"
    " f.owner_id, f.number,"
    " json_object('status', f.status, 'gross_minor', f.gross_minor,"
    "             'currency', f.currency, 'order_id', f.order_id,"
    "             'proposal_id', f.proposal_id)"
    " FROM proformas f WHERE f.client_id = ?1 AND f.issued_at IS NOT NULL",

    "SELECT i.issued_at, CASE i.kind WHEN 'credit_note'"
    "  THEN 'credit_note.issued' ELSE 'invoice.issued' END, i.id,"
    " CASE i.kind WHEN 'credit_note' THEN 'credit_note' ELSE 'invoice' END,"
    " i.id, i.issued_by, i.number,"
    " json_object('kind', i.kind, 'status', i.status,"
    "             'gross_minor', i.gross_minor, 'currency', i.currency,"
    "             'due_date', i.due_date, 'credit_of_id', i.credit_of_id)"
    " FROM invoices i WHERE i.client_id = ?1 AND i.issued_at IS NOT NULL",

    "SELECT p.created_at, 'payment.received', p.id, 'payment', p.id,"
    " p.recorded_by, p.method || ' ' || p.paid_on,"
    " json_object('amount_minor', p.amount_minor, 'currency', p.currency,"
    "             'invoice_id', p.invoice_id, 'paid_on', p.paid_on)"
    " FROM payments p WHERE p.client_id = ?1",

    "SELECT k.created_at, 'contract.created', k.id, 'contract', k.id,"
    " (SELECT a.user_id FROM audit_log a WHERE a.object_type = 'contract'"
    "  AND a.object_id = k.id AND a.action = 'create'),"
    " k.title,"
    " json_object('number', k.number, 'revision', k.revision,"
    "             'renewal', json(CASE WHEN k.renewal THEN 'true'"
    "                                  ELSE 'false' END),"
    "             'value_minor', k.value_minor, 'currency', k.currency,"
    "             'start_date', k.start_date, 'end_date', k.end_date)"
    " FROM contracts k WHERE k.client_id = ?1",

    "SELECT k.signed_at, 'contract.signed', k.id, 'contract', k.id,"
    " k.signed_recorded_by, k.title,"
    " json_object('number', k.number, 'revision', k.revision,"
    "             'signed_by', k.signed_by,"
    "             'document_sha256', k.document_sha256)"
    " FROM contracts k WHERE k.client_id = ?1 AND k.signed_at IS NOT NULL",

    NULL
};


static int
timeline_cursor_decode(const char *s, json_t **c)
{
    uint8_t  raw[512];
    long     n;

    n = sales_base64_decode(s, strlen(s), raw, sizeof(raw));
    *c = n > 0 ? json_loadb((const char *) raw, (size_t) n, 0, NULL) : NULL;

    if (*c == NULL || json_array_size(*c) != 3
        || !json_is_integer(json_array_get(*c, 0))
        || !json_is_string(json_array_get(*c, 1))
        || !json_is_integer(json_array_get(*c, 2)))
    {
        json_decref(*c);
        *c = NULL;
        return -1;
    }

    return 0;
}


int
sales_clients_history(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    sales_buf_t    sql = {0};
    sqlite3_stmt  *st;
    const char    *cursor;
    json_t        *client, *items, *after = NULL, *last = NULL;
    int64_t        limit;
    int            i, rc, n = 0;

    if (sales_param_int(ctx, "limit", 1, SALES_LIST_MAX, &limit) != 0) {
        return -1;
    }

    if (limit == 0) {
        limit = SALES_LIST_DEFAULT;
    }

    cursor = sales_param(ctx, "cursor");
    if (cursor && timeline_cursor_decode(cursor, &after) != 0) {
        return sales_param_error(ctx, "cursor", "not a cursor this list "
                                 "gave out");
    }

    /* The client must be visible; its history follows. */
    if (sales_client_load(ctx, ctx->ids[0], &client) != 0) {
        json_decref(after);
        return -1;
    }

    json_decref(client);

    sales_buf_adds(&sql, "SELECT at, kind, seq, subject_type, subject_id,"
                         " user_id, summary, data FROM (");

    for (i = 0; timeline_sources[i]; i++) {
        sales_buf_printf(&sql, "%s%s", i ? " UNION ALL " : "",
                         timeline_sources[i]);
    }

    sales_buf_adds(&sql, ")");

    if (after) {
        sales_buf_adds(&sql, " WHERE (at, kind, seq) < (?2, ?3, ?4)");
    }

    sales_buf_adds(&sql, " ORDER BY at DESC, kind DESC, seq DESC LIMIT ?5");

    st = sql.failed ? NULL : sales_prepare(ctx, sql.data);
    sales_buf_free(&sql);

    if (st == NULL) {
        json_decref(after);
        return -1;
    }

    sqlite3_bind_int64(st, 1, ctx->ids[0]);

    if (after) {
        sales_bind_json(st, 2, json_array_get(after, 0));
        sales_bind_json(st, 3, json_array_get(after, 1));
        sales_bind_json(st, 4, json_array_get(after, 2));
    }

    sqlite3_bind_int64(st, 5, limit + 1);
    json_decref(after);

    items = json_array();

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        char     at[32];
        json_t  *item, *data = NULL;

        if (n == limit) {
            break;
        }

        sales_time_format(sqlite3_column_int64(st, 0), at);

        if (sqlite3_column_type(st, 7) != SQLITE_NULL) {
            data = json_loads((const char *) sqlite3_column_text(st, 7), 0,
                              NULL);
        }

        item = json_pack("{s:s, s:s, s:{s:s, s:I}, s:o, s:s?, s:o}",
                         "at", at,
                         "kind", (const char *) sqlite3_column_text(st, 1),
                         "subject",
                           "type", (const char *) sqlite3_column_text(st, 3),
                           "id", (json_int_t) sqlite3_column_int64(st, 4),
                         "user_id",
                           sqlite3_column_type(st, 5) == SQLITE_NULL
                           ? json_null()
                           : json_integer(sqlite3_column_int64(st, 5)),
                         "summary", (const char *) sqlite3_column_text(st, 6),
                         "data", data ? data : json_object());
        json_array_append_new(items, item);

        json_decref(last);
        last = json_pack("[I, s, I]",
                         (json_int_t) sqlite3_column_int64(st, 0),
                         (const char *) sqlite3_column_text(st, 1),
                         (json_int_t) sqlite3_column_int64(st, 2));
        n++;
    }

    sales_finish(st);

    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        json_decref(items);
        json_decref(last);
        return sales_db_error(ctx, "reading the history");
    }

    *out = json_pack("{s:o}", "items", items);

    if (rc == SQLITE_ROW && last) {
        char    *text = json_dumps(last, JSON_COMPACT);
        char    *enc = text ? malloc(sales_base64_len(strlen(text)) + 1) : NULL;

        if (enc) {
            sales_base64url_encode((const uint8_t *) text, strlen(text), enc);
        }

        json_object_set_new(*out, "next_cursor",
                            enc ? json_string(enc) : json_null());
        free(text);
        free(enc);

    } else {
        json_object_set_new(*out, "next_cursor", json_null());
    }

    json_decref(last);
    return 200;
}
