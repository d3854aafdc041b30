#!/usr/bin/env bash
# zkServer.sh for ferrokeeper: the commands, variables, messages and exit statuses of
# Apache ZooKeeper 3.8's server control script, running the ferrokeeper binary instead of a
# JVM, so a systemd unit, an init script or a runbook written for 3.8 works by changing the
# script's path.
#
#   zkServer.sh [--config <conf-dir>] {start|start-foreground|stop|version|restart|status|print-cmd} [<config>]
#
# <config> is a file name inside the config directory, or any other path to a zoo.cfg.
#
# Environment (3.8's meaning unless said otherwise):
#   FERROKEEPER       the ferrokeeper binary (ferrokeeper's own). Default: `ferrokeeper` beside
#                     this script, else ../target/release/ferrokeeper of a source checkout,
#                     else the one on PATH.
#   ZOOCFGDIR         config directory; default ../conf beside this script when it exists,
#                     else ../etc/zookeeper. `--config <dir>` sets it too.
#   ZOOCFG            config file name in ZOOCFGDIR (default zoo.cfg).
#   ZOO_LOG_DIR       log directory (default ../logs beside this script).
#   ZOO_LOG_FILE      the log file's name (default zookeeper-$USER-server-$HOSTNAME.log); the
#                     server's stdout/stderr go to the .out file beside it with `start`.
#   ZOO_LOG4J_PROP    "LEVEL,APPENDER..." with the appenders CONSOLE (stderr) and ROLLINGFILE
#                     ($ZOO_LOG_DIR/$ZOO_LOG_FILE, rolled at 10MB, 10 kept; change with
#                     -Dzookeeper.log.maxfilesize= / -Dzookeeper.log.maxbackupindex= in
#                     SERVER_JVMFLAGS). Default: INFO,ROLLINGFILE for `start`, INFO,CONSOLE for
#                     `start-foreground` (a supervisor such as journald keeps its output).
#   ZOOPIDFILE        pid file (default <dataDir>/zookeeper_server.pid).
#   SERVER_JVMFLAGS, JVMFLAGS
#                     their -D options are system properties to ferrokeeper (the JAAS file,
#                     zookeeper.* settings); other JVM options mean nothing and are ignored.
#   CLIENT_JVMFLAGS   -Dzookeeper.ssl.* client settings: `status` over secureClientPort.
#   JMXDISABLE        only changes the JMX line printed: ferrokeeper has no JMX (JMXPORT and
#                     the other JMX* variables are ignored).
#   ZOO_DATADIR_AUTOCREATE_DISABLE, ZOO_NOEXEC   as in 3.8.
# $ZOOCFGDIR/zookeeper-env.sh and $ZOOCFGDIR/java.env are sourced when present, as 3.8 does.

ZOOBINDIR="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")" && pwd)"
ZOOKEEPER_PREFIX="$ZOOBINDIR/.."

