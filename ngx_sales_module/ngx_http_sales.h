
/*
 * ngx_http_sales_module: nginx glue shared between its files.
 */


#ifndef _NGX_HTTP_SALES_H_INCLUDED_
#define _NGX_HTTP_SALES_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "sales.h"


/* A user-agent pattern or a variable that gives a view its class. */
typedef struct {
    ngx_int_t             class;
    ngx_regex_t          *regex;
    ngx_int_t             index;          /* variable, when no regex */
} ngx_http_sales_classifier_t;


/* Per-worker memories of the pixel's hot path: a link checked once is
 * known again, and a user agent classified once keeps its class. */
#define NGX_HTTP_SALES_MEMO  256

typedef struct {
    u_char                token[SALES_VIEW_TOKEN_LEN];
    int64_t               proposal_id;
    int64_t               recipient_id;
    ngx_uint_t            used;
} ngx_http_sales_token_memo_t;

typedef struct {
    u_char                ua[256];
    size_t                len;
    int                   class;
    ngx_uint_t            used;
} ngx_http_sales_ua_memo_t;


/* The worker's views waiting to be written. */
typedef struct {
    sales_view_t         *items;
    size_t                n;
    size_t                cap;
    int64_t               forged;
    int64_t               head;
} ngx_http_sales_batch_t;


typedef struct {
    ngx_str_t             db;
    ngx_str_t             pool_name;
    ngx_thread_pool_t    *pool;
    size_t                max_body;
    ngx_msec_t            busy_timeout;
    ngx_flag_t            test_clock;
    ngx_uint_t            api_used;
    ngx_int_t             request_id_index;
    ngx_str_t             public_url;
    sales_secret_t       *secrets;
    ngx_int_t             nsecrets;

    /* the pixel */
    ngx_msec_t            pixel_flush;
    ngx_uint_t            pixel_batch;
    ngx_msec_t            pixel_dedupe;
    ngx_msec_t            pixel_prefetch;
    ngx_msec_t            pixel_ua_retention;
    ngx_flag_t            pixel_ua_defaults;
    ngx_array_t          *classifiers;     /* variables, then patterns */
    ngx_uint_t            pixel_used;

    /* the worker's batch, and the one being written */
    ngx_http_sales_batch_t    pending;
    ngx_http_sales_batch_t    writing;
    ngx_thread_task_t        *flush_task;
    ngx_http_sales_token_memo_t  *token_memo;
    ngx_http_sales_ua_memo_t     *ua_memo;
    ngx_event_t               flush_timer;
    ngx_uint_t                flushing;

    /* webhooks */
    ngx_msec_t            wh_poll;
    ngx_msec_t            wh_timeout;
    ngx_uint_t            wh_concurrency;
    ngx_msec_t            wh_disable_after;
    ngx_array_t          *wh_retry;        /* int64_t ms */
    ngx_array_t          *wh_allow;        /* ngx_cidr_t */
    ngx_flag_t            wh_verify;
    ngx_str_t             wh_trusted;
#if (NGX_HTTP_SSL)
    ngx_ssl_t            *wh_ssl;
#endif

    /* the worker's deliveries: the cycle task, the attempts in flight
     * and their results waiting to be recorded */
    ngx_thread_task_t    *wh_task;
    ngx_event_t           wh_timer;
    ngx_uint_t            wh_cycling;
    ngx_uint_t            wh_failures;     /* cycles failed in a row */
    ngx_uint_t            wh_short;        /* of connections, this cycle */
    ngx_queue_t           wh_inflight;
    ngx_uint_t            wh_ninflight;
    sales_wh_result_t    *wh_results;
    size_t                wh_nresults;
    size_t                wh_cresults;

    sales_conf_t          core;
} ngx_http_sales_main_conf_t;


typedef struct {
    ngx_flag_t            api;
} ngx_http_sales_loc_conf_t;


extern ngx_module_t  ngx_http_sales_module;


ngx_int_t ngx_http_sales_api_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_sales_view_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_sales_set_header(ngx_http_request_t *r, const char *name,
    const char *value);
ngx_int_t ngx_http_sales_pixel_handler(ngx_http_request_t *r);
void ngx_http_sales_record_view(ngx_http_request_t *r, ngx_uint_t page);
ngx_int_t ngx_http_sales_pixel_init_worker(ngx_cycle_t *cycle,
    ngx_http_sales_main_conf_t *smcf);
void ngx_http_sales_pixel_exit_worker(ngx_cycle_t *cycle,
    ngx_http_sales_main_conf_t *smcf);
char *ngx_http_sales_pixel_ua(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_sales_pixel_class(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_sales_pixel_defaults(ngx_conf_t *cf,
    ngx_http_sales_main_conf_t *smcf);
char *ngx_http_sales_webhook_retry(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_sales_webhook_allow(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_sales_webhook_init_conf(ngx_conf_t *cf,
    ngx_http_sales_main_conf_t *smcf);
ngx_int_t ngx_http_sales_webhook_init_worker(ngx_cycle_t *cycle,
    ngx_http_sales_main_conf_t *smcf);
void ngx_http_sales_webhook_exit_worker(ngx_cycle_t *cycle,
    ngx_http_sales_main_conf_t *smcf);


#endif /* _NGX_HTTP_SALES_H_INCLUDED_ */
