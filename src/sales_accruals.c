/*
 * The commission ledger. Every issued invoice (basis issued) or received
 * payment (basis paid) accrues commission for the invoice's owner, and a
 * credit note takes back its share of what its invoice accrued, as rows
 * written in the transaction that records the event. Rows are only ever
 * added, and each carries its explanation: the policy, the band or the
 * side of the quota, the rate, the base, the amount and the event.
 *
 * The period's cumulative base (the sum of counted_minor of a person's
 * rows in the period) places a new event's base among the bands or
 * against the quota; it counts every sale of the period, whichever policy
 * it accrued under, so a change of policy mid-period does not restart the
 * quota. Amounts are rounded once per row, half away from zero.
 */

#include "sales_resource.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#define MAX_HOPS  1200      /* later periods looked at for an open one */


typedef struct {
    int64_t      id;
    int64_t      assignment_id;
    char         name[201];
    char         type[12];
    char         basis[8];
    char         base[8];
    char         period[8];
    char         mode[10];
    char         currency[4];
    int64_t      rate_bp;
    int64_t      quota;
    int64_t      multiplier;
    json_t      *bands;         /* [{from_minor, rate_bp}] or NULL */
} policy_t;

/* Where a row counts: the team (its manager; 0 for none), the period its
 * event belongs to, the open period it lands in, the calendar month. */
typedef struct {
    int64_t      team;
    char         earned[SALES_PERIOD_LEN];
    char         period[SALES_PERIOD_LEN];
    char         month[SALES_PERIOD_LEN];
    char         note[200];
} place_t;

/* An event's base in the policy's currency. */
typedef struct {
    int64_t      user_id;
    const char  *date;
    const char  *source_type;
    int64_t      source_id;
    int64_t      invoice_id;
    int64_t      base;
    char         what[320];     /* "net of invoice INV-2026-000001 ..." */
    char         refused[200];  /* why nothing accrues, or "" */
} event_t;

/* What every row of one event shares. */
typedef struct {
    int64_t          user_id;
    int64_t          policy_id;
    int64_t          assignment_id;
    const place_t   *place;
    const char      *date;
    const char      *source_type;
    int64_t          source_id;
    int64_t          invoice_id;
    const char      *currency;
} origin_t;

typedef struct {
    const char  *kind;
    int64_t      base;
    int64_t      counted;
    int64_t      rate_bp;
    int64_t      amount;
    int64_t      band;          /* 1-based; 0 for none */
    int64_t      reverses_id;
    json_t      *explain;       /* taken by row_write */
} row_t;


/* --- period keys --------------------------------------------------------- */

/* "2026-12" or "2026-Q4". */
int
sales_period_valid(const char *key)
{
    int  k, y;

    if (key == NULL || strlen(key) != 7 || key[4] != '-') {
        return 0;
    }

    for (k = 0; k < 4; k++) {
        if (key[k] < '0' || key[k] > '9') {
            return 0;
        }
    }

    y = atoi(key);
    if (y < 1970) {
        return 0;
    }

    if (key[5] == 'Q') {
        return key[6] >= '1' && key[6] <= '4';
    }

    return key[5] >= '0' && key[5] <= '1' && key[6] >= '0' && key[6] <= '9'
           && atoi(key + 5) >= 1 && atoi(key + 5) <= 12;
}


void
sales_period_of(const char *date, const char *kind, char *key)
{
    unsigned  q = ((unsigned) atoi(date + 5) + 2) / 3;

    if (strcmp(kind, "quarter") == 0) {
        snprintf(key, SALES_PERIOD_LEN, "%.4s-Q%u", date, q % 10u);
    } else {
        snprintf(key, SALES_PERIOD_LEN, "%.7s", date);
    }
}


void
sales_period_after(const char *key, char *next)
{
    unsigned  y = (unsigned) atoi(key), n;

    if (key[5] == 'Q') {
        n = (unsigned) (key[6] - '0');
        snprintf(next, SALES_PERIOD_LEN, "%04u-Q%u", (n == 4 ? y + 1 : y)
                 % 10000u, (n == 4 ? 1 : n + 1) % 10u);
        return;
    }

    n = (unsigned) atoi(key + 5);
    snprintf(next, SALES_PERIOD_LEN, "%04u-%02u", (n == 12 ? y + 1 : y)
             % 10000u, (n == 12 ? 1 : n + 1) % 100u);
}


void
sales_period_first_month(const char *key, char *month)
{
    if (key[5] == 'Q') {
        snprintf(month, SALES_PERIOD_LEN, "%.4s-%02u", key,
                 ((unsigned) (key[6] - '1') * 3 + 1) % 100u);
    } else {
        snprintf(month, SALES_PERIOD_LEN, "%s", key);
    }
}


/* The first day after the period. */
void
sales_period_end(const char *key, char *next_day)
{
    char  next[SALES_PERIOD_LEN], month[SALES_PERIOD_LEN];

    sales_period_after(key, next);
    sales_period_first_month(next, month);
    snprintf(next_day, 11, "%s-01", month);
}


int
sales_period_open(sales_ctx_t *ctx, int64_t team, const char *key,
    char *open)
{
    json_t   *binds;
    int64_t   n;
    int       hops;

    if (open != key) {
        snprintf(open, SALES_PERIOD_LEN, "%s", key);
    }

    for (hops = 0; hops < MAX_HOPS; hops++) {
        binds = json_pack("[I, s]", (json_int_t) team, open);
        n = sales_count(ctx, "SELECT count(*) FROM commission_periods"
                             " WHERE ifnull(manager_id, 0) = ?"
                             " AND period = ?", binds);
        json_decref(binds);

        if (n <= 0) {
            return n == 0 ? 0 : -1;
        }

        sales_period_after(open, open);
    }

    return sales_fail(ctx, 500, "internal", "no open commission period");
}


/* --- texts --------------------------------------------------------------- */

/* "-1234.56"; out >= 32. */
static const char *
money(int64_t minor, char *out)
{
    uint64_t  a = minor < 0 ? (uint64_t) 0 - (uint64_t) minor
                            : (uint64_t) minor;

    snprintf(out, 32, "%s%llu.%02llu", minor < 0 ? "-" : "",
             (unsigned long long) (a / 100), (unsigned long long) (a % 100));
    return out;
}


/* "7.50%"; out >= 32. */
static const char *
percent(int64_t bp, char *out)
{
    snprintf(out, 32, "%lld.%02lld%%", (long long) (bp / 100),
             (long long) (bp % 100));
    return out;
}


/* "1.5"; out >= 32. */
static const char *
times(int64_t bp, char *out)
{
    size_t  n;

    snprintf(out, 32, "%lld.%04lld", (long long) (bp / 10000),
             (long long) (bp % 10000));
    n = strlen(out);

    while (out[n - 1] == '0') {
        out[--n] = '\0';
    }

    if (out[n - 1] == '.') {
        out[n - 1] = '\0';
    }

    return out;
}


/* --- reading ------------------------------------------------------------- */

#define POLICY_COLUMNS                                                        \
    "p.id, p.name, p.type, p.basis, p.base, p.period, ifnull(p.mode, ''),"   \
    " p.currency, ifnull(p.rate_bp, 0), ifnull(p.quota_minor, 0),"           \
    " ifnull(p.multiplier_bp, 10000), p.bands"


/* A policy from a statement that selects POLICY_COLUMNS, and then the
 * assignment's id: 1 found, 0 none, -1 error. */
