-- Run with the NEW library installed and the OLD release's SQL still in place (before
-- ALTER EXTENSION ... UPDATE): what a database sees between `apt-get install` and the update.
\set ON_ERROR_STOP on
SELECT extversion AS still FROM pg_extension WHERE extname = 'ntsb_perf';
-- a tracked table stays writable (0.1.0's track_change entry point is still in the library)
SET ROLE upg_analyst;
INSERT INTO upg_watch VALUES ('CA', 'coast');
RESET ROLE;
SELECT count(*) > 0 AS change_marked FROM ntsb_perf.refresh_change WHERE source = 'upg_watch'::regclass;
-- stored states read through 0.1.0's declarations and the new library
DO $$
BEGIN
    IF EXISTS (SELECT * FROM upg_figures EXCEPT SELECT * FROM upg_figures_now) THEN
        RAISE EXCEPTION 'stored states read differently before the update';
    END IF;
END $$;
SELECT 'states read the same' AS window_check;
