-- Bad input answered as what it is.
--
-- grade_policy_set refuses with Kehu's own state KH400 and names the key
-- that is wrong in COLUMN (it raised 22023 without a field before), so the
-- client is told which of the values it sent to correct.

CREATE OR REPLACE FUNCTION grade_policy_set(keys text[], vals text[], actor bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    p    grade_policy;
    v    text;
    n    numeric;
    i    integer;
BEGIN
    FOR i IN 1 .. coalesce(array_length(keys, 1), 0) LOOP
        SELECT * INTO p FROM grade_policy WHERE key = keys[i];
        IF NOT FOUND THEN
            RAISE EXCEPTION 'unknown policy key "%" (see kehu grade policy show)', keys[i]
                USING ERRCODE = 'KH400', COLUMN = keys[i];
        END IF;
        v := btrim(vals[i]);
        IF p.type = 'choice' THEN
            IF NOT v = ANY (p.choices) THEN
                RAISE EXCEPTION '% must be one of %', p.key, array_to_string(p.choices, ', ')
                    USING ERRCODE = 'KH400', COLUMN = p.key;
            END IF;
        ELSE
            IF v !~ (CASE p.type WHEN 'int' THEN '^-?[0-9]{1,12}$' ELSE '^-?([0-9]{1,14}(\.[0-9]{0,6})?|\.[0-9]{1,6})$' END) THEN
                RAISE EXCEPTION '% must be %, not "%"', p.key,
                    CASE p.type WHEN 'int' THEN 'a whole number' ELSE 'a number' END, v
                    USING ERRCODE = 'KH400', COLUMN = p.key;
            END IF;
            n := v::numeric;
            IF n < p.min OR n > p.max THEN
                RAISE EXCEPTION '% must be between % and %', p.key, p.min, p.max
                    USING ERRCODE = 'KH400', COLUMN = p.key;
            END IF;
            v := n::text;
        END IF;
        UPDATE grade_policy SET value = v, updated_at = now(), updated_by = actor WHERE key = p.key;
    END LOOP;
    -- relations that must hold between keys
    IF grade_policy_num('abc.a_share') > grade_policy_num('abc.b_share') THEN
        RAISE EXCEPTION 'abc.a_share must not exceed abc.b_share' USING ERRCODE = 'KH400', COLUMN = 'abc.a_share';
    ELSIF NOT (grade_policy_num('volume.a_min') >= grade_policy_num('volume.b_min')
               AND grade_policy_num('volume.b_min') >= grade_policy_num('volume.c_min')) THEN
        RAISE EXCEPTION 'volume thresholds must not increase from A to C (a_min >= b_min >= c_min)' USING ERRCODE = 'KH400', COLUMN = 'volume.a_min';
    ELSIF NOT (grade_policy_num('asset.vip_min') >= grade_policy_num('asset.wealth_min')
               AND grade_policy_num('asset.wealth_min') >= grade_policy_num('asset.general_min')) THEN
        RAISE EXCEPTION 'asset thresholds must satisfy vip_min >= wealth_min >= general_min' USING ERRCODE = 'KH400', COLUMN = 'asset.vip_min';
    ELSIF grade_policy_num('value.high_min') < grade_policy_num('value.medium_min') THEN
        RAISE EXCEPTION 'value.high_min must not be below value.medium_min' USING ERRCODE = 'KH400', COLUMN = 'value.high_min';
    ELSIF grade_policy_num('lifecycle.silent_days') >= grade_policy_num('lifecycle.churned_days') THEN
        RAISE EXCEPTION 'lifecycle.silent_days must be below lifecycle.churned_days' USING ERRCODE = 'KH400', COLUMN = 'lifecycle.silent_days';
    ELSIF NOT (grade_policy_num('credit.b_days') <= grade_policy_num('credit.ccc_days')
               AND grade_policy_num('credit.ccc_days') <= grade_policy_num('credit.cc_days')
               AND grade_policy_num('credit.cc_days') <= grade_policy_num('credit.c_days')) THEN
        RAISE EXCEPTION 'credit days must satisfy b_days <= ccc_days <= cc_days <= c_days' USING ERRCODE = 'KH400', COLUMN = 'credit.b_days';
    ELSIF grade_policy_num('score.w_volume') + grade_policy_num('score.w_credit') + grade_policy_num('score.w_influence') <= 0 THEN
        RAISE EXCEPTION 'the score weights must not all be zero' USING ERRCODE = 'KH400', COLUMN = 'score.w_volume';
    ELSIF grade_policy_num('needs.price_margin') > grade_policy_num('needs.quality_margin') THEN
        RAISE EXCEPTION 'needs.price_margin must not exceed needs.quality_margin' USING ERRCODE = 'KH400', COLUMN = 'needs.price_margin';
    END IF;
END
$$;
