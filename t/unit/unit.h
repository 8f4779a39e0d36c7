/*
 * The test groups of build/unit_tests; main.c runs them in order.
 */

#ifndef SALES_UNIT_H
#define SALES_UNIT_H

#include <stddef.h>
#include <stdint.h>

void test_sha256(void);
void test_hmac(void);
void test_base64(void);
void test_time(void);
void test_util_misc(void);
void test_rounding(void);
void test_dates(void);
void test_utf8_clean(void);

void test_cui(void);
void test_iban(void);
void test_email(void);
void test_currency(void);
void test_fold(void);
void test_utf8_chars(void);

void test_route_match(void);
void test_methods_string(void);
void test_idem_key_parse(void);

void test_api(void);
void test_view_tokens(void);
void test_document(void);
void test_money(void);
void test_migrate(void);
void test_webhook(void);
void test_contract_periods(void);
void test_contract_routes(void);
void test_webhook_cycle(void);
void test_commission_periods(void);
void test_commission_routes(void);

/* Lower-case hex of a byte string, for comparing digests; out needs
 * 2 * len + 1 bytes. */
void unit_hex(const void *in, size_t len, char *out);

#endif
