/*
 * build/unit_tests: the nginx-free core, tested without nginx.
 * Prints TAP; the exit status is nonzero when a test failed.
 */

#define TAP_MAIN
#include "tap.h"
#include "unit.h"


void
unit_hex(const void *in, size_t len, char *out)
{
    static const char     digits[] = "0123456789abcdef";
    const unsigned char  *p = in;
    size_t                i;

    for (i = 0; i < len; i++) {
        out[i * 2] = digits[p[i] >> 4];
        out[i * 2 + 1] = digits[p[i] & 0xf];
    }

    out[len * 2] = '\0';
}


int
main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);

    test_sha256();
    test_hmac();
    test_base64();
    test_time();
    test_util_misc();

    test_cui();
    test_iban();
    test_email();
    test_currency();
    test_fold();
    test_utf8_chars();

    test_route_match();
    test_methods_string();
    test_idem_key_parse();

    test_api();

    return done_testing();
}
