/*
 * Proformas: not fiscal documents, but the request for an advance. One is
 * made from an accepted proposal or an order for a percentage, an amount
 * or chosen lines; numbered in its own series when issued; and when the
 * client pays it, the payment issues the fiscal advance invoice that the
 * final invoice later deducts. What the proformas and advances of a deal
 * ask for can never pass its total: refused, not warned.
 */

#include "sales_resource.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#define DEFAULT_VALID_DAYS  15
#define MAX_LINES           200

static const char *const  proforma_states[] = {
    "draft", "issued", "paid", "cancelled", "expired", NULL
};

static const char *const  bases[] = { "percent", "amount", "lines", NULL };

static const sales_field_t  proforma_fields[] = {
    SALES_SHOWN("number", SALES_F_STRING),
    SALES_SHOWN("client_id", SALES_F_INT),
    SALES_SHOWN("owner_id", SALES_F_INT),
    SALES_SHOWN("currency", SALES_F_STRING),
    SALES_SHOWN("proposal_id", SALES_F_INT),
    SALES_SHOWN("order_id", SALES_F_INT),
    { "basis", SALES_F_ENUM, SALES_F_NOTNULL, 0, 0, bases, NULL, NULL, 0, 0 },
    { "percent_bp", SALES_F_INT, 0, 1, 10000, NULL, NULL, NULL, 0, 0 },
    { "amount_minor", SALES_F_INT, 0, 1, 1000000000000000LL, NULL, NULL,
      NULL, 0, 0 },
    SALES_SHOWN_ENUM("status", proforma_states),
    SALES_SHOWN("issue_date", SALES_F_DATE),
    { "valid_until", SALES_F_DATE, SALES_F_NOTNULL, 0, 0, NULL, NULL, NULL, 0,
      0 },
    SALES_TEXT("terms", 10000),
    SALES_TEXT("notes", 10000),
    SALES_SHOWN("net_minor", SALES_F_INT),
    SALES_SHOWN("vat_minor", SALES_F_INT),
    SALES_SHOWN("gross_minor", SALES_F_INT),
    SALES_STORED("vat_breakdown"),
    SALES_SHOWN("issued_at", SALES_F_TIME),
    SALES_SHOWN("paid_at", SALES_F_TIME),
    SALES_SHOWN("paid_minor", SALES_F_INT),
    SALES_SHOWN("advance_invoice_id", SALES_F_INT),
    SALES_SHOWN("cancelled_at", SALES_F_TIME),
    SALES_SHOWN("cancel_reason", SALES_F_STRING),
    SALES_FIELDS_END
};

static const sales_resource_t  proformas_res = {
    "proformas", "proforma", "proforma", proforma_fields, NULL, NULL,
    "/proformas"
};

/* Kept apart from the fields: the links and the chosen lines. */
static const char *const  apart[] = {
    "order_id", "proposal_id", "lines", NULL
};

static const char *const  proforma_line_columns[] = {
    "position", "product_id", "description", "quantity", "rate_bp",
    "net_minor", "vat_minor", "gross_minor", NULL
};


/* --- reading ------------------------------------------------------------ */

static int
proforma_finish(sales_ctx_t *ctx, json_t *pf)
{
    json_t  *lines;
    char     today[11];

    sales_date_of(ctx->now_ms, today);

    if (strcmp(sales_jstr(pf, "status"), "issued") == 0
        && strcmp(sales_jstr(pf, "valid_until"), today) < 0)
    {
        json_object_set_new(pf, "status", json_string("expired"));
    }

    if (sales_vat_breakdown_load(ctx, "proformas", pf) != 0
        || sales_rows_load(ctx, "proforma_lines", "proforma_id",
                           sales_jint(pf, "id"), proforma_line_columns, NULL,
                           &lines) != 0)
    {
        return -1;
    }

    json_object_set_new(pf, "lines", lines);
    return 0;
}


int
sales_proforma_load(sales_ctx_t *ctx, int64_t id, json_t **out)
{
    return sales_load_finished(ctx, &proformas_res, id, 1, proforma_finish,
                               out);
}


