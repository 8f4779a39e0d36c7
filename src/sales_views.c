/*
 * Views of proposals: writing a batch of pixel and page hits, what a view
 * means (class, duplicate, counted), the notification it may bring, and
 * the API that shows them.
 */

#include "sales_resource.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#define NOTIFY_EVERY_MS  (3600LL * 1000)
#define ERASED_EMAIL     "erased@invalid"

static const char *const  class_names[] = {
    "human", "proxy", "prefetch", "bot", NULL
};


const char *
sales_view_class_name(int class)
{
    return class >= 0 && class <= SALES_VIEW_BOT ? class_names[class]
                                                 : "human";
}


int
sales_view_class_parse(const char *name)
{
    int  i;

    for (i = 0; class_names[i]; i++) {
        if (strcmp(class_names[i], name) == 0) {
            return i;
        }
    }

    return -1;
}


/* The recipient's sending time and the proposal's owner and state. */
typedef struct {
    int64_t      sent_at;
    int64_t      owner_id;
    int64_t      first_viewed_at;
    char         number[64];
    char         email[256];
} view_target_t;


static int
load_target(sales_ctx_t *ctx, const sales_view_t *v, view_target_t *t)
{
    sqlite3_stmt  *st;
    int            rc;

    st = sales_prepare(ctx, "SELECT r.sent_at, p.owner_id,"
                            " coalesce(p.first_viewed_at, 0), p.number,"
                            " r.email FROM proposal_recipients r"
                            " JOIN proposals p ON p.id = r.proposal_id"
                            " WHERE r.id = ? AND r.proposal_id = ?");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, v->recipient_id);
    sqlite3_bind_int64(st, 2, v->proposal_id);
    rc = sqlite3_step(st);

    if (rc == SQLITE_ROW) {
        t->sent_at = sqlite3_column_int64(st, 0);
        t->owner_id = sqlite3_column_int64(st, 1);
        t->first_viewed_at = sqlite3_column_int64(st, 2);
        snprintf(t->number, sizeof(t->number), "%s",
                 sqlite3_column_text(st, 3));
        snprintf(t->email, sizeof(t->email), "%s",
                 sqlite3_column_text(st, 4));
    }

    sales_finish(st);

    if (rc == SQLITE_ROW) {
        return 1;
    }

    return rc == SQLITE_DONE ? 0 : sales_db_error(ctx, "reading a recipient");
}


/* A repeat of a counted view from the same place within the window. */
static int
is_duplicate(sales_ctx_t *ctx, const sales_view_t *v)
{
    sqlite3_stmt  *st;
    int            rc;

    st = sales_prepare(ctx, "SELECT 1 FROM proposal_views"
                            " WHERE recipient_id = ? AND counted = 1"
                            " AND ip IS ? AND ua IS ? AND at > ? LIMIT 1");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, v->recipient_id);
    sqlite3_bind_text(st, 2, v->ip, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, v->ua, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, v->at_ms - ctx->conf->dedupe_ms);

    rc = sqlite3_step(st);
    sales_finish(st);

    if (rc == SQLITE_ROW) {
        return 1;
    }

    return rc == SQLITE_DONE ? 0 : sales_db_error(ctx, "checking duplicates");
}


static int
count_view(sales_ctx_t *ctx, const sales_view_t *v)
{
    sqlite3_stmt  *st;

    st = sales_prepare(ctx, "UPDATE proposal_recipients SET"
                            " first_viewed_at = coalesce(first_viewed_at, ?1),"
                            " last_viewed_at = max(coalesce(last_viewed_at,"
                            " 0), ?1), view_count = view_count + 1"
                            " WHERE id = ?2");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, v->at_ms);
    sqlite3_bind_int64(st, 2, v->recipient_id);

    if (sales_step_done(ctx, st) != 0) {
        return -1;
    }

    /* A sent proposal becomes viewed; a later state stays. */
    st = sales_prepare(ctx, "UPDATE proposals SET"
                            " version = version + (status = 'sent'),"
                            " status = CASE status WHEN 'sent' THEN 'viewed'"
                            "   ELSE status END,"
                            " first_viewed_at = coalesce(first_viewed_at, ?1),"
                            " last_viewed_at = max(coalesce(last_viewed_at,"
                            " 0), ?1), view_count = view_count + 1"
                            " WHERE id = ?2");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, v->at_ms);
    sqlite3_bind_int64(st, 2, v->proposal_id);

    return sales_step_done(ctx, st);
}