static int
policy_read(sales_ctx_t *ctx, sqlite3_stmt *st, policy_t *p)
{
    int  rc = sqlite3_step(st);

    if (rc == SQLITE_ROW) {
        p->id = sqlite3_column_int64(st, 0);
        snprintf(p->name, sizeof(p->name), "%s", sqlite3_column_text(st, 1));
        snprintf(p->type, sizeof(p->type), "%s", sqlite3_column_text(st, 2));
        snprintf(p->basis, sizeof(p->basis), "%s",
                 sqlite3_column_text(st, 3));
        snprintf(p->base, sizeof(p->base), "%s", sqlite3_column_text(st, 4));
        snprintf(p->period, sizeof(p->period), "%s",
                 sqlite3_column_text(st, 5));
        snprintf(p->mode, sizeof(p->mode), "%s", sqlite3_column_text(st, 6));
        snprintf(p->currency, sizeof(p->currency), "%s",
                 sqlite3_column_text(st, 7));
        p->rate_bp = sqlite3_column_int64(st, 8);
        p->quota = sqlite3_column_int64(st, 9);
        p->multiplier = sqlite3_column_int64(st, 10);

        if (sqlite3_column_type(st, 11) != SQLITE_NULL) {
            p->bands = json_loads((const char *) sqlite3_column_text(st, 11),
                                  0, NULL);
        }

        p->assignment_id = sqlite3_column_int64(st, 12);
    }

    sales_finish(st);

    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        return sales_db_error(ctx, "reading a commission policy");
    }

    if (rc == SQLITE_ROW && strcmp(p->type, "tiered") == 0
        && json_array_size(p->bands) == 0)
    {
        json_decref(p->bands);
        p->bands = NULL;
        return sales_fail(ctx, 500, "internal", "a tiered policy without "
                          "bands");
    }

    return rc == SQLITE_ROW;
}


/* The policy in force for a person on a date, through their assignment:
 * 1 found, 0 none, -1 error. */
static int
policy_in_force(sales_ctx_t *ctx, int64_t user_id, const char *date,
    policy_t *p)
{
    sqlite3_stmt  *st;

    memset(p, 0, sizeof(*p));

    st = sales_prepare(ctx,
        "SELECT " POLICY_COLUMNS ", a.id"
        " FROM commission_assignments a"
        " JOIN commission_policies p ON p.id = a.policy_id"
        " WHERE a.user_id = ?1 AND a.effective_from <= ?2"
        " AND (a.effective_to IS NULL OR a.effective_to >= ?2)"
        " AND p.effective_from <= ?2"
        " AND (p.effective_to IS NULL OR p.effective_to >= ?2)"
        " ORDER BY a.effective_from DESC LIMIT 1");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, user_id);
    sqlite3_bind_text(st, 2, date, -1, SQLITE_TRANSIENT);

    return policy_read(ctx, st, p);
}


/* A policy by its id, with the assignment a row of it names. */
static int
policy_by_id(sales_ctx_t *ctx, int64_t id, int64_t assignment_id,
    policy_t *p)
{
    sqlite3_stmt  *st;

    memset(p, 0, sizeof(*p));

    st = sales_prepare(ctx, "SELECT " POLICY_COLUMNS ", ?2"
                            " FROM commission_policies p WHERE p.id = ?1");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, assignment_id);

    return policy_read(ctx, st, p);
}


/* A person's counted base in a period: the sum of counted_minor of their
 * rows there, which places a new event among the bands or against the
 * quota, whichever policy the rows accrued under. */
static int
period_counted(sales_ctx_t *ctx, int64_t user_id, const char *period,
    int64_t *counted)
{
    sqlite3_stmt  *st;
    int            rc;

    *counted = 0;

    st = sales_prepare(ctx, "SELECT ifnull(sum(counted_minor), 0)"
                            " FROM commission_accruals"
                            " WHERE user_id = ? AND period = ?");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, user_id);
    sqlite3_bind_text(st, 2, period, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st);

    if (rc == SQLITE_ROW) {
        *counted = sqlite3_column_int64(st, 0);
    }

    sales_finish(st);
    return rc == SQLITE_ROW ? 0 : sales_db_error(ctx, "reading accruals");
}


/* The person's team now, the period of the date, and the open period
 * the rows land in: a period the team has closed takes nothing more, so
 * a late event counts in the next open one, and says so. */
static int
place_of(sales_ctx_t *ctx, int64_t user_id, const char *date,
    const char *kind, place_t *pl)
{
    json_t   *binds;
    int64_t   team;

    memset(pl, 0, sizeof(*pl));

    binds = json_pack("[I]", (json_int_t) user_id);
    team = sales_count(ctx, "SELECT ifnull(manager_id, 0) FROM users"
                            " WHERE id = ?", binds);
    json_decref(binds);

    if (team < 0) {
        return -1;
    }

    pl->team = team;
    sales_period_of(date, kind, pl->earned);

    if (sales_period_open(ctx, team, pl->earned, pl->period) != 0) {
        return -1;
    }

    if (strcmp(pl->earned, pl->period) == 0) {
        snprintf(pl->month, sizeof(pl->month), "%.7s", date);
        return 0;
    }

    sales_period_first_month(pl->period, pl->month);
    snprintf(pl->note, sizeof(pl->note), "dated %s, in %s, which is closed "
             "for the team: counted in %s, the next open period", date,
             pl->earned, pl->period);
    return 0;
}


/* --- writing rows -------------------------------------------------------- */

static int
row_write(sales_ctx_t *ctx, const origin_t *o, row_t *r)
{
    sqlite3_stmt  *st;
    const place_t *pl = o->place;
    char          *text;

    json_object_set_new(r->explain, "period", json_string(pl->period));
    if (pl->note[0]) {
        json_object_set_new(r->explain, "moved_from",
                            json_string(pl->earned));
    }

    text = json_dumps(r->explain, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(r->explain);
    r->explain = NULL;

    if (text == NULL) {
        return sales_fail(ctx, 500, "internal", "out of memory");
    }

    st = sales_prepare(ctx,
        "INSERT INTO commission_accruals (user_id, team_manager_id,"
        " policy_id, assignment_id, period, earned_period, month,"
        " event_date, kind, source_type, source_id, invoice_id, base_minor,"
        " counted_minor, rate_bp, amount_minor, currency, band, reverses_id,"
        " note, explanation, created_at, updated_at)"
        " VALUES (?, nullif(?, 0), nullif(?, 0), nullif(?, 0), ?, ?, ?, ?,"
        " ?, ?, ?, nullif(?, 0), ?, ?, ?, ?, ?, nullif(?, 0), nullif(?, 0),"
        " nullif(?, ''), ?, ?, ?)");
    if (st == NULL) {
        free(text);
        return -1;
    }

    sqlite3_bind_int64(st, 1, o->user_id);
    sqlite3_bind_int64(st, 2, pl->team);
    sqlite3_bind_int64(st, 3, o->policy_id);
    sqlite3_bind_int64(st, 4, o->assignment_id);
    sqlite3_bind_text(st, 5, pl->period, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 6, pl->earned, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 7, pl->month, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 8, o->date, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 9, r->kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 10, o->source_type, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 11, o->source_id);
    sqlite3_bind_int64(st, 12, o->invoice_id);
    sqlite3_bind_int64(st, 13, r->base);
    sqlite3_bind_int64(st, 14, r->counted);
    sqlite3_bind_int64(st, 15, r->rate_bp);
    sqlite3_bind_int64(st, 16, r->amount);
    sqlite3_bind_text(st, 17, o->currency, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 18, r->band);
    sqlite3_bind_int64(st, 19, r->reverses_id);
    sqlite3_bind_text(st, 20, pl->note, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 21, text, -1, free);
    sqlite3_bind_int64(st, 22, ctx->now_ms);
    sqlite3_bind_int64(st, 23, ctx->now_ms);

    return sales_step_done(ctx, st);
}


/* The explanation's common part: its sentence, the policy, the event. */
static json_t *
explain(const policy_t *p, const event_t *ev, const char *text)
{
    json_t  *e, *pol;

    pol = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s}", "id",
                    (json_int_t) p->id, "name", p->name, "type", p->type,
                    "basis", p->basis, "base", p->base, "period", p->period);

    if (p->mode[0]) {
        json_object_set_new(pol, "mode", json_string(p->mode));
    }

    e = json_pack("{s:s, s:o, s:{s:s, s:I, s:I, s:s, s:I, s:s}}",
                  "text", text, "policy", pol, "event",
                  "type", ev->source_type,
                  "id", (json_int_t) ev->source_id,
                  "invoice_id", (json_int_t) ev->invoice_id,
                  "date", ev->date, "base_minor", (json_int_t) ev->base,
                  "what", ev->what);
    return e;
}


