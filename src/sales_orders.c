/*
 * Sales orders: converted from an accepted proposal (its lines and their
 * snapshotted prices carried over) or taken directly for a repeat order
 * (priced from the client's list), confirmed, held, invoiced line by
 * line, completed or cancelled; and what a client bought before.
 */

#include "sales_resource.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static const char *const  order_states[] = {
    "draft", "confirmed", "partially_invoiced", "invoiced", "completed",
    "on_hold", "cancelled", NULL
};

static int order_derive(sales_ctx_t *ctx, json_t *before, json_t *merged,
    json_t *write);

static const sales_field_t  order_fields[] = {
    SALES_SHOWN("number", SALES_F_STRING),
    { "client_id", SALES_F_INT, SALES_F_REQUIRED, 1, INT64_MAX, NULL, NULL,
      NULL, 0, 0 },
    SALES_SHOWN("owner_id", SALES_F_INT),
    { "opportunity_id", SALES_F_INT, 0, 1, INT64_MAX, NULL, NULL, NULL, 0,
      0 },
    SALES_SHOWN("proposal_id", SALES_F_INT),
    SALES_SHOWN("currency", SALES_F_STRING),
    SALES_SHOWN_ENUM("status", order_states),
    SALES_STORED("held_from"),
    { "price_date", SALES_F_DATE, SALES_F_NOTNULL, 0, 0, NULL, NULL, NULL, 0,
      0 },
    { "delivery_date", SALES_F_DATE, 0, 0, 0, NULL, NULL, NULL, 0, 0 },
    { "client_reference", SALES_F_STRING, 0, 1, 100, NULL, NULL, NULL, 0, 0 },
    SALES_TEXT("terms", 10000),
    SALES_TEXT("notes", 10000),
    SALES_SHOWN("net_minor", SALES_F_INT),
    SALES_SHOWN("vat_minor", SALES_F_INT),
    SALES_SHOWN("gross_minor", SALES_F_INT),
    SALES_STORED("vat_breakdown"),
    SALES_SHOWN("confirmed_at", SALES_F_TIME),
    SALES_SHOWN("confirmed_by", SALES_F_INT),
    SALES_SHOWN("completed_at", SALES_F_TIME),
    SALES_SHOWN("cancelled_at", SALES_F_TIME),
    SALES_SHOWN("cancel_reason", SALES_F_STRING),
    SALES_FIELDS_END
};

static const sales_resource_t  orders_res = {
    "sales_orders", "order", "order", order_fields, NULL, order_derive,
    "/orders"
};

static const char *const  lines_apart[] = { "lines", NULL };

/* Order lines: a proposal's priced columns and the line they came from. */
static const char *const  order_line_columns[] = {
    "position", "product_id", "description", "quantity",
    "list_unit_price_minor", "unit_price_minor", "discount_bp",
    "override_reason", "price_check", "rate_bp", "net_minor", "vat_minor",
    "gross_minor", "proposal_line_id", NULL
};


/* A direct order: its client (visible, active) gives the currency; an
 * opportunity, when given, must be the client's and visible; the owner
 * is the opportunity's, else the client's. */
static int
order_derive(sales_ctx_t *ctx, json_t *before, json_t *merged,
    json_t *write)
{
    json_t  *opp, *client;
    char     currency[4], today[11];
    int      rc = 0;

    if (before) {
        if (json_object_get(write, "client_id")) {
            rc = sales_field_error(ctx, "client_id", "cannot be changed");
        }
        if (json_object_get(write, "opportunity_id")) {
            rc = sales_field_error(ctx, "opportunity_id", "cannot be "
                                   "changed");
        }
        return rc;
    }

    if (json_object_get(write, "client_id") == NULL) {
        return 0;   /* named as required already */
    }

    if (sales_client_usable(ctx, sales_jint(write, "client_id"), "client_id",
                            currency) != 0)
    {
        return ctx->status == 422 ? 0 : -1;
    }

    json_object_set_new(write, "currency", json_string(currency));

    if (sales_client_load(ctx, sales_jint(write, "client_id"), &client)
        != 0)
    {
        return -1;
    }

    json_object_set(write, "owner_id", json_object_get(client, "owner_id"));
    json_decref(client);

    if (json_is_integer(json_object_get(write, "opportunity_id"))) {
        if (sales_opportunity_load(ctx, sales_jint(write, "opportunity_id"),
                                   &opp) != 0)
        {
            if (ctx->status != 404) {
                return -1;
            }
            ctx->status = 0;
            return sales_field_error(ctx, "opportunity_id",
                                     "no such opportunity");
        }

        if (sales_jint(opp, "client_id") != sales_jint(write, "client_id")) {
            rc = sales_field_error(ctx, "opportunity_id", "is another "
                                   "client's opportunity");
        } else if (strcmp(sales_jstr(opp, "currency"), currency) != 0) {
            rc = sales_field_error(ctx, "opportunity_id", "is in another "
                                   "currency than the client");
        } else {
            json_object_set(write, "owner_id",
                            json_object_get(opp, "owner_id"));
        }

        json_decref(opp);
    }

    json_object_set_new(write, "status", json_string("draft"));

    if (json_object_get(write, "price_date") == NULL) {
        sales_date_of(ctx->now_ms, today);
        json_object_set_new(write, "price_date", json_string(today));
    }

    (void) merged;
    return rc;
}


