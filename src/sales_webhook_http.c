/*
 * Webhooks, the pure parts: destination URLs, Standard Webhooks
 * signatures and secrets, and reading a receiver's answer. No database,
 * no network: the unit tests drive these directly.
 */

#include "sales.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>


#define URL_MAX  2048


static int
host_char(int c)
{
    return isalnum(c) || c == '-' || c == '.' || c == '_';
}


static int
has_double_dot(const char *s, size_t n)
{
    size_t  i;

    for (i = 1; i < n; i++) {
        if (s[i] == '.' && s[i - 1] == '.') {
            return 1;
        }
    }

    return 0;
}


int
sales_url_parse(const char *s, size_t len, sales_url_t *u, const char **why)
{
    const char  *p, *end, *auth, *auth_end, *host, *host_end, *port;
    size_t       i, n;
    long         pn;

    memset(u, 0, sizeof(*u));

    if (len == 0 || len > URL_MAX) {
        *why = "must have 1 to 2048 characters";
        return -1;
    }

    for (i = 0; i < len; i++) {
        unsigned char  c = (unsigned char) s[i];

        if (c <= 0x20 || c >= 0x7f) {
            *why = "must not contain spaces, control or non-ASCII characters"
                   " (percent-encode them)";
            return -1;
        }

        if (c == '#') {
            *why = "must not have a fragment";
            return -1;
        }
    }

    end = s + len;

    if (len > 8 && strncasecmp(s, "https://", 8) == 0) {
        u->tls = 1;
        auth = s + 8;
        u->port = 443;

    } else if (len > 7 && strncasecmp(s, "http://", 7) == 0) {
        auth = s + 7;
        u->port = 80;

    } else {
        *why = "must start with http:// or https://";
        return -1;
    }

    for (auth_end = auth; auth_end < end; auth_end++) {
        if (*auth_end == '/' || *auth_end == '?') {
            break;
        }
    }

    if (memchr(auth, '@', auth_end - auth)) {
        *why = "must not carry a user name or password";
        return -1;
    }

    host = auth;

    if (host < auth_end && *host == '[') {
        host++;
        host_end = memchr(host, ']', auth_end - host);

        if (host_end == NULL || host_end == host) {
            *why = "has a malformed IPv6 address";
            return -1;
        }

        for (p = host; p < host_end; p++) {
            if (!isxdigit((unsigned char) *p) && *p != ':' && *p != '.') {
                *why = "has a malformed IPv6 address";
                return -1;
            }
        }

        u->ipv6 = 1;
        port = host_end + 1;

        if (port < auth_end && *port != ':') {
            *why = "has a malformed IPv6 address";
            return -1;
        }

    } else {
        for (host_end = host; host_end < auth_end && *host_end != ':';
             host_end++)
        {
            if (!host_char((unsigned char) *host_end)) {
                *why = "has a host name with a character a host name cannot"
                       " have";
                return -1;
            }
        }

        port = host_end;
    }

    n = host_end - host;

    if (n == 0) {
        *why = "must name a host";
        return -1;
    }

    if (n >= sizeof(u->host) - 2) {
        *why = "has a host name longer than 253 characters";
        return -1;
    }

    if (!u->ipv6
        && (host[0] == '.' || host[0] == '-' || host_end[-1] == '-'
            || has_double_dot(host, n)))
    {
        *why = "has a malformed host name";
        return -1;
    }

    memcpy(u->host, host, n);
    u->host[n] = '\0';

    if (port < auth_end) {
        /* ":" and digits */
        port++;

        if (port == auth_end || auth_end - port > 5) {
            *why = "has a port that is not a number from 1 to 65535";
            return -1;
        }

        pn = 0;
        for (p = port; p < auth_end; p++) {
            if (!isdigit((unsigned char) *p)) {
                *why = "has a port that is not a number from 1 to 65535";
                return -1;
            }
            pn = pn * 10 + (*p - '0');
        }

        if (pn < 1 || pn > 65535) {
            *why = "has a port that is not a number from 1 to 65535";
            return -1;
        }

        u->port = (int) pn;
    }

    if (auth_end == end) {
        u->path = "/";
        u->path_len = 1;

    } else if (*auth_end == '?') {
        /* "http://host?q" has the path "/" */
        u->path = auth_end;
        u->path_len = end - auth_end;

    } else {
        u->path = auth_end;
        u->path_len = end - auth_end;
    }

    return 0;
}


