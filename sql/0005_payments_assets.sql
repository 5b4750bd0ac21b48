-- Kehu schema 5: credit, payments and arrears; asset snapshots (AUM).
--
-- Money is numeric(18, 2) here and integer minor units (fen) on the wire;
-- nothing on the way is floating point.
--
-- A transaction on credit adds its amount to the customer's balance (what
-- the customer owes); a payment subtracts its amount. kehud moves
-- customer.balance in the same statement as the insert (TxnAdd,
-- PaymentAdd), as it moves revenue. A payment larger than the balance is
-- accepted: the balance goes negative, a credit on account, which later
-- credit transactions use up. Payments are not tied to transactions: they
-- are allocated to the credit transactions oldest due date first (FIFO),
-- which is what customer_arrears computes.
--
-- Asset snapshots are balances held by a customer (deposits, wealth
-- products, funds, insurance ...) observed on a date; one per customer, date
-- and product (a second one of the same day replaces the first). A
-- snapshot holds until the next of the same product: a customer's assets
-- under management (AUM) on a date are the sum over products of the latest
-- snapshot on or before it (customer_aum).

-- ---------------------------------------------------------------- credit

ALTER TABLE txn
    ADD COLUMN on_credit boolean NOT NULL DEFAULT false,
    ADD COLUMN due date,
    -- a credit sale is due on or after its date and is not a refund; a due date only on credit
    ADD CONSTRAINT txn_credit_due CHECK (CASE WHEN on_credit THEN due IS NOT NULL AND due >= date AND amount > 0
                                              ELSE due IS NULL END);
-- a customer's credit transactions in allocation order
CREATE INDEX txn_customer_credit ON txn (customer_id, due, date, id) WHERE on_credit;

CREATE TABLE payment (
    id           bigserial PRIMARY KEY,
    branch_id    bigint NOT NULL REFERENCES org_unit (id),
    customer_id  bigint NOT NULL REFERENCES customer (id),
    date         date NOT NULL,
    amount       numeric(18, 2) NOT NULL CHECK (amount > 0),
    method       text NOT NULL DEFAULT 'transfer' CHECK (method IN ('cash', 'transfer', 'card', 'cheque', 'other')),
    reference    text CHECK (length(reference) BETWEEN 1 AND 100),   -- the bank's or the receipt's number
    note         text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   bigint REFERENCES app_user (id)
);
CREATE INDEX payment_customer ON payment (customer_id, date DESC, id DESC);
CREATE INDEX payment_branch_date ON payment (branch_id, date);
CREATE TRIGGER payment_added AFTER INSERT ON payment FOR EACH ROW EXECUTE FUNCTION customer_row_added();

-- What the credit grading needs, per customer with any credit transaction
-- or payment dated on or before as_of, as things stood on as_of (rows dated
-- later are ignored):
--   balance            credit transactions minus payments (negative: credit on account)
--   oldest_unpaid_due  the due date of the oldest credit transaction not
--                      fully covered once all payments are allocated to
--                      credit transactions in due-date order (FIFO); NULL when none
--   days_overdue       as_of - oldest_unpaid_due when that is in the past, else 0
--   credit_txns        credit transactions that were due before as_of, or
--                      are already fully paid
--   paid_on_time       those of them fully paid by their due date (by the
--                      FIFO allocation of the payments made up to that day)
--
-- One pass: credit transactions (as events on their due date) and payments
-- (on their date) in one stream per customer, ordered by date, payments
-- before dues of the same day; two running sums along it — credit in FIFO
-- order, payments in time order. A credit transaction is fully paid by its
-- due date when the payments so far cover the credit so far, and still
-- unpaid on as_of when all the payments do not.
CREATE FUNCTION customer_arrears(as_of date)
RETURNS TABLE (customer_id bigint, balance numeric, oldest_unpaid_due date, days_overdue integer, credit_txns bigint,
               paid_on_time bigint)
LANGUAGE sql STABLE AS $$
    SELECT s.customer_id,
           sum(s.credit) - sum(s.paid),
           min(s.due) FILTER (WHERE s.credit > 0 AND s.credit_so_far > s.paid_total),
           coalesce(greatest(as_of - min(s.due) FILTER (WHERE s.credit > 0 AND s.credit_so_far > s.paid_total), 0), 0),
           count(*) FILTER (WHERE s.credit > 0 AND (s.due < as_of OR s.paid_so_far >= s.credit_so_far)),
           count(*) FILTER (WHERE s.credit > 0 AND s.paid_so_far >= s.credit_so_far)
      FROM (SELECT e.customer_id, e.due, e.credit, e.paid,
                   sum(e.credit) OVER w AS credit_so_far,
                   sum(e.paid) OVER w AS paid_so_far,
                   sum(e.paid) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS paid_total
              FROM (SELECT t.customer_id, t.due AS at, 1 AS kind, t.date, t.id, t.due, t.amount AS credit, 0 AS paid
                      FROM txn t
                     WHERE t.on_credit AND t.date <= as_of
                    UNION ALL
                    SELECT p.customer_id, p.date, 0, p.date, p.id, NULL, 0, p.amount
                      FROM payment p
                     WHERE p.date <= as_of) e
            WINDOW w AS (PARTITION BY e.customer_id ORDER BY e.at, e.kind, e.date, e.id)) s
     GROUP BY s.customer_id
