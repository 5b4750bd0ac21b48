-- Cases: complaints and requests with working-time targets and escalation
-- (docs/cases.md).
--
-- A case belongs to a customer; every transition is a case_event row and an
-- announcement. Targets count working time: business hours per branch and a
-- calendar of holidays and make-up working days. Warnings and breaches are
-- rows of due_action, fired by the one scheduler of kehud (case_due_fire):
-- claimed FOR UPDATE SKIP LOCKED, performed and marked in one transaction,
-- so with several kehud each fires exactly once and a restart loses nothing.
--
-- The case clock is kehu_now(): now() moved by kehu_clock.offset_ms, which
-- tests set instead of sleeping.

-- ---------------------------------------------------------------- clock

CREATE TABLE kehu_clock (
    one        boolean PRIMARY KEY DEFAULT true CHECK (one),
    offset_ms  bigint NOT NULL DEFAULT 0
);
INSERT INTO kehu_clock DEFAULT VALUES;

CREATE FUNCTION kehu_now() RETURNS timestamptz LANGUAGE sql STABLE AS $$
    SELECT now() + make_interval(secs => (SELECT offset_ms FROM kehu_clock) / 1000.0)
$$;
-- The moved clock at this very moment (not the transaction's start): lags.
CREATE FUNCTION kehu_clock_now() RETURNS timestamptz LANGUAGE sql VOLATILE AS $$
    SELECT clock_timestamp() + make_interval(secs => (SELECT offset_ms FROM kehu_clock) / 1000.0)
$$;

-- ---------------------------------------------------------------- working time

-- Public holidays (working = false) and make-up working days (working =
-- true); any other day works Monday to Friday.
CREATE TABLE work_calendar (
    day      date PRIMARY KEY,
    working  boolean NOT NULL,
    name     text NOT NULL DEFAULT '' CHECK (length(name) <= 100)
);

-- Business hours of a branch (branch_id 0: every branch without its own),
-- local times in zone tz; lunch excluded when given.
CREATE TABLE business_hours (
    branch_id   bigint PRIMARY KEY,
    opens       time NOT NULL,
    closes      time NOT NULL,
    lunch_from  time,
    lunch_to    time,
    tz          text NOT NULL DEFAULT 'Asia/Shanghai',
    CHECK (opens < closes),
    CHECK ((lunch_from IS NULL) = (lunch_to IS NULL)),
    CHECK (lunch_from IS NULL OR (opens < lunch_from AND lunch_from < lunch_to AND lunch_to < closes))
);
INSERT INTO business_hours (branch_id, opens, closes) VALUES (0, '09:00', '17:30');

CREATE FUNCTION work_hours_of(branch bigint) RETURNS business_hours LANGUAGE sql STABLE AS $$
    SELECT h FROM business_hours h WHERE h.branch_id IN (coalesce(branch, 0), 0) ORDER BY h.branch_id DESC LIMIT 1
$$;

CREATE FUNCTION work_day(d date) RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT w.working FROM work_calendar w WHERE w.day = d), extract(isodow FROM d) < 6)
$$;

