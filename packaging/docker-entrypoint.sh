#!/bin/bash
# Container entrypoint with the official `zookeeper` image's conventions (3.8.x): on first start,
# when $ZOO_CONF_DIR/zoo.cfg is missing, it is written from the ZOO_* variables, and
# $ZOO_DATA_DIR/myid from ZOO_MY_ID when missing; then the command runs. An existing zoo.cfg or
# myid is never touched, so a mounted config wins. Line for line, the files equal the official
# entrypoint's (tests/packaging.rs checks them against its output).
#
# ZOO_ENTRYPOINT_ROOT (not an official variable; empty in the image) is put before every path
# the script touches, so tests can run it against a temporary directory. The paths written
# into zoo.cfg are not prefixed: they are the paths the server will see.
set -e
# ZOO_SERVERS and ZOO_CFG_EXTRA are split on whitespace; a value like `4lw.commands.whitelist=*`
# must not be expanded as a file name pattern
set -f

# The image's ENV sets these; the same defaults apply when the script runs elsewhere. A variable
# set to the empty string stays empty, as with the official image.
: "${ZOO_CONF_DIR=/conf}" "${ZOO_DATA_DIR=/data}" "${ZOO_DATA_LOG_DIR=/datalog}" "${ZOO_LOG_DIR=/logs}"
: "${ZOO_TICK_TIME=2000}" "${ZOO_INIT_LIMIT=5}" "${ZOO_SYNC_LIMIT=2}"
: "${ZOO_AUTOPURGE_PURGEINTERVAL=0}" "${ZOO_AUTOPURGE_SNAPRETAINCOUNT=3}"
: "${ZOO_MAX_CLIENT_CNXNS=60}" "${ZOO_STANDALONE_ENABLED=true}" "${ZOO_ADMINSERVER_ENABLED=true}"
export ZOO_CONF_DIR ZOO_DATA_DIR ZOO_DATA_LOG_DIR ZOO_LOG_DIR
root="${ZOO_ENTRYPOINT_ROOT:-}"

# Started as root (the default): hand the directories to the zookeeper user, then run again as
# that user, so `docker run --user` also works (then this step is skipped).
if [[ ("$1" == zkServer.sh || "$1" == ferrokeeper) && "$(id -u)" == 0 ]]; then
    mkdir -p "$root$ZOO_DATA_DIR" "$root$ZOO_DATA_LOG_DIR" "$root$ZOO_LOG_DIR"
    chown -R zookeeper "$root$ZOO_DATA_DIR" "$root$ZOO_DATA_LOG_DIR" "$root$ZOO_LOG_DIR"
    exec setpriv --reuid=zookeeper --regid=zookeeper --init-groups "$0" "$@"
fi

zoo_cfg="$root$ZOO_CONF_DIR/zoo.cfg"
if [[ ! -f "$zoo_cfg" ]]; then
    mkdir -p "$root$ZOO_CONF_DIR"
    # servers default to one participant, which 3.8 runs standalone (standaloneEnabled=true)
    servers="${ZOO_SERVERS:-server.1=localhost:2888:3888;2181}"
    {
        printf '%s\n' \
            "dataDir=$ZOO_DATA_DIR" \
            "dataLogDir=$ZOO_DATA_LOG_DIR" \
            "tickTime=$ZOO_TICK_TIME" \
            "initLimit=$ZOO_INIT_LIMIT" \
            "syncLimit=$ZOO_SYNC_LIMIT" \
            "autopurge.snapRetainCount=$ZOO_AUTOPURGE_SNAPRETAINCOUNT" \
            "autopurge.purgeInterval=$ZOO_AUTOPURGE_PURGEINTERVAL" \
            "maxClientCnxns=$ZOO_MAX_CLIENT_CNXNS" \
            "standaloneEnabled=$ZOO_STANDALONE_ENABLED" \
            "admin.enableServer=$ZOO_ADMINSERVER_ENABLED"
        # one line per whitespace-separated word
        for line in $servers; do
            printf '%s\n' "$line"
        done
        if [[ -n "${ZOO_4LW_COMMANDS_WHITELIST:-}" ]]; then
            printf '4lw.commands.whitelist=%s\n' "$ZOO_4LW_COMMANDS_WHITELIST"
        fi
        for line in ${ZOO_CFG_EXTRA:-}; do
            printf '%s\n' "$line"
        done
    } >>"$zoo_cfg"
fi

myid="$root$ZOO_DATA_DIR/myid"
if [[ ! -f "$myid" ]]; then
    mkdir -p "$root$ZOO_DATA_DIR"
    printf '%s\n' "${ZOO_MY_ID:-1}" >"$myid"
fi

set +f
exec "$@"
