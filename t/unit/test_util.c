/*
 * sales_util.c: SHA-256, HMAC-SHA256, base64, time, small helpers.
 */

#include "tap.h"
#include "unit.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sales.h"


static const char *
sha_hex(const void *data, size_t len)
{
    static char  hex[SALES_SHA256_LEN * 2 + 1];
    uint8_t      d[SALES_SHA256_LEN];

    sales_sha256(data, len, d);
    unit_hex(d, sizeof(d), hex);
    return hex;
}


static const char *
hmac_hex(const void *key, size_t key_len, const void *msg, size_t msg_len)
{
    static char  hex[SALES_SHA256_LEN * 2 + 1];
    uint8_t      d[SALES_SHA256_LEN];

    sales_hmac_sha256(key, key_len, msg, msg_len, d);
    unit_hex(d, sizeof(d), hex);
    return hex;
}


void
test_sha256(void)
{
    static const char  m448[] =
        "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    static const char  m896[] =
        "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
        "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    static const struct {
        size_t       n;
        const char  *hex;
    } as[] = {
        { 55,
          "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318" },
        { 56,
          "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a" },
        { 63,
          "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34" },
        { 64,
          "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb" },
        { 65,
          "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0" },
        { 119,
          "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb" },
        { 120,
          "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c" },
    };
    static const size_t  chunks[] = { 1, 2, 3, 5, 7, 13, 31, 55, 56, 63, 64,
                                      65, 127, 129, 1000, 4093 };
    static const char    million[] =
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";

    uint8_t          pat[200], one[SALES_SHA256_LEN], inc[SALES_SHA256_LEN];
    char            *big, hex[SALES_SHA256_LEN * 2 + 1];
    sales_sha256_t   s;
    size_t           i, c, off, n, step;

    is_str(sha_hex("", 0),
           "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
           "sha256 of the empty string");
    is_str(sha_hex("abc", 3),
           "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
           "sha256 of \"abc\"");
    is_str(sha_hex(m448, strlen(m448)),
           "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
           "sha256 of the 448-bit NIST message");
    is_str(sha_hex(m896, strlen(m896)),
           "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1",
           "sha256 of the 896-bit NIST message");

    big = malloc(1000000);
    if (big == NULL) {
        ok(0, "malloc for the million a's");
        return;
    }
    memset(big, 'a', 1000000);

    /* Lengths around the padding boundaries (55/56, 63/64, 119/120). */
    for (i = 0; i < sizeof(as) / sizeof(as[0]); i++) {
        is_str(sha_hex(big, as[i].n), as[i].hex, "sha256 of %zu 'a'",
               as[i].n);
    }

    is_str(sha_hex(big, 1000000), million,
           "sha256 of 1,000,000 'a' in one call");

    /* The million a's fed in varying odd chunks. */
    sales_sha256_init(&s);
    for (off = 0, step = 0; off < 1000000; off += n, step++) {
        n = chunks[step % (sizeof(chunks) / sizeof(chunks[0]))];
        if (n > 1000000 - off) {
            n = 1000000 - off;
        }
        sales_sha256_update(&s, big + off, n);
    }
    sales_sha256_final(&s, inc);
    unit_hex(inc, sizeof(inc), hex);
    is_str(hex, million, "sha256 of 1,000,000 'a' in mixed chunk sizes");

    free(big);

    for (i = 0; i < sizeof(pat); i++) {
        pat[i] = (uint8_t) (i * 37 + 11);
    }

    is_str(sha_hex(pat, sizeof(pat)),
           "5e48d64839a8bff5e2471507af6a49f9990817df437857f4a2007df41266e1b5",
           "sha256 of a 200-byte binary pattern");

    sales_sha256(pat, sizeof(pat), one);

    for (i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
        c = chunks[i];

        sales_sha256_init(&s);
        sales_sha256_update(&s, "", 0);
        for (off = 0; off < sizeof(pat); off += n) {
            n = c < sizeof(pat) - off ? c : sizeof(pat) - off;
            sales_sha256_update(&s, pat + off, n);
            sales_sha256_update(&s, pat, 0);
        }
        sales_sha256_final(&s, inc);

        ok(memcmp(one, inc, sizeof(one)) == 0,
           "sha256 in chunks of %zu equals one-shot", c);
    }

    /* Every split point of the 200 bytes into two updates. */
    {
        size_t  bad = 0;

        for (i = 0; i <= sizeof(pat); i++) {
            sales_sha256_init(&s);
            sales_sha256_update(&s, pat, i);
            sales_sha256_update(&s, pat + i, sizeof(pat) - i);
            sales_sha256_final(&s, inc);
            if (memcmp(one, inc, sizeof(one)) != 0) {
                bad++;
            }
        }

        is_int(bad, 0, "sha256 split at each of 201 points equals one-shot");
    }
}


