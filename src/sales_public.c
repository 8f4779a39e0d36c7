/*
 * The client's page behind a signed link: the proposal as HTML, and the
 * client's answer by POST. The token is the only credential; it names the
 * proposal and the recipient, who becomes the actor of an answer.
 */

#include "sales_resource.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>


#define HTML_TYPE  "text/html; charset=utf-8"


static void
page(sales_http_resp_t *resp, int status, char *html)
{
    resp->status = status;
    resp->content_type = HTML_TYPE;
    resp->body = html;
    resp->body_len = html ? strlen(html) : 0;
}


static void
plain_page(sales_http_resp_t *resp, int status, const char *title,
    const char *text)
{
    sales_buf_t  b = {0};

    sales_buf_printf(&b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
                     "<title>%s</title></head><body><h1>%s</h1><p>%s</p>"
                     "</body></html>\n", title, title, text);
    page(resp, status, b.failed ? NULL : b.data);
}


/* The token is the path's last segment. */
static int
token_of(const sales_http_req_t *req, const char **tok, size_t *len)
{
    const char  *end = req->path + req->path_len, *p = end;

    while (p > req->path && p[-1] != '/') {
        p--;
    }

    *tok = p;
    *len = (size_t) (end - p);
    return *len ? 0 : -1;
}


/* decision=accept|decline, from a form or a JSON object. */
static int
parse_decision(const sales_http_req_t *req)
{
    const char  *b = req->body;
    size_t       len = req->body_len;
    json_t      *j;
    int          d = -1;

    if (len == 0) {
        return -1;
    }

    if (req->content_type_len >= 16
        && strncasecmp(req->content_type, "application/json", 16) == 0)
    {
        j = json_loadb(b, len, JSON_REJECT_DUPLICATES, NULL);
        if (json_is_object(j) && json_object_size(j) == 1) {
            const char *v = json_string_value(json_object_get(j, "decision"));

            d = v == NULL ? -1 : strcmp(v, "accept") == 0 ? 1
                : strcmp(v, "decline") == 0 ? 0 : -1;
        }
        json_decref(j);
        return d;
    }

    if (len == 15 && memcmp(b, "decision=accept", 15) == 0) {
        return 1;
    }

    if (len == 16 && memcmp(b, "decision=decline", 16) == 0) {
        return 0;
    }

    return -1;
}


static const char *
jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}


/*
 * Records the client's answer. The same answer again changes nothing;
 * another answer after one, or an answer to a proposal that is not out
 * for an answer, is a conflict.
 */
static int
decide(sales_ctx_t *ctx, json_t *p, int64_t recipient_id, int accept)
{
    sqlite3_stmt  *st;
    const char    *status = jstr(p, "status");
    const char    *want = accept ? "accepted" : "rejected";
    json_t        *data, *changes;
    int64_t        id = json_integer_value(json_object_get(p, "id"));
    int            rc;

    if (strcmp(status, want) == 0) {
        return 0;
    }

    if (strcmp(status, "sent") != 0 && strcmp(status, "viewed") != 0) {
        return sales_fail(ctx, 409, "conflict", "this proposal is %s",
                          status);
    }

    st = sales_prepare(ctx, "UPDATE proposals SET status = ?, decided_at = ?,"
                            " decided_by = NULL, decided_by_recipient_id = ?,"
                            " decision_note = 'answered on the client page',"
                            " updated_at = ?, version = version + 1"
                            " WHERE id = ?");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_text(st, 1, want, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, ctx->now_ms);
    sqlite3_bind_int64(st, 3, recipient_id);
    sqlite3_bind_int64(st, 4, ctx->now_ms);
    sqlite3_bind_int64(st, 5, id);

    if (sales_step_done(ctx, st) != 0) {
        return -1;
    }

    changes = json_pack("{s:[ss], s:I}", "status", status, want,
                        "recipient_id", (json_int_t) recipient_id);
    rc = sales_audit(ctx, accept ? "accept" : "reject", "proposal", id,
                     changes);
    json_decref(changes);

    if (rc != 0) {
        return -1;
    }

    json_object_set_new(p, "status", json_string(want));
    data = json_pack("{s:O, s:{s:s, s:I}}", "proposal", p,
                     "actor", "type", "recipient",
                     "recipient_id", (json_int_t) recipient_id);
    rc = sales_event(ctx, accept ? "proposal.accepted" : "proposal.rejected",
                     "proposal", id, data);
    json_decref(data);
    return rc;
}


