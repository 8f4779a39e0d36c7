/*
 * The money arithmetic of the documents: sales_muldiv (parts of lines,
 * percentages, splits, RON values), totals of lines per VAT rate, the
 * RON value at a stated rate, and the date steps of due dates.
 */

#include "tap.h"
#include "unit.h"

#include <string.h>

#include "sales_resource.h"


void
test_money(void)
{
    json_t  *lines, *totals, *vat;
    char     date[11];

    /* round(a * b / c), half away from zero */
    ok(sales_muldiv(23331, 2, 7) == 6666, "2/7 of 233.31 = 66.66");
    ok(sales_muldiv(37035, 1, 3) == 12345, "1/3 of 370.35 = 123.45");
    ok(sales_muldiv(23331, 5000, 10000) == 11666, "half of 233.31 rounds up to 116.66");
    ok(sales_muldiv(-23331, 5000, 10000) == -11666, "and a negative one away from zero");
    ok(sales_muldiv(6666, 1100, 10000) == 733, "11 %% of 66.66 = 7.33");
    ok(sales_muldiv(5836, 10000, 12100) == 4823, "the net of 58.36 gross at 21 %% = 48.23");
    ok(sales_muldiv(10000, 36300, 62197) == 5836, "100.00 split by 363.00 of 621.97 = 58.36");
    ok(sales_muldiv(1, 1, 2) == 1 && sales_muldiv(-1, 1, 2) == -1, "a half rounds away from zero");
    ok(sales_muldiv(1, 1, 3) == 0, "a third of one ban is none");
    ok(sales_muldiv(INT64_MAX / 2, 4, 4) == INT64_MAX / 2,
       "no overflow on the way: (2^62) * 4 / 4");
    ok(sales_muldiv(1000000000000000LL, 1000000000LL, 1000000000LL)
       == 1000000000000000LL, "10^15 * 10^9 / 10^9");

    /* the RON value of a foreign amount at a stated rate */
    ok(sales_ron_of(1260, "4.9771") == 6271, "12.60 EUR at 4.9771 = 62.71 RON");
    ok(sales_ron_of(-1260, "4.9771") == -6271, "negative (a credit note)");
    ok(sales_ron_of(100, "5") == 500, "a whole rate");
    ok(sales_ron_of(1, "4.975") == 5, "4.975 bani rounds to 5");

    /* totals per rate, in the order the rates first appear */
    lines = json_pack("[{s:I, s:I, s:I}, {s:I, s:I, s:I}, {s:I, s:I, s:I},"
                      " {s:I, s:I, s:I}]",
                      "rate_bp", 2100, "net_minor", 30000, "vat_minor", 6300,
                      "rate_bp", 1100, "net_minor", 23331, "vat_minor", 2566,
                      "rate_bp", 2100, "net_minor", -9000, "vat_minor", -1890,
                      "rate_bp", 1100, "net_minor", -6999, "vat_minor", -770);
    totals = sales_totals_of(lines);
    ok(totals != NULL, "totals of lines of both signs");
    if (totals) {
        vat = json_object_get(totals, "vat");
        ok(json_integer_value(json_object_get(totals, "net_minor")) == 37332,
           "net 533.31 - 159.99 = 373.32");
        ok(json_integer_value(json_object_get(totals, "vat_minor")) == 6206,
           "VAT 88.66 - 26.60 = 62.06");
        ok(json_integer_value(json_object_get(totals, "gross_minor")) == 43538,
           "gross 435.38");
        ok(json_array_size(vat) == 2
           && json_integer_value(json_object_get(json_array_get(vat, 0),
                                                 "rate_bp")) == 2100
           && json_integer_value(json_object_get(json_array_get(vat, 0),
                                                 "net_minor")) == 21000
           && json_integer_value(json_object_get(json_array_get(vat, 1),
                                                 "vat_minor")) == 1796,
           "per rate: 21 %% first (210.00), 11 %% second (VAT 17.96)");
        json_decref(totals);
    }
    json_decref(lines);

    lines = json_pack("[{s:I, s:I, s:I}, {s:I, s:I, s:I}]",
                      "rate_bp", 2100, "net_minor", INT64_MAX, "vat_minor", 0,
                      "rate_bp", 2100, "net_minor", 1, "vat_minor", 0);
    ok(sales_totals_of(lines) == NULL, "a sum past 2^63 is refused, not wrapped");
    json_decref(lines);

    /* due dates */
    sales_date_add_days("2026-12-10", 30, date);
    ok(strcmp(date, "2027-01-09") == 0, "2026-12-10 + 30 days = 2027-01-09");
    sales_date_add_days("2028-02-28", 1, date);
    ok(strcmp(date, "2028-02-29") == 0, "a leap day");
    ok(sales_days_between("2027-01-09", "2027-01-20") == 11, "11 days overdue");
    ok(sales_days_between("2027-01-20", "2027-01-09") == -11, "and back");
}
