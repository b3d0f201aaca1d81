-- Timing helpers shared by the benchmarks (session-local functions).
-- pg_temp.ms(q): milliseconds to run q once.
-- pg_temp.vs(q, a, n): medians of q and of its anchor a over n interleaved rounds, after one
-- warm-up run of each (so both read from the same cache state).
CREATE FUNCTION pg_temp.ms(q text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN
    EXECUTE q;
    RETURN extract(epoch FROM clock_timestamp() - t0) * 1000;
END $$;
CREATE FUNCTION pg_temp.vs(q text, a text, n int, OUT q_ms float8, OUT a_ms float8) LANGUAGE plpgsql AS $$
DECLARE qs float8[] := '{}'; as_ float8[] := '{}';
BEGIN
    PERFORM pg_temp.ms(q); PERFORM pg_temp.ms(a);
    FOR i IN 1..n LOOP
        IF i % 2 = 0 THEN qs := qs || pg_temp.ms(q); as_ := as_ || pg_temp.ms(a);
        ELSE as_ := as_ || pg_temp.ms(a); qs := qs || pg_temp.ms(q); END IF;
    END LOOP;
    SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) INTO q_ms FROM unnest(qs) x;
    SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) INTO a_ms FROM unnest(as_) x;
END $$;
