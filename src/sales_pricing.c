/*
 * The price check: what a client pays for a product on a date, and why.
 * Proposals, orders and invoices price their lines with this same
 * function, so a quote and its invoice cannot disagree.
 */

#include "sales_resource.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#define MAX_QUANTITY    1000000000LL
#define MAX_QUOTE_LINES 500


typedef sales_price_client_t  price_client_t;


/*
 * round_half_away(a * b * c * d / den) without overflow on the way; -1
 * when the result does not fit. All factors are >= 0 here.
 */
static int
mul4_div_round(int64_t a, int64_t b, int64_t c, int64_t d, int64_t den,
    int64_t *out)
{
    __int128  p = (__int128) a * b * c * d;
    __int128  q = p / den, r = p % den;

    if (r * 2 >= den) {
        q++;
    }

    if (q > INT64_MAX) {
        return -1;
    }

    *out = (int64_t) q;
    return 0;
}


/*
 * The amounts of one line, the one place they are computed: net =
 * unit x quantity x (10000 - loyalty) x (10000 - discount) / 10^8 and
 * VAT = net x rate / 10000, each rounded once, half away from zero.
 */
int
sales_line_amounts(int64_t unit, int64_t quantity, int64_t loyalty_bp,
    int64_t discount_bp, int64_t rate_bp, int64_t *net, int64_t *vat)
{
    if (mul4_div_round(unit, quantity, 10000 - loyalty_bp,
                       10000 - discount_bp, 100000000, net) != 0
        || mul4_div_round(*net, rate_bp, 1, 1, 10000, vat) != 0
        || *net > INT64_MAX - *vat)
    {
        return -1;
    }

    return 0;
}


int
sales_price_client_load(sales_ctx_t *ctx, int64_t client_id,
    sales_price_client_t *pc)
{
    sales_buf_t    sql = {0};
    sqlite3_stmt  *st;
    json_t        *binds = json_array();
    int            rc;

    memset(pc, 0, sizeof(*pc));

    sales_buf_adds(&sql, "SELECT t.id, t.currency, t.price_list_id,"
                         " l.id, l.name, l.discount_bp FROM clients t"
                         " LEFT JOIN loyalty_levels l"
                         " ON l.id = t.loyalty_level_id"
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
        pc->id = sqlite3_column_int64(st, 0);
        snprintf(pc->currency, sizeof(pc->currency), "%s",
                 sqlite3_column_text(st, 1));
        pc->list_id = sqlite3_column_int64(st, 2);
        pc->level_id = sqlite3_column_int64(st, 3);
        if (pc->level_id) {
            snprintf(pc->level_name, sizeof(pc->level_name), "%s",
                     sqlite3_column_text(st, 4));
            pc->discount_bp = sqlite3_column_int64(st, 5);
        }
        sales_finish(st);
        return 0;
    }

    sales_finish(st);

    if (rc != SQLITE_DONE) {
        return sales_db_error(ctx, "reading a client");
    }

    return sales_not_found(ctx, "client");
}


static int
price_error(sales_ctx_t *ctx, const char *prefix, const char *field,
    const char *fmt, const char *a, const char *b)
{
    char  name[200], detail[512];

    snprintf(name, sizeof(name), "%s%s", prefix, field);
    snprintf(detail, sizeof(detail), fmt, a, b);
    return sales_field_error(ctx, name, "%s", detail);
}


/*
 * Prices one line. prefix names the fields in errors ("" for the price
 * check, "lines/2/" in a quote). The rules, in order: the list (own or
 * default; valid on the date; in the client's currency), the quantity
 * break, the loyalty discount, the net rounded once, the VAT of the date
 * rounded once.
 */