/* The owner hears of the first counted view at once and of later ones at
 * most once an hour per proposal. */
static int
notify(sales_ctx_t *ctx, const sales_view_t *v, const view_target_t *t)
{
    sqlite3_stmt  *st;
    json_t        *binds, *data;
    int64_t        recent;
    char           title[400], at[32];
    int            first = t->first_viewed_at == 0, rc;

    if (!first) {
        binds = json_pack("[I, I]", (json_int_t) v->proposal_id,
                          (json_int_t) (v->at_ms - NOTIFY_EVERY_MS));
        recent = sales_count(ctx, "SELECT count(*) FROM notifications"
                                  " WHERE proposal_id = ? AND created_at > ?",
                             binds);
        json_decref(binds);

        if (recent != 0) {
            return recent < 0 ? -1 : 0;
        }
    }

    snprintf(title, sizeof(title), "%s %s opened by %s",
             t->number, first ? "was" : "was again", t->email);

    st = sales_prepare(ctx, "INSERT INTO notifications (user_id, type,"
                            " proposal_id, title, created_at)"
                            " VALUES (?, 'proposal.viewed', ?, ?, ?)");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, t->owner_id);
    sqlite3_bind_int64(st, 2, v->proposal_id);
    sqlite3_bind_text(st, 3, title, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, v->at_ms);

    if (sales_step_done(ctx, st) != 0) {
        return -1;
    }

    sales_time_format(v->at_ms, at);
    data = json_pack("{s:I, s:s, s:I, s:s, s:s, s:s, s:s, s:b}",
                     "proposal_id", (json_int_t) v->proposal_id,
                     "number", t->number,
                     "recipient_id", (json_int_t) v->recipient_id,
                     "email", t->email,
                     "channel", v->page ? "page" : "pixel",
                     "class", sales_view_class_name(v->class),
                     "at", at, "first", first);
    rc = sales_event(ctx, "proposal.viewed", "proposal", v->proposal_id,
                     data);
    json_decref(data);
    return rc;
}


/*
 * What the batch learned so far, so a burst of hits on one link costs one
 * insert each: the last recipient read, and the last counted view of
 * each (recipient, address, agent) seen in this batch.
 */
#define MEMO_SIZE  16

typedef struct {
    int64_t          proposal_id;
    int64_t          recipient_id;
    view_target_t    target;
    int              found;
    struct {
        int64_t      recipient_id;
        int64_t      at_ms;
        const char  *ip;
        const char  *ua;
    } counted[MEMO_SIZE];
    int              ncounted;
} view_memo_t;


static int
memo_target(sales_ctx_t *ctx, view_memo_t *m, const sales_view_t *v,
    view_target_t *t)
{
    int  rc;

    if (m->recipient_id != v->recipient_id
        || m->proposal_id != v->proposal_id)
    {
        rc = load_target(ctx, v, &m->target);
        if (rc < 0) {
            return -1;
        }
        m->found = rc;
        m->recipient_id = v->recipient_id;
        m->proposal_id = v->proposal_id;
    }

    *t = m->target;
    return m->found;
}


/* A counted view from the same place within the window, looked up in the
 * batch first and in the table only when the batch has not seen it. */
