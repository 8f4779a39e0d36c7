/*
 * Commission policies and their assignments to people.
 *
 * A policy states its whole calculation: the type (fixed, tiered,
 * accelerator), for a tiered one its bands and whether they apply
 * marginally or as a slab, the basis (issued or paid invoices), the base
 * (net or gross), the period, and for an accelerator the quota and the
 * multiplier above it. Nothing is implied: a field a type needs is
 * required, a field it does not use is refused.
 *
 * Once a policy has accrued commission its terms are frozen, so every
 * ledger row stays explained by the policy it names: a change of terms
 * is a new policy, assigned from a later date.
 */

#include "sales_resource.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#define MAX_BANDS   20
#define MAX_MINOR   1000000000000000LL

#define POLICY_WRITERS_ONLY                                                   \
    "a manager changes only the policies of their own team"

static const char *const  policy_types[] = {
    "fixed", "tiered", "accelerator", NULL
};

static const char *const  policy_bases_on[] = { "issued", "paid", NULL };
static const char *const  policy_bases[] = { "net", "gross", NULL };
static const char *const  policy_periods[] = { "month", "quarter", NULL };
static const char *const  policy_modes[] = { "marginal", "slab", NULL };

static const sales_field_t  policy_fields[] = {
    { "name", SALES_F_STRING, SALES_F_REQUIRED, 1, 200, NULL, NULL, NULL, 0,
      0 },
    { "type", SALES_F_ENUM, SALES_F_REQUIRED, 0, 0, policy_types, NULL, NULL,
      0, 0 },
    { "basis", SALES_F_ENUM, SALES_F_NOTNULL, 0, 0, policy_bases_on, NULL,
      "issued", 0, 1 },
    { "base", SALES_F_ENUM, SALES_F_NOTNULL, 0, 0, policy_bases, NULL, "net",
      0, 1 },
    { "period", SALES_F_ENUM, SALES_F_NOTNULL, 0, 0, policy_periods, NULL,
      "month", 0, 1 },
    { "rate_bp", SALES_F_INT, 0, 0, 10000, NULL, NULL, NULL, 0, 0 },
    { "mode", SALES_F_ENUM, 0, 0, 0, policy_modes, NULL, NULL, 0, 0 },
    SALES_SHOWN("bands", SALES_F_STRING),
    { "quota_minor", SALES_F_INT, 0, 1, MAX_MINOR, NULL, NULL, NULL, 0, 0 },
    { "multiplier_bp", SALES_F_INT, 0, 10000, 100000, NULL, NULL, NULL, 0,
      0 },
    { "currency", SALES_F_STRING, SALES_F_NOTNULL, 3, 3, NULL,
      sales_check_currency, "RON", 0, 1 },
    { "manager_id", SALES_F_INT, 0, 1, INT64_MAX, NULL, NULL, NULL, 0, 0 },
    { "effective_from", SALES_F_DATE, SALES_F_NOTNULL, 0, 0, NULL, NULL, NULL,
      0, 0 },
    { "effective_to", SALES_F_DATE, 0, 0, 0, NULL, NULL, NULL, 0, 0 },
    SALES_FIELDS_END
};

static const sales_resource_t  policies_res = {
    "commission_policies", "commission_policy", "commission policy",
    policy_fields, NULL, NULL, "/commission/policies"
};

static const sales_field_t  assignment_fields[] = {
    SALES_SHOWN("policy_id", SALES_F_INT),
    { "user_id", SALES_F_INT, SALES_F_REQUIRED, 1, INT64_MAX, NULL, NULL,
      NULL, 0, 0 },
    { "effective_from", SALES_F_DATE, SALES_F_NOTNULL, 0, 0, NULL, NULL,
      NULL, 0, 0 },
    { "effective_to", SALES_F_DATE, 0, 0, 0, NULL, NULL, NULL, 0, 0 },
    SALES_FIELDS_END
};

