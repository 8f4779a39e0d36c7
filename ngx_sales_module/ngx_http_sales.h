
/*
 * ngx_http_sales_module: nginx glue shared between its files.
 */


#ifndef _NGX_HTTP_SALES_H_INCLUDED_
#define _NGX_HTTP_SALES_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "sales.h"


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
    sales_conf_t          core;
} ngx_http_sales_main_conf_t;


typedef struct {
    ngx_flag_t            api;
} ngx_http_sales_loc_conf_t;


extern ngx_module_t  ngx_http_sales_module;


ngx_int_t ngx_http_sales_api_handler(ngx_http_request_t *r);


#endif /* _NGX_HTTP_SALES_H_INCLUDED_ */
