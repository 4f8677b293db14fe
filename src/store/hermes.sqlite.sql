-- The three Hermes tables the relay host touches, in SQLite form (the MariaDB originals are
-- MyISAM/latin1; columns, meanings and seed values are Hermes's), with the seed rows of the
-- relay directives and a few other enabled postfix rows as a real install has hundreds of.
CREATE TABLE IF NOT EXISTS parameters (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  parameter VARCHAR(255) DEFAULT NULL,
  whitelist INTEGER DEFAULT NULL,
  blacklist INTEGER DEFAULT NULL,
  weight INTEGER DEFAULT NULL,
  smtpd_recipient_restrictions INTEGER DEFAULT NULL,
  name VARCHAR(255) DEFAULT NULL,
  module VARCHAR(255) DEFAULT NULL,
  priority INTEGER DEFAULT NULL,
  default_value VARCHAR(255) DEFAULT NULL,
  editable INTEGER DEFAULT NULL,
  conf_file VARCHAR(255) DEFAULT NULL,
  description BLOB DEFAULT NULL,
  parent VARCHAR(255) DEFAULT NULL,
  parent_name VARCHAR(255) DEFAULT NULL,
  child INTEGER DEFAULT NULL,
  order1 DECIMAL(7,3) DEFAULT NULL,
  enabled INTEGER DEFAULT NULL,
  applied INTEGER DEFAULT NULL,
  action VARCHAR(255) DEFAULT NULL,
  network_entry INTEGER DEFAULT NULL,
  note VARCHAR(255) DEFAULT NULL
);

CREATE TABLE IF NOT EXISTS system_settings (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  parameter VARCHAR(255) NOT NULL DEFAULT '' UNIQUE,
  value VARCHAR(1024) DEFAULT NULL
);

CREATE TABLE IF NOT EXISTS transport (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  domain VARCHAR(255) DEFAULT NULL,
  transport VARCHAR(255) DEFAULT NULL,
  destination VARCHAR(255) DEFAULT NULL,
  method VARCHAR(255) DEFAULT NULL,
  port VARCHAR(255) DEFAULT NULL,
  mx VARCHAR(255) DEFAULT NULL,
  authentication VARCHAR(255) DEFAULT NULL,
  authentication_username VARCHAR(255) DEFAULT NULL,
  authentication_password VARCHAR(255) DEFAULT NULL
);

INSERT INTO parameters
  (id, parameter, name, module, default_value, editable, conf_file, parent, parent_name, child, order1, enabled, applied, action)
VALUES
  (10, 'myhostname', NULL, 'postfix', NULL, 1, 'main.cf', NULL, NULL, 2, NULL, 1, 1, 'NONE'),
  (11, 'hermes.example.test', NULL, 'postfix', NULL, 1, 'main.cf', '10', 'myhostname', 1, 1.000, 1, 1, 'NONE'),
  (12, 'mynetworks', NULL, 'postfix', NULL, 1, 'main.cf', NULL, NULL, 2, NULL, 1, 1, 'NONE'),
  (13, '127.0.0.0/8', NULL, 'postfix', NULL, 1, 'main.cf', '12', 'mynetworks', 1, 1.000, 1, 1, 'NONE'),
  (14, '10.0.0.0/8', NULL, 'postfix', NULL, 1, 'main.cf', '12', 'mynetworks', 1, 2.000, 1, 1, 'NONE'),
  (202, 'relayhost', 'Relay Host', 'postfix', NULL, 1, 'main.cf', NULL, NULL, 2, NULL, 0, 1, 'NONE'),
  (203, '', '', 'postfix', NULL, 1, 'main.cf', '202', 'relayhost', 1, 1.000, 0, 1, 'NONE'),
  (204, 'smtp_sasl_auth_enable', NULL, 'postfix', NULL, 1, 'main.cf', NULL, NULL, 2, NULL, 0, 1, 'NONE'),
  (205, 'no', NULL, 'postfix', 'yes', 1, 'main.cf', '204', 'smtp_sasl_auth_enable', 1, 1.000, 0, 1, 'NONE'),
  (206, 'smtp_sasl_password_maps', '', 'postfix', NULL, 1, 'main.cf', NULL, NULL, 2, NULL, 0, 1, 'NONE'),
  (207, 'hash:/etc/postfix/sasl_passwd', NULL, 'postfix', NULL, 1, 'main.cf', '206', 'smtp_sasl_password_maps', 1, 1.000, 0, 1, 'NONE'),
  (368, 'smtp_tls_security_level', NULL, 'postfix', NULL, 1, 'main.cf', NULL, NULL, 2, NULL, 0, 1, 'NONE'),
  (369, 'encrypt', NULL, 'postfix', NULL, 1, 'main.cf', '368', 'smtp_tls_security_level', 1, NULL, 0, 1, 'NONE');

INSERT INTO system_settings (parameter, value) VALUES ('relay_host_username', ''), ('relay_host_password', '');
