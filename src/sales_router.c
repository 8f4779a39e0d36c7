/*
 * The route table and the matcher: method + path template -> handler,
 * the roles that may call it, and its query parameters.
 */

#include "sales.h"

#include <stdio.h>
#include <string.h>


#define LIST_PARAMS "limit,cursor"

/* Who changes the catalogue, price lists and loyalty levels, and writes
 * commission policies and periods. */
#define WRITERS  (SALES_ROLE_ADMIN | SALES_ROLE_MANAGER)

/* Who reads payouts: the amounts of a whole team. */
#define PAYROLL_READERS  (WRITERS | SALES_ROLE_INTEGRATION)

static const sales_route_t  routes[] = {

    { SALES_GET, "/me", sales_me_get, SALES_ROLES_ALL, 0, "" },

    { SALES_POST, "/users", sales_users_create, SALES_ROLE_ADMIN, 1, "" },
    { SALES_GET, "/users", sales_users_list, SALES_ROLES_ALL, 0,
      "role,manager_id,disabled," LIST_PARAMS },
    { SALES_GET, "/users/{id}", sales_users_get, SALES_ROLES_ALL, 0, "" },
    { SALES_PATCH, "/users/{id}", sales_users_update, SALES_ROLE_ADMIN, 1,
      "" },

    { SALES_POST, "/users/{id}/tokens", sales_tokens_create,
      SALES_ROLES_ALL, 1, "" },
    { SALES_GET, "/users/{id}/tokens", sales_tokens_list, SALES_ROLES_ALL, 0,
      LIST_PARAMS },
    { SALES_DELETE, "/users/{id}/tokens/{id}", sales_tokens_revoke,
      SALES_ROLES_ALL, 1, "" },

    { SALES_POST, "/clients", sales_clients_create, SALES_ROLES_STAFF, 1,
      "" },
    { SALES_GET, "/clients", sales_clients_list, SALES_ROLES_ALL, 0,
      "owner,q,tax_id,external_id,archived," LIST_PARAMS },
    { SALES_GET, "/clients/{id}", sales_clients_get, SALES_ROLES_ALL, 0, "" },
    { SALES_PATCH, "/clients/{id}", sales_clients_update, SALES_ROLES_STAFF,
      1, "" },
    { SALES_POST, "/clients/{id}/archive", sales_clients_archive,
      SALES_ROLES_STAFF, 1, "" },
    { SALES_POST, "/clients/{id}/unarchive", sales_clients_unarchive,
      SALES_ROLES_STAFF, 1, "" },

    { SALES_POST, "/clients/{id}/contacts", sales_contacts_create,
      SALES_ROLES_STAFF, 1, "" },
    { SALES_GET, "/clients/{id}/contacts", sales_contacts_list,
      SALES_ROLES_ALL, 0, LIST_PARAMS },
    { SALES_GET, "/clients/{id}/contacts/{id}", sales_contacts_get,
      SALES_ROLES_ALL, 0, "" },
    { SALES_PATCH, "/clients/{id}/contacts/{id}", sales_contacts_update,
      SALES_ROLES_STAFF, 1, "" },
    { SALES_DELETE, "/clients/{id}/contacts/{id}", sales_contacts_delete,
      SALES_ROLES_STAFF, 1, "" },

    { SALES_GET, "/clients/{id}/history", sales_clients_history,
      SALES_ROLES_ALL, 0, LIST_PARAMS },

    { SALES_POST, "/opportunities", sales_opportunities_create,
      SALES_ROLES_STAFF, 1, "" },
    { SALES_GET, "/opportunities", sales_opportunities_list, SALES_ROLES_ALL,
      0, "owner,stage,status,client_id,closing,value_min,value_max,q,stale,"
      "sort," LIST_PARAMS },
    { SALES_GET, "/opportunities/{id}", sales_opportunities_get,
      SALES_ROLES_ALL, 0, "" },
    { SALES_PATCH, "/opportunities/{id}", sales_opportunities_update,
      SALES_ROLES_STAFF, 1, "" },
    { SALES_GET, "/opportunities/{id}/history", sales_opportunities_history,
      SALES_ROLES_ALL, 0, "" },

    { SALES_POST, "/activities", sales_activities_create, SALES_ROLES_STAFF,
      1, "" },
    { SALES_GET, "/activities", sales_activities_list, SALES_ROLES_ALL, 0,
      "client_id,opportunity_id,type,user_id," LIST_PARAMS },
    { SALES_GET, "/activities/{id}", sales_activities_get, SALES_ROLES_ALL, 0,
      "" },
    { SALES_PATCH, "/activities/{id}", sales_activities_update,
      SALES_ROLES_STAFF, 1, "" },
    { SALES_DELETE, "/activities/{id}", sales_activities_delete,
      SALES_ROLES_STAFF, 1, "" },

    { SALES_GET, "/reports/pipeline", sales_report_pipeline, SALES_ROLES_ALL,
      0, "owner,from,to" },

    { SALES_POST, "/products", sales_products_create, WRITERS, 1, "" },
    { SALES_GET, "/products", sales_products_list, SALES_ROLES_ALL, 0,
      "q,active,vat_category," LIST_PARAMS },
    { SALES_GET, "/products/{id}", sales_products_get, SALES_ROLES_ALL, 0,
      "" },
    { SALES_PATCH, "/products/{id}", sales_products_update, WRITERS, 1, "" },

    { SALES_POST, "/vat-rates", sales_vat_rates_create, SALES_ROLE_ADMIN, 1,
      "" },
    { SALES_GET, "/vat-rates", sales_vat_rates_list, SALES_ROLES_ALL, 0,
      "category," LIST_PARAMS },
    { SALES_GET, "/vat-rates/{id}", sales_vat_rates_get, SALES_ROLES_ALL, 0,
      "" },
    { SALES_PATCH, "/vat-rates/{id}", sales_vat_rates_update,
      SALES_ROLE_ADMIN, 1, "" },

    { SALES_POST, "/price-lists", sales_price_lists_create, WRITERS, 1, "" },
    { SALES_GET, "/price-lists", sales_price_lists_list, SALES_ROLES_ALL, 0,
      LIST_PARAMS },
    { SALES_GET, "/price-lists/{id}", sales_price_lists_get, SALES_ROLES_ALL,
      0, "" },
    { SALES_PATCH, "/price-lists/{id}", sales_price_lists_update, WRITERS, 1,
      "" },
    { SALES_POST, "/price-lists/{id}/items", sales_price_items_create,
      WRITERS, 1, "" },
    { SALES_GET, "/price-lists/{id}/items", sales_price_items_list,
      SALES_ROLES_ALL, 0, LIST_PARAMS },
    { SALES_GET, "/price-lists/{id}/items/{id}", sales_price_items_get,
      SALES_ROLES_ALL, 0, "" },
    { SALES_PATCH, "/price-lists/{id}/items/{id}", sales_price_items_update,
      WRITERS, 1, "" },
    { SALES_DELETE, "/price-lists/{id}/items/{id}", sales_price_items_delete,
      WRITERS, 1, "" },

    { SALES_POST, "/loyalty/levels", sales_loyalty_levels_create, WRITERS, 1,
      "" },
    { SALES_GET, "/loyalty/levels", sales_loyalty_levels_list,
      SALES_ROLES_ALL, 0, LIST_PARAMS },
    { SALES_GET, "/loyalty/levels/{id}", sales_loyalty_levels_get,
      SALES_ROLES_ALL, 0, "" },
    { SALES_PATCH, "/loyalty/levels/{id}", sales_loyalty_levels_update,
      WRITERS, 1, "" },
    { SALES_GET, "/clients/{id}/loyalty", sales_clients_loyalty_get,
      SALES_ROLES_ALL, 0, "" },
    { SALES_PUT, "/clients/{id}/loyalty", sales_clients_loyalty_set, WRITERS,
      1, "" },

    { SALES_GET, "/prices", sales_prices_get, SALES_ROLES_ALL, 0,
      "client_id,product_id,quantity,date" },
    { SALES_POST, "/prices/quote", sales_prices_quote, SALES_ROLES_ALL, 0,
      "" },

    { SALES_POST, "/proposals", sales_proposals_create, SALES_ROLES_STAFF, 1,
      "" },
    { SALES_GET, "/proposals", sales_proposals_list, SALES_ROLES_ALL, 0,
      "status,owner,client_id,opportunity_id,not_viewed_days,"
      "unanswered_days,expiring_within," LIST_PARAMS },
    { SALES_GET, "/proposals/{id}", sales_proposals_get, SALES_ROLES_ALL, 0,
      "" },
    { SALES_PATCH, "/proposals/{id}", sales_proposals_update,
      SALES_ROLES_STAFF, 1, "" },
    { SALES_POST, "/proposals/{id}/send", sales_proposals_send,
      SALES_ROLES_STAFF, 1, "" },
    { SALES_POST, "/proposals/{id}/revise", sales_proposals_revise,
      SALES_ROLES_STAFF, 1, "" },
    { SALES_POST, "/proposals/{id}/accept", sales_proposals_accept,
      SALES_ROLES_STAFF, 1, "" },
    { SALES_POST, "/proposals/{id}/reject", sales_proposals_reject,
      SALES_ROLES_STAFF, 1, "" },
    { SALES_GET, "/proposals/{id}/document", sales_proposals_document,
      SALES_ROLES_ALL, 0, "" },

    { SALES_POST, "/proposals/{id}/convert", sales_proposals_convert,
      SALES_ROLES_STAFF, 1, "" },

    { SALES_POST, "/orders", sales_orders_create, SALES_ROLES_STAFF, 1, "" },
    { SALES_GET, "/orders", sales_orders_list, SALES_ROLES_ALL, 0,
      "status,owner,client_id,opportunity_id,proposal_id," LIST_PARAMS },
    { SALES_GET, "/orders/{id}", sales_orders_get, SALES_ROLES_ALL, 0, "" },
    { SALES_PATCH, "/orders/{id}", sales_orders_update, SALES_ROLES_STAFF, 1,
      "" },
    { SALES_POST, "/orders/{id}/confirm", sales_orders_confirm,
      SALES_ROLES_STAFF, 1, "" },
    { SALES_POST, "/orders/{id}/hold", sales_orders_hold, SALES_ROLES_STAFF,
      1, "" },
    { SALES_POST, "/orders/{id}/resume", sales_orders_resume,
      SALES_ROLES_STAFF, 1, "" },
    { SALES_POST, "/orders/{id}/complete", sales_orders_complete,
      SALES_ROLES_STAFF, 1, "" },
    { SALES_POST, "/orders/{id}/cancel", sales_orders_cancel,
      SALES_ROLES_STAFF, 1, "" },
    { SALES_GET, "/orders/{id}/document", sales_orders_document,
      SALES_ROLES_ALL, 0, "" },
    { SALES_GET, "/clients/{id}/purchases", sales_clients_purchases,
      SALES_ROLES_ALL, 0, "" },

    { SALES_POST, "/proformas", sales_proformas_create, SALES_ROLES_STAFF, 1,
      "" },
    { SALES_GET, "/proformas", sales_proformas_list, SALES_ROLES_ALL, 0,
      "status,owner,client_id,order_id,proposal_id," LIST_PARAMS },
    { SALES_GET, "/proformas/{id}", sales_proformas_get, SALES_ROLES_ALL, 0,
      "" },
    { SALES_PATCH, "/proformas/{id}", sales_proformas_update,
      SALES_ROLES_STAFF, 1, "" },
    { SALES_DELETE, "/proformas/{id}", sales_proformas_delete,
      SALES_ROLES_STAFF, 1, "" },
    { SALES_POST, "/proformas/{id}/issue", sales_proformas_issue,
      SALES_ROLES_STAFF, 1, "" },
    { SALES_POST, "/proformas/{id}/cancel", sales_proformas_cancel,
      SALES_ROLES_STAFF, 1, "" },
    { SALES_POST, "/proformas/{id}/payments", sales_proformas_pay,
      SALES_ROLES_STAFF, 1, "" },
    { SALES_GET, "/proformas/{id}/document", sales_proformas_document,
      SALES_ROLES_ALL, 0, "" },

    { SALES_POST, "/invoices", sales_invoices_create, SALES_ROLES_STAFF, 1,
      "" },
    { SALES_GET, "/invoices", sales_invoices_list, SALES_ROLES_ALL, 0,
      "kind,status,overdue,owner,client_id,order_id,proposal_id,proforma_id,"
      "credit_of_id," LIST_PARAMS },
    { SALES_GET, "/invoices/verify", sales_invoices_verify,
      SALES_ROLE_ADMIN | SALES_ROLE_MANAGER | SALES_ROLE_INTEGRATION, 0, "" },
    { SALES_GET, "/invoices/{id}", sales_invoices_get, SALES_ROLES_ALL, 0,
      "" },
    { SALES_PATCH, "/invoices/{id}", sales_invoices_update, SALES_ROLES_STAFF,
      1, "" },
    { SALES_DELETE, "/invoices/{id}", sales_invoices_delete,
      SALES_ROLES_STAFF, 1, "" },
    { SALES_POST, "/invoices/{id}/issue", sales_invoices_issue,
      SALES_ROLES_STAFF, 1, "" },
    { SALES_POST, "/invoices/{id}/payments", sales_invoices_pay,
      SALES_ROLES_STAFF, 1, "" },
    { SALES_GET, "/invoices/{id}/payments", sales_invoices_payments,
      SALES_ROLES_ALL, 0, LIST_PARAMS },
    { SALES_POST, "/invoices/{id}/credit-notes", sales_invoices_credit,
      SALES_ROLES_STAFF, 1, "" },
    { SALES_GET, "/invoices/{id}/document", sales_invoices_document,
      SALES_ROLES_ALL, 0, "" },
    { SALES_GET, "/payments", sales_payments_list, SALES_ROLES_ALL, 0,
      "owner,client_id,invoice_id,proforma_id,from,to," LIST_PARAMS },
    { SALES_GET, "/payments/{id}", sales_payments_get, SALES_ROLES_ALL, 0,
      "" },

    { SALES_POST, "/commission/policies", sales_commission_policies_create,
      WRITERS, 1, "" },
    { SALES_GET, "/commission/policies", sales_commission_policies_list,
      SALES_ROLES_ALL, 0, "type,manager_id,user_id," LIST_PARAMS },
    { SALES_GET, "/commission/policies/{id}", sales_commission_policies_get,
      SALES_ROLES_ALL, 0, "" },
    { SALES_PATCH, "/commission/policies/{id}",
      sales_commission_policies_update, WRITERS, 1, "" },
    { SALES_POST, "/commission/policies/{id}/assignments",
      sales_commission_assignments_create, WRITERS, 1, "" },
    { SALES_GET, "/commission/assignments", sales_commission_assignments_list,
      SALES_ROLES_ALL, 0, "user_id,policy_id," LIST_PARAMS },
    { SALES_GET, "/commission/assignments/{id}",
      sales_commission_assignments_get, SALES_ROLES_ALL, 0, "" },
    { SALES_PATCH, "/commission/assignments/{id}",
      sales_commission_assignments_update, WRITERS, 1, "" },
    { SALES_DELETE, "/commission/assignments/{id}",
      sales_commission_assignments_delete, WRITERS, 1, "" },
    { SALES_GET, "/commission/accruals", sales_commission_accruals_list,
      SALES_ROLES_ALL, 0, "user,period,policy_id,invoice_id,kind,"
      LIST_PARAMS },
    { SALES_POST, "/commission/periods/close", sales_commission_periods_close,
      WRITERS, 1, "" },
    { SALES_POST, "/commission/periods/approve",
      sales_commission_periods_approve, WRITERS, 1, "" },
    { SALES_GET, "/commission/periods", sales_commission_periods_list,
      SALES_ROLES_ALL, 0, "period,manager_id,status," LIST_PARAMS },
    { SALES_GET, "/commission/periods/{id}", sales_commission_periods_get,
      SALES_ROLES_ALL, 0, "" },
    { SALES_GET, "/commission/payouts", sales_commission_payouts_list,
      PAYROLL_READERS, 0, "period,manager_id,status," LIST_PARAMS },
    { SALES_GET, "/commission/payouts/{id}", sales_commission_payouts_get,
      PAYROLL_READERS, 0, "" },
    { SALES_GET, "/commission/payouts/{id}/export.csv",
      sales_commission_payouts_export, PAYROLL_READERS, 0, "" },
    { SALES_POST, "/commission/payouts/{id}/exported",
      sales_commission_payouts_exported, WRITERS, 1, "" },
    { SALES_POST, "/commission/payouts/{id}/paid",
      sales_commission_payouts_paid, WRITERS, 1, "" },

    { SALES_GET, "/chain/opportunity/{id}", sales_chain_opportunity,
      SALES_ROLES_ALL, 0, "" },
    { SALES_GET, "/chain/proposal/{id}", sales_chain_proposal,
      SALES_ROLES_ALL, 0, "" },
    { SALES_GET, "/chain/proforma/{id}", sales_chain_proforma,
      SALES_ROLES_ALL, 0, "" },
    { SALES_GET, "/chain/order/{id}", sales_chain_order, SALES_ROLES_ALL, 0,
      "" },
    { SALES_GET, "/chain/contract/{id}", sales_chain_contract,
      SALES_ROLES_ALL, 0, "" },
    { SALES_GET, "/chain/invoice/{id}", sales_chain_invoice, SALES_ROLES_ALL,
      0, "" },
    { SALES_GET, "/chain/credit_note/{id}", sales_chain_credit_note,
      SALES_ROLES_ALL, 0, "" },
    { SALES_GET, "/chain/payment/{id}", sales_chain_payment, SALES_ROLES_ALL,
      0, "" },

    { SALES_POST, "/contracts", sales_contracts_create, SALES_ROLES_STAFF, 1,
      "" },
    { SALES_GET, "/contracts", sales_contracts_list, SALES_ROLES_ALL, 0,
      "status,owner,client_id,opportunity_id,proposal_id,order_id,"
      "expiring_within," LIST_PARAMS },
    { SALES_GET, "/contracts/{id}", sales_contracts_get, SALES_ROLES_ALL, 0,
      "" },
    { SALES_PATCH, "/contracts/{id}", sales_contracts_update,
      SALES_ROLES_STAFF, 1, "" },
    { SALES_DELETE, "/contracts/{id}", sales_contracts_delete,
      SALES_ROLES_STAFF, 1, "" },
    { SALES_POST, "/contracts/{id}/send", sales_contracts_send,
      SALES_ROLES_STAFF, 1, "" },
    { SALES_POST, "/contracts/{id}/withdraw", sales_contracts_withdraw,
      SALES_ROLES_STAFF, 1, "" },
    { SALES_POST, "/contracts/{id}/sign", sales_contracts_sign,
      SALES_ROLES_STAFF, 1, "" },
    { SALES_GET, "/contracts/{id}/document", sales_contracts_document,
      SALES_ROLES_ALL, 0, "" },
    { SALES_POST, "/contracts/{id}/amend", sales_contracts_amend,
      SALES_ROLES_STAFF, 1, "" },
    { SALES_POST, "/contracts/{id}/renew", sales_contracts_renew,
      SALES_ROLES_STAFF, 1, "" },
    { SALES_POST, "/contracts/{id}/terminate", sales_contracts_terminate,
      SALES_ROLES_STAFF, 1, "" },

    { SALES_GET, "/proposals/{id}/views", sales_proposals_views,
      SALES_ROLES_ALL, 0, LIST_PARAMS },
    { SALES_POST, "/proposals/{id}/recipients/{id}/erase",
      sales_recipients_erase, SALES_ROLES_STAFF, 1, "" },
    { SALES_GET, "/notifications", sales_notifications_list, SALES_ROLES_ALL,
      0, "unread," LIST_PARAMS },
    { SALES_POST, "/notifications/read-all", sales_notifications_read_all,
      SALES_ROLES_ALL, 1, "" },
    { SALES_POST, "/notifications/{id}/read", sales_notifications_read,
      SALES_ROLES_ALL, 1, "" },
    { SALES_GET, "/pixel/stats", sales_pixel_stats, SALES_ROLE_ADMIN, 0, "" },

    { SALES_POST, "/webhooks/endpoints", sales_webhook_endpoints_create,
      SALES_ROLE_ADMIN, 1, "" },
    { SALES_GET, "/webhooks/endpoints", sales_webhook_endpoints_list,
      SALES_ROLE_ADMIN, 0, "enabled," LIST_PARAMS },
    { SALES_GET, "/webhooks/endpoints/{id}", sales_webhook_endpoints_get,
      SALES_ROLE_ADMIN, 0, "" },
    { SALES_PATCH, "/webhooks/endpoints/{id}", sales_webhook_endpoints_update,
      SALES_ROLE_ADMIN, 1, "" },
    { SALES_DELETE, "/webhooks/endpoints/{id}",
      sales_webhook_endpoints_delete, SALES_ROLE_ADMIN, 1, "" },
    { SALES_POST, "/webhooks/endpoints/{id}/rotate-secret",
      sales_webhook_endpoints_rotate, SALES_ROLE_ADMIN, 1, "" },
    { SALES_POST, "/webhooks/endpoints/{id}/ping",
      sales_webhook_endpoints_ping, SALES_ROLE_ADMIN, 1, "" },
    { SALES_POST, "/webhooks/endpoints/{id}/replay",
      sales_webhook_endpoints_replay, SALES_ROLE_ADMIN, 1, "" },
    { SALES_GET, "/webhooks/deliveries", sales_webhook_deliveries_list,
      SALES_ROLE_ADMIN, 0, "endpoint_id,event,event_id,status," LIST_PARAMS },
    { SALES_GET, "/webhooks/deliveries/{id}", sales_webhook_deliveries_get,
      SALES_ROLE_ADMIN, 0, "" },
    { SALES_POST, "/webhooks/deliveries/{id}/replay",
      sales_webhook_deliveries_replay, SALES_ROLE_ADMIN, 1, "" },
    { SALES_GET, "/webhooks/event-types", sales_webhook_event_types,
      SALES_ROLE_ADMIN, 0, "" },

    { SALES_GET, "/settings/seller", sales_settings_seller_get,
      SALES_ROLES_ALL, 0, "" },
    { SALES_PUT, "/settings/seller", sales_settings_seller_put,
      SALES_ROLE_ADMIN, 1, "" },

    { SALES_GET, "/audit", sales_audit_list, SALES_ROLE_ADMIN, 0,
      "object_type,object_id,user_id," LIST_PARAMS },

    { 0, NULL, NULL, 0, 0, NULL }
};


