
/*
 * ngx_http_sales_module: webhook delivery on nginx's event loop.
 *
 * A cancelable timer in every worker posts a cycle task to the thread
 * pool: it records what came of the worker's finished attempts, turns new
 * outbox events into deliveries and claims due ones with a lease (the
 * core, on the pool thread, also resolves their hosts). Back on the event
 * loop, each claimed attempt is sent over a connection of nginx's own
 * (ngx_event_connect_peer, nginx's SSL client for https); its outcome
 * joins the worker's results for the next cycle. Nothing here blocks.
 */


#include "ngx_http_sales.h"

#if (NGX_HTTP_SSL)
#include <openssl/x509v3.h>
#endif


/* How soon a finished attempt's result is recorded when no cycle runs;
 * results that finish while one runs wait for the next, so they are
 * written a batch at a time. */
#define NGX_HTTP_SALES_WH_SETTLE  1

/* After failed cycles (the database broken, say) the next waits the poll
 * interval, doubled with each failure up to this. */
#define NGX_HTTP_SALES_WH_BACKOFF_MAX  30000


typedef struct {
    ngx_http_sales_main_conf_t  *smcf;
    sales_wh_result_t           *results;
    size_t                       nresults;
    size_t                       max_jobs;
    sales_wh_job_t              *jobs;
    size_t                       njobs;
    int                          rc;
    ngx_uint_t                   ran;
    char                         err[256];
} ngx_http_sales_wh_cycle_t;


typedef struct {
    ngx_http_sales_main_conf_t  *smcf;
    sales_wh_job_t               job;
    sales_wh_result_t            result;
    ngx_pool_t                  *pool;
    ngx_log_t                    log;
    ngx_peer_connection_t        pc;
    ngx_int_t                    addr;        /* the address being tried */
    size_t                       sent;
    u_char                      *answer;
    size_t                       len;
    size_t                       cap;
    sales_http_reader_t          reader;
    ngx_msec_t                   start;
    ngx_msec_t                   deadline;
    ngx_queue_t                  queue;
    u_char                       addr_text[NGX_SOCKADDR_STRLEN];
    ngx_str_t                    addr_name;
#if (NGX_HTTP_SSL)
    char                         tls_error[160];   /* OpenSSL's reason */
#endif
} ngx_http_sales_wh_t;


static void ngx_http_sales_wh_timer(ngx_event_t *ev);
static void ngx_http_sales_wh_schedule(ngx_http_sales_main_conf_t *smcf,
    ngx_msec_t delay);
static ngx_msec_t ngx_http_sales_wh_backoff(ngx_http_sales_main_conf_t *smcf);
static void ngx_http_sales_wh_thread(void *data, ngx_log_t *log);
static void ngx_http_sales_wh_cycle_done(ngx_event_t *ev);
static ngx_int_t ngx_http_sales_wh_results_add(
    ngx_http_sales_main_conf_t *smcf, sales_wh_result_t *r, size_t n);
static ngx_int_t ngx_http_sales_wh_start(ngx_http_sales_main_conf_t *smcf,
    sales_wh_job_t *job);
static void ngx_http_sales_wh_connect(ngx_http_sales_wh_t *wh);
static const char *ngx_http_sales_wh_connect_error(ngx_http_sales_wh_t *wh,
    ngx_err_t err);
static void ngx_http_sales_wh_next(ngx_http_sales_wh_t *wh,
    const char *why);
static void ngx_http_sales_wh_write(ngx_event_t *wev);
static void ngx_http_sales_wh_read(ngx_event_t *rev);
static void ngx_http_sales_wh_dummy(ngx_event_t *ev);
static void ngx_http_sales_wh_close(ngx_http_sales_wh_t *wh);
static void ngx_http_sales_wh_leave(ngx_http_sales_wh_t *wh);
static void ngx_http_sales_wh_finish(ngx_http_sales_wh_t *wh,
    ngx_uint_t complete, const char *error);
static u_char *ngx_http_sales_wh_log_error(ngx_log_t *log, u_char *buf,
    size_t len);
static ngx_int_t ngx_http_sales_wh_refused(ngx_http_sales_main_conf_t *smcf,
    struct sockaddr *sa);
#if (NGX_HTTP_SSL)
static void ngx_http_sales_wh_ssl_info(const SSL *ssl, int where, int ret);
static void ngx_http_sales_wh_ssl_done(ngx_connection_t *c);
static const char *ngx_http_sales_wh_ssl_error(ngx_http_sales_wh_t *wh);
#endif


/* --- configuration ------------------------------------------------------ */

/* sales_webhook_retry 5s 5m 30m ...: the waits after each failure. */
char *
ngx_http_sales_webhook_retry(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_sales_main_conf_t  *smcf = conf;

    ngx_str_t   *value;
    ngx_int_t    ms;
    ngx_uint_t   i;
    int64_t     *wait;

    if (smcf->wh_retry) {
        return "is duplicate";
    }

    value = cf->args->elts;

    smcf->wh_retry = ngx_array_create(cf->pool, cf->args->nelts,
                                      sizeof(int64_t));
    if (smcf->wh_retry == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 1; i < cf->args->nelts; i++) {
        ms = ngx_parse_time(&value[i], 0);

        if (ms == NGX_ERROR || ms == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"sales_webhook_retry\": invalid wait \"%V\"",
                               &value[i]);
            return NGX_CONF_ERROR;
        }

        wait = ngx_array_push(smcf->wh_retry);
        if (wait == NULL) {
            return NGX_CONF_ERROR;
        }

        *wait = ms;
    }

    return NGX_CONF_OK;
}


