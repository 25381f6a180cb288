#!/bin/busybox sh
# SPDX-License-Identifier: MIT
# init.sh: /init of the VM tests' initramfs, PID 1 inside the VM.
#
# It builds the car's wiring out of the kernel's gpio-sim — a chip like a
# Pi 4's expander, then one like a Pi 5's header, so the [gpio]
# example (/etc/iotcar/car-agent.conf) works unchanged — starts Mosquitto
# on 127.0.0.1:1883, runs the check named by iotcar.test= on the kernel
# command line (checks.sh), and powers off. The host reads the serial
# console: "VMTEST: PASS", or "VMTEST: FAIL: <why>" followed by the logs.
/bin/busybox --install -s /bin
export PATH=/bin:/usr/bin:/sbin:/usr/sbin
export HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t tracefs tracefs /sys/kernel/tracing
mount -t debugfs debugfs /sys/kernel/debug || fail "mount debugfs"
ip link set lo up
# The sanitizers' options of the build under test (initramfs.sh).
. /etc/vmtest.env

say() { echo "vmtest: $*"; }

# Every failure ends here: the reason, the logs, power off. To the console
# itself, as a failure may come from inside a $(...).
fail() {
	exec >/dev/console 2>&1
	echo "VMTEST: FAIL: $*"
	for f in /tmp/agent.log /tmp/supervise.log /tmp/stop-post.log \
		/tmp/hcsr04.log /tmp/mqtt.log /tmp/mosquitto.log; do
		[ -s "$f" ] || continue
		echo "---- $f (last 40 lines)"
		tail -n 40 "$f"
	done
	echo "---- dmesg (last 15 lines)"
	dmesg | tail -n 15
	poweroff -f
	sleep 30
}

