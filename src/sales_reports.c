/*
 * The pipeline report: active pipeline, win rate, average deal size,
 * sales cycle and the deals closing this month, for one owner, a team or
 * everyone the caller sees.
 */

#include "sales_resource.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#define MAX_CLOSING_ITEMS  200


/* Whose deals: a condition on t.owner_id and its binds. */
static int
report_owner(sales_ctx_t *ctx, sales_buf_t *where, json_t *binds,
    const char **label)
{
    const char  *owner = sales_param(ctx, "owner");

    sales_scope_sql(ctx, "t.owner_id", where, binds);

    if (owner == NULL) {
        *label = "all";

        if (ctx->user.role == SALES_ROLE_ADMIN
            || ctx->user.role == SALES_ROLE_INTEGRATION)
        {
            return 0;
        }

        /* Everyone else looks at their own deals unless they ask. */
        *label = "me";
        sales_buf_adds(where, " AND t.owner_id = ?");
        json_array_append_new(binds, json_integer(ctx->user.id));
        return 0;
    }

    *label = owner;

    if (sales_owner_filter(ctx, "t.owner_id", where, binds) != 0) {
        return -1;
    }

    /* A named owner outside the caller's scope is not found. */
    if (strcmp(owner, "me") != 0 && strcmp(owner, "team") != 0
        && sales_user_in_scope(ctx, atoll(owner)) != 1)
    {
        return -1;
    }

    return 0;
}


static int
parse_period(sales_ctx_t *ctx, char *from, char *to, int64_t *from_ms,
    int64_t *to_ms)
{
    const char  *f = sales_param(ctx, "from");
    const char  *t = sales_param(ctx, "to");
    char         first[11], next[11];

    if (sales_month_range(ctx, "this_month", first, next) != 0) {
        return sales_fail(ctx, 500, "internal", "the clock is out of range");
    }

    if (f && !sales_date_valid(f, strlen(f))) {
        return sales_param_error(ctx, "from", "must be a date YYYY-MM-DD");
    }

    if (t && !sales_date_valid(t, strlen(t))) {
        return sales_param_error(ctx, "to", "must be a date YYYY-MM-DD");
    }

    snprintf(from, 11, "%s", f ? f : first);

    if (t) {
        snprintf(to, 11, "%s", t);

    } else {
        /* the last day of the current month */
        int64_t  days = sales_days_from_civil(atoi(next), (unsigned)
                                              atoi(next + 5), 1) - 1;

        sales_date_of(days * 86400000LL, to);
    }

    if (strcmp(from, to) > 0) {
        return sales_param_error(ctx, "to", "must not be before from");
    }

    *from_ms = sales_days_from_civil(atoi(from), (unsigned) atoi(from + 5),
                                     (unsigned) atoi(from + 8)) * 86400000LL;
    *to_ms = (sales_days_from_civil(atoi(to), (unsigned) atoi(to + 5),
                                    (unsigned) atoi(to + 8)) + 1)
             * 86400000LL;
    return 0;
}


/* Runs a report query: "SELECT ... FROM opportunities t WHERE <owner>
 * AND <extra>" with the owner binds, then the extra binds. */
static sqlite3_stmt *
report_query(sales_ctx_t *ctx, const char *select, sales_buf_t *owner,
    json_t *owner_binds, const char *extra, json_t *extra_binds)
{
    sales_buf_t    sql = {0};
    sqlite3_stmt  *st;
    json_t        *all;

    sales_buf_printf(&sql, "SELECT %s FROM opportunities t WHERE %s AND %s",
                     select, owner->data, extra);

    st = sql.failed ? NULL : sales_prepare(ctx, sql.data);
    sales_buf_free(&sql);

    if (st == NULL) {
        return NULL;
    }

    all = json_copy(owner_binds);
    if (extra_binds) {
        json_array_extend(all, extra_binds);
    }

    sales_bind_all(st, all);
    json_decref(all);
    return st;
}


static json_t *
currency_entry(json_t *list, const char *currency)
{
    size_t   i;
    json_t  *e;

    json_array_foreach(list, i, e) {
        if (strcmp(json_string_value(json_object_get(e, "currency")),
                   currency) == 0)
        {
            return e;
        }
    }

    e = json_pack("{s:s, s:i, s:I, s:I, s:[]}", "currency", currency,
                  "count", 0, "value_minor", (json_int_t) 0,
                  "weighted_minor", (json_int_t) 0, "stages");
    json_array_append_new(list, e);
    return e;
}


/* Open deals now, per currency and stage; weighted = sum(value x
 * probability) / 100 once per group, half away from zero. */