int
sales_price_line(sales_ctx_t *ctx, const void *client, int64_t product_id,
    int64_t quantity, const char *date, const char *prefix, json_t **out)
{
    const price_client_t  *pc = client;
    sqlite3_stmt          *st;
    json_t                *explain, *loyalty;
    char                   list_name[201], category[16], list_currency[4];
    char                   from[11], to[11];
    int64_t                list_id, item_id, min_qty, unit, net, net_unit;
    int64_t                vat, rate_bp;
    int                    rc, is_default, active;

    *out = NULL;

    /* The product. */
    st = sales_prepare(ctx, "SELECT vat_category, active FROM products"
                            " WHERE id = ?");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, product_id);
    rc = sqlite3_step(st);

    if (rc != SQLITE_ROW) {
        sales_finish(st);
        return rc == SQLITE_DONE
               ? price_error(ctx, prefix, "product_id", "no such product%s%s",
                             "", "")
               : sales_db_error(ctx, "reading a product");
    }

    snprintf(category, sizeof(category), "%s", sqlite3_column_text(st, 0));
    active = sqlite3_column_int(st, 1);
    sales_finish(st);

    if (!active) {
        return price_error(ctx, prefix, "product_id", "the product is not "
                           "active%s%s", "", "");
    }

    /* The list: the client's own, else the default. */
    st = sales_prepare(ctx, "SELECT id, name, currency,"
                            " coalesce(valid_from, ''), coalesce(valid_to, ''),"
                            " is_default FROM price_lists"
                            " WHERE (?1 != 0 AND id = ?1)"
                            " OR (?1 = 0 AND is_default = 1)");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, pc->list_id);
    rc = sqlite3_step(st);

    if (rc != SQLITE_ROW) {
        sales_finish(st);
        return rc == SQLITE_DONE
               ? price_error(ctx, prefix, "client_id", "the client has no "
                             "price list and there is no default list%s%s",
                             "", "")
               : sales_db_error(ctx, "reading a price list");
    }

    list_id = sqlite3_column_int64(st, 0);
    snprintf(list_name, sizeof(list_name), "%s", sqlite3_column_text(st, 1));
    snprintf(list_currency, sizeof(list_currency), "%s",
             sqlite3_column_text(st, 2));
    snprintf(from, sizeof(from), "%s", sqlite3_column_text(st, 3));
    snprintf(to, sizeof(to), "%s", sqlite3_column_text(st, 4));
    is_default = sqlite3_column_int(st, 5);
    sales_finish(st);

    if ((from[0] && strcmp(date, from) < 0) || (to[0] && strcmp(date, to) > 0))
    {
        return price_error(ctx, prefix, "date", "price list \"%s\" is not "
                           "valid on %s", list_name, date);
    }

    if (strcmp(list_currency, pc->currency) != 0) {
        return price_error(ctx, prefix, "client_id", "price list in %s, the "
                           "client buys in %s", list_currency, pc->currency);
    }

    /* The break: the largest minimum not above the quantity. */
    st = sales_prepare(ctx, "SELECT id, min_quantity, unit_price_minor"
                            " FROM price_list_items WHERE price_list_id = ?"
                            " AND product_id = ? AND min_quantity <= ?"
                            " ORDER BY min_quantity DESC LIMIT 1");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, list_id);
    sqlite3_bind_int64(st, 2, product_id);
    sqlite3_bind_int64(st, 3, quantity);
    rc = sqlite3_step(st);

    if (rc != SQLITE_ROW) {
        sales_finish(st);
        return rc == SQLITE_DONE
               ? price_error(ctx, prefix, "product_id", "price list \"%s\" "
                             "has no price for this product at this "
                             "quantity%s", list_name, "")
               : sales_db_error(ctx, "reading prices");
    }

    item_id = sqlite3_column_int64(st, 0);
    min_qty = sqlite3_column_int64(st, 1);
    unit = sqlite3_column_int64(st, 2);
    sales_finish(st);

    /* The VAT in force on the date of supply. */
    rc = sales_vat_rate_on(ctx, category, date, &rate_bp);
    if (rc < 0) {
        return -1;
    }

    if (rc == 0) {
        return price_error(ctx, prefix, "date", "no %s VAT rate is in force "
                           "on %s", category, date);
    }

    if (sales_line_amounts(unit, quantity, pc->discount_bp, 0, rate_bp, &net,
                           &vat) != 0
        || mul4_div_round(unit, 10000 - pc->discount_bp, 1, 1, 10000,
                          &net_unit) != 0)
    {
        return price_error(ctx, prefix, "quantity", "the amount is too "
                           "large%s%s", "", "");
    }

    explain = json_array();
    json_array_append_new(explain, json_sprintf(
        "price list %s (%s)", list_name,
        is_default && pc->list_id == 0 ? "the default list"
                                       : "the client's own list"));
    json_array_append_new(explain, json_sprintf(
        "quantity %lld uses the price from %lld: %lld",
        (long long) quantity, (long long) min_qty, (long long) unit));

    if (pc->level_id) {
        loyalty = json_pack("{s:I, s:s, s:I}", "level_id",
                            (json_int_t) pc->level_id, "name", pc->level_name,
                            "discount_bp", (json_int_t) pc->discount_bp);
        json_array_append_new(explain, json_sprintf(
            "loyalty level %s takes %lld.%02lld%% off", pc->level_name,
            (long long) pc->discount_bp / 100,
            (long long) pc->discount_bp % 100));
    } else {
        loyalty = json_null();
    }

    json_array_append_new(explain, json_sprintf(
        "%s VAT on %s is %lld.%02lld%%", category, date,
        (long long) rate_bp / 100, (long long) rate_bp % 100));

    *out = json_pack(
        "{s:I, s:I, s:I, s:s, s:s, s:{s:I, s:s, s:b}, s:{s:I, s:I},"
        " s:I, s:o, s:I, s:I, s:{s:s, s:I}, s:I, s:I, s:o}",
        "client_id", (json_int_t) pc->id,
        "product_id", (json_int_t) product_id,
        "quantity", (json_int_t) quantity,
        "date", date,
        "currency", pc->currency,
        "price_list", "id", (json_int_t) list_id, "name", list_name,
                      "default", is_default,
        "break", "item_id", (json_int_t) item_id,
                 "min_quantity", (json_int_t) min_qty,
        "list_unit_price_minor", (json_int_t) unit,
        "loyalty", loyalty,
        "net_unit_price_minor", (json_int_t) net_unit,
        "net_minor", (json_int_t) net,
        "vat", "category", category, "rate_bp", (json_int_t) rate_bp,
        "vat_minor", (json_int_t) vat,
        "gross_minor", (json_int_t) (net + vat),
        "explanation", explain);

    return *out ? 0 : sales_fail(ctx, 500, "internal", "out of memory");
}


