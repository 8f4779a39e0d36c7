/*
 * A tiny TAP producer for the C unit tests.
 *
 *   ok(cond, "name %d", n);
 *   is_int(got, expected, "name");
 *   is_str(got, expected, "name");
 *   diag("note %s", s);
 *   return done_testing();      prints "1..N"; nonzero if any failed
 *
 * Exactly one file defines TAP_MAIN before including this header; that
 * file holds the counters and the functions.
 */

#ifndef SALES_TAP_H
#define SALES_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>


int tap_ok(int pass, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int tap_is_int(long long got, long long expected, const char *file, int line,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
int tap_is_str(const char *got, const char *expected, const char *file,
    int line, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void tap_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int tap_done_testing(void);
int tap_failures(void);

#define ok(cond, ...)                                                       \
    tap_ok((cond) ? 1 : 0, __FILE__, __LINE__, __VA_ARGS__)
#define is_int(got, expected, ...)                                          \
    tap_is_int((long long) (got), (long long) (expected), __FILE__,         \
               __LINE__, __VA_ARGS__)
#define is_str(got, expected, ...)                                          \
    tap_is_str((got), (expected), __FILE__, __LINE__, __VA_ARGS__)
#define diag(...)  tap_diag(__VA_ARGS__)
#define done_testing()  tap_done_testing()


#ifdef TAP_MAIN

static int  tap_run;
static int  tap_failed;


static void
tap_vline(int pass, const char *fmt, va_list ap)
{
    char  name[512];
    char *p;

    vsnprintf(name, sizeof(name), fmt, ap);

    /* A '#' would start a directive; a newline would break the line. */
    for (p = name; *p; p++) {
        if (*p == '#' || *p == '\n' || *p == '\r') {
            *p = ' ';
        }
    }

    tap_run++;
    if (!pass) {
        tap_failed++;
    }

    printf("%s %d - %s\n", pass ? "ok" : "not ok", tap_run, name);
    fflush(stdout);
}


int
tap_ok(int pass, const char *file, int line, const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    tap_vline(pass, fmt, ap);
    va_end(ap);

    if (!pass) {
        tap_diag("  Failed test at %s line %d.", file, line);
    }

    return pass;
}


int
tap_is_int(long long got, long long expected, const char *file, int line,
    const char *fmt, ...)
{
    va_list  ap;
    int      pass = got == expected;

    va_start(ap, fmt);
    tap_vline(pass, fmt, ap);
    va_end(ap);

    if (!pass) {
        tap_diag("  Failed test at %s line %d.", file, line);
        tap_diag("         got: %lld", got);
        tap_diag("    expected: %lld", expected);
    }

    return pass;
}


int
tap_is_str(const char *got, const char *expected, const char *file, int line,
    const char *fmt, ...)
{
    va_list  ap;
    int      pass;

    if (got == NULL || expected == NULL) {
        pass = got == expected;
    } else {
        pass = strcmp(got, expected) == 0;
    }

    va_start(ap, fmt);
    tap_vline(pass, fmt, ap);
    va_end(ap);

    if (!pass) {
        tap_diag("  Failed test at %s line %d.", file, line);
        if (got) {
            tap_diag("         got: '%s'", got);
        } else {
            tap_diag("         got: NULL");
        }
        if (expected) {
            tap_diag("    expected: '%s'", expected);
        } else {
            tap_diag("    expected: NULL");
        }
    }

    return pass;
}


void
tap_diag(const char *fmt, ...)
{
    char     text[2048];
    char    *line, *next;
    va_list  ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);

    fflush(stdout);

    for (line = text; line; line = next) {
        next = strchr(line, '\n');
        if (next) {
            *next++ = '\0';
        }
        fprintf(stderr, "# %s\n", line);
    }

    fflush(stderr);
}


int
tap_failures(void)
{
    return tap_failed;
}


int
tap_done_testing(void)
{
    printf("1..%d\n", tap_run);
    fflush(stdout);

    if (tap_failed) {
        tap_diag("Looks like you failed %d test%s of %d.", tap_failed,
                 tap_failed == 1 ? "" : "s", tap_run);
        return tap_failed > 254 ? 254 : tap_failed;
    }

    return 0;
}

#endif /* TAP_MAIN */

#endif /* SALES_TAP_H */
