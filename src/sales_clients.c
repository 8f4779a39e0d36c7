/*
 * Clients and their contacts.
 */

#include "sales_resource.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static int check_trade_register(sales_ctx_t *ctx, const sales_field_t *f,
    json_t **value);
static int client_derive(sales_ctx_t *ctx, json_t *before, json_t *merged,
    json_t *write);


static const sales_field_t  client_fields[] = {
    { "name", SALES_F_STRING, SALES_F_REQUIRED, 1, 200, NULL, NULL, NULL, 0,
      0 },
    { "tax_id", SALES_F_STRING, 0, 2, 32, NULL, NULL, NULL, 0, 0 },
    { "vat_payer", SALES_F_BOOL, SALES_F_READONLY, 0, 0, NULL, NULL, NULL, 0,
      0 },
    { "trade_register_no", SALES_F_STRING, 0, 1, 32, NULL,
      check_trade_register, NULL, 0, 0 },
    { "address", SALES_F_STRING, 0, 1, 200, NULL, NULL, NULL, 0, 0 },
    { "city", SALES_F_STRING, 0, 1, 200, NULL, NULL, NULL, 0, 0 },
    { "county", SALES_F_STRING, 0, 1, 64, NULL, NULL, NULL, 0, 0 },
    { "postal_code", SALES_F_STRING, 0, 1, 16, NULL, NULL, NULL, 0, 0 },
    { "country", SALES_F_STRING, SALES_F_NOTNULL, 2, 2, NULL,
      sales_check_country, "RO", 0, 1 },
    { "currency", SALES_F_STRING, SALES_F_NOTNULL, 3, 3, NULL,
      sales_check_currency, "RON", 0, 1 },
    { "iban", SALES_F_STRING, 0, 15, 42, NULL, sales_check_iban, NULL, 0, 0 },
    { "email", SALES_F_STRING, 0, 3, 254, NULL, sales_check_email, NULL, 0,
      0 },
    { "phone", SALES_F_STRING, 0, 3, 32, NULL, sales_check_phone, NULL, 0,
      0 },
    { "payment_terms_days", SALES_F_INT, SALES_F_NOTNULL, 0, 365, NULL, NULL,
      NULL, 30, 1 },
    { "owner_id", SALES_F_INT, SALES_F_NOTNULL, 1, INT64_MAX, NULL, NULL,
      NULL, 0, 0 },
    { "external_id", SALES_F_STRING, 0, 1, 128, NULL, NULL, NULL, 0, 0 },
    { "notes", SALES_F_STRING, SALES_F_MULTILINE, 0, 10000, NULL, NULL, NULL,
      0, 0 },
    { "price_list_id", SALES_F_INT, 0, 1, INT64_MAX, NULL, NULL, NULL, 0,
      0 },
    { "loyalty_level_id", SALES_F_INT, SALES_F_READONLY, 0, 0, NULL, NULL,
      NULL, 0, 0 },
    { "loyalty_since", SALES_F_TIME, SALES_F_READONLY, 0, 0, NULL, NULL,
      NULL, 0, 0 },
    { "archived_at", SALES_F_TIME, SALES_F_READONLY, 0, 0, NULL, NULL, NULL,
      0, 0 },
    { "name_search", SALES_F_STRING, SALES_F_HIDDEN, 0, 0, NULL, NULL, NULL,
      0, 0 },
    { "tax_key", SALES_F_STRING, SALES_F_HIDDEN, 0, 0, NULL, NULL, NULL, 0,
      0 },
    { NULL, 0, 0, 0, 0, NULL, NULL, NULL, 0, 0 }
};

static const sales_unique_t  client_uniques[] = {
    { "clients.tax_key", "tax_id",
      "an active client with this tax id already exists" },
    { "clients.external_id", "external_id",
      "a client with this external id already exists" },
    { NULL, NULL, NULL }
};

static const sales_resource_t  clients_res = {
    "clients", "client", "client", client_fields, client_uniques,
    client_derive, "/clients"
};


