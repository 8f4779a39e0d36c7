/*
 * One API request from start to answer, on a thread-pool thread:
 * the clock, the token, the route, the role, the query, the body,
 * the idempotency key, then the handler inside one transaction.
 */

#include "sales.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>


#define JSON_TYPE     "application/json"
#define PROBLEM_TYPE  "application/problem+json"

/* Decimals (rates, days) print as written: 0.6667, not 0.66669999999999996. */
#define JSON_OUTPUT   (JSON_COMPACT | JSON_REAL_PRECISION(15))


void
sales_http_resp_free(sales_http_resp_t *resp)
{
    free(resp->body);
    resp->body = NULL;
    resp->body_len = 0;
}


static void
set_body(sales_http_resp_t *resp, json_t *json, const char *type)
{
    char  *text;

    text = json_dumps(json, JSON_OUTPUT);

    if (text == NULL) {
        resp->status = 500;
        resp->content_type = PROBLEM_TYPE;
        text = strdup("{\"type\":\"urn:sales:problem:internal\","
                      "\"title\":\"Internal error\",\"status\":500,"
                      "\"detail\":\"out of memory\"}");
        type = PROBLEM_TYPE;
    }

    free(resp->body);
    resp->body = text;
    resp->body_len = text ? strlen(text) : 0;
    resp->content_type = type;
}


void
sales_problem_response(sales_http_resp_t *resp, int status,
    const char *problem, const char *detail, const char *request_id)
{
    json_t  *p;

    p = sales_problem_json(status, problem, detail, request_id, NULL);
    resp->status = status;
    set_body(resp, p, PROBLEM_TYPE);
    json_decref(p);
}


static void
answer_error(sales_ctx_t *ctx, sales_http_resp_t *resp)
{
    json_t  *p;

    if (ctx->status == 0) {
        ctx->status = 500;
        ctx->problem = "internal";
        snprintf(ctx->detail, sizeof(ctx->detail),
                 "an internal error occurred");
    }

    p = sales_problem_json(ctx->status, ctx->problem, ctx->detail,
                           ctx->request_id, ctx->errors);
    resp->status = ctx->status;
    set_body(resp, p, PROBLEM_TYPE);
    json_decref(p);

    if (ctx->status == 401) {
        resp->www_authenticate = 1;
    }

    if (ctx->status == 503) {
        resp->retry_after = 1;
    }
}


static void
ctx_reset_error(sales_ctx_t *ctx)
{
    ctx->status = 0;
    ctx->problem = NULL;
    ctx->detail[0] = '\0';
    json_decref(ctx->errors);
    ctx->errors = NULL;
    ctx->busy = 0;
    ctx->location[0] = '\0';
}


/* Nesting is bounded before jansson sees the text, so no input can run
 * the parser's recursion deep. */
static int
json_depth_ok(const char *s, size_t len, int max)
{
    size_t  i;
    int     depth = 0, in_string = 0;

    for (i = 0; i < len; i++) {
        char  c = s[i];

        if (in_string) {
            if (c == '\\') {
                i++;
            } else if (c == '"') {
                in_string = 0;
            }
            continue;
        }

        if (c == '"') {
            in_string = 1;

        } else if (c == '{' || c == '[') {
            if (++depth > max) {
                return 0;
            }

        } else if (c == '}' || c == ']') {
            depth--;
        }
    }

    return 1;
}


static int
content_type_is_json(const char *s, size_t len)
{
    size_t  n = 0;

    while (n < len && s[n] != ';' && s[n] != ' ') {
        n++;
    }

    if (n == 16 && strncasecmp(s, "application/json", 16) == 0) {
        return 1;
    }

    /* application/<something>+json */
    return n > 17 && strncasecmp(s, "application/", 12) == 0
           && strncasecmp(s + n - 5, "+json", 5) == 0;
}


