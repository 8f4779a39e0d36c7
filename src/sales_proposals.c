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
    "superseded", "converted", NULL
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
    { "converted_at", SALES_F_TIME, SALES_F_READONLY, 0, 0, NULL, NULL, NULL,
      0, 0 },
    { NULL, 0, 0, 0, 0, NULL, NULL, NULL, 0, 0 }
};

static const char *const  lines_apart[] = { "lines", NULL };

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

/* Prices the lines and stores them with the totals. */
static int
price_and_store_lines(sales_ctx_t *ctx, int64_t proposal_id,
    int64_t client_id, const char *currency, json_t *lines,
    const char *price_date)
{
    json_t  *priced, *totals;
    int      rc;

    if (sales_lines_price(ctx, client_id, currency, "opportunity_id", lines,
                          price_date, &priced, &totals) != 0)
    {
        return -1;
    }

    rc = sales_rows_replace(ctx, "proposal_lines", "proposal_id",
                            proposal_id, sales_priced_columns, priced) == 0
         && sales_totals_store(ctx, "proposals", proposal_id, totals) == 0;

    json_decref(priced);
    json_decref(totals);
    return rc ? 0 : -1;
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
    json_t  *lines;

    if (sales_rows_load(ctx, "proposal_lines", "proposal_id", jint(p, "id"),
                        sales_priced_columns, sales_json_columns, &lines)
        != 0)
    {
        return -1;
    }

    json_object_set_new(p, "lines", lines);
    return 0;
}


/* The proposal as the API shows it: totals with the VAT per rate, lines,
 * the status as of today. */
static int
proposal_finish(sales_ctx_t *ctx, json_t *p)
{
    if (sales_vat_breakdown_load(ctx, "proposals", p) != 0) {
        return -1;
    }

    effective_status(ctx, p);
    return add_lines(ctx, p);
}


int
sales_proposal_load(sales_ctx_t *ctx, int64_t id, json_t **out)
{
    return sales_load_finished(ctx, &proposals_res, id, 1, proposal_finish,
                               out);
}


int
sales_proposals_get(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    return sales_proposal_load(ctx, ctx->ids[0], out) == 0 ? 200 : -1;
}


static int
emit(sales_ctx_t *ctx, const char *type, json_t *p, json_t *extra)
{
    return sales_document_event(ctx, type, "proposal", p, extra);
}


/* --- writing ---------------------------------------------------------- */

int
sales_proposals_create(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    json_t   *values, *lines;
    int64_t   id;
    char      number[64], series[32], today[11];
    int       rc;

    lines = json_object_get(body, "lines");
    rc = sales_doc_fields(ctx, &proposals_res, body, NULL, lines_apart,
                          &values);

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

    sales_date_of(ctx->now_ms, today);

    if (sales_number_take(ctx, "PRO", today, 4, series, sizeof(series),
                          number, sizeof(number)) < 0)
    {
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
                               jstr(values, "price_date"));

    if (rc != 0) {
        json_decref(values);
        return json_array_size(ctx->errors) ? sales_validation_failed(ctx)
                                            : -1;
    }

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
    return sales_require_status(ctx, p, "proposal", allowed, action);
}


static int
store_priced(sales_ctx_t *ctx, int64_t id, json_t *before, json_t *inputs,
    const char *price_date)
{
    return price_and_store_lines(ctx, id, jint(before, "client_id"),
                                 jstr(before, "currency"), inputs,
                                 price_date);
}


int
sales_proposals_update(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    static const sales_priced_doc_t  doc = {
        &proposals_res, sales_proposal_load, store_priced,
        "edited; revise it"
    };

    return sales_priced_update(ctx, &doc, ctx->ids[0], body, out);
}


/* Sets status columns by name; used by the state changes. */
static int
set_state(sales_ctx_t *ctx, int64_t id, const char *sql_set, json_t *binds)
{
    return sales_set_state(ctx, "proposals", id, sql_set, binds);
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
    json_t       *binds = json_array();
    int64_t       n;
    char          today[11], later[11];
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

    rc = sales_list_finished(ctx, &proposals_res, &where, binds, 0, proposal_finish,
                             out) == 0 ? 200 : -1;

done:

    sales_buf_free(&where);
    json_decref(binds);
    return rc;
}


/* --- the sweep -------------------------------------------------------- */

/* Sent or viewed proposals past their validity read as expired without a
 * write; their proposal.expired event is written here, once each. */
int
sales_proposals_sweep(sales_ctx_t *ctx, const char *today)
{
    sqlite3_stmt  *st;

    st = sales_prepare(ctx,
        "SELECT p.id, json_object('proposal', json_object('id', p.id,"
        " 'number', p.number, 'revision', p.revision,"
        " 'opportunity_id', p.opportunity_id, 'client_id', p.client_id,"
        " 'owner_id', p.owner_id, 'status', 'expired',"
        " 'valid_until', p.valid_until, 'currency', p.currency,"
        " 'gross_minor', p.gross_minor))"
        " FROM proposals p WHERE p.status IN ('sent', 'viewed')"
        " AND p.valid_until < ? AND NOT EXISTS (SELECT 1 FROM outbox o"
        "  WHERE o.subject_type = 'proposal' AND o.subject_id = p.id"
        "  AND o.type = 'proposal.expired')"
        " ORDER BY p.id LIMIT 500");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_text(st, 1, today, -1, SQLITE_TRANSIENT);

    return sales_sweep_events(ctx, st, "proposal.expired", "proposal");
}