int
sales_proformas_get(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    return sales_proforma_load(ctx, ctx->ids[0], out) == 0 ? 200 : -1;
}


int
sales_proformas_list(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    static const char *const  ids[] = {
        "client_id", "order_id", "proposal_id", NULL
    };

    sales_buf_t   where = {0};
    const char   *status;
    json_t       *binds = json_array();
    char          today[11];
    int           rc = -1;

    sales_date_of(ctx->now_ms, today);

    if (sales_doc_filters(ctx, ids, &where, binds) != 0
        || sales_status_param(ctx, proforma_states, "proforma", &status) != 0)
    {
        goto done;
    }

    /* As shown: an issued one past its validity is expired. */
    if (status && strcmp(status, "expired") == 0) {
        sales_buf_adds(&where, " AND t.status = 'issued'"
                               " AND t.valid_until < ?");
        json_array_append_new(binds, json_string(today));

    } else if (status && strcmp(status, "issued") == 0) {
        sales_buf_adds(&where, " AND t.status = 'issued'"
                               " AND t.valid_until >= ?");
        json_array_append_new(binds, json_string(today));

    } else if (status) {
        sales_buf_adds(&where, " AND t.status = ?");
        json_array_append_new(binds, json_string(status));
    }

    rc = sales_list_finished(ctx, &proformas_res, &where, binds, 1, proforma_finish,
                             out) == 0 ? 200 : -1;

done:

    sales_buf_free(&where);
    json_decref(binds);
    return rc;
}


/* --- composing ---------------------------------------------------------- */

/* The deal a proforma asks an advance of: an accepted proposal, or an
 * order not held, cancelled or invoiced in full. */
static int
proforma_source(sales_ctx_t *ctx, int64_t order_id, int64_t proposal_id,
    json_t **src)
{
    const char  *field = order_id ? "order_id" : "proposal_id";
    int          rc;

    rc = order_id ? sales_order_load(ctx, order_id, src)
                  : sales_proposal_load(ctx, proposal_id, src);

    if (rc != 0) {
        if (ctx->status == 404) {
            ctx->status = 0;
            return sales_field_error(ctx, field, "no such %s",
                                     order_id ? "order" : "proposal");
        }
        return -1;
    }

    if (order_id) {
        return sales_require_status(ctx, *src, "order", "draft,confirmed,"
                                    "partially_invoiced", "asked for an "
                                    "advance");
    }

    if (strcmp(sales_jstr(*src, "status"), "converted") == 0) {
        return sales_fail(ctx, 409, "conflict", "the proposal is converted; "
                          "issue the proforma from its order");
    }

    return sales_require_status(ctx, *src, "proposal", "accepted",
                                "asked for an advance");
}


/* One line per VAT rate of the deal: a percentage of each rate's net, or
 * an amount split over the rates in proportion to their gross. */
static json_t *
per_rate_lines(json_t *src, int64_t percent_bp, int64_t amount,
    const char *label)
{
    json_t   *lines = json_array(), *v;
    json_t   *vat = json_object_get(src, "vat");
    int64_t   gross = sales_jint(src, "gross_minor"), left = amount;
    size_t    i, n = json_array_size(vat);
    char      text[160];

    if (percent_bp) {
        snprintf(text, sizeof(text), "Avans %lld,%02lld%% conform %s %s",
                 (long long) percent_bp / 100, (long long) percent_bp % 100,
                 label, sales_jstr(src, "number"));
    } else {
        snprintf(text, sizeof(text), "Avans conform %s %s", label,
                 sales_jstr(src, "number"));
    }

    json_array_foreach(vat, i, v) {
        int64_t  rate = sales_jint(v, "rate_bp"), net, vatm, part;

        if (percent_bp == 10000 || (amount && amount == gross)) {
            net = sales_jint(v, "net_minor");
            vatm = sales_jint(v, "vat_minor");

        } else if (percent_bp) {
            net = sales_muldiv(sales_jint(v, "net_minor"), percent_bp, 10000);
            vatm = sales_muldiv(net, rate, 10000);

        } else {
            part = i + 1 == n ? left
                   : sales_muldiv(amount, sales_jint(v, "net_minor")
                                          + sales_jint(v, "vat_minor"),
                                  gross);
            left -= part;
            net = sales_muldiv(part, 10000, 10000 + rate);
            vatm = part - net;
        }

        if (net == 0 && vatm == 0) {
            continue;
        }

        json_array_append_new(lines, json_pack(
            "{s:s, s:I, s:I, s:I, s:I, s:I}", "description", text,
            "quantity", (json_int_t) 1, "rate_bp", (json_int_t) rate,
            "net_minor", (json_int_t) net, "vat_minor", (json_int_t) vatm,
            "gross_minor", (json_int_t) (net + vatm)));
    }

    return lines;
}


