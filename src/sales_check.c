/*
 * Field checks shared by resources: e-mail, phone, currency, country,
 * IBAN, and the pure validators behind them.
 */

#include "sales_resource.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>


/* ISO 4217 codes in current use. */
static const char currencies[] =
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND "
    "BOB BRL BSD BTN BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF "
    "DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD "
    "HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW "
    "KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR "
    "MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN "
    "PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN "
    "SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND "
    "VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG";


int
sales_currency_known(const char *s, size_t len)
{
    const char  *p;

    if (len != 3) {
        return 0;
    }

    for (p = currencies; *p; p += 4) {
        if (memcmp(p, s, 3) == 0) {
            return 1;
        }
        if (p[3] == '\0') {
            break;
        }
    }

    return 0;
}


int
sales_email_valid(const char *s, size_t len)
{
    const char  *at = NULL;
    size_t       i, local, dots = 0;

    if (len < 3 || len > 254) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char) s[i];

        if (c <= ' ' || c == '"' || c == '(' || c == ')' || c == ','
            || c == ':' || c == ';' || c == '<' || c == '>' || c == '['
            || c == '\\' || c == ']' || c == 0x7f)
        {
            return 0;
        }

        if (c == '@') {
            if (at) {
                return 0;
            }
            at = s + i;
        }
    }

    if (at == NULL) {
        return 0;
    }

    local = (size_t) (at - s);
    if (local == 0 || local > 64) {
        return 0;
    }

    /* The domain: labels separated by single dots, at least two labels. */
    for (i = local + 1; i < len; i++) {
        if (s[i] == '.') {
            if (i == local + 1 || i == len - 1 || s[i - 1] == '.') {
                return 0;
            }
            dots++;
        }
    }

    return dots > 0 && len - local - 1 >= 3;
}


int
sales_iban_valid(const char *iban, size_t len)
{
    unsigned  rem = 0;
    size_t    i, k;

    if (len < 15 || len > 34 || !isupper((unsigned char) iban[0])
        || !isupper((unsigned char) iban[1])
        || !isdigit((unsigned char) iban[2])
        || !isdigit((unsigned char) iban[3]))
    {
        return 0;
    }

    if (memcmp(iban, "RO", 2) == 0 && len != 24) {
        return 0;
    }

    /* Move the first four characters to the end; letters become 10..35;
     * the whole number mod 97 must be 1 (ISO 13616). */
    for (k = 0; k < len; k++) {
        unsigned char  c = (unsigned char) iban[(k + 4) % len];

        if (isdigit(c)) {
            rem = (rem * 10 + (c - '0')) % 97;

        } else if (isupper(c)) {
            unsigned  v = c - 'A' + 10;

            rem = (rem * 100 + v) % 97;

        } else {
            return 0;
        }
    }

    (void) i;
    return rem == 1;
}


/*
 * Romanian CUI/CIF: 2 to 10 digits, the last a check digit. The others,
 * right-aligned, are weighted 7 5 3 2 1 7 5 3 2; (sum * 10) mod 11, with
 * 10 read as 0, must equal the check digit.
 */
int
sales_cui_valid(const char *digits, size_t len)
{
    static const int  weights[9] = {7, 5, 3, 2, 1, 7, 5, 3, 2};
    size_t            i, body;
    int               sum = 0, check;

    if (len < 2 || len > 10) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!isdigit((unsigned char) digits[i])) {
            return 0;
        }
    }

    if (digits[0] == '0') {
        return 0;
    }

    body = len - 1;

    for (i = 0; i < body; i++) {
        sum += (digits[i] - '0') * weights[9 - body + i];
    }

    check = sum * 10 % 11;
    if (check == 10) {
        check = 0;
    }

    return check == digits[body] - '0';
}


