#!/usr/bin/env bash
# Service lab 2 (issue 19): real Debian daemons that the first service lab
# (fingerprint-services.sh) does not have, most on non-standard ports, TCP and UDP, each
# started directly (no systemd) with a minimal config written here, in a network namespace
# that has only loopback. Nothing listens outside the namespace; nothing in it has a route out.
#
#   service-lab2.sh up   NS DIR   create NS, start the daemons, write DIR/up.tsv
#   service-lab2.sh down NS DIR   stop every process in NS (by PID), delete NS and DIR
#
# tests/lab/service-lab2.tsv (committed) says, per port, what is expected there.
# DIR/up.tsv:       the rows of service-lab2.tsv whose port listens.
# DIR/skipped.txt:  rows whose daemon is not installed ("not installed") or did not come up.
# Packages: .ci/apt/service-lab2.txt. Needs root. Used by crates/portolan-cli/tests/service_lab2.rs
# and bench/service.sh.
set -uo pipefail

cmd=${1:?usage: $0 up|down NS DIR}
NS=${2:?namespace name}
DIR=${3:?work directory}
TABLE="$(cd "$(dirname "$0")" && pwd)/service-lab2.tsv"

in_ns() { ip netns exec "$NS" "$@"; }

if [ "$cmd" = down ]; then
  if ip netns list 2>/dev/null | grep -qw "$NS"; then
    for sig in TERM KILL; do
      pids=$(ip netns pids "$NS" 2>/dev/null)
      # shellcheck disable=SC2086
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
: > "$DIR/up.tsv"
: > "$DIR/skipped.txt"
: > "$DIR/started.txt"
ip netns add "$NS"
ip -n "$NS" link set lo up
set +e

# start ID BINARY -- command...   (ID: the daemon's rows in the table start with it)
start() {
  local id=$1 bin=$2; shift 3
  if [ ! -x "$bin" ]; then
    echo "$id: $bin not installed" >> "$DIR/skipped.txt"
    return
  fi
  in_ns setsid "$@" > "$DIR/$id.out" 2>&1 < /dev/null &
  echo "$id" >> "$DIR/started.txt"
}
# in_private_run: run a daemon with a private /run (and /var/spool/lpd, /tmp as given) so that
# its fixed-path files never meet another copy's: `ip netns exec` gives each command a mount
# namespace of its own whose mounts do not propagate out.
private_mounts() { # TAG DIRS... --   (prints a sh -c script that mounts, then execs "$@")
  local tag=$1 script=""; shift
  while [ "$1" != -- ]; do
    mkdir -p "$DIR/priv-$tag$1"
    script+="mount --bind '$DIR/priv-$tag$1' '$1' || exit 1; "
    shift
  done
  shift
  printf '%s exec "$@"' "$script"
}

mkdir -p "$DIR/www"
printf '<html><head><title>portolan lab 2</title></head><body>lab</body></html>\n' > "$DIR/www/index.html"
chmod -R a+rX "$DIR/www"

# --- apache2 on 8088 (Debian's ServerTokens default: product, version and OS)
mkdir -p "$DIR/apache2"
M=/usr/lib/apache2/modules
cat > "$DIR/apache2.conf" <<EOF
ServerRoot $DIR/apache2
DefaultRuntimeDir $DIR/apache2
LoadModule mpm_event_module $M/mod_mpm_event.so
LoadModule authz_core_module $M/mod_authz_core.so
LoadModule dir_module $M/mod_dir.so
LoadModule mime_module $M/mod_mime.so
ServerName lab.portolan.test
Listen 127.0.0.1:8088
PidFile $DIR/apache2/apache2.pid
ErrorLog $DIR/apache2/error.log
User www-data
Group www-data
DocumentRoot $DIR/www
DirectoryIndex index.html
TypesConfig /etc/mime.types
EOF
start apache2 /usr/sbin/apache2 -- /usr/sbin/apache2 -DFOREGROUND -f "$DIR/apache2.conf"