static int
parse_body(sales_ctx_t *ctx, const sales_http_req_t *req, json_t **body)
{
    json_error_t  err;
    size_t        i;

    *body = NULL;

    for (i = 0; i < req->body_len; i++) {
        char c = req->body[i];

        if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
            break;
        }
    }

    if (i == req->body_len) {
        *body = json_object();
        return 0;
    }

    if (req->content_type_len == 0
        || !content_type_is_json(req->content_type, req->content_type_len))
    {
        return sales_fail(ctx, 415, "unsupported-media-type",
                          "send the body as application/json");
    }

    if (!json_depth_ok(req->body, req->body_len, SALES_MAX_JSON_DEPTH)) {
        return sales_fail(ctx, 400, "malformed",
                          "the JSON body nests deeper than %d levels",
                          SALES_MAX_JSON_DEPTH);
    }

    *body = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES,
                       &err);
    if (*body == NULL) {
        return sales_fail(ctx, 400, "malformed",
                          "the body is not valid JSON: %s (line %d, column "
                          "%d)", err.text, err.line, err.column);
    }

    if (!json_is_object(*body)) {
        json_decref(*body);
        *body = NULL;
        return sales_fail(ctx, 400, "malformed",
                          "the body must be a JSON object");
    }

    return 0;
}


/* "abc" or abc; 1-255 characters of A-Z a-z 0-9 . _ : - */
int
sales_idem_key_parse(const char *in, size_t len, char *out, size_t out_size)
{
    size_t  i;

    if (len >= 2 && in[0] == '"' && in[len - 1] == '"') {
        in++;
        len -= 2;
    }

    if (len == 0 || len > 255 || len >= out_size) {
        return -1;
    }

    for (i = 0; i < len; i++) {
        char c = in[i];

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
              || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':'
              || c == '-'))
        {
            return -1;
        }
    }

    memcpy(out, in, len);
    out[len] = '\0';
    return 0;
}


typedef struct {
    char         key[256];
    char         method[8];
    char        *path;
    uint8_t      fingerprint[SALES_SHA256_LEN];
} idem_t;


enum {
    IDEM_PROCEED = 0,
    IDEM_ANSWERED = 1,
    IDEM_ERROR = -1
};


static void
idem_bind_key(sqlite3_stmt *st, int first, sales_ctx_t *ctx, idem_t *ik)
{
    sqlite3_bind_int64(st, first, ctx->user.id);
    sqlite3_bind_text(st, first + 1, ik->method, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, first + 2, ik->path, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, first + 3, ik->key, -1, SQLITE_STATIC);
}


/*
 * Claims the key in a short transaction of its own: a finished request
 * is replayed, another body is refused, a running one answers 409, and
 * otherwise the key is marked running for us.
 */