/* --- reading ------------------------------------------------------------ */

/*
 * Per line, what issued invoices took of it (credit notes give back):
 * invoiced_quantity, invoiced_net_minor, invoiced_vat_minor and
 * remaining_quantity.
 */
static int
lines_invoiced(sales_ctx_t *ctx, int64_t order_id, json_t *lines)
{
    sqlite3_stmt  *st;
    json_t        *line;
    size_t         i;
    int            rc;

    json_array_foreach(lines, i, line) {
        json_object_set_new(line, "invoiced_quantity", json_integer(0));
        json_object_set_new(line, "invoiced_net_minor", json_integer(0));
        json_object_set_new(line, "invoiced_vat_minor", json_integer(0));
        json_object_set(line, "remaining_quantity",
                        json_object_get(line, "quantity"));
    }

    st = sales_prepare(ctx, "SELECT il.order_line_id, sum(il.quantity),"
                            " sum(il.net_minor), sum(il.vat_minor)"
                            " FROM invoice_lines il"
                            " JOIN invoices i ON i.id = il.invoice_id"
                            " WHERE i.order_id = ? AND i.status != 'draft'"
                            " AND il.order_line_id IS NOT NULL"
                            " GROUP BY il.order_line_id");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, order_id);

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t  id = sqlite3_column_int64(st, 0);
        int64_t  q = sqlite3_column_int64(st, 1);

        json_array_foreach(lines, i, line) {
            if (sales_jint(line, "id") == id) {
                json_object_set_new(line, "invoiced_quantity",
                                    json_integer(q));
                json_object_set_new(line, "invoiced_net_minor",
                    json_integer(sqlite3_column_int64(st, 2)));
                json_object_set_new(line, "invoiced_vat_minor",
                    json_integer(sqlite3_column_int64(st, 3)));
                json_object_set_new(line, "remaining_quantity",
                    json_integer(sales_jint(line, "quantity") - q));
            }
        }
    }

    sales_finish(st);
    return rc == SQLITE_DONE ? 0 : sales_db_error(ctx, "reading invoiced "
                                                  "quantities");
}


static int
order_finish(sales_ctx_t *ctx, json_t *o)
{
    json_t  *lines;

    json_object_del(o, "held_from");

    if (sales_vat_breakdown_load(ctx, "sales_orders", o) != 0
        || sales_rows_load(ctx, "order_lines", "order_id", sales_jint(o, "id"),
                           order_line_columns, sales_json_columns, &lines)
           != 0)
    {
        return -1;
    }

    json_object_set_new(o, "lines", lines);
    return lines_invoiced(ctx, sales_jint(o, "id"), lines);
}


int
sales_order_load(sales_ctx_t *ctx, int64_t id, json_t **out)
{
    return sales_load_finished(ctx, &orders_res, id, 1, order_finish, out);
}


int
sales_orders_get(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    return sales_order_load(ctx, ctx->ids[0], out) == 0 ? 200 : -1;
}