/* A row of one rate on a part of the event's base, the period's
 * cumulative base going from before to before + part. */
static int
rate_row(sales_ctx_t *ctx, const origin_t *o, const policy_t *p,
    const event_t *ev, const char *text, int64_t part, int64_t rate,
    int64_t band, int64_t before, json_t *extra)
{
    row_t  r;

    r.kind = "accrual";
    r.base = part;
    r.counted = part;
    r.rate_bp = rate;
    r.amount = sales_muldiv(part, rate, 10000);
    r.band = band;
    r.reverses_id = 0;
    r.explain = explain(p, ev, text);

    json_object_set_new(r.explain, "rate_bp", json_integer(rate));
    json_object_set_new(r.explain, "base_minor", json_integer(part));
    json_object_set_new(r.explain, "amount_minor", json_integer(r.amount));
    json_object_set_new(r.explain, "cumulative_before_minor",
                        json_integer(before));
    json_object_set_new(r.explain, "cumulative_after_minor",
                        json_integer(before + part));

    if (extra) {
        json_object_update(r.explain, extra);
        json_decref(extra);
    }

    return row_write(ctx, o, &r);
}


/* --- the types ----------------------------------------------------------- */

static int64_t
band_from(const policy_t *p, size_t i)
{
    return sales_jint(json_array_get(p->bands, i), "from_minor");
}


static int64_t
band_rate(const policy_t *p, size_t i)
{
    return sales_jint(json_array_get(p->bands, i), "rate_bp");
}


/* The band a cumulative base is in; below 0 (after clawbacks) is the
 * first. */
static size_t
band_of(const policy_t *p, int64_t x)
{
    size_t  i, n = json_array_size(p->bands);

    for (i = n; i > 1; i--) {
        if (x >= band_from(p, i - 1)) {
            return i - 1;
        }
    }

    return 0;
}


static json_t *
band_json(const policy_t *p, size_t i)
{
    size_t  n = json_array_size(p->bands);

    return json_pack("{s:{s:I, s:I, s:o, s:I}}", "band",
                     "number", (json_int_t) i + 1,
                     "from_minor", (json_int_t) band_from(p, i),
                     "to_minor", i + 1 < n ? json_integer(band_from(p, i + 1))
                                           : json_null(),
                     "rate_bp", (json_int_t) band_rate(p, i));
}


/* "band 2 of 3 (from 50000.00 to 80000.00 RON)". */
static void
band_text(const policy_t *p, size_t i, char *out, size_t size)
{
    size_t  n = json_array_size(p->bands);
    char    a[32], b[32];

    if (i + 1 < n) {
        snprintf(out, size, "band %zu of %zu (from %s to %s %s)", i + 1, n,
                 money(band_from(p, i), a), money(band_from(p, i + 1), b),
                 p->currency);
    } else {
        snprintf(out, size, "band %zu of %zu (from %s %s up)", i + 1, n,
                 money(band_from(p, i), a), p->currency);
    }
}


static int
accrue_fixed(sales_ctx_t *ctx, const origin_t *o, const policy_t *p,
    const event_t *ev, int64_t c)
{
    char  text[512], r[32], b[32], a[32];

    snprintf(text, sizeof(text), "fixed: %s of %s %s (%s) = %s %s",
             percent(p->rate_bp, r), money(ev->base, b), p->currency,
             ev->what, money(sales_muldiv(ev->base, p->rate_bp, 10000), a),
             p->currency);

    return rate_row(ctx, o, p, ev, text, ev->base, p->rate_bp, 0, c, NULL);
}


/* Marginal: each band's rate on the part of the event's base inside it,
 * placed after the period's cumulative base; one row per part. A
 * negative base (a final invoice whose advances exceed its net) takes the
 * cumulative base down from where it is, band by band from the top, in
 * rows of its own sign. */
static int
accrue_marginal(sales_ctx_t *ctx, const origin_t *o, const policy_t *p,
    const event_t *ev, int64_t c)
{
    size_t   i, k, n = json_array_size(p->bands);
    int64_t  lo, hi, start, end, from, to, part, rate;
    int      down = ev->base < 0;
    char     text[1024], bt[160], r[32], pa[32], s[32], e[32], a[32];

    lo = down ? c + ev->base : c;
    hi = down ? c : c + ev->base;

    for (k = 0; k < n; k++) {
        i = down ? n - 1 - k : k;
        start = i == 0 ? lo : (lo > band_from(p, i) ? lo : band_from(p, i));
        end = hi;

        if (i + 1 < n && end > band_from(p, i + 1)) {
            end = band_from(p, i + 1);
        }

        part = end - start;
        if (part <= 0) {
            continue;
        }

        from = down ? end : start;
        to = down ? start : end;
        part = to - from;

        rate = band_rate(p, i);
        band_text(p, i, bt, sizeof(bt));
        snprintf(text, sizeof(text), "tiered, marginal: %s at %s on the "
                 "%s %s of %s that falls in it (the period's base from %s "
                 "to %s) = %s %s", bt, percent(rate, r), money(part, pa),
                 p->currency, ev->what, money(from, s), money(to, e),
                 money(sales_muldiv(part, rate, 10000), a), p->currency);

        if (rate_row(ctx, o, p, ev, text, part, rate, (int64_t) i + 1, from,
                     band_json(p, i)) != 0)
        {
            return -1;
        }
    }

    return 0;
}


/* The invoices a person's period counts under a policy, oldest first:
 * [{invoice_id, number, base, accrued}], each with its counted base in
 * the period and what its rows of the period accrued. A clawback that
 * landed here of a row of another period is left out: it takes back
 * what that period paid and is no part of this one's slab. */
static int
slab_invoices(sales_ctx_t *ctx, int64_t user_id, const char *period,
    int64_t policy_id, json_t **out)
{
    sqlite3_stmt  *st;
    json_t        *list = json_array();
    int            rc;

    st = sales_prepare(ctx,
        "SELECT r.invoice_id, i.number, sum(r.counted_minor),"
        " sum(r.amount_minor)"
        " FROM commission_accruals r JOIN invoices i ON i.id = r.invoice_id"
        " WHERE r.user_id = ?1 AND r.period = ?2 AND r.policy_id = ?3"
        " AND (r.kind != 'clawback' OR (SELECT c.period"
        "  FROM commission_accruals c WHERE c.id = r.reverses_id)"
        "  = r.period)"
        " GROUP BY r.invoice_id ORDER BY min(r.id)");
    if (st == NULL) {
        json_decref(list);
        return -1;
    }

    sqlite3_bind_int64(st, 1, user_id);
    sqlite3_bind_text(st, 2, period, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, policy_id);

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_array_append_new(list, json_pack("{s:I, s:s, s:I, s:I}",
            "invoice_id", (json_int_t) sqlite3_column_int64(st, 0),
            "number", (const char *) sqlite3_column_text(st, 1),
            "base", (json_int_t) sqlite3_column_int64(st, 2),
            "accrued", (json_int_t) sqlite3_column_int64(st, 3)));
    }

    sales_finish(st);

    if (rc != SQLITE_DONE) {
        json_decref(list);
        return sales_db_error(ctx, "reading accruals");
    }

    *out = list;
    return 0;
}


/*
 * Slab, when the period's band changes (up with a sale, down with a
 * credit note or a negative invoice): every invoice the period counts
 * under the policy gets a true-up row of its own, its counted base x the
 * new rate less what its rows of the period accrued, so each invoice's
 * rows add up to its base at the period's rate and a credit note of it
 * takes back exactly its share.
 */
