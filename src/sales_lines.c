/*
 * What every sales document shares: priced lines (checked, priced through
 * the price check, stored, read back), totals as sums of lines with the
 * VAT per rate, and numbers taken from a series inside the transaction
 * that uses them.
 */

#include "sales_resource.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#define MAX_LINES  200


/* --- numbers ------------------------------------------------------------ */

/*
 * The next number of PREFIX-YEAR (the year of date, "YYYY-MM-DD"): series
 * gets "INV-2026", number "INV-2026-000042" with digits digits. Taken
 * inside the request's transaction, so a request that fails gives its
 * number back and the series has no gaps. Answers the sequence number.
 */
int64_t
sales_number_take(sales_ctx_t *ctx, const char *prefix, const char *date,
    int digits, char *series, size_t series_size, char *number,
    size_t number_size)
{
    sqlite3_stmt  *st;
    int64_t        n = -1;

    snprintf(series, series_size, "%s-%.4s", prefix, date);

    st = sales_prepare(ctx, "INSERT INTO number_series (name, last)"
                            " VALUES (?, 1) ON CONFLICT (name)"
                            " DO UPDATE SET last = last + 1 RETURNING last");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_text(st, 1, series, -1, SQLITE_TRANSIENT);

    if (sqlite3_step(st) == SQLITE_ROW) {
        n = sqlite3_column_int64(st, 0);
    }

    sales_finish(st);

    if (n < 0) {
        return sales_db_error(ctx, "numbering");
    }

    snprintf(number, number_size, "%s-%0*lld", series, digits, (long long) n);
    return n;
}


/* --- the input shape ------------------------------------------------------ */

int
sales_line_error(sales_ctx_t *ctx, const char *list, size_t i,
    const char *field, const char *detail)
{
    char  name[96];

    if (field) {
        snprintf(name, sizeof(name), "%s/%zu/%s", list, i, field);
    } else {
        snprintf(name, sizeof(name), "%s/%zu", list, i);
    }

    return sales_field_error(ctx, name, "%s", detail);
}


int
sales_item_int(sales_ctx_t *ctx, json_t *item, const char *list, size_t i,
    const char *field, int64_t min, int64_t max, int required)
{
    json_t  *v = json_object_get(item, field);
    char     detail[96];

    if (v == NULL || json_is_null(v)) {
        return required ? sales_line_error(ctx, list, i, field, "is required")
                        : 0;
    }

    if (!json_is_integer(v) || json_integer_value(v) < min
        || json_integer_value(v) > max)
    {
        snprintf(detail, sizeof(detail), "must be a whole number from %lld "
                 "to %lld", (long long) min, (long long) max);
        return sales_line_error(ctx, list, i, field, detail);
    }

    return 0;
}


int
sales_item_text(sales_ctx_t *ctx, json_t *item, const char *list, size_t i,
    const char *field, size_t max)
{
    json_t  *v = json_object_get(item, field);
    char     detail[64];

    if (v == NULL || json_is_null(v)) {
        return 0;
    }

    if (json_is_string(v) && json_string_length(v) > 0
        && sales_utf8_chars(json_string_value(v), json_string_length(v))
           <= max)
    {
        return 0;
    }

    snprintf(detail, sizeof(detail), "must be a string of 1 to %zu "
             "characters", max);
    return sales_line_error(ctx, list, i, field, detail);
}


/* Each element of list is an object with only the known keys; 0 or -1
 * with the errors named. */
