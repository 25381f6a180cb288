#!/bin/sh
# SPDX-License-Identifier: MIT
# demo.sh: the whole demo in one command — install what is missing, build,
# start Mosquitto on 127.0.0.1:1883 (broker/dev.conf) with the web
# dashboard on http://127.0.0.1:9001/, the car agent on the simulated car
# and the socket bridge on 127.0.0.1:9999, then say how to drive and watch
# it. Ctrl-C stops them all.
#
#   scripts/demo.sh [car-agent options]      e.g. --sim-wall-cm 80
#
# IOTCAR_DEMO_PORT picks another port than 1883, IOTCAR_DEMO_BRIDGE_PORT
# another than 9999, IOTCAR_DEMO_WEB_PORT another than 9001 for the web
# dashboard.
set -eu
cd "$(dirname "$0")/.."
port=${IOTCAR_DEMO_PORT:-1883}
bport=${IOTCAR_DEMO_BRIDGE_PORT:-9999}
wport=${IOTCAR_DEMO_WEB_PORT:-9001}
# Debian installs mosquitto in /usr/sbin, off an ordinary user's PATH.
PATH=$PATH:/usr/sbin:/sbin

scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release
agent=build/release/car-agent/car-agent
bridge=build/release/bridge/car-bridge
# The demo's own settings, never an installed /etc/iotcar/*.conf (a real
# car's [gpio] lines): the programs read that only without --config.
export IOTCAR_CONFIG_DIR="$PWD/build/demo-no-config"

broker_pid=
web_pid=
agent_pid=
bridge_pid=
cleanup() {
	[ -z "$bridge_pid" ] || kill "$bridge_pid" 2>/dev/null || true
	[ -z "$agent_pid" ] || kill "$agent_pid" 2>/dev/null || true
	[ -z "$web_pid" ] || kill "$web_pid" 2>/dev/null || true
	[ -z "$broker_pid" ] || kill "$broker_pid" 2>/dev/null || true
	wait 2>/dev/null || true
}

# wait_up PID WHAT CMD...: run CMD every 0.1 s until it succeeds; give up
# after 5 s or when process PID has died, saying WHAT.
wait_up() {
	pid=$1
	what=$2
	shift 2
	tries=0
	until "$@" 2>/dev/null; do
		tries=$((tries + 1))
		if [ $tries -gt 50 ] || ! kill -0 "$pid" 2>/dev/null; then
			echo "demo: $what" >&2
			exit 1
		fi
		sleep 0.1
	done
}
trap cleanup EXIT
trap 'exit 0' INT TERM

www=$(pwd)/broker/www
if mosquitto_pub -h 127.0.0.1 -p "$port" -t iotcar/demo -n 2>/dev/null; then
	# Debian starts a system mosquitto on 1883 when it is installed. The
	# web dashboard then gets a Mosquitto of its own that serves the page
	# and bridges iotcar/# to that broker.
	echo "demo: a broker already answers on 127.0.0.1:$port; using it"
	# Mosquitto 2.0.11 will not run on a websockets listener alone: a
	# unix socket listener keeps it company (in /tmp: as root, Mosquitto
	# binds it as the mosquitto user).
	cat >build/demo-web.conf <<-EOF
		listener 0 ${TMPDIR:-/tmp}/iotcar-demo-web-$$.sock
		allow_anonymous true
		listener $wport 127.0.0.1
		protocol websockets
		http_dir $www
		allow_anonymous true
		persistence false
		connection iotcar-demo-web
		address 127.0.0.1:$port
		topic iotcar/# both 1
		cleansession true
	EOF
	mosquitto -c build/demo-web.conf &
	web_pid=$!
else
	sed -e "s/^listener 1883 /listener $port /" \
		-e "s/^listener 9001 /listener $wport /" \
		-e "s|^http_dir .*|http_dir $www|" broker/dev.conf \
		>build/demo-broker.conf
	mosquitto -c build/demo-broker.conf &
	broker_pid=$!
	wait_up "$broker_pid" "mosquitto did not start on port $port" \
		mosquitto_pub -h 127.0.0.1 -p "$port" -t iotcar/demo -n
