/*
 * Upgrading a database made by an older build: every migration from the
 * landed schema 5 on, applied to a database with rows in the tables a
 * later migration rebuilds (proposals and what refers to it), keeps every
 * row and every reference.
 */

#include "tap.h"
#include "unit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sales.h"
#include "sales_schema.h"


static int64_t
one(sqlite3 *db, const char *sql)
{
    sqlite3_stmt  *st;
    int64_t        v = -1;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) {
            v = sqlite3_column_int64(st, 0);
        }
        sqlite3_finalize(st);
    }

    return v;
}


void
test_migrate(void)
{
    char      dir[] = "/tmp/sales-migrate-XXXXXX", path[96], err[256];
    sqlite3  *db;
    char     *msg = NULL;
    int       i, rc;

    if (!ok(mkdtemp(dir) != NULL, "a temporary folder")) {
        diag("mkdtemp: %s", strerror(errno));
        return;
    }

    snprintf(path, sizeof(path), "%s/old.db", dir);

    /* The schema as an older build left it: migrations 1 to 5. */
    ok(sqlite3_open(path, &db) == SQLITE_OK, "an old database");
    for (i = 0; i < 5; i++) {
        sqlite3_exec(db, sales_migrations[i], NULL, NULL, NULL);
    }
    sqlite3_exec(db, "PRAGMA user_version = 5", NULL, NULL, NULL);

    rc = sqlite3_exec(db,
        "INSERT INTO users (name, role, created_at, updated_at)"
        " VALUES ('AE', 'ae', 0, 0);"
        "INSERT INTO clients (name, name_search, owner_id, created_at,"
        " updated_at) VALUES ('C', 'c', 1, 0, 0);"
        "INSERT INTO opportunities (client_id, title, title_search, owner_id,"
        " currency, expected_close, stage, is_open, probability,"
        " stage_changed_at, created_at, updated_at) VALUES (1, 'O', 'o', 1,"
        " 'RON', '2027-01-01', 'proposal', 1, 50, 0, 0, 0);"
        "INSERT INTO products (sku, name, name_search, created_at,"
        " updated_at) VALUES ('S', 'P', 'p', 0, 0);"
        "INSERT INTO proposals (number, opportunity_id, client_id, owner_id,"
        " currency, status, valid_until, price_date, created_at, updated_at,"
        " revision) VALUES ('PRO-2026-0001', 1, 1, 1, 'RON', 'sent',"
        " '2027-01-01', '2026-01-01', 0, 0, 1), ('PRO-2026-0001', 1, 1, 1,"
        " 'RON', 'accepted', '2027-01-01', '2026-01-01', 0, 0, 2);"
        "UPDATE proposals SET supersedes_id = 1 WHERE id = 2;"
        "UPDATE proposals SET superseded_by_id = 2, status = 'superseded'"
        " WHERE id = 1;"
        "INSERT INTO proposal_lines (proposal_id, position, product_id,"
        " description, quantity, list_unit_price_minor, price_check, rate_bp,"
        " net_minor, vat_minor, gross_minor) VALUES (2, 1, 1, 'd', 1, 100,"
        " '{}', 2100, 100, 21, 121);"
        "INSERT INTO proposal_recipients (proposal_id, email, sent_at)"
        " VALUES (2, 'x@example.ro', 0);"
        "UPDATE proposals SET decided_by_recipient_id = 1 WHERE id = 2;"
        "INSERT INTO proposal_views (proposal_id, recipient_id, channel, at,"
        " class, counted) VALUES (2, 1, 'pixel', 0, 'human', 1);"
        "INSERT INTO notifications (user_id, type, proposal_id, title,"
        " created_at) VALUES (1, 'proposal.viewed', 2, 't', 0);",
        NULL, NULL, &msg);
    ok(rc == SQLITE_OK, "rows in every table that refers to proposals (%s)",
       msg ? msg : "");
    sqlite3_free(msg);

    ok(sales_db_migrate(db, err, sizeof(err)) == 0, "migrated to the "
       "current schema (%s)", err);
    ok(one(db, "PRAGMA user_version") == sales_db_schema_version(),
       "at version %d", sales_db_schema_version());
    ok(one(db, "SELECT count(*) FROM proposals") == 2
       && one(db, "SELECT revision FROM proposals WHERE id = 2") == 2
       && one(db, "SELECT supersedes_id FROM proposals WHERE id = 2") == 1
       && one(db, "SELECT decided_by_recipient_id FROM proposals"
                  " WHERE id = 2") == 1,
       "the proposals kept, with their revisions and answers");
    ok(one(db, "SELECT count(*) FROM proposal_lines") == 1
       && one(db, "SELECT count(*) FROM proposal_views") == 1
       && one(db, "SELECT count(*) FROM notifications") == 1,
       "and what refers to them");
    ok(one(db, "SELECT count(*) FROM pragma_foreign_key_check") == 0,
       "every reference still points at its row");
    ok(one(db, "PRAGMA foreign_keys") == 1, "foreign keys are on again");
    ok(sqlite3_exec(db, "UPDATE proposals SET status = 'converted'"
                        " WHERE id = 2", NULL, NULL, NULL) == SQLITE_OK,
       "the new state is accepted");
    ok(sqlite3_exec(db, "DELETE FROM proposals WHERE id = 2", NULL, NULL,
                    NULL) != SQLITE_OK,
       "a proposal with lines is not deleted: references are enforced");
    ok(sales_db_migrate(db, err, sizeof(err)) == 0, "migrating again is a "
       "no-op");

    sqlite3_close(db);
    unlink(path);
    rmdir(dir);
}
