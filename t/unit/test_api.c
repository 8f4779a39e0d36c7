/*
 * The core end to end, without nginx: a database in a temporary folder,
 * an admin made with sales_user_insert, then requests through
 * sales_api_handle as the glue would send them.
 */

#include "tap.h"
#include "unit.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sales.h"


#define JSON_CT     "application/json"
#define PROBLEM_CT  "application/problem+json"


static sales_conf_t  conf;
static char          admin_auth[96];
static int64_t       admin_id;


typedef struct {
    const char  *query;
    const char  *auth;          /* NULL: the admin's; "" none at all */
    const char  *idem;
    const char  *test_now;
    const char  *content_type;  /* NULL: application/json */
    const char  *request_id;
} opts_t;


typedef struct {
    sales_http_resp_t  resp;
    json_t            *json;
    int                status;
} res_t;


/* A copy without a terminating NUL, in a block of exactly its length:
 * the glue's strings need not be terminated, and ASan sees any read
 * past the end. */
static char *
exact(const char *s, size_t *len)
{
    char  *p;

    *len = strlen(s);
    p = malloc(*len ? *len : 1);
    if (p && *len) {
        memcpy(p, s, *len);
    }

    return p;
}


static int
api(res_t *res, int method, const char *path, const char *body,
    const opts_t *o)
{
    static const opts_t  none;
    sales_http_req_t     req;
    char                *copies[7] = { NULL };
    const char          *auth;
    int                  i;

    if (o == NULL) {
        o = &none;
    }

    memset(&req, 0, sizeof(req));
    memset(res, 0, sizeof(*res));

    req.method = method;
    req.path = copies[0] = exact(path, &req.path_len);

    if (o->query) {
        req.query = copies[1] = exact(o->query, &req.query_len);
    }

    auth = o->auth ? o->auth : admin_auth;
    if (auth[0]) {
        req.authorization = copies[2] = exact(auth, &req.authorization_len);
    }

    if (o->idem) {
        req.idempotency_key = copies[3] = exact(o->idem,
                                                &req.idempotency_key_len);
        req.has_idempotency_key = 1;
    }

    req.content_type = copies[4] = exact(o->content_type ? o->content_type
                                                         : JSON_CT,
                                         &req.content_type_len);

    if (o->test_now) {
        req.test_now = copies[5] = exact(o->test_now, &req.test_now_len);
    }

    if (body) {
        req.body = copies[6] = exact(body, &req.body_len);
    }

    req.request_id = o->request_id;

    sales_api_handle(&conf, &req, &res->resp);

    for (i = 0; i < 7; i++) {
        free(copies[i]);
    }

    res->status = res->resp.status;
    if (res->resp.body) {
        res->json = json_loadb(res->resp.body, res->resp.body_len, 0, NULL);
    }

    return res->status;
}


static void
res_free(res_t *res)
{
    json_decref(res->json);
    res->json = NULL;
    sales_http_resp_free(&res->resp);
}


static const char *
jstr(json_t *j, const char *key)
{
    return json_string_value(json_object_get(j, key));
}


static long long
jint(json_t *j, const char *key)
{
    json_t  *v = json_object_get(j, key);

    return json_is_integer(v) ? (long long) json_integer_value(v) : -999999;
}


static const char *
err_pointer(json_t *j, size_t i)
{
    return jstr(json_array_get(json_object_get(j, "errors"), i), "pointer");
}


/* A problem answer: status, content type and the type URN. */
static void
is_problem(res_t *r, int status, const char *type, const char *name)
{
    char  urn[96];

    snprintf(urn, sizeof(urn), "urn:sales:problem:%s", type);

    is_int(r->status, status, "%s: status %d", name, status);
    ok(r->json && r->resp.content_type
       && strcmp(r->resp.content_type, PROBLEM_CT) == 0
       && jint(r->json, "status") == status
       && jstr(r->json, "title") && jstr(r->json, "detail"),
       "%s: a problem+json document", name);
    is_str(jstr(r->json, "type"), urn, "%s: type %s", name, type);
    if (r->status != status && r->resp.body) {
        diag("body: %s", r->resp.body);
    }
}


static size_t
items(res_t *r)
{
    return json_array_size(json_object_get(r->json, "items"));
}


/* How many clients the admin sees with this name. */
static size_t
clients_named(const char *name)
{
    char    q[256];
    opts_t  o = { 0 };
    res_t   r;
    size_t  i, n = 0;
    json_t *it;

    snprintf(q, sizeof(q), "archived=all&limit=200");
    o.query = q;
    api(&r, SALES_GET, "/clients", NULL, &o);

    json_array_foreach(json_object_get(r.json, "items"), i, it) {
        if (jstr(it, "name") && strcmp(jstr(it, "name"), name) == 0) {
            n++;
        }
    }

    res_free(&r);
    return n;
}


static int64_t
db_count(const char *sql)
{
    sqlite3       *db;
    sqlite3_stmt  *st;
    int64_t        n = -1;

    if (sqlite3_open_v2(conf.db_path, &db, SQLITE_OPEN_READONLY, NULL)
        != SQLITE_OK)
    {
        sqlite3_close(db);
        return -1;
    }

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) {
            n = sqlite3_column_int64(st, 0);
        }
        sqlite3_finalize(st);
    }

    sqlite3_close(db);
    return n;
}


static void
remove_tree(const char *dir)
{
    DIR            *d;
    struct dirent  *e;
    char            path[512];

    d = opendir(dir);
    if (d == NULL) {
        return;
    }

    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        unlink(path);
    }

    closedir(d);
    rmdir(dir);
}


/* The database cannot be opened: 503 without the reason in the body. */
static void
test_unavailable(const char *dir)
{
    sales_conf_t       bad;
    sales_http_req_t   req;
    sales_http_resp_t  resp;
    char               path[512];
    FILE              *f;

    memset(&req, 0, sizeof(req));
    req.method = SALES_GET;
    req.path = "/me";
    req.path_len = 3;

    bad = conf;
    snprintf(path, sizeof(path), "%s/no-such-folder/x.db", dir);
    bad.db_path = path;

    sales_api_handle(&bad, &req, &resp);
    is_int(resp.status, 503, "database in a missing folder: 503");
    ok(resp.retry_after > 0, "503 sets Retry-After");
    ok(resp.log_level == SALES_LOG_ERR && resp.log[0],
       "503 logs the reason");
    ok(resp.body && strstr(resp.body, "no-such-folder") == NULL
       && strstr(resp.body, dir) == NULL,
       "503 body does not show the path");
    sales_http_resp_free(&resp);

    snprintf(path, sizeof(path), "%s/garbage.db", dir);
    f = fopen(path, "w");
    if (f) {
        int  i;

        for (i = 0; i < 256; i++) {
            fputs("this is not an SQLite database\n", f);
        }
        fclose(f);
    }

    sales_api_handle(&bad, &req, &resp);
    is_int(resp.status, 503, "a file that is not a database: 503");
    ok(resp.content_type && strcmp(resp.content_type, PROBLEM_CT) == 0,
       "503 is problem+json");
    sales_http_resp_free(&resp);

    unlink(path);
}


