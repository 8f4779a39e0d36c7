/*
 * Commission periods and payouts: a manager closes a period for the
 * team (it then takes no more rows: later events accrue into the next
 * open period), approves it, and a payout is made of it, one line per
 * person and currency; the payroll is exported as CSV, then marked
 * exported and paid. Every step is audited and emits an event.
 *
 * A team is the users whose manager is the manager (rows remember the
 * team their owner was in when they were written); the users without a
 * manager are a team of their own that an admin closes and approves.
 */

#include "sales_resource.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static const char *const  period_states[] = { "closed", "approved", NULL };

static const char *const  payout_states[] = {
    "approved", "exported", "paid", NULL
};

static const sales_field_t  period_fields[] = {
    SALES_SHOWN("manager_id", SALES_F_INT),
    SALES_SHOWN("period", SALES_F_STRING),
    SALES_SHOWN_ENUM("status", period_states),
    SALES_SHOWN("closed_at", SALES_F_TIME),
    SALES_SHOWN("closed_by", SALES_F_INT),
    SALES_SHOWN("approved_at", SALES_F_TIME),
    SALES_SHOWN("approved_by", SALES_F_INT),
    SALES_FIELDS_END
};

static const sales_resource_t  periods_res = {
    "commission_periods", "commission_period", "commission period",
    period_fields, NULL, NULL, "/commission/periods"
};

static const sales_field_t  payout_fields[] = {
    SALES_SHOWN("period_id", SALES_F_INT),
    SALES_SHOWN("manager_id", SALES_F_INT),
    SALES_SHOWN("period", SALES_F_STRING),
    SALES_SHOWN_ENUM("status", payout_states),
    SALES_SHOWN("approved_at", SALES_F_TIME),
    SALES_SHOWN("approved_by", SALES_F_INT),
    SALES_SHOWN("exported_at", SALES_F_TIME),
    SALES_SHOWN("exported_by", SALES_F_INT),
    SALES_SHOWN("paid_at", SALES_F_TIME),
    SALES_SHOWN("paid_by", SALES_F_INT),
    SALES_FIELDS_END
};

static const sales_resource_t  payouts_res = {
    "commission_payouts", "commission_payout", "commission payout",
    payout_fields, NULL, NULL, "/commission/payouts"
};

static const char *const  line_columns[] = {
    "position", "user_id", "name", "currency", "amount_minor", "accruals",
    NULL
};


/* --- visibility ---------------------------------------------------------- */

/* Periods and payouts on t.manager_id: an admin or integration all, a
 * manager their team's, anyone else their own team's. */
static void
team_scope(sales_ctx_t *ctx, sales_buf_t *where, json_t *binds)
{
    if (ctx->user.role == SALES_ROLE_ADMIN
        || ctx->user.role == SALES_ROLE_INTEGRATION)
    {
        sales_buf_adds(where, "1");
        return;
    }

    sales_buf_adds(where, "ifnull(t.manager_id, 0) = ?");
    json_array_append_new(binds, json_integer(
        ctx->user.role == SALES_ROLE_MANAGER ? ctx->user.id
                                             : ctx->user.manager_id));
}


static int
team_load(sales_ctx_t *ctx, const sales_resource_t *res, int64_t id,
    sales_finish_pt finish, json_t **out)
{
    int  rc = sales_load_scoped(ctx, res, id, team_scope, out);

    if (rc == 0 && finish(ctx, *out) != 0) {
        json_decref(*out);
        *out = NULL;
        return -1;
    }

    return rc;
}


static int
team_list(sales_ctx_t *ctx, const sales_resource_t *res,
    const char *const *states, sales_finish_pt finish, json_t **out)
{
    sales_buf_t   where = {0};
    json_t       *binds = json_array();
    const char   *status, *period = sales_param(ctx, "period");
    int64_t       manager;
    int           rc = -1;

    team_scope(ctx, &where, binds);

    if (sales_status_param(ctx, states, res->label, &status) != 0
        || sales_param_int(ctx, "manager_id", 1, INT64_MAX, &manager) != 0)
    {
        goto done;
    }

    if (period && !sales_period_valid(period)) {
        sales_param_error(ctx, "period", "must be a month YYYY-MM or a "
                          "quarter YYYY-Qn");
        goto done;
    }

    if (period) {
        sales_buf_adds(&where, " AND t.period = ?");
        json_array_append_new(binds, json_string(period));
    }

    if (status) {
        sales_buf_adds(&where, " AND t.status = ?");
        json_array_append_new(binds, json_string(status));
    }

    if (manager) {
        sales_buf_adds(&where, " AND t.manager_id = ?");
        json_array_append_new(binds, json_integer(manager));
    }

    rc = sales_list_finished(ctx, res, &where, binds, 1, finish, out) == 0
         ? 200 : -1;

done:

    sales_buf_free(&where);
    json_decref(binds);
    return rc;
}


