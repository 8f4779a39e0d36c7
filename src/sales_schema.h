/*
 * The list of schema migrations (sales_schema.c).
 */

#ifndef SALES_SCHEMA_H
#define SALES_SCHEMA_H

/* NULL-terminated; entry i brings user_version i to i + 1. */
extern const char *const sales_migrations[];

#endif
