/*
 * sales_check.c and sales_resource.c: the pure validators.
 */

#include "tap.h"
#include "unit.h"

#include <stdlib.h>
#include <string.h>

#include "sales_resource.h"


#define CUI(s)    sales_cui_valid((s), strlen(s))
#define IBAN(s)   sales_iban_valid((s), strlen(s))
#define EMAIL(s)  sales_email_valid((s), strlen(s))
#define CUR(s)    sales_currency_known((s), strlen(s))


void
test_cui(void)
{
    /* Check digits worked out by hand: weights 7 5 3 2 1 7 5 3 2,
     * right-aligned over the digits before the check digit,
     * (sum * 10) mod 11, 10 read as 0. */
    static const char *const  valid[] = {
        "18547290",      /* sum 111 -> 1110 mod 11 = 10 -> 0 */
        "14399840",      /* sum 154 -> 0 */
        "1234567897",    /* 10 digits: sum 158 -> 7 */
        "19",            /* 2 digits: 1*2 = 2 -> 20 mod 11 = 9 */
    };
    static const char *const  invalid[] = {
        "18547291",      /* wrong check digit */
        "18547299",
        "14399841",
        "1234567890",
        "1",             /* one digit */
        "",
        "12345678901",   /* eleven digits */
        "1854729A",      /* a letter */
        "RO18547290",    /* the prefix is the caller's business */
        "1854 7290",
        "018547290",     /* leading zero (the digits would check) */
        "-18547290",
        "18",
    };
    size_t  i;

    for (i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        ok(CUI(valid[i]), "CUI %s is valid", valid[i]);
    }

    for (i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        ok(!CUI(invalid[i]), "CUI \"%s\" is invalid", invalid[i]);
    }

    ok(sales_cui_valid("185472901", 8), "CUI: only len digits are read");
    ok(!sales_cui_valid("14399840", 7), "CUI: 1439984 (a prefix of a "
       "valid one) is invalid");
}


void
test_iban(void)
{
    static const char *const  valid[] = {
        "RO49AAAA1B31007593840000",
        "GB82WEST12345698765432",
        "DE89370400440532013000",
    };
    static const char *const  invalid[] = {
        "RO49AAAA1B31007593840001",     /* a changed digit */
        "GB82WEST12345698765433",
        "DE89370400440532013001",
        "DE98370400440532013000",       /* swapped check digits */
        "RO49AAAA1B3100759384000",      /* RO with 23 characters */
        "RO49AAAA1B310075938400000",    /* RO with 25 characters */
        "RO23AAAA1B3100759384000",      /* 23, though mod 97 holds */
        "RO18AAAA1B310075938400000",    /* 25, though mod 97 holds */
        "gb82west12345698765432",       /* lower case */
        "GB82west12345698765432",
        "ro49AAAA1B31007593840000",
        "GB82 WEST 1234 5698 7654 32",  /* spaces are the caller's job */
        "GB82WEST1234569876543!",
        "",
        "GB82",
        "GBXXWEST12345698765432",
        "1282WEST12345698765432",
    };
    size_t  i;

    for (i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        ok(IBAN(valid[i]), "IBAN %s is valid", valid[i]);
    }

    for (i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        ok(!IBAN(invalid[i]), "IBAN \"%s\" is invalid", invalid[i]);
    }
}


void
test_email(void)
{
    static const char *const  valid[] = {
        "office@exemplu.ro",
        "a@b.co",
        "first.last+tag@sub.example.com",
        "x_y-z@mail.example-domain.org",
    };
    static const char *const  invalid[] = {
        "", "ab", "noat.example.com", "a@b", "a@@b.ro", "a@b@c.ro", "@b.ro",
        "a@.ro", "a@b.", "a@b..ro", "a b@c.ro", "a<b@c.ro", "a\"b@c.ro",
        "a@b,c.ro", "a@[1.2.3.4]", "a@b\x7f.ro", "a@b.ro\n", "a@",
    };
    char    buf[300];
    size_t  i;

    for (i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        ok(EMAIL(valid[i]), "e-mail %s is valid", valid[i]);
    }

    for (i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        ok(!EMAIL(invalid[i]), "e-mail \"%s\" is invalid", invalid[i]);
    }

    ok(!sales_email_valid("a\0b@c.ro", 8), "e-mail with a NUL is invalid");
    ok(sales_email_valid("a@b.rox", 6), "e-mail: only len bytes are read");

    /* 64 characters before the @ is the limit. */
    memset(buf, 'l', 64);
    strcpy(buf + 64, "@example.ro");
    ok(EMAIL(buf), "e-mail with a 64-character local part is valid");
    memset(buf, 'l', 65);
    strcpy(buf + 65, "@example.ro");
    ok(!EMAIL(buf), "e-mail with a 65-character local part is invalid");

    /* 254 characters in all is the limit. */
    memset(buf, 'l', 64);
    buf[64] = '@';
    memset(buf + 65, 'd', 185);
    strcpy(buf + 250, ".com");
    is_int(strlen(buf), 254, "the long address has 254 characters");
    ok(EMAIL(buf), "e-mail of 254 characters is valid");
    memmove(buf + 66, buf + 65, strlen(buf + 65) + 1);
    ok(!EMAIL(buf), "e-mail of 255 characters is invalid");
}


