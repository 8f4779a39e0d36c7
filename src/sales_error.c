/*
 * The error slot and RFC 9457 problem documents.
 */

#include "sales.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>


static const struct {
    const char  *problem;
    const char  *title;
} problem_titles[] = {
    { "malformed", "Malformed request" },
    { "unauthorized", "Authentication required" },
    { "forbidden", "Not allowed" },
    { "not-found", "Not found" },
    { "method-not-allowed", "Method not allowed" },
    { "conflict", "Conflict" },
    { "too-large", "Request body too large" },
    { "unsupported-media-type", "Unsupported media type" },
    { "validation", "Invalid request" },
    { "unavailable", "Service unavailable" },
    { "internal", "Internal error" },
    { NULL, NULL }
};


const char *
sales_problem_title(const char *problem)
{
    int  i;

    for (i = 0; problem_titles[i].problem; i++) {
        if (strcmp(problem_titles[i].problem, problem) == 0) {
            return problem_titles[i].title;
        }
    }

    return "Error";
}


json_t *
sales_problem_json(int status, const char *problem, const char *detail,
    const char *request_id, json_t *errors)
{
    char     type[64];
    json_t  *o;

    snprintf(type, sizeof(type), "urn:sales:problem:%s", problem);

    o = json_pack("{s:s, s:s, s:i, s:s}", "type", type,
                  "title", sales_problem_title(problem),
                  "status", status, "detail", detail);
    if (o == NULL) {
        return NULL;
    }

    if (request_id && request_id[0]) {
        char  instance[96];

        snprintf(instance, sizeof(instance), "urn:request:%s", request_id);
        json_object_set_new(o, "instance", json_string(instance));
    }

    if (errors && json_array_size(errors) > 0) {
        json_object_set(o, "errors", errors);
    }

    return o;
}


int
sales_fail(sales_ctx_t *ctx, int status, const char *problem,
    const char *fmt, ...)
{
    va_list  ap;

    ctx->status = status;
    ctx->problem = problem;

    va_start(ap, fmt);
    vsnprintf(ctx->detail, sizeof(ctx->detail), fmt, ap);
    va_end(ap);

    /* a cut or odd byte must not make the answer invalid JSON */
    sales_utf8_clean(ctx->detail);
    return -1;
}


int
sales_field_error(sales_ctx_t *ctx, const char *field, const char *fmt, ...)
{
    char     pointer[160], detail[256];
    va_list  ap;

    if (ctx->errors == NULL) {
        ctx->errors = json_array();
    }

    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);

    snprintf(pointer, sizeof(pointer), "#/%s", field);
    sales_utf8_clean(pointer);
    sales_utf8_clean(detail);
    json_array_append_new(ctx->errors,
                          json_pack("{s:s, s:s}", "pointer", pointer,
                                    "detail", detail));

    if (ctx->status == 0) {
        ctx->status = 422;
        ctx->problem = "validation";
    }

    return -1;
}


/* Closes a validation pass: the detail counts the fields named. */
int
sales_validation_failed(sales_ctx_t *ctx)
{
    size_t  n = json_array_size(ctx->errors);

    if (n == 1) {
        json_t *e = json_array_get(ctx->errors, 0);

        snprintf(ctx->detail, sizeof(ctx->detail), "%s: %s",
                 json_string_value(json_object_get(e, "pointer")) + 2,
                 json_string_value(json_object_get(e, "detail")));
        sales_utf8_clean(ctx->detail);

    } else {
        snprintf(ctx->detail, sizeof(ctx->detail), "%zu fields are invalid",
                 n);
    }

    return -1;
}


int
sales_db_error(sales_ctx_t *ctx, const char *what)
{
    int  rc = sqlite3_extended_errcode(ctx->db);

    if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED) {
        ctx->busy = 1;
        ctx->log_level = SALES_LOG_WARN;
        snprintf(ctx->log, sizeof(ctx->log), "database busy while %s", what);
        return sales_fail(ctx, 503, "unavailable",
                          "the database is busy; retry shortly");
    }

    ctx->log_level = SALES_LOG_ERR;
    snprintf(ctx->log, sizeof(ctx->log), "sqlite error while %s: %s (%d)",
             what, sqlite3_errmsg(ctx->db), rc);

    if ((rc & 0xff) == SQLITE_FULL || (rc & 0xff) == SQLITE_IOERR
        || (rc & 0xff) == SQLITE_READONLY || (rc & 0xff) == SQLITE_CANTOPEN)
    {
        return sales_fail(ctx, 503, "unavailable",
                          "the database cannot be written now");
    }

    return sales_fail(ctx, 500, "internal", "an internal error occurred");
}


int
sales_not_found(sales_ctx_t *ctx, const char *what)
{
    return sales_fail(ctx, 404, "not-found", "%s not found", what);
}


int
sales_forbidden(sales_ctx_t *ctx, const char *detail)
{
    return sales_fail(ctx, 403, "forbidden", "%s", detail);
}