static int
slab_true_up(sales_ctx_t *ctx, const origin_t *o, const policy_t *p,
    const event_t *ev, size_t from, size_t to)
{
    json_t    *list, *it, *band;
    origin_t   io = *o;
    row_t      r;
    int64_t    rate = band_rate(p, to), base, accrued, target;
    size_t     i;
    char       text[1024], bt[160], rt[32], b[32], x[32], a[32], t[32];
    int        rc = 0;

    if (slab_invoices(ctx, o->user_id, o->place->period, p->id, &list) != 0)
    {
        return -1;
    }

    band_text(p, to, bt, sizeof(bt));

    json_array_foreach(list, i, it) {
        base = sales_jint(it, "base");
        accrued = sales_jint(it, "accrued");
        target = sales_muldiv(base, rate, 10000);

        if (target == accrued) {
            continue;
        }

        snprintf(text, sizeof(text), "tiered, slab true-up: %s now sets %s "
                 "for the %s %s of invoice %s counted in %s under this "
                 "policy: %s %s less the %s %s accrued on it = %s %s", bt,
                 percent(rate, rt), money(base, b), p->currency,
                 sales_jstr(it, "number"), o->place->period,
                 money(target, x), p->currency, money(accrued, a),
                 p->currency, money(target - accrued, t), p->currency);

        r.kind = "true_up";
        r.base = base;
        r.counted = 0;
        r.rate_bp = rate;
        r.amount = target - accrued;
        r.band = (int64_t) to + 1;
        r.reverses_id = 0;
        r.explain = explain(p, ev, text);
        band = band_json(p, to);
        json_object_update(r.explain, band);
        json_decref(band);
        json_object_set_new(r.explain, "true_up", json_pack(
            "{s:I, s:I, s:I, s:I, s:I}",
            "invoice_id", (json_int_t) sales_jint(it, "invoice_id"),
            "base_minor", (json_int_t) base,
            "at_new_rate_minor", (json_int_t) target,
            "accrued_minor", (json_int_t) accrued,
            "band_before", (json_int_t) from + 1));

        io.invoice_id = sales_jint(it, "invoice_id");

        rc = row_write(ctx, &io, &r);
        if (rc != 0) {
            break;
        }
    }

    json_decref(list);
    return rc;
}


/*
 * Slab: the band the period's base reaches sets the rate of the whole
 * period. The event accrues at that rate; when it moves the period into
 * another band, every invoice of the period is trued up to it.
 */
static int
accrue_slab(sales_ctx_t *ctx, const origin_t *o, const policy_t *p,
    const event_t *ev, int64_t c)
{
    size_t   from = band_of(p, c), to = band_of(p, c + ev->base);
    int64_t  rate = band_rate(p, to);
    char     text[1024], bt[160], rt[32], b[32], x[32], a[32];

    band_text(p, to, bt, sizeof(bt));
    snprintf(text, sizeof(text), "tiered, slab: the period's base %s %s %s, "
             "%s at %s, the rate of the whole period: %s of %s %s (%s) = "
             "%s %s", ev->base < 0 ? "falls to" : "reaches",
             money(c + ev->base, x), p->currency, bt, percent(rate, rt), rt,
             money(ev->base, b), p->currency, ev->what,
             money(sales_muldiv(ev->base, rate, 10000), a), p->currency);

    if (rate_row(ctx, o, p, ev, text, ev->base, rate, (int64_t) to + 1, c,
                 band_json(p, to)) != 0)
    {
        return -1;
    }

    return from == to ? 0 : slab_true_up(ctx, o, p, ev, from, to);
}


/* A part of an event on one side of the quota, the period's base going
 * from before to before + part. */
static int
accelerator_row(sales_ctx_t *ctx, const origin_t *o, const policy_t *p,
    const event_t *ev, int above, int64_t part, int64_t before)
{
    int64_t  fast = p->rate_bp * p->multiplier / 10000;
    int64_t  rate = above ? fast : p->rate_bp;
    char     text[1024], q[32], r[32], f[32], m[32], b[32], s[32], e[32];
    char     a[32], how[160];

    if (above) {
        snprintf(how, sizeof(how), "above the quota of %s %s: %s x %s = %s",
                 money(p->quota, q), p->currency, percent(p->rate_bp, r),
                 times(p->multiplier, m), percent(fast, f));
    } else {
        snprintf(how, sizeof(how), "up to the quota of %s %s: %s",
                 money(p->quota, q), p->currency, percent(p->rate_bp, r));
    }

    snprintf(text, sizeof(text), "accelerator, %s on %s %s of %s (the "
             "period's base from %s to %s) = %s %s", how, money(part, b),
             p->currency, ev->what, money(before, s),
             money(before + part, e),
             money(sales_muldiv(part, rate, 10000), a), p->currency);

    return rate_row(ctx, o, p, ev, text, part, rate, 0, before, above
                    ? json_pack("{s:s, s:I, s:I}", "quota", "above",
                                "quota_minor", (json_int_t) p->quota,
                                "multiplier_bp", (json_int_t) p->multiplier)
                    : json_pack("{s:s, s:I}", "quota", "up_to",
                                "quota_minor", (json_int_t) p->quota));
}


/* Accelerator: rate_bp up to the quota, rate_bp x multiplier above it;
 * an event that crosses the quota is split at the boundary. A negative
 * base takes the cumulative base down, above the quota first. */
static int
accrue_accelerator(sales_ctx_t *ctx, const origin_t *o, const policy_t *p,
    const event_t *ev, int64_t c)
{
    int64_t  lo, hi, below, above;

    lo = ev->base < 0 ? c + ev->base : c;
    hi = ev->base < 0 ? c : c + ev->base;
    below = (hi < p->quota ? hi : p->quota) - lo;
    above = hi - (lo > p->quota ? lo : p->quota);
    below = below > 0 ? below : 0;
    above = above > 0 ? above : 0;

    if (ev->base >= 0) {
        return (below == 0 || accelerator_row(ctx, o, p, ev, 0, below, c) == 0)
               && (above == 0
                   || accelerator_row(ctx, o, p, ev, 1, above, c + below)
                      == 0)
               ? 0 : -1;
    }

    return (above == 0 || accelerator_row(ctx, o, p, ev, 1, -above, c) == 0)
           && (below == 0
               || accelerator_row(ctx, o, p, ev, 0, -below, c - above) == 0)
           ? 0 : -1;
}


static int
accrue(sales_ctx_t *ctx, const policy_t *p, const event_t *ev)
{
    place_t   pl;
    origin_t  o;
    int64_t   c;

    if (place_of(ctx, ev->user_id, ev->date, p->period, &pl) != 0
        || period_counted(ctx, ev->user_id, pl.period, &c) != 0)
    {
        return -1;
    }

    o.user_id = ev->user_id;
    o.policy_id = p->id;
    o.assignment_id = p->assignment_id;
    o.place = &pl;
    o.date = ev->date;
    o.source_type = ev->source_type;
    o.source_id = ev->source_id;
    o.invoice_id = ev->invoice_id;
    o.currency = p->currency;

    if (ev->refused[0]) {
        row_t  r = { "accrual", 0, 0, 0, 0, 0, 0, NULL };

        r.explain = explain(p, ev, ev->refused);
        return row_write(ctx, &o, &r);
    }

    switch (p->type[0]) {

    case 'f':
        return accrue_fixed(ctx, &o, p, ev, c);

    case 't':
        return strcmp(p->mode, "marginal") == 0
               ? accrue_marginal(ctx, &o, p, ev, c)
               : accrue_slab(ctx, &o, p, ev, c);

    default:
        return accrue_accelerator(ctx, &o, p, ev, c);
    }
}


/* The base of an invoice's amount in the policy's currency: the same
 * currency as it is, RON at the invoice's exchange rate, and no other. */