static int
pipeline(sales_ctx_t *ctx, sales_buf_t *owner, json_t *binds, json_t **out)
{
    sqlite3_stmt  *st;
    json_t        *list = json_array(), *cur;
    int            rc;

    st = report_query(ctx, "t.currency, t.stage, count(*), sum(t.value_minor),"
                      " sum(t.value_minor * t.probability),"
                      " CASE t.stage WHEN 'qualified' THEN 0"
                      " WHEN 'needs_analysis' THEN 1 WHEN 'proposal' THEN 2"
                      " ELSE 3 END AS ord",
                      owner, binds, "t.is_open = 1 GROUP BY t.currency,"
                      " t.stage ORDER BY t.currency, ord", NULL);
    if (st == NULL) {
        json_decref(list);
        return -1;
    }

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t  count = sqlite3_column_int64(st, 2);
        int64_t  value = sqlite3_column_int64(st, 3);
        int64_t  weighted = sqlite3_column_int64(st, 4);

        cur = currency_entry(list, (const char *) sqlite3_column_text(st, 0));

        json_array_append_new(json_object_get(cur, "stages"), json_pack(
            "{s:s, s:I, s:I, s:I}",
            "stage", (const char *) sqlite3_column_text(st, 1),
            "count", (json_int_t) count, "value_minor", (json_int_t) value,
            "weighted_minor", (json_int_t) sales_div_round(weighted, 100)));

        json_object_set_new(cur, "count", json_integer(
            json_integer_value(json_object_get(cur, "count")) + count));
        json_object_set_new(cur, "value_minor", json_integer(
            json_integer_value(json_object_get(cur, "value_minor")) + value));
        /* the currency's raw weighted sum, divided once below */
        json_object_set_new(cur, "weighted_minor", json_integer(
            json_integer_value(json_object_get(cur, "weighted_minor"))
            + weighted));
    }

    sales_finish(st);

    if (rc != SQLITE_DONE) {
        json_decref(list);
        return sales_db_error(ctx, "computing the pipeline");
    }

    {
        size_t  i;

        json_array_foreach(list, i, cur) {
            json_object_set_new(cur, "weighted_minor", json_integer(
                sales_div_round(json_integer_value(
                    json_object_get(cur, "weighted_minor")), 100)));
        }
    }

    *out = list;
    return 0;
}


static double
round2(double x)
{
    return round(x * 100.0) / 100.0;
}


/* Deals closed in the period: win rate, average won deal, cycle days.
 * won_at is set exactly while a deal is won (the stage rules clear it on
 * lost and on reopening), so "won in the period" needs no stage test and
 * the won index answers alone. */
static int
closed_in_period(sales_ctx_t *ctx, sales_buf_t *owner, json_t *binds,
    int64_t from_ms, int64_t to_ms, json_t *report)
{
    sqlite3_stmt  *st;
    json_t        *period, *avg;
    int64_t        won = 0, lost = 0, n = 0, cap = 0;
    double        *days = NULL, sum = 0;
    int            rc;

    period = json_pack("[I, I]", (json_int_t) from_ms, (json_int_t) to_ms);

    st = report_query(ctx, "sum(t.stage = 'won'), sum(t.stage = 'lost')",
                      owner, binds, "t.closed_at >= ? AND t.closed_at < ?",
                      period);
    if (st == NULL) {
        json_decref(period);
        return -1;
    }

    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        won = sqlite3_column_int64(st, 0);
        lost = sqlite3_column_int64(st, 1);
    }
    sales_finish(st);

    if (rc != SQLITE_ROW) {
        json_decref(period);
        return sales_db_error(ctx, "computing the win rate");
    }

    json_object_set_new(report, "win_rate", json_pack(
        "{s:I, s:I, s:I, s:o}", "won", (json_int_t) won,
        "lost", (json_int_t) lost, "closed", (json_int_t) (won + lost),
        "rate", won + lost
                ? json_real(round((double) won / (double) (won + lost)
                                  * 10000.0) / 10000.0)
                : json_null()));

    st = report_query(ctx, "t.currency, count(*), sum(t.value_minor)", owner,
                      binds, "t.won_at >= ? AND t.won_at < ?"
                      " GROUP BY t.currency ORDER BY t.currency", period);
    if (st == NULL) {
        json_decref(period);
        return -1;
    }

    avg = json_array();

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t  count = sqlite3_column_int64(st, 1);
        int64_t  total = sqlite3_column_int64(st, 2);

        json_array_append_new(avg, json_pack(
            "{s:s, s:I, s:I, s:I}",
            "currency", (const char *) sqlite3_column_text(st, 0),
            "count", (json_int_t) count, "value_minor", (json_int_t) total,
            "average_minor", (json_int_t) sales_div_round(total, count)));
    }

    sales_finish(st);
    json_object_set_new(report, "average_deal", avg);

    if (rc != SQLITE_DONE) {
        json_decref(period);
        return sales_db_error(ctx, "computing the average deal");
    }

    st = report_query(ctx, "t.won_at - t.created_at AS ms", owner, binds,
                      "t.won_at >= ? AND t.won_at < ? ORDER BY ms", period);
    json_decref(period);

    if (st == NULL) {
        return -1;
    }

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            double  *more;

            cap = cap ? cap * 2 : 64;
            more = realloc(days, (size_t) cap * sizeof(double));
            if (more == NULL) {
                free(days);
                sales_finish(st);
                return sales_fail(ctx, 500, "internal", "out of memory");
            }
            days = more;
        }

        days[n] = (double) sqlite3_column_int64(st, 0) / 86400000.0;
        sum += days[n];
        n++;
    }

    sales_finish(st);

    if (rc != SQLITE_DONE) {
        free(days);
        return sales_db_error(ctx, "computing the sales cycle");
    }

    json_object_set_new(report, "cycle_days", json_pack(
        "{s:I, s:o, s:o}", "count", (json_int_t) n,
        "average", n ? json_real(round2(sum / (double) n)) : json_null(),
        "median", n == 0 ? json_null()
                  : json_real(round2(n % 2 ? days[n / 2]
                                     : (days[n / 2 - 1] + days[n / 2]) / 2))));
    free(days);
    return 0;
}