static int
idem_claim(sales_ctx_t *ctx, idem_t *ik, sales_http_resp_t *resp)
{
    sqlite3_stmt  *st;
    int            rc, result = IDEM_ERROR;

    if (sales_exec(ctx, "BEGIN IMMEDIATE") != 0) {
        return IDEM_ERROR;
    }

    st = sales_prepare(ctx, "DELETE FROM idempotency_keys"
                            " WHERE expires_at < ?");
    if (st == NULL) {
        goto rollback;
    }

    sqlite3_bind_int64(st, 1, ctx->now_ms);
    if (sales_step_done(ctx, st) != 0) {
        goto rollback;
    }

    st = sales_prepare(ctx,
        "SELECT fingerprint, state, status, body, location, created_at"
        " FROM idempotency_keys"
        " WHERE user_id = ? AND method = ? AND path = ? AND key = ?");
    if (st == NULL) {
        goto rollback;
    }

    idem_bind_key(st, 1, ctx, ik);
    rc = sqlite3_step(st);

    if (rc == SQLITE_ROW) {
        const void  *fp = sqlite3_column_blob(st, 0);
        const char  *state = (const char *) sqlite3_column_text(st, 1);
        int          same;

        same = sqlite3_column_bytes(st, 0) == SALES_SHA256_LEN
               && memcmp(fp, ik->fingerprint, SALES_SHA256_LEN) == 0;

        if (!same) {
            sales_finish(st);
            sales_fail(ctx, 422, "validation", "this Idempotency-Key was "
                       "used with another request body");
            goto rollback;
        }

        if (strcmp(state, "done") == 0) {
            const char *body = (const char *) sqlite3_column_text(st, 3);
            const char *loc = (const char *) sqlite3_column_text(st, 4);

            resp->status = sqlite3_column_int(st, 2);
            resp->body = body ? strdup(body) : NULL;
            resp->body_len = resp->body ? strlen(resp->body) : 0;
            resp->content_type = JSON_TYPE;
            resp->replayed = 1;
            if (loc) {
                snprintf(resp->location, sizeof(resp->location), "%s", loc);
            }
            sales_finish(st);
            result = IDEM_ANSWERED;
            goto rollback;
        }

        if (ctx->now_ms - sqlite3_column_int64(st, 5) < SALES_IDEM_STALE_MS) {
            sales_finish(st);
            sales_fail(ctx, 409, "conflict", "a request with this "
                       "Idempotency-Key is still in progress; retry later");
            goto rollback;
        }

        /* Abandoned by a process that died: take it over. */
        sales_finish(st);
        st = sales_prepare(ctx,
            "UPDATE idempotency_keys SET created_at = ?, expires_at = ?"
            " WHERE user_id = ? AND method = ? AND path = ? AND key = ?");

    } else if (rc == SQLITE_DONE) {
        sales_finish(st);
        st = sales_prepare(ctx,
            "INSERT INTO idempotency_keys (created_at, expires_at, user_id,"
            " method, path, key, fingerprint, state)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, 'running')");
        if (st) {
            sqlite3_bind_blob(st, 7, ik->fingerprint, SALES_SHA256_LEN,
                              SQLITE_STATIC);
        }

    } else {
        sales_finish(st);
        sales_db_error(ctx, "reading an idempotency key");
        goto rollback;
    }

    if (st == NULL) {
        goto rollback;
    }

    sqlite3_bind_int64(st, 1, ctx->now_ms);
    sqlite3_bind_int64(st, 2, ctx->now_ms + SALES_IDEM_TTL_MS);
    idem_bind_key(st, 3, ctx, ik);

    if (sales_step_done(ctx, st) != 0 || sales_exec(ctx, "COMMIT") != 0) {
        goto rollback;
    }

    return IDEM_PROCEED;

rollback:

    sqlite3_exec(ctx->db, "ROLLBACK", NULL, NULL, NULL);
    return result;
}


static int
idem_finish(sales_ctx_t *ctx, idem_t *ik, int status, const char *body)
{
    sqlite3_stmt  *st;

    st = sales_prepare(ctx,
        "UPDATE idempotency_keys SET state = 'done', status = ?, body = ?,"
        " location = ?"
        " WHERE user_id = ? AND method = ? AND path = ? AND key = ?");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int(st, 1, status);
    if (body) {
        sqlite3_bind_text(st, 2, body, -1, SQLITE_STATIC);
    }
    if (ctx->location[0]) {
        sqlite3_bind_text(st, 3, ctx->location, -1, SQLITE_STATIC);
    }
    idem_bind_key(st, 4, ctx, ik);

    return sales_step_done(ctx, st);
}


/* The request failed: free the key so a corrected retry may use it. */
static void
idem_release(sales_ctx_t *ctx, idem_t *ik)
{
    sqlite3_stmt  *st;

    st = sales_prepare(ctx,
        "DELETE FROM idempotency_keys WHERE state = 'running'"
        " AND user_id = ? AND method = ? AND path = ? AND key = ?");
    if (st == NULL) {
        return;
    }

    idem_bind_key(st, 1, ctx, ik);
    sqlite3_step(st);
    sales_finish(st);
}