/* --- periods ------------------------------------------------------------- */

/* What a period holds: per currency the amount, the people and the
 * rows; and its payout once approved. An admin, an integration and the
 * team's manager see the team's totals; anyone else, who sees the period
 * as a member of the team, the totals of their own rows only. */
static int
period_finish(sales_ctx_t *ctx, json_t *per)
{
    sqlite3_stmt  *st;
    json_t        *totals = json_array(), *binds;
    int64_t        payout, own;
    int            rc;

    own = ctx->user.role == SALES_ROLE_ADMIN
          || ctx->user.role == SALES_ROLE_INTEGRATION
          || ctx->user.role == SALES_ROLE_MANAGER ? 0 : ctx->user.id;

    st = sales_prepare(ctx, "SELECT currency, sum(amount_minor),"
                            " count(DISTINCT user_id), count(*)"
                            " FROM commission_accruals"
                            " WHERE ifnull(team_manager_id, 0) = ?1"
                            " AND period = ?2 AND (?3 = 0 OR user_id = ?3)"
                            " GROUP BY currency ORDER BY currency");
    if (st == NULL) {
        json_decref(totals);
        return -1;
    }

    sqlite3_bind_int64(st, 1, sales_jint(per, "manager_id"));
    sqlite3_bind_text(st, 2, sales_jstr(per, "period"), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, own);

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_array_append_new(totals, json_pack("{s:s, s:I, s:I, s:I}",
            "currency", (const char *) sqlite3_column_text(st, 0),
            "amount_minor", (json_int_t) sqlite3_column_int64(st, 1),
            "people", (json_int_t) sqlite3_column_int64(st, 2),
            "rows", (json_int_t) sqlite3_column_int64(st, 3)));
    }

    sales_finish(st);
    json_object_set_new(per, "totals", totals);

    if (rc != SQLITE_DONE) {
        return sales_db_error(ctx, "adding up a period");
    }

    binds = json_pack("[I]", (json_int_t) sales_jint(per, "id"));
    payout = sales_count(ctx, "SELECT ifnull(max(id), 0)"
                              " FROM commission_payouts WHERE period_id = ?",
                         binds);
    json_decref(binds);

    if (payout < 0) {
        return -1;
    }

    json_object_set_new(per, "payout_id", payout ? json_integer(payout)
                                                 : json_null());
    return 0;
}


/*
 * The period and team a close or an approval is for: {"period":
 * "2026-12" | "2026-Q4", "manager_id": …}. A manager acts for their own
 * team (naming another is 403); an admin names the manager, or null for
 * the users without one.
 */
static int
period_request(sales_ctx_t *ctx, json_t *body, char *period, int64_t *team)
{
    static const char *const  known[] = { "period", "manager_id", NULL };

    json_t      *m = json_object_get(body, "manager_id");
    const char  *p = sales_jstr(body, "period");

    sales_only_fields(ctx, body, known);
    *team = 0;

    if (p == NULL || !sales_period_valid(p)) {
        sales_field_error(ctx, "period", "%s", json_object_get(body, "period")
                          ? "must be a month YYYY-MM or a quarter YYYY-Qn"
                          : "is required");
    } else {
        snprintf(period, SALES_PERIOD_LEN, "%s", p);
    }

    if (ctx->user.role == SALES_ROLE_MANAGER) {
        *team = ctx->user.id;

        if (json_array_size(ctx->errors) == 0 && m && !json_is_null(m)
            && !(json_is_integer(m) && json_integer_value(m) == ctx->user.id))
        {
            return sales_forbidden(ctx, "a manager closes and approves only "
                                   "their own team's periods");
        }

    } else if (m == NULL) {
        sales_field_error(ctx, "manager_id", "is required: the manager whose "
                          "team it is, or null for the users without one");

    } else if (!json_is_null(m)) {
        json_t   *binds = json_pack("[O]", m);
        int64_t   n = json_is_integer(m)
                      ? sales_count(ctx, "SELECT count(*) FROM users"
                                         " WHERE id = ? AND role = 'manager'",
                                    binds)
                      : 0;

        json_decref(binds);
        if (n < 0) {
            return -1;
        }
        if (n == 0) {
            sales_field_error(ctx, "manager_id", "must be the id of a "
                              "manager, or null for the users without one");
        }
        *team = json_integer_value(m);
    }

    return json_array_size(ctx->errors) ? sales_validation_failed(ctx) : 0;
}