int
sales_orders_list(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    static const char *const  ids[] = {
        "client_id", "opportunity_id", "proposal_id", NULL
    };

    sales_buf_t   where = {0};
    const char   *status;
    json_t       *binds = json_array();
    int           rc = -1;

    if (sales_doc_filters(ctx, ids, &where, binds) != 0
        || sales_status_param(ctx, order_states, "sales order", &status)
           != 0)
    {
        goto done;
    }

    if (status) {
        sales_buf_adds(&where, " AND t.status = ?");
        json_array_append_new(binds, json_string(status));
    }

    rc = sales_list_finished(ctx, &orders_res, &where, binds, 1, order_finish,
                             out) == 0 ? 200 : -1;

done:

    sales_buf_free(&where);
    json_decref(binds);
    return rc;
}


/* --- writing ------------------------------------------------------------ */

static int
emit(sales_ctx_t *ctx, const char *type, json_t *o)
{
    return sales_document_event(ctx, type, "order", o, NULL);
}


static int
take_number(sales_ctx_t *ctx, json_t *values)
{
    char  today[11], series[32], number[48];

    sales_date_of(ctx->now_ms, today);

    if (sales_number_take(ctx, "SO", today, 4, series, sizeof(series), number,
                          sizeof(number)) < 0)
    {
        return -1;
    }

    json_object_set_new(values, "number", json_string(number));
    return 0;
}


/* The answer of a creation: audit, event, Location. */
static int
created(sales_ctx_t *ctx, int64_t id, json_t **out)
{
    if (sales_order_load(ctx, id, out) != 0
        || sales_audit(ctx, "create", "order", id, *out) != 0
        || emit(ctx, "order.created", *out) != 0)
    {
        return -1;
    }

    snprintf(ctx->location, sizeof(ctx->location), "/orders/%lld",
             (long long) id);
    return 201;
}


static int
price_and_store(sales_ctx_t *ctx, int64_t id, int64_t client_id,
    const char *currency, json_t *lines, const char *price_date)
{
    json_t  *priced, *totals;
    int      rc;

    if (sales_lines_price(ctx, client_id, currency, "client_id", lines,
                          price_date, &priced, &totals) != 0)
    {
        return json_array_size(ctx->errors) ? sales_validation_failed(ctx)
                                            : -1;
    }

    rc = sales_rows_replace(ctx, "order_lines", "order_id", id,
                            order_line_columns, priced) == 0
         && sales_totals_store(ctx, "sales_orders", id, totals) == 0;

    json_decref(priced);
    json_decref(totals);
    return rc ? 0 : -1;
}


/* A repeat order, straight to a sales order: priced from the client's
 * list as the price check prices it. */
int
sales_orders_create(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    json_t   *values, *lines;
    int64_t   id;
    int       rc;

    lines = json_object_get(body, "lines");
    rc = sales_doc_fields(ctx, &orders_res, body, NULL, lines_apart, &values);

    if (lines == NULL) {
        sales_field_error(ctx, "lines", "is required");
    } else {
        sales_lines_check(ctx, lines);
    }

    if (rc != 0 || json_array_size(ctx->errors)) {
        json_decref(values);
        return json_array_size(ctx->errors) ? sales_validation_failed(ctx)
                                            : -1;
    }

    id = take_number(ctx, values) == 0 ? sales_insert(ctx, &orders_res,
                                                      values)
                                       : -1;

    rc = id > 0 ? price_and_store(ctx, id, sales_jint(values, "client_id"),
                                  sales_jstr(values, "currency"), lines,
                                  sales_jstr(values, "price_date"))
                : -1;
    json_decref(values);

    return rc == 0 ? created(ctx, id, out) : -1;
}


/* An accepted proposal becomes a draft order with the same lines and
 * snapshots; the proposal is converted and can no longer be answered,
 * and its proformas follow the order. */