static int
memo_duplicate(sales_ctx_t *ctx, view_memo_t *m, const sales_view_t *v)
{
    int  i;

    for (i = 0; i < m->ncounted; i++) {
        if (m->counted[i].recipient_id == v->recipient_id
            && strcmp(m->counted[i].ip, v->ip) == 0
            && strcmp(m->counted[i].ua, v->ua) == 0)
        {
            return v->at_ms - m->counted[i].at_ms < ctx->conf->dedupe_ms
                   ? 1 : 0;
        }
    }

    return is_duplicate(ctx, v);
}


static void
memo_counted(view_memo_t *m, const sales_view_t *v)
{
    int  i;

    for (i = 0; i < m->ncounted; i++) {
        if (m->counted[i].recipient_id == v->recipient_id
            && strcmp(m->counted[i].ip, v->ip) == 0
            && strcmp(m->counted[i].ua, v->ua) == 0)
        {
            break;
        }
    }

    if (i == MEMO_SIZE) {
        i = MEMO_SIZE - 1;      /* forget the last; the table still knows */
    } else if (i == m->ncounted) {
        m->ncounted++;
    }

    m->counted[i].recipient_id = v->recipient_id;
    m->counted[i].at_ms = v->at_ms;
    m->counted[i].ip = v->ip;
    m->counted[i].ua = v->ua;
}


static int
write_view(sales_ctx_t *ctx, view_memo_t *memo, const sales_view_t *given)
{
    sqlite3_stmt   *st;
    view_target_t   t;
    sales_view_t    v = *given;
    int64_t         secs;
    int             rc, counted, dup = 0;

    rc = memo_target(ctx, memo, &v, &t);
    if (rc <= 0) {
        return rc;      /* a genuine token whose proposal is gone: skip */
    }

    /* An erased recipient is not tracked again. */
    if (strcmp(t.email, ERASED_EMAIL) == 0) {
        return 0;
    }

    secs = (v.at_ms - t.sent_at) / 1000;

    /* Apple Mail Privacy Protection fetches on delivery with a bare
     * user agent; later the same bare agent is a person opening. */
    if (v.class == SALES_VIEW_HUMAN && v.bare_ua
        && v.at_ms - t.sent_at < ctx->conf->prefetch_ms)
    {
        v.class = SALES_VIEW_PREFETCH;
    }

    counted = v.class == SALES_VIEW_HUMAN || v.class == SALES_VIEW_PROXY;

    if (counted) {
        dup = memo_duplicate(ctx, memo, &v);
        if (dup < 0) {
            return -1;
        }
        counted = !dup;
    }

    st = sales_prepare(ctx, "INSERT INTO proposal_views (proposal_id,"
                            " recipient_id, channel, at, secs_since_sent, ip,"
                            " ua, class, counted, duplicate)"
                            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, v.proposal_id);
    sqlite3_bind_int64(st, 2, v.recipient_id);
    sqlite3_bind_text(st, 3, v.page ? "page" : "pixel", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, v.at_ms);
    sqlite3_bind_int64(st, 5, secs);
    sqlite3_bind_text(st, 6, v.ip, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, v.ua, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, sales_view_class_name(v.class), -1,
                      SQLITE_STATIC);
    sqlite3_bind_int(st, 9, counted);
    sqlite3_bind_int(st, 10, dup);

    if (sales_step_done(ctx, st) != 0) {
        return -1;
    }

    if (!counted) {
        return 1;
    }

    memo_counted(memo, given);

    if (count_view(ctx, &v) != 0 || notify(ctx, &v, &t) != 0) {
        return -1;
    }

    /* the proposal has been viewed now: later views are not the first */
    if (memo->found && memo->target.first_viewed_at == 0) {
        memo->target.first_viewed_at = v.at_ms;
    }

    return 1;
}


static int
add_counter(sales_ctx_t *ctx, const char *name, int64_t n)
{
    sqlite3_stmt  *st;

    if (n == 0) {
        return 0;
    }

    st = sales_prepare(ctx, "UPDATE pixel_counters SET value = value + ?"
                            " WHERE name = ?");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, n);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    return sales_step_done(ctx, st);
}


/*
 * One transaction for the whole batch: all of it is written or none,
 * so a failed write can be retried with the same views.
 */
