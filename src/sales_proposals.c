/*
 * Proposals: priced offers for an opportunity, their states, revisions,
 * sending with signed links, and the follow-up queue.
 */

#include "sales_resource.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#define MAX_LINES       200
#define MAX_RECIPIENTS  50
#define DEFAULT_VALID_DAYS  30

static const char *const  proposal_states[] = {
    "draft", "sent", "viewed", "accepted", "rejected", "expired",
    "superseded", NULL
};

static int proposal_derive(sales_ctx_t *ctx, json_t *before, json_t *merged,
    json_t *write);

static const sales_field_t  proposal_fields[] = {
    { "number", SALES_F_STRING, SALES_F_READONLY, 0, 0, NULL, NULL, NULL, 0,
      0 },
    { "revision", SALES_F_INT, SALES_F_READONLY, 0, 0, NULL, NULL, NULL, 0,
      0 },
    { "opportunity_id", SALES_F_INT, SALES_F_REQUIRED, 1, INT64_MAX, NULL,
      NULL, NULL, 0, 0 },
    { "client_id", SALES_F_INT, SALES_F_READONLY, 0, 0, NULL, NULL, NULL, 0,
      0 },
    { "owner_id", SALES_F_INT, SALES_F_READONLY, 0, 0, NULL, NULL, NULL, 0,
      0 },
    { "currency", SALES_F_STRING, SALES_F_READONLY, 0, 0, NULL, NULL, NULL,
      0, 0 },
    { "status", SALES_F_ENUM, SALES_F_READONLY, 0, 0, proposal_states, NULL,
      NULL, 0, 0 },
    { "cover_letter", SALES_F_STRING, SALES_F_MULTILINE, 0, 20000, NULL,
      NULL, NULL, 0, 0 },
    { "terms", SALES_F_STRING, SALES_F_MULTILINE, 0, 10000, NULL, NULL, NULL,
      0, 0 },
    { "notes", SALES_F_STRING, SALES_F_MULTILINE, 0, 10000, NULL, NULL, NULL,
      0, 0 },
    { "valid_until", SALES_F_DATE, SALES_F_NOTNULL, 0, 0, NULL, NULL, NULL, 0,
      0 },
    { "price_date", SALES_F_DATE, SALES_F_NOTNULL, 0, 0, NULL, NULL, NULL, 0,
      0 },
    { "net_minor", SALES_F_INT, SALES_F_READONLY, 0, 0, NULL, NULL, NULL, 0,
      0 },
    { "vat_minor", SALES_F_INT, SALES_F_READONLY, 0, 0, NULL, NULL, NULL, 0,
      0 },
    { "gross_minor", SALES_F_INT, SALES_F_READONLY, 0, 0, NULL, NULL, NULL, 0,
      0 },
    { "vat_breakdown", SALES_F_STRING, SALES_F_HIDDEN, 0, 0, NULL, NULL, NULL,
      0, 0 },
    { "supersedes_id", SALES_F_INT, SALES_F_READONLY, 0, 0, NULL, NULL, NULL,
      0, 0 },
    { "superseded_by_id", SALES_F_INT, SALES_F_READONLY, 0, 0, NULL, NULL,
      NULL, 0, 0 },
    { "sent_at", SALES_F_TIME, SALES_F_READONLY, 0, 0, NULL, NULL, NULL, 0,
      0 },
    { "first_viewed_at", SALES_F_TIME, SALES_F_READONLY, 0, 0, NULL, NULL,
      NULL, 0, 0 },
    { "last_viewed_at", SALES_F_TIME, SALES_F_READONLY, 0, 0, NULL, NULL,
      NULL, 0, 0 },
    { "view_count", SALES_F_INT, SALES_F_READONLY, 0, 0, NULL, NULL, NULL, 0,
      0 },
    { "decided_at", SALES_F_TIME, SALES_F_READONLY, 0, 0, NULL, NULL, NULL,
      0, 0 },
    { "decided_by", SALES_F_INT, SALES_F_READONLY, 0, 0, NULL, NULL, NULL, 0,
      0 },
    { "decision_note", SALES_F_STRING, SALES_F_READONLY, 0, 0, NULL, NULL,
      NULL, 0, 0 },
    { "decided_by_recipient_id", SALES_F_INT, SALES_F_READONLY, 0, 0, NULL,
      NULL, NULL, 0, 0 },
    { NULL, 0, 0, 0, 0, NULL, NULL, NULL, 0, 0 }
};

static const sales_resource_t  proposals_res = {
    "proposals", "proposal", "proposal", proposal_fields, NULL,
    proposal_derive, "/proposals"
};


static const char *
jstr(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}


static int64_t
jint(json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}


static void
date_plus_days(int64_t now_ms, int days, char *out)
{
    sales_date_of(now_ms + (int64_t) days * 86400000LL, out);
}


/* Create: the opportunity (visible, its client active) gives client,
 * owner and currency; dates get their defaults and may not be past. */
static int
proposal_derive(sales_ctx_t *ctx, json_t *before, json_t *merged,
    json_t *write)
{
    json_t  *opp, *v;
    char     today[11], date[11];
    int      rc = 0;

    sales_date_of(ctx->now_ms, today);

    v = json_object_get(write, "opportunity_id");

    if (v && before) {
        rc = sales_field_error(ctx, "opportunity_id", "cannot be changed");

    } else if (v) {
        if (sales_opportunity_load(ctx, json_integer_value(v), &opp) != 0) {
            if (ctx->status != 404) {
                return -1;
            }
            ctx->status = 0;
            rc = sales_field_error(ctx, "opportunity_id",
                                   "no such opportunity");

        } else {
            json_object_set(write, "client_id",
                            json_object_get(opp, "client_id"));
            json_object_set(write, "owner_id",
                            json_object_get(opp, "owner_id"));
            json_object_set(write, "currency",
                            json_object_get(opp, "currency"));
            json_decref(opp);

            if (sales_client_usable(ctx, jint(write, "client_id"),
                                    "opportunity_id", NULL) != 0
                && ctx->status != 422)
            {
                return -1;
            }
        }
    }

    if (before == NULL) {
        json_object_set_new(write, "status", json_string("draft"));
        json_object_set_new(write, "revision", json_integer(1));

        if (json_object_get(write, "valid_until") == NULL) {
            date_plus_days(ctx->now_ms, DEFAULT_VALID_DAYS, date);
            json_object_set_new(write, "valid_until", json_string(date));
        }

        if (json_object_get(write, "price_date") == NULL) {
            json_object_set_new(write, "price_date", json_string(today));
        }
    }

    v = json_object_get(write, "valid_until");
    if (v && json_is_string(v) && strcmp(json_string_value(v), today) < 0) {
        rc = sales_field_error(ctx, "valid_until", "must not be in the past");
    }

    (void) merged;
    return json_array_size(ctx->errors) ? -1 : rc;
}


