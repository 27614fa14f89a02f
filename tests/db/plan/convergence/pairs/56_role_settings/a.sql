-- State A (the live database): a role the file gives session settings (ALTER ROLE ... SET) has none, and one it does not
CREATE ROLE p56_app NOLOGIN;
ALTER ROLE p56_app SET work_mem = '8MB';
