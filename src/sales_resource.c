/*
 * Table-driven resources: validation, writes, reads and lists from one
 * description of the fields.
 */

#include "sales_resource.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static const sales_field_t *
field_find(const sales_resource_t *res, const char *name)
{
    const sales_field_t  *f;

    for (f = res->fields; f->name; f++) {
        if (strcmp(f->name, name) == 0) {
            return f;
        }
    }

    return NULL;
}


size_t
sales_utf8_chars(const char *s, size_t len)
{
    size_t  i, n = 0;

    for (i = 0; i < len; i++) {
        if (((unsigned char) s[i] & 0xc0) != 0x80) {
            n++;
        }
    }

    return n;
}


static int
has_control(const char *s, size_t len, int multiline)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char) s[i];

        if (c < 0x20 || c == 0x7f) {
            if (multiline && (c == '\n' || c == '\t' || c == '\r')) {
                continue;
            }
            return 1;
        }
    }

    return 0;
}


static int
validate_value(sales_ctx_t *ctx, const sales_field_t *f, json_t **value)
{
    json_t  *v = *value;

    switch (f->type) {

    case SALES_F_STRING:
    case SALES_F_ENUM: {
        const char  *s;
        size_t       len, chars;

        if (!json_is_string(v)) {
            return sales_field_error(ctx, f->name, "must be a string");
        }

        s = json_string_value(v);
        len = json_string_length(v);

        if (f->type == SALES_F_ENUM) {
            const char *const  *e;

            for (e = f->values; *e; e++) {
                if (strlen(*e) == len && memcmp(*e, s, len) == 0) {
                    return 0;
                }
            }

            {
                sales_buf_t  list = {0};

                for (e = f->values; *e; e++) {
                    sales_buf_printf(&list, "%s%s", e == f->values ? "" : ", ",
                                     *e);
                }
                sales_field_error(ctx, f->name, "must be one of: %s",
                                  list.data ? list.data : "");
                sales_buf_free(&list);
            }
            return -1;
        }

        if (has_control(s, len, f->flags & SALES_F_MULTILINE)) {
            return sales_field_error(ctx, f->name,
                                     "must not contain control characters");
        }

        chars = sales_utf8_chars(s, len);

        if ((int64_t) chars < f->min) {
            return f->min == 1
                   ? sales_field_error(ctx, f->name, "must not be empty")
                   : sales_field_error(ctx, f->name,
                                       "must have at least %lld characters",
                                       (long long) f->min);
        }

        if (f->max && (int64_t) chars > f->max) {
            return sales_field_error(ctx, f->name,
                                     "must have at most %lld characters",
                                     (long long) f->max);
        }

        break;
    }

    case SALES_F_INT:
        if (!json_is_integer(v)) {
            return sales_field_error(ctx, f->name, "must be an integer");
        }

        if (json_integer_value(v) < f->min || json_integer_value(v) > f->max) {
            return sales_field_error(ctx, f->name,
                                     "must be between %lld and %lld",
                                     (long long) f->min, (long long) f->max);
        }

        break;

    case SALES_F_BOOL:
        if (!json_is_boolean(v)) {
            return sales_field_error(ctx, f->name, "must be true or false");
        }

        break;

    case SALES_F_DATE:
        if (!json_is_string(v)
            || !sales_date_valid(json_string_value(v), json_string_length(v)))
        {
            return sales_field_error(ctx, f->name,
                                     "must be a date YYYY-MM-DD");
        }

        break;

    case SALES_F_TIME: {
        int64_t  ms;

        if (!json_is_string(v)
            || sales_time_parse(json_string_value(v), json_string_length(v),
                                &ms) != 0)
        {
            return sales_field_error(ctx, f->name, "must be an ISO 8601 UTC "
                                     "time like 2026-12-03T09:30:00Z");
        }

        /* Stored as Unix milliseconds. */
        json_decref(*value);
        *value = json_integer(ms);
        break;
    }

    default:
        return sales_field_error(ctx, f->name, "is read-only");
    }

    if (f->check) {
        return f->check(ctx, f, value);
    }

    return 0;
}


/* The values to store: validated input plus derived columns. Cross-field
 * checks run even when some fields failed, on the fields that passed, so
 * one answer names every problem it can. */