/* The team's row of a period: its id, or 0 when it is still open. */
static int64_t
period_row(sales_ctx_t *ctx, int64_t team, const char *period)
{
    json_t   *binds = json_pack("[I, s]", (json_int_t) team, period);
    int64_t   id;

    id = sales_count(ctx, "SELECT ifnull(max(id), 0) FROM commission_periods"
                          " WHERE ifnull(manager_id, 0) = ? AND period = ?",
                     binds);
    json_decref(binds);
    return id;
}


/* POST /commission/periods/close: once the period has ended. */
int
sales_commission_periods_close(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    json_t   *values, *changes;
    int64_t   team, id;
    char      period[SALES_PERIOD_LEN], end[11], today[11];

    if (period_request(ctx, body, period, &team) != 0) {
        return -1;
    }

    sales_date_of(ctx->now_ms, today);
    sales_period_end(period, end);

    if (strcmp(today, end) < 0) {
        return sales_fail(ctx, 409, "conflict", "%s has not ended yet: it "
                          "can be closed from %s", period, end);
    }

    id = period_row(ctx, team, period);
    if (id != 0) {
        return id < 0 ? -1 : sales_fail(ctx, 409, "conflict", "%s is closed "
                                        "already for this team", period);
    }

    values = json_pack("{s:s, s:s, s:I, s:I}", "period", period,
                       "status", "closed", "closed_at",
                       (json_int_t) ctx->now_ms, "closed_by",
                       (json_int_t) ctx->user.id);
    json_object_set_new(values, "manager_id",
                        team ? json_integer(team) : json_null());
    id = sales_insert(ctx, &periods_res, values);
    json_decref(values);

    if (id < 0 || team_load(ctx, &periods_res, id, period_finish, out) != 0) {
        return -1;
    }

    changes = json_pack("{s:[ns], s:[ns], s:[nO]}", "status", "closed",
                        "period", period, "manager_id",
                        json_object_get(*out, "manager_id"));

    if (sales_audit(ctx, "close", "commission_period", id, changes) != 0
        || sales_document_event(ctx, "commission.period_closed",
                                "commission_period", *out, NULL) != 0)
    {
        json_decref(changes);
        return -1;
    }

    json_decref(changes);
    snprintf(ctx->location, sizeof(ctx->location),
             "/commission/periods/%lld", (long long) id);
    return 201;
}


/* The payout's lines: per person and currency what the period holds; a
 * balance below zero is carried into the next open period instead. */
static int
payout_lines(sales_ctx_t *ctx, int64_t team, int64_t period_id,
    const char *period, json_t **out)
{
    sqlite3_stmt  *st;
    json_t        *sums = json_array(), *lines, *s;
    size_t         i;
    int            rc;

    st = sales_prepare(ctx, "SELECT a.user_id, u.name, a.currency,"
                            " sum(a.amount_minor), count(*)"
                            " FROM commission_accruals a"
                            " JOIN users u ON u.id = a.user_id"
                            " WHERE ifnull(a.team_manager_id, 0) = ?"
                            " AND a.period = ?"
                            " GROUP BY a.user_id, a.currency"
                            " ORDER BY a.user_id, a.currency");
    if (st == NULL) {
        json_decref(sums);
        return -1;
    }

    sqlite3_bind_int64(st, 1, team);
    sqlite3_bind_text(st, 2, period, -1, SQLITE_TRANSIENT);

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_array_append_new(sums, json_pack("{s:I, s:s, s:s, s:I, s:I}",
            "user_id", (json_int_t) sqlite3_column_int64(st, 0),
            "name", (const char *) sqlite3_column_text(st, 1),
            "currency", (const char *) sqlite3_column_text(st, 2),
            "amount_minor", (json_int_t) sqlite3_column_int64(st, 3),
            "accruals", (json_int_t) sqlite3_column_int64(st, 4)));
    }

    sales_finish(st);

    if (rc != SQLITE_DONE) {
        json_decref(sums);
        return sales_db_error(ctx, "adding up a period");
    }

    lines = json_array();

    json_array_foreach(sums, i, s) {
        int64_t  amount = sales_jint(s, "amount_minor");

        if (amount < 0
            && sales_accrual_carry(ctx, sales_jint(s, "user_id"), team,
                                   period_id, period,
                                   sales_jstr(s, "currency"), amount) != 0)
        {
            json_decref(sums);
            json_decref(lines);
            return -1;
        }

        if (amount > 0) {
            json_object_set_new(s, "position",
                json_integer((json_int_t) json_array_size(lines) + 1));
            json_array_append(lines, s);
        }
    }

    json_decref(sums);
    *out = lines;
    return 0;
}