int
sales_proposals_convert(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    static const char *const  known[] = {
        "delivery_date", "client_reference", "notes", NULL
    };

    sqlite3_stmt  *st;
    json_t        *p, *values, *binds, *lines, *data, *from;
    int64_t        id;
    int            rc;

    if (sales_only_fields(ctx, body, known) != 0) {
        return sales_validation_failed(ctx);
    }

    /* Checked as the fields of an order being edited: the rest comes
     * from the proposal. */
    from = json_object();
    rc = sales_validate(ctx, &orders_res, body, from, &values);
    json_decref(from);

    if (rc != 0) {
        json_decref(values);
        return -1;
    }

    if (sales_proposal_load(ctx, ctx->ids[0], &p) != 0) {
        json_decref(values);
        return -1;
    }

    if (sales_require_status(ctx, p, "proposal", "accepted", "converted; "
                             "only an accepted proposal becomes an order")
        != 0)
    {
        json_decref(values);
        json_decref(p);
        return -1;
    }

    from = json_pack("{s:O, s:O, s:O, s:O, s:O, s:s, s:O, s:O}",
                     "client_id", json_object_get(p, "client_id"),
                     "owner_id", json_object_get(p, "owner_id"),
                     "opportunity_id", json_object_get(p, "opportunity_id"),
                     "proposal_id", json_object_get(p, "id"),
                     "currency", json_object_get(p, "currency"),
                     "status", "draft",
                     "price_date", json_object_get(p, "price_date"),
                     "terms", json_object_get(p, "terms"));
    json_object_update(values, from);
    json_decref(from);

    id = take_number(ctx, values) == 0 ? sales_insert(ctx, &orders_res,
                                                      values)
                                       : -1;
    json_decref(values);

    if (id < 0) {
        json_decref(p);
        return -1;
    }

    lines = json_deep_copy(json_object_get(p, "lines"));
    {
        json_t  *line;
        size_t   i;

        json_array_foreach(lines, i, line) {
            json_object_set(line, "proposal_line_id",
                            json_object_get(line, "id"));
        }
    }

    rc = sales_rows_replace(ctx, "order_lines", "order_id", id,
                            order_line_columns, lines) == 0
         && sales_totals_store(ctx, "sales_orders", id, p) == 0;
    json_decref(lines);

    binds = json_pack("[I]", (json_int_t) ctx->now_ms);
    rc = rc && sales_set_state(ctx, "proposals", ctx->ids[0],
                               "status = 'converted', converted_at = ?",
                               binds) == 0;
    json_decref(binds);

    /* Proformas already issued for the proposal now belong to the order
     * too, so its final invoice deducts their advances. */
    st = rc ? sales_prepare(ctx, "UPDATE proformas SET order_id = ?"
                                 " WHERE proposal_id = ? AND order_id IS NULL")
            : NULL;
    if (st) {
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int64(st, 2, ctx->ids[0]);
        rc = sales_step_done(ctx, st) == 0;
    } else {
        rc = 0;
    }

    if (rc) {
        json_t  *changes = json_pack("{s:[ss], s:[nI]}", "status",
                                     "accepted", "converted", "order_id",
                                     (json_int_t) id);

        rc = sales_audit(ctx, "convert", "proposal", ctx->ids[0], changes)
             == 0;
        json_decref(changes);
    }

    json_decref(p);

    if (!rc || (rc = created(ctx, id, out)) != 201) {
        return -1;
    }

    data = NULL;
    if (sales_proposal_load(ctx, ctx->ids[0], &p) == 0) {
        data = json_pack("{s:o, s:I}", "proposal", p, "order_id",
                         (json_int_t) id);
    }

    rc = data && sales_event(ctx, "proposal.converted", "proposal",
                             ctx->ids[0], data) == 0;
    json_decref(data);

    return rc ? 201 : -1;
}


/* A draft order's new total still covers what its proformas and
 * advances ask for. */
static int
still_covers(sales_ctx_t *ctx, int64_t id)
{
    json_t   *binds = json_pack("[I]", (json_int_t) id);
    int64_t   total, committed;

    total = sales_count(ctx, "SELECT gross_minor FROM sales_orders"
                             " WHERE id = ?", binds);
    json_decref(binds);

    if (total < 0 || sales_deal_committed(ctx, id, 0, 0, &committed) != 0) {
        return -1;
    }

    if (committed > total) {
        return sales_fail(ctx, 409, "conflict", "the order's new total of "
                          "%lld is less than the %lld its proformas and "
                          "advances ask for; cancel a proforma first",
                          (long long) total, (long long) committed);
    }

    return 0;
}


/* New lines of a draft order: priced, and still covering what its
 * proformas and advances ask for. */
static int
store_priced(sales_ctx_t *ctx, int64_t id, json_t *before, json_t *inputs,
    const char *price_date)
{
    return price_and_store(ctx, id, sales_jint(before, "client_id"),
                           sales_jstr(before, "currency"), inputs,
                           price_date) == 0
           && still_covers(ctx, id) == 0 ? 0 : -1;
}


