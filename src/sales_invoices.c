/*
 * Invoices, advance invoices and credit notes; payments.
 *
 * A draft has a provisional id and no number. Issuing takes the next
 * number of its series and year inside the transaction that freezes the
 * content, refuses an issue date earlier than the last of the series,
 * and chains the content's SHA-256 to the previous invoice of the
 * series, so numbers are gapless and tampering shows. An issued invoice
 * is never edited or deleted: a credit note (negative, referring to it,
 * its own series) corrects it.
 *
 * The money chain: the advance invoices of an order (issued when a
 * proforma is paid) are deducted by its final invoice at each advance's
 * own VAT rate, so the final invoice and its advances add up to the
 * order exactly; what an order's invoices, open proformas and advances
 * commit can never pass its total.
 */

#include "sales_resource.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#define MAX_SELECTED   200
#define GENESIS_HASH   "0000000000000000000000000000000000000000000000000000000000000000"
#define FLOW_RULE      "the flow is Proposal → Sales Order → Contract → Invoice"

/* Something left to pay past the due date (bind: today), on alias t. */
#define OVERDUE_SQL                                                           \
    "(t.status IN ('issued', 'partially_paid') AND t.kind != 'credit_note'" \
    " AND t.due_date < ? AND t.gross_minor > t.paid_minor + t.credited_minor)"

static const char *const  invoice_kinds[] = {
    "invoice", "advance", "credit_note", NULL
};

static const char *const  invoice_states[] = {
    "draft", "issued", "partially_paid", "paid", "credited", NULL
};

static const char *const  payment_methods[] = {
    "bank_transfer", "card", "cash", "other", NULL
};

static const sales_field_t  invoice_fields[] = {
    SALES_SHOWN_ENUM("kind", invoice_kinds),
    SALES_SHOWN("series", SALES_F_STRING),
    SALES_SHOWN("seq", SALES_F_INT),
    SALES_SHOWN("number", SALES_F_STRING),
    SALES_SHOWN_ENUM("status", invoice_states),
    SALES_SHOWN("client_id", SALES_F_INT),
    SALES_SHOWN("owner_id", SALES_F_INT),
    SALES_SHOWN("currency", SALES_F_STRING),
    SALES_SHOWN("exchange_rate", SALES_F_STRING),
    SALES_SHOWN("order_id", SALES_F_INT),
    SALES_SHOWN("proposal_id", SALES_F_INT),
    SALES_SHOWN("proforma_id", SALES_F_INT),
    SALES_SHOWN("credit_of_id", SALES_F_INT),
    SALES_SHOWN("issue_date", SALES_F_DATE),
    { "due_date", SALES_F_DATE, 0, 0, 0, NULL, NULL, NULL, 0, 0 },
    { "payment_terms_days", SALES_F_INT, 0, 0, 365, NULL, NULL, NULL, 0, 0 },
    SALES_STORED("client_snapshot"),
    SALES_STORED("seller_snapshot"),
    SALES_SHOWN("net_minor", SALES_F_INT),
    SALES_SHOWN("vat_minor", SALES_F_INT),
    SALES_SHOWN("gross_minor", SALES_F_INT),
    SALES_STORED("vat_breakdown"),
    SALES_SHOWN("paid_minor", SALES_F_INT),
    SALES_SHOWN("credited_minor", SALES_F_INT),
    SALES_SHOWN("refund_minor", SALES_F_INT),
    SALES_SHOWN("reason", SALES_F_STRING),
    SALES_TEXT("notes", 10000),
    SALES_SHOWN("prev_hash", SALES_F_STRING),
    SALES_SHOWN("hash", SALES_F_STRING),
    SALES_SHOWN("issued_at", SALES_F_TIME),
    SALES_SHOWN("issued_by", SALES_F_INT),
    SALES_SHOWN("paid_at", SALES_F_TIME),
    SALES_FIELDS_END
};

static const sales_resource_t  invoices_res = {
    "invoices", "invoice", "invoice", invoice_fields, NULL, NULL, "/invoices"
};

static const char *const  invoice_line_columns[] = {
    "position", "product_id", "description", "quantity", "unit_price_minor",
    "rate_bp", "net_minor", "vat_minor", "gross_minor", "order_line_id",
    "proposal_line_id", "deducted_invoice_id", "credited_line_id", NULL
};

static const sales_field_t  payment_fields[] = {
    SALES_SHOWN("invoice_id", SALES_F_INT),
    SALES_SHOWN("proforma_id", SALES_F_INT),
    SALES_SHOWN("client_id", SALES_F_INT),
    SALES_SHOWN("owner_id", SALES_F_INT),
    SALES_SHOWN("amount_minor", SALES_F_INT),
    SALES_SHOWN("currency", SALES_F_STRING),
    SALES_SHOWN("paid_on", SALES_F_DATE),
    SALES_SHOWN_ENUM("method", payment_methods),
    SALES_SHOWN("reference", SALES_F_STRING),
    SALES_SHOWN("notes", SALES_F_STRING),
    SALES_SHOWN("recorded_by", SALES_F_INT),
    SALES_FIELDS_END
};

static const sales_resource_t  payments_res = {
    "payments", "payment", "payment", payment_fields, NULL, NULL, "/payments"
};


/* --- reading ------------------------------------------------------------ */

static int64_t
balance_of(json_t *inv)
{
    return sales_jint(inv, "gross_minor") - sales_jint(inv, "paid_minor")
           - sales_jint(inv, "credited_minor");
}


/* What the API shows besides the row: the VAT per rate (and in RON at the
 * invoice's rate), the lines, the balance and whether it is overdue. */
static int
invoice_finish(sales_ctx_t *ctx, json_t *inv)
{
    json_t      *lines, *vat;
    const char  *status = sales_jstr(inv, "status");
    const char  *due = sales_jstr(inv, "due_date");
    const char  *rate = sales_jstr(inv, "exchange_rate");
    char         today[11];
    int64_t      balance = balance_of(inv), late = 0;
    size_t       i;

    sales_date_of(ctx->now_ms, today);

    if (sales_vat_breakdown_load(ctx, "invoices", inv) != 0
        || sales_rows_load(ctx, "invoice_lines", "invoice_id",
                           sales_jint(inv, "id"), invoice_line_columns, NULL,
                           &lines) != 0)
    {
        return -1;
    }

    json_object_set_new(inv, "lines", lines);

    /* The VAT in RON per rate, each rounded once; the total is their sum,
     * so the figures on the invoice add up. */
    if (rate) {
        int64_t  ron = 0, r;

        json_array_foreach(json_object_get(inv, "vat"), i, vat) {
            r = sales_ron_of(sales_jint(vat, "vat_minor"), rate);
            ron += r;
            json_object_set_new(vat, "vat_ron_minor", json_integer(r));
        }
        json_object_set_new(inv, "vat_ron_minor", json_integer(ron));
    }

    /* What was paid beyond the total is owed back, and a credit note says
     * how much (refund_minor): the balance is never below zero. */
    if (strcmp(sales_jstr(inv, "kind"), "credit_note") == 0
        || strcmp(status, "draft") == 0 || balance < 0)
    {
        balance = 0;
    }

    if (balance > 0 && due && strcmp(due, today) < 0) {
        late = sales_days_between(due, today);
    }

    json_object_set_new(inv, "balance_minor", json_integer(balance));
    json_object_set_new(inv, "overdue", json_boolean(late > 0));
    json_object_set_new(inv, "days_overdue", json_integer(late));
    return 0;
}


int
sales_invoice_load(sales_ctx_t *ctx, int64_t id, json_t **out)
{
    return sales_load_finished(ctx, &invoices_res, id, 1, invoice_finish,
                               out);
}


static int
invoice_load_any(sales_ctx_t *ctx, int64_t id, json_t **out)
{
    return sales_load_finished(ctx, &invoices_res, id, 0, invoice_finish,
                               out);
}


int
sales_invoices_get(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    return sales_invoice_load(ctx, ctx->ids[0], out) == 0 ? 200 : -1;
}


int
sales_invoices_list(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    static const char *const  ids[] = {
        "client_id", "order_id", "proposal_id", "proforma_id",
        "credit_of_id", NULL
    };

    sales_buf_t   where = {0};
    const char   *status, *kind;
    json_t       *binds = json_array();
    char          today[11];
    int           overdue = -1, k, rc = -1;

    sales_date_of(ctx->now_ms, today);

    if (sales_doc_filters(ctx, ids, &where, binds) != 0
        || sales_status_param(ctx, invoice_states, "invoice", &status) != 0
        || (sales_param(ctx, "overdue")
            && sales_param_bool(ctx, "overdue", &overdue) != 0))
    {
        goto done;
    }

    kind = sales_param(ctx, "kind");
    if (kind) {
        for (k = 0; invoice_kinds[k]; k++) {
            if (strcmp(invoice_kinds[k], kind) == 0) {
                break;
            }
        }
        if (invoice_kinds[k] == NULL) {
            sales_param_error(ctx, "kind", "must be invoice, advance or "
                              "credit_note");
            goto done;
        }
        sales_buf_adds(&where, " AND t.kind = ?");
        json_array_append_new(binds, json_string(kind));
    }

    if (status) {
        sales_buf_adds(&where, " AND t.status = ?");
        json_array_append_new(binds, json_string(status));
    }

    /* Overdue: past its due date with something still to pay. */
    if (overdue >= 0) {
        sales_buf_adds(&where, overdue ? " AND " OVERDUE_SQL
                                       : " AND NOT " OVERDUE_SQL);
        json_array_append_new(binds, json_string(today));
    }

    rc = sales_list_finished(ctx, &invoices_res, &where, binds, 1, invoice_finish,
                             out) == 0 ? 200 : -1;

done:

    sales_buf_free(&where);
    json_decref(binds);
    return rc;
}


/* --- what an order or proposal has committed ------------------------------ */

/*
 * The advances of a deal (an order, or a proposal invoiced without one)
 * still to deduct, per advance and rate: [{invoice_id, number, issue_date,
 * rate_bp, net_minor, vat_minor}], the advance's own lines less what
 * credit notes gave back and what other issued invoices deducted.
 */
