#!/usr/bin/env bash
# A Hermes-like container topology for the container test tier (tests/container):
#
#   scripts/topology.sh up DIR     start it; prints (and writes DIR/topology.env) what tests read
#   scripts/topology.sh down DIR   remove the containers, stop the daemon, remove DIR
#
# Everything lives under DIR (keep it short, e.g. `mktemp -d /tmp/hrt.XXXXXX`: containerd's
# socket paths live under it): a private dockerd that leaves the host's network alone
# (DIR/docker.sock), the Hermes root the module is pointed at (DIR/root, whose etc/postfix is
# bind-mounted as the container's /etc/postfix), and the MariaDB client option file.
# Containers, both `--network host`, named as on a Hermes host:
#   hermes_postfix_dkim  Debian bullseye's Postfix (master as PID 1, log on `docker logs`)
#   hermes_db_server     Debian bullseye's MariaDB on a free loopback port, with a `hermes`
#                        database loaded with Hermes's schema (tests/integration/data) and a
#                        `hermes` user whose password is only in DIR/db/client.cnf (0600)
# No image registry is needed: both images are built with debootstrap from the apt mirror this
# machine uses (read from its apt sources at run time) and `docker import`ed. The root file
# systems are kept in target/topology-images/ (HERMES_TOPOLOGY_CACHE overrides), keyed by a
# digest of the recipe, so a later `up` only imports them (cold ~2.5 min, then ~15 s; ~4 s
# when DIR's daemon already has the images). Root only; needs docker.io and
# debootstrap (scripts/install-test-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)

SUITE=bullseye
POSTFIX_PACKAGES=postfix,libsasl2-modules,ca-certificates,cpio
DB_PACKAGES=mariadb-server,mariadb-client
POSTFIX_CONTAINER=hermes_postfix_dkim
DB_CONTAINER=hermes_db_server
CACHE=${HERMES_TOPOLOGY_CACHE:-$REPO/target/topology-images}

# The private Postfix settings the container runs with, besides the relay: written into the
# initial main.cf here and into DIR/instance.cf, which the tests merge into their base template
# so that every re-rendered main.cf keeps them. Postfix 3.5 knows compatibility levels up to 2.
INSTANCE_CF='compatibility_level = 2
myhostname = hermes-topology.test
inet_interfaces = loopback-only
inet_protocols = ipv4
smtp_dns_support_level = disabled
mydestination =
alias_maps =
alias_database =
maillog_file = /dev/stdout
minimal_backoff_time = 300s'

# The images' entry points, part of the recipe digest.
POSTFIX_ENTRYPOINT='#!/bin/sh
# What Debian'"'"'s init script does before starting Postfix, then master as PID 1.
set -e
/usr/lib/postfix/configure-instance.sh -
exec postfix start-fg'
DB_ENTRYPOINT='#!/bin/sh
# A data directory of its own on first start (small InnoDB logs: less to write), then the
# server on HERMES_DB_PORT, loopback only.
set -e
: "${HERMES_DB_PORT:?}"
mkdir -p /run/mysqld
chown mysql: /run/mysqld
if [ ! -d /var/lib/mysql/mysql ]; then
  mariadb-install-db --user=mysql --skip-test-db --innodb-log-file-size=8M \
    >/var/log/mariadb-install.log 2>&1
fi
exec mariadbd --user=mysql --port="$HERMES_DB_PORT" --bind-address=127.0.0.1 \
  --skip-name-resolve --skip-log-bin --innodb-log-file-size=8M'

log() { echo "topology: $*" >&2; }
die() {
  log "$*"
  exit 1
}

usage() {
  echo "usage: $0 up|down DIR" >&2
  exit 64
}