static int
date_param(sales_ctx_t *ctx, const char *given, char *date)
{
    if (given == NULL) {
        sales_date_of(ctx->now_ms, date);
        return 0;
    }

    if (!sales_date_valid(given, strlen(given))) {
        return -1;
    }

    memcpy(date, given, 10);
    date[10] = '\0';
    return 0;
}


int
sales_prices_get(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    static const char *const  required[] = {
        "client_id", "product_id", "quantity", NULL
    };

    price_client_t  pc;
    int64_t         client_id, product_id, quantity;
    char            date[11];
    int             i;

    for (i = 0; required[i]; i++) {
        if (sales_param(ctx, required[i]) == NULL) {
            return sales_param_error(ctx, required[i], "is required");
        }
    }

    if (sales_param_int(ctx, "client_id", 1, INT64_MAX, &client_id) != 0
        || sales_param_int(ctx, "product_id", 1, INT64_MAX, &product_id) != 0
        || sales_param_int(ctx, "quantity", 1, MAX_QUANTITY, &quantity) != 0)
    {
        return -1;
    }

    if (date_param(ctx, sales_param(ctx, "date"), date) != 0) {
        return sales_param_error(ctx, "date", "must be a date YYYY-MM-DD");
    }

    if (sales_price_client_load(ctx, client_id, &pc) != 0) {
        return -1;
    }

    if (sales_price_line(ctx, &pc, product_id, quantity, date, "", out)
        != 0)
    {
        return json_array_size(ctx->errors) ? sales_validation_failed(ctx)
                                            : -1;
    }

    return 200;
}


