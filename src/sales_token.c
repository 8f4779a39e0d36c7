/*
 * View tokens: the proposal and recipient a link was made for, signed.
 *
 * Layout before base64url (37 bytes, 50 characters):
 *   version (1) | kid (4) | proposal id (8, big-endian) |
 *   recipient id (8, big-endian) | HMAC-SHA256 of the first 21 bytes,
 *   truncated to 16 bytes.
 * The kid (the first bytes of the secret's SHA-256) picks the secret to
 * verify with, so old secrets keep working while a new one signs. Checked
 * without any database read; forging one means guessing a 128-bit MAC.
 */

#include "sales.h"

#include <stdio.h>
#include <string.h>


#define TOKEN_VERSION   1
#define TOKEN_BODY      21
#define TOKEN_MAC       16
#define TOKEN_RAW       (TOKEN_BODY + TOKEN_MAC)


int
sales_secrets_parse(const char *text, size_t len, sales_secret_t *out,
    int max, int *n, char *err, size_t err_size)
{
    size_t  i = 0, line = 0;

    *n = 0;

    while (i < len) {
        size_t  start = i, end;

        while (i < len && text[i] != '\n') {
            i++;
        }

        end = i++;
        line++;

        while (end > start && (text[end - 1] == '\r' || text[end - 1] == ' '
                               || text[end - 1] == '\t'))
        {
            end--;
        }

        while (start < end && (text[start] == ' ' || text[start] == '\t')) {
            start++;
        }

        if (start == end || text[start] == '#') {
            continue;
        }

        if (end - start < SALES_SECRET_MIN || end - start > SALES_SECRET_MAX) {
            snprintf(err, err_size, "line %zu: a secret must have %d to %d "
                     "characters", line, SALES_SECRET_MIN, SALES_SECRET_MAX);
            return -1;
        }

        if (*n == max) {
            snprintf(err, err_size, "more than %d secrets", max);
            return -1;
        }

        memcpy(out[*n].key, text + start, end - start);
        out[*n].len = end - start;

        {
            uint8_t  digest[SALES_SHA256_LEN];

            sales_sha256(out[*n].key, out[*n].len, digest);
            memcpy(out[*n].kid, digest, 4);
        }

        (*n)++;
    }

    if (*n == 0) {
        snprintf(err, err_size, "no secret in the file");
        return -1;
    }

    return 0;
}


static void
put64(uint8_t *p, int64_t v)
{
    int  i;

    for (i = 7; i >= 0; i--) {
        p[i] = (uint8_t) (v & 0xff);
        v = (int64_t) ((uint64_t) v >> 8);
    }
}


static int64_t
get64(const uint8_t *p)
{
    uint64_t  v = 0;
    int       i;

    for (i = 0; i < 8; i++) {
        v = v << 8 | p[i];
    }

    return (int64_t) v;
}


int
sales_view_token_make(const sales_conf_t *conf, int64_t proposal_id,
    int64_t recipient_id, char *out)
{
    const sales_secret_t  *s;
    uint8_t                raw[TOKEN_RAW], mac[SALES_SHA256_LEN];

    if (conf->nsecrets == 0) {
        return -1;
    }

    s = &conf->secrets[0];

    raw[0] = TOKEN_VERSION;
    memcpy(raw + 1, s->kid, 4);
    put64(raw + 5, proposal_id);
    put64(raw + 13, recipient_id);

    sales_hmac_sha256(s->key, s->len, raw, TOKEN_BODY, mac);
    memcpy(raw + TOKEN_BODY, mac, TOKEN_MAC);

    sales_base64url_encode(raw, TOKEN_RAW, out);
    return 0;
}


int
sales_view_token_check(const sales_conf_t *conf, const char *token,
    size_t len, int64_t *proposal_id, int64_t *recipient_id)
{
    uint8_t  raw[TOKEN_RAW + 3], mac[SALES_SHA256_LEN];
    size_t   i;
    long     n;
    int      k;

    if (len != SALES_VIEW_TOKEN_LEN) {
        return -1;
    }

    /* base64url only: no padding, no other alphabet. */
    for (i = 0; i < len; i++) {
        char  c = token[i];

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
              || (c >= '0' && c <= '9') || c == '-' || c == '_'))
        {
            return -1;
        }
    }

    n = sales_base64_decode(token, len, raw, sizeof(raw));
    if (n != TOKEN_RAW || raw[0] != TOKEN_VERSION) {
        return -1;
    }

    /* One spelling per token: stray low bits in the last character would
     * decode to the same bytes. */
    {
        char  again[SALES_VIEW_TOKEN_LEN + 1];

        sales_base64url_encode(raw, TOKEN_RAW, again);
        if (memcmp(again, token, len) != 0) {
            return -1;
        }
    }

    for (k = 0; k < conf->nsecrets; k++) {
        const sales_secret_t  *s = &conf->secrets[k];

        if (memcmp(s->kid, raw + 1, 4) != 0) {
            continue;
        }

        sales_hmac_sha256(s->key, s->len, raw, TOKEN_BODY, mac);

        if (sales_ct_equal(mac, raw + TOKEN_BODY, TOKEN_MAC)) {
            *proposal_id = get64(raw + 5);
            *recipient_id = get64(raw + 13);
            return *proposal_id > 0 && *recipient_id > 0 ? 0 : -1;
        }
    }

    return -1;
}
