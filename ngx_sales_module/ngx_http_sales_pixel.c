
/*
 * ngx_http_sales_module: the view pixel. The GIF goes out at once; the
 * view joins the worker's batch, which a thread-pool task writes in one
 * transaction. Nothing here waits for SQLite.
 */


#include "ngx_http_sales.h"


/* Most views a worker keeps while the database cannot take them (about
 * 350 bytes each). */
#define NGX_HTTP_SALES_MAX_PENDING  500000


typedef struct {
    ngx_http_sales_main_conf_t  *smcf;
    int                          rc;
    char                         err[256];
} ngx_http_sales_flush_ctx_t;


static ngx_int_t ngx_http_sales_token(ngx_http_sales_main_conf_t *smcf,
    u_char *token, size_t len, int64_t *proposal_id, int64_t *recipient_id);
static void ngx_http_sales_flush(ngx_http_sales_main_conf_t *smcf);
static void ngx_http_sales_flush_thread(void *data, ngx_log_t *log);
static void ngx_http_sales_flush_done(ngx_event_t *ev);
static void ngx_http_sales_flush_timer(ngx_event_t *ev);
static void ngx_http_sales_batch_changed(ngx_http_sales_main_conf_t *smcf);
static ngx_int_t ngx_http_sales_batch_merge(ngx_http_sales_batch_t *to,
    ngx_http_sales_batch_t *first);
static int ngx_http_sales_classify(ngx_http_request_t *r,
    ngx_http_sales_main_conf_t *smcf, ngx_str_t *ua);
static void ngx_http_sales_client_addr(ngx_http_request_t *r, char *out,
    size_t size);
static ngx_int_t ngx_http_sales_add_classifier(ngx_conf_t *cf,
    ngx_http_sales_main_conf_t *smcf, ngx_str_t *class, ngx_str_t *pattern);


/* The same transparent 1x1 GIF89a as nginx's empty_gif: 43 bytes. */
static u_char  ngx_http_sales_gif[] = {

    'G', 'I', 'F', '8', '9', 'a',       /* header */
    0x01, 0x00, 0x01, 0x00,             /* 1 x 1 */
    0x80, 0x01, 0x00,                   /* global colour table of 2 */
    0x00, 0x00, 0x00,                   /* black */
    0xff, 0xff, 0xff,                   /* white */
    '!', 0xf9, 0x04, 0x01, 0x00, 0x00, 0x01, 0x00,  /* white is clear */
    ',', 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00,
    0x02, 0x02, 0x4c, 0x01, 0x00,       /* one pixel of image data */
    ';'                                 /* trailer */
};


/*
 * Built-in user-agent patterns, tried after the operator's own. Sources:
 * the mail providers' documentation of their image proxies (Gmail's
 * GoogleImageProxy, Yahoo's YahooMailProxy) and the user agents that mail
 * security gateways and link scanners send, as mail deliverability tools
 * collect them.
 */
static const struct {
    const char  *class;
    const char  *pattern;
} ngx_http_sales_ua_defaults[] = {

    { "proxy", "GoogleImageProxy" },
    { "proxy", "YahooMailProxy" },

    { "bot", "Barracuda|Mimecast|Proofpoint|Symantec|MessageLabs|Zscaler"
             "|IronPort|Cisco|Trend ?Micro|Forcepoint|Sophos|FireEye"
             "|SafeLinks|Safe Links|Microsoft Office Existence Discovery"
             "|BingPreview|Defender" },
    { "bot", "bot\\b|crawler|spider|slurp|preview" },
    { "bot", "^(curl|wget|python-requests|python-urllib|go-http-client"
             "|java|libwww-perl|okhttp|axios|node-fetch|httpclient"
             "|apache-httpclient)" },
    { "bot", "HeadlessChrome|PhantomJS|Puppeteer|Playwright" },

    { NULL, NULL }
};


