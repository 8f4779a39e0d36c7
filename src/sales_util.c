/*
 * Small nginx-free helpers: SHA-256 and HMAC (FIPS 180-4, RFC 2104),
 * base64, randomness, ISO 8601 time, growing buffers.
 */

#include "sales_util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>


static const uint32_t sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
    0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
    0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
    0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
    0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
};


static uint32_t
rotr(uint32_t x, unsigned n)
{
    return (x >> n) | (x << (32 - n));
}


static void
sha256_block(uint32_t st[8], const uint8_t *p)
{
    uint32_t  w[64], a, b, c, d, e, f, g, h, t1, t2;
    int       i;

    for (i = 0; i < 16; i++) {
        w[i] = (uint32_t) p[i * 4] << 24 | (uint32_t) p[i * 4 + 1] << 16
               | (uint32_t) p[i * 4 + 2] << 8 | p[i * 4 + 3];
    }

    for (i = 16; i < 64; i++) {
        uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18)
                      ^ (w[i - 15] >> 3);
        uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19)
                      ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }

    a = st[0]; b = st[1]; c = st[2]; d = st[3];
    e = st[4]; f = st[5]; g = st[6]; h = st[7];

    for (i = 0; i < 64; i++) {
        t1 = h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25))
             + ((e & f) ^ (~e & g)) + sha256_k[i] + w[i];
        t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22))
             + ((a & b) ^ (a & c) ^ (b & c));
        h = g; g = f; f = e; e = d + t1;
        d = c; c = b; b = a; a = t1 + t2;
    }

    st[0] += a; st[1] += b; st[2] += c; st[3] += d;
    st[4] += e; st[5] += f; st[6] += g; st[7] += h;
}


void
sales_sha256_init(sales_sha256_t *s)
{
    static const uint32_t iv[8] = {
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
        0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19
    };

    memcpy(s->state, iv, sizeof(iv));
    s->bytes = 0;
    s->used = 0;
}


void
sales_sha256_update(sales_sha256_t *s, const void *data, size_t len)
{
    const uint8_t  *p = data;

    s->bytes += len;

    while (len > 0) {
        size_t n = 64 - s->used;

        if (n > len) {
            n = len;
        }

        memcpy(s->block + s->used, p, n);
        s->used += n;
        p += n;
        len -= n;

        if (s->used == 64) {
            sha256_block(s->state, s->block);
            s->used = 0;
        }
    }
}


void
sales_sha256_final(sales_sha256_t *s, uint8_t out[SALES_SHA256_LEN])
{
    uint64_t  bits = s->bytes * 8;
    uint8_t   pad = 0x80, zero = 0, len[8];
    int       i;

    sales_sha256_update(s, &pad, 1);

    while (s->used != 56) {
        sales_sha256_update(s, &zero, 1);
    }

    for (i = 0; i < 8; i++) {
        len[i] = (uint8_t) (bits >> (56 - 8 * i));
    }

    sales_sha256_update(s, len, 8);

    for (i = 0; i < 8; i++) {
        out[i * 4] = (uint8_t) (s->state[i] >> 24);
        out[i * 4 + 1] = (uint8_t) (s->state[i] >> 16);
        out[i * 4 + 2] = (uint8_t) (s->state[i] >> 8);
        out[i * 4 + 3] = (uint8_t) s->state[i];
    }
}


void
sales_sha256(const void *data, size_t len, uint8_t out[SALES_SHA256_LEN])
{
    sales_sha256_t  s;

    sales_sha256_init(&s);
    sales_sha256_update(&s, data, len);
    sales_sha256_final(&s, out);
}


void
sales_hmac_sha256(const void *key, size_t key_len, const void *msg,
    size_t msg_len, uint8_t out[SALES_SHA256_LEN])
{
    uint8_t         k[64], pad[64], inner[SALES_SHA256_LEN];
    sales_sha256_t  s;
    int             i;

    memset(k, 0, sizeof(k));

    if (key_len > 64) {
        sales_sha256(key, key_len, k);

    } else {
        memcpy(k, key, key_len);
    }

    for (i = 0; i < 64; i++) {
        pad[i] = k[i] ^ 0x36;
    }

    sales_sha256_init(&s);
    sales_sha256_update(&s, pad, 64);
    sales_sha256_update(&s, msg, msg_len);
    sales_sha256_final(&s, inner);

    for (i = 0; i < 64; i++) {
        pad[i] = k[i] ^ 0x5c;
    }

    sales_sha256_init(&s);
    sales_sha256_update(&s, pad, 64);
    sales_sha256_update(&s, inner, sizeof(inner));
    sales_sha256_final(&s, out);
}