# --- bind9 on 5301 (UDP and TCP), authoritative for nothing, recursion off
mkdir -p "$DIR/bind"; chown bind "$DIR/bind" 2>/dev/null
cat > "$DIR/named.conf" <<EOF
options {
  directory "$DIR/bind";
  pid-file "$DIR/bind/named.pid";
  session-keyfile "$DIR/bind/session.key";
  listen-on port 5301 { 127.0.0.1; };
  listen-on-v6 { none; };
  recursion no;
  allow-query { any; };
};
controls { };
EOF
start bind9 /usr/sbin/named -- /usr/sbin/named -g -u bind -c "$DIR/named.conf"

# --- unbound on 5302 (a resolver; with no route out it answers only what it knows)
cat > "$DIR/unbound.conf" <<EOF
server:
  interface: 127.0.0.1@5302
  port: 5302
  do-daemonize: no
  do-ip6: no
  username: ""
  chroot: ""
  directory: "$DIR"
  pidfile: "$DIR/unbound.pid"
  use-syslog: no
  access-control: 127.0.0.0/8 allow
remote-control:
  control-enable: no
EOF
start unbound-udp /usr/sbin/unbound -- /usr/sbin/unbound -d -c "$DIR/unbound.conf"

# --- nsd on 5303, no zones
mkdir -p "$DIR/nsd"
cat > "$DIR/nsd.conf" <<EOF
server:
  ip-address: 127.0.0.1@5303
  port: 5303
  do-ip6: no
  username: ""
  chroot: ""
  zonesdir: "$DIR/nsd"
  database: ""
  pidfile: "$DIR/nsd/nsd.pid"
  xfrdfile: "$DIR/nsd/xfrd.state"
  xfrdir: "$DIR/nsd"
  zonelistfile: "$DIR/nsd/zone.list"
  logfile: "$DIR/nsd/nsd.log"
remote-control:
  control-enable: no
EOF
start nsd-udp /usr/sbin/nsd -- /usr/sbin/nsd -d -c "$DIR/nsd.conf"

# --- chrony: NTP server on 10123 that never touches the clock (-x)
cat > "$DIR/chrony.conf" <<EOF
port 10123
bindaddress 127.0.0.1
allow 127.0.0.0/8
local stratum 10
cmdport 0
pidfile $DIR/chronyd.pid
EOF
start chrony-udp /usr/sbin/chronyd -- /usr/sbin/chronyd -d -x -f "$DIR/chrony.conf"

# --- samba twice: 4450 with a guest share (null session lists shares), 4451 refusing anonymous
mkdir -p "$DIR/share"; echo lab > "$DIR/share/readme.txt"; chmod -R a+rX "$DIR/share"
for v in open auth; do
  port=4450; guest=yes; restrict=0; map="Bad User"
  [ "$v" = auth ] && { port=4451; guest=no; restrict=2; map=Never; }
  S=$DIR/smb-$v; mkdir -p "$S/private" "$S/ncalrpc"
  cat > "$DIR/smb-$v.conf" <<EOF
[global]
  smb ports = $port
  interfaces = 127.0.0.1
  bind interfaces only = yes
  server role = standalone server
  workgroup = LAB
  netbios name = LAB$v
  disable netbios = yes
  map to guest = $map
  restrict anonymous = $restrict
  pid directory = $S
  lock directory = $S
  state directory = $S
  cache directory = $S
  private dir = $S/private
  ncalrpc dir = $S/ncalrpc
  log file = $S/log
  load printers = no
  printcap name = /dev/null
  disable spoolss = yes
[public]
  path = $DIR/share
  read only = yes
  guest ok = $guest
EOF
  start "samba-$v" /usr/sbin/smbd -- /usr/sbin/smbd --foreground --no-process-group \
    --configfile="$DIR/smb-$v.conf" --debug-stdout
done

# --- rpcbind on 111 (TCP and UDP), with a private /run for its socket and state
start rpcbind /usr/sbin/rpcbind -- sh -c "$(private_mounts rpcbind /run -- )" rpcbind /usr/sbin/rpcbind -f

