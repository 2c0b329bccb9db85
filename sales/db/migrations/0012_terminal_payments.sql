-- Card and wallet payments at a window: the cashier takes the money on
-- the window's own terminal (a bank card POS, an Alipay/WeChat scanner)
-- and types the reference the terminal printed. A card or wallet payment
-- always names one (NOT VALID: rows from before are not re-checked). A
-- window records a reference once per method, so a slip typed twice is
-- refused rather than counted twice in the shift.
ALTER TABLE payments ADD COLUMN terminal_ref text;
ALTER TABLE payments ADD CONSTRAINT payments_terminal_ref_check
    CHECK ((method IN ('card', 'wallet')) = (terminal_ref IS NOT NULL)) NOT VALID;
CREATE UNIQUE INDEX payments_terminal_ref ON payments (sales_point_id, method, terminal_ref)
    WHERE terminal_ref IS NOT NULL;