static int
derive(sales_ctx_t *ctx, const sales_resource_t *res, json_t *before,
    json_t *values)
{
    json_t  *merged;
    int      rc;

    if (res->derive == NULL) {
        return 0;
    }

    merged = before ? json_deep_copy(before) : json_object();
    json_object_update(merged, values);

    rc = res->derive(ctx, before, merged, values);
    json_decref(merged);

    return rc;
}


int
sales_validate(sales_ctx_t *ctx, const sales_resource_t *res, json_t *in,
    json_t *before, json_t **out)
{
    int                   create = before == NULL;
    const sales_field_t  *f;
    const char           *key;
    json_t               *v, *clean;

    clean = json_object();
    *out = clean;

    json_object_foreach(in, key, v) {
        json_t  *value;

        f = field_find(res, key);

        if (f == NULL || (f->flags & SALES_F_HIDDEN)) {
            sales_field_error(ctx, key, "unknown field");
            continue;
        }

        if (f->flags & SALES_F_READONLY) {
            sales_field_error(ctx, key, "is read-only");
            continue;
        }

        if (json_is_null(v)) {
            if (f->flags & (SALES_F_REQUIRED | SALES_F_NOTNULL)) {
                sales_field_error(ctx, key, "must not be null");

            } else {
                json_object_set_new(clean, key, json_null());
            }
            continue;
        }

        value = json_incref(v);

        if (validate_value(ctx, f, &value) == 0) {
            json_object_set(clean, key, value);
        }

        json_decref(value);
    }

    if (create) {
        for (f = res->fields; f->name; f++) {
            if (json_object_get(in, f->name)) {
                continue;
            }

            if (f->flags & SALES_F_REQUIRED) {
                sales_field_error(ctx, f->name, "is required");

            } else if (f->has_default) {
                json_object_set_new(clean, f->name,
                                    f->def_str ? json_string(f->def_str)
                                    : f->type == SALES_F_BOOL
                                      ? json_boolean(f->def_int)
                                      : json_integer(f->def_int));
            }
        }
    }

    if (derive(ctx, res, before, clean) != 0
        && json_array_size(ctx->errors) == 0)
    {
        return -1;
    }

    if (json_array_size(ctx->errors) > 0) {
        return sales_validation_failed(ctx);
    }

    return 0;
}


void
sales_select_columns(const sales_resource_t *res, const char *alias,
    sales_buf_t *sql)
{
    const sales_field_t  *f;
    const char           *a = alias ? alias : "";
    const char           *dot = alias ? "." : "";

    sales_buf_printf(sql, "%s%sid", a, dot);

    for (f = res->fields; f->name; f++) {
        if (!(f->flags & SALES_F_HIDDEN)) {
            sales_buf_printf(sql, ", %s%s%s", a, dot, f->name);
        }
    }

    sales_buf_printf(sql, ", %s%screated_at, %s%supdated_at, %s%sversion",
                     a, dot, a, dot, a, dot);
}


static json_t *
column_json(sqlite3_stmt *st, int i, int type)
{
    if (sqlite3_column_type(st, i) == SQLITE_NULL) {
        return json_null();
    }

    switch (type) {

    case SALES_F_INT:
        return json_integer(sqlite3_column_int64(st, i));

    case SALES_F_BOOL:
        return json_boolean(sqlite3_column_int(st, i));

    case SALES_F_TIME: {
        char  t[32];

        sales_time_format(sqlite3_column_int64(st, i), t);
        return json_string(t);
    }

    default:
        return json_stringn((const char *) sqlite3_column_text(st, i),
                            (size_t) sqlite3_column_bytes(st, i));
    }
}


json_t *
sales_row_json(const sales_resource_t *res, sqlite3_stmt *st)
{
    const sales_field_t  *f;
    json_t               *o;
    int                   i = 0;

    o = json_object();

    json_object_set_new(o, "id", json_integer(sqlite3_column_int64(st, i++)));

    for (f = res->fields; f->name; f++) {
        if (!(f->flags & SALES_F_HIDDEN)) {
            json_object_set_new(o, f->name, column_json(st, i++, f->type));
        }
    }

    json_object_set_new(o, "created_at", column_json(st, i++, SALES_F_TIME));
    json_object_set_new(o, "updated_at", column_json(st, i++, SALES_F_TIME));
    json_object_set_new(o, "version", column_json(st, i, SALES_F_INT));

    return o;
}