static const sales_resource_t  assignments_res = {
    "commission_assignments", "commission_assignment",
    "commission assignment", assignment_fields, NULL, NULL,
    "/commission/assignments"
};


/* --- who sees and writes what -------------------------------------------- */

/*
 * Policies the caller sees: an admin or integration all; a manager their
 * team's and those assigned to themselves; anyone else those assigned to
 * them.
 */
static void
policy_scope(sales_ctx_t *ctx, sales_buf_t *where, json_t *binds)
{
    switch (ctx->user.role) {

    case SALES_ROLE_ADMIN:
    case SALES_ROLE_INTEGRATION:
        sales_buf_adds(where, "1");
        return;

    case SALES_ROLE_MANAGER:
        sales_buf_adds(where, "(t.manager_id = ? OR ");
        json_array_append_new(binds, json_integer(ctx->user.id));
        break;

    default:
        sales_buf_adds(where, "(");
    }

    sales_buf_adds(where, "t.id IN (SELECT policy_id FROM"
                          " commission_assignments WHERE user_id = ?))");
    json_array_append_new(binds, json_integer(ctx->user.id));
}


/* bands stored as JSON text is shown as the array it is. */
static int
policy_finish(sales_ctx_t *ctx, json_t *p)
{
    const char  *text = sales_jstr(p, "bands");

    if (text) {
        json_t  *bands = json_loads(text, 0, NULL);

        json_object_set_new(p, "bands", bands ? bands : json_null());
    }

    return 0;
}


static int
policy_load(sales_ctx_t *ctx, int64_t id, int finished, json_t **out)
{
    int  rc = sales_load_scoped(ctx, &policies_res, id, policy_scope, out);

    if (rc == 0 && finished) {
        policy_finish(ctx, *out);
    }

    return rc;
}


static int
policy_shown(sales_ctx_t *ctx, int64_t id, json_t **out)
{
    return policy_load(ctx, id, 1, out);
}


/* A visible policy the caller may change: an admin any, a manager their
 * own team's (403 otherwise). */
static int
policy_load_writable(sales_ctx_t *ctx, int64_t id, json_t **out)
{
    if (policy_load(ctx, id, 0, out) != 0) {
        return -1;
    }

    if (ctx->user.role != SALES_ROLE_ADMIN
        && sales_jint(*out, "manager_id") != ctx->user.id)
    {
        json_decref(*out);
        *out = NULL;
        return sales_forbidden(ctx, POLICY_WRITERS_ONLY);
    }

    return 0;
}


/* --- a policy's terms ---------------------------------------------------- */

/* bands: [{from_minor, rate_bp}, ...], the first from 0, ascending; the
 * canonical text to store in *text. */
static int
bands_check(sales_ctx_t *ctx, json_t *bands, char **text)
{
    static const char *const  known[] = { "from_minor", "rate_bp", NULL };

    json_t   *b, *clean;
    int64_t   prev = -1;
    size_t    i;
    int       bad = 0;

    *text = NULL;

    if (sales_items_shape(ctx, bands, "bands", MAX_BANDS, known) != 0
        && !json_is_array(bands))
    {
        return -1;
    }

    clean = json_array();

    json_array_foreach(bands, i, b) {
        json_t   *from = json_object_get(b, "from_minor");
        int64_t   f;

        bad |= sales_item_int(ctx, b, "bands", i, "from_minor", 0, MAX_MINOR,
                              1) != 0;
        bad |= sales_item_int(ctx, b, "bands", i, "rate_bp", 0, 10000, 1)
               != 0;

        if (!json_is_integer(from)) {
            prev = -1;
            continue;
        }

        f = json_integer_value(from);

        if (i == 0 && f != 0) {
            bad = 1;
            sales_line_error(ctx, "bands", i, "from_minor", "the first band "
                             "starts at 0");

        } else if (i > 0 && prev >= 0 && f <= prev) {
            bad = 1;
            sales_line_error(ctx, "bands", i, "from_minor", "must be above "
                             "the previous band's from_minor: bands ascend");
        }

        prev = f;
        json_array_append_new(clean, json_pack("{s:O, s:O}", "from_minor",
                                               from, "rate_bp",
                                               json_object_get(b, "rate_bp")));
    }

    if (!bad && json_array_size(ctx->errors) == 0) {
        *text = json_dumps(clean, JSON_COMPACT | JSON_SORT_KEYS);
    }

    json_decref(clean);
    return *text ? 0 : -1;
}


