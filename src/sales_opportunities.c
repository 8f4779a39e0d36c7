/*
 * Opportunities: the pipeline, stage rules and the stage history.
 */

#include "sales_resource.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#define MAX_VALUE_MINOR  1000000000000000LL     /* 10^15 */

static const char *const  stages[] = {
    "qualified", "needs_analysis", "proposal", "negotiation", "won", "lost",
    NULL
};

/* Default probability per stage, in the order above. */
static const int  stage_probability[] = { 10, 25, 50, 75, 100, 0 };


static int opportunity_derive(sales_ctx_t *ctx, json_t *before,
    json_t *merged, json_t *write);

static const sales_field_t  opportunity_fields[] = {
    { "client_id", SALES_F_INT, SALES_F_REQUIRED, 1, INT64_MAX, NULL, NULL,
      NULL, 0, 0 },
    { "title", SALES_F_STRING, SALES_F_REQUIRED, 1, 200, NULL, NULL, NULL, 0,
      0 },
    { "owner_id", SALES_F_INT, SALES_F_NOTNULL, 1, INT64_MAX, NULL, NULL,
      NULL, 0, 0 },
    { "handed_over_by", SALES_F_INT, 0, 1, INT64_MAX, NULL, NULL, NULL, 0,
      0 },
    { "source", SALES_F_STRING, 0, 1, 100, NULL, NULL, NULL, 0, 0 },
    { "value_minor", SALES_F_INT, SALES_F_NOTNULL, 0, MAX_VALUE_MINOR, NULL,
      NULL, NULL, 0, 1 },
    { "currency", SALES_F_STRING, SALES_F_NOTNULL, 3, 3, NULL,
      sales_check_currency, NULL, 0, 0 },
    { "expected_close", SALES_F_DATE, SALES_F_REQUIRED, 0, 0, NULL, NULL,
      NULL, 0, 0 },
    { "stage", SALES_F_ENUM, SALES_F_NOTNULL, 0, 0, stages, NULL,
      "qualified", 0, 1 },
    { "probability", SALES_F_INT, 0, 0, 100, NULL, NULL, NULL, 0, 0 },
    { "probability_overridden", SALES_F_BOOL, SALES_F_READONLY, 0, 0, NULL,
      NULL, NULL, 0, 0 },
    { "next_step", SALES_F_STRING, 0, 1, 500, NULL, NULL, NULL, 0, 0 },
    { "next_step_date", SALES_F_DATE, 0, 0, 0, NULL, NULL, NULL, 0, 0 },
    { "lost_reason", SALES_F_STRING, 0, 1, 500, NULL, NULL, NULL, 0, 0 },
    { "stage_changed_at", SALES_F_TIME, SALES_F_READONLY, 0, 0, NULL, NULL,
      NULL, 0, 0 },
    { "last_activity_at", SALES_F_TIME, SALES_F_READONLY, 0, 0, NULL, NULL,
      NULL, 0, 0 },
    { "won_at", SALES_F_TIME, SALES_F_READONLY, 0, 0, NULL, NULL, NULL, 0,
      0 },
    { "lost_at", SALES_F_TIME, SALES_F_READONLY, 0, 0, NULL, NULL, NULL, 0,
      0 },
    { "closed_at", SALES_F_TIME, SALES_F_READONLY, 0, 0, NULL, NULL, NULL, 0,
      0 },
    { "title_search", SALES_F_STRING, SALES_F_HIDDEN, 0, 0, NULL, NULL, NULL,
      0, 0 },
    { "is_open", SALES_F_BOOL, SALES_F_HIDDEN, 0, 0, NULL, NULL, NULL, 0, 0 },
    { NULL, 0, 0, 0, 0, NULL, NULL, NULL, 0, 0 }
};

const sales_resource_t  sales_opportunities_res = {
    "opportunities", "opportunity", "opportunity", opportunity_fields, NULL,
    opportunity_derive, "/opportunities"
};

#define opportunities_res  sales_opportunities_res