int
sales_orders_update(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    static const sales_priced_doc_t  doc = {
        &orders_res, sales_order_load, store_priced, "edited"
    };

    return sales_priced_update(ctx, &doc, ctx->ids[0], body, out);
}


/*
 * A state change: from one of the allowed states to a new one, with the
 * extra columns set (sql with ? marks, binds), audited and, when event is
 * not NULL, announced.
 */
static int
transition(sales_ctx_t *ctx, const char *allowed, const char *action,
    const char *to, const char *sql, json_t *binds, const char *event,
    json_t **out)
{
    sales_buf_t   set = {0};
    json_t       *o, *all, *changes;
    int           rc;

    if (sales_order_load(ctx, ctx->ids[0], &o) != 0) {
        return -1;
    }

    if (sales_require_status(ctx, o, "order", allowed, action) != 0) {
        json_decref(o);
        return -1;
    }

    sales_buf_printf(&set, "status = ?%s%s", sql ? ", " : "", sql ? sql : "");
    all = json_pack("[s]", to);
    if (binds) {
        json_array_extend(all, binds);
    }

    rc = set.failed ? sales_fail(ctx, 500, "internal", "out of memory")
                    : sales_set_state(ctx, "sales_orders", ctx->ids[0],
                                      set.data, all);
    sales_buf_free(&set);
    json_decref(all);

    changes = json_pack("{s:[Os]}", "status", json_object_get(o, "status"),
                        to);
    json_decref(o);

    rc = rc == 0
         && sales_audit(ctx, action, "order", ctx->ids[0], changes) == 0
         && sales_order_load(ctx, ctx->ids[0], out) == 0
         && (event == NULL || emit(ctx, event, *out) == 0);
    json_decref(changes);

    return rc ? 200 : -1;
}


/* Confirming is the client's yes: the opportunity it came from is won. */
int
sales_orders_confirm(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    json_t  *binds, *opp, *won;
    int64_t  opp_id;
    int      rc;

    if (json_object_size(body)) {
        return sales_fail(ctx, 400, "malformed", "confirm takes no body");
    }

    binds = json_pack("[I, I]", (json_int_t) ctx->now_ms,
                      (json_int_t) ctx->user.id);
    rc = transition(ctx, "draft", "confirmed", "confirmed",
                    "confirmed_at = ?, confirmed_by = ?", binds,
                    "order.confirmed", out);
    json_decref(binds);

    if (rc != 200) {
        return rc;
    }

    opp_id = sales_jint(*out, "opportunity_id");

    if (opp_id && sales_opportunity_load(ctx, opp_id, &opp) == 0) {
        int  open = sales_stage_is_open(sales_jstr(opp, "stage"));

        json_decref(opp);

        if (open) {
            json_t  *change = json_pack("{s:s}", "stage", "won");

            won = NULL;
            rc = sales_opportunity_change(ctx, opp_id, change, &won) == 0
                 ? 200 : -1;
            json_decref(change);
            json_decref(won);
        }

    } else if (opp_id && ctx->status != 404) {
        return -1;
    } else {
        ctx->status = 0;
    }

    return rc;
}


int
sales_orders_hold(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    json_t  *o, *binds;
    int      rc;

    if (json_object_size(body)) {
        return sales_fail(ctx, 400, "malformed", "hold takes no body");
    }

    if (sales_order_load(ctx, ctx->ids[0], &o) != 0) {
        return -1;
    }

    binds = json_pack("[O]", json_object_get(o, "status"));
    json_decref(o);

    rc = transition(ctx, "confirmed,partially_invoiced", "held", "on_hold",
                    "held_from = ?", binds, NULL, out);
    json_decref(binds);
    return rc;
}