static int
given(json_t *o, const char *key)
{
    json_t  *v = json_object_get(o, key);

    return v != NULL && !json_is_null(v);
}


/* What each type needs and refuses, on the policy as it will be. */
static void
terms_check(sales_ctx_t *ctx, json_t *m)
{
    static const struct {
        const char  *field;
        const char  *types;     /* the types that use and need it */
        const char  *refusal;
        const char  *why;
    } rules[] = {
        { "rate_bp", "fixed,accelerator",
          "is not for a tiered policy: its rates are in its bands", "" },
        { "mode", "tiered", "is only for a tiered policy",
          ": marginal (each band's rate on the part inside it) or slab (the "
          "reached band's rate on the whole)" },
        { "bands", "tiered", "is only for a tiered policy", "" },
        { "quota_minor", "accelerator", "is only for an accelerator",
          ": the multiplier applies above it" },
        { "multiplier_bp", "accelerator", "is only for an accelerator", "" },
        { NULL, NULL, NULL, NULL }
    };

    const char  *type = sales_jstr(m, "type");
    int          k;

    if (type == NULL) {
        return;
    }

    for (k = 0; rules[k].field; k++) {
        int  uses = strstr(rules[k].types, type) != NULL;

        if (!uses && given(m, rules[k].field)) {
            sales_field_error(ctx, rules[k].field, "%s", rules[k].refusal);

        } else if (uses && !given(m, rules[k].field)) {
            sales_field_error(ctx, rules[k].field, "is required for a%s %s "
                              "policy%s", type[0] == 'a' ? "n" : "", type,
                              rules[k].why);
        }
    }

    /* The rate above the quota is a whole number of basis points, so a
     * row's rate states exactly what it paid. */
    if (strcmp(type, "accelerator") == 0 && given(m, "rate_bp")
        && given(m, "multiplier_bp")
        && sales_jint(m, "rate_bp") * sales_jint(m, "multiplier_bp") % 10000)
    {
        sales_field_error(ctx, "multiplier_bp", "rate_bp x multiplier_bp / "
                          "10000 must be a whole number of basis points");
    }

    sales_date_range_check(ctx, m, "effective_from", "effective_to");
}


/* manager_id: a manager's policy is their team's; an admin names a
 * manager or none (null or left out: a company policy, which only admins
 * assign). Sets it in values. */
static void
manager_check(sales_ctx_t *ctx, json_t *body, json_t *values)
{
    json_t  *m = json_object_get(body, "manager_id");
    json_t  *binds;
    int64_t  n;

    if (ctx->user.role == SALES_ROLE_MANAGER) {
        if (m && !(json_is_integer(m)
                   && json_integer_value(m) == ctx->user.id))
        {
            sales_field_error(ctx, "manager_id", "a manager's policies are "
                              "their own team's: leave it out or give your "
                              "own id");
        }
        json_object_set_new(values, "manager_id",
                            json_integer(ctx->user.id));
        return;
    }

    if (m == NULL || json_is_null(m)) {
        return;
    }

    n = 0;
    if (json_is_integer(m)) {
        binds = json_pack("[O]", m);
        n = sales_count(ctx, "SELECT count(*) FROM users WHERE id = ?"
                             " AND role = 'manager' AND disabled = 0", binds);
        json_decref(binds);
    }

    if (n == 0) {
        sales_field_error(ctx, "manager_id", "must be the id of an active "
                          "manager, or null for a company policy");
    } else {
        json_object_set(values, "manager_id", m);
    }
}