/* Chosen lines of the deal, each whole or for a quantity (pro rata). */
static json_t *
chosen_lines(sales_ctx_t *ctx, json_t *src, json_t *chosen)
{
    json_t  *lines = json_array(), *c, *l = NULL;
    size_t   i, j;

    json_array_foreach(chosen, i, c) {
        int64_t  id = sales_jint(c, "line_id"), q = sales_jint(c, "quantity");
        int64_t  n, net, vat;

        json_array_foreach(json_object_get(src, "lines"), j, l) {
            if (sales_jint(l, "id") == id) {
                break;
            }
        }

        if (j == json_array_size(json_object_get(src, "lines"))) {
            sales_line_error(ctx, "lines", i, "line_id", "is not a line of "
                             "the proposal or order");
            continue;
        }

        n = sales_jint(l, "quantity");
        if (q == 0) {
            q = n;
        }

        if (q > n) {
            sales_line_error(ctx, "lines", i, "quantity", "is more than the "
                             "line's quantity");
            continue;
        }

        net = q == n ? sales_jint(l, "net_minor")
                     : sales_muldiv(sales_jint(l, "net_minor"), q, n);
        vat = q == n ? sales_jint(l, "vat_minor")
                     : sales_muldiv(net, sales_jint(l, "rate_bp"), 10000);

        json_array_append_new(lines, json_pack(
            "{s:O, s:O, s:I, s:O, s:I, s:I, s:I}",
            "product_id", json_object_get(l, "product_id"),
            "description", json_object_get(l, "description"),
            "quantity", (json_int_t) q,
            "rate_bp", json_object_get(l, "rate_bp"),
            "net_minor", (json_int_t) net, "vat_minor", (json_int_t) vat,
            "gross_minor", (json_int_t) (net + vat)));
    }

    return lines;
}


/* Whether gross more fits in the deal: with what it has committed
 * already (its invoices, other open proformas, advances not yet
 * deducted) not past its total. 0, or 409 saying what is left. */
static int
within_deal(sales_ctx_t *ctx, json_t *pf, int64_t gross, int64_t total)
{
    int64_t  committed, order_id = sales_jint(pf, "order_id");

    if (sales_deal_committed(ctx, order_id, sales_jint(pf, "proposal_id"),
                             sales_jint(pf, "id"), &committed) != 0)
    {
        return -1;
    }

    if (committed + gross > total) {
        return sales_fail(ctx, 409, "conflict", "the proforma asks for %lld "
                          "but only %lld of the %s's total of %lld is not "
                          "invoiced, asked for or paid in advance already",
                          (long long) gross, (long long) (total - committed),
                          order_id ? "order" : "proposal", (long long) total);
    }

    return 0;
}


/*
 * The proforma's lines and totals from its basis, refused when with what
 * the deal has committed already (its invoices, other open proformas,
 * advances not yet deducted) it would ask for more than the deal's
 * total.
 */
