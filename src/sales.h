/*
 * The core of the sales module: plain C over SQLite and jansson.
 * Never includes nginx: it runs on a thread-pool thread, in the unit
 * tests and in salesctl alike.
 */

#ifndef SALES_H
#define SALES_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sqlite3.h>
#include <jansson.h>

#include "sales_util.h"


#define SALES_MAX_JSON_DEPTH   32
#define SALES_LIST_DEFAULT     50
#define SALES_LIST_MAX         200
#define SALES_IDEM_TTL_MS      (24LL * 3600 * 1000)
/* A running idempotent request older than this is taken as abandoned. */
#define SALES_IDEM_STALE_MS    (120LL * 1000)
#define SALES_TRIES            3

enum {
    SALES_GET = 1,
    SALES_POST = 2,
    SALES_PATCH = 4,
    SALES_DELETE = 8,
    SALES_PUT = 16,
    SALES_OTHER = 32
};

enum {
    SALES_ROLE_ADMIN = 1,
    SALES_ROLE_MANAGER = 2,
    SALES_ROLE_AE = 4,
    SALES_ROLE_INTEGRATION = 8
};

#define SALES_ROLES_ALL  (SALES_ROLE_ADMIN | SALES_ROLE_MANAGER \
                          | SALES_ROLE_AE | SALES_ROLE_INTEGRATION)
#define SALES_ROLES_STAFF (SALES_ROLE_ADMIN | SALES_ROLE_MANAGER \
                           | SALES_ROLE_AE)

#define SALES_SECRET_MIN   32
#define SALES_SECRET_MAX   256
#define SALES_SECRETS_MAX  8

/* A secret that signs links; kid names it inside a token. */
typedef struct {
    uint8_t      key[SALES_SECRET_MAX];
    size_t       len;
    uint8_t      kid[4];
} sales_secret_t;

/* Settings the glue hands to the core; read-only once configured. */
typedef struct {
    const char      *db_path;
    int              busy_timeout_ms;
    int              test_clock;
    size_t           max_body;
    sales_secret_t  *secrets;       /* the first signs */
    int              nsecrets;
    const char      *public_url;    /* "" or "https://host" */
    int64_t          dedupe_ms;     /* views: repeats inside are duplicates */
    int64_t          prefetch_ms;   /* a bare UA this soon is a prefetch */
    int64_t          ua_retention_ms;
    /* webhooks */
    const int64_t   *webhook_retry_ms;   /* waits after failed attempts */
    int              webhook_nretry;
    int64_t          webhook_disable_after_ms;
    int64_t          webhook_lease_ms;   /* longer than one attempt */
    int64_t          webhook_start_ms;   /* a claimed attempt starts within
                                          * this of its claim, or not */
} sales_conf_t;

/* One hit of the pixel or the client's page, as the glue saw it. */
enum {
    SALES_VIEW_HUMAN = 0,
    SALES_VIEW_PROXY,
    SALES_VIEW_PREFETCH,
    SALES_VIEW_BOT
};

typedef struct {
    int64_t      proposal_id;
    int64_t      recipient_id;
    int64_t      at_ms;
    int          page;          /* the page, not the pixel */
    int          class;
    int          bare_ua;       /* the UA is exactly "Mozilla/5.0" */
    char         ip[48];
    char         ua[257];
} sales_view_t;

/* A batch of views and counted refusals, written in one transaction. */
int sales_views_write(sqlite3 *db, const sales_conf_t *conf,
    const sales_view_t *views, size_t n, int64_t forged, int64_t head,
    int64_t now_ms, char *err, size_t err_size);
int sales_views_store(const sales_conf_t *conf, int own_connection,
    const sales_view_t *views, size_t n, int64_t forged, int64_t head,
    char *err, size_t err_size);
const char *sales_view_class_name(int class);
int sales_view_class_parse(const char *name);

/* Webhooks (sales_webhook.c). A job is one attempt the glue makes: the
 * HTTP request, signed when it is sent, and the addresses its host
 * resolved to. */