/* --- lines ------------------------------------------------------------ */

static int
line_error(sales_ctx_t *ctx, size_t i, const char *field, const char *detail)
{
    char  name[64];

    snprintf(name, sizeof(name), "lines/%zu/%s", i, field);
    return sales_field_error(ctx, name, "%s", detail);
}


static int
check_int_field(sales_ctx_t *ctx, json_t *line, size_t i, const char *field,
    int64_t min, int64_t max, int required)
{
    json_t  *v = json_object_get(line, field);
    char     detail[96];

    if (v == NULL || json_is_null(v)) {
        return required ? line_error(ctx, i, field, "is required") : 0;
    }

    if (!json_is_integer(v) || json_integer_value(v) < min
        || json_integer_value(v) > max)
    {
        snprintf(detail, sizeof(detail), "must be a whole number from %lld "
                 "to %lld", (long long) min, (long long) max);
        return line_error(ctx, i, field, detail);
    }

    return 0;
}


static int
check_text_field(sales_ctx_t *ctx, json_t *line, size_t i, const char *field,
    size_t max)
{
    json_t  *v = json_object_get(line, field);

    if (v == NULL || json_is_null(v)) {
        return 0;
    }

    if (!json_is_string(v) || json_string_length(v) == 0
        || sales_utf8_chars(json_string_value(v), json_string_length(v))
           > max)
    {
        char  detail[64];

        snprintf(detail, sizeof(detail), "must be a string of 1 to %zu "
                 "characters", max);
        return line_error(ctx, i, field, detail);
    }

    return 0;
}


/* The shape of each line; prices come after. */
static int
check_lines(sales_ctx_t *ctx, json_t *lines)
{
    static const char *const  known[] = {
        "product_id", "quantity", "description", "unit_price_minor",
        "discount_bp", "override_reason", NULL
    };

    const char  *key;
    json_t      *line, *v;
    size_t       i;
    int          k;

    if (!json_is_array(lines) || json_array_size(lines) == 0
        || json_array_size(lines) > MAX_LINES)
    {
        return sales_field_error(ctx, "lines", "must be an array of 1 to %d "
                                 "lines", MAX_LINES);
    }

    json_array_foreach(lines, i, line) {
        if (!json_is_object(line)) {
            char  name[32];

            snprintf(name, sizeof(name), "lines/%zu", i);
            sales_field_error(ctx, name, "must be an object");
            continue;
        }

        json_object_foreach(line, key, v) {
            for (k = 0; known[k]; k++) {
                if (strcmp(known[k], key) == 0) {
                    break;
                }
            }
            if (known[k] == NULL) {
                line_error(ctx, i, key, "unknown field");
            }
        }

        check_int_field(ctx, line, i, "product_id", 1, INT64_MAX, 1);
        check_int_field(ctx, line, i, "quantity", 1, 1000000000, 1);
        check_int_field(ctx, line, i, "unit_price_minor", 0,
                        1000000000000LL, 0);
        check_int_field(ctx, line, i, "discount_bp", 1, 10000, 0);
        check_text_field(ctx, line, i, "description", 1000);
        check_text_field(ctx, line, i, "override_reason", 500);

        if ((json_object_get(line, "unit_price_minor")
             && !json_is_null(json_object_get(line, "unit_price_minor")))
            || (json_object_get(line, "discount_bp")
                && !json_is_null(json_object_get(line, "discount_bp"))))
        {
            if (!json_is_string(json_object_get(line, "override_reason"))) {
                line_error(ctx, i, "override_reason", "is required when the "
                           "price is overridden or discounted");
            }
        }
    }

    return json_array_size(ctx->errors) ? -1 : 0;
}


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
    return rc == SQLITE_ROW ? 0 : -1;
}


/*
 * Prices the lines through the price check and writes them; the totals
 * are the sums of the lines, VAT grouped by rate. Answers the totals in
 * *totals (net_minor, vat_minor, gross_minor, vat).
 */