static int
stage_index(const char *stage)
{
    int  i;

    for (i = 0; stages[i]; i++) {
        if (strcmp(stages[i], stage) == 0) {
            return i;
        }
    }

    return -1;
}


int
sales_stage_is_open(const char *stage)
{
    int  i = stage_index(stage);

    return i >= 0 && i < 4;
}


static const char *
json_str(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}


/*
 * A visible, active client for a new opportunity or activity: answers its
 * currency in *currency (may be NULL), or a field error on field.
 */
int
sales_client_usable(sales_ctx_t *ctx, int64_t client_id, const char *field,
    char *currency)
{
    sqlite3_stmt  *st;
    sales_buf_t    sql = {0};
    json_t        *binds = json_array();
    int            rc, result;

    sales_buf_adds(&sql, "SELECT t.currency, t.archived_at FROM clients t"
                         " WHERE t.id = ? AND ");
    json_array_append_new(binds, json_integer(client_id));
    sales_scope_sql(ctx, "t.owner_id", &sql, binds);

    st = sales_prepare_bound(ctx, &sql, binds);
    json_decref(binds);

    if (st == NULL) {
        return -1;
    }

    rc = sqlite3_step(st);

    if (rc == SQLITE_ROW) {
        if (sqlite3_column_type(st, 1) != SQLITE_NULL) {
            result = sales_field_error(ctx, field, "the client is archived");

        } else {
            if (currency) {
                snprintf(currency, 4, "%s", sqlite3_column_text(st, 0));
            }
            result = 0;
        }

    } else if (rc == SQLITE_DONE) {
        result = sales_field_error(ctx, field, "no such client");

    } else {
        result = sales_db_error(ctx, "reading a client");
    }

    sales_finish(st);
    return result;
}


static int
active_user_exists(sales_ctx_t *ctx, int64_t id)
{
    sqlite3_stmt  *st;
    int            rc;

    st = sales_prepare(ctx, "SELECT 1 FROM users WHERE id = ?"
                            " AND disabled = 0");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    sales_finish(st);

    if (rc == SQLITE_ROW) {
        return 1;
    }

    return rc == SQLITE_DONE ? 0 : sales_db_error(ctx, "reading a user");
}


/* Stage and probability rules, and the timestamps they move. */
static int
derive_stage(sales_ctx_t *ctx, json_t *before, json_t *merged, json_t *write)
{
    const char  *stage = json_str(merged, "stage");
    const char  *old = before ? json_str(before, "stage") : NULL;
    json_t      *prob = json_object_get(write, "probability");
    json_t      *now = json_integer(ctx->now_ms);
    int          idx = stage ? stage_index(stage) : -1;
    int          changed, overridden;

    if (idx < 0) {
        json_decref(now);
        return 0;       /* the stage itself failed validation */
    }

    changed = old == NULL || strcmp(old, stage) != 0;

    overridden = before
                 && json_is_true(json_object_get(before,
                                                 "probability_overridden"));

    if (prob) {
        overridden = !json_is_null(prob);
    }

    if (changed) {
        json_object_set(write, "stage_changed_at", now);
        json_object_set_new(write, "is_open",
                            json_boolean(sales_stage_is_open(stage)));

        if (strcmp(stage, "won") == 0) {
            json_object_set(write, "won_at", now);
            json_object_set(write, "closed_at", now);
            json_object_set_new(write, "lost_at", json_null());
            overridden = 0;
            prob = NULL;

        } else if (strcmp(stage, "lost") == 0) {
            if (json_str(merged, "lost_reason") == NULL) {
                json_decref(now);
                return sales_field_error(ctx, "lost_reason", "is required to "
                                         "mark a deal lost");
            }
            json_object_set(write, "lost_at", now);
            json_object_set(write, "closed_at", now);
            json_object_set_new(write, "won_at", json_null());
            overridden = 0;
            prob = NULL;

        } else if (old && !sales_stage_is_open(old)) {
            /* Reopened: the deal is open again, its outcome undone. */
            json_object_set_new(write, "won_at", json_null());
            json_object_set_new(write, "lost_at", json_null());
            json_object_set_new(write, "closed_at", json_null());
            json_object_set_new(write, "lost_reason", json_null());
        }
    }

    json_decref(now);

    if (overridden && prob) {
        json_object_set_new(write, "probability_overridden", json_true());

    } else if (!overridden && (changed || prob)) {
        json_object_set_new(write, "probability_overridden", json_false());
        json_object_set_new(write, "probability",
                            json_integer(stage_probability[idx]));
    }

    return 0;
}