/* An id segment is a positive decimal integer without leading zeros. */
static int
parse_id(const char *s, size_t len, int64_t *id)
{
    int64_t  v = 0;
    size_t   i;

    if (len == 0 || len > 18 || s[0] == '0') {
        return -1;
    }

    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }

    *id = v;
    return 0;
}


static int
template_match(const char *tpl, const char *path, size_t len, int64_t *ids,
    int *nids)
{
    size_t  p = 0;
    int     n = 0;

    while (*tpl) {
        if (p >= len || path[p] != '/' || *tpl != '/') {
            return 0;
        }

        tpl++;
        p++;

        if (strncmp(tpl, "{id}", 4) == 0) {
            size_t  start = p;

            while (p < len && path[p] != '/') {
                p++;
            }

            if (n == SALES_MAX_IDS
                || parse_id(path + start, p - start, &ids[n]) != 0)
            {
                return 0;
            }

            n++;
            tpl += 4;
            continue;
        }

        while (*tpl && *tpl != '/') {
            if (p >= len || path[p] != *tpl) {
                return 0;
            }
            p++;
            tpl++;
        }
    }

    if (p != len) {
        return 0;
    }

    *nids = n;
    return 1;
}


/*
 * Finds the route for a method and path. When the path exists under
 * other methods only, answers NULL with those methods in *allowed.
 */
