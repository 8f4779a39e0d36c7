/*
 * The proposal as a printable HTML page, and the seller's details shown
 * on it. Every value from the database or a user is escaped; the page
 * loads nothing from anywhere.
 */

#include "sales_resource.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* --- the seller --------------------------------------------------------- */

static const sales_field_t  seller_fields[] = {
    { "name", SALES_F_STRING, 0, 1, 200, NULL, NULL, NULL, 0, 0 },
    { "tax_id", SALES_F_STRING, 0, 1, 32, NULL, NULL, NULL, 0, 0 },
    { "trade_register_no", SALES_F_STRING, 0, 1, 32, NULL, NULL, NULL, 0,
      0 },
    { "address", SALES_F_STRING, 0, 1, 200, NULL, NULL, NULL, 0, 0 },
    { "city", SALES_F_STRING, 0, 1, 200, NULL, NULL, NULL, 0, 0 },
    { "country", SALES_F_STRING, 0, 2, 2, NULL, sales_check_country, NULL, 0,
      0 },
    { "iban", SALES_F_STRING, 0, 15, 42, NULL, sales_check_iban, NULL, 0,
      0 },
    { "email", SALES_F_STRING, 0, 3, 254, NULL, sales_check_email, NULL, 0,
      0 },
    { "phone", SALES_F_STRING, 0, 3, 32, NULL, sales_check_phone, NULL, 0,
      0 },
    { "website", SALES_F_STRING, 0, 1, 200, NULL, NULL, NULL, 0, 0 },
    { NULL, 0, 0, 0, 0, NULL, NULL, NULL, 0, 0 }
};

static const sales_resource_t  seller_res = {
    "settings", "settings", "settings", seller_fields, NULL, NULL,
    "/settings/seller"
};


json_t *
sales_seller_load(sales_ctx_t *ctx)
{
    sqlite3_stmt  *st;
    json_t        *seller = NULL;

    st = sales_prepare(ctx, "SELECT value FROM settings"
                            " WHERE key = 'seller'");
    if (st == NULL) {
        return NULL;
    }

    if (sqlite3_step(st) == SQLITE_ROW) {
        seller = json_loads((const char *) sqlite3_column_text(st, 0), 0,
                            NULL);
    }

    sales_finish(st);
    return seller ? seller : json_object();
}


int
sales_settings_seller_get(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    *out = sales_seller_load(ctx);
    return *out ? 200 : -1;
}


/* PUT: the whole seller, as given; fields left out become empty. */
int
sales_settings_seller_put(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    sqlite3_stmt  *st;
    json_t        *values, *before, *diff;
    char          *text;
    int            rc;

    if (sales_validate(ctx, &seller_res, body, NULL, &values) != 0) {
        json_decref(values);
        return -1;
    }

    before = sales_seller_load(ctx);
    text = json_dumps(values, JSON_COMPACT | JSON_SORT_KEYS);

    st = sales_prepare(ctx, "INSERT INTO settings (key, value, updated_at)"
                            " VALUES ('seller', ?1, ?2) ON CONFLICT (key)"
                            " DO UPDATE SET value = ?1, updated_at = ?2");
    if (st == NULL || text == NULL || before == NULL) {
        free(text);
        sales_finish(st);
        json_decref(values);
        json_decref(before);
        return -1;
    }

    sqlite3_bind_text(st, 1, text, -1, free);
    sqlite3_bind_int64(st, 2, ctx->now_ms);

    diff = json_pack("{s:O, s:O}", "seller", before, "to", values);
    json_decref(before);

    rc = sales_step_done(ctx, st) == 0
         && sales_audit(ctx, "update", "settings", 1, diff) == 0;
    json_decref(diff);

    if (!rc) {
        json_decref(values);
        return -1;
    }

    *out = values;
    return 200;
}


/* --- HTML --------------------------------------------------------------- */

void
sales_html(sales_buf_t *b, const char *s)
{
    const char  *p;

    if (s == NULL) {
        return;
    }

    for (p = s; *p; p++) {
        switch (*p) {
        case '&': sales_buf_adds(b, "&amp;"); break;
        case '<': sales_buf_adds(b, "&lt;"); break;
        case '>': sales_buf_adds(b, "&gt;"); break;
        case '"': sales_buf_adds(b, "&quot;"); break;
        case '\'': sales_buf_adds(b, "&#39;"); break;
        default: sales_buf_add(b, p, 1);
        }
    }
}


/* Escaped, with line breaks kept. */
void
sales_html_text(sales_buf_t *b, const char *s)
{
    const char  *p, *start;

    if (s == NULL) {
        return;
    }

    for (start = p = s; ; p++) {
        if (*p == '\n' || *p == '\0') {
            char  *line = strndup(start, (size_t) (p - start));

            sales_html(b, line);
            free(line);

            if (*p == '\0') {
                break;
            }

            sales_buf_adds(b, "<br>\n");
            start = p + 1;
        }
    }
}