[ $# -eq 2 ] || usage
ACTION=$1
DIR=$2
case $DIR in
  /*) ;;
  *) DIR=$(pwd)/$DIR ;;
esac
DIR=${DIR%/}

[ "$(id -u)" -eq 0 ] || die "run as root (dockerd, debootstrap)"

export DOCKER_HOST=unix://$DIR/docker.sock
ROOT=$DIR/root
PF=$ROOT/etc/postfix

# The Debian mirror apt uses here: the first non-security `deb` source (deb822 or one-line).
# Never printed: it is passed to debootstrap only.
apt_mirror() {
  local uri
  uri=$(
    for f in /etc/apt/sources.list.d/*.sources; do
      [ -f "$f" ] || continue
      awk 'BEGIN { RS = ""; FS = "\n" }
        {
          types = ""; uris = ""; suites = ""
          for (i = 1; i <= NF; i++) {
            if ($i ~ /^[ \t]*#/) continue
            if ($i ~ /^Types:/) types = $i
            if ($i ~ /^URIs:/) uris = $i
            if ($i ~ /^Suites:/) suites = $i
          }
          if (types ~ /[ \t]deb([ \t]|$)/ && suites !~ /security/ && uris != "") {
            sub(/^URIs:[ \t]*/, "", uris); split(uris, u, /[ \t]+/); print u[1]; exit
          }
        }' "$f"
    done | head -n 1
  )
  if [ -z "$uri" ]; then
    uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
      awk '$1 == "deb" && $0 !~ /security/ {
             for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i !~ /\]$/) { print $i; exit }
           }' | head -n 1)
  fi
  [ -n "$uri" ] || die "no Debian mirror in /etc/apt/sources.list*"
  printf '%s\n' "$uri"
}

# A free TCP port on the loopback (nothing answers on it).
free_port() {
  local port
  for _ in $(seq 50); do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
  die "no free loopback port found"
}

# Polls `$@` every 100 ms for up to $1 seconds.
wait_for() {
  local seconds=$1
  shift
  local tries=$((seconds * 10))
  while ! "$@" >/dev/null 2>&1; do
    tries=$((tries - 1))
    [ "$tries" -gt 0 ] || return 1
    sleep 0.1
  done
}

# Unmounts whatever is mounted under $1 (deepest first): a daemon's or a failed debootstrap's.
unmount_under() {
  awk -v dir="$1/" 'index($2, dir) == 1 { print $2 }' /proc/mounts | sort -r |
    while read -r mnt; do umount -l "$mnt" 2>/dev/null || true; done
}

start_dockerd() {
  if [ -f "$DIR/docker.pid" ] && kill -0 "$(cat "$DIR/docker.pid")" 2>/dev/null; then
    return
  fi
  mkdir -p "$DIR/data" "$DIR/exec"
  # The daemon's data in memory: importing the images and removing them at `down` cost no disk
  # I/O (on a busy disk, removing the unpacked layers alone took ~40 s). ~0.5 GB is used.
  mountpoint -q "$DIR/data" || mount -t tmpfs -o size=4g,mode=0711 hermes-topology "$DIR/data"
  # Output to a file: a daemon holding the caller's pipe would hang it.
  dockerd --data-root "$DIR/data" --exec-root "$DIR/exec" -H "$DOCKER_HOST" \
    --pidfile "$DIR/docker.pid" --bridge=none --iptables=false --ip-forward=false \
    --ip-masq=false >"$DIR/dockerd.log" 2>&1 </dev/null &
  wait_for 30 docker version || {
    tail -n 20 "$DIR/dockerd.log" >&2
    die "dockerd did not answer on $DOCKER_HOST (log: $DIR/dockerd.log)"
  }
}