/* Adds a priced line to the totals, VAT grouped by rate; -1 when the
 * totals would not fit. */
static int
add_to_totals(json_t *totals, json_t *line)
{
    json_t   *vats = json_object_get(totals, "vat"), *v = NULL;
    int64_t   rate = json_integer_value(json_object_get(
                         json_object_get(line, "vat"), "rate_bp"));
    size_t    i;

#define ADD(obj, key, amount)                                                 \
    json_object_set_new(obj, key, json_integer(                               \
        json_integer_value(json_object_get(obj, key)) + (amount)))

    {
        int64_t  g = json_integer_value(json_object_get(totals,
                                                        "gross_minor"));
        int64_t  add = json_integer_value(json_object_get(line,
                                                          "gross_minor"));

        /* gross is the largest sum; when it fits, net and VAT fit */
        if (__builtin_add_overflow(g, add, &g)) {
            return -1;
        }
    }

    ADD(totals, "net_minor", json_integer_value(json_object_get(line,
                                                                "net_minor")));
    ADD(totals, "vat_minor", json_integer_value(json_object_get(line,
                                                                "vat_minor")));
    ADD(totals, "gross_minor",
        json_integer_value(json_object_get(line, "gross_minor")));

    json_array_foreach(vats, i, v) {
        if (json_integer_value(json_object_get(v, "rate_bp")) == rate) {
            break;
        }
    }

    if (i == json_array_size(vats) || v == NULL) {
        v = json_pack("{s:I, s:I, s:I}", "rate_bp", (json_int_t) rate,
                      "net_minor", (json_int_t) 0, "vat_minor",
                      (json_int_t) 0);
        json_array_append_new(vats, v);
    }

    ADD(v, "net_minor", json_integer_value(json_object_get(line,
                                                           "net_minor")));
    ADD(v, "vat_minor", json_integer_value(json_object_get(line,
                                                           "vat_minor")));
#undef ADD

    return 0;
}


