DROP TABLE audit_log;
DROP TABLE clients;
DROP TABLE users;
