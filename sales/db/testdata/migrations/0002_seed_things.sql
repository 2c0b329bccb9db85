-- Not idempotent: applying it twice fails on the primary key.
INSERT INTO things (id, name) VALUES (1, 'one');
