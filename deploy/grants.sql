-- deploy/grants.sql - the database roles of custody and what each may do
-- (DESIGN section 5: the role custodyd writes as cannot UPDATE or DELETE
-- the log, the events and the other records; triggers are the second wall).
--
--   psql -X -v ON_ERROR_STOP=1 -d custody -f deploy/grants.sql
--
-- Run it as a superuser, connected to custody's database, before custodyd
-- first starts and again after upgrades; it changes only what is not
-- already so. psql variables choose the login roles' names:
--   -v owner=custody_owner    owns the schema; custodyd applies migrations
--                             as it (custodyd.conf: schema_database)
--   -v runtime=custodyd       what custodyd serves as (custodyd.conf: database)
-- The runtime role gets its privileges through the group role
-- custody_writer (NOLOGIN; the name is fixed, migrations refer to it):
--   SELECT and INSERT on every table, now and (default privileges) on the
--   tables later migrations create;
--   UPDATE only where custodyd updates rows: devices (its current state);
--   only SELECT on device_counts, which triggers derive from devices;
--   no UPDATE on anything else (events, event_devices, event_rules,
--   admin_actions, alerts, alert_notes, usage, log_*, sequencer_epochs,
--   key_changes, and every table yet to come), no DELETE, TRUNCATE, REFERENCES or
--   TRIGGER anywhere, and no CREATE in the schema. It does not own the
--   tables, so it cannot ALTER them or drop their append-only triggers.
-- No passwords are set here: give the login roles the authentication your
-- pg_hba.conf asks for (ALTER ROLE ... PASSWORD, a .pgpass, peer maps).
-- Objects an earlier set-up left to another owner (custodyd run as a
-- superuser) are handed to the owner role, so it can migrate them.

\set ON_ERROR_STOP on
\if :{?owner}
\else
\set owner custody_owner
\endif
\if :{?runtime}
\else
\set runtime custodyd
\endif
SET client_min_messages = warning;
-- One transaction: a custodyd running meanwhile never sees half the grants.
BEGIN;

-- Roles (cluster-wide; created when missing).
SELECT format('CREATE ROLE %I LOGIN', :'owner')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'owner') \gexec
SELECT 'CREATE ROLE custody_writer NOLOGIN'
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'custody_writer') \gexec
SELECT format('CREATE ROLE %I LOGIN', :'runtime')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'runtime') \gexec
GRANT custody_writer TO :"runtime";

-- The database and its schema: only the owner creates objects.
SELECT format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), :'owner'),
       format('GRANT CONNECT ON DATABASE %I TO custody_writer', current_database()) \gexec
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE, CREATE ON SCHEMA public TO :"owner";
GRANT USAGE ON SCHEMA public TO custody_writer;

-- Hand what exists in the schema to the owner (not extensions' objects,
-- nor sequences that belong to a table's column: they follow the table).
SELECT format('ALTER %s %I.%I OWNER TO %I',
              CASE c.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END,
              n.nspname, c.relname, :'owner')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
  AND c.relowner <> (SELECT oid FROM pg_roles WHERE rolname = :'owner')
  AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype IN ('a', 'i', 'e')) \gexec
SELECT format('ALTER ROUTINE %s OWNER TO %I', p.oid::regprocedure, :'owner')
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'public' AND p.prokind IN ('f', 'p')
  AND p.proowner <> (SELECT oid FROM pg_roles WHERE rolname = :'owner')
  AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                  AND d.objid = p.oid AND d.deptype = 'e') \gexec

-- The runtime privileges on what exists ...
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM custody_writer, :"runtime";
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM custody_writer, :"runtime";
GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA public TO custody_writer;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO custody_writer;
-- ... the one table custodyd updates (schema/005_epoch.sql grants it too,
-- for a database whose tables are created after this script ran) ...
SELECT 'GRANT UPDATE ON public.devices TO custody_writer'
WHERE to_regclass('public.devices') IS NOT NULL \gexec
-- ... the derived counts, which only devices' triggers write ...
SELECT 'REVOKE INSERT ON public.device_counts FROM custody_writer'
WHERE to_regclass('public.device_counts') IS NOT NULL \gexec
-- ... and on the tables and sequences the owner creates from now on.
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
    GRANT SELECT, INSERT ON TABLES TO custody_writer;
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO custody_writer;
COMMIT;