static int
compose(sales_ctx_t *ctx, json_t *pf, json_t *chosen, json_t **lines_out,
    json_t **totals_out)
{
    json_t      *src = NULL, *lines = NULL, *totals = NULL, *l;
    const char  *basis = sales_jstr(pf, "basis");
    int64_t      order_id = sales_jint(pf, "order_id");
    int64_t      proposal_id = sales_jint(pf, "proposal_id");
    int64_t      total;
    size_t       i;
    int          rc = -1;

    if (proforma_source(ctx, order_id, proposal_id, &src) != 0) {
        goto done;
    }

    total = sales_jint(src, "gross_minor");

    if (strcmp(basis, "percent") == 0) {
        lines = per_rate_lines(src, sales_jint(pf, "percent_bp"), 0,
                               order_id ? "comenzii" : "ofertei");

    } else if (strcmp(basis, "amount") == 0) {
        if (sales_jint(pf, "amount_minor") > total) {
            sales_field_error(ctx, "amount_minor", "is more than the %s's "
                              "total of %lld", order_id ? "order"
                                                        : "proposal",
                              (long long) total);
            goto done;
        }
        lines = per_rate_lines(src, 0, sales_jint(pf, "amount_minor"),
                               order_id ? "comenzii" : "ofertei");

    } else {
        lines = chosen_lines(ctx, src, chosen);
    }

    if (json_array_size(ctx->errors)) {
        sales_validation_failed(ctx);
        goto done;
    }

    if (json_array_size(lines) == 0) {
        sales_field_error(ctx, "basis", "asks for nothing");
        sales_validation_failed(ctx);
        goto done;
    }

    json_array_foreach(lines, i, l) {
        json_object_set_new(l, "position", json_integer((json_int_t) i + 1));
    }

    totals = sales_totals_of(lines);

    if (totals == NULL) {
        sales_fail(ctx, 422, "validation", "the total is too large");
        goto done;
    }

    if (within_deal(ctx, pf, sales_jint(totals, "gross_minor"), total) != 0) {
        goto done;
    }

    *lines_out = lines;
    *totals_out = totals;
    lines = NULL;
    totals = NULL;
    rc = 0;

done:

    json_decref(src);
    json_decref(lines);
    json_decref(totals);
    return rc;
}


/* The basis given: percent_bp, amount_minor or lines as it asks (a field
 * the request gave, valid or not, is named by its own check). */
static int
check_basis(sales_ctx_t *ctx, json_t *merged, json_t *chosen, json_t *body)
{
    static const char *const  known[] = { "line_id", "quantity", NULL };

    const char  *basis = sales_jstr(merged, "basis");
    json_t      *c;
    size_t       i;

    if (basis == NULL) {
        return 0;
    }

    if (strcmp(basis, "percent") == 0
        && !json_is_integer(json_object_get(merged, "percent_bp"))
        && json_object_get(body, "percent_bp") == NULL)
    {
        return sales_field_error(ctx, "percent_bp", "is required for the "
                                 "percent basis");
    }

    if (strcmp(basis, "amount") == 0
        && !json_is_integer(json_object_get(merged, "amount_minor"))
        && json_object_get(body, "amount_minor") == NULL)
    {
        return sales_field_error(ctx, "amount_minor", "is required for the "
                                 "amount basis");
    }

    if (strcmp(basis, "lines") == 0) {
        if (chosen == NULL) {
            return sales_field_error(ctx, "lines", "is required for the lines "
                                     "basis");
        }

        if (sales_items_shape(ctx, chosen, "lines", MAX_LINES, known) != 0
            && !json_is_array(chosen))
        {
            return -1;
        }

        json_array_foreach(chosen, i, c) {
            sales_item_int(ctx, c, "lines", i, "line_id", 1, INT64_MAX, 1);
            sales_item_int(ctx, c, "lines", i, "quantity", 1, 1000000000, 0);
        }

    } else if (chosen) {
        return sales_field_error(ctx, "lines", "is only for the lines basis");
    }

    return json_array_size(ctx->errors) ? -1 : 0;
}


static int
store(sales_ctx_t *ctx, int64_t id, json_t *lines, json_t *totals)
{
    return sales_rows_replace(ctx, "proforma_lines", "proforma_id", id,
                              proforma_line_columns, lines) == 0
           && sales_totals_store(ctx, "proformas", id, totals) == 0 ? 0 : -1;
}


