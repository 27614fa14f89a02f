-- Empties the TSL lane between tests. PGlite is ONE backend for its whole life: once TimescaleDB is
-- loaded, DROP EXTENSION + CREATE EXTENSION fails ("already been loaded with another version"), so
-- the extensions stay and only what no extension owns in public is dropped.
DO $$
DECLARE r record;
BEGIN
    -- Continuous aggregates first (their materialization hypertables live in TimescaleDB's schemas).
    IF to_regclass('timescaledb_information.continuous_aggregates') IS NOT NULL THEN
        FOR r IN SELECT format('%I.%I', view_schema, view_name) AS name
                 FROM timescaledb_information.continuous_aggregates LOOP
            EXECUTE 'DROP MATERIALIZED VIEW IF EXISTS ' || r.name || ' CASCADE';
        END LOOP;
    END IF;
    -- Everything in public that no extension owns.
    FOR r IN SELECT format('public.%I', c.relname) AS name, c.relkind
             FROM pg_class c
             WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
               AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                               AND d.objid = c.oid AND d.deptype = 'e') LOOP
        EXECUTE format('DROP %s IF EXISTS %s CASCADE',
            CASE r.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE'
                           WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END, r.name);
    END LOOP;
    FOR r IN SELECT format('public.%I(%s)', p.proname, pg_get_function_identity_arguments(p.oid)) AS name, p.prokind
             FROM pg_proc p
             WHERE p.pronamespace = 'public'::regnamespace
               AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                               AND d.objid = p.oid AND d.deptype = 'e') LOOP
        EXECUTE format('DROP %s IF EXISTS %s CASCADE',
                       CASE r.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END, r.name);
    END LOOP;
    FOR r IN SELECT format('public.%I', t.typname) AS name FROM pg_type t
             WHERE t.typnamespace = 'public'::regnamespace AND t.typtype IN ('e', 'd', 'c', 'r')
               AND (t.typtype <> 'c' OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
               AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass
                               AND d.objid = t.oid AND d.deptype = 'e') LOOP
        EXECUTE format('DROP TYPE IF EXISTS %s CASCADE', r.name);
    END LOOP;
END
$$;