int
sales_prices_quote(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    price_client_t   pc;
    const char      *key;
    json_t          *v, *lines, *line, *priced, *result, *totals;
    char             date[11], prefix[160];
    size_t           i;

    json_object_foreach(body, key, v) {
        if (strcmp(key, "client_id") != 0 && strcmp(key, "date") != 0
            && strcmp(key, "lines") != 0)
        {
            sales_field_error(ctx, key, "unknown field");
        }
    }

    v = json_object_get(body, "client_id");
    if (!json_is_integer(v) || json_integer_value(v) < 1) {
        sales_field_error(ctx, "client_id", "is required: a client id");
    }

    v = json_object_get(body, "date");
    if (v && (!json_is_string(v)
              || date_param(ctx, json_string_value(v), date) != 0))
    {
        sales_field_error(ctx, "date", "must be a date YYYY-MM-DD");

    } else if (v == NULL) {
        date_param(ctx, NULL, date);
    }

    lines = json_object_get(body, "lines");
    if (!json_is_array(lines) || json_array_size(lines) == 0
        || json_array_size(lines) > MAX_QUOTE_LINES)
    {
        sales_field_error(ctx, "lines", "must be an array of 1 to %d lines",
                          MAX_QUOTE_LINES);
        lines = NULL;
    }

    json_array_foreach(lines, i, line) {
        json_t  *p = json_object_get(line, "product_id");
        json_t  *q = json_object_get(line, "quantity");

        if (!json_is_object(line)) {
            snprintf(prefix, sizeof(prefix), "lines/%zu", i);
            sales_field_error(ctx, prefix, "must be an object");
            continue;
        }

        json_object_foreach(line, key, v) {
            if (strcmp(key, "product_id") != 0
                && strcmp(key, "quantity") != 0)
            {
                snprintf(prefix, sizeof(prefix), "lines/%zu/%s", i, key);
                sales_field_error(ctx, prefix, "unknown field");
            }
        }

        if (!json_is_integer(p) || json_integer_value(p) < 1) {
            snprintf(prefix, sizeof(prefix), "lines/%zu/product_id", i);
            sales_field_error(ctx, prefix, "is required: a product id");
        }

        if (!json_is_integer(q) || json_integer_value(q) < 1
            || json_integer_value(q) > MAX_QUANTITY)
        {
            snprintf(prefix, sizeof(prefix), "lines/%zu/quantity", i);
            sales_field_error(ctx, prefix, "must be a whole number from 1 to "
                              "%lld", MAX_QUANTITY);
        }
    }

    if (json_array_size(ctx->errors)) {
        return sales_validation_failed(ctx);
    }

    if (sales_price_client_load(ctx, json_integer_value(
                                    json_object_get(body, "client_id")), &pc)
        != 0)
    {
        return -1;
    }

    result = json_array();
    totals = json_pack("{s:I, s:[], s:I, s:I}", "net_minor", (json_int_t) 0,
                       "vat", "vat_minor", (json_int_t) 0, "gross_minor",
                       (json_int_t) 0);

    json_array_foreach(lines, i, line) {
        snprintf(prefix, sizeof(prefix), "lines/%zu/", i);

        if (sales_price_line(ctx, &pc,
                             json_integer_value(json_object_get(line,
                                                                "product_id")),
                             json_integer_value(json_object_get(line,
                                                                "quantity")),
                             date, prefix, &priced) != 0)
        {
            if (json_array_size(ctx->errors) == 0) {
                json_decref(result);
                json_decref(totals);
                return -1;
            }
            continue;
        }

        if (add_to_totals(totals, priced) != 0) {
            json_decref(priced);
            snprintf(prefix, sizeof(prefix), "lines/%zu/quantity", i);
            sales_field_error(ctx, prefix, "the offer's total is too large");
            continue;
        }

        json_array_append_new(result, priced);
    }

    if (json_array_size(ctx->errors)) {
        json_decref(result);
        json_decref(totals);
        return sales_validation_failed(ctx);
    }

    *out = json_pack("{s:I, s:s, s:s, s:o, s:o}", "client_id",
                     (json_int_t) pc.id, "date", date, "currency",
                     pc.currency, "lines", result, "totals", totals);
    return 200;
}


/* --- a client's loyalty ----------------------------------------------- */

/*
 * Paid revenue over the trailing 12 months, in a currency: what the
 * client paid (payments dated after the same day a year ago), less what
 * credit notes in that time owe back (the part of a credit that cancels
 * an unpaid balance was never paid, so it takes nothing off). Payments of
 * invoices in another currency count at the invoice's RON rate when the
 * currency asked for is RON. -1 on a database error.
 */