ngx_int_t
ngx_http_sales_pixel_handler(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    ngx_str_t                    type = ngx_string("image/gif");
    ngx_http_complex_value_t     cv;
    ngx_http_sales_main_conf_t  *smcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        if (ngx_http_sales_set_header(r, "Allow", "GET, HEAD") != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (r->method == NGX_HTTP_HEAD) {
        smcf = ngx_http_get_module_main_conf(r, ngx_http_sales_module);
        smcf->pending.head++;
        ngx_http_sales_batch_changed(smcf);

    } else {
        ngx_http_sales_record_view(r, 0);
    }

    /* Nothing may be cached: every open must reach us. */
    if (ngx_http_sales_set_header(r, "Cache-Control",
                                  "no-store, no-cache, must-revalidate, "
                                  "max-age=0, private") != NGX_OK
        || ngx_http_sales_set_header(r, "Pragma", "no-cache") != NGX_OK
        || ngx_http_sales_set_header(r, "Expires",
                                     "Thu, 01 Jan 1970 00:00:01 GMT")
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memzero(&cv, sizeof(ngx_http_complex_value_t));
    cv.value.len = sizeof(ngx_http_sales_gif);
    cv.value.data = ngx_http_sales_gif;

    r->headers_out.last_modified_time = -1;

    return ngx_http_send_response(r, NGX_HTTP_OK, &type, &cv);
}


/*
 * A hit with a token: genuine ones become views in the batch, the others
 * are only counted. Checked with the secrets alone, on the event loop.
 */
void
ngx_http_sales_record_view(ngx_http_request_t *r, ngx_uint_t page)
{
    u_char                      *p, *start, *end;
    size_t                       len;
    int64_t                      proposal_id, recipient_id;
    ngx_str_t                    ua;
    ngx_time_t                  *tp;
    sales_view_t                *v;
    ngx_http_sales_batch_t      *b;
    ngx_http_sales_main_conf_t  *smcf;

    smcf = ngx_http_get_module_main_conf(r, ngx_http_sales_module);
    b = &smcf->pending;

    end = r->uri.data + r->uri.len;
    start = end;

    while (start > r->uri.data && start[-1] != '/') {
        start--;
    }

    len = end - start;

    if (!page) {
        if (len < 4 || ngx_strncmp(end - 4, ".gif", 4) != 0) {
            len = 0;
        } else {
            len -= 4;
        }
    }

    if (ngx_http_sales_token(smcf, start, len, &proposal_id, &recipient_id)
        != NGX_OK)
    {
        b->forged++;
        ngx_http_sales_batch_changed(smcf);
        return;
    }

    if (b->n == b->cap) {
        size_t         cap = b->cap ? b->cap * 2 : 64;
        sales_view_t  *items;

        if (b->n >= NGX_HTTP_SALES_MAX_PENDING) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "sales: %uz views wait for the database; "
                          "this view is not recorded", b->n);
            return;
        }

        items = realloc(b->items, cap * sizeof(sales_view_t));
        if (items == NULL) {
            ngx_log_error(NGX_LOG_CRIT, r->connection->log, ngx_errno,
                          "sales: no memory for a view");
            return;
        }

        b->items = items;
        b->cap = cap;
    }

    v = &b->items[b->n];
    ngx_memzero(v, sizeof(sales_view_t));

    tp = ngx_timeofday();
    v->at_ms = (int64_t) tp->sec * 1000 + tp->msec;
    v->proposal_id = proposal_id;
    v->recipient_id = recipient_id;
    v->page = page ? 1 : 0;

    ngx_str_null(&ua);
    if (r->headers_in.user_agent) {
        ua = r->headers_in.user_agent->value;
    }

    len = ngx_min(ua.len, sizeof(v->ua) - 1);
    p = ngx_cpymem(v->ua, ua.data, len);
    *p = '\0';

    /* stored as text: cut mid-character or not UTF-8, it is mended */
    sales_utf8_clean(v->ua);

    v->bare_ua = ua.len == 11 && ngx_strncmp(ua.data, "Mozilla/5.0", 11) == 0;
    v->class = ngx_http_sales_classify(r, smcf, &ua);

    ngx_http_sales_client_addr(r, v->ip, sizeof(v->ip));

    b->n++;
    ngx_http_sales_batch_changed(smcf);
}