/* sales_webhook_allow 127.0.0.0/8 ::1/128: ranges let through. */
char *
ngx_http_sales_webhook_allow(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_sales_main_conf_t  *smcf = conf;

    ngx_str_t   *value;
    ngx_int_t    rc;
    ngx_uint_t   i;
    ngx_cidr_t  *cidr;

    value = cf->args->elts;

    if (smcf->wh_allow == NULL) {
        smcf->wh_allow = ngx_array_create(cf->pool, 4, sizeof(ngx_cidr_t));
        if (smcf->wh_allow == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    for (i = 1; i < cf->args->nelts; i++) {
        cidr = ngx_array_push(smcf->wh_allow);
        if (cidr == NULL) {
            return NGX_CONF_ERROR;
        }

        rc = ngx_ptocidr(&value[i], cidr);

        if (rc == NGX_ERROR) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"sales_webhook_allow\": invalid address "
                               "range \"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        if (rc == NGX_DONE) {
            ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                               "low address bits of %V are meaningless",
                               &value[i]);
        }
    }

    return NGX_CONF_OK;
}


static int64_t  ngx_http_sales_wh_default_retry[] = {
    5000, 300000, 1800000, 7200000, 18000000, 36000000, 36000000
};


char *
ngx_http_sales_webhook_init_conf(ngx_conf_t *cf,
    ngx_http_sales_main_conf_t *smcf)
{
    ngx_conf_init_msec_value(smcf->wh_poll, 1000);
    ngx_conf_init_msec_value(smcf->wh_timeout, 15000);
    ngx_conf_init_uint_value(smcf->wh_concurrency, 64);
    ngx_conf_init_msec_value(smcf->wh_disable_after, 5 * 86400 * 1000ULL);
    ngx_conf_init_value(smcf->wh_verify, 1);

    if (smcf->wh_poll == 0 || smcf->wh_timeout == 0
        || smcf->wh_concurrency == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"sales_webhook_poll\", \"sales_webhook_timeout\""
                           " and \"sales_webhook_concurrency\" must be more "
                           "than zero");
        return NGX_CONF_ERROR;
    }

    if (smcf->wh_retry) {
        smcf->core.webhook_retry_ms = smcf->wh_retry->elts;
        smcf->core.webhook_nretry = (int) smcf->wh_retry->nelts;

    } else {
        smcf->core.webhook_retry_ms = ngx_http_sales_wh_default_retry;
        smcf->core.webhook_nretry = sizeof(ngx_http_sales_wh_default_retry)
                                    / sizeof(int64_t);
    }

    smcf->core.webhook_disable_after_ms = smcf->wh_disable_after;

    /* An attempt never outlives its lease: it starts within 30 s of its
     * claim (resolving host names comes first) or is given back, runs
     * for the timeout at most, and leaves 30 s to record it. */
    smcf->core.webhook_start_ms = 30000;
    smcf->core.webhook_lease_ms = smcf->core.webhook_start_ms
                                  + smcf->wh_timeout + 30000;

#if (NGX_HTTP_SSL)
    {
        ngx_str_t            ca = ngx_string(
                                   "/etc/ssl/certs/ca-certificates.crt");
        ngx_file_info_t      fi;
        ngx_pool_cleanup_t  *cln;

        smcf->wh_ssl = ngx_pcalloc(cf->pool, sizeof(ngx_ssl_t));
        if (smcf->wh_ssl == NULL) {
            return NGX_CONF_ERROR;
        }

        smcf->wh_ssl->log = cf->log;

        if (ngx_ssl_create(smcf->wh_ssl, NGX_SSL_TLSv1_2|NGX_SSL_TLSv1_3,
                           NULL)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        cln = ngx_pool_cleanup_add(cf->pool, 0);
        if (cln == NULL) {
            ngx_ssl_cleanup_ctx(smcf->wh_ssl);
            return NGX_CONF_ERROR;
        }

        cln->handler = ngx_ssl_cleanup_ctx;
        cln->data = smcf->wh_ssl;

        if (smcf->wh_trusted.len == 0) {
            /* the system's bundle when there is one; without it https
             * receivers fail verification, with that reason recorded */
            if (ngx_file_info(ca.data, &fi) == NGX_FILE_ERROR) {
                ca.len = 0;
            }

        } else {
            ca = smcf->wh_trusted;
        }

        if (ngx_ssl_trusted_certificate(cf, smcf->wh_ssl, &ca, 8) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }
#else
    if (smcf->wh_trusted.len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"sales_webhook_trusted_certificate\" needs "
                           "nginx built with the http ssl module");
        return NGX_CONF_ERROR;
    }
#endif

    return NGX_CONF_OK;
}


/* --- the cycle ---------------------------------------------------------- */

ngx_int_t
ngx_http_sales_webhook_init_worker(ngx_cycle_t *cycle,
    ngx_http_sales_main_conf_t *smcf)
{
    ngx_http_sales_wh_cycle_t  *wc;

    if (smcf->pool == NULL || smcf->db.data == NULL) {
        return NGX_OK;
    }

    smcf->wh_task = ngx_thread_task_alloc(cycle->pool,
                                          sizeof(ngx_http_sales_wh_cycle_t));
    if (smcf->wh_task == NULL) {
        return NGX_ERROR;
    }

    wc = smcf->wh_task->ctx;
    wc->smcf = smcf;

    smcf->wh_task->handler = ngx_http_sales_wh_thread;
    smcf->wh_task->event.handler = ngx_http_sales_wh_cycle_done;
    smcf->wh_task->event.data = wc;
    smcf->wh_task->event.log = cycle->log;

    ngx_queue_init(&smcf->wh_inflight);

    smcf->wh_timer.handler = ngx_http_sales_wh_timer;
    smcf->wh_timer.data = smcf;
    smcf->wh_timer.log = cycle->log;
    smcf->wh_timer.cancelable = 1;

    /* workers start a little apart */
    ngx_add_timer(&smcf->wh_timer,
                  smcf->wh_poll / 2 + ngx_random() % (smcf->wh_poll / 2 + 1));

    return NGX_OK;
}


