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

/* Shorthands for the fields a document shows but never takes. */
#define SALES_SHOWN(name, type)                                               \
    { name, type, SALES_F_READONLY, 0, 0, NULL, NULL, NULL, 0, 0 }
#define SALES_SHOWN_ENUM(name, values)                                        \
    { name, SALES_F_ENUM, SALES_F_READONLY, 0, 0, values, NULL, NULL, 0, 0 }
#define SALES_STORED(name)                                                    \
    { name, SALES_F_STRING, SALES_F_HIDDEN, 0, 0, NULL, NULL, NULL, 0, 0 }
#define SALES_TEXT(name, max)                                                 \
    { name, SALES_F_STRING, SALES_F_MULTILINE, 0, max, NULL, NULL, NULL, 0, 0 }
#define SALES_FIELDS_END                                                      \
    { NULL, 0, 0, 0, 0, NULL, NULL, NULL, 0, 0 }

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

/* A row by id as a resource shows it. */
typedef int (*sales_load_pt)(sales_ctx_t *ctx, int64_t id, json_t **out);

int sales_created(sales_ctx_t *ctx, const sales_resource_t *res, int64_t id,
    sales_load_pt load, json_t **out);
int sales_updated(sales_ctx_t *ctx, const sales_resource_t *res, int64_t id,
    json_t *before, json_t *changes, sales_load_pt load, json_t **out);

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
/* A visibility rule: a condition on alias t, its values in binds. */
typedef void (*sales_scope_pt)(sales_ctx_t *ctx, sales_buf_t *where,
    json_t *binds);
int sales_load_scoped(sales_ctx_t *ctx, const sales_resource_t *res,
    int64_t id, sales_scope_pt scope, json_t **out);
sqlite3_stmt *sales_prepare_bound(sales_ctx_t *ctx, sales_buf_t *sql,
    json_t *binds);
int sales_update(sales_ctx_t *ctx, const sales_resource_t *res, int64_t id,
    json_t *before, json_t *changes, json_t **diff);
int sales_set_column(sales_ctx_t *ctx, const sales_resource_t *res,
    int64_t id, const char *column, json_t *value);
void sales_select_columns(const sales_resource_t *res, const char *alias,
    sales_buf_t *sql);
json_t *sales_row_json(const sales_resource_t *res, sqlite3_stmt *st);

/* What a resource adds to a row before it is shown. */
typedef int (*sales_finish_pt)(sales_ctx_t *ctx, json_t *obj);

int sales_load_finished(sales_ctx_t *ctx, const sales_resource_t *res,
    int64_t id, int owned, sales_finish_pt finish, json_t **out);
int sales_list_finished(sales_ctx_t *ctx, const sales_resource_t *res,
    sales_buf_t *where, json_t *binds, int newest_first,
    sales_finish_pt finish, json_t **out);

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

/* List filters (sales_contracts.c): ?name=ID narrows to t.name = ID for
 * each of ids; ?name= one of values (*out NULL when not given). */
int sales_id_filters(sales_ctx_t *ctx, const char *const *ids,
    sales_buf_t *where, json_t *binds);
int sales_param_enum(sales_ctx_t *ctx, const char *name,
    const char *const *values, const char *detail, const char **out);

/* Adds " AND column LIKE %text%" on a folded column. */
int sales_like_filter(sales_ctx_t *ctx, const char *column, const char *text,
    sales_buf_t *where, json_t *binds);