static int
price_and_store_lines(sales_ctx_t *ctx, int64_t proposal_id,
    int64_t client_id, const char *currency, json_t *lines,
    const char *price_date, json_t **totals)
{
    sales_price_client_t   pc;
    sqlite3_stmt          *st;
    json_t                *line, *priced, *vats, *vat = NULL;
    int64_t                net_total = 0, vat_total = 0;
    size_t                 i, k;
    char                   prefix[32], name[201];

    *totals = NULL;

    if (sales_price_client_load(ctx, client_id, &pc) != 0) {
        return -1;
    }

    if (strcmp(pc.currency, currency) != 0) {
        return sales_field_error(ctx, "opportunity_id", "the opportunity is "
                                 "in another currency than the client");
    }

    st = sales_prepare(ctx, "DELETE FROM proposal_lines WHERE proposal_id = ?");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, proposal_id);
    if (sales_step_done(ctx, st) != 0) {
        return -1;
    }

    vats = json_array();

    json_array_foreach(lines, i, line) {
        json_t   *unit_v = json_object_get(line, "unit_price_minor");
        json_t   *disc_v = json_object_get(line, "discount_bp");
        json_t   *desc = json_object_get(line, "description");
        int64_t   product = jint(line, "product_id");
        int64_t   qty = jint(line, "quantity");
        int64_t   unit, loyalty, disc, rate, net, vatm;
        char     *snapshot;
        int       has_unit = unit_v && !json_is_null(unit_v);

        snprintf(prefix, sizeof(prefix), "lines/%zu/", i);

        if (sales_price_line(ctx, &pc, product, qty, price_date, prefix,
                             &priced) != 0)
        {
            if (json_array_size(ctx->errors) == 0) {
                json_decref(vats);
                return -1;
            }
            continue;
        }

        /* The override: the AE's unit price (no loyalty discount on top
         * of a negotiated price) and/or an extra discount. */
        unit = has_unit ? json_integer_value(unit_v)
                        : jint(priced, "list_unit_price_minor");
        loyalty = has_unit ? 0 : pc.discount_bp;
        disc = disc_v && !json_is_null(disc_v) ? json_integer_value(disc_v)
                                                : 0;
        rate = jint(json_object_get(priced, "vat"), "rate_bp");

        if (sales_line_amounts(unit, qty, loyalty, disc, rate, &net, &vatm)
            != 0)
        {
            json_decref(priced);
            line_error(ctx, i, "quantity", "the amount is too large");
            continue;
        }

        if (desc == NULL || json_is_null(desc)) {
            if (product_name(ctx, product, name, sizeof(name)) != 0) {
                json_decref(priced);
                json_decref(vats);
                return sales_db_error(ctx, "reading a product");
            }
        } else {
            snprintf(name, sizeof(name), "%s", json_string_value(desc));
        }

        snapshot = json_dumps(priced, JSON_COMPACT | JSON_SORT_KEYS);

        st = sales_prepare(ctx,
            "INSERT INTO proposal_lines (proposal_id, position, product_id,"
            " description, quantity, list_unit_price_minor, unit_price_minor,"
            " discount_bp, override_reason, price_check, rate_bp, net_minor,"
            " vat_minor, gross_minor)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");

        if (st == NULL || snapshot == NULL) {
            free(snapshot);
            sales_finish(st);
            json_decref(priced);
            json_decref(vats);
            return st ? sales_fail(ctx, 500, "internal", "out of memory")
                      : -1;
        }

        sqlite3_bind_int64(st, 1, proposal_id);
        sqlite3_bind_int64(st, 2, (int64_t) i + 1);
        sqlite3_bind_int64(st, 3, product);
        sqlite3_bind_text(st, 4, name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 5, qty);
        sqlite3_bind_int64(st, 6, jint(priced, "list_unit_price_minor"));
        sales_bind_json(st, 7, unit_v ? unit_v : json_null());
        sales_bind_json(st, 8, disc_v ? disc_v : json_null());
        sales_bind_json(st, 9, json_object_get(line, "override_reason")
                               ? json_object_get(line, "override_reason")
                               : json_null());
        sqlite3_bind_text(st, 10, snapshot, -1, free);
        sqlite3_bind_int64(st, 11, rate);
        sqlite3_bind_int64(st, 12, net);
        sqlite3_bind_int64(st, 13, vatm);
        sqlite3_bind_int64(st, 14, net + vatm);

        json_decref(priced);

        if (sales_step_done(ctx, st) != 0) {
            json_decref(vats);
            return -1;
        }

        if (__builtin_add_overflow(net_total, net, &net_total)
            || __builtin_add_overflow(vat_total, vatm, &vat_total)
            || net_total > INT64_MAX - vat_total)
        {
            json_decref(vats);
            line_error(ctx, i, "quantity", "the proposal's total is too "
                       "large");
            return -1;
        }

        json_array_foreach(vats, k, vat) {
            if (jint(vat, "rate_bp") == rate) {
                break;
            }
        }

        if (k == json_array_size(vats) || vat == NULL) {
            vat = json_pack("{s:I, s:I, s:I}", "rate_bp", (json_int_t) rate,
                            "net_minor", (json_int_t) 0,
                            "vat_minor", (json_int_t) 0);
            json_array_append_new(vats, vat);
        }

        json_object_set_new(vat, "net_minor",
                            json_integer(jint(vat, "net_minor") + net));
        json_object_set_new(vat, "vat_minor",
                            json_integer(jint(vat, "vat_minor") + vatm));
    }

    if (json_array_size(ctx->errors)) {
        json_decref(vats);
        return -1;
    }

    *totals = json_pack("{s:I, s:I, s:I, s:o}", "net_minor",
                        (json_int_t) net_total, "vat_minor",
                        (json_int_t) vat_total, "gross_minor",
                        (json_int_t) (net_total + vat_total), "vat", vats);
    return 0;
}


static int
store_totals(sales_ctx_t *ctx, int64_t id, json_t *totals)
{
    sqlite3_stmt  *st;
    char          *vat;

    vat = json_dumps(json_object_get(totals, "vat"), JSON_COMPACT);

    st = sales_prepare(ctx, "UPDATE proposals SET net_minor = ?,"
                            " vat_minor = ?, gross_minor = ?,"
                            " vat_breakdown = ? WHERE id = ?");
    if (st == NULL || vat == NULL) {
        free(vat);
        sales_finish(st);
        return st ? sales_fail(ctx, 500, "internal", "out of memory") : -1;
    }

    sqlite3_bind_int64(st, 1, jint(totals, "net_minor"));
    sqlite3_bind_int64(st, 2, jint(totals, "vat_minor"));
    sqlite3_bind_int64(st, 3, jint(totals, "gross_minor"));
    sqlite3_bind_text(st, 4, vat, -1, free);
    sqlite3_bind_int64(st, 5, id);

    return sales_step_done(ctx, st);
}


/* --- reading ---------------------------------------------------------- */

/* Sent or viewed past its validity reads as expired. */
static void
effective_status(sales_ctx_t *ctx, json_t *p)
{
    const char  *status = jstr(p, "status");
    const char  *until = jstr(p, "valid_until");
    char         today[11];

    sales_date_of(ctx->now_ms, today);

    if (status && until
        && (strcmp(status, "sent") == 0 || strcmp(status, "viewed") == 0)
        && strcmp(until, today) < 0)
    {
        json_object_set_new(p, "status", json_string("expired"));
    }
}