static int
write_failed(sales_ctx_t *ctx, const sales_resource_t *res, const char *what)
{
    const sales_unique_t  *u;
    const char            *msg;

    if (sqlite3_extended_errcode(ctx->db) == SQLITE_CONSTRAINT_UNIQUE
        && res->uniques)
    {
        msg = sqlite3_errmsg(ctx->db);

        for (u = res->uniques; u->column; u++) {
            if (strstr(msg, u->column)) {
                sales_fail(ctx, 409, "conflict", "%s", u->detail);
                sales_field_error(ctx, u->field, "%s", u->detail);
                ctx->status = 409;
                ctx->problem = "conflict";
                return -1;
            }
        }
    }

    return sales_db_error(ctx, what);
}


int64_t
sales_insert(sales_ctx_t *ctx, const sales_resource_t *res, json_t *values)
{
    sales_buf_t    sql = {0}, marks = {0};
    sqlite3_stmt  *st;
    const char    *key;
    json_t        *v, *binds;
    int64_t        id;
    int            rc;

    binds = json_array();
    sales_buf_printf(&sql, "INSERT INTO %s (", res->table);

    json_object_foreach(values, key, v) {
        if (field_find(res, key) == NULL) {
            continue;
        }
        sales_buf_printf(&sql, "%s, ", key);
        sales_buf_adds(&marks, "?, ");
        json_array_append(binds, v);
    }

    sales_buf_printf(&sql, "created_at, updated_at, version) VALUES (%s"
                     "?, ?, 1)", marks.data ? marks.data : "");
    json_array_append_new(binds, json_integer(ctx->now_ms));
    json_array_append_new(binds, json_integer(ctx->now_ms));

    st = sql.failed ? NULL : sales_prepare(ctx, sql.data);
    sales_buf_free(&sql);
    sales_buf_free(&marks);

    if (st == NULL) {
        json_decref(binds);
        return -1;
    }

    sales_bind_all(st, binds);
    json_decref(binds);

    rc = sqlite3_step(st);
    sales_finish(st);

    if (rc != SQLITE_DONE) {
        write_failed(ctx, res, "inserting");
        return -1;
    }

    id = sqlite3_last_insert_rowid(ctx->db);
    return id;
}


int
sales_load(sales_ctx_t *ctx, const sales_resource_t *res, int64_t id,
    const char *extra_where, json_t *binds, json_t **out)
{
    sales_buf_t    sql = {0};
    sqlite3_stmt  *st;
    int            rc;

    *out = NULL;

    sales_buf_adds(&sql, "SELECT ");
    sales_select_columns(res, "t", &sql);
    sales_buf_printf(&sql, " FROM %s t WHERE t.id = ?%s%s", res->table,
                     extra_where ? " AND " : "",
                     extra_where ? extra_where : "");

    st = sql.failed ? NULL : sales_prepare(ctx, sql.data);
    sales_buf_free(&sql);

    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, id);

    if (binds) {
        size_t   i;
        json_t  *v;

        json_array_foreach(binds, i, v) {
            sales_bind_json(st, (int) i + 2, v);
        }
    }

    rc = sqlite3_step(st);

    if (rc == SQLITE_ROW) {
        *out = sales_row_json(res, st);
        sales_finish(st);
        return 0;
    }

    sales_finish(st);

    if (rc == SQLITE_DONE) {
        return sales_not_found(ctx, res->label);
    }

    return sales_db_error(ctx, "reading");
}


/* A row inside a visibility rule (a condition on alias t); anything else
 * is "not found", exactly like a row that does not exist. */
int
sales_load_scoped(sales_ctx_t *ctx, const sales_resource_t *res, int64_t id,
    sales_scope_pt scope, json_t **out)
{
    sales_buf_t  where = {0};
    json_t      *binds = json_array();
    int          rc;

    scope(ctx, &where, binds);
    rc = where.failed ? sales_fail(ctx, 500, "internal", "out of memory")
                      : sales_load(ctx, res, id, where.data, binds, out);
    sales_buf_free(&where);
    json_decref(binds);
    return rc;
}