/*
 * Runs the handler in one transaction. A busy database (the busy
 * timeout ran out) rolls back and tries again; only after SALES_TRIES
 * does the caller see 503.
 */
static int
run_transaction(sales_ctx_t *ctx, const sales_route_t *route, json_t *body,
    idem_t *ik, sales_http_resp_t *resp)
{
    json_t  *out;
    char    *text;
    int      tries, status;

    for (tries = 0; tries < SALES_TRIES; tries++) {

        if (tries > 0) {
            ctx_reset_error(ctx);
            usleep(20000 * (useconds_t) tries);
        }

        if (sales_exec(ctx, route->write ? "BEGIN IMMEDIATE" : "BEGIN") != 0)
        {
            if (ctx->busy) {
                continue;
            }
            return -1;
        }

        out = NULL;
        status = route->handler(ctx, body, &out);

        if (status >= 0 && (status < 200 || status > 299)) {
            ctx->log_level = SALES_LOG_ALERT;
            snprintf(ctx->log, sizeof(ctx->log), "handler for %s answered "
                     "status %d", route->path, status);
            sales_fail(ctx, 500, "internal", "an internal error occurred");
            status = -1;
        }

        if (status < 0) {
            json_decref(out);
            free(ctx->raw_body);
            ctx->raw_body = NULL;
            sqlite3_exec(ctx->db, "ROLLBACK", NULL, NULL, NULL);
            if (ctx->busy) {
                continue;
            }
            return -1;
        }

        if (ctx->raw_body) {
            text = ctx->raw_body;       /* e.g. an HTML document */
            ctx->raw_body = NULL;

        } else {
            text = out ? json_dumps(out, JSON_OUTPUT) : NULL;
        }

        json_decref(out);

        if (out && text == NULL) {
            sqlite3_exec(ctx->db, "ROLLBACK", NULL, NULL, NULL);
            return sales_fail(ctx, 500, "internal", "out of memory");
        }

        if (ik && idem_finish(ctx, ik, status, text) != 0) {
            free(text);
            sqlite3_exec(ctx->db, "ROLLBACK", NULL, NULL, NULL);
            if (ctx->busy) {
                continue;
            }
            return -1;
        }

        if (sales_exec(ctx, "COMMIT") != 0) {
            free(text);
            sqlite3_exec(ctx->db, "ROLLBACK", NULL, NULL, NULL);
            if (ctx->busy) {
                continue;
            }
            return -1;
        }

        resp->status = status;
        resp->body = text;
        resp->body_len = text ? strlen(text) : 0;
        resp->content_type = ctx->raw_type ? ctx->raw_type : JSON_TYPE;
        snprintf(resp->location, sizeof(resp->location), "%s",
                 ctx->location);
        return 0;
    }

    return -1;
}


static const char *
method_name(int m)
{
    switch (m) {
    case SALES_GET: return "GET";
    case SALES_POST: return "POST";
    case SALES_PATCH: return "PATCH";
    case SALES_DELETE: return "DELETE";
    case SALES_PUT: return "PUT";
    default: return "OTHER";
    }
}