static void
convert(const policy_t *p, json_t *inv, int64_t amount, event_t *ev)
{
    const char  *cur = sales_jstr(inv, "currency");
    const char  *rate = sales_jstr(inv, "exchange_rate");
    size_t       n = strlen(ev->what);

    ev->base = amount;

    if (strcmp(cur, p->currency) == 0) {
        return;
    }

    if (strcmp(p->currency, "RON") == 0 && rate) {
        char  a[32];

        ev->base = sales_ron_of(amount, rate);
        snprintf(ev->what + n, sizeof(ev->what) - n, ", %s %s at %s RON "
                 "per %s", money(amount, a), cur, rate, cur);
        return;
    }

    ev->base = 0;
    snprintf(ev->refused, sizeof(ev->refused), "nothing accrues: the "
             "invoice is in %s and the policy pays in %s, with no rate "
             "between them", cur, p->currency);
}


/* --- the events ---------------------------------------------------------- */

/* An issued invoice or advance accrues under an issued-basis policy in
 * force on its issue date. */
int
sales_commission_issued(sales_ctx_t *ctx, json_t *inv)
{
    policy_t     p;
    event_t      ev;
    const char  *date = sales_jstr(inv, "issue_date");
    int64_t      base;
    int          rc;

    if (strcmp(sales_jstr(inv, "kind"), "credit_note") == 0) {
        return 0;
    }

    rc = policy_in_force(ctx, sales_jint(inv, "owner_id"), date, &p);
    if (rc <= 0) {
        return rc;
    }

    base = strcmp(p.base, "gross") == 0 ? sales_jint(inv, "gross_minor")
                                         : sales_jint(inv, "net_minor");

    if (strcmp(p.basis, "issued") != 0 || base == 0) {
        json_decref(p.bands);
        return 0;
    }

    memset(&ev, 0, sizeof(ev));
    ev.user_id = sales_jint(inv, "owner_id");
    ev.date = date;
    ev.source_type = "invoice";
    ev.source_id = sales_jint(inv, "id");
    ev.invoice_id = ev.source_id;
    snprintf(ev.what, sizeof(ev.what), "the %s of %s %s issued %s", p.base,
             strcmp(sales_jstr(inv, "kind"), "advance") == 0
             ? "advance invoice" : "invoice", sales_jstr(inv, "number"),
             date);

    convert(&p, inv, base, &ev);
    rc = accrue(ctx, &p, &ev);
    json_decref(p.bands);
    return rc;
}


/* Does a payment accrue under the policy in force on its date? Under a
 * paid-basis one, yes; under an issued-basis one only when the invoice
 * was issued under a paid-basis policy, which accrued nothing then: 1
 * yes, 0 no, -1 error. */
static int
accrues_at_payment(sales_ctx_t *ctx, json_t *inv, const policy_t *p)
{
    policy_t  q;
    int       rc;

    if (strcmp(p->basis, "paid") == 0) {
        return 1;
    }

    rc = policy_in_force(ctx, sales_jint(inv, "owner_id"),
                         sales_jstr(inv, "issue_date"), &q);
    json_decref(q.bands);

    return rc <= 0 ? rc : strcmp(q.basis, "paid") == 0;
}


/*
 * A payment accrues under the policy in force on the day it was paid,
 * when that is on the paid basis or the invoice was issued under one:
 * its share of the invoice's base, net x paid so far / gross less what
 * the earlier payments took (rounded once), so the payments of a paid
 * invoice add up to its net exactly. An invoice that accrued when it was
 * issued accrues nothing more.
 */
int
sales_commission_paid(sales_ctx_t *ctx, json_t *inv, int64_t payment_id,
    int64_t amount)
{
    sqlite3_stmt  *st;
    policy_t       p;
    event_t        ev;
    json_t        *binds;
    int64_t        gross = sales_jint(inv, "gross_minor");
    int64_t        after = sales_jint(inv, "paid_minor"), base, issued;
    char           paid_on[11] = "", a[32], how[96] = "";
    int            rc;

    st = sales_prepare(ctx, "SELECT paid_on FROM payments WHERE id = ?");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, payment_id);
    if (sqlite3_step(st) == SQLITE_ROW) {
        snprintf(paid_on, sizeof(paid_on), "%s", sqlite3_column_text(st, 0));
    }
    sales_finish(st);

    if (paid_on[0] == '\0') {
        return sales_db_error(ctx, "reading a payment");
    }

    rc = policy_in_force(ctx, sales_jint(inv, "owner_id"), paid_on, &p);
    if (rc <= 0) {
        return rc;
    }

    binds = json_pack("[I]", (json_int_t) sales_jint(inv, "id"));
    issued = sales_count(ctx, "SELECT count(*) FROM commission_accruals"
                              " WHERE invoice_id = ?1 AND kind = 'accrual'"
                              " AND source_type = 'invoice'"
                              " AND source_id = ?1", binds);
    json_decref(binds);

    rc = issued == 0 && gross > 0 ? accrues_at_payment(ctx, inv, &p) : 0;

    if (rc <= 0 || issued != 0) {
        json_decref(p.bands);
        return issued < 0 || rc < 0 ? -1 : 0;
    }

    base = strcmp(p.base, "gross") == 0 ? amount
           : sales_muldiv(after, sales_jint(inv, "net_minor"), gross)
             - sales_muldiv(after - amount, sales_jint(inv, "net_minor"),
                            gross);

    if (base == 0) {
        json_decref(p.bands);
        return 0;
    }

    memset(&ev, 0, sizeof(ev));
    ev.user_id = sales_jint(inv, "owner_id");
    ev.date = paid_on;
    ev.source_type = "payment";
    ev.source_id = payment_id;
    ev.invoice_id = sales_jint(inv, "id");
    if (strcmp(p.basis, "paid") != 0) {
        snprintf(how, sizeof(how), ", issued %s under a paid-basis policy, "
                 "so it accrues at its payments",
                 sales_jstr(inv, "issue_date"));
    }

    snprintf(ev.what, sizeof(ev.what), "the %s share of payment %lld (%s %s "
             "on %s) of invoice %s%s", p.base, (long long) payment_id,
             money(amount, a), sales_jstr(inv, "currency"), paid_on,
             sales_jstr(inv, "number"), how);

    convert(&p, inv, base, &ev);
    rc = accrue(ctx, &p, &ev);
    json_decref(p.bands);
    return rc;
}


/* What the credit notes of an invoice gave back so far: net, gross and
 * the refunds owed to the client. */
static int
credited_so_far(sales_ctx_t *ctx, int64_t invoice_id, int64_t *net,
    int64_t *gross, int64_t *refund)
{
    sqlite3_stmt  *st;
    int            rc;

    st = sales_prepare(ctx, "SELECT -ifnull(sum(net_minor), 0),"
                            " -ifnull(sum(gross_minor), 0),"
                            " ifnull(sum(refund_minor), 0) FROM invoices"
                            " WHERE credit_of_id = ? AND kind = 'credit_note'"
                            " AND status != 'draft'");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, invoice_id);
    rc = sqlite3_step(st);

    if (rc == SQLITE_ROW) {
        *net = sqlite3_column_int64(st, 0);
        *gross = sqlite3_column_int64(st, 1);
        *refund = sqlite3_column_int64(st, 2);
    }

    sales_finish(st);
    return rc == SQLITE_ROW ? 0 : sales_db_error(ctx, "reading credit notes");
}


/* The rows an invoice accrued, each with what clawbacks took of it and
 * the basis it accrued on: issued when the invoice accrued at its issue,
 * paid when at its payments (whatever the basis of the policy then). */