static int
setup(char *dir, char *db_path, size_t db_path_size)
{
    sqlite3  *db;
    json_t   *out = NULL;
    char      err[512];
    int       rc;

    snprintf(db_path, db_path_size, "%s/t.db", dir);

    memset(&conf, 0, sizeof(conf));
    conf.db_path = db_path;
    conf.busy_timeout_ms = 2000;
    conf.test_clock = 1;
    conf.max_body = 1 << 20;

    err[0] = '\0';
    rc = sales_db_open(db_path, conf.busy_timeout_ms, &db, err, sizeof(err));
    if (!ok(rc == 0 && db != NULL, "sales_db_open creates the database")) {
        diag("%s", err);
        return -1;
    }

    {
        sqlite3_stmt  *st;
        int            version = -1;

        if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL)
            == SQLITE_OK)
        {
            if (sqlite3_step(st) == SQLITE_ROW) {
                version = sqlite3_column_int(st, 0);
            }
            sqlite3_finalize(st);
        }

        ok(sales_db_schema_version() >= 1
           && version == sales_db_schema_version(),
           "the schema is migrated to version %d", version);
        is_int(sales_db_migrate(db, err, sizeof(err)), 0,
               "migrating again is a no-op");
    }

    /* A user under a manager who does not exist is refused. */
    err[0] = '\0';
    rc = sales_user_insert(db, "Orphan", SALES_ROLE_AE, 999, 1000, &out, err,
                           sizeof(err));
    ok(rc != 0 && strstr(err, "manager_id") != NULL,
       "sales_user_insert refuses an unknown manager (%s)", err);
    if (rc == 0) {
        json_decref(out);
        out = NULL;
    }

    rc = sales_user_insert(db, "Admin", SALES_ROLE_ADMIN, 0,
                           sales_now_ms(), &out, err, sizeof(err));
    if (!ok(rc == 0 && out != NULL, "sales_user_insert makes an admin")) {
        diag("%s", err);
        sqlite3_close(db);
        return -1;
    }

    admin_id = jint(out, "id");
    ok(admin_id > 0, "the admin has an id");
    ok(jstr(out, "token") && strlen(jstr(out, "token")) == 47
       && strncmp(jstr(out, "token"), "sat_", 4) == 0,
       "the admin token is sat_ + 43 characters");

    snprintf(admin_auth, sizeof(admin_auth), "Bearer %s",
             jstr(out, "token") ? jstr(out, "token") : "");
    json_decref(out);

    is_int(sqlite3_close(db), SQLITE_OK, "the setup connection closes");
    return 0;
}


static void
test_auth_and_routing(void)
{
    opts_t  o = { 0 };
    res_t   r;
    char    auth[128];

    api(&r, SALES_GET, "/me", NULL, NULL);
    is_int(r.status, 200, "GET /me: 200");
    is_str(r.resp.content_type, JSON_CT, "GET /me: application/json");
    is_int(jint(r.json, "id"), admin_id, "GET /me: the admin's id");
    is_str(jstr(r.json, "role"), "admin", "GET /me: role admin");
    is_str(jstr(r.json, "name"), "Admin", "GET /me: name");
    ok(json_is_array(json_object_get(r.json, "team"))
       && json_array_size(json_object_get(r.json, "team")) == 0,
       "GET /me: empty team");
    ok(json_is_false(json_object_get(r.json, "disabled"))
       && jint(r.json, "version") == 1 && jstr(r.json, "created_at"),
       "GET /me: disabled false, version 1, created_at");
    res_free(&r);

    o.auth = "";
    api(&r, SALES_GET, "/me", NULL, &o);
    is_problem(&r, 401, "unauthorized", "no token");
    ok(r.resp.www_authenticate, "no token: WWW-Authenticate");
    res_free(&r);

    o.auth = "Basic YWRtaW46YWRtaW4=";
    api(&r, SALES_GET, "/me", NULL, &o);
    is_problem(&r, 401, "unauthorized", "Basic scheme");
    res_free(&r);

    o.auth = "Bearer sat_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    api(&r, SALES_GET, "/me", NULL, &o);
    is_problem(&r, 401, "unauthorized", "unknown token");
    ok(r.resp.www_authenticate, "unknown token: WWW-Authenticate");
    res_free(&r);

    o.auth = "Bearer sat_short";
    api(&r, SALES_GET, "/me", NULL, &o);
    is_problem(&r, 401, "unauthorized", "malformed token");
    res_free(&r);

    /* Scheme in any case, spaces around the token. */
    snprintf(auth, sizeof(auth), "bearer   %s  ", admin_auth + 7);
    o.auth = auth;
    api(&r, SALES_GET, "/me", NULL, &o);
    is_int(r.status, 200, "lower-case scheme and extra spaces: 200");
    res_free(&r);

    /* The token must be read within its length only. */
    snprintf(auth, sizeof(auth), "%s", admin_auth);
    auth[strlen(auth) - 1] ^= 1;
    o.auth = auth;
    api(&r, SALES_GET, "/me", NULL, &o);
    is_problem(&r, 401, "unauthorized", "token with one character changed");
    res_free(&r);

    o.auth = NULL;
    o.request_id = "r-42";
    api(&r, SALES_GET, "/nope", NULL, &o);
    is_problem(&r, 404, "not-found", "unknown route");
    is_str(jstr(r.json, "instance"), "urn:request:r-42",
           "problem instance names the request id");
    res_free(&r);
    o.request_id = NULL;

    api(&r, SALES_GET, "/clients/999999", NULL, NULL);
    is_problem(&r, 404, "not-found", "unknown client");
    res_free(&r);

    api(&r, SALES_DELETE, "/clients", NULL, NULL);
    is_problem(&r, 405, "method-not-allowed", "DELETE /clients");
    is_str(r.resp.allow, "GET, POST", "DELETE /clients: Allow GET, POST");
    res_free(&r);

    api(&r, SALES_PUT, "/clients/1", "{}", NULL);
    is_problem(&r, 405, "method-not-allowed", "PUT /clients/1");
    is_str(r.resp.allow, "GET, PATCH", "PUT /clients/1: Allow GET, PATCH");
    res_free(&r);

    o.query = "bogus=1";
    api(&r, SALES_GET, "/clients", NULL, &o);
    is_problem(&r, 400, "malformed", "unknown query parameter");
    is_str(err_pointer(r.json, 0), "#/bogus",
           "unknown query parameter is named");
    res_free(&r);

    o.query = "limit=1&limit=2";
    api(&r, SALES_GET, "/clients", NULL, &o);
    is_problem(&r, 400, "malformed", "query parameter given twice");
    res_free(&r);

    o.query = "limit=0";
    api(&r, SALES_GET, "/clients", NULL, &o);
    is_problem(&r, 400, "malformed", "limit=0");
    res_free(&r);

    o.query = "limit=201";
    api(&r, SALES_GET, "/clients", NULL, &o);
    is_problem(&r, 400, "malformed", "limit=201");
    res_free(&r);

    o.query = "q=%zz";
    api(&r, SALES_GET, "/clients", NULL, &o);
    is_problem(&r, 400, "malformed", "bad percent escape");
    res_free(&r);

    o.query = "cursor=bm9wZQ";
    api(&r, SALES_GET, "/clients", NULL, &o);
    is_problem(&r, 400, "malformed", "a cursor not given out");
    res_free(&r);

    {
        sales_http_resp_t  resp;
        json_t            *j;

        memset(&resp, 0, sizeof(resp));
        sales_problem_response(&resp, 413, "too-large", "the body is over "
                               "the limit", "abc");
        j = resp.body ? json_loads(resp.body, 0, NULL) : NULL;
        ok(resp.status == 413 && resp.content_type
           && strcmp(resp.content_type, PROBLEM_CT) == 0,
           "sales_problem_response: 413 problem+json");
        is_str(jstr(j, "type"), "urn:sales:problem:too-large",
               "sales_problem_response: type");
        is_str(jstr(j, "title"), "Request body too large",
               "sales_problem_response: title");
        is_str(jstr(j, "instance"), "urn:request:abc",
               "sales_problem_response: instance");
        json_decref(j);
        sales_http_resp_free(&resp);
    }
}


static char *
nested(int depth)
{
    size_t  len = (size_t) depth * 6 + 2;
    char   *s = malloc(len), *p = s;
    int     i;

    if (s == NULL) {
        return NULL;
    }

    for (i = 0; i < depth; i++) {
        memcpy(p, "{\"a\":", 5);
        p += 5;
    }
    *p++ = '1';
    for (i = 0; i < depth; i++) {
        *p++ = '}';
    }
    *p = '\0';
    return s;
}


