/*
 * The catalogue: products, dated VAT rates, price lists and their items,
 * loyalty levels.
 */

#include "sales_resource.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#define MAX_PRICE_MINOR  1000000000000LL        /* 10^12 */

static const char *const  vat_categories[] = {
    "standard", "reduced", "reduced_low", "zero", "exempt", NULL
};


/* --- products ------------------------------------------------------- */

static int check_sku(sales_ctx_t *ctx, const sales_field_t *f,
    json_t **value);
static int product_derive(sales_ctx_t *ctx, json_t *before, json_t *merged,
    json_t *write);

static const sales_field_t  product_fields[] = {
    { "sku", SALES_F_STRING, SALES_F_REQUIRED, 1, 64, NULL, check_sku, NULL,
      0, 0 },
    { "name", SALES_F_STRING, SALES_F_REQUIRED, 1, 200, NULL, NULL, NULL, 0,
      0 },
    { "unit", SALES_F_STRING, SALES_F_NOTNULL, 1, 16, NULL, NULL, "buc", 0,
      1 },
    { "vat_category", SALES_F_ENUM, SALES_F_NOTNULL, 0, 0, vat_categories,
      NULL, "standard", 0, 1 },
    { "active", SALES_F_BOOL, SALES_F_NOTNULL, 0, 0, NULL, NULL, NULL, 1, 1 },
    { "name_search", SALES_F_STRING, SALES_F_HIDDEN, 0, 0, NULL, NULL, NULL,
      0, 0 },
    { NULL, 0, 0, 0, 0, NULL, NULL, NULL, 0, 0 }
};

static const sales_unique_t  product_uniques[] = {
    { "products.sku", "sku", "a product with this sku already exists" },
    { NULL, NULL, NULL }
};

static const sales_resource_t  products_res = {
    "products", "product", "product", product_fields, product_uniques,
    product_derive, "/products"
};


static int
check_sku(sales_ctx_t *ctx, const sales_field_t *f, json_t **value)
{
    const char  *s = json_string_value(*value);
    size_t       i;

    for (i = 0; i < json_string_length(*value); i++) {
        if (!isalnum((unsigned char) s[i]) && !strchr("._/-", s[i])) {
            return sales_field_error(ctx, f->name,
                                     "may hold only A-Z a-z 0-9 . _ / -");
        }
    }

    return 0;
}


/* Searched by name and sku alike. */
static int
product_derive(sales_ctx_t *ctx, json_t *before, json_t *merged,
    json_t *write)
{
    const char  *name = json_string_value(json_object_get(merged, "name"));
    const char  *sku = json_string_value(json_object_get(merged, "sku"));
    sales_buf_t  text = {0};
    char        *folded;

    if (!json_object_get(write, "name") && !json_object_get(write, "sku")) {
        return 0;
    }

    sales_buf_printf(&text, "%s %s", name ? name : "", sku ? sku : "");
    folded = text.failed ? NULL : sales_fold(text.data, text.len);
    sales_buf_free(&text);

    if (folded == NULL) {
        return sales_fail(ctx, 500, "internal", "out of memory");
    }

    json_object_set_new(write, "name_search", json_string(folded));
    free(folded);
    return 0;
}


int
sales_products_create(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    return sales_plain_create(ctx, &products_res, body, out);
}


int
sales_products_get(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    return sales_load(ctx, &products_res, ctx->ids[0], NULL, NULL, out) == 0
           ? 200 : -1;
}


int
sales_products_update(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    return sales_plain_update(ctx, &products_res, ctx->ids[0], body, out);
}


static int
enum_param(sales_ctx_t *ctx, const char *name, const char *const *values,
    const char *column, sales_buf_t *where, json_t *binds)
{
    const char          *v = sales_param(ctx, name);
    const char *const   *e;

    if (v == NULL) {
        return 0;
    }

    for (e = values; *e; e++) {
        if (strcmp(*e, v) == 0) {
            sales_buf_printf(where, " AND %s = ?", column);
            json_array_append_new(binds, json_string(v));
            return 0;
        }
    }

    return sales_param_error(ctx, name, "is not one of the known values");
}