static int
advances_left(sales_ctx_t *ctx, const char *column, int64_t deal_id,
    int64_t except_invoice, json_t **out)
{
    sales_buf_t    sql = {0};
    sqlite3_stmt  *st;
    json_t        *list;
    int            rc;

    sales_buf_printf(&sql,
        "WITH adv AS (SELECT a.id, a.number, a.issue_date FROM invoices a"
        "  JOIN proformas f ON f.id = a.proforma_id"
        "  WHERE f.%s = ?1 AND a.kind = 'advance' AND a.status != 'draft'),"
        " parts (id, rate_bp, net_minor, vat_minor) AS ("
        "  SELECT l.invoice_id, l.rate_bp, l.net_minor, l.vat_minor"
        "   FROM invoice_lines l WHERE l.invoice_id IN (SELECT id FROM adv)"
        "  UNION ALL SELECT c.credit_of_id, l.rate_bp, l.net_minor,"
        "   l.vat_minor FROM invoice_lines l JOIN invoices c"
        "   ON c.id = l.invoice_id WHERE c.credit_of_id IN (SELECT id FROM adv)"
        "   AND c.status != 'draft'"
        "  UNION ALL SELECT l.deducted_invoice_id, l.rate_bp, l.net_minor,"
        "   l.vat_minor FROM invoice_lines l JOIN invoices d"
        "   ON d.id = l.invoice_id WHERE l.deducted_invoice_id IN"
        "   (SELECT id FROM adv) AND d.status != 'draft' AND d.id != ?2)"
        " SELECT p.id, adv.number, adv.issue_date, p.rate_bp,"
        "  sum(p.net_minor), sum(p.vat_minor) FROM parts p"
        "  JOIN adv ON adv.id = p.id GROUP BY p.id, p.rate_bp"
        "  HAVING sum(p.net_minor) != 0 OR sum(p.vat_minor) != 0"
        "  ORDER BY p.id, p.rate_bp DESC", column);

    st = sales_prepare_bound(ctx, &sql, NULL);
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, deal_id);
    sqlite3_bind_int64(st, 2, except_invoice);
    list = json_array();

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_array_append_new(list, json_pack(
            "{s:I, s:s, s:s, s:I, s:I, s:I}",
            "invoice_id", (json_int_t) sqlite3_column_int64(st, 0),
            "number", (const char *) sqlite3_column_text(st, 1),
            "issue_date", (const char *) sqlite3_column_text(st, 2),
            "rate_bp", (json_int_t) sqlite3_column_int64(st, 3),
            "net_minor", (json_int_t) sqlite3_column_int64(st, 4),
            "vat_minor", (json_int_t) sqlite3_column_int64(st, 5)));
    }

    sales_finish(st);

    if (rc != SQLITE_DONE) {
        json_decref(list);
        return sales_db_error(ctx, "reading advances");
    }

    *out = list;
    return 0;
}


/*
 * What a deal has committed, gross: what issued invoices took of its
 * lines (net of credit notes), its open proformas (not cancelled, paid
 * or expired; except_proforma left out) and its advances not yet
 * deducted. Nothing may take a deal past its total.
 */
int
sales_deal_committed(sales_ctx_t *ctx, int64_t order_id, int64_t proposal_id,
    int64_t except_proforma, int64_t *committed)
{
    sqlite3_stmt  *st;
    json_t        *adv, *a;
    const char    *column = order_id ? "order_id" : "proposal_id";
    int64_t        deal = order_id ? order_id : proposal_id, sum = 0;
    char           today[11];
    size_t         i;

    sales_date_of(ctx->now_ms, today);

    st = sales_prepare(ctx, order_id
        ? "SELECT (SELECT total(l.gross_minor) FROM invoice_lines l"
          "  JOIN invoices i ON i.id = l.invoice_id WHERE i.order_id = ?1"
          "  AND i.status != 'draft' AND l.order_line_id IS NOT NULL),"
          " (SELECT total(gross_minor) FROM proformas WHERE order_id = ?1"
          "  AND id != ?2 AND status IN ('draft', 'issued')"
          "  AND valid_until >= ?3)"
        : "SELECT (SELECT total(l.gross_minor) FROM invoice_lines l"
          "  JOIN invoices i ON i.id = l.invoice_id WHERE i.proposal_id = ?1"
          "  AND i.order_id IS NULL AND i.status != 'draft'"
          "  AND l.proposal_line_id IS NOT NULL),"
          " (SELECT total(gross_minor) FROM proformas WHERE proposal_id = ?1"
          "  AND id != ?2 AND status IN ('draft', 'issued')"
          "  AND valid_until >= ?3)");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, deal);
    sqlite3_bind_int64(st, 2, except_proforma);
    sqlite3_bind_text(st, 3, today, -1, SQLITE_TRANSIENT);

    if (sqlite3_step(st) != SQLITE_ROW) {
        sales_finish(st);
        return sales_db_error(ctx, "reading what a deal committed");
    }

    sum = (int64_t) sqlite3_column_double(st, 0)
          + (int64_t) sqlite3_column_double(st, 1);
    sales_finish(st);

    if (advances_left(ctx, column, deal, 0, &adv) != 0) {
        return -1;
    }

    json_array_foreach(adv, i, a) {
        sum += sales_jint(a, "net_minor") + sales_jint(a, "vat_minor");
    }

    json_decref(adv);
    *committed = sum;
    return 0;
}


/* --- the flow rule ---------------------------------------------------------- */

/*
 * "Don't issue an invoice directly from the proposal if you also have a
 * contract": an invoice from a proposal is refused when any contract of
 * the proposal or its opportunity exists; an invoice of an order whose
 * deal has a contract not yet signed is refused until it is.
 */
static int
flow_rule(sales_ctx_t *ctx, int64_t order_id, int64_t proposal_id,
    int64_t opportunity_id)
{
    sqlite3_stmt  *st;
    int            rc;
    char           number[48];

    st = sales_prepare(ctx,
        "SELECT number, status FROM contracts"
        " WHERE status NOT IN ('terminated', 'superseded')"
        " AND ((order_id = ?1 AND ?1 != 0) OR (proposal_id = ?2 AND ?2 != 0)"
        "  OR (opportunity_id = ?3 AND ?3 != 0))"
        " ORDER BY status IN ('draft', 'out_for_signature') DESC, id LIMIT 1");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, order_id);
    sqlite3_bind_int64(st, 2, proposal_id);
    sqlite3_bind_int64(st, 3, opportunity_id);
    rc = sqlite3_step(st);

    if (rc == SQLITE_DONE) {
        sales_finish(st);
        return 0;
    }

    if (rc != SQLITE_ROW) {
        sales_finish(st);
        return sales_db_error(ctx, "reading contracts");
    }

    snprintf(number, sizeof(number), "%s", sqlite3_column_text(st, 0));
    rc = strcmp((const char *) sqlite3_column_text(st, 1), "draft") == 0
         || strcmp((const char *) sqlite3_column_text(st, 1),
                   "out_for_signature") == 0;
    sales_finish(st);

    if (order_id == 0) {
        return sales_fail(ctx, 409, "conflict", "contract %s is part of this "
                          "deal, so the invoice cannot skip the order: "
                          FLOW_RULE "; convert the proposal to an order",
                          number);
    }

    if (rc) {
        return sales_fail(ctx, 409, "conflict", "contract %s is not signed "
                          "yet: " FLOW_RULE, number);
    }

    return 0;
}


/* --- composing an invoice's lines ------------------------------------------ */

/* The part q of a line of n: the rest exactly when it takes the rest, so
 * the parts add up to the line; otherwise pro rata, VAT on the part's
 * net. */
static void
part_of(int64_t line_net, int64_t line_vat, int64_t n, int64_t done_q,
    int64_t done_net, int64_t done_vat, int64_t q, int64_t rate,
    int64_t *net, int64_t *vat)
{
    if (done_q + q == n) {
        *net = line_net - done_net;
        *vat = line_vat - done_vat;
        return;
    }

    *net = sales_muldiv(line_net, q, n);
    *vat = sales_muldiv(*net, rate, 10000);
}


static int
selection_error(sales_ctx_t *ctx, size_t i, const char *field,
    const char *detail)
{
    return sales_line_error(ctx, "lines", i, field, detail);
}


/*
 * The product lines of an order's invoice from a selection
 * ([{order_line_id, quantity}], or NULL for everything still to
 * invoice), and whether it is the final one (nothing left after it).
 */
static int
order_lines_part(sales_ctx_t *ctx, json_t *order, json_t *selection,
    json_t **lines, int *final)
{
    json_t   *ol = NULL, *sel, *all;
    int64_t   left = 0;
    size_t    i, j;

    all = json_array();

    json_array_foreach(json_object_get(order, "lines"), j, ol) {
        json_object_set_new(ol, "take", json_integer(selection ? 0
            : sales_jint(ol, "remaining_quantity")));
    }

    json_array_foreach(selection, i, sel) {
        int64_t  id = sales_jint(sel, "order_line_id");
        int64_t  q = sales_jint(sel, "quantity");

        json_array_foreach(json_object_get(order, "lines"), j, ol) {
            if (sales_jint(ol, "id") == id) {
                break;
            }
        }

        if (j == json_array_size(json_object_get(order, "lines"))) {
            selection_error(ctx, i, "order_line_id", "is not a line of the "
                            "order");
            continue;
        }

        if (sales_jint(ol, "take")) {
            selection_error(ctx, i, "order_line_id", "is chosen twice");
            continue;
        }

        if (q == 0) {
            q = sales_jint(ol, "remaining_quantity");
        }

        if (q < 1 || q > sales_jint(ol, "remaining_quantity")) {
            char  detail[96];

            snprintf(detail, sizeof(detail), "must be from 1 to %lld, what "
                     "is left to invoice of the line",
                     (long long) sales_jint(ol, "remaining_quantity"));
            selection_error(ctx, i, "quantity", detail);
            continue;
        }

        json_object_set_new(ol, "take", json_integer(q));
    }

    if (json_array_size(ctx->errors)) {
        json_decref(all);
        return sales_validation_failed(ctx);
    }

    json_array_foreach(json_object_get(order, "lines"), j, ol) {
        int64_t  q = sales_jint(ol, "take");
        int64_t  net, vat;

        left += sales_jint(ol, "remaining_quantity") - q;

        if (q == 0) {
            continue;
        }

        part_of(sales_jint(ol, "net_minor"), sales_jint(ol, "vat_minor"),
                sales_jint(ol, "quantity"), sales_jint(ol, "invoiced_quantity"),
                sales_jint(ol, "invoiced_net_minor"),
                sales_jint(ol, "invoiced_vat_minor"), q,
                sales_jint(ol, "rate_bp"), &net, &vat);

        json_array_append_new(all, json_pack(
            "{s:O, s:O, s:I, s:I, s:O, s:I, s:I, s:I, s:O}",
            "product_id", json_object_get(ol, "product_id"),
            "description", json_object_get(ol, "description"),
            "quantity", (json_int_t) q,
            "unit_price_minor", (json_int_t) sales_muldiv(
                sales_jint(ol, "net_minor"), 1, sales_jint(ol, "quantity")),
            "rate_bp", json_object_get(ol, "rate_bp"),
            "net_minor", (json_int_t) net,
            "vat_minor", (json_int_t) vat,
            "gross_minor", (json_int_t) (net + vat),
            "order_line_id", json_object_get(ol, "id")));
    }

    if (json_array_size(all) == 0) {
        json_decref(all);
        return sales_fail(ctx, 409, "conflict", "nothing is left to invoice "
                          "of the order");
    }

    *final = left == 0;
    *lines = all;
    return 0;
}


/*
 * An invoice's lines and totals: its product lines (of an order, from
 * the selection; or a proposal's, whole), then, on the final invoice of
 * the deal, every advance still to deduct as a negative line at its own
 * rate. A partial invoice may not leave less to invoice than the deal's
 * open proformas and advances.
 */
