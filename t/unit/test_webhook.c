/*
 * Webhooks, the pure parts: the Standard Webhooks signature (the
 * specification's published test vector), secrets, destination URLs and
 * reading a receiver's answer.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tap.h"
#include "unit.h"
#include "sales.h"


static void
test_signature(void)
{
    static const char  body[] = "{\"test\": 2432232314}";
    char               sig[64], secret[64], again[64];
    uint8_t            raw[64];
    long               n;

    ok(sales_webhook_sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                          "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body,
                          sizeof(body) - 1, sig) == 0
       && strcmp(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=") == 0,
       "the Standard Webhooks test vector, byte for byte (%s)", sig);

    ok(sales_webhook_sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                          "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265331, body,
                          sizeof(body) - 1, again) == 0
       && strcmp(sig, again) != 0, "another timestamp, another signature");

    ok(sales_webhook_sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                          "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body,
                          sizeof(body) - 2, again) == 0
       && strcmp(sig, again) != 0, "another body, another signature");

    ok(sales_webhook_sign("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg", 1, "{}",
                          2, again) == -1, "a secret without whsec_ refused");
    ok(sales_webhook_sign("whsec_!!!", "msg", 1, "{}", 2, again) == -1,
       "a secret that is not base64 refused");

    ok(sales_webhook_secret_new(secret) == 0
       && strncmp(secret, "whsec_", 6) == 0 && strlen(secret) == 6 + 44,
       "a new secret is whsec_ and base64 of 32 bytes (%s)", secret);
    n = sales_base64_decode(secret + 6, strlen(secret + 6), raw, sizeof(raw));
    ok(n == 32, "it decodes to 32 bytes");
    ok(sales_webhook_secret_new(again) == 0 && strcmp(secret, again) != 0,
       "two secrets differ");
}


static int
url_ok(const char *s, sales_url_t *u)
{
    const char  *why = NULL;

    return sales_url_parse(s, strlen(s), u, &why) == 0;
}


static const char *
url_why(const char *s)
{
    sales_url_t   u;
    const char   *why = NULL;

    if (sales_url_parse(s, strlen(s), &u, &why) == 0) {
        return NULL;
    }

    return why;
}


static void
test_urls(void)
{
    sales_url_t  u;
    char         longer[2100];

    ok(url_ok("https://crm.example.ro/hooks/sales?x=1", &u) && u.tls
       && u.port == 443 && strcmp(u.host, "crm.example.ro") == 0
       && u.path_len == 16 && memcmp(u.path, "/hooks/sales?x=1", 16) == 0,
       "https URL: host, port 443, path with query");
    ok(url_ok("HTTP://127.0.0.1:8081", &u) && !u.tls && u.port == 8081
       && strcmp(u.host, "127.0.0.1") == 0 && u.path_len == 1
       && u.path[0] == '/', "http URL with port and no path gets /");
    ok(url_ok("http://[::1]:9000/h", &u) && u.ipv6 && u.port == 9000
       && strcmp(u.host, "::1") == 0, "IPv6 literal");
    ok(url_ok("http://localhost?a=b", &u) && u.path[0] == '?',
       "a query without a path");

    ok(url_why("ftp://example.ro/") != NULL, "ftp refused");
    ok(url_why("https://user:pw@example.ro/") != NULL
       && strstr(url_why("https://user:pw@example.ro/"), "password"),
       "user and password refused");
    ok(url_why("https://example.ro/#top") != NULL
       && strstr(url_why("https://example.ro/#top"), "fragment"),
       "a fragment refused");
    ok(url_why("https://exa mple.ro/") != NULL, "a space refused");
    ok(url_why("https://example.ro/\r\nX-Evil: 1") != NULL,
       "CR LF refused (no header injection)");
    ok(url_why("https:///path") != NULL, "no host refused");
    ok(url_why("https://example.ro:0/") != NULL
       && url_why("https://example.ro:65536/") != NULL
       && url_why("https://example.ro:8a/") != NULL
       && url_why("https://example.ro:/") != NULL, "bad ports refused");
    ok(url_why("https://[::1/") != NULL && url_why("https://[]/") != NULL
       && url_why("https://[::1]x/") != NULL, "bad IPv6 literals refused");
    ok(url_why("https://exa..mple.ro/") != NULL
       && url_why("https://.example.ro/") != NULL
       && url_why("https://ex\xc8\x99.ro/") != NULL, "bad host names refused");

    memset(longer, 'a', sizeof(longer));
    memcpy(longer, "https://example.ro/", 19);
    longer[2049] = '\0';
    ok(url_why(longer) != NULL, "over 2048 characters refused");
    longer[2048] = '\0';
    ok(url_why(longer) == NULL, "2048 characters accepted");
}


static double
unit_seconds(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}


/* What the glue makes of an answer that came in whole. */
static void
answer_of(const char *buf, size_t len, sales_wh_result_t *r)
{
    sales_http_reader_t  rd;

    sales_http_reader_init(&rd, 0);
    (void) sales_http_reader_feed(&rd, buf, len);

    memset(r, 0, sizeof(*r));
    sales_webhook_answer(&rd, r);
}


