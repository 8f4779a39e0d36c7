/*
 * Contracts: the agreement made from an opportunity, a proposal or an
 * order; sent for signature as a frozen HTML document, signed with that
 * document's SHA-256, then active between its dates. A signed contract is
 * never edited: an amendment or a renewal is a new revision of the same
 * number, which replaces the old one when it is signed.
 */

#include "sales_resource.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* Renewals the sweep makes in one run; the next run goes on. */
#define RENEW_BATCH      50
#define RENEW_PER_SWEEP  500

/* The notice window of contract.expiring: notice_days + this. */
#define EXPIRING_MARGIN_DAYS  30

/* As shown: a stored signed contract reads active between its dates,
 * expired after them, signed before they start. */
static const char *const  contract_states[] = {
    "draft", "out_for_signature", "signed", "active", "expired",
    "terminated", "superseded", NULL
};

static int contract_derive(sales_ctx_t *ctx, json_t *before, json_t *merged,
    json_t *write);

static const sales_field_t  contract_fields[] = {
    { "number", SALES_F_STRING, SALES_F_READONLY, 0, 0, NULL, NULL, NULL, 0,
      0 },
    { "revision", SALES_F_INT, SALES_F_READONLY, 0, 0, NULL, NULL, NULL, 0,
      0 },
    { "supersedes_id", SALES_F_INT, SALES_F_READONLY, 0, 0, NULL, NULL, NULL,
      0, 0 },
    { "superseded_by_id", SALES_F_INT, SALES_F_READONLY, 0, 0, NULL, NULL,
      NULL, 0, 0 },
    { "renewal", SALES_F_BOOL, SALES_F_READONLY, 0, 0, NULL, NULL, NULL, 0,
      0 },
    { "client_id", SALES_F_INT, SALES_F_READONLY, 0, 0, NULL, NULL, NULL, 0,
      0 },
    { "owner_id", SALES_F_INT, SALES_F_READONLY, 0, 0, NULL, NULL, NULL, 0,
      0 },
    { "opportunity_id", SALES_F_INT, 0, 1, INT64_MAX, NULL, NULL, NULL, 0,
      0 },
    { "proposal_id", SALES_F_INT, 0, 1, INT64_MAX, NULL, NULL, NULL, 0, 0 },
    { "order_id", SALES_F_INT, 0, 1, INT64_MAX, NULL, NULL, NULL, 0, 0 },
    { "title", SALES_F_STRING, SALES_F_REQUIRED, 1, 200, NULL, NULL, NULL, 0,
      0 },
    { "value_minor", SALES_F_INT, SALES_F_NOTNULL, 0, 1000000000000000LL,
      NULL, NULL, NULL, 0, 0 },
    { "currency", SALES_F_STRING, SALES_F_READONLY, 0, 0, NULL, NULL, NULL,
      0, 0 },
    { "start_date", SALES_F_DATE, SALES_F_REQUIRED, 0, 0, NULL, NULL, NULL,
      0, 0 },
    { "end_date", SALES_F_DATE, SALES_F_REQUIRED, 0, 0, NULL, NULL, NULL, 0,
      0 },
    { "notice_days", SALES_F_INT, SALES_F_NOTNULL, 0, 365, NULL, NULL, NULL,
      30, 1 },
    { "auto_renew", SALES_F_BOOL, SALES_F_NOTNULL, 0, 0, NULL, NULL, NULL, 0,
      1 },
    { "terms", SALES_F_STRING, SALES_F_MULTILINE, 0, 20000, NULL, NULL, NULL,
      0, 0 },
    { "notes", SALES_F_STRING, SALES_F_MULTILINE, 0, 10000, NULL, NULL, NULL,
      0, 0 },
    { "client_signatory", SALES_F_STRING, 0, 1, 200, NULL, NULL, NULL, 0,
      0 },
    { "status", SALES_F_ENUM, SALES_F_READONLY, 0, 0, contract_states, NULL,
      NULL, 0, 0 },
    { "sent_at", SALES_F_TIME, SALES_F_READONLY, 0, 0, NULL, NULL, NULL, 0,
      0 },
    { "signed_at", SALES_F_TIME, SALES_F_READONLY, 0, 0, NULL, NULL, NULL, 0,
      0 },
    { "signed_by", SALES_F_STRING, SALES_F_READONLY, 0, 0, NULL, NULL, NULL,
      0, 0 },
    { "signed_recorded_by", SALES_F_INT, SALES_F_READONLY, 0, 0, NULL, NULL,
      NULL, 0, 0 },
    { "document_sha256", SALES_F_STRING, SALES_F_READONLY, 0, 0, NULL, NULL,
      NULL, 0, 0 },
    /* the exact bytes sent for signature; served by /document only */
    { "signed_document", SALES_F_STRING, SALES_F_HIDDEN, 0, 0, NULL, NULL,
      NULL, 0, 0 },
    { "terminated_at", SALES_F_TIME, SALES_F_READONLY, 0, 0, NULL, NULL, NULL,
      0, 0 },
    { "termination_date", SALES_F_DATE, SALES_F_READONLY, 0, 0, NULL, NULL,
      NULL, 0, 0 },
    { "termination_reason", SALES_F_STRING, SALES_F_READONLY, 0, 0, NULL,
      NULL, NULL, 0, 0 },
    { NULL, 0, 0, 0, 0, NULL, NULL, NULL, 0, 0 }
};

static const sales_resource_t  contracts_res = {
    "contracts", "contract", "contract", contract_fields, NULL,
    contract_derive, "/contracts"
};