int
sales_items_shape(sales_ctx_t *ctx, json_t *items, const char *list,
    size_t max, const char *const *known)
{
    const char  *key;
    json_t      *item, *v;
    size_t       i;
    int          k;

    if (!json_is_array(items) || json_array_size(items) == 0
        || json_array_size(items) > max)
    {
        return sales_field_error(ctx, list, "must be an array of 1 to %zu "
                                 "items", max);
    }

    json_array_foreach(items, i, item) {
        if (!json_is_object(item)) {
            sales_line_error(ctx, list, i, NULL, "must be an object");
            continue;
        }

        json_object_foreach(item, key, v) {
            for (k = 0; known[k]; k++) {
                if (strcmp(known[k], key) == 0) {
                    break;
                }
            }
            if (known[k] == NULL) {
                sales_line_error(ctx, list, i, key, "unknown field");
            }
        }
    }

    return json_array_size(ctx->errors) ? -1 : 0;
}


static int
given(json_t *line, const char *key)
{
    json_t  *v = json_object_get(line, key);

    return v != NULL && !json_is_null(v);
}


/* The shape of priced input lines (proposals, orders); prices come
 * after. */
int
sales_lines_check(sales_ctx_t *ctx, json_t *lines)
{
    static const char *const  known[] = {
        "product_id", "quantity", "description", "unit_price_minor",
        "discount_bp", "override_reason", NULL
    };

    json_t  *line;
    size_t   i;

    if (sales_items_shape(ctx, lines, "lines", MAX_LINES, known) != 0
        && !json_is_array(lines))
    {
        return -1;
    }

    json_array_foreach(lines, i, line) {
        if (!json_is_object(line)) {
            continue;
        }

        sales_item_int(ctx, line, "lines", i, "product_id", 1, INT64_MAX, 1);
        sales_item_int(ctx, line, "lines", i, "quantity", 1, 1000000000, 1);
        sales_item_int(ctx, line, "lines", i, "unit_price_minor", 0,
                       1000000000000LL, 0);
        sales_item_int(ctx, line, "lines", i, "discount_bp", 1, 10000, 0);
        sales_item_text(ctx, line, "lines", i, "description", 1000);
        sales_item_text(ctx, line, "lines", i, "override_reason", 500);

        if ((given(line, "unit_price_minor") || given(line, "discount_bp"))
            && !json_is_string(json_object_get(line, "override_reason")))
        {
            sales_line_error(ctx, "lines", i, "override_reason", "is "
                             "required when the price is overridden or "
                             "discounted");
        }
    }

    return json_array_size(ctx->errors) ? -1 : 0;
}


/* Stored lines as input again (to price them for another date, or to
 * carry them to another document): product, quantity, description and the
 * AE's override. */
json_t *
sales_lines_as_input(json_t *lines)
{
    static const char *const  keys[] = {
        "unit_price_minor", "discount_bp", "override_reason", NULL
    };

    json_t  *inputs = json_array(), *old;
    size_t   i;
    int      k;

    json_array_foreach(lines, i, old) {
        json_t  *in = json_pack("{s:O, s:O, s:O}",
                                "product_id", json_object_get(old,
                                                              "product_id"),
                                "quantity", json_object_get(old, "quantity"),
                                "description", json_object_get(old,
                                                               "description"));

        for (k = 0; keys[k]; k++) {
            if (given(old, keys[k])) {
                json_object_set(in, keys[k], json_object_get(old, keys[k]));
            }
        }

        json_array_append_new(inputs, in);
    }

    return inputs;
}


/* --- pricing -------------------------------------------------------------- */

static int
product_name(sales_ctx_t *ctx, int64_t id, char *out, size_t size)
{
    sqlite3_stmt  *st;
    int            rc;

    st = sales_prepare(ctx, "SELECT name FROM products WHERE id = ?");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);

    if (rc == SQLITE_ROW) {
        snprintf(out, size, "%s", sqlite3_column_text(st, 0));
    }

    sales_finish(st);
    return rc == SQLITE_ROW ? 0 : sales_db_error(ctx, "reading a product");
}


/*
 * Prices input lines for a client in a currency on a date: each through
 * the price check, with the AE's override (a unit price, on which the
 * loyalty discount no longer applies, and/or an extra discount) applied
 * by the one rounding rule. *priced gets the lines with every stored
 * column, the price check's answer kept in price_check; *totals their
 * sums. field names the request field that gave the currency.
 */