static int
add_lines(sales_ctx_t *ctx, json_t *p)
{
    sqlite3_stmt  *st;
    json_t        *lines = json_array();
    int            rc;

    st = sales_prepare(ctx, "SELECT id, position, product_id, description,"
                            " quantity, list_unit_price_minor,"
                            " unit_price_minor, discount_bp, override_reason,"
                            " price_check, rate_bp, net_minor, vat_minor,"
                            " gross_minor FROM proposal_lines"
                            " WHERE proposal_id = ? ORDER BY position");
    if (st == NULL) {
        json_decref(lines);
        return -1;
    }

    sqlite3_bind_int64(st, 1, jint(p, "id"));

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_t  *l, *check;

        check = json_loads((const char *) sqlite3_column_text(st, 9), 0, NULL);

#define OPT_INT(i) (sqlite3_column_type(st, i) == SQLITE_NULL ? json_null()  \
                    : json_integer(sqlite3_column_int64(st, i)))

        l = json_pack("{s:I, s:I, s:I, s:s, s:I, s:I, s:o, s:o, s:s?, s:o,"
                      " s:I, s:I, s:I, s:I}",
                      "id", (json_int_t) sqlite3_column_int64(st, 0),
                      "position", (json_int_t) sqlite3_column_int64(st, 1),
                      "product_id", (json_int_t) sqlite3_column_int64(st, 2),
                      "description", (const char *) sqlite3_column_text(st, 3),
                      "quantity", (json_int_t) sqlite3_column_int64(st, 4),
                      "list_unit_price_minor",
                      (json_int_t) sqlite3_column_int64(st, 5),
                      "unit_price_minor", OPT_INT(6),
                      "discount_bp", OPT_INT(7),
                      "override_reason",
                      (const char *) sqlite3_column_text(st, 8),
                      "price_check", check ? check : json_object(),
                      "rate_bp", (json_int_t) sqlite3_column_int64(st, 10),
                      "net_minor", (json_int_t) sqlite3_column_int64(st, 11),
                      "vat_minor", (json_int_t) sqlite3_column_int64(st, 12),
                      "gross_minor",
                      (json_int_t) sqlite3_column_int64(st, 13));
#undef OPT_INT

        json_array_append_new(lines, l);
    }

    sales_finish(st);

    if (rc != SQLITE_DONE) {
        json_decref(lines);
        return sales_db_error(ctx, "reading proposal lines");
    }

    json_object_set_new(p, "lines", lines);
    return 0;
}


/* The proposal as the API shows it: totals with the VAT per rate, lines,
 * the status as of today. */
static int
proposal_finish(sales_ctx_t *ctx, json_t *p)
{
    json_t  *vat;
    char    *text;

    text = NULL;
    {
        sqlite3_stmt  *st = sales_prepare(ctx, "SELECT vat_breakdown FROM"
                                               " proposals WHERE id = ?");
        if (st == NULL) {
            return -1;
        }

        sqlite3_bind_int64(st, 1, jint(p, "id"));
        if (sqlite3_step(st) == SQLITE_ROW) {
            text = strdup((const char *) sqlite3_column_text(st, 0));
        }
        sales_finish(st);
    }

    vat = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    json_object_set_new(p, "vat", vat ? vat : json_array());

    effective_status(ctx, p);
    return add_lines(ctx, p);
}


int
sales_proposal_load(sales_ctx_t *ctx, int64_t id, json_t **out)
{
    int  rc;

    rc = sales_load_owned(ctx, &proposals_res, id, out);

    if (rc == 0 && proposal_finish(ctx, *out) != 0) {
        json_decref(*out);
        *out = NULL;
        return -1;
    }

    return rc;
}


int
sales_proposals_get(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    return sales_proposal_load(ctx, ctx->ids[0], out) == 0 ? 200 : -1;
}


static int
emit(sales_ctx_t *ctx, const char *type, json_t *p, json_t *extra)
{
    json_t  *data;
    int      rc;

    data = json_pack("{s:O}", "proposal", p);
    if (extra) {
        json_object_update(data, extra);
    }

    rc = sales_event(ctx, type, "proposal", jint(p, "id"), data);
    json_decref(data);
    return rc;
}


/* --- writing ---------------------------------------------------------- */

static int64_t
next_number(sales_ctx_t *ctx, const char *prefix, char *out, size_t size)
{
    sqlite3_stmt  *st;
    char           series[16], year[5];
    int64_t        n = -1;

    sales_date_of(ctx->now_ms, series);
    memcpy(year, series, 4);
    year[4] = '\0';
    snprintf(series, sizeof(series), "%.4s-%s", prefix, year);

    /* Taken inside the request's transaction: a failed request gives its
     * number back, so the series has no gaps. */
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

    snprintf(out, size, "%s-%04lld", series, (long long) n);
    return n;
}


int
sales_proposals_create(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    json_t   *scalars, *values, *lines, *totals;
    int64_t   id;
    char      number[64];
    int       rc;

    lines = json_object_get(body, "lines");
    scalars = json_deep_copy(body);
    json_object_del(scalars, "lines");

    rc = sales_validate(ctx, &proposals_res, scalars, NULL, &values);
    json_decref(scalars);

    if (lines == NULL) {
        sales_field_error(ctx, "lines", "is required");
    } else {
        check_lines(ctx, lines);
    }

    if (rc != 0 || json_array_size(ctx->errors)) {
        json_decref(values);
        return json_array_size(ctx->errors) ? sales_validation_failed(ctx)
                                            : -1;
    }

    if (next_number(ctx, "PRO", number, sizeof(number)) < 0) {
        json_decref(values);
        return -1;
    }

    json_object_set_new(values, "number", json_string(number));
    id = sales_insert(ctx, &proposals_res, values);

    if (id < 0) {
        json_decref(values);
        return -1;
    }

    rc = price_and_store_lines(ctx, id, jint(values, "client_id"),
                               jstr(values, "currency"), lines,
                               jstr(values, "price_date"), &totals);

    if (rc != 0) {
        json_decref(values);
        return json_array_size(ctx->errors) ? sales_validation_failed(ctx)
                                            : -1;
    }

    rc = store_totals(ctx, id, totals);
    json_decref(totals);

    /* The first proposal brings its opportunity to the proposal stage. */
    if (rc == 0) {
        json_t   *binds = json_pack("[I]", (json_int_t) jint(values,
                                                           "opportunity_id"));
        int64_t   n = sales_count(ctx, "SELECT count(*) FROM proposals"
                                       " WHERE opportunity_id = ?", binds);

        json_decref(binds);
        rc = n == 1 ? sales_opportunity_reach_proposal(ctx,
                                          jint(values, "opportunity_id"))
                    : (n < 0 ? -1 : 0);
    }

    json_decref(values);

    if (rc != 0 || sales_proposal_load(ctx, id, out) != 0
        || sales_audit(ctx, "create", "proposal", id, *out) != 0
        || emit(ctx, "proposal.created", *out, NULL) != 0)
    {
        return -1;
    }

    snprintf(ctx->location, sizeof(ctx->location), "/proposals/%lld",
             (long long) id);
    return 201;
}


