/*
 * SQLite connections, migrations and statement helpers.
 *
 * Each thread that runs core code has its own connection, opened on first
 * use (never before a fork) and kept for the thread's life. Every
 * connection is remembered in a process-wide list so the process can close
 * them all when it exits, after the threads are gone.
 */

#include "sales.h"
#include "sales_schema.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


/* Prepared statements are kept per connection, keyed by their SQL text:
 * the same few dozen statements serve every request. */
#define STMT_CACHE_SIZE  64

typedef struct {
    uint64_t         hash;
    char            *sql;
    sqlite3_stmt    *st;
    uint64_t         used;
} stmt_entry_t;

typedef struct conn_s  conn_t;

struct conn_s {
    sqlite3         *db;
    stmt_entry_t     cache[STMT_CACHE_SIZE];
    uint64_t         tick;
    conn_t          *next;
};


static pthread_mutex_t   conns_lock = PTHREAD_MUTEX_INITIALIZER;
static conn_t           *conns;
static __thread conn_t  *thread_conn;


int
sales_db_schema_version(void)
{
    int  n = 0;

    while (sales_migrations[n]) {
        n++;
    }

    return n;
}


static int
exec_simple(sqlite3 *db, const char *sql, char *err, size_t err_size)
{
    char  *msg = NULL;
    int    rc;

    rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        snprintf(err, err_size, "%s", msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
    }

    return rc;
}


static int
read_user_version(sqlite3 *db, int *version)
{
    sqlite3_stmt  *st;
    int            rc;

    rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
    if (rc != SQLITE_OK) {
        return rc;
    }

    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *version = sqlite3_column_int(st, 0);
        rc = SQLITE_OK;
    }

    sqlite3_finalize(st);
    return rc;
}


/* No row refers to a row that is not there. */
static int
foreign_keys_intact(sqlite3 *db, char *err, size_t err_size)
{
    sqlite3_stmt  *st;
    int            rc;

    if (sqlite3_prepare_v2(db, "PRAGMA foreign_key_check", -1, &st, NULL)
        != SQLITE_OK)
    {
        snprintf(err, err_size, "checking foreign keys failed: %s",
                 sqlite3_errmsg(db));
        return -1;
    }

    rc = sqlite3_step(st);

    if (rc == SQLITE_ROW) {
        snprintf(err, err_size, "a migration left a row of %s referring "
                 "to a missing row of %s", sqlite3_column_text(st, 0),
                 sqlite3_column_text(st, 2));
    } else if (rc != SQLITE_DONE) {
        snprintf(err, err_size, "checking foreign keys failed: %s",
                 sqlite3_errmsg(db));
    }

    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}


/*
 * Brings the schema up to date. The version is read again under the
 * write lock, so of several processes starting together exactly one
 * applies each migration and the others find it done.
 */
int
sales_db_migrate(sqlite3 *db, char *err, size_t err_size)
{
    char  sql[64];
    int   have, want, rc, i;

    want = sales_db_schema_version();

    rc = read_user_version(db, &have);
    if (rc != SQLITE_OK) {
        snprintf(err, err_size, "reading the schema version failed: %s",
                 sqlite3_errmsg(db));
        return -1;
    }

    if (have == want) {
        return 0;
    }

    if (have > want) {
        snprintf(err, err_size, "the database schema (version %d) is newer "
                 "than this build (version %d)", have, want);
        return -1;
    }

    /* A migration may rebuild a table (SQLite cannot change a CHECK
     * in place): foreign keys are off while it runs, which can only be
     * switched outside a transaction, and checked whole before the
     * commit. */
    if (exec_simple(db, "PRAGMA foreign_keys=OFF", err, err_size) != SQLITE_OK
        || exec_simple(db, "BEGIN IMMEDIATE", err, err_size) != SQLITE_OK)
    {
        goto restore;
    }

    rc = read_user_version(db, &have);
    if (rc != SQLITE_OK) {
        snprintf(err, err_size, "reading the schema version failed: %s",
                 sqlite3_errmsg(db));
        goto failed;
    }

    for (i = have; i < want; i++) {
        if (exec_simple(db, sales_migrations[i], err, err_size)
            != SQLITE_OK)
        {
            goto failed;
        }
    }

    if (foreign_keys_intact(db, err, err_size) != 0) {
        goto failed;
    }

    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", want);

    if (exec_simple(db, sql, err, err_size) != SQLITE_OK
        || exec_simple(db, "COMMIT", err, err_size) != SQLITE_OK)
    {
        goto failed;
    }

    return exec_simple(db, "PRAGMA foreign_keys=ON", err, err_size)
           == SQLITE_OK ? 0 : -1;

failed:

    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);