static void
handle(sales_ctx_t *ctx, const sales_http_req_t *req, int64_t proposal_id,
    int64_t recipient_id, sales_http_resp_t *resp)
{
    json_t  *p = NULL, *client = NULL, *seller = NULL;
    char    *html, action[128];
    int      decision = -1;

    if (req->method == SALES_POST) {
        decision = parse_decision(req);
        if (decision < 0) {
            plain_page(resp, 400, "Bad request",
                       "Send decision=accept or decision=decline.");
            return;
        }
    }

    if (sales_exec(ctx, req->method == SALES_POST ? "BEGIN IMMEDIATE"
                                                  : "BEGIN") != 0)
    {
        return;
    }

    /* The token is the credential: the proposal is loaded as the system. */
    ctx->user.role = SALES_ROLE_ADMIN;

    if (sales_proposal_load(ctx, proposal_id, &p) != 0) {
        goto failed;
    }

    if (decision >= 0) {
        if (decide(ctx, p, recipient_id, decision) != 0) {
            goto failed;
        }

        json_decref(p);
        if (sales_proposal_load(ctx, proposal_id, &p) != 0) {
            goto failed;
        }
    }

    if (sales_load_client_any(ctx, json_integer_value(json_object_get(p,
                                                        "client_id")),
                              &client) != 0
        || (seller = sales_seller_load(ctx)) == NULL)
    {
        goto failed;
    }

    snprintf(action, sizeof(action), "%.*s", (int) req->path_len, req->path);
    html = sales_proposal_html(p, client, seller, action);

    if (html == NULL || sales_exec(ctx, "COMMIT") != 0) {
        free(html);
        goto failed;
    }

    page(resp, 200, html);
    json_decref(p);
    json_decref(client);
    json_decref(seller);
    return;

failed:

    sqlite3_exec(ctx->db, "ROLLBACK", NULL, NULL, NULL);
    json_decref(p);
    json_decref(client);
    json_decref(seller);
}


void
sales_public_handle(const sales_conf_t *conf, const sales_http_req_t *req,
    sales_http_resp_t *resp)
{
    sales_ctx_t   ctx;
    const char   *tok;
    size_t        len;
    int64_t       proposal_id, recipient_id;
    char          err[384];

    memset(resp, 0, sizeof(*resp));
    memset(&ctx, 0, sizeof(ctx));

    ctx.conf = conf;
    ctx.request_id = req->request_id;
    ctx.now_ms = sales_now_ms();

    if (token_of(req, &tok, &len) != 0
        || sales_view_token_check(conf, tok, len, &proposal_id,
                                  &recipient_id) != 0)
    {
        plain_page(resp, 404, "Not found", "This link is not valid.");
        return;
    }

    if (req->method != SALES_GET && req->method != SALES_POST) {
        plain_page(resp, 405, "Method not allowed", "Use GET or POST.");
        snprintf(resp->allow, sizeof(resp->allow), "GET, POST");
        return;
    }

    ctx.db = sales_db_thread_conn(conf, err, sizeof(err));
    if (ctx.db == NULL) {
        plain_page(resp, 503, "Unavailable", "Please try again shortly.");
        resp->retry_after = 5;
        resp->log_level = SALES_LOG_ERR;
        snprintf(resp->log, sizeof(resp->log), "%s", err);
        return;
    }

    handle(&ctx, req, proposal_id, recipient_id, resp);

    if (resp->status == 0) {
        if (ctx.status == 409) {
            plain_page(resp, 409, "Already answered", ctx.detail);
        } else if (ctx.status == 404) {
            plain_page(resp, 404, "Not found", "This link is not valid.");
        } else {
            plain_page(resp, ctx.status == 503 ? 503 : 500, "Error",
                       "Something went wrong; please try again.");
            if (ctx.log_level) {
                resp->log_level = ctx.log_level;
                snprintf(resp->log, sizeof(resp->log), "%s", ctx.log);
            }
        }
    }

    json_decref(ctx.errors);
}
