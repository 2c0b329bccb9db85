-- Test-only migrations for sales/db tests.
CREATE TABLE things (
    id   integer PRIMARY KEY,
    name text NOT NULL
);
