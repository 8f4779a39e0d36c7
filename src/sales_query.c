/*
 * Query parameters: percent-decoded, checked against the route's list,
 * each at most once.
 */

#include "sales_resource.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static int
hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}


/* Decodes %XX and '+'; refuses bad escapes and NUL. */
static char *
url_decode(const char *s, size_t len)
{
    char    *out, *o;
    size_t   i;

    out = malloc(len + 1);
    if (out == NULL) {
        return NULL;
    }

    o = out;

    for (i = 0; i < len; i++) {
        if (s[i] == '%') {
            int hi, lo;

            if (i + 2 >= len) {
                goto bad;
            }
            hi = hex_value(s[i + 1]);
            lo = hex_value(s[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                goto bad;
            }
            *o++ = (char) (hi << 4 | lo);
            i += 2;

        } else if (s[i] == '+') {
            *o++ = ' ';

        } else {
            *o++ = s[i];
        }
    }

    *o = '\0';
    return out;

bad:

    free(out);
    return NULL;
}


static int
name_allowed(const char *allowed, const char *name)
{
    size_t       n = strlen(name);
    const char  *p = allowed;

    while (p && *p) {
        const char  *end = strchr(p, ',');
        size_t       len = end ? (size_t) (end - p) : strlen(p);

        if (len == n && memcmp(p, name, n) == 0) {
            return 1;
        }

        p = end ? end + 1 : NULL;
    }

    return 0;
}


int
sales_param_error(sales_ctx_t *ctx, const char *name, const char *detail)
{
    sales_field_error(ctx, name, "%s", detail);
    return sales_fail(ctx, 400, "malformed", "query parameter %s: %s", name,
                      detail);
}


int
sales_params_parse(sales_ctx_t *ctx, const char *q, size_t len,
    const char *allowed)
{
    size_t  i = 0;

    while (i < len) {
        size_t       start = i, eq = (size_t) -1;
        char        *name, *value;
        int          k;

        while (i < len && q[i] != '&') {
            if (q[i] == '=' && eq == (size_t) -1) {
                eq = i;
            }
            i++;
        }

        if (i == start) {
            i++;
            continue;
        }

        if (eq == (size_t) -1) {
            eq = i;
        }

        name = url_decode(q + start, eq - start);
        value = url_decode(q + (eq < i ? eq + 1 : i), eq < i ? i - eq - 1 : 0);
        i++;

        if (name == NULL || value == NULL || strlen(name) > 64) {
            free(name);
            free(value);
            return sales_fail(ctx, 400, "malformed",
                              "the query string is not well encoded");
        }

        if (!name_allowed(allowed, name)) {
            sales_param_error(ctx, name, "unknown query parameter");
            free(name);
            free(value);
            return -1;
        }

        for (k = 0; k < ctx->nparams; k++) {
            if (strcmp(ctx->params[k].name, name) == 0) {
                sales_param_error(ctx, name, "given more than once");
                free(name);
                free(value);
                return -1;
            }
        }

        if (ctx->nparams == SALES_MAX_PARAMS) {
            free(name);
            free(value);
            return sales_fail(ctx, 400, "malformed",
                              "too many query parameters");
        }

        ctx->params[ctx->nparams].name = name;
        ctx->params[ctx->nparams].value = value;
        ctx->nparams++;
    }

    return 0;
}


void
sales_params_free(sales_ctx_t *ctx)
{
    int  i;

    for (i = 0; i < ctx->nparams; i++) {
        free(ctx->params[i].name);
        free(ctx->params[i].value);
    }

    ctx->nparams = 0;
}


const char *
sales_param(sales_ctx_t *ctx, const char *name)
{
    int  i;

    for (i = 0; i < ctx->nparams; i++) {
        if (strcmp(ctx->params[i].name, name) == 0) {
            return ctx->params[i].value;
        }
    }

    return NULL;
}


/* An absent parameter leaves *out at 0. */
int
sales_param_int(sales_ctx_t *ctx, const char *name, int64_t min,
    int64_t max, int64_t *out)
{
    const char  *v = sales_param(ctx, name);
    char        *end;
    long long    n;

    *out = 0;

    if (v == NULL) {
        return 0;
    }

    if (v[0] == '\0' || !(v[0] == '-' || (v[0] >= '0' && v[0] <= '9'))) {
        goto bad;
    }

    n = strtoll(v, &end, 10);
    if (*end != '\0' || n < min || n > max) {
        goto bad;
    }

    *out = n;
    return 0;

bad:

    {
        char  detail[96];

        snprintf(detail, sizeof(detail), "must be an integer from %lld to "
                 "%lld", (long long) min, (long long) max);
        return sales_param_error(ctx, name, detail);
    }
}


/* Answers 1 or 0 in *out, -1 when absent. */
int
sales_param_bool(sales_ctx_t *ctx, const char *name, int *out)
{
    const char  *v = sales_param(ctx, name);

    *out = -1;

    if (v == NULL) {
        return 0;
    }

    if (strcmp(v, "true") == 0) {
        *out = 1;
        return 0;
    }

    if (strcmp(v, "false") == 0) {
        *out = 0;
        return 0;
    }

    return sales_param_error(ctx, name, "must be true or false");
}


/*
 * ?name=ID for each of ids narrows a list to
 * t.name = ID.
 */
int
sales_id_filters(sales_ctx_t *ctx, const char *const *ids, sales_buf_t *where,
    json_t *binds)
{
    int64_t  n;
    int      k;

    for (k = 0; ids[k]; k++) {
        if (sales_param_int(ctx, ids[k], 1, INT64_MAX, &n) != 0) {
            return -1;
        }

        if (n) {
            sales_buf_printf(where, " AND t.%s = ?", ids[k]);
            json_array_append_new(binds, json_integer(n));
        }
    }

    return 0;
}


/* ?name= one of values: *out is it, or NULL when not given; anything
 * else is 400 with detail. */
int
sales_param_enum(sales_ctx_t *ctx, const char *name,
    const char *const *values, const char *detail, const char **out)
{
    int  k;

    *out = sales_param(ctx, name);

    if (*out == NULL) {
        return 0;
    }

    for (k = 0; values[k]; k++) {
        if (strcmp(values[k], *out) == 0) {
            return 0;
        }
    }

    *out = NULL;
    return sales_param_error(ctx, name, detail);
}