static void
owner_scope(sales_ctx_t *ctx, sales_buf_t *where, json_t *binds)
{
    sales_scope_sql(ctx, "t.owner_id", where, binds);
}


/* A row the caller may see by its owner_id. */
int
sales_load_owned(sales_ctx_t *ctx, const sales_resource_t *res, int64_t id,
    json_t **out)
{
    return sales_load_scoped(ctx, res, id, owner_scope, out);
}


/* Prepares the SQL in a buffer (freed here) and binds the values. */
sqlite3_stmt *
sales_prepare_bound(sales_ctx_t *ctx, sales_buf_t *sql, json_t *binds)
{
    sqlite3_stmt  *st;

    if (sql->failed) {
        sales_buf_free(sql);
        sales_fail(ctx, 500, "internal", "out of memory");
        return NULL;
    }

    st = sales_prepare(ctx, sql->data);
    sales_buf_free(sql);

    if (st && binds) {
        sales_bind_all(st, binds);
    }

    return st;
}


int
sales_update(sales_ctx_t *ctx, const sales_resource_t *res, int64_t id,
    json_t *before, json_t *changes, json_t **diff_out)
{
    sales_buf_t    sql = {0};
    sqlite3_stmt  *st;
    const char    *key;
    json_t        *v, *binds, *diff;
    int            rc, n = 0;

    *diff_out = NULL;

    diff = json_object();
    binds = json_array();
    sales_buf_printf(&sql, "UPDATE %s SET ", res->table);

    json_object_foreach(changes, key, v) {
        const sales_field_t  *f = field_find(res, key);
        json_t               *old = json_object_get(before, key);

        if (f == NULL) {
            continue;
        }

        if (!(f->flags & SALES_F_HIDDEN)) {
            json_t  *shown = json_incref(v);

            /* Times are stored as ms and shown, and compared, as ISO. */
            if (f->type == SALES_F_TIME && json_is_integer(v)) {
                char  t[32];

                sales_time_format(json_integer_value(v), t);
                json_decref(shown);
                shown = json_string(t);
            }

            if (old && json_equal(old, shown)) {
                json_decref(shown);

                /* Unchanged as shown; a time may still differ in its
                 * milliseconds, so it is written all the same. */
                if (f->type != SALES_F_TIME) {
                    continue;
                }

            } else {
                json_object_set_new(diff, key,
                                    json_pack("[Oo]", old ? old : json_null(),
                                              shown));
                n++;
            }
        }

        sales_buf_printf(&sql, "%s = ?, ", key);
        json_array_append(binds, v);
    }

    if (n == 0) {
        sales_buf_free(&sql);
        json_decref(binds);
        *diff_out = diff;
        return 0;
    }

    sales_buf_adds(&sql, "updated_at = ?, version = version + 1 WHERE id = ?");
    json_array_append_new(binds, json_integer(ctx->now_ms));
    json_array_append_new(binds, json_integer(id));

    st = sql.failed ? NULL : sales_prepare(ctx, sql.data);
    sales_buf_free(&sql);

    if (st == NULL) {
        json_decref(binds);
        json_decref(diff);
        return -1;
    }

    sales_bind_all(st, binds);
    json_decref(binds);

    rc = sqlite3_step(st);
    sales_finish(st);

    if (rc != SQLITE_DONE) {
        json_decref(diff);
        return write_failed(ctx, res, "updating");
    }

    *diff_out = diff;
    return 0;
}


/* Sets one column (a state change such as archived_at), bumping the
 * version. */
int
sales_set_column(sales_ctx_t *ctx, const sales_resource_t *res, int64_t id,
    const char *column, json_t *value)
{
    sales_buf_t    sql = {0};
    sqlite3_stmt  *st;
    int            rc;

    sales_buf_printf(&sql, "UPDATE %s SET %s = ?, updated_at = ?, "
                     "version = version + 1 WHERE id = ?", res->table, column);

    st = sql.failed ? NULL : sales_prepare(ctx, sql.data);
    sales_buf_free(&sql);

    if (st == NULL) {
        return -1;
    }

    sales_bind_json(st, 1, value);
    sqlite3_bind_int64(st, 2, ctx->now_ms);
    sqlite3_bind_int64(st, 3, id);

    rc = sqlite3_step(st);
    sales_finish(st);

    if (rc != SQLITE_DONE) {
        return write_failed(ctx, res, "updating");
    }

    return 0;
}