void
test_hmac(void)
{
    uint8_t   key[131], data[50], secret[64], mac[SALES_SHA256_LEN];
    char      b64[64];
    long      n;
    size_t    len;

    static const char  whsec[] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    static const char  whmsg[] =
        "msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{\"test\": 2432232314}";
    static const char  tc6[] =
        "Test Using Larger Than Block-Size Key - Hash Key First";
    static const char  tc7[] =
        "This is a test using a larger than block-size key and a larger "
        "than block-size data. The key needs to be hashed before being "
        "used by the HMAC algorithm.";

    /* RFC 4231 test case 1 */
    memset(key, 0x0b, 20);
    is_str(hmac_hex(key, 20, "Hi There", 8),
           "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
           "HMAC-SHA256 RFC 4231 test case 1");

    /* test case 2: a short key */
    is_str(hmac_hex("Jefe", 4, "what do ya want for nothing?", 28),
           "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
           "HMAC-SHA256 RFC 4231 test case 2");

    /* test case 3 */
    memset(key, 0xaa, 20);
    memset(data, 0xdd, 50);
    is_str(hmac_hex(key, 20, data, 50),
           "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
           "HMAC-SHA256 RFC 4231 test case 3");

    /* test case 6: a key longer than the block is hashed first */
    memset(key, 0xaa, 131);
    is_str(hmac_hex(key, 131, tc6, strlen(tc6)),
           "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
           "HMAC-SHA256 RFC 4231 test case 6 (131-byte key)");

    /* test case 7: long key and long data */
    is_str(hmac_hex(key, 131, tc7, strlen(tc7)),
           "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
           "HMAC-SHA256 RFC 4231 test case 7");

    /* Keys of exactly one block, and one byte more. */
    memset(key, 'k', 65);
    is_str(hmac_hex(key, 64, "m", 1),
           "3b7a8d453e76edb519238a515105a57508d0f169f480ebeee120a9e7803289fa",
           "HMAC-SHA256 with a 64-byte key (used as is)");
    is_str(hmac_hex(key, 65, "m", 1),
           "c2d7d4c2256ddb097409ec0c67e1d58fa1a007fc6932cac0d892a525d08af7cc",
           "HMAC-SHA256 with a 65-byte key (hashed)");

    /* Standard Webhooks: the secret is base64 after "whsec_". */
    n = sales_base64_decode(whsec + 6, strlen(whsec) - 6, secret,
                            sizeof(secret));
    is_int(n, 24, "webhook secret decodes to 24 bytes");

    if (n > 0) {
        sales_hmac_sha256(secret, (size_t) n, whmsg, strlen(whmsg), mac);
        len = sales_base64_encode(mac, sizeof(mac), b64);
        is_int(len, 44, "webhook signature is 44 base64 characters");
        is_str(b64, "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
               "Standard Webhooks signature vector");
    } else {
        ok(0, "webhook signature is 44 base64 characters");
        ok(0, "Standard Webhooks signature vector");
    }
}


static int
b64_decodes_to(const char *in, const char *expected)
{
    uint8_t  out[128];
    long     n;

    n = sales_base64_decode(in, strlen(in), out, sizeof(out));
    return n == (long) strlen(expected) && memcmp(out, expected, (size_t) n)
                                           == 0;
}


