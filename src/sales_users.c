/*
 * Users, their API tokens, and /me.
 */

#include "sales_resource.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static const char *const  roles[] = {
    "admin", "manager", "ae", "integration", NULL
};

static int user_derive(sales_ctx_t *ctx, json_t *before, json_t *merged,
    json_t *write);

static const sales_field_t  user_fields[] = {
    { "name", SALES_F_STRING, SALES_F_REQUIRED, 1, 200, NULL, NULL, NULL, 0,
      0 },
    { "email", SALES_F_STRING, 0, 3, 254, NULL, sales_check_email, NULL, 0,
      0 },
    { "role", SALES_F_ENUM, SALES_F_REQUIRED, 0, 0, roles, NULL, NULL, 0, 0 },
    { "manager_id", SALES_F_INT, 0, 1, INT64_MAX, NULL, NULL, NULL, 0, 0 },
    { "disabled", SALES_F_BOOL, SALES_F_NOTNULL, 0, 0, NULL, NULL, NULL, 0,
      1 },
    { NULL, 0, 0, 0, 0, NULL, NULL, NULL, 0, 0 }
};

static const sales_resource_t  users_res = {
    "users", "user", "user", user_fields, NULL, user_derive,
    "/users"
};


/* A manager_id must name an active manager other than the user. */
static int
user_derive(sales_ctx_t *ctx, json_t *before, json_t *merged,
    json_t *write)
{
    sqlite3_stmt  *st;
    json_t        *m = json_object_get(write, "manager_id");
    int            rc;

    if (m == NULL || json_is_null(m)) {
        return 0;
    }

    if (json_integer_value(m)
        == json_integer_value(json_object_get(merged, "id")))
    {
        return sales_field_error(ctx, "manager_id",
                                 "a user cannot manage themselves");
    }

    st = sales_prepare(ctx, "SELECT 1 FROM users WHERE id = ?"
                            " AND role = 'manager' AND disabled = 0");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, json_integer_value(m));
    rc = sqlite3_step(st);
    sales_finish(st);

    if (rc == SQLITE_DONE) {
        return sales_field_error(ctx, "manager_id",
                                 "must be the id of an active manager");
    }

    if (rc != SQLITE_ROW) {
        return sales_db_error(ctx, "checking a manager");
    }

    return 0;
}


/* Which users the caller may see: admins all, a manager self and team,
 * everyone else only self. */
static void
user_scope(sales_ctx_t *ctx, sales_buf_t *where, json_t *binds)
{
    if (ctx->user.role == SALES_ROLE_ADMIN) {
        sales_buf_adds(where, "1");

    } else if (ctx->user.role == SALES_ROLE_MANAGER) {
        sales_buf_adds(where, "(t.id = ? OR t.manager_id = ?)");
        json_array_append_new(binds, json_integer(ctx->user.id));
        json_array_append_new(binds, json_integer(ctx->user.id));

    } else {
        sales_buf_adds(where, "t.id = ?");
        json_array_append_new(binds, json_integer(ctx->user.id));
    }
}


static int
load_visible_user(sales_ctx_t *ctx, int64_t id, json_t **out)
{
    return sales_load_scoped(ctx, &users_res, id, user_scope, out);
}


static int
add_team(sales_ctx_t *ctx, json_t *user)
{
    sqlite3_stmt  *st;
    json_t        *team = json_array();
    int            rc;

    json_object_set_new(user, "team", team);

    if (strcmp(json_string_value(json_object_get(user, "role")), "manager")
        != 0)
    {
        return 0;
    }

    st = sales_prepare(ctx, "SELECT id FROM users WHERE manager_id = ?"
                            " ORDER BY id");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, json_integer_value(json_object_get(user, "id")));

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_array_append_new(team, json_integer(sqlite3_column_int64(st, 0)));
    }

    sales_finish(st);

    return rc == SQLITE_DONE ? 0 : sales_db_error(ctx, "reading a team");
}


int
sales_me_get(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    json_t  *binds;
    int      rc;

    if (sales_load(ctx, &users_res, ctx->user.id, NULL, NULL, out) != 0
        || add_team(ctx, *out) != 0)
    {
        return -1;
    }

    binds = json_pack("[I]", (json_int_t) ctx->user.id);
    rc = sales_commission_this_month(ctx, "t.owner_id = ?", binds, *out);
    json_decref(binds);

    return rc == 0 ? 200 : -1;
}


int
sales_users_create(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    json_t   *user, *token;
    int64_t   id;

    id = sales_create_row(ctx, &users_res, body);

    if (id < 0 || sales_load(ctx, &users_res, id, NULL, NULL, &user) != 0) {
        return -1;
    }

    if (sales_audit(ctx, "create", "user", id, user) != 0) {
        json_decref(user);
        return -1;
    }

    if (sales_token_create(ctx->db, id, "initial", ctx->now_ms, &token) != 0)
    {
        json_decref(user);
        return sales_db_error(ctx, "creating a token");
    }

    json_object_set(user, "token", json_object_get(token, "token"));
    json_decref(token);

    snprintf(ctx->location, sizeof(ctx->location), "/users/%lld",
             (long long) id);
    *out = user;
    return 201;
}