void
sales_hex(const uint8_t *in, size_t len, char *out)
{
    static const char  digits[] = "0123456789abcdef";
    size_t             i;

    for (i = 0; i < len; i++) {
        out[i * 2] = digits[in[i] >> 4];
        out[i * 2 + 1] = digits[in[i] & 0xf];
    }

    out[len * 2] = '\0';
}


size_t
sales_base64_len(size_t len)
{
    return (len + 2) / 3 * 4;
}


static size_t
base64_encode_with(const uint8_t *in, size_t len, char *out,
    const char *alphabet, int pad)
{
    size_t  i, o = 0;

    for (i = 0; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8
                     | in[i + 2];
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        out[o++] = alphabet[v >> 6 & 63];
        out[o++] = alphabet[v & 63];
    }

    if (i < len) {
        uint32_t v = (uint32_t) in[i] << 16;

        if (i + 1 < len) {
            v |= (uint32_t) in[i + 1] << 8;
        }

        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];

        if (i + 1 < len) {
            out[o++] = alphabet[v >> 6 & 63];

        } else if (pad) {
            out[o++] = '=';
        }

        if (pad) {
            out[o++] = '=';
        }
    }

    out[o] = '\0';
    return o;
}


size_t
sales_base64_encode(const uint8_t *in, size_t len, char *out)
{
    return base64_encode_with(in, len, out,
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", 1);
}


size_t
sales_base64url_encode(const uint8_t *in, size_t len, char *out)
{
    return base64_encode_with(in, len, out,
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", 0);
}


static int
base64_value(char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '+' || c == '-') {
        return 62;
    }
    if (c == '/' || c == '_') {
        return 63;
    }
    return -1;
}


long
sales_base64_decode(const char *in, size_t len, uint8_t *out,
    size_t out_size)
{
    uint32_t  acc = 0;
    size_t    i, o = 0;
    int       bits = 0, v;

    while (len > 0 && in[len - 1] == '=') {
        len--;
    }

    if (len % 4 == 1) {
        return -1;
    }

    for (i = 0; i < len; i++) {
        v = base64_value(in[i]);
        if (v < 0) {
            return -1;
        }

        acc = acc << 6 | (uint32_t) v;
        bits += 6;

        if (bits >= 8) {
            bits -= 8;
            if (o >= out_size) {
                return -1;
            }
            out[o++] = (uint8_t) (acc >> bits);
        }
    }

    return (long) o;
}


int
sales_random(void *buf, size_t len)
{
    uint8_t  *p = buf;
    ssize_t   n;

    while (len > 0) {
        n = getrandom(p, len, 0);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        p += n;
        len -= (size_t) n;
    }

    return 0;
}


int64_t
sales_now_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


/* Howard Hinnant's civil-date algorithms, proleptic Gregorian calendar. */

int64_t
sales_days_from_civil(int y, unsigned m, unsigned d)
{
    int64_t   era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}


static void
civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d)
{
    int64_t   era, doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (unsigned) (doy - (153 * mp + 2) / 5 + 1);
    *m = (unsigned) (mp < 10 ? mp + 3 : mp - 9);
    *y = (int) (yoe + era * 400 + (*m <= 2));
}


void
sales_time_format(int64_t ms, char *out)
{
    int64_t   secs, days, rem, msec;
    unsigned  m, d;
    int       y;

    msec = ms % 1000;
    secs = ms / 1000;
    if (msec < 0) {
        msec += 1000;
        secs--;
    }

    days = secs / 86400;
    rem = secs % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }

    civil_from_days(days, &y, &m, &d);

    snprintf(out, 32, "%04d-%02u-%02uT%02d:%02d:%02dZ", y, m, d,
             (int) (rem / 3600), (int) (rem / 60 % 60), (int) (rem % 60));
}


static int
parse_digits(const char *s, int n, int *out)
{
    int  i, v = 0;

    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }

    *out = v;
    return 0;
}


static int
civil_valid(int y, int mo, int d)
{
    static const int  mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30,
                                 31};
    int               leap;

    leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return y >= 1970 && mo >= 1 && mo <= 12 && d >= 1 && d <= mdays[mo - 1]
           && !(mo == 2 && d == 29 && !leap);
}


int
sales_date_valid(const char *s, size_t len)
{
    int  y, mo, d;

    return len == 10 && s[4] == '-' && s[7] == '-'
           && parse_digits(s, 4, &y) == 0 && parse_digits(s + 5, 2, &mo) == 0
           && parse_digits(s + 8, 2, &d) == 0 && civil_valid(y, mo, d);
}