static const sales_field_t  contact_fields[] = {
    { "client_id", SALES_F_INT, SALES_F_READONLY, 0, 0, NULL, NULL, NULL, 0,
      0 },
    { "name", SALES_F_STRING, SALES_F_REQUIRED, 1, 200, NULL, NULL, NULL, 0,
      0 },
    { "role", SALES_F_STRING, 0, 1, 100, NULL, NULL, NULL, 0, 0 },
    { "email", SALES_F_STRING, 0, 3, 254, NULL, sales_check_email, NULL, 0,
      0 },
    { "phone", SALES_F_STRING, 0, 3, 32, NULL, sales_check_phone, NULL, 0,
      0 },
    { "is_primary", SALES_F_BOOL, SALES_F_NOTNULL, 0, 0, NULL, NULL, NULL, 0,
      1 },
    { "notes", SALES_F_STRING, SALES_F_MULTILINE, 0, 10000, NULL, NULL, NULL,
      0, 0 },
    { NULL, 0, 0, 0, 0, NULL, NULL, NULL, 0, 0 }
};

static const sales_resource_t  contacts_res = {
    "contacts", "contact", "contact", contact_fields, NULL, NULL, NULL
};


static int
check_trade_register(sales_ctx_t *ctx, const sales_field_t *f,
    json_t **value)
{
    const char  *s = json_string_value(*value);
    size_t       i, len = json_string_length(*value);

    for (i = 0; i < len; i++) {
        if (!isupper((unsigned char) s[i]) && !isdigit((unsigned char) s[i])
            && !strchr("/.-", s[i]))
        {
            return sales_field_error(ctx, f->name,
                                     "may hold only A-Z, 0-9, / . -");
        }
    }

    return 0;
}


/*
 * The tax id, checked against the country: for RO a CUI/CIF with an
 * optional RO prefix (VAT payer) and a check digit. Sets the normalized
 * tax_id, the unique key and vat_payer in write.
 */
static int
derive_tax_id(sales_ctx_t *ctx, json_t *merged, json_t *write)
{
    const char  *raw, *country;
    char         norm[40], key[48];
    size_t       i, n = 0, len;
    int          vat = 0;

    raw = json_string_value(json_object_get(merged, "tax_id"));
    country = json_string_value(json_object_get(merged, "country"));

    if (raw == NULL) {
        json_object_set_new(write, "tax_key", json_null());
        json_object_set_new(write, "vat_payer", json_false());
        return 0;
    }

    len = strlen(raw);

    for (i = 0; i < len && n < sizeof(norm) - 1; i++) {
        if (raw[i] != ' ') {
            norm[n++] = (char) toupper((unsigned char) raw[i]);
        }
    }

    norm[n] = '\0';

    if (country && strcmp(country, "RO") == 0) {
        const char  *digits = norm;

        if (n >= 2 && norm[0] == 'R' && norm[1] == 'O') {
            vat = 1;
            digits += 2;
        }

        if (!sales_cui_valid(digits, strlen(digits))) {
            return sales_field_error(ctx, "tax_id",
                                     "is not a valid Romanian CUI/CIF "
                                     "(2 to 10 digits, optional RO prefix, "
                                     "check digit must match)");
        }

        snprintf(key, sizeof(key), "RO:%s", digits);

    } else {
        for (i = 0; i < n; i++) {
            if (!isalnum((unsigned char) norm[i]) && !strchr("-./", norm[i]))
            {
                return sales_field_error(ctx, "tax_id",
                                         "may hold only A-Z, 0-9, - . /");
            }
        }

        vat = country && n > 2 && memcmp(norm, country, 2) == 0;
        snprintf(key, sizeof(key), "%s:%s", country ? country : "",
                 vat ? norm + 2 : norm);
    }

    json_object_set_new(write, "tax_id", json_string(norm));
    json_object_set_new(write, "tax_key", json_string(key));
    json_object_set_new(write, "vat_payer", json_boolean(vat));
    return 0;
}