/* 1234567 -> "12.345,67" (Romanian style, two decimals). */
void
sales_html_money(sales_buf_t *b, int64_t minor, const char *currency)
{
    char      digits[32], out[48];
    int       len, i, o = 0, neg = minor < 0;
    uint64_t  v = neg ? (uint64_t) 0 - (uint64_t) minor : (uint64_t) minor;

    len = snprintf(digits, sizeof(digits), "%03llu", (unsigned long long) v);

    if (neg) {
        out[o++] = '-';
    }

    for (i = 0; i < len - 2; i++) {
        if (i > 0 && (len - 2 - i) % 3 == 0) {
            out[o++] = '.';
        }
        out[o++] = digits[i];
    }

    out[o++] = ',';
    out[o++] = digits[len - 2];
    out[o++] = digits[len - 1];
    out[o] = '\0';

    sales_buf_adds(b, out);
    sales_buf_adds(b, " ");
    sales_html(b, currency);
}


void
sales_html_percent(sales_buf_t *b, int64_t bp)
{
    sales_buf_printf(b, "%lld,%02lld%%", (long long) bp / 100,
                     (long long) bp % 100);
}


void
sales_html_party(sales_buf_t *b, const char *title, json_t *o)
{
    static const char *const  keys[] = {
        "tax_id", "trade_register_no", "address", "city", "country", "iban",
        "email", "phone", "website", NULL
    };
    static const char *const  labels[] = {
        "CUI/CIF", "Reg. Com.", "Adresa", "Localitatea", "Țara", "IBAN",
        "E-mail", "Telefon", "Web", NULL
    };

    int  i;

    sales_buf_printf(b, "<div class=\"party\"><h2>%s</h2><p><strong>", title);
    sales_html(b, json_string_value(json_object_get(o, "name")));
    sales_buf_adds(b, "</strong>");

    for (i = 0; keys[i]; i++) {
        const char  *v = json_string_value(json_object_get(o, keys[i]));

        if (v && v[0]) {
            sales_buf_printf(b, "<br>%s: ", labels[i]);
            sales_html(b, v);
        }
    }

    sales_buf_adds(b, "</p></div>\n");
}


void
sales_html_section(sales_buf_t *b, const char *title, const char *text)
{
    if (text == NULL || text[0] == '\0') {
        return;
    }

    sales_buf_printf(b, "<section><h2>%s</h2><p>", title);
    sales_html_text(b, text);
    sales_buf_adds(b, "</p></section>\n");
}


static const char *
jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}


static int64_t
jint(json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}


/* The page's start, up to the open body; every document shares it. */
void
sales_html_head(sales_buf_t *b, const char *title)
{
    sales_buf_adds(b, "<!DOCTYPE html>\n<html lang=\"ro\"><head>"
                   "<meta charset=\"utf-8\"><title>");
    sales_html(b, title);
    sales_buf_adds(b, "</title><style>"
        "body{font-family:sans-serif;max-width:60em;margin:2em auto;"
        "color:#222}table{border-collapse:collapse;width:100%}"
        "th,td{border-bottom:1px solid #ccc;padding:.3em;text-align:left}"
        "td.n,th.n{text-align:right}.parties{display:flex;gap:4em}"
        "@media print{body{margin:0}}"
        "</style></head><body>\n");
}


/* The page's end; NULL when the buffer ran out of memory (freed). */
char *
sales_html_foot(sales_buf_t *b)
{
    sales_buf_adds(b, "</body></html>\n");

    if (b->failed) {
        sales_buf_free(b);
        return NULL;
    }

    return b->data;
}


/* "· "-joined facts: [[label, value], ...]; a NULL value is left out. */
static void
facts(sales_buf_t *b, json_t *list)
{
    json_t  *f;
    size_t   i;
    int      n = 0;

    sales_buf_adds(b, "<p>");

    json_array_foreach(list, i, f) {
        const char  *v = json_string_value(json_array_get(f, 1));

        if (v == NULL) {
            continue;
        }

        sales_buf_adds(b, n++ ? " · " : "");
        sales_html(b, json_string_value(json_array_get(f, 0)));
        sales_buf_adds(b, ": ");
        sales_html(b, v);
    }

    sales_buf_adds(b, "</p>\n");
}


static void
sections(sales_buf_t *b, json_t *list)
{
    json_t  *s;
    size_t   i;

    json_array_foreach(list, i, s) {
        sales_html_section(b, json_string_value(json_array_get(s, 0)),
                           json_string_value(json_array_get(s, 1)));
    }
}