static void
test_clients(void)
{
    static const char  good[] =
        "{\"name\":\"Exemplu SRL\",\"tax_id\":\"RO18547290\","
        "\"city\":\"Cluj-Napoca\",\"email\":\"office@exemplu.ro\"}";

    opts_t    o = { 0 };
    res_t     r, g;
    char      path[64], loc[64], body[512];
    int64_t   id, id2;
    char     *deep;

    api(&r, SALES_POST, "/clients", good, NULL);
    is_int(r.status, 201, "POST /clients: 201");
    if (r.status != 201) {
        diag("body: %s", r.resp.body ? r.resp.body : "(none)");
    }
    id = jint(r.json, "id");
    ok(id > 0, "POST /clients: an id");
    snprintf(loc, sizeof(loc), "/clients/%lld", (long long) id);
    is_str(r.resp.location, loc, "POST /clients: Location");
    is_str(r.resp.content_type, JSON_CT, "POST /clients: application/json");
    is_str(jstr(r.json, "name"), "Exemplu SRL", "client name");
    is_str(jstr(r.json, "tax_id"), "RO18547290", "client tax_id");
    ok(json_is_true(json_object_get(r.json, "vat_payer")),
       "RO prefix makes a VAT payer");
    is_str(jstr(r.json, "city"), "Cluj-Napoca", "client city");
    is_str(jstr(r.json, "email"), "office@exemplu.ro", "client email");
    is_str(jstr(r.json, "country"), "RO", "country defaults to RO");
    is_str(jstr(r.json, "currency"), "RON", "currency defaults to RON");
    is_int(jint(r.json, "payment_terms_days"), 30,
           "payment_terms_days defaults to 30");
    is_int(jint(r.json, "owner_id"), admin_id, "owner defaults to the caller");
    ok(json_is_null(json_object_get(r.json, "archived_at")),
       "archived_at is null");
    ok(json_is_null(json_object_get(r.json, "iban")), "unset iban is null");
    is_int(jint(r.json, "version"), 1, "version starts at 1");
    ok(jstr(r.json, "created_at") && jstr(r.json, "updated_at")
       && strcmp(jstr(r.json, "created_at"), jstr(r.json, "updated_at")) == 0,
       "created_at equals updated_at");
    ok(json_object_get(r.json, "name_search") == NULL
       && json_object_get(r.json, "tax_key") == NULL,
       "derived columns are not shown");

    snprintf(path, sizeof(path), "/clients/%lld", (long long) id);
    api(&g, SALES_GET, path, NULL, NULL);
    is_int(g.status, 200, "GET /clients/{id}: 200");
    ok(g.json && r.json && json_equal(g.json, r.json),
       "GET /clients/{id} answers what POST answered");
    res_free(&g);
    res_free(&r);

    /* A bad check digit: 422 naming the field; nothing written. */
    o.request_id = "bad-cui";
    api(&r, SALES_POST, "/clients",
        "{\"name\":\"Bad CUI SRL\",\"tax_id\":\"RO18547291\"}", &o);
    is_problem(&r, 422, "validation", "bad CUI");
    is_str(err_pointer(r.json, 0), "#/tax_id", "bad CUI: errors[0] #/tax_id");
    is_int(json_array_size(json_object_get(r.json, "errors")), 1,
           "bad CUI: one error");
    res_free(&r);
    is_int(clients_named("Bad CUI SRL"), 0, "bad CUI: nothing written");
    o.request_id = NULL;

    api(&r, SALES_POST, "/clients",
        "{\"name\":\"\",\"color\":\"red\",\"payment_terms_days\":400}", NULL);
    is_problem(&r, 422, "validation", "three bad fields");
    is_int(json_array_size(json_object_get(r.json, "errors")), 3,
           "three bad fields: three errors");
    is_str(jstr(r.json, "detail"), "3 fields are invalid",
           "three bad fields: detail counts them");
    res_free(&r);

    /* Cross-field checks run beside the others: one answer names all. */
    api(&r, SALES_POST, "/clients",
        "{\"name\":\"Two SRL\",\"tax_id\":\"RO18547291\","
        "\"email\":\"not-an-address\"}", NULL);
    is_problem(&r, 422, "validation", "bad CUI and bad email");
    {
        json_t  *errs = json_object_get(r.json, "errors");
        int      seen = 0;
        size_t   i;

        for (i = 0; i < json_array_size(errs); i++) {
            const char  *p = err_pointer(r.json, i);

            if (p && strcmp(p, "#/tax_id") == 0) {
                seen |= 1;
            } else if (p && strcmp(p, "#/email") == 0) {
                seen |= 2;
            }
        }
        ok(json_array_size(errs) == 2 && seen == 3,
           "bad CUI and bad email: both named");
    }
    res_free(&r);

    api(&r, SALES_POST, "/clients", "", NULL);
    is_problem(&r, 422, "validation", "an empty body counts as {}");
    is_str(err_pointer(r.json, 0), "#/name", "empty body: #/name required");
    res_free(&r);

    api(&r, SALES_POST, "/clients", "{\"city\":\"Iasi\"}", NULL);
    is_problem(&r, 422, "validation", "name missing");
    is_str(err_pointer(r.json, 0), "#/name", "name missing: #/name");
    res_free(&r);

    api(&r, SALES_POST, "/clients",
        "{\"name\":\"X\",\"iban\":\"RO49AAAA1B31007593840001\"}", NULL);
    is_problem(&r, 422, "validation", "bad IBAN");
    is_str(err_pointer(r.json, 0), "#/iban", "bad IBAN: #/iban");
    res_free(&r);

    api(&r, SALES_POST, "/clients",
        "{\"name\":\"X\",\"vat_payer\":true}", NULL);
    is_problem(&r, 422, "validation", "read-only field");
    is_str(err_pointer(r.json, 0), "#/vat_payer", "read-only: #/vat_payer");
    res_free(&r);

    /* Bodies that are not JSON objects. */
    api(&r, SALES_POST, "/clients", "{bad", NULL);
    is_problem(&r, 400, "malformed", "malformed JSON");
    res_free(&r);

    api(&r, SALES_POST, "/clients", "[{\"name\":\"x\"}]", NULL);
    is_problem(&r, 400, "malformed", "a JSON array body");
    res_free(&r);

    api(&r, SALES_POST, "/clients", "{\"name\":\"a\",\"name\":\"b\"}", NULL);
    is_problem(&r, 400, "malformed", "duplicate keys");
    res_free(&r);

    deep = nested(33);
    api(&r, SALES_POST, "/clients", deep, NULL);
    is_problem(&r, 400, "malformed", "nesting depth 33");
    ok(jstr(r.json, "detail") && strstr(jstr(r.json, "detail"), "32"),
       "depth 33: the detail names the limit");
    res_free(&r);
    free(deep);

    deep = nested(32);
    api(&r, SALES_POST, "/clients", deep, NULL);
    is_problem(&r, 422, "validation", "nesting depth 32 is parsed");
    is_str(err_pointer(r.json, 0), "#/a", "depth 32: field a is unknown");
    res_free(&r);
    free(deep);

    /* Brackets inside strings, also after an escaped quote, do not
     * count as nesting. */
    {
        char  open[48], braces[48];

        memset(open, '[', 40);
        open[40] = '\0';
        memset(braces, '{', 40);
        braces[40] = '\0';
        snprintf(body, sizeof(body), "{\"name\":\"%s\\\"%s\"}", open,
                 braces);
        api(&r, SALES_POST, "/clients", body, NULL);
        is_int(r.status, 201, "brackets inside a string are not nesting");
        res_free(&r);
    }

    /* Tax ids outside Romania; the RO prefix in any case and spacing. */
    api(&r, SALES_POST, "/clients",
        "{\"name\":\"Deutsch GmbH\",\"country\":\"DE\","
        "\"tax_id\":\"de 123456789\",\"currency\":\"EUR\"}", NULL);
    is_int(r.status, 201, "a German client: 201");
    is_str(jstr(r.json, "tax_id"), "DE123456789",
           "DE tax id stored without spaces, upper case");
    res_free(&r);

    api(&r, SALES_POST, "/clients",
        "{\"name\":\"Spaced SRL\",\"tax_id\":\"ro 1234 567 897\"}", NULL);
    is_int(r.status, 201, "RO tax id in lower case with spaces: 201");
    is_str(jstr(r.json, "tax_id"), "RO1234567897",
           "RO tax id stored without spaces, upper case");
    res_free(&r);

    api(&r, SALES_POST, "/clients",
        "{\"name\":\"Short SRL\",\"tax_id\":\"R1234567897\"}", NULL);
    is_problem(&r, 422, "validation", "an R prefix is not RO");
    res_free(&r);

    api(&r, SALES_POST, "/clients",
        "{\"name\":\"Bad Cur SRL\",\"currency\":\"ron\","
        "\"country\":\"ro\"}", NULL);
    is_problem(&r, 422, "validation", "lower-case currency and country");
    is_int(json_array_size(json_object_get(r.json, "errors")), 2,
           "currency and country both named");
    res_free(&r);

    o.content_type = "text/plain";
    api(&r, SALES_POST, "/clients", "{\"name\":\"Text SRL\"}", &o);
    is_problem(&r, 415, "unsupported-media-type", "text/plain body");
    res_free(&r);

    o.content_type = "application/json; charset=utf-8";
    api(&r, SALES_POST, "/clients", "{\"name\":\"Charset SRL\"}", &o);
    is_int(r.status, 201, "application/json with charset: 201");
    res_free(&r);
    o.content_type = NULL;

    /* A unique tax key among active clients (RO prefix or not). */
    api(&r, SALES_POST, "/clients",
        "{\"name\":\"Copy SRL\",\"tax_id\":\"18547290\"}", NULL);
    is_problem(&r, 409, "conflict", "same tax id again");
    is_str(err_pointer(r.json, 0), "#/tax_id", "same tax id: #/tax_id");
    res_free(&r);

    api(&r, SALES_POST, "/clients",
        "{\"name\":\"Ext SRL\",\"external_id\":\"crm-1\","
        "\"iban\":\"ro49 aaaa 1b31 0075 9384 0000\",\"tax_id\":\"14399840\"}",
        NULL);
    is_int(r.status, 201, "client with external_id and spaced IBAN: 201");
    is_str(jstr(r.json, "iban"), "RO49AAAA1B31007593840000",
           "IBAN stored without spaces, upper case");
    ok(json_is_false(json_object_get(r.json, "vat_payer")),
       "no RO prefix: not a VAT payer");
    id2 = jint(r.json, "id");
    res_free(&r);

    api(&r, SALES_POST, "/clients",
        "{\"name\":\"Ext2 SRL\",\"external_id\":\"crm-1\"}", NULL);
    is_problem(&r, 409, "conflict", "same external_id again");
    res_free(&r);

    /* PATCH: changes, null clears, version grows; unchanged is a no-op. */
    snprintf(path, sizeof(path), "/clients/%lld", (long long) id);
    o.test_now = "2030-05-06T07:08:09Z";
    o.content_type = "application/merge-patch+json";
    api(&r, SALES_PATCH, path,
        "{\"phone\":\"+40 264 000 000\",\"city\":null}", &o);
    is_int(r.status, 200, "PATCH /clients/{id}: 200");
    is_str(jstr(r.json, "phone"), "+40 264 000 000", "PATCH sets phone");
    ok(json_is_null(json_object_get(r.json, "city")), "PATCH null clears");
    is_int(jint(r.json, "version"), 2, "PATCH bumps the version");
    is_str(jstr(r.json, "updated_at"), "2030-05-06T07:08:09Z",
           "PATCH sets updated_at from the clock");
    ok(jstr(r.json, "created_at")
       && strcmp(jstr(r.json, "created_at"), "2030-05-06T07:08:09Z") != 0,
       "PATCH keeps created_at");
    res_free(&r);
    o.content_type = NULL;

    api(&r, SALES_PATCH, path, "{\"phone\":\"+40 264 000 000\"}", &o);
    is_int(r.status, 200, "PATCH with no change: 200");
    is_int(jint(r.json, "version"), 2, "PATCH with no change: same version");
    res_free(&r);
    o.test_now = NULL;

    api(&r, SALES_PATCH, path, "{\"phone\":\"call me\"}", NULL);
    is_problem(&r, 422, "validation", "bad phone");
    res_free(&r);

    /* Archive: read-only until unarchived. */
    snprintf(path, sizeof(path), "/clients/%lld/archive", (long long) id2);
    api(&r, SALES_POST, path, NULL, NULL);
    is_int(r.status, 200, "archive: 200");
    ok(jstr(r.json, "archived_at") != NULL, "archive sets archived_at");
    res_free(&r);

    snprintf(path, sizeof(path), "/clients/%lld", (long long) id2);
    api(&r, SALES_PATCH, path, "{\"notes\":\"x\"}", NULL);
    is_problem(&r, 409, "conflict", "PATCH of an archived client");
    res_free(&r);

    o.query = "archived=true";
    api(&r, SALES_GET, "/clients", NULL, &o);
    ok(items(&r) == 1
       && jint(json_array_get(json_object_get(r.json, "items"), 0), "id")
          == id2, "archived=true lists the archived client");
    res_free(&r);
    o.query = NULL;

    snprintf(path, sizeof(path), "/clients/%lld/archive", (long long) id2);
    api(&r, SALES_POST, path, NULL, NULL);
    is_problem(&r, 409, "conflict", "archive of an archived client");
    res_free(&r);

    api(&r, SALES_POST, path, "{\"why\":1}", NULL);
    ok(r.status == 400 || r.status == 409, "archive with a body is refused");
    res_free(&r);

    snprintf(path, sizeof(path), "/clients/%lld/unarchive", (long long) id2);
    api(&r, SALES_POST, path, NULL, NULL);
    is_int(r.status, 200, "unarchive: 200");
    ok(json_is_null(json_object_get(r.json, "archived_at")),
       "unarchive clears archived_at");
    res_free(&r);

    api(&r, SALES_POST, path, NULL, NULL);
    is_problem(&r, 409, "conflict", "unarchive of an active client");
    res_free(&r);

    /* Search folds case and Romanian diacritics. */
    api(&r, SALES_POST, "/clients",
        "{\"name\":\"\xc3\x8engh" "e\xc5\xa3" "at\xc4\x83 \xc5\xa2"
        "ar\xc4\x83 SRL\"}", NULL);
    is_int(r.status, 201, "client with diacritics: 201");
    res_free(&r);

    o.query = "q=INGHETATA%20tara";
    api(&r, SALES_GET, "/clients", NULL, &o);
    ok(items(&r) == 1, "q=INGHETATA tara finds the name with diacritics");
    res_free(&r);

    o.query = "q=exem";
    api(&r, SALES_GET, "/clients", NULL, &o);
    ok(items(&r) == 1 && strcmp(jstr(json_array_get(
           json_object_get(r.json, "items"), 0), "name"), "Exemplu SRL") == 0,
       "q=exem finds Exemplu SRL");
    res_free(&r);

    o.query = "q=exemplu+srl";
    api(&r, SALES_GET, "/clients", NULL, &o);
    ok(items(&r) == 1, "q=exemplu+srl: + is a space");
    res_free(&r);

    o.query = "tax_id=18547290";
    api(&r, SALES_GET, "/clients", NULL, &o);
    ok(items(&r) == 1, "tax_id without RO finds RO18547290");
    res_free(&r);

    /* Paging with a cursor. */
    {
        char       q[160];
        json_t    *seen = json_array();
        int        pages = 0;
        const char *next;

        o.query = "limit=2";
        api(&r, SALES_GET, "/clients", NULL, &o);

        while (r.status == 200 && pages < 20) {
            size_t   i;
            json_t  *it;

            pages++;
            json_array_foreach(json_object_get(r.json, "items"), i, it) {
                json_array_append_new(seen, json_integer(jint(it, "id")));
            }

            next = jstr(r.json, "next_cursor");
            if (next == NULL) {
                break;
            }

            snprintf(q, sizeof(q), "limit=2&cursor=%s", next);
            res_free(&r);
            o.query = q;
            api(&r, SALES_GET, "/clients", NULL, &o);
        }

        ok(r.status == 200 && json_is_null(json_object_get(r.json,
                                                           "next_cursor")),
           "the last page has next_cursor null");
        res_free(&r);

        {
            size_t  i, n = json_array_size(seen);
            int     ascending = n >= 5;

            for (i = 1; i < n; i++) {
                if (json_integer_value(json_array_get(seen, i))
                    <= json_integer_value(json_array_get(seen, i - 1)))
                {
                    ascending = 0;
                }
            }

            ok(pages >= 3 && ascending,
               "cursor paging walks %zu clients in %d pages, by id", n,
               pages);

            o.query = "limit=200";
            api(&r, SALES_GET, "/clients", NULL, &o);
            is_int(items(&r), n, "paging saw every client once");
            res_free(&r);
        }

        json_decref(seen);
        o.query = NULL;
    }

    /* Contacts of the first client. */
    {
        int64_t  c1, c2;

        snprintf(path, sizeof(path), "/clients/%lld/contacts", (long long) id);
        api(&r, SALES_POST, path,
            "{\"name\":\"Finance Contact\",\"role\":\"CFO\","
            "\"email\":\"ion@exemplu.ro\",\"is_primary\":true}", NULL);
        is_int(r.status, 201, "POST contact: 201");
        c1 = jint(r.json, "id");
        is_int(jint(r.json, "client_id"), id, "contact client_id");
        ok(json_is_true(json_object_get(r.json, "is_primary")),
           "contact is primary");
        snprintf(loc, sizeof(loc), "/clients/%lld/contacts/%lld",
                 (long long) id, (long long) c1);
        is_str(r.resp.location, loc, "POST contact: Location");
        res_free(&r);

        api(&r, SALES_POST, path,
            "{\"name\":\"Second Contact\",\"is_primary\":true}", NULL);
        is_int(r.status, 201, "second primary contact: 201");
        c2 = jint(r.json, "id");
        res_free(&r);

        snprintf(path, sizeof(path), "/clients/%lld/contacts/%lld",
                 (long long) id, (long long) c1);
        api(&r, SALES_GET, path, NULL, NULL);
        ok(r.status == 200
           && json_is_false(json_object_get(r.json, "is_primary")),
           "a new primary clears the old one");
        res_free(&r);

        snprintf(path, sizeof(path), "/clients/%lld/contacts",
                 (long long) id);
        api(&r, SALES_GET, path, NULL, NULL);
        ok(r.status == 200 && items(&r) == 2, "GET contacts: two");
        res_free(&r);

        snprintf(path, sizeof(path), "/clients/%lld/contacts/%lld",
                 (long long) id2, (long long) c2);
        api(&r, SALES_GET, path, NULL, NULL);
        is_problem(&r, 404, "not-found", "contact under another client");
        res_free(&r);

        snprintf(path, sizeof(path), "/clients/%lld/contacts/%lld",
                 (long long) id, (long long) c2);
        api(&r, SALES_DELETE, path, NULL, NULL);
        is_int(r.status, 204, "DELETE contact: 204");
        ok(r.resp.body == NULL || r.resp.body_len == 0,
           "DELETE contact: no body");
        res_free(&r);

        api(&r, SALES_GET, path, NULL, NULL);
        is_problem(&r, 404, "not-found", "deleted contact");
        res_free(&r);
    }

    /* The audit log of the first client, newest first. */
    {
        char    q[96];
        json_t *first, *last;

        snprintf(q, sizeof(q), "object_type=client&object_id=%lld",
                 (long long) id);
        o.query = q;
        api(&r, SALES_GET, "/audit", NULL, &o);
        is_int(r.status, 200, "GET /audit: 200");
        is_int(items(&r), 2, "two audit rows for the first client");
        first = json_array_get(json_object_get(r.json, "items"), 0);
        last = json_array_get(json_object_get(r.json, "items"), 1);
        is_str(jstr(first, "action"), "update", "newest audit row: update");
        is_str(jstr(last, "action"), "create", "oldest audit row: create");
        ok(json_is_array(json_object_get(json_object_get(first, "changes"),
                                         "phone")),
           "audit changes map a field to [old, new]");
        is_int(jint(first, "user_id"), admin_id, "audit names the user");
        {
            json_t  *ch = json_object_get(first, "changes");
            json_t  *cr = json_object_get(last, "changes");
            json_t  *want;

            want = json_pack("[ns]", "+40 264 000 000");
            ok(json_equal(json_object_get(ch, "phone"), want),
               "update row: phone [null, new]");
            json_decref(want);
            want = json_pack("[sn]", "Cluj-Napoca");
            ok(json_equal(json_object_get(ch, "city"), want),
               "update row: city [old, null]");
            json_decref(want);
            ok(json_object_size(ch) == 2, "update row names only the two "
               "changed fields");

            want = json_pack("[ns]", "Exemplu SRL");
            ok(json_equal(json_object_get(cr, "name"), want),
               "create row: name [null, value]");
            json_decref(want);
            ok(json_object_get(cr, "id") == NULL
               && json_object_get(cr, "version") == NULL
               && json_object_get(cr, "created_at") == NULL
               && json_object_get(cr, "city") != NULL,
               "create row leaves out the bookkeeping fields");
        }
        res_free(&r);

        /* Newest first, page by page. */
        snprintf(q, sizeof(q), "object_type=client&object_id=%lld&limit=1",
                 (long long) id);
        api(&r, SALES_GET, "/audit", NULL, &o);
        ok(r.status == 200 && items(&r) == 1
           && jstr(r.json, "next_cursor") != NULL,
           "audit limit=1: one row and a cursor");
        is_str(jstr(json_array_get(json_object_get(r.json, "items"), 0),
                    "action"), "update", "audit page 1: update");
        {
            char  q2[256];

            snprintf(q2, sizeof(q2), "%s&cursor=%s", q,
                     jstr(r.json, "next_cursor") ? jstr(r.json, "next_cursor")
                                                 : "");
            res_free(&r);
            o.query = q2;
            api(&r, SALES_GET, "/audit", NULL, &o);
            ok(r.status == 200 && items(&r) == 1
               && json_is_null(json_object_get(r.json, "next_cursor")),
               "audit page 2: one row, no further cursor");
            is_str(jstr(json_array_get(json_object_get(r.json, "items"), 0),
                        "action"), "create", "audit page 2: create");
            res_free(&r);
        }
        o.query = NULL;
    }
}