static int
opportunity_derive(sales_ctx_t *ctx, json_t *before, json_t *merged,
    json_t *write)
{
    json_t  *v;
    char     currency[4];
    int      rc = 0, r;

    v = json_object_get(write, "client_id");
    if (v && before) {
        rc = sales_field_error(ctx, "client_id", "cannot be changed; the "
                               "opportunity belongs to its client");

    } else if (v) {
        r = sales_client_usable(ctx, json_integer_value(v), "client_id",
                                currency);
        if (r == 0 && json_object_get(write, "currency") == NULL) {
            json_object_set_new(write, "currency", json_string(currency));
        }
        if (r != 0) {
            rc = -1;
            if (ctx->status != 422) {
                return -1;
            }
        }
    }

    v = json_object_get(write, "owner_id");
    if (v) {
        r = sales_may_own(ctx, json_integer_value(v));
        if (r < 0) {
            return -1;
        }
        if (r == 0) {
            rc = sales_field_error(ctx, "owner_id",
                                   ctx->user.role == SALES_ROLE_AE
                                   ? "an account executive may only own "
                                     "their own opportunities"
                                   : "must be an active manager or account "
                                     "executive you manage");
        }
    }

    v = json_object_get(write, "handed_over_by");
    if (v && !json_is_null(v)) {
        r = active_user_exists(ctx, json_integer_value(v));
        if (r < 0) {
            return -1;
        }
        if (r == 0) {
            rc = sales_field_error(ctx, "handed_over_by",
                                   "must be the id of an active user");
        }
    }

    v = json_object_get(write, "title");
    if (v) {
        char  *folded = sales_fold(json_string_value(v),
                                   json_string_length(v));

        if (folded == NULL) {
            return sales_fail(ctx, 500, "internal", "out of memory");
        }

        json_object_set_new(write, "title_search", json_string(folded));
        free(folded);
    }

    if (derive_stage(ctx, before, merged, write) != 0) {
        rc = -1;
    }

    return rc;
}


int
sales_opportunity_load(sales_ctx_t *ctx, int64_t id, json_t **out)
{
    int  rc;

    rc = sales_load_owned(ctx, &opportunities_res, id, out);
    return rc;
}


static int
add_history(sales_ctx_t *ctx, int64_t id, const char *from, const char *to,
    int reopened)
{
    sqlite3_stmt  *st;

    st = sales_prepare(ctx, "INSERT INTO opportunity_stage_history"
                            " (opportunity_id, from_stage, to_stage, user_id,"
                            " at, reopened) VALUES (?, ?, ?, ?, ?, ?)");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, id);
    if (from) {
        sqlite3_bind_text(st, 2, from, -1, SQLITE_TRANSIENT);
    }
    sqlite3_bind_text(st, 3, to, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, ctx->user.id);
    sqlite3_bind_int64(st, 5, ctx->now_ms);
    sqlite3_bind_int(st, 6, reopened);

    return sales_step_done(ctx, st);
}


/* The history row and the stage_changed event of one stage change. */
static int
stage_changed(sales_ctx_t *ctx, json_t *opp, const char *from, int reopened)
{
    const char  *to = json_str(opp, "stage");
    int64_t      id = json_integer_value(json_object_get(opp, "id"));
    json_t      *data;
    int          rc;

    if (add_history(ctx, id, from, to, reopened) != 0) {
        return -1;
    }

    data = json_pack("{s:O, s:s?, s:s, s:I, s:b}", "opportunity", opp,
                     "from", from, "to", to,
                     "user_id", (json_int_t) ctx->user.id,
                     "reopened", reopened);
    rc = sales_event(ctx, "opportunity.stage_changed", "opportunity", id,
                     data);
    json_decref(data);
    return rc;
}