static void
ngx_http_sales_wh_schedule(ngx_http_sales_main_conf_t *smcf, ngx_msec_t delay)
{
    if (ngx_exiting || ngx_terminate || smcf->wh_task == NULL) {
        return;
    }

    if (smcf->wh_timer.timer_set) {
        if (smcf->wh_timer.timer.key <= ngx_current_msec + delay) {
            return;                     /* due sooner already */
        }
        ngx_del_timer(&smcf->wh_timer);
    }

    ngx_add_timer(&smcf->wh_timer, delay);
}


/* How long the worker holds back after cycles that failed, or when it
 * ran short of connections; 0 for not. */
static ngx_msec_t
ngx_http_sales_wh_backoff(ngx_http_sales_main_conf_t *smcf)
{
    ngx_msec_t  delay;
    ngx_uint_t  i;

    if (smcf->wh_failures == 0) {
        return smcf->wh_short ? smcf->wh_poll : 0;
    }

    delay = smcf->wh_poll;

    for (i = 1; i < smcf->wh_failures && delay < NGX_HTTP_SALES_WH_BACKOFF_MAX;
         i++)
    {
        delay *= 2;
    }

    return ngx_max(smcf->wh_poll, ngx_min(delay,
                                          NGX_HTTP_SALES_WH_BACKOFF_MAX));
}


static void
ngx_http_sales_wh_timer(ngx_event_t *ev)
{
    ngx_http_sales_main_conf_t  *smcf = ev->data;
    ngx_http_sales_wh_cycle_t   *wc;

    if (ngx_exiting || ngx_terminate || smcf->wh_cycling) {
        return;                 /* a cycle's end arms the timer again */
    }

    wc = smcf->wh_task->ctx;

    wc->results = smcf->wh_results;
    wc->nresults = smcf->wh_nresults;
    wc->max_jobs = smcf->wh_concurrency > smcf->wh_ninflight
                   ? smcf->wh_concurrency - smcf->wh_ninflight : 0;
    wc->jobs = NULL;
    wc->njobs = 0;
    wc->rc = 0;
    wc->ran = 0;
    wc->err[0] = '\0';

    if (wc->nresults == 0 && wc->max_jobs == 0) {
        ngx_http_sales_wh_schedule(smcf, smcf->wh_poll);
        return;
    }

    if (ngx_thread_task_post(smcf->pool, smcf->wh_task) != NGX_OK) {
        ngx_http_sales_wh_schedule(smcf, smcf->wh_poll);
        return;
    }

    /* the task owns the results now */
    smcf->wh_results = NULL;
    smcf->wh_nresults = 0;
    smcf->wh_cresults = 0;
    smcf->wh_cycling = 1;
    smcf->wh_short = 0;
}


static void
ngx_http_sales_wh_thread(void *data, ngx_log_t *log)
{
    ngx_http_sales_wh_cycle_t  *wc = data;

    wc->rc = sales_webhook_cycle(&wc->smcf->core, 0, wc->results,
                                 wc->nresults, wc->max_jobs, &wc->jobs,
                                 &wc->njobs, wc->err, sizeof(wc->err));
    wc->ran = 1;
}


static void
ngx_http_sales_wh_cycle_done(ngx_event_t *ev)
{
    ngx_http_sales_wh_cycle_t   *wc = ev->data;
    ngx_http_sales_main_conf_t  *smcf = wc->smcf;
    ngx_msec_t                   next;
    size_t                       i, late;

    smcf->wh_cycling = 0;
    next = smcf->wh_poll;

    if (wc->rc != 0) {
        smcf->wh_failures++;

        ngx_log_error(NGX_LOG_ERR, ev->log, 0,
                      "sales: webhook deliveries cannot be recorded or "
                      "claimed now (trying again in %M ms): %s",
                      ngx_http_sales_wh_backoff(smcf), wc->err);

        /* the results are kept for the next cycle */
        if (ngx_http_sales_wh_results_add(smcf, wc->results, wc->nresults)
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ALERT, ev->log, 0,
                          "sales: %uz webhook results lost; their "
                          "deliveries are sent again when their leases end",
                          wc->nresults);
        }

    } else {
        smcf->wh_failures = 0;
        late = 0;

        for (i = 0; i < wc->njobs; i++) {
            if (ngx_http_sales_wh_start(smcf, &wc->jobs[i]) == NGX_DECLINED) {
                late++;
            }
        }

        if (late) {
            ngx_log_error(NGX_LOG_WARN, ev->log, 0,
                          "sales: %uz webhook attempts given back untried: "
                          "resolving their hosts took the time they had "
                          "to start in", late);
        }

        /* a full claim suggests more are due */
        if (wc->njobs && wc->njobs == wc->max_jobs) {
            next = 1;
        }
    }

    free(wc->results);
    wc->results = NULL;
    wc->nresults = 0;

    sales_webhook_jobs_free(wc->jobs, wc->njobs);
    wc->jobs = NULL;
    wc->njobs = 0;

    if (smcf->wh_nresults) {
        next = NGX_HTTP_SALES_WH_SETTLE;
    }

    /* the results kept (or given back) would otherwise bring the next
     * failure at once */
    if (ngx_http_sales_wh_backoff(smcf)) {
        next = ngx_http_sales_wh_backoff(smcf);
    }

    ngx_http_sales_wh_schedule(smcf, next);
}


