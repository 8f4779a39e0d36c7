/*
 * The audit log and the event outbox, both written inside the caller's
 * transaction so they commit or vanish with the change itself.
 */

#include "sales.h"
#include "sales_resource.h"

#include <stdlib.h>
#include <string.h>


/* A whole object as changes: {field: [null, value]} for a creation,
 * {field: [value, null]} for a deletion; bookkeeping fields left out. */
static json_t *
object_as_changes(json_t *obj, int created)
{
    const char  *key;
    json_t      *v, *out = json_object();

    json_object_foreach(obj, key, v) {
        if (json_is_null(v) || strcmp(key, "id") == 0
            || strcmp(key, "created_at") == 0
            || strcmp(key, "updated_at") == 0
            || strcmp(key, "version") == 0)
        {
            continue;
        }

        json_object_set_new(out, key, created ? json_pack("[nO]", v)
                                              : json_pack("[On]", v));
    }

    return out;
}


/*
 * One audit row. changes maps fields to [old, new]; for "create" and
 * "delete" pass the whole object and it is turned into that shape.
 */
int
sales_audit(sales_ctx_t *ctx, const char *action, const char *object_type,
    int64_t object_id, json_t *changes)
{
    sqlite3_stmt  *st;
    json_t        *shaped = NULL;
    char          *text;

    if (strcmp(action, "create") == 0 || strcmp(action, "delete") == 0) {
        shaped = object_as_changes(changes, action[0] == 'c');
        changes = shaped;
    }

    text = changes ? json_dumps(changes, JSON_COMPACT | JSON_SORT_KEYS)
                   : strdup("{}");
    json_decref(shaped);
    if (text == NULL) {
        return sales_fail(ctx, 500, "internal", "an internal error occurred");
    }

    st = sales_prepare(ctx,
        "INSERT INTO audit_log (at, user_id, action, object_type, object_id,"
        " changes, request_id) VALUES (?, ?, ?, ?, ?, ?, ?)");
    if (st == NULL) {
        free(text);
        return -1;
    }

    sqlite3_bind_int64(st, 1, ctx->now_ms);
    if (ctx->user.id) {
        sqlite3_bind_int64(st, 2, ctx->user.id);
    }
    sqlite3_bind_text(st, 3, action, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, object_type, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, object_id);
    sqlite3_bind_text(st, 6, text, -1, free);
    if (ctx->request_id) {
        sqlite3_bind_text(st, 7, ctx->request_id, -1, SQLITE_STATIC);
    }

    return sales_step_done(ctx, st);
}


/*
 * An event's payload has a stable shape: {"id","type","timestamp",
 * "data"}; data carries the subject as the API shows it.
 */
int
sales_event(sales_ctx_t *ctx, const char *type, const char *subject_type,
    int64_t subject_id, json_t *data)
{
    uint8_t        raw[16];
    char           id[40], when[32];
    sqlite3_stmt  *st;
    json_t        *payload;
    char          *text;

    if (sales_random(raw, sizeof(raw)) != 0) {
        return sales_fail(ctx, 500, "internal", "an internal error occurred");
    }

    memcpy(id, "evt_", 4);
    sales_base64url_encode(raw, sizeof(raw), id + 4);
    sales_time_format(ctx->now_ms, when);

    payload = json_pack("{s:s, s:s, s:s, s:O}", "id", id, "type", type,
                        "timestamp", when, "data", data);
    text = payload ? json_dumps(payload, JSON_COMPACT) : NULL;
    json_decref(payload);

    if (text == NULL) {
        return sales_fail(ctx, 500, "internal", "an internal error occurred");
    }

    st = sales_prepare(ctx,
        "INSERT INTO outbox (event_id, type, subject_type, subject_id,"
        " payload, created_at) VALUES (?, ?, ?, ?, ?, ?)");
    if (st == NULL) {
        free(text);
        return -1;
    }

    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, type, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, subject_type, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, subject_id);
    sqlite3_bind_text(st, 5, text, -1, free);
    sqlite3_bind_int64(st, 6, ctx->now_ms);

    return sales_step_done(ctx, st);
}