/*
 * Cursors are opaque to clients: base64url of the JSON
 * [sort name, descending, last sort value, last id]. A cursor is only
 * good for the sort it came from.
 */
static char *
cursor_encode(const char *sort, int desc, json_t *value, int64_t id)
{
    json_t  *c;
    char    *text, *out;
    size_t   len;

    c = json_pack("[s, b, O, I]", sort, desc, value, (json_int_t) id);
    text = c ? json_dumps(c, JSON_COMPACT) : NULL;
    json_decref(c);

    if (text == NULL) {
        return NULL;
    }

    len = strlen(text);
    out = malloc(sales_base64_len(len) + 1);
    if (out) {
        sales_base64url_encode((const uint8_t *) text, len, out);
    }

    free(text);
    return out;
}


static int
cursor_decode(const char *s, const sales_sort_t *sort, int desc,
    json_t **value, int64_t *id)
{
    uint8_t   raw[512];
    json_t   *c, *v;
    long      n;
    int       ok;

    n = sales_base64_decode(s, strlen(s), raw, sizeof(raw));
    if (n <= 0) {
        return -1;
    }

    c = json_loadb((const char *) raw, (size_t) n, 0, NULL);
    if (c == NULL) {
        return -1;
    }

    v = json_array_get(c, 2);

    ok = json_array_size(c) == 4
         && json_is_string(json_array_get(c, 0))
         && strcmp(json_string_value(json_array_get(c, 0)), sort->name) == 0
         && json_is_boolean(json_array_get(c, 1))
         && json_is_true(json_array_get(c, 1)) == desc
         && json_is_integer(json_array_get(c, 3))
         && json_integer_value(json_array_get(c, 3)) > 0
         && (sort->type == SALES_F_INT ? json_is_integer(v)
                                       : json_is_string(v));

    if (ok) {
        *value = json_incref(v);
        *id = json_integer_value(json_array_get(c, 3));
    }

    json_decref(c);
    return ok ? 0 : -1;
}


static const sales_sort_t  sort_by_id = { "id", "t.id", SALES_F_INT };


/* Picks the sort from ?sort=name or -name; the first entry is the
 * default. */
int
sales_sort_param(sales_ctx_t *ctx, const sales_sort_t *sorts,
    const sales_sort_t **sort, int *desc)
{
    const sales_sort_t  *s;
    const char          *v = sales_param(ctx, "sort");

    *sort = &sorts[0];
    *desc = 0;

    if (v == NULL) {
        return 0;
    }

    if (v[0] == '-') {
        *desc = 1;
        v++;
    }

    for (s = sorts; s->name; s++) {
        if (strcmp(s->name, v) == 0) {
            *sort = s;
            return 0;
        }
    }

    {
        sales_buf_t  names = {0};

        for (s = sorts; s->name; s++) {
            sales_buf_printf(&names, "%s%s", s == sorts ? "" : ", ", s->name);
        }

        sales_buf_adds(&names, " (prefix - for descending)");
        sales_param_error(ctx, "sort", names.failed ? "unknown sort"
                                                    : names.data);
        sales_buf_free(&names);
    }

    return -1;
}


int
sales_list(sales_ctx_t *ctx, const sales_resource_t *res, const char *from,
    sales_buf_t *where, json_t *binds, int newest_first, json_t **out)
{
    return sales_list_sorted(ctx, res, from, where, binds, &sort_by_id,
                             newest_first, out);
}


/*
 * One page of a list, ordered by (sort column, id) and continued after
 * the cursor's row: keyset pagination, stable while rows come and go.
 */