# --- what 3.8's zkEnv.sh sets up ------------------------------------------------------
if [ $# -gt 1 ] && [ "$1" = "--config" ]; then
    ZOOCFGDIR=$2
    shift 2
fi
if [ -z "$ZOOCFGDIR" ]; then
    if [ -e "$ZOOKEEPER_PREFIX/conf" ]; then
        ZOOCFGDIR="$ZOOBINDIR/../conf"
    else
        ZOOCFGDIR="$ZOOBINDIR/../etc/zookeeper"
    fi
fi
# restart runs this script again: keep a --config directory for it
export ZOOCFGDIR

if [ -f "$ZOOCFGDIR/zookeeper-env.sh" ]; then
    . "$ZOOCFGDIR/zookeeper-env.sh"
fi
ZOOCFG="$ZOOCFGDIR/${ZOOCFG:-zoo.cfg}"
if [ -f "$ZOOCFGDIR/java.env" ]; then
    . "$ZOOCFGDIR/java.env"
fi
ZOO_LOG_DIR="${ZOO_LOG_DIR:-$ZOOKEEPER_PREFIX/logs}"

find_ferrokeeper() {
    local candidate
    for candidate in "$FERROKEEPER" "$ZOOBINDIR/ferrokeeper" "$ZOOKEEPER_PREFIX/target/release/ferrokeeper"; do
        if [ -n "$candidate" ] && [ -x "$candidate" ] && [ ! -d "$candidate" ]; then
            echo "$candidate"
            return 0
        fi
    done
    command -v ferrokeeper
}
if ! FERRO="$(find_ferrokeeper)"; then
    echo "Error: the ferrokeeper binary is not beside this script nor on PATH; set FERROKEEPER." >&2
    exit 1
fi

# --- what 3.8's zkServer.sh does before the command ------------------------------------
if [ -z "$JMXDISABLE" ] || [ "$JMXDISABLE" = false ]; then
    echo "ZooKeeper JMX enabled by default" >&2
else
    echo "JMX disabled by user request" >&2
fi

# restart runs this script again with the variables as they came
_JVMFLAGS_GIVEN=$JVMFLAGS
if [ -n "$SERVER_JVMFLAGS" ]; then
    JVMFLAGS="$SERVER_JVMFLAGS $JVMFLAGS"
fi

# a second argument names the config: inside ZOOCFGDIR, or a path of its own (3.8 tells
# them apart by comparing the directory part with ZOOCFGDIR)
if [ -n "$2" ]; then
    ZOOCFG="$ZOOCFGDIR/$2"
fi
if [ "$(dirname "$ZOOCFG")" != "$ZOOCFGDIR" ]; then
    ZOOCFG="$2"
fi
echo "Using config: $ZOOCFG" >&2

# a zoo.cfg key's value as the 3.8 script reads it: every line starting with the key (after
# blanks), the text after the last '='
cfg_value() { # key-regex file
    grep "^[[:space:]]*$1" "$2" | sed -e 's/.*=//'
}

ZOO_DATADIR="$(cfg_value dataDir "$ZOOCFG")"
ZOO_DATADIR="$(echo -e "$ZOO_DATADIR" | sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//')"
ZOO_DATALOGDIR="$(cfg_value dataLogDir "$ZOOCFG")"

if [ -n "$ZOO_DATADIR_AUTOCREATE_DISABLE" ]; then
    if [ ! -d "$ZOO_DATADIR/version-2" ]; then
        echo "ZooKeeper data directory is missing at $ZOO_DATADIR fix the path or run initialize"
        exit 1
    fi
    if [ -n "$ZOO_DATALOGDIR" ] && [ ! -d "$ZOO_DATALOGDIR/version-2" ]; then
        echo "ZooKeeper txnlog directory is missing at $ZOO_DATALOGDIR fix the path or run initialize"
        exit 1
    fi
    JVMFLAGS="-Dzookeeper.datadir.autocreate=false $JVMFLAGS"
fi

if [ -z "$ZOOPIDFILE" ]; then
    [ -d "$ZOO_DATADIR" ] || mkdir -p "$ZOO_DATADIR"
    ZOOPIDFILE="$ZOO_DATADIR/zookeeper_server.pid"
else
    # stop needs its directory
    mkdir -p "$(dirname "$ZOOPIDFILE")"
fi

[ -w "$ZOO_LOG_DIR" ] || mkdir -p "$ZOO_LOG_DIR"

ZOO_LOG_FILE=${ZOO_LOG_FILE:-zookeeper-$USER-server-$HOSTNAME.log}
_ZOO_DAEMON_OUT="$ZOO_LOG_DIR/zookeeper-$USER-server-$HOSTNAME.out"

# The -D words of JVMFLAGS (SERVER_JVMFLAGS's first) go on the command line, as on 3.8's java
# command line: set in java.env without export they reach the server too, and print-cmd's
# command runs the same server. Anything else in them (-Xmx, -XX:...) is the JVM's.
server_cmd() { # appenders-default
    local word defines=()
    for word in $JVMFLAGS; do
        case $word in -D*) defines+=("$word") ;; esac
    done
    SERVER_CMD=("$FERRO" "-Dzookeeper.log.dir=$ZOO_LOG_DIR" "-Dzookeeper.log.file=$ZOO_LOG_FILE"
        "-Dzookeeper.root.logger=${ZOO_LOG4J_PROP:-$1}" "${defines[@]}" "$ZOOCFG")
}

case $1 in
start)
    echo -n "Starting zookeeper ... "
    if [ -f "$ZOOPIDFILE" ] && kill -0 "$(cat "$ZOOPIDFILE")" >/dev/null 2>&1; then
        echo "already running as process $(cat "$ZOOPIDFILE")."
        exit 1
    fi
    server_cmd INFO,ROLLINGFILE
    nohup "${SERVER_CMD[@]}" >"$_ZOO_DAEMON_OUT" 2>&1 </dev/null &
    pid=$!
    if ! echo -n "$pid" >"$ZOOPIDFILE"; then
        echo FAILED TO WRITE PID
        exit 1
    fi
    sleep 1
    if ps -p "$pid" >/dev/null 2>&1; then
        echo STARTED
    else
        echo FAILED TO START
        exit 1
    fi
    ;;
start-foreground)
    server_cmd INFO,CONSOLE
    if [ -n "$ZOO_NOEXEC" ]; then
        "${SERVER_CMD[@]}"
    else
        exec "${SERVER_CMD[@]}"
    fi
    ;;
print-cmd)
    server_cmd INFO,ROLLINGFILE
    line=""
    for word in "${SERVER_CMD[@]}"; do
        case $word in
            -D*=*) line+="${word%%=*}=\"${word#*=}\" " ;;
            *) line+="\"$word\" " ;;
        esac
    done
    echo "$line> \"$_ZOO_DAEMON_OUT\" 2>&1 < /dev/null"
    ;;
stop)
    echo -n "Stopping zookeeper ... "
    if [ ! -f "$ZOOPIDFILE" ]; then
        echo "no zookeeper to stop (could not find file $ZOOPIDFILE)"
    else
        pid="$(cat "$ZOOPIDFILE")"
        kill "$pid"
        rm "$ZOOPIDFILE"
        sleep 1
        # 3.8 does not wait for the JVM; a restart right after wants the ports free, so wait
        # (at most 30 s) for the server to be gone
        for _ in $(seq 60); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.5
        done
        echo STOPPED
    fi
    exit 0
    ;;
