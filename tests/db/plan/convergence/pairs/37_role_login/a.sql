-- State A (the live database): a role the file declares LOGIN is NOLOGIN in the cluster
CREATE ROLE p37_reporting NOLOGIN;