/* --- writing ------------------------------------------------------------ */

int
sales_proformas_create(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    json_t   *values = NULL, *src = NULL, *chosen;
    json_t   *order_v, *prop_v, *lines = NULL, *totals = NULL;
    int64_t   id;
    char      until[11];
    int       rc = -1;

    order_v = json_object_get(body, "order_id");
    prop_v = json_object_get(body, "proposal_id");
    chosen = json_object_get(body, "lines");

    sales_doc_fields(ctx, &proformas_res, body, NULL, apart, &values);

    if (json_object_get(body, "basis") == NULL) {
        sales_field_error(ctx, "basis", "is required: percent, amount or "
                          "lines");
    }

    if ((order_v != NULL) == (prop_v != NULL)) {
        sales_field_error(ctx, order_v ? "proposal_id" : "order_id",
                          "give exactly one of order_id and proposal_id");

    } else if (!json_is_integer(order_v ? order_v : prop_v)
               || json_integer_value(order_v ? order_v : prop_v) < 1)
    {
        sales_field_error(ctx, order_v ? "order_id" : "proposal_id",
                          "must be an id");
    }

    check_basis(ctx, values, chosen, body);

    if (json_object_get(values, "valid_until")) {
        char  today[11];

        sales_date_of(ctx->now_ms, today);
        if (strcmp(sales_jstr(values, "valid_until"), today) < 0) {
            sales_field_error(ctx, "valid_until", "must not be in the past");
        }
    }

    if (json_array_size(ctx->errors)) {
        rc = sales_validation_failed(ctx);
        goto done;
    }

    json_object_set(values, order_v ? "order_id" : "proposal_id",
                    order_v ? order_v : prop_v);

    if (proforma_source(ctx, json_integer_value(order_v),
                        json_integer_value(prop_v), &src) != 0)
    {
        goto done;
    }

    json_object_set(values, "client_id", json_object_get(src, "client_id"));
    json_object_set(values, "owner_id", json_object_get(src, "owner_id"));
    json_object_set(values, "currency", json_object_get(src, "currency"));
    json_object_set_new(values, "status", json_string("draft"));

    /* An order made from a proposal: the proforma belongs to both. */
    if (order_v && sales_jint(src, "proposal_id")) {
        json_object_set(values, "proposal_id",
                        json_object_get(src, "proposal_id"));
    }

    if (json_object_get(values, "valid_until") == NULL) {
        sales_date_of(ctx->now_ms + DEFAULT_VALID_DAYS * 86400000LL, until);
        json_object_set_new(values, "valid_until", json_string(until));
    }

    if (compose(ctx, values, chosen, &lines, &totals) != 0) {
        goto done;
    }

    id = sales_insert(ctx, &proformas_res, values);

    if (id < 0 || store(ctx, id, lines, totals) != 0
        || sales_proforma_load(ctx, id, out) != 0
        || sales_audit(ctx, "create", "proforma", id, *out) != 0)
    {
        goto done;
    }

    snprintf(ctx->location, sizeof(ctx->location), "/proformas/%lld",
             (long long) id);
    rc = 201;

done:

    json_decref(src);
    json_decref(lines);
    json_decref(totals);
    json_decref(values);
    return rc;
}