int
sales_views_write(sqlite3 *db, const sales_conf_t *conf,
    const sales_view_t *views, size_t n, int64_t forged, int64_t head,
    int64_t now_ms, char *err, size_t err_size)
{
    sales_ctx_t    ctx;
    view_memo_t    memo;
    sqlite3_stmt  *st;
    int64_t        written = 0;
    size_t         i;
    int            rc;

    memset(&memo, 0, sizeof(memo));
    memset(&ctx, 0, sizeof(ctx));
    ctx.db = db;
    ctx.conf = conf;
    ctx.now_ms = now_ms;

    if (sales_exec(&ctx, "BEGIN IMMEDIATE") != 0) {
        goto failed;
    }

    for (i = 0; i < n; i++) {
        rc = write_view(&ctx, &memo, &views[i]);
        if (rc < 0) {
            goto failed;
        }
        written += rc;
    }

    if (add_counter(&ctx, "views", written) != 0
        || add_counter(&ctx, "forged", forged) != 0
        || add_counter(&ctx, "head", head) != 0)
    {
        goto failed;
    }

    /* Raw user agents are kept for a while only. */
    st = sales_prepare(&ctx, "UPDATE proposal_views SET ua = NULL"
                             " WHERE ua IS NOT NULL AND at < ?");
    if (st == NULL) {
        goto failed;
    }

    sqlite3_bind_int64(st, 1, now_ms - conf->ua_retention_ms);

    if (sales_step_done(&ctx, st) != 0 || sales_exec(&ctx, "COMMIT") != 0) {
        goto failed;
    }

    json_decref(ctx.errors);
    return 0;

failed:

    snprintf(err, err_size, "%s", ctx.log[0] ? ctx.log : sqlite3_errmsg(db));
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    json_decref(ctx.errors);
    return -1;
}


/*
 * For the glue: the batch through this thread's connection, or, at exit
 * when the pool threads are gone, through a connection of its own.
 */
int
sales_views_store(const sales_conf_t *conf, int own_connection,
    const sales_view_t *views, size_t n, int64_t forged, int64_t head,
    char *err, size_t err_size)
{
    sqlite3  *db;
    int       rc;

    db = sales_db_for(conf, own_connection, err, err_size);
    if (db == NULL) {
        return -1;
    }

    rc = sales_views_write(db, conf, views, n, forged, head, sales_now_ms(),
                           err, err_size);
    sales_db_done(db, own_connection);

    return rc;
}


/* --- the API ------------------------------------------------------------ */

static const sales_field_t  view_fields[] = {
    { "recipient_id", SALES_F_INT, SALES_F_READONLY, 0, 0, NULL, NULL, NULL,
      0, 0 },
    { "channel", SALES_F_STRING, SALES_F_READONLY, 0, 0, NULL, NULL, NULL, 0,
      0 },
    { "at", SALES_F_TIME, SALES_F_READONLY, 0, 0, NULL, NULL, NULL, 0, 0 },
    { "secs_since_sent", SALES_F_INT, SALES_F_READONLY, 0, 0, NULL, NULL,
      NULL, 0, 0 },
    { "ip", SALES_F_STRING, SALES_F_READONLY, 0, 0, NULL, NULL, NULL, 0, 0 },
    { "ua", SALES_F_STRING, SALES_F_READONLY, 0, 0, NULL, NULL, NULL, 0, 0 },
    { "class", SALES_F_STRING, SALES_F_READONLY, 0, 0, NULL, NULL, NULL, 0,
      0 },
    { "counted", SALES_F_BOOL, SALES_F_READONLY, 0, 0, NULL, NULL, NULL, 0,
      0 },
    { "duplicate", SALES_F_BOOL, SALES_F_READONLY, 0, 0, NULL, NULL, NULL, 0,
      0 },
    { NULL, 0, 0, 0, 0, NULL, NULL, NULL, 0, 0 }
};