void
test_base64(void)
{
    static const struct {
        const char  *plain;
        const char  *std;
        const char  *url;
    } rfc[] = {
        { "", "", "" },
        { "f", "Zg==", "Zg" },
        { "fo", "Zm8=", "Zm8" },
        { "foo", "Zm9v", "Zm9v" },
        { "foob", "Zm9vYg==", "Zm9vYg" },
        { "fooba", "Zm9vYmE=", "Zm9vYmE" },
        { "foobar", "Zm9vYmFy", "Zm9vYmFy" },
    };
    static const char *const  invalid[] = {
        "A", "Zm9vY", "Zm9v!", "Zm 9v", "Zm=9v", "Zm9v\n", "Z*==", "====A",
        "Zm9v YmFy", "\xc3\xa9\xc3\xa9"
    };

    uint8_t  in[80], out[80];
    char     enc[128], url[128];
    size_t   i, len, n;
    long     d;
    int      bad;

    for (i = 0; i < sizeof(rfc) / sizeof(rfc[0]); i++) {
        len = strlen(rfc[i].plain);

        memset(enc, 'X', sizeof(enc));
        n = sales_base64_encode((const uint8_t *) rfc[i].plain, len, enc);
        is_str(enc, rfc[i].std, "base64 of \"%s\"", rfc[i].plain);
        is_int(n, strlen(rfc[i].std), "base64 of \"%s\": length",
               rfc[i].plain);

        memset(url, 'X', sizeof(url));
        n = sales_base64url_encode((const uint8_t *) rfc[i].plain, len, url);
        is_str(url, rfc[i].url, "base64url of \"%s\"", rfc[i].plain);
        is_int(n, strlen(rfc[i].url), "base64url of \"%s\": length",
               rfc[i].plain);

        ok(b64_decodes_to(rfc[i].std, rfc[i].plain),
           "decode \"%s\" (padded)", rfc[i].std);
        ok(b64_decodes_to(rfc[i].url, rfc[i].plain),
           "decode \"%s\" (unpadded)", rfc[i].url);
    }

    is_int(sales_base64_len(0), 0, "base64_len(0)");
    is_int(sales_base64_len(1), 4, "base64_len(1)");
    is_int(sales_base64_len(3), 4, "base64_len(3)");
    is_int(sales_base64_len(4), 8, "base64_len(4)");
    is_int(sales_base64_len(5), 8, "base64_len(5)");
    is_int(sales_base64_len(32), 44, "base64_len(32)");

    /* The two alphabets differ in 62 and 63. */
    in[0] = 0xfb; in[1] = 0xff; in[2] = 0xfe;
    sales_base64_encode(in, 2, enc);
    is_str(enc, "+/8=", "base64 uses + and /");
    sales_base64url_encode(in, 3, url);
    is_str(url, "-__-", "base64url uses - and _");
    d = sales_base64_decode("-__-", 4, out, sizeof(out));
    ok(d == 3 && out[0] == 0xfb && out[1] == 0xff && out[2] == 0xfe,
       "decode accepts the url alphabet");
    d = sales_base64_decode("+/8=", 4, out, sizeof(out));
    ok(d == 2 && out[0] == 0xfb && out[1] == 0xff,
       "decode accepts the standard alphabet");

    /* Round trips of binary data: lengths 0..5 with edge bytes, then
     * 0..64 of a pattern. */
    {
        static const uint8_t  fills[] = { 0x00, 0xff, 0xfb, 0x3e, 0x80 };
        size_t                f;

        for (len = 0; len <= 5; len++) {
            bad = 0;
            for (f = 0; f < sizeof(fills); f++) {
                memset(in, fills[f], len);
                if (len > 1) {
                    in[len - 1] ^= 0x5a;
                }

                n = sales_base64_encode(in, len, enc);
                if (n != sales_base64_len(len) || enc[n] != '\0') {
                    bad++;
                }
                d = sales_base64_decode(enc, n, out, sizeof(out));
                if (d != (long) len || memcmp(in, out, len) != 0) {
                    bad++;
                }

                n = sales_base64url_encode(in, len, url);
                if (n != (len * 4 + 2) / 3 || url[n] != '\0'
                    || strchr(url, '=') || strchr(url, '+')
                    || strchr(url, '/'))
                {
                    bad++;
                }
                d = sales_base64_decode(url, n, out, sizeof(out));
                if (d != (long) len || memcmp(in, out, len) != 0) {
                    bad++;
                }
            }
            is_int(bad, 0, "base64 and base64url round trip, length %zu",
                   len);
        }
    }

    bad = 0;
    for (len = 0; len <= 64; len++) {
        for (i = 0; i < len; i++) {
            in[i] = (uint8_t) (i * 73 + len * 29 + 1);
        }
        n = sales_base64_encode(in, len, enc);
        d = sales_base64_decode(enc, n, out, len);
        if (d != (long) len || memcmp(in, out, len) != 0) {
            bad++;
        }
        n = sales_base64url_encode(in, len, url);
        d = sales_base64_decode(url, n, out, len);
        if (d != (long) len || memcmp(in, out, len) != 0) {
            bad++;
        }
    }
    is_int(bad, 0, "round trips of lengths 0..64 into exact-size buffers");

    for (i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        is_int(sales_base64_decode(invalid[i], strlen(invalid[i]), out,
                                   sizeof(out)),
               -1, "invalid base64 \"%s\" is refused", invalid[i]);
    }

    /* The length argument bounds the input: "Zg==" then junk. */
    d = sales_base64_decode("Zg==!!", 4, out, sizeof(out));
    ok(d == 1 && out[0] == 'f', "decode reads only len characters");

    /* Output too small: -1 and nothing written past out_size. */
    memset(out, 0, sizeof(out));
    d = sales_base64_decode("Zm9vYmFy", 8, out, 5);
    is_int(d, -1, "decode of 6 bytes into 5 answers -1");
    ok(out[5] == 0 && out[6] == 0, "decode wrote nothing past out_size");
    is_int(sales_base64_decode("Zm9vYmFy", 8, out, 6), 6,
           "decode of 6 bytes into exactly 6 works");
    is_int(sales_base64_decode("Zg==", 4, out, 0), -1,
           "decode of 1 byte into 0 answers -1");
    is_int(sales_base64_decode("", 0, out, 0), 0,
           "decode of nothing into 0 answers 0");
}