int
sales_webhook_sign(const char *secret, const char *id, int64_t ts,
    const char *body, size_t len, char *out)
{
    uint8_t       key[64], mac[SALES_SHA256_LEN];
    char          head[128];
    long          klen;
    int           hlen;
    sales_buf_t   msg = {0};

    if (strncmp(secret, "whsec_", 6) != 0) {
        return -1;
    }

    klen = sales_base64_decode(secret + 6, strlen(secret + 6), key,
                               sizeof(key));
    if (klen <= 0) {
        return -1;
    }

    hlen = snprintf(head, sizeof(head), "%s.%lld.", id, (long long) ts);
    if (hlen < 0 || (size_t) hlen >= sizeof(head)) {
        return -1;
    }

    sales_buf_add(&msg, head, hlen);
    sales_buf_add(&msg, body, len);

    if (msg.failed) {
        sales_buf_free(&msg);
        return -1;
    }

    sales_hmac_sha256(key, klen, msg.data, msg.len, mac);
    sales_buf_free(&msg);

    memcpy(out, "v1,", 3);
    sales_base64_encode(mac, sizeof(mac), out + 3);
    return 0;
}


int
sales_webhook_secret_new(char *out)
{
    uint8_t  raw[32];

    if (sales_random(raw, sizeof(raw)) != 0) {
        return -1;
    }

    memcpy(out, "whsec_", 6);
    sales_base64_encode(raw, sizeof(raw), out + 6);
    return 0;
}


/* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT". */
static int64_t
http_date_parse(const char *s, size_t len)
{
    static const char  months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    char               buf[64], mon[4], day[4], gmt[4];
    const char        *m;
    int                d, y, hh, mm, ss, used = 0;

    if (len >= sizeof(buf)) {
        return -1;
    }

    memcpy(buf, s, len);
    buf[len] = '\0';

    if (sscanf(buf, "%3s, %d %3s %d %d:%d:%d %3s%n", day, &d, mon, &y, &hh,
               &mm, &ss, gmt, &used) != 8
        || (size_t) used != len || strcmp(gmt, "GMT") != 0
        || strlen(day) != 3 || buf[3] != ',')
    {
        return -1;
    }

    m = strstr(months, mon);
    if (m == NULL || strlen(mon) != 3 || (m - months) % 3 != 0
        || d < 1 || d > 31 || y < 1970 || y > 9999 || hh > 23 || mm > 59
        || ss > 60 || hh < 0 || mm < 0 || ss < 0)
    {
        return -1;
    }

    return sales_days_from_civil(y, (unsigned) ((m - months) / 3 + 1),
                                 (unsigned) d) * 86400
           + hh * 3600 + mm * 60 + ss;
}


int64_t
sales_retry_after_parse(const char *s, size_t len, int64_t now_s)
{
    int64_t  v = 0, at;
    size_t   i;

    while (len && (*s == ' ' || *s == '\t')) {
        s++;
        len--;
    }

    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t')) {
        len--;
    }

    if (len == 0) {
        return -1;
    }

    if (isdigit((unsigned char) s[0])) {
        for (i = 0; i < len; i++) {
            if (!isdigit((unsigned char) s[i])) {
                return -1;
            }
            if (v > 100000000) {
                return 100000000;        /* capped by the caller anyway */
            }
            v = v * 10 + (s[i] - '0');
        }
        return v;
    }

    at = http_date_parse(s, len);
    if (at < 0) {
        return -1;
    }

    return at > now_s ? at - now_s : 0;
}


/* The parts of a reader's state. */
enum {
    READ_HEAD = 0,
    READ_BODY,
    READ_DONE,
    READ_BAD
};


