/*
 * Commission period keys: a month "2026-12" or a quarter "2026-Q4", the
 * one after it, its first month and the day it ends; the routes.
 */

#include "tap.h"
#include "unit.h"

#include <string.h>

#include "sales_resource.h"


void
test_commission_periods(void)
{
    static const struct {
        const char  *date, *kind, *key, *next, *first, *end;
    } cases[] = {
        { "2026-12-31", "month", "2026-12", "2027-01", "2026-12",
          "2027-01-01" },
        { "2026-01-01", "month", "2026-01", "2026-02", "2026-01",
          "2026-02-01" },
        { "2026-03-31", "quarter", "2026-Q1", "2026-Q2", "2026-01",
          "2026-04-01" },
        { "2026-04-01", "quarter", "2026-Q2", "2026-Q3", "2026-04",
          "2026-07-01" },
        { "2026-11-15", "quarter", "2026-Q4", "2027-Q1", "2026-10",
          "2027-01-01" },
    };
    static const char *const  bad[] = {
        "2026-13", "2026-00", "2026-Q5", "2026-Q0", "2026-1", "26-12",
        "1969-12", "2026/12", "2026-12-01", "", NULL
    };

    char    key[SALES_PERIOD_LEN], v[SALES_PERIOD_LEN], day[11];
    size_t  i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sales_period_of(cases[i].date, cases[i].kind, key);
        is_str(key, cases[i].key, "%s in a %s: %s", cases[i].date,
               cases[i].kind, cases[i].key);
        ok(sales_period_valid(key), "%s is a period", key);
        sales_period_after(key, v);
        is_str(v, cases[i].next, "after %s: %s", key, cases[i].next);
        sales_period_first_month(key, v);
        is_str(v, cases[i].first, "%s starts in %s", key, cases[i].first);
        sales_period_end(key, day);
        is_str(day, cases[i].end, "%s ends before %s", key, cases[i].end);
    }

    for (i = 0; bad[i]; i++) {
        ok(!sales_period_valid(bad[i]), "\"%s\" is not a period", bad[i]);
    }
}


void
test_commission_routes(void)
{
    static const struct {
        int                method;
        const char        *path;
        sales_handler_pt   handler;
    } cases[] = {
        { SALES_POST, "/commission/periods/close",
          sales_commission_periods_close },
        { SALES_POST, "/commission/periods/approve",
          sales_commission_periods_approve },
        { SALES_GET, "/commission/periods/3", sales_commission_periods_get },
        { SALES_GET, "/commission/payouts/3/export.csv",
          sales_commission_payouts_export },
        { SALES_POST, "/commission/policies/3/assignments",
          sales_commission_assignments_create },
    };

    const sales_route_t  *r;
    int64_t               ids[SALES_MAX_IDS];
    size_t                i;
    int                   nids, allowed;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        r = sales_route_match(cases[i].path, strlen(cases[i].path),
                              cases[i].method, ids, &nids, &allowed);
        ok(r && r->handler == cases[i].handler, "%s: its handler",
           cases[i].path);
    }

    r = sales_route_match("/commission/payouts/3/export.csv", 32, SALES_GET,
                          ids, &nids, &allowed);
    ok(r && r->write == 0 && !(r->roles & SALES_ROLE_AE),
       "the payroll export is a read, and not an AE's");

    r = sales_route_match("/commission/periods/close", 25, SALES_GET, ids,
                          &nids, &allowed);
    ok(r == NULL && allowed == SALES_POST, "closing is a POST only");
}