restore:

    sqlite3_exec(db, "PRAGMA foreign_keys=ON", NULL, NULL, NULL);
    return -1;
}


/*
 * Waiting for the write lock: SQLite's own handler sleeps in steps that
 * grow to 25 ms, so a writer can sleep long after the lock is free. Our
 * workers and pool threads hold it for short transactions; checking
 * every quarter millisecond keeps them moving. The budget is the same.
 */
#define BUSY_STEP_US  250

static int
busy_wait(void *data, int count)
{
    intptr_t  budget_ms = (intptr_t) data;

    if ((int64_t) count * BUSY_STEP_US >= (int64_t) budget_ms * 1000) {
        return 0;
    }

    usleep(BUSY_STEP_US);
    return 1;
}


static void
sales_busy_setup(sqlite3 *db, int busy_timeout_ms)
{
    sqlite3_busy_handler(db, busy_wait, (void *) (intptr_t) busy_timeout_ms);
}


int
sales_db_open(const char *path, int busy_timeout_ms, sqlite3 **out,
    char *err, size_t err_size)
{
    sqlite3  *db = NULL;
    int       rc;

    *out = NULL;

    rc = sqlite3_open_v2(path, &db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
                         | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, err_size, "cannot open database \"%s\": %s", path,
                 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close_v2(db);
        return -1;
    }

    sqlite3_extended_result_codes(db, 1);
    sales_busy_setup(db, busy_timeout_ms);

    /* WAL lets readers run beside the one writer; FULL makes a commit
     * durable before the client hears 2xx. */
    if (exec_simple(db, "PRAGMA journal_mode=WAL", err, err_size) != SQLITE_OK
        || exec_simple(db, "PRAGMA synchronous=FULL", err, err_size)
           != SQLITE_OK
        || exec_simple(db, "PRAGMA foreign_keys=ON", err, err_size)
           != SQLITE_OK)
    {
        goto failed;
    }

    if (sales_db_migrate(db, err, err_size) != 0) {
        goto failed;
    }

    *out = db;
    return 0;

failed:

    {
        char  tmp[256];

        snprintf(tmp, sizeof(tmp), "database \"%s\": %s", path, err);
        snprintf(err, err_size, "%s", tmp);
    }

    sqlite3_close_v2(db);
    return -1;
}


sqlite3 *
sales_db_for(const sales_conf_t *conf, int own_connection, char *err,
    size_t err_size)
{
    sqlite3  *db;

    if (!own_connection) {
        return sales_db_thread_conn(conf, err, err_size);
    }

    if (sales_db_open(conf->db_path, conf->busy_timeout_ms, &db, err,
                      err_size) != 0)
    {
        return NULL;
    }

    return db;
}


void
sales_db_done(sqlite3 *db, int own_connection)
{
    if (own_connection) {
        sqlite3_close_v2(db);
    }
}


sqlite3 *
sales_db_thread_conn(const sales_conf_t *conf, char *err, size_t err_size)
{
    conn_t   *c;
    sqlite3  *db;

    if (thread_conn) {
        return thread_conn->db;
    }

    if (sales_db_open(conf->db_path, conf->busy_timeout_ms, &db, err,
                      err_size)
        != 0)
    {
        return NULL;
    }

    c = calloc(1, sizeof(conn_t));
    if (c == NULL) {
        snprintf(err, err_size, "out of memory");
        sqlite3_close_v2(db);
        return NULL;
    }

    c->db = db;

    pthread_mutex_lock(&conns_lock);
    c->next = conns;
    conns = c;
    pthread_mutex_unlock(&conns_lock);

    thread_conn = c;
    return db;
}