static void
test_idempotency(void)
{
    static const char  b1[] = "{\"name\":\"Idem SRL\"}";
    static const char  b2[] = "{\"name\":\"Idem Other SRL\"}";

    opts_t  o = { 0 };
    res_t   r1, r2;

    o.idem = "idem-1";
    api(&r1, SALES_POST, "/clients", b1, &o);
    is_int(r1.status, 201, "idempotent POST: 201");
    is_int(r1.resp.replayed, 0, "first answer is not a replay");

    api(&r2, SALES_POST, "/clients", b1, &o);
    is_int(r2.status, 201, "same key, same body: 201 again");
    is_int(r2.resp.replayed, 1, "same key, same body: replayed");
    ok(r1.resp.body && r2.resp.body
       && strcmp(r1.resp.body, r2.resp.body) == 0,
       "replay has the same body, byte for byte");
    is_str(r2.resp.location, r1.resp.location, "replay has the Location");
    is_str(r2.resp.content_type, JSON_CT, "replay is application/json");
    res_free(&r2);

    o.idem = "\"idem-1\"";
    api(&r2, SALES_POST, "/clients", b1, &o);
    ok(r2.status == 201 && r2.resp.replayed,
       "the quoted form of the key is the same key");
    res_free(&r2);

    o.idem = "idem-1";
    api(&r2, SALES_POST, "/clients", b2, &o);
    is_problem(&r2, 422, "validation", "same key, another body");
    res_free(&r2);

    is_int(clients_named("Idem SRL"), 1, "one client made for the key");
    is_int(clients_named("Idem Other SRL"), 0, "the other body made none");
    res_free(&r1);

    /* Keys are scoped to the path. */
    {
        char  path[64];

        api(&r1, SALES_GET, "/clients", NULL, NULL);
        snprintf(path, sizeof(path), "/clients/%lld/contacts",
                 jint(json_array_get(json_object_get(r1.json, "items"), 0),
                      "id"));
        res_free(&r1);

        api(&r1, SALES_POST, path, b1, &o);
        ok(r1.status == 201 && !r1.resp.replayed,
           "the same key on another path is a new request");
        res_free(&r1);
    }

    /* A failed request frees its key for a corrected retry. */
    o.idem = "idem-2";
    api(&r1, SALES_POST, "/clients", "{\"name\":\"\"}", &o);
    is_int(r1.status, 422, "idempotent POST that fails: 422");
    res_free(&r1);

    api(&r1, SALES_POST, "/clients", "{\"name\":\"Idem Retry SRL\"}", &o);
    ok(r1.status == 201 && !r1.resp.replayed,
       "after a failure the key may be used with a corrected body");
    res_free(&r1);

    o.idem = "a b";
    api(&r1, SALES_POST, "/clients", b1, &o);
    is_problem(&r1, 400, "malformed", "Idempotency-Key with a space");
    res_free(&r1);

    o.idem = "";
    api(&r1, SALES_POST, "/clients", b1, &o);
    is_problem(&r1, 400, "malformed", "empty Idempotency-Key");
    res_free(&r1);
}