int
sales_products_list(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    sales_buf_t   where = {0};
    const char   *q;
    json_t       *binds = json_array();
    int           active, rc = -1;

    sales_buf_adds(&where, "1");

    q = sales_param(ctx, "q");
    if (q && q[0]
        && sales_like_filter(ctx, "t.name_search", q, &where, binds) != 0)
    {
        goto done;
    }

    if (sales_param_bool(ctx, "active", &active) != 0
        || enum_param(ctx, "vat_category", vat_categories, "t.vat_category",
                      &where, binds) != 0)
    {
        goto done;
    }

    if (active >= 0) {
        sales_buf_adds(&where, " AND t.active = ?");
        json_array_append_new(binds, json_integer(active));
    }

    rc = sales_list(ctx, &products_res, NULL, &where, binds, 0, out) == 0
         ? 200 : -1;

done:

    sales_buf_free(&where);
    json_decref(binds);
    return rc;
}


/* --- VAT rates -------------------------------------------------------- */

static int vat_derive(sales_ctx_t *ctx, json_t *before, json_t *merged,
    json_t *write);

static const sales_field_t  vat_fields[] = {
    { "category", SALES_F_ENUM, SALES_F_REQUIRED, 0, 0, vat_categories, NULL,
      NULL, 0, 0 },
    { "rate_bp", SALES_F_INT, SALES_F_REQUIRED, 0, 10000, NULL, NULL, NULL,
      0, 0 },
    { "valid_from", SALES_F_DATE, SALES_F_REQUIRED, 0, 0, NULL, NULL, NULL,
      0, 0 },
    { "valid_to", SALES_F_DATE, 0, 0, 0, NULL, NULL, NULL, 0, 0 },
    { NULL, 0, 0, 0, 0, NULL, NULL, NULL, 0, 0 }
};

static const sales_resource_t  vat_res = {
    "vat_rates", "vat_rate", "VAT rate", vat_fields, NULL, vat_derive,
    "/vat-rates"
};


/* A period's end, when given, is not before its start. Shared. */
int
sales_date_range_check(sales_ctx_t *ctx, json_t *merged,
    const char *from_field, const char *to_field)
{
    const char  *from = json_string_value(json_object_get(merged, from_field));
    const char  *to = json_string_value(json_object_get(merged, to_field));

    if (from && to && strcmp(to, from) < 0) {
        return sales_field_error(ctx, to_field, "must not be before %s",
                                 from_field);
    }

    return 0;
}


/* Two rates of one category never cover the same day. */
static int
vat_derive(sales_ctx_t *ctx, json_t *before, json_t *merged, json_t *write)
{
    const char  *category = json_string_value(json_object_get(merged,
                                                              "category"));
    const char  *from = json_string_value(json_object_get(merged,
                                                          "valid_from"));
    json_t      *key;
    char         detail[64];
    int          rc;

    if (sales_date_range_check(ctx, merged, "valid_from", "valid_to") != 0) {
        return -1;
    }

    if (category == NULL || from == NULL) {
        return 0;
    }

    key = json_string(category);
    snprintf(detail, sizeof(detail), "overlaps another %s rate", category);
    rc = sales_range_free(ctx, "vat_rates", "category", key,
                          json_integer_value(json_object_get(merged, "id")),
                          "valid", merged, detail);
    json_decref(key);
    return rc;
}


/*
 * Rows of table that share a key (key_column = key) hold date ranges
 * <prefix>_from .. <prefix>_to (an open end is NULL) that never meet:
 * merged's range may not meet another row's (id excepted). 0, or 409
 * naming <prefix>_from with detail. Shared.
 */