static void
cache_clear(conn_t *c)
{
    int  i;

    for (i = 0; i < STMT_CACHE_SIZE; i++) {
        if (c->cache[i].st) {
            sqlite3_finalize(c->cache[i].st);
            free(c->cache[i].sql);
            c->cache[i].st = NULL;
            c->cache[i].sql = NULL;
        }
    }
}


void
sales_db_close_all(void)
{
    conn_t  *c, *next;

    pthread_mutex_lock(&conns_lock);

    for (c = conns; c; c = next) {
        next = c->next;
        cache_clear(c);
        sqlite3_close_v2(c->db);
        free(c);
    }

    conns = NULL;
    pthread_mutex_unlock(&conns_lock);

    thread_conn = NULL;
}


int
sales_db_backup(sqlite3 *db, const char *to, char *err, size_t err_size)
{
    sqlite3_backup  *b;
    sqlite3         *dst;
    int              rc;

    if (access(to, F_OK) == 0) {
        snprintf(err, err_size, "\"%s\" already exists", to);
        return -1;
    }

    rc = sqlite3_open_v2(to, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                         NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, err_size, "cannot create \"%s\": %s", to,
                 sqlite3_errstr(rc));
        sqlite3_close_v2(dst);
        return -1;
    }

    b = sqlite3_backup_init(dst, "main", db, "main");
    if (b == NULL) {
        snprintf(err, err_size, "backup failed: %s", sqlite3_errmsg(dst));
        sqlite3_close_v2(dst);
        return -1;
    }

    /* One step copies every page in one read transaction: a consistent
     * snapshot even while nginx writes. Busy means a writer holds a lock
     * that blocks the read; wait and go on. */
    do {
        rc = sqlite3_backup_step(b, -1);
        if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
            sqlite3_sleep(50);
        }
    } while (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED);

    sqlite3_backup_finish(b);

    if (rc != SQLITE_DONE) {
        snprintf(err, err_size, "backup failed: %s", sqlite3_errstr(rc));
        sqlite3_close_v2(dst);
        unlink(to);
        return -1;
    }

    rc = sqlite3_close_v2(dst);
    if (rc != SQLITE_OK) {
        snprintf(err, err_size, "closing the copy failed: %s",
                 sqlite3_errstr(rc));
        return -1;
    }

    return 0;
}


static uint64_t
sql_hash(const char *sql)
{
    uint64_t  h = 14695981039346656037ULL;

    while (*sql) {
        h = (h ^ (unsigned char) *sql++) * 1099511628211ULL;
    }

    return h;
}


/*
 * A statement for this SQL, ready to bind. On the thread's own connection
 * it comes from the cache; release it with sales_finish() either way.
 */
sqlite3_stmt *
sales_prepare(sales_ctx_t *ctx, const char *sql)
{
    stmt_entry_t  *e, *victim = NULL;
    sqlite3_stmt  *st = NULL;
    conn_t        *c = thread_conn;
    uint64_t       h;
    int            i;

    if (c == NULL || c->db != ctx->db) {
        if (sqlite3_prepare_v2(ctx->db, sql, -1, &st, NULL) != SQLITE_OK) {
            sales_db_error(ctx, "preparing a statement");
            return NULL;
        }
        return st;
    }

    h = sql_hash(sql);
    c->tick++;

    for (i = 0; i < STMT_CACHE_SIZE; i++) {
        e = &c->cache[i];

        if (e->st == NULL) {
            if (victim == NULL || victim->st != NULL) {
                victim = e;             /* an empty slot is best */
            }
            continue;
        }

        if (sqlite3_stmt_busy(e->st)) {
            continue;                   /* an outer caller is stepping it */
        }

        if (e->hash == h && strcmp(e->sql, sql) == 0) {
            e->used = c->tick;
            return e->st;
        }

        if (victim == NULL || (victim->st != NULL && e->used < victim->used)) {
            victim = e;
        }
    }

    if (sqlite3_prepare_v3(ctx->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st,
                           NULL)
        != SQLITE_OK)
    {
        sales_db_error(ctx, "preparing a statement");
        return NULL;
    }

    if (victim == NULL) {
        return st;      /* every slot is being stepped: use it uncached */
    }

    if (victim->st) {
        sqlite3_finalize(victim->st);
        free(victim->sql);
    }

    victim->sql = strdup(sql);
    if (victim->sql == NULL) {
        victim->st = NULL;
        return st;
    }

    victim->st = st;
    victim->hash = h;
    victim->used = c->tick;
    return st;
}


