/*
 * build/unit_tests: the nginx-free core, tested without nginx.
 * Prints TAP; the exit status is nonzero when a test failed.
 */

#define TAP_MAIN
#include "tap.h"
#include "unit.h"
#include "sales_util.h"


void
unit_hex(const void *in, size_t len, char *out)
{
    sales_hex(in, len, out);
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
    test_rounding();
    test_dates();
    test_utf8_clean();
    test_view_tokens();
    test_document();
    test_money();
    test_migrate();
    test_webhook();
    test_webhook_cycle();

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
    test_contract_periods();
    test_contract_routes();
    test_commission_periods();
    test_commission_routes();

    return done_testing();
}