int
sales_range_free(sales_ctx_t *ctx, const char *table, const char *key_column,
    json_t *key, int64_t id, const char *prefix, json_t *merged,
    const char *detail)
{
    sales_buf_t   sql = {0};
    json_t       *binds, *to;
    const char   *from;
    char          from_field[64], to_field[64];
    int64_t       n;

    snprintf(from_field, sizeof(from_field), "%s_from", prefix);
    snprintf(to_field, sizeof(to_field), "%s_to", prefix);
    from = json_string_value(json_object_get(merged, from_field));
    to = json_object_get(merged, to_field);

    if (from == NULL) {
        return 0;
    }

    sales_buf_printf(&sql, "SELECT count(*) FROM %s WHERE %s = ?1"
                     " AND id != ?2 AND %s <= coalesce(?3, '9999-12-31')"
                     " AND coalesce(%s, '9999-12-31') >= ?4", table,
                     key_column, from_field, to_field);

    binds = json_pack("[O, I, O, s]", key, (json_int_t) id,
                      to ? to : json_null(), from);
    n = sales_count_buf(ctx, &sql, binds);
    json_decref(binds);

    if (n < 0) {
        return -1;
    }

    if (n > 0) {
        sales_field_error(ctx, from_field, "%s", detail);
        ctx->status = 409;
        ctx->problem = "conflict";
        return -1;
    }

    return 0;
}


int
sales_vat_rates_create(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    return sales_plain_create(ctx, &vat_res, body, out);
}


int
sales_vat_rates_get(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    return sales_load(ctx, &vat_res, ctx->ids[0], NULL, NULL, out) == 0
           ? 200 : -1;
}


int
sales_vat_rates_update(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    return sales_plain_update(ctx, &vat_res, ctx->ids[0], body, out);
}


int
sales_vat_rates_list(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    sales_buf_t  where = {0};
    json_t      *binds = json_array();
    int          rc = -1;

    sales_buf_adds(&where, "1");

    if (enum_param(ctx, "category", vat_categories, "t.category", &where,
                   binds) == 0)
    {
        rc = sales_list(ctx, &vat_res, NULL, &where, binds, 0, out) == 0
             ? 200 : -1;
    }

    sales_buf_free(&where);
    json_decref(binds);
    return rc;
}


/* The rate of a category in force on a date: 1 found, 0 none, -1 error. */
int
sales_vat_rate_on(sales_ctx_t *ctx, const char *category, const char *date,
    int64_t *rate_bp)
{
    sqlite3_stmt  *st;
    int            rc;

    st = sales_prepare(ctx, "SELECT rate_bp FROM vat_rates WHERE category = ?1"
                            " AND valid_from <= ?2"
                            " AND coalesce(valid_to, '9999-12-31') >= ?2"
                            " ORDER BY valid_from DESC LIMIT 1");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_text(st, 1, category, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, date, -1, SQLITE_TRANSIENT);

    rc = sqlite3_step(st);

    if (rc == SQLITE_ROW) {
        *rate_bp = sqlite3_column_int64(st, 0);
        sales_finish(st);
        return 1;
    }

    sales_finish(st);
    return rc == SQLITE_DONE ? 0 : sales_db_error(ctx, "reading VAT rates");
}


/* --- price lists ------------------------------------------------------ */

static int price_list_derive(sales_ctx_t *ctx, json_t *before,
    json_t *merged, json_t *write);

static const sales_field_t  price_list_fields[] = {
    { "name", SALES_F_STRING, SALES_F_REQUIRED, 1, 200, NULL, NULL, NULL, 0,
      0 },
    { "currency", SALES_F_STRING, SALES_F_NOTNULL, 3, 3, NULL,
      sales_check_currency, "RON", 0, 1 },
    { "valid_from", SALES_F_DATE, 0, 0, 0, NULL, NULL, NULL, 0, 0 },
    { "valid_to", SALES_F_DATE, 0, 0, 0, NULL, NULL, NULL, 0, 0 },
    { "is_default", SALES_F_BOOL, SALES_F_NOTNULL, 0, 0, NULL, NULL, NULL, 0,
      1 },
    { NULL, 0, 0, 0, 0, NULL, NULL, NULL, 0, 0 }
};

static const sales_resource_t  price_lists_res = {
    "price_lists", "price_list", "price list", price_list_fields, NULL,
    price_list_derive, "/price-lists"
};