static int
accrued_rows(sales_ctx_t *ctx, int64_t invoice_id, json_t **out)
{
    sqlite3_stmt  *st;
    json_t        *rows = json_array();
    int            rc;

    st = sales_prepare(ctx,
        "SELECT r.id, r.user_id, r.policy_id, ifnull(r.assignment_id, 0),"
        " r.period, r.base_minor, r.counted_minor, r.rate_bp,"
        " r.amount_minor, r.currency, ifnull(r.band, 0),"
        " CASE WHEN EXISTS (SELECT 1 FROM commission_accruals x"
        "  WHERE x.invoice_id = r.invoice_id AND x.kind = 'accrual'"
        "  AND x.source_type = 'invoice' AND x.source_id = r.invoice_id)"
        "  THEN 'issued' ELSE 'paid' END, p.base,"
        " p.period, p.name,"
        " (SELECT ifnull(sum(c.amount_minor), 0) FROM commission_accruals c"
        "  WHERE c.reverses_id = r.id),"
        " (SELECT ifnull(sum(c.base_minor), 0) FROM commission_accruals c"
        "  WHERE c.reverses_id = r.id),"
        " (SELECT ifnull(sum(c.counted_minor), 0) FROM commission_accruals c"
        "  WHERE c.reverses_id = r.id),"
        " p.type = 'tiered' AND ifnull(p.mode, '') = 'slab'"
        " FROM commission_accruals r"
        " JOIN commission_policies p ON p.id = r.policy_id"
        " WHERE r.invoice_id = ? AND r.kind IN ('accrual', 'true_up')"
        " ORDER BY r.id");
    if (st == NULL) {
        json_decref(rows);
        return -1;
    }

    sqlite3_bind_int64(st, 1, invoice_id);

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_array_append_new(rows, json_pack(
            "{s:I, s:I, s:I, s:I, s:s, s:I, s:I, s:I, s:I, s:s, s:I, s:s,"
            " s:s, s:s, s:s, s:I, s:I, s:I, s:b}",
            "id", (json_int_t) sqlite3_column_int64(st, 0),
            "user_id", (json_int_t) sqlite3_column_int64(st, 1),
            "policy_id", (json_int_t) sqlite3_column_int64(st, 2),
            "assignment_id", (json_int_t) sqlite3_column_int64(st, 3),
            "period", (const char *) sqlite3_column_text(st, 4),
            "base", (json_int_t) sqlite3_column_int64(st, 5),
            "counted", (json_int_t) sqlite3_column_int64(st, 6),
            "rate_bp", (json_int_t) sqlite3_column_int64(st, 7),
            "amount", (json_int_t) sqlite3_column_int64(st, 8),
            "currency", (const char *) sqlite3_column_text(st, 9),
            "band", (json_int_t) sqlite3_column_int64(st, 10),
            "basis", (const char *) sqlite3_column_text(st, 11),
            "base_kind", (const char *) sqlite3_column_text(st, 12),
            "period_kind", (const char *) sqlite3_column_text(st, 13),
            "policy_name", (const char *) sqlite3_column_text(st, 14),
            "taken", (json_int_t) sqlite3_column_int64(st, 15),
            "taken_base", (json_int_t) sqlite3_column_int64(st, 16),
            "taken_counted", (json_int_t) sqlite3_column_int64(st, 17),
            "slab", sqlite3_column_int(st, 18)));
    }

    sales_finish(st);

    if (rc != SQLITE_DONE) {
        json_decref(rows);
        return sales_db_error(ctx, "reading accruals");
    }

    *out = rows;
    return 0;
}


/* One row's clawback: its share of the row less what earlier clawbacks
 * took (so the clawbacks of an invoice credited whole add up to the row
 * exactly), into the open period of the credit note's date. */
static int
claw_row(sales_ctx_t *ctx, json_t *cn, json_t *orig, json_t *r,
    int64_t num, int64_t den, const char *why, int64_t *counted)
{
    place_t      pl;
    origin_t     o;
    row_t        w;
    const char  *date = sales_jstr(cn, "issue_date");
    char         text[1024], sh[32], rt[32], a[32], cur[4];

    *counted = 0;

    /* A negative invoice (its advances above its net) and what credits
     * it are of the other sign: the share is the same. */
    if (den < 0) {
        num = -num;
        den = -den;
    }

    if (den == 0) {
        return 0;
    }

    num = num < 0 ? 0 : num > den ? den : num;

    if (place_of(ctx, sales_jint(r, "user_id"), date,
                 sales_jstr(r, "period_kind"), &pl) != 0)
    {
        return -1;
    }

    w.kind = "clawback";
    w.amount = -(sales_muldiv(sales_jint(r, "amount"), num, den)
                 + sales_jint(r, "taken"));
    w.base = -(sales_muldiv(sales_jint(r, "base"), num, den)
               + sales_jint(r, "taken_base"));

    /* Only a clawback in the row's own period lowers that period's
     * cumulative base; a later period's sales are not set back by it. */
    w.counted = strcmp(pl.period, sales_jstr(r, "period")) != 0 ? 0
                : -(sales_muldiv(sales_jint(r, "counted"), num, den)
                    + sales_jint(r, "taken_counted"));
    w.rate_bp = sales_jint(r, "rate_bp");
    w.band = sales_jint(r, "band");
    w.reverses_id = sales_jint(r, "id");

    if (w.amount == 0 && w.base == 0) {
        return 0;
    }

    snprintf(cur, sizeof(cur), "%s", sales_jstr(r, "currency"));
    snprintf(text, sizeof(text), "clawback: credit note %s gives back %s of "
             "invoice %s (%s), so row %lld (%s of %s, in %s) is reversed by "
             "that share: %s %s", sales_jstr(cn, "number"),
             percent(sales_muldiv(num, 10000, den), sh),
             sales_jstr(orig, "number"), why, (long long) w.reverses_id,
             percent(w.rate_bp, rt), sales_jstr(r, "policy_name"),
             sales_jstr(r, "period"), money(w.amount, a), cur);

    w.explain = json_pack("{s:s, s:{s:I, s:s}, s:{s:s, s:I, s:I, s:s},"
                          " s:{s:I, s:s, s:I}, s:{s:I, s:I}, s:I, s:I,"
                          " s:I}",
        "text", text,
        "policy", "id", (json_int_t) sales_jint(r, "policy_id"),
        "name", sales_jstr(r, "policy_name"),
        "event", "type", "credit_note",
        "id", (json_int_t) sales_jint(cn, "id"),
        "invoice_id", (json_int_t) sales_jint(orig, "id"), "date", date,
        "reverses", "id", (json_int_t) w.reverses_id,
        "period", sales_jstr(r, "period"),
        "amount_minor", (json_int_t) sales_jint(r, "amount"),
        "share", "numerator_minor", (json_int_t) num,
        "denominator_minor", (json_int_t) den,
        "rate_bp", (json_int_t) w.rate_bp,
        "base_minor", (json_int_t) w.base,
        "amount_minor", (json_int_t) w.amount);

    o.user_id = sales_jint(r, "user_id");
    o.policy_id = sales_jint(r, "policy_id");
    o.assignment_id = sales_jint(r, "assignment_id");
    o.place = &pl;
    o.date = date;
    o.source_type = "credit_note";
    o.source_id = sales_jint(cn, "id");
    o.invoice_id = sales_jint(orig, "id");
    o.currency = cur;

    *counted = w.counted;
    return row_write(ctx, &o, &w);
}


/*
 * A credit note that lowered its period's base may move the period into
 * a lower band: each slab policy of the rows it reversed then trues up
 * the period's invoices to the band the base is in now. slabs: {"user
 * policy": {user_id, policy_id, assignment_id}}; lowered: {"user": what
 * the credit note took off the period's base}.
 */