static const sales_resource_t  views_res = {
    "proposal_views", "view", "view", view_fields, NULL, NULL, NULL
};


static int
views_summary(sales_ctx_t *ctx, int64_t proposal_id, json_t *out)
{
    sqlite3_stmt  *st;
    json_t        *recipients = json_array(), *filtered = json_object();
    int            rc;

    st = sales_prepare(ctx, "SELECT id, email, name, sent_at,"
                            " first_viewed_at, last_viewed_at, view_count"
                            " FROM proposal_recipients WHERE proposal_id = ?"
                            " ORDER BY id");
    if (st == NULL) {
        goto failed;
    }

    sqlite3_bind_int64(st, 1, proposal_id);

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        char     sent[32], first[32], last[32];
        json_t  *r;

        sales_time_format(sqlite3_column_int64(st, 3), sent);
        sales_time_format(sqlite3_column_int64(st, 4), first);
        sales_time_format(sqlite3_column_int64(st, 5), last);

        r = json_pack("{s:I, s:s, s:s?, s:s, s:s?, s:s?, s:I}",
                      "recipient_id", (json_int_t) sqlite3_column_int64(st, 0),
                      "email", (const char *) sqlite3_column_text(st, 1),
                      "name", (const char *) sqlite3_column_text(st, 2),
                      "sent_at", sent,
                      "first_viewed_at",
                      sqlite3_column_type(st, 4) == SQLITE_NULL ? NULL : first,
                      "last_viewed_at",
                      sqlite3_column_type(st, 5) == SQLITE_NULL ? NULL : last,
                      "view_count", (json_int_t) sqlite3_column_int64(st, 6));
        json_array_append_new(recipients, r);
    }

    sales_finish(st);

    if (rc != SQLITE_DONE) {
        sales_db_error(ctx, "reading recipients");
        goto failed;
    }

    st = sales_prepare(ctx, "SELECT CASE WHEN duplicate THEN 'duplicate'"
                            " ELSE class END AS what, count(*)"
                            " FROM proposal_views WHERE proposal_id = ?"
                            " AND counted = 0 GROUP BY what");
    if (st == NULL) {
        goto failed;
    }

    sqlite3_bind_int64(st, 1, proposal_id);

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_object_set_new(filtered,
                            (const char *) sqlite3_column_text(st, 0),
                            json_integer(sqlite3_column_int64(st, 1)));
    }

    sales_finish(st);

    if (rc != SQLITE_DONE) {
        sales_db_error(ctx, "counting views");
        goto failed;
    }

    json_object_set_new(out, "summary", json_pack("{s:o, s:o}",
                        "recipients", recipients, "filtered", filtered));
    return 0;

failed:

    json_decref(recipients);
    json_decref(filtered);
    return -1;
}


int
sales_proposals_views(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    sales_buf_t  where = {0};
    json_t      *p, *binds;
    size_t       i;
    json_t      *item;
    int          rc;

    if (sales_proposal_load(ctx, ctx->ids[0], &p) != 0) {
        return -1;
    }

    json_decref(p);

    binds = json_pack("[I]", (json_int_t) ctx->ids[0]);
    sales_buf_adds(&where, "t.proposal_id = ?");

    rc = sales_list(ctx, &views_res,
                    "(SELECT *, at AS created_at, at AS updated_at,"
                    " 1 AS version FROM proposal_views) t",
                    &where, binds, 1, out);
    sales_buf_free(&where);
    json_decref(binds);

    if (rc != 0) {
        return -1;
    }

    json_array_foreach(json_object_get(*out, "items"), i, item) {
        json_object_del(item, "created_at");
        json_object_del(item, "updated_at");
        json_object_del(item, "version");
    }

    return views_summary(ctx, ctx->ids[0], *out) == 0 ? 200 : -1;
}