static void
dispatch(sales_ctx_t *ctx, const sales_http_req_t *req,
    sales_http_resp_t *resp)
{
    const sales_route_t  *route;
    json_t               *body = NULL;
    idem_t                ik, *ikp = NULL;
    int                   allowed, rc;

    if (sales_auth(ctx, req->authorization, req->authorization_len) != 0) {
        return;
    }

    route = sales_route_match(req->path, req->path_len, req->method,
                              ctx->ids, &ctx->nids, &allowed);
    if (route == NULL) {
        if (allowed) {
            sales_methods_string(allowed, resp->allow, sizeof(resp->allow));
            sales_fail(ctx, 405, "method-not-allowed",
                       "%s is not allowed here; allowed: %s",
                       method_name(req->method), resp->allow);
        } else {
            sales_fail(ctx, 404, "not-found", "no such resource");
        }
        return;
    }

    if (!(route->roles & ctx->user.role)) {
        sales_forbidden(ctx, "your role may not do this");
        return;
    }

    if (sales_params_parse(ctx, req->query, req->query_len, route->params)
        != 0)
    {
        return;
    }

    if (req->method & (SALES_POST | SALES_PATCH | SALES_PUT)) {
        if (parse_body(ctx, req, &body) != 0) {
            return;
        }
    }

    if (req->has_idempotency_key
        && (req->method & (SALES_POST | SALES_PATCH | SALES_PUT)))
    {
        sales_sha256_t  sha;

        if (sales_idem_key_parse(req->idempotency_key,
                                 req->idempotency_key_len, ik.key,
                                 sizeof(ik.key))
            != 0)
        {
            sales_fail(ctx, 400, "malformed", "Idempotency-Key must be 1 to "
                       "255 characters of A-Z a-z 0-9 . _ : -");
            json_decref(body);
            return;
        }

        snprintf(ik.method, sizeof(ik.method), "%s", method_name(req->method));
        ik.path = strndup(req->path, req->path_len);

        sales_sha256_init(&sha);
        sales_sha256_update(&sha, ik.method, strlen(ik.method));
        sales_sha256_update(&sha, "\n", 1);
        sales_sha256_update(&sha, req->path, req->path_len);
        sales_sha256_update(&sha, "\n", 1);
        sales_sha256_update(&sha, req->query, req->query_len);
        sales_sha256_update(&sha, "\n", 1);
        sales_sha256_update(&sha, req->body, req->body_len);
        sales_sha256_final(&sha, ik.fingerprint);

        ikp = &ik;

        rc = idem_claim(ctx, ikp, resp);
        if (rc != IDEM_PROCEED) {
            free(ik.path);
            json_decref(body);
            return;
        }
    }

    rc = run_transaction(ctx, route, body, ikp, resp);

    if (rc != 0 && ikp) {
        sales_ctx_t  saved = *ctx;

        /* Release the key, keeping the request's own error. */
        ctx->errors = NULL;
        idem_release(ctx, ikp);
        json_decref(ctx->errors);
        *ctx = saved;
    }

    if (ikp) {
        free(ik.path);
    }

    json_decref(body);
}


void
sales_api_handle(const sales_conf_t *conf, const sales_http_req_t *req,
    sales_http_resp_t *resp)
{
    sales_ctx_t  ctx;
    char         err[384];

    memset(resp, 0, sizeof(*resp));
    memset(&ctx, 0, sizeof(ctx));

    ctx.conf = conf;
    ctx.request_id = req->request_id;
    ctx.now_ms = sales_now_ms();

    if (req->test_now_len && conf->test_clock) {
        if (sales_time_parse(req->test_now, req->test_now_len, &ctx.now_ms)
            != 0)
        {
            sales_problem_response(resp, 400, "malformed", "X-Sales-Test-Now "
                                   "must be an ISO 8601 UTC time",
                                   req->request_id);
            return;
        }
    }

    ctx.db = sales_db_thread_conn(conf, err, sizeof(err));
    if (ctx.db == NULL) {
        sales_problem_response(resp, 503, "unavailable", "the database is "
                               "not available", req->request_id);
        resp->retry_after = 5;
        resp->log_level = SALES_LOG_ERR;
        snprintf(resp->log, sizeof(resp->log), "%s", err);
        return;
    }

    dispatch(&ctx, req, resp);

    if (resp->status == 0) {
        answer_error(&ctx, resp);
    }

    if (ctx.log_level) {
        resp->log_level = ctx.log_level;
        snprintf(resp->log, sizeof(resp->log), "%s", ctx.log);
    }

    /* A statement left open by a bug would hold the read snapshot. */
    if (!sqlite3_get_autocommit(ctx.db)) {
        sqlite3_exec(ctx.db, "ROLLBACK", NULL, NULL, NULL);
    }

    sales_params_free(&ctx);
    json_decref(ctx.errors);
}
