/*
 * The money rounding rule and calendar dates.
 */

#include <stdio.h>
#include <string.h>

#include "tap.h"
#include "unit.h"
#include "sales_util.h"


void
test_rounding(void)
{
    static const struct {
        int64_t  num, den, want;
    } cases[] = {
        { 0, 100, 0 },
        { 49, 100, 0 },
        { 50, 100, 1 },          /* half goes away from zero */
        { 51, 100, 1 },
        { 149, 100, 1 },
        { 150, 100, 2 },
        { 250, 100, 3 },         /* not to even */
        { -49, 100, 0 },
        { -50, 100, -1 },
        { -150, 100, -2 },
        { 2000000, 3, 666667 },  /* 666666.67 */
        { 1000000, 3, 333333 },  /* 333333.33 */
        { 5, 2, 3 },
        { -5, 2, -3 },
        { 7, 7, 1 },
        { 1, 1, 1 },
        { INT64_MAX, 1, INT64_MAX },
        { INT64_MAX, 2, INT64_MAX / 2 + 1 },
        { INT64_MIN + 1, 2, INT64_MIN / 2 },
    };

    size_t  i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        is_int(sales_div_round(cases[i].num, cases[i].den), cases[i].want,
               "%lld / %lld rounds half away from zero to %lld",
               (long long) cases[i].num, (long long) cases[i].den,
               (long long) cases[i].want);
    }
}


void
test_dates(void)
{
    static const struct {
        const char  *s;
        int          valid;
    } cases[] = {
        { "2026-12-03", 1 },
        { "1970-01-01", 1 },
        { "2024-02-29", 1 },
        { "2000-02-29", 1 },
        { "2025-02-29", 0 },
        { "1900-02-28", 0 },     /* before 1970 */
        { "2026-02-30", 0 },
        { "2026-04-31", 0 },
        { "2026-13-01", 0 },
        { "2026-00-10", 0 },
        { "2026-12-00", 0 },
        { "2026-1-01", 0 },
        { "2026/12/03", 0 },
        { "2026-12-03T00:00:00Z", 0 },
        { "tomorrow", 0 },
        { "", 0 },
    };

    char    out[16];
    size_t  i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        is_int(sales_date_valid(cases[i].s, strlen(cases[i].s)),
               cases[i].valid, "date \"%s\" is %s", cases[i].s,
               cases[i].valid ? "valid" : "refused");
    }

    /* Only the given length is read. */
    ok(sales_date_valid("2026-12-03junk", 10), "a date read by length");

    sales_date_of(0, out);
    is_str(out, "1970-01-01", "the epoch's date");

    sales_date_of(1796323781337LL, out);
    is_str(out, "2026-12-03", "a time's UTC date");

    sales_date_of((sales_days_from_civil(2026, 12, 31) + 1) * 86400000LL - 1,
                  out);
    is_str(out, "2026-12-31", "the last millisecond of a day");

    is_int(sales_days_from_civil(2026, 1, 1) - sales_days_from_civil(2025, 1,
                                                                     1),
           365, "2025 has 365 days");
    is_int(sales_days_from_civil(2025, 1, 1) - sales_days_from_civil(2024, 1,
                                                                     1),
           366, "2024 has 366 days");
}


void
test_utf8_clean(void)
{
    static const struct {
        const char  *in;
        const char  *out;
    } cases[] = {
        { "plain ascii", "plain ascii" },
        { "Ofert\xc4\x83 \xc8\x99i", "Ofert\xc4\x83 \xc8\x99i" },
        { "cut \xc3", "cut " },                  /* cut mid-character */
        { "cut \xe2\x82", "cut " },
        { "bad \xff\xfe end", "bad ?? end" },
        { "lone \x80 cont", "lone ? cont" },
        { "overlong \xc0\xaf", "overlong ??" },
        { "broken \xc3" "A", "broken ?A" },
        { "", "" },
    };

    char    buf[64];
    size_t  i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(buf, sizeof(buf), "%s", cases[i].in);
        sales_utf8_clean(buf);
        is_str(buf, cases[i].out, "utf8 clean case %zu", i);
    }
}