int
sales_recipients_erase(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    sqlite3_stmt  *st;
    json_t        *p, *binds;
    int64_t        n;
    int            rc;

    if (sales_proposal_load(ctx, ctx->ids[0], &p) != 0) {
        return -1;
    }

    json_decref(p);

    binds = json_pack("[I, I]", (json_int_t) ctx->ids[1],
                      (json_int_t) ctx->ids[0]);
    n = sales_count(ctx, "SELECT count(*) FROM proposal_recipients"
                         " WHERE id = ? AND proposal_id = ?", binds);
    json_decref(binds);

    if (n <= 0) {
        return n < 0 ? -1 : sales_not_found(ctx, "recipient");
    }

    st = sales_prepare(ctx, "DELETE FROM proposal_views"
                            " WHERE recipient_id = ?");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, ctx->ids[1]);
    if (sales_step_done(ctx, st) != 0) {
        return -1;
    }

    n = sqlite3_changes(ctx->db);

    /* The owner's notifications named the address; they stop doing so. */
    /* titles end "opened by <address>": only an exact ending is changed */
    st = sales_prepare(ctx, "UPDATE notifications SET title ="
                            " substr(title, 1, length(title) - length(e.email))"
                            " || 'an erased recipient'"
                            " FROM (SELECT email FROM proposal_recipients"
                            "  WHERE id = ?1) e"
                            " WHERE proposal_id = ?2"
                            " AND substr(title, -length(' opened by ' || e.email))"
                            " = ' opened by ' || e.email");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, ctx->ids[1]);
    sqlite3_bind_int64(st, 2, ctx->ids[0]);
    if (sales_step_done(ctx, st) != 0) {
        return -1;
    }

    st = sales_prepare(ctx, "UPDATE proposal_recipients SET"
                            " email = '" ERASED_EMAIL "', name = NULL,"
                            " contact_id = NULL, first_viewed_at = NULL,"
                            " last_viewed_at = NULL, view_count = 0"
                            " WHERE id = ?");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, ctx->ids[1]);

    binds = json_pack("{s:I, s:I}", "recipient_id", (json_int_t) ctx->ids[1],
                      "views_deleted", (json_int_t) n);
    rc = sales_step_done(ctx, st) == 0
         && sales_audit(ctx, "erase", "proposal", ctx->ids[0], binds) == 0;

    if (rc) {
        *out = binds;
        return 200;
    }

    json_decref(binds);
    return -1;
}


/* --- notifications --------------------------------------------------------- */

static const sales_field_t  notification_fields[] = {
    { "type", SALES_F_STRING, SALES_F_READONLY, 0, 0, NULL, NULL, NULL, 0,
      0 },
    { "proposal_id", SALES_F_INT, SALES_F_READONLY, 0, 0, NULL, NULL, NULL, 0,
      0 },
    { "title", SALES_F_STRING, SALES_F_READONLY, 0, 0, NULL, NULL, NULL, 0,
      0 },
    { "read_at", SALES_F_TIME, SALES_F_READONLY, 0, 0, NULL, NULL, NULL, 0,
      0 },
    { NULL, 0, 0, 0, 0, NULL, NULL, NULL, 0, 0 }
};

static const sales_resource_t  notifications_res = {
    "notifications", "notification", "notification", notification_fields,
    NULL, NULL, NULL
};

#define NOTIFICATIONS_FROM \
    "(SELECT *, created_at AS updated_at, 1 AS version FROM notifications) t"