static int
payout_finish(sales_ctx_t *ctx, json_t *pay)
{
    json_t   *lines, *l, *totals, *t = NULL;
    size_t    i, k;

    if (sales_rows_load(ctx, "commission_payout_lines", "payout_id",
                        sales_jint(pay, "id"), line_columns, NULL, &lines)
        != 0)
    {
        return -1;
    }

    totals = json_array();

    json_array_foreach(lines, i, l) {
        json_object_del(l, "id");

        json_array_foreach(totals, k, t) {
            if (strcmp(sales_jstr(t, "currency"), sales_jstr(l, "currency"))
                == 0)
            {
                break;
            }
        }

        if (k == json_array_size(totals)) {
            t = json_pack("{s:O, s:I, s:I}", "currency",
                          json_object_get(l, "currency"), "amount_minor",
                          (json_int_t) 0, "people", (json_int_t) 0);
            json_array_append_new(totals, t);
        }

        json_object_set_new(t, "amount_minor", json_integer(
            sales_jint(t, "amount_minor") + sales_jint(l, "amount_minor")));
        json_object_set_new(t, "people", json_integer(
            sales_jint(t, "people") + 1));
    }

    json_object_set_new(pay, "lines", lines);
    json_object_set_new(pay, "totals", totals);
    return 0;
}


/* POST /commission/periods/approve: a closed period's payout. */
int
sales_commission_periods_approve(sales_ctx_t *ctx, json_t *body,
    json_t **out)
{
    json_t   *per = NULL, *lines = NULL, *values, *binds, *extra;
    int64_t   team, id, payout;
    char      period[SALES_PERIOD_LEN];
    int       rc = -1;

    if (period_request(ctx, body, period, &team) != 0) {
        return -1;
    }

    id = period_row(ctx, team, period);
    if (id <= 0) {
        return id < 0 ? -1 : sales_fail(ctx, 409, "conflict", "%s is not "
                                        "closed for this team: close it "
                                        "first", period);
    }

    if (team_load(ctx, &periods_res, id, period_finish, &per) != 0
        || sales_require_status(ctx, per, "commission period", "closed",
                                "approved again") != 0)
    {
        goto done;
    }

    values = json_pack("{s:I, s:s, s:s, s:I, s:I}", "period_id",
                       (json_int_t) id, "period", period, "status",
                       "approved", "approved_at", (json_int_t) ctx->now_ms,
                       "approved_by", (json_int_t) ctx->user.id);
    json_object_set(values, "manager_id", json_object_get(per, "manager_id"));
    payout = sales_insert(ctx, &payouts_res, values);
    json_decref(values);

    if (payout < 0
        || payout_lines(ctx, team, id, period, &lines) != 0
        || sales_rows_replace(ctx, "commission_payout_lines", "payout_id",
                              payout, line_columns, lines) != 0)
    {
        goto done;
    }

    binds = json_pack("[I, I]", (json_int_t) ctx->now_ms,
                      (json_int_t) ctx->user.id);
    rc = sales_set_state(ctx, "commission_periods", id, "status = 'approved',"
                         " approved_at = ?, approved_by = ?", binds);
    json_decref(binds);
    json_decref(per);
    per = NULL;

    if (rc != 0
        || team_load(ctx, &periods_res, id, period_finish, &per) != 0
        || team_load(ctx, &payouts_res, payout, payout_finish, out) != 0)
    {
        rc = -1;
        goto done;
    }

    binds = json_pack("{s:[ss], s:[nI]}", "status", "closed", "approved",
                      "payout_id", (json_int_t) payout);
    extra = json_pack("{s:O}", "commission_period", per);
    rc = sales_audit(ctx, "approve", "commission_period", id, binds) == 0
         && sales_audit(ctx, "create", "commission_payout", payout, *out)
            == 0
         && sales_document_event(ctx, "commission.payout_approved",
                                 "commission_payout", *out, extra) == 0
         ? 201 : -1;
    json_decref(binds);
    json_decref(extra);

    if (rc == 201) {
        snprintf(ctx->location, sizeof(ctx->location),
                 "/commission/payouts/%lld", (long long) payout);
    }

done:

    json_decref(lines);
    json_decref(per);
    return rc;
}


int
sales_commission_periods_list(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    return team_list(ctx, &periods_res, period_states, period_finish, out);
}