/* What may happen to a proposal in its (effective) state. */
static int
require_status(sales_ctx_t *ctx, json_t *p, const char *allowed,
    const char *action)
{
    const char  *status = jstr(p, "status");
    char         list[96];

    snprintf(list, sizeof(list), ",%s,", allowed);

    {
        char  key[24];

        snprintf(key, sizeof(key), ",%s,", status);
        if (strstr(list, key)) {
            return 0;
        }
    }

    return sales_fail(ctx, 409, "conflict", "a %s proposal cannot be %s",
                      status, action);
}


int
sales_proposals_update(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    json_t      *before, *scalars, *changes = NULL, *diff = NULL, *lines;
    json_t      *totals = NULL;
    const char  *price_date;
    int64_t      id = ctx->ids[0];
    int          rc = -1, reprice;

    if (sales_proposal_load(ctx, id, &before) != 0) {
        return -1;
    }

    if (require_status(ctx, before, "draft", "edited; revise it") != 0) {
        goto done;
    }

    lines = json_object_get(body, "lines");
    scalars = json_deep_copy(body);
    json_object_del(scalars, "lines");

    {
        json_t  *shown = json_deep_copy(before);

        json_object_del(shown, "lines");
        json_object_del(shown, "vat");
        rc = sales_validate(ctx, &proposals_res, scalars, shown, &changes);
        json_decref(shown);
    }

    json_decref(scalars);

    if (lines) {
        check_lines(ctx, lines);
    }

    if (rc != 0 || json_array_size(ctx->errors)) {
        rc = json_array_size(ctx->errors) ? sales_validation_failed(ctx) : -1;
        goto done;
    }

    rc = -1;

    if (sales_update(ctx, &proposals_res, id, before, changes, &diff) != 0) {
        goto done;
    }

    price_date = json_object_get(changes, "price_date")
                 ? jstr(changes, "price_date") : jstr(before, "price_date");
    reprice = lines != NULL || json_object_get(diff, "price_date") != NULL;

    if (reprice) {
        json_t  *inputs = lines ? json_incref(lines) : json_array();
        json_t  *old;
        size_t   i;

        /* The stored lines, priced again for a new date. */
        if (lines == NULL) {
            json_array_foreach(json_object_get(before, "lines"), i, old) {
                json_t  *in = json_pack("{s:O, s:O, s:O}",
                                        "product_id",
                                        json_object_get(old, "product_id"),
                                        "quantity",
                                        json_object_get(old, "quantity"),
                                        "description",
                                        json_object_get(old, "description"));
                const char *keys[] = { "unit_price_minor", "discount_bp",
                                       "override_reason", NULL };
                int         k;

                for (k = 0; keys[k]; k++) {
                    if (!json_is_null(json_object_get(old, keys[k]))) {
                        json_object_set(in, keys[k],
                                        json_object_get(old, keys[k]));
                    }
                }
                json_array_append_new(inputs, in);
            }
        }

        rc = price_and_store_lines(ctx, id, jint(before, "client_id"),
                                   jstr(before, "currency"), inputs,
                                   price_date, &totals);
        json_decref(inputs);

        if (rc != 0) {
            rc = json_array_size(ctx->errors) ? sales_validation_failed(ctx)
                                              : -1;
            goto done;
        }

        rc = store_totals(ctx, id, totals);
        json_object_set_new(diff, "lines", json_pack("[s, s]", "replaced",
                                                     "priced again"));

        if (rc == 0 && json_object_size(diff) == 1) {
            /* only the lines changed: still a new version */
            json_t  *now = json_integer(ctx->now_ms);

            rc = sales_set_column(ctx, &proposals_res, id, "updated_at",
                                  now) == 0 ? 0 : -1;
            json_decref(now);
        }

        if (rc != 0) {
            goto done;
        }
    }

    rc = -1;

    if ((json_object_size(diff)
         && sales_audit(ctx, "update", "proposal", id, diff) != 0)
        || sales_proposal_load(ctx, id, out) != 0)
    {
        goto done;
    }

    rc = 200;

done:

    json_decref(totals);
    json_decref(diff);
    json_decref(changes);
    json_decref(before);
    return rc;
}


/* Sets status columns by name; used by the state changes. */
static int
set_state(sales_ctx_t *ctx, int64_t id, const char *sql_set, json_t *binds)
{
    sales_buf_t    sql = {0};
    sqlite3_stmt  *st;
    json_t        *all;

    sales_buf_printf(&sql, "UPDATE proposals SET %s, updated_at = ?,"
                     " version = version + 1 WHERE id = ?", sql_set);

    st = sql.failed ? NULL : sales_prepare(ctx, sql.data);
    sales_buf_free(&sql);

    if (st == NULL) {
        return -1;
    }

    all = json_copy(binds);
    json_array_append_new(all, json_integer(ctx->now_ms));
    json_array_append_new(all, json_integer(id));
    sales_bind_all(st, all);
    json_decref(all);

    return sales_step_done(ctx, st);
}