/*
 * What a contract is made from. Each query answers, for the row t: client,
 * owner, currency, the opportunity, proposal and order it links to, and
 * its total (the contract's default value).
 */
static const struct {
    const char  *field;
    const char  *label;
    const char  *sql;
} sources[] = {
    { "opportunity_id", "opportunity",
      "SELECT t.client_id, t.owner_id, t.currency, t.id, NULL, NULL,"
      " t.value_minor FROM opportunities t" },
    { "proposal_id", "proposal",
      "SELECT t.client_id, t.owner_id, t.currency, t.opportunity_id, t.id,"
      " NULL, t.gross_minor FROM proposals t" },
    { "order_id", "order",
      "SELECT t.client_id, t.owner_id, t.currency,"
      " coalesce(t.opportunity_id, (SELECT p.opportunity_id FROM proposals p"
      "  WHERE p.id = t.proposal_id)), t.proposal_id, t.id, t.gross_minor"
      " FROM sales_orders t" },
    { NULL, NULL, NULL }
};

#define SOURCE_NAMES  "opportunity_id, proposal_id or order_id"


static int
given(json_t *o, const char *key)
{
    json_t  *v = json_object_get(o, key);

    return v != NULL && !json_is_null(v);
}


/* --- periods ------------------------------------------------------------ */

static int64_t
days_of(const char *date)
{
    return sales_days_from_civil(atoi(date), (unsigned) atoi(date + 5),
                                 (unsigned) atoi(date + 8));
}


/* date + months, the day kept or cut to the month's last. */
static void
date_add_months(const char *date, int64_t months, char *out)
{
    int64_t   m, first, next, d;
    int       y;

    m = atoi(date + 5) - 1 + months;
    y = atoi(date) + (int) (m / 12);
    m %= 12;
    d = atoi(date + 8);

    first = sales_days_from_civil(y, (unsigned) m + 1, 1);
    next = m == 11 ? sales_days_from_civil(y + 1, 1, 1)
                   : sales_days_from_civil(y, (unsigned) m + 2, 1);

    if (d > next - first) {
        d = next - first;
    }

    sales_date_of((first + d - 1) * 86400000LL, out);
}


/*
 * The period after start..end (dates, both inclusive) of the same
 * length: a period of whole months stays whole months (a calendar year
 * renews to the next calendar year, leap day or not); any other keeps its
 * number of days. Shared helper, unit-tested.
 */
void
sales_period_next(const char *start, const char *end, char *next_start,
    char *next_end)
{
    int64_t  months;
    char     after[11], until[11];

    sales_date_add_days(end, 1, after);
    memcpy(next_start, after, 11);

    months = (atoi(after) - atoi(start)) * 12
             + (atoi(after + 5) - atoi(start + 5));

    if (months > 0 && atoi(after + 8) == atoi(start + 8)) {
        date_add_months(after, months, until);
        sales_date_add_days(until, -1, next_end);
        return;
    }

    sales_date_add_days(after, days_of(end) - days_of(start), next_end);
}


/* --- reading ------------------------------------------------------------ */

static const char *
shown_status(const char *stored, const char *start, const char *end,
    const char *today)
{
    if (stored == NULL || strcmp(stored, "signed") != 0) {
        return stored;
    }

    if (strcmp(end, today) < 0) {
        return "expired";
    }

    return strcmp(start, today) > 0 ? "signed" : "active";
}


/* The status as of today, computed at every read like a proposal's
 * expiry, so no write is needed when a date passes. */
static void
contract_finish(sales_ctx_t *ctx, json_t *c)
{
    char  today[11];

    sales_date_of(ctx->now_ms, today);
    json_object_set_new(c, "status",
                        json_string(shown_status(sales_jstr(c, "status"),
                                                 sales_jstr(c, "start_date"),
                                                 sales_jstr(c, "end_date"),
                                                 today)));
}


/* A contract the caller may see, as shown. */
static int
contract_load(sales_ctx_t *ctx, int64_t id, json_t **out)
{
    if (sales_load_owned(ctx, &contracts_res, id, out) != 0) {
        return -1;
    }

    contract_finish(ctx, *out);
    return 0;
}


/* Any contract, with its stored status (for the sweep and for the
 * revision a signature replaces). */
static int
contract_load_stored(sales_ctx_t *ctx, int64_t id, json_t **out)
{
    return sales_load(ctx, &contracts_res, id, NULL, NULL, out);
}


int
sales_contracts_get(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    return contract_load(ctx, ctx->ids[0], out) == 0 ? 200 : -1;
}




static int
emit(sales_ctx_t *ctx, const char *type, json_t *c, json_t *extra)
{
    return sales_document_event(ctx, type, "contract", c, extra);
}


static int
require_status(sales_ctx_t *ctx, json_t *c, const char *allowed,
    const char *action)
{
    return sales_require_status(ctx, c, "contract", allowed, action);
}


static int
set_state(sales_ctx_t *ctx, int64_t id, const char *sql_set, json_t *binds)
{
    return sales_set_state(ctx, "contracts", id, sql_set, binds);
}


/* --- the source --------------------------------------------------------- */

/*
 * Fills client, owner, currency, the links and the default value from
 * source k (a row the caller sees, of an active client), or names the
 * field.
 */
