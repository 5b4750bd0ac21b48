-- Kehu schema 43: indexes for customer lists filtered by region, industry or
-- source.
--
-- Such a list walked the list's order testing each row, until it had its
-- page and, for its count, the cap's rows: right for a common value, the
-- whole order for a rare one (a region no customer of the scope has: every
-- customer of it read for an empty page). As with tags, server/rpc_customer.c
-- (page_sql) now counts the value's customers by its index first, at most
-- the cap's and one, and then either sorts those (at most the cap) or walks
-- the order as before.
--
-- One index a column, on the value and the branch (a branch manager's scope
-- is then read in the index), holding the owner (an account manager's or a
-- team's scope), the status (lists leave archived customers out), the id
-- and the other two columns (a region and an industry asked together): a
-- count reads the index alone (an index-only scan) unless another filter
-- needs the row. Merged customers are never listed and a NULL never asked
-- for: both are left out (an industry is empty for half of a base of
-- individuals).
SET LOCAL maintenance_work_mem = '512MB';
CREATE INDEX customer_region_list ON customer (region, branch_id) INCLUDE (owner_id, status, id, industry, source)
    WHERE merged_into IS NULL AND region IS NOT NULL;
CREATE INDEX customer_industry_list ON customer (industry, branch_id) INCLUDE (owner_id, status, id, region, source)
    WHERE merged_into IS NULL AND industry IS NOT NULL;
CREATE INDEX customer_source_list ON customer (source, branch_id) INCLUDE (owner_id, status, id, region, industry)
    WHERE merged_into IS NULL AND source IS NOT NULL;
