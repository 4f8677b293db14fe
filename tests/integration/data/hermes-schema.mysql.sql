-- Hermes's schema.sql for the relay tables (MariaDB, MyISAM, latin1), copied from the
-- reference so the repository is self-contained, plus the same extra enabled postfix rows
-- that `init` seeds into SQLite (src/store/hermes.sqlite.sql), for conformance tests.

-- The three Hermes tables the relay host touches, as Hermes creates them (MariaDB, MyISAM,
-- latin1: no transactions), with the seed rows for the relay directives.
-- Column names, types and seed values are Hermes's; formatting is ours.

CREATE TABLE IF NOT EXISTS `parameters` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `parameter` varchar(255) DEFAULT NULL,
  `whitelist` int(11) DEFAULT NULL,
  `blacklist` int(11) DEFAULT NULL,
  `weight` int(11) DEFAULT NULL,
  `smtpd_recipient_restrictions` int(11) DEFAULT NULL,
  `name` varchar(255) DEFAULT NULL,
  `module` varchar(255) DEFAULT NULL,
  `priority` int(11) DEFAULT NULL,
  `default_value` varchar(255) DEFAULT NULL,
  `editable` int(11) DEFAULT NULL,
  `conf_file` varchar(255) DEFAULT NULL,
  `description` blob DEFAULT NULL,
  `parent` varchar(255) DEFAULT NULL,        -- parent row id, as text
  `parent_name` varchar(255) DEFAULT NULL,
  `child` int(11) DEFAULT NULL,              -- 2 = directive (parent) row, 1 = value row
  `order1` decimal(7,3) DEFAULT NULL,
  `enabled` int(11) DEFAULT NULL,            -- 1 on, 0 off
  `applied` int(11) DEFAULT NULL,            -- 1 applied, 2 pending
  `action` varchar(255) DEFAULT NULL,        -- 'APPLY' pending, 'NONE' applied
  `network_entry` int(11) DEFAULT NULL,
  `note` varchar(255) DEFAULT NULL,
  PRIMARY KEY (`id`)
) ENGINE=MyISAM DEFAULT CHARSET=latin1;

-- (id, parameter, name, module, default_value, editable, conf_file, parent, parent_name, child, order1, enabled, applied, action)
INSERT INTO `parameters`
  (`id`,`parameter`,`name`,`module`,`default_value`,`editable`,`conf_file`,`parent`,`parent_name`,`child`,`order1`,`enabled`,`applied`,`action`)
VALUES
  (202,'relayhost','Relay Host','postfix',NULL,1,'main.cf',NULL,NULL,2,NULL,0,1,'NONE'),
  (203,'','','postfix',NULL,1,'main.cf','202','relayhost',1,1.000,0,1,'NONE'),
  (204,'smtp_sasl_auth_enable',NULL,'postfix',NULL,1,'main.cf',NULL,NULL,2,NULL,0,1,'NONE'),
  (205,'no',NULL,'postfix','yes',1,'main.cf','204','smtp_sasl_auth_enable',1,1.000,0,1,'NONE'),
  (206,'smtp_sasl_password_maps','','postfix',NULL,1,'main.cf',NULL,NULL,2,NULL,0,1,'NONE'),
  (207,'hash:/etc/postfix/sasl_passwd',NULL,'postfix',NULL,1,'main.cf','206','smtp_sasl_password_maps',1,1.000,0,1,'NONE'),
  (368,'smtp_tls_security_level',NULL,'postfix',NULL,1,'main.cf',NULL,NULL,2,NULL,0,1,'NONE'),
  (369,'encrypt',NULL,'postfix',NULL,1,'main.cf','368','smtp_tls_security_level',1,NULL,0,1,'NONE');
-- A real install has hundreds of other `postfix` rows (myhostname, mynetworks, ...); the main.cf
-- generator applies every enabled one, so tests should include a few more, e.g.:
--   (10,'myhostname',...,child 2, enabled 1) with value row 'hermes.example.test'
--   (12,'mynetworks',...,child 2, enabled 1) with two value rows '127.0.0.0/8' (order1 1) and '10.0.0.0/8' (order1 2)
--   -> main.cf line: mynetworks = 127.0.0.0/8, 10.0.0.0/8

CREATE TABLE IF NOT EXISTS `system_settings` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `parameter` varchar(255) NOT NULL DEFAULT '',
  `value` varchar(1024) DEFAULT NULL,
  PRIMARY KEY (`id`,`parameter`),
  UNIQUE KEY `parameter` (`parameter`)
) ENGINE=MyISAM DEFAULT CHARSET=latin1;

-- Added by a Hermes schema update (older installs lack them; create them if missing).
INSERT INTO `system_settings` (`parameter`,`value`)
  SELECT 'relay_host_username','' FROM DUAL
  WHERE NOT EXISTS (SELECT 1 FROM `system_settings` WHERE `parameter`='relay_host_username');
INSERT INTO `system_settings` (`parameter`,`value`)
  SELECT 'relay_host_password','' FROM DUAL
  WHERE NOT EXISTS (SELECT 1 FROM `system_settings` WHERE `parameter`='relay_host_password');

CREATE TABLE IF NOT EXISTS `transport` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `domain` varchar(255) DEFAULT NULL,
  `transport` varchar(255) DEFAULT NULL,
  `destination` varchar(255) DEFAULT NULL,
  `method` varchar(255) DEFAULT NULL,
  `port` varchar(255) DEFAULT NULL,
  `mx` varchar(255) DEFAULT NULL,
  `authentication` varchar(255) DEFAULT NULL,          -- 'YES' when the destination needs SASL
  `authentication_username` varchar(255) DEFAULT NULL, -- encrypted like the relay creds
  `authentication_password` varchar(255) DEFAULT NULL, -- encrypted like the relay creds
  PRIMARY KEY (`id`)
) ENGINE=MyISAM DEFAULT CHARSET=latin1;

INSERT INTO `parameters`
  (`id`,`parameter`,`name`,`module`,`default_value`,`editable`,`conf_file`,`parent`,`parent_name`,`child`,`order1`,`enabled`,`applied`,`action`)
VALUES
  (10,'myhostname',NULL,'postfix',NULL,1,'main.cf',NULL,NULL,2,NULL,1,1,'NONE'),
  (11,'hermes.example.test',NULL,'postfix',NULL,1,'main.cf','10','myhostname',1,1.000,1,1,'NONE'),
  (12,'mynetworks',NULL,'postfix',NULL,1,'main.cf',NULL,NULL,2,NULL,1,1,'NONE'),
  (13,'127.0.0.0/8',NULL,'postfix',NULL,1,'main.cf','12','mynetworks',1,1.000,1,1,'NONE'),
  (14,'10.0.0.0/8',NULL,'postfix',NULL,1,'main.cf','12','mynetworks',1,2.000,1,1,'NONE');