static int
source_fill(sales_ctx_t *ctx, int k, json_t *write)
{
    sales_buf_t    sql = {0};
    sqlite3_stmt  *st;
    const char    *field = sources[k].field;
    json_t        *binds;
    int64_t        client_id;
    int            i, rc;

    sales_buf_printf(&sql, "%s WHERE t.id = ? AND ", sources[k].sql);
    binds = json_pack("[O]", json_object_get(write, field));
    sales_scope_sql(ctx, "t.owner_id", &sql, binds);

    st = sales_prepare_bound(ctx, &sql, binds);
    json_decref(binds);

    if (st == NULL) {
        return -1;
    }

    rc = sqlite3_step(st);

    if (rc != SQLITE_ROW) {
        sales_finish(st);
        return rc == SQLITE_DONE
               ? sales_field_error(ctx, field, "no such %s", sources[k].label)
               : sales_db_error(ctx, "reading the contract's source");
    }

    client_id = sqlite3_column_int64(st, 0);
    json_object_set_new(write, "client_id", json_integer(client_id));
    json_object_set_new(write, "owner_id",
                        json_integer(sqlite3_column_int64(st, 1)));
    json_object_set_new(write, "currency",
                        json_string((const char *)
                                    sqlite3_column_text(st, 2)));

    for (i = 0; sources[i].field; i++) {
        json_object_set_new(write, sources[i].field,
                            sqlite3_column_type(st, 3 + i) == SQLITE_NULL
                            ? json_null()
                            : json_integer(sqlite3_column_int64(st, 3 + i)));
    }

    if (!json_object_get(write, "value_minor")) {
        json_object_set_new(write, "value_minor",
                            json_integer(sqlite3_column_int64(st, 6)));
    }

    sales_finish(st);

    /* the source's client must still be usable */
    return sales_client_usable(ctx, client_id, field, NULL);
}


/* Is field named by an error already? */
static int
named(sales_ctx_t *ctx, const char *field)
{
    json_t  *e;
    size_t   i;
    char     pointer[64];

    snprintf(pointer, sizeof(pointer), "#/%s", field);

    json_array_foreach(ctx->errors, i, e) {
        const char  *p = sales_jstr(e, "pointer");

        if (p && strcmp(p, pointer) == 0) {
            return 1;
        }
    }

    return 0;
}


/* Create: the source gives what the contract belongs to; afterwards the
 * links are fixed. Always: the end comes after the start (checked on
 * dates that are themselves valid). */
static int
contract_derive(sales_ctx_t *ctx, json_t *before, json_t *merged,
    json_t *write)
{
    const char  *start = sales_jstr(merged, "start_date");
    const char  *end = sales_jstr(merged, "end_date");
    int          k, n = 0, which = -1;

    for (k = 0; sources[k].field; k++) {
        if (json_object_get(write, sources[k].field) == NULL) {
            continue;
        }

        if (before) {
            sales_field_error(ctx, sources[k].field, "cannot be changed");

        } else if (given(write, sources[k].field)) {
            n++;
            which = k;
        }
    }

    /* none or several are named by the create handler */
    if (before == NULL && n == 1 && source_fill(ctx, which, write) != 0
        && json_array_size(ctx->errors) == 0)
    {
        return -1;
    }

    if (start && end && !named(ctx, "start_date") && !named(ctx, "end_date")
        && strcmp(end, start) <= 0)
    {
        sales_field_error(ctx, "end_date", "must be after start_date (%s)",
                          start);
    }

    return json_array_size(ctx->errors) ? -1 : 0;
}


/* --- the document ------------------------------------------------------- */

static void
html_row(sales_buf_t *b, const char *label, const char *value)
{
    sales_buf_printf(b, "<tr><th>%s</th><td>", label);
    sales_html(b, value);
    sales_buf_adds(b, "</td></tr>");
}


/* The page the client signs. notes are the AE's own and never on it. */
static char *
contract_html(json_t *c, json_t *client, json_t *seller)
{
    sales_buf_t   b = {0};
    const char   *signatory = sales_jstr(c, "client_signatory");
    char          title[96], days[32];

    snprintf(title, sizeof(title), "Contract %s rev. %lld",
             sales_jstr(c, "number"), (long long) sales_jint(c, "revision"));
    snprintf(days, sizeof(days), "%lld zile",
             (long long) sales_jint(c, "notice_days"));

    sales_html_head(&b, title);
    sales_buf_adds(&b, "<h1>");
    sales_html(&b, title);
    sales_buf_adds(&b, "</h1>\n<p class=\"title\">");
    sales_html(&b, sales_jstr(c, "title"));
    sales_buf_adds(&b, "</p>\n<div class=\"parties\">");
    sales_html_party(&b, "Furnizor", seller);
    sales_html_party(&b, "Client", client);
    sales_buf_adds(&b, "</div>\n<table class=\"contract\">");

    sales_buf_adds(&b, "<tr><th>Valoare</th><td>");
    sales_html_money(&b, sales_jint(c, "value_minor"),
                     sales_jstr(c, "currency"));
    sales_buf_adds(&b, "</td></tr>");
    html_row(&b, "Data de început", sales_jstr(c, "start_date"));
    html_row(&b, "Data de sfârșit", sales_jstr(c, "end_date"));
    html_row(&b, "Termen de preaviz", days);
    html_row(&b, "Reînnoire automată",
             json_is_true(json_object_get(c, "auto_renew")) ? "da" : "nu");
    sales_buf_adds(&b, "</table>\n");

    sales_html_section(&b, "Termeni", sales_jstr(c, "terms"));

    sales_buf_adds(&b, "<p class=\"signatory\">Semnatar pentru client: ");
    sales_html(&b, signatory ? signatory : "—");
    sales_buf_adds(&b, "</p>\n");

    return sales_html_foot(&b);
}


