/*
 * The delivery cycle without nginx: deliveries written straight into a
 * database in a temporary folder, claimed by sales_webhook_cycle with
 * getaddrinfo replaced below, so the test says which names resolve,
 * which fail, how slowly, and counts the lookups.
 */

#include "tap.h"
#include "unit.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sales.h"


#define SECRET     "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define PREVIOUS   "whsec_" "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY"


/* --- the resolver the cycle sees ------------------------------------------ */

static int  lookups_dead, lookups_live, lookups_slow, lookups_late;


/*
 * Replaces libc's for this test program: "live.test" is 127.0.0.1,
 * "dead.test" a resolver that fails, "slow.test" one that takes 300 ms
 * to fail; every other name does not exist.
 */
int
getaddrinfo(const char *node, const char *service,
    const struct addrinfo *hints, struct addrinfo **res)
{
    struct addrinfo     *ai;
    struct sockaddr_in  *sin;
    struct timespec      pause = { 0, 300 * 1000 * 1000 };

    (void) hints;

    if (strcmp(node, "dead.test") == 0) {
        lookups_dead++;
        return EAI_AGAIN;
    }

    if (strcmp(node, "slow.test") == 0) {
        lookups_slow++;
        nanosleep(&pause, NULL);
        return EAI_AGAIN;
    }

    if (strcmp(node, "late.test") == 0) {
        lookups_late++;
    }

    if (strcmp(node, "live.test") != 0) {
        return EAI_NONAME;
    }

    lookups_live++;

    ai = calloc(1, sizeof(*ai) + sizeof(*sin));
    if (ai == NULL) {
        return EAI_MEMORY;
    }

    sin = (struct sockaddr_in *) (ai + 1);
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t) atoi(service));
    sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    ai->ai_family = AF_INET;
    ai->ai_socktype = SOCK_STREAM;
    ai->ai_protocol = IPPROTO_TCP;
    ai->ai_addr = (struct sockaddr *) sin;
    ai->ai_addrlen = sizeof(*sin);

    *res = ai;
    return 0;
}


void
freeaddrinfo(struct addrinfo *res)
{
    free(res);
}


/* --- the database ---------------------------------------------------------- */

static char  db_path[64];


static int
exec_sql(const char *sql)
{
    sqlite3  *db;
    char     *msg = NULL;
    int       rc;

    if (sqlite3_open(db_path, &db) != SQLITE_OK) {
        sqlite3_close(db);
        return -1;
    }

    sqlite3_busy_timeout(db, 2000);
    rc = sqlite3_exec(db, sql, NULL, NULL, &msg);

    if (rc != SQLITE_OK) {
        diag("%s: %s", sql, msg ? msg : "?");
    }

    sqlite3_free(msg);
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : -1;
}


/* An endpoint for url, and one delivery to it due at due_ms. */
static int
delivery_add(int id, const char *url, const char *previous, int64_t due_ms)
{
    char  sql[1024];

    snprintf(sql, sizeof(sql),
        "INSERT INTO outbox (id, event_id, type, subject_type, subject_id,"
        " payload, created_at) VALUES (%d, 'evt_%d', 'client.created',"
        " 'client', %d, '{\"id\":\"evt_%d\",\"type\":\"client.created\","
        "\"timestamp\":\"2026-12-03T09:00:00Z\",\"data\":{\"id\":%d}}', 1);"
        "INSERT INTO webhook_endpoints (id, url, secret, previous_secret,"
        " previous_secret_expires_at, outbox_cursor, created_at, updated_at)"
        " VALUES (%d, '%s', '" SECRET "', %s%s%s, %s, 1000000, 1, 1);"
        "INSERT INTO webhook_deliveries (id, endpoint_id, outbox_id,"
        " event_id, event_type, subject, status, next_attempt_at,"
        " created_at, updated_at) VALUES (%d, %d, %d, 'evt_%d',"
        " 'client.created', 'client:%d', 'pending', %lld, 1, 1);",
        id, id, id, id, id,
        id, url, previous ? "'" : "", previous ? previous : "NULL",
        previous ? "'" : "", previous ? "9000000000000" : "NULL",
        id, id, id, id, id, (long long) due_ms);

    return exec_sql(sql);
}