/* minor * rate (RON per unit, "4.9771") in RON minor units, rounded half
 * away from zero: the RON value of a foreign-currency amount. */
int64_t
sales_ron_of(int64_t minor, const char *rate)
{
    int64_t  scaled = 0, scale = 1;
    int      frac = -1;

    for ( ; rate && *rate; rate++) {
        if (*rate == '.') {
            frac = 0;
            continue;
        }
        scaled = scaled * 10 + (*rate - '0');
        if (frac >= 0) {
            frac++;
            scale *= 10;
        }
    }

    return sales_muldiv(minor, scaled, scale);
}


/*
 * A priced document (proposal, order, proforma, invoice, credit note):
 * heading, facts, the parties, sections, the lines with their VAT, the
 * totals per rate (and in RON for a foreign currency at its rate), and
 * the closing sections. Appends to b.
 */
void
sales_html_document(sales_buf_t *b, const sales_page_t *pg)
{
    const char  *cur = jstr(pg->doc, "currency");
    json_t      *line, *vat;
    size_t       i;

    sales_buf_adds(b, "<h1>");
    sales_html(b, pg->heading);
    sales_buf_adds(b, "</h1>\n");
    facts(b, pg->facts);

    sales_buf_adds(b, "<div class=\"parties\">");
    sales_html_party(b, "Furnizor", pg->seller);
    sales_html_party(b, "Client", pg->client);
    sales_buf_adds(b, "</div>\n");

    sections(b, pg->before);

    sales_buf_adds(b, "<table><thead><tr><th>#</th><th>Descriere</th>"
                   "<th class=\"n\">Cant.</th>");
    if (pg->list_price) {
        sales_buf_adds(b, "<th class=\"n\">Preț listă</th>");
    }
    sales_buf_adds(b, "<th class=\"n\">Valoare netă</th><th class=\"n\">"
                   "TVA</th><th class=\"n\">Valoare TVA</th>"
                   "<th class=\"n\">Total</th></tr></thead><tbody>\n");

    json_array_foreach(json_object_get(pg->doc, "lines"), i, line) {
        sales_buf_printf(b, "<tr><td>%zu</td><td>", i + 1);
        sales_html(b, jstr(line, "description"));

        if (jstr(line, "override_reason")) {
            sales_buf_adds(b, "<br><small>");
            sales_html(b, jstr(line, "override_reason"));
            sales_buf_adds(b, "</small>");
        }

        sales_buf_printf(b, "</td><td class=\"n\">%lld</td>",
                         (long long) jint(line, "quantity"));
        if (pg->list_price) {
            sales_buf_adds(b, "<td class=\"n\">");
            sales_html_money(b, jint(line, "list_unit_price_minor"), cur);
            sales_buf_adds(b, "</td>");
        }
        sales_buf_adds(b, "<td class=\"n\">");
        sales_html_money(b, jint(line, "net_minor"), cur);
        sales_buf_adds(b, "</td><td class=\"n\">");
        sales_html_percent(b, jint(line, "rate_bp"));
        sales_buf_adds(b, "</td><td class=\"n\">");
        sales_html_money(b, jint(line, "vat_minor"), cur);
        sales_buf_adds(b, "</td><td class=\"n\">");
        sales_html_money(b, jint(line, "gross_minor"), cur);
        sales_buf_adds(b, "</td></tr>\n");
    }

    sales_buf_adds(b, "</tbody></table>\n<table class=\"totals\">");
    sales_buf_adds(b, "<tr><th>Total fără TVA</th><td class=\"n\">");
    sales_html_money(b, jint(pg->doc, "net_minor"), cur);
    sales_buf_adds(b, "</td></tr>");

    json_array_foreach(json_object_get(pg->doc, "vat"), i, vat) {
        sales_buf_adds(b, "<tr><th>TVA ");
        sales_html_percent(b, jint(vat, "rate_bp"));
        sales_buf_adds(b, " la ");
        sales_html_money(b, jint(vat, "net_minor"), cur);
        sales_buf_adds(b, "</th><td class=\"n\">");
        sales_html_money(b, jint(vat, "vat_minor"), cur);
        if (pg->ron_rate) {
            sales_buf_adds(b, " (");
            sales_html_money(b, jint(vat, "vat_ron_minor"), "RON");
            sales_buf_adds(b, ")");
        }
        sales_buf_adds(b, "</td></tr>");
    }

    sales_buf_adds(b, "<tr><th>Total TVA</th><td class=\"n\">");
    sales_html_money(b, jint(pg->doc, "vat_minor"), cur);
    if (pg->ron_rate) {
        sales_buf_adds(b, " (");
        sales_html_money(b, jint(pg->doc, "vat_ron_minor"), "RON");
        sales_buf_adds(b, ", curs ");
        sales_html(b, pg->ron_rate);
        sales_buf_adds(b, " RON/");
        sales_html(b, cur);
        sales_buf_adds(b, ")");
    }
    sales_buf_adds(b, "</td></tr>");

    sales_buf_adds(b, "<tr><th>Total de plată</th><td class=\"n\"><strong>");
    sales_html_money(b, jint(pg->doc, "gross_minor"), cur);
    sales_buf_adds(b, "</strong></td></tr></table>\n");

    sections(b, pg->after);
}