#define SALES_WH_MAX_ADDRS     8
#define SALES_WH_EXCERPT       1024
#define SALES_WH_MAX_ANSWER    (64 * 1024)
#define SALES_WH_SECRET_MAX    128

typedef struct {
    int64_t                  delivery_id;
    int64_t                  lease_token;
    /* Started later than this, the attempt could outlive its lease and
     * run beside another worker's: it is given back untried. */
    int64_t                  send_by_ms;
    int                      once;
    int                      tls;
    char                     host[256];     /* SNI and certificate check */
    int                      port;
    char                     event_id[64];
    char                     secret[SALES_WH_SECRET_MAX];
    char                     previous[SALES_WH_SECRET_MAX];  /* or "" */
    char                    *text;          /* malloc'ed: head, then body */
    size_t                   head_len;      /* up to the signature */
    size_t                   body_len;
    char                    *request;       /* malloc'ed when signed */
    size_t                   request_len;
    int                      naddrs;
    struct sockaddr_storage  addrs[SALES_WH_MAX_ADDRS];
    socklen_t                addrlens[SALES_WH_MAX_ADDRS];
    char                     error[256];    /* not sendable: why */
} sales_wh_job_t;

/* What came of a job; sent 0 gives its lease back untried. */
typedef struct {
    int64_t      delivery_id;
    int64_t      lease_token;
    int          once;
    int          sent;
    int64_t      at_ms;
    int64_t      latency_ms;
    int          status;                    /* HTTP status, 0 for none */
    int64_t      retry_after_s;             /* -1 for none */
    char         error[256];
    char         excerpt[SALES_WH_EXCERPT + 1];
} sales_wh_result_t;

/* Records results, turns new outbox events into deliveries, and claims
 * at most max_jobs due ones (their hosts resolved, each host and port
 * once; a job whose send_by_ms passed while resolving is not resolved).
 * All or nothing: on failure (-1 with err) the results are not
 * recorded. */
int sales_webhook_cycle(const sales_conf_t *conf, int own_connection,
    const sales_wh_result_t *results, size_t nresults, size_t max_jobs,
    sales_wh_job_t **jobs, size_t *njobs, char *err, size_t err_size);
void sales_webhook_jobs_free(sales_wh_job_t *jobs, size_t n);
/* Frees what a job holds (its text and request). */
void sales_webhook_job_clear(sales_wh_job_t *job);
/* Builds job->request signed with the timestamp now_s; -1 with
 * job->error when it cannot be signed. */
int sales_webhook_job_sign(sales_wh_job_t *job, int64_t now_s);

/* Pure parts, unit-tested. */
typedef struct {
    int          tls;
    char         host[256];     /* without IPv6 brackets */
    int          ipv6;
    int          port;
    const char  *path;          /* path and query; "/" when empty */
    size_t       path_len;
} sales_url_t;

int sales_url_parse(const char *s, size_t len, sales_url_t *u,
    const char **why);
/* "v1,<base64>" of HMAC-SHA256(secret, id.ts.body); out >= 64. */
int sales_webhook_sign(const char *secret, const char *id, int64_t ts,
    const char *body, size_t len, char *out);
/* "whsec_" + base64 of 32 random bytes; out >= 64. */
int sales_webhook_secret_new(char *out);

typedef struct {
    int          status;
    int64_t      retry_after_s;
    size_t       header_len;                /* where the body starts */
    int64_t      content_length;            /* -1 for none */
    int          chunked;                   /* Transfer-Encoding: chunked */
    int          keep_alive;                /* Connection: keep-alive */
} sales_http_answer_t;

/* A receiver's answer as it arrives. Each feed looks only at the bytes
 * it has not seen, so an answer trickled in costs what it weighs. */