static int
compose(sales_ctx_t *ctx, json_t *inv, json_t *selection, json_t **lines_out,
    json_t **totals_out)
{
    json_t   *lines = NULL, *deal = NULL, *adv = NULL, *a, *totals;
    int64_t   order_id = sales_jint(inv, "order_id");
    int64_t   proposal_id = sales_jint(inv, "proposal_id");
    int64_t   committed, total;
    size_t    i;
    int       final = 1, rc = -1;

    *lines_out = NULL;
    *totals_out = NULL;

    if (order_id) {
        if (sales_order_load_any(ctx, order_id, &deal) != 0
            || order_lines_part(ctx, deal, selection, &lines, &final) != 0)
        {
            goto done;
        }

    } else {
        json_t  *pl;

        if (sales_proposal_load(ctx, proposal_id, &deal) != 0) {
            goto done;
        }

        lines = json_array();
        json_array_foreach(json_object_get(deal, "lines"), i, pl) {
            json_array_append_new(lines, json_pack(
                "{s:O, s:O, s:O, s:I, s:O, s:O, s:O, s:O, s:O}",
                "product_id", json_object_get(pl, "product_id"),
                "description", json_object_get(pl, "description"),
                "quantity", json_object_get(pl, "quantity"),
                "unit_price_minor", (json_int_t) sales_muldiv(
                    sales_jint(pl, "net_minor"), 1,
                    sales_jint(pl, "quantity")),
                "rate_bp", json_object_get(pl, "rate_bp"),
                "net_minor", json_object_get(pl, "net_minor"),
                "vat_minor", json_object_get(pl, "vat_minor"),
                "gross_minor", json_object_get(pl, "gross_minor"),
                "proposal_line_id", json_object_get(pl, "id")));
        }
    }

    if (advances_left(ctx, order_id ? "order_id" : "proposal_id",
                      order_id ? order_id : proposal_id,
                      sales_jint(inv, "id"), &adv) != 0)
    {
        goto done;
    }

    if (final) {
        json_array_foreach(adv, i, a) {
            char  text[160];

            snprintf(text, sizeof(text), "Avans %s din %s (storno)",
                     sales_jstr(a, "number"), sales_jstr(a, "issue_date"));
            json_array_append_new(lines, json_pack(
                "{s:s, s:I, s:O, s:I, s:I, s:I, s:O}",
                "description", text, "quantity", (json_int_t) 1,
                "rate_bp", json_object_get(a, "rate_bp"),
                "net_minor", (json_int_t) -sales_jint(a, "net_minor"),
                "vat_minor", (json_int_t) -sales_jint(a, "vat_minor"),
                "gross_minor", (json_int_t) -(sales_jint(a, "net_minor")
                                              + sales_jint(a, "vat_minor")),
                "deducted_invoice_id", json_object_get(a, "invoice_id")));
        }
    }

    json_array_foreach(lines, i, a) {
        json_object_set_new(a, "position", json_integer((json_int_t) i + 1));
    }

    totals = sales_totals_of(lines);
    if (totals == NULL) {
        sales_fail(ctx, 422, "validation", "the invoice's total is too "
                   "large");
        goto done;
    }

    if (!final) {
        if (sales_deal_committed(ctx, order_id, proposal_id, 0, &committed)
            != 0)
        {
            json_decref(totals);
            goto done;
        }

        total = sales_jint(deal, "gross_minor");

        if (committed + sales_jint(totals, "gross_minor") > total) {
            char  left[48];

            json_decref(totals);
            snprintf(left, sizeof(left), "%lld",
                     (long long) (total - committed));
            sales_fail(ctx, 409, "conflict", "this invoice would take the "
                       "order past its total: with its open proformas and "
                       "advances, %s minor units are left to invoice; "
                       "invoice the rest of the order with it, or cancel a "
                       "proforma", left);
            goto done;
        }
    }

    if (sales_jint(totals, "gross_minor") < 0) {
        json_decref(totals);
        sales_fail(ctx, 409, "conflict", "the advances to deduct exceed what "
                   "is left to invoice");
        goto done;
    }

    *lines_out = lines;
    *totals_out = totals;
    lines = NULL;
    rc = 0;

done:

    json_decref(lines);
    json_decref(deal);
    json_decref(adv);
    return rc;
}


/* The selection a draft keeps: its product lines' order lines and
 * quantities. */
static json_t *
stored_selection(json_t *inv)
{
    json_t  *sel = json_array(), *l;
    size_t   i;

    json_array_foreach(json_object_get(inv, "lines"), i, l) {
        if (sales_jint(l, "order_line_id")) {
            json_array_append_new(sel, json_pack("{s:O, s:O}",
                "order_line_id", json_object_get(l, "order_line_id"),
                "quantity", json_object_get(l, "quantity")));
        }
    }

    return sel;
}


static int
store_lines(sales_ctx_t *ctx, int64_t id, json_t *lines, json_t *totals)
{
    return sales_rows_replace(ctx, "invoice_lines", "invoice_id", id,
                              invoice_line_columns, lines) == 0
           && sales_totals_store(ctx, "invoices", id, totals) == 0 ? 0 : -1;
}


/* --- drafts --------------------------------------------------------------- */

static int
check_selection(sales_ctx_t *ctx, json_t *sel)
{
    static const char *const  known[] = { "order_line_id", "quantity", NULL };

    json_t  *item;
    size_t   i;

    if (sel == NULL) {
        return 0;
    }

    if (sales_items_shape(ctx, sel, "lines", MAX_SELECTED, known) != 0
        && !json_is_array(sel))
    {
        return -1;
    }

    json_array_foreach(sel, i, item) {
        sales_item_int(ctx, item, "lines", i, "order_line_id", 1, INT64_MAX,
                       1);
        sales_item_int(ctx, item, "lines", i, "quantity", 1, 1000000000, 0);
    }

    return json_array_size(ctx->errors) ? -1 : 0;
}


/* The order or proposal an invoice comes from: visible, in a state that
 * may be invoiced. */
static int
invoice_source(sales_ctx_t *ctx, int64_t order_id, int64_t proposal_id,
    int64_t draft_id, json_t **src)
{
    int  rc;

    if (order_id) {
        if (sales_order_load(ctx, order_id, src) != 0) {
            if (ctx->status == 404) {
                ctx->status = 0;
                return sales_field_error(ctx, "order_id", "no such order");
            }
            return -1;
        }

        rc = sales_require_status(ctx, *src, "order",
                                  "confirmed,partially_invoiced",
                                  "invoiced; confirm it first, or resume it");
        return rc == 0 ? flow_rule(ctx, order_id,
                                   sales_jint(*src, "proposal_id"),
                                   sales_jint(*src, "opportunity_id"))
                       : -1;
    }

    if (sales_proposal_load(ctx, proposal_id, src) != 0) {
        if (ctx->status == 404) {
            ctx->status = 0;
            return sales_field_error(ctx, "proposal_id", "no such proposal");
        }
        return -1;
    }

    if (flow_rule(ctx, 0, proposal_id, sales_jint(*src, "opportunity_id"))
        != 0)
    {
        return -1;
    }

    /* The draft made from it converted it; any other state is refused. */
    if (draft_id) {
        return sales_require_status(ctx, *src, "proposal", "converted",
                                    "invoiced");
    }

    return sales_require_status(ctx, *src, "proposal", "accepted",
                                "invoiced; only an accepted proposal is "
                                "invoiced, or convert it to an order");
}


/* The editable fields of a draft (payment_terms_days, due_date, notes),
 * apart from its links and chosen lines. */
static int
draft_fields(sales_ctx_t *ctx, json_t *body, json_t *before, json_t **out)
{
    static const char *const  apart[] = {
        "order_id", "proposal_id", "lines", NULL
    };

    return sales_doc_fields(ctx, &invoices_res, body, before, apart, out);
}


/* POST /invoices: a draft of an order's invoice (all or chosen lines) or
 * of an accepted proposal's (whole; the proposal is converted). */
int
sales_invoices_create(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    json_t   *values = NULL, *src = NULL, *order_v, *prop_v, *sel;
    json_t   *lines = NULL, *totals = NULL, *row;
    int64_t   order_id = 0, proposal_id = 0, id;
    int       rc = -1;

    order_v = json_object_get(body, "order_id");
    prop_v = json_object_get(body, "proposal_id");
    sel = json_object_get(body, "lines");

    draft_fields(ctx, body, NULL, &values);

    if ((order_v != NULL) == (prop_v != NULL)) {
        sales_field_error(ctx, order_v ? "proposal_id" : "order_id",
                          "give exactly one of order_id and proposal_id");

    } else if (!json_is_integer(order_v ? order_v : prop_v)
               || json_integer_value(order_v ? order_v : prop_v) < 1)
    {
        sales_field_error(ctx, order_v ? "order_id" : "proposal_id",
                          "must be an id");
    } else {
        order_id = json_integer_value(order_v);
        proposal_id = json_integer_value(prop_v);
    }

    if (proposal_id && sel) {
        sales_field_error(ctx, "lines", "a proposal is invoiced whole; "
                          "convert it to an order to invoice part of it");
    } else {
        check_selection(ctx, sel);
    }

    if (json_array_size(ctx->errors)) {
        goto done;
    }

    if (invoice_source(ctx, order_id, proposal_id, 0, &src) != 0) {
        goto done;
    }

    row = json_pack("{s:s, s:s, s:O, s:O, s:O}", "kind", "invoice",
                    "status", "draft", "client_id",
                    json_object_get(src, "client_id"), "owner_id",
                    json_object_get(src, "owner_id"), "currency",
                    json_object_get(src, "currency"));
    json_object_set_new(row, order_id ? "order_id" : "proposal_id",
                        json_integer(order_id ? order_id : proposal_id));
    json_object_update(values, row);

    if (compose(ctx, row, sel, &lines, &totals) != 0) {
        json_decref(row);
        goto done;
    }

    json_decref(row);

    id = sales_insert(ctx, &invoices_res, values);
    if (id < 0 || store_lines(ctx, id, lines, totals) != 0) {
        goto done;
    }

    if (proposal_id) {
        json_t  *binds = json_pack("[I]", (json_int_t) ctx->now_ms);

        rc = sales_set_state(ctx, "proposals", proposal_id,
                             "status = 'converted', converted_at = ?", binds);
        json_decref(binds);
        if (rc != 0) {
            goto done;
        }
        rc = -1;
    }

    if (sales_invoice_load(ctx, id, out) != 0
        || sales_audit(ctx, "create", "invoice", id, *out) != 0)
    {
        goto done;
    }

    snprintf(ctx->location, sizeof(ctx->location), "/invoices/%lld",
             (long long) id);
    rc = 201;

done:

    if (rc < 0 && json_array_size(ctx->errors) && ctx->status == 0) {
        rc = sales_validation_failed(ctx);
    }

    json_decref(lines);
    json_decref(totals);
    json_decref(values);
    json_decref(src);
    return rc;
}