# --- rsync --daemon twice: 8730 with a public module, 8731 with a module behind a password
mkdir -p "$DIR/rsync"
printf 'lab:portolan-lab-secret\n' > "$DIR/rsync/secrets"; chmod 600 "$DIR/rsync/secrets"
cat > "$DIR/rsync/open.conf" <<EOF
pid file = $DIR/rsync/open.pid
use chroot = no
[pub]
  path = $DIR/www
  read only = yes
  comment = lab public files
EOF
cat > "$DIR/rsync/auth.conf" <<EOF
pid file = $DIR/rsync/auth.pid
use chroot = no
[private]
  path = $DIR/www
  read only = yes
  comment = lab private files
  auth users = lab
  secrets file = $DIR/rsync/secrets
EOF
start rsync-open /usr/bin/rsync -- /usr/bin/rsync --daemon --no-detach --address=127.0.0.1 --port=8730 \
  --config="$DIR/rsync/open.conf"
start rsync-auth /usr/bin/rsync -- /usr/bin/rsync --daemon --no-detach --address=127.0.0.1 --port=8731 \
  --config="$DIR/rsync/auth.conf"

# --- tftpd-hpa on 6969/udp (TFTP has no authentication)
mkdir -p "$DIR/tftp"; echo lab > "$DIR/tftp/readme.txt"; chmod -R a+rX "$DIR/tftp"
start tftpd-udp /usr/sbin/in.tftpd -- /usr/sbin/in.tftpd -4 -L -l -u tftp -a :6969 -s "$DIR/tftp"

# --- inetutils-telnetd on 2323, under openbsd-inetd (login required)
cat > "$DIR/inetd.conf" <<EOF
127.0.0.1:2323 stream tcp nowait root /usr/sbin/telnetd telnetd
EOF
start telnetd /usr/sbin/inetd -- /usr/sbin/inetd -i "$DIR/inetd.conf"

# --- ngircd on 6668
cat > "$DIR/ngircd.conf" <<EOF
[Global]
  Name = irc.lab.portolan.test
  Info = portolan lab
  Listen = 127.0.0.1
  Ports = 6668
  PidFile = $DIR/ngircd.pid
  MotdPhrase = portolan lab
  ServerUID = irc
  ServerGID = irc
[Options]
  PAM = no
  Ident = no
  DNS = no
EOF
start ngircd /usr/sbin/ngircd -- /usr/sbin/ngircd -n -f "$DIR/ngircd.conf"

# --- prosody (XMPP client port 5262; no TLS certificate, so no STARTTLS)
mkdir -p "$DIR/prosody"; chown prosody "$DIR/prosody" 2>/dev/null
cat > "$DIR/prosody.cfg.lua" <<EOF
pidfile = "$DIR/prosody/prosody.pid"
data_path = "$DIR/prosody"
c2s_ports = { 5262 }
c2s_interfaces = { "127.0.0.1" }
s2s_ports = { }
component_ports = { }
http_ports = { }
https_ports = { }
c2s_require_encryption = false
log = { info = "$DIR/prosody/prosody.log" }
modules_enabled = { "roster"; "saslauth"; "disco"; "ping" }
modules_disabled = { "s2s"; "http"; "admin_telnet"; "posix" }
VirtualHost "lab.portolan.test"
EOF
chmod 644 "$DIR/prosody.cfg.lua"
start prosody /usr/bin/prosody -- runuser -u prosody -- /usr/bin/prosody -F --config "$DIR/prosody.cfg.lua"

# --- nats-server twice: 4223 open, 4224 with a user and password
start nats-open /usr/sbin/nats-server -- runuser -u nobody -- /usr/sbin/nats-server -a 127.0.0.1 -p 4223
start nats-auth /usr/sbin/nats-server -- runuser -u nobody -- /usr/sbin/nats-server -a 127.0.0.1 -p 4224 \
  --user lab --pass portolan-lab-secret