static void
test_clock(void)
{
    opts_t  o = { 0 };
    res_t   r;
    char    path[64];

    o.test_now = "2026-01-02T03:04:05Z";
    api(&r, SALES_POST, "/clients", "{\"name\":\"Clock SRL\"}", &o);
    is_int(r.status, 201, "POST with a test clock: 201");
    is_str(jstr(r.json, "created_at"), "2026-01-02T03:04:05Z",
           "created_at is the test clock");
    is_str(jstr(r.json, "updated_at"), "2026-01-02T03:04:05Z",
           "updated_at is the test clock");
    snprintf(path, sizeof(path), "/clients/%lld", jint(r.json, "id"));
    res_free(&r);

    o.test_now = NULL;
    api(&r, SALES_GET, path, NULL, &o);
    is_str(jstr(r.json, "created_at"), "2026-01-02T03:04:05Z",
           "created_at is stored");
    res_free(&r);

    o.test_now = "2026-01-02T03:04:05.678Z";
    api(&r, SALES_POST, "/clients", "{\"name\":\"Clock Ms SRL\"}", &o);
    is_str(jstr(r.json, "created_at"), "2026-01-02T03:04:05Z",
           "a test clock with milliseconds shows whole seconds");
    res_free(&r);

    o.test_now = "yesterday";
    api(&r, SALES_GET, "/me", NULL, &o);
    is_problem(&r, 400, "malformed", "a bad test clock");
    res_free(&r);

    /* With the test clock off the header is ignored. */
    conf.test_clock = 0;
    o.test_now = "2026-01-02T03:04:05Z";
    api(&r, SALES_POST, "/clients", "{\"name\":\"Clock Off SRL\"}", &o);
    is_int(r.status, 201, "test clock off: 201");
    ok(jstr(r.json, "created_at")
       && strcmp(jstr(r.json, "created_at"), "2026-01-02T03:04:05Z") != 0,
       "test clock off: the real time is used");
    res_free(&r);

    o.test_now = "yesterday";
    api(&r, SALES_GET, "/me", NULL, &o);
    is_int(r.status, 200, "test clock off: a bad header is ignored");
    res_free(&r);
    conf.test_clock = 1;
}