static int64_t
paid_revenue_12m(sales_ctx_t *ctx, int64_t client_id, const char *currency)
{
    sqlite3_stmt  *st;
    int64_t        sum = 0;
    char           today[11];
    int            rc;

    sales_date_of(ctx->now_ms, today);

    st = sales_prepare(ctx,
        "SELECT p.amount_minor, p.currency, i.exchange_rate FROM payments p"
        " JOIN invoices i ON i.id = p.invoice_id"
        " WHERE p.client_id = ?1 AND p.paid_on > date(?2, '-12 months')"
        " AND p.paid_on <= ?2"
        " UNION ALL SELECT -c.refund_minor, c.currency, c.exchange_rate"
        " FROM invoices c WHERE c.client_id = ?1 AND c.kind = 'credit_note'"
        " AND c.status != 'draft' AND c.refund_minor > 0"
        " AND c.issue_date > date(?2, '-12 months') AND c.issue_date <= ?2");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, client_id);
    sqlite3_bind_text(st, 2, today, -1, SQLITE_TRANSIENT);

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t      amount = sqlite3_column_int64(st, 0);
        const char  *cur = (const char *) sqlite3_column_text(st, 1);

        if (strcmp(cur, currency) == 0) {
            sum += amount;

        } else if (strcmp(currency, "RON") == 0
                   && sqlite3_column_type(st, 2) != SQLITE_NULL)
        {
            sum += sales_ron_of(amount,
                                (const char *) sqlite3_column_text(st, 2));
        }
    }

    sales_finish(st);

    if (rc != SQLITE_DONE) {
        sales_db_error(ctx, "reading paid revenue");
        return -1;
    }

    return sum > 0 ? sum : 0;
}


/* The rule: the highest level whose threshold the revenue reaches
 * (0 when none). */
int64_t
sales_loyalty_level_for(sales_ctx_t *ctx, int64_t revenue_minor,
    const char *currency)
{
    sqlite3_stmt  *st;
    int64_t        id = 0;

    st = sales_prepare(ctx, "SELECT id FROM loyalty_levels WHERE currency = ?"
                            " AND threshold_minor <= ?"
                            " ORDER BY threshold_minor DESC, id LIMIT 1");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_text(st, 1, currency, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, revenue_minor);

    if (sqlite3_step(st) == SQLITE_ROW) {
        id = sqlite3_column_int64(st, 0);
    }

    sales_finish(st);
    return id;
}


/* A level by id, or NULL when there is none; the error slot is left as
 * it was, since "no level" is an answer here, not a failure. */
static json_t *
level_json(sales_ctx_t *ctx, int64_t id)
{
    json_t  *level = NULL;
    int      status = ctx->status;
    const char *problem = ctx->problem;

    if (id <= 0
        || sales_load(ctx, &sales_loyalty_levels_res, id, NULL, NULL, &level)
           != 0)
    {
        ctx->status = status;
        ctx->problem = problem;
        return NULL;
    }

    return level;
}


/* Whether the client's level was set by hand: 1, 0, or -1. */
static int
level_by_hand(sales_ctx_t *ctx, int64_t client_id)
{
    json_t   *binds = json_pack("[I]", (json_int_t) client_id);
    int64_t   n = sales_count(ctx, "SELECT loyalty_by_hand FROM clients"
                                   " WHERE id = ?", binds);

    json_decref(binds);
    return (int) n;
}


int
sales_clients_loyalty_get(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    sqlite3_stmt  *st;
    json_t        *client, *level, *next = NULL, *earned;
    const char    *currency;
    int64_t        level_id, revenue, threshold, next_id = 0, earned_id;
    int            rc;

    if (sales_client_load(ctx, ctx->ids[0], &client) != 0) {
        return -1;
    }

    level_id = json_integer_value(json_object_get(client, "loyalty_level_id"));
    level = level_json(ctx, level_id);
    currency = level ? json_string_value(json_object_get(level, "currency"))
                     : "RON";
    threshold = level ? json_integer_value(json_object_get(level,
                                                           "threshold_minor"))
                      : -1;

    revenue = paid_revenue_12m(ctx, ctx->ids[0], currency);
    if (revenue < 0) {
        json_decref(client);
        json_decref(level);
        return -1;
    }

    st = sales_prepare(ctx, "SELECT id, threshold_minor FROM loyalty_levels"
                            " WHERE currency = ? AND threshold_minor > ?"
                            " ORDER BY threshold_minor, id LIMIT 1");
    if (st == NULL) {
        json_decref(client);
        json_decref(level);
        return -1;
    }

    sqlite3_bind_text(st, 1, currency, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, threshold);
    rc = sqlite3_step(st);

    if (rc == SQLITE_ROW) {
        int64_t  missing = sqlite3_column_int64(st, 1) - revenue;

        next_id = sqlite3_column_int64(st, 0);
        next = json_pack("{s:o, s:I}", "level", level_json(ctx, next_id),
                         "missing_minor",
                         (json_int_t) (missing > 0 ? missing : 0));
    }

    sales_finish(st);

    earned_id = sales_loyalty_level_for(ctx, revenue, currency);
    earned = earned_id > 0 ? json_integer(earned_id) : json_null();

    *out = json_pack("{s:I, s:o, s:b, s:O, s:I, s:o, s:o}",
                     "client_id", (json_int_t) ctx->ids[0],
                     "level", level ? level : json_null(),
                     "set_by_hand", level_by_hand(ctx, ctx->ids[0]) == 1,
                     "since", json_object_get(client, "loyalty_since"),
                     "paid_revenue_12m_minor", (json_int_t) revenue,
                     "revenue_qualifies_for", earned,
                     "next", next ? next : json_null());
    json_decref(client);

    return *out ? 200 : sales_fail(ctx, 500, "internal", "out of memory");
}