static int64_t
parse_ok(const char *s, int *rc)
{
    int64_t  ms = -7;

    *rc = sales_time_parse(s, strlen(s), &ms);
    return ms;
}


void
test_time(void)
{
    static const char *const  bad[] = {
        "", "garbage", "2026-12-03", "2026-12-03T18:22:44",
        "2026-12-03 18:22:44Z", "2026-12-03T18:22:44ZZ",
        "2026-12-03T18:22:44.Z", "2026-1x-03T18:22:44Z",
        "2026/12/03T18:22:44Z", "2026-12-03T18:22:44+01:00",
        "2026-12-03T18:22:44+00:0", "2026-12-03T18:22:44 Z",
        "2026-00-10T00:00:00Z", "2026-12-00T00:00:00Z",
        "2026-12-32T00:00:00Z", "2026-04-31T00:00:00Z",
        "2026-12-03T24:00:00Z", "2026-12-03T23:60:00Z",
        "2026-12-03T23:59:60Z", "2100-02-29T00:00:00Z",
        "1969-12-31T23:59:59Z", "+026-12-03T18:22:44Z",
        "2026-12-03T18:22:44.12a4Z"
    };
    char      out[32];
    int64_t   ms;
    int       rc;
    size_t    i;

    sales_time_format(0, out);
    is_str(out, "1970-01-01T00:00:00Z", "format: the epoch");
    sales_time_format(1796322164000LL, out);
    is_str(out, "2026-12-03T18:22:44Z", "format: 2026-12-03T18:22:44Z");
    sales_time_format(1796322164123LL, out);
    is_str(out, "2026-12-03T18:22:44Z", "format: whole seconds (.123 cut)");
    sales_time_format(1796322164999LL, out);
    is_str(out, "2026-12-03T18:22:44Z", "format: .999 is not rounded up");
    sales_time_format(1709164800000LL, out);
    is_str(out, "2024-02-29T00:00:00Z", "format: leap day");
    sales_time_format(951868800000LL - 1, out);
    is_str(out, "2000-02-29T23:59:59Z", "format: last ms of 2000-02-29");
    sales_time_format(253402300799000LL, out);
    is_str(out, "9999-12-31T23:59:59Z", "format: 9999-12-31T23:59:59Z");
    sales_time_format(-1, out);
    is_str(out, "1969-12-31T23:59:59Z", "format: one ms before the epoch");
    sales_time_format(-86400000LL, out);
    is_str(out, "1969-12-31T00:00:00Z", "format: one day before the epoch");

    ms = parse_ok("1970-01-01T00:00:00Z", &rc);
    ok(rc == 0 && ms == 0, "parse: the epoch is 0");
    ms = parse_ok("2026-12-03T18:22:44Z", &rc);
    is_int(rc, 0, "parse: 2026-12-03T18:22:44Z accepted");
    is_int(ms, 1796322164000LL, "parse: 2026-12-03T18:22:44Z value");
    ms = parse_ok("2026-12-03T18:22:44.123Z", &rc);
    ok(rc == 0 && ms == 1796322164123LL, "parse: .123 milliseconds");
    ms = parse_ok("2026-12-03T18:22:44.5Z", &rc);
    ok(rc == 0 && ms == 1796322164500LL, "parse: .5 is 500 ms");
    ms = parse_ok("2026-12-03T18:22:44.05Z", &rc);
    ok(rc == 0 && ms == 1796322164050LL, "parse: .05 is 50 ms");
    ms = parse_ok("2026-12-03T18:22:44+00:00", &rc);
    ok(rc == 0 && ms == 1796322164000LL, "parse: +00:00 accepted");
    ms = parse_ok("2026-12-03T18:22:44.250+00:00", &rc);
    ok(rc == 0 && ms == 1796322164250LL, "parse: ms with +00:00");
    ms = parse_ok("2024-02-29T00:00:00Z", &rc);
    ok(rc == 0 && ms == 1709164800000LL, "parse: leap day 2024-02-29");
    ms = parse_ok("2000-02-29T12:00:00Z", &rc);
    ok(rc == 0 && ms == 951868800000LL - 12 * 3600000LL,
       "parse: leap day 2000-02-29 (divisible by 400)");
    ms = parse_ok("2025-02-29T00:00:00Z", &rc);
    ok(rc != 0, "parse: 2025-02-29 rejected");
    ms = parse_ok("2026-13-01T00:00:00Z", &rc);
    ok(rc != 0, "parse: month 13 rejected");
    ms = parse_ok("2026-12-31T23:59:59.999Z", &rc);
    ok(rc == 0 && ms == 1798761599999LL, "parse: last ms of 2026");

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ms = 42;
        rc = sales_time_parse(bad[i], strlen(bad[i]), &ms);
        ok(rc != 0 && ms == 42, "parse rejects \"%s\" and leaves *ms",
           bad[i]);
    }

    /* len bounds the text. */
    ms = 0;
    rc = sales_time_parse("2026-12-03T18:22:44Zjunk", 20, &ms);
    ok(rc == 0 && ms == 1796322164000LL, "parse reads only len characters");
    rc = sales_time_parse("2026-12-03T18:22:44Z", 19, &ms);
    ok(rc != 0, "parse of a 19-character prefix fails");

    is_int(sales_days_from_civil(1970, 1, 1), 0, "days_from_civil epoch");
    is_int(sales_days_from_civil(2000, 3, 1), 11017,
           "days_from_civil 2000-03-01");
    is_int(sales_days_from_civil(2024, 2, 29), 19782,
           "days_from_civil 2024-02-29");
    is_int(sales_days_from_civil(1969, 12, 31), -1,
           "days_from_civil 1969-12-31");

    /* Round trips, checked against gmtime_r too. format shows whole
     * seconds, so parse(format(t)) is t cut to the second. */
    {
        int64_t  step = 9876543211LL, v;
        long     n = 0, bad_fmt = 0, bad_parse = 0;

        for (v = 0; v < 253402300800000LL; v += step, n++) {
            int64_t    back = -1;
            char       want[40];
            time_t     secs = (time_t) (v / 1000);
            struct tm  tm;

            sales_time_format(v, out);

            gmtime_r(&secs, &tm);
            strftime(want, sizeof(want), "%Y-%m-%dT%H:%M:%SZ", &tm);

            if (strcmp(out, want) != 0) {
                if (bad_fmt++ == 0) {
                    diag("format(%lld) = %s, gmtime says %s", (long long) v,
                         out, want);
                }
            }

            if (sales_time_parse(out, strlen(out), &back) != 0
                || back != v - v % 1000)
            {
                if (bad_parse++ == 0) {
                    diag("parse(%s) = %lld, wanted %lld", out,
                         (long long) back, (long long) (v - v % 1000));
                }
            }
        }

        is_int(bad_fmt, 0, "format agrees with gmtime on %ld times", n);
        is_int(bad_parse, 0, "parse(format(t)) == t cut to the second, on "
               "%ld times", n);

        /* Every day at a varying second of the day, 1970 to 2200. */
        bad_parse = 0;
        for (v = 0, n = 0; v < 7258118400000LL; v += 86400000LL, n++) {
            int64_t  t = v + (n * 7919 % 86400) * 1000, back = -1;

            sales_time_format(t, out);
            if (sales_time_parse(out, strlen(out), &back) != 0 || back != t) {
                bad_parse++;
            }
        }
        is_int(bad_parse, 0, "round trip on each of %ld days", n);
    }
}