int
sales_invoices_update(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    json_t   *before, *changes = NULL, *diff = NULL, *sel;
    json_t   *lines = NULL, *totals = NULL;
    int64_t   id = ctx->ids[0];
    int       rc = -1;

    if (sales_invoice_load(ctx, id, &before) != 0) {
        return -1;
    }

    if (sales_require_status(ctx, before, "invoice", "draft", "edited; an "
                             "issued invoice is corrected by a credit note")
        != 0)
    {
        goto done;
    }

    sel = json_object_get(body, "lines");

    draft_fields(ctx, body, before, &changes);

    if (json_object_get(body, "order_id")) {
        sales_field_error(ctx, "order_id", "cannot be changed");
    }
    if (json_object_get(body, "proposal_id")) {
        sales_field_error(ctx, "proposal_id", "cannot be changed");
    }
    check_selection(ctx, sel);

    if (sel && sales_jint(before, "order_id") == 0) {
        sales_field_error(ctx, "lines", "a proposal is invoiced whole");
    }

    if (json_array_size(ctx->errors)) {
        rc = sales_validation_failed(ctx);
        goto done;
    }

    if (sel) {
        if (compose(ctx, before, sel, &lines, &totals) != 0
            || store_lines(ctx, id, lines, totals) != 0)
        {
            goto done;
        }
    }

    if (sales_update(ctx, &invoices_res, id, before, changes, &diff) != 0) {
        goto done;
    }

    rc = sales_draft_updated(ctx, &invoices_res, id, diff,
                             sel ? "chosen again" : NULL, sales_invoice_load,
                             out);

done:

    json_decref(lines);
    json_decref(totals);
    json_decref(diff);
    json_decref(changes);
    json_decref(before);
    return rc;
}


/* Deletes a draft (audited whole); a proposal it converted is accepted
 * again. */
static int
drop_draft(sales_ctx_t *ctx, json_t *inv)
{
    sqlite3_stmt  *st;
    int64_t        id = sales_jint(inv, "id");

    st = sales_prepare(ctx, "DELETE FROM invoice_lines WHERE invoice_id = ?");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, id);

    if (sales_step_done(ctx, st) != 0
        || sales_delete_row(ctx, &invoices_res, id, inv) != 0)
    {
        return -1;
    }

    if (sales_jint(inv, "proposal_id") && sales_jint(inv, "order_id") == 0) {
        return sales_set_state(ctx, "proposals", sales_jint(inv,
                                                             "proposal_id"),
                               "status = 'accepted', converted_at = NULL",
                               NULL);
    }

    return 0;
}


int
sales_invoices_delete(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    json_t  *inv;
    int      rc;

    if (sales_invoice_load(ctx, ctx->ids[0], &inv) != 0) {
        return -1;
    }

    rc = sales_require_status(ctx, inv, "invoice", "draft", "deleted; an "
                              "issued invoice is corrected by a credit note")
         == 0 && drop_draft(ctx, inv) == 0;
    json_decref(inv);

    *out = NULL;
    return rc ? 204 : -1;
}


/* The drafts of an order (column order_id) or proposal go with it. */
int
sales_invoices_drop_drafts(sales_ctx_t *ctx, const char *column, int64_t id)
{
    sales_buf_t    sql = {0};
    sqlite3_stmt  *st;
    json_t        *ids = json_array(), *v, *inv;
    size_t         i;
    int            rc;

    sales_buf_printf(&sql, "SELECT id FROM invoices WHERE %s = ?"
                     " AND status = 'draft'", column);
    st = sales_prepare_bound(ctx, &sql, NULL);
    if (st == NULL) {
        json_decref(ids);
        return -1;
    }

    sqlite3_bind_int64(st, 1, id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_array_append_new(ids, json_integer(sqlite3_column_int64(st, 0)));
    }
    sales_finish(st);

    rc = rc == SQLITE_DONE ? 0 : sales_db_error(ctx, "reading drafts");

    json_array_foreach(ids, i, v) {
        if (rc == 0 && invoice_load_any(ctx, json_integer_value(v), &inv)
                       == 0)
        {
            rc = drop_draft(ctx, inv);
            json_decref(inv);
        } else {
            rc = -1;
        }
    }

    json_decref(ids);
    return rc;
}


/* --- issuing: number, frozen content, hash chain -------------------------- */

/* The content an issued invoice's hash covers, as canonical JSON text
 * (sorted keys, compact): read back from the rows, so the check after
 * the fact reads exactly what the issue wrote. malloc'ed. */
static char *
canonical(sales_ctx_t *ctx, int64_t id)
{
    static const char *const  text_cols[] = {
        "kind", "series", "number", "currency", "exchange_rate",
        "issue_date", "due_date", "reason", "prev_hash", NULL
    };
    static const char *const  int_cols[] = {
        "seq", "client_id", "order_id", "proposal_id", "proforma_id",
        "credit_of_id", "net_minor", "vat_minor", "gross_minor", NULL
    };
    static const char *const  json_cols[] = {
        "client_snapshot", "seller_snapshot", "vat_breakdown", NULL
    };

    sqlite3_stmt  *st;
    json_t        *c, *lines;
    char          *text;
    int            k, col = 0;

    st = sales_prepare(ctx, "SELECT kind, series, number, currency,"
                            " exchange_rate, issue_date, due_date, reason,"
                            " prev_hash, seq, client_id, order_id,"
                            " proposal_id, proforma_id, credit_of_id,"
                            " net_minor, vat_minor, gross_minor,"
                            " client_snapshot, seller_snapshot,"
                            " vat_breakdown FROM invoices WHERE id = ?");
    if (st == NULL) {
        return NULL;
    }

    sqlite3_bind_int64(st, 1, id);

    if (sqlite3_step(st) != SQLITE_ROW) {
        sales_finish(st);
        sales_db_error(ctx, "reading an invoice");
        return NULL;
    }

    c = json_object();

    for (k = 0; text_cols[k]; k++, col++) {
        json_object_set_new(c, text_cols[k],
            sqlite3_column_type(st, col) == SQLITE_NULL ? json_null()
            : json_string((const char *) sqlite3_column_text(st, col)));
    }

    for (k = 0; int_cols[k]; k++, col++) {
        json_object_set_new(c, int_cols[k],
            sqlite3_column_type(st, col) == SQLITE_NULL ? json_null()
            : json_integer(sqlite3_column_int64(st, col)));
    }

    for (k = 0; json_cols[k]; k++, col++) {
        json_t  *v = NULL;

        if (sqlite3_column_type(st, col) != SQLITE_NULL) {
            v = json_loads((const char *) sqlite3_column_text(st, col), 0,
                           NULL);
        }
        json_object_set_new(c, json_cols[k], v ? v : json_null());
    }

    sales_finish(st);

    if (sales_rows_load(ctx, "invoice_lines", "invoice_id", id,
                        invoice_line_columns, NULL, &lines) != 0)
    {
        json_decref(c);
        return NULL;
    }

    {
        json_t  *l;
        size_t   i;

        /* Row ids are storage, not content. */
        json_array_foreach(lines, i, l) {
            json_object_del(l, "id");
        }
    }

    json_object_set_new(c, "lines", lines);
    text = json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
    json_decref(c);

    if (text == NULL) {
        sales_fail(ctx, 500, "internal", "out of memory");
    }

    return text;
}


static int
content_hash(sales_ctx_t *ctx, int64_t id, char *hex)
{
    uint8_t  digest[SALES_SHA256_LEN];
    char    *text = canonical(ctx, id);

    if (text == NULL) {
        return -1;
    }

    sales_sha256(text, strlen(text), digest);
    sales_hex(digest, sizeof(digest), hex);
    free(text);
    return 0;
}


/* "4.9771": up to 6 integer digits and 6 decimals, more than zero. */
static int
rate_valid(const char *s)
{
    int  digits = 0, decimals = -1, nonzero = 0;

    for ( ; *s; s++) {
        if (*s == '.' && decimals < 0 && digits > 0) {
            decimals = 0;
        } else if (*s >= '0' && *s <= '9') {
            nonzero |= *s != '0';
            if (decimals >= 0) {
                decimals++;
            } else {
                digits++;
            }
        } else {
            return 0;
        }
    }

    return digits >= 1 && digits <= 6 && decimals != 0 && decimals <= 6
           && nonzero;
}


/* The issue date and the exchange rate of an issue request. */
typedef struct {
    char         issue_date[11];
    const char  *exchange_rate;     /* NULL for RON */
} issue_args_t;


static int
issue_args(sales_ctx_t *ctx, json_t *body, const char *currency,
    const char *fallback_rate, issue_args_t *a)
{
    json_t  *rate = json_object_get(body, "exchange_rate");

    sales_date_of(ctx->now_ms, a->issue_date);
    sales_date_field(ctx, body, "issue_date", 0, 1, a->issue_date);
    a->exchange_rate = NULL;

    if (rate && !json_is_null(rate)) {
        if (!json_is_string(rate) || !rate_valid(json_string_value(rate))) {
            return sales_field_error(ctx, "exchange_rate", "must be RON per "
                                     "unit as a decimal string, like "
                                     "\"4.9771\"");
        }
        if (strcmp(currency, "RON") == 0) {
            return sales_field_error(ctx, "exchange_rate", "is only for an "
                                     "invoice in another currency");
        }
        a->exchange_rate = json_string_value(rate);

    } else if (strcmp(currency, "RON") != 0) {
        a->exchange_rate = fallback_rate;

        if (a->exchange_rate == NULL) {
            return sales_field_error(ctx, "exchange_rate", "is required: an "
                                     "invoice in %s states its VAT in RON at "
                                     "a rate", currency);
        }
    }

    return json_array_size(ctx->errors) ? -1 : 0;
}


static json_t *
snapshot_client(sales_ctx_t *ctx, int64_t client_id)
{
    static const char *const  keep[] = {
        "name", "tax_id", "vat_payer", "trade_register_no", "address",
        "city", "county", "postal_code", "country", "iban", "email", NULL
    };

    json_t  *client, *snap;
    int      k;

    if (sales_load_client_any(ctx, client_id, &client) != 0) {
        return NULL;
    }

    snap = json_object();
    for (k = 0; keep[k]; k++) {
        json_object_set(snap, keep[k], json_object_get(client, keep[k]));
    }

    json_decref(client);
    return snap;
}


/*
 * Freezes a draft as issued: the next number of its series (INV, ADV or
 * CN, per the year of the issue date), the issue date checked against the
 * last of the series, the due date, the parties as they are now, the
 * lines and totals given, and the hash chained to the previous one.
 */