version)
    # VersionInfoMain's line; the version is the one `srvr` reports
    version="$("$FERRO" --version 2>/dev/null)"
    echo "Apache ZooKeeper, version 3.8.0-ferrokeeper-${version##* }"
    ;;
restart)
    shift
    JVMFLAGS=$_JVMFLAGS_GIVEN "$0" stop "$@"
    sleep 3
    JVMFLAGS=$_JVMFLAGS_GIVEN "$0" start "$@"
    ;;
status)
    isSSL=false
    clientPortAddress=$(cfg_value 'clientPortAddress[^[:alpha:]]' "$ZOOCFG")
    [ -n "$clientPortAddress" ] || clientPortAddress=localhost
    clientPort=$(cfg_value 'clientPort[^[:alpha:]]' "$ZOOCFG")
    if ! [[ $clientPort =~ ^[0-9]+$ ]]; then
        # no clientPort line: this server's `server.N=...;[address:]port` (3.5+ syntax)
        dataDir=$(cfg_value dataDir "$ZOOCFG")
        myid=$(cat "$dataDir/myid" 2>/dev/null)
        if ! [[ $myid =~ ^[0-9]+$ ]]; then
            echo "myid could not be determined, will not able to locate clientPort in the server configs."
        else
            clientPortAndAddress=$(grep "^[[:space:]]*server.$myid=.*;.*" "$ZOOCFG" | sed -e 's/.*=//' -e 's/.*;//')
            if [ -z "$clientPortAndAddress" ]; then
                echo "Client port not found in static config file. Looking in dynamic config file."
                dynamicConfigFile=$(cfg_value dynamicConfigFile "$ZOOCFG")
                clientPortAndAddress=$(grep "^[[:space:]]*server.$myid=.*;.*" "$dynamicConfigFile" | sed -e 's/.*=//' -e 's/.*;//')
            fi
            if [ -z "$clientPortAndAddress" ]; then
                echo "Client port not found in the server configs"
            else
                if [[ $clientPortAndAddress =~ ^.*:[0-9]+ ]]; then
                    if [[ $clientPortAndAddress =~ \[.*\]:[0-9]+ ]]; then
                        # [::1]:2181
                        clientPortAddress=$(echo "$clientPortAndAddress" | sed -e 's|\[||' -e 's|\]:.*||')
                    else
                        clientPortAddress=${clientPortAndAddress%%:*}
                    fi
                fi
                clientPort=${clientPortAndAddress##*:}
            fi
        fi
    fi
    if [ -z "$clientPort" ]; then
        echo "Client port not found. Looking for secureClientPort in the static config."
        secureClientPort=$(cfg_value 'secureClientPort[^[:alpha:]]' "$ZOOCFG")
        if [ -z "$secureClientPort" ]; then
            echo "Unable to find either secure or unsecure client port in any configs. Terminating."
            exit 1
        fi
        isSSL=true
        clientPort=$secureClientPort
        clientPortAddress=$(cfg_value 'secureClientPortAddress[^[:alpha:]]' "$ZOOCFG")
        [ -n "$clientPortAddress" ] || clientPortAddress=localhost
    fi
    echo "Client port found: $clientPort. Client address: $clientPortAddress. Client SSL: $isSSL."
    # FourLetterWordMain's job, done by ferrokeeper (TLS settings from CLIENT_JVMFLAGS)
    STAT=$("$FERRO" four-letter-word $clientPortAddress $clientPort srvr $isSSL 2>/dev/null | grep Mode)
    if [ -z "$STAT" ]; then
        if [ "$isSSL" = true ]; then
            echo " "
            echo "Note: We used secureClientPort ($secureClientPort) to establish connection, but we failed. The 'status'"
            echo "  command establishes a client connection to the server to execute diagnostic commands. Please make sure you"
            echo "  provided all the Client SSL connection related parameters in the CLIENT_JVMFLAGS environment variable! E.g.:"
            # 3.8's text word for word (its Netty and client.secure options do no harm here)
            echo "  CLIENT_JVMFLAGS=\"-Dzookeeper.clientCnxnSocket=org.apache.zookeeper.ClientCnxnSocketNetty"
            echo "  -Dzookeeper.ssl.trustStore.location=/tmp/clienttrust.jks -Dzookeeper.ssl.trustStore.password=password"
            echo "  -Dzookeeper.ssl.keyStore.location=/tmp/client.jks -Dzookeeper.ssl.keyStore.password=password"
            echo "  -Dzookeeper.client.secure=true\" ./zkServer.sh status"
            echo " "
        fi
        echo "Error contacting service. It is probably not running."
        exit 1
    fi
    echo $STAT
    exit 0
    ;;
*)
    echo "Usage: $0 [--config <conf-dir>] {start|start-foreground|stop|version|restart|status|print-cmd}" >&2
    ;;
esac