fi
wait_up "${web_pid:-$broker_pid}" \
	"nothing serves the web dashboard on port $wport (IOTCAR_DEMO_WEB_PORT picks another)" \
	nc -z 127.0.0.1 "$wport"

# A retained "online" means a car1 agent is connected right now (a crashed
# one would have left its "offline" will): two would fight over the id.
if mosquitto_sub -h 127.0.0.1 -p "$port" -t iotcar/car1/status -C 1 -W 1 \
	2>/dev/null | grep -q online; then
	echo "demo: car1 is already online on 127.0.0.1:$port (another demo?);" \
		"stop it first" >&2
	exit 1
fi
"$agent" --broker "tcp://127.0.0.1:$port" --id car1 "$@" &
agent_pid=$!
tries=0
until mosquitto_sub -h 127.0.0.1 -p "$port" -t iotcar/car1/status -C 1 -W 1 \
	2>/dev/null | grep -q online; do
	tries=$((tries + 1))
	if [ $tries -gt 10 ] || ! kill -0 "$agent_pid" 2>/dev/null; then
		echo "demo: the car agent did not come online" >&2
		exit 1
	fi
done

# The socket bridge, for plain TCP/UDP clients. It says itself when its
# port is taken; the demo goes on without it then.
bridge_note="  The socket bridge did not start (see above); the MQTT demo runs without it."
"$bridge" --broker "tcp://127.0.0.1:$port" --listen "127.0.0.1:$bport" &
bridge_pid=$!
tries=0
until mosquitto_sub -h 127.0.0.1 -p "$port" -t iotcar/bridge/bridge1/status \
	-C 1 -W 1 2>/dev/null | grep -q online; do
	tries=$((tries + 1))
	if [ $tries -gt 10 ] || ! kill -0 "$bridge_pid" 2>/dev/null; then
		bridge_pid=
		break
	fi
done
if [ -n "$bridge_pid" ]; then
	bridge_note="  Or as a plain socket client, through the bridge on 127.0.0.1:$bport:
    printf 'forward 40 1000\\nstatus\\n' | nc -q 2 127.0.0.1 $bport
    python3 -c \"import socket; s=socket.create_connection(('127.0.0.1',$bport)); s.sendall(b'left'); print(s.recv(1024).decode())\""
fi

p="-p $port"
console=build/release/pc-console/pc-console
pc_broker=
[ "$port" = 1883 ] || pc_broker=" --broker tcp://127.0.0.1:$port"
cat <<MSG

  iotcar demo: car1 is online on the simulated car (wall 200 cm ahead).

  Drive it from a browser on this machine (touch joystick, arrow keys):
    http://127.0.0.1:$wport/

  Drive it from the keyboard (in another terminal; W/A/S/D, Space, Q):
    $console$pc_broker

  Watch it:
    $console$pc_broker watch
    mosquitto_sub $p -t 'iotcar/#' -T 'iotcar/+/link' -v   (all but the car's link pings)

  Drive it (each command lives 500 ms unless it says longer):
    mosquitto_pub $p -t iotcar/car1/set/drive -m 'forward 60 2000'
    mosquitto_pub $p -t iotcar/car1/set/drive -m 'left 40 1000'
    mosquitto_pub $p -t iotcar/car1/set/drive -m stop
    mosquitto_pub $p -t iotcar/car1/set -m '{"throttle":40,"steer":-20,"ttl_ms":1500,"id":"1"}'
    mosquitto_pub $p -t iotcar/car1/set/speed_limit -m 50
    mosquitto_pub $p -t iotcar/car1/set/estop -m ON      (and OFF, a second later)
    mosquitto_rr  $p -t iotcar/car1/set/drive -e reply/me -m 'backward 30 1000'

$bridge_note

  Ctrl-C stops the car agent, the bridge and the broker.

MSG
wait "$agent_pid"