int
sales_proformas_update(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    json_t   *before, *changes = NULL, *diff = NULL, *chosen;
    json_t   *merged, *lines = NULL, *totals = NULL;
    int64_t   id = ctx->ids[0];
    int       rc = -1, recompose;

    if (sales_proforma_load(ctx, id, &before) != 0) {
        return -1;
    }

    if (sales_require_status(ctx, before, "proforma", "draft", "edited")
        != 0)
    {
        goto done;
    }

    chosen = json_object_get(body, "lines");
    sales_doc_fields(ctx, &proformas_res, body, before, apart, &changes);

    merged = json_deep_copy(before);
    json_object_update(merged, changes);
    recompose = chosen || json_object_get(changes, "basis")
                || json_object_get(changes, "percent_bp")
                || json_object_get(changes, "amount_minor");

    if (recompose && !(chosen == NULL
                       && strcmp(sales_jstr(merged, "basis"), "lines") == 0
                       && json_object_get(changes, "basis") == NULL))
    {
        check_basis(ctx, merged, chosen, body);
    } else {
        recompose = 0;
    }

    if (json_object_get(changes, "valid_until")) {
        char  today[11];

        sales_date_of(ctx->now_ms, today);
        if (strcmp(sales_jstr(changes, "valid_until"), today) < 0) {
            sales_field_error(ctx, "valid_until", "must not be in the past");
        }
    }

    if (json_array_size(ctx->errors)) {
        json_decref(merged);
        rc = sales_validation_failed(ctx);
        goto done;
    }

    if (!recompose) {
        json_t  *src;

        /* Nothing composed again: what it asks is checked as it is. */
        rc = proforma_source(ctx, sales_jint(before, "order_id"),
                             sales_jint(before, "proposal_id"), &src);
        if (rc == 0) {
            rc = within_deal(ctx, before, sales_jint(before, "gross_minor"),
                             sales_jint(src, "gross_minor"));
            json_decref(src);
        }

        if (rc != 0) {
            json_decref(merged);
            goto done;
        }

        rc = -1;
    }

    if (recompose
        && (compose(ctx, merged, chosen, &lines, &totals) != 0
            || store(ctx, id, lines, totals) != 0))
    {
        json_decref(merged);
        goto done;
    }

    json_decref(merged);

    if (sales_update(ctx, &proformas_res, id, before, changes, &diff) != 0) {
        goto done;
    }

    rc = sales_draft_updated(ctx, &proformas_res, id, diff,
                             recompose ? "composed again" : NULL,
                             sales_proforma_load, out);

done:

    json_decref(lines);
    json_decref(totals);
    json_decref(diff);
    json_decref(changes);
    json_decref(before);
    return rc;
}


int
sales_proformas_delete(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    sqlite3_stmt  *st;
    json_t        *pf;
    int            rc;

    if (sales_proforma_load(ctx, ctx->ids[0], &pf) != 0) {
        return -1;
    }

    rc = sales_require_status(ctx, pf, "proforma", "draft", "deleted; "
                              "cancel it") == 0;

    st = rc ? sales_prepare(ctx, "DELETE FROM proforma_lines"
                                 " WHERE proforma_id = ?") : NULL;
    if (st) {
        sqlite3_bind_int64(st, 1, ctx->ids[0]);
        rc = sales_step_done(ctx, st) == 0
             && sales_delete_row(ctx, &proformas_res, ctx->ids[0], pf) == 0;
    } else {
        rc = 0;
    }

    json_decref(pf);
    *out = NULL;
    return rc ? 204 : -1;
}


static int
emit(sales_ctx_t *ctx, const char *type, json_t *pf)
{
    return sales_document_event(ctx, type, "proforma", pf, NULL);
}


/* Issued: numbered PF-YYYY-NNNN (its own series; a proforma is not a
 * fiscal document), checked against the deal once more. */