/* A genuine token: remembered ones skip the HMAC. Only tokens that
 * passed the check are remembered, byte for byte. */
static ngx_int_t
ngx_http_sales_token(ngx_http_sales_main_conf_t *smcf, u_char *token,
    size_t len, int64_t *proposal_id, int64_t *recipient_id)
{
    ngx_http_sales_token_memo_t  *m = NULL;

    if (len != SALES_VIEW_TOKEN_LEN) {
        return NGX_DECLINED;
    }

    if (smcf->token_memo) {
        m = &smcf->token_memo[ngx_hash_key(token, len)
                              % NGX_HTTP_SALES_MEMO];

        if (m->used && ngx_memcmp(m->token, token, len) == 0) {
            *proposal_id = m->proposal_id;
            *recipient_id = m->recipient_id;
            return NGX_OK;
        }
    }

    if (sales_view_token_check(&smcf->core, (const char *) token, len,
                               proposal_id, recipient_id) != 0)
    {
        return NGX_DECLINED;
    }

    if (m) {
        ngx_memcpy(m->token, token, len);
        m->proposal_id = *proposal_id;
        m->recipient_id = *recipient_id;
        m->used = 1;
    }

    return NGX_OK;
}


/* Operator variables first, then user-agent patterns, else human. */
static int
ngx_http_sales_classify(ngx_http_request_t *r,
    ngx_http_sales_main_conf_t *smcf, ngx_str_t *ua)
{
    ngx_http_sales_ua_memo_t  *m = NULL;
    int                        class;
    ngx_uint_t                    i;
    ngx_http_variable_value_t    *vv;
    ngx_http_sales_classifier_t  *c;

    if (smcf->classifiers == NULL) {
        return ua->len ? SALES_VIEW_HUMAN : SALES_VIEW_BOT;
    }

    c = smcf->classifiers->elts;

    for (i = 0; i < smcf->classifiers->nelts; i++) {
        if (c[i].regex) {
            continue;
        }

        vv = ngx_http_get_indexed_variable(r, c[i].index);

        if (vv && !vv->not_found && vv->len
            && !(vv->len == 1 && vv->data[0] == '0'))
        {
            return (int) c[i].class;
        }
    }

    /* Scripts and scanners often send no user agent at all. */
    if (ua->len == 0) {
        return SALES_VIEW_BOT;
    }

    if (smcf->ua_memo && ua->len <= sizeof(m->ua)) {
        m = &smcf->ua_memo[ngx_hash_key(ua->data, ua->len)
                           % NGX_HTTP_SALES_MEMO];

        if (m->used && m->len == ua->len
            && ngx_memcmp(m->ua, ua->data, ua->len) == 0)
        {
            return m->class;
        }
    }

    class = SALES_VIEW_HUMAN;

    for (i = 0; i < smcf->classifiers->nelts; i++) {
        if (c[i].regex && ngx_regex_exec(c[i].regex, ua, NULL, 0) >= 0) {
            class = (int) c[i].class;
            break;
        }
    }

    if (m) {
        ngx_memcpy(m->ua, ua->data, ua->len);
        m->len = ua->len;
        m->class = class;
        m->used = 1;
    }

    return class;
}


