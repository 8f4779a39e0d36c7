/*
 * sales_router.c: the route table and matcher; the Idempotency-Key
 * syntax (sales_api.c).
 */

#include "tap.h"
#include "unit.h"

#include <stdlib.h>
#include <string.h>

#include "sales.h"


static const sales_route_t *
match(const char *path, int method, int64_t *ids, int *nids, int *allowed)
{
    memset(ids, 0, SALES_MAX_IDS * sizeof(int64_t));
    *nids = -1;
    *allowed = -1;
    return sales_route_match(path, strlen(path), method, ids, nids, allowed);
}


static void
no_route(const char *path, int method)
{
    const sales_route_t  *r;
    int64_t               ids[SALES_MAX_IDS];
    int                   nids, allowed;

    r = match(path, method, ids, &nids, &allowed);
    ok(r == NULL && allowed == 0, "no route for \"%s\" (allowed %d)", path,
       allowed);
}


void
test_route_match(void)
{
    const sales_route_t  *r;
    int64_t               ids[SALES_MAX_IDS];
    int                   nids, allowed;

    r = match("/me", SALES_GET, ids, &nids, &allowed);
    ok(r && r->handler == sales_me_get && nids == 0, "GET /me");
    ok(r && r->roles == SALES_ROLES_ALL && !r->write,
       "GET /me: every role, read-only");

    r = match("/clients", SALES_GET, ids, &nids, &allowed);
    ok(r && r->handler == sales_clients_list && nids == 0, "GET /clients");
    ok(r && r->params && strstr(r->params, "owner")
       && strstr(r->params, "cursor") && strstr(r->params, "limit"),
       "GET /clients takes owner, limit and cursor");

    r = match("/clients", SALES_POST, ids, &nids, &allowed);
    ok(r && r->handler == sales_clients_create && r->write
       && r->roles == SALES_ROLES_STAFF, "POST /clients: staff, writes");

    r = match("/clients/12", SALES_GET, ids, &nids, &allowed);
    ok(r && r->handler == sales_clients_get, "GET /clients/12");
    ok(nids == 1 && ids[0] == 12, "GET /clients/12: id 12");

    r = match("/clients/12", SALES_PATCH, ids, &nids, &allowed);
    ok(r && r->handler == sales_clients_update && nids == 1 && ids[0] == 12,
       "PATCH /clients/12");

    r = match("/clients/12/contacts/3", SALES_GET, ids, &nids, &allowed);
    ok(r && r->handler == sales_contacts_get, "GET /clients/12/contacts/3");
    ok(nids == 2 && ids[0] == 12 && ids[1] == 3,
       "GET /clients/12/contacts/3: ids 12 and 3");

    r = match("/clients/12/contacts/3", SALES_DELETE, ids, &nids, &allowed);
    ok(r && r->handler == sales_contacts_delete && nids == 2,
       "DELETE /clients/12/contacts/3");

    r = match("/clients/7/archive", SALES_POST, ids, &nids, &allowed);
    ok(r && r->handler == sales_clients_archive && nids == 1 && ids[0] == 7,
       "POST /clients/7/archive");

    r = match("/users/5/tokens/9", SALES_DELETE, ids, &nids, &allowed);
    ok(r && r->handler == sales_tokens_revoke && nids == 2 && ids[0] == 5
       && ids[1] == 9, "DELETE /users/5/tokens/9");

    r = match("/users", SALES_POST, ids, &nids, &allowed);
    ok(r && r->handler == sales_users_create && r->roles == SALES_ROLE_ADMIN,
       "POST /users is for admins");

    r = match("/audit", SALES_GET, ids, &nids, &allowed);
    ok(r && r->handler == sales_audit_list && r->roles == SALES_ROLE_ADMIN,
       "GET /audit is for admins");

    /* One trailing slash is tolerated. */
    r = match("/clients/", SALES_GET, ids, &nids, &allowed);
    ok(r && r->handler == sales_clients_list, "GET /clients/ (trailing /)");
    r = match("/clients/12/", SALES_GET, ids, &nids, &allowed);
    ok(r && r->handler == sales_clients_get && ids[0] == 12,
       "GET /clients/12/ (trailing /)");
    r = match("/me/", SALES_GET, ids, &nids, &allowed);
    ok(r && r->handler == sales_me_get, "GET /me/ (trailing /)");

    /* The largest id the matcher takes: 18 digits. */
    r = match("/clients/999999999999999999", SALES_GET, ids, &nids,
              &allowed);
    ok(r && ids[0] == 999999999999999999LL, "an 18-digit id");

    /* len bounds the path. */
    r = sales_route_match("/clients/12junk", 11, SALES_GET, ids, &nids,
                          &allowed);
    ok(r && r->handler == sales_clients_get && ids[0] == 12,
       "only len characters of the path are read");

    no_route("/clients/012", SALES_GET);
    no_route("/clients/abc", SALES_GET);
    no_route("/clients/0", SALES_GET);
    no_route("/clients/-1", SALES_GET);
    no_route("/clients/1x", SALES_GET);
    no_route("/clients/+1", SALES_GET);
    no_route("/clients/1234567890123456789", SALES_GET);
    no_route("/clients//", SALES_GET);
    no_route("/clients//12", SALES_GET);
    no_route("/clients/12/contacts/3/x", SALES_GET);
    no_route("/client", SALES_GET);
    no_route("/clientsx", SALES_GET);
    no_route("/Clients", SALES_GET);
    no_route("clients", SALES_GET);
    no_route("/", SALES_GET);
    no_route("", SALES_GET);
    no_route("/nope", SALES_GET);
    no_route("/me/x", SALES_GET);

    /* 405: the path exists under other methods. */
    r = match("/clients", SALES_DELETE, ids, &nids, &allowed);
    ok(r == NULL, "DELETE /clients: no route");
    is_int(allowed, SALES_GET | SALES_POST, "DELETE /clients: GET|POST");

    r = match("/clients/12", SALES_PUT, ids, &nids, &allowed);
    ok(r == NULL && allowed == (SALES_GET | SALES_PATCH),
       "PUT /clients/12: allowed GET|PATCH");

    r = match("/me", SALES_DELETE, ids, &nids, &allowed);
    ok(r == NULL && allowed == SALES_GET, "DELETE /me: allowed GET");

    r = match("/clients/1/contacts/2", SALES_POST, ids, &nids, &allowed);
    ok(r == NULL && allowed == (SALES_GET | SALES_PATCH | SALES_DELETE),
       "POST /clients/1/contacts/2: allowed GET|PATCH|DELETE");

    r = match("/clients/1/archive", SALES_GET, ids, &nids, &allowed);
    ok(r == NULL && allowed == SALES_POST,
       "GET /clients/1/archive: allowed POST");

    r = match("/users/3/tokens", SALES_OTHER, ids, &nids, &allowed);
    ok(r == NULL && allowed == (SALES_GET | SALES_POST),
       "an unknown method on /users/3/tokens: allowed GET|POST");
}


