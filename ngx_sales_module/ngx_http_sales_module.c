
/*
 * ngx_http_sales_module: directives, configuration, process hooks.
 */


#include "ngx_http_sales.h"


static void *ngx_http_sales_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_sales_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_sales_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_sales_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_sales_db(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_sales_secret_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_sales_db_mkdir(ngx_conf_t *cf, ngx_str_t *db,
    ngx_str_t *dir);
static char *ngx_http_sales_api(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_sales_location(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_sales_postconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_sales_init_module(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_sales_init_process(ngx_cycle_t *cycle);
static void ngx_http_sales_exit_process(ngx_cycle_t *cycle);


static ngx_command_t  ngx_http_sales_commands[] = {

    { ngx_string("sales_db"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_sales_db,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("sales_thread_pool"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_sales_main_conf_t, pool_name),
      NULL },

    { ngx_string("sales_max_body"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_sales_main_conf_t, max_body),
      NULL },

    { ngx_string("sales_busy_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_sales_main_conf_t, busy_timeout),
      NULL },

    { ngx_string("sales_test_clock"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_sales_main_conf_t, test_clock),
      NULL },

    { ngx_string("sales_secret_file"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_sales_secret_file,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("sales_public_url"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_sales_main_conf_t, public_url),
      NULL },

    { ngx_string("sales_api"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_sales_api,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("sales_pixel"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_sales_location,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("sales_view"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_sales_location,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("sales_pixel_flush"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_sales_main_conf_t, pixel_flush),
      NULL },

    { ngx_string("sales_pixel_batch"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_sales_main_conf_t, pixel_batch),
      NULL },

    { ngx_string("sales_pixel_dedupe"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_sales_main_conf_t, pixel_dedupe),
      NULL },

    { ngx_string("sales_pixel_prefetch_window"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_sales_main_conf_t, pixel_prefetch),
      NULL },

    { ngx_string("sales_pixel_ua_retention"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_sales_main_conf_t, pixel_ua_retention),
      NULL },

    { ngx_string("sales_pixel_ua_defaults"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_sales_main_conf_t, pixel_ua_defaults),
      NULL },

    { ngx_string("sales_pixel_ua"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_http_sales_pixel_ua,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("sales_pixel_class"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_http_sales_pixel_class,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("sales_webhook_poll"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_sales_main_conf_t, wh_poll),
      NULL },

    { ngx_string("sales_webhook_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_sales_main_conf_t, wh_timeout),
      NULL },

    { ngx_string("sales_webhook_concurrency"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_sales_main_conf_t, wh_concurrency),
      NULL },

    { ngx_string("sales_webhook_retry"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_sales_webhook_retry,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("sales_webhook_disable_after"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_sales_main_conf_t, wh_disable_after),
      NULL },

    { ngx_string("sales_webhook_allow"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_sales_webhook_allow,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("sales_webhook_verify"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_sales_main_conf_t, wh_verify),
      NULL },

    { ngx_string("sales_webhook_trusted_certificate"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_sales_main_conf_t, wh_trusted),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_sales_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_sales_postconfiguration,      /* postconfiguration */

    ngx_http_sales_create_main_conf,       /* create main configuration */
    ngx_http_sales_init_main_conf,         /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_sales_create_loc_conf,        /* create location configuration */
    ngx_http_sales_merge_loc_conf          /* merge location configuration */
};


ngx_module_t  ngx_http_sales_module = {
    NGX_MODULE_V1,
    &ngx_http_sales_module_ctx,            /* module context */
    ngx_http_sales_commands,               /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    ngx_http_sales_init_module,            /* init module */
    ngx_http_sales_init_process,           /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_sales_exit_process,           /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_http_sales_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_sales_main_conf_t  *smcf;

    smcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_sales_main_conf_t));
    if (smcf == NULL) {
        return NULL;
    }

    smcf->max_body = NGX_CONF_UNSET_SIZE;
    smcf->busy_timeout = NGX_CONF_UNSET_MSEC;
    smcf->test_clock = NGX_CONF_UNSET;
    smcf->request_id_index = NGX_ERROR;
    smcf->pixel_flush = NGX_CONF_UNSET_MSEC;
    smcf->pixel_batch = NGX_CONF_UNSET_UINT;
    smcf->pixel_dedupe = NGX_CONF_UNSET_MSEC;
    smcf->pixel_prefetch = NGX_CONF_UNSET_MSEC;
    smcf->pixel_ua_retention = NGX_CONF_UNSET_MSEC;
    smcf->pixel_ua_defaults = NGX_CONF_UNSET;
    smcf->wh_poll = NGX_CONF_UNSET_MSEC;
    smcf->wh_timeout = NGX_CONF_UNSET_MSEC;
    smcf->wh_concurrency = NGX_CONF_UNSET_UINT;
    smcf->wh_disable_after = NGX_CONF_UNSET_MSEC;
    smcf->wh_verify = NGX_CONF_UNSET;

    return smcf;
}


static char *
ngx_http_sales_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_sales_main_conf_t  *smcf = conf;

    ngx_conf_init_size_value(smcf->max_body, 1024 * 1024);
    ngx_conf_init_msec_value(smcf->busy_timeout, 10000);
    ngx_conf_init_value(smcf->test_clock, 0);
    ngx_conf_init_msec_value(smcf->pixel_flush, 50);
    ngx_conf_init_uint_value(smcf->pixel_batch, 1024);
    ngx_conf_init_msec_value(smcf->pixel_dedupe, 60000);
    ngx_conf_init_msec_value(smcf->pixel_prefetch, 600000);
    ngx_conf_init_msec_value(smcf->pixel_ua_retention,
                             30 * 24 * 3600 * 1000U);
    ngx_conf_init_value(smcf->pixel_ua_defaults, 1);

    if (smcf->pixel_flush == 0 || smcf->pixel_batch == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"sales_pixel_flush\" and \"sales_pixel_batch\" "
                           "must be more than zero");
        return NGX_CONF_ERROR;
    }

    if (smcf->pixel_ua_defaults
        && ngx_http_sales_pixel_defaults(cf, smcf) != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    smcf->core.dedupe_ms = smcf->pixel_dedupe;
    smcf->core.prefetch_ms = smcf->pixel_prefetch;
    smcf->core.ua_retention_ms = smcf->pixel_ua_retention;

    if (smcf->max_body == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"sales_max_body\" must be more than zero");
        return NGX_CONF_ERROR;
    }

    if (smcf->busy_timeout > 600000) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"sales_busy_timeout\" must be at most 10m");
        return NGX_CONF_ERROR;
    }

    if (smcf->public_url.len) {
        if (ngx_strncmp(smcf->public_url.data, "http://", 7) != 0
            && ngx_strncmp(smcf->public_url.data, "https://", 8) != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"sales_public_url\" must start with "
                               "http:// or https://");
            return NGX_CONF_ERROR;
        }

        /* links are joined as URL + "/t/…" */
        while (smcf->public_url.len
               && smcf->public_url.data[smcf->public_url.len - 1] == '/')
        {
            smcf->public_url.len--;
        }

        smcf->public_url.data[smcf->public_url.len] = '\0';
    }

    smcf->core.public_url = smcf->public_url.len
                            ? (const char *) smcf->public_url.data : "";
    smcf->core.secrets = smcf->secrets;
    smcf->core.nsecrets = (int) smcf->nsecrets;
    smcf->core.db_path = (const char *) smcf->db.data;
    smcf->core.busy_timeout_ms = (int) smcf->busy_timeout;
    smcf->core.test_clock = smcf->test_clock ? 1 : 0;
    smcf->core.max_body = smcf->max_body;

    return ngx_http_sales_webhook_init_conf(cf, smcf);
}


static void *
ngx_http_sales_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_sales_loc_conf_t  *slcf;

    slcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_sales_loc_conf_t));
    if (slcf == NULL) {
        return NULL;
    }

    slcf->api = NGX_CONF_UNSET;

    return slcf;
}


static char *
ngx_http_sales_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_sales_loc_conf_t  *prev = parent;
    ngx_http_sales_loc_conf_t  *conf = child;

    ngx_conf_merge_value(conf->api, prev->api, 0);

    return NGX_CONF_OK;
}


/*
 * sales_db PATH: the file must be an SQLite database or not exist yet;
 * its folder is registered as an nginx path, so nginx creates it and,
 * when the master runs as root, hands it to the worker user, exactly as
 * it does for its temp folders.
 */
static char *
ngx_http_sales_db(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_sales_main_conf_t  *smcf = conf;

    u_char           *p, *dir_end;
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_str_t        *value;
    ngx_path_t       *path;
    ngx_file_info_t   fi;
    u_char            magic[16];

    if (smcf->db.data) {
        return "is duplicate";
    }

    value = cf->args->elts;
    smcf->db = value[1];

    if (smcf->db.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"sales_db\" needs a file path");
        return NGX_CONF_ERROR;
    }

    if (ngx_conf_full_name(cf->cycle, &smcf->db, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    /* ngx_conf_full_name() terminates the result; SQLite wants that. */

    if (smcf->db.data[smcf->db.len - 1] == '/') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"sales_db\" \"%V\" names a folder, not a file",
                           &smcf->db);
        return NGX_CONF_ERROR;
    }

    if (ngx_file_info(smcf->db.data, &fi) != NGX_FILE_ERROR) {

        if (!ngx_is_file(&fi)) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"sales_db\" \"%V\" is not a regular file",
                               &smcf->db);
            return NGX_CONF_ERROR;
        }

        /* Read through a descriptor closed at once, before any SQLite
         * connection exists in this process. */
        fd = ngx_open_file(smcf->db.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
        if (fd == NGX_INVALID_FILE) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                               "\"sales_db\" \"%V\" cannot be read",
                               &smcf->db);
            return NGX_CONF_ERROR;
        }

        n = read(fd, magic, sizeof(magic));
        ngx_close_file(fd);

        if (n != 0
            && (n != (ssize_t) sizeof(magic)
                || ngx_memcmp(magic, "SQLite format 3", 16) != 0))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"sales_db\" \"%V\" is not an SQLite "
                               "database", &smcf->db);
            return NGX_CONF_ERROR;
        }
    }

    dir_end = NULL;
    for (p = smcf->db.data; p < smcf->db.data + smcf->db.len; p++) {
        if (*p == '/') {
            dir_end = p;
        }
    }

    if (dir_end == NULL || dir_end == smcf->db.data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"sales_db\" \"%V\" must be inside a folder",
                           &smcf->db);
        return NGX_CONF_ERROR;
    }

    path = ngx_pcalloc(cf->pool, sizeof(ngx_path_t));
    if (path == NULL) {
        return NGX_CONF_ERROR;
    }

    path->name.len = dir_end - smcf->db.data;
    path->name.data = ngx_pnalloc(cf->pool, path->name.len + 1);
    if (path->name.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memcpy(path->name.data, smcf->db.data, path->name.len);
    path->name.data[path->name.len] = '\0';
    path->conf_file = cf->conf_file->file.name.data;
    path->line = cf->conf_file->line;

    if (ngx_file_info(path->name.data, &fi) != NGX_FILE_ERROR) {

        if (!ngx_is_dir(&fi)) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"sales_db\" \"%V\": \"%V\" is not a folder",
                               &smcf->db, &path->name);
            return NGX_CONF_ERROR;
        }

        /* A root master hands the folder to the worker user; anyone
         * else must be able to write it already. */
        if (geteuid() != 0
            && access((char *) path->name.data, W_OK|X_OK) != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                               "\"sales_db\" \"%V\": the folder \"%V\" is "
                               "not writable", &smcf->db, &path->name);
            return NGX_CONF_ERROR;
        }

    } else if (ngx_http_sales_db_mkdir(cf, &smcf->db, &path->name)
               != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (ngx_add_path(cf, &path) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * The database folder does not exist: the nearest existing ancestor must
 * be a folder we may write; the folders between are made now (0755, so
 * workers can pass), the last one by nginx with its other paths.
 */
static ngx_int_t
ngx_http_sales_db_mkdir(ngx_conf_t *cf, ngx_str_t *db, ngx_str_t *dir)
{
    u_char           *p, *last;
    ngx_file_info_t   fi;

    last = NULL;

    for (p = dir->data + dir->len - 1; p > dir->data; p--) {
        if (*p != '/') {
            continue;
        }

        *p = '\0';

        if (ngx_file_info(dir->data, &fi) != NGX_FILE_ERROR) {
            if (!ngx_is_dir(&fi)
                || (geteuid() != 0
                    && access((char *) dir->data, W_OK|X_OK) != 0))
            {
                *p = '/';
                goto failed;
            }

            *p = '/';
            break;
        }

        *p = '/';

        if (last == NULL) {
            last = p;
        }
    }

    if (last == NULL) {
        return NGX_OK;
    }

    /* ngx_create_full_path() makes every folder up to the last '/'. */
    *last = '\0';
    p = ngx_pnalloc(cf->pool, last - dir->data + 2);
    if (p == NULL) {
        *last = '/';
        return NGX_ERROR;
    }

    ngx_sprintf(p, "%s/%Z", dir->data);
    *last = '/';

    if (ngx_create_full_path(p, 0755) != 0) {
        goto failed;
    }

    return NGX_OK;

failed:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"sales_db\" \"%V\": the folder \"%V\" does not "
                       "exist and cannot be created", db, dir);
    return NGX_ERROR;
}


/*
 * sales_secret_file PATH: read now, in the master, so a bad file fails
 * "nginx -t"; the secrets then live in the configuration's memory.
 */
static char *
ngx_http_sales_secret_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_sales_main_conf_t  *smcf = conf;

    int               n;
    ssize_t           got;
    ngx_fd_t          fd;
    ngx_str_t        *value, path;
    ngx_file_info_t   fi;
    u_char           *text;
    char              err[160];

    if (smcf->secrets) {
        return "is duplicate";
    }

    value = cf->args->elts;
    path = value[1];

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    fd = ngx_open_file(path.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "\"sales_secret_file\" \"%V\" cannot be read",
                           &path);
        return NGX_CONF_ERROR;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR
        || ngx_file_size(&fi) > 64 * 1024)
    {
        ngx_close_file(fd);
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"sales_secret_file\" \"%V\" is not a small "
                           "regular file", &path);
        return NGX_CONF_ERROR;
    }

    text = ngx_pnalloc(cf->temp_pool, (size_t) ngx_file_size(&fi) + 1);
    if (text == NULL) {
        ngx_close_file(fd);
        return NGX_CONF_ERROR;
    }

    got = ngx_read_fd(fd, text, (size_t) ngx_file_size(&fi));
    ngx_close_file(fd);

    if (got != (ssize_t) ngx_file_size(&fi)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "\"sales_secret_file\" \"%V\" cannot be read",
                           &path);
        return NGX_CONF_ERROR;
    }

    smcf->secrets = ngx_pcalloc(cf->pool,
                                SALES_SECRETS_MAX * sizeof(sales_secret_t));
    if (smcf->secrets == NULL) {
        return NGX_CONF_ERROR;
    }

    if (sales_secrets_parse((const char *) text, (size_t) got, smcf->secrets,
                            SALES_SECRETS_MAX, &n, err, sizeof(err))
        != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"sales_secret_file\" \"%V\": %s", &path, err);
        return NGX_CONF_ERROR;
    }

    /* the secrets stay in the configuration; the text copy goes */
    ngx_explicit_memzero(text, (size_t) got);
    smcf->nsecrets = n;

    return NGX_CONF_OK;
}