# --- beanstalkd on 11301 (a work queue: no authentication exists)
start beanstalkd /usr/bin/beanstalkd -- /usr/bin/beanstalkd -l 127.0.0.1 -p 11301 -u nobody

# --- gearman-job-server on 4732 (no authentication exists)
mkdir -p "$DIR/gearmand"; chown nobody "$DIR/gearmand"
start gearmand /usr/sbin/gearmand -- /usr/sbin/gearmand -L 127.0.0.1 -p 4732 -u nobody \
  --log-file=stderr --pid-file="$DIR/gearmand/gearmand.pid" -t 1 --http-port=0

# --- coturn on 3479 (STUN answered to anyone; TURN allocations need a long-term credential)
start coturn-udp /usr/bin/turnserver -- /usr/bin/turnserver -n --listening-ip=127.0.0.1 --listening-port=3479 \
  --relay-ip=127.0.0.1 --no-tls --no-dtls --no-cli --lt-cred-mech --user=lab:portolan-lab-secret \
  --realm=lab.portolan.test --pidfile="$DIR/turnserver.pid" --log-file=stdout --simple-log --proc-user=nobody \
  --proc-group=nogroup

# --- lpd (BSD lpr) on 5515, private /run and spool
start lpd /usr/sbin/lpd -- sh -c "$(private_mounts lpd /run /var/spool/lpd -- )" lpd /usr/sbin/lpd -b 127.0.0.1 5515

# --- git daemon on 9419, exporting one public repository (anonymous clone)
mkdir -p "$DIR/git"
git init -q --bare "$DIR/git/lab.git" && git --git-dir="$DIR/git/lab.git" config daemon.uploadpack true
chmod -R a+rX "$DIR/git"
start git-daemon /usr/bin/git -- runuser -u nobody -- /usr/bin/git daemon --reuseaddr --listen=127.0.0.1 \
  --port=9419 --base-path="$DIR/git" --export-all "$DIR/git"

# --- svnserve on 3700, anonymous access refused
mkdir -p "$DIR/svn"
if [ -x /usr/bin/svnadmin ]; then
  svnadmin create "$DIR/svn/lab"
  printf '[general]\nanon-access = none\nauth-access = write\npassword-db = passwd\n' > "$DIR/svn/lab/conf/svnserve.conf"
  printf '[users]\nlab = portolan-lab-secret\n' > "$DIR/svn/lab/conf/passwd"
fi
start svnserve /usr/bin/svnserve -- /usr/bin/svnserve -d --foreground --listen-host 127.0.0.1 \
  --listen-port 3700 -r "$DIR/svn"

# --- varnish on 6082 in front of apache2
mkdir -p "$DIR/varnish"
start varnish /usr/sbin/varnishd -- /usr/sbin/varnishd -F -a 127.0.0.1:6082 -b 127.0.0.1:8088 \
  -n "$DIR/varnish" -s malloc,16m -T none

# --- haproxy on 8089 with no server behind it (its own 503 page)
cat > "$DIR/haproxy.cfg" <<EOF
global
  pidfile $DIR/haproxy.pid
defaults
  mode http
  timeout connect 1s
  timeout client 5s
  timeout server 5s
frontend lab
  bind 127.0.0.1:8089
  default_backend none
backend none
EOF
start haproxy /usr/sbin/haproxy -- /usr/sbin/haproxy -db -f "$DIR/haproxy.cfg"

# --- tinyproxy twice: 8888 open, 8889 with basic authentication
for v in open auth; do
  port=8888; [ "$v" = auth ] && port=8889
  cat > "$DIR/tinyproxy-$v.conf" <<EOF
User nobody
Group nogroup
Port $port
Listen 127.0.0.1
Timeout 10
Allow 127.0.0.0/8
MaxClients 20
PidFile "$DIR/tinyproxy-$v.pid"
EOF
  [ "$v" = auth ] && echo "BasicAuth lab portolan-lab-secret" >> "$DIR/tinyproxy-$v.conf"
  start "tinyproxy-$v" /usr/bin/tinyproxy -- /usr/bin/tinyproxy -d -c "$DIR/tinyproxy-$v.conf"