int
sales_opportunities_create(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    json_t   *data;
    int64_t   id;
    int       rc;

    if (!json_object_get(body, "owner_id")) {
        json_object_set_new(body, "owner_id", json_integer(ctx->user.id));
    }

    id = sales_create_row(ctx, &opportunities_res, body);

    if (id < 0
        || sales_load(ctx, &opportunities_res, id, NULL, NULL, out) != 0)
    {
        return -1;
    }

    data = json_pack("{s:O}", "opportunity", *out);
    rc = sales_audit(ctx, "create", "opportunity", id, *out) == 0
         && sales_event(ctx, "opportunity.created", "opportunity", id, data)
            == 0
         && stage_changed(ctx, *out, NULL, 0) == 0;
    json_decref(data);

    if (!rc) {
        return -1;
    }

    snprintf(ctx->location, sizeof(ctx->location), "/opportunities/%lld",
             (long long) id);
    return 201;
}


int
sales_opportunities_get(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    return sales_opportunity_load(ctx, ctx->ids[0], out) == 0 ? 200 : -1;
}


/*
 * A closed deal is read-only; only a change of its stage reopens it, and
 * that is for a manager (of the owner: the scope has checked that) or an
 * admin.
 */
static int
check_closed(sales_ctx_t *ctx, json_t *before, json_t *body, int *reopen)
{
    const char  *stage = json_str(body, "stage");

    *reopen = 0;

    if (sales_stage_is_open(json_str(before, "stage"))) {
        return 0;
    }

    if (stage == NULL || strcmp(stage, json_str(before, "stage")) == 0) {
        return sales_fail(ctx, 409, "conflict", "the opportunity is closed; "
                          "a manager may reopen it by changing its stage");
    }

    if (ctx->user.role != SALES_ROLE_MANAGER
        && ctx->user.role != SALES_ROLE_ADMIN)
    {
        return sales_forbidden(ctx, "only a manager or an admin may reopen "
                               "a closed opportunity");
    }

    *reopen = 1;
    return 0;
}


int
sales_opportunities_update(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    return sales_opportunity_change(ctx, ctx->ids[0], body, out) == 0
           ? 200 : -1;
}


/* Moves an opportunity that is behind up to the proposal stage; one
 * that is at or past it stays where it is. */
int
sales_opportunity_reach_proposal(sales_ctx_t *ctx, int64_t id)
{
    json_t      *opp, *body, *out = NULL;
    const char  *stage;
    int          rc = 0;

    if (sales_opportunity_load(ctx, id, &opp) != 0) {
        return -1;
    }

    stage = json_str(opp, "stage");

    if (strcmp(stage, "qualified") == 0
        || strcmp(stage, "needs_analysis") == 0)
    {
        body = json_pack("{s:s}", "stage", "proposal");
        rc = sales_opportunity_change(ctx, id, body, &out);
        json_decref(body);
        json_decref(out);
    }

    json_decref(opp);
    return rc;
}


/* A PATCH of an opportunity: the stage rules, the audit, the events. */
int
sales_opportunity_change(sales_ctx_t *ctx, int64_t id, json_t *body,
    json_t **out)
{
    json_t      *before, *changes = NULL, *diff = NULL, *data, *stage;
    const char  *from;
    int          rc = -1, reopen;

    if (sales_opportunity_load(ctx, id, &before) != 0) {
        return -1;
    }

    if (check_closed(ctx, before, body, &reopen) != 0
        || sales_validate(ctx, &opportunities_res, body, before, &changes)
           != 0
        || sales_update(ctx, &opportunities_res, id, before, changes, &diff)
           != 0)
    {
        goto done;
    }

    if (json_object_size(diff) == 0) {
        *out = json_incref(before);
        rc = 0;
        goto done;
    }

    if (sales_audit(ctx, reopen ? "reopen" : "update", "opportunity", id,
                    diff) != 0
        || sales_opportunity_load(ctx, id, out) != 0)
    {
        goto done;
    }

    data = json_pack("{s:O, s:O}", "opportunity", *out, "changes", diff);
    rc = sales_event(ctx, "opportunity.updated", "opportunity", id, data);
    json_decref(data);

    stage = json_object_get(diff, "stage");
    from = json_str(before, "stage");

    if (rc == 0 && stage) {
        rc = stage_changed(ctx, *out, from, reopen);
    }

done:

    json_decref(diff);
    json_decref(changes);
    json_decref(before);
    return rc;
}


