-- Rules that agree: a grade's pool limit (no logged follow-up for N days)
-- is never shorter than the contact interval its service policy asks for,
-- plus a grace (pool.grace_days): an owner who follows the policy must not
-- lose the customer to the pool for it. Both setters (pool rules set,
-- grade policy set) meet the same check at the end of their transaction
-- (policy_agree_assert), which refuses a contradiction (KH400 naming the
-- rule) unless the change was forced; kehud then reports what contradicts
-- as warnings. The defaults agree: C customers, contacted every 90 days,
-- return after 120 days without a follow-up (30 before).

INSERT INTO grade_policy (position, key, value, type, min, max, choices, description) VALUES
 (83, 'pool.grace_days', '30', 'int', 0, 3650, NULL,
  'a grade''s pool limit (followup_days) must exceed its service contact interval (call_days) by at least this');

-- The contradictions between the pool rules (those of ids, or all for NULL)
-- and the service policy: the request field (GRADE.followup_days) and what
-- is wrong, in words.
CREATE FUNCTION policy_contradictions(ids bigint[] DEFAULT NULL) RETURNS TABLE (field text, problem text)
LANGUAGE sql STABLE AS $$
    SELECT r.grade || '.followup_days',
           format('%s customers%s return to the pool after %s days without a follow-up, but the service policy asks '
                  'for a contact only every %s days (service.%s.call_days), and pool.grace_days adds %s: an owner '
                  'following the policy would lose them', r.grade,
                  CASE WHEN b.name IS NULL THEN '' ELSE ' of ' || b.name END, r.followup_days, p.call_days, r.grade,
                  g.grace)
      FROM pool_rule r
      LEFT JOIN org_unit b ON b.id = r.branch_id
     CROSS JOIN LATERAL (SELECT grade_policy_num('service.' || r.grade || '.call_days')::integer AS call_days) p
     CROSS JOIN (SELECT grade_policy_num('pool.grace_days')::integer AS grace) g
     WHERE r.followup_days > 0 AND p.call_days > 0 AND r.followup_days < p.call_days + g.grace
       AND (ids IS NULL OR r.id = ANY (ids))
     ORDER BY r.branch_id NULLS FIRST, r.grade
$$;

-- The check kehud runs in the same transaction, after a pool rules set
-- (the rules of that branch, or everywhere's for NULL: p_all false) or a
-- grade policy set that changed a contact interval or the grace (every
-- rule: p_all true), unless the change was forced: a contradiction rolls
-- the change back, KH400 naming the rule. A check at the end, not a
-- trigger, so that a set of several keys is judged as a whole.
CREATE FUNCTION policy_agree_assert(p_branch bigint, p_all boolean) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    x record;
BEGIN
    SELECT * INTO x
      FROM policy_contradictions(CASE WHEN p_all THEN NULL
                                      ELSE ARRAY(SELECT r.id FROM pool_rule r
                                                  WHERE r.branch_id IS NOT DISTINCT FROM p_branch) END)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION '%; change both together, or give --force to keep it anyway', x.problem
            USING ERRCODE = 'KH400', COLUMN = CASE WHEN p_all THEN 'values' ELSE x.field END;
    END IF;
END
$$;

UPDATE pool_rule SET followup_days = 120 WHERE branch_id IS NULL AND grade = 'C' AND followup_days = 30;