# build_image NAME PACKAGES ENTRYPOINT_SCRIPT: the image hermes-topology/NAME:DIGEST, built
# once per recipe (root file system cached as a tarball), imported once per data root.
# Prints the image reference.
build_image() {
  local name=$1 packages=$2 entrypoint=$3
  local digest image tarball rootfs mirror
  # The recipe: suite, packages, entry point and this very function (how the file system is
  # made and cleaned).
  digest=$(printf '%s\n' "$SUITE" "$packages" "$entrypoint" "$(declare -f build_image)" |
    sha256sum | cut -c1-16)
  image=hermes-topology/$name:$digest
  tarball=$CACHE/$name-$SUITE-$digest.tar
  if docker image inspect "$image" >/dev/null 2>&1; then
    echo "$image"
    return
  fi
  if [ ! -s "$tarball" ]; then
    mirror=$(apt_mirror)
    rootfs=$DIR/build/$name
    unmount_under "$rootfs"
    rm -rf --one-file-system "$rootfs"
    mkdir -p "$rootfs" "$CACHE"
    log "$name: debootstrap $SUITE (+$packages) ..."
    if ! debootstrap --variant=minbase --include="$packages" "$SUITE" "$rootfs" "$mirror" \
      >"$DIR/build/$name.log" 2>&1; then
      # The log names the mirror: show it without the host.
      tail -n 30 "$DIR/build/$name.log" | sed -E 's#(https?://)[^/ ]+#\1<mirror>#g' >&2
      die "$name: debootstrap failed"
    fi
    printf '%s\n' "$entrypoint" >"$rootfs/usr/local/bin/entrypoint"
    chmod 755 "$rootfs/usr/local/bin/entrypoint"
    # Nothing of this machine in the image: no mirror address (sources, lists, debootstrap's
    # log), no package cache. The tests install nothing in the containers.
    echo "# no sources: built by hermes-relayhost's scripts/topology.sh" \
      >"$rootfs/etc/apt/sources.list"
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin \
      "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/bootstrap.log
    # Less to import and remove: no docs, man pages, translations, and no data directory the
    # package made (the entry point makes its own).
    rm -rf "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/* \
      "$rootfs"/var/lib/mysql/*
    tar --numeric-owner -C "$rootfs" -cf "$tarball.tmp" .
    # Only the current recipe's file system is kept.
    find "$CACHE" -maxdepth 1 -name "$name-*.tar" -delete
    mv "$tarball.tmp" "$tarball"
    unmount_under "$rootfs"
    rm -rf --one-file-system "$rootfs"
  fi
  docker import -c 'ENTRYPOINT ["/usr/local/bin/entrypoint"]' "$tarball" "$image" >/dev/null
  echo "$image"
}

gone() { ! kill -0 "$1" 2>/dev/null; }

# Runs `docker exec hermes_db_server mariadb` as the server's root (unix socket auth).
db_sql() {
  docker exec -i "$DB_CONTAINER" mariadb "$@"
}