/* Lower-case ASCII; ă â î ș ş ț ţ (and capitals) become a a i s s t t. */
char *
sales_fold(const char *s, size_t len)
{
    char    *out, *o;
    size_t   i;

    out = malloc(len + 1);
    if (out == NULL) {
        return NULL;
    }

    o = out;

    for (i = 0; i < len; i++) {
        unsigned char  c = (unsigned char) s[i];
        unsigned char  d = i + 1 < len ? (unsigned char) s[i + 1] : 0;

        if (c == 0xc4 && (d == 0x82 || d == 0x83)) {          /* Ă ă */
            *o++ = 'a'; i++; continue;
        }
        if (c == 0xc3 && (d == 0x82 || d == 0xa2)) {          /* Â â */
            *o++ = 'a'; i++; continue;
        }
        if (c == 0xc3 && (d == 0x8e || d == 0xae)) {          /* Î î */
            *o++ = 'i'; i++; continue;
        }
        if (c == 0xc8 && (d == 0x98 || d == 0x99)) {          /* Ș ș */
            *o++ = 's'; i++; continue;
        }
        if (c == 0xc5 && (d == 0x9e || d == 0x9f)) {          /* Ş ş */
            *o++ = 's'; i++; continue;
        }
        if (c == 0xc8 && (d == 0x9a || d == 0x9b)) {          /* Ț ț */
            *o++ = 't'; i++; continue;
        }
        if (c == 0xc5 && (d == 0xa2 || d == 0xa3)) {          /* Ţ ţ */
            *o++ = 't'; i++; continue;
        }

        *o++ = (char) tolower(c);
    }

    *o = '\0';
    return out;
}


int
sales_check_email(sales_ctx_t *ctx, const sales_field_t *f, json_t **value)
{
    if (!sales_email_valid(json_string_value(*value),
                           json_string_length(*value)))
    {
        return sales_field_error(ctx, f->name, "is not an e-mail address");
    }

    return 0;
}


int
sales_check_phone(sales_ctx_t *ctx, const sales_field_t *f, json_t **value)
{
    const char  *s = json_string_value(*value);
    size_t       i, len = json_string_length(*value), digits = 0;

    for (i = 0; i < len; i++) {
        if (isdigit((unsigned char) s[i])) {
            digits++;

        } else if (!strchr("+ ()-./", s[i]) || (s[i] == '+' && i > 0)) {
            return sales_field_error(ctx, f->name,
                                     "may hold only digits, a leading +, "
                                     "spaces and ( ) - . /");
        }
    }

    if (len < 3 || len > 32 || digits < 3) {
        return sales_field_error(ctx, f->name,
                                 "must have 3 to 32 characters, 3 digits at "
                                 "least");
    }

    return 0;
}


int
sales_check_currency(sales_ctx_t *ctx, const sales_field_t *f,
    json_t **value)
{
    if (!sales_currency_known(json_string_value(*value),
                              json_string_length(*value)))
    {
        return sales_field_error(ctx, f->name,
                                 "is not an ISO 4217 currency code");
    }

    return 0;
}


int
sales_check_country(sales_ctx_t *ctx, const sales_field_t *f,
    json_t **value)
{
    const char  *s = json_string_value(*value);

    if (json_string_length(*value) != 2 || !isupper((unsigned char) s[0])
        || !isupper((unsigned char) s[1]))
    {
        return sales_field_error(ctx, f->name,
                                 "must be an ISO 3166-1 alpha-2 code "
                                 "(e.g. RO)");
    }

    return 0;
}


/* Spaces are dropped and letters upper-cased before the check. */
int
sales_check_iban(sales_ctx_t *ctx, const sales_field_t *f, json_t **value)
{
    const char  *s = json_string_value(*value);
    size_t       i, n = 0, len = json_string_length(*value);
    char         norm[40];

    for (i = 0; i < len; i++) {
        if (s[i] == ' ') {
            continue;
        }
        if (n >= sizeof(norm) - 1) {
            return sales_field_error(ctx, f->name, "is not a valid IBAN");
        }
        norm[n++] = (char) toupper((unsigned char) s[i]);
    }

    norm[n] = '\0';

    if (!sales_iban_valid(norm, n)) {
        return sales_field_error(ctx, f->name,
                                 "is not a valid IBAN (check digits do not "
                                 "match)");
    }

    json_decref(*value);
    *value = json_string(norm);
    return 0;
}