/* One default list: making one the default takes it from the others. */
static int
price_list_derive(sales_ctx_t *ctx, json_t *before, json_t *merged,
    json_t *write)
{
    sqlite3_stmt  *st;

    if (sales_date_range_check(ctx, merged, "valid_from", "valid_to") != 0) {
        return -1;
    }

    if (!json_is_true(json_object_get(write, "is_default"))
        || json_array_size(ctx->errors) > 0)
    {
        return 0;
    }

    st = sales_prepare(ctx, "UPDATE price_lists SET is_default = 0,"
                            " updated_at = ?, version = version + 1"
                            " WHERE is_default = 1 AND id != ?");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, ctx->now_ms);
    sqlite3_bind_int64(st, 2, json_integer_value(json_object_get(merged,
                                                                 "id")));
    return sales_step_done(ctx, st);
}


int
sales_price_lists_create(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    return sales_plain_create(ctx, &price_lists_res, body, out);
}


int
sales_price_lists_get(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    return sales_load(ctx, &price_lists_res, ctx->ids[0], NULL, NULL, out)
           == 0 ? 200 : -1;
}


int
sales_price_lists_update(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    return sales_plain_update(ctx, &price_lists_res, ctx->ids[0], body, out);
}


int
sales_price_lists_list(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    return sales_list(ctx, &price_lists_res, NULL, NULL, NULL, 0, out) == 0
           ? 200 : -1;
}


/* Items: one price per product and quantity break. */

static int item_derive(sales_ctx_t *ctx, json_t *before, json_t *merged,
    json_t *write);

static const sales_field_t  item_fields[] = {
    { "price_list_id", SALES_F_INT, SALES_F_READONLY, 0, 0, NULL, NULL, NULL,
      0, 0 },
    { "product_id", SALES_F_INT, SALES_F_REQUIRED, 1, INT64_MAX, NULL, NULL,
      NULL, 0, 0 },
    { "min_quantity", SALES_F_INT, SALES_F_NOTNULL, 1, 1000000000, NULL,
      NULL, NULL, 1, 1 },
    { "unit_price_minor", SALES_F_INT, SALES_F_REQUIRED, 0, MAX_PRICE_MINOR,
      NULL, NULL, NULL, 0, 0 },
    { NULL, 0, 0, 0, 0, NULL, NULL, NULL, 0, 0 }
};

static const sales_unique_t  item_uniques[] = {
    { "price_list_items.min_quantity", "min_quantity",
      "this list already prices this product from this quantity" },
    { NULL, NULL, NULL }
};

static const sales_resource_t  items_res = {
    "price_list_items", "price_list_item", "price list item", item_fields,
    item_uniques, item_derive, NULL
};


static int
item_derive(sales_ctx_t *ctx, json_t *before, json_t *merged, json_t *write)
{
    json_t   *product = json_object_get(write, "product_id");
    json_t   *binds;
    int64_t   n;

    if (product == NULL) {
        return 0;
    }

    binds = json_pack("[O]", product);
    n = sales_count(ctx, "SELECT count(*) FROM products WHERE id = ?", binds);
    json_decref(binds);

    if (n < 0) {
        return -1;
    }

    return n ? 0 : sales_field_error(ctx, "product_id", "no such product");
}


static int
item_list_exists(sales_ctx_t *ctx)
{
    json_t  *list;

    if (sales_load(ctx, &price_lists_res, ctx->ids[0], NULL, NULL, &list)
        != 0)
    {
        return -1;
    }

    json_decref(list);
    return 0;
}


static int
load_item(sales_ctx_t *ctx, json_t **out)
{
    json_t  *binds = json_pack("[I]", (json_int_t) ctx->ids[0]);
    int      rc;

    rc = sales_load(ctx, &items_res, ctx->ids[1], "t.price_list_id = ?",
                    binds, out);
    json_decref(binds);
    return rc;
}