static int
freeze(sales_ctx_t *ctx, json_t *inv, const issue_args_t *a, json_t *lines,
    json_t *totals)
{
    static const char *const  prefixes[] = { "INV", "ADV", "CN" };

    sqlite3_stmt  *st;
    json_t        *client, *seller, *binds;
    const char    *kind = sales_jstr(inv, "kind");
    int64_t        id = sales_jint(inv, "id"), seq, terms;
    char           series[32], number[48], prev[65], hash[65], due[11];
    char           last[11] = "", *client_text, *seller_text;
    int            k, rc;

    k = strcmp(kind, "invoice") == 0 ? 0 : strcmp(kind, "advance") == 0 ? 1
                                                                        : 2;
    snprintf(series, sizeof(series), "%s-%.4s", prefixes[k], a->issue_date);

    /* The chronological guard and the previous hash of the series. */
    st = sales_prepare(ctx, "SELECT issue_date, hash FROM invoices"
                            " WHERE series = ? ORDER BY seq DESC LIMIT 1");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_text(st, 1, series, -1, SQLITE_TRANSIENT);
    snprintf(prev, sizeof(prev), "%s", GENESIS_HASH);

    if (sqlite3_step(st) == SQLITE_ROW) {
        snprintf(last, sizeof(last), "%s", sqlite3_column_text(st, 0));
        snprintf(prev, sizeof(prev), "%s", sqlite3_column_text(st, 1));
    }
    sales_finish(st);

    if (last[0] && strcmp(a->issue_date, last) < 0) {
        return sales_field_error(ctx, "issue_date", "is before %s, the issue "
                                 "date of the last document of series %s",
                                 last, series);
    }

    /* The due date: as set on the draft, else from the payment terms of
     * the draft or of the client. */
    if (sales_jstr(inv, "due_date")) {
        snprintf(due, sizeof(due), "%s", sales_jstr(inv, "due_date"));
        if (strcmp(due, a->issue_date) < 0) {
            return sales_field_error(ctx, "due_date", "is before the issue "
                                     "date %s", a->issue_date);
        }
    }

    client = snapshot_client(ctx, sales_jint(inv, "client_id"));
    if (client == NULL) {
        return -1;
    }

    if (!sales_jstr(inv, "due_date")) {
        json_t  *c;

        terms = 30;
        if (json_is_integer(json_object_get(inv, "payment_terms_days"))) {
            terms = sales_jint(inv, "payment_terms_days");
        } else if (sales_load_client_any(ctx, sales_jint(inv, "client_id"),
                                         &c) == 0)
        {
            terms = sales_jint(c, "payment_terms_days");
            json_decref(c);
        } else {
            json_decref(client);
            return -1;
        }

        sales_date_add_days(a->issue_date, strcmp(kind, "invoice") == 0
                                           ? terms : 0, due);
    }

    seller = sales_seller_load(ctx);
    client_text = json_dumps(client, JSON_COMPACT | JSON_SORT_KEYS);
    seller_text = seller ? json_dumps(seller, JSON_COMPACT | JSON_SORT_KEYS)
                         : NULL;
    json_decref(client);
    json_decref(seller);

    seq = sales_number_take(ctx, prefixes[k], a->issue_date, 6, series,
                            sizeof(series), number, sizeof(number));

    if (seq < 0 || client_text == NULL || seller_text == NULL
        || store_lines(ctx, id, lines, totals) != 0)
    {
        free(client_text);
        free(seller_text);
        return seq < 0 || ctx->status ? -1
               : sales_fail(ctx, 500, "internal", "out of memory");
    }

    binds = json_pack("[s, I, s, s, s?, s?, s, s, s, I, I, s]",
                      series, (json_int_t) seq, number, a->issue_date,
                      k == 2 ? NULL : due,
                      a->exchange_rate, client_text, seller_text, prev,
                      (json_int_t) ctx->now_ms, (json_int_t) ctx->user.id,
                      sales_jint(totals, "gross_minor") == 0 ? "paid"
                                                             : "issued");
    free(client_text);
    free(seller_text);

    rc = sales_set_state(ctx, "invoices", id, "series = ?, seq = ?,"
                         " number = ?, issue_date = ?, due_date = ?,"
                         " exchange_rate = ?, client_snapshot = ?,"
                         " seller_snapshot = ?, prev_hash = ?,"
                         " issued_at = ?, issued_by = nullif(?, 0),"
                         " status = ?", binds);
    json_decref(binds);

    if (rc != 0 || content_hash(ctx, id, hash) != 0) {
        return -1;
    }

    binds = json_pack("[s]", hash);
    rc = sales_set_state(ctx, "invoices", id, "hash = ?", binds);
    json_decref(binds);
    return rc;
}


static int
emit(sales_ctx_t *ctx, const char *type, json_t *inv, json_t *extra)
{
    json_t  *data = json_pack("{s:O}", strcmp(sales_jstr(inv, "kind"),
                                              "credit_note") == 0
                                       ? "credit_note" : "invoice", inv);
    int      rc;

    if (extra) {
        json_object_update(data, extra);
    }

    rc = sales_event(ctx, type, "invoice", sales_jint(inv, "id"), data);
    json_decref(data);
    return rc;
}


/* After an issue: audit, events, and what the invoice changes around it
 * (the order's state, the proformas a final invoice closes). */
static int
issued(sales_ctx_t *ctx, int64_t id, json_t **out)
{
    sqlite3_stmt  *st;
    json_t        *inv, *changes;
    int            rc;

    if (invoice_load_any(ctx, id, &inv) != 0) {
        return -1;
    }

    changes = json_pack("{s:[sO], s:[nO], s:[nO]}", "status", "draft",
                        json_object_get(inv, "status"), "number",
                        json_object_get(inv, "number"), "hash",
                        json_object_get(inv, "hash"));
    rc = sales_audit(ctx, "issue", "invoice", id, changes) == 0
         && emit(ctx, strcmp(sales_jstr(inv, "kind"), "credit_note") == 0
                      ? "credit_note.issued" : "invoice.issued", inv, NULL)
            == 0
         && (strcmp(sales_jstr(inv, "status"), "paid") != 0
             || emit(ctx, "invoice.paid", inv, NULL) == 0);
    json_decref(changes);

    /* A final invoice closes the deal's proformas still open: what they
     * asked for is invoiced now. */
    if (rc && strcmp(sales_jstr(inv, "kind"), "invoice") == 0) {
        int  has_order = sales_jint(inv, "order_id") != 0;

        st = sales_prepare(ctx, has_order
            ? "UPDATE proformas SET status = 'cancelled', cancelled_at = ?1,"
              " cancel_reason = 'invoiced in full', updated_at = ?1,"
              " version = version + 1 WHERE order_id = ?2"
              " AND status IN ('draft', 'issued') AND NOT EXISTS (SELECT 1"
              " FROM order_lines l WHERE l.order_id = ?2 AND l.quantity >"
              " (SELECT total(il.quantity) FROM invoice_lines il JOIN invoices"
              " i ON i.id = il.invoice_id WHERE il.order_line_id = l.id AND"
              " i.status != 'draft'))"
            : "UPDATE proformas SET status = 'cancelled', cancelled_at = ?1,"
              " cancel_reason = 'invoiced in full', updated_at = ?1,"
              " version = version + 1 WHERE proposal_id = ?2"
              " AND status IN ('draft', 'issued')");
        if (st == NULL) {
            json_decref(inv);
            return -1;
        }

        sqlite3_bind_int64(st, 1, ctx->now_ms);
        sqlite3_bind_int64(st, 2, has_order ? sales_jint(inv, "order_id")
                                            : sales_jint(inv, "proposal_id"));
        rc = sales_step_done(ctx, st) == 0;
    }

    if (rc && sales_jint(inv, "order_id")) {
        rc = sales_order_refresh(ctx, sales_jint(inv, "order_id")) == 0;
    }

    if (rc && strcmp(sales_jstr(inv, "kind"), "credit_note") != 0) {
        rc = sales_commission_issued(ctx, inv) == 0;
    }

    json_decref(inv);

    return rc && sales_invoice_load(ctx, id, out) == 0 ? 200 : -1;
}


int
sales_invoices_issue(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    static const char *const  known[] = {
        "issue_date", "exchange_rate", NULL
    };

    issue_args_t   a;
    json_t        *inv, *src = NULL, *sel, *lines = NULL, *totals = NULL;
    int            rc = -1;

    if (sales_invoice_load(ctx, ctx->ids[0], &inv) != 0) {
        return -1;
    }

    if (sales_require_status(ctx, inv, "invoice", "draft", "issued again")
        != 0)
    {
        goto done;
    }

    sales_only_fields(ctx, body, known);

    if (issue_args(ctx, body, sales_jstr(inv, "currency"), NULL, &a) != 0
        || invoice_source(ctx, sales_jint(inv, "order_id"),
                          sales_jint(inv, "proposal_id"), sales_jint(inv,
                                                                     "id"),
                          &src) != 0)
    {
        goto done;
    }

    /* Composed again: what other invoices took since the draft was made,
     * and the advances paid since, count now. */
    sel = sales_jint(inv, "order_id") ? stored_selection(inv) : NULL;
    rc = compose(ctx, inv, sel, &lines, &totals);
    json_decref(sel);

    if (rc != 0 || freeze(ctx, inv, &a, lines, totals) != 0) {
        rc = -1;
        goto done;
    }

    rc = issued(ctx, ctx->ids[0], out);

done:

    if (rc < 0 && json_array_size(ctx->errors) && ctx->status == 0) {
        rc = sales_validation_failed(ctx);
    }

    json_decref(lines);
    json_decref(totals);
    json_decref(src);
    json_decref(inv);
    return rc;
}


/* --- advance invoices ------------------------------------------------------- */

/*
 * The fiscal advance invoice of a paid proforma, issued at once: the
 * amount received, split over the proforma's VAT rates in proportion to
 * their gross (the whole proforma's lines when it is paid in full), so
 * each part keeps its rate for the deduction later. Answers its id.
 */
int64_t
sales_advance_issue(sales_ctx_t *ctx, json_t *proforma, int64_t amount,
    json_t *body)
{
    issue_args_t   a;
    json_t        *row, *lines, *totals, *vat, *v;
    int64_t        id, gross = sales_jint(proforma, "gross_minor"), left;
    size_t         i, n;
    char           text[160];
    int            rc;

    if (issue_args(ctx, body, sales_jstr(proforma, "currency"), NULL, &a)
        != 0)
    {
        return -1;
    }

    lines = json_array();
    vat = json_object_get(proforma, "vat");
    n = json_array_size(vat);
    left = amount;

    snprintf(text, sizeof(text), "Avans conform proformei %s",
             sales_jstr(proforma, "number"));

    json_array_foreach(vat, i, v) {
        int64_t  rate = sales_jint(v, "rate_bp");
        int64_t  part_gross, net, vatm;

        if (amount == gross) {
            net = sales_jint(v, "net_minor");
            vatm = sales_jint(v, "vat_minor");

        } else {
            part_gross = i + 1 == n ? left
                         : sales_muldiv(amount, sales_jint(v, "net_minor")
                                                + sales_jint(v, "vat_minor"),
                                        gross);
            left -= part_gross;
            net = sales_muldiv(part_gross, 10000, 10000 + rate);
            vatm = part_gross - net;
        }

        json_array_append_new(lines, json_pack(
            "{s:I, s:s, s:I, s:I, s:I, s:I, s:I}",
            "position", (json_int_t) i + 1, "description", text,
            "quantity", (json_int_t) 1, "rate_bp", (json_int_t) rate,
            "net_minor", (json_int_t) net, "vat_minor", (json_int_t) vatm,
            "gross_minor", (json_int_t) (net + vatm)));
    }

    totals = sales_totals_of(lines);

    row = json_pack("{s:s, s:s, s:O, s:O, s:O, s:O, s:O, s:O}",
                    "kind", "advance", "status", "draft",
                    "client_id", json_object_get(proforma, "client_id"),
                    "owner_id", json_object_get(proforma, "owner_id"),
                    "currency", json_object_get(proforma, "currency"),
                    "proforma_id", json_object_get(proforma, "id"),
                    "order_id", json_object_get(proforma, "order_id"),
                    "proposal_id", json_object_get(proforma, "proposal_id"));

    id = totals ? sales_insert(ctx, &invoices_res, row) : -1;
    json_object_set_new(row, "id", json_integer(id));

    rc = id > 0 && freeze(ctx, row, &a, lines, totals) == 0;

    json_decref(row);
    json_decref(lines);
    json_decref(totals);

    if (!rc) {
        return json_array_size(ctx->errors) && ctx->status == 0
               ? sales_validation_failed(ctx) : -1;
    }

    {
        json_t  *ignored = NULL;

        rc = issued(ctx, id, &ignored) == 200;
        json_decref(ignored);
    }

    return rc ? id : -1;
}