int
sales_opportunities_history(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    sqlite3_stmt  *st;
    json_t        *opp, *items;
    int            rc;

    if (sales_opportunity_load(ctx, ctx->ids[0], &opp) != 0) {
        return -1;
    }

    json_decref(opp);

    st = sales_prepare(ctx, "SELECT id, from_stage, to_stage, user_id, at,"
                            " reopened FROM opportunity_stage_history"
                            " WHERE opportunity_id = ? ORDER BY id");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, ctx->ids[0]);
    items = json_array();

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        char  at[32];

        sales_time_format(sqlite3_column_int64(st, 4), at);
        json_array_append_new(items, json_pack(
            "{s:I, s:s?, s:s, s:I, s:s, s:b}",
            "id", (json_int_t) sqlite3_column_int64(st, 0),
            "from", (const char *) sqlite3_column_text(st, 1),
            "to", (const char *) sqlite3_column_text(st, 2),
            "user_id", (json_int_t) sqlite3_column_int64(st, 3),
            "at", at,
            "reopened", sqlite3_column_int(st, 5)));
    }

    sales_finish(st);

    if (rc != SQLITE_DONE) {
        json_decref(items);
        return sales_db_error(ctx, "reading the stage history");
    }

    *out = json_pack("{s:o, s:n}", "items", items, "next_cursor");
    return 200;
}


static const sales_sort_t  opportunity_sorts[] = {
    { "expected_close", "t.expected_close", SALES_F_STRING },
    { "value", "t.value_minor", SALES_F_INT },
    { "updated", "t.updated_at", SALES_F_INT },
    { NULL, NULL, 0 }
};


/* "YYYY-MM" or this_month: the first days of that month and the next. */
int
sales_month_range(sales_ctx_t *ctx, const char *month, char *first,
    char *next)
{
    int   y, m;
    char  today[11];

    if (strcmp(month, "this_month") == 0) {
        sales_date_of(ctx->now_ms, today);
        y = atoi(today);
        m = atoi(today + 5);

    } else if (strlen(month) == 7 && month[4] == '-'
               && sscanf(month, "%4d-%2d", &y, &m) == 2
               && month[5] >= '0' && month[5] <= '9'
               && month[6] >= '0' && month[6] <= '9'
               && y >= 1970 && y <= 9999 && m >= 1 && m <= 12)
    {
        /* parsed */

    } else {
        return -1;
    }

    snprintf(first, 11, "%04u-%02u-01", (unsigned) y % 10000u,
             (unsigned) m % 100u);
    snprintf(next, 11, "%04u-%02u-01", (unsigned) (m == 12 ? y + 1 : y) % 10000u,
             (unsigned) (m == 12 ? 1 : m + 1) % 100u);
    return 0;
}