static int
decide(sales_ctx_t *ctx, json_t *body, json_t **out, int accept)
{
    const char  *key;
    json_t      *p, *v, *note, *binds, *changes;
    int          rc;

    json_object_foreach(body, key, v) {
        if (strcmp(key, "note") != 0) {
            sales_field_error(ctx, key, "unknown field");
        }
    }

    note = json_object_get(body, "note");

    if (note && !json_is_null(note)
        && (!json_is_string(note) || json_string_length(note) == 0
            || sales_utf8_chars(json_string_value(note),
                                json_string_length(note)) > 2000))
    {
        sales_field_error(ctx, "note", "must be a string of 1 to 2000 "
                          "characters");

    } else if (!accept && !json_is_string(note)) {
        sales_field_error(ctx, "note", "is required: why the client said no");
    }

    if (json_array_size(ctx->errors)) {
        return sales_validation_failed(ctx);
    }

    if (sales_proposal_load(ctx, ctx->ids[0], &p) != 0) {
        return -1;
    }

    if (require_status(ctx, p, "sent,viewed",
                       accept ? "accepted" : "rejected") != 0)
    {
        json_decref(p);
        return -1;
    }

    binds = json_pack("[s, I, I, O]", accept ? "accepted" : "rejected",
                      (json_int_t) ctx->now_ms, (json_int_t) ctx->user.id,
                      note ? note : json_null());
    rc = set_state(ctx, ctx->ids[0], "status = ?, decided_at = ?,"
                   " decided_by = ?, decision_note = ?", binds);
    json_decref(binds);

    changes = json_pack("{s:[Os]}", "status", json_object_get(p, "status"),
                        accept ? "accepted" : "rejected");
    json_decref(p);

    rc = rc == 0
         && sales_audit(ctx, accept ? "accept" : "reject", "proposal",
                        ctx->ids[0], changes) == 0
         && sales_proposal_load(ctx, ctx->ids[0], out) == 0
         && emit(ctx, accept ? "proposal.accepted" : "proposal.rejected",
                 *out, NULL) == 0;
    json_decref(changes);

    return rc ? 200 : -1;
}


int
sales_proposals_accept(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    return decide(ctx, body, out, 1);
}


int
sales_proposals_reject(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    return decide(ctx, body, out, 0);
}


/* A sent or viewed proposal changes as a new draft revision; the old one
 * is superseded and stays readable. */
int
sales_proposals_revise(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    sqlite3_stmt  *st;
    json_t        *p, *binds, *changes;
    int64_t        id;
    char           until[11], today[11];
    int            rc;

    if (json_object_size(body) > 0) {
        return sales_fail(ctx, 400, "malformed", "revise takes no body");
    }

    if (sales_proposal_load(ctx, ctx->ids[0], &p) != 0) {
        return -1;
    }

    if (require_status(ctx, p, "sent,viewed", "revised") != 0) {
        json_decref(p);
        return -1;
    }

    sales_date_of(ctx->now_ms, today);
    snprintf(until, sizeof(until), "%s", jstr(p, "valid_until"));
    if (strcmp(until, today) < 0) {
        date_plus_days(ctx->now_ms, DEFAULT_VALID_DAYS, until);
    }

    st = sales_prepare(ctx,
        "INSERT INTO proposals (number, revision, opportunity_id, client_id,"
        " owner_id, currency, status, cover_letter, terms, notes,"
        " valid_until, price_date, net_minor, vat_minor, gross_minor,"
        " vat_breakdown, supersedes_id, created_at, updated_at)"
        " SELECT number, (SELECT max(revision) + 1 FROM proposals q"
        "  WHERE q.number = p.number), opportunity_id, client_id, owner_id,"
        " currency, 'draft', cover_letter, terms, notes, ?, price_date,"
        " net_minor, vat_minor, gross_minor, vat_breakdown, id, ?, ?"
        " FROM proposals p WHERE id = ?");
    if (st == NULL) {
        json_decref(p);
        return -1;
    }

    sqlite3_bind_text(st, 1, until, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, ctx->now_ms);
    sqlite3_bind_int64(st, 3, ctx->now_ms);
    sqlite3_bind_int64(st, 4, ctx->ids[0]);

    if (sales_step_done(ctx, st) != 0) {
        json_decref(p);
        return -1;
    }

    id = sqlite3_last_insert_rowid(ctx->db);

    /* The lines as they were, snapshots and all. */
    st = sales_prepare(ctx,
        "INSERT INTO proposal_lines (proposal_id, position, product_id,"
        " description, quantity, list_unit_price_minor, unit_price_minor,"
        " discount_bp, override_reason, price_check, rate_bp, net_minor,"
        " vat_minor, gross_minor)"
        " SELECT ?, position, product_id, description, quantity,"
        " list_unit_price_minor, unit_price_minor, discount_bp,"
        " override_reason, price_check, rate_bp, net_minor, vat_minor,"
        " gross_minor FROM proposal_lines WHERE proposal_id = ?"
        " ORDER BY position");
    if (st == NULL) {
        json_decref(p);
        return -1;
    }

    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, ctx->ids[0]);

    binds = json_pack("[I]", (json_int_t) id);
    rc = sales_step_done(ctx, st) == 0
         && set_state(ctx, ctx->ids[0], "status = 'superseded',"
                      " superseded_by_id = ?", binds) == 0;
    json_decref(binds);

    changes = json_pack("{s:[Os], s:[nI]}", "status",
                        json_object_get(p, "status"), "superseded",
                        "superseded_by_id", (json_int_t) id);
    json_decref(p);

    rc = rc
         && sales_audit(ctx, "revise", "proposal", ctx->ids[0], changes) == 0
         && sales_proposal_load(ctx, id, out) == 0
         && sales_audit(ctx, "create", "proposal", id, *out) == 0;
    json_decref(changes);

    if (rc) {
        json_t  *extra = json_pack("{s:I}", "supersedes_id",
                                   (json_int_t) ctx->ids[0]);

        rc = emit(ctx, "proposal.revised", *out, extra) == 0;
        json_decref(extra);
    }

    if (!rc) {
        return -1;
    }

    snprintf(ctx->location, sizeof(ctx->location), "/proposals/%lld",
             (long long) id);
    return 201;
}


/* --- sending ---------------------------------------------------------- */

static int
recipient_error(sales_ctx_t *ctx, size_t i, const char *field,
    const char *detail)
{
    char  name[64];

    snprintf(name, sizeof(name), "recipients/%zu/%s", i, field);
    return sales_field_error(ctx, name, "%s", detail);
}