static char *
ngx_http_sales_api(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_sales_loc_conf_t   *slcf = conf;
    ngx_http_core_loc_conf_t    *clcf;
    ngx_http_sales_main_conf_t  *smcf;

    if (slcf->api != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    slcf->api = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_sales_api_handler;

    smcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_sales_module);
    smcf->api_used = 1;

    return NGX_CONF_OK;
}


/* sales_pixel and sales_view: the pixel and the client's page. */
static char *
ngx_http_sales_location(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t    *clcf;
    ngx_http_sales_main_conf_t  *smcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler) {
        return "is duplicate";
    }

    clcf->handler = cmd->name.len == sizeof("sales_pixel") - 1
                    ? ngx_http_sales_pixel_handler
                    : ngx_http_sales_view_handler;

    smcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_sales_module);
    smcf->pixel_used = 1;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_sales_postconfiguration(ngx_conf_t *cf)
{
    ngx_str_t                    request_id = ngx_string("request_id");
    ngx_http_sales_main_conf_t  *smcf;

    smcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_sales_module);

    if (!smcf->api_used && !smcf->pixel_used) {
        return NGX_OK;
    }

    if (smcf->db.data == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%s\" requires \"sales_db\" in the http block",
                           smcf->api_used ? "sales_api" : "sales_pixel");
        return NGX_ERROR;
    }

    if (smcf->pixel_used && smcf->nsecrets == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"sales_pixel\" and \"sales_view\" require "
                           "\"sales_secret_file\" in the http block");
        return NGX_ERROR;
    }

    /* NULL is the "default" pool, made with 32 threads if not declared;
     * an unknown name fails when the thread pools are checked. */
    smcf->pool = ngx_thread_pool_add(cf, smcf->pool_name.len
                                         ? &smcf->pool_name : NULL);
    if (smcf->pool == NULL) {
        return NGX_ERROR;
    }

    smcf->request_id_index = ngx_http_get_variable_index(cf, &request_id);
    if (smcf->request_id_index == NGX_ERROR) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * In the master, after the configuration is read: database files made
 * by root (salesctl run before nginx, say) are handed to the worker user,
 * or the workers could not write them. Only names are touched, never
 * the file contents, so no SQLite lock can be disturbed.
 */