/*
 * The values to write from a request: the fields, the bands apart, the
 * manager, then the rules across fields on the policy as it will be.
 * before is the stored row (its bands as text) or NULL.
 */
static int
policy_values(sales_ctx_t *ctx, json_t *body, json_t *before,
    json_t **values)
{
    static const char *const  apart[] = { "bands", "manager_id", NULL };

    json_t  *bands = json_object_get(body, "bands"), *merged, *parsed = NULL;
    char    *text;
    char     today[11];

    sales_doc_fields(ctx, &policies_res, body, before, apart, values);

    if (bands && json_is_null(bands)) {
        json_object_set_new(*values, "bands", json_null());

    } else if (bands && bands_check(ctx, bands, &text) == 0) {
        json_object_set_new(*values, "bands", json_string(text));
        free(text);
    }

    if (before == NULL) {
        manager_check(ctx, body, *values);

        if (!json_object_get(*values, "effective_from")) {
            sales_date_of(ctx->now_ms, today);
            json_object_set_new(*values, "effective_from",
                                json_string(today));
        }

    } else if (json_object_get(body, "manager_id")) {
        sales_field_error(ctx, "manager_id", "cannot be changed: a policy "
                          "stays with its team");
    }

    merged = before ? json_deep_copy(before) : json_object();
    json_object_update(merged, *values);

    /* bands given but refused still count as given for the rules. */
    if (bands && !json_is_null(bands) && !json_object_get(*values, "bands")) {
        parsed = json_string("?");
        json_object_set(merged, "bands", parsed);
    }

    terms_check(ctx, merged);
    json_decref(parsed);
    json_decref(merged);

    return json_array_size(ctx->errors) ? sales_validation_failed(ctx) : 0;
}


int
sales_commission_policies_create(sales_ctx_t *ctx, json_t *body,
    json_t **out)
{
    json_t   *values = NULL;
    int       rc = -1;

    if (policy_values(ctx, body, NULL, &values) != 0) {
        goto done;
    }

    rc = sales_created(ctx, &policies_res,
                       sales_insert(ctx, &policies_res, values), policy_shown,
                       out);

done:

    json_decref(values);
    return rc;
}


int
sales_commission_policies_get(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    return policy_load(ctx, ctx->ids[0], 1, out) == 0 ? 200 : -1;
}


int
sales_commission_policies_list(sales_ctx_t *ctx, json_t *body, json_t **out)
{
    static const char *const  ids[] = { "manager_id", NULL };

    sales_buf_t   where = {0};
    json_t       *binds = json_array();
    const char   *type;
    int64_t       user;
    int           rc = -1;

    policy_scope(ctx, &where, binds);

    if (sales_id_filters(ctx, ids, &where, binds) != 0
        || sales_param_enum(ctx, "type", policy_types, "must be fixed, "
                            "tiered or accelerator", &type) != 0
        || sales_param_int(ctx, "user_id", 1, INT64_MAX, &user) != 0)
    {
        goto done;
    }

    if (type) {
        sales_buf_adds(&where, " AND t.type = ?");
        json_array_append_new(binds, json_string(type));
    }

    if (user) {
        sales_buf_adds(&where, " AND t.id IN (SELECT policy_id FROM"
                               " commission_assignments WHERE user_id = ?)");
        json_array_append_new(binds, json_integer(user));
    }

    rc = sales_list_finished(ctx, &policies_res, &where, binds, 0,
                             policy_finish, out) == 0 ? 200 : -1;

done:

    sales_buf_free(&where);
    json_decref(binds);
    return rc;
}


/* The latest event date of the rows accrued under a policy or an
 * assignment (column), "" when none; out >= 11. */
