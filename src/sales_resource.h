/*
 * Table-driven resources: one description of a table's fields serves
 * input validation, INSERT and UPDATE, the JSON shape of a row, audit
 * diffs and lists with cursors.
 */

#ifndef SALES_RESOURCE_H
#define SALES_RESOURCE_H

#include "sales.h"


enum {
    SALES_F_STRING = 1,
    SALES_F_INT,
    SALES_F_BOOL,
    SALES_F_ENUM,
    SALES_F_TIME,       /* ISO 8601 in JSON, Unix ms in SQL */
    SALES_F_DATE        /* YYYY-MM-DD, in JSON and in SQL */
};

#define SALES_F_REQUIRED   0x01   /* must be given on create */
#define SALES_F_NOTNULL    0x02   /* may not be null (has a default) */
#define SALES_F_READONLY   0x04   /* shown, never accepted as input */
#define SALES_F_HIDDEN     0x08   /* a derived column, never shown */
#define SALES_F_MULTILINE  0x10   /* string may hold newlines and tabs */

typedef struct sales_field_s  sales_field_t;

/* A field's own check; may replace *value with a normalized one. */
typedef int (*sales_check_pt)(sales_ctx_t *ctx, const sales_field_t *f,
    json_t **value);

struct sales_field_s {
    const char          *name;
    int                  type;
    unsigned             flags;
    int64_t              min;        /* characters, or the integer's range */
    int64_t              max;
    const char *const   *values;     /* SALES_F_ENUM */
    sales_check_pt       check;
    const char          *def_str;    /* default on create */
    int64_t              def_int;
    int                  has_default;
};

typedef struct {
    const char          *column;
    const char          *field;
    const char          *detail;
} sales_unique_t;

typedef struct sales_resource_s  sales_resource_t;

struct sales_resource_s {
    const char             *table;
    const char             *object_type;    /* "client" */
    const char             *label;          /* "client", for messages */
    const sales_field_t    *fields;         /* terminated by name NULL */
    const sales_unique_t   *uniques;        /* terminated by column NULL */
    /* Cross-field checks and derived columns: before is NULL on create,
     * merged is before with the new values over it, write is what will
     * be stored (derived columns go there). */
    int                   (*derive)(sales_ctx_t *ctx, json_t *before,
                                    json_t *merged, json_t *write);
    const char             *path;           /* "/products", for Location */
};

int64_t sales_create_row(sales_ctx_t *ctx, const sales_resource_t *res,
    json_t *body);
int sales_delete_row(sales_ctx_t *ctx, const sales_resource_t *res,
    int64_t id, json_t *before);

/* The plain verbs of a resource whose only rule is its fields: validate,
 * write, audit, answer. */
int sales_plain_create(sales_ctx_t *ctx, const sales_resource_t *res,
    json_t *body, json_t **out);
int sales_plain_update(sales_ctx_t *ctx, const sales_resource_t *res,
    int64_t id, json_t *body, json_t **out);

/* before is NULL to create (required fields and defaults apply), or the
 * current object to update. */
int sales_validate(sales_ctx_t *ctx, const sales_resource_t *res,
    json_t *in, json_t *before, json_t **out);
int64_t sales_insert(sales_ctx_t *ctx, const sales_resource_t *res,
    json_t *values);
int sales_load(sales_ctx_t *ctx, const sales_resource_t *res, int64_t id,
    const char *extra_where, json_t *binds, json_t **out);
int sales_load_owned(sales_ctx_t *ctx, const sales_resource_t *res,
    int64_t id, json_t **out);
sqlite3_stmt *sales_prepare_bound(sales_ctx_t *ctx, sales_buf_t *sql,
    json_t *binds);
int sales_update(sales_ctx_t *ctx, const sales_resource_t *res, int64_t id,
    json_t *before, json_t *changes, json_t **diff);
int sales_set_column(sales_ctx_t *ctx, const sales_resource_t *res,
    int64_t id, const char *column, json_t *value);
void sales_select_columns(const sales_resource_t *res, const char *alias,
    sales_buf_t *sql);
json_t *sales_row_json(const sales_resource_t *res, sqlite3_stmt *st);

/* Lists with a keyset cursor. where is a SQL condition on alias t (no
 * user text inside; values go through binds). */
