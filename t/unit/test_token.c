/*
 * View tokens: made under the first secret, accepted under any, refused
 * when tampered with, truncated, padded or signed with another secret.
 */

#include <stdio.h>
#include <string.h>

#include "tap.h"
#include "unit.h"
#include "sales.h"


static const char  secrets_a[] =
    "# the first secret signs\n"
    "first-secret-0123456789abcdefghijklmnop\n"
    "\n"
    "  second-secret-0123456789abcdefghijklmno  \n";

static const char  secrets_b[] =
    "another-secret-0123456789abcdefghijklmnop\n";


static void
conf_from(const char *text, sales_conf_t *conf, sales_secret_t *store)
{
    char  err[128];
    int   n = 0;

    memset(conf, 0, sizeof(*conf));
    ok(sales_secrets_parse(text, strlen(text), store, SALES_SECRETS_MAX, &n,
                           err, sizeof(err)) == 0, "secrets parse (%s)",
       n ? "ok" : err);
    conf->secrets = store;
    conf->nsecrets = n;
}


void
test_view_tokens(void)
{
    sales_secret_t  store_a[SALES_SECRETS_MAX], store_b[SALES_SECRETS_MAX];
    sales_secret_t  store_r[SALES_SECRETS_MAX];
    sales_conf_t    a, b, rotated;
    char            tok[SALES_VIEW_TOKEN_LEN + 1], bad[SALES_VIEW_TOKEN_LEN + 2];
    char            tok2[SALES_VIEW_TOKEN_LEN + 1], err[128];
    int64_t         p = 0, r = 0;
    size_t          i;
    int             n, refused;

    conf_from(secrets_a, &a, store_a);
    is_int(a.nsecrets, 2, "two secrets, comment and blank line skipped");
    is_int((int64_t) a.secrets[1].len, 39, "surrounding blanks trimmed");
    conf_from(secrets_b, &b, store_b);

    ok(sales_view_token_make(&a, 42, 7, tok) == 0, "token made");
    is_int((int64_t) strlen(tok), SALES_VIEW_TOKEN_LEN, "token length");
    ok(strspn(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                   "0123456789-_") == SALES_VIEW_TOKEN_LEN, "base64url only");

    ok(sales_view_token_check(&a, tok, strlen(tok), &p, &r) == 0,
       "genuine token accepted");
    is_int(p, 42, "proposal id carried");
    is_int(r, 7, "recipient id carried");

    sales_view_token_make(&a, 42, 8, tok2);
    ok(strcmp(tok, tok2) != 0, "another recipient, another token");
    sales_view_token_make(&a, 43, 7, tok2);
    ok(strcmp(tok, tok2) != 0, "another proposal, another token");

    /* Every single-character change is refused. */
    refused = 0;
    for (i = 0; i < SALES_VIEW_TOKEN_LEN; i++) {
        memcpy(bad, tok, sizeof(tok));
        bad[i] = bad[i] == 'A' ? 'B' : 'A';
        refused += sales_view_token_check(&a, bad, SALES_VIEW_TOKEN_LEN, &p,
                                          &r) != 0;
    }
    is_int(refused, SALES_VIEW_TOKEN_LEN, "every tampered character refused");

    ok(sales_view_token_check(&a, tok, SALES_VIEW_TOKEN_LEN - 1, &p, &r) != 0,
       "truncated token refused");
    snprintf(bad, sizeof(bad), "%s=", tok);
    ok(sales_view_token_check(&a, bad, strlen(bad), &p, &r) != 0,
       "padded token refused");
    ok(sales_view_token_check(&a, "", 0, &p, &r) != 0, "empty refused");

    memcpy(bad, tok, sizeof(tok));
    bad[3] = '+';
    ok(sales_view_token_check(&a, bad, SALES_VIEW_TOKEN_LEN, &p, &r) != 0,
       "standard base64 alphabet refused");

    ok(sales_view_token_check(&b, tok, strlen(tok), &p, &r) != 0,
       "token refused under a different secret");

    /* Rotation: a new secret first, the old one still listed. */
    {
        char  text[256];

        snprintf(text, sizeof(text), "%s%s", secrets_b, secrets_a);
        conf_from(text, &rotated, store_r);
    }

    ok(sales_view_token_check(&rotated, tok, strlen(tok), &p, &r) == 0
       && p == 42 && r == 7, "old token accepted after rotation");
    sales_view_token_make(&rotated, 42, 7, tok2);
    ok(strcmp(tok, tok2) != 0, "the new secret signs after rotation");
    ok(sales_view_token_check(&a, tok2, strlen(tok2), &p, &r) != 0,
       "new token refused where the new secret is unknown");
    ok(sales_view_token_check(&b, tok2, strlen(tok2), &p, &r) == 0,
       "new token accepted under the new secret alone");

    /* Bad secrets files. */
    ok(sales_secrets_parse("short\n", 6, store_r, SALES_SECRETS_MAX, &n, err,
                           sizeof(err)) != 0 && strstr(err, "line 1"),
       "a short secret is refused, naming its line");
    ok(sales_secrets_parse("# only a comment\n\n", 18, store_r,
                           SALES_SECRETS_MAX, &n, err, sizeof(err)) != 0,
       "a file without secrets is refused");

    memset(&b, 0, sizeof(b));
    ok(sales_view_token_make(&b, 1, 1, tok2) != 0, "no secret, no token");
}