/*
 * Gives a client a level (0 for none) and records since when, audited
 * and announced as client.updated with why; nothing when it has it
 * already. rc: 1 done, 0 failed.
 */
static int
set_level(sales_ctx_t *ctx, json_t *client, int64_t level_id, int by_hand,
    const char *why)
{
    sqlite3_stmt  *st;
    json_t        *changes, *data, *now;
    int64_t        id = sales_jint(client, "id");
    int            rc;

    st = sales_prepare(ctx, "UPDATE clients SET loyalty_by_hand = ?"
                            " WHERE id = ?");
    if (st == NULL) {
        return 0;
    }

    sqlite3_bind_int(st, 1, by_hand);
    sqlite3_bind_int64(st, 2, id);

    if (sales_step_done(ctx, st) != 0) {
        return 0;
    }

    if (sales_jint(client, "loyalty_level_id") == level_id) {
        return 1;
    }

    st = sales_prepare(ctx, "UPDATE clients SET loyalty_level_id = ?,"
                            " loyalty_since = ?, updated_at = ?,"
                            " version = version + 1 WHERE id = ?");
    if (st == NULL) {
        return 0;
    }

    if (level_id) {
        sqlite3_bind_int64(st, 1, level_id);
        sqlite3_bind_int64(st, 2, ctx->now_ms);
    }
    sqlite3_bind_int64(st, 3, ctx->now_ms);
    sqlite3_bind_int64(st, 4, id);

    changes = json_pack("{s:[Oo]}", "loyalty_level_id",
                        json_object_get(client, "loyalty_level_id"),
                        level_id ? json_integer(level_id) : json_null());

    rc = sales_step_done(ctx, st) == 0
         && sales_audit(ctx, "update", "client", id, changes) == 0
         && sales_load_client_any(ctx, id, &now) == 0;

    if (rc) {
        data = json_pack("{s:o, s:O, s:s}", "client", now, "changes",
                         changes, "reason", why);
        rc = sales_event(ctx, "client.updated", "client", id, data) == 0;
        json_decref(data);
    }

    json_decref(changes);
    return rc;
}


/*
 * The level a client's paid revenue earns, now: the one rule, applied
 * after every payment and credit note of the client and by the daily
 * review (as payments age out of the 12 months). A level earned by
 * revenue goes up and down with it; a level set by hand is only raised,
 * when the revenue earns a higher one.
 */