-- The working intervals of local day d under hours h, in order.
CREATE FUNCTION work_intervals(h business_hours, d date) RETURNS TABLE (s timestamptz, e timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT (d + x.a) AT TIME ZONE h.tz, (d + x.b) AT TIME ZONE h.tz
      FROM (VALUES (1, h.opens, coalesce(h.lunch_from, h.closes)), (2, h.lunch_to, h.closes)) x(i, a, b)
     WHERE x.a IS NOT NULL AND work_day(d)
     ORDER BY x.i
$$;

-- Working hours between a and b (0 when b <= a).
CREATE FUNCTION work_between(branch bigint, a timestamptz, b timestamptz) RETURNS numeric
LANGUAGE sql STABLE AS $$
    SELECT coalesce(sum(extract(epoch FROM least(i.e, b) - greatest(i.s, a))), 0) / 3600
      FROM work_hours_of(branch) h,
           generate_series((a AT TIME ZONE h.tz)::date, (b AT TIME ZONE h.tz)::date, interval '1 day') d,
           work_intervals(h, d::date) i
     WHERE a < b AND i.e > a AND i.s < b
$$;

-- The moment `hours` working hours after start (start itself for 0). A
-- target ending exactly at closing time ends then, not next morning.
CREATE FUNCTION work_add(branch bigint, start timestamptz, hours numeric) RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
DECLARE
    h     business_hours := work_hours_of(branch);
    left_s numeric := hours * 3600;
    d     date := (start AT TIME ZONE h.tz)::date;
    i     record;
    s     timestamptz;
    avail numeric;
BEGIN
    IF hours IS NULL OR hours <= 0 THEN
        RETURN start;
    END IF;
    FOR n IN 0 .. 3700 LOOP
        FOR i IN SELECT * FROM work_intervals(h, d + n) LOOP
            s := greatest(i.s, start);
            CONTINUE WHEN i.e <= s;
            avail := extract(epoch FROM i.e - s);
            IF left_s <= avail THEN
                RETURN s + make_interval(secs => left_s);
            END IF;
            left_s := left_s - avail;
        END LOOP;
    END LOOP;
    RAISE EXCEPTION 'no working time in the next ten years: check the calendar' USING ERRCODE = 'KH412';
END
$$;

-- ---------------------------------------------------------------- policy

-- Severity levels: names, definitions and targets (working hours), editable by an admin.
CREATE TABLE case_severity (
    level          integer PRIMARY KEY CHECK (level BETWEEN 1 AND 4),
    name           text NOT NULL,
    definition     text NOT NULL DEFAULT '',
    respond_hours  numeric NOT NULL CHECK (respond_hours > 0),
    resolve_hours  numeric NOT NULL CHECK (resolve_hours > 0),
    CHECK (respond_hours <= resolve_hours)
);
INSERT INTO case_severity VALUES
 (1, 'critical', 'money lost or at risk, a regulator or the press involved', 1, 8.5),
 (2, 'major', 'a customer cannot use a product or service', 2, 17),
 (3, 'normal', 'a fault with a workaround, a process complaint', 4, 42.5),
 (4, 'minor', 'an enquiry, a suggestion, a cosmetic fault', 8, 85);

-- What happens at the warning point and at breach, per nature and severity.
CREATE TABLE case_escalation_rule (
    nature    text NOT NULL CHECK (nature IN ('complaint', 'request')),
    severity  integer NOT NULL REFERENCES case_severity (level),
    point     text NOT NULL CHECK (point IN ('warn', 'breach')),
    action    text NOT NULL CHECK (action IN ('notify', 'reassign', 'escalate')),
    PRIMARY KEY (nature, severity, point)
);
INSERT INTO case_escalation_rule
SELECT n, s, p, CASE WHEN p = 'warn' THEN 'notify' ELSE 'escalate' END
  FROM unnest(ARRAY['complaint', 'request']) n, generate_series(1, 4) s, unnest(ARRAY['warn', 'breach']) p;

CREATE TABLE case_policy (
    key    text PRIMARY KEY,
    value  numeric NOT NULL,
    note   text NOT NULL DEFAULT ''
);
INSERT INTO case_policy VALUES
 ('warn_at', 0.8, 'the warning point, as a share of a target'),
 ('compensation_approval_above', 500, 'compensation above this amount needs a branch manager''s approval');

CREATE FUNCTION case_policy_num(k text) RETURNS numeric LANGUAGE sql STABLE AS $$
    SELECT value FROM case_policy WHERE key = k
$$;

-- ---------------------------------------------------------------- cases

CREATE TABLE service_case (
    id              bigserial PRIMARY KEY,
    customer_id     bigint NOT NULL REFERENCES customer (id),
    branch_id       bigint NOT NULL REFERENCES org_unit (id),
    nature          text NOT NULL CHECK (nature IN ('complaint', 'request')),
    kind            text NOT NULL,
    severity        integer NOT NULL REFERENCES case_severity (level),
    channel         text NOT NULL CHECK (channel IN ('phone', 'visit', 'email', 'wechat', 'online', 'letter', 'counter')),
    title           text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    note            text,
    status          text NOT NULL DEFAULT 'new'
                    CHECK (status IN ('new', 'assigned', 'in_progress', 'waiting', 'resolved', 'closed')),
    handler_id      bigint REFERENCES app_user (id),
    level           integer NOT NULL DEFAULT 0 CHECK (level BETWEEN 0 AND 3), -- handler, branch manager, region, head office
    grade           text NOT NULL,
    priority        integer NOT NULL,          -- the grade's complaint priority (1 first)
    sla_factor      numeric NOT NULL,
    respond_hours   numeric NOT NULL,          -- the severity's targets times the factor
    resolve_hours   numeric NOT NULL,
    respond_warn    timestamptz NOT NULL,
    respond_by      timestamptz NOT NULL,
    resolve_warn    timestamptz NOT NULL,
    resolve_by      timestamptz NOT NULL,
    responded_at    timestamptz,
    resolved_at     timestamptz,
    closed_at       timestamptz,
    paused_at       timestamptz,               -- waiting on the customer since
    paused_hours    numeric NOT NULL DEFAULT 0, -- working hours spent waiting, never counted
    cause           text,
    action_taken    text,
    compensation    numeric(14, 2),
    compensation_kind text,
    approved_amount numeric(14, 2),            -- what a branch manager approved
    approved_by     bigint REFERENCES app_user (id),
    satisfaction    integer CHECK (satisfaction BETWEEN 1 AND 5),
    opened_by       bigint NOT NULL REFERENCES app_user (id),
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    version         bigint NOT NULL DEFAULT 1,
    CHECK (CASE nature WHEN 'complaint' THEN kind IN ('product', 'service')
                       ELSE kind IN ('help', 'enquiry', 'suggestion', 'unfounded') END)
);
CREATE INDEX service_case_customer ON service_case (customer_id);
CREATE INDEX service_case_open ON service_case (handler_id, priority, resolve_by) WHERE status <> 'closed';
CREATE INDEX service_case_branch ON service_case (branch_id, id);

-- The history: every transition, by whom (NULL: the scheduler), when.
CREATE TABLE case_event (
    id           bigserial PRIMARY KEY,
    case_id      bigint NOT NULL REFERENCES service_case (id),
    at           timestamptz NOT NULL,
    actor        bigint REFERENCES app_user (id),
    kind         text NOT NULL,
    from_status  text,
    to_status    text,
    note         text
);
CREATE INDEX case_event_case ON case_event (case_id, id);

-- The deadlines to act on: a warning and a breach per target, fired once.
CREATE TABLE due_action (
    id         bigserial PRIMARY KEY,
    case_id    bigint NOT NULL REFERENCES service_case (id),
    target     text NOT NULL CHECK (target IN ('respond', 'resolve')),
    point      text NOT NULL CHECK (point IN ('warn', 'breach')),
    due_at     timestamptz NOT NULL,
    fired_at   timestamptz,       -- on the moved clock
    lag_ms     bigint,            -- from due_at to firing
    fired_by   text,              -- which kehud
    outcome    text,
    UNIQUE (case_id, target, point)
);
CREATE INDEX due_action_pending ON due_action (due_at) WHERE fired_at IS NULL;

CREATE FUNCTION case_kind_ok(p_nature text, p_kind text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_nature WHEN 'complaint' THEN p_kind IN ('product', 'service')
                         WHEN 'request' THEN p_kind IN ('help', 'enquiry', 'suggestion', 'unfounded') ELSE false END
$$;

CREATE FUNCTION case_check_kind(p_nature text, p_kind text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF p_nature IS NULL OR p_nature NOT IN ('complaint', 'request') THEN
        RAISE EXCEPTION 'nature must be complaint or request' USING ERRCODE = 'KH400', COLUMN = 'nature';
    END IF;
    IF NOT case_kind_ok(p_nature, p_kind) THEN
        RAISE EXCEPTION '%', CASE p_nature WHEN 'complaint' THEN 'a complaint''s kind is product or service'
                             ELSE 'a request''s kind is help, enquiry, suggestion or unfounded' END
              USING ERRCODE = 'KH400', COLUMN = 'kind';
    END IF;
END
$$;

-- Announces a case's change to whoever may see its customer (the owner always does).
CREATE FUNCTION case_announce(c service_case, what text, actor bigint, detail text) RETURNS void LANGUAGE sql AS $$
    SELECT kehu_announce_detail('case.' || what, c.customer_id, c.branch_id, c.version,
                                (SELECT cu.owner_id FROM customer cu WHERE cu.id = c.customer_id), actor,
                                'case ' || c.id || ' ' || c.status || coalesce(' ' || detail, ''))
$$;

CREATE FUNCTION case_record(c service_case, what text, actor bigint, from_status text, note text) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO case_event (case_id, at, actor, kind, from_status, to_status, note)
    VALUES (c.id, kehu_now(), actor, what, from_status, c.status, note);
    SELECT case_announce(c, what, actor, note);
$$;

-- Plans the case's warnings and breaches from its deadlines (none while it
-- waits, is resolved or closed; a point already fired stays fired), and
-- wakes the schedulers.
CREATE FUNCTION case_schedule(c service_case) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF c.status IN ('waiting', 'resolved', 'closed') THEN
        DELETE FROM due_action WHERE case_id = c.id AND fired_at IS NULL;
        RETURN;
    END IF;
    IF c.responded_at IS NOT NULL THEN
        DELETE FROM due_action WHERE case_id = c.id AND fired_at IS NULL AND target = 'respond';
    END IF;
    INSERT INTO due_action (case_id, target, point, due_at)
    SELECT c.id, x.t, x.p, x.at
      FROM (VALUES ('respond', 'warn', c.respond_warn), ('respond', 'breach', c.respond_by),
                   ('resolve', 'warn', c.resolve_warn), ('resolve', 'breach', c.resolve_by)) x(t, p, at)
     WHERE x.t = 'resolve' OR c.responded_at IS NULL
    ON CONFLICT (case_id, target, point) DO UPDATE SET due_at = excluded.due_at WHERE due_action.fired_at IS NULL;
    -- in how many ms the earliest of them is due (the schedulers sleep until their next one)
    PERFORM pg_notify('kehu', 'due.wake ' || greatest(0, (extract(epoch FROM least(
        CASE WHEN c.responded_at IS NULL THEN c.respond_warn END, c.resolve_warn) - kehu_now()) * 1000)::bigint));
END
$$;

CREATE FUNCTION case_open(actor bigint, cust bigint, p_nature text, p_kind text, p_severity integer, p_channel text,
                          p_title text, p_note text) RETURNS service_case LANGUAGE plpgsql AS $$
DECLARE
    cu   customer;
    sev  case_severity;
    g    text;
    prio integer;
    f    numeric;
    t    timestamptz := kehu_now();
    c    service_case;
    w    numeric := case_policy_num('warn_at');
BEGIN
    PERFORM case_check_kind(p_nature, p_kind);
    SELECT * INTO sev FROM case_severity WHERE level = p_severity;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'severity must be 1 to 4' USING ERRCODE = 'KH400', COLUMN = 'severity';
    END IF;
    IF p_channel IS NULL OR p_channel NOT IN ('phone', 'visit', 'email', 'wechat', 'online', 'letter', 'counter') THEN
        RAISE EXCEPTION 'channel must be phone, visit, email, wechat, online, letter or counter'
              USING ERRCODE = 'KH400', COLUMN = 'channel';
    END IF;
    IF p_title IS NULL OR btrim(p_title) = '' THEN
        RAISE EXCEPTION 'a title is required' USING ERRCODE = 'KH400', COLUMN = 'title';
    END IF;
    SELECT * INTO cu FROM customer WHERE id = cust AND merged_into IS NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no customer %', cust USING ERRCODE = 'KH404', COLUMN = 'customer_id';
    END IF;
    g := coalesce(grade_of(cust, 'abc'), 'C');
    SELECT coalesce(s.complaint_priority, 3), coalesce(s.sla_factor, 1) INTO prio, f FROM grade_service(g) s;
    prio := coalesce(prio, 3);
    f := coalesce(f, 1);
    INSERT INTO service_case (customer_id, branch_id, nature, kind, severity, channel, title, note, grade, priority,
                              sla_factor, respond_hours, resolve_hours, respond_warn, respond_by, resolve_warn,
                              resolve_by, opened_by, created_at, updated_at)
    VALUES (cust, cu.branch_id, p_nature, p_kind, p_severity, p_channel, btrim(p_title), nullif(p_note, ''), g, prio, f,
            sev.respond_hours * f, sev.resolve_hours * f,
            work_add(cu.branch_id, t, sev.respond_hours * f * w), work_add(cu.branch_id, t, sev.respond_hours * f),
            work_add(cu.branch_id, t, sev.resolve_hours * f * w), work_add(cu.branch_id, t, sev.resolve_hours * f),
            actor, t, t)
    RETURNING * INTO c;
    PERFORM case_record(c, 'opened', actor, NULL, c.title);
    PERFORM case_schedule(c);
    RETURN c;
END
$$;

-- A deadline moved by a pause from paused_at to now: what remained of it
-- then remains now.
CREATE FUNCTION case_shift(branch bigint, t timestamptz, paused timestamptz, now_ timestamptz) RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN t > paused THEN work_add(branch, now_, work_between(branch, paused, t)) ELSE t END
$$;

-- One transition of case `id` by actor (KH404 when missing; the caller has
-- already checked that actor may read its customer). act: assign (to
-- p_to), start, wait, resume, resolve, approve, close, reopen, reclassify,
-- comment.
CREATE FUNCTION case_do(actor bigint, id_ bigint, act text, p_note text, p_to bigint, p_cause text, p_action text,
                        p_comp numeric, p_comp_kind text, p_satisfaction integer, p_nature text, p_kind text)
RETURNS service_case LANGUAGE plpgsql AS $$
DECLARE
    c     service_case;
    was   text;
    t     timestamptz := kehu_now();
    note  text := nullif(btrim(coalesce(p_note, '')), '');
    role_ user_role;
    limit_ numeric := case_policy_num('compensation_approval_above');
BEGIN
    SELECT * INTO c FROM service_case WHERE id = id_ FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no case %', id_ USING ERRCODE = 'KH404', COLUMN = 'id';
    END IF;
    was := c.status;
    SELECT role INTO role_ FROM app_user WHERE id = actor;
    IF act = 'comment' THEN
        IF note IS NULL THEN
            RAISE EXCEPTION 'a note is required' USING ERRCODE = 'KH400', COLUMN = 'note';
        END IF;
    ELSIF act = 'assign' THEN
        IF c.status IN ('resolved', 'closed') THEN
            RAISE EXCEPTION 'case % is %: reopen it first', c.id, c.status USING ERRCODE = 'KH412', COLUMN = 'id';
        END IF;
        c.handler_id := p_to;
        IF c.status = 'new' THEN c.status := 'assigned'; END IF;
        note := coalesce(note, 'to ' || (SELECT username FROM app_user WHERE id = p_to));
    ELSIF act = 'start' THEN
        IF c.status NOT IN ('new', 'assigned') THEN
            RAISE EXCEPTION 'case % is %, not new or assigned', c.id, c.status USING ERRCODE = 'KH412', COLUMN = 'id';
        END IF;
        c.status := 'in_progress';
        c.handler_id := coalesce(c.handler_id, actor);
        c.responded_at := coalesce(c.responded_at, t);
    ELSIF act = 'wait' THEN
        IF c.status <> 'in_progress' THEN
            RAISE EXCEPTION 'case % is %, not in progress', c.id, c.status USING ERRCODE = 'KH412', COLUMN = 'id';
        END IF;
        c.status := 'waiting';
        c.paused_at := t;
    ELSIF act = 'resume' THEN
        IF c.status <> 'waiting' THEN
            RAISE EXCEPTION 'case % is not waiting on the customer', c.id USING ERRCODE = 'KH412', COLUMN = 'id';
        END IF;
        c.status := 'in_progress';
        c.paused_hours := c.paused_hours + work_between(c.branch_id, c.paused_at, t);
        c.respond_warn := case_shift(c.branch_id, c.respond_warn, c.paused_at, t);
        c.respond_by := case_shift(c.branch_id, c.respond_by, c.paused_at, t);
        c.resolve_warn := case_shift(c.branch_id, c.resolve_warn, c.paused_at, t);
        c.resolve_by := case_shift(c.branch_id, c.resolve_by, c.paused_at, t);
        c.paused_at := NULL;
    ELSIF act = 'approve' THEN
        IF role_ NOT IN ('branch_manager', 'admin') THEN
            RAISE EXCEPTION 'only a branch manager approves compensation' USING ERRCODE = 'KH403', COLUMN = 'compensation';
        END IF;
        IF p_comp IS NULL OR p_comp <= 0 THEN
            RAISE EXCEPTION 'the amount to approve is required' USING ERRCODE = 'KH400', COLUMN = 'compensation';
        END IF;
        IF c.status = 'closed' THEN
            RAISE EXCEPTION 'case % is closed', c.id USING ERRCODE = 'KH412', COLUMN = 'id';
        END IF;
        c.approved_amount := p_comp;
        c.approved_by := actor;
        note := coalesce(note, 'compensation up to ' || p_comp);
    ELSIF act = 'resolve' THEN
        IF c.status NOT IN ('new', 'assigned', 'in_progress', 'waiting') THEN
            RAISE EXCEPTION 'case % is already %', c.id, c.status USING ERRCODE = 'KH412', COLUMN = 'id';
        END IF;
        IF nullif(btrim(coalesce(p_cause, '')), '') IS NULL THEN
            RAISE EXCEPTION 'a cause is required' USING ERRCODE = 'KH400', COLUMN = 'cause';
        END IF;
        IF nullif(btrim(coalesce(p_action, '')), '') IS NULL THEN
            RAISE EXCEPTION 'the action taken is required' USING ERRCODE = 'KH400', COLUMN = 'action';
        END IF;
        IF p_comp IS NOT NULL AND p_comp < 0 THEN
            RAISE EXCEPTION 'compensation cannot be negative' USING ERRCODE = 'KH400', COLUMN = 'compensation';
        END IF;
        IF coalesce(p_comp, 0) > 0 AND nullif(btrim(coalesce(p_comp_kind, '')), '') IS NULL THEN
            RAISE EXCEPTION 'the compensation''s kind is required' USING ERRCODE = 'KH400', COLUMN = 'compensation_kind';
        END IF;
        IF coalesce(p_comp, 0) > limit_ AND role_ NOT IN ('branch_manager', 'admin')
           AND coalesce(c.approved_amount, 0) < p_comp THEN
            RAISE EXCEPTION 'compensation above % needs a branch manager''s approval (case approve)', limit_
                  USING ERRCODE = 'KH412', COLUMN = 'compensation';
        END IF;
        IF coalesce(p_comp, 0) > limit_ AND coalesce(c.approved_amount, 0) < p_comp THEN
            c.approved_amount := p_comp; -- a manager resolving approves it
            c.approved_by := actor;
        END IF;
        IF c.paused_at IS NOT NULL THEN
            c.paused_hours := c.paused_hours + work_between(c.branch_id, c.paused_at, t);
            c.paused_at := NULL;
        END IF;
        c.status := 'resolved';
        c.cause := btrim(p_cause);
        c.action_taken := btrim(p_action);
        c.compensation := nullif(p_comp, 0);
        c.compensation_kind := CASE WHEN coalesce(p_comp, 0) > 0 THEN btrim(p_comp_kind) END;
        c.resolved_at := t;
        c.responded_at := coalesce(c.responded_at, t);
        c.handler_id := coalesce(c.handler_id, actor);
        note := coalesce(note, c.cause || ': ' || c.action_taken);
    ELSIF act = 'close' THEN
        IF c.status <> 'resolved' THEN
            RAISE EXCEPTION 'case % is %, not resolved', c.id, c.status USING ERRCODE = 'KH412', COLUMN = 'id';
        END IF;
        IF p_satisfaction IS NULL OR p_satisfaction NOT BETWEEN 1 AND 5 THEN
            RAISE EXCEPTION 'satisfaction must be 1 to 5' USING ERRCODE = 'KH400', COLUMN = 'satisfaction';
        END IF;
        c.status := 'closed';
        c.satisfaction := p_satisfaction;
        c.closed_at := t;
        note := coalesce(note, 'satisfaction ' || p_satisfaction);
    ELSIF act = 'reopen' THEN
        IF c.status NOT IN ('resolved', 'closed') THEN
            RAISE EXCEPTION 'case % is %: only a resolved or closed case reopens', c.id, c.status
                  USING ERRCODE = 'KH412', COLUMN = 'id';
        END IF;
        IF note IS NULL THEN
            RAISE EXCEPTION 'a reason is required' USING ERRCODE = 'KH400', COLUMN = 'reason';
        END IF;
        c.status := 'in_progress';
        c.resolved_at := NULL;
        c.closed_at := NULL;
        c.satisfaction := NULL;
    ELSIF act = 'reclassify' THEN
        PERFORM case_check_kind(p_nature, p_kind);
        IF note IS NULL THEN
            RAISE EXCEPTION 'a reason is required' USING ERRCODE = 'KH400', COLUMN = 'reason';
        END IF;
        note := c.nature || '/' || c.kind || ' > ' || p_nature || '/' || p_kind || ': ' || note;
        c.nature := p_nature;
        c.kind := p_kind;
    ELSE
        RAISE EXCEPTION 'unknown case action %', act USING ERRCODE = 'KH400', COLUMN = 'action';
    END IF;
    c.version := c.version + 1;
    c.updated_at := t;
    UPDATE service_case s SET status = c.status, handler_id = c.handler_id, responded_at = c.responded_at,
           paused_at = c.paused_at, paused_hours = c.paused_hours, respond_warn = c.respond_warn,
           respond_by = c.respond_by, resolve_warn = c.resolve_warn, resolve_by = c.resolve_by,
           approved_amount = c.approved_amount, approved_by = c.approved_by, cause = c.cause,
           action_taken = c.action_taken, compensation = c.compensation, compensation_kind = c.compensation_kind,
           resolved_at = c.resolved_at, closed_at = c.closed_at, satisfaction = c.satisfaction, nature = c.nature,
           kind = c.kind, version = c.version, updated_at = c.updated_at
     WHERE s.id = c.id;
    PERFORM case_record(c, act, actor, was, note);
    IF act IN ('start', 'wait', 'resume', 'resolve', 'close', 'reopen') THEN
        PERFORM case_schedule(c);
    END IF;
    RETURN c;
END
$$;

-- ---------------------------------------------------------------- escalation

-- Who works a case at level n (1 branch manager, 2 region, 3 head office):
-- an active branch manager (or, at head office, an admin) of that unit.
CREATE FUNCTION case_level_user(branch bigint, n integer) RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT u.id FROM app_user u
     WHERE u.disabled_at IS NULL
       AND u.unit_id = CASE n WHEN 1 THEN branch
                              WHEN 2 THEN (SELECT o.region_id FROM org_unit o WHERE o.id = branch)
                              ELSE (SELECT o.id FROM org_unit o WHERE o.kind = 'head_office') END
       AND u.role = CASE WHEN n >= 3 THEN 'admin'::user_role ELSE 'branch_manager'::user_role END
     ORDER BY u.id LIMIT 1
$$;

-- Performs one due action (its row locked by the caller); returns what it did.
CREATE FUNCTION case_due_perform(d due_action) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    c      service_case;
    act    text;
    was    text;
    who    bigint;
    what   text;
BEGIN
    SELECT * INTO c FROM service_case WHERE id = d.case_id FOR UPDATE;
    IF c.status IN ('waiting', 'resolved', 'closed') OR (d.target = 'respond' AND c.responded_at IS NOT NULL) THEN
        RETURN 'moot';
    END IF;
    SELECT r.action INTO act FROM case_escalation_rule r
     WHERE r.nature = c.nature AND r.severity = c.severity AND r.point = d.point;
    act := coalesce(act, CASE d.point WHEN 'warn' THEN 'notify' ELSE 'escalate' END);
    what := d.target || ' ' || CASE d.point WHEN 'warn' THEN 'warning' ELSE 'breach' END;
    was := c.status;
    IF act = 'escalate' AND c.level < 3 THEN
        -- the next level that has someone; the level rises even when nobody is found
        c.level := c.level + 1;
        who := case_level_user(c.branch_id, c.level);
        WHILE who IS NULL AND c.level < 3 LOOP
            c.level := c.level + 1;
            who := case_level_user(c.branch_id, c.level);
        END LOOP;
        c.handler_id := coalesce(who, c.handler_id);
        what := what || ': escalated to level ' || c.level || coalesce(' (' || (SELECT username FROM app_user WHERE id = who) || ')', '');
    ELSIF act = 'reassign' THEN
        SELECT u.id INTO who FROM app_user u
         WHERE u.unit_id = c.branch_id AND u.role = 'service_agent' AND u.disabled_at IS NULL
           AND u.id IS DISTINCT FROM c.handler_id
         ORDER BY (SELECT count(*) FROM service_case s WHERE s.handler_id = u.id AND s.status <> 'closed'), u.id LIMIT 1;
        c.handler_id := coalesce(who, c.handler_id);
        what := what || coalesce(': reassigned to ' || (SELECT username FROM app_user WHERE id = who), ': nobody to reassign to');
    ELSE
        act := 'notify';
    END IF;
    IF act <> 'notify' THEN
        c.status := CASE WHEN c.status = 'new' THEN 'assigned' ELSE c.status END;
        c.version := c.version + 1;
        UPDATE service_case s SET level = c.level, handler_id = c.handler_id, status = c.status, version = c.version,
               updated_at = kehu_now() WHERE s.id = c.id;
        -- the planned task at the new level
        IF c.handler_id IS NOT NULL THEN
            INSERT INTO followup (branch_id, customer_id, kind, status, due, note, owner_id, created_by, updated_by)
            VALUES (c.branch_id, c.customer_id, 'call', 'planned', (kehu_now() AT TIME ZONE 'UTC')::date,
                    'case ' || c.id || ': ' || what, c.handler_id, c.handler_id, c.handler_id);
        END IF;
    END IF;
    PERFORM case_record(c, CASE d.point WHEN 'warn' THEN 'warning' ELSE 'breach' END, NULL, was, what);
    RETURN act;
END
$$;

-- The scheduler's one step: claims up to n due actions no other kehud holds,
-- performs and marks each (this transaction), and says how many it fired
-- and in how many ms the next pending one is due (0 or less: already;
-- NULL: none).
CREATE FUNCTION case_due_fire(n integer, who text) RETURNS TABLE (fired integer, next_ms bigint)
LANGUAGE plpgsql AS $$
DECLARE
    d   due_action;
    k   integer := 0;
    out_ text;
    t   timestamptz := kehu_clock_now(); -- once: a volatile call in the condition would defeat the index
BEGIN
    -- the case is locked with its due action, skipping both when another
    -- transaction holds either: two schedulers never wait on each other
    FOR d IN SELECT a.* FROM due_action a JOIN service_case s ON s.id = a.case_id
              WHERE a.fired_at IS NULL AND a.due_at <= t
              ORDER BY a.due_at LIMIT n FOR UPDATE OF a, s SKIP LOCKED LOOP
        out_ := case_due_perform(d);
        UPDATE due_action SET fired_at = kehu_clock_now(), fired_by = who, outcome = out_,
               lag_ms = (extract(epoch FROM kehu_clock_now() - d.due_at) * 1000)::bigint
         WHERE id = d.id;
        k := k + 1;
    END LOOP;
    RETURN QUERY SELECT k, (SELECT (extract(epoch FROM min(due_at) - kehu_clock_now()) * 1000)::bigint
                              FROM due_action WHERE fired_at IS NULL);
END
$$;

-- ---------------------------------------------------------------- hooks

-- An open case (not closed) exempts its customer from pool recycling.
CREATE OR REPLACE FUNCTION customer_open_cases() RETURNS TABLE (customer_id bigint) LANGUAGE sql STABLE AS $$
    SELECT DISTINCT s.customer_id FROM service_case s WHERE s.status <> 'closed'
$$;

-- Valid complaints opened in (d - recent_days, d], and the average
-- satisfaction (1-5) of cases closed in that window and in the baseline
-- window before it: churn-warning reasons.
CREATE OR REPLACE FUNCTION customer_service_signals(d date, recent_days integer, baseline_days integer)
RETURNS TABLE (customer_id bigint, complaints bigint, satisfaction_recent numeric, satisfaction_baseline numeric)
LANGUAGE sql STABLE AS $$
    WITH w AS (SELECT (d + 1)::timestamp AT TIME ZONE 'UTC' AS hi,
                      (d + 1 - recent_days)::timestamp AT TIME ZONE 'UTC' AS mid,
                      (d + 1 - recent_days - baseline_days)::timestamp AT TIME ZONE 'UTC' AS lo)
    SELECT s.customer_id,
           count(*) FILTER (WHERE s.nature = 'complaint' AND s.created_at >= w.mid AND s.created_at < w.hi),
           avg(s.satisfaction) FILTER (WHERE s.closed_at >= w.mid AND s.closed_at < w.hi),
           avg(s.satisfaction) FILTER (WHERE s.closed_at >= w.lo AND s.closed_at < w.mid)
      FROM service_case s, w
     WHERE s.created_at < w.hi AND (s.created_at >= w.lo OR s.closed_at >= w.lo)
     GROUP BY s.customer_id
$$;

-- ---------------------------------------------------------------- surveys

-- A satisfaction survey of a customer (about a case, or periodic): each
-- aspect scored for expectation and perception (1-5); its satisfaction is
-- perceived / expected, averaged over the aspects, kept with its history.
CREATE TABLE survey (
    id            bigserial PRIMARY KEY,
    customer_id   bigint NOT NULL REFERENCES customer (id),
    branch_id     bigint NOT NULL REFERENCES org_unit (id),
    case_id       bigint REFERENCES service_case (id),
    status        text NOT NULL DEFAULT 'sent' CHECK (status IN ('sent', 'recorded')),
    sent_by       bigint NOT NULL REFERENCES app_user (id),
    sent_at       timestamptz NOT NULL,
    recorded_by   bigint REFERENCES app_user (id),
    recorded_at   timestamptz,
    satisfaction  numeric       -- mean of perceived / expected
);
CREATE INDEX survey_customer ON survey (customer_id, id);

CREATE TABLE survey_score (
    survey_id  bigint NOT NULL REFERENCES survey (id),
    aspect     text NOT NULL CHECK (length(aspect) BETWEEN 1 AND 50),
    expected   integer NOT NULL CHECK (expected BETWEEN 1 AND 5),
    perceived  integer NOT NULL CHECK (perceived BETWEEN 1 AND 5),
    PRIMARY KEY (survey_id, aspect)
);

CREATE FUNCTION survey_send(actor bigint, cust bigint, p_case bigint) RETURNS survey LANGUAGE plpgsql AS $$
DECLARE
    s survey;
BEGIN
    IF p_case IS NOT NULL AND NOT EXISTS (SELECT 1 FROM service_case WHERE id = p_case AND customer_id = cust) THEN
        RAISE EXCEPTION 'no case % of customer %', p_case, cust USING ERRCODE = 'KH404', COLUMN = 'case_id';
    END IF;
    INSERT INTO survey (customer_id, branch_id, case_id, sent_by, sent_at)
    SELECT c.id, c.branch_id, p_case, actor, kehu_now() FROM customer c WHERE c.id = cust
    RETURNING * INTO s;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no customer %', cust USING ERRCODE = 'KH404', COLUMN = 'customer_id';
    END IF;
    RETURN s;
END
$$;

-- Records the answers (aspects[i] scored p_expected[i], p_perceived[i]).
CREATE FUNCTION survey_record(actor bigint, id_ bigint, aspects text[], p_expected integer[], p_perceived integer[])
RETURNS survey LANGUAGE plpgsql AS $$
DECLARE
    s survey;
BEGIN
    SELECT * INTO s FROM survey WHERE id = id_ FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no survey %', id_ USING ERRCODE = 'KH404', COLUMN = 'id';
    END IF;
    IF s.status <> 'sent' THEN
        RAISE EXCEPTION 'survey % is already recorded', id_ USING ERRCODE = 'KH412', COLUMN = 'id';
    END IF;
    IF coalesce(cardinality(aspects), 0) = 0 THEN
        RAISE EXCEPTION 'at least one aspect is required' USING ERRCODE = 'KH400', COLUMN = 'scores';
    END IF;
    IF EXISTS (SELECT 1 FROM unnest(p_expected || p_perceived) v WHERE v IS NULL OR v NOT BETWEEN 1 AND 5) THEN
        RAISE EXCEPTION 'scores are 1 to 5' USING ERRCODE = 'KH400', COLUMN = 'scores';
    END IF;
    IF (SELECT count(DISTINCT a) FROM unnest(aspects) a) <> cardinality(aspects) THEN
        RAISE EXCEPTION 'each aspect once' USING ERRCODE = 'KH400', COLUMN = 'scores';
    END IF;
    INSERT INTO survey_score SELECT id_, a, e, p FROM unnest(aspects, p_expected, p_perceived) x(a, e, p);
    UPDATE survey SET status = 'recorded', recorded_by = actor, recorded_at = kehu_now(),
           satisfaction = (SELECT avg(perceived::numeric / expected) FROM survey_score WHERE survey_id = id_)
     WHERE id = id_ RETURNING * INTO s;
    RETURN s;
END
$$;
