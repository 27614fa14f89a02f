-- State A (the live database): a role carries a session setting the file resets
CREATE ROLE p85_app NOLOGIN;
ALTER ROLE p85_app SET statement_timeout = '1h';
ALTER ROLE p85_app SET work_mem = '4MB';