static void
test_roles(void)
{
    opts_t   o = { 0 };
    res_t    r;
    char     ae_auth[96], path[64];
    int64_t  ae_id, admin_client, ae_client;

    api(&r, SALES_POST, "/users", "{\"name\":\"Account Executive\","
        "\"role\":\"ae\",\"email\":\"ae@example.ro\"}", NULL);
    is_int(r.status, 201, "POST /users: 201");
    ae_id = jint(r.json, "id");
    ok(jstr(r.json, "token") && strncmp(jstr(r.json, "token"), "sat_", 4) == 0,
       "a new user comes with a token");
    snprintf(ae_auth, sizeof(ae_auth), "Bearer %s",
             jstr(r.json, "token") ? jstr(r.json, "token") : "");
    res_free(&r);

    o.auth = ae_auth;

    api(&r, SALES_GET, "/me", NULL, &o);
    ok(r.status == 200 && jint(r.json, "id") == ae_id
       && strcmp(jstr(r.json, "role"), "ae") == 0, "the AE's /me");
    res_free(&r);

    api(&r, SALES_POST, "/users", "{\"name\":\"X\",\"role\":\"ae\"}", &o);
    is_problem(&r, 403, "forbidden", "AE may not create users");
    res_free(&r);

    api(&r, SALES_GET, "/audit", NULL, &o);
    is_problem(&r, 403, "forbidden", "AE may not read the audit log");
    res_free(&r);

    api(&r, SALES_POST, "/clients", "{\"name\":\"AE Own SRL\"}", &o);
    is_int(r.status, 201, "AE creates a client");
    ae_client = jint(r.json, "id");
    is_int(jint(r.json, "owner_id"), ae_id, "AE owns it");
    res_free(&r);

    snprintf(path, sizeof(path), "{\"name\":\"AE Other\",\"owner_id\":%lld}",
             (long long) admin_id);
    api(&r, SALES_POST, "/clients", path, &o);
    is_problem(&r, 422, "validation", "AE may not give a client away");
    is_str(err_pointer(r.json, 0), "#/owner_id", "owner_id named");
    res_free(&r);

    api(&r, SALES_GET, "/clients", NULL, &o);
    ok(r.status == 200 && items(&r) == 1
       && jint(json_array_get(json_object_get(r.json, "items"), 0), "id")
          == ae_client, "AE lists only own clients");
    res_free(&r);

    api(&r, SALES_GET, "/clients", NULL, NULL);
    admin_client = jint(json_array_get(json_object_get(r.json, "items"), 0),
                        "id");
    res_free(&r);

    snprintf(path, sizeof(path), "/clients/%lld", (long long) admin_client);
    api(&r, SALES_GET, path, NULL, &o);
    is_problem(&r, 404, "not-found", "AE cannot see the admin's client");
    res_free(&r);

    snprintf(path, sizeof(path), "/clients/%lld", (long long) ae_client);
    api(&r, SALES_GET, path, NULL, NULL);
    is_int(r.status, 200, "admin sees the AE's client");
    res_free(&r);

    /* Disabling the user stops the token at once. */
    snprintf(path, sizeof(path), "/users/%lld", (long long) ae_id);
    api(&r, SALES_PATCH, path, "{\"disabled\":true}", NULL);
    ok(r.status == 200 && json_is_true(json_object_get(r.json, "disabled")),
       "admin disables the AE");
    res_free(&r);

    api(&r, SALES_GET, "/me", NULL, &o);
    is_problem(&r, 401, "unauthorized", "a disabled user's token");
    res_free(&r);

    snprintf(path, sizeof(path), "/users/%lld", (long long) admin_id);
    api(&r, SALES_PATCH, path, "{\"disabled\":true}", NULL);
    is_problem(&r, 422, "validation", "admin cannot disable themselves");
    res_free(&r);
}