enum {
    CHUNK_SIZE = 0,
    CHUNK_EXT,
    CHUNK_DATA,
    CHUNK_DATA_END
};


/* Whether a comma-separated header value lists tok; with last, as its
 * last element only. */
static int
value_lists(const char *v, size_t vlen, const char *tok, int last)
{
    const char  *end = v + vlen, *comma, *e;
    size_t       n = strlen(tok);
    int          found = 0;

    for ( ;; ) {
        comma = memchr(v, ',', end - v);
        e = comma ? comma : end;

        while (v < e && (*v == ' ' || *v == '\t')) {
            v++;
        }

        while (e > v && (e[-1] == ' ' || e[-1] == '\t')) {
            e--;
        }

        found = (size_t) (e - v) == n && strncasecmp(v, tok, n) == 0;

        if ((found && !last) || comma == NULL) {
            return found;
        }

        v = comma + 1;
    }
}


/* The status line and headers of one complete header block. */
static int
head_parse(const char *buf, size_t len, int64_t now_s, sales_http_answer_t *a)
{
    const char  *p, *end, *line, *eol, *colon, *v;
    size_t       i, name_len, vlen;

    a->status = 0;
    a->retry_after_s = -1;
    a->content_length = -1;
    a->chunked = 0;
    a->keep_alive = 0;

    /* "HTTP/1.1 200 OK" */
    end = buf + len;
    eol = memchr(buf, '\n', len);
    p = memchr(buf, ' ', eol - buf);

    if (p == NULL || eol - p < 4) {
        return -1;
    }

    p++;
    for (i = 0; i < 3; i++) {
        if (!isdigit((unsigned char) p[i])) {
            return -1;
        }
        a->status = a->status * 10 + (p[i] - '0');
    }

    if (p[3] != ' ' && p[3] != '\r' && p[3] != '\n') {
        return -1;
    }

    if (a->status < 100) {
        return -1;
    }

    for (line = eol + 1; line < end; line = eol + 1) {
        eol = memchr(line, '\n', end - line);
        if (eol == NULL) {
            break;
        }

        colon = memchr(line, ':', eol - line);
        if (colon == NULL) {
            continue;
        }

        name_len = colon - line;
        v = colon + 1;
        vlen = eol - v;

        if (vlen && v[vlen - 1] == '\r') {
            vlen--;
        }

        if (name_len == 11 && strncasecmp(line, "Retry-After", 11) == 0) {
            a->retry_after_s = sales_retry_after_parse(v, vlen, now_s);

        } else if (name_len == 14
                   && strncasecmp(line, "Content-Length", 14) == 0)
        {
            int64_t  cl = 0;
            size_t   k, digits = 0;

            for (k = 0; k < vlen; k++) {
                if (isdigit((unsigned char) v[k]) && cl < INT64_MAX / 10) {
                    cl = cl * 10 + (v[k] - '0');
                    digits++;
                } else if (v[k] != ' ' && v[k] != '\t') {
                    digits = 0;
                    break;
                }
            }

            a->content_length = digits ? cl : -1;

        } else if (name_len == 17
                   && strncasecmp(line, "Transfer-Encoding", 17) == 0)
        {
            a->chunked = value_lists(v, vlen, "chunked", 1);

        } else if (name_len == 10
                   && strncasecmp(line, "Connection", 10) == 0)
        {
            a->keep_alive = value_lists(v, vlen, "keep-alive", 0);
        }
    }

    /* a chunked body's length is in its chunks */
    if (a->chunked) {
        a->content_length = -1;
    }

    return 0;
}


/*
 * Looks for the end of the header block from where the last look
 * stopped: 1 found and parsed, 0 not yet, -1 not HTTP. Interim answers
 * (100 Continue, 103 Early Hints) are passed over for the final one
 * after them; 101 would switch protocols, so it is final.
 */