void
test_currency(void)
{
    static const char *const  known[] = { "RON", "EUR", "USD", "GBP", "CHF",
                                          "AED", "ZWG", "HUF", "MDL" };
    static const char *const  unknown[] = { "XYZ", "ron", "Ron", "RONX",
                                            "RO", "", "EU R", "ON ", "N R",
                                            "AE", "ZW", "EUR ", " EUR" };
    size_t  i;

    for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        ok(CUR(known[i]), "currency %s is known", known[i]);
    }

    for (i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        ok(!CUR(unknown[i]), "currency \"%s\" is unknown", unknown[i]);
    }

    ok(sales_currency_known("RONX", 3), "currency: only len bytes are read");
}


static void
fold_is(const char *in, const char *expected, const char *name)
{
    char  *out = sales_fold(in, strlen(in));

    ok(out != NULL, "fold %s: allocated", name);
    is_str(out, expected, "fold %s", name);
    free(out);
}


void
test_fold(void)
{
    char  *out;

    /* \xc8\x98 is S-comma, \xc5\xa2 T-cedilla, \xc4\x83 a-breve,
     * \xc3\x8e I-circumflex, \xc5\xa3 t-cedilla. */
    fold_is("\xc8\x98TEFAN \xc5\xa2" "ar\xc4\x83 \xc3\x8engh" "e\xc5\xa3"
            "at\xc4\x83", "stefan tara inghetata",
            "\"STEFAN Tara Inghetata\" with diacritics");

    /* Lower case a-breve a-circ i-circ s-comma s-cedilla t-comma
     * t-cedilla, then the capitals. */
    fold_is("\xc4\x83\xc3\xa2\xc3\xae\xc8\x99\xc5\x9f\xc8\x9b\xc5\xa3",
            "aaisstt", "every lower-case Romanian letter");
    fold_is("\xc4\x82\xc3\x82\xc3\x8e\xc8\x98\xc5\x9e\xc8\x9a\xc5\xa2",
            "aaisstt", "every capital Romanian letter");
    fold_is("Exemplu SRL 2024", "exemplu srl 2024", "plain ASCII");
    fold_is("", "", "the empty string");
    fold_is("caf\xc3\xa9", "caf\xc3\xa9", "keeps other UTF-8 intact");
    fold_is("%_\\", "%_\\", "keeps punctuation");

    out = sales_fold("ABCDEF", 3);
    is_str(out, "abc", "fold reads only len bytes");
    free(out);

    /* A lone lead byte at the end is not folded with what follows. */
    out = sales_fold("A\xc8\x98", 2);
    ok(out && strlen(out) == 2 && out[0] == 'a'
       && (unsigned char) out[1] == 0xc8,
       "fold does not read past len");
    free(out);
}


void
test_utf8_chars(void)
{
    is_int(sales_utf8_chars("", 0), 0, "utf8_chars of nothing");
    is_int(sales_utf8_chars("abc", 3), 3, "utf8_chars of abc");
    is_int(sales_utf8_chars("\xc8\x99", 2), 1, "utf8_chars of s-comma");
    is_int(sales_utf8_chars("\xc8\x98TEFAN", 7), 6, "utf8_chars of STEFAN");
    is_int(sales_utf8_chars("\xe2\x82\xac", 3), 1, "utf8_chars of the euro");
    is_int(sales_utf8_chars("\xf0\x9f\x98\x80", 4), 1,
           "utf8_chars of a 4-byte character");
    is_int(sales_utf8_chars("a\xc8\x99\xe2\x82\xac\xf0\x9f\x98\x80", 10), 4,
           "utf8_chars of a mix of 1 to 4 byte characters");
    is_int(sales_utf8_chars("abcdef", 2), 2, "utf8_chars reads only len");
}