static ngx_int_t
ngx_http_sales_wh_results_add(ngx_http_sales_main_conf_t *smcf,
    sales_wh_result_t *r, size_t n)
{
    sales_wh_result_t  *grown;
    size_t              cap;

    if (n == 0) {
        return NGX_OK;
    }

    if (smcf->wh_nresults + n > smcf->wh_cresults) {
        cap = smcf->wh_cresults ? smcf->wh_cresults * 2 : 16;
        while (cap < smcf->wh_nresults + n) {
            cap *= 2;
        }

        grown = realloc(smcf->wh_results, cap * sizeof(sales_wh_result_t));
        if (grown == NULL) {
            return NGX_ERROR;
        }

        smcf->wh_results = grown;
        smcf->wh_cresults = cap;
    }

    ngx_memcpy(&smcf->wh_results[smcf->wh_nresults], r,
               n * sizeof(sales_wh_result_t));
    smcf->wh_nresults += n;

    return NGX_OK;
}


/* --- one attempt -------------------------------------------------------- */

/*
 * Starts a claimed attempt, signed now. NGX_DECLINED: too late to start
 * it inside its lease, so it is given back untried, as it is when the
 * worker is leaving or short of memory.
 */
static ngx_int_t
ngx_http_sales_wh_start(ngx_http_sales_main_conf_t *smcf, sales_wh_job_t *job)
{
    int64_t               now_ms;
    ngx_uint_t            late;
    ngx_pool_t           *pool;
    ngx_http_sales_wh_t  *wh;
    sales_wh_result_t     r;

    pool = NULL;
    wh = NULL;
    now_ms = (int64_t) ngx_time() * 1000 + (int64_t) ngx_timeofday()->msec;
    late = job->error[0] == '\0' && now_ms >= job->send_by_ms;

    /* short of connections, the rest would fail the same way */
    if (!ngx_exiting && !ngx_terminate && !late && !smcf->wh_short) {
        pool = ngx_create_pool(4096, ngx_cycle->log);
        wh = pool ? ngx_pcalloc(pool, sizeof(ngx_http_sales_wh_t)) : NULL;
    }

    if (wh == NULL) {
        /* not tried: the lease is given back for another worker */
        if (pool) {
            ngx_destroy_pool(pool);
        }

        ngx_memzero(&r, sizeof(r));
        r.delivery_id = job->delivery_id;
        r.lease_token = job->lease_token;
        r.once = job->once;
        r.sent = 0;
        (void) ngx_http_sales_wh_results_add(smcf, &r, 1);
        return late ? NGX_DECLINED : NGX_OK;
    }

    wh->smcf = smcf;
    wh->pool = pool;
    wh->job = *job;

    /* the attempt owns them now */
    job->text = NULL;
    job->request = NULL;

    wh->result.delivery_id = job->delivery_id;
    wh->result.lease_token = job->lease_token;
    wh->result.once = job->once;
    wh->result.sent = 1;
    wh->result.retry_after_s = -1;
    wh->result.at_ms = now_ms;

    wh->log = *ngx_cycle->log;
    wh->log.handler = ngx_http_sales_wh_log_error;
    wh->log.data = wh;
    wh->log.action = "delivering a webhook";
    pool->log = &wh->log;

    wh->start = ngx_current_msec;
    wh->deadline = ngx_current_msec + smcf->wh_timeout;
    wh->addr = -1;

    ngx_queue_insert_tail(&smcf->wh_inflight, &wh->queue);
    smcf->wh_ninflight++;

    if (wh->job.error[0]
        || sales_webhook_job_sign(&wh->job, now_ms / 1000) != 0)
    {
        ngx_http_sales_wh_finish(wh, 0, wh->job.error);
        return NGX_OK;
    }

    ngx_http_sales_wh_next(wh, NULL);
    return NGX_OK;
}


/* The next address of the host, or the end with why the last failed. */
static void
ngx_http_sales_wh_next(ngx_http_sales_wh_t *wh, const char *why)
{
    struct sockaddr  *sa;
    static char       refused[NGX_SOCKADDR_STRLEN + 160];

    ngx_http_sales_wh_close(wh);

    for ( ;; ) {
        wh->addr++;

        if (wh->addr >= wh->job.naddrs) {
            ngx_http_sales_wh_finish(wh, 0, why ? why : "no address to try");
            return;
        }

        if (ngx_current_msec >= wh->deadline) {
            /* the last address's failure says more (a timeout in the
             * TLS handshake, say) */
            ngx_http_sales_wh_finish(wh, 0, why ? why : "timed out");
            return;
        }

        sa = (struct sockaddr *) &wh->job.addrs[wh->addr];
        wh->addr_name.len = ngx_sock_ntop(sa, wh->job.addrlens[wh->addr],
                                          wh->addr_text, NGX_SOCKADDR_STRLEN,
                                          1);
        wh->addr_name.data = wh->addr_text;

        if (ngx_http_sales_wh_refused(wh->smcf, sa)) {
            ngx_snprintf((u_char *) refused, sizeof(refused) - 1,
                         "address %V is not allowed: loopback, private and "
                         "link-local destinations need sales_webhook_allow%Z",
                         &wh->addr_name);
            why = refused;
            continue;
        }

        ngx_http_sales_wh_connect(wh);
        return;
    }
}