/* $remote_addr with its host part dropped: IPv4 /24, IPv6 /48. */
static void
ngx_http_sales_client_addr(ngx_http_request_t *r, char *out, size_t size)
{
    u_char                *p;
    struct sockaddr_in    *sin;
#if (NGX_HAVE_INET6)
    struct sockaddr_in6   *sin6;
    struct sockaddr_in6    a6;
#endif
    struct sockaddr_in     a4;

    switch (r->connection->sockaddr->sa_family) {

    case AF_INET:
        sin = (struct sockaddr_in *) r->connection->sockaddr;
        a4 = *sin;
        a4.sin_addr.s_addr &= htonl(0xffffff00);
        p = (u_char *) out;
        p += ngx_inet_ntop(AF_INET, &a4.sin_addr, p, size - 1);
        *p = '\0';
        return;

#if (NGX_HAVE_INET6)
    case AF_INET6:
        sin6 = (struct sockaddr_in6 *) r->connection->sockaddr;
        a6 = *sin6;
        ngx_memzero(&a6.sin6_addr.s6_addr[6], 10);
        p = (u_char *) out;
        p += ngx_inet_ntop(AF_INET6, &a6.sin6_addr, p, size - 1);
        *p = '\0';
        return;
#endif

    default:
        ngx_cpystrn((u_char *) out, (u_char *) "local", size);
    }
}


/* Something waits: write it now when the batch is full, else soon. */
static void
ngx_http_sales_batch_changed(ngx_http_sales_main_conf_t *smcf)
{
    if (smcf->flushing || smcf->flush_task == NULL) {
        return;
    }

    if (smcf->pending.n >= smcf->pixel_batch) {
        if (smcf->flush_timer.timer_set) {
            ngx_del_timer(&smcf->flush_timer);
        }
        ngx_http_sales_flush(smcf);
        return;
    }

    if (!smcf->flush_timer.timer_set && !ngx_exiting) {
        ngx_add_timer(&smcf->flush_timer, smcf->pixel_flush);
    }
}


static void
ngx_http_sales_flush_timer(ngx_event_t *ev)
{
    ngx_http_sales_main_conf_t  *smcf = ev->data;

    /* At shutdown the batch is written by the exit hook instead. */
    if (ngx_exiting || ngx_terminate || smcf->flushing) {
        return;
    }

    ngx_http_sales_flush(smcf);
}


static void
ngx_http_sales_flush(ngx_http_sales_main_conf_t *smcf)
{
    ngx_http_sales_batch_t  *b = &smcf->pending;

    if (b->n == 0 && b->forged == 0 && b->head == 0) {
        return;
    }

    smcf->writing = *b;
    ngx_memzero(b, sizeof(ngx_http_sales_batch_t));

    if (ngx_thread_task_post(smcf->pool, smcf->flush_task) != NGX_OK) {
        /* Keep the views and try again on the next tick. */
        ngx_http_sales_batch_merge(b, &smcf->writing);
        ngx_add_timer(&smcf->flush_timer, smcf->pixel_flush);
        return;
    }

    smcf->flushing = 1;
}


static void
ngx_http_sales_flush_thread(void *data, ngx_log_t *log)
{
    ngx_http_sales_flush_ctx_t  *fc = data;
    ngx_http_sales_main_conf_t  *smcf = fc->smcf;

    fc->rc = sales_views_store(&smcf->core, 0, smcf->writing.items,
                               smcf->writing.n, smcf->writing.forged,
                               smcf->writing.head, fc->err, sizeof(fc->err));
}


static void
ngx_http_sales_flush_done(ngx_event_t *ev)
{
    ngx_http_sales_flush_ctx_t  *fc = ev->data;
    ngx_http_sales_main_conf_t  *smcf = fc->smcf;

    smcf->flushing = 0;

    if (fc->rc != 0) {
        ngx_log_error(NGX_LOG_ERR, ev->log, 0,
                      "sales: writing %uz views failed, kept to retry: %s",
                      smcf->writing.n, fc->err);
        ngx_http_sales_batch_merge(&smcf->pending, &smcf->writing);

    } else {
        free(smcf->writing.items);
        ngx_memzero(&smcf->writing, sizeof(ngx_http_sales_batch_t));
    }

    if (smcf->pending.n || smcf->pending.forged || smcf->pending.head) {
        if (fc->rc != 0) {
            /* do not spin on a database that refuses: wait a tick */
            if (!smcf->flush_timer.timer_set && !ngx_exiting) {
                ngx_add_timer(&smcf->flush_timer, smcf->pixel_flush);
            }

        } else {
            ngx_http_sales_batch_changed(smcf);
        }
    }
}