int
sales_users_list(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    sales_buf_t   where = {0};
    const char   *role;
    json_t       *binds = json_array();
    int64_t       manager_id;
    int           disabled, rc = -1;

    user_scope(ctx, &where, binds);

    role = sales_param(ctx, "role");
    if (role) {
        if (sales_role_parse(role) == 0) {
            sales_param_error(ctx, "role", "must be one of: admin, manager, "
                              "ae, integration");
            goto done;
        }
        sales_buf_adds(&where, " AND t.role = ?");
        json_array_append_new(binds, json_string(role));
    }

    if (sales_param_int(ctx, "manager_id", 1, INT64_MAX, &manager_id) != 0
        || sales_param_bool(ctx, "disabled", &disabled) != 0)
    {
        goto done;
    }

    if (manager_id) {
        sales_buf_adds(&where, " AND t.manager_id = ?");
        json_array_append_new(binds, json_integer(manager_id));
    }

    if (disabled >= 0) {
        sales_buf_adds(&where, " AND t.disabled = ?");
        json_array_append_new(binds, json_integer(disabled));
    }

    rc = sales_list(ctx, &users_res, NULL, &where, binds, 0, out) == 0
         ? 200 : -1;

done:

    sales_buf_free(&where);
    json_decref(binds);
    return rc;
}


int
sales_users_get(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    if (load_visible_user(ctx, ctx->ids[0], out) != 0
        || add_team(ctx, *out) != 0)
    {
        return -1;
    }

    return 200;
}


int
sales_users_update(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    json_t   *before, *changes, *diff, *disabled;
    int64_t   id = ctx->ids[0];
    int       rc;

    if (load_visible_user(ctx, id, &before) != 0) {
        return -1;
    }

    if (sales_validate(ctx, &users_res, body, before, &changes) != 0) {
        goto failed;
    }

    disabled = json_object_get(changes, "disabled");

    if (id == ctx->user.id
        && ((disabled && json_is_true(disabled))
            || (json_object_get(changes, "role")
                && strcmp(json_string_value(json_object_get(changes, "role")),
                          "admin") != 0)))
    {
        sales_field_error(ctx, disabled ? "disabled" : "role",
                          "an admin cannot disable or demote themselves");
        sales_validation_failed(ctx);
        goto failed;
    }

    if (sales_update(ctx, &users_res, id, before, changes, &diff) != 0) {
        goto failed;
    }

    rc = json_object_size(diff) ? sales_audit(ctx, "update", "user", id, diff)
                                : 0;
    json_decref(diff);
    json_decref(changes);
    json_decref(before);

    if (rc != 0 || sales_load(ctx, &users_res, id, NULL, NULL, out) != 0
        || add_team(ctx, *out) != 0)
    {
        return -1;
    }

    return 200;

failed:

    json_decref(changes);
    json_decref(before);
    return -1;
}


/* Tokens: a user's own, or anyone's for an admin. */
static int
token_owner_allowed(sales_ctx_t *ctx, int64_t user_id)
{
    json_t  *user;

    if (ctx->user.role != SALES_ROLE_ADMIN && user_id != ctx->user.id) {
        /* Someone else's tokens: as if the user did not exist, unless
         * the caller may see the user at all. */
        if (load_visible_user(ctx, user_id, &user) != 0) {
            return -1;
        }
        json_decref(user);
        return sales_forbidden(ctx, "only admins manage other users' tokens");
    }

    if (load_visible_user(ctx, user_id, &user) != 0) {
        return -1;
    }

    json_decref(user);
    return 0;
}


int
sales_tokens_create(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    json_t       *label, *token;
    const char   *key;
    json_t       *v;
    int64_t       user_id = ctx->ids[0];
    int           rc;

    if (token_owner_allowed(ctx, user_id) != 0) {
        return -1;
    }

    json_object_foreach(body, key, v) {
        if (strcmp(key, "label") != 0) {
            sales_field_error(ctx, key, "unknown field");
        }
    }

    label = json_object_get(body, "label");
    if (label && !json_is_null(label)
        && (!json_is_string(label) || json_string_length(label) > 100
            || json_string_length(label) == 0))
    {
        sales_field_error(ctx, "label", "must be a string of 1 to 100 "
                          "characters");
    }

    if (json_array_size(ctx->errors)) {
        return sales_validation_failed(ctx);
    }

    if (sales_token_create(ctx->db, user_id,
                           json_is_string(label) ? json_string_value(label)
                                                 : NULL,
                           ctx->now_ms, &token)
        != 0)
    {
        return sales_db_error(ctx, "creating a token");
    }

    v = json_pack("{s:I, s:O}", "user_id", (json_int_t) user_id,
                  "label", label ? label : json_null());
    rc = sales_audit(ctx, "create", "token",
                     json_integer_value(json_object_get(token, "id")), v);
    json_decref(v);

    if (rc != 0) {
        json_decref(token);
        return -1;
    }

    snprintf(ctx->location, sizeof(ctx->location), "/users/%lld/tokens/%lld",
             (long long) user_id,
             (long long) json_integer_value(json_object_get(token, "id")));
    *out = token;
    return 201;
}


