-- Kehu schema 31: indexes for the lists that scanned.
--
-- customer list --sort last_contact orders by
-- coalesce(last_contact_at, '-infinity') (never contacted last), which the
-- index on last_contact_at alone cannot give: every page sorted the whole
-- scope (seconds at a million customers). This index gives that order.
CREATE INDEX customer_last_contact_sort ON customer ((coalesce(last_contact_at, '-infinity'::timestamptz)), id);

-- customer list --grade A (the abc dimension, the one people filter on) as a
-- set (server/rpc_customer.c grade_filter_sql): the customers of a grade
-- without reading every computed grade.
CREATE INDEX customer_grade_abc ON customer_grade (abc, customer_id);