int
sales_loyalty_refresh(sales_ctx_t *ctx, int64_t client_id)
{
    json_t      *client, *level, *better;
    const char  *currency = "RON";
    int64_t      revenue, earned;
    int          rc, by_hand;

    if (sales_load_client_any(ctx, client_id, &client) != 0) {
        return -1;
    }

    by_hand = level_by_hand(ctx, client_id);
    level = level_json(ctx, sales_jint(client, "loyalty_level_id"));
    if (level) {
        currency = sales_jstr(level, "currency");
    }

    revenue = paid_revenue_12m(ctx, client_id, currency);
    earned = revenue < 0 || by_hand < 0
             ? -1 : sales_loyalty_level_for(ctx, revenue, currency);

    rc = earned >= 0;

    if (rc && by_hand && level) {
        better = level_json(ctx, earned);
        rc = better == NULL
             || sales_jint(better, "threshold_minor")
                <= sales_jint(level, "threshold_minor")
             || set_level(ctx, client, earned, 0, "paid revenue over the "
                          "last 12 months");
        json_decref(better);

    } else if (rc) {
        rc = set_level(ctx, client, earned, 0, "paid revenue over the last "
                       "12 months");
    }

    json_decref(level);
    json_decref(client);
    return rc ? 0 : -1;
}


/* The daily review: clients that hold a level their revenue earned keep
 * it only while their revenue of the last 12 months earns it. */
int
sales_loyalty_sweep(sales_ctx_t *ctx, const char *today)
{
    sqlite3_stmt  *st;
    json_t        *ids = json_array(), *v;
    size_t         i;
    int            rc;

    st = sales_prepare(ctx, "SELECT value FROM settings"
                            " WHERE key = 'loyalty_reviewed_on'");
    if (st == NULL) {
        json_decref(ids);
        return -1;
    }

    rc = sqlite3_step(st) == SQLITE_ROW
         && strcmp((const char *) sqlite3_column_text(st, 0), today) == 0;
    sales_finish(st);

    if (rc) {
        json_decref(ids);
        return 0;
    }

    st = sales_prepare(ctx, "SELECT id FROM clients"
                            " WHERE loyalty_level_id IS NOT NULL"
                            " AND loyalty_by_hand = 0");
    if (st == NULL) {
        json_decref(ids);
        return -1;
    }

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_array_append_new(ids, json_integer(sqlite3_column_int64(st, 0)));
    }
    sales_finish(st);

    rc = rc == SQLITE_DONE ? 0 : sales_db_error(ctx, "reading clients");

    json_array_foreach(ids, i, v) {
        if (rc == 0) {
            rc = sales_loyalty_refresh(ctx, json_integer_value(v));
        }
    }

    json_decref(ids);

    if (rc != 0) {
        return -1;
    }

    st = sales_prepare(ctx, "INSERT INTO settings (key, value, updated_at)"
                            " VALUES ('loyalty_reviewed_on', ?1, ?2)"
                            " ON CONFLICT (key) DO UPDATE SET value = ?1,"
                            " updated_at = ?2");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_text(st, 1, today, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, ctx->now_ms);
    return sales_step_done(ctx, st);
}


int
sales_clients_loyalty_set(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    const char    *key;
    json_t        *client, *v, *level;
    int64_t        level_id = 0;
    int            rc;

    json_object_foreach(body, key, v) {
        if (strcmp(key, "level_id") != 0) {
            sales_field_error(ctx, key, "unknown field");
        }
    }

    v = json_object_get(body, "level_id");

    if (v == NULL || !(json_is_null(v) || json_is_integer(v))) {
        sales_field_error(ctx, "level_id", "is required: a level id or null");

    } else if (json_is_integer(v)) {
        level_id = json_integer_value(v);
        level = level_json(ctx, level_id);

        if (level == NULL) {
            sales_field_error(ctx, "level_id", "no such loyalty level");
        }

        json_decref(level);
    }

    if (json_array_size(ctx->errors)) {
        return sales_validation_failed(ctx);
    }

    if (sales_client_load(ctx, ctx->ids[0], &client) != 0) {
        return -1;
    }

    rc = set_level(ctx, client, level_id, level_id != 0, "set by hand");
    json_decref(client);

    return rc ? sales_clients_loyalty_get(ctx, body, out) : -1;
}