int
sales_price_items_create(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    json_t   *values;
    int64_t   id;

    if (item_list_exists(ctx) != 0) {
        return -1;
    }

    if (sales_validate(ctx, &items_res, body, NULL, &values) != 0) {
        json_decref(values);
        return -1;
    }

    json_object_set_new(values, "price_list_id", json_integer(ctx->ids[0]));
    id = sales_insert(ctx, &items_res, values);
    json_decref(values);

    ctx->ids[1] = id;

    if (id < 0 || load_item(ctx, out) != 0
        || sales_audit(ctx, "create", "price_list_item", id, *out) != 0)
    {
        return -1;
    }

    snprintf(ctx->location, sizeof(ctx->location),
             "/price-lists/%lld/items/%lld", (long long) ctx->ids[0],
             (long long) id);
    return 201;
}


int
sales_price_items_get(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    return load_item(ctx, out) == 0 ? 200 : -1;
}


int
sales_price_items_list(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    sales_buf_t  where = {0};
    json_t      *binds;
    int          rc;

    if (item_list_exists(ctx) != 0) {
        return -1;
    }

    binds = json_pack("[I]", (json_int_t) ctx->ids[0]);
    sales_buf_adds(&where, "t.price_list_id = ?");
    rc = sales_list(ctx, &items_res, NULL, &where, binds, 0, out);
    sales_buf_free(&where);
    json_decref(binds);

    return rc == 0 ? 200 : -1;
}


int
sales_price_items_update(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    json_t  *before, *changes = NULL, *diff = NULL;
    int      rc = -1;

    if (load_item(ctx, &before) != 0) {
        return -1;
    }

    if (sales_validate(ctx, &items_res, body, before, &changes) == 0
        && sales_update(ctx, &items_res, ctx->ids[1], before, changes, &diff)
           == 0
        && (json_object_size(diff) == 0
            || sales_audit(ctx, "update", "price_list_item", ctx->ids[1],
                           diff) == 0))
    {
        rc = load_item(ctx, out) == 0 ? 200 : -1;
    }

    json_decref(diff);
    json_decref(changes);
    json_decref(before);
    return rc;
}


int
sales_price_items_delete(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    json_t        *before;
    int            rc;

    if (load_item(ctx, &before) != 0) {
        return -1;
    }

    rc = sales_delete_row(ctx, &items_res, ctx->ids[1], before) == 0;
    json_decref(before);

    return rc ? 204 : -1;
}


/* --- loyalty levels --------------------------------------------------- */

static const sales_field_t  level_fields[] = {
    { "name", SALES_F_STRING, SALES_F_REQUIRED, 1, 100, NULL, NULL, NULL, 0,
      0 },
    { "threshold_minor", SALES_F_INT, SALES_F_NOTNULL, 0, 1000000000000000LL,
      NULL, NULL, NULL, 0, 1 },
    { "currency", SALES_F_STRING, SALES_F_NOTNULL, 3, 3, NULL,
      sales_check_currency, "RON", 0, 1 },
    { "discount_bp", SALES_F_INT, SALES_F_NOTNULL, 0, 10000, NULL, NULL,
      NULL, 0, 1 },
    { NULL, 0, 0, 0, 0, NULL, NULL, NULL, 0, 0 }
};

static const sales_unique_t  level_uniques[] = {
    { "loyalty_levels.name", "name", "a level with this name exists" },
    { NULL, NULL, NULL }
};

const sales_resource_t  sales_loyalty_levels_res = {
    "loyalty_levels", "loyalty_level", "loyalty level", level_fields,
    level_uniques, NULL, "/loyalty/levels"
};


int
sales_loyalty_levels_create(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    return sales_plain_create(ctx, &sales_loyalty_levels_res, body, out);
}


int
sales_loyalty_levels_get(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    return sales_load(ctx, &sales_loyalty_levels_res, ctx->ids[0], NULL, NULL,
                      out) == 0 ? 200 : -1;
}


int
sales_loyalty_levels_update(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    return sales_plain_update(ctx, &sales_loyalty_levels_res, ctx->ids[0],
                              body, out);
}


int
sales_loyalty_levels_list(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    return sales_list(ctx, &sales_loyalty_levels_res, NULL, NULL, NULL, 0,
                      out) == 0 ? 200 : -1;
}