int
sales_lines_price(sales_ctx_t *ctx, int64_t client_id, const char *currency,
    const char *field, json_t *lines, const char *price_date,
    json_t **priced_out, json_t **totals)
{
    sales_price_client_t   pc;
    json_t                *line, *priced, *all;
    int64_t                net_sum = 0, vat_sum = 0, gross_sum;
    size_t                 i;
    char                   prefix[32], name[201];

    *priced_out = NULL;
    *totals = NULL;

    if (sales_price_client_load(ctx, client_id, &pc) != 0) {
        return -1;
    }

    if (strcmp(pc.currency, currency) != 0) {
        return sales_field_error(ctx, field, "the document's currency %s is "
                                 "not the client's (%s)", currency,
                                 pc.currency);
    }

    all = json_array();

    json_array_foreach(lines, i, line) {
        json_t   *unit_v = json_object_get(line, "unit_price_minor");
        json_t   *disc_v = json_object_get(line, "discount_bp");
        json_t   *desc = json_object_get(line, "description");
        int64_t   product = sales_jint(line, "product_id");
        int64_t   qty = sales_jint(line, "quantity");
        int64_t   unit, loyalty, disc, rate, net, vat;
        int       has_unit = given(line, "unit_price_minor");

        snprintf(prefix, sizeof(prefix), "lines/%zu/", i);

        if (sales_price_line(ctx, &pc, product, qty, price_date, prefix,
                             &priced) != 0)
        {
            if (json_array_size(ctx->errors) == 0) {
                json_decref(all);
                return -1;
            }
            continue;
        }

        unit = has_unit ? json_integer_value(unit_v)
                        : sales_jint(priced, "list_unit_price_minor");
        loyalty = has_unit ? 0 : pc.discount_bp;
        disc = given(line, "discount_bp") ? json_integer_value(disc_v) : 0;
        rate = sales_jint(json_object_get(priced, "vat"), "rate_bp");

        if (sales_line_amounts(unit, qty, loyalty, disc, rate, &net, &vat)
            != 0)
        {
            json_decref(priced);
            sales_line_error(ctx, "lines", i, "quantity",
                             "the amount is too large");
            continue;
        }

        /* The line whose addition would not fit is the one named. */
        if (__builtin_add_overflow(net_sum, net, &net_sum)
            || __builtin_add_overflow(vat_sum, vat, &vat_sum)
            || __builtin_add_overflow(net_sum, vat_sum, &gross_sum))
        {
            json_decref(priced);
            sales_line_error(ctx, "lines", i, "quantity",
                             "the document's total is too large");
            break;
        }

        if (desc == NULL || json_is_null(desc)) {
            if (product_name(ctx, product, name, sizeof(name)) != 0) {
                json_decref(priced);
                json_decref(all);
                return -1;
            }
        } else {
            snprintf(name, sizeof(name), "%s", json_string_value(desc));
        }

        json_array_append_new(all, json_pack(
            "{s:I, s:I, s:s, s:I, s:I, s:O, s:O, s:O, s:o, s:I, s:I, s:I,"
            " s:I}",
            "position", (json_int_t) i + 1,
            "product_id", (json_int_t) product,
            "description", name,
            "quantity", (json_int_t) qty,
            "list_unit_price_minor",
            (json_int_t) sales_jint(priced, "list_unit_price_minor"),
            "unit_price_minor", has_unit ? unit_v : json_null(),
            "discount_bp", disc ? disc_v : json_null(),
            "override_reason",
            given(line, "override_reason")
            ? json_object_get(line, "override_reason") : json_null(),
            "price_check", priced,
            "rate_bp", (json_int_t) rate,
            "net_minor", (json_int_t) net,
            "vat_minor", (json_int_t) vat,
            "gross_minor", (json_int_t) (net + vat)));
    }

    if (json_array_size(ctx->errors)) {
        json_decref(all);
        return -1;
    }

    *totals = sales_totals_of(all);

    if (*totals == NULL) {
        json_decref(all);
        return sales_field_error(ctx, "lines", "the document's total is too "
                                 "large");
    }

    *priced_out = all;
    return 0;
}


