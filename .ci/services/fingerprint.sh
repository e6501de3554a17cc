# portolan-fingerprint: the lab test starts its own copies of these daemons inside a network
# namespace, with its own config files. Copies that the package installation may have
# started on the host (where no policy-rc.d prevents it) are not needed: stop them, so they
# hold no host ports. Idempotent; never fails.
for svc in lighttpd mariadb vsftpd exim4 dovecot snmpd mosquitto squid slapd danted; do
  if [ -x "/etc/init.d/$svc" ]; then
    "/etc/init.d/$svc" stop >/dev/null 2>&1 || true
  fi
done
mkdir -p /run/sshd /var/run/vsftpd/empty
true