static int
last_accrued(sales_ctx_t *ctx, const char *column, int64_t id, char *out)
{
    sales_buf_t    sql = {0};
    sqlite3_stmt  *st;
    int            rc;

    sales_buf_printf(&sql, "SELECT max(event_date) FROM commission_accruals"
                     " WHERE %s = ? AND kind != 'carry'", column);
    st = sales_prepare_bound(ctx, &sql, NULL);
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    out[0] = '\0';

    if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
        snprintf(out, 11, "%s", sqlite3_column_text(st, 0));
    }

    sales_finish(st);
    return rc == SQLITE_ROW ? 0 : sales_db_error(ctx, "reading accruals");
}


/* An end date may not cut off events that accrued under it. */
static int
end_after_accrued(sales_ctx_t *ctx, const char *column, int64_t id,
    json_t *values, const char *label)
{
    const char  *to = sales_jstr(values, "effective_to");
    char         last[11];

    if (!json_object_get(values, "effective_to") || to == NULL) {
        return 0;
    }

    if (last_accrued(ctx, column, id, last) != 0) {
        return -1;
    }

    if (last[0] && strcmp(to, last) < 0) {
        sales_field_error(ctx, "effective_to", "is before %s, the date of "
                          "an event that accrued under this %s", last, label);
        ctx->status = 409;
        ctx->problem = "conflict";
        return sales_validation_failed(ctx);
    }

    return 0;
}


int
sales_commission_policies_update(sales_ctx_t *ctx, json_t *body,
    json_t **out)
{
    static const char *const  always[] = {
        "name", "effective_to", NULL
    };

    json_t      *before, *values = NULL, *v;
    const char  *key;
    int64_t      id = ctx->ids[0];
    char         last[11];
    int          k, rc = -1;

    if (policy_load_writable(ctx, id, &before) != 0) {
        return -1;
    }

    if (policy_values(ctx, body, before, &values) != 0
        || last_accrued(ctx, "policy_id", id, last) != 0)
    {
        goto done;
    }

    /* Terms that explained accrued rows stay as they were. */
    if (last[0]) {
        json_object_foreach(values, key, v) {
            for (k = 0; always[k] && strcmp(always[k], key) != 0; k++) {
                /* void */
            }

            if (always[k] == NULL
                && !json_equal(v, json_object_get(before, key)))
            {
                sales_fail(ctx, 409, "conflict", "the policy has accrued "
                           "commission, so its terms are kept as they were "
                           "(%s): end it with effective_to and assign a new "
                           "policy from a later date", key);
                goto done;
            }
        }
    }

    if (end_after_accrued(ctx, "policy_id", id, values, "policy") != 0) {
        goto done;
    }

    if (json_object_get(values, "effective_from")) {
        json_t   *binds = json_pack("[I, O]", (json_int_t) id,
                                    json_object_get(values, "effective_from"));
        int64_t   n = sales_count(ctx, "SELECT count(*) FROM"
                                       " commission_assignments WHERE"
                                       " policy_id = ? AND effective_from < ?",
                                  binds);

        json_decref(binds);
        if (n != 0) {
            if (n > 0) {
                sales_field_error(ctx, "effective_from", "is after the start "
                                  "of an assignment of this policy");
                ctx->status = 409;
                ctx->problem = "conflict";
                sales_validation_failed(ctx);
            }
            goto done;
        }
    }

    rc = sales_updated(ctx, &policies_res, id, before, values, policy_shown,
                       out);

done:

    json_decref(values);
    json_decref(before);
    return rc;
}


/* --- assignments --------------------------------------------------------- */

/* Assignments follow their person's visibility. */
static void
assignment_scope(sales_ctx_t *ctx, sales_buf_t *where, json_t *binds)
{
    sales_scope_sql(ctx, "t.user_id", where, binds);
}


static int
assignment_load(sales_ctx_t *ctx, int64_t id, json_t **out)
{
    return sales_load_scoped(ctx, &assignments_res, id, assignment_scope,
                             out);
}