static ngx_int_t
ngx_http_sales_init_module(ngx_cycle_t *cycle)
{
    static const char           *suffixes[] = { "", "-wal", "-shm", NULL };
    ngx_uint_t                   i;
    ngx_core_conf_t             *ccf;
    ngx_file_info_t              fi;
    ngx_http_sales_main_conf_t  *smcf;
    u_char                       name[NGX_MAX_PATH];

    if (ngx_http_cycle_get_module_main_conf(cycle, ngx_http_module) == NULL) {
        return NGX_OK;
    }

    smcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_sales_module);
    if (smcf == NULL || smcf->db.data == NULL || geteuid() != 0) {
        return NGX_OK;
    }

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);
    if (ccf->user == (ngx_uid_t) NGX_CONF_UNSET_UINT || ccf->user == 0) {
        return NGX_OK;
    }

    for (i = 0; suffixes[i]; i++) {
        if (smcf->db.len + 5 >= sizeof(name)) {
            break;
        }

        ngx_sprintf(name, "%V%s%Z", &smcf->db, suffixes[i]);

        if (ngx_file_info(name, &fi) == NGX_FILE_ERROR) {
            continue;
        }

        if (fi.st_uid != ccf->user
            && chown((char *) name, ccf->user, ccf->group) == -1)
        {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                          "chown(\"%s\", %d) failed for \"sales_db\"",
                          name, ccf->user);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_sales_init_process(ngx_cycle_t *cycle)
{
    ngx_http_sales_main_conf_t  *smcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    if (ngx_http_cycle_get_module_main_conf(cycle, ngx_http_module) == NULL) {
        return NGX_OK;
    }

    smcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_sales_module);

    if (smcf == NULL) {
        return NGX_OK;
    }

    if (smcf->test_clock) {
        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "\"sales_test_clock\" is on: requests may set the "
                      "clock; never use this outside tests");
    }

    if (ngx_http_sales_pixel_init_worker(cycle, smcf) != NGX_OK) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "sales: the view pixel cannot batch views in this "
                      "worker");
    }

    if (ngx_http_sales_webhook_init_worker(cycle, smcf) != NGX_OK) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "sales: this worker cannot deliver webhooks");
    }

    /* Connections open lazily on the pool threads: nothing here may
     * fail the worker, which nginx would then not respawn. */
    return NGX_OK;
}


/* The thread pools exit before this runs (they are core modules, earlier
 * in the list), so no thread still uses a connection. */
static void
ngx_http_sales_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_sales_main_conf_t  *smcf;

    if (ngx_http_cycle_get_module_main_conf(cycle, ngx_http_module) != NULL) {
        smcf = ngx_http_cycle_get_module_main_conf(cycle,
                                                   ngx_http_sales_module);
        if (smcf) {
            ngx_http_sales_pixel_exit_worker(cycle, smcf);
            ngx_http_sales_webhook_exit_worker(cycle, smcf);
        }
    }

    sales_db_close_all();
}
