
/*
 * ngx_http_sales_module: an API request's path through nginx. Read the
 * body, hand the request to the core on the thread pool, resume through
 * r->write_event_handler when the task completes, send the answer.
 */


#include "ngx_http_sales.h"


/* As nginx's own AIO tasks do: a timer on the task keeps a worker that
 * is shutting down from exiting under a running task. */
#define NGX_HTTP_SALES_TASK_TIMEOUT  60000


typedef void (*ngx_http_sales_core_pt)(const sales_conf_t *conf,
    const sales_http_req_t *req, sales_http_resp_t *resp);


typedef struct {
    const sales_conf_t     *conf;
    ngx_http_sales_core_pt  core;
    sales_http_req_t        req;
    sales_http_resp_t       resp;
    ngx_fd_t                body_fd;
    off_t                   body_offset;
    size_t                  body_file_len;
    char                   *body_copy;
} ngx_http_sales_task_ctx_t;


typedef struct {
    ngx_thread_task_t      *task;
    ngx_http_sales_task_ctx_t  *tctx;
    ngx_http_sales_core_pt  core;
    ngx_uint_t              done;
} ngx_http_sales_ctx_t;


static ngx_int_t ngx_http_sales_to_core(ngx_http_request_t *r,
    ngx_http_sales_core_pt core);
static void ngx_http_sales_api_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_sales_api_post(ngx_http_request_t *r,
    ngx_http_sales_main_conf_t *smcf, ngx_http_sales_ctx_t *ctx);
static void ngx_http_sales_api_thread(void *data, ngx_log_t *log);
static void ngx_http_sales_api_done(ngx_event_t *ev);
static void ngx_http_sales_api_resume(ngx_http_request_t *r);
static ngx_int_t ngx_http_sales_api_send(ngx_http_request_t *r,
    sales_http_resp_t *resp);
static ngx_int_t ngx_http_sales_api_problem(ngx_http_request_t *r,
    ngx_uint_t status, const char *problem, const char *detail);
static ngx_int_t ngx_http_sales_task_ctx_init(ngx_http_request_t *r,
    ngx_http_sales_task_ctx_t *t);
static void ngx_http_sales_task_cleanup(void *data);
static ngx_table_elt_t *ngx_http_sales_find_header(ngx_http_request_t *r,
    const char *name, size_t len);
static ngx_int_t ngx_http_sales_add_header(ngx_http_request_t *r,
    const char *name, u_char *value, size_t len);


ngx_int_t
ngx_http_sales_api_handler(ngx_http_request_t *r)
{
    return ngx_http_sales_to_core(r, sales_api_handle);
}


/* The client's page: a GET is a view too; the page comes from the core. */
ngx_int_t
ngx_http_sales_view_handler(ngx_http_request_t *r)
{
    if (r->method == NGX_HTTP_GET) {
        ngx_http_sales_record_view(r, 1);
    }

    return ngx_http_sales_to_core(r, sales_public_handle);
}


/* Reads the body, then hands the request to a core function on the
 * thread pool. */
