-- The web console (sales/console): each user's language. NULL: the one
-- chosen on the login page (or the browser's).
ALTER TABLE users ADD COLUMN locale text CHECK (locale IN ('zh-CN', 'en'));