/* A fresh rendering with today's seller and client. */
static int
contract_render(sales_ctx_t *ctx, json_t *c, char **page)
{
    json_t  *client, *seller;

    *page = NULL;

    if (sales_load_client_any(ctx, sales_jint(c, "client_id"), &client) != 0) {
        return -1;
    }

    seller = sales_seller_load(ctx);
    *page = seller ? contract_html(c, client, seller) : NULL;

    json_decref(client);
    json_decref(seller);

    return *page ? 0 : sales_fail(ctx, 500, "internal", "out of memory");
}


/* The frozen bytes, or NULL in *out when none were frozen. */
static int
frozen_document(sales_ctx_t *ctx, int64_t id, char **out)
{
    sqlite3_stmt  *st;
    int            rc;

    *out = NULL;

    st = sales_prepare(ctx, "SELECT signed_document FROM contracts"
                            " WHERE id = ?");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);

    if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
        const char  *text = (const char *) sqlite3_column_text(st, 0);

        *out = text ? strdup(text) : NULL;
        if (*out == NULL) {
            sales_finish(st);
            return sales_fail(ctx, 500, "internal", "out of memory");
        }
    }

    sales_finish(st);
    return rc == SQLITE_ROW ? 0 : sales_db_error(ctx, "reading a document");
}


/* Once sent, the exact bytes sent (so their SHA-256 is document_sha256
 * after signing); before, the page as it would be sent now. */
int
sales_contracts_document(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    json_t  *c;
    char    *page;
    int      rc;

    if (contract_load(ctx, ctx->ids[0], &c) != 0) {
        return -1;
    }

    rc = frozen_document(ctx, ctx->ids[0], &page);
    if (rc == 0 && page == NULL) {
        rc = contract_render(ctx, c, &page);
    }

    json_decref(c);

    if (rc != 0) {
        return -1;
    }

    ctx->raw_body = page;
    ctx->raw_type = "text/html; charset=utf-8";
    *out = NULL;
    return 200;
}


/* --- creating and editing a draft --------------------------------------- */

int
sales_contracts_create(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    json_t   *values;
    int64_t   id;
    char      number[64], series[32], today[11];
    int       k, n = 0;

    for (k = 0; sources[k].field; k++) {
        n += given(body, sources[k].field);
    }

    for (k = 0; n != 1 && sources[k].field; k++) {
        if (n == 0) {
            sales_field_error(ctx, sources[k].field, "give one of "
                              SOURCE_NAMES);

        } else if (given(body, sources[k].field)) {
            sales_field_error(ctx, sources[k].field, "give only one of "
                              SOURCE_NAMES);
        }
    }

    if (sales_validate(ctx, &contracts_res, body, NULL, &values) != 0) {
        json_decref(values);
        return -1;
    }

    sales_date_of(ctx->now_ms, today);

    if (sales_number_take(ctx, "CTR", today, 4, series, sizeof(series),
                          number, sizeof(number)) < 0)
    {
        json_decref(values);
        return -1;
    }

    json_object_set_new(values, "number", json_string(number));
    json_object_set_new(values, "revision", json_integer(1));
    json_object_set_new(values, "renewal", json_false());
    json_object_set_new(values, "status", json_string("draft"));

    id = sales_insert(ctx, &contracts_res, values);
    json_decref(values);

    if (id < 0 || contract_load(ctx, id, out) != 0
        || sales_audit(ctx, "create", "contract", id, *out) != 0
        || emit(ctx, "contract.created", *out, NULL) != 0)
    {
        return -1;
    }

    snprintf(ctx->location, sizeof(ctx->location), "/contracts/%lld",
             (long long) id);
    return 201;
}


int
sales_contracts_update(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    json_t      *before, *changes = NULL, *diff = NULL;
    const char  *why;
    int64_t      id = ctx->ids[0];
    int          rc = -1;

    if (contract_load(ctx, id, &before) != 0) {
        return -1;
    }

    why = strcmp(sales_jstr(before, "status"), "out_for_signature") == 0
          ? "edited; withdraw it first" : "edited; amend it";

    if (require_status(ctx, before, "draft", why) != 0
        || sales_validate(ctx, &contracts_res, body, before, &changes) != 0
        || sales_update(ctx, &contracts_res, id, before, changes, &diff) != 0
        || (json_object_size(diff)
            && sales_audit(ctx, "update", "contract", id, diff) != 0)
        || contract_load(ctx, id, out) != 0)
    {
        goto done;
    }

    rc = 200;

done:

    json_decref(diff);
    json_decref(changes);
    json_decref(before);
    return rc;
}


int
sales_contracts_delete(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    json_t  *before;
    int      rc;

    if (contract_load(ctx, ctx->ids[0], &before) != 0) {
        return -1;
    }

    rc = require_status(ctx, before, "draft", "deleted") == 0
         && sales_delete_row(ctx, &contracts_res, ctx->ids[0], before) == 0;
    json_decref(before);

    return rc ? 204 : -1;
}


/* --- sending and signing ------------------------------------------------ */

static const char *const  no_fields[] = { NULL };


/* The document is rendered now and frozen: what the client signs is
 * exactly these bytes. */
