/*
 * The proposal page: every value escaped, money written the Romanian way.
 */

#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "unit.h"
#include "sales_resource.h"


void
test_document(void)
{
    const char  *hostile = "<script>alert(\"x\")</script> & 'q'";
    json_t      *p, *client, *seller;
    char        *page;

    p = json_pack("{s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I,"
                  " s:[{s:I, s:I, s:I}],"
                  " s:[{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I}]}",
                  "number", "PRO-2026-0001", "revision", (json_int_t) 2,
                  "currency", "RON", "price_date", "2026-12-03",
                  "valid_until", "2027-01-02", "cover_letter", hostile,
                  "terms", "line one\nline two",
                  "notes", "internal: do not show",
                  "net_minor", (json_int_t) 1234567,
                  "vat_minor", (json_int_t) 259259,
                  "gross_minor", (json_int_t) 1493826,
                  "vat", "rate_bp", (json_int_t) 2100,
                         "net_minor", (json_int_t) 1234567,
                         "vat_minor", (json_int_t) 259259,
                  "lines", "description", hostile, "override_reason", hostile,
                           "quantity", (json_int_t) 3,
                           "list_unit_price_minor", (json_int_t) 5,
                           "net_minor", (json_int_t) 1234567,
                           "rate_bp", (json_int_t) 2100,
                           "vat_minor", (json_int_t) 259259,
                           "gross_minor", (json_int_t) 1493826);
    client = json_pack("{s:s, s:s, s:s}", "name", hostile, "address", hostile,
                       "tax_id", "RO18547290");
    seller = json_pack("{s:s, s:s}", "name", hostile, "website", hostile);

    page = sales_proposal_html(p, client, seller, NULL);
    ok(page != NULL, "the page renders");

    if (page) {
        ok(strstr(page, "<script>") == NULL, "no raw <script> anywhere");
        ok(strstr(page, "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; "
                        "&amp; &#39;q&#39;") != NULL,
           "hostile text appears escaped");
        ok(strstr(page, "12.345,67 RON") != NULL,
           "1234567 minor units as 12.345,67 RON");
        ok(strstr(page, "0,05 RON") != NULL, "5 minor units as 0,05 RON");
        ok(strstr(page, "14.938,26 RON") != NULL, "the total");
        ok(strstr(page, "21,00%") != NULL, "the VAT rate");
        ok(strstr(page, "line one<br>\nline two") != NULL,
           "line breaks kept as <br>");
        ok(strstr(page, "internal") == NULL,
           "the AE's notes never reach the page");
        ok(strstr(page, "rev. 2") != NULL, "the revision");
        ok(strstr(page, "RO18547290") != NULL, "the client's tax id");
        free(page);
    }

    json_decref(p);
    json_decref(client);
    json_decref(seller);
}