static void
ngx_http_sales_wh_connect(ngx_http_sales_wh_t *wh)
{
    ngx_int_t          rc;
    ngx_err_t          err;
    ngx_msec_t         left;
    ngx_connection_t  *c;

    ngx_memzero(&wh->pc, sizeof(ngx_peer_connection_t));
    wh->pc.sockaddr = (struct sockaddr *) &wh->job.addrs[wh->addr];
    wh->pc.socklen = wh->job.addrlens[wh->addr];
    wh->pc.name = &wh->addr_name;
    wh->pc.get = ngx_event_get_peer;
    wh->pc.log = &wh->log;
    wh->pc.log_error = NGX_ERROR_ERR;
    wh->sent = 0;
    wh->len = 0;
    sales_http_reader_init(&wh->reader, wh->result.at_ms / 1000);

    rc = ngx_event_connect_peer(&wh->pc);
    err = ngx_socket_errno;             /* connect()'s, when it failed */

    if (rc == NGX_ERROR) {
        /*
         * socket(), a free connection (worker_connections) or the event
         * module failed here, not the receiver: the lease goes back, and
         * the worker claims again after its poll interval.
         */
        wh->smcf->wh_short = 1;
        wh->result.sent = 0;
        ngx_http_sales_wh_finish(wh, 0, "this worker is short of "
                                 "connections");
        return;
    }

    if (rc == NGX_BUSY || rc == NGX_DECLINED) {
        ngx_http_sales_wh_next(wh, ngx_http_sales_wh_connect_error(wh, err));
        return;
    }

    c = wh->pc.connection;
    c->data = wh;
    c->pool = wh->pool;
    c->read->handler = ngx_http_sales_wh_read;
    c->write->handler = ngx_http_sales_wh_write;

    left = wh->deadline > ngx_current_msec ? wh->deadline - ngx_current_msec
                                           : 1;
    ngx_add_timer(c->write, left);
    ngx_add_timer(c->read, left);

    if (rc == NGX_OK) {
        ngx_http_sales_wh_write(c->write);
    }
}


/* Why connecting to the address being tried failed. */
static const char *
ngx_http_sales_wh_connect_error(ngx_http_sales_wh_t *wh, ngx_err_t err)
{
    static char  why[NGX_SOCKADDR_STRLEN + 160];

    ngx_snprintf((u_char *) why, sizeof(why) - 1, "cannot connect to %V: %s%Z",
                 &wh->addr_name, err ? strerror(err) : "it failed");
    return why;
}


#if (NGX_HTTP_SSL)