int
sales_tokens_list(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    sqlite3_stmt  *st;
    json_t        *items;
    int            rc;

    if (token_owner_allowed(ctx, ctx->ids[0]) != 0) {
        return -1;
    }

    st = sales_prepare(ctx, "SELECT id, label, prefix, created_at, revoked_at"
                            " FROM api_tokens WHERE user_id = ? ORDER BY id");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, ctx->ids[0]);
    items = json_array();

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        char     created[32], revoked[32];
        json_t  *t;

        sales_time_format(sqlite3_column_int64(st, 3), created);
        t = json_pack("{s:I, s:I, s:s?, s:s, s:s}",
                      "id", (json_int_t) sqlite3_column_int64(st, 0),
                      "user_id", (json_int_t) ctx->ids[0],
                      "label", (const char *) sqlite3_column_text(st, 1),
                      "prefix", (const char *) sqlite3_column_text(st, 2),
                      "created_at", created);

        if (sqlite3_column_type(st, 4) == SQLITE_NULL) {
            json_object_set_new(t, "revoked_at", json_null());
        } else {
            sales_time_format(sqlite3_column_int64(st, 4), revoked);
            json_object_set_new(t, "revoked_at", json_string(revoked));
        }

        json_array_append_new(items, t);
    }

    sales_finish(st);

    if (rc != SQLITE_DONE) {
        json_decref(items);
        return sales_db_error(ctx, "listing tokens");
    }

    *out = json_pack("{s:o, s:n}", "items", items, "next_cursor");
    return 200;
}


int
sales_tokens_revoke(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    sqlite3_stmt  *st;
    json_t        *binds;
    int64_t        n;
    int            rc;

    if (token_owner_allowed(ctx, ctx->ids[0]) != 0) {
        return -1;
    }

    st = sales_prepare(ctx, "UPDATE api_tokens SET revoked_at = ?"
                            " WHERE id = ? AND user_id = ?"
                            " AND revoked_at IS NULL");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, ctx->now_ms);
    sqlite3_bind_int64(st, 2, ctx->ids[1]);
    sqlite3_bind_int64(st, 3, ctx->ids[0]);

    if (sales_step_done(ctx, st) != 0) {
        return -1;
    }

    if (sqlite3_changes(ctx->db) == 0) {
        binds = json_pack("[II]", (json_int_t) ctx->ids[1],
                          (json_int_t) ctx->ids[0]);
        n = sales_count(ctx, "SELECT count(*) FROM api_tokens WHERE id = ?1"
                             " AND user_id = ?2", binds);
        json_decref(binds);

        if (n < 0) {
            return -1;
        }

        /* Revoked before: nothing to do. */
        return n == 0 ? sales_not_found(ctx, "token") : 204;
    }

    binds = json_pack("{s:I}", "user_id", (json_int_t) ctx->ids[0]);
    rc = sales_audit(ctx, "revoke", "token", ctx->ids[1], binds);
    json_decref(binds);

    return rc == 0 ? 204 : -1;
}


/* salesctl's way in: no caller, no audit user. */
int
sales_user_insert(sqlite3 *db, const char *name, int role,
    int64_t manager_id, int64_t now_ms, json_t **out, char *err,
    size_t err_size)
{
    sales_ctx_t   ctx;
    json_t       *in, *values, *token;
    int64_t       id;
    int           rc = -1;

    memset(&ctx, 0, sizeof(ctx));
    ctx.db = db;
    ctx.now_ms = now_ms;
    ctx.user.role = SALES_ROLE_ADMIN;

    in = json_pack("{s:s, s:s}", "name", name, "role", sales_role_name(role));
    if (manager_id) {
        json_object_set_new(in, "manager_id", json_integer(manager_id));
    }

    if (sales_exec(&ctx, "BEGIN IMMEDIATE") != 0) {
        goto done;
    }

    if (sales_validate(&ctx, &users_res, in, NULL, &values) != 0) {
        json_decref(values);
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        goto done;
    }

    id = sales_insert(&ctx, &users_res, values);
    json_decref(values);

    if (id < 0 || sales_audit(&ctx, "create", "user", id, in) != 0
        || sales_token_create(db, id, "initial", now_ms, &token) != 0)
    {
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        goto done;
    }

    if (sales_exec(&ctx, "COMMIT") != 0) {
        json_decref(token);
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        goto done;
    }

    *out = json_pack("{s:I, s:O}", "id", (json_int_t) id,
                     "token", json_object_get(token, "token"));
    json_decref(token);
    rc = 0;

done:

    if (rc != 0) {
        snprintf(err, err_size, "%s", ctx.detail[0] ? ctx.detail : "failed");
        if (ctx.log[0]) {
            snprintf(err, err_size, "%s", ctx.log);
        }
    }

    json_decref(in);
    json_decref(ctx.errors);
    return rc;
}