static int
reader_head(sales_http_reader_t *rd, const char *buf, size_t len)
{
    size_t  i, n, end;

    for ( ;; ) {
        n = len - rd->head;
        if (memcmp(buf + rd->head, "HTTP/", n < 5 ? n : 5) != 0) {
            return -1;
        }

        /* a blank line may straddle two reads: its first "\n" is at most
         * two bytes before where the last look stopped */
        i = rd->scanned >= rd->head + 2 ? rd->scanned - 2 : rd->head;
        end = 0;

        for ( /* void */ ; i < len && end == 0; i++) {
            if (buf[i] != '\n') {
                continue;
            }

            if (i + 1 < len && buf[i + 1] == '\n') {
                end = i + 2;

            } else if (i + 2 < len && buf[i + 1] == '\r'
                       && buf[i + 2] == '\n')
            {
                end = i + 3;
            }
        }

        if (end == 0) {
            rd->scanned = len;
            return 0;
        }

        if (head_parse(buf + rd->head, end - rd->head, rd->now_s, &rd->a)
            != 0)
        {
            return -1;
        }

        if (rd->a.status >= 200 || rd->a.status == 101) {
            rd->a.header_len = end;
            return 1;
        }

        rd->head = end;
        rd->scanned = end;

        if (end == len) {
            return 0;
        }
    }
}


/* How much of the body is worth waiting for. */
static size_t
body_wanted(const sales_http_answer_t *a)
{
    /* 101, 204 and 304 have no body */
    if (a->status < 200 || a->status == 204 || a->status == 304) {
        return 0;
    }

    if (a->content_length >= 0
        && (uint64_t) a->content_length < SALES_WH_EXCERPT)
    {
        return (size_t) a->content_length;
    }

    return SALES_WH_EXCERPT;
}


/* Body bytes: kept for the excerpt up to what is wanted of the body. */
static void
excerpt_add(sales_http_reader_t *rd, const char *p, size_t n, size_t want)
{
    size_t  k = n;

    if (rd->excerpt_len < want) {
        if (k > want - rd->excerpt_len) {
            k = want - rd->excerpt_len;
        }

        memcpy(rd->excerpt + rd->excerpt_len, p, k);
        rd->excerpt_len += k;
    }

    rd->body += n;
}


/*
 * A chunked body's bytes: the data goes to the excerpt, the size lines
 * do not. The last chunk ends the reading (its trailers are not worth
 * waiting for), and so does framing that is not chunked after all: the
 * status is known by then.
 */
static void
reader_chunks(sales_http_reader_t *rd, const char *p, size_t n, size_t want)
{
    const char  *end = p + n;
    size_t       k;
    int          c, d;

    while (p < end && rd->state == READ_BODY && rd->body < want) {

        switch (rd->chunk_state) {

        case CHUNK_SIZE:
        case CHUNK_EXT:
            c = (unsigned char) *p++;

            if (c == '\n') {
                if (rd->chunk_digits == 0 || rd->chunk_left == 0) {
                    rd->state = READ_DONE;          /* the last chunk */
                }
                rd->chunk_state = CHUNK_DATA;
                break;
            }

            if (rd->chunk_state == CHUNK_EXT) {
                break;
            }

            d = isdigit(c) ? c - '0'
                : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;

            if (d >= 0 && rd->chunk_left < (UINT64_C(1) << 56)) {
                rd->chunk_left = rd->chunk_left * 16 + (uint64_t) d;
                rd->chunk_digits++;

            } else if (rd->chunk_digits
                       && (c == ';' || c == ' ' || c == '\t' || c == '\r'))
            {
                rd->chunk_state = CHUNK_EXT;

            } else {
                rd->state = READ_DONE;
            }
            break;

        case CHUNK_DATA:
            k = (size_t) (end - p);
            if ((uint64_t) k > rd->chunk_left) {
                k = (size_t) rd->chunk_left;
            }

            excerpt_add(rd, p, k, want);
            p += k;
            rd->chunk_left -= k;

            if (rd->chunk_left == 0) {
                rd->chunk_state = CHUNK_DATA_END;
            }
            break;

        default:                                    /* CHUNK_DATA_END */
            c = (unsigned char) *p++;

            if (c == '\n') {
                rd->chunk_state = CHUNK_SIZE;
                rd->chunk_digits = 0;

            } else if (c != '\r') {
                rd->state = READ_DONE;
            }
        }
    }
}