up() {
  local start=$SECONDS
  mkdir -p "$DIR"
  chmod 755 "$DIR"
  start_dockerd
  log "dockerd up ($((SECONDS - start)) s)"

  # Both images at once: the downloads overlap the other's unpacking.
  local postfix_image db_image pid_pf pid_db
  mkdir -p "$DIR/build"
  build_image postfix "$POSTFIX_PACKAGES" "$POSTFIX_ENTRYPOINT" >"$DIR/build/postfix.image" &
  pid_pf=$!
  build_image db "$DB_PACKAGES" "$DB_ENTRYPOINT" >"$DIR/build/db.image" &
  pid_db=$!
  local failed=
  wait "$pid_pf" || failed="$failed postfix"
  wait "$pid_db" || failed="$failed db"
  [ -z "$failed" ] || die "image build failed:$failed (logs: $DIR/build/*.log)"
  postfix_image=$(cat "$DIR/build/postfix.image")
  db_image=$(cat "$DIR/build/db.image")
  log "images ready ($((SECONDS - start)) s)"

  docker rm -f "$POSTFIX_CONTAINER" "$DB_CONTAINER" >/dev/null 2>&1 || true

  # The database server first: it starts while the Postfix dir is seeded.
  local port
  port=$(free_port)
  docker run -d --name "$DB_CONTAINER" --network host -e HERMES_DB_PORT="$port" \
    "$db_image" >/dev/null

  # The host's Postfix dir, seeded from the image (Debian keeps postfix-script, postfix-files,
  # dynamicmaps.cf, ... there), then the initial main.cf and no inbound listener (the host's
  # port 25 stays free; the container shares the host's network).
  rm -rf "$PF"
  mkdir -p "$PF"
  docker run --rm --network none -v "$PF:/seed" --entrypoint /bin/sh "$postfix_image" -c \
    'cp -a /etc/postfix/. /seed/ && rm -f /seed/main.cf && postconf -c /seed -M# smtp/inet'
  chmod 755 "$ROOT" "$ROOT/etc" "$PF"
  printf '%s\n' "$INSTANCE_CF" >"$DIR/instance.cf"
  printf '%s\n' "$INSTANCE_CF" >"$PF/main.cf"
  # A copy of the dir as seeded: tests reset to it between scenarios.
  rm -rf "$DIR/postfix.seed"
  cp -a "$PF" "$DIR/postfix.seed"

  docker run -d --name "$POSTFIX_CONTAINER" --network host -v "$PF:/etc/postfix" \
    "$postfix_image" >/dev/null

  # The Hermes database, its user and the option file that holds the password.
  wait_for 60 docker exec "$DB_CONTAINER" mariadb-admin ping || {
    docker logs "$DB_CONTAINER" 2>&1 | tail -n 20 >&2
    die "MariaDB did not start"
  }
  local password
  password=$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
  db_sql <<SQL
CREATE DATABASE IF NOT EXISTS hermes CHARACTER SET latin1;
CREATE USER IF NOT EXISTS 'hermes'@'127.0.0.1' IDENTIFIED BY '$password';
ALTER USER 'hermes'@'127.0.0.1' IDENTIFIED BY '$password';
GRANT ALL PRIVILEGES ON \`hermes%\`.* TO 'hermes'@'127.0.0.1';
SQL
  db_sql hermes <"$REPO/tests/integration/data/hermes-schema.mysql.sql"
  mkdir -p "$DIR/db"
  (
    umask 077
    printf '[client]\nuser=hermes\npassword=%s\nhost=127.0.0.1\nport=%s\n' "$password" "$port" \
      >"$DIR/db/client.cnf"
  )
  chmod 600 "$DIR/db/client.cnf"

  # Postfix is up when its master answers `postfix status`.
  wait_for 30 docker exec "$POSTFIX_CONTAINER" postfix status || {
    docker logs "$POSTFIX_CONTAINER" 2>&1 | tail -n 20 >&2
    die "Postfix did not start in $POSTFIX_CONTAINER"
  }

  cat >"$DIR/topology.env" <<ENV
DOCKER_HOST=$DOCKER_HOST
HERMES_ROOT=$ROOT
HERMES_POSTFIX_DIR=$PF
HERMES_POSTFIX_SEED=$DIR/postfix.seed
HERMES_INSTANCE_CF=$DIR/instance.cf
HERMES_DB_HOST=127.0.0.1
HERMES_DB_PORT=$port
HERMES_DB_NAME=hermes
HERMES_DB_USER=hermes
HERMES_DB_OPTIONS_FILE=$DIR/db/client.cnf
HERMES_POSTFIX_CONTAINER=$POSTFIX_CONTAINER
HERMES_DB_CONTAINER=$DB_CONTAINER
ENV
  log "up in $((SECONDS - start)) s; env file: $DIR/topology.env"
  cat "$DIR/topology.env"
}

down() {
  [ -d "$DIR" ] || return 0
  local start=$SECONDS
  if [ -S "$DIR/docker.sock" ]; then
    docker rm -f "$POSTFIX_CONTAINER" "$DB_CONTAINER" >/dev/null 2>&1 || true
  fi
  if [ -f "$DIR/docker.pid" ]; then
    local pid
    pid=$(cat "$DIR/docker.pid")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid"
      wait_for 30 gone "$pid" || {
        log "dockerd $pid did not stop; killing it"
        kill -9 "$pid" 2>/dev/null || true
      }
    fi
  fi
  # Whatever is still mounted under DIR (the daemon's tmpfs, its network namespace), then DIR.
  unmount_under "$DIR"
  rm -rf --one-file-system "$DIR"
  log "down in $((SECONDS - start)) s: $DIR removed"
}

case $ACTION in
  up) up ;;
  down) down ;;
  *) usage ;;
esac