static int
slab_credited(sales_ctx_t *ctx, json_t *cn, json_t *orig, json_t *slabs,
    json_t *lowered)
{
    policy_t     p;
    place_t      pl;
    origin_t     o;
    event_t      ev;
    json_t      *s;
    const char  *key, *date = sales_jstr(cn, "issue_date");
    int64_t      after = 0, before;
    size_t       from, to;
    char         user[24];
    int          rc = 0;

    json_object_foreach(slabs, key, s) {
        memset(&o, 0, sizeof(o));
        memset(&ev, 0, sizeof(ev));
        snprintf(user, sizeof(user), "%lld",
                 (long long) sales_jint(s, "user_id"));

        rc = policy_by_id(ctx, sales_jint(s, "policy_id"),
                          sales_jint(s, "assignment_id"), &p);
        if (rc <= 0) {
            rc = rc == 0 ? sales_fail(ctx, 500, "internal", "a row's "
                                      "commission policy is gone") : -1;
            break;
        }

        rc = place_of(ctx, sales_jint(s, "user_id"), date, p.period, &pl);
        if (rc == 0) {
            rc = period_counted(ctx, sales_jint(s, "user_id"), pl.period,
                                &after);
        }

        before = after - sales_jint(lowered, user);
        from = band_of(&p, before);
        to = band_of(&p, after);

        if (rc == 0 && from != to) {
            ev.user_id = sales_jint(s, "user_id");
            ev.date = date;
            ev.source_type = "credit_note";
            ev.source_id = sales_jint(cn, "id");
            ev.invoice_id = sales_jint(orig, "id");
            ev.base = after - before;
            snprintf(ev.what, sizeof(ev.what), "credit note %s of invoice %s "
                     "issued %s", sales_jstr(cn, "number"),
                     sales_jstr(orig, "number"), date);

            o.user_id = ev.user_id;
            o.policy_id = p.id;
            o.assignment_id = p.assignment_id;
            o.place = &pl;
            o.date = date;
            o.source_type = ev.source_type;
            o.source_id = ev.source_id;
            o.invoice_id = ev.invoice_id;
            o.currency = p.currency;

            rc = slab_true_up(ctx, &o, &p, &ev, from, to);
        }

        json_decref(p.bands);

        if (rc != 0) {
            break;
        }
    }

    return rc;
}


/*
 * A credit note takes back, row by row, its share of what its invoice
 * accrued: on the issued basis the part of the invoice's base credited
 * (net or gross, as the row's policy counts); on the paid basis the part
 * of what was paid that is refunded, since a credit note that cancels
 * what was never paid takes no commission back. Shares are cumulative
 * over the invoice's credit notes and never pass the whole.
 */
int
sales_commission_credited(sales_ctx_t *ctx, json_t *cn, json_t *orig)
{
    json_t   *rows = NULL, *r, *slabs, *lowered;
    int64_t   net = 0, gross = 0, refund = 0, num, den, counted;
    size_t    i;
    char      why[160], a[32], b[32], user[24], key[48];
    int       rc = 0;

    if (credited_so_far(ctx, sales_jint(orig, "id"), &net, &gross, &refund)
        != 0
        || accrued_rows(ctx, sales_jint(orig, "id"), &rows) != 0)
    {
        return -1;
    }

    slabs = json_object();
    lowered = json_object();

    json_array_foreach(rows, i, r) {
        if (strcmp(sales_jstr(r, "basis"), "paid") == 0) {
            num = refund;
            den = sales_jint(orig, "paid_minor");
            snprintf(why, sizeof(why), "paid basis: %s of the %s paid is "
                     "refunded", money(num, a), money(den, b));

        } else if (strcmp(sales_jstr(r, "base_kind"), "gross") == 0) {
            num = gross;
            den = sales_jint(orig, "gross_minor");
            snprintf(why, sizeof(why), "issued basis: %s of its gross %s "
                     "credited", money(num, a), money(den, b));

        } else {
            num = net;
            den = sales_jint(orig, "net_minor");
            snprintf(why, sizeof(why), "issued basis: %s of its net %s "
                     "credited", money(num, a), money(den, b));
        }

        rc = claw_row(ctx, cn, orig, r, num, den, why, &counted);
        if (rc != 0) {
            break;
        }

        if (counted == 0) {
            continue;
        }

        snprintf(user, sizeof(user), "%lld",
                 (long long) sales_jint(r, "user_id"));
        json_object_set_new(lowered, user, json_integer(
            sales_jint(lowered, user) + counted));

        if (json_is_true(json_object_get(r, "slab"))) {
            snprintf(key, sizeof(key), "%s %lld", user,
                     (long long) sales_jint(r, "policy_id"));
            json_object_set_new(slabs, key, json_pack("{s:O, s:O, s:O}",
                "user_id", json_object_get(r, "user_id"),
                "policy_id", json_object_get(r, "policy_id"),
                "assignment_id", json_object_get(r, "assignment_id")));
        }
    }

    if (rc == 0) {
        rc = slab_credited(ctx, cn, orig, slabs, lowered);
    }

    json_decref(rows);
    json_decref(slabs);
    json_decref(lowered);
    return rc;
}


/* --- a carry at approval ------------------------------------------------- */

/*
 * A person whose period ends below zero (clawbacks larger than what the
 * period earned) is paid nothing for it: the balance moves to the team's
 * next open period, as a row that brings the closed period to zero and
 * one that opens the next below it.
 */
int
sales_accrual_carry(sales_ctx_t *ctx, int64_t user_id, int64_t team,
    int64_t period_id, const char *period, const char *currency,
    int64_t amount)
{
    place_t   pl;
    origin_t  o;
    row_t     r;
    char      today[11], after[SALES_PERIOD_LEN], next[SALES_PERIOD_LEN];
    char      text[320], a[32];

    sales_date_of(ctx->now_ms, today);
    sales_period_after(period, after);

    memset(&pl, 0, sizeof(pl));
    pl.team = team;
    snprintf(pl.earned, sizeof(pl.earned), "%s", period);
    snprintf(pl.period, sizeof(pl.period), "%s", period);
    sales_period_first_month(period, pl.month);

    if (sales_period_open(ctx, team, after, next) != 0) {
        return -1;
    }

    memset(&o, 0, sizeof(o));
    o.user_id = user_id;
    o.place = &pl;
    o.date = today;
    o.source_type = "period";
    o.source_id = period_id;
    o.currency = currency;

    memset(&r, 0, sizeof(r));
    r.kind = "carry";
    r.amount = -amount;
    snprintf(text, sizeof(text), "carry: %s ends at %s %s for this person, "
             "so it pays nothing and the balance is carried into %s",
             period, money(amount, a), currency, next);
    r.explain = json_pack("{s:s, s:s}", "text", text, "carried_to", next);

    if (row_write(ctx, &o, &r) != 0) {
        return -1;
    }

    snprintf(pl.earned, sizeof(pl.earned), "%s", next);
    snprintf(pl.period, sizeof(pl.period), "%s", next);
    sales_period_first_month(next, pl.month);

    r.amount = amount;
    snprintf(text, sizeof(text), "carry: %s ended at %s %s for this person; "
             "the balance counts here", period, money(amount, a), currency);
    r.explain = json_pack("{s:s, s:s}", "text", text, "carried_from", period);

    return row_write(ctx, &o, &r);
}


/* --- reading the ledger -------------------------------------------------- */

static const char *const  accrual_kinds[] = {
    "accrual", "true_up", "clawback", "carry", NULL
};

static const sales_field_t  accrual_fields[] = {
    SALES_SHOWN("user_id", SALES_F_INT),
    SALES_SHOWN("team_manager_id", SALES_F_INT),
    SALES_SHOWN("policy_id", SALES_F_INT),
    SALES_SHOWN("assignment_id", SALES_F_INT),
    SALES_SHOWN("period", SALES_F_STRING),
    SALES_SHOWN("earned_period", SALES_F_STRING),
    SALES_SHOWN("month", SALES_F_STRING),
    SALES_SHOWN("event_date", SALES_F_DATE),
    SALES_SHOWN_ENUM("kind", accrual_kinds),
    SALES_SHOWN("source_type", SALES_F_STRING),
    SALES_SHOWN("source_id", SALES_F_INT),
    SALES_SHOWN("invoice_id", SALES_F_INT),
    SALES_SHOWN("base_minor", SALES_F_INT),
    SALES_SHOWN("counted_minor", SALES_F_INT),
    SALES_SHOWN("rate_bp", SALES_F_INT),
    SALES_SHOWN("amount_minor", SALES_F_INT),
    SALES_SHOWN("currency", SALES_F_STRING),
    SALES_SHOWN("band", SALES_F_INT),
    SALES_SHOWN("reverses_id", SALES_F_INT),
    SALES_SHOWN("note", SALES_F_STRING),
    SALES_SHOWN("explanation", SALES_F_STRING),
    SALES_FIELDS_END
};

