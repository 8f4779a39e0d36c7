/*
 * The chain of a document, both ways: from any opportunity, proposal (and
 * its revisions), proforma, order, contract (and its revisions), invoice,
 * credit note or payment, every document linked to it, as nodes and the
 * links between them. Traceability at audit: the whole deal in one read.
 */

#include "sales_resource.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#define MAX_NODES  500

/* A kind of document: its table, what identifies it to a person, and
 * which rows of the table it covers. */
typedef struct {
    const char  *type;
    const char  *table;
    const char  *label;        /* SQL on t */
    const char  *status;
    const char  *total;
    const char  *where;        /* which rows are of this type, or NULL */
    const char  *path;
} chain_type_t;

static const chain_type_t  types[] = {
    { "opportunity", "opportunities", "t.title", "t.stage", "t.value_minor",
      NULL, "/opportunities" },
    { "proposal", "proposals", "t.number || ' rev. ' || t.revision",
      "t.status", "t.gross_minor", NULL, "/proposals" },
    { "proforma", "proformas", "coalesce(t.number, 'draft')", "t.status",
      "t.gross_minor", NULL, "/proformas" },
    { "order", "sales_orders", "t.number", "t.status", "t.gross_minor", NULL,
      "/orders" },
    { "contract", "contracts", "t.number || ' rev. ' || t.revision",
      "t.status", "t.value_minor", NULL, "/contracts" },
    { "invoice", "invoices", "coalesce(t.number, 'draft')", "t.status",
      "t.gross_minor", "t.kind IN ('invoice', 'advance')", "/invoices" },
    { "credit_note", "invoices", "coalesce(t.number, 'draft')", "t.status",
      "t.gross_minor", "t.kind = 'credit_note'", "/invoices" },
    { "payment", "payments", "t.method || ' ' || t.paid_on", "'received'",
      "t.amount_minor", NULL, "/payments" },
    { NULL, NULL, NULL, NULL, NULL, NULL, NULL }
};

/* A link from a parent to a child; children answers the child ids of a
 * parent id, parents the parent ids of a child id. */
typedef struct {
    const char  *from;
    const char  *to;
    const char  *relation;
    const char  *children;
    const char  *parents;
} chain_edge_t;

static const chain_edge_t  edges[] = {
    { "opportunity", "proposal", "proposal",
      "SELECT id FROM proposals WHERE opportunity_id = ?",
      "SELECT opportunity_id FROM proposals WHERE id = ?" },
    { "opportunity", "order", "order",
      "SELECT id FROM sales_orders WHERE opportunity_id = ?",
      "SELECT opportunity_id FROM sales_orders WHERE id = ?" },
    { "opportunity", "contract", "contract",
      "SELECT id FROM contracts WHERE opportunity_id = ?",
      "SELECT opportunity_id FROM contracts WHERE id = ?" },
    { "proposal", "proposal", "revised_as",
      "SELECT id FROM proposals WHERE supersedes_id = ?",
      "SELECT supersedes_id FROM proposals WHERE id = ?" },
    { "proposal", "order", "converted_to",
      "SELECT id FROM sales_orders WHERE proposal_id = ?",
      "SELECT proposal_id FROM sales_orders WHERE id = ?" },
    { "proposal", "proforma", "proforma",
      "SELECT id FROM proformas WHERE proposal_id = ? AND order_id IS NULL",
      "SELECT proposal_id FROM proformas WHERE id = ? AND order_id IS NULL" },
    { "proposal", "contract", "contract",
      "SELECT id FROM contracts WHERE proposal_id = ?",
      "SELECT proposal_id FROM contracts WHERE id = ?" },
    { "proposal", "invoice", "invoice",
      "SELECT id FROM invoices WHERE proposal_id = ? AND order_id IS NULL"
      " AND kind = 'invoice'",
      "SELECT proposal_id FROM invoices WHERE id = ? AND order_id IS NULL"
      " AND kind = 'invoice'" },
    { "order", "proforma", "proforma",
      "SELECT id FROM proformas WHERE order_id = ?",
      "SELECT order_id FROM proformas WHERE id = ?" },
    { "order", "contract", "contract",
      "SELECT id FROM contracts WHERE order_id = ?",
      "SELECT order_id FROM contracts WHERE id = ?" },
    { "order", "invoice", "invoice",
      "SELECT id FROM invoices WHERE order_id = ? AND kind = 'invoice'",
      "SELECT order_id FROM invoices WHERE id = ? AND kind = 'invoice'" },
    { "proforma", "invoice", "advance_invoice",
      "SELECT id FROM invoices WHERE proforma_id = ? AND kind = 'advance'",
      "SELECT proforma_id FROM invoices WHERE id = ? AND kind = 'advance'" },
    { "contract", "contract", "revised_as",
      "SELECT id FROM contracts WHERE supersedes_id = ?",
      "SELECT supersedes_id FROM contracts WHERE id = ?" },
    { "invoice", "credit_note", "credit_note",
      "SELECT id FROM invoices WHERE credit_of_id = ?"
      " AND kind = 'credit_note'",
      "SELECT credit_of_id FROM invoices WHERE id = ?"
      " AND kind = 'credit_note'" },
    { "invoice", "payment", "payment",
      "SELECT id FROM payments WHERE invoice_id = ?",
      "SELECT invoice_id FROM payments WHERE id = ?" },
    { "invoice", "invoice", "deducted_by",
      "SELECT DISTINCT l.invoice_id FROM invoice_lines l JOIN invoices i"
      " ON i.id = l.invoice_id WHERE l.deducted_invoice_id = ?"
      " AND i.kind = 'invoice'",
      "SELECT DISTINCT deducted_invoice_id FROM invoice_lines"
      " WHERE invoice_id = ? AND deducted_invoice_id IS NOT NULL" },
    { NULL, NULL, NULL, NULL, NULL }
};