/* Small readers of JSON objects. */
static inline const char *
sales_jstr(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static inline int64_t
sales_jint(json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}


/* What the documents share (sales_lines.c). */
int64_t sales_number_take(sales_ctx_t *ctx, const char *prefix,
    const char *date, int digits, char *series, size_t series_size,
    char *number, size_t number_size);
int sales_line_error(sales_ctx_t *ctx, const char *list, size_t i,
    const char *field, const char *detail);
int sales_item_int(sales_ctx_t *ctx, json_t *item, const char *list,
    size_t i, const char *field, int64_t min, int64_t max, int required);
int sales_item_text(sales_ctx_t *ctx, json_t *item, const char *list,
    size_t i, const char *field, size_t max);
int sales_items_shape(sales_ctx_t *ctx, json_t *items, const char *list,
    size_t max, const char *const *known);
int sales_lines_check(sales_ctx_t *ctx, json_t *lines);
json_t *sales_lines_as_input(json_t *lines);
int sales_lines_price(sales_ctx_t *ctx, int64_t client_id,
    const char *currency, const char *field, json_t *lines,
    const char *price_date, json_t **priced, json_t **totals);
json_t *sales_totals_of(json_t *lines);
int sales_totals_store(sales_ctx_t *ctx, const char *table, int64_t id,
    json_t *totals);
int sales_rows_replace(sales_ctx_t *ctx, const char *table,
    const char *parent, int64_t id, const char *const *columns,
    json_t *rows);
int sales_rows_load(sales_ctx_t *ctx, const char *table, const char *parent,
    int64_t id, const char *const *columns, const char *const *json_columns,
    json_t **out);
extern const char *const  sales_priced_columns[];
extern const char *const  sales_json_columns[];
int sales_vat_breakdown_load(sales_ctx_t *ctx, const char *table,
    json_t *doc);
int sales_require_status(sales_ctx_t *ctx, json_t *doc, const char *label,
    const char *allowed, const char *action);
int sales_set_state(sales_ctx_t *ctx, const char *table, int64_t id,
    const char *sql_set, json_t *binds);
int sales_only_fields(sales_ctx_t *ctx, json_t *body,
    const char *const *known);
int sales_text_field(sales_ctx_t *ctx, json_t *body, const char *field,
    size_t max, int required);
int sales_date_field(sales_ctx_t *ctx, json_t *body, const char *field,
    int required, int not_future, char *out);
void sales_date_add_days(const char *date, int64_t days, char *out);
int sales_doc_fields(sales_ctx_t *ctx, const sales_resource_t *res,
    json_t *body, json_t *before, const char *const *apart, json_t **values);
/* A document with priced lines, as its PATCH needs it. */
typedef struct {
    const sales_resource_t  *res;
    int                    (*load)(sales_ctx_t *ctx, int64_t id,
                                   json_t **out);
    /* prices input lines for the document before and stores them */
    int                    (*store)(sales_ctx_t *ctx, int64_t id,
                                    json_t *before, json_t *inputs,
                                    const char *price_date);
    const char              *not_draft;     /* "edited; revise it" */
} sales_priced_doc_t;

int sales_priced_update(sales_ctx_t *ctx, const sales_priced_doc_t *doc,
    int64_t id, json_t *body, json_t **out);
int sales_draft_updated(sales_ctx_t *ctx, const sales_resource_t *res,
    int64_t id, json_t *diff, const char *lines_note,
    int (*load)(sales_ctx_t *ctx, int64_t id, json_t **out), json_t **out);
int sales_doc_filters(sales_ctx_t *ctx, const char *const *ids,
    sales_buf_t *where, json_t *binds);
int sales_status_param(sales_ctx_t *ctx, const char *const *states,
    const char *label, const char **status);
int64_t sales_muldiv(int64_t a, int64_t b, int64_t c);
int64_t sales_days_between(const char *a, const char *b);

/* An event whose data is {subject_type: doc} and extra's keys
 * (sales_contracts.c). */
int sales_document_event(sales_ctx_t *ctx, const char *type,
    const char *subject_type, json_t *doc, json_t *extra);

/* The sweep of what time changes (sales_sweep.c); each resource's own
 * step writes its time-based events. */
int sales_sweep_due(int64_t now_ms);
int sales_sweep(sales_ctx_t *ctx);
int sales_sweep_events(sales_ctx_t *ctx, sqlite3_stmt *st, const char *type,
    const char *subject_type);
int sales_proposals_sweep(sales_ctx_t *ctx, const char *today);
int sales_invoices_sweep(sales_ctx_t *ctx, const char *today);
int sales_loyalty_sweep(sales_ctx_t *ctx, const char *today);

/* The documents after a proposal (sales_orders.c, sales_proformas.c,
 * sales_invoices.c). */
int sales_order_load(sales_ctx_t *ctx, int64_t id, json_t **out);
int sales_order_load_any(sales_ctx_t *ctx, int64_t id, json_t **out);
int sales_order_refresh(sales_ctx_t *ctx, int64_t order_id);
int sales_proforma_load(sales_ctx_t *ctx, int64_t id, json_t **out);
int sales_invoice_load(sales_ctx_t *ctx, int64_t id, json_t **out);
int sales_deal_committed(sales_ctx_t *ctx, int64_t order_id,
    int64_t proposal_id, int64_t except_proforma, int64_t *committed);
int64_t sales_advance_issue(sales_ctx_t *ctx, json_t *proforma,
    int64_t amount, json_t *body);
int64_t sales_invoice_pay(sales_ctx_t *ctx, int64_t invoice_id, json_t *body,
    int64_t proforma_id);
int sales_invoices_drop_drafts(sales_ctx_t *ctx, const char *column,
    int64_t id);
int sales_payment_get_any(sales_ctx_t *ctx, int64_t id, json_t **out);
int sales_loyalty_refresh(sales_ctx_t *ctx, int64_t client_id);
int sales_contracts_sweep(sales_ctx_t *ctx, const char *today);

/* Commission (sales_commission.c: policies and assignments;
 * sales_accruals.c: the ledger; sales_payouts.c: periods and payouts).
 * The accruals are written inside the transaction of the invoice's
 * issue, the payment or the credit note that causes them. */
int sales_commission_issued(sales_ctx_t *ctx, json_t *invoice);
int sales_commission_paid(sales_ctx_t *ctx, json_t *invoice,
    int64_t payment_id, int64_t amount);
int sales_commission_credited(sales_ctx_t *ctx, json_t *credit_note,
    json_t *original);
/* Sets commission_accrued_this_month_minor (RON) and
 * commission_accrued_this_month (per currency) on obj, over the rows of
 * the owners owner_where (a condition on t.owner_id) selects. */
int sales_commission_this_month(sales_ctx_t *ctx, const char *owner_where,
    json_t *binds, json_t *obj);

/* Period keys: "2026-12" (a month) or "2026-Q4" (a quarter); outs >= 8,
 * day outs >= 11. */
#define SALES_PERIOD_LEN  8
int sales_period_valid(const char *key);
void sales_period_of(const char *date, const char *kind, char *key);
void sales_period_after(const char *key, char *next);
void sales_period_first_month(const char *key, char *month);
void sales_period_end(const char *key, char *next_day);
/* The first period at or after key that team (a manager's id, 0 for the
 * users without one) has not closed. */
int sales_period_open(sales_ctx_t *ctx, int64_t team, const char *key,
    char *open);
/* One ledger row written outside an event (a carry at approval). */
int sales_accrual_carry(sales_ctx_t *ctx, int64_t user_id, int64_t team,
    int64_t period_id, const char *period, const char *currency,
    int64_t amount);

/* Shared checks of date ranges (sales_catalog.c). */
int sales_date_range_check(sales_ctx_t *ctx, json_t *merged,
    const char *from_field, const char *to_field);
int sales_range_free(sales_ctx_t *ctx, const char *table,
    const char *key_column, json_t *key, int64_t id, const char *prefix,
    json_t *merged, const char *detail);

/* Contracts (sales_contracts.c): the period after start..end of the same
 * length (whole months stay whole months); outs >= 11. */
void sales_period_next(const char *start, const char *end, char *next_start,
    char *next_end);

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

/* HTML pieces every printable document is made of (sales_document.c);
 * each escapes what it is given. */
void sales_html(sales_buf_t *b, const char *s);
void sales_html_text(sales_buf_t *b, const char *s);
void sales_html_money(sales_buf_t *b, int64_t minor, const char *currency);
void sales_html_percent(sales_buf_t *b, int64_t bp);
void sales_html_party(sales_buf_t *b, const char *title, json_t *o);
void sales_html_section(sales_buf_t *b, const char *title, const char *text);
void sales_html_head(sales_buf_t *b, const char *title);
char *sales_html_foot(sales_buf_t *b);

typedef struct {
    /* every json_t here is the page's own: sales_page_free() */
    const char  *heading;       /* "Factură INV-2026-000001" */
    json_t      *facts;         /* [[label, value|null], ...] */
    json_t      *seller;
    json_t      *client;
    json_t      *before;        /* [[title, text|null], ...] */
    json_t      *doc;           /* currency, lines, totals, vat */
    int          list_price;    /* a list price column */
    json_t      *after;         /* sections after the totals */
    const char  *ron_rate;      /* foreign currency: RON per unit; the
                                 * doc's vat_ron_minor are shown */
} sales_page_t;

void sales_html_document(sales_buf_t *b, const sales_page_t *pg);
int64_t sales_ron_of(int64_t minor, const char *rate);
int sales_answer_html(sales_ctx_t *ctx, char *page, json_t **out);
int sales_page_parties(sales_ctx_t *ctx, sales_page_t *pg);
void sales_page_free(sales_page_t *pg);
int sales_page_answer(sales_ctx_t *ctx, sales_page_t *pg, json_t **out);
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