/*
 * Totals of lines ({rate_bp, net_minor, vat_minor}, either sign): net,
 * VAT and gross, and the VAT per rate in the order the rates first
 * appear. NULL when a sum would overflow.
 */
json_t *
sales_totals_of(json_t *lines)
{
    json_t   *line, *vats, *vat = NULL;
    int64_t   net = 0, vatm = 0, gross;
    size_t    i, k;

    vats = json_array();

    json_array_foreach(lines, i, line) {
        int64_t  ln = sales_jint(line, "net_minor");
        int64_t  lv = sales_jint(line, "vat_minor");
        int64_t  rate = sales_jint(line, "rate_bp");
        int64_t  rn, rv;

        if (__builtin_add_overflow(net, ln, &net)
            || __builtin_add_overflow(vatm, lv, &vatm))
        {
            json_decref(vats);
            return NULL;
        }

        json_array_foreach(vats, k, vat) {
            if (sales_jint(vat, "rate_bp") == rate) {
                break;
            }
        }

        if (k == json_array_size(vats)) {
            vat = json_pack("{s:I, s:I, s:I}", "rate_bp", (json_int_t) rate,
                            "net_minor", (json_int_t) 0,
                            "vat_minor", (json_int_t) 0);
            json_array_append_new(vats, vat);
        }

        if (__builtin_add_overflow(sales_jint(vat, "net_minor"), ln, &rn)
            || __builtin_add_overflow(sales_jint(vat, "vat_minor"), lv, &rv))
        {
            json_decref(vats);
            return NULL;
        }

        json_object_set_new(vat, "net_minor", json_integer(rn));
        json_object_set_new(vat, "vat_minor", json_integer(rv));
    }

    if (__builtin_add_overflow(net, vatm, &gross)) {
        json_decref(vats);
        return NULL;
    }

    return json_pack("{s:I, s:I, s:I, s:o}", "net_minor", (json_int_t) net,
                     "vat_minor", (json_int_t) vatm, "gross_minor",
                     (json_int_t) gross, "vat", vats);
}


/* Writes totals into a document's row (table has the four columns). */
int
sales_totals_store(sales_ctx_t *ctx, const char *table, int64_t id,
    json_t *totals)
{
    sales_buf_t    sql = {0};
    sqlite3_stmt  *st;
    char          *vat;

    vat = json_dumps(json_object_get(totals, "vat"), JSON_COMPACT);
    if (vat == NULL) {
        return sales_fail(ctx, 500, "internal", "out of memory");
    }

    sales_buf_printf(&sql, "UPDATE %s SET net_minor = ?, vat_minor = ?,"
                     " gross_minor = ?, vat_breakdown = ? WHERE id = ?",
                     table);

    st = sales_prepare_bound(ctx, &sql, NULL);
    if (st == NULL) {
        free(vat);
        return -1;
    }

    sqlite3_bind_int64(st, 1, sales_jint(totals, "net_minor"));
    sqlite3_bind_int64(st, 2, sales_jint(totals, "vat_minor"));
    sqlite3_bind_int64(st, 3, sales_jint(totals, "gross_minor"));
    sqlite3_bind_text(st, 4, vat, -1, free);
    sqlite3_bind_int64(st, 5, id);

    return sales_step_done(ctx, st);
}


/* --- storing and reading rows of lines ------------------------------------ */

/*
 * Replaces the lines of a document: table's rows whose parent column is
 * id become rows, each an object giving the columns (a missing key is
 * NULL; an object or array is stored as its JSON text).
 */