int
sales_proformas_issue(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    json_t   *pf, *lines = NULL, *totals = NULL, *binds, *changes;
    char      today[11], series[32], number[48];
    int       rc = -1;

    if (json_object_size(body)) {
        return sales_fail(ctx, 400, "malformed", "issue takes no body");
    }

    if (sales_proforma_load(ctx, ctx->ids[0], &pf) != 0) {
        return -1;
    }

    sales_date_of(ctx->now_ms, today);

    if (sales_require_status(ctx, pf, "proforma", "draft", "issued") != 0) {
        goto done;
    }

    if (strcmp(sales_jstr(pf, "valid_until"), today) < 0) {
        sales_fail(ctx, 409, "conflict", "the proforma's validity has "
                   "passed; give it a new valid_until first");
        goto done;
    }

    /* Chosen lines are kept as composed; a percentage or an amount is
     * composed again; either is checked against what the deal has
     * committed now. */
    if (strcmp(sales_jstr(pf, "basis"), "lines") != 0) {
        if (compose(ctx, pf, NULL, &lines, &totals) != 0
            || store(ctx, ctx->ids[0], lines, totals) != 0)
        {
            goto done;
        }

    } else {
        json_t  *src;

        if (proforma_source(ctx, sales_jint(pf, "order_id"),
                            sales_jint(pf, "proposal_id"), &src) != 0)
        {
            goto done;
        }

        rc = within_deal(ctx, pf, sales_jint(pf, "gross_minor"),
                         sales_jint(src, "gross_minor"));
        json_decref(src);

        if (rc != 0) {
            goto done;
        }
    }

    if (sales_number_take(ctx, "PF", today, 4, series, sizeof(series), number,
                          sizeof(number)) < 0)
    {
        rc = -1;
        goto done;
    }

    binds = json_pack("[s, s, I]", number, today, (json_int_t) ctx->now_ms);
    rc = sales_set_state(ctx, "proformas", ctx->ids[0], "status = 'issued',"
                         " number = ?, issue_date = ?, issued_at = ?", binds);
    json_decref(binds);

    changes = json_pack("{s:[ss], s:[ns]}", "status", "draft", "issued",
                        "number", number);
    json_decref(pf);
    pf = NULL;

    rc = rc == 0
         && sales_audit(ctx, "issue", "proforma", ctx->ids[0], changes) == 0
         && sales_proforma_load(ctx, ctx->ids[0], out) == 0
         && emit(ctx, "proforma.issued", *out) == 0 ? 200 : -1;
    json_decref(changes);

done:

    json_decref(lines);
    json_decref(totals);
    json_decref(pf);
    return rc;
}


int
sales_proformas_cancel(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    static const char *const  known[] = { "reason", NULL };

    json_t  *pf, *binds, *changes;
    int      rc;

    if (sales_only_fields(ctx, body, known) != 0
        || sales_text_field(ctx, body, "reason", 2000, 1) != 0)
    {
        return sales_validation_failed(ctx);
    }

    if (sales_proforma_load(ctx, ctx->ids[0], &pf) != 0) {
        return -1;
    }

    if (sales_require_status(ctx, pf, "proforma", "draft,issued,expired",
                             "cancelled") != 0)
    {
        json_decref(pf);
        return -1;
    }

    binds = json_pack("[I, O]", (json_int_t) ctx->now_ms,
                      json_object_get(body, "reason"));
    rc = sales_set_state(ctx, "proformas", ctx->ids[0],
                         "status = 'cancelled', cancelled_at = ?,"
                         " cancel_reason = ?", binds);
    json_decref(binds);

    changes = json_pack("{s:[Os]}", "status", json_object_get(pf, "status"),
                        "cancelled");
    json_decref(pf);

    rc = rc == 0
         && sales_audit(ctx, "cancel", "proforma", ctx->ids[0], changes) == 0
         && sales_proforma_load(ctx, ctx->ids[0], out) == 0 ? 200 : -1;
    json_decref(changes);
    return rc;
}


/*
 * The client paid the proforma: the advance invoice is issued for what
 * was received (dated the day it was received unless issue_date says
 * otherwise) and the payment recorded against it; the proforma is paid.
 */