$$;

-- ---------------------------------------------------------------- assets

CREATE TABLE asset_snapshot (
    id           bigserial PRIMARY KEY,
    branch_id    bigint NOT NULL REFERENCES org_unit (id),
    customer_id  bigint NOT NULL REFERENCES customer (id),
    date         date NOT NULL,
    balance      numeric(18, 2) NOT NULL CHECK (balance >= 0),
    -- deposit, wealth, fund, insurance, other, or the bank's own product name
    product      text NOT NULL DEFAULT 'deposit' CHECK (length(product) BETWEEN 1 AND 50),
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   bigint REFERENCES app_user (id),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    updated_by   bigint REFERENCES app_user (id),
    -- one per customer, day and product; in this column order the index
    -- also finds the latest snapshot of each product (customer_aum)
    CONSTRAINT asset_snapshot_key UNIQUE (customer_id, product, date)
);
CREATE INDEX asset_snapshot_customer_date ON asset_snapshot (customer_id, date DESC, id DESC);
CREATE INDEX asset_snapshot_branch_date ON asset_snapshot (branch_id, date);
CREATE TRIGGER asset_snapshot_added AFTER INSERT ON asset_snapshot
    FOR EACH ROW EXECUTE FUNCTION customer_row_added();

-- A snapshot replaced by another of the same day and product (AssetAdd
-- sets updated_at; a merge moving or adding up snapshots does not).
CREATE FUNCTION asset_snapshot_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    cust customer;
BEGIN
    SELECT * INTO cust FROM customer WHERE id = NEW.customer_id;
    PERFORM kehu_announce('asset_snapshot.updated', cust, NEW.updated_by);
    RETURN NULL;
END
$$;
CREATE TRIGGER asset_snapshot_changed AFTER UPDATE ON asset_snapshot
    FOR EACH ROW WHEN (OLD.updated_at IS DISTINCT FROM NEW.updated_at) EXECUTE FUNCTION asset_snapshot_changed();

-- Each customer's assets under management on as_of: the sum over products of
-- the latest snapshot on or before as_of (a product emptied has a 0 snapshot).
--   aum        the total
--   latest     the date of the newest snapshot counted
--   products   how many products it adds up
CREATE FUNCTION customer_aum(as_of date)
RETURNS TABLE (customer_id bigint, aum numeric, latest date, products bigint)
LANGUAGE sql STABLE AS $$
    SELECT l.customer_id, sum(l.balance), max(l.date), count(*)
      FROM (SELECT DISTINCT ON (a.customer_id, a.product) a.customer_id, a.product, a.date, a.balance
              FROM asset_snapshot a
             WHERE a.date <= as_of
             ORDER BY a.customer_id, a.product, a.date DESC) l
     GROUP BY l.customer_id
$$;

-- ---------------------------------------------------------------- merging

-- Moves everything a customer owns — contacts, transactions, payments, asset
-- snapshots, follow-ups, documents and its history — to another (replaces
-- the function of schema 4).
--
-- Asset snapshots are merged so that the kept customer's AUM on any date is
-- the sum of both customers' AUM on that date: every snapshot of either,
-- for a product, gets the other's latest snapshot of that product on or
-- before its date added (the one UPDATE reads the balances as they were
-- before it); then OTHER's snapshots of a day and product KEEP has too
-- (now equal to KEEP's) are dropped and the rest move.
CREATE OR REPLACE FUNCTION customer_move_rows(keep bigint, other bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    branch bigint;
BEGIN
    SELECT branch_id INTO branch FROM customer WHERE id = keep;
    UPDATE contact SET customer_id = keep, branch_id = branch WHERE customer_id = other;
    UPDATE txn SET customer_id = keep, branch_id = branch WHERE customer_id = other;
    UPDATE payment SET customer_id = keep, branch_id = branch WHERE customer_id = other;
    UPDATE asset_snapshot s
       SET balance = s.balance + coalesce((SELECT o.balance FROM asset_snapshot o
                                            WHERE o.customer_id = CASE s.customer_id WHEN keep THEN other ELSE keep END
                                              AND o.product = s.product AND o.date <= s.date
                                            ORDER BY o.date DESC LIMIT 1), 0)
     WHERE s.customer_id IN (keep, other);
    DELETE FROM asset_snapshot o USING asset_snapshot k
     WHERE o.customer_id = other AND k.customer_id = keep AND k.product = o.product AND k.date = o.date;
    UPDATE asset_snapshot SET customer_id = keep, branch_id = branch WHERE customer_id = other;
    UPDATE followup SET customer_id = keep, branch_id = branch WHERE customer_id = other;
    UPDATE document SET customer_id = keep, branch_id = branch WHERE customer_id = other;
    UPDATE change_log SET customer_id = keep WHERE customer_id = other;
END
$$;