static void
test_tokens(void)
{
    opts_t   o = { 0 };
    res_t    r;
    char     path[96], auth[96], loc[96];
    int64_t  tid;

    snprintf(path, sizeof(path), "/users/%lld/tokens", (long long) admin_id);
    api(&r, SALES_POST, path, "{\"label\":\"laptop\"}", NULL);
    is_int(r.status, 201, "POST tokens: 201");
    tid = jint(r.json, "id");
    is_str(jstr(r.json, "label"), "laptop", "token label");
    is_int(jint(r.json, "user_id"), admin_id, "token user_id");
    ok(jstr(r.json, "token") && strlen(jstr(r.json, "token")) == 47,
       "token text is 47 characters");
    ok(jstr(r.json, "token") && jstr(r.json, "prefix")
       && strlen(jstr(r.json, "prefix")) == 8
       && strncmp(jstr(r.json, "token"), jstr(r.json, "prefix"), 8) == 0,
       "prefix is the token's first 8 characters");
    ok(json_is_null(json_object_get(r.json, "revoked_at")),
       "new token is not revoked");
    snprintf(loc, sizeof(loc), "/users/%lld/tokens/%lld",
             (long long) admin_id, (long long) tid);
    is_str(r.resp.location, loc, "POST tokens: Location");
    snprintf(auth, sizeof(auth), "Bearer %s",
             jstr(r.json, "token") ? jstr(r.json, "token") : "");
    res_free(&r);

    o.auth = auth;
    api(&r, SALES_GET, "/me", NULL, &o);
    is_int(r.status, 200, "the new token works");
    res_free(&r);

    api(&r, SALES_GET, path, NULL, NULL);
    ok(r.status == 200 && items(&r) == 2, "GET tokens: two");
    {
        size_t   i;
        json_t  *it;
        int      shown = 0;

        json_array_foreach(json_object_get(r.json, "items"), i, it) {
            if (json_object_get(it, "token")) {
                shown++;
            }
        }
        is_int(shown, 0, "a token list never shows token text");
    }
    res_free(&r);

    api(&r, SALES_POST, path, "{\"label\":\"\"}", NULL);
    is_problem(&r, 422, "validation", "empty token label");
    res_free(&r);

    api(&r, SALES_POST, path, "{\"colour\":\"red\"}", NULL);
    is_problem(&r, 422, "validation", "unknown token field");
    is_str(err_pointer(r.json, 0), "#/colour", "unknown token field named");
    res_free(&r);

    api(&r, SALES_DELETE, loc, NULL, NULL);
    is_int(r.status, 204, "DELETE token: 204");
    res_free(&r);

    api(&r, SALES_GET, "/me", NULL, &o);
    is_problem(&r, 401, "unauthorized", "a revoked token");
    res_free(&r);

    api(&r, SALES_DELETE, loc, NULL, NULL);
    is_int(r.status, 204, "DELETE of a revoked token: 204 again");
    res_free(&r);

    snprintf(loc, sizeof(loc), "/users/%lld/tokens/99999",
             (long long) admin_id);
    api(&r, SALES_DELETE, loc, NULL, NULL);
    is_problem(&r, 404, "not-found", "DELETE of an unknown token");
    res_free(&r);

    api(&r, SALES_GET, "/me", NULL, NULL);
    is_int(r.status, 200, "the first token still works");
    res_free(&r);
}


static int64_t
make_user(const char *body, char *auth, size_t auth_size)
{
    res_t    r;
    int64_t  id;

    api(&r, SALES_POST, "/users", body, NULL);
    if (r.status != 201) {
        diag("POST /users %s: %d %s", body, r.status,
             r.resp.body ? r.resp.body : "");
        res_free(&r);
        return -1;
    }

    id = jint(r.json, "id");
    snprintf(auth, auth_size, "Bearer %s",
             jstr(r.json, "token") ? jstr(r.json, "token") : "");
    res_free(&r);
    return id;
}


static void
test_team(void)
{
    opts_t   m = { 0 }, a = { 0 };
    res_t    r;
    char     m_auth[96], a_auth[96], body[160], path[96];
    int64_t  m_id, a_id, a_client, admin_client;

    m_id = make_user("{\"name\":\"Team Manager\",\"role\":\"manager\"}",
                     m_auth, sizeof(m_auth));
    ok(m_id > 0, "admin makes a manager");
    snprintf(body, sizeof(body), "{\"name\":\"Team Member\",\"role\":\"ae\","
             "\"manager_id\":%lld}", (long long) m_id);
    a_id = make_user(body, a_auth, sizeof(a_auth));
    ok(a_id > 0, "admin makes an AE under the manager");

    snprintf(body, sizeof(body), "{\"name\":\"Nope\",\"role\":\"ae\","
             "\"manager_id\":%lld}", (long long) a_id);
    api(&r, SALES_POST, "/users", body, NULL);
    is_problem(&r, 422, "validation", "manager_id naming an AE");
    is_str(err_pointer(r.json, 0), "#/manager_id", "manager_id named");
    res_free(&r);

    m.auth = m_auth;
    a.auth = a_auth;

    api(&r, SALES_GET, "/me", NULL, &m);
    ok(r.status == 200
       && json_array_size(json_object_get(r.json, "team")) == 1
       && json_integer_value(json_array_get(json_object_get(r.json, "team"),
                                            0)) == a_id,
       "the manager's /me lists the team");
    res_free(&r);

    api(&r, SALES_POST, "/clients", "{\"name\":\"Team Client SRL\"}", &a);
    is_int(r.status, 201, "the AE creates a client");
    a_client = jint(r.json, "id");
    res_free(&r);

    snprintf(path, sizeof(path), "/clients/%lld", (long long) a_client);
    api(&r, SALES_GET, path, NULL, &m);
    is_int(r.status, 200, "the manager sees the team's client");
    res_free(&r);

    api(&r, SALES_PATCH, path, "{\"notes\":\"line 1\\nline 2\"}", &m);
    ok(r.status == 200 && jstr(r.json, "notes")
       && strcmp(jstr(r.json, "notes"), "line 1\nline 2") == 0,
       "the manager edits it; notes may hold newlines");
    res_free(&r);

    api(&r, SALES_PATCH, path, "{\"city\":\"a\\nb\"}", &m);
    is_problem(&r, 422, "validation", "a newline in city");
    res_free(&r);

    api(&r, SALES_GET, "/clients", NULL, NULL);
    admin_client = jint(json_array_get(json_object_get(r.json, "items"), 0),
                        "id");
    res_free(&r);

    snprintf(path, sizeof(path), "/clients/%lld", (long long) admin_client);
    api(&r, SALES_GET, path, NULL, &m);
    is_problem(&r, 404, "not-found", "the manager cannot see others'");
    res_free(&r);

    m.query = "owner=team";
    api(&r, SALES_GET, "/clients", NULL, &m);
    ok(r.status == 200 && items(&r) == 1, "owner=team: the team's client");
    res_free(&r);
    m.query = NULL;

    a.query = "owner=team";
    api(&r, SALES_GET, "/clients", NULL, &a);
    is_problem(&r, 400, "malformed", "owner=team for an AE");
    res_free(&r);
    a.query = NULL;

    api(&r, SALES_GET, "/users", NULL, &m);
    ok(r.status == 200 && items(&r) == 2, "the manager lists self and team");
    res_free(&r);

    api(&r, SALES_GET, "/users", NULL, &a);
    ok(r.status == 200 && items(&r) == 1
       && jint(json_array_get(json_object_get(r.json, "items"), 0), "id")
          == a_id, "an AE lists only self");
    res_free(&r);

    snprintf(path, sizeof(path), "/users/%lld", (long long) m_id);
    api(&r, SALES_GET, path, NULL, &a);
    is_problem(&r, 404, "not-found", "an AE cannot see the manager");
    res_free(&r);

    snprintf(path, sizeof(path), "/users/%lld/tokens", (long long) a_id);
    api(&r, SALES_POST, path, "{}", &m);
    is_problem(&r, 403, "forbidden", "a manager may not make tokens for "
               "the team");
    res_free(&r);

    {
        opts_t  q = { 0 };

        q.query = "role=manager";
        api(&r, SALES_GET, "/users", NULL, &q);
        ok(r.status == 200 && items(&r) == 1, "users?role=manager");
        res_free(&r);

        q.query = "role=boss";
        api(&r, SALES_GET, "/users", NULL, &q);
        is_problem(&r, 400, "malformed", "users?role=boss");
        res_free(&r);

        q.query = "disabled=maybe";
        api(&r, SALES_GET, "/users", NULL, &q);
        is_problem(&r, 400, "malformed", "users?disabled=maybe");
        res_free(&r);
    }
}