static const chain_type_t *
type_find(const char *name)
{
    const chain_type_t  *t;

    for (t = types; t->type; t++) {
        if (strcmp(t->type, name) == 0) {
            return t;
        }
    }

    return NULL;
}


/* A document as a node, when it exists, is of its type and the caller may
 * see it: 1 with *node, 0 when not, -1 on error. */
static int
node_load(sales_ctx_t *ctx, const chain_type_t *t, int64_t id, json_t **node)
{
    sales_buf_t    sql = {0};
    sqlite3_stmt  *st;
    json_t        *binds = json_array();
    char           at[32], path[64];
    int            rc;

    sales_buf_printf(&sql, "SELECT %s, %s, t.owner_id, t.client_id,"
                     " t.currency, %s, t.created_at FROM %s t"
                     " WHERE t.id = ? AND %s AND ", t->label, t->status,
                     t->total, t->table, t->where ? t->where : "1");
    json_array_append_new(binds, json_integer(id));
    sales_scope_sql(ctx, "t.owner_id", &sql, binds);

    st = sales_prepare_bound(ctx, &sql, binds);
    json_decref(binds);

    if (st == NULL) {
        return -1;
    }

    rc = sqlite3_step(st);

    if (rc == SQLITE_ROW) {
        sales_time_format(sqlite3_column_int64(st, 6), at);
        snprintf(path, sizeof(path), "%s/%lld", t->path, (long long) id);

        *node = json_pack("{s:s, s:I, s:s, s:s, s:I, s:I, s:s, s:I, s:s,"
                          " s:s}",
            "type", t->type, "id", (json_int_t) id,
            "label", (const char *) sqlite3_column_text(st, 0),
            "status", (const char *) sqlite3_column_text(st, 1),
            "owner_id", (json_int_t) sqlite3_column_int64(st, 2),
            "client_id", (json_int_t) sqlite3_column_int64(st, 3),
            "currency", (const char *) sqlite3_column_text(st, 4),
            "total_minor", (json_int_t) sqlite3_column_int64(st, 5),
            "created_at", at, "path", path);
    }

    sales_finish(st);

    if (rc == SQLITE_ROW) {
        return 1;
    }

    return rc == SQLITE_DONE ? 0 : sales_db_error(ctx, "reading a chain");
}


/* The ids one SQL answers for an id (NULLs left out). */
static json_t *
ids_of(sales_ctx_t *ctx, const char *sql, int64_t id)
{
    sqlite3_stmt  *st;
    json_t        *ids;
    int            rc;

    st = sales_prepare(ctx, sql);
    if (st == NULL) {
        return NULL;
    }

    sqlite3_bind_int64(st, 1, id);
    ids = json_array();

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (sqlite3_column_type(st, 0) != SQLITE_NULL) {
            json_array_append_new(ids,
                                  json_integer(sqlite3_column_int64(st, 0)));
        }
    }

    sales_finish(st);

    if (rc != SQLITE_DONE) {
        json_decref(ids);
        sales_db_error(ctx, "reading a chain");
        return NULL;
    }

    return ids;
}


static char *
node_key(const char *type, int64_t id, char *buf, size_t size)
{
    snprintf(buf, size, "%s:%lld", type, (long long) id);
    return buf;
}


static int
rank_of(json_t *node)
{
    const chain_type_t  *t;

    for (t = types; t->type; t++) {
        if (strcmp(t->type, sales_jstr(node, "type")) == 0) {
            break;
        }
    }

    return (int) (t - types);
}


static int
node_cmp(const void *a, const void *b)
{
    json_t   *x = *(json_t *const *) a, *y = *(json_t *const *) b;
    int       rx = rank_of(x), ry = rank_of(y);
    int64_t   ix = sales_jint(x, "id"), iy = sales_jint(y, "id");

    return rx != ry ? rx - ry : (ix > iy) - (ix < iy);
}


/* The documents in the order of the deal (opportunity, proposals,
 * proformas, order, contracts, invoices, credit notes, payments), each
 * kind by id. Takes the array, answers a new one. */