# now_ms: milliseconds of uptime (to 10 ms).
now_ms() {
	read -r _up _idle </proc/uptime
	# "0.89" -> 890; "1${_up#*.}" keeps "08" from reading as octal.
	echo $((${_up%.*} * 1000 + 1${_up#*.} * 10 - 1000))
}
# wait_until MS CMD...: run CMD every 10 ms until it succeeds, for up to MS.
wait_until() {
	_end=$(($(now_ms) + $1))
	shift
	until "$@"; do
		[ "$(now_ms)" -lt $_end ] || return 1
		usleep 10000
	done
}

test=$(sed -n 's/.*iotcar\.test=\([a-z0-9_]*\).*/\1/p' /proc/cmdline)
say "kernel $(uname -r), check '$test', uptime $(cut -d' ' -f1 /proc/uptime) s"

for m in $(cat /lib/modules/load-order); do
	insmod "/lib/modules/$m" || fail "insmod $m"
done
mount -t configfs configfs /sys/kernel/config || fail "mount configfs"

# ==== The car's wiring: gpio-sim chips ====

# sim_chip DEV LABEL NAME...: a live gpio-sim device DEV with one chip
# labelled LABEL whose lines are named NAME...
sim_chip() {
	_cfg=/sys/kernel/config/gpio-sim/$1
	mkdir $_cfg $_cfg/bank0 || fail "gpio-sim: mkdir $1 in configfs"
	echo $2 >$_cfg/bank0/label
	shift 2
	echo $# >$_cfg/bank0/num_lines
	_i=0
	for _n in "$@"; do
		mkdir $_cfg/bank0/line$_i
		echo $_n >$_cfg/bank0/line$_i/name
		_i=$((_i + 1))
	done
	echo 1 >$_cfg/live || fail "gpio-sim: live"
}
# First a chip like a Pi 4's GPIO expander, so that the header's chip is
# not gpiochip0: the agent must find it by its label or its lines' names.
sim_chip expander raspberrypi-exp-gpio BT_ON WL_ON PWR_LED_OFF \
	GLOBAL_RESET VDD_SD_IO_SEL CAM_GPIO SD_PWR_ON SD_OC_N
# The header's chip, labelled like a Pi 5's: 28 lines GPIO0..GPIO27, so
# the [gpio] example of docs/hardware.md works unchanged; 0 and 1 named as on a Pi.
sim_chip car pinctrl-rp1 ID_SDA ID_SCL $(i=2; while [ $i -lt 28 ]; do
	echo GPIO$i; i=$((i + 1)); done)
SIMCFG=/sys/kernel/config/gpio-sim/car
CHIP=$(cat $SIMCFG/bank0/chip_name)
SIM=/sys/devices/platform/$(cat $SIMCFG/dev_name)/$CHIP
# The global GPIO numbers the tracepoints print: the chip's base + offset.
for d in /sys/class/gpio/gpiochip*; do
	[ "$(cat $d/label)" = pinctrl-rp1 ] && BASE=$(cat $d/base)
done
[ -n "${BASE:-}" ] || fail "no /sys/class/gpio entry labelled pinctrl-rp1"
[ -c /dev/$CHIP ] || fail "/dev/$CHIP is missing"
# What car-agent/'s udev rule does to the chips (no udevd here): its group
# and mode, the group's number from /etc/group.
_rule=$(grep 'KERNEL=="gpiochip' /etc/60-iotcar-gpio.rules)
GPIO_GROUP=$(echo "$_rule" | sed -n 's/.*GROUP="\([^"]*\)".*/\1/p')
GPIO_GID=$(awk -F: -v g="$GPIO_GROUP" '$1 == g { print $3 }' /etc/group)
_mode=$(echo "$_rule" | sed -n 's/.*MODE="\([0-7]*\)".*/\1/p')
[ -n "$GPIO_GID" ] && [ -n "$_mode" ] || fail "the udev rule: '$_rule'"
chgrp "$GPIO_GID" /dev/gpiochip* && chmod "$_mode" /dev/gpiochip* ||
	fail "applying the udev rule"
say "gpio-sim: $CHIP (pinctrl-rp1), 28 lines, global numbers from $BASE"

# ==== Lines by config key ====

CONF=/etc/iotcar/car-agent.conf
OUTPUTS="left_in1 left_in2 left_en right_in1 right_in2 right_en"

# offset KEY: the line offset of a [gpio] key of $CONF (GPIO17 -> 17).
offset() {
	_o=$(sed -n "s/^$1 *= *GPIO\([0-9]*\).*/\1/p" $CONF)
	[ -n "$_o" ] || fail "$CONF has no line for $1"
	echo "$_o"
}
# value KEY: the line's level as gpio-sim sees it.
value() { cat $SIM/sim_gpio$(offset $1)/value; }
# levels KEY...: "key=level ..." for messages.
levels() {
	for _k in "$@"; do printf '%s=%s ' $_k $(value $_k); done
}
# pull KEY up|down: what an unrequested line reads.
pull() { echo pull-$2 >$SIM/sim_gpio$(offset $1)/pull; }
# holder KEY: who has requested the line (the kernel's own list in
# debugfs, the same whatever libgpiod's tools print); empty if nobody.
# gpiolib prints "gpio-N (NAME|consumer) ..." and "gpio-N (NAME)" for a
# free line (6.1); gpio-sim's own list says "gpio-N (consumer) output-low,"
# and "(<unused>)" (6.12), N the global number or, later, the offset.
holder() {
	awk -v chip="$CHIP:" -v g=$((BASE + $(offset $1))) -v o=$(offset $1) '
	/^gpiochip/ { sec = $1 == chip; next }
	sec && ($1 == "gpio-" g || $1 == "gpio-" o) {
		s = $0
		sub(/^[^(]*\(/, "", s)
		sim = s ~ /^[^)]*\) (input|output-high|output-low),/
		sub(/\).*/, "", s)
		if (sim && s != "<unused>")
			print s
		else if (!sim && sub(/^[^|]*\|/, "", s)) {
			sub(/ +$/, "", s)
			print s
		}
		found = 1
		exit
	}
	END { exit !found }' /sys/kernel/debug/gpio ||
		fail "no line $1 in /sys/kernel/debug/gpio: $(cat /sys/kernel/debug/gpio)"
}

# ==== MQTT: Mosquitto and a log of everything under iotcar/ ====

# broker: start Mosquitto and, once it answers, the MQTT log's subscriber.
broker() {
	mosquitto -c /etc/mosquitto.conf >>/tmp/mosquitto.log 2>&1 &
	wait_until 10000 mosquitto_pub -h 127.0.0.1 -q 1 -t vmtest/up -n \
		2>/dev/null || fail "mosquitto did not start"
	[ -z "${SUB_PID:-}" ] || kill $SUB_PID
	mosquitto_sub -h 127.0.0.1 -v -t 'iotcar/#' >>/tmp/mqtt.log 2>&1 &
	SUB_PID=$!
}
: >/tmp/mqtt.log
broker

# mark: remember where the MQTT log is; waits look after the mark.
mark() { MARK=$(wc -l </tmp/mqtt.log); }
MARK=0
since() { tail -n +$((MARK + 1)) /tmp/mqtt.log; }
# wait_mqtt MS REGEX: a message (as "topic payload") after the mark.
seen() { since | grep -q -E "$WANT"; }
wait_mqtt() {
	WANT=$2
	wait_until "$1" seen
}

# ==== The car agent ====

AGENT_PID=
# agent [options]: start car-agent on the config, wait until it is online.
agent() {
	mark
	car-agent --config $CONF --hal gpiod --broker tcp://127.0.0.1:1883 \
		--max-ttl-ms 10000 \
		--log-level info "$@" >/tmp/agent.log 2>&1 &
	AGENT_PID=$!
	wait_mqtt 20000 '^iotcar/car1/status online' ||
		fail "car-agent did not come online"
}
# ==== car-agent.service, as systemd runs it ====

# unit KEY: the unit's KEY= (the last one, as systemd reads it).
unit() { sed -n "s/^$1=//p" /etc/car-agent.service | tail -n 1; }
# A group's number.
gid_of() { awk -F: -v g="$1" '$1 == g { print $3 }' /etc/group; }
# WatchdogSec= in ms ("1s", "500ms" or seconds; none: 0), its signal.
UNIT_WATCHDOG_MS=$(unit WatchdogSec | awk '/ms$/ { print $0 + 0; next }
	{ print ($0 + 0) * 1000 }')
UNIT_SIGNAL=$(unit WatchdogSignal)
UNIT_SIGNAL=${UNIT_SIGNAL:-SIGABRT}
UNIT_UID=$(awk -F: -v u="$(unit User)" '$1 == u { print $3 }' /etc/passwd)
UNIT_GID=$(gid_of "$(unit Group)")
# The supplementary groups' numbers, "997,996".
UNIT_GROUPS=
for _g in $(unit SupplementaryGroups); do
	[ -n "$(gid_of "$_g")" ] || fail "car-agent.service: no group $_g here"
	UNIT_GROUPS=${UNIT_GROUPS:+$UNIT_GROUPS,}$(gid_of "$_g")
done
[ -n "$UNIT_UID" ] && [ -n "$UNIT_GID" ] && [ -n "$UNIT_GROUPS" ] ||
	fail "car-agent.service: User/Group/SupplementaryGroups unknown here"

# supervised [options]: car-agent as its unit runs it — ExecStart, User,
# Group, SupplementaryGroups, the watchdog, ExecStopPost after any exit —
# with vmtool playing systemd (log: /tmp/supervise.log), options added for
# the test's broker. Waits until it is online; SUP_PID is the supervisor,
# AGENT_PID the agent.
supervised() {
	mark
	# shellcheck disable=SC2046 # the unit's command lines, word by word
	vmtool supervise "${UNIT_WATCHDOG_MS:-0}" $UNIT_SIGNAL \
		$UNIT_UID:$UNIT_GID:$UNIT_GROUPS \
		"$(unit ExecStopPost) >>/tmp/stop-post.log 2>&1" \
		-- $(unit ExecStart) --hal gpiod \
		--broker tcp://127.0.0.1:1883 --max-ttl-ms 10000 \
		--log-level info "$@" >/tmp/supervise.log 2>/tmp/agent.log &
	SUP_PID=$!
	wait_until 5000 grep -q ' pid ' /tmp/supervise.log ||
		fail "vmtool supervise did not start"
	AGENT_PID=$(sed -n 's/.* pid \([0-9]*\)$/\1/p' /tmp/supervise.log)
	wait_mqtt 20000 '^iotcar/car1/status online' ||
		fail "car-agent did not come online under the supervisor"
	wait_until 2000 grep -q ' ready$' /tmp/supervise.log ||
		fail "car-agent is online but did not say READY=1"
}
# supervised_end: the supervisor's exit, which must be 0 (the stop-post
# command exited 0); the agent is gone.
supervised_end() {
	wait $SUP_PID || fail "the stop-post command failed: $(cat /tmp/supervise.log /tmp/stop-post.log)"
	AGENT_PID=
}
# agent_stop: SIGTERM, and its exit status must be 0.
agent_stop() {
	kill -TERM $AGENT_PID
	wait $AGENT_PID
	_st=$?
	AGENT_PID=
	[ $_st = 0 ] || fail "car-agent exited with $_st on SIGTERM"
	! grep -q -E 'Sanitizer|runtime error' /tmp/agent.log ||
		fail "car-agent: a sanitizer report"
}
# send TOPIC PAYLOAD: publish under iotcar/car1/.
send() { mosquitto_pub -h 127.0.0.1 -t "iotcar/car1/$1" -m "$2" || fail "publish $1"; }
# command ID JSON-FIELDS: a command on set with an id; waits for its result
# and leaves it in $RESULT.
command() {
	mark
	send set "{\"id\":\"$1\",$2}"
	wait_mqtt 5000 "^iotcar/car1/result .*\"id\":\"$1\"" ||
		fail "no result for command $1 ($2)"
	RESULT=$(since | grep -E "^iotcar/car1/result .*\"id\":\"$1\"" |
		head -n 1)
}

. /checks.sh
if type "check_$test" >/dev/null 2>&1; then
	"check_$test"
	[ -z "$AGENT_PID" ] || agent_stop
	say "uptime at the end $(cut -d' ' -f1 /proc/uptime) s"
	echo "VMTEST: PASS"
else
	fail "no check named '$test' (iotcar.test= on the kernel command line)"
fi
poweroff -f
sleep 30
