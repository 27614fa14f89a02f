-- State A (the live database): a login role lacks the membership the file grants and holds one it does not
CREATE ROLE p38_app NOLOGIN;
CREATE ROLE p38_admin NOLOGIN;
CREATE ROLE p38_web LOGIN;
GRANT p38_admin TO p38_web;