static sales_conf_t  conf;
static int64_t       retry_ms[] = { 1000, 2000 };


static int
cycle(sales_wh_job_t **jobs, size_t *n)
{
    char  err[256] = "";
    int   rc;

    rc = sales_webhook_cycle(&conf, 1, NULL, 0, 64, jobs, n, err,
                             sizeof(err));
    if (rc != 0) {
        diag("the cycle failed: %s", err);
    }

    return rc;
}


static sales_wh_job_t *
job_of(sales_wh_job_t *jobs, size_t n, int64_t delivery_id)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (jobs[i].delivery_id == delivery_id) {
            return &jobs[i];
        }
    }

    return NULL;
}


/* --- the cases --------------------------------------------------------------- */

/* Every host and port is looked up once, a failed lookup too. */
static void
test_one_lookup_each(void)
{
    sales_wh_job_t  *jobs = NULL, *j;
    size_t           n = 0, i;
    int64_t          now = sales_now_ms();
    int              bad = 0;

    for (i = 1; i <= 4; i++) {
        bad |= delivery_add((int) i, "http://dead.test/h", NULL, now - 10);
    }

    bad |= delivery_add(5, "http://dead.test:8080/h", NULL, now - 10);
    bad |= delivery_add(6, "http://live.test/a", NULL, now - 10);
    bad |= delivery_add(7, "http://live.test/b", PREVIOUS, now - 10);
    bad |= delivery_add(8, "http://gone.test/c", NULL, now - 10);
    ok(bad == 0, "eight deliveries due");

    lookups_dead = lookups_live = 0;

    if (!ok(cycle(&jobs, &n) == 0 && n == 8, "one cycle claims all eight")) {
        sales_webhook_jobs_free(jobs, n);
        return;
    }

    is_int(lookups_dead, 2, "dead.test:80 and dead.test:8080 are looked up "
           "once each for five deliveries");
    is_int(lookups_live, 1, "live.test once for two");

    for (i = 1, bad = 0; i <= 5; i++) {
        j = job_of(jobs, n, (int64_t) i);
        bad |= j == NULL || j->naddrs != 0
               || strstr(j->error, "cannot resolve dead.test") == NULL;
    }
    ok(!bad, "every delivery to dead.test has the failed lookup's error");

    j = job_of(jobs, n, 7);
    ok(j && j->naddrs == 1 && j->error[0] == '\0'
       && job_of(jobs, n, 6)->naddrs == 1, "both live.test ones its address");
    ok(j && j->send_by_ms >= now + conf.webhook_start_ms
       && j->send_by_ms <= sales_now_ms() + conf.webhook_start_ms,
       "it is to start within webhook_start_ms of its claim");
    ok(j && j->request == NULL, "and is not signed yet");

    j = job_of(jobs, n, 8);
    ok(j && strstr(j->error, "cannot resolve gone.test") != NULL,
       "a name that does not exist: its error (%s)", j ? j->error : "");

    sales_webhook_jobs_free(jobs, n);
}


/* The signature is made when the attempt starts, with its time. */
static void
test_signed_when_sent(void)
{
    sales_wh_job_t  *jobs = NULL, *j;
    size_t           n = 0;
    const char      *body, *ts;
    char             want[64], want2[64], hdr[200];

    ok(delivery_add(20, "http://live.test:8081/s?x=1", PREVIOUS,
                    sales_now_ms() - 10) == 0
       && cycle(&jobs, &n) == 0 && n == 1, "a delivery claimed");

    j = job_of(jobs, n, 20);
    if (!ok(j != NULL && j->text != NULL, "with its request text")) {
        sales_webhook_jobs_free(jobs, n);
        return;
    }

    ok(sales_webhook_job_sign(j, 1796300000) == 0 && j->request != NULL,
       "signed at 1796300000");

    body = j->text + j->head_len;
    ts = strstr(j->request, "webhook-timestamp: ");
    ok(ts && strncmp(ts, "webhook-timestamp: 1796300000\r\n", 31) == 0,
       "webhook-timestamp is the time it was signed");

    sales_webhook_sign(SECRET, "evt_20", 1796300000, body, j->body_len, want);
    sales_webhook_sign(PREVIOUS, "evt_20", 1796300000, body, j->body_len,
                       want2);
    snprintf(hdr, sizeof(hdr), "webhook-signature: %s %s\r\n\r\n", want,
             want2);
    ok(strstr(j->request, hdr) != NULL, "signed with both secrets");
    ok(strncmp(j->request, "POST /s?x=1 HTTP/1.1\r\nHost: live.test:8081\r\n",
               44) == 0
       && j->request_len > j->body_len
       && memcmp(j->request + j->request_len - j->body_len, body,
                 j->body_len) == 0
       && strstr(body, "\"id\":\"evt_20\"") == NULL,
       "the request line, then the body without the event id");

    ok(sales_webhook_job_sign(j, 1796300007) == 0
       && strstr(j->request, "webhook-timestamp: 1796300007\r\n") != NULL
       && strstr(j->request, hdr) == NULL, "signed again later: anew");

    snprintf(j->secret, sizeof(j->secret), "not-a-secret");
    ok(sales_webhook_job_sign(j, 1) == -1 && strstr(j->error, "whsec_"),
       "a secret that cannot sign: an error for the attempt (%s)", j->error);

    sales_webhook_jobs_free(jobs, n);
}