void
test_util_misc(void)
{
    static const uint8_t  bytes[] = { 0x00, 0x01, 0xab, 0xff, 0x7f };
    uint8_t               r1[32], r2[32];
    char                  hex[16];
    sales_buf_t           b = {0};
    int64_t               now;
    int                   i;

    memset(hex, 'X', sizeof(hex));
    sales_hex(bytes, sizeof(bytes), hex);
    is_str(hex, "0001abff7f", "sales_hex");
    sales_hex(bytes, 0, hex);
    is_str(hex, "", "sales_hex of nothing");

    ok(sales_ct_equal("abcd", "abcd", 4), "ct_equal: equal");
    ok(!sales_ct_equal("abcd", "abce", 4), "ct_equal: last byte differs");
    ok(!sales_ct_equal("\x80", "\x00", 1), "ct_equal: high bit differs");
    ok(sales_ct_equal("a", "b", 0), "ct_equal: empty is equal");

    ok(sales_random(r1, sizeof(r1)) == 0 && sales_random(r2, sizeof(r2)) == 0
       && memcmp(r1, r2, sizeof(r1)) != 0, "sales_random gives fresh bytes");

    now = sales_now_ms();
    ok(now > 1700000000000LL && now < 4102444800000LL,
       "sales_now_ms is a plausible Unix time in ms");

    sales_buf_adds(&b, "abc");
    sales_buf_add(&b, "defgh", 2);
    sales_buf_printf(&b, "-%d-%s", 42, "x");
    is_str(b.data, "abcde-42-x", "sales_buf add/adds/printf");
    is_int(b.len, 10, "sales_buf length");

    for (i = 0; i < 1000; i++) {
        sales_buf_printf(&b, "%04d", i);
    }
    ok(!b.failed && b.len == 4010 && strlen(b.data) == 4010
       && memcmp(b.data + 4006, "0999", 4) == 0,
       "sales_buf grows past its first allocation");
    sales_buf_free(&b);
    ok(b.data == NULL && b.len == 0, "sales_buf_free resets");
}