int
sales_notifications_list(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    sales_buf_t  where = {0};
    json_t      *binds, *item;
    size_t       i;
    int64_t      unread;
    int          only_unread, rc;

    if (sales_param_bool(ctx, "unread", &only_unread) != 0) {
        return -1;
    }

    binds = json_pack("[I]", (json_int_t) ctx->user.id);
    sales_buf_adds(&where, "t.user_id = ?");

    if (only_unread == 1) {
        sales_buf_adds(&where, " AND t.read_at IS NULL");
    } else if (only_unread == 0) {
        sales_buf_adds(&where, " AND t.read_at IS NOT NULL");
    }

    rc = sales_list(ctx, &notifications_res, NOTIFICATIONS_FROM, &where,
                    binds, 1, out);
    sales_buf_free(&where);
    json_decref(binds);

    if (rc != 0) {
        return -1;
    }

    json_array_foreach(json_object_get(*out, "items"), i, item) {
        json_object_del(item, "updated_at");
        json_object_del(item, "version");
    }

    binds = json_pack("[I]", (json_int_t) ctx->user.id);
    unread = sales_count(ctx, "SELECT count(*) FROM notifications"
                              " WHERE user_id = ? AND read_at IS NULL", binds);
    json_decref(binds);

    if (unread < 0) {
        return -1;
    }

    json_object_set_new(*out, "unread_count", json_integer(unread));
    return 200;
}


static int
notification_get(sales_ctx_t *ctx, int64_t id, json_t **out)
{
    sqlite3_stmt  *st;
    int            rc;

    st = sales_prepare(ctx, "SELECT id, type, proposal_id, title, created_at,"
                            " read_at FROM notifications WHERE id = ?");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);

    if (rc == SQLITE_ROW) {
        char  created[32], read[32];

        sales_time_format(sqlite3_column_int64(st, 4), created);
        sales_time_format(sqlite3_column_int64(st, 5), read);

        *out = json_pack("{s:I, s:s, s:o, s:s, s:s, s:s?}",
                         "id", (json_int_t) sqlite3_column_int64(st, 0),
                         "type", (const char *) sqlite3_column_text(st, 1),
                         "proposal_id",
                         sqlite3_column_type(st, 2) == SQLITE_NULL
                         ? json_null()
                         : json_integer(sqlite3_column_int64(st, 2)),
                         "title", (const char *) sqlite3_column_text(st, 3),
                         "created_at", created,
                         "read_at", sqlite3_column_type(st, 5) == SQLITE_NULL
                                    ? NULL : read);
    }

    sales_finish(st);
    return rc == SQLITE_ROW ? 0 : sales_db_error(ctx, "reading a notification");
}


static int
mark_read(sales_ctx_t *ctx, int64_t id)
{
    sqlite3_stmt  *st;

    st = sales_prepare(ctx, "UPDATE notifications SET read_at = ?"
                            " WHERE user_id = ? AND read_at IS NULL"
                            " AND (? = 0 OR id = ?)");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, ctx->now_ms);
    sqlite3_bind_int64(st, 2, ctx->user.id);
    sqlite3_bind_int64(st, 3, id);
    sqlite3_bind_int64(st, 4, id);

    return sales_step_done(ctx, st);
}


int
sales_notifications_read(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    json_t  *binds;
    int64_t  n;

    binds = json_pack("[I, I]", (json_int_t) ctx->ids[0],
                      (json_int_t) ctx->user.id);
    n = sales_count(ctx, "SELECT count(*) FROM notifications WHERE id = ?"
                         " AND user_id = ?", binds);
    json_decref(binds);

    if (n <= 0) {
        return n < 0 ? -1 : sales_not_found(ctx, "notification");
    }

    if (mark_read(ctx, ctx->ids[0]) != 0) {
        return -1;
    }

    return notification_get(ctx, ctx->ids[0], out) == 0 ? 200 : -1;
}


int
sales_notifications_read_all(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    if (mark_read(ctx, 0) != 0) {
        return -1;
    }

    *out = json_pack("{s:I}", "marked", (json_int_t) sqlite3_changes(ctx->db));
    return 200;
}


int
sales_pixel_stats(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    sqlite3_stmt  *st;
    int            rc;

    st = sales_prepare(ctx, "SELECT name, value FROM pixel_counters");
    if (st == NULL) {
        return -1;
    }

    *out = json_object();

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_object_set_new(*out, (const char *) sqlite3_column_text(st, 0),
                            json_integer(sqlite3_column_int64(st, 1)));
    }

    sales_finish(st);
    return rc == SQLITE_DONE ? 200 : sales_db_error(ctx, "reading counters");
}