/* Resolves one recipient to (contact id, e-mail, name). */
static int
resolve_recipient(sales_ctx_t *ctx, json_t *r, size_t i, int64_t client_id,
    json_t **resolved)
{
    sqlite3_stmt  *st;
    const char    *key;
    json_t        *v, *contact = json_object_get(r, "contact_id");
    json_t        *email = json_object_get(r, "email");
    json_t        *name = json_object_get(r, "name");
    int            rc;

    *resolved = NULL;

    if (!json_is_object(r)) {
        char  n[32];

        snprintf(n, sizeof(n), "recipients/%zu", i);
        return sales_field_error(ctx, n, "must be an object");
    }

    json_object_foreach(r, key, v) {
        if (strcmp(key, "contact_id") && strcmp(key, "email")
            && strcmp(key, "name"))
        {
            recipient_error(ctx, i, key, "unknown field");
        }
    }

    if (name && (!json_is_string(name) || json_string_length(name) == 0
                 || sales_utf8_chars(json_string_value(name),
                                     json_string_length(name)) > 200))
    {
        recipient_error(ctx, i, "name", "must be a string of 1 to 200 "
                        "characters");
    }

    if (contact) {
        if (!json_is_integer(contact) || json_integer_value(contact) < 1) {
            return recipient_error(ctx, i, "contact_id", "must be a contact "
                                   "id");
        }

        st = sales_prepare(ctx, "SELECT email, name FROM contacts"
                                " WHERE id = ? AND client_id = ?");
        if (st == NULL) {
            return -1;
        }

        sqlite3_bind_int64(st, 1, json_integer_value(contact));
        sqlite3_bind_int64(st, 2, client_id);
        rc = sqlite3_step(st);

        if (rc != SQLITE_ROW) {
            sales_finish(st);
            return rc == SQLITE_DONE
                   ? recipient_error(ctx, i, "contact_id", "is not a contact "
                                     "of the proposal's client")
                   : sales_db_error(ctx, "reading a contact");
        }

        if (sqlite3_column_type(st, 0) == SQLITE_NULL && !email) {
            sales_finish(st);
            return recipient_error(ctx, i, "contact_id", "the contact has no "
                                   "e-mail; give one");
        }

        *resolved = json_pack("{s:O, s:s, s:s}", "contact_id", contact,
                              "email", email ? json_string_value(email)
                                : (const char *) sqlite3_column_text(st, 0),
                              "name", name ? json_string_value(name)
                                : (const char *) sqlite3_column_text(st, 1));
        sales_finish(st);

        if (email && (!json_is_string(email)
                      || !sales_email_valid(json_string_value(email),
                                            json_string_length(email))))
        {
            json_decref(*resolved);
            *resolved = NULL;
            return recipient_error(ctx, i, "email", "is not an e-mail "
                                   "address");
        }

        return 0;
    }

    if (!json_is_string(email)
        || !sales_email_valid(json_string_value(email),
                              json_string_length(email)))
    {
        return recipient_error(ctx, i, "email", email
                               ? "is not an e-mail address"
                               : "give a contact_id or an email");
    }

    *resolved = json_pack("{s:n, s:O, s:O}", "contact_id", "email", email,
                          "name", name ? name : json_null());
    return 0;
}


static int
make_links(sales_ctx_t *ctx, json_t *r, int64_t proposal_id)
{
    char  token[SALES_VIEW_TOKEN_LEN + 1];
    const char *base = ctx->conf->public_url ? ctx->conf->public_url : "";

    if (sales_view_token_make(ctx->conf, proposal_id, jint(r, "id"), token)
        != 0)
    {
        ctx->log_level = SALES_LOG_ERR;
        snprintf(ctx->log, sizeof(ctx->log), "proposal links need "
                 "\"sales_secret_file\"");
        return sales_fail(ctx, 503, "unavailable", "sending is not "
                          "configured on this server");
    }

    json_object_set_new(r, "pixel_url", json_sprintf("%s/t/%s.gif", base,
                                                     token));
    json_object_set_new(r, "view_url", json_sprintf("%s/p/%s", base, token));
    return 0;
}


int
sales_proposals_send(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    sqlite3_stmt  *st;
    const char    *key;
    json_t        *p, *v, *list, *r, *resolved, *sent, *summary;
    int64_t        proposal_id = ctx->ids[0];
    size_t         i;
    int            was_draft;

    json_object_foreach(body, key, v) {
        if (strcmp(key, "recipients") != 0) {
            sales_field_error(ctx, key, "unknown field");
        }
    }

    list = json_object_get(body, "recipients");
    if (!json_is_array(list) || json_array_size(list) == 0
        || json_array_size(list) > MAX_RECIPIENTS)
    {
        sales_field_error(ctx, "recipients", "must be an array of 1 to %d "
                          "recipients", MAX_RECIPIENTS);
        list = NULL;
    }

    if (ctx->conf->nsecrets == 0) {
        return make_links(ctx, NULL, 0);
    }

    if (sales_proposal_load(ctx, proposal_id, &p) != 0) {
        return -1;
    }

    if (require_status(ctx, p, "draft,sent,viewed", "sent") != 0) {
        json_decref(p);
        return -1;
    }

    {
        char  today[11];

        sales_date_of(ctx->now_ms, today);

        if (strcmp(jstr(p, "valid_until"), today) < 0) {
            json_decref(p);
            return sales_fail(ctx, 409, "conflict", "the proposal's validity "
                              "has passed; give it a new valid_until first");
        }
    }

    resolved = json_array();

    json_array_foreach(list, i, r) {
        json_t  *one;

        if (resolve_recipient(ctx, r, i, jint(p, "client_id"), &one) != 0
            && json_array_size(ctx->errors) == 0)
        {
            json_decref(p);
            json_decref(resolved);
            return -1;
        }

        if (one) {
            json_array_append_new(resolved, one);
        }
    }

    if (json_array_size(ctx->errors)) {
        json_decref(p);
        json_decref(resolved);
        return sales_validation_failed(ctx);
    }

    was_draft = strcmp(jstr(p, "status"), "draft") == 0;
    json_decref(p);

    sent = json_array();
    summary = json_array();

    json_array_foreach(resolved, i, r) {
        st = sales_prepare(ctx, "INSERT INTO proposal_recipients"
                                " (proposal_id, contact_id, email, name,"
                                " sent_at) VALUES (?, ?, ?, ?, ?)");
        if (st == NULL) {
            goto failed;
        }

        sqlite3_bind_int64(st, 1, proposal_id);
        sales_bind_json(st, 2, json_object_get(r, "contact_id"));
        sales_bind_json(st, 3, json_object_get(r, "email"));
        sales_bind_json(st, 4, json_object_get(r, "name"));
        sqlite3_bind_int64(st, 5, ctx->now_ms);

        if (sales_step_done(ctx, st) != 0) {
            goto failed;
        }

        json_object_set_new(r, "id",
                            json_integer(sqlite3_last_insert_rowid(ctx->db)));
        json_array_append(summary, r);
        json_array_append_new(sent, json_deep_copy(r));

        if (make_links(ctx, json_array_get(sent, i), proposal_id) != 0) {
            goto failed;
        }
    }

    if (was_draft) {
        json_t  *binds = json_pack("[I]", (json_int_t) ctx->now_ms);
        int      rc = set_state(ctx, proposal_id, "status = 'sent',"
                                " sent_at = ?", binds);

        json_decref(binds);
        if (rc != 0) {
            goto failed;
        }
    }

    {
        json_t  *changes = json_pack("{s:O}", "recipients", summary);
        json_t  *extra = json_pack("{s:O}", "recipients", summary);
        int      ok;

        ok = sales_audit(ctx, "send", "proposal", proposal_id, changes) == 0
             && sales_proposal_load(ctx, proposal_id, &p) == 0
             && emit(ctx, "proposal.sent", p, extra) == 0;

        json_decref(changes);
        json_decref(extra);

        if (!ok) {
            json_decref(p);
            goto failed;
        }
    }

    json_decref(resolved);
    json_decref(summary);

    *out = json_pack("{s:o, s:o}", "proposal", p, "recipients", sent);
    return 200;

failed:

    json_decref(resolved);
    json_decref(summary);
    json_decref(sent);
    return -1;
}