/* to = first followed by to; first is emptied. */
static ngx_int_t
ngx_http_sales_batch_merge(ngx_http_sales_batch_t *to,
    ngx_http_sales_batch_t *first)
{
    sales_view_t  *items;
    size_t         n = first->n + to->n;

    if (n > 0) {
        items = malloc(n * sizeof(sales_view_t));
        if (items == NULL) {
            return NGX_ERROR;
        }

        if (first->n) {
            ngx_memcpy(items, first->items, first->n * sizeof(sales_view_t));
        }

        if (to->n) {
            ngx_memcpy(items + first->n, to->items,
                       to->n * sizeof(sales_view_t));
        }

        free(to->items);
        to->items = items;
        to->cap = n;
    }

    free(first->items);
    to->n = n;
    to->forged += first->forged;
    to->head += first->head;
    ngx_memzero(first, sizeof(ngx_http_sales_batch_t));

    return NGX_OK;
}


ngx_int_t
ngx_http_sales_pixel_init_worker(ngx_cycle_t *cycle,
    ngx_http_sales_main_conf_t *smcf)
{
    ngx_http_sales_flush_ctx_t  *fc;

    if (!smcf->pixel_used) {
        return NGX_OK;
    }

    smcf->flush_task = ngx_thread_task_alloc(cycle->pool,
                                       sizeof(ngx_http_sales_flush_ctx_t));
    if (smcf->flush_task == NULL) {
        return NGX_ERROR;
    }

    fc = smcf->flush_task->ctx;
    fc->smcf = smcf;

    smcf->token_memo = ngx_pcalloc(cycle->pool, NGX_HTTP_SALES_MEMO
                                   * sizeof(ngx_http_sales_token_memo_t));
    smcf->ua_memo = ngx_pcalloc(cycle->pool, NGX_HTTP_SALES_MEMO
                                * sizeof(ngx_http_sales_ua_memo_t));

    smcf->flush_task->handler = ngx_http_sales_flush_thread;
    smcf->flush_task->event.handler = ngx_http_sales_flush_done;
    smcf->flush_task->event.data = fc;
    smcf->flush_task->event.log = cycle->log;

    smcf->flush_timer.handler = ngx_http_sales_flush_timer;
    smcf->flush_timer.data = smcf;
    smcf->flush_timer.log = cycle->log;
    smcf->flush_timer.cancelable = 1;

    return NGX_OK;
}


/*
 * At exit (graceful quit, reload, or the old workers of a reload) the
 * thread pools are gone: a batch still in flight was written or failed
 * by now, and what is left is written here, on this thread.
 */
void
ngx_http_sales_pixel_exit_worker(ngx_cycle_t *cycle,
    ngx_http_sales_main_conf_t *smcf)
{
    ngx_http_sales_flush_ctx_t  *fc;
    ngx_http_sales_batch_t      *b = &smcf->pending;
    char                         err[384];

    if (smcf->flush_task == NULL) {
        return;
    }

    fc = smcf->flush_task->ctx;

    if (smcf->flushing) {
        if (fc->rc != 0) {
            ngx_http_sales_batch_merge(b, &smcf->writing);
        } else {
            free(smcf->writing.items);
        }
        smcf->flushing = 0;
    }

    if (b->n == 0 && b->forged == 0 && b->head == 0) {
        return;
    }

    if (sales_views_store(&smcf->core, 1, b->items, b->n, b->forged,
                          b->head, err, sizeof(err)) != 0)
    {
        ngx_log_error(NGX_LOG_CRIT, cycle->log, 0,
                      "sales: %uz views could not be written at exit: %s",
                      b->n, err);
    }

    free(b->items);
    ngx_memzero(b, sizeof(ngx_http_sales_batch_t));
}