int
sales_contracts_send(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    json_t   *c, *binds, *changes;
    int64_t   id = ctx->ids[0];
    char     *page;
    char      when[32];
    int       rc;

    if (sales_only_fields(ctx, body, no_fields) != 0) {
        return sales_validation_failed(ctx);
    }

    if (contract_load(ctx, id, &c) != 0) {
        return -1;
    }

    if (require_status(ctx, c, "draft", "sent") != 0
        || contract_render(ctx, c, &page) != 0)
    {
        json_decref(c);
        return -1;
    }

    json_decref(c);

    binds = json_pack("[I, s]", (json_int_t) ctx->now_ms, page);
    free(page);

    if (binds == NULL) {
        return sales_fail(ctx, 500, "internal", "out of memory");
    }

    rc = set_state(ctx, id, "status = 'out_for_signature', sent_at = ?,"
                   " signed_document = ?", binds);
    json_decref(binds);

    sales_time_format(ctx->now_ms, when);
    changes = json_pack("{s:[ss], s:[ns]}", "status", "draft",
                        "out_for_signature", "sent_at", when);

    rc = rc == 0
         && sales_audit(ctx, "send", "contract", id, changes) == 0
         && contract_load(ctx, id, out) == 0
         && emit(ctx, "contract.sent", *out, NULL) == 0;
    json_decref(changes);

    return rc ? 200 : -1;
}


/* Back to a draft: the frozen document goes; the next send freezes
 * another. */
int
sales_contracts_withdraw(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    json_t   *c, *changes;
    int64_t   id = ctx->ids[0];
    int       rc;

    if (sales_only_fields(ctx, body, no_fields) != 0) {
        return sales_validation_failed(ctx);
    }

    if (contract_load(ctx, id, &c) != 0) {
        return -1;
    }

    if (require_status(ctx, c, "out_for_signature", "withdrawn") != 0) {
        json_decref(c);
        return -1;
    }

    changes = json_pack("{s:[ss], s:[On]}", "status", "out_for_signature",
                        "draft", "sent_at", json_object_get(c, "sent_at"));
    json_decref(c);

    rc = set_state(ctx, id, "status = 'draft', sent_at = NULL,"
                   " signed_document = NULL", NULL) == 0
         && sales_audit(ctx, "withdraw", "contract", id, changes) == 0
         && contract_load(ctx, id, out) == 0;
    json_decref(changes);

    return rc ? 200 : -1;
}


/*
 * The revision a signed amendment or renewal replaces: an amended one is
 * superseded at once; a renewed one keeps its state and ends on its own
 * date. Either must still be signed and not replaced by another.
 */
static int
replace_earlier(sales_ctx_t *ctx, json_t *c)
{
    json_t   *old, *binds, *changes;
    int64_t   old_id = sales_jint(c, "supersedes_id");
    int       renewal = json_is_true(json_object_get(c, "renewal"));
    int       rc;

    if (contract_load_stored(ctx, old_id, &old) != 0) {
        return -1;
    }

    if (strcmp(sales_jstr(old, "status"), "signed") != 0
        || given(old, "superseded_by_id"))
    {
        sales_fail(ctx, 409, "conflict", "revision %lld, which this one %s, "
                   "has since been %s",
                   (long long) sales_jint(old, "revision"),
                   renewal ? "renews" : "amends",
                   given(old, "superseded_by_id") ? "replaced"
                                                  : "terminated");
        json_decref(old);
        return -1;
    }

    contract_finish(ctx, old);
    binds = json_pack("[I]", (json_int_t) sales_jint(c, "id"));

    if (renewal) {
        changes = json_pack("{s:[nI]}", "superseded_by_id",
                            (json_int_t) sales_jint(c, "id"));
        rc = set_state(ctx, old_id, "superseded_by_id = ?", binds);

    } else {
        changes = json_pack("{s:[Os], s:[nI]}", "status",
                            json_object_get(old, "status"), "superseded",
                            "superseded_by_id",
                            (json_int_t) sales_jint(c, "id"));
        rc = set_state(ctx, old_id, "status = 'superseded',"
                       " superseded_by_id = ?", binds);
    }

    rc = rc == 0
         && sales_audit(ctx, renewal ? "renew" : "supersede", "contract",
                        old_id, changes) == 0;

    json_decref(binds);
    json_decref(changes);
    json_decref(old);
    return rc ? 0 : -1;
}


/* Who signed, and when (*at, default now; *given says it was given). */
static int
sign_input(sales_ctx_t *ctx, json_t *body, int64_t *at, int *given_at)
{
    static const char *const  known[] = { "signed_by", "signed_at", NULL };

    json_t  *v = json_object_get(body, "signed_at");

    *at = ctx->now_ms;
    *given_at = v && !json_is_null(v);

    sales_only_fields(ctx, body, known);
    sales_text_field(ctx, body, "signed_by", 200, 1);

    if (*given_at) {
        if (!json_is_string(v)
            || sales_time_parse(json_string_value(v), json_string_length(v),
                                at) != 0)
        {
            sales_field_error(ctx, "signed_at", "must be an ISO 8601 UTC "
                              "time like 2026-12-03T09:30:00Z");

        } else if (*at > ctx->now_ms) {
            sales_field_error(ctx, "signed_at", "must not be in the future");
        }
    }

    return json_array_size(ctx->errors) ? sales_validation_failed(ctx) : 0;
}