/* Open deals expected to close in the current month. */
static int
closing_this_month(sales_ctx_t *ctx, sales_buf_t *owner, json_t *binds,
    json_t *report)
{
    sqlite3_stmt  *st;
    json_t        *month, *totals, *items, *e;
    char           first[11], next[11];
    int            rc, n = 0;

    sales_month_range(ctx, "this_month", first, next);
    month = json_pack("[s, s]", first, next);

    st = report_query(ctx, "t.currency, count(*), sum(t.value_minor)", owner,
                      binds, "t.is_open = 1 AND t.expected_close >= ?"
                      " AND t.expected_close < ? GROUP BY t.currency"
                      " ORDER BY t.currency", month);
    if (st == NULL) {
        json_decref(month);
        return -1;
    }

    totals = json_array();

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_array_append_new(totals, json_pack(
            "{s:s, s:I, s:I}",
            "currency", (const char *) sqlite3_column_text(st, 0),
            "count", (json_int_t) sqlite3_column_int64(st, 1),
            "value_minor", (json_int_t) sqlite3_column_int64(st, 2)));
    }

    sales_finish(st);

    if (rc != SQLITE_DONE) {
        json_decref(month);
        json_decref(totals);
        return sales_db_error(ctx, "computing deals closing this month");
    }

    st = report_query(ctx, "t.id, t.title, t.client_id, t.stage,"
                      " t.value_minor, t.currency, t.expected_close,"
                      " t.probability", owner, binds,
                      "t.is_open = 1 AND t.expected_close >= ?"
                      " AND t.expected_close < ?"
                      " ORDER BY t.expected_close, t.id LIMIT 201", month);
    json_decref(month);

    if (st == NULL) {
        json_decref(totals);
        return -1;
    }

    items = json_array();

    while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < MAX_CLOSING_ITEMS) {
        json_array_append_new(items, json_pack(
            "{s:I, s:s, s:I, s:s, s:I, s:s, s:s, s:I}",
            "id", (json_int_t) sqlite3_column_int64(st, 0),
            "title", (const char *) sqlite3_column_text(st, 1),
            "client_id", (json_int_t) sqlite3_column_int64(st, 2),
            "stage", (const char *) sqlite3_column_text(st, 3),
            "value_minor", (json_int_t) sqlite3_column_int64(st, 4),
            "currency", (const char *) sqlite3_column_text(st, 5),
            "expected_close", (const char *) sqlite3_column_text(st, 6),
            "probability", (json_int_t) sqlite3_column_int64(st, 7)));
        n++;
    }

    sales_finish(st);

    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        json_decref(totals);
        json_decref(items);
        return sales_db_error(ctx, "listing deals closing this month");
    }

    e = json_pack("{s:o, s:o, s:b}", "totals", totals, "items", items,
                  "truncated", rc == SQLITE_ROW);
    json_object_set_new(report, "closing_this_month", e);
    return 0;
}


int
sales_report_pipeline(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    sales_buf_t   owner = {0};
    const char   *label;
    json_t       *binds = json_array(), *report = NULL, *pipe = NULL;
    char          from[11], to[11];
    int64_t       from_ms = 0, to_ms = 0;
    int           rc = -1;

    if (report_owner(ctx, &owner, binds, &label) != 0
        || parse_period(ctx, from, to, &from_ms, &to_ms) != 0)
    {
        goto done;
    }

    report = json_pack("{s:s, s:s, s:s}", "owner", label, "from", from,
                       "to", to);

    if (pipeline(ctx, &owner, binds, &pipe) != 0) {
        goto done;
    }

    json_object_set_new(report, "pipeline", pipe);

    if (closed_in_period(ctx, &owner, binds, from_ms, to_ms, report) != 0
        || closing_this_month(ctx, &owner, binds, report) != 0
        || sales_commission_this_month(ctx, owner.data, binds, report) != 0)
    {
        goto done;
    }

    *out = report;
    report = NULL;
    rc = 200;

done:

    json_decref(report);
    json_decref(binds);
    sales_buf_free(&owner);
    return rc;
}