int
sales_rows_replace(sales_ctx_t *ctx, const char *table, const char *parent,
    int64_t id, const char *const *columns, json_t *rows)
{
    sales_buf_t    sql = {0}, marks = {0};
    sqlite3_stmt  *st;
    json_t        *row;
    size_t         i;
    int            k;

    sales_buf_printf(&sql, "DELETE FROM %s WHERE %s = ?", table, parent);
    st = sales_prepare_bound(ctx, &sql, NULL);

    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, id);

    if (sales_step_done(ctx, st) != 0) {
        return -1;
    }

    sales_buf_printf(&sql, "INSERT INTO %s (%s", table, parent);
    sales_buf_adds(&marks, "?");

    for (k = 0; columns[k]; k++) {
        sales_buf_printf(&sql, ", %s", columns[k]);
        sales_buf_adds(&marks, ", ?");
    }

    sales_buf_printf(&sql, ") VALUES (%s)", marks.failed ? "" : marks.data);
    sales_buf_free(&marks);

    if (sql.failed) {
        sales_buf_free(&sql);
        return sales_fail(ctx, 500, "internal", "out of memory");
    }

    json_array_foreach(rows, i, row) {
        st = sales_prepare(ctx, sql.data);
        if (st == NULL) {
            sales_buf_free(&sql);
            return -1;
        }

        sqlite3_bind_int64(st, 1, id);

        for (k = 0; columns[k]; k++) {
            json_t  *v = json_object_get(row, columns[k]);

            if (json_is_object(v) || json_is_array(v)) {
                char  *text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);

                if (text == NULL) {
                    sales_finish(st);
                    sales_buf_free(&sql);
                    return sales_fail(ctx, 500, "internal", "out of memory");
                }
                sqlite3_bind_text(st, k + 2, text, -1, free);

            } else {
                sales_bind_json(st, k + 2, v ? v : json_null());
            }
        }

        if (sales_step_done(ctx, st) != 0) {
            sales_buf_free(&sql);
            return -1;
        }
    }

    sales_buf_free(&sql);
    return 0;
}


/*
 * The rows of table whose parent column is id, in position order, as
 * objects of id and the columns (integers, strings and NULLs as they
 * are; the columns named in json_columns parsed back from JSON text).
 */
int
sales_rows_load(sales_ctx_t *ctx, const char *table, const char *parent,
    int64_t id, const char *const *columns, const char *const *json_columns,
    json_t **out)
{
    sales_buf_t    sql = {0};
    sqlite3_stmt  *st;
    json_t        *rows;
    int            k, rc;

    *out = NULL;

    sales_buf_adds(&sql, "SELECT id");
    for (k = 0; columns[k]; k++) {
        sales_buf_printf(&sql, ", %s", columns[k]);
    }
    sales_buf_printf(&sql, " FROM %s WHERE %s = ? ORDER BY position, id",
                     table, parent);

    st = sales_prepare_bound(ctx, &sql, NULL);
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, id);
    rows = json_array();

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_t  *row = json_object();

        json_object_set_new(row, "id",
                            json_integer(sqlite3_column_int64(st, 0)));

        for (k = 0; columns[k]; k++) {
            json_t  *v;
            int      j, parse = 0;

            for (j = 0; json_columns && json_columns[j]; j++) {
                parse |= strcmp(json_columns[j], columns[k]) == 0;
            }

            switch (sqlite3_column_type(st, k + 1)) {
            case SQLITE_INTEGER:
                v = json_integer(sqlite3_column_int64(st, k + 1));
                break;
            case SQLITE_NULL:
                v = json_null();
                break;
            default:
                v = parse ? json_loads((const char *)
                                       sqlite3_column_text(st, k + 1), 0,
                                       NULL)
                          : json_stringn((const char *)
                                         sqlite3_column_text(st, k + 1),
                                         (size_t) sqlite3_column_bytes(st,
                                                                       k + 1));
            }

            json_object_set_new(row, columns[k], v ? v : json_null());
        }

        json_array_append_new(rows, row);
    }

    sales_finish(st);

    if (rc != SQLITE_DONE) {
        json_decref(rows);
        return sales_db_error(ctx, "reading lines");
    }

    *out = rows;
    return 0;
}