typedef struct {
    sales_http_answer_t  a;                 /* once the headers are in */
    int64_t              now_s;             /* Retry-After dates from this */
    int                  state;
    size_t               head;              /* the header block read now */
    size_t               scanned;           /* its end looked for so far */
    size_t               seen;              /* bytes fed so far */
    size_t               body;              /* body bytes so far */
    int                  chunk_state;       /* chunked: where in a chunk */
    int                  chunk_digits;
    uint64_t             chunk_left;
    size_t               excerpt_len;
    char                 excerpt[SALES_WH_EXCERPT];
} sales_http_reader_t;

void sales_http_reader_init(sales_http_reader_t *rd, int64_t now_s);
/* buf holds the whole answer read so far, len bytes, of which the reader
 * saw the first rd->seen before: 1 enough is read, 0 read on, -1 it is
 * not HTTP (reading may stop too). */
int sales_http_reader_feed(sales_http_reader_t *rd, const char *buf,
    size_t len);
/* Fills r's status, Retry-After, excerpt or error from what was fed. */
void sales_webhook_answer(const sales_http_reader_t *rd,
    sales_wh_result_t *r);

/* The whole answer at once: 1 status line and headers complete, 0 read
 * on, -1 not HTTP. */
int sales_http_answer_parse(const char *buf, size_t len, int64_t now_s,
    sales_http_answer_t *a);
/* Retry-After: delay-seconds or an HTTP date; -1 when neither. */
int64_t sales_retry_after_parse(const char *s, size_t len, int64_t now_s);

/* One API request, as the glue read it. Strings need not be terminated. */
typedef struct {
    int          method;
    const char  *path;
    size_t       path_len;
    const char  *query;
    size_t       query_len;
    const char  *authorization;
    size_t       authorization_len;
    const char  *idempotency_key;
    size_t       idempotency_key_len;
    int          has_idempotency_key;
    const char  *content_type;
    size_t       content_type_len;
    const char  *test_now;
    size_t       test_now_len;
    const char  *body;
    size_t       body_len;
    const char  *request_id;
} sales_http_req_t;

enum {
    SALES_LOG_NONE = 0,
    SALES_LOG_INFO,
    SALES_LOG_WARN,
    SALES_LOG_ERR,
    SALES_LOG_CRIT,
    SALES_LOG_ALERT
};

/* The answer; body is malloc'ed and freed by sales_http_resp_free(). */
typedef struct {
    int          status;
    const char  *content_type;
    char        *body;
    size_t       body_len;
    char         location[128];
    char         allow[64];
    int          www_authenticate;
    int          replayed;
    int          retry_after;
    int          log_level;
    char         log[512];
} sales_http_resp_t;

/* The caller, once the token is checked. */
typedef struct {
    int64_t      id;
    int          role;
    int64_t      manager_id;
} sales_user_t;

#define SALES_MAX_PARAMS  24
#define SALES_MAX_IDS     4

typedef struct {
    char        *name;
    char        *value;
} sales_param_t;

/* Everything a core function needs: the connection, the caller, the
 * clock, the parsed request and the error slot. */
typedef struct sales_ctx_s {
    sqlite3            *db;
    const sales_conf_t *conf;
    int64_t             now_ms;
    sales_user_t        user;
    const char         *request_id;

    int64_t             ids[SALES_MAX_IDS];
    int                 nids;
    sales_param_t       params[SALES_MAX_PARAMS];
    int                 nparams;

    /* error slot */
    int                 status;
    const char         *problem;
    char                detail[256];
    json_t             *errors;
    int                 busy;
    int                 log_level;
    char                log[512];

    /* answer extras */
    char                location[128];
    char               *raw_body;       /* a non-JSON answer, malloc'ed */
    const char         *raw_type;
} sales_ctx_t;

/* A route handler answers an HTTP status (2xx) and sets *out, or answers
 * -1 with the error in ctx. */
typedef int (*sales_handler_pt)(sales_ctx_t *ctx, json_t *body,
    json_t **out);

typedef struct {
    int                 method;
    const char         *path;      /* template: /clients/{id}/contacts */
    sales_handler_pt    handler;
    int                 roles;     /* who may call it at all */
    int                 write;
    const char         *params;    /* allowed query parameters, comma list */
} sales_route_t;


