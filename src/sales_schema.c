/*
 * Schema migrations: numbered, forward-only. Migration N brings the
 * database from user_version N-1 to N. Never edit a released one: add
 * the next.
 *
 * Times are Unix milliseconds (INTEGER); money is integer minor units.
 */

#include "sales_schema.h"

#include <stddef.h>


const char *const sales_migrations[] = {

    /* 1: users, tokens, clients, contacts, audit, outbox, idempotency */
    "CREATE TABLE users ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  email TEXT,"
    "  role TEXT NOT NULL"
    "    CHECK (role IN ('admin','manager','ae','integration')),"
    "  manager_id INTEGER REFERENCES users(id),"
    "  disabled INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  version INTEGER NOT NULL DEFAULT 1"
    ");"
    "CREATE INDEX users_manager ON users(manager_id);"

    "CREATE TABLE api_tokens ("
    "  id INTEGER PRIMARY KEY,"
    "  user_id INTEGER NOT NULL REFERENCES users(id),"
    "  hash BLOB NOT NULL UNIQUE,"
    "  prefix TEXT NOT NULL,"
    "  label TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  revoked_at INTEGER"
    ");"
    "CREATE INDEX api_tokens_user ON api_tokens(user_id);"

    "CREATE TABLE clients ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  name_search TEXT NOT NULL,"
    "  tax_id TEXT,"
    "  tax_key TEXT,"
    "  vat_payer INTEGER NOT NULL DEFAULT 0,"
    "  trade_register_no TEXT,"
    "  address TEXT,"
    "  city TEXT,"
    "  county TEXT,"
    "  postal_code TEXT,"
    "  country TEXT NOT NULL DEFAULT 'RO',"
    "  currency TEXT NOT NULL DEFAULT 'RON',"
    "  iban TEXT,"
    "  email TEXT,"
    "  phone TEXT,"
    "  payment_terms_days INTEGER NOT NULL DEFAULT 30,"
    "  owner_id INTEGER NOT NULL REFERENCES users(id),"
    "  external_id TEXT,"
    "  notes TEXT,"
    "  archived_at INTEGER,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  version INTEGER NOT NULL DEFAULT 1"
    ");"
    "CREATE INDEX clients_owner ON clients(owner_id);"
    "CREATE UNIQUE INDEX clients_tax_key ON clients(tax_key)"
    "  WHERE tax_key IS NOT NULL AND archived_at IS NULL;"
    "CREATE UNIQUE INDEX clients_external_id ON clients(external_id)"
    "  WHERE external_id IS NOT NULL;"

    "CREATE TABLE contacts ("
    "  id INTEGER PRIMARY KEY,"
    "  client_id INTEGER NOT NULL REFERENCES clients(id),"
    "  name TEXT NOT NULL,"
    "  role TEXT,"
    "  email TEXT,"
    "  phone TEXT,"
    "  is_primary INTEGER NOT NULL DEFAULT 0,"
    "  notes TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  version INTEGER NOT NULL DEFAULT 1"
    ");"
    "CREATE INDEX contacts_client ON contacts(client_id);"

    "CREATE TABLE audit_log ("
    "  id INTEGER PRIMARY KEY,"
    "  at INTEGER NOT NULL,"
    "  user_id INTEGER,"
    "  action TEXT NOT NULL,"
    "  object_type TEXT NOT NULL,"
    "  object_id INTEGER NOT NULL,"
    "  changes TEXT NOT NULL,"
    "  request_id TEXT"
    ");"
    "CREATE INDEX audit_object ON audit_log(object_type, object_id);"

    "CREATE TABLE outbox ("
    "  id INTEGER PRIMARY KEY,"
    "  event_id TEXT NOT NULL UNIQUE,"
    "  type TEXT NOT NULL,"
    "  subject_type TEXT NOT NULL,"
    "  subject_id INTEGER NOT NULL,"
    "  payload TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL"
    ");"
    "CREATE INDEX outbox_subject ON outbox(subject_type, subject_id);"

    "CREATE TABLE idempotency_keys ("
    "  user_id INTEGER NOT NULL,"
    "  method TEXT NOT NULL,"
    "  path TEXT NOT NULL,"
    "  key TEXT NOT NULL,"
    "  fingerprint BLOB NOT NULL,"
    "  state TEXT NOT NULL CHECK (state IN ('running','done')),"
    "  status INTEGER,"
    "  body TEXT,"
    "  location TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  expires_at INTEGER NOT NULL,"
    "  PRIMARY KEY (user_id, method, path, key)"
    ") WITHOUT ROWID;"
    "CREATE INDEX idempotency_expiry ON idempotency_keys(expires_at);",

    NULL
};
