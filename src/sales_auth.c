/*
 * Bearer tokens, roles and the visibility rule.
 *
 * A token is "sat_" + base64url of 32 random bytes. Only its SHA-256 is
 * stored; a lookup by hash needs no constant-time compare, since the
 * attacker never holds the stored value.
 */

#include "sales.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>


#define TOKEN_PREFIX      "sat_"
#define TOKEN_BODY_LEN    43
#define TOKEN_LEN         (sizeof(TOKEN_PREFIX) - 1 + TOKEN_BODY_LEN)


static const char *const  role_names[] = {
    "admin", "manager", "ae", "integration", NULL
};


const char *
sales_role_name(int role)
{
    int  i;

    for (i = 0; role_names[i]; i++) {
        if (role == 1 << i) {
            return role_names[i];
        }
    }

    return "none";
}


int
sales_role_parse(const char *s)
{
    int  i;

    for (i = 0; role_names[i]; i++) {
        if (strcmp(s, role_names[i]) == 0) {
            return 1 << i;
        }
    }

    return 0;
}


static int
unauthorized(sales_ctx_t *ctx, const char *detail)
{
    return sales_fail(ctx, 401, "unauthorized", "%s", detail);
}


int
sales_auth(sales_ctx_t *ctx, const char *header, size_t len)
{
    uint8_t        hash[SALES_SHA256_LEN];
    sqlite3_stmt  *st;
    const char    *tok;
    size_t         i, tlen;
    int            rc;

    if (header == NULL || len == 0) {
        return unauthorized(ctx, "send an API token as "
                                 "\"Authorization: Bearer <token>\"");
    }

    if (len < 7 || strncasecmp(header, "Bearer ", 7) != 0) {
        return unauthorized(ctx, "the Authorization header must use the "
                                 "Bearer scheme");
    }

    tok = header + 7;
    tlen = len - 7;

    while (tlen > 0 && *tok == ' ') {
        tok++;
        tlen--;
    }

    while (tlen > 0 && tok[tlen - 1] == ' ') {
        tlen--;
    }

    if (tlen != TOKEN_LEN || memcmp(tok, TOKEN_PREFIX, 4) != 0) {
        return unauthorized(ctx, "the token is not valid");
    }

    for (i = 4; i < tlen; i++) {
        char c = tok[i];

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
              || (c >= '0' && c <= '9') || c == '-' || c == '_'))
        {
            return unauthorized(ctx, "the token is not valid");
        }
    }

    sales_sha256(tok, tlen, hash);

    st = sales_prepare(ctx,
        "SELECT u.id, u.role, u.manager_id FROM api_tokens t"
        " JOIN users u ON u.id = t.user_id"
        " WHERE t.hash = ? AND t.revoked_at IS NULL AND u.disabled = 0");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_blob(st, 1, hash, sizeof(hash), SQLITE_STATIC);

    rc = sqlite3_step(st);

    if (rc == SQLITE_ROW) {
        ctx->user.id = sqlite3_column_int64(st, 0);
        ctx->user.role = sales_role_parse(
                             (const char *) sqlite3_column_text(st, 1));
        ctx->user.manager_id = sqlite3_column_int64(st, 2);
        sales_finish(st);
        return 0;
    }

    sales_finish(st);

    if (rc != SQLITE_DONE) {
        return sales_db_error(ctx, "checking a token");
    }

    return unauthorized(ctx, "the token is not valid, was revoked, or its "
                             "user is disabled");
}


int
sales_token_create(sqlite3 *db, int64_t user_id, const char *label,
    int64_t now_ms, json_t **out)
{
    uint8_t        raw[32], hash[SALES_SHA256_LEN];
    char           token[TOKEN_LEN + 8], prefix[16], when[32];
    sqlite3_stmt  *st;
    int            rc;

    if (sales_random(raw, sizeof(raw)) != 0) {
        return -1;
    }

    memcpy(token, TOKEN_PREFIX, 4);
    sales_base64url_encode(raw, sizeof(raw), token + 4);
    sales_sha256(token, TOKEN_LEN, hash);
    snprintf(prefix, sizeof(prefix), "%.8s", token);

    rc = sqlite3_prepare_v2(db,
        "INSERT INTO api_tokens (user_id, hash, prefix, label, created_at)"
        " VALUES (?, ?, ?, ?, ?)", -1, &st, NULL);
    if (rc != SQLITE_OK) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, user_id);
    sqlite3_bind_blob(st, 2, hash, sizeof(hash), SQLITE_STATIC);
    sqlite3_bind_text(st, 3, prefix, -1, SQLITE_STATIC);
    if (label) {
        sqlite3_bind_text(st, 4, label, -1, SQLITE_STATIC);
    }
    sqlite3_bind_int64(st, 5, now_ms);

    rc = sqlite3_step(st);
    sales_finish(st);

    if (rc != SQLITE_DONE) {
        return -1;
    }

    sales_time_format(now_ms, when);

    *out = json_pack("{s:I, s:I, s:s?, s:s, s:s, s:s, s:n}",
                     "id", (json_int_t) sqlite3_last_insert_rowid(db),
                     "user_id", (json_int_t) user_id,
                     "label", label, "prefix", prefix, "token", token,
                     "created_at", when, "revoked_at");
    return *out ? 0 : -1;
}