/* The body's bytes in buf[from..len). */
static void
reader_body(sales_http_reader_t *rd, const char *buf, size_t from, size_t len)
{
    const sales_http_answer_t  *a = &rd->a;
    size_t                      want;

    want = body_wanted(a);

    if (a->chunked) {
        reader_chunks(rd, buf + from, len - from, want);

    } else {
        excerpt_add(rd, buf + from, len - from, want);
    }

    /* Kept alive without a length or chunks, the body has no end a
     * close would show: it is what came with the headers. */
    if (rd->body >= want
        || (!a->chunked && a->content_length < 0 && a->keep_alive))
    {
        rd->state = READ_DONE;
    }
}


void
sales_http_reader_init(sales_http_reader_t *rd, int64_t now_s)
{
    memset(rd, 0, sizeof(*rd));
    rd->state = READ_HEAD;
    rd->now_s = now_s;
    rd->a.retry_after_s = -1;
    rd->a.content_length = -1;
}


int
sales_http_reader_feed(sales_http_reader_t *rd, const char *buf, size_t len)
{
    size_t  from;
    int     rc;

    from = rd->seen;
    rd->seen = len;

    if (rd->state == READ_HEAD && len > from) {
        rc = reader_head(rd, buf, len);

        if (rc < 0) {
            rd->state = READ_BAD;

        } else if (rc > 0) {
            rd->state = READ_BODY;
            from = rd->a.header_len;
        }
    }

    if (rd->state == READ_BODY) {
        reader_body(rd, buf, from, len);
    }

    if (rd->state == READ_BAD) {
        return -1;
    }

    if (len >= SALES_WH_MAX_ANSWER) {
        if (rd->state == READ_HEAD) {
            rd->state = READ_BAD;
            return -1;
        }

        return 1;
    }

    return rd->state == READ_DONE;
}


int
sales_http_answer_parse(const char *buf, size_t len, int64_t now_s,
    sales_http_answer_t *a)
{
    sales_http_reader_t  rd;

    sales_http_reader_init(&rd, now_s);

    if (sales_http_reader_feed(&rd, buf, len) < 0) {
        *a = rd.a;
        return -1;
    }

    *a = rd.a;
    return rd.state != READ_HEAD;
}


void
sales_webhook_answer(const sales_http_reader_t *rd, sales_wh_result_t *r)
{
    const sales_http_answer_t  *a = &rd->a;

    r->status = 0;
    r->retry_after_s = -1;
    r->excerpt[0] = '\0';

    if (rd->state == READ_BAD) {
        snprintf(r->error, sizeof(r->error), "the answer is not HTTP");
        return;
    }

    if (rd->state == READ_HEAD) {
        if (r->error[0] == '\0') {
            snprintf(r->error, sizeof(r->error), "%s",
                     rd->seen == 0 ? "the connection closed without an answer"
                     : rd->head ? "the connection closed after an interim"
                                  " (1xx) answer"
                     : "the connection closed inside the answer's headers");
        }
        return;
    }

    /* The status line and headers came: that is the answer, whatever
     * became of the rest. */
    r->error[0] = '\0';
    r->status = a->status;
    r->retry_after_s = a->retry_after_s;

    memcpy(r->excerpt, rd->excerpt, rd->excerpt_len);
    r->excerpt[rd->excerpt_len] = '\0';

    /* stored as text: cut at a NUL, keep it valid UTF-8 */
    sales_utf8_clean(r->excerpt);

    if (a->status >= 300 && a->status < 400) {
        snprintf(r->error, sizeof(r->error),
                 "redirects are not followed (status %d)", a->status);

    } else if (a->status < 200 || a->status >= 300) {
        snprintf(r->error, sizeof(r->error), "the receiver answered %d",
                 a->status);
    }
}