int
sales_contracts_sign(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    json_t       *c, *binds, *changes;
    const char   *sent_at;
    int64_t       id = ctx->ids[0], at, sent;
    uint8_t       hash[SALES_SHA256_LEN];
    char          hex[2 * SALES_SHA256_LEN + 1], when[32];
    char         *doc;
    int           rc, given_at;

    if (sign_input(ctx, body, &at, &given_at) != 0
        || contract_load(ctx, id, &c) != 0)
    {
        return -1;
    }

    if (require_status(ctx, c, "out_for_signature", "signed") != 0) {
        json_decref(c);
        return -1;
    }

    /* what was signed existed only from the moment it was sent */
    sent_at = sales_jstr(c, "sent_at");

    if (given_at && sent_at
        && sales_time_parse(sent_at, strlen(sent_at), &sent) == 0
        && at < sent)
    {
        json_decref(c);
        sales_field_error(ctx, "signed_at", "must not be before the contract "
                          "was sent");
        return sales_validation_failed(ctx);
    }

    if (frozen_document(ctx, id, &doc) != 0) {
        json_decref(c);
        return -1;
    }

    if (doc == NULL) {
        json_decref(c);
        return sales_fail(ctx, 500, "internal", "a contract out for "
                          "signature has no document");
    }

    sales_sha256(doc, strlen(doc), hash);
    sales_hex(hash, sizeof(hash), hex);
    free(doc);

    if (given(c, "supersedes_id") && replace_earlier(ctx, c) != 0) {
        json_decref(c);
        return -1;
    }

    json_decref(c);

    binds = json_pack("[I, O, I, s]", (json_int_t) at,
                      json_object_get(body, "signed_by"),
                      (json_int_t) ctx->user.id, hex);
    rc = set_state(ctx, id, "status = 'signed', signed_at = ?,"
                   " signed_by = ?, signed_recorded_by = ?,"
                   " document_sha256 = ?", binds);
    json_decref(binds);

    sales_time_format(at, when);
    changes = json_pack("{s:[ss], s:[ns], s:[nO], s:[nI], s:[ns]}",
                        "status", "out_for_signature", "signed",
                        "signed_at", when,
                        "signed_by", json_object_get(body, "signed_by"),
                        "signed_recorded_by", (json_int_t) ctx->user.id,
                        "document_sha256", hex);

    rc = rc == 0
         && sales_audit(ctx, "sign", "contract", id, changes) == 0
         && contract_load(ctx, id, out) == 0
         && emit(ctx, "contract.signed", *out, NULL) == 0;
    json_decref(changes);

    return rc ? 200 : -1;
}


/* --- revisions ---------------------------------------------------------- */

/*
 * A new revision of old's number: old's fields with changes over them.
 * Answers its id or -1.
 */
static int64_t
revision_insert(sales_ctx_t *ctx, json_t *old, json_t *changes,
    int renewal, const char *status)
{
    static const char *const  copied[] = {
        "number", "client_id", "owner_id", "opportunity_id", "proposal_id",
        "order_id", "title", "value_minor", "currency", "start_date",
        "end_date", "notice_days", "auto_renew", "terms", "notes",
        "client_signatory", NULL
    };

    json_t   *values, *binds;
    int64_t   revision, id;
    int       k;

    values = json_object();

    for (k = 0; copied[k]; k++) {
        json_object_set(values, copied[k], json_object_get(old, copied[k]));
    }

    json_object_update(values, changes);

    binds = json_pack("[O]", json_object_get(old, "number"));
    revision = sales_count(ctx, "SELECT max(revision) + 1 FROM contracts"
                                " WHERE number = ?", binds);
    json_decref(binds);

    if (revision < 0) {
        json_decref(values);
        return -1;
    }

    json_object_set_new(values, "revision", json_integer(revision));
    json_object_set_new(values, "supersedes_id",
                        json_integer(sales_jint(old, "id")));
    json_object_set_new(values, "renewal", json_boolean(renewal));
    json_object_set_new(values, "status", json_string(status));

    id = sales_insert(ctx, &contracts_res, values);
    json_decref(values);
    return id;
}


/* May old get a new revision? Not once another replaced it, and only one
 * unsigned revision of a number at a time. */
static int
require_replaceable(sales_ctx_t *ctx, json_t *old)
{
    json_t   *binds;
    int64_t   n;

    if (given(old, "superseded_by_id")) {
        return sales_fail(ctx, 409, "conflict", "revision %lld replaced "
                          "this one; change that one instead",
                          (long long) sales_jint(old, "superseded_by_id"));
    }

    binds = json_pack("[O]", json_object_get(old, "number"));
    n = sales_count(ctx, "SELECT count(*) FROM contracts WHERE number = ?"
                         " AND status IN ('draft', 'out_for_signature')",
                    binds);
    json_decref(binds);

    if (n < 0) {
        return -1;
    }

    return n ? sales_fail(ctx, 409, "conflict", "%s already has an unsigned "
                          "revision; sign, withdraw or delete it first",
                          sales_jstr(old, "number"))
             : 0;
}


/* Amend and renew: the checked changes become a new draft of old. */
static int
new_draft(sales_ctx_t *ctx, json_t *old, json_t *changes, int renewal,
    json_t **out)
{
    json_t   *extra;
    int64_t   id;
    int       rc;

    id = revision_insert(ctx, old, changes, renewal, "draft");

    if (id < 0 || contract_load(ctx, id, out) != 0
        || sales_audit(ctx, "create", "contract", id, *out) != 0)
    {
        return -1;
    }

    extra = json_pack("{s:I}", "supersedes_id",
                      (json_int_t) sales_jint(old, "id"));
    rc = emit(ctx, "contract.created", *out, extra);
    json_decref(extra);

    if (rc != 0) {
        return -1;
    }

    snprintf(ctx->location, sizeof(ctx->location), "/contracts/%lld",
             (long long) id);
    return 201;
}


/* A signed contract changes only by a new revision, which supersedes it
 * once signed. The body holds what changes, as in PATCH. */
int
sales_contracts_amend(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    json_t  *old, *changes = NULL;
    int      rc = -1;

    if (contract_load(ctx, ctx->ids[0], &old) != 0) {
        return -1;
    }

    if (require_status(ctx, old, "active,signed", "amended") == 0
        && require_replaceable(ctx, old) == 0
        && sales_validate(ctx, &contracts_res, body, old, &changes) == 0)
    {
        rc = new_draft(ctx, old, changes, 0, out);
    }

    json_decref(changes);
    json_decref(old);
    return rc;
}