static json_t *
in_order(json_t *nodes)
{
    size_t    i, n = json_array_size(nodes);
    json_t  **all = malloc((n ? n : 1) * sizeof(json_t *)), *sorted;

    if (all == NULL) {
        return nodes;
    }

    for (i = 0; i < n; i++) {
        all[i] = json_array_get(nodes, i);
    }

    qsort(all, n, sizeof(json_t *), node_cmp);

    sorted = json_array();
    for (i = 0; i < n; i++) {
        json_array_append(sorted, all[i]);
    }

    free(all);
    json_decref(nodes);
    return sorted;
}


/*
 * Breadth first from the root over every link, both ways; a document the
 * caller may not see is left out and not gone through.
 */
static int
chain(sales_ctx_t *ctx, const char *type, json_t **out)
{
    const chain_type_t  *t = type_find(type);
    const chain_edge_t  *e;
    json_t              *seen, *nodes, *links, *queue, *node, *ids, *v;
    json_t              *linked;
    size_t               head = 0, i;
    char                 key[64], lkey[160];
    int                  rc, dir;

    if (t == NULL) {
        return sales_not_found(ctx, "kind of document");
    }

    rc = node_load(ctx, t, ctx->ids[0], &node);
    if (rc <= 0) {
        return rc < 0 ? -1 : sales_not_found(ctx, type);
    }

    seen = json_object();
    linked = json_object();
    nodes = json_array();
    links = json_array();
    queue = json_array();

    json_object_set_new(seen, node_key(type, ctx->ids[0], key, sizeof(key)),
                        json_true());
    json_array_append_new(nodes, node);
    json_array_append(queue, node);

    while (head < json_array_size(queue)) {
        json_t      *cur = json_array_get(queue, head++);
        const char  *ct = sales_jstr(cur, "type");
        int64_t      cid = sales_jint(cur, "id");

        for (e = edges; e->from; e++) {
            for (dir = 0; dir < 2; dir++) {
                const char  *other = dir ? e->from : e->to;

                if (strcmp(dir ? e->to : e->from, ct) != 0) {
                    continue;
                }

                ids = ids_of(ctx, dir ? e->parents : e->children, cid);
                if (ids == NULL) {
                    goto failed;
                }

                json_array_foreach(ids, i, v) {
                    int64_t  oid = json_integer_value(v);
                    json_t  *found = NULL;

                    node_key(other, oid, key, sizeof(key));

                    if (json_object_get(seen, key) == NULL) {
                        if (json_array_size(nodes) >= MAX_NODES) {
                            continue;
                        }

                        rc = node_load(ctx, type_find(other), oid, &found);
                        if (rc < 0) {
                            json_decref(ids);
                            goto failed;
                        }

                        json_object_set_new(seen, key, rc ? json_true()
                                                          : json_false());
                        if (rc) {
                            json_array_append_new(nodes, found);
                            json_array_append(queue, found);
                        }
                    }

                    if (!json_is_true(json_object_get(seen, key))) {
                        continue;
                    }

                    /* Each link once, parent to child. */
                    snprintf(lkey, sizeof(lkey), "%s:%lld>%s:%lld:%s",
                             dir ? other : ct,
                             (long long) (dir ? oid : cid),
                             dir ? ct : other,
                             (long long) (dir ? cid : oid), e->relation);

                    if (json_object_get(linked, lkey) == NULL) {
                        json_object_set_new(linked, lkey, json_true());
                        json_array_append_new(links, json_pack(
                            "{s:{s:s, s:I}, s:{s:s, s:I}, s:s}",
                            "from", "type", dir ? other : ct,
                                    "id", (json_int_t) (dir ? oid : cid),
                            "to", "type", dir ? ct : other,
                                  "id", (json_int_t) (dir ? cid : oid),
                            "relation", e->relation));
                    }
                }

                json_decref(ids);
            }
        }
    }

    json_decref(seen);
    json_decref(linked);
    json_decref(queue);

    nodes = in_order(nodes);

    *out = json_pack("{s:{s:s, s:I}, s:o, s:o}",
                     "root", "type", type, "id", (json_int_t) ctx->ids[0],
                     "documents", nodes, "links", links);
    return 200;

failed:

    json_decref(seen);
    json_decref(linked);
    json_decref(queue);
    json_decref(nodes);
    json_decref(links);
    return -1;
}


#define CHAIN_OF(t)                                                           \
    int                                                                       \
    sales_chain_##t(sales_ctx_t *ctx, json_t *body, json_t **out)             \
    {                                                                         \
        return chain(ctx, #t, out);                                           \
    }

CHAIN_OF(opportunity)
CHAIN_OF(proposal)
CHAIN_OF(proforma)
CHAIN_OF(order)
CHAIN_OF(contract)
CHAIN_OF(invoice)
CHAIN_OF(credit_note)
CHAIN_OF(payment)