int
sales_orders_resume(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    sqlite3_stmt  *st;
    char           from[32] = "";

    if (json_object_size(body)) {
        return sales_fail(ctx, 400, "malformed", "resume takes no body");
    }

    st = sales_prepare(ctx, "SELECT held_from FROM sales_orders"
                            " WHERE id = ?");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, ctx->ids[0]);
    if (sqlite3_step(st) == SQLITE_ROW
        && sqlite3_column_type(st, 0) != SQLITE_NULL)
    {
        snprintf(from, sizeof(from), "%s", sqlite3_column_text(st, 0));
    }
    sales_finish(st);

    /* Back to where it was, then as its invoices say now: credit notes
     * may have come while it was held. */
    if (transition(ctx, "on_hold", "resumed", from[0] ? from : "confirmed",
                   "held_from = NULL", NULL, NULL, out) != 200)
    {
        return -1;
    }

    json_decref(*out);
    *out = NULL;

    return sales_order_refresh(ctx, ctx->ids[0]) == 0
           && sales_order_load(ctx, ctx->ids[0], out) == 0 ? 200 : -1;
}


int
sales_orders_complete(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    json_t  *binds;
    int      rc;

    if (json_object_size(body)) {
        return sales_fail(ctx, 400, "malformed", "complete takes no body");
    }

    binds = json_pack("[I]", (json_int_t) ctx->now_ms);
    rc = transition(ctx, "invoiced", "completed", "completed",
                    "completed_at = ?", binds, "order.completed", out);
    json_decref(binds);
    return rc;
}


/* Cancelled only while nothing is invoiced: no issued invoice, and no
 * advance that was not given back by a credit note. Its draft invoices
 * go and its open proformas are cancelled with it. */
int
sales_orders_cancel(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    static const char *const  known[] = { "reason", NULL };

    sqlite3_stmt  *st;
    json_t        *binds, *o;
    int64_t        invoiced;
    int            rc;

    if (sales_only_fields(ctx, body, known) != 0
        || sales_text_field(ctx, body, "reason", 2000, 1) != 0)
    {
        return sales_validation_failed(ctx);
    }

    if (sales_order_load(ctx, ctx->ids[0], &o) != 0) {
        return -1;
    }
    json_decref(o);

    binds = json_pack("[I, I]", (json_int_t) ctx->ids[0],
                      (json_int_t) ctx->ids[0]);
    invoiced = sales_count(ctx,
        "SELECT (SELECT count(*) FROM invoices WHERE order_id = ?1"
        "  AND kind = 'invoice' AND status NOT IN ('draft', 'credited'))"
        " + (SELECT count(*) FROM invoices a JOIN proformas f"
        "  ON f.id = a.proforma_id WHERE f.order_id = ?2"
        "  AND a.kind = 'advance' AND a.status != 'credited')", binds);
    json_decref(binds);

    if (invoiced < 0) {
        return -1;
    }

    if (invoiced > 0) {
        return sales_fail(ctx, 409, "conflict", "the order is invoiced (or "
                          "has an advance invoice); credit its invoices in "
                          "full first");
    }

    binds = json_pack("[I, O]", (json_int_t) ctx->now_ms,
                      json_object_get(body, "reason"));
    rc = transition(ctx, "draft,confirmed,on_hold", "cancelled", "cancelled",
                    "cancelled_at = ?, cancel_reason = ?", binds,
                    "order.cancelled", out);
    json_decref(binds);

    if (rc != 200) {
        return rc;
    }

    rc = sales_invoices_drop_drafts(ctx, "order_id", ctx->ids[0]) == 0;

    st = rc ? sales_prepare(ctx, "UPDATE proformas SET status = 'cancelled',"
                                 " cancelled_at = ?, cancel_reason = ?,"
                                 " updated_at = ?, version = version + 1"
                                 " WHERE order_id = ?"
                                 " AND status IN ('draft', 'issued')")
            : NULL;
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, ctx->now_ms);
    sqlite3_bind_text(st, 2, "the order was cancelled", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, ctx->now_ms);
    sqlite3_bind_int64(st, 4, ctx->ids[0]);

    return sales_step_done(ctx, st) == 0 ? 200 : -1;
}


/*
 * The order's state after an invoice, a credit note or a payment:
 * invoiced in full, in part or not at all, from the lines; an order
 * invoiced in full whose invoices are all paid is completed. A draft,
 * held or cancelled order keeps its state.
 */