/* The next period as a new draft revision; by default it starts the day
 * after the old one ends. */
int
sales_contracts_renew(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    static const char *const  known[] = {
        "start_date", "end_date", "value_minor", "terms", NULL
    };

    json_t  *old, *in = NULL, *changes = NULL;
    char     start[11];
    int      rc = -1;

    sales_only_fields(ctx, body, known);

    if (!given(body, "end_date")) {
        sales_field_error(ctx, "end_date", "is required");
    }

    if (json_array_size(ctx->errors)) {
        return sales_validation_failed(ctx);
    }

    if (contract_load(ctx, ctx->ids[0], &old) != 0) {
        return -1;
    }

    if (require_status(ctx, old, "active,signed,expired", "renewed") == 0
        && require_replaceable(ctx, old) == 0)
    {
        in = json_deep_copy(body);

        if (!given(in, "start_date")) {
            sales_date_add_days(sales_jstr(old, "end_date"), 1, start);
            json_object_set_new(in, "start_date", json_string(start));
        }

        if (sales_validate(ctx, &contracts_res, in, old, &changes) == 0) {
            rc = new_draft(ctx, old, changes, 1, out);
        }
    }

    json_decref(in);
    json_decref(changes);
    json_decref(old);
    return rc;
}


int
sales_contracts_terminate(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    static const char *const  known[] = {
        "reason", "termination_date", NULL
    };

    json_t   *c, *binds, *changes;
    int64_t   id = ctx->ids[0];
    char      today[11], date[11], when[32];
    int       rc;

    sales_date_of(ctx->now_ms, today);

    sales_only_fields(ctx, body, known);
    sales_text_field(ctx, body, "reason", 2000, 1);

    if (sales_date_field(ctx, body, "termination_date", 0, 0, date) == 0
        && given(body, "termination_date") && strcmp(date, today) < 0)
    {
        sales_field_error(ctx, "termination_date", "must not be before "
                          "today (%s)", today);
    }

    if (json_array_size(ctx->errors)) {
        return sales_validation_failed(ctx);
    }

    if (contract_load(ctx, id, &c) != 0) {
        return -1;
    }

    if (require_status(ctx, c, "active,signed", "terminated") != 0) {
        json_decref(c);
        return -1;
    }

    if (!given(body, "termination_date")) {
        sales_date_add_days(today, sales_jint(c, "notice_days"), date);
    }

    binds = json_pack("[I, s, O]", (json_int_t) ctx->now_ms, date,
                      json_object_get(body, "reason"));
    rc = set_state(ctx, id, "status = 'terminated', terminated_at = ?,"
                   " termination_date = ?, termination_reason = ?", binds);
    json_decref(binds);

    sales_time_format(ctx->now_ms, when);
    changes = json_pack("{s:[Os], s:[ns], s:[ns], s:[nO]}",
                        "status", json_object_get(c, "status"), "terminated",
                        "terminated_at", when,
                        "termination_date", date,
                        "termination_reason", json_object_get(body,
                                                              "reason"));
    json_decref(c);

    rc = rc == 0
         && sales_audit(ctx, "terminate", "contract", id, changes) == 0
         && contract_load(ctx, id, out) == 0
         && emit(ctx, "contract.terminated", *out, NULL) == 0;
    json_decref(changes);

    return rc ? 200 : -1;
}


/* --- the list ----------------------------------------------------------- */





/* The status filter matches what is shown: active, expired and signed
 * are stored as signed and told apart by the dates. */
static void
status_where(const char *status, const char *today, sales_buf_t *where,
    json_t *binds)
{
    if (strcmp(status, "active") == 0) {
        sales_buf_adds(where, " AND t.status = 'signed'"
                              " AND t.start_date <= ? AND t.end_date >= ?");
        json_array_append_new(binds, json_string(today));
        json_array_append_new(binds, json_string(today));

    } else if (strcmp(status, "expired") == 0) {
        sales_buf_adds(where, " AND t.status = 'signed' AND t.end_date < ?");
        json_array_append_new(binds, json_string(today));

    } else if (strcmp(status, "signed") == 0) {
        sales_buf_adds(where, " AND t.status = 'signed'"
                              " AND t.start_date > ?");
        json_array_append_new(binds, json_string(today));

    } else {
        sales_buf_adds(where, " AND t.status = ?");
        json_array_append_new(binds, json_string(status));
    }
}


int
sales_contracts_list(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    static const char *const  ids[] = {
        "client_id", "opportunity_id", "proposal_id", "order_id", NULL
    };

    sales_buf_t   where = {0};
    const char   *status;
    json_t       *binds = json_array(), *item;
    int64_t       n;
    char          today[11], last[11];
    size_t        i;
    int           rc = -1;

    sales_date_of(ctx->now_ms, today);

    if (sales_doc_filters(ctx, ids, &where, binds) != 0
        || sales_param_enum(ctx, "status", contract_states,
                            "is not a contract state", &status) != 0)
    {
        goto done;
    }

    if (status) {
        status_where(status, today, &where, binds);
    }

    /* The weekly account review: active ones ending within N days that
     * no later revision has replaced. */
    if (sales_param(ctx, "expiring_within")) {
        if (sales_param_int(ctx, "expiring_within", 0, 3650, &n) != 0) {
            goto done;
        }
        sales_date_add_days(today, n, last);
        status_where("active", today, &where, binds);
        sales_buf_adds(&where, " AND t.end_date <= ?"
                               " AND t.superseded_by_id IS NULL");
        json_array_append_new(binds, json_string(last));
    }

    if (sales_list(ctx, &contracts_res, NULL, &where, binds, 0, out) != 0) {
        goto done;
    }

    json_array_foreach(json_object_get(*out, "items"), i, item) {
        contract_finish(ctx, item);
    }

    rc = 200;

done:

    sales_buf_free(&where);
    json_decref(binds);
    return rc;
}