/* --- the follow-up queue ---------------------------------------------- */

static int
days_param(sales_ctx_t *ctx, const char *name, int64_t *days)
{
    return sales_param_int(ctx, name, 0, 3650, days);
}


int
sales_proposals_list(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    static const char *const  ids[] = {
        "client_id", "opportunity_id", NULL
    };

    sales_buf_t   where = {0};
    const char   *status;
    json_t       *binds = json_array(), *item;
    int64_t       n;
    char          today[11], later[11];
    size_t        i;
    int           k, rc = -1;

    sales_date_of(ctx->now_ms, today);
    sales_scope_sql(ctx, "t.owner_id", &where, binds);

    if (sales_owner_filter(ctx, "t.owner_id", &where, binds) != 0) {
        goto done;
    }

    for (k = 0; ids[k]; k++) {
        if (sales_param_int(ctx, ids[k], 1, INT64_MAX, &n) != 0) {
            goto done;
        }
        if (n) {
            sales_buf_printf(&where, " AND t.%s = ?", ids[k]);
            json_array_append_new(binds, json_integer(n));
        }
    }

    status = sales_param(ctx, "status");
    if (status) {
        for (k = 0; proposal_states[k]; k++) {
            if (strcmp(proposal_states[k], status) == 0) {
                break;
            }
        }

        if (proposal_states[k] == NULL) {
            sales_param_error(ctx, "status", "is not a proposal state");
            goto done;
        }

        /* As shown: sent and viewed ones past their validity are expired. */
        if (strcmp(status, "expired") == 0) {
            sales_buf_adds(&where, " AND (t.status = 'expired' OR (t.status"
                                   " IN ('sent','viewed') AND t.valid_until"
                                   " < ?))");
            json_array_append_new(binds, json_string(today));

        } else if (strcmp(status, "sent") == 0
                   || strcmp(status, "viewed") == 0)
        {
            sales_buf_adds(&where, " AND t.status = ? AND t.valid_until >= ?");
            json_array_append_new(binds, json_string(status));
            json_array_append_new(binds, json_string(today));

        } else {
            sales_buf_adds(&where, " AND t.status = ?");
            json_array_append_new(binds, json_string(status));
        }
    }

    /* Sent, never viewed, and sent at least N days ago. */
    if (sales_param(ctx, "not_viewed_days")) {
        if (days_param(ctx, "not_viewed_days", &n) != 0) {
            goto done;
        }
        sales_buf_adds(&where, " AND t.status = 'sent' AND t.valid_until >= ?"
                               " AND t.sent_at <= ?");
        json_array_append_new(binds, json_string(today));
        json_array_append_new(binds, json_integer(ctx->now_ms
                                                  - n * 86400000LL));
    }

    /* Viewed, not answered, first viewed at least N days ago. */
    if (sales_param(ctx, "unanswered_days")) {
        if (days_param(ctx, "unanswered_days", &n) != 0) {
            goto done;
        }
        sales_buf_adds(&where, " AND t.status = 'viewed'"
                               " AND t.valid_until >= ?"
                               " AND t.first_viewed_at <= ?");
        json_array_append_new(binds, json_string(today));
        json_array_append_new(binds, json_integer(ctx->now_ms
                                                  - n * 86400000LL));
    }

    /* Still open, valid until within the next N days. */
    if (sales_param(ctx, "expiring_within")) {
        if (days_param(ctx, "expiring_within", &n) != 0) {
            goto done;
        }
        date_plus_days(ctx->now_ms, (int) n, later);
        sales_buf_adds(&where, " AND t.status IN ('sent','viewed')"
                               " AND t.valid_until >= ?"
                               " AND t.valid_until <= ?");
        json_array_append_new(binds, json_string(today));
        json_array_append_new(binds, json_string(later));
    }

    if (sales_list(ctx, &proposals_res, NULL, &where, binds, 0, out) != 0) {
        goto done;
    }

    json_array_foreach(json_object_get(*out, "items"), i, item) {
        if (proposal_finish(ctx, item) != 0) {
            json_decref(*out);
            *out = NULL;
            goto done;
        }
    }

    rc = 200;

done:

    sales_buf_free(&where);
    json_decref(binds);
    return rc;
}