/*
 * An event about a document, whose data carries it as the API shows it
 * under its type's name ({"contract": {…}}), with extra's keys beside.
 */
int
sales_document_event(sales_ctx_t *ctx, const char *type,
    const char *subject_type, json_t *doc, json_t *extra)
{
    json_t  *data;
    int      rc;

    data = json_pack("{s:O}", subject_type, doc);
    if (data == NULL) {
        return sales_fail(ctx, 500, "internal", "out of memory");
    }

    if (extra) {
        json_object_update(data, extra);
    }

    rc = sales_event(ctx, type, subject_type, sales_jint(doc, "id"), data);
    json_decref(data);
    return rc;
}


static const sales_field_t  audit_fields[] = {
    { "at", SALES_F_TIME, SALES_F_READONLY, 0, 0, NULL, NULL, NULL, 0, 0 },
    { "user_id", SALES_F_INT, SALES_F_READONLY, 0, 0, NULL, NULL, NULL, 0, 0 },
    { "action", SALES_F_STRING, SALES_F_READONLY, 0, 0, NULL, NULL, NULL, 0,
      0 },
    { "object_type", SALES_F_STRING, SALES_F_READONLY, 0, 0, NULL, NULL, NULL,
      0, 0 },
    { "object_id", SALES_F_INT, SALES_F_READONLY, 0, 0, NULL, NULL, NULL, 0,
      0 },
    { "changes", SALES_F_STRING, SALES_F_READONLY, 0, 0, NULL, NULL, NULL, 0,
      0 },
    { "request_id", SALES_F_STRING, SALES_F_READONLY, 0, 0, NULL, NULL, NULL,
      0, 0 },
    { NULL, 0, 0, 0, 0, NULL, NULL, NULL, 0, 0 }
};


/* The audit table has no created_at/updated_at/version of its own; a
 * view gives it the common shape. */
static const sales_resource_t  audit_res = {
    "audit_log", "audit", "audit entry", audit_fields, NULL, NULL,
    "/audit"
};


int
sales_audit_list(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    sales_buf_t   where = {0};
    const char   *type;
    json_t       *binds, *item;
    int64_t       object_id, user_id;
    size_t        i;
    int           rc;

    binds = json_array();
    sales_buf_adds(&where, "1");

    type = sales_param(ctx, "object_type");
    if (type) {
        sales_buf_adds(&where, " AND t.object_type = ?");
        json_array_append_new(binds, json_string(type));
    }

    if (sales_param_int(ctx, "object_id", 1, INT64_MAX, &object_id) != 0
        || sales_param_int(ctx, "user_id", 1, INT64_MAX, &user_id) != 0)
    {
        rc = -1;
        goto done;
    }

    if (object_id) {
        sales_buf_adds(&where, " AND t.object_id = ?");
        json_array_append_new(binds, json_integer(object_id));
    }

    if (user_id) {
        sales_buf_adds(&where, " AND t.user_id = ?");
        json_array_append_new(binds, json_integer(user_id));
    }

    rc = sales_list(ctx, &audit_res,
                    "(SELECT *, at AS created_at, at AS updated_at,"
                    " 1 AS version FROM audit_log) t",
                    &where, binds, 1, out);

    if (rc == 0) {
        json_array_foreach(json_object_get(*out, "items"), i, item) {
            const char  *text;
            json_t      *parsed;

            text = json_string_value(json_object_get(item, "changes"));
            parsed = text ? json_loads(text, 0, NULL) : NULL;
            json_object_set_new(item, "changes",
                                parsed ? parsed : json_object());
            json_object_del(item, "created_at");
            json_object_del(item, "updated_at");
            json_object_del(item, "version");
        }
    }

done:

    sales_buf_free(&where);
    json_decref(binds);
    return rc == 0 ? 200 : -1;
}