void
test_methods_string(void)
{
    char   out[64], *small;

    sales_methods_string(SALES_GET | SALES_POST, out, sizeof(out));
    is_str(out, "GET, POST", "methods string GET|POST");

    sales_methods_string(SALES_GET | SALES_POST | SALES_PUT | SALES_PATCH
                         | SALES_DELETE, out, sizeof(out));
    is_str(out, "GET, POST, PUT, PATCH, DELETE", "methods string of all");

    sales_methods_string(SALES_DELETE | SALES_GET, out, sizeof(out));
    is_str(out, "GET, DELETE", "methods string keeps a fixed order");

    sales_methods_string(SALES_PATCH, out, sizeof(out));
    is_str(out, "PATCH", "methods string of one");

    strcpy(out, "junk");
    sales_methods_string(0, out, sizeof(out));
    is_str(out, "", "methods string of none");

    sales_methods_string(SALES_OTHER, out, sizeof(out));
    is_str(out, "", "methods string ignores OTHER");

    /* A short buffer is filled, terminated and never overrun (ASan
     * watches the heap block). */
    small = malloc(8);
    if (small) {
        sales_methods_string(SALES_GET | SALES_POST | SALES_DELETE, small, 8);
        is_str(small, "GET, PO", "methods string truncates to the buffer");
        free(small);
    }
}


static int
key(const char *in, char *out, size_t out_size)
{
    return sales_idem_key_parse(in, strlen(in), out, out_size);
}


void
test_idem_key_parse(void)
{
    static const char *const  bad[] = {
        "", "\"\"", "\"", "a b", "a/b", "a,b", "a\"b", "\"abc", "abc\"",
        "\xc3\xa9", "a=b", "a+b", "a\tb", "\"a b\"", "'abc'", "a;b",
    };
    char    out[512], k[300];
    size_t  i;

    strcpy(out, "junk");
    ok(key("abc", out, sizeof(out)) == 0, "key: bare abc accepted");
    is_str(out, "abc", "key: bare abc");

    ok(key("\"abc\"", out, sizeof(out)) == 0, "key: quoted \"abc\" accepted");
    is_str(out, "abc", "key: quotes are removed");

    ok(key("AZaz09._:-", out, sizeof(out)) == 0,
       "key: every allowed character class");
    is_str(out, "AZaz09._:-", "key: kept as given");

    ok(key("7d1c2a", out, sizeof(out)) == 0, "key: 7d1c2a");

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ok(key(bad[i], out, sizeof(out)) != 0, "key \"%s\" refused", bad[i]);
    }

    memset(k, 'k', 255);
    k[255] = '\0';
    ok(key(k, out, sizeof(out)) == 0 && strlen(out) == 255,
       "key of 255 characters accepted");

    memset(k, 'k', 256);
    k[256] = '\0';
    ok(key(k, out, sizeof(out)) != 0, "key of 256 characters refused");

    k[0] = '"';
    memset(k + 1, 'q', 255);
    k[256] = '"';
    k[257] = '\0';
    ok(key(k, out, sizeof(out)) == 0 && strlen(out) == 255,
       "quoted key of 255 characters accepted");

    k[0] = '"';
    memset(k + 1, 'q', 256);
    k[257] = '"';
    k[258] = '\0';
    ok(key(k, out, sizeof(out)) != 0, "quoted key of 256 characters refused");

    ok(key("abcd", out, 4) != 0, "key longer than the output refused");
    ok(key("abcd", out, 5) == 0 && strcmp(out, "abcd") == 0,
       "key exactly fitting the output accepted");

    ok(sales_idem_key_parse("abc!!", 3, out, sizeof(out)) == 0
       && strcmp(out, "abc") == 0, "key: only len characters are read");
}