/* Releases a statement from sales_prepare(): reset when cached, else
 * finalized. */
void
sales_finish(sqlite3_stmt *st)
{
    conn_t  *c = thread_conn;
    int      i;

    if (st == NULL) {
        return;
    }

    if (c && sqlite3_db_handle(st) == c->db) {
        for (i = 0; i < STMT_CACHE_SIZE; i++) {
            if (c->cache[i].st == st) {
                sqlite3_reset(st);
                sqlite3_clear_bindings(st);
                return;
            }
        }
    }

    sqlite3_finalize(st);
}


/* Steps a statement that returns no rows and finalizes it. */
int
sales_step_done(sales_ctx_t *ctx, sqlite3_stmt *st)
{
    int  rc;

    rc = sqlite3_step(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        sales_db_error(ctx, "writing");
        sales_finish(st);
        return -1;
    }

    sales_finish(st);
    return 0;
}


int
sales_exec(sales_ctx_t *ctx, const char *sql)
{
    if (sqlite3_exec(ctx->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        return sales_db_error(ctx, "running a statement");
    }

    return 0;
}


int
sales_bind_json(sqlite3_stmt *st, int idx, json_t *v)
{
    switch (json_typeof(v)) {

    case JSON_STRING:
        return sqlite3_bind_text(st, idx, json_string_value(v),
                                 (int) json_string_length(v),
                                 SQLITE_TRANSIENT);

    case JSON_INTEGER:
        return sqlite3_bind_int64(st, idx, json_integer_value(v));

    case JSON_TRUE:
        return sqlite3_bind_int(st, idx, 1);

    case JSON_FALSE:
        return sqlite3_bind_int(st, idx, 0);

    case JSON_REAL:
        return sqlite3_bind_double(st, idx, json_real_value(v));

    default:
        return sqlite3_bind_null(st, idx);
    }
}


int
sales_bind_all(sqlite3_stmt *st, json_t *binds)
{
    size_t   i;
    json_t  *v;

    json_array_foreach(binds, i, v) {
        if (sales_bind_json(st, (int) i + 1, v) != SQLITE_OK) {
            return -1;
        }
    }

    return 0;
}


int64_t
sales_count(sales_ctx_t *ctx, const char *sql, json_t *binds)
{
    sqlite3_stmt  *st;
    int64_t        n = -1;

    st = sales_prepare(ctx, sql);
    if (st == NULL) {
        return -1;
    }

    if (binds) {
        sales_bind_all(st, binds);
    }

    if (sqlite3_step(st) == SQLITE_ROW) {
        n = sqlite3_column_int64(st, 0);

    } else {
        sales_db_error(ctx, "counting");
    }

    sales_finish(st);
    return n;
}


/* sales_count of the SQL in a buffer, which is freed. */
int64_t
sales_count_buf(sales_ctx_t *ctx, sales_buf_t *sql, json_t *binds)
{
    int64_t  n;

    n = sql->failed ? sales_fail(ctx, 500, "internal", "out of memory")
                    : sales_count(ctx, sql->data, binds);
    sales_buf_free(sql);
    return n;
}