/* sales_api.c */
void sales_api_handle(const sales_conf_t *conf, const sales_http_req_t *req,
    sales_http_resp_t *resp);
void sales_http_resp_free(sales_http_resp_t *resp);
/* The client's page: GET shows, POST answers; req->path ends with the
 * token. */
void sales_public_handle(const sales_conf_t *conf,
    const sales_http_req_t *req, sales_http_resp_t *resp);
/* A problem+json answer built without the database (for the glue). */
void sales_problem_response(sales_http_resp_t *resp, int status,
    const char *problem, const char *detail, const char *request_id);

/* sales_token.c: signed view tokens for proposal links. */
#define SALES_VIEW_TOKEN_LEN  50
/* Parses a secrets file's text: one secret per line; 0 or -1 with err. */
int sales_secrets_parse(const char *text, size_t len, sales_secret_t *out,
    int max, int *n, char *err, size_t err_size);
/* out holds SALES_VIEW_TOKEN_LEN + 1 bytes. */
int sales_view_token_make(const sales_conf_t *conf, int64_t proposal_id,
    int64_t recipient_id, char *out);
/* 0 when the token is genuine under any of the secrets. */
int sales_view_token_check(const sales_conf_t *conf, const char *token,
    size_t len, int64_t *proposal_id, int64_t *recipient_id);

/* sales_router.c */
const sales_route_t *sales_route_match(const char *path, size_t len,
    int method, int64_t *ids, int *nids, int *allowed);
void sales_methods_string(int methods, char *out, size_t size);