/* --- payments ------------------------------------------------------------------ */

static int
payment_emit(sales_ctx_t *ctx, int64_t payment_id, json_t *inv)
{
    json_t  *pay, *data;
    int      rc;

    if (sales_load(ctx, &payments_res, payment_id, NULL, NULL, &pay) != 0) {
        return -1;
    }

    data = json_pack("{s:o, s:O}", "payment", pay, "invoice", inv);
    rc = sales_event(ctx, "payment.received", "payment", payment_id, data);
    json_decref(data);
    return rc;
}


/*
 * Records a payment of an issued invoice (or advance): not more than is
 * left to pay, dated from the issue date to today. Answers the payment
 * id; the invoice becomes partially paid or paid.
 */
int64_t
sales_invoice_pay(sales_ctx_t *ctx, int64_t invoice_id, json_t *body,
    int64_t proforma_id)
{
    static const char *const  known[] = {
        "amount_minor", "paid_on", "method", "reference", "notes",
        "issue_date", "exchange_rate", NULL
    };

    sqlite3_stmt  *st;
    json_t        *inv, *method, *binds, *changes;
    int64_t        amount, balance, id;
    const char    *to;
    char           paid_on[11];
    int            k, rc;

    if (invoice_load_any(ctx, invoice_id, &inv) != 0) {
        return -1;
    }

    if (strcmp(sales_jstr(inv, "kind"), "credit_note") == 0) {
        json_decref(inv);
        return sales_fail(ctx, 409, "conflict", "a credit note is not paid");
    }

    if (sales_require_status(ctx, inv, "invoice", "issued,partially_paid",
                             "paid") != 0)
    {
        json_decref(inv);
        return -1;
    }

    sales_date_of(ctx->now_ms, paid_on);
    sales_only_fields(ctx, body, known);
    sales_date_field(ctx, body, "paid_on", 0, 1, paid_on);
    sales_text_field(ctx, body, "reference", 100, 0);
    sales_text_field(ctx, body, "notes", 1000, 0);

    method = json_object_get(body, "method");
    if (method && !json_is_null(method)) {
        for (k = 0; payment_methods[k]; k++) {
            if (json_is_string(method)
                && strcmp(json_string_value(method), payment_methods[k]) == 0)
            {
                break;
            }
        }
        if (payment_methods[k] == NULL) {
            sales_field_error(ctx, "method", "must be one of: bank_transfer, "
                              "card, cash, other");
        }
    }

    balance = balance_of(inv);
    amount = json_is_integer(json_object_get(body, "amount_minor"))
             ? sales_jint(body, "amount_minor") : balance;

    if (json_object_get(body, "amount_minor")
        && (!json_is_integer(json_object_get(body, "amount_minor"))
            || amount < 1))
    {
        sales_field_error(ctx, "amount_minor", "must be a whole number of "
                          "minor units, at least 1");
    } else if (amount > balance) {
        sales_field_error(ctx, "amount_minor", "is more than the %lld left "
                          "to pay: an overpayment is refused",
                          (long long) balance);
    }

    if (strcmp(paid_on, sales_jstr(inv, "issue_date")) < 0) {
        sales_field_error(ctx, "paid_on", "is before the invoice's issue "
                          "date %s", sales_jstr(inv, "issue_date"));
    }

    if (json_array_size(ctx->errors)) {
        json_decref(inv);
        return sales_validation_failed(ctx);
    }

    st = sales_prepare(ctx, "INSERT INTO payments (invoice_id, proforma_id,"
                            " client_id, owner_id, amount_minor, currency,"
                            " paid_on, method, reference, notes, recorded_by,"
                            " created_at, updated_at)"
                            " VALUES (?, nullif(?, 0), ?, ?, ?, ?, ?, ?, ?,"
                            " ?, nullif(?, 0), ?, ?)");
    if (st == NULL) {
        json_decref(inv);
        return -1;
    }

    sqlite3_bind_int64(st, 1, invoice_id);
    sqlite3_bind_int64(st, 2, proforma_id);
    sqlite3_bind_int64(st, 3, sales_jint(inv, "client_id"));
    sqlite3_bind_int64(st, 4, sales_jint(inv, "owner_id"));
    sqlite3_bind_int64(st, 5, amount);
    sqlite3_bind_text(st, 6, sales_jstr(inv, "currency"), -1,
                      SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 7, paid_on, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 8, method && json_is_string(method)
                             ? json_string_value(method) : "bank_transfer",
                      -1, SQLITE_TRANSIENT);
    sales_bind_json(st, 9, json_object_get(body, "reference")
                           ? json_object_get(body, "reference") : json_null());
    sales_bind_json(st, 10, json_object_get(body, "notes")
                            ? json_object_get(body, "notes") : json_null());
    sqlite3_bind_int64(st, 11, ctx->user.id);
    sqlite3_bind_int64(st, 12, ctx->now_ms);
    sqlite3_bind_int64(st, 13, ctx->now_ms);

    if (sales_step_done(ctx, st) != 0) {
        json_decref(inv);
        return -1;
    }

    id = sqlite3_last_insert_rowid(ctx->db);
    to = amount == balance ? "paid" : "partially_paid";

    binds = json_pack("[I, s, I]", (json_int_t) amount, to,
                      (json_int_t) (amount == balance ? ctx->now_ms : 0));
    rc = sales_set_state(ctx, "invoices", invoice_id, "paid_minor ="
                         " paid_minor + ?, status = ?,"
                         " paid_at = coalesce(nullif(?, 0), paid_at)", binds);
    json_decref(binds);

    changes = json_pack("{s:[OI], s:[Os], s:[nI]}", "paid_minor",
                        json_object_get(inv, "paid_minor"),
                        (json_int_t) (sales_jint(inv, "paid_minor") + amount),
                        "status", json_object_get(inv, "status"), to,
                        "payment_id", (json_int_t) id);
    json_decref(inv);

    rc = rc == 0
         && sales_audit(ctx, "payment", "invoice", invoice_id, changes) == 0
         && invoice_load_any(ctx, invoice_id, &inv) == 0;
    json_decref(changes);

    if (!rc) {
        return -1;
    }

    rc = payment_emit(ctx, id, inv) == 0
         && (strcmp(to, "paid") != 0
             || emit(ctx, "invoice.paid", inv, NULL) == 0)
         && (sales_jint(inv, "order_id") == 0
             || sales_order_refresh(ctx, sales_jint(inv, "order_id")) == 0)
         && sales_loyalty_refresh(ctx, sales_jint(inv, "client_id")) == 0
         && sales_commission_paid(ctx, inv, id, amount) == 0;
    json_decref(inv);

    return rc ? id : -1;
}


int
sales_invoices_pay(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    json_t   *inv;
    int64_t   id;

    if (sales_invoice_load(ctx, ctx->ids[0], &inv) != 0) {
        return -1;
    }
    json_decref(inv);

    if (json_object_get(body, "issue_date")
        || json_object_get(body, "exchange_rate"))
    {
        sales_field_error(ctx, json_object_get(body, "issue_date")
                               ? "issue_date" : "exchange_rate",
                          "unknown field");
        return sales_validation_failed(ctx);
    }

    id = sales_invoice_pay(ctx, ctx->ids[0], body, 0);

    if (id < 0 || sales_load(ctx, &payments_res, id, NULL, NULL, out) != 0) {
        return -1;
    }

    snprintf(ctx->location, sizeof(ctx->location), "/payments/%lld",
             (long long) id);
    return 201;
}


int
sales_invoices_payments(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    sales_buf_t   where = {0};
    json_t       *inv, *binds;
    int           rc;

    if (sales_invoice_load(ctx, ctx->ids[0], &inv) != 0) {
        return -1;
    }
    json_decref(inv);

    binds = json_pack("[I]", (json_int_t) ctx->ids[0]);
    sales_buf_adds(&where, "t.invoice_id = ?");
    rc = sales_list(ctx, &payments_res, NULL, &where, binds, 0, out);
    sales_buf_free(&where);
    json_decref(binds);

    return rc == 0 ? 200 : -1;
}


int
sales_payments_list(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    static const char *const  ids[] = {
        "client_id", "invoice_id", "proforma_id", NULL
    };

    sales_buf_t   where = {0};
    json_t       *binds = json_array();
    int           k, rc = -1;

    if (sales_doc_filters(ctx, ids, &where, binds) != 0) {
        goto done;
    }

    for (k = 0; k < 2; k++) {
        const char  *name = k ? "to" : "from";
        const char  *v = sales_param(ctx, name);

        if (v == NULL) {
            continue;
        }

        if (!sales_date_valid(v, strlen(v))) {
            sales_param_error(ctx, name, "must be a date YYYY-MM-DD");
            goto done;
        }

        sales_buf_printf(&where, " AND t.paid_on %s ?", k ? "<=" : ">=");
        json_array_append_new(binds, json_string(v));
    }

    rc = sales_list(ctx, &payments_res, NULL, &where, binds, 1, out) == 0
         ? 200 : -1;

done:

    sales_buf_free(&where);
    json_decref(binds);
    return rc;
}


int
sales_payment_get_any(sales_ctx_t *ctx, int64_t id, json_t **out)
{
    return sales_load(ctx, &payments_res, id, NULL, NULL, out);
}


int
sales_payments_get(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    return sales_load_owned(ctx, &payments_res, ctx->ids[0], out) == 0
           ? 200 : -1;
}


/* --- credit notes --------------------------------------------------------------- */

/*
 * The lines a credit note gives back: each line of the original not yet
 * credited (whole storno), or the chosen product lines and quantities,
 * negative, each referring to the line it credits and keeping its order
 * line (so the order's invoiced quantities go back) and the advance it
 * deducted (so that advance can be deducted again).
 */