done

# --- privoxy on 8118 (an open proxy: forwards for anyone)
mkdir -p "$DIR/privoxy"; chown privoxy "$DIR/privoxy" 2>/dev/null
cat > "$DIR/privoxy.conf" <<EOF
confdir /etc/privoxy
logdir $DIR/privoxy
listen-address 127.0.0.1:8118
toggle 0
enable-remote-toggle 0
enable-edit-actions 0
EOF
chmod 644 "$DIR/privoxy.conf"
start privoxy /usr/sbin/privoxy -- /usr/sbin/privoxy --no-daemon --user privoxy "$DIR/privoxy.conf"

# --- dropbear on 2223
if [ -x /usr/bin/dropbearkey ]; then
  dropbearkey -t ed25519 -f "$DIR/dropbear_ed25519" >/dev/null 2>&1
fi
start dropbear /usr/sbin/dropbear -- /usr/sbin/dropbear -F -E -s -p 127.0.0.1:2223 -r "$DIR/dropbear_ed25519" \
  -P "$DIR/dropbear.pid"

# --- icecast2 on 8010
mkdir -p "$DIR/icecast"; chown icecast2 "$DIR/icecast" 2>/dev/null
cat > "$DIR/icecast.xml" <<EOF
<icecast>
  <limits><clients>10</clients><sources>1</sources></limits>
  <authentication><source-password>portolan-lab-secret</source-password>
    <admin-user>admin</admin-user><admin-password>portolan-lab-secret</admin-password></authentication>
  <hostname>lab.portolan.test</hostname>
  <listen-socket><port>8010</port><bind-address>127.0.0.1</bind-address></listen-socket>
  <fileserve>1</fileserve>
  <paths><basedir>/usr/share/icecast2</basedir><logdir>$DIR/icecast</logdir>
    <webroot>/usr/share/icecast2/web</webroot><adminroot>/usr/share/icecast2/admin</adminroot>
    <pidfile>$DIR/icecast/icecast.pid</pidfile></paths>
  <logging><accesslog>access.log</accesslog><errorlog>error.log</errorlog><loglevel>2</loglevel></logging>
  <security><chroot>0</chroot><changeowner><user>icecast2</user><group>icecast</group></changeowner></security>
</icecast>
EOF
chmod 644 "$DIR/icecast.xml"
start icecast2 /usr/bin/icecast2 -- /usr/bin/icecast2 -c "$DIR/icecast.xml"

# --- TigerVNC twice (each with a private /tmp for its X lock and socket):
#   :11 VNC on 5911 with security type None, X11 on 6011 with access control off (-ac);
#   :12 VNC on 5912 with a VNC password, X11 on 6012 with an MIT-MAGIC-COOKIE-1 (-auth: without
#       it, an X server lets in every address of its own host, loopback included).
# The VNC password file is DES of the password under VNC's fixed key (what vncpasswd writes).
# The Xauthority file: FamilyWild, any address, display 12, a random cookie.
# BlacklistThreshold: service probes (HTTP, SMB, ... sent to find out what the port is) count as
# failed VNC logins, and TigerVNC would refuse the host for a while after 5 of them.
printf 'portolan' | openssl enc -des-ecb -nopad -nosalt -K e84ad660c4721ae0 -provider legacy -provider default \
  > "$DIR/vncpasswd" 2>/dev/null