const sales_route_t *
sales_route_match(const char *path, size_t len, int method, int64_t *ids,
    int *nids, int *allowed)
{
    const sales_route_t  *r;
    int64_t               tmp[SALES_MAX_IDS];
    int                   n;

    *allowed = 0;

    /* One trailing slash is tolerated: /clients/ is /clients. */
    if (len > 1 && path[len - 1] == '/') {
        len--;
    }

    for (r = routes; r->path; r++) {
        if (!template_match(r->path, path, len, tmp, &n)) {
            continue;
        }

        if (r->method == method) {
            memcpy(ids, tmp, sizeof(tmp));
            *nids = n;
            return r;
        }

        *allowed |= r->method;
    }

    return NULL;
}


void
sales_methods_string(int methods, char *out, size_t size)
{
    static const struct {
        int          m;
        const char  *name;
    } names[] = {
        { SALES_GET, "GET" }, { SALES_POST, "POST" }, { SALES_PUT, "PUT" },
        { SALES_PATCH, "PATCH" }, { SALES_DELETE, "DELETE" }, { 0, NULL }
    };

    size_t  len = 0;
    int     i;

    out[0] = '\0';

    for (i = 0; names[i].name; i++) {
        if (methods & names[i].m) {
            len += (size_t) snprintf(out + len, size - len, "%s%s",
                                     len ? ", " : "", names[i].name);
            if (len >= size) {
                break;
            }
        }
    }
}