static int
credit_lines(sales_ctx_t *ctx, json_t *orig, json_t *selection,
    json_t **out)
{
    sqlite3_stmt  *st;
    json_t        *lines, *l = NULL, *sel, *all;
    size_t         i, j;
    int            rc;

    lines = json_object_get(orig, "lines");

    /* What earlier credit notes took of each line. */
    json_array_foreach(lines, j, l) {
        json_object_set_new(l, "credited_q", json_integer(0));
        json_object_set_new(l, "credited_net", json_integer(0));
        json_object_set_new(l, "credited_vat", json_integer(0));
        json_object_set_new(l, "take", json_integer(selection ? 0
                                                     : -1));
    }

    st = sales_prepare(ctx, "SELECT l.credited_line_id, -sum(l.quantity),"
                            " -sum(l.net_minor), -sum(l.vat_minor)"
                            " FROM invoice_lines l JOIN invoices c"
                            " ON c.id = l.invoice_id WHERE c.credit_of_id = ?"
                            " AND c.status != 'draft'"
                            " GROUP BY l.credited_line_id");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, sales_jint(orig, "id"));

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_array_foreach(lines, j, l) {
            if (sales_jint(l, "id") == sqlite3_column_int64(st, 0)) {
                json_object_set_new(l, "credited_q",
                    json_integer(sqlite3_column_int64(st, 1)));
                json_object_set_new(l, "credited_net",
                    json_integer(sqlite3_column_int64(st, 2)));
                json_object_set_new(l, "credited_vat",
                    json_integer(sqlite3_column_int64(st, 3)));
            }
        }
    }

    sales_finish(st);

    if (rc != SQLITE_DONE) {
        return sales_db_error(ctx, "reading credit notes");
    }

    json_array_foreach(selection, i, sel) {
        int64_t  id = sales_jint(sel, "invoice_line_id");
        int64_t  q = sales_jint(sel, "quantity");
        int64_t  left;

        json_array_foreach(lines, j, l) {
            if (sales_jint(l, "id") == id) {
                break;
            }
        }

        if (j == json_array_size(lines)) {
            sales_line_error(ctx, "lines", i, "invoice_line_id", "is not a "
                             "line of the invoice");
            continue;
        }

        if (sales_jint(l, "deducted_invoice_id")) {
            sales_line_error(ctx, "lines", i, "invoice_line_id", "is an "
                             "advance's deduction: only a whole storno "
                             "gives it back");
            continue;
        }

        if (sales_jint(l, "take") != 0) {
            sales_line_error(ctx, "lines", i, "invoice_line_id", "is chosen "
                             "twice");
            continue;
        }

        left = sales_jint(l, "quantity") - sales_jint(l, "credited_q");
        if (q == 0) {
            q = left;
        }

        if (q < 1 || q > left) {
            char  detail[96];

            snprintf(detail, sizeof(detail), "must be from 1 to %lld, what "
                     "is not credited yet", (long long) left);
            sales_line_error(ctx, "lines", i, "quantity", detail);
            continue;
        }

        json_object_set_new(l, "take", json_integer(q));
    }

    if (json_array_size(ctx->errors)) {
        return sales_validation_failed(ctx);
    }

    all = json_array();

    json_array_foreach(lines, j, l) {
        int64_t  n = sales_jint(l, "quantity");
        int64_t  q = sales_jint(l, "take");
        int64_t  net, vat;

        if (q < 0) {
            q = n - sales_jint(l, "credited_q");
        }

        if (q == 0) {
            continue;
        }

        part_of(sales_jint(l, "net_minor"), sales_jint(l, "vat_minor"), n,
                sales_jint(l, "credited_q"), sales_jint(l, "credited_net"),
                sales_jint(l, "credited_vat"), q, sales_jint(l, "rate_bp"),
                &net, &vat);

        if (net == 0 && vat == 0) {
            continue;
        }

        json_array_append_new(all, json_pack(
            "{s:I, s:O, s:O, s:I, s:O, s:O, s:I, s:I, s:I, s:O, s:O, s:O,"
            " s:O}",
            "position", (json_int_t) json_array_size(all) + 1,
            "product_id", json_object_get(l, "product_id"),
            "description", json_object_get(l, "description"),
            "quantity", (json_int_t) -q,
            "unit_price_minor", json_object_get(l, "unit_price_minor"),
            "rate_bp", json_object_get(l, "rate_bp"),
            "net_minor", (json_int_t) -net,
            "vat_minor", (json_int_t) -vat,
            "gross_minor", (json_int_t) -(net + vat),
            "order_line_id", json_object_get(l, "order_line_id"),
            "proposal_line_id", json_object_get(l, "proposal_line_id"),
            "deducted_invoice_id", json_object_get(l, "deducted_invoice_id"),
            "credited_line_id", json_object_get(l, "id")));
    }

    if (json_array_size(all) == 0) {
        json_decref(all);
        return sales_fail(ctx, 409, "conflict", "the invoice is credited in "
                          "full already");
    }

    *out = all;
    return 0;
}


/* How many lines of an invoice credit notes have not taken in full:
 * 0 when it is credited whole; -1 on error. */
static int64_t
lines_left(sales_ctx_t *ctx, int64_t invoice_id)
{
    json_t   *binds = json_pack("[I]", (json_int_t) invoice_id);
    int64_t   n;

    n = sales_count(ctx,
        "SELECT count(*) FROM invoice_lines l WHERE l.invoice_id = ?1 AND"
        " EXISTS (SELECT 1 FROM (SELECT total(c.quantity) AS q,"
        "  total(c.net_minor) AS net, total(c.vat_minor) AS vat"
        "  FROM invoice_lines c JOIN invoices n ON n.id = c.invoice_id"
        "  WHERE c.credited_line_id = l.id AND n.status != 'draft') x"
        "  WHERE l.quantity + x.q != 0 OR l.net_minor + x.net != 0"
        "  OR l.vat_minor + x.vat != 0)", binds);
    json_decref(binds);
    return n;
}


/* An advance already deducted by a final invoice cannot be given back
 * before that invoice is: the deduction would then exceed the advance. */
static int
advance_still_free(sales_ctx_t *ctx, json_t *orig, json_t *lines)
{
    json_t   *binds;
    int64_t   deducted;

    if (strcmp(sales_jstr(orig, "kind"), "advance") != 0) {
        return 0;
    }

    binds = json_pack("[I]", (json_int_t) sales_jint(orig, "id"));
    deducted = sales_count(ctx, "SELECT -total(l.gross_minor)"
                                " FROM invoice_lines l JOIN invoices d"
                                " ON d.id = l.invoice_id"
                                " WHERE l.deducted_invoice_id = ?"
                                " AND d.status != 'draft'", binds);
    json_decref(binds);

    if (deducted < 0) {
        return -1;
    }

    if (deducted > 0) {
        return sales_fail(ctx, 409, "conflict", "the advance is deducted by "
                          "a final invoice; credit that invoice first");
    }

    (void) lines;
    return 0;
}


/* POST /invoices/{id}/credit-notes: a credit note issued at once. */
int
sales_invoices_credit(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    static const char *const  known[] = {
        "reason", "lines", "issue_date", "exchange_rate", NULL
    };
    static const char *const  sel_known[] = {
        "invoice_line_id", "quantity", NULL
    };

    issue_args_t   a;
    json_t        *orig, *sel, *lines = NULL, *totals = NULL, *row;
    json_t        *binds, *changes;
    int64_t        id = -1, amount, outstanding, refund, left;
    const char    *to;
    size_t         i;
    int            rc = -1;

    sales_only_fields(ctx, body, known);
    sales_text_field(ctx, body, "reason", 2000, 1);

    sel = json_object_get(body, "lines");
    if (sel) {
        json_t  *item;

        if (sales_items_shape(ctx, sel, "lines", MAX_SELECTED, sel_known) == 0
            || json_is_array(sel))
        {
            json_array_foreach(sel, i, item) {
                sales_item_int(ctx, item, "lines", i, "invoice_line_id", 1,
                               INT64_MAX, 1);
                sales_item_int(ctx, item, "lines", i, "quantity", 1,
                               1000000000, 0);
            }
        }
    }

    if (json_array_size(ctx->errors)) {
        return sales_validation_failed(ctx);
    }

    if (sales_invoice_load(ctx, ctx->ids[0], &orig) != 0) {
        return -1;
    }

    if (strcmp(sales_jstr(orig, "kind"), "credit_note") == 0) {
        sales_fail(ctx, 409, "conflict", "a credit note is not credited");
        goto done;
    }

    if (sales_require_status(ctx, orig, "invoice", "issued,partially_paid,"
                             "paid", "credited") != 0
        || issue_args(ctx, body, sales_jstr(orig, "currency"),
                      sales_jstr(orig, "exchange_rate"), &a) != 0
        || credit_lines(ctx, orig, sel, &lines) != 0
        || advance_still_free(ctx, orig, lines) != 0)
    {
        goto done;
    }

    if (strcmp(a.issue_date, sales_jstr(orig, "issue_date")) < 0) {
        sales_field_error(ctx, "issue_date", "is before %s, the issue date "
                          "of the invoice it corrects",
                          sales_jstr(orig, "issue_date"));
        goto done;
    }

    totals = sales_totals_of(lines);

    row = json_pack("{s:s, s:s, s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:I}",
                    "kind", "credit_note", "status", "draft",
                    "client_id", json_object_get(orig, "client_id"),
                    "owner_id", json_object_get(orig, "owner_id"),
                    "currency", json_object_get(orig, "currency"),
                    "order_id", json_object_get(orig, "order_id"),
                    "proposal_id", json_object_get(orig, "proposal_id"),
                    "proforma_id", json_object_get(orig, "proforma_id"),
                    "reason", json_object_get(body, "reason"),
                    "credit_of_id", (json_int_t) ctx->ids[0]);

    id = totals ? sales_insert(ctx, &invoices_res, row) : -1;
    json_object_set_new(row, "id", json_integer(id));

    rc = id > 0 && freeze(ctx, row, &a, lines, totals) == 0 ? 0 : -1;
    json_decref(row);

    if (rc != 0) {
        goto done;
    }

    /* What the original still wanted is cancelled first; what was paid
     * beyond that is owed back to the client. */
    amount = -sales_jint(totals, "gross_minor");
    outstanding = balance_of(orig);
    refund = amount > outstanding ? amount - (outstanding > 0 ? outstanding
                                                              : 0)
                                  : 0;

    /* Credited when nothing of any line is left; otherwise by money
     * (a final invoice's lines add up to more than its total, since its
     * deductions take the advances off). */
    left = lines_left(ctx, ctx->ids[0]);
    if (left < 0) {
        rc = -1;
        goto done;
    }

    to = left == 0 ? "credited"
         : sales_jint(orig, "paid_minor") + sales_jint(orig, "credited_minor")
           + amount >= sales_jint(orig, "gross_minor") ? "paid"
         : sales_jint(orig, "paid_minor") > 0 ? "partially_paid" : "issued";

    binds = json_pack("[I, s]", (json_int_t) amount, to);
    rc = sales_set_state(ctx, "invoices", ctx->ids[0], "credited_minor ="
                         " credited_minor + ?, status = ?", binds);
    json_decref(binds);

    binds = json_pack("[I]", (json_int_t) refund);
    rc = rc == 0 && sales_set_state(ctx, "invoices", id, "refund_minor = ?",
                                    binds) == 0 ? 0 : -1;
    json_decref(binds);

    changes = json_pack("{s:[OI], s:[Os], s:[nI]}", "credited_minor",
                        json_object_get(orig, "credited_minor"),
                        (json_int_t) (sales_jint(orig, "credited_minor")
                                      + amount),
                        "status", json_object_get(orig, "status"), to,
                        "credit_note_id", (json_int_t) id);
    rc = rc == 0
         && sales_audit(ctx, "credit", "invoice", ctx->ids[0], changes) == 0
         && issued(ctx, id, out) == 200
         && sales_loyalty_refresh(ctx, sales_jint(orig, "client_id")) == 0
         && sales_commission_credited(ctx, *out, orig) == 0
         ? 201 : -1;
    json_decref(changes);

    if (rc == 201) {
        snprintf(ctx->location, sizeof(ctx->location), "/invoices/%lld",
                 (long long) id);
    }

done:

    if (rc < 0 && json_array_size(ctx->errors) && ctx->status == 0) {
        rc = sales_validation_failed(ctx);
    }

    json_decref(lines);
    json_decref(totals);
    json_decref(orig);
    return rc;
}