/* The idempotency states, set up in the table directly: a request still
 * running, one abandoned, and an expired key. */
static void
test_idem_states(void)
{
    static const char  body[] = "{\"name\":\"Running SRL\"}";

    opts_t          o = { 0 };
    res_t           r, first;
    sales_sha256_t  sha;
    uint8_t         fp[SALES_SHA256_LEN];
    sqlite3        *db;
    sqlite3_stmt   *st;
    int64_t         t0 = 1772323200000LL;     /* 2026-03-01T00:00:00Z */
    int             rc = -1;

    sales_sha256_init(&sha);
    sales_sha256_update(&sha, "POST\n/clients\n\n", 15);
    sales_sha256_update(&sha, body, strlen(body));
    sales_sha256_final(&sha, fp);

    if (sqlite3_open(conf.db_path, &db) == SQLITE_OK
        && sqlite3_prepare_v2(db,
               "INSERT INTO idempotency_keys (user_id, method, path, key,"
               " fingerprint, state, created_at, expires_at)"
               " VALUES (?, 'POST', '/clients', 'run-1', ?, 'running', ?, ?)",
               -1, &st, NULL) == SQLITE_OK)
    {
        sqlite3_bind_int64(st, 1, admin_id);
        sqlite3_bind_blob(st, 2, fp, sizeof(fp), SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, t0);
        sqlite3_bind_int64(st, 4, t0 + SALES_IDEM_TTL_MS);
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
        sqlite3_finalize(st);
    }
    sqlite3_close(db);

    if (!ok(rc == 0, "a running idempotency key is in the table")) {
        return;
    }

    o.idem = "run-1";
    o.test_now = "2026-03-01T00:00:10Z";
    api(&r, SALES_POST, "/clients", body, &o);
    is_problem(&r, 409, "conflict", "key still running");
    res_free(&r);
    is_int(clients_named("Running SRL"), 0, "key still running: no write");

    o.test_now = "2026-03-01T00:03:20Z";
    api(&first, SALES_POST, "/clients", body, &o);
    ok(first.status == 201 && !first.resp.replayed,
       "an abandoned key (over 120 s) is taken over");

    o.test_now = "2026-03-01T12:00:00Z";
    api(&r, SALES_POST, "/clients", body, &o);
    ok(r.status == 201 && r.resp.replayed && first.resp.body && r.resp.body
       && strcmp(first.resp.body, r.resp.body) == 0,
       "then it replays");
    res_free(&r);

    o.test_now = "2026-03-02T01:00:00Z";
    api(&r, SALES_POST, "/clients", body, &o);
    ok(r.status == 201 && !r.resp.replayed
       && jint(r.json, "id") != jint(first.json, "id"),
       "after 24 hours the key has expired: a new request");
    res_free(&r);
    res_free(&first);

    is_int(clients_named("Running SRL"), 2, "two clients in all");

    /* PATCH is idempotent too. */
    {
        char    path[64];
        res_t   p1, p2;

        api(&r, SALES_GET, "/clients", NULL, NULL);
        snprintf(path, sizeof(path), "/clients/%lld",
                 jint(json_array_get(json_object_get(r.json, "items"), 0),
                      "id"));
        res_free(&r);

        o.test_now = NULL;
        o.idem = "patch-1";
        api(&p1, SALES_PATCH, path, "{\"postal_code\":\"400001\"}", &o);
        api(&p2, SALES_PATCH, path, "{\"postal_code\":\"400001\"}", &o);
        ok(p1.status == 200 && p2.status == 200 && !p1.resp.replayed
           && p2.resp.replayed && p1.resp.body && p2.resp.body
           && strcmp(p1.resp.body, p2.resp.body) == 0,
           "PATCH with a key replays");
        res_free(&p1);
        res_free(&p2);
    }
}


/* Many different statements, over and over: answers stay the same
 * however the connection's statement cache turns over. */
static void
test_statement_churn(void)
{
    static const char *const  parts[] = {
        "owner=me", "q=srl", "tax_id=RO18547290", "external_id=crm-1",
        "archived=all", "limit=3"
    };
    static const char *const  uparts[] = {
        "role=ae", "disabled=false", "limit=2", "manager_id=1"
    };
    char     q[256];
    res_t    r;
    opts_t   o = { 0 };
    json_t  *first[64] = { NULL };
    int      round, mask, bad = 0, calls = 0;
    size_t   i;

    for (round = 0; round < 3; round++) {
        for (mask = 0; mask < 64; mask++) {
            q[0] = '\0';
            for (i = 0; i < 6; i++) {
                if (mask & (1 << i)) {
                    if (q[0]) {
                        strcat(q, "&");
                    }
                    strcat(q, parts[i]);
                }
            }
            o.query = q;
            api(&r, SALES_GET, "/clients", NULL, &o);
            calls++;

            if (r.status != 200 || r.json == NULL) {
                bad++;
            } else if (round == 0) {
                first[mask] = json_incref(r.json);
            } else if (!json_equal(first[mask], r.json)) {
                if (bad++ == 0) {
                    diag("GET /clients?%s changed between rounds", q);
                }
            }
            res_free(&r);

            if (mask < 16) {
                q[0] = '\0';
                for (i = 0; i < 4; i++) {
                    if (mask & (1 << i)) {
                        if (q[0]) {
                            strcat(q, "&");
                        }
                        strcat(q, uparts[i]);
                    }
                }
                api(&r, SALES_GET, "/users", NULL, &o);
                calls++;
                if (r.status != 200) {
                    bad++;
                }
                res_free(&r);
            }
        }

        api(&r, SALES_GET, "/me", NULL, NULL);
        if (r.status != 200 || jint(r.json, "id") != admin_id) {
            bad++;
        }
        res_free(&r);
    }

    is_int(bad, 0, "%d list requests with changing filters agree across "
           "rounds", calls);

    for (i = 0; i < 64; i++) {
        json_decref(first[i]);
    }
}


static void
test_stored(void)
{
    int64_t  created = db_count("SELECT count(*) FROM clients");
    int64_t  events = db_count("SELECT count(*) FROM outbox"
                               " WHERE type = 'client.created'");
    int64_t  audits = db_count("SELECT count(*) FROM audit_log"
                               " WHERE object_type = 'client'"
                               " AND action = 'create'");

    ok(created > 0 && events == created && audits == created,
       "each client has one create audit row and one client.created event "
       "(%lld, %lld, %lld)", (long long) created, (long long) events,
       (long long) audits);
    is_int(db_count("SELECT count(*) FROM outbox"
                    " WHERE type = 'client.archived'"), 1,
           "one client.archived event");
    is_int(db_count("SELECT count(*) FROM clients WHERE name LIKE 'Bad%'"
                    " OR name LIKE 'Copy%' OR name LIKE 'Ext2%'"
                    " OR name = 'Idem Other SRL' OR name = 'Text SRL'"),
           0, "refused requests wrote no clients");
    is_int(db_count("SELECT count(*) FROM api_tokens"
                    " WHERE length(hash) = 32 AND prefix LIKE 'sat_%'"),
           db_count("SELECT count(*) FROM api_tokens"),
           "tokens are stored as 32-byte hashes with a prefix");
}


void
test_api(void)
{
    char  dir[] = "/tmp/sales-unit-XXXXXX";
    char  db_path[sizeof(dir) + 16];

    if (!ok(mkdtemp(dir) != NULL, "a temporary folder")) {
        diag("mkdtemp: %s", strerror(errno));
        return;
    }

    if (setup(dir, db_path, sizeof(db_path)) == 0) {
        test_unavailable(dir);
        test_auth_and_routing();
        test_clients();
        test_idempotency();
        test_clock();
        test_roles();
        test_tokens();
        test_team();
        test_idem_states();
        test_statement_churn();
        test_stored();
    }

    sales_db_close_all();
    remove_tree(dir);
    ok(access(dir, F_OK) != 0, "the temporary folder is removed");
}