/* --- the sweep ---------------------------------------------------------- */

/* Active, not replaced, and within notice_days + 30 days of its end:
 * contract.expiring, once per contract row. */
static int
sweep_expiring(sales_ctx_t *ctx, const char *today)
{
    sqlite3_stmt  *st;

    st = sales_prepare(ctx,
        "SELECT c.id, json_object('contract', json_object('id', c.id,"
        " 'number', c.number, 'revision', c.revision, 'title', c.title,"
        " 'renewal', json(CASE WHEN c.renewal THEN 'true' ELSE 'false' END),"
        " 'client_id', c.client_id, 'owner_id', c.owner_id,"
        " 'status', 'active', 'value_minor', c.value_minor,"
        " 'currency', c.currency, 'start_date', c.start_date,"
        " 'end_date', c.end_date, 'notice_days', c.notice_days,"
        " 'auto_renew', json(CASE WHEN c.auto_renew THEN 'true'"
        "  ELSE 'false' END)),"
        " 'days_left', CAST(julianday(c.end_date) - julianday(?1)"
        "  AS INTEGER))"
        " FROM contracts c WHERE c.status = 'signed'"
        " AND c.superseded_by_id IS NULL"
        " AND c.start_date <= ?1 AND c.end_date >= ?1"
        " AND julianday(c.end_date) - julianday(?1) <= c.notice_days + ?2"
        " AND NOT EXISTS (SELECT 1 FROM outbox o"
        "  WHERE o.subject_type = 'contract' AND o.subject_id = c.id"
        "  AND o.type = 'contract.expiring')"
        " ORDER BY c.id LIMIT 500");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_text(st, 1, today, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 2, EXPIRING_MARGIN_DAYS);

    return sales_sweep_events(ctx, st, "contract.expiring", "contract");
}


/*
 * One auto-renewal: the next period of the same length, value and terms,
 * signed under the old one's clause (no signature of its own); the old
 * one is replaced by it.
 */
static int
auto_renew(sales_ctx_t *ctx, int64_t old_id)
{
    json_t   *old, *changes, *binds, *c = NULL, *extra;
    int64_t   id;
    char      start[11], end[11];
    int       rc;

    if (contract_load_stored(ctx, old_id, &old) != 0) {
        return -1;
    }

    sales_period_next(sales_jstr(old, "start_date"),
                      sales_jstr(old, "end_date"), start, end);
    changes = json_pack("{s:s, s:s}", "start_date", start, "end_date", end);

    id = revision_insert(ctx, old, changes, 1, "signed");
    json_decref(changes);
    json_decref(old);

    if (id < 0) {
        return -1;
    }

    binds = json_pack("[I]", (json_int_t) id);
    changes = json_pack("{s:[nI]}", "superseded_by_id", (json_int_t) id);
    extra = json_pack("{s:I}", "renews_id", (json_int_t) old_id);

    rc = set_state(ctx, old_id, "superseded_by_id = ?", binds) == 0;
    json_decref(binds);

    rc = rc
         && sales_audit(ctx, "renew", "contract", old_id, changes) == 0
         && contract_load_stored(ctx, id, &c) == 0
         && sales_audit(ctx, "create", "contract", id, c) == 0;

    if (rc) {
        contract_finish(ctx, c);
        rc = emit(ctx, "contract.renewed", c, extra) == 0;
    }

    json_decref(c);
    json_decref(changes);
    json_decref(extra);
    return rc ? 0 : -1;
}


/* Signed contracts with auto_renew past their end and not replaced are
 * renewed period by period until one reaches today, at most
 * RENEW_PER_SWEEP in a run. */
static int
sweep_auto_renew(sales_ctx_t *ctx, const char *today)
{
    sqlite3_stmt  *st;
    int64_t        ids[RENEW_BATCH];
    int            i, n, rc, done = 0;

    while (done < RENEW_PER_SWEEP) {
        st = sales_prepare(ctx, "SELECT id FROM contracts"
                                " WHERE status = 'signed' AND auto_renew = 1"
                                " AND superseded_by_id IS NULL"
                                " AND end_date < ? ORDER BY id LIMIT ?");
        if (st == NULL) {
            return -1;
        }

        sqlite3_bind_text(st, 1, today, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(st, 2, RENEW_BATCH);

        for (n = 0; (rc = sqlite3_step(st)) == SQLITE_ROW; n++) {
            ids[n] = sqlite3_column_int64(st, 0);
        }

        sales_finish(st);

        if (rc != SQLITE_DONE) {
            return sales_db_error(ctx, "sweeping");
        }

        if (n == 0) {
            break;
        }

        for (i = 0; i < n && done < RENEW_PER_SWEEP; i++, done++) {
            if (auto_renew(ctx, ids[i]) != 0) {
                return -1;
            }
        }
    }

    return 0;
}


int
sales_contracts_sweep(sales_ctx_t *ctx, const char *today)
{
    /* renewals first: a new period may itself be near its end */
    if (sweep_auto_renew(ctx, today) != 0) {
        return -1;
    }

    return sweep_expiring(ctx, today);
}