static int
client_derive(sales_ctx_t *ctx, json_t *before, json_t *merged,
    json_t *write)
{
    json_t  *owner, *list;
    int      rc = 0, may;

    if (json_object_get(write, "tax_id") || json_object_get(write, "country"))
    {
        rc = derive_tax_id(ctx, merged, write);
    }

    if (json_object_get(write, "name")) {
        const char  *name = json_string_value(json_object_get(write, "name"));
        char        *folded = sales_fold(name, strlen(name));

        if (folded == NULL) {
            return sales_fail(ctx, 500, "internal", "out of memory");
        }

        json_object_set_new(write, "name_search", json_string(folded));
        free(folded);
    }

    list = json_object_get(write, "price_list_id");

    if (list) {
        if (ctx->user.role != SALES_ROLE_ADMIN
            && ctx->user.role != SALES_ROLE_MANAGER)
        {
            return sales_forbidden(ctx, "only a manager or an admin assigns "
                                   "price lists");
        }

        if (!json_is_null(list)) {
            json_t   *binds = json_pack("[O]", list);
            int64_t   n = sales_count(ctx, "SELECT count(*) FROM price_lists"
                                           " WHERE id = ?", binds);

            json_decref(binds);

            if (n < 0) {
                return -1;
            }

            if (n == 0) {
                rc = sales_field_error(ctx, "price_list_id",
                                       "no such price list");
            }
        }
    }

    owner = json_object_get(write, "owner_id");

    if (owner) {
        may = sales_may_own(ctx, json_integer_value(owner));

        if (may < 0) {
            return -1;
        }

        if (may == 0) {
            rc = sales_field_error(ctx, "owner_id",
                                   ctx->user.role == SALES_ROLE_AE
                                   ? "an account executive may only own "
                                     "their own clients"
                                   : "must be an active manager or account "
                                     "executive you manage");
        }
    }

    return rc;
}


/* Loads a client the caller may see; anything else is "not found". */
int
sales_client_load(sales_ctx_t *ctx, int64_t id, json_t **out)
{
    int  rc;

    rc = sales_load_owned(ctx, &clients_res, id, out);
    return rc;
}


/* A client whatever its owner: for documents of records already
 * visible through their own owner. */
int
sales_load_client_any(sales_ctx_t *ctx, int64_t id, json_t **out)
{
    return sales_load(ctx, &clients_res, id, NULL, NULL, out);
}


static int
require_active(sales_ctx_t *ctx, json_t *client)
{
    if (!json_is_null(json_object_get(client, "archived_at"))) {
        return sales_fail(ctx, 409, "conflict",
                          "the client is archived; unarchive it first");
    }

    return 0;
}


/* The audit row and the outbox event of one client change. */
static int
client_changed(sales_ctx_t *ctx, const char *action, const char *event,
    int64_t id, json_t *changes, json_t **out)
{
    json_t  *data;
    int      rc;

    if (sales_audit(ctx, action, "client", id, changes) != 0
        || sales_client_load(ctx, id, out) != 0)
    {
        return -1;
    }

    data = json_pack("{s:O}", "client", *out);
    if (strcmp(action, "update") == 0) {
        json_object_set(data, "changes", changes);
    }

    rc = sales_event(ctx, event, "client", id, data);
    json_decref(data);
    return rc;
}


int
sales_clients_create(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    json_t   *created;
    int64_t   id;
    int       rc;

    if (!json_object_get(body, "owner_id")) {
        json_object_set_new(body, "owner_id", json_integer(ctx->user.id));
    }

    id = sales_create_row(ctx, &clients_res, body);

    if (id < 0 || sales_load(ctx, &clients_res, id, NULL, NULL, &created)
                  != 0)
    {
        return -1;
    }

    rc = client_changed(ctx, "create", "client.created", id, created, out);
    json_decref(created);

    if (rc != 0) {
        return -1;
    }

    snprintf(ctx->location, sizeof(ctx->location), "/clients/%lld",
             (long long) id);
    return 201;
}


int
sales_clients_get(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    return sales_client_load(ctx, ctx->ids[0], out) == 0 ? 200 : -1;
}


int
sales_clients_update(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    json_t   *before, *changes = NULL, *diff;
    int64_t   id = ctx->ids[0];
    int       rc = -1;

    if (sales_client_load(ctx, id, &before) != 0) {
        return -1;
    }

    if (require_active(ctx, before) != 0
        || sales_validate(ctx, &clients_res, body, before, &changes) != 0
        || sales_update(ctx, &clients_res, id, before, changes, &diff) != 0)
    {
        goto done;
    }

    if (json_object_size(diff) == 0) {
        *out = json_incref(before);
        rc = 200;

    } else {
        rc = client_changed(ctx, "update", "client.updated", id, diff, out)
             == 0 ? 200 : -1;
    }

    json_decref(diff);

done:

    json_decref(changes);
    json_decref(before);
    return rc;
}