/* The columns of priced lines (proposals, orders). */
const char *const  sales_priced_columns[] = {
    "position", "product_id", "description", "quantity",
    "list_unit_price_minor", "unit_price_minor", "discount_bp",
    "override_reason", "price_check", "rate_bp", "net_minor", "vat_minor",
    "gross_minor", NULL
};

const char *const  sales_json_columns[] = { "price_check", NULL };


/* A document's VAT per rate, stored as JSON text in vat_breakdown. */
int
sales_vat_breakdown_load(sales_ctx_t *ctx, const char *table, json_t *doc)
{
    sales_buf_t    sql = {0};
    sqlite3_stmt  *st;
    json_t        *vat = NULL;

    sales_buf_printf(&sql, "SELECT vat_breakdown FROM %s WHERE id = ?",
                     table);
    st = sales_prepare_bound(ctx, &sql, NULL);
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, sales_jint(doc, "id"));

    if (sqlite3_step(st) == SQLITE_ROW) {
        vat = json_loads((const char *) sqlite3_column_text(st, 0), 0, NULL);
    }

    sales_finish(st);
    json_object_set_new(doc, "vat", vat ? vat : json_array());
    return 0;
}


/* What may happen to a document in its (shown) state: 0, or 409 naming
 * the state. allowed is a comma list. */
int
sales_require_status(sales_ctx_t *ctx, json_t *doc, const char *label,
    const char *allowed, const char *action)
{
    const char  *status = sales_jstr(doc, "status");
    const char  *p = allowed;
    size_t       len = status ? strlen(status) : 0;

    while (status && *p) {
        const char  *end = strchr(p, ',');
        size_t       n = end ? (size_t) (end - p) : strlen(p);

        if (n == len && memcmp(p, status, n) == 0) {
            return 0;
        }

        p += n + (end != NULL);
    }

    return sales_fail(ctx, 409, "conflict", "a%s %s %s cannot be %s",
                      status && strchr("aeiou", status[0]) ? "n" : "",
                      status ? status : "", label, action);
}


/* Sets state columns of one row (sql_set with ? marks, binds their
 * values), bumping updated_at and version. */
int
sales_set_state(sales_ctx_t *ctx, const char *table, int64_t id,
    const char *sql_set, json_t *binds)
{
    sales_buf_t    sql = {0};
    sqlite3_stmt  *st;
    json_t        *all;

    sales_buf_printf(&sql, "UPDATE %s SET %s, updated_at = ?,"
                     " version = version + 1 WHERE id = ?", table, sql_set);

    all = binds ? json_copy(binds) : json_array();
    json_array_append_new(all, json_integer(ctx->now_ms));
    json_array_append_new(all, json_integer(id));

    st = sales_prepare_bound(ctx, &sql, all);
    json_decref(all);

    return st ? sales_step_done(ctx, st) : -1;
}


/* Only the named keys; an unknown key is 422. */
int
sales_only_fields(sales_ctx_t *ctx, json_t *body, const char *const *known)
{
    const char  *key;
    json_t      *v;
    int          k;

    json_object_foreach(body, key, v) {
        for (k = 0; known[k]; k++) {
            if (strcmp(known[k], key) == 0) {
                break;
            }
        }
        if (known[k] == NULL) {
            sales_field_error(ctx, key, "unknown field");
        }
    }

    return json_array_size(ctx->errors) ? -1 : 0;
}