int
sales_list_sorted(sales_ctx_t *ctx, const sales_resource_t *res,
    const char *from, sales_buf_t *where, json_t *binds,
    const sales_sort_t *sort, int desc, json_t **out)
{
    sales_buf_t    sql = {0};
    sqlite3_stmt  *st;
    const char    *cursor;
    json_t        *items, *all, *after_value = NULL, *last_value = NULL;
    int64_t        limit, after = 0, last = 0;
    int            rc, n = 0, ncols;

    *out = NULL;

    if (sales_param_int(ctx, "limit", 1, SALES_LIST_MAX, &limit) != 0) {
        return -1;
    }

    if (limit == 0) {
        limit = SALES_LIST_DEFAULT;
    }

    cursor = sales_param(ctx, "cursor");
    if (cursor && cursor_decode(cursor, sort, desc, &after_value, &after)
                  != 0)
    {
        return sales_param_error(ctx, "cursor", "not a cursor this list "
                                 "gave out for this sort");
    }

    sales_buf_adds(&sql, "SELECT ");
    sales_select_columns(res, "t", &sql);
    sales_buf_printf(&sql, ", %s", sort->column);

    if (from) {
        sales_buf_printf(&sql, " FROM %s", from);
    } else {
        sales_buf_printf(&sql, " FROM %s t", res->table);
    }

    sales_buf_printf(&sql, " WHERE (%s)",
                     where && where->data ? where->data : "1");

    all = binds ? json_copy(binds) : json_array();

    if (cursor) {
        sales_buf_printf(&sql, " AND (%s, t.id) %s (?, ?)", sort->column,
                         desc ? "<" : ">");
        json_array_append_new(all, after_value);
        json_array_append_new(all, json_integer(after));
    }

    sales_buf_printf(&sql, " ORDER BY %s %s, t.id %s LIMIT ?", sort->column,
                     desc ? "DESC" : "ASC", desc ? "DESC" : "ASC");
    json_array_append_new(all, json_integer(limit + 1));

    st = sql.failed ? NULL : sales_prepare(ctx, sql.data);
    sales_buf_free(&sql);

    if (st != NULL) {
        sales_bind_all(st, all);
    }

    json_decref(all);

    if (st == NULL) {
        return -1;
    }

    items = json_array();
    ncols = sqlite3_column_count(st);

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == limit) {
            break;
        }

        last = sqlite3_column_int64(st, 0);
        json_decref(last_value);
        last_value = sort->type == SALES_F_INT
                     ? json_integer(sqlite3_column_int64(st, ncols - 1))
                     : json_stringn((const char *)
                                    sqlite3_column_text(st, ncols - 1),
                                    (size_t) sqlite3_column_bytes(st,
                                                                  ncols - 1));
        json_array_append_new(items, sales_row_json(res, st));
        n++;
    }

    sales_finish(st);

    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        json_decref(items);
        json_decref(last_value);
        return sales_db_error(ctx, "listing");
    }

    *out = json_object();
    json_object_set_new(*out, "items", items);

    if (rc == SQLITE_ROW) {
        char  *next = cursor_encode(sort->name, desc, last_value, last);

        json_object_set_new(*out, "next_cursor",
                            next ? json_string(next) : json_null());
        free(next);

    } else {
        json_object_set_new(*out, "next_cursor", json_null());
    }

    json_decref(last_value);
    return 0;
}


/* "column contains text", case- and diacritics-insensitive: the column
 * holds sales_fold() of the value, the text is folded the same way. */
int
sales_like_filter(sales_ctx_t *ctx, const char *column, const char *text,
    sales_buf_t *where, json_t *binds)
{
    sales_buf_t   pattern = {0};
    const char   *p;
    char         *folded;

    folded = sales_fold(text, strlen(text));
    if (folded == NULL) {
        return sales_fail(ctx, 500, "internal", "out of memory");
    }

    sales_buf_adds(&pattern, "%");

    for (p = folded; *p; p++) {
        if (*p == '%' || *p == '_' || *p == '\\') {
            sales_buf_adds(&pattern, "\\");
        }
        sales_buf_add(&pattern, p, 1);
    }

    sales_buf_adds(&pattern, "%");
    free(folded);

    if (pattern.failed) {
        sales_buf_free(&pattern);
        return sales_fail(ctx, 500, "internal", "out of memory");
    }

    sales_buf_printf(where, " AND %s LIKE ? ESCAPE '\\'", column);
    json_array_append_new(binds, json_string(pattern.data));
    sales_buf_free(&pattern);
    return 0;
}


/* A new row from a request body: validated, derived, inserted; its id or
 * -1. */
int64_t
sales_create_row(sales_ctx_t *ctx, const sales_resource_t *res, json_t *body)
{
    json_t   *values;
    int64_t   id;

    if (sales_validate(ctx, res, body, NULL, &values) != 0) {
        json_decref(values);
        return -1;
    }

    id = sales_insert(ctx, res, values);
    json_decref(values);
    return id;
}