/*
 * The proposal's page. The same renderer serves the AE's copy and the
 * client's own page (answer_action non-NULL: with the answer form).
 */
char *
sales_proposal_html(json_t *p, json_t *client, json_t *seller,
    const char *answer_action)
{
    sales_buf_t   b = {0};
    sales_page_t  pg;
    char          heading[96];

    snprintf(heading, sizeof(heading), "Ofertă %s rev. %lld",
             jstr(p, "number") ? jstr(p, "number") : "",
             (long long) jint(p, "revision"));

    memset(&pg, 0, sizeof(pg));
    pg.heading = heading;
    pg.doc = p;
    pg.client = client;
    pg.seller = seller;
    pg.list_price = 1;
    pg.facts = json_pack("[[s, s?], [s, s?]]",
                         "Data prețurilor", jstr(p, "price_date"),
                         "Valabilă până la", jstr(p, "valid_until"));
    pg.before = json_pack("[[s, s?]]", "Scrisoare de intenție",
                          jstr(p, "cover_letter"));
    /* notes are the AE's own and never reach the client's page */
    pg.after = json_pack("[[s, s?]]", "Termeni", jstr(p, "terms"));

    sales_html_head(&b, jstr(p, "number"));
    sales_html_document(&b, &pg);

    json_decref(pg.facts);
    json_decref(pg.before);
    json_decref(pg.after);

    /* The client's own page offers the answer while one is possible; a
     * POST, never a GET, since link scanners fetch every link. */
    if (answer_action) {
        const char  *status = jstr(p, "status");

        if (strcmp(status, "sent") == 0 || strcmp(status, "viewed") == 0) {
            /* no action: the form posts back to the page's own link */
            sales_buf_adds(&b, "<form method=\"post\">"
                           "<button name=\"decision\" value=\"accept\">"
                           "Accept</button> <button name=\"decision\" "
                           "value=\"decline\">Decline</button></form>\n");

        } else {
            sales_buf_adds(&b, "<p class=\"status\">Status: ");
            sales_html(&b, status);
            sales_buf_adds(&b, "</p>\n");
        }
    }

    return sales_html_foot(&b);
}


/* The parties of a document's page as they are now: its client and the
 * seller. */
int
sales_page_parties(sales_ctx_t *ctx, sales_page_t *pg)
{
    if (sales_load_client_any(ctx, jint(pg->doc, "client_id"), &pg->client)
        != 0)
    {
        return -1;
    }

    pg->seller = sales_seller_load(ctx);
    return pg->seller ? 0 : sales_fail(ctx, 500, "internal", "out of memory");
}


/* Everything a page holds is its own. */
void
sales_page_free(sales_page_t *pg)
{
    json_decref(pg->doc);
    json_decref(pg->client);
    json_decref(pg->seller);
    json_decref(pg->facts);
    json_decref(pg->before);
    json_decref(pg->after);
}


/* A priced document's whole page as the answer; the page is released. */
int
sales_page_answer(sales_ctx_t *ctx, sales_page_t *pg, json_t **out)
{
    sales_buf_t  b = {0};

    sales_html_head(&b, pg->heading);
    sales_html_document(&b, pg);
    sales_page_free(pg);

    return sales_answer_html(ctx, sales_html_foot(&b), out);
}


/* Answers a page (malloc'ed; NULL is out of memory) as the request's
 * text/html body. */
int
sales_answer_html(sales_ctx_t *ctx, char *page, json_t **out)
{
    if (page == NULL) {
        return sales_fail(ctx, 500, "internal", "out of memory");
    }

    ctx->raw_body = page;
    ctx->raw_type = "text/html; charset=utf-8";
    *out = NULL;
    return 200;
}


int
sales_proposals_document(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    json_t  *p, *client, *seller;
    char    *page;

    if (sales_proposal_load(ctx, ctx->ids[0], &p) != 0) {
        return -1;
    }

    if (sales_load_client_any(ctx, jint(p, "client_id"), &client) != 0) {
        json_decref(p);
        return -1;
    }

    seller = sales_seller_load(ctx);
    page = seller ? sales_proposal_html(p, client, seller, NULL) : NULL;

    json_decref(p);
    json_decref(client);
    json_decref(seller);

    return sales_answer_html(ctx, page, out);
}