/*
 * Lookups that take the time the attempts had to start in stop there:
 * the jobs not resolved yet are marked to be given back.
 */
static void
test_slow_resolver(void)
{
    sales_wh_job_t  *jobs = NULL, *j;
    size_t           n = 0;
    int64_t          now = sales_now_ms();
    int64_t          start_ms = conf.webhook_start_ms;

    ok(delivery_add(30, "http://slow.test/a", NULL, now - 30) == 0
       && delivery_add(31, "http://slow.test/b", NULL, now - 20) == 0
       && delivery_add(32, "http://late.test/c", NULL, now - 10) == 0
       && delivery_add(33, "http://live.test/d", NULL, now - 5) == 0,
       "a slow host's deliveries due first, then two others");

    conf.webhook_start_ms = 200;
    lookups_slow = lookups_late = lookups_live = 0;

    if (!ok(cycle(&jobs, &n) == 0 && n == 4, "claimed")) {
        conf.webhook_start_ms = start_ms;
        sales_webhook_jobs_free(jobs, n);
        return;
    }

    conf.webhook_start_ms = start_ms;

    is_int(lookups_slow, 1, "slow.test is looked up once (300 ms)");
    is_int(lookups_late + lookups_live, 0,
           "the others are not looked up: the 200 ms to start in are over");

    j = job_of(jobs, n, 31);
    ok(j && strstr(j->error, "cannot resolve slow.test") != NULL,
       "slow.test's deliveries have its error, to record as attempts");

    j = job_of(jobs, n, 32);
    ok(j && j->error[0] == '\0' && j->naddrs == 0 && j->send_by_ms == 0,
       "the others are marked to be given back untried");
    j = job_of(jobs, n, 33);
    ok(j && j->send_by_ms == 0, "all of them");

    sales_webhook_jobs_free(jobs, n);
}


void
test_webhook_cycle(void)
{
    char      dir[] = "/tmp/sales-unit-wh-XXXXXX";
    char      err[256];
    sqlite3  *db = NULL;

    if (!ok(mkdtemp(dir) != NULL, "a temporary folder")) {
        diag("mkdtemp: %s", strerror(errno));
        return;
    }

    snprintf(db_path, sizeof(db_path), "%s/wh.db", dir);

    memset(&conf, 0, sizeof(conf));
    conf.db_path = db_path;
    conf.busy_timeout_ms = 2000;
    conf.webhook_retry_ms = retry_ms;
    conf.webhook_nretry = 2;
    conf.webhook_disable_after_ms = 86400000;
    conf.webhook_start_ms = 30000;
    conf.webhook_lease_ms = 75000;

    if (ok(sales_db_open(db_path, 2000, &db, err, sizeof(err)) == 0,
           "a migrated database"))
    {
        sqlite3_close(db);
        test_one_lookup_each();
        test_signed_when_sent();
        test_slow_resolver();
    }

    unlink(db_path);
    snprintf(err, sizeof(err), "%s-wal", db_path);
    unlink(err);
    snprintf(err, sizeof(err), "%s-shm", db_path);
    unlink(err);
    ok(rmdir(dir) == 0, "the temporary folder is removed");
}