int
sales_proformas_pay(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    json_t   *pf, *args, *inv = NULL, *pay = NULL, *binds, *changes, *src;
    json_t   *given;
    int64_t   amount, invoice_id, payment_id;
    int       rc;

    if (sales_proforma_load(ctx, ctx->ids[0], &pf) != 0) {
        return -1;
    }

    if (sales_require_status(ctx, pf, "proforma", "issued", "paid") != 0) {
        json_decref(pf);
        return -1;
    }

    /* The deal must still take an advance (not held or cancelled), and
     * this one must still fit in it. */
    if (proforma_source(ctx, sales_jint(pf, "order_id"),
                        sales_jint(pf, "proposal_id"), &src) != 0)
    {
        json_decref(pf);
        return -1;
    }

    given = json_object_get(body, "amount_minor");
    amount = given ? sales_jint(body, "amount_minor")
                   : sales_jint(pf, "gross_minor");

    if (given && (!json_is_integer(given) || amount < 1
                  || amount > sales_jint(pf, "gross_minor")))
    {
        sales_field_error(ctx, "amount_minor", "must be a whole number from "
                          "1 to the proforma's total of %lld",
                          (long long) sales_jint(pf, "gross_minor"));
    }

    sales_date_field(ctx, body, "paid_on", 0, 1, NULL);

    if (json_array_size(ctx->errors)) {
        json_decref(src);
        json_decref(pf);
        return sales_validation_failed(ctx);
    }

    rc = within_deal(ctx, pf, amount, sales_jint(src, "gross_minor"));
    json_decref(src);

    if (rc != 0) {
        json_decref(pf);
        return -1;
    }

    /* The advance invoice is dated the day the money came. */
    args = json_deep_copy(body);
    if (json_object_get(args, "issue_date") == NULL
        && json_is_string(json_object_get(args, "paid_on")))
    {
        json_object_set(args, "issue_date", json_object_get(args, "paid_on"));
    }

    invoice_id = sales_advance_issue(ctx, pf, amount, args);

    if (invoice_id < 0) {
        json_decref(args);
        json_decref(pf);
        return -1;
    }

    json_object_set_new(args, "amount_minor", json_integer(amount));
    payment_id = sales_invoice_pay(ctx, invoice_id, args, ctx->ids[0]);
    json_decref(args);

    if (payment_id < 0) {
        json_decref(pf);
        return -1;
    }

    binds = json_pack("[I, I, I]", (json_int_t) ctx->now_ms,
                      (json_int_t) amount, (json_int_t) invoice_id);
    rc = sales_set_state(ctx, "proformas", ctx->ids[0], "status = 'paid',"
                         " paid_at = ?, paid_minor = ?,"
                         " advance_invoice_id = ?", binds);
    json_decref(binds);

    changes = json_pack("{s:[ss], s:[nI], s:[nI]}", "status", "issued",
                        "paid", "paid_minor", (json_int_t) amount,
                        "advance_invoice_id", (json_int_t) invoice_id);
    json_decref(pf);

    rc = rc == 0
         && sales_audit(ctx, "payment", "proforma", ctx->ids[0], changes) == 0
         && sales_proforma_load(ctx, ctx->ids[0], &pf) == 0;
    json_decref(changes);

    if (!rc) {
        return -1;
    }

    rc = sales_invoice_load(ctx, invoice_id, &inv) == 0
         && sales_payment_get_any(ctx, payment_id, &pay) == 0;

    if (!rc) {
        json_decref(pf);
        json_decref(inv);
        return -1;
    }

    *out = json_pack("{s:o, s:o, s:o}", "proforma", pf, "advance_invoice",
                     inv, "payment", pay);
    snprintf(ctx->location, sizeof(ctx->location), "/invoices/%lld",
             (long long) invoice_id);
    return 201;
}


int
sales_proformas_document(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    sales_page_t   pg;
    char           heading[96];

    memset(&pg, 0, sizeof(pg));

    if (sales_proforma_load(ctx, ctx->ids[0], &pg.doc) != 0
        || sales_page_parties(ctx, &pg) != 0)
    {
        sales_page_free(&pg);
        return -1;
    }

    snprintf(heading, sizeof(heading), "Factură proformă %s",
             sales_jstr(pg.doc, "number") ? sales_jstr(pg.doc, "number")
                                          : "(ciornă)");
    pg.heading = heading;
    pg.facts = json_pack("[[s, s?], [s, s?], [s, s]]",
                         "Data emiterii", sales_jstr(pg.doc, "issue_date"),
                         "Valabilă până la", sales_jstr(pg.doc,
                                                        "valid_until"),
                         "Document", "proformă, nu este factură fiscală");
    pg.after = json_pack("[[s, s?]]", "Termeni", sales_jstr(pg.doc, "terms"));

    return sales_page_answer(ctx, &pg, out);
}