static ngx_int_t
ngx_http_sales_to_core(ngx_http_request_t *r, ngx_http_sales_core_pt core)
{
    ngx_int_t                    rc;
    ngx_http_sales_ctx_t        *ctx;
    ngx_http_sales_main_conf_t  *smcf;

    smcf = ngx_http_get_module_main_conf(r, ngx_http_sales_module);

    if (r->headers_in.content_length_n > (off_t) smcf->max_body) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_sales_api_problem(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                          "too-large",
                                          "the request body is larger than "
                                          "this API accepts");
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_sales_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->core = core;
    ngx_http_set_ctx(r, ctx, ngx_http_sales_module);

    /* The post handler runs at once when there is no body. */
    rc = ngx_http_read_client_request_body(r, ngx_http_sales_api_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static int
ngx_http_sales_method(ngx_uint_t method)
{
    switch (method) {
    case NGX_HTTP_GET:
        return SALES_GET;
    case NGX_HTTP_POST:
        return SALES_POST;
    case NGX_HTTP_PATCH:
        return SALES_PATCH;
    case NGX_HTTP_DELETE:
        return SALES_DELETE;
    case NGX_HTTP_PUT:
        return SALES_PUT;
    default:
        return SALES_OTHER;
    }
}


/* Owns the count taken by ngx_http_read_client_request_body(). */
static void
ngx_http_sales_api_body(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    ngx_http_sales_ctx_t        *ctx;
    ngx_http_sales_main_conf_t  *smcf;

    smcf = ngx_http_get_module_main_conf(r, ngx_http_sales_module);
    ctx = ngx_http_get_module_ctx(r, ngx_http_sales_module);

    rc = ngx_http_sales_api_post(r, smcf, ctx);

    if (rc != NGX_DONE) {
        ngx_http_finalize_request(r, rc);
    }
}


/* Path below the location: "/api/clients/1" in "location /api/" is
 * "/clients/1". */
static void
ngx_http_sales_api_path(ngx_http_request_t *r, ngx_str_t *path)
{
    ngx_http_core_loc_conf_t  *clcf;
    size_t                     skip;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    *path = r->uri;

    if (clcf->regex || clcf->name.len == 0 || r->uri.len < clcf->name.len
        || ngx_strncmp(r->uri.data, clcf->name.data, clcf->name.len) != 0)
    {
        return;
    }

    skip = clcf->name.len;

    if (clcf->name.data[clcf->name.len - 1] == '/') {
        skip--;
    }

    path->data = r->uri.data + skip;
    path->len = r->uri.len - skip;
}


static ngx_int_t
ngx_http_sales_api_post(ngx_http_request_t *r,
    ngx_http_sales_main_conf_t *smcf, ngx_http_sales_ctx_t *ctx)
{
    size_t                      len;
    u_char                     *p;
    ngx_str_t                   path;
    ngx_buf_t                  *b;
    ngx_chain_t                *cl;
    ngx_table_elt_t            *h;
    ngx_thread_task_t          *task;
    ngx_http_variable_value_t  *vv;
    ngx_http_sales_task_ctx_t  *t;

    task = ngx_thread_task_alloc(r->pool, sizeof(ngx_http_sales_task_ctx_t));
    if (task == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    t = task->ctx;
    t->conf = &smcf->core;
    t->core = ctx->core;

    if (ngx_http_sales_task_ctx_init(r, t) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->task = task;
    ctx->tctx = t;

    /* The body: memory buffers are joined here; a body nginx spilled to
     * its temp file is read on the thread instead. */
    if (r->request_body && r->request_body->bufs) {
        len = 0;

        for (cl = r->request_body->bufs; cl; cl = cl->next) {
            b = cl->buf;
            len += b->in_file ? (size_t) (b->file_last - b->file_pos)
                              : (size_t) (b->last - b->pos);
        }

        if (len > smcf->max_body) {
            return ngx_http_sales_api_problem(r,
                                          NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                          "too-large",
                                          "the request body is larger than "
                                          "this API accepts");
        }

        if (r->request_body->temp_file) {
            t->body_fd = r->request_body->temp_file->file.fd;
            t->body_offset = 0;
            t->body_file_len = len;

        } else if (len) {
            p = ngx_pnalloc(r->pool, len);
            if (p == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            t->req.body = (const char *) p;
            t->req.body_len = len;

            for (cl = r->request_body->bufs; cl; cl = cl->next) {
                /* a chunked body may end in an empty buffer */
                if (cl->buf->last > cl->buf->pos) {
                    p = ngx_cpymem(p, cl->buf->pos,
                                   cl->buf->last - cl->buf->pos);
                }
            }
        }
    }

    ngx_http_sales_api_path(r, &path);

    t->req.method = ngx_http_sales_method(r->method);
    t->req.path = (const char *) path.data;
    t->req.path_len = path.len;
    t->req.query = (const char *) r->args.data;
    t->req.query_len = r->args.len;

    if (r->headers_in.authorization) {
        t->req.authorization =
                     (const char *) r->headers_in.authorization->value.data;
        t->req.authorization_len = r->headers_in.authorization->value.len;
    }

    if (r->headers_in.content_type) {
        t->req.content_type =
                     (const char *) r->headers_in.content_type->value.data;
        t->req.content_type_len = r->headers_in.content_type->value.len;
    }

    h = ngx_http_sales_find_header(r, "Idempotency-Key",
                                   sizeof("Idempotency-Key") - 1);
    if (h) {
        t->req.idempotency_key = (const char *) h->value.data;
        t->req.idempotency_key_len = h->value.len;
        t->req.has_idempotency_key = 1;
    }

    if (smcf->test_clock) {
        h = ngx_http_sales_find_header(r, "X-Sales-Test-Now",
                                       sizeof("X-Sales-Test-Now") - 1);
        if (h) {
            t->req.test_now = (const char *) h->value.data;
            t->req.test_now_len = h->value.len;
        }
    }

    vv = ngx_http_get_indexed_variable(r, smcf->request_id_index);
    if (vv && !vv->not_found) {
        p = ngx_pnalloc(r->pool, vv->len + 1);
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        ngx_memcpy(p, vv->data, vv->len);
        p[vv->len] = '\0';
        t->req.request_id = (const char *) p;
    }

    task->handler = ngx_http_sales_api_thread;
    task->event.handler = ngx_http_sales_api_done;
    task->event.data = r;
    task->event.log = r->connection->log;

    if (ngx_thread_task_post(smcf->pool, task) != NGX_OK) {
        return ngx_http_sales_api_problem(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                          "unavailable",
                                          "the server is overloaded; retry "
                                          "shortly");
    }

    ngx_add_timer(&task->event, NGX_HTTP_SALES_TASK_TIMEOUT);

    r->main->blocked++;
    r->aio = 1;
    r->write_event_handler = ngx_http_sales_api_resume;

    return NGX_DONE;
}


/* On a pool thread: plain memory, libc and the core only. */
static void
ngx_http_sales_api_thread(void *data, ngx_log_t *log)
{
    ngx_http_sales_task_ctx_t  *t = data;
    size_t                      got = 0;
    ssize_t                     n;

    if (t->body_fd != NGX_INVALID_FILE) {
        t->body_copy = malloc(t->body_file_len ? t->body_file_len : 1);
        if (t->body_copy == NULL) {
            sales_problem_response(&t->resp, 503, "unavailable",
                                   "out of memory", t->req.request_id);
            return;
        }

        while (got < t->body_file_len) {
            n = pread(t->body_fd, t->body_copy + got, t->body_file_len - got,
                      t->body_offset + (off_t) got);
            if (n <= 0) {
                sales_problem_response(&t->resp, 500, "internal",
                                       "the request body could not be read",
                                       t->req.request_id);
                t->resp.log_level = SALES_LOG_CRIT;
                ngx_snprintf((u_char *) t->resp.log, sizeof(t->resp.log) - 1,
                             "pread() of the request body failed%Z");
                return;
            }
            got += n;
        }

        t->req.body = t->body_copy;
        t->req.body_len = got;
    }

    t->core(t->conf, &t->req, &t->resp);
}


static void
ngx_http_sales_api_done(ngx_event_t *ev)
{
    ngx_uint_t                  level;
    ngx_connection_t           *c;
    ngx_http_request_t         *r;
    ngx_http_sales_ctx_t       *ctx;
    ngx_http_sales_task_ctx_t  *t;

    r = ev->data;
    c = r->connection;

    if (ev->timedout) {
        /* the task goes on: this only keeps the worker from leaving it,
         * and its completion comes here again */
        ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                      "sales api task is still running after %d ms",
                      NGX_HTTP_SALES_TASK_TIMEOUT);
        ev->timedout = 0;
        return;
    }

    if (ev->timer_set) {
        ngx_del_timer(ev);
    }

    ngx_http_set_log_request(c->log, r);

    ctx = ngx_http_get_module_ctx(r, ngx_http_sales_module);
    t = ctx->tctx;
    ctx->done = 1;

    if (t->resp.log_level != SALES_LOG_NONE) {
        switch (t->resp.log_level) {
        case SALES_LOG_ALERT:
            level = NGX_LOG_ALERT;
            break;
        case SALES_LOG_CRIT:
            level = NGX_LOG_CRIT;
            break;
        case SALES_LOG_ERR:
            level = NGX_LOG_ERR;
            break;
        case SALES_LOG_WARN:
            level = NGX_LOG_WARN;
            break;
        default:
            level = NGX_LOG_INFO;
        }

        ngx_log_error(level, c->log, 0, "sales: %s", t->resp.log);
    }

    r->main->blocked--;
    r->aio = 0;

    r->write_event_handler(r);
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_sales_api_resume(ngx_http_request_t *r)
{
    ngx_http_sales_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_sales_module);

    if (ctx == NULL || !ctx->done) {
        return;
    }

    r->write_event_handler = ngx_http_request_empty_handler;

    ngx_http_finalize_request(r,
                              ngx_http_sales_api_send(r, &ctx->tctx->resp));
}


static ngx_int_t
ngx_http_sales_api_send(ngx_http_request_t *r, sales_http_resp_t *resp)
{
    size_t                     len;
    u_char                    *loc, *p;
    ngx_int_t                  rc;
    ngx_buf_t                 *b;
    ngx_chain_t                out;
    ngx_http_core_loc_conf_t  *clcf;

    r->headers_out.status = resp->status;

    if (resp->content_type) {
        r->headers_out.content_type.data = (u_char *) resp->content_type;
        r->headers_out.content_type.len = ngx_strlen(resp->content_type);
        r->headers_out.content_type_len = r->headers_out.content_type.len;
    }

    r->headers_out.content_length_n = resp->body_len;

    if (ngx_http_sales_add_header(r, "Cache-Control", (u_char *) "no-store",
                                  8) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (resp->www_authenticate
        && ngx_http_sales_add_header(r, "WWW-Authenticate",
                                     (u_char *) "Bearer", 6) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (resp->allow[0]
        && ngx_http_sales_add_header(r, "Allow", (u_char *) resp->allow,
                                     ngx_strlen(resp->allow)) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (resp->retry_after) {
        p = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        len = ngx_sprintf(p, "%d", resp->retry_after) - p;

        if (ngx_http_sales_add_header(r, "Retry-After", p, len) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (resp->replayed
        && ngx_http_sales_add_header(r, "Idempotent-Replayed",
                                     (u_char *) "true", 4) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (resp->location[0]) {
        /* The core names paths below the API; prefix the location. */
        clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);
        len = ngx_strlen(resp->location);

        loc = ngx_pnalloc(r->pool, clcf->name.len + len);
        if (loc == NULL) {
            return NGX_ERROR;
        }

        p = loc;
        if (!clcf->regex) {
            p = ngx_cpymem(p, clcf->name.data, clcf->name.len);
            if (p > loc && p[-1] == '/') {
                p--;
            }
        }
        p = ngx_cpymem(p, resp->location, len);

        r->headers_out.location = ngx_list_push(&r->headers_out.headers);
        if (r->headers_out.location == NULL) {
            return NGX_ERROR;
        }

        r->headers_out.location->hash = 1;
        ngx_str_set(&r->headers_out.location->key, "Location");
        r->headers_out.location->value.data = loc;
        r->headers_out.location->value.len = p - loc;
    }

    if (resp->body_len == 0) {
        r->header_only = 1;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = (u_char *) resp->body;
    b->last = b->pos + resp->body_len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/* An answer made on the event loop, without the database. */
static ngx_int_t
ngx_http_sales_api_problem(ngx_http_request_t *r, ngx_uint_t status,
    const char *problem, const char *detail)
{
    ngx_http_sales_task_ctx_t  *t;

    t = ngx_pcalloc(r->pool, sizeof(ngx_http_sales_task_ctx_t));
    if (t == NULL || ngx_http_sales_task_ctx_init(r, t) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    sales_problem_response(&t->resp, (int) status, problem, detail, NULL);

    if (status == NGX_HTTP_SERVICE_UNAVAILABLE) {
        t->resp.retry_after = 1;
    }

    return ngx_http_sales_api_send(r, &t->resp);
}


/* The answer and any body copy live on malloc until the request's pool
 * goes. */
static ngx_int_t
ngx_http_sales_task_ctx_init(ngx_http_request_t *r,
    ngx_http_sales_task_ctx_t *t)
{
    ngx_pool_cleanup_t  *cln;

    t->body_fd = NGX_INVALID_FILE;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_sales_task_cleanup;
    cln->data = t;

    return NGX_OK;
}


static void
ngx_http_sales_task_cleanup(void *data)
{
    ngx_http_sales_task_ctx_t  *t = data;

    sales_http_resp_free(&t->resp);
    free(t->body_copy);
    t->body_copy = NULL;
}


static ngx_table_elt_t *
ngx_http_sales_find_header(ngx_http_request_t *r, const char *name,
    size_t len)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, (u_char *) name, len) == 0)
        {
            return &h[i];
        }
    }
}


static ngx_int_t
ngx_http_sales_add_header(ngx_http_request_t *r, const char *name,
    u_char *value, size_t len)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value.data = value;
    h->value.len = len;

    return NGX_OK;
}


ngx_int_t
ngx_http_sales_set_header(ngx_http_request_t *r, const char *name,
    const char *value)
{
    return ngx_http_sales_add_header(r, name, (u_char *) value,
                                     ngx_strlen(value));
}
