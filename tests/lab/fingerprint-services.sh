#!/usr/bin/env bash
# Service lab for portolan-fingerprint: real Debian daemons, each started directly (not via
# systemd) with a config file written here, in a network namespace that has only loopback.
# Nothing listens outside the namespace; nothing in it has a route out.
#
#   fingerprint-services.sh up   NS DIR   create NS, start the daemons, write DIR/services.tsv
#   fingerprint-services.sh down NS DIR   stop every process in NS, delete NS and DIR
#
# DIR/services.tsv: one line a daemon that came up: name  port/proto  package  unauth(0|1)
# DIR/skipped.txt:  daemons that are not installed or did not come up, with the reason.
# Needs root. Used by crates/portolan-cli/tests/service_lab.rs and bench/service.sh.
set -uo pipefail

cmd=${1:?usage: $0 up|down NS DIR}
NS=${2:?namespace name}
DIR=${3:?work directory}

in_ns() { ip netns exec "$NS" "$@"; }

if [ "$cmd" = down ]; then
  if ip netns list 2>/dev/null | grep -qw "$NS"; then
    for sig in TERM KILL; do
      pids=$(ip netns pids "$NS" 2>/dev/null)
      [ -n "$pids" ] && kill -s "$sig" $pids 2>/dev/null
      for _ in $(seq 1 30); do [ -z "$(ip netns pids "$NS" 2>/dev/null)" ] && break; sleep 0.1; done
    done
    ip netns del "$NS" 2>/dev/null
  fi
  case "$DIR" in /tmp/*|/var/tmp/*) rm -rf "$DIR" ;; esac
  exit 0
fi

[ "$cmd" = up ] || { echo "usage: $0 up|down NS DIR" >&2; exit 2; }
set -e
mkdir -p "$DIR"
chmod 755 "$DIR"
: > "$DIR/services.tsv"
: > "$DIR/skipped.txt"
ip netns add "$NS"
ip -n "$NS" link set lo up
set +e

# start NAME PORT/PROTO PACKAGE UNAUTH BINARY -- command...
start() {
  local name=$1 port=$2 pkg=$3 unauth=$4 bin=$5; shift 6
  if [ ! -x "$bin" ]; then
    echo "$name: $bin not installed (package $pkg)" >> "$DIR/skipped.txt"
    return
  fi
  in_ns setsid "$@" > "$DIR/$name.out" 2>&1 < /dev/null &
  printf '%s\t%s\t%s\t%s\n' "$name" "$port" "$pkg" "$unauth" >> "$DIR/expected.tsv"
}

: > "$DIR/expected.tsv"
mkdir -p "$DIR/www"
printf '<html><head><title>portolan lab</title></head><body>lab</body></html>\n' > "$DIR/www/index.html"
chmod -R a+rX "$DIR/www"

# --- openssh-server on 2222 (non-standard port)
if [ -x /usr/sbin/sshd ]; then
  mkdir -p /run/sshd
  ssh-keygen -q -t ed25519 -N '' -f "$DIR/ssh_host_ed25519_key" >/dev/null
  cat > "$DIR/sshd_config" <<EOF
Port 2222
ListenAddress 127.0.0.1
HostKey $DIR/ssh_host_ed25519_key
PidFile $DIR/sshd.pid
UsePAM no
PasswordAuthentication no
EOF
fi
start sshd 2222/tcp openssh-server 0 /usr/sbin/sshd -- /usr/sbin/sshd -D -e -f "$DIR/sshd_config"

# --- nginx with a self-signed certificate on 8443 (TLS on a non-standard port)
# (the certificate is also dovecot's)
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=lab.portolan.test" \
  -addext "subjectAltName=DNS:lab.portolan.test" \
  -keyout "$DIR/tls.key" -out "$DIR/tls.crt" >/dev/null 2>&1
if [ -x /usr/sbin/nginx ]; then
  mkdir -p "$DIR/nginx"
  cat > "$DIR/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 1;
pid $DIR/nginx.pid;
error_log $DIR/nginx.err;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path $DIR/nginx/body;
  proxy_temp_path $DIR/nginx/proxy;
  fastcgi_temp_path $DIR/nginx/fastcgi;
  uwsgi_temp_path $DIR/nginx/uwsgi;
  scgi_temp_path $DIR/nginx/scgi;
  server {
    listen 127.0.0.1:8443 ssl;
    ssl_certificate $DIR/tls.crt;
    ssl_certificate_key $DIR/tls.key;
    root $DIR/www;
  }
}
EOF
fi
start nginx 8443/tcp nginx 0 /usr/sbin/nginx -- /usr/sbin/nginx -c "$DIR/nginx.conf" -p "$DIR/nginx"

# --- lighttpd on 8081 (HTTP on a non-standard port)
cat > "$DIR/lighttpd.conf" <<EOF
server.port = 8081
server.bind = "127.0.0.1"
server.document-root = "$DIR/www"
server.errorlog = "$DIR/lighttpd.err"
index-file.names = ( "index.html" )
mimetype.assign = ( ".html" => "text/html" )
EOF
start lighttpd 8081/tcp lighttpd 0 /usr/sbin/lighttpd -- /usr/sbin/lighttpd -D -f "$DIR/lighttpd.conf"

# --- redis-server twice: 6379 with a password, 7000 without (non-standard port)
mkdir -p "$DIR/redis1" "$DIR/redis2"
start redis-auth 6379/tcp redis-server 0 /usr/bin/redis-server -- /usr/bin/redis-server --port 6379 \
  --bind 127.0.0.1 --requirepass portolan-lab-secret --daemonize no --save '' --appendonly no --dir "$DIR/redis1"
start redis-open 7000/tcp redis-server 1 /usr/bin/redis-server -- /usr/bin/redis-server --port 7000 \
  --bind 127.0.0.1 --protected-mode no --daemonize no --save '' --appendonly no --dir "$DIR/redis2"

# --- memcached (no SASL: unauthenticated)
start memcached 11211/tcp memcached 1 /usr/bin/memcached -- /usr/bin/memcached -u memcache -l 127.0.0.1 -p 11211 -U 0

# --- postgresql (password authentication for TCP clients)
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -n "$PGBIN" ] && [ -x "$PGBIN/initdb" ]; then
  mkdir -p "$DIR/pg" "$DIR/pgsock"
  chown postgres "$DIR/pg" "$DIR/pgsock"
  echo portolan-lab-secret > "$DIR/pgpw"; chown postgres "$DIR/pgpw"
  su postgres -s /bin/sh -c "$PGBIN/initdb -D $DIR/pg/data -A scram-sha-256 --pwfile=$DIR/pgpw" > "$DIR/initdb.out" 2>&1
fi
start postgresql 5432/tcp postgresql 0 "${PGBIN:-/nonexistent}/postgres" -- su postgres -s /bin/sh -c \
  "exec $PGBIN/postgres -D $DIR/pg/data -k $DIR/pgsock -h 127.0.0.1 -p 5432"

# --- mariadb-server
if [ -x /usr/bin/mariadb-install-db ]; then
  mkdir -p "$DIR/mysql"
  chown mysql "$DIR/mysql"
  /usr/bin/mariadb-install-db --no-defaults --user=mysql --datadir="$DIR/mysql/data" \
    --auth-root-authentication-method=socket --skip-test-db > "$DIR/mariadb-install.out" 2>&1
fi
start mariadb 3306/tcp mariadb-server 0 /usr/sbin/mariadbd -- /usr/sbin/mariadbd --no-defaults --user=mysql \
  --datadir="$DIR/mysql/data" --bind-address=127.0.0.1 --port=3306 --socket="$DIR/mysql/sock" \
  --pid-file="$DIR/mysql/pid" --log-error="$DIR/mariadb.err"

# --- vsftpd with anonymous login (read-only)
mkdir -p "$DIR/ftp" /var/run/vsftpd/empty
chmod 555 "$DIR/ftp"
cat > "$DIR/vsftpd.conf" <<EOF
listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port=21
background=NO
anonymous_enable=YES
no_anon_password=NO
anon_root=$DIR/ftp
local_enable=NO
write_enable=NO
seccomp_sandbox=NO
secure_chroot_dir=/var/run/vsftpd/empty
pam_service_name=vsftpd
xferlog_enable=NO
EOF
start vsftpd 21/tcp vsftpd 1 /usr/sbin/vsftpd -- /usr/sbin/vsftpd "$DIR/vsftpd.conf"

# --- exim4 (SMTP)
mkdir -p "$DIR/exim/spool" "$DIR/exim/log"
chown -R Debian-exim "$DIR/exim" 2>/dev/null
cat > "$DIR/exim.conf" <<EOF
primary_hostname = lab.portolan.test
daemon_smtp_ports = 25
local_interfaces = 127.0.0.1
spool_directory = $DIR/exim/spool
log_file_path = $DIR/exim/log/%slog
pid_file_path = $DIR/exim/exim.pid
exim_user = Debian-exim
exim_group = Debian-exim
never_users = root
rfc1413_query_timeout = 0s
host_lookup =
begin acl
begin routers
begin transports
begin retry
begin rewrite
begin authenticators
EOF
start exim4 25/tcp exim4-daemon-light 0 /usr/sbin/exim4 -- /usr/sbin/exim4 -bdf -C "$DIR/exim.conf"

# --- dovecot (IMAP 143, IMAPS 993, POP3 110, POP3S 995; no plaintext auth without TLS)
mkdir -p "$DIR/dovecot/run" "$DIR/dovecot/state"
cat > "$DIR/dovecot.conf" <<EOF
base_dir = $DIR/dovecot/run
state_dir = $DIR/dovecot/state
protocols = imap pop3
listen = 127.0.0.1
log_path = $DIR/dovecot.log
ssl = yes
ssl_cert = <$DIR/tls.crt
ssl_key = <$DIR/tls.key
disable_plaintext_auth = yes
passdb {
  driver = static
  args = nopassword=n password=portolan-lab-secret
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$DIR/dovecot/home
}
EOF
start dovecot 143/tcp dovecot-imapd 0 /usr/sbin/dovecot -- /usr/sbin/dovecot -F -c "$DIR/dovecot.conf"
[ -x /usr/sbin/dovecot ] && printf 'dovecot-pop3\t110/tcp\tdovecot-pop3d\t0\n' >> "$DIR/expected.tsv"
[ -x /usr/sbin/dovecot ] && printf 'dovecot-imaps\t993/tcp\tdovecot-imapd\t0\n' >> "$DIR/expected.tsv"

# --- dnsmasq (DNS on 53, TCP and UDP)
start dnsmasq 53/tcp dnsmasq-base 0 /usr/sbin/dnsmasq -- /usr/sbin/dnsmasq -k --conf-file=/dev/null \
  --listen-address=127.0.0.1 --bind-interfaces --port=53 --no-resolv --no-hosts \
  --pid-file="$DIR/dnsmasq.pid" --user=dnsmasq
[ -x /usr/sbin/dnsmasq ] && printf 'dnsmasq-udp\t53/udp\tdnsmasq-base\t0\n' >> "$DIR/expected.tsv"

# --- snmpd with community public readable
cat > "$DIR/snmpd.conf" <<EOF
rocommunity public 127.0.0.1
EOF
mkdir -p "$DIR/snmp"
start snmpd 161/udp snmpd 1 /usr/sbin/snmpd -- env SNMP_PERSISTENT_DIR="$DIR/snmp" /usr/sbin/snmpd -f -Lf "$DIR/snmpd.log" \
  -C -c "$DIR/snmpd.conf" -p "$DIR/snmpd.pid" udp:127.0.0.1:161

# --- mosquitto, anonymous clients refused
cat > "$DIR/mosquitto.conf" <<EOF
listener 1883 127.0.0.1
allow_anonymous false
persistence false
log_dest stderr
EOF
chmod 644 "$DIR/mosquitto.conf"
start mosquitto 1883/tcp mosquitto 0 /usr/sbin/mosquitto -- /usr/sbin/mosquitto -c "$DIR/mosquitto.conf"

# --- squid as an open proxy (http_access allow all)
mkdir -p "$DIR/squid"
chown proxy "$DIR/squid" 2>/dev/null
cat > "$DIR/squid.conf" <<EOF
http_port 127.0.0.1:3128
http_access allow all
cache deny all
pid_filename $DIR/squid/squid.pid
access_log none
cache_log $DIR/squid/cache.log
coredump_dir $DIR/squid
cache_effective_user proxy
shutdown_lifetime 1 seconds
EOF
start squid 3128/tcp squid 1 /usr/sbin/squid -- /usr/sbin/squid -N -f "$DIR/squid.conf"

# --- slapd (OpenLDAP), rootDSE only
mkdir -p "$DIR/slapd"
cat > "$DIR/slapd.conf" <<EOF
include /etc/ldap/schema/core.schema
pidfile $DIR/slapd/slapd.pid
argsfile $DIR/slapd/slapd.args
EOF
start slapd 389/tcp slapd 0 /usr/sbin/slapd -- /usr/sbin/slapd -d 0 -h ldap://127.0.0.1:389/ -f "$DIR/slapd.conf"

# --- dante (SOCKS5) without authentication, relaying only to loopback
cat > "$DIR/danted.conf" <<EOF
logoutput: stderr
internal: 127.0.0.1 port = 1080
external: lo
clientmethod: none
socksmethod: none
user.privileged: root
user.unprivileged: nobody
client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }
socks pass { from: 127.0.0.0/8 to: 127.0.0.0/8 }
EOF
start danted 1080/tcp dante-server 1 /usr/sbin/danted -- /usr/sbin/danted -f "$DIR/danted.conf" -p "$DIR/danted.pid"

# Wait until each expected port listens (up to 60 s in all).
listening() {
  local port=${1%/*} proto=${1#*/}
  if [ "$proto" = udp ]; then
    in_ns ss -Hlnu "sport = :$port" 2>/dev/null | grep -q .
  else
    in_ns ss -Hltn "sport = :$port" 2>/dev/null | grep -q .
  fi
}
deadline=$(( $(date +%s) + 60 ))
while :; do
  missing=0
  while IFS=$'\t' read -r name port pkg unauth; do
    listening "$port" || missing=1
  done < "$DIR/expected.tsv"
  [ "$missing" = 0 ] && break
  [ "$(date +%s)" -ge "$deadline" ] && break
  sleep 0.3
done
while IFS=$'\t' read -r name port pkg unauth; do
  if listening "$port"; then
    printf '%s\t%s\t%s\t%s\n' "$name" "$port" "$pkg" "$unauth" >> "$DIR/services.tsv"
  else
    echo "$name: did not listen on $port within 60 s; last output: $(tail -c 300 "$DIR/${name%%-*}.out" 2>/dev/null | tr '\n' ' ')" >> "$DIR/skipped.txt"
  fi
done < "$DIR/expected.tsv"
cat "$DIR/skipped.txt" >&2
exit 0