typedef struct {
    const char          *name;       /* ?sort=name */
    const char          *column;     /* SQL expression, NOT NULL */
    int                  type;       /* SALES_F_INT or SALES_F_STRING */
} sales_sort_t;

int sales_list(sales_ctx_t *ctx, const sales_resource_t *res,
    const char *from, sales_buf_t *where, json_t *binds, int newest_first,
    json_t **out);
int sales_list_sorted(sales_ctx_t *ctx, const sales_resource_t *res,
    const char *from, sales_buf_t *where, json_t *binds,
    const sales_sort_t *sort, int desc, json_t **out);
/* sorts ends with a NULL name; the first is the default. */
int sales_sort_param(sales_ctx_t *ctx, const sales_sort_t *sorts,
    const sales_sort_t **sort, int *desc);

/* Adds " AND column LIKE %text%" on a folded column. */
int sales_like_filter(sales_ctx_t *ctx, const char *column, const char *text,
    sales_buf_t *where, json_t *binds);

/* Shared with later resources (sales_opportunities.c). */
extern const sales_resource_t  sales_opportunities_res;
int sales_stage_is_open(const char *stage);
int sales_opportunity_change(sales_ctx_t *ctx, int64_t id, json_t *body,
    json_t **out);
int sales_opportunity_reach_proposal(sales_ctx_t *ctx, int64_t id);
int sales_opportunity_load(sales_ctx_t *ctx, int64_t id, json_t **out);
int sales_client_load(sales_ctx_t *ctx, int64_t id, json_t **out);
int sales_load_client_any(sales_ctx_t *ctx, int64_t id, json_t **out);
int sales_proposal_load(sales_ctx_t *ctx, int64_t id, json_t **out);
/* answer_action non-NULL: the client's own page, with the answer form
 * (posting back to the page's link); NULL: the AE's copy. */
char *sales_proposal_html(json_t *proposal, json_t *client, json_t *seller,
    const char *answer_action);
json_t *sales_seller_load(sales_ctx_t *ctx);
int sales_client_usable(sales_ctx_t *ctx, int64_t client_id,
    const char *field, char *currency);
int sales_month_range(sales_ctx_t *ctx, const char *month, char *first,
    char *next);

/* Pricing (sales_catalog.c, sales_pricing.c). */
extern const sales_resource_t  sales_loyalty_levels_res;
int sales_vat_rate_on(sales_ctx_t *ctx, const char *category,
    const char *date, int64_t *rate_bp);
/* Everything about a client its prices depend on, read once. */
typedef struct {
    int64_t      id;
    char         currency[4];
    int64_t      list_id;           /* own list, or 0 */
    int64_t      level_id;          /* loyalty level, or 0 */
    char         level_name[101];
    int64_t      discount_bp;
} sales_price_client_t;

int sales_price_client_load(sales_ctx_t *ctx, int64_t client_id,
    sales_price_client_t *pc);
int sales_line_amounts(int64_t unit, int64_t quantity, int64_t loyalty_bp,
    int64_t discount_bp, int64_t rate_bp, int64_t *net, int64_t *vat);
/* client is a sales_price_client_t. */
int sales_price_line(sales_ctx_t *ctx, const void *client,
    int64_t product_id, int64_t quantity, const char *date,
    const char *prefix, json_t **out);
int64_t sales_loyalty_level_for(sales_ctx_t *ctx, int64_t revenue_minor,
    const char *currency);

/* Shared field checks. */
int sales_check_email(sales_ctx_t *ctx, const sales_field_t *f,
    json_t **value);
int sales_check_phone(sales_ctx_t *ctx, const sales_field_t *f,
    json_t **value);
int sales_check_currency(sales_ctx_t *ctx, const sales_field_t *f,
    json_t **value);
int sales_check_country(sales_ctx_t *ctx, const sales_field_t *f,
    json_t **value);
int sales_check_iban(sales_ctx_t *ctx, const sales_field_t *f,
    json_t **value);

/* Pure validators (unit-tested). */
int sales_cui_valid(const char *digits, size_t len);
int sales_iban_valid(const char *iban, size_t len);
int sales_email_valid(const char *s, size_t len);
int sales_currency_known(const char *s, size_t len);
size_t sales_utf8_chars(const char *s, size_t len);
/* Lower-case, Romanian diacritics folded to ASCII; malloc'ed. */
char *sales_fold(const char *s, size_t len);

#endif