/* An optional text field of 1..max characters (max 0: required). */
int
sales_text_field(sales_ctx_t *ctx, json_t *body, const char *field,
    size_t max, int required)
{
    json_t  *v = json_object_get(body, field);

    if (v == NULL || json_is_null(v)) {
        return required ? sales_field_error(ctx, field, "is required") : 0;
    }

    if (!json_is_string(v) || json_string_length(v) == 0
        || sales_utf8_chars(json_string_value(v), json_string_length(v))
           > max)
    {
        return sales_field_error(ctx, field, "must be a string of 1 to %zu "
                                 "characters", max);
    }

    return 0;
}


/* An optional date field; "today" bounds: a date after today is refused
 * when not_future. */
int
sales_date_field(sales_ctx_t *ctx, json_t *body, const char *field,
    int required, int not_future, char *out)
{
    json_t  *v = json_object_get(body, field);
    char     today[11];

    sales_date_of(ctx->now_ms, today);

    if (v == NULL || json_is_null(v)) {
        if (required) {
            return sales_field_error(ctx, field, "is required");
        }
        if (out) {
            memcpy(out, today, 11);
        }
        return 0;
    }

    if (!json_is_string(v)
        || !sales_date_valid(json_string_value(v), json_string_length(v)))
    {
        return sales_field_error(ctx, field, "must be a date YYYY-MM-DD");
    }

    if (not_future && strcmp(json_string_value(v), today) > 0) {
        return sales_field_error(ctx, field, "must not be after today (%s)",
                                 today);
    }

    if (out) {
        memcpy(out, json_string_value(v), 11);
    }

    return 0;
}


/* date + days, "YYYY-MM-DD" (out >= 11). */
void
sales_date_add_days(const char *date, int64_t days, char *out)
{
    int      y = atoi(date);
    unsigned m = (unsigned) atoi(date + 5), d = (unsigned) atoi(date + 8);

    sales_date_of((sales_days_from_civil(y, m, d) + days) * 86400000LL, out);
}


/* Days from a to b ("YYYY-MM-DD" each). */
int64_t
sales_days_between(const char *a, const char *b)
{
    return sales_days_from_civil(atoi(b), (unsigned) atoi(b + 5),
                                 (unsigned) atoi(b + 8))
           - sales_days_from_civil(atoi(a), (unsigned) atoi(a + 5),
                                   (unsigned) atoi(a + 8));
}


/* --- lists of documents --------------------------------------------------- */

/*
 * The filters every document list shares: the caller's visibility, owner
 * (me, team, an id), and the integer filters named in ids on columns
 * t.<name>. where and binds are filled; 0 or -1 with a 400.
 */
int
sales_doc_filters(sales_ctx_t *ctx, const char *const *ids,
    sales_buf_t *where, json_t *binds)
{
    sales_scope_sql(ctx, "t.owner_id", where, binds);

    return sales_owner_filter(ctx, "t.owner_id", where, binds) == 0
           && sales_id_filters(ctx, ids, where, binds) == 0 ? 0 : -1;
}


/* ?status= as one of states; *status NULL when not given. */
int
sales_status_param(sales_ctx_t *ctx, const char *const *states,
    const char *label, const char **status)
{
    char  detail[64];

    snprintf(detail, sizeof(detail), "is not a state of a %s", label);
    return sales_param_enum(ctx, "status", states, detail, status);
}


/* round(a * b / c), half away from zero, without overflowing on the way;
 * c > 0. */
int64_t
sales_muldiv(int64_t a, int64_t b, int64_t c)
{
    __int128  p = (__int128) a * b;
    __int128  q = p / c, r = p % c;

    if (r < 0) {
        r = -r;
    }

    if (2 * r >= c) {
        q += p < 0 ? -1 : 1;
    }

    return (int64_t) q;
}


/* --- a document's fields ----------------------------------------------------- */

/*
 * Validates a document's own fields from body, leaving out the keys named
 * in apart (its lines and links, checked by the caller), so one answer
 * can name every problem. before is the document as shown (update) or
 * NULL (create); its lines and VAT are not fields. *values as
 * sales_validate gives it; 0, or -1 with the errors.
 */
