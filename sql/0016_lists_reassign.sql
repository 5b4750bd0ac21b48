-- Kehu schema 16: follow-ups by WeChat and SMS; reassignment that checks
-- every criterion of a batch under its locks, and an undo that never hands
-- customers back to a disabled user.

-- The channels used in China beside visit, call, e-mail and meeting.
ALTER TABLE followup DROP CONSTRAINT followup_kind_check;
ALTER TABLE followup ADD CONSTRAINT followup_kind_check
    CHECK (kind IN ('visit', 'call', 'email', 'meeting', 'wechat', 'sms'));