int
sales_order_refresh(sales_ctx_t *ctx, int64_t order_id)
{
    sqlite3_stmt  *st;
    const char    *to;
    json_t        *o;
    int64_t        ordered, invoiced, open;
    int            rc;

    if (sales_load(ctx, &orders_res, order_id, NULL, NULL, &o) != 0) {
        return -1;
    }

    rc = sales_require_status(ctx, o, "order", "confirmed,"
                              "partially_invoiced,invoiced,completed", "");
    if (rc != 0) {
        json_decref(o);
        ctx->status = 0;
        ctx->problem = NULL;
        return 0;
    }

    st = sales_prepare(ctx,
        "SELECT (SELECT total(quantity) FROM order_lines WHERE order_id = ?1),"
        " (SELECT total(il.quantity) FROM invoice_lines il JOIN invoices i"
        "  ON i.id = il.invoice_id WHERE i.order_id = ?1"
        "  AND i.status != 'draft' AND il.order_line_id IS NOT NULL),"
        " (SELECT count(*) FROM invoices WHERE order_id = ?1"
        "  AND kind = 'invoice' AND status IN ('issued', 'partially_paid'))");
    if (st == NULL) {
        json_decref(o);
        return -1;
    }

    sqlite3_bind_int64(st, 1, order_id);

    if (sqlite3_step(st) != SQLITE_ROW) {
        sales_finish(st);
        json_decref(o);
        return sales_db_error(ctx, "reading an order's invoicing");
    }

    ordered = (int64_t) sqlite3_column_double(st, 0);
    invoiced = (int64_t) sqlite3_column_double(st, 1);
    open = sqlite3_column_int64(st, 2);
    sales_finish(st);

    to = invoiced <= 0 ? "confirmed"
         : invoiced < ordered ? "partially_invoiced"
         : open == 0 ? "completed" : "invoiced";

    /* A completed order stays completed unless a credit note gave back
     * some of it. */
    if (strcmp(sales_jstr(o, "status"), "completed") == 0
        && invoiced >= ordered)
    {
        to = "completed";
    }

    rc = 0;

    if (strcmp(sales_jstr(o, "status"), to) != 0) {
        json_t  *binds = json_pack("[s, I]", to,
                                   (json_int_t) (strcmp(to, "completed") == 0
                                                 ? ctx->now_ms : 0));
        json_t  *changes = json_pack("{s:[Os]}", "status",
                                     json_object_get(o, "status"), to);

        rc = sales_set_state(ctx, "sales_orders", order_id, "status = ?,"
                             " completed_at = nullif(?, 0)", binds) == 0
             && sales_audit(ctx, "invoicing", "order", order_id, changes)
                == 0 ? 0 : -1;
        json_decref(binds);
        json_decref(changes);

        if (rc == 0 && strcmp(to, "completed") == 0) {
            json_t  *now;

            rc = sales_order_load_any(ctx, order_id, &now) == 0
                 && emit(ctx, "order.completed", now) == 0 ? 0 : -1;
            json_decref(now);
        }
    }

    json_decref(o);
    return rc;
}


/* An order whatever its owner, for documents already visible through
 * their own. */
int
sales_order_load_any(sales_ctx_t *ctx, int64_t id, json_t **out)
{
    return sales_load_finished(ctx, &orders_res, id, 0, order_finish, out);
}


/* --- the document ----------------------------------------------------- */

int
sales_orders_document(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    sales_page_t   pg;
    char           heading[96];

    memset(&pg, 0, sizeof(pg));

    if (sales_order_load(ctx, ctx->ids[0], &pg.doc) != 0
        || sales_page_parties(ctx, &pg) != 0)
    {
        sales_page_free(&pg);
        return -1;
    }

    snprintf(heading, sizeof(heading), "Comandă %s",
             sales_jstr(pg.doc, "number"));
    pg.heading = heading;
    pg.list_price = 1;
    pg.facts = json_pack("[[s, s?], [s, s?], [s, s?]]",
                         "Data prețurilor", sales_jstr(pg.doc, "price_date"),
                         "Livrare", sales_jstr(pg.doc, "delivery_date"),
                         "Referința clientului",
                         sales_jstr(pg.doc, "client_reference"));
    pg.after = json_pack("[[s, s?]]", "Termeni", sales_jstr(pg.doc, "terms"));

    return sales_page_answer(ctx, &pg, out);
}


/* --- what a client bought before ---------------------------------------- */

/*
 * Per product: how much the client ordered (confirmed orders onward, and
 * invoices straight from a proposal), in how many orders, when last, at
 * what net unit price last, newest first: what the AE taking a repeat
 * order needs.
 */