int
sales_doc_fields(sales_ctx_t *ctx, const sales_resource_t *res, json_t *body,
    json_t *before, const char *const *apart, json_t **values)
{
    json_t  *scalars = json_deep_copy(body), *shown = NULL;
    int      k, rc;

    for (k = 0; apart[k]; k++) {
        json_object_del(scalars, apart[k]);
    }

    if (before) {
        shown = json_deep_copy(before);
        json_object_del(shown, "lines");
        json_object_del(shown, "vat");
    }

    rc = sales_validate(ctx, res, scalars, shown, values);
    json_decref(scalars);
    json_decref(shown);
    return rc;
}


/*
 * The end of a draft's PATCH: lines replaced show in the diff as
 * lines_note (and give the row a new version even when nothing else
 * changed); the change is audited and the document answered as shown.
 */
int
sales_draft_updated(sales_ctx_t *ctx, const sales_resource_t *res,
    int64_t id, json_t *diff, const char *lines_note,
    int (*load)(sales_ctx_t *ctx, int64_t id, json_t **out), json_t **out)
{
    if (lines_note) {
        json_object_set_new(diff, "lines", json_pack("[s, s]", "replaced",
                                                     lines_note));
        if (json_object_size(diff) == 1
            && sales_set_state(ctx, res->table, id, "id = id", NULL) != 0)
        {
            return -1;
        }
    }

    return (json_object_size(diff) == 0
            || sales_audit(ctx, "update", res->object_type, id, diff) == 0)
           && load(ctx, id, out) == 0 ? 200 : -1;
}


/*
 * The PATCH of a draft with priced lines (a proposal, an order): its
 * fields and lines checked together, the fields written, and new lines —
 * or the same lines on another price date — priced again through
 * doc->store; otherwise the lines keep the prices they were taken at.
 */
int
sales_priced_update(sales_ctx_t *ctx, const sales_priced_doc_t *doc,
    int64_t id, json_t *body, json_t **out)
{
    static const char *const  lines_apart[] = { "lines", NULL };

    json_t      *before, *changes = NULL, *diff = NULL, *lines, *inputs;
    const char  *price_date;
    int          rc = -1, reprice;

    if (doc->load(ctx, id, &before) != 0) {
        return -1;
    }

    if (sales_require_status(ctx, before, doc->res->label, "draft",
                             doc->not_draft) != 0)
    {
        goto done;
    }

    lines = json_object_get(body, "lines");
    rc = sales_doc_fields(ctx, doc->res, body, before, lines_apart, &changes);

    if (lines) {
        sales_lines_check(ctx, lines);
    }

    if (rc != 0 || json_array_size(ctx->errors)) {
        rc = json_array_size(ctx->errors) ? sales_validation_failed(ctx) : -1;
        goto done;
    }

    rc = -1;

    if (sales_update(ctx, doc->res, id, before, changes, &diff) != 0) {
        goto done;
    }

    price_date = json_object_get(changes, "price_date")
                 ? sales_jstr(changes, "price_date")
                 : sales_jstr(before, "price_date");
    reprice = lines != NULL || json_object_get(diff, "price_date") != NULL;

    if (reprice) {
        inputs = lines ? json_incref(lines)
                       : sales_lines_as_input(json_object_get(before,
                                                              "lines"));
        rc = doc->store(ctx, id, before, inputs, price_date);
        json_decref(inputs);

        if (rc != 0) {
            rc = json_array_size(ctx->errors) && ctx->status == 0
                 ? sales_validation_failed(ctx) : -1;
            goto done;
        }
    }

    rc = sales_draft_updated(ctx, doc->res, id, diff,
                             reprice ? "priced again" : NULL, doc->load, out);

done:

    json_decref(diff);
    json_decref(changes);
    json_decref(before);
    return rc;
}