/* The assignment's policy, for a change by the caller. */
static int
assignment_load_writable(sales_ctx_t *ctx, int64_t id, json_t **a,
    json_t **policy)
{
    if (assignment_load(ctx, id, a) != 0) {
        return -1;
    }

    if (policy_load_writable(ctx, sales_jint(*a, "policy_id"), policy) != 0)
    {
        json_decref(*a);
        *a = NULL;
        return -1;
    }

    return 0;
}


/* Who may be given a policy: an active AE or manager, of the policy's
 * team when it has one. */
static int
assignee_check(sales_ctx_t *ctx, json_t *policy, json_t *values)
{
    sqlite3_stmt  *st;
    int64_t        team = sales_jint(policy, "manager_id");
    int            rc;

    if (!json_is_integer(json_object_get(values, "user_id"))) {
        return 0;
    }

    st = sales_prepare(ctx, "SELECT role, ifnull(manager_id, 0) FROM users"
                            " WHERE id = ? AND disabled = 0");
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, sales_jint(values, "user_id"));
    rc = sqlite3_step(st);

    if (rc == SQLITE_ROW) {
        const char  *role = (const char *) sqlite3_column_text(st, 0);

        if (strcmp(role, "ae") != 0 && strcmp(role, "manager") != 0) {
            sales_field_error(ctx, "user_id", "must be an account executive "
                              "or a manager");

        } else if (team && sqlite3_column_int64(st, 1) != team) {
            sales_field_error(ctx, "user_id", "is not in the team of "
                              "manager %lld, whose policy this is",
                              (long long) team);
        }

    } else if (rc == SQLITE_DONE) {
        sales_field_error(ctx, "user_id", "must be the id of an active "
                          "user");
    }

    sales_finish(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0
           : sales_db_error(ctx, "reading a user");
}


/* An assignment lies inside its policy's dates, never overlaps another
 * of the same person (409), and does not reach back before today:
 * events already recorded keep what they accrued. */
static int
assignment_dates(sales_ctx_t *ctx, json_t *policy, json_t *merged,
    json_t *values, int64_t id)
{
    const char  *from = sales_jstr(merged, "effective_from");
    const char  *to = sales_jstr(merged, "effective_to");
    const char  *pfrom = sales_jstr(policy, "effective_from");
    const char  *pto = sales_jstr(policy, "effective_to");
    char         today[11];

    sales_date_of(ctx->now_ms, today);

    if (json_object_get(values, "effective_from") && from
        && strcmp(from, today) < 0)
    {
        sales_field_error(ctx, "effective_from", "must not be before today "
                          "(%s): an assignment does not reach back", today);

    } else if (from && strcmp(from, pfrom) < 0) {
        sales_field_error(ctx, "effective_from", "is before the policy "
                          "starts (%s)", pfrom);

    } else if (from && pto && strcmp(from, pto) > 0) {
        sales_field_error(ctx, "effective_from", "is after the policy ends "
                          "(%s)", pto);
    }

    if (to && pto && strcmp(to, pto) > 0) {
        sales_field_error(ctx, "effective_to", "is after the policy ends "
                          "(%s)", pto);
    }

    sales_date_range_check(ctx, merged, "effective_from", "effective_to");

    if (json_array_size(ctx->errors)) {
        return sales_validation_failed(ctx);
    }

    if (sales_range_free(ctx, "commission_assignments", "user_id",
                         json_object_get(merged, "user_id"), id, "effective",
                         merged, "overlaps another assignment of this "
                         "person: one policy at a time") != 0)
    {
        return sales_validation_failed(ctx);
    }

    return 0;
}


