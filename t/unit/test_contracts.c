/*
 * sales_contracts.c: the period an auto-renewal gives; the contract
 * routes.
 */

#include "tap.h"
#include "unit.h"

#include <string.h>

#include "sales_resource.h"


void
test_contract_periods(void)
{
    static const struct {
        const char  *start, *end, *next_start, *next_end;
    } cases[] = {
        /* whole years stay calendar years across leap days */
        { "2024-01-01", "2024-12-31", "2025-01-01", "2025-12-31" },
        { "2023-01-01", "2023-12-31", "2024-01-01", "2024-12-31" },
        { "2026-03-15", "2027-03-14", "2027-03-15", "2028-03-14" },
        /* whole months: a quarter, one month, a month end kept */
        { "2026-01-01", "2026-03-31", "2026-04-01", "2026-06-30" },
        { "2026-02-01", "2026-02-28", "2026-03-01", "2026-03-31" },
        { "2026-01-31", "2026-02-27", "2026-02-28", "2026-03-27" },
        { "2026-10-31", "2026-11-30", "2026-12-01", "2026-12-31" },
        { "2026-11-15", "2027-01-14", "2027-01-15", "2027-03-14" },
        /* anything else keeps its number of days */
        { "2026-01-10", "2026-02-18", "2026-02-19", "2026-03-30" },
        { "2026-12-31", "2026-12-31", "2027-01-01", "2027-01-01" },
        { "2024-02-20", "2024-02-29", "2024-03-01", "2024-03-10" },
    };

    char    s[11], e[11];
    size_t  i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sales_period_next(cases[i].start, cases[i].end, s, e);
        is_str(s, cases[i].next_start, "after %s..%s starts %s",
               cases[i].start, cases[i].end, cases[i].next_start);
        is_str(e, cases[i].next_end, "after %s..%s ends %s",
               cases[i].start, cases[i].end, cases[i].next_end);
    }
}


void
test_contract_routes(void)
{
    static const struct {
        int                method;
        const char        *path;
        sales_handler_pt   handler;
        int                write;
    } cases[] = {
        { SALES_POST, "/contracts", sales_contracts_create, 1 },
        { SALES_GET, "/contracts", sales_contracts_list, 0 },
        { SALES_GET, "/contracts/7", sales_contracts_get, 0 },
        { SALES_PATCH, "/contracts/7", sales_contracts_update, 1 },
        { SALES_DELETE, "/contracts/7", sales_contracts_delete, 1 },
        { SALES_POST, "/contracts/7/send", sales_contracts_send, 1 },
        { SALES_POST, "/contracts/7/withdraw", sales_contracts_withdraw, 1 },
        { SALES_POST, "/contracts/7/sign", sales_contracts_sign, 1 },
        { SALES_GET, "/contracts/7/document", sales_contracts_document, 0 },
        { SALES_POST, "/contracts/7/amend", sales_contracts_amend, 1 },
        { SALES_POST, "/contracts/7/renew", sales_contracts_renew, 1 },
        { SALES_POST, "/contracts/7/terminate", sales_contracts_terminate,
          1 },
    };

    const sales_route_t  *r;
    int64_t               ids[SALES_MAX_IDS];
    size_t                i;
    int                   nids, allowed;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        r = sales_route_match(cases[i].path, strlen(cases[i].path),
                              cases[i].method, ids, &nids, &allowed);
        ok(r && r->handler == cases[i].handler && r->write == cases[i].write
           && r->roles == (cases[i].write ? SALES_ROLES_STAFF
                                          : SALES_ROLES_ALL),
           "%s: its handler; %s", cases[i].path,
           cases[i].write ? "staff write" : "every role reads");
    }

    r = sales_route_match("/contracts", 10, SALES_GET, ids, &nids, &allowed);
    ok(r && strstr(r->params, "expiring_within")
       && strstr(r->params, "order_id") && strstr(r->params, "cursor"),
       "GET /contracts takes expiring_within, order_id and a cursor");
}