/*
 * The visibility rule in one place: admins and integrations see every
 * owner, a manager sees their own and their team's, an AE their own.
 */
void
sales_scope_sql(sales_ctx_t *ctx, const char *column, sales_buf_t *sql,
    json_t *binds)
{
    switch (ctx->user.role) {

    case SALES_ROLE_ADMIN:
    case SALES_ROLE_INTEGRATION:
        sales_buf_adds(sql, "1");
        break;

    case SALES_ROLE_MANAGER:
        /* One IN over self and team, so an index on the column serves. */
        sales_buf_printf(sql, "%s IN (SELECT ? UNION ALL SELECT id FROM users"
                         " WHERE manager_id = ?)", column);
        json_array_append_new(binds, json_integer(ctx->user.id));
        json_array_append_new(binds, json_integer(ctx->user.id));
        break;

    default:
        sales_buf_printf(sql, "%s = ?", column);
        json_array_append_new(binds, json_integer(ctx->user.id));
        break;
    }
}


/* May the caller make owner_id the owner of a record? 1 yes, 0 no,
 * -1 on a database error. */
int
sales_may_own(sales_ctx_t *ctx, int64_t owner_id)
{
    sqlite3_stmt  *st;
    const char    *role;
    int64_t        manager;
    int            rc, ok;

    if (owner_id == ctx->user.id) {
        return ctx->user.role != SALES_ROLE_INTEGRATION;
    }

    if (ctx->user.role == SALES_ROLE_AE
        || ctx->user.role == SALES_ROLE_INTEGRATION)
    {
        return 0;
    }

    st = sales_prepare(ctx, "SELECT role, manager_id FROM users"
                            " WHERE id = ? AND disabled = 0");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, owner_id);
    rc = sqlite3_step(st);

    if (rc != SQLITE_ROW) {
        sales_finish(st);
        if (rc == SQLITE_DONE) {
            return 0;
        }
        sales_db_error(ctx, "checking an owner");
        return -1;
    }

    role = (const char *) sqlite3_column_text(st, 0);
    manager = sqlite3_column_int64(st, 1);

    ok = strcmp(role, "ae") == 0 || strcmp(role, "manager") == 0;

    if (ctx->user.role == SALES_ROLE_MANAGER) {
        ok = ok && manager == ctx->user.id;
    }

    sales_finish(st);
    return ok;
}


/*
 * ?owner=me|team|ID on top of the caller's scope: me is the caller, team
 * (managers only) is what the scope already is, an id narrows to that
 * owner (and finds nothing outside the scope).
 */
int
sales_owner_filter(sales_ctx_t *ctx, const char *column, sales_buf_t *where,
    json_t *binds)
{
    return sales_owner_param(ctx, "owner", column, where, binds);
}


/* The same rule for a parameter of another name (?user=me). */
int
sales_owner_param(sales_ctx_t *ctx, const char *name, const char *column,
    sales_buf_t *where, json_t *binds)
{
    const char  *owner = sales_param(ctx, name);
    char        *end;
    long long    id;

    if (owner == NULL) {
        return 0;
    }

    if (strcmp(owner, "me") == 0) {
        sales_buf_printf(where, " AND %s = ?", column);
        json_array_append_new(binds, json_integer(ctx->user.id));
        return 0;
    }

    if (strcmp(owner, "team") == 0) {
        if (ctx->user.role != SALES_ROLE_MANAGER) {
            return sales_param_error(ctx, name, "team is for managers");
        }
        return 0;
    }

    id = strtoll(owner, &end, 10);

    if (*owner < '1' || *owner > '9' || *end != '\0' || id <= 0) {
        return sales_param_error(ctx, name, "must be me, team or a user id");
    }

    sales_buf_printf(where, " AND %s = ?", column);
    json_array_append_new(binds, json_integer(id));
    return 0;
}


/* Is user id within the caller's scope? 1 yes, 0 no (and 404 "user not
 * found" set), -1 on a database error. */
int
sales_user_in_scope(sales_ctx_t *ctx, int64_t id)
{
    sales_buf_t  sql = {0};
    json_t      *binds = json_array();
    int64_t      n;

    sales_buf_adds(&sql, "SELECT count(*) FROM users t WHERE t.id = ? AND ");
    json_array_append_new(binds, json_integer(id));
    sales_scope_sql(ctx, "t.id", &sql, binds);
    n = sales_count_buf(ctx, &sql, binds);
    json_decref(binds);

    if (n < 0) {
        return -1;
    }

    if (n == 0) {
        sales_not_found(ctx, "user");
        return 0;
    }

    return 1;
}