/* The reader's verdict on an answer fed whole. */
static int
done_after(const char *buf, size_t len)
{
    sales_http_reader_t  rd;

    sales_http_reader_init(&rd, 0);
    return sales_http_reader_feed(&rd, buf, len);
}


/* The same answer fed a byte at a time: the verdict when it first says
 * enough, and the result then. */
static int
trickled(const char *buf, size_t len, sales_wh_result_t *r)
{
    sales_http_reader_t  rd;
    size_t               i;
    int                  rc = 0;

    sales_http_reader_init(&rd, 0);

    for (i = 1; i <= len && rc == 0; i++) {
        rc = sales_http_reader_feed(&rd, buf, i);
    }

    memset(r, 0, sizeof(*r));
    sales_webhook_answer(&rd, r);
    return rc;
}


static void
test_answers(void)
{
    sales_http_answer_t  a;
    sales_wh_result_t    r;
    static const char    ok200[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
                                   "\r\nok";
    static const char    busy[] = "HTTP/1.1 503 Busy\r\nretry-after: 120\r\n"
                                  "Content-Length: 0\r\n\r\n";
    static const char    dated[] = "HTTP/1.1 429 Slow\r\nRetry-After: "
                                   "Thu, 01 Jan 1970 00:01:40 GMT\r\n\r\n";

    ok(sales_http_answer_parse(ok200, sizeof(ok200) - 1, 0, &a) == 1
       && a.status == 200 && a.content_length == 2
       && a.header_len == sizeof(ok200) - 3, "200 with a body");
    ok(sales_http_answer_parse(ok200, 20, 0, &a) == 0, "headers not yet in");
    ok(sales_http_answer_parse("SSH-2.0-OpenSSH\r\n\r\n", 19, 0, &a) == -1,
       "not HTTP");
    ok(sales_http_answer_parse("HTTP/1.1 2x0 OK\r\n\r\n", 19, 0, &a) == -1,
       "a broken status");
    ok(sales_http_answer_parse(busy, sizeof(busy) - 1, 0, &a) == 1
       && a.status == 503 && a.retry_after_s == 120,
       "Retry-After in seconds, any case");
    ok(sales_http_answer_parse(dated, sizeof(dated) - 1, 40, &a) == 1
       && a.status == 429 && a.retry_after_s == 60,
       "Retry-After as an HTTP date");
    ok(sales_retry_after_parse("soon", 4, 0) == -1
       && sales_retry_after_parse(" 7 ", 3, 0) == 7
       && sales_retry_after_parse("Thu, 01 Jan 1970 00:00:10 GMT", 29, 50)
          == 0, "Retry-After edge cases");

    ok(done_after(ok200, sizeof(ok200) - 1) == 1, "done once the body is in");
    ok(done_after(ok200, sizeof(ok200) - 2) == 0, "not done one byte short");
    ok(done_after("HTTP/1.1 204 No\r\n\r\n", 19) == 1,
       "204 has no body to wait for");
    ok(done_after("SSH-2.0-OpenSSH\r\n", 17) == -1,
       "not HTTP: reading stops at once");

    answer_of(ok200, sizeof(ok200) - 1, &r);
    ok(r.status == 200 && r.error[0] == '\0' && strcmp(r.excerpt, "ok") == 0,
       "a 200 is a success with its excerpt");

    {
        static const char  moved[] = "HTTP/1.1 302 Found\r\n"
                                     "Location: http://x/\r\n\r\n";

        answer_of(moved, sizeof(moved) - 1, &r);
    }
    ok(r.status == 302 && strstr(r.error, "redirect") != NULL,
       "a redirect is a failure that says so");

    answer_of("HTTP/1.1 200", 12, &r);
    ok(r.status == 0 && r.error[0] != '\0', "cut inside the headers: error");

    answer_of(NULL, 0, &r);
    ok(r.status == 0 && strstr(r.error, "without an answer") != NULL,
       "nothing read: closed without an answer");

    answer_of("HTTP/1.1 500 X\r\n\r\n\xff\xfe", 20, &r);
    ok(r.status == 500 && strstr(r.error, "500") != NULL
       && strchr(r.excerpt, '\xff') == NULL, "excerpt kept valid UTF-8");
}


/* Interim answers come before the final one and are passed over. */
static void
test_answer_interim(void)
{
    static const char    hints[] = "HTTP/1.1 103 Early Hints\r\n"
                                   "Link: </s.css>; rel=preload\r\n\r\n"
                                   "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
                                   "\r\nok";
    static const char    cont[] = "HTTP/1.1 100 Continue\r\n\r\n"
                                  "HTTP/1.1 100 Continue\r\n\r\n"
                                  "HTTP/1.1 500 Oops\r\nRetry-After: 3\r\n"
                                  "\r\nbroken";
    static const char    only[] = "HTTP/1.1 103 Early Hints\r\n\r\n";
    static const char    up[] = "HTTP/1.1 101 Switching Protocols\r\n"
                                "Upgrade: websocket\r\n\r\n";
    sales_http_answer_t  a;
    sales_wh_result_t    r;

    ok(sales_http_answer_parse(hints, sizeof(hints) - 1, 0, &a) == 1
       && a.status == 200 && a.content_length == 2
       && a.header_len == sizeof(hints) - 3,
       "103 Early Hints, then 200: the 200 is the answer");
    ok(done_after(hints, sizeof(hints) - 1) == 1, "done once its body is in");
    answer_of(hints, sizeof(hints) - 1, &r);
    ok(r.status == 200 && r.error[0] == '\0' && strcmp(r.excerpt, "ok") == 0,
       "a success, with the 200's body as the excerpt (%s)", r.excerpt);
    ok(trickled(hints, sizeof(hints) - 1, &r) == 1 && r.status == 200
       && strcmp(r.excerpt, "ok") == 0, "the same a byte at a time");

    ok(sales_http_answer_parse(cont, 26, 0, &a) == 0,
       "100 Continue alone: read on");
    answer_of(cont, sizeof(cont) - 1, &r);
    ok(r.status == 500 && strcmp(r.excerpt, "broken") == 0,
       "two 100 Continue, then 500: a failure answered 500");
    ok(r.retry_after_s == 3, "with the final answer's Retry-After");

    answer_of(only, sizeof(only) - 1, &r);
    ok(r.status == 0 && strstr(r.error, "interim") != NULL,
       "closed after a 103 alone: no status, the error says so (%s)",
       r.error);

    ok(done_after(up, sizeof(up) - 1) == 1, "101 is final and has no body");
    answer_of(up, sizeof(up) - 1, &r);
    ok(r.status == 101 && strstr(r.error, "101") != NULL,
       "101 is a failure answered 101");
}


/* Chunked answers end at their last chunk, and kept-alive ones without
 * a length with what came: neither waits for a close that never comes. */
static void
test_answer_chunked(void)
{
    static const char    wiki[] = "HTTP/1.1 200 OK\r\n"
                                  "Transfer-Encoding: chunked\r\n"
                                  "Connection: keep-alive\r\n\r\n"
                                  "4\r\nWiki\r\n5;name=x\r\npedia\r\n"
                                  "0\r\n";
    static const char    lf[] = "HTTP/1.1 500 X\r\n"
                                "transfer-encoding: gzip, Chunked\r\n\r\n"
                                "3\nabc\n0\n\n";
    static const char    notlast[] = "HTTP/1.1 200 OK\r\n"
                                     "Transfer-Encoding: chunked, gzip\r\n"
                                     "Content-Length: 4\r\n\r\n4\r\nab";
    static const char    alive[] = "HTTP/1.1 202 Accepted\r\n"
                                   "Connection: Keep-Alive\r\n\r\nqueued";
    static const char    bad[] = "HTTP/1.1 200 OK\r\n"
                                 "Transfer-Encoding: chunked\r\n\r\nzz\r\n";
    sales_http_answer_t  a;
    sales_wh_result_t    r;
    char                 big[64 + 2 * SALES_WH_EXCERPT];
    size_t               n;

    ok(sales_http_answer_parse(wiki, sizeof(wiki) - 1, 0, &a) == 1
       && a.chunked && a.keep_alive && a.content_length == -1,
       "Transfer-Encoding: chunked and Connection: keep-alive are seen");
    ok(done_after(wiki, sizeof(wiki) - 1) == 1,
       "done at the last chunk, before its trailers");
    ok(done_after(wiki, sizeof(wiki) - 4) == 0, "not done before it");
    answer_of(wiki, sizeof(wiki) - 1, &r);
    ok(r.status == 200 && strcmp(r.excerpt, "Wikipedia") == 0,
       "the excerpt is the chunks' data, no size lines (%s)", r.excerpt);
    ok(trickled(wiki, sizeof(wiki) - 1, &r) == 1
       && strcmp(r.excerpt, "Wikipedia") == 0,
       "the same a byte at a time (%s)", r.excerpt);

    ok(trickled(lf, sizeof(lf) - 1, &r) == 1 && r.status == 500
       && strcmp(r.excerpt, "abc") == 0,
       "chunked as the last coding, any case, bare LF (%s)", r.excerpt);

    ok(sales_http_answer_parse(notlast, sizeof(notlast) - 1, 0, &a) == 1
       && !a.chunked && a.content_length == 4,
       "chunked not as the last coding is not chunked");

    memcpy(big, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n",
           52);
    memset(big + 52, 'a', sizeof(big) - 52);
    ok(done_after(big, sizeof(big)) == 1,
       "a long chunk: done once the excerpt is full");
    answer_of(big, sizeof(big), &r);
    n = strlen(r.excerpt);
    ok(n == SALES_WH_EXCERPT && strspn(r.excerpt, "a") == n,
       "and the excerpt is 1 KiB of its data");

    ok(done_after(alive, sizeof(alive) - 1) == 1,
       "kept alive without a length: done with what came");
    answer_of(alive, sizeof(alive) - 1, &r);
    ok(r.status == 202 && strcmp(r.excerpt, "queued") == 0,
       "its excerpt is what came with the headers");
    ok(done_after("HTTP/1.0 200 OK\r\n\r\nsome", 23) == 0,
       "not kept alive, no length: read on to the close");

    ok(done_after(bad, sizeof(bad) - 1) == 1,
       "framing that is not chunks: reading stops");
    answer_of(bad, sizeof(bad) - 1, &r);
    ok(r.status == 200 && r.excerpt[0] == '\0',
       "the status still counts");
}


/* An answer read a byte at a time comes out as it does whole, and
 * costs what it weighs: each read looks only at its new bytes. */
static void
test_answer_trickled(void)
{
    static const char   split[] = "HTTP/1.1 503 Busy\r\nRetry-After: 7\r\n"
                                  "Content-Length: 4\r\n\r\nbusyIGNORED";
    static const char   bare[] = "HTTP/1.0 200 OK\n\nfine";
    sales_wh_result_t   r;
    sales_http_reader_t rd;
    char               *big;
    size_t              i, n;
    double              t0, dt;
    int                 rc = 0;

    ok(trickled(split, sizeof(split) - 1, &r) == 1 && r.status == 503
       && r.retry_after_s == 7 && strcmp(r.excerpt, "busy") == 0,
       "byte by byte: status, Retry-After and excerpt (%s)", r.excerpt);
    ok(trickled(bare, sizeof(bare) - 1, &r) == 0 && r.status == 200
       && strcmp(r.excerpt, "fine") == 0,
       "bare LF line ends, read to the close (%s)", r.excerpt);

    /* 64 KiB of headers that never end, a byte per read */
    n = SALES_WH_MAX_ANSWER;
    big = malloc(n);
    if (!ok(big != NULL, "a 64 KiB answer")) {
        return;
    }

    memcpy(big, "HTTP/1.1 200 OK\r\n", 17);
    for (i = 17; i < n; i++) {
        big[i] = (i % 64 == 63) ? '\n' : 'x';
    }

    sales_http_reader_init(&rd, 0);
    t0 = unit_seconds();

    for (i = 1; i <= n && rc == 0; i++) {
        rc = sales_http_reader_feed(&rd, big, i);
    }

    dt = unit_seconds() - t0;
    free(big);

    ok(rc == -1 && i == n + 1, "headers past 64 KiB: reading stops there");
    ok(dt < 0.5, "65536 reads of one byte take %.3f s (each looks only at "
       "its new bytes)", dt);
}


void
test_webhook(void)
{
    test_signature();
    test_urls();
    test_answers();
    test_answer_interim();
    test_answer_chunked();
    test_answer_trickled();
}