static int
set_archived(sales_ctx_t *ctx, int archive, json_t **out)
{
    json_t   *before, *value, *changes;
    int64_t   id = ctx->ids[0];
    int       rc, is_archived;

    if (sales_client_load(ctx, id, &before) != 0) {
        return -1;
    }

    is_archived = !json_is_null(json_object_get(before, "archived_at"));

    if (is_archived == archive) {
        json_decref(before);
        return sales_fail(ctx, 409, "conflict", archive
                          ? "the client is archived already"
                          : "the client is not archived");
    }

    value = archive ? json_integer(ctx->now_ms) : json_null();
    rc = sales_set_column(ctx, &clients_res, id, "archived_at", value);
    json_decref(value);

    if (rc != 0) {
        json_decref(before);
        return -1;
    }

    changes = json_pack("{s:[Os]}", "archived_at",
                        json_object_get(before, "archived_at"),
                        archive ? "set" : "cleared");
    json_decref(before);

    rc = client_changed(ctx, archive ? "archive" : "unarchive",
                        archive ? "client.archived" : "client.unarchived",
                        id, changes, out);
    json_decref(changes);

    return rc == 0 ? 200 : -1;
}


int
sales_clients_archive(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    if (json_object_size(body) > 0) {
        return sales_fail(ctx, 400, "malformed", "archive takes no body");
    }

    return set_archived(ctx, 1, out);
}


int
sales_clients_unarchive(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    if (json_object_size(body) > 0) {
        return sales_fail(ctx, 400, "malformed", "unarchive takes no body");
    }

    return set_archived(ctx, 0, out);
}


int
sales_clients_list(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    sales_buf_t   where = {0};
    const char   *q, *tax, *ext, *archived;
    json_t       *binds = json_array();
    int           rc = -1;

    sales_scope_sql(ctx, "t.owner_id", &where, binds);

    if (sales_owner_filter(ctx, "t.owner_id", &where, binds) != 0) {
        goto done;
    }

    q = sales_param(ctx, "q");
    if (q && q[0]
        && sales_like_filter(ctx, "t.name_search", q, &where, binds) != 0)
    {
        goto done;
    }

    tax = sales_param(ctx, "tax_id");
    if (tax && tax[0]) {
        char    norm[40];
        size_t  i, n = 0;

        for (i = 0; tax[i] && n < sizeof(norm) - 1; i++) {
            if (tax[i] != ' ') {
                norm[n++] = (char) toupper((unsigned char) tax[i]);
            }
        }
        norm[n] = '\0';

        sales_buf_adds(&where, " AND (t.tax_id = ? OR t.tax_key = ?)");
        json_array_append_new(binds, json_string(norm));
        json_array_append_new(binds,
                              json_sprintf("RO:%s",
                                           strncmp(norm, "RO", 2) == 0
                                           ? norm + 2 : norm));
    }

    ext = sales_param(ctx, "external_id");
    if (ext) {
        sales_buf_adds(&where, " AND t.external_id = ?");
        json_array_append_new(binds, json_string(ext));
    }

    archived = sales_param(ctx, "archived");
    if (archived == NULL || strcmp(archived, "false") == 0) {
        sales_buf_adds(&where, " AND t.archived_at IS NULL");

    } else if (strcmp(archived, "true") == 0) {
        sales_buf_adds(&where, " AND t.archived_at IS NOT NULL");

    } else if (strcmp(archived, "all") != 0) {
        sales_param_error(ctx, "archived", "must be false, true or all");
        goto done;
    }

    rc = sales_list(ctx, &clients_res, NULL, &where, binds, 0, out) == 0
         ? 200 : -1;

done:

    sales_buf_free(&where);
    json_decref(binds);
    return rc;
}


/* Contacts: visibility and writability follow the client. */

static int
contact_client(sales_ctx_t *ctx, int for_write)
{
    json_t  *client;
    int      rc = 0;

    if (sales_client_load(ctx, ctx->ids[0], &client) != 0) {
        return -1;
    }

    if (for_write) {
        rc = require_active(ctx, client);
    }

    json_decref(client);
    return rc;
}