/* --- configuration ------------------------------------------------------ */

static ngx_int_t
ngx_http_sales_add_classifier(ngx_conf_t *cf,
    ngx_http_sales_main_conf_t *smcf, ngx_str_t *class, ngx_str_t *pattern)
{
    u_char                        errstr[NGX_MAX_CONF_ERRSTR];
    char                          name[16];
    ngx_int_t                     k;
    ngx_regex_compile_t           rc;
    ngx_http_sales_classifier_t  *c;

    ngx_cpystrn((u_char *) name, class->data,
                ngx_min(class->len + 1, sizeof(name)));
    k = sales_view_class_parse(name);

    if (k < 0 || class->len >= sizeof(name)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown view class \"%V\": use human, proxy, "
                           "prefetch or bot", class);
        return NGX_ERROR;
    }

    if (smcf->classifiers == NULL) {
        smcf->classifiers = ngx_array_create(cf->pool, 8,
                                       sizeof(ngx_http_sales_classifier_t));
        if (smcf->classifiers == NULL) {
            return NGX_ERROR;
        }
    }

    c = ngx_array_push(smcf->classifiers);
    if (c == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(c, sizeof(ngx_http_sales_classifier_t));
    c->class = k;

    if (pattern->len && pattern->data[0] == '$') {
        ngx_str_t  var;

        var.data = pattern->data + 1;
        var.len = pattern->len - 1;

        c->index = ngx_http_get_variable_index(cf, &var);
        return c->index == NGX_ERROR ? NGX_ERROR : NGX_OK;
    }

    ngx_memzero(&rc, sizeof(ngx_regex_compile_t));
    rc.pattern = *pattern;
    rc.pool = cf->pool;
    rc.options = NGX_REGEX_CASELESS;
    rc.err.len = NGX_MAX_CONF_ERRSTR;
    rc.err.data = errstr;

    if (ngx_regex_compile(&rc) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%V", &rc.err);
        return NGX_ERROR;
    }

    c->regex = rc.regex;
    return NGX_OK;
}


char *
ngx_http_sales_pixel_ua(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_str_t  *value = cf->args->elts;

    if (value[2].len == 0 || value[2].data[0] == '$') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"sales_pixel_ua\" takes a class and a regular "
                           "expression");
        return NGX_CONF_ERROR;
    }

    return ngx_http_sales_add_classifier(cf, conf, &value[1], &value[2])
           == NGX_OK ? NGX_CONF_OK : NGX_CONF_ERROR;
}


char *
ngx_http_sales_pixel_class(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_str_t  *value = cf->args->elts;

    if (value[2].len < 2 || value[2].data[0] != '$') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"sales_pixel_class\" takes a class and a "
                           "$variable");
        return NGX_CONF_ERROR;
    }

    return ngx_http_sales_add_classifier(cf, conf, &value[1], &value[2])
           == NGX_OK ? NGX_CONF_OK : NGX_CONF_ERROR;
}


/* The built-in patterns go after the operator's own. */
char *
ngx_http_sales_pixel_defaults(ngx_conf_t *cf,
    ngx_http_sales_main_conf_t *smcf)
{
    ngx_uint_t  i;
    ngx_str_t   class, pattern;

    for (i = 0; ngx_http_sales_ua_defaults[i].class; i++) {
        class.data = (u_char *) ngx_http_sales_ua_defaults[i].class;
        class.len = ngx_strlen(class.data);
        pattern.data = (u_char *) ngx_http_sales_ua_defaults[i].pattern;
        pattern.len = ngx_strlen(pattern.data);

        if (ngx_http_sales_add_classifier(cf, smcf, &class, &pattern)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}
