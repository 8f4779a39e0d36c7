/*
 * salesctl: the admin CLI, built from the same core as the module and
 * working on the same database file, also while nginx runs.
 */

#include "sales.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static void
usage(void)
{
    fprintf(stderr,
        "usage: salesctl --db FILE COMMAND\n"
        "  migrate                          create or upgrade the schema\n"
        "  user add NAME --role ROLE [--manager ID]\n"
        "                                   ROLE: admin|manager|ae|integration;"
        "\n"
        "                                   prints {\"id\":…,\"token\":\"…\"}\n"
        "  token add USER_ID [--label TEXT] prints {\"id\":…,\"token\":\"…\"}\n"
        "  token revoke TOKEN_ID\n"
        "  backup TO                        consistent copy of the database\n");
}


static int
parse_id(const char *s, int64_t *out)
{
    char       *end;
    long long   v;

    if (s == NULL || *s < '1' || *s > '9') {
        return -1;
    }

    v = strtoll(s, &end, 10);
    if (*end != '\0' || v <= 0) {
        return -1;
    }

    *out = v;
    return 0;
}


static int
print_json(json_t *j)
{
    char  *text = json_dumps(j, JSON_COMPACT);

    if (text == NULL) {
        return 1;
    }

    printf("%s\n", text);
    free(text);
    return 0;
}


static int
cmd_user_add(sqlite3 *db, int argc, char **argv)
{
    const char  *name = NULL;
    int64_t      manager = 0;
    json_t      *out;
    char         err[512];
    int          i, role = 0;

    for (i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--role") == 0 && i + 1 < argc) {
            role = sales_role_parse(argv[++i]);
            if (role == 0) {
                fprintf(stderr, "salesctl: unknown role \"%s\"\n", argv[i]);
                return 2;
            }

        } else if (strcmp(argv[i], "--manager") == 0 && i + 1 < argc) {
            if (parse_id(argv[++i], &manager) != 0) {
                fprintf(stderr, "salesctl: --manager takes a user id\n");
                return 2;
            }

        } else if (name == NULL && argv[i][0] != '-') {
            name = argv[i];

        } else {
            usage();
            return 2;
        }
    }

    if (name == NULL || role == 0) {
        usage();
        return 2;
    }

    if (sales_user_insert(db, name, role, manager, sales_now_ms(), &out, err,
                          sizeof(err))
        != 0)
    {
        fprintf(stderr, "salesctl: %s\n", err);
        return 1;
    }

    i = print_json(out);
    json_decref(out);
    return i;
}


static int
cmd_token_add(sqlite3 *db, int argc, char **argv)
{
    const char     *label = NULL;
    int64_t         user;
    sqlite3_stmt   *st;
    json_t         *out, *short_out;
    int             rc, found;

    if (argc < 1 || parse_id(argv[0], &user) != 0) {
        usage();
        return 2;
    }

    if (argc == 3 && strcmp(argv[1], "--label") == 0) {
        label = argv[2];

    } else if (argc != 1) {
        usage();
        return 2;
    }

    sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);

    sqlite3_prepare_v2(db, "SELECT 1 FROM users WHERE id = ?", -1, &st, NULL);
    sqlite3_bind_int64(st, 1, user);
    found = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);

    if (!found) {
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        fprintf(stderr, "salesctl: no user %lld\n", (long long) user);
        return 1;
    }

    if (sales_token_create(db, user, label, sales_now_ms(), &out) != 0
        || sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
    {
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        fprintf(stderr, "salesctl: %s\n", sqlite3_errmsg(db));
        return 1;
    }

    short_out = json_pack("{s:O, s:O}", "id", json_object_get(out, "id"),
                          "token", json_object_get(out, "token"));
    rc = print_json(short_out);
    json_decref(short_out);
    json_decref(out);
    return rc;
}


static int
cmd_token_revoke(sqlite3 *db, int argc, char **argv)
{
    sqlite3_stmt  *st;
    int64_t        id;
    int            rc;

    if (argc != 1 || parse_id(argv[0], &id) != 0) {
        usage();
        return 2;
    }

    sqlite3_prepare_v2(db, "UPDATE api_tokens SET revoked_at = ?"
                           " WHERE id = ? AND revoked_at IS NULL",
                       -1, &st, NULL);
    sqlite3_bind_int64(st, 1, sales_now_ms());
    sqlite3_bind_int64(st, 2, id);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);

    if (rc != SQLITE_DONE) {
        fprintf(stderr, "salesctl: %s\n", sqlite3_errmsg(db));
        return 1;
    }

    if (sqlite3_changes(db) == 0) {
        fprintf(stderr, "salesctl: no active token %lld\n", (long long) id);
        return 1;
    }

    printf("{\"id\":%lld,\"revoked\":true}\n", (long long) id);
    return 0;
}


int
main(int argc, char **argv)
{
    const char  *path = NULL;
    sqlite3     *db;
    char         err[512];
    int          rc;

    if (argc >= 3 && strcmp(argv[1], "--db") == 0) {
        path = argv[2];
        argc -= 3;
        argv += 3;
    }

    if (path == NULL || argc < 1) {
        usage();
        return 2;
    }

    if (sales_db_open(path, 10000, &db, err, sizeof(err)) != 0) {
        fprintf(stderr, "salesctl: %s\n", err);
        return 1;
    }

    if (strcmp(argv[0], "migrate") == 0 && argc == 1) {
        printf("{\"schema_version\":%d}\n", sales_db_schema_version());
        rc = 0;

    } else if (strcmp(argv[0], "user") == 0 && argc >= 2
               && strcmp(argv[1], "add") == 0)
    {
        rc = cmd_user_add(db, argc - 2, argv + 2);

    } else if (strcmp(argv[0], "token") == 0 && argc >= 2
               && strcmp(argv[1], "add") == 0)
    {
        rc = cmd_token_add(db, argc - 2, argv + 2);

    } else if (strcmp(argv[0], "token") == 0 && argc >= 2
               && strcmp(argv[1], "revoke") == 0)
    {
        rc = cmd_token_revoke(db, argc - 2, argv + 2);

    } else if (strcmp(argv[0], "backup") == 0 && argc == 2) {
        rc = sales_db_backup(db, argv[1], err, sizeof(err)) == 0 ? 0 : 1;
        if (rc) {
            fprintf(stderr, "salesctl: %s\n", err);
        } else {
            printf("{\"backup\":\"%s\"}\n", argv[1]);
        }

    } else {
        usage();
        rc = 2;
    }

    sqlite3_close_v2(db);
    return rc;
}