static ngx_int_t
ngx_http_sales_wh_ssl_start(ngx_http_sales_wh_t *wh, ngx_connection_t *c)
{
    ngx_int_t   rc;
    u_char      probe[sizeof(struct in6_addr)];

    wh->tls_error[0] = '\0';

    if (ngx_ssl_create_connection(wh->smcf->wh_ssl, c,
                                  NGX_SSL_BUFFER|NGX_SSL_CLIENT)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    SSL_set_info_callback(c->ssl->connection, ngx_http_sales_wh_ssl_info);

    /* SNI names hosts, never addresses */
    if (ngx_inet_addr((u_char *) wh->job.host, ngx_strlen(wh->job.host))
            == INADDR_NONE
        && inet_pton(AF_INET6, wh->job.host, probe) != 1
        && SSL_set_tlsext_host_name(c->ssl->connection, wh->job.host) == 0)
    {
        ngx_ssl_error(NGX_LOG_ERR, c->log, 0,
                      "SSL_set_tlsext_host_name(\"%s\") failed",
                      wh->job.host);
        return NGX_ERROR;
    }

    c->log->action = "making the TLS handshake with a webhook receiver";

    rc = ngx_ssl_handshake(c);

    if (rc == NGX_AGAIN) {
        c->ssl->handler = ngx_http_sales_wh_ssl_done;
        return NGX_AGAIN;
    }

    ngx_http_sales_wh_ssl_done(c);
    return NGX_DONE;
}


/*
 * nginx logs OpenSSL's errors and empties their queue before the end of
 * a failed handshake reaches ngx_http_sales_wh_ssl_done(): the reason
 * is kept here for the attempt, as the handshake gives up. The context's
 * own callback still runs.
 */
static void
ngx_http_sales_wh_ssl_info(const SSL *ssl, int where, int ret)
{
    unsigned long         e;
    ngx_connection_t     *c;
    ngx_http_sales_wh_t  *wh;
    void                (*ctx_info)(const SSL *ssl, int where, int ret);

    ctx_info = SSL_CTX_get_info_callback(SSL_get_SSL_CTX(ssl));
    if (ctx_info) {
        ctx_info(ssl, where, ret);
    }

    if (!(where & SSL_CB_EXIT) || ret > 0) {
        return;
    }

    /* an empty queue: the handshake only waits for the network */
    e = ERR_peek_last_error();
    if (e == 0) {
        return;
    }

    c = ngx_ssl_get_connection((ngx_ssl_conn_t *) ssl);
    wh = c->data;
    ERR_error_string_n(e, wh->tls_error, sizeof(wh->tls_error));
}


/* "the TLS handshake failed", with OpenSSL's reason when there is one. */
static const char *
ngx_http_sales_wh_ssl_error(ngx_http_sales_wh_t *wh)
{
    static char  why[sizeof(wh->tls_error) + 64];

    if (wh->tls_error[0] == '\0') {
        return "the TLS handshake failed";
    }

    ngx_snprintf((u_char *) why, sizeof(why) - 1,
                 "the TLS handshake failed: %s%Z", wh->tls_error);
    return why;
}


static void
ngx_http_sales_wh_ssl_done(ngx_connection_t *c)
{
    ngx_http_sales_wh_t  *wh = c->data;
    long                  rc;
    ngx_str_t             host;
    static char           why[256];

    c->log->action = "delivering a webhook";

    if (!c->ssl->handshaked) {
        ngx_http_sales_wh_next(wh, c->write->timedout || c->read->timedout
                                   ? "timed out in the TLS handshake"
                                   : ngx_http_sales_wh_ssl_error(wh));
        return;
    }

    if (wh->smcf->wh_verify) {
        rc = SSL_get_verify_result(c->ssl->connection);

        if (rc != X509_V_OK) {
            ngx_snprintf((u_char *) why, sizeof(why) - 1,
                         "the receiver's certificate is not trusted: "
                         "%s%Z", X509_verify_cert_error_string(rc));
            ngx_http_sales_wh_finish(wh, 0, why);
            return;
        }

        host.data = (u_char *) wh->job.host;
        host.len = ngx_strlen(wh->job.host);

        if (ngx_ssl_check_host(c, &host) != NGX_OK) {
            ngx_snprintf((u_char *) why, sizeof(why) - 1,
                         "the receiver's certificate is not for host "
                         "\"%s\"%Z", wh->job.host);
            ngx_http_sales_wh_finish(wh, 0, why);
            return;
        }
    }

    c->read->handler = ngx_http_sales_wh_read;
    c->write->handler = ngx_http_sales_wh_write;

    ngx_http_sales_wh_write(c->write);
}

#endif


static void
ngx_http_sales_wh_write(ngx_event_t *wev)
{
    ngx_connection_t     *c = wev->data;
    ngx_http_sales_wh_t  *wh = c->data;
    ssize_t               n;
    int                   err;
    socklen_t             len;

    if (c->close) {
        ngx_http_sales_wh_leave(wh);
        return;
    }

    if (wev->timedout) {
        ngx_http_sales_wh_finish(wh, 0, "timed out connecting or sending");
        return;
    }

    if (wh->sent == 0 && !wh->pc.connection->ssl) {
        /* did the connect succeed? */
        err = 0;
        len = sizeof(int);

        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, (void *) &err, &len)
            == -1)
        {
            err = ngx_socket_errno;
        }

        if (err) {
            ngx_http_sales_wh_next(wh,
                                   ngx_http_sales_wh_connect_error(wh, err));
            return;
        }

#if (NGX_HTTP_SSL)
        if (wh->job.tls) {
            switch (ngx_http_sales_wh_ssl_start(wh, c)) {
            case NGX_ERROR:
                ngx_http_sales_wh_next(wh, ngx_http_sales_wh_ssl_error(wh));
                return;
            default:                    /* AGAIN or DONE */
                return;
            }
        }
#else
        if (wh->job.tls) {
            ngx_http_sales_wh_finish(wh, 0, "https needs nginx built with "
                                     "the http ssl module");
            return;
        }
#endif
    }

    while (wh->sent < wh->job.request_len) {
        n = c->send(c, (u_char *) wh->job.request + wh->sent,
                    wh->job.request_len - wh->sent);

        if (n == NGX_AGAIN) {
            if (ngx_handle_write_event(wev, 0) != NGX_OK) {
                ngx_http_sales_wh_finish(wh, 0, "sending failed");
            }
            return;
        }

        if (n == NGX_ERROR || n == 0) {
            ngx_http_sales_wh_finish(wh, 0, "the connection failed while "
                                     "sending");
            return;
        }

        wh->sent += n;
    }

    /* all sent: wait for the answer */
    wev->handler = ngx_http_sales_wh_dummy;

    if (ngx_handle_write_event(wev, 0) != NGX_OK) {
        ngx_http_sales_wh_finish(wh, 0, "sending failed");
        return;
    }

    if (c->read->ready) {
        ngx_http_sales_wh_read(c->read);
    }
}


static void
ngx_http_sales_wh_read(ngx_event_t *rev)
{
    ngx_connection_t     *c = rev->data;
    ngx_http_sales_wh_t  *wh = c->data;
    ssize_t               n;
    size_t                cap;
    u_char               *grown;

    if (c->close) {
        ngx_http_sales_wh_leave(wh);
        return;
    }

    if (rev->timedout) {
        ngx_http_sales_wh_finish(wh, 0, "timed out waiting for the answer");
        return;
    }

    if (wh->sent < wh->job.request_len) {
        /* the receiver answers before it has the request: read it all
         * the same once the request is out; nothing to do yet */
        if (wh->sent == 0 && !c->ssl) {
            ngx_http_sales_wh_write(c->write);
            return;
        }

        if (ngx_handle_read_event(rev, 0) != NGX_OK) {
            ngx_http_sales_wh_finish(wh, 0, "reading failed");
        }
        return;
    }

    for ( ;; ) {
        if (wh->len == wh->cap) {
            if (wh->cap >= SALES_WH_MAX_ANSWER) {
                ngx_http_sales_wh_finish(wh, 1, NULL);
                return;
            }

            cap = wh->cap ? wh->cap * 2 : 2048;
            if (cap > SALES_WH_MAX_ANSWER) {
                cap = SALES_WH_MAX_ANSWER;
            }

            grown = ngx_pnalloc(wh->pool, cap);
            if (grown == NULL) {
                ngx_http_sales_wh_finish(wh, 0, "out of memory");
                return;
            }

            if (wh->len) {
                ngx_memcpy(grown, wh->answer, wh->len);
            }

            wh->answer = grown;
            wh->cap = cap;
        }

        n = c->recv(c, wh->answer + wh->len, wh->cap - wh->len);

        if (n == NGX_AGAIN) {
            if (ngx_handle_read_event(rev, 0) != NGX_OK) {
                ngx_http_sales_wh_finish(wh, 0, "reading failed");
            }
            return;
        }

        if (n == NGX_ERROR || n == 0) {
            ngx_http_sales_wh_finish(wh, 0, n == 0 ? NULL
                                     : "the connection failed while reading"
                                       " the answer");
            return;
        }

        wh->len += n;

        if (sales_http_reader_feed(&wh->reader, (const char *) wh->answer,
                                   wh->len)
            != 0)
        {
            ngx_http_sales_wh_finish(wh, 1, NULL);
            return;
        }
    }
}