static int
load_contact(sales_ctx_t *ctx, json_t **out)
{
    json_t  *binds = json_pack("[I]", (json_int_t) ctx->ids[0]);
    int      rc;

    rc = sales_load(ctx, &contacts_res, ctx->ids[1], "t.client_id = ?", binds,
                    out);
    json_decref(binds);
    return rc;
}


/* One primary contact per client: making one primary clears the rest. */
static int
clear_other_primaries(sales_ctx_t *ctx, int64_t contact_id)
{
    sqlite3_stmt  *st;

    st = sales_prepare(ctx, "UPDATE contacts SET is_primary = 0,"
                            " updated_at = ?, version = version + 1"
                            " WHERE client_id = ? AND id != ?"
                            " AND is_primary = 1");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, ctx->now_ms);
    sqlite3_bind_int64(st, 2, ctx->ids[0]);
    sqlite3_bind_int64(st, 3, contact_id);

    return sales_step_done(ctx, st);
}


int
sales_contacts_create(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    json_t   *values;
    int64_t   id;

    if (contact_client(ctx, 1) != 0) {
        return -1;
    }

    if (sales_validate(ctx, &contacts_res, body, NULL, &values) != 0) {
        json_decref(values);
        return -1;
    }

    json_object_set_new(values, "client_id", json_integer(ctx->ids[0]));
    id = sales_insert(ctx, &contacts_res, values);

    if (id < 0
        || (json_is_true(json_object_get(values, "is_primary"))
            && clear_other_primaries(ctx, id) != 0))
    {
        json_decref(values);
        return -1;
    }

    json_decref(values);
    ctx->ids[1] = id;

    if (load_contact(ctx, out) != 0
        || sales_audit(ctx, "create", "contact", id, *out) != 0)
    {
        return -1;
    }

    snprintf(ctx->location, sizeof(ctx->location),
             "/clients/%lld/contacts/%lld", (long long) ctx->ids[0],
             (long long) id);
    return 201;
}


int
sales_contacts_list(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    sales_buf_t  where = {0};
    json_t      *binds;
    int          rc;

    if (contact_client(ctx, 0) != 0) {
        return -1;
    }

    binds = json_pack("[I]", (json_int_t) ctx->ids[0]);
    sales_buf_adds(&where, "t.client_id = ?");

    rc = sales_list(ctx, &contacts_res, NULL, &where, binds, 0, out);

    sales_buf_free(&where);
    json_decref(binds);
    return rc == 0 ? 200 : -1;
}


int
sales_contacts_get(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    if (contact_client(ctx, 0) != 0 || load_contact(ctx, out) != 0) {
        return -1;
    }

    return 200;
}


int
sales_contacts_update(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    json_t  *before, *changes = NULL, *diff = NULL;
    int      rc = -1;

    if (contact_client(ctx, 1) != 0 || load_contact(ctx, &before) != 0) {
        return -1;
    }

    if (sales_validate(ctx, &contacts_res, body, before, &changes) != 0
        || sales_update(ctx, &contacts_res, ctx->ids[1], before, changes,
                        &diff) != 0)
    {
        goto done;
    }

    if (json_is_true(json_object_get(diff, "is_primary") ? json_array_get(
            json_object_get(diff, "is_primary"), 1) : NULL)
        && clear_other_primaries(ctx, ctx->ids[1]) != 0)
    {
        goto done;
    }

    if (json_object_size(diff)
        && sales_audit(ctx, "update", "contact", ctx->ids[1], diff) != 0)
    {
        goto done;
    }

    rc = load_contact(ctx, out) == 0 ? 200 : -1;

done:

    json_decref(diff);
    json_decref(changes);
    json_decref(before);
    return rc;
}


int
sales_contacts_delete(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    json_t        *before;
    int            rc;

    if (contact_client(ctx, 1) != 0 || load_contact(ctx, &before) != 0) {
        return -1;
    }

    rc = sales_delete_row(ctx, &contacts_res, ctx->ids[1], before) == 0;
    json_decref(before);

    return rc ? 204 : -1;
}