/* Deletes a row; the audit keeps the whole of it (before), so nothing is
 * lost. */
int
sales_delete_row(sales_ctx_t *ctx, const sales_resource_t *res, int64_t id,
    json_t *before)
{
    sales_buf_t    sql = {0};
    sqlite3_stmt  *st;
    json_t        *binds = json_pack("[I]", (json_int_t) id);

    sales_buf_printf(&sql, "DELETE FROM %s WHERE id = ?", res->table);
    st = sales_prepare_bound(ctx, &sql, binds);
    json_decref(binds);

    if (st == NULL || sales_step_done(ctx, st) != 0) {
        return -1;
    }

    return sales_audit(ctx, "delete", res->object_type, id, before);
}


/* The end of a create: the new row as shown (by load; NULL: as stored),
 * audited whole, with its Location; 201 or -1. */
int
sales_created(sales_ctx_t *ctx, const sales_resource_t *res, int64_t id,
    sales_load_pt load, json_t **out)
{
    if (id < 0
        || (load ? load(ctx, id, out) : sales_load(ctx, res, id, NULL, NULL,
                                                   out)) != 0
        || sales_audit(ctx, "create", res->object_type, id, *out) != 0)
    {
        return -1;
    }

    snprintf(ctx->location, sizeof(ctx->location), "%s/%lld", res->path,
             (long long) id);
    return 201;
}


/* The end of an update: the changes written, what changed audited, the
 * row as shown (by load; NULL: as stored); 200 or -1. */
int
sales_updated(sales_ctx_t *ctx, const sales_resource_t *res, int64_t id,
    json_t *before, json_t *changes, sales_load_pt load, json_t **out)
{
    json_t  *diff = NULL;
    int      rc;

    rc = sales_update(ctx, res, id, before, changes, &diff) == 0
         && (json_object_size(diff) == 0
             || sales_audit(ctx, "update", res->object_type, id, diff) == 0)
         && (load ? load(ctx, id, out)
                  : sales_load(ctx, res, id, NULL, NULL, out)) == 0;
    json_decref(diff);
    return rc ? 200 : -1;
}


int
sales_plain_create(sales_ctx_t *ctx, const sales_resource_t *res,
    json_t *body, json_t **out)
{
    return sales_created(ctx, res, sales_create_row(ctx, res, body), NULL,
                         out);
}


int
sales_plain_update(sales_ctx_t *ctx, const sales_resource_t *res, int64_t id,
    json_t *body, json_t **out)
{
    json_t  *before, *changes = NULL;
    int      rc = -1;

    if (sales_load(ctx, res, id, NULL, NULL, &before) != 0) {
        return -1;
    }

    if (sales_validate(ctx, res, body, before, &changes) == 0) {
        rc = sales_updated(ctx, res, id, before, changes, NULL, out);
    }

    json_decref(changes);
    json_decref(before);
    return rc;
}


/* A row as the API shows it: loaded (owned: within the caller's
 * visibility), then finished by its resource (lines, derived states). */
int
sales_load_finished(sales_ctx_t *ctx, const sales_resource_t *res,
    int64_t id, int owned, sales_finish_pt finish, json_t **out)
{
    int  rc = owned ? sales_load_owned(ctx, res, id, out)
                    : sales_load(ctx, res, id, NULL, NULL, out);

    if (rc == 0 && finish(ctx, *out) != 0) {
        json_decref(*out);
        *out = NULL;
        return -1;
    }

    return rc;
}


/* A list whose every item is finished as a single row is. */
int
sales_list_finished(sales_ctx_t *ctx, const sales_resource_t *res,
    sales_buf_t *where, json_t *binds, int newest_first,
    sales_finish_pt finish, json_t **out)
{
    json_t  *item;
    size_t   i;

    if (sales_list(ctx, res, NULL, where, binds, newest_first, out) != 0) {
        return -1;
    }

    json_array_foreach(json_object_get(*out, "items"), i, item) {
        if (finish(ctx, item) != 0) {
            json_decref(*out);
            *out = NULL;
            return -1;
        }
    }

    return 0;
}