static void
ngx_http_sales_wh_dummy(ngx_event_t *ev)
{
    ngx_connection_t     *c = ev->data;
    ngx_http_sales_wh_t  *wh = c->data;

    if (c->close) {
        ngx_http_sales_wh_leave(wh);

    } else if (ev->timedout) {
        ngx_http_sales_wh_finish(wh, 0, "timed out waiting for the answer");
    }
}


/*
 * The worker is leaving and its worker_shutdown_timeout is over. An
 * answer whose status has come is recorded; otherwise the lease is
 * given back, so that a worker that stays sends the delivery again.
 */
static void
ngx_http_sales_wh_leave(ngx_http_sales_wh_t *wh)
{
    if (wh->reader.a.header_len == 0) {
        wh->result.sent = 0;
    }

    ngx_http_sales_wh_finish(wh, 0, "the worker left before the answer "
                             "was read");
}


static void
ngx_http_sales_wh_close(ngx_http_sales_wh_t *wh)
{
    ngx_connection_t  *c = wh->pc.connection;

    if (c == NULL) {
        return;
    }

#if (NGX_HTTP_SSL)
    if (c->ssl) {
        c->ssl->no_wait_shutdown = 1;
        c->ssl->no_send_shutdown = 1;
        (void) ngx_ssl_shutdown(c);
    }
#endif

    ngx_close_connection(c);
    wh->pc.connection = NULL;
}


/*
 * The attempt is over: close, keep the outcome for the next cycle, free.
 * complete: the answer was read as far as needed; error: why it failed
 * before any answer (NULL: whatever the answer read says).
 */
static void
ngx_http_sales_wh_finish(ngx_http_sales_wh_t *wh, ngx_uint_t complete,
    const char *error)
{
    ngx_http_sales_main_conf_t  *smcf = wh->smcf;
    sales_wh_result_t           *r = &wh->result;

    ngx_http_sales_wh_close(wh);

    r->latency_ms = (int64_t) (ngx_current_msec - wh->start);
    r->error[0] = '\0';

    if (error) {
        ngx_cpystrn((u_char *) r->error, (u_char *) error, sizeof(r->error));
    }

    if (!r->sent) {
        ngx_log_error(NGX_LOG_INFO, &wh->log, 0,
                      "webhook attempt given back: %s", r->error);

    } else {
        if (wh->len || error == NULL) {
            /* an answer's status counts even when reading stopped early */
            sales_webhook_answer(&wh->reader, r);
        }

        if (r->status && (r->status < 200 || r->status >= 300)) {
            ngx_log_error(NGX_LOG_INFO, &wh->log, 0,
                          "webhook receiver answered %d", r->status);

        } else if (r->status == 0) {
            ngx_log_error(NGX_LOG_INFO, &wh->log, 0,
                          "webhook attempt failed: %s", r->error);
        }
    }

    if (ngx_http_sales_wh_results_add(smcf, r, 1) != NGX_OK) {
        ngx_log_error(NGX_LOG_ALERT, &wh->log, 0,
                      "sales: a webhook result is lost; the delivery is "
                      "sent again when its lease ends");
    }

    ngx_queue_remove(&wh->queue);
    smcf->wh_ninflight--;

    sales_webhook_job_clear(&wh->job);
    ngx_destroy_pool(wh->pool);

    /* while backing off, the result waits for the cycle already set */
    if (!smcf->wh_cycling && ngx_http_sales_wh_backoff(smcf) == 0) {
        ngx_http_sales_wh_schedule(smcf, NGX_HTTP_SALES_WH_SETTLE);
    }
}


static u_char *
ngx_http_sales_wh_log_error(ngx_log_t *log, u_char *buf, size_t len)
{
    ngx_http_sales_wh_t  *wh = log->data;
    u_char               *p = buf;

    if (log->action) {
        p = ngx_snprintf(buf, len, " while %s", log->action);
        len -= p - buf;
        buf = p;
    }

    return ngx_snprintf(buf, len, ", host: %s, event: %s, delivery: %L",
                        wh->job.host, wh->job.event_id,
                        wh->job.delivery_id);
}


/* --- where a webhook may go --------------------------------------------- */