int
sales_commission_periods_get(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    return team_load(ctx, &periods_res, ctx->ids[0], period_finish, out) == 0
           ? 200 : -1;
}


/* --- payouts ------------------------------------------------------------- */

int
sales_commission_payouts_list(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    return team_list(ctx, &payouts_res, payout_states, payout_finish, out);
}


int
sales_commission_payouts_get(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    return team_load(ctx, &payouts_res, ctx->ids[0], payout_finish, out) == 0
           ? 200 : -1;
}


/* A CSV field (RFC 4180): quoted when it holds a comma, a quote or a
 * line break; a leading = + - @ or tab gets a ' so a spreadsheet never
 * runs it as a formula. */
static void
csv_field(sales_buf_t *b, const char *s)
{
    const char  *p;
    int          quote = strpbrk(s, ",\"\r\n") != NULL;

    if (quote) {
        sales_buf_adds(b, "\"");
    }

    if (strchr("=+-@\t", s[0]) && s[0] != '\0') {
        sales_buf_adds(b, "'");
    }

    for (p = s; *p; p++) {
        sales_buf_add(b, p, 1);
        if (*p == '"') {
            sales_buf_adds(b, "\"");
        }
    }

    if (quote) {
        sales_buf_adds(b, "\"");
    }
}


/* GET /commission/payouts/{id}/export.csv: the payroll, one row per
 * person and currency; reading it changes nothing. */
int
sales_commission_payouts_export(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    sales_buf_t   b = {0};
    json_t       *pay, *l;
    size_t        i;

    if (team_load(ctx, &payouts_res, ctx->ids[0], payout_finish, &pay) != 0) {
        return -1;
    }

    sales_buf_adds(&b, "id,name,period,amount,currency\r\n");

    json_array_foreach(json_object_get(pay, "lines"), i, l) {
        int64_t  a = sales_jint(l, "amount_minor");

        sales_buf_printf(&b, "%lld,", (long long) sales_jint(l, "user_id"));
        csv_field(&b, sales_jstr(l, "name"));
        sales_buf_printf(&b, ",%s,%lld.%02lld,%s\r\n",
                         sales_jstr(pay, "period"), (long long) (a / 100),
                         (long long) (a % 100), sales_jstr(l, "currency"));
    }

    json_decref(pay);

    if (b.failed) {
        sales_buf_free(&b);
        return sales_fail(ctx, 500, "internal", "out of memory");
    }

    ctx->raw_body = b.data;
    ctx->raw_type = "text/csv; charset=utf-8";
    *out = NULL;
    return 200;
}


/* A payout's next step (no body): approved, then exported, then paid. */
static int
payout_step(sales_ctx_t *ctx, json_t *body, const char *from, const char *to,
    const char *action, const char *event, json_t **out)
{
    static const char *const  none[] = { NULL };

    json_t   *pay, *binds, *changes;
    int64_t   id = ctx->ids[0];
    char      set[96];
    int       rc;

    if (sales_only_fields(ctx, body, none) != 0) {
        return sales_validation_failed(ctx);
    }

    if (team_load(ctx, &payouts_res, id, payout_finish, &pay) != 0) {
        return -1;
    }

    rc = sales_require_status(ctx, pay, "commission payout", from, action);
    json_decref(pay);

    if (rc != 0) {
        return -1;
    }

    snprintf(set, sizeof(set), "status = ?, %s_at = ?, %s_by = ?", to, to);
    binds = json_pack("[s, I, I]", to, (json_int_t) ctx->now_ms,
                      (json_int_t) ctx->user.id);
    rc = sales_set_state(ctx, "commission_payouts", id, set, binds);
    json_decref(binds);

    if (rc != 0 || team_load(ctx, &payouts_res, id, payout_finish, out) != 0)
    {
        return -1;
    }

    changes = json_pack("{s:[ss]}", "status", from, to);
    rc = sales_audit(ctx, to, "commission_payout", id, changes) == 0
         && sales_document_event(ctx, event, "commission_payout", *out, NULL)
            == 0;
    json_decref(changes);

    return rc ? 200 : -1;
}


int
sales_commission_payouts_exported(sales_ctx_t *ctx, json_t *body,
    json_t **out)
{
    return payout_step(ctx, body, "approved", "exported", "marked exported; "
                       "it is exported once", "commission.payout_exported",
                       out);
}


int
sales_commission_payouts_paid(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    return payout_step(ctx, body, "exported", "paid", "marked paid; it is "
                       "paid once it is exported", "commission.payout_paid",
                       out);
}