void
sales_date_of(int64_t ms, char *out)
{
    char  t[32];

    sales_time_format(ms, t);
    memcpy(out, t, 10);
    out[10] = '\0';
}


int
sales_time_parse(const char *s, size_t len, int64_t *ms)
{
    int               y, mo, d, h, mi, se, frac = 0;
    size_t            i = 19;

    if (len < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T'
        || s[13] != ':' || s[16] != ':')
    {
        return -1;
    }

    if (parse_digits(s, 4, &y) || parse_digits(s + 5, 2, &mo)
        || parse_digits(s + 8, 2, &d) || parse_digits(s + 11, 2, &h)
        || parse_digits(s + 14, 2, &mi) || parse_digits(s + 17, 2, &se))
    {
        return -1;
    }

    if (s[i] == '.') {
        int  n = 0, digit;

        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, n++) {
            digit = s[i] - '0';
            if (n < 3) {
                frac = frac * 10 + digit;
            }
        }

        if (n == 0) {
            return -1;
        }

        for (; n < 3; n++) {
            frac *= 10;
        }
    }

    if (!((i + 1 == len && s[i] == 'Z')
          || (i + 6 == len && memcmp(s + i, "+00:00", 6) == 0)))
    {
        return -1;
    }

    if (!civil_valid(y, mo, d) || h > 23 || mi > 59 || se > 59) {
        return -1;
    }

    *ms = (sales_days_from_civil(y, (unsigned) mo, (unsigned) d) * 86400
           + h * 3600 + mi * 60 + se) * 1000 + frac;
    return 0;
}


static void
buf_reserve(sales_buf_t *b, size_t more)
{
    size_t   cap;
    char    *p;

    if (b->failed || b->len + more + 1 <= b->cap) {
        return;
    }

    cap = b->cap ? b->cap : 256;
    while (cap < b->len + more + 1) {
        cap *= 2;
    }

    p = realloc(b->data, cap);
    if (p == NULL) {
        b->failed = 1;
        return;
    }

    b->data = p;
    b->cap = cap;
}


void
sales_buf_add(sales_buf_t *b, const char *s, size_t len)
{
    buf_reserve(b, len);
    if (b->failed) {
        return;
    }

    memcpy(b->data + b->len, s, len);
    b->len += len;
    b->data[b->len] = '\0';
}


void
sales_buf_adds(sales_buf_t *b, const char *s)
{
    sales_buf_add(b, s, strlen(s));
}


void
sales_buf_printf(sales_buf_t *b, const char *fmt, ...)
{
    va_list  ap;
    int      n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);

    if (n < 0) {
        b->failed = 1;
        return;
    }

    buf_reserve(b, (size_t) n);
    if (b->failed) {
        return;
    }

    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t) n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t) n;
}


void
sales_buf_free(sales_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->failed = 0;
}


int
sales_ct_equal(const void *a, const void *b, size_t len)
{
    const uint8_t  *x = a, *y = b;
    uint8_t         diff = 0;
    size_t          i;

    for (i = 0; i < len; i++) {
        diff |= x[i] ^ y[i];
    }

    return diff == 0;
}


int64_t
sales_div_round(int64_t num, int64_t den)
{
    int64_t  q = num / den, r = num % den;

    /* |r| >= den / 2, compared without overflow */
    if (r >= 0 ? r >= den - r : -r >= den + r) {
        q += num >= 0 ? 1 : -1;
    }

    return q;
}


/* Makes s valid UTF-8 in place: a broken sequence becomes '?', and one
 * cut at the end (by a length limit) is dropped. */
void
sales_utf8_clean(char *s)
{
    unsigned char  *p = (unsigned char *) s;
    size_t          i, n, len = strlen(s);

    for (i = 0; i < len; i += n) {
        unsigned char  c = p[i];
        size_t         k;

        n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3
            : (c >> 3) == 0x1e ? 4 : 0;

        if (n == 0 || (n == 2 && c < 0xc2) || (n == 4 && c > 0xf4)) {
            p[i] = '?';
            n = 1;
            continue;
        }

        if (i + n > len) {
            p[i] = '\0';           /* cut in the middle: drop the rest */
            return;
        }

        for (k = 1; k < n; k++) {
            if ((p[i + k] & 0xc0) != 0x80) {
                break;
            }
        }

        if (k < n) {
            p[i] = '?';
            n = 1;
        }
    }
}