static ngx_uint_t
ngx_http_sales_wh_inward4(in_addr_t a)
{
    a = ntohl(a);

    return (a >> 24) == 0                           /* 0/8 this network */
           || (a >> 24) == 10                       /* 10/8 */
           || (a >> 24) == 127                      /* loopback */
           || (a >> 22) == ((100 << 2) | 1)         /* 100.64/10 shared */
           || (a >> 16) == ((169 << 8) | 254)       /* link-local, metadata */
           || (a >> 20) == ((172 << 4) | 1)         /* 172.16/12 */
           || (a >> 16) == ((192 << 8) | 168)       /* 192.168/16 */
           || (a >> 8) == ((192u << 16) | 0)        /* 192.0.0/24 */
           || (a >> 17) == ((198u << 7) | 9)        /* 198.18/15 benchmark */
           || (a >> 28) >= 14;                      /* multicast, reserved */
}


static ngx_int_t
ngx_http_sales_wh_refused(ngx_http_sales_main_conf_t *smcf,
    struct sockaddr *sa)
{
    ngx_uint_t            inward;
#if (NGX_HAVE_INET6)
    u_char               *p;
    struct sockaddr_in6  *sin6;
    in_addr_t             v4;
#endif

    switch (sa->sa_family) {

    case AF_INET:
        inward = ngx_http_sales_wh_inward4(
                     ((struct sockaddr_in *) sa)->sin_addr.s_addr);
        break;

#if (NGX_HAVE_INET6)
    case AF_INET6:
        sin6 = (struct sockaddr_in6 *) sa;
        p = sin6->sin6_addr.s6_addr;

        if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)
            || IN6_IS_ADDR_V4COMPAT(&sin6->sin6_addr)
            || (p[0] == 0x00 && p[1] == 0x64 && p[2] == 0xff && p[3] == 0x9b
                && ngx_memcmp(p + 4, "\0\0\0\0\0\0\0\0", 8) == 0))
        {
            /* an IPv4 address in IPv6 clothes */
            ngx_memcpy(&v4, p + 12, 4);
            inward = ngx_http_sales_wh_inward4(v4);
            break;
        }

        inward = IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr)
                 || IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr)
                 || (p[0] & 0xfe) == 0xfc               /* fc00::/7 */
                 || (p[0] == 0xfe && (p[1] & 0xc0) == 0x80)  /* fe80::/10 */
                 || (p[0] == 0xfe && (p[1] & 0xc0) == 0xc0)  /* site-local */
                 || p[0] == 0xff;                       /* multicast */
        break;
#endif

    default:
        inward = 1;
    }

    if (!inward) {
        return 0;
    }

    return smcf->wh_allow == NULL
           || ngx_cidr_match(sa, smcf->wh_allow) != NGX_OK;
}


/* --- exit --------------------------------------------------------------- */

/*
 * The worker leaves. Graceful exits have waited for the attempts in
 * flight (their timers are not cancelable); a fast one gives their leases
 * back. Whatever is unrecorded is recorded here, on a connection of its
 * own: the pool's threads are gone.
 */
void
ngx_http_sales_webhook_exit_worker(ngx_cycle_t *cycle,
    ngx_http_sales_main_conf_t *smcf)
{
    ngx_http_sales_wh_cycle_t  *wc;
    ngx_http_sales_wh_t        *wh;
    ngx_queue_t                *q;
    sales_wh_job_t             *jobs;
    sales_wh_result_t           r;
    size_t                      i, njobs;
    char                        err[256];

    if (smcf->wh_task == NULL) {
        return;
    }

    wc = smcf->wh_task->ctx;

    if (smcf->wh_cycling) {
        /* the task ran, but its end was never seen on the event loop */
        if (!wc->ran || wc->rc != 0) {
            (void) ngx_http_sales_wh_results_add(smcf, wc->results,
                                                 wc->nresults);
        }

        for (i = 0; wc->ran && wc->rc == 0 && i < wc->njobs; i++) {
            ngx_memzero(&r, sizeof(r));
            r.delivery_id = wc->jobs[i].delivery_id;
            r.lease_token = wc->jobs[i].lease_token;
            (void) ngx_http_sales_wh_results_add(smcf, &r, 1);
        }

        free(wc->results);
        sales_webhook_jobs_free(wc->jobs, wc->njobs);
        wc->results = NULL;
        wc->jobs = NULL;
        wc->nresults = 0;
        wc->njobs = 0;
        smcf->wh_cycling = 0;
    }

    while (!ngx_queue_empty(&smcf->wh_inflight)) {
        q = ngx_queue_head(&smcf->wh_inflight);
        wh = ngx_queue_data(q, ngx_http_sales_wh_t, queue);

        wh->result.sent = 0;
        (void) ngx_http_sales_wh_results_add(smcf, &wh->result, 1);

        ngx_http_sales_wh_close(wh);
        ngx_queue_remove(q);
        smcf->wh_ninflight--;
        sales_webhook_job_clear(&wh->job);
        ngx_destroy_pool(wh->pool);
    }

    if (smcf->wh_nresults == 0) {
        return;
    }

    if (sales_webhook_cycle(&smcf->core, 1, smcf->wh_results,
                            smcf->wh_nresults, 0, &jobs, &njobs, err,
                            sizeof(err))
        != 0)
    {
        ngx_log_error(NGX_LOG_ERR, cycle->log, 0,
                      "sales: %uz webhook results could not be recorded at "
                      "exit (their deliveries are sent again when their "
                      "leases end): %s", smcf->wh_nresults, err);
    }

    free(smcf->wh_results);
    smcf->wh_results = NULL;
    smcf->wh_nresults = 0;
    smcf->wh_cresults = 0;
}