for v in open auth; do
  d=11; args=(-SecurityTypes None -ac)
  [ "$v" = auth ] && { d=12; args=(-SecurityTypes VncAuth -PasswordFile /tmp/vncpasswd -auth /tmp/xauth); }
  mkdir -p "$DIR/priv-vnc-$v/tmp" && cp "$DIR/vncpasswd" "$DIR/priv-vnc-$v/tmp/"
  { printf '\377\377\000\000\000\00212\000\022MIT-MAGIC-COOKIE-1\000\020'; head -c 16 /dev/urandom; } \
    > "$DIR/priv-vnc-$v/tmp/xauth"
  start "vnc-$v" /usr/bin/Xtigervnc -- sh -c "$(private_mounts "vnc-$v" /tmp -- )" vnc /usr/bin/Xtigervnc ":$d" \
    -rfbport "59$d" -interface 127.0.0.1 -listen tcp -geometry 640x480 -depth 16 -BlacklistThreshold 1000 \
    "${args[@]}"
done

# --- webfs on 8020
start webfs /usr/bin/webfsd -- /usr/bin/webfsd -F -p 8020 -i 127.0.0.1 -r "$DIR/www" -u nobody -g nogroup

# --- mini_httpd on 8030
start mini-httpd /usr/sbin/mini_httpd -- /usr/sbin/mini_httpd -D -h 127.0.0.1 -p 8030 -d "$DIR/www" -u nobody \
  -l "$DIR/mini_httpd.log"

# --- kamailio (SIP) on 5070/udp answering every request 200 OK
mkdir -p "$DIR/kamailio"
cat > "$DIR/kamailio.cfg" <<EOF
#!KAMAILIO
listen=udp:127.0.0.1:5070
children=1
loadmodule "sl.so"
request_route { sl_send_reply("200", "OK"); exit; }
EOF
start kamailio-udp /usr/sbin/kamailio -- /usr/sbin/kamailio -DD -E -f "$DIR/kamailio.cfg" \
  -P "$DIR/kamailio/kamailio.pid" -Y "$DIR/kamailio" -w "$DIR/kamailio"

# Wait until every started daemon's ports listen (up to 60 s in all).
listening() {
  local port=${1%/*} proto=${1#*/}
  if [ "$proto" = udp ]; then
    in_ns ss -Hlnu "sport = :$port" 2>/dev/null | grep -q .
  else
    in_ns ss -Hltn "sport = :$port" 2>/dev/null | grep -q .
  fi
}
# the daemon (start id) that serves a row of the table
owner() {
  case "$1" in
    x11-*) echo "vnc-${1#x11-}" ;;
    bind9-udp) echo bind9 ;;
    rpcbind-udp) echo rpcbind ;;
    coturn) echo coturn-udp ;;
    *) echo "$1" ;;
  esac
}
# rows of the table whose daemon was started
rows() {
  grep -v '^#' "$TABLE" | while IFS=$'\t' read -r id port rest; do
    grep -qx "$(owner "$id")" "$DIR/started.txt" && printf '%s\t%s\t%s\n' "$id" "$port" "$rest"
  done
}
rows > "$DIR/expected.tsv"
# rows of daemons not started at all
grep -v '^#' "$TABLE" | cut -f1 | while read -r id; do
  grep -q "^$id	" "$DIR/expected.tsv" || grep -q "^$(owner "$id"):" "$DIR/skipped.txt" ||
    echo "$id: no daemon started for this row" >> "$DIR/skipped.txt"
done
deadline=$(( $(date +%s) + 60 ))
while :; do
  missing=0
  while IFS=$'\t' read -r id port rest; do
    listening "$port" || missing=1
  done < "$DIR/expected.tsv"
  [ "$missing" = 0 ] && break
  [ "$(date +%s)" -ge "$deadline" ] && break
  sleep 0.3
done
while IFS=$'\t' read -r id port rest; do
  if listening "$port"; then
    printf '%s\t%s\t%s\n' "$id" "$port" "$rest" >> "$DIR/up.tsv"
  else
    echo "$id: did not listen on $port within 60 s; last output: $(tail -c 300 "$DIR/$(owner "$id").out" 2>/dev/null | tr '\n' ' ')" >> "$DIR/skipped.txt"
  fi
done < "$DIR/expected.tsv"
cat "$DIR/skipped.txt" >&2
exit 0