/* --- the chain's proof ----------------------------------------------------------- */

/*
 * A chain has no anchor at its end: the numbers a series gave out
 * (number_series, taken and given back with the documents) show a
 * document taken from the end, or a whole series gone.
 */
static int
series_tails(sales_ctx_t *ctx, json_t *series, json_t *problems)
{
    sqlite3_stmt  *st;
    json_t        *s;
    size_t         i;
    int            rc;

    st = sales_prepare(ctx, "SELECT name, last FROM number_series"
                            " WHERE name LIKE 'INV-%' OR name LIKE 'ADV-%'"
                            " OR name LIKE 'CN-%' ORDER BY name");
    if (st == NULL) {
        return -1;
    }

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char  *name = (const char *) sqlite3_column_text(st, 0);
        int64_t      last = sqlite3_column_int64(st, 1), have = 0;
        json_t      *found = NULL;
        char         what[160];

        json_array_foreach(series, i, s) {
            if (strcmp(sales_jstr(s, "series"), name) == 0) {
                found = s;
                have = sales_jint(s, "count");
                break;
            }
        }

        if (last > have) {
            snprintf(what, sizeof(what), "the series gave out %lld numbers "
                     "but %lld documents of it are issued: the last are "
                     "missing", (long long) last, (long long) have);
            json_array_append_new(problems, json_pack("{s:n, s:s, s:s}",
                                  "invoice_id", "number", name,
                                  "problem", what));
            if (found) {
                json_object_set_new(found, "intact", json_false());
            }
        }
    }

    sales_finish(st);
    return rc == SQLITE_DONE ? 0 : sales_db_error(ctx, "reading series");
}


/*
 * GET /invoices/verify: every series read in order proves itself: its
 * numbers run 1, 2, 3 … without a gap, each document's content hashes to
 * the hash stored with it, and each stores the hash of the one before.
 */
int
sales_invoices_verify(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    sqlite3_stmt  *st;
    json_t        *series, *problems, *cur = NULL, *docs;
    char           prev[65] = "", name[32] = "", expect[48], hash[65];
    int64_t        want = 0;
    size_t         i;
    int            rc;

    docs = json_array();

    st = sales_prepare(ctx, "SELECT id, series, seq, number, prev_hash, hash"
                            " FROM invoices WHERE status != 'draft'"
                            " ORDER BY series, seq");
    if (st == NULL) {
        json_decref(docs);
        return -1;
    }

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_array_append_new(docs, json_pack("{s:I, s:s?, s:I, s:s?, s:s?,"
                                              " s:s?}",
            "id", (json_int_t) sqlite3_column_int64(st, 0),
            "series", (const char *) sqlite3_column_text(st, 1),
            "seq", (json_int_t) sqlite3_column_int64(st, 2),
            "number", (const char *) sqlite3_column_text(st, 3),
            "prev_hash", (const char *) sqlite3_column_text(st, 4),
            "hash", (const char *) sqlite3_column_text(st, 5)));
    }

    sales_finish(st);

    if (rc != SQLITE_DONE) {
        json_decref(docs);
        return sales_db_error(ctx, "reading invoices");
    }

    series = json_array();
    problems = json_array();

#define PROBLEM(d, what)                                                      \
    json_array_append_new(problems, json_pack("{s:I, s:O, s:s}",              \
        "invoice_id", (json_int_t) sales_jint(d, "id"),                       \
        "number", json_object_get(d, "number"), "problem", what))

    for (i = 0; i < json_array_size(docs); i++) {
        json_t      *d = json_array_get(docs, i);
        const char  *s = sales_jstr(d, "series");

        if (s == NULL || sales_jstr(d, "hash") == NULL) {
            PROBLEM(d, "issued without a number or a hash");
            continue;
        }

        if (strcmp(s, name) != 0) {
            snprintf(name, sizeof(name), "%s", s);
            snprintf(prev, sizeof(prev), "%s", GENESIS_HASH);
            want = 1;
            cur = json_pack("{s:s, s:I, s:O, s:b}", "series", s, "count",
                            (json_int_t) 0, "first", json_object_get(d,
                                                                "number"),
                            "intact", 1);
            json_array_append_new(series, cur);
        }

        json_object_set_new(cur, "count",
                            json_integer(sales_jint(cur, "count") + 1));
        json_object_set(cur, "last", json_object_get(d, "number"));
        json_object_set(cur, "last_hash", json_object_get(d, "hash"));

        snprintf(expect, sizeof(expect), "%s-%06lld", s,
                 (long long) sales_jint(d, "seq"));

        if (sales_jint(d, "seq") != want) {
            char  what[96];

            snprintf(what, sizeof(what), "number %lld of the series is "
                     "missing before it", (long long) want);
            PROBLEM(d, what);
            json_object_set_new(cur, "intact", json_false());
        }

        want = sales_jint(d, "seq") + 1;

        if (sales_jstr(d, "number") == NULL
            || strcmp(sales_jstr(d, "number"), expect) != 0)
        {
            PROBLEM(d, "the number does not match its place in the series");
            json_object_set_new(cur, "intact", json_false());
        }

        if (sales_jstr(d, "prev_hash") == NULL
            || strcmp(sales_jstr(d, "prev_hash"), prev) != 0)
        {
            PROBLEM(d, "the previous hash it stores is not the hash of the "
                    "document before it");
            json_object_set_new(cur, "intact", json_false());
        }

        if (content_hash(ctx, sales_jint(d, "id"), hash) != 0) {
            json_decref(docs);
            json_decref(series);
            json_decref(problems);
            return -1;
        }

        if (strcmp(hash, sales_jstr(d, "hash")) != 0) {
            PROBLEM(d, "its content does not match its hash: it was changed "
                    "after it was issued");
            json_object_set_new(cur, "intact", json_false());
        }

        snprintf(prev, sizeof(prev), "%s", sales_jstr(d, "hash"));
    }

#undef PROBLEM

    if (series_tails(ctx, series, problems) != 0) {
        json_decref(docs);
        json_decref(series);
        json_decref(problems);
        return -1;
    }

    *out = json_pack("{s:b, s:I, s:o, s:o}", "intact",
                     json_array_size(problems) == 0, "documents",
                     (json_int_t) json_array_size(docs), "series", series,
                     "problems", problems);
    json_decref(docs);
    return 200;
}


/* --- the document ------------------------------------------------------------------ */

int
sales_invoices_document(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    sqlite3_stmt  *st;
    sales_page_t   pg;
    const char    *kind, *title;
    char           heading[96];

    memset(&pg, 0, sizeof(pg));

    if (sales_invoice_load(ctx, ctx->ids[0], &pg.doc) != 0) {
        return -1;
    }

    kind = sales_jstr(pg.doc, "kind");
    title = strcmp(kind, "advance") == 0 ? "Factură de avans"
            : strcmp(kind, "credit_note") == 0 ? "Factură storno" : "Factură";

    /* An issued invoice shows the parties as they were when it was
     * issued; a draft shows them as they are. */
    if (strcmp(sales_jstr(pg.doc, "status"), "draft") == 0) {
        if (sales_page_parties(ctx, &pg) != 0) {
            sales_page_free(&pg);
            return -1;
        }

    } else {
        st = sales_prepare(ctx, "SELECT client_snapshot, seller_snapshot"
                                " FROM invoices WHERE id = ?");
        if (st == NULL) {
            sales_page_free(&pg);
            return -1;
        }

        sqlite3_bind_int64(st, 1, ctx->ids[0]);
        if (sqlite3_step(st) == SQLITE_ROW) {
            pg.client = json_loads((const char *) sqlite3_column_text(st, 0),
                                   0, NULL);
            pg.seller = json_loads((const char *) sqlite3_column_text(st, 1),
                                   0, NULL);
        }
        sales_finish(st);
    }

    snprintf(heading, sizeof(heading), "%s %s", title,
             sales_jstr(pg.doc, "number") ? sales_jstr(pg.doc, "number")
                                          : "(ciornă)");
    pg.heading = heading;
    pg.ron_rate = sales_jstr(pg.doc, "exchange_rate");
    pg.facts = json_pack("[[s, s?], [s, s?]]",
                         "Data emiterii", sales_jstr(pg.doc, "issue_date"),
                         "Scadența", sales_jstr(pg.doc, "due_date"));
    pg.after = json_pack("[[s, s?]]", "Motiv", sales_jstr(pg.doc, "reason"));

    return sales_page_answer(ctx, &pg, out);
}


/* --- the sweep ----------------------------------------------------------------------- */

/* invoice.overdue, once per invoice, the day after its due date passes
 * with something left to pay. */
int
sales_invoices_sweep(sales_ctx_t *ctx, const char *today)
{
    sqlite3_stmt  *st;

    st = sales_prepare(ctx,
        "SELECT t.id, json_object('invoice', json_object('id', t.id,"
        " 'number', t.number, 'kind', t.kind, 'client_id', t.client_id,"
        " 'owner_id', t.owner_id, 'currency', t.currency,"
        " 'gross_minor', t.gross_minor, 'balance_minor',"
        " t.gross_minor - t.paid_minor - t.credited_minor,"
        " 'issue_date', t.issue_date, 'due_date', t.due_date,"
        " 'order_id', t.order_id), 'days_overdue',"
        " CAST(julianday(?1) - julianday(t.due_date) AS INTEGER))"
        " FROM invoices t WHERE " OVERDUE_SQL
        " AND NOT EXISTS (SELECT 1 FROM outbox o"
        "  WHERE o.subject_type = 'invoice' AND o.subject_id = t.id"
        "  AND o.type = 'invoice.overdue')"
        " ORDER BY t.id LIMIT 500");
    if (st == NULL) {
        return -1;
    }

    /* ?1 the days overdue, ?2 the condition's own "today" */
    sqlite3_bind_text(st, 1, today, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, today, -1, SQLITE_TRANSIENT);
    return sales_sweep_events(ctx, st, "invoice.overdue", "invoice");
}