static int
add_stage_filter(sales_ctx_t *ctx, const char *list, sales_buf_t *where,
    json_t *binds)
{
    const char  *p = list;
    int          n = 0;

    sales_buf_adds(where, " AND t.stage IN (");

    while (*p) {
        const char  *end = strchr(p, ',');
        size_t       len = end ? (size_t) (end - p) : strlen(p);
        char         name[32];

        if (len == 0 || len >= sizeof(name)) {
            return sales_param_error(ctx, "stage", "must be stages separated "
                                     "by commas");
        }

        memcpy(name, p, len);
        name[len] = '\0';

        if (stage_index(name) < 0) {
            return sales_param_error(ctx, "stage", "must be qualified, "
                                     "needs_analysis, proposal, negotiation, "
                                     "won or lost");
        }

        sales_buf_adds(where, n++ ? ", ?" : "?");
        json_array_append_new(binds, json_string(name));

        p = end ? end + 1 : p + len;
    }

    sales_buf_adds(where, ")");
    return n ? 0 : sales_param_error(ctx, "stage", "must name a stage");
}


int
sales_opportunities_list(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    const sales_sort_t  *sort;
    sales_buf_t          where = {0};
    const char          *v;
    json_t              *binds = json_array();
    int64_t              n;
    int                  rc = -1, desc;

    if (sales_sort_param(ctx, opportunity_sorts, &sort, &desc) != 0) {
        goto done;
    }

    sales_scope_sql(ctx, "t.owner_id", &where, binds);

    if (sales_owner_filter(ctx, "t.owner_id", &where, binds) != 0) {
        goto done;
    }

    v = sales_param(ctx, "stage");
    if (v && add_stage_filter(ctx, v, &where, binds) != 0) {
        goto done;
    }

    v = sales_param(ctx, "status");
    if (v) {
        if (strcmp(v, "open") != 0 && strcmp(v, "closed") != 0) {
            sales_param_error(ctx, "status", "must be open or closed");
            goto done;
        }
        sales_buf_adds(&where, " AND t.is_open = ?");
        json_array_append_new(binds, json_integer(v[0] == 'o'));
    }

    if (sales_param_int(ctx, "client_id", 1, INT64_MAX, &n) != 0) {
        goto done;
    }
    if (n) {
        sales_buf_adds(&where, " AND t.client_id = ?");
        json_array_append_new(binds, json_integer(n));
    }

    v = sales_param(ctx, "closing");
    if (v) {
        char  first[11], next[11];

        if (sales_month_range(ctx, v, first, next) != 0) {
            sales_param_error(ctx, "closing", "must be YYYY-MM or "
                              "this_month");
            goto done;
        }
        sales_buf_adds(&where, " AND t.expected_close >= ?"
                               " AND t.expected_close < ?");
        json_array_append_new(binds, json_string(first));
        json_array_append_new(binds, json_string(next));
    }

    if (sales_param(ctx, "value_min")) {
        if (sales_param_int(ctx, "value_min", 0, MAX_VALUE_MINOR, &n) != 0) {
            goto done;
        }
        sales_buf_adds(&where, " AND t.value_minor >= ?");
        json_array_append_new(binds, json_integer(n));
    }

    if (sales_param(ctx, "value_max")) {
        if (sales_param_int(ctx, "value_max", 0, MAX_VALUE_MINOR, &n) != 0) {
            goto done;
        }
        sales_buf_adds(&where, " AND t.value_minor <= ?");
        json_array_append_new(binds, json_integer(n));
    }

    v = sales_param(ctx, "q");
    if (v && v[0]) {
        if (sales_like_filter(ctx, "t.title_search", v, &where, binds) != 0) {
            goto done;
        }
    }

    if (sales_param_int(ctx, "stale", 1, 3650, &n) != 0) {
        goto done;
    }
    if (n) {
        char  today[11];

        sales_date_of(ctx->now_ms, today);
        sales_buf_adds(&where, " AND t.is_open = 1 AND (t.expected_close < ?"
                               " OR max(t.stage_changed_at,"
                               " coalesce(t.last_activity_at, 0)) < ?)");
        json_array_append_new(binds, json_string(today));
        json_array_append_new(binds,
                              json_integer(ctx->now_ms - n * 86400000LL));
    }

    rc = sales_list_sorted(ctx, &opportunities_res, NULL, &where, binds, sort,
                           desc, out) == 0 ? 200 : -1;

done:

    sales_buf_free(&where);
    json_decref(binds);
    return rc;
}