/* POST /commission/policies/{id}/assignments */
int
sales_commission_assignments_create(sales_ctx_t *ctx, json_t *body,
    json_t **out)
{
    json_t   *policy, *values = NULL;
    char      today[11];
    int       rc = -1;

    if (policy_load_writable(ctx, ctx->ids[0], &policy) != 0) {
        return -1;
    }

    sales_validate(ctx, &assignments_res, body, NULL, &values);

    if (!json_object_get(body, "effective_from")) {
        sales_date_of(ctx->now_ms, today);
        json_object_set_new(values, "effective_from", json_string(today));
    }

    json_object_set(values, "policy_id", json_object_get(policy, "id"));

    if (assignee_check(ctx, policy, values) != 0
        || (json_array_size(ctx->errors)
            && sales_validation_failed(ctx) != 0)
        || assignment_dates(ctx, policy, values, values, 0) != 0)
    {
        goto done;
    }

    rc = sales_created(ctx, &assignments_res,
                       sales_insert(ctx, &assignments_res, values),
                       assignment_load, out);

done:

    json_decref(values);
    json_decref(policy);
    return rc;
}


int
sales_commission_assignments_get(sales_ctx_t *ctx, json_t *body,
    json_t **out)
{
    return assignment_load(ctx, ctx->ids[0], out) == 0 ? 200 : -1;
}


int
sales_commission_assignments_list(sales_ctx_t *ctx, json_t *body,
    json_t **out)
{
    static const char *const  ids[] = { "user_id", "policy_id", NULL };

    sales_buf_t   where = {0};
    json_t       *binds = json_array();
    int           rc = -1;

    sales_scope_sql(ctx, "t.user_id", &where, binds);

    if (sales_id_filters(ctx, ids, &where, binds) == 0) {
        rc = sales_list(ctx, &assignments_res, NULL, &where, binds, 0, out)
             == 0 ? 200 : -1;
    }

    sales_buf_free(&where);
    json_decref(binds);
    return rc;
}


/* PATCH: its end (or, before it starts, its start); the person stays. */
int
sales_commission_assignments_update(sales_ctx_t *ctx, json_t *body,
    json_t **out)
{
    json_t      *a, *policy, *values = NULL, *merged = NULL;
    int64_t      id = ctx->ids[0];
    char         today[11];
    int          rc = -1;

    if (assignment_load_writable(ctx, id, &a, &policy) != 0) {
        return -1;
    }

    sales_date_of(ctx->now_ms, today);
    sales_validate(ctx, &assignments_res, body, a, &values);

    if (json_object_get(body, "user_id")) {
        sales_field_error(ctx, "user_id", "cannot be changed: end this "
                          "assignment and make another");
    }

    if (json_object_get(values, "effective_from")
        && strcmp(sales_jstr(a, "effective_from"), today) <= 0)
    {
        sales_field_error(ctx, "effective_from", "cannot be changed: the "
                          "assignment is in effect");
    }

    if (json_array_size(ctx->errors)) {
        sales_validation_failed(ctx);
        goto done;
    }

    merged = json_deep_copy(a);
    json_object_update(merged, values);

    if (assignment_dates(ctx, policy, merged, values, id) == 0
        && end_after_accrued(ctx, "assignment_id", id, values, "assignment")
           == 0)
    {
        rc = sales_updated(ctx, &assignments_res, id, a, values,
                           assignment_load, out);
    }

done:

    json_decref(merged);
    json_decref(values);
    json_decref(policy);
    json_decref(a);
    return rc;
}


/* DELETE: only one not yet in effect, which nothing has accrued under. */
int
sales_commission_assignments_delete(sales_ctx_t *ctx, json_t *body,
    json_t **out)
{
    json_t  *a, *policy;
    char     today[11];
    int      rc;

    if (assignment_load_writable(ctx, ctx->ids[0], &a, &policy) != 0) {
        return -1;
    }

    sales_date_of(ctx->now_ms, today);

    if (strcmp(sales_jstr(a, "effective_from"), today) <= 0) {
        rc = sales_fail(ctx, 409, "conflict", "the assignment is in effect "
                        "since %s: end it with effective_to instead",
                        sales_jstr(a, "effective_from"));
    } else {
        rc = sales_delete_row(ctx, &assignments_res, ctx->ids[0], a);
    }

    json_decref(policy);
    json_decref(a);
    *out = NULL;
    return rc == 0 ? 204 : -1;
}