int
sales_clients_purchases(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    sales_buf_t    sql = {0}, scope_o = {0}, scope_i = {0};
    sqlite3_stmt  *st;
    json_t        *client, *items, *binds = json_array();
    int            rc;

    if (sales_client_load(ctx, ctx->ids[0], &client) != 0) {
        json_decref(binds);
        return -1;
    }
    json_decref(client);

    /* Only documents the caller may see: another AE's order for the
     * same client is not this AE's to read. */
    json_array_append_new(binds, json_integer(ctx->ids[0]));
    sales_scope_sql(ctx, "o.owner_id", &scope_o, binds);
    sales_scope_sql(ctx, "i.owner_id", &scope_i, binds);

    sales_buf_printf(&sql,
        "WITH bought (product_id, quantity, net_minor, at, doc_id, doc_type,"
        "  doc_number, currency) AS ("
        " SELECT l.product_id, l.quantity, l.net_minor,"
        "  coalesce(o.confirmed_at, o.created_at), o.id, 'order', o.number,"
        "  o.currency"
        "  FROM order_lines l JOIN sales_orders o ON o.id = l.order_id"
        "  WHERE o.client_id = ?1 AND %s AND o.status IN ('confirmed',"
        "  'partially_invoiced', 'invoiced', 'completed', 'on_hold')"
        " UNION ALL"
        " SELECT l.product_id, l.quantity, l.net_minor, i.issued_at, i.id,"
        "  'invoice', i.number, i.currency"
        "  FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id"
        "  WHERE i.client_id = ?1 AND %s AND i.kind = 'invoice'"
        "  AND i.order_id IS NULL AND i.status != 'draft'"
        "  AND l.product_id IS NOT NULL AND l.quantity > 0),"
        " latest AS (SELECT *, row_number() OVER (PARTITION BY product_id"
        "  ORDER BY at DESC, doc_id DESC) AS n FROM bought)"
        " SELECT b.product_id, p.sku, p.name, sum(b.quantity),"
        "  count(DISTINCT b.doc_type || b.doc_id), max(b.at),"
        "  (SELECT l.doc_type || ' ' || l.doc_number FROM latest l"
        "   WHERE l.product_id = b.product_id AND l.n = 1),"
        "  (SELECT (l.net_minor + l.quantity / 2) / l.quantity FROM latest l"
        "   WHERE l.product_id = b.product_id AND l.n = 1),"
        "  (SELECT l.currency FROM latest l"
        "   WHERE l.product_id = b.product_id AND l.n = 1)"
        " FROM bought b JOIN products p ON p.id = b.product_id"
        " GROUP BY b.product_id ORDER BY max(b.at) DESC, b.product_id"
        " LIMIT 500", scope_o.failed ? "0" : scope_o.data,
        scope_i.failed ? "0" : scope_i.data);
    sales_buf_free(&scope_o);
    sales_buf_free(&scope_i);

    st = sales_prepare_bound(ctx, &sql, binds);
    json_decref(binds);

    if (st == NULL) {
        return -1;
    }

    items = json_array();

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        char  at[32], date[11];

        sales_time_format(sqlite3_column_int64(st, 5), at);
        memcpy(date, at, 10);
        date[10] = '\0';

        json_array_append_new(items, json_pack(
            "{s:I, s:s, s:s, s:I, s:I, s:s, s:s, s:I, s:s}",
            "product_id", (json_int_t) sqlite3_column_int64(st, 0),
            "sku", (const char *) sqlite3_column_text(st, 1),
            "name", (const char *) sqlite3_column_text(st, 2),
            "quantity", (json_int_t) sqlite3_column_int64(st, 3),
            "orders", (json_int_t) sqlite3_column_int64(st, 4),
            "last_ordered_on", date,
            "last_document", (const char *) sqlite3_column_text(st, 6),
            "last_unit_net_minor", (json_int_t) sqlite3_column_int64(st, 7),
            "currency", (const char *) sqlite3_column_text(st, 8)));
    }

    sales_finish(st);

    if (rc != SQLITE_DONE) {
        json_decref(items);
        return sales_db_error(ctx, "reading purchases");
    }

    *out = json_pack("{s:I, s:o}", "client_id", (json_int_t) ctx->ids[0],
                     "items", items);
    return 200;
}