/* sales_error.c: setting the error slot; each returns -1. */
int sales_fail(sales_ctx_t *ctx, int status, const char *problem,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
int sales_field_error(sales_ctx_t *ctx, const char *field,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int sales_validation_failed(sales_ctx_t *ctx);
int sales_db_error(sales_ctx_t *ctx, const char *what);
int sales_not_found(sales_ctx_t *ctx, const char *what);
int sales_forbidden(sales_ctx_t *ctx, const char *detail);
json_t *sales_problem_json(int status, const char *problem,
    const char *detail, const char *request_id, json_t *errors);
const char *sales_problem_title(const char *problem);

/* sales_db.c */
sqlite3 *sales_db_thread_conn(const sales_conf_t *conf, char *err,
    size_t err_size);
void sales_db_close_all(void);
/* The thread's connection, or a connection of its own (at exit, when the
 * pool's threads are gone); sales_db_done() closes only the latter. */
sqlite3 *sales_db_for(const sales_conf_t *conf, int own_connection,
    char *err, size_t err_size);
void sales_db_done(sqlite3 *db, int own_connection);
int sales_db_open(const char *path, int busy_timeout_ms, sqlite3 **out,
    char *err, size_t err_size);
int sales_db_migrate(sqlite3 *db, char *err, size_t err_size);
int sales_db_schema_version(void);
int sales_db_backup(sqlite3 *db, const char *to, char *err,
    size_t err_size);
sqlite3_stmt *sales_prepare(sales_ctx_t *ctx, const char *sql);
void sales_finish(sqlite3_stmt *st);
int sales_step_done(sales_ctx_t *ctx, sqlite3_stmt *st);
int sales_exec(sales_ctx_t *ctx, const char *sql);
int sales_bind_json(sqlite3_stmt *st, int idx, json_t *v);
int sales_bind_all(sqlite3_stmt *st, json_t *binds);
int64_t sales_count(sales_ctx_t *ctx, const char *sql, json_t *binds);
int64_t sales_count_buf(sales_ctx_t *ctx, sales_buf_t *sql, json_t *binds);

/* sales_query.c: query parameters */
int sales_params_parse(sales_ctx_t *ctx, const char *q, size_t len,
    const char *allowed);
void sales_params_free(sales_ctx_t *ctx);
const char *sales_param(sales_ctx_t *ctx, const char *name);
int sales_param_int(sales_ctx_t *ctx, const char *name, int64_t min,
    int64_t max, int64_t *out);
int sales_param_bool(sales_ctx_t *ctx, const char *name, int *out);
/* 400 naming the parameter. */
int sales_param_error(sales_ctx_t *ctx, const char *name, const char *detail);

/* sales_auth.c */
int sales_auth(sales_ctx_t *ctx, const char *header, size_t len);
int sales_token_create(sqlite3 *db, int64_t user_id, const char *label,
    int64_t now_ms, json_t **out);
const char *sales_role_name(int role);
int sales_role_parse(const char *s);
/* SQL condition on an owner column for the caller's visibility. */
void sales_scope_sql(sales_ctx_t *ctx, const char *column, sales_buf_t *sql,
    json_t *binds);
int sales_may_own(sales_ctx_t *ctx, int64_t owner_id);
int sales_owner_filter(sales_ctx_t *ctx, const char *column,
    sales_buf_t *where, json_t *binds);
int sales_owner_param(sales_ctx_t *ctx, const char *name, const char *column,
    sales_buf_t *where, json_t *binds);
int sales_user_in_scope(sales_ctx_t *ctx, int64_t id);

/* sales_audit.c */
int sales_audit(sales_ctx_t *ctx, const char *action,
    const char *object_type, int64_t object_id, json_t *changes);
int sales_event(sales_ctx_t *ctx, const char *type,
    const char *subject_type, int64_t subject_id, json_t *data);

/* sales_idem.c */
int sales_idem_key_parse(const char *in, size_t len, char *out,
    size_t out_size);

/* Resources. */
int sales_me_get(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_users_create(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_users_list(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_users_get(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_users_update(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_tokens_create(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_tokens_list(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_tokens_revoke(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_clients_create(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_clients_list(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_clients_get(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_clients_update(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_clients_archive(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_clients_unarchive(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_contacts_create(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_contacts_list(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_contacts_get(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_contacts_update(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_contacts_delete(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_audit_list(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_opportunities_create(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_opportunities_list(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_opportunities_get(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_opportunities_update(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_opportunities_history(sales_ctx_t *ctx, json_t *body,
    json_t **out);
int sales_activities_create(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_activities_list(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_activities_get(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_activities_update(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_activities_delete(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_clients_history(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_report_pipeline(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_products_create(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_products_list(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_products_get(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_products_update(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_vat_rates_create(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_vat_rates_list(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_vat_rates_get(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_vat_rates_update(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_price_lists_create(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_price_lists_list(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_price_lists_get(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_price_lists_update(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_price_items_create(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_price_items_list(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_price_items_get(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_price_items_update(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_price_items_delete(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_loyalty_levels_create(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_loyalty_levels_list(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_loyalty_levels_get(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_loyalty_levels_update(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_clients_loyalty_get(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_clients_loyalty_set(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_prices_get(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_prices_quote(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_proposals_create(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_proposals_list(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_proposals_get(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_proposals_update(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_proposals_revise(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_proposals_accept(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_proposals_reject(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_proposals_send(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_proposals_document(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_contracts_create(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_contracts_list(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_contracts_get(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_contracts_update(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_contracts_delete(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_contracts_send(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_contracts_withdraw(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_contracts_sign(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_contracts_document(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_contracts_amend(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_contracts_renew(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_contracts_terminate(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_settings_seller_get(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_settings_seller_put(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_proposals_views(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_recipients_erase(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_notifications_list(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_notifications_read(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_notifications_read_all(sales_ctx_t *ctx, json_t *body,
    json_t **out);
int sales_pixel_stats(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_proposals_convert(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_orders_create(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_orders_list(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_orders_get(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_orders_update(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_orders_confirm(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_orders_hold(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_orders_resume(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_orders_complete(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_orders_cancel(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_orders_document(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_clients_purchases(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_proformas_create(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_proformas_list(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_proformas_get(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_proformas_update(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_proformas_delete(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_proformas_issue(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_proformas_cancel(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_proformas_pay(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_proformas_document(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_invoices_create(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_invoices_list(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_invoices_get(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_invoices_update(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_invoices_delete(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_invoices_issue(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_invoices_pay(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_invoices_payments(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_invoices_credit(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_invoices_verify(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_invoices_document(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_payments_list(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_payments_get(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_chain_opportunity(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_chain_proposal(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_chain_proforma(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_chain_order(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_chain_contract(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_chain_invoice(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_chain_credit_note(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_chain_payment(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_webhook_endpoints_create(sales_ctx_t *ctx, json_t *body,
    json_t **out);
int sales_webhook_endpoints_list(sales_ctx_t *ctx, json_t *body,
    json_t **out);
int sales_webhook_endpoints_get(sales_ctx_t *ctx, json_t *body,
    json_t **out);
int sales_webhook_endpoints_update(sales_ctx_t *ctx, json_t *body,
    json_t **out);
int sales_webhook_endpoints_delete(sales_ctx_t *ctx, json_t *body,
    json_t **out);
int sales_webhook_endpoints_rotate(sales_ctx_t *ctx, json_t *body,
    json_t **out);
int sales_webhook_endpoints_ping(sales_ctx_t *ctx, json_t *body,
    json_t **out);
int sales_webhook_endpoints_replay(sales_ctx_t *ctx, json_t *body,
    json_t **out);
int sales_webhook_deliveries_list(sales_ctx_t *ctx, json_t *body,
    json_t **out);
int sales_webhook_deliveries_get(sales_ctx_t *ctx, json_t *body,
    json_t **out);
int sales_webhook_deliveries_replay(sales_ctx_t *ctx, json_t *body,
    json_t **out);
int sales_webhook_event_types(sales_ctx_t *ctx, json_t *body, json_t **out);
int sales_commission_policies_create(sales_ctx_t *ctx, json_t *body,
    json_t **out);
int sales_commission_policies_list(sales_ctx_t *ctx, json_t *body,
    json_t **out);
int sales_commission_policies_get(sales_ctx_t *ctx, json_t *body,
    json_t **out);
int sales_commission_policies_update(sales_ctx_t *ctx, json_t *body,
    json_t **out);
int sales_commission_assignments_create(sales_ctx_t *ctx, json_t *body,
    json_t **out);
int sales_commission_assignments_list(sales_ctx_t *ctx, json_t *body,
    json_t **out);
int sales_commission_assignments_get(sales_ctx_t *ctx, json_t *body,
    json_t **out);
int sales_commission_assignments_update(sales_ctx_t *ctx, json_t *body,
    json_t **out);
int sales_commission_assignments_delete(sales_ctx_t *ctx, json_t *body,
    json_t **out);
int sales_commission_accruals_list(sales_ctx_t *ctx, json_t *body,
    json_t **out);
int sales_commission_periods_close(sales_ctx_t *ctx, json_t *body,
    json_t **out);
int sales_commission_periods_approve(sales_ctx_t *ctx, json_t *body,
    json_t **out);
int sales_commission_periods_list(sales_ctx_t *ctx, json_t *body,
    json_t **out);
int sales_commission_periods_get(sales_ctx_t *ctx, json_t *body,
    json_t **out);
int sales_commission_payouts_list(sales_ctx_t *ctx, json_t *body,
    json_t **out);
int sales_commission_payouts_get(sales_ctx_t *ctx, json_t *body,
    json_t **out);
int sales_commission_payouts_export(sales_ctx_t *ctx, json_t *body,
    json_t **out);
int sales_commission_payouts_exported(sales_ctx_t *ctx, json_t *body,
    json_t **out);
int sales_commission_payouts_paid(sales_ctx_t *ctx, json_t *body,
    json_t **out);

/* For salesctl: create a user directly (no caller). */
int sales_user_insert(sqlite3 *db, const char *name, int role,
    int64_t manager_id, int64_t now_ms, json_t **out, char *err,
    size_t err_size);

#endif