static const sales_resource_t  accruals_res = {
    "commission_accruals", "commission_accrual", "commission accrual",
    accrual_fields, NULL, NULL, NULL
};


static int
accrual_finish(sales_ctx_t *ctx, json_t *row)
{
    json_t  *e = json_loads(sales_jstr(row, "explanation"), 0, NULL);

    json_object_set_new(row, "explanation", e ? e : json_null());
    json_object_del(row, "updated_at");
    json_object_del(row, "version");
    return 0;
}


static int
accrual_totals(sales_ctx_t *ctx, sales_buf_t *where, json_t *binds,
    json_t **out)
{
    sales_buf_t    sql = {0};
    sqlite3_stmt  *st;
    json_t        *totals = json_array();
    int            rc;

    sales_buf_printf(&sql, "SELECT t.currency, sum(t.amount_minor),"
                     " sum(t.counted_minor), count(*)"
                     " FROM commission_accruals t WHERE %s"
                     " GROUP BY t.currency ORDER BY t.currency",
                     where->data ? where->data : "1");
    st = sales_prepare_bound(ctx, &sql, binds);
    if (st == NULL) {
        json_decref(totals);
        return -1;
    }

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_array_append_new(totals, json_pack("{s:s, s:I, s:I, s:I}",
            "currency", (const char *) sqlite3_column_text(st, 0),
            "amount_minor", (json_int_t) sqlite3_column_int64(st, 1),
            "base_minor", (json_int_t) sqlite3_column_int64(st, 2),
            "rows", (json_int_t) sqlite3_column_int64(st, 3)));
    }

    sales_finish(st);

    if (rc != SQLITE_DONE) {
        json_decref(totals);
        return sales_db_error(ctx, "adding up accruals");
    }

    *out = totals;
    return 0;
}


/*
 * The rows the caller sees: an admin or integration all, anyone else
 * their own, and a manager also the rows written for their team. A row's
 * team is the one its owner was in when it was written, as in the team's
 * periods and payouts: a manager keeps seeing the rows of the periods
 * they approved after someone moves to another team, and the new manager
 * sees only what was written since.
 */
static void
accrual_scope(sales_ctx_t *ctx, sales_buf_t *where, json_t *binds)
{
    if (ctx->user.role != SALES_ROLE_MANAGER) {
        sales_scope_sql(ctx, "t.user_id", where, binds);
        return;
    }

    sales_buf_adds(where, "(t.user_id = ? OR t.team_manager_id = ?)");
    json_array_append_new(binds, json_integer(ctx->user.id));
    json_array_append_new(binds, json_integer(ctx->user.id));
}


/* May the caller ask for a person's rows? Whoever they see, and for a
 * manager also one with rows written for the team: 1 yes, 0 no (404),
 * -1 error. */
static int
accrual_user_in_view(sales_ctx_t *ctx, int64_t id)
{
    json_t   *binds;
    int64_t   n;

    if (ctx->user.role == SALES_ROLE_MANAGER) {
        binds = json_pack("[I, I]", (json_int_t) id,
                          (json_int_t) ctx->user.id);
        n = sales_count(ctx, "SELECT EXISTS (SELECT 1"
                             " FROM commission_accruals WHERE user_id = ?"
                             " AND team_manager_id = ?)", binds);
        json_decref(binds);

        if (n != 0) {
            return n < 0 ? -1 : 1;
        }
    }

    return sales_user_in_scope(ctx, id);
}


/*
 * GET /commission/accruals: the ledger rows the caller sees, oldest
 * first, with the totals of everything the filters select (not only the
 * page).
 */
int
sales_commission_accruals_list(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    static const char *const  ids[] = { "policy_id", "invoice_id", NULL };

    sales_buf_t   where = {0};
    json_t       *binds = json_array(), *totals = NULL;
    const char   *user = sales_param(ctx, "user");
    const char   *period = sales_param(ctx, "period");
    const char   *kind;
    int           rc = -1;

    accrual_scope(ctx, &where, binds);

    if (sales_owner_param(ctx, "user", "t.user_id", &where, binds) != 0
        || (user && strcmp(user, "me") != 0 && strcmp(user, "team") != 0
            && accrual_user_in_view(ctx, atoll(user)) != 1)
        || sales_id_filters(ctx, ids, &where, binds) != 0
        || sales_param_enum(ctx, "kind", accrual_kinds, "must be accrual, "
                            "true_up, clawback or carry", &kind) != 0)
    {
        goto done;
    }

    if (period) {
        if (!sales_period_valid(period)) {
            sales_param_error(ctx, "period", "must be a month YYYY-MM or a "
                              "quarter YYYY-Qn");
            goto done;
        }
        sales_buf_adds(&where, " AND t.period = ?");
        json_array_append_new(binds, json_string(period));
    }

    if (kind) {
        sales_buf_adds(&where, " AND t.kind = ?");
        json_array_append_new(binds, json_string(kind));
    }

    if (accrual_totals(ctx, &where, binds, &totals) != 0
        || sales_list_finished(ctx, &accruals_res, &where, binds, 0,
                               accrual_finish, out) != 0)
    {
        goto done;
    }

    json_object_set_new(*out, "period", period ? json_string(period)
                                               : json_null());
    json_object_set_new(*out, "totals", totals);
    totals = NULL;
    rc = 200;

done:

    json_decref(totals);
    sales_buf_free(&where);
    json_decref(binds);
    return rc;
}


/* "Commission accrued this month": the rows that count in the current
 * calendar month, per currency, and the RON sum on its own. */
int
sales_commission_this_month(sales_ctx_t *ctx, const char *owner_where,
    json_t *binds, json_t *obj)
{
    sales_buf_t    sql = {0};
    sqlite3_stmt  *st;
    json_t        *all, *list;
    int64_t        ron = 0;
    char           today[11], month[SALES_PERIOD_LEN];
    int            rc;

    sales_date_of(ctx->now_ms, today);
    snprintf(month, sizeof(month), "%.7s", today);

    sales_buf_printf(&sql, "SELECT t.currency, sum(t.amount_minor)"
                     " FROM (SELECT user_id AS owner_id, month, currency,"
                     " amount_minor FROM commission_accruals) t"
                     " WHERE (%s) AND t.month = ?"
                     " GROUP BY t.currency ORDER BY t.currency",
                     owner_where);

    all = binds ? json_copy(binds) : json_array();
    json_array_append_new(all, json_string(month));
    st = sales_prepare_bound(ctx, &sql, all);
    json_decref(all);

    if (st == NULL) {
        return -1;
    }

    list = json_array();

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char  *cur = (const char *) sqlite3_column_text(st, 0);
        int64_t      sum = sqlite3_column_int64(st, 1);

        if (strcmp(cur, "RON") == 0) {
            ron = sum;
        }

        json_array_append_new(list, json_pack("{s:s, s:I}", "currency", cur,
                                              "amount_minor",
                                              (json_int_t) sum));
    }

    sales_finish(st);

    if (rc != SQLITE_DONE) {
        json_decref(list);
        return sales_db_error(ctx, "adding up this month's commission");
    }

    json_object_set_new(obj, "commission_accrued_this_month_minor",
                        json_integer(ron));
    json_object_set_new(obj, "commission_accrued_this_month", list);
    return 0;
}
