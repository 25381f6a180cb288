# SPDX-License-Identifier: MIT
# checks.sh: the VM tests, sourced by init.sh (which has set up the gpio-sim
# chip, Mosquitto and the helpers: agent, command, value, wait_until, fail).
# check_NAME is the CTest test vm.NAME. Each check fails with the reason
# the moment what it sees is not what docs/hardware.md promises.

# Tolerances, also in docs/testing.md.
DUTY_TOL=3      # PWM duty, percentage points
HZ_TOL=2        # PWM frequency, percent of pwm_hz
PWM_HZ=100      # pwm_hz: not in the [gpio] example of docs/hardware.md, so the default
CM_TOL=1        # HC-SR04 distance, cm
STOP_CM=25      # stop_distance_cm, the default

# reads_are READER "key=value ...": `READER key` prints each key's value
# now (value: a line's level; channel: a PCA9685 channel's, below).
reads_are() {
	for _kv in $2; do
		[ "$($1 ${_kv%=*})" = "${_kv#*=}" ] || return 1
	done
}
# expect_reads WHAT READER "key=value ...": wait up to 2 s for them.
expect_reads() {
	_want=$(echo $3)
	wait_until 2000 reads_are $2 "$_want" && return
	_read=
	for _kv in $_want; do _read="$_read ${_kv%=*}=$($2 ${_kv%=*})"; done
	fail "$1: want $_want; read$_read"
}
# expect_lines WHAT "key=level ...": the lines, by config key.
expect_lines() { expect_reads "$1" value "$2"; }
# drive ID TEXT: a drive command that must be accepted.
drive() {
	command "$1" "\"drive\":\"$2\""
	echo "$RESULT" | grep -q '"status":"ok"' ||
		fail "'$2' was not accepted: $RESULT"
}
# sample MS KEY...: sample the lines for MS ms; DUTY_<key> and HZ_<key>
# hold what vmtool measured.
sample() {
	_ms=$1
	shift
	_files=
	for _k in "$@"; do _files="$_files $SIM/sim_gpio$(offset $_k)/value"; done
	_out=$(vmtool sample "$_ms" $_files) || fail "vmtool sample $*"
	for _k in "$@"; do
		_line=$(echo "$_out" | grep "/sim_gpio$(offset $_k)/value ")
		eval "DUTY_$_k=$(echo "$_line" | sed -n 's/.* duty=\([0-9.]*\).*/\1/p')"
		eval "HZ_$_k=$(echo "$_line" | sed -n 's/.* hz=\([0-9.]*\).*/\1/p')"
	done
}
# within A B TOL: |A - B| <= TOL (decimals).
within() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b;
	exit !(d <= t && -d <= t) }'; }
# motors_still WHAT: no motor line is high at any time in 300 ms.
motors_still() {
	sample 300 $OUTPUTS
	for _k in $OUTPUTS; do
		eval "_d=\$DUTY_$_k"
		[ "$_d" = 0.0 ] || fail "$1: $_k was high $_d% of 300 ms"
	done
}

# trace_on, trace_off: record the levels the kernel's lines are set to.
trace_on() {
	echo >/sys/kernel/tracing/trace
	echo 1 >/sys/kernel/tracing/events/gpio/gpio_value/enable
}
trace_off() { echo 0 >/sys/kernel/tracing/events/gpio/gpio_value/enable; }
# set_low_last WHAT KEY...: while tracing, each line was set, to 0 last.
set_low_last() {
	_what=$1
	shift
	for _k in "$@"; do
		_g=$((BASE + $(offset $_k)))
		_last=$(grep -E ": gpio_value: $_g set " \
			/sys/kernel/tracing/trace | tail -n 1 | sed 's/.* set //')
		[ "$_last" = 0 ] ||
			fail "$_what: $_k (gpio $_g) was last set to '$_last', not 0"
	done
}

# ==== Directions: the pin table of docs/hardware.md ====

# pin_levels "L1 L2 LEN R1 R2 REN": the same as "left_in1=L1 ...".
pin_levels() {
	set -- $1
	for _k in $OUTPUTS; do
		printf '%s=%s ' $_k "$1"
		shift
	done
}

check_directions() {
	agent
	expect_lines "at start" "$(pin_levels "0 0 0 0 0 0")"
	# The command, then left IN1 IN2 EN and right IN1 IN2 EN.
	while IFS=: read -r text levels; do
		drive "${text%% *}" "$text"
		expect_lines "$text" "$(pin_levels "$levels")"
	done <<-EOF
		forward 100 10000: 1 0 1  1 0 1
		backward 100 10000: 0 1 1  0 1 1
		left 100 10000: 0 1 1  1 0 1
		right 100 10000: 1 0 1  0 1 1
		stop: 0 0 0  0 0 0
	EOF
	say "directions: forward, backward, left, right, stop as the pin table"
}

# ==== PWM on the enable lines ====

# pwm_case ID TEXT LEFT RIGHT: drive, then sample both enable lines.
pwm_case() {
	drive "$1" "$2"
	expect_lines "$2" "left_in1=1 left_in2=0 right_in1=1 right_in2=0"
	sample 500 left_en right_en
	for _side in left right; do
		if [ $_side = left ]; then _want=$3; else _want=$4; fi
		eval "_duty=\$DUTY_${_side}_en _hz=\$HZ_${_side}_en"
		say "pwm: '$2' ${_side}_en duty $_duty% (want $_want), $_hz Hz"
		within "$_duty" "$_want" $DUTY_TOL ||
			fail "'$2': ${_side}_en duty $_duty%, want $_want ± $DUTY_TOL"
		within "$_hz" $PWM_HZ $((PWM_HZ * HZ_TOL / 100)) ||
			fail "'$2': ${_side}_en at $_hz Hz, want $PWM_HZ ± $HZ_TOL%"
	done
}

check_pwm() {
	agent
	pwm_case p25 "forward 25 10000" 25 25
	pwm_case p50 "forward 50 10000" 50 50
	pwm_case p75 "forward 75 10000" 75 75
	# Two duties at once: throttle 50 steer 25 mixes to 75 / 25.
	pwm_case p7525 "drive 50 25 10000" 75 25
	drive s stop
	expect_lines stop "left_en=0 right_en=0"
}

# ==== The HC-SR04 ====

# echo_us US: the helper's echo width from now on (0: no echo).
echo_us() { echo "$1" >/tmp/echo_us; }
# distances: every distance_cm the states have reported since the mark.
distances() {
	since | sed -n 's/^iotcar\/car1\/state .*"distance_cm":\([0-9.a-z]*\).*/\1/p'
}
# distance_near CM: the latest state reports CM ± CM_TOL.
distance_near() {
	_last=$(distances | tail -n 1)
	[ -n "$_last" ] && within "$_last" "$1" $CM_TOL
}
# ten_states: ten states (a second of them at 100 ms) since the mark.
ten_states() { [ "$(distances | wc -l)" -ge 10 ]; }
# distance_case CM: an echo as wide as CM takes; the reading settles near
# CM and the ten states after that stay there.
distance_case() {
	_us=$(awk -v cm="$1" 'BEGIN { printf "%d", cm * 58 }')
	mark
	echo_us $_us
	wait_until 5000 distance_near "$1" ||
		fail "echo of $_us µs: distance_cm $(distances | tail -n 1), want $1 ± $CM_TOL"
	mark
	wait_until 5000 ten_states ||
		fail "echo of $_us µs: only '$(distances | tr '\n' ' ')' in 5 s of states"
	_all=$(distances | head -n 10 | tr '\n' ' ')
	for _d in $_all; do
		within "$_d" "$1" $CM_TOL ||
			fail "echo of $_us µs: distance_cm $_d, want $1 ± $CM_TOL (all: $_all)"
	done
	say "hc-sr04: echo $_us µs -> distance_cm $_all"
}

check_distance() {
	trig=$((BASE + $(offset trigger)))
	# The helper hears the trigger through the gpio_value tracepoint.
	echo "gpio == $trig" >/sys/kernel/tracing/events/gpio/gpio_value/filter
	echo 1 >/sys/kernel/tracing/events/gpio/gpio_value/enable
	echo_us 0
	vmtool hcsr04 /sys/kernel/tracing/trace_pipe $trig \
		$SIM/sim_gpio$(offset echo)/pull /tmp/echo_us >/tmp/hcsr04.log 2>&1 &
	helper=$!
	wait_until 5000 grep -q ready /tmp/hcsr04.log || fail "hcsr04 helper"
	# States every 100 ms, so a second of them is ten readings.
	agent --state-interval-ms 100

	distance_case 20
	distance_case 100
	distance_case 300

	# No echo at all: null, not the last value.
	mark
	echo_us 0
	wait_mqtt 5000 '^iotcar/car1/state .*"distance_cm":null' ||
		fail "no echo: distance_cm $(distances | tail -n 1), want null"
	say "hc-sr04: no echo -> distance_cm null"

	# A near echo: the obstacle rule holds forward motion.
	mark
	near=$MARK
	distance_case 10
	MARK=$near
	wait_mqtt 2000 '^iotcar/car1/event .*"event":"obstacle"' ||
		fail "no obstacle event at 10 cm (stop distance $STOP_CM)"
	command near '"drive":"forward 60 10000"'
	echo "$RESULT" | grep -q '"status":"error"' ||
		fail "forward at 10 cm was accepted: $RESULT"
	motors_still "forward at 10 cm"
	say "hc-sr04: at 10 cm forward is refused: $RESULT"
	drive back "backward 60 10000"
	expect_lines "backward at 10 cm" "left_in1=0 left_in2=1 \
		right_in1=0 right_in2=1"
	drive s stop
	agent_stop

	kill -TERM $helper
	wait $helper
	summary=$(tail -n 1 /tmp/hcsr04.log)
	say "hc-sr04 helper: $summary"
	min=$(echo "$summary" | sed -n 's/.*min_trigger_us=\([-0-9]*\).*/\1/p')
	[ -n "$min" ] && [ "$min" -ge 10 ] ||
		fail "a trigger pulse shorter than the HC-SR04's 10 µs: $summary"
}

# ==== Stops: deadman, e-stop, link loss, SIGTERM ====

check_stops() {
	agent
	# Deadman: a 300 ms command, then nothing.
	drive d "forward 60 300"
	expect_lines "forward 60" "left_in1=1 right_in1=1"
	wait_mqtt 3000 '^iotcar/car1/event .*"event":"failsafe"' ||
		fail "no failsafe event after the 300 ms TTL"
	motors_still "after the deadman"
	say "stops: deadman leaves the motor lines low"

	# E-stop: latched, and a forward command is refused.
	drive e "forward 60 10000"
	expect_lines "forward 60" "left_in1=1 right_in1=1"
	command on '"estop":"ON"'
	ON_RESULT=$RESULT
	wait_mqtt 3000 '^iotcar/car1/event .*"event":"estop"' ||
		fail "no estop event"
	motors_still "after the e-stop"
	command e2 '"drive":"forward 60 10000"'
	echo "$RESULT" | grep -q '"status":"error"' ||
		fail "forward under e-stop was accepted: $RESULT"
	motors_still "forward under e-stop"
	# The release names the latch the ON made (a bare OFF this soon
	# would be refused: it might be older than the ON).
	latch=$(echo "$ON_RESULT" | sed -n 's/.*"estop_latch":\([0-9]*\).*/\1/p')
	command off "\"estop\":\"OFF\",\"estop_latch\":$latch"
	echo "$RESULT" | grep -q '"status":"ok"' ||
		fail "the release of latch '$latch' was refused: $RESULT"
	say "stops: e-stop leaves the motor lines low"

	# Link loss: the broker dies while the car drives.
	drive k "forward 60 10000"
	expect_lines "forward 60" "left_in1=1 right_in1=1"
	killall mosquitto
	# The agent hears the FIN and stops (slower under TSan), then stays so.
	expect_lines "after the broker died" "$(pin_levels "0 0 0 0 0 0")"
	motors_still "after the broker died"
	mark
	broker
	wait_mqtt 20000 '^iotcar/car1/status online' ||
		fail "car-agent did not reconnect"
	motors_still "after the reconnect"
	say "stops: link loss leaves the motor lines low"

	# SIGTERM while driving: every output low, then every line released.
	drive t "forward 60 10000"
	expect_lines "forward 60" "left_in1=1 right_in1=1"
	# A released line reads its pull; a requested output its own level.
	for k in $OUTPUTS trigger echo; do pull $k up; done
	expect_lines "outputs under pull-up" "left_in2=0 right_in2=0"
	trace_on
	agent_stop
	trace_off
	set_low_last SIGTERM $OUTPUTS trigger
	for k in $OUTPUTS trigger echo; do
		[ "$(value $k)" = 1 ] ||
			fail "SIGTERM: $k is still requested (reads $(value $k) under pull-up)"
		[ -z "$(holder $k)" ] ||
			fail "SIGTERM: $k is not released: held by '$(holder $k)'"
	done
	say "stops: SIGTERM set every output low, then released every line"
}

# ==== Errors: a busy line, a missing chip ====

# agent_fails WHAT ARGS...: car-agent must exit 1; its stderr is
# left in $ERR.
agent_fails() {
	_what=$1
	shift
	timeout 30 car-agent --config $CONF --hal gpiod \
		--broker tcp://127.0.0.1:1883 "$@" \
		>/tmp/agent.log 2>&1
	_st=$?
	ERR=$(cat /tmp/agent.log)
	# 1 is a runtime failure (car-agent(1)); a sanitizer exits otherwise.
	[ $_st = 1 ] || fail "$_what: car-agent exited with $_st, not 1: $ERR"
	! echo "$ERR" | grep -q -E 'Sanitizer|runtime error' ||
		fail "$_what: a sanitizer report: $ERR"
	say "$_what: exit $_st: $(echo "$ERR" | tail -n 1)"
}
# err_says TEXT...: every TEXT is in $ERR.
err_says() {
	for _t in "$@"; do
		echo "$ERR" | grep -q -F "$_t" ||
			fail "the error does not say '$_t': $ERR"
	done
}

# released WHAT: no line of the car is held by anybody.
released() {
	for _k in $OUTPUTS trigger echo; do
		[ -z "$(holder $_k)" ] ||
			fail "$1: $_k is held by '$(holder $_k)'"
	done
}
# hold_line OFFSET: gpioset holds the line low until killed (its own
# syntax in libgpiod 1.6 and 2.x); run it in the background.
hold_line() {
	case $(gpioset --version | head -n 1) in
	*" v1."*) exec gpioset --mode=signal $CHIP $1=0 ;;
	*) exec gpioset --chip $CHIP $1=0 ;;
	esac
}
gpioset_holds() { [ "$(holder right_en)" = gpioset ]; }

check_errors() {
	# A line held by another program.
	en=$(offset right_en)
	hold_line $en &
	gpioset_pid=$!
	wait_until 5000 gpioset_holds || fail "gpioset did not take line $en"
	trace_on
	agent_fails "busy line"
	trace_off
	err_says right_en "line $en (GPIO$en)" "busy (EBUSY)" "held by 'gpioset'"
	# The lines it took before are released, and none went high.
	for k in $OUTPUTS trigger echo; do
		[ $k = right_en ] && continue
		[ -z "$(holder $k)" ] ||
			fail "busy line: $k was not released"
	done
	! grep -q -E ': gpio_value: [0-9]+ set 1' /sys/kernel/tracing/trace ||
		fail "busy line: a line went high: $(grep ' set 1' \
			/sys/kernel/tracing/trace | head -n 3)"
	kill $gpioset_pid
	wait $gpioset_pid
	# Without the holder the same command line runs.
	agent
	agent_stop

	agent_fails "missing chip" --chip gpiochip9
	err_says "GPIO chip 'gpiochip9' not found" gpiodetect
	agent_fails "unknown label" --chip pinctrl-bcm2711
	err_says "GPIO chip 'pinctrl-bcm2711' not found" gpiodetect
	agent_fails "unknown line name" --left-in1 GPIO99
	err_says "a GPIO chip with lines GPIO99, GPIO27" "not found" gpioinfo
	agent_fails "unknown line name on the chip" --chip pinctrl-rp1 \
		--left-in1 GPIO99
	err_says left_in1 "no line named 'GPIO99'" gpioinfo
	agent_fails "line out of range" --chip pinctrl-rp1 --left-in1 40
	err_says left_in1 "line 40 does not exist" "28 lines"
	released "after the errors"

	# Installed, unconfigured: the installed car-agent.conf names no
	# [gpio] lines on a machine with chips: exit 2, not the simulated car
	# answering ok; hal = sim says that is meant.
	mkdir -p /tmp/etc
	printf '[car]\nid = car1\n' >/tmp/etc/car-agent.conf
	IOTCAR_CONFIG_DIR=/tmp/etc timeout 30 car-agent \
		--broker tcp://127.0.0.1:1883 >/tmp/agent.log 2>&1
	_st=$?
	ERR=$(cat /tmp/agent.log)
	[ $_st = 2 ] || fail "unconfigured: exit $_st, not 2: $ERR"
	err_says "names no [gpio] lines" "hal = sim"
	say "unconfigured: exit 2: $ERR"
	printf '[car]\nid = car1\nhal = sim\n' >/tmp/etc/car-agent.conf
	mark
	IOTCAR_CONFIG_DIR=/tmp/etc car-agent --broker tcp://127.0.0.1:1883 \
		>/tmp/agent.log 2>&1 &
	AGENT_PID=$!
	wait_mqtt 20000 '^iotcar/car1/status online' ||
		fail "hal = sim: car-agent did not come online"
	agent_stop
	released "hal = sim"
}

# ==== Finding the chip: never by its number ====

check_chips() {
	OFFSETS=
	for k in $OUTPUTS trigger echo; do
		OFFSETS="$OFFSETS --$(echo $k | tr _ -) $(offset $k)"
	done
	# The example of docs/hardware.md names no chip: the lines' names find it,
	# though it is not gpiochip0.
	[ $CHIP != gpiochip0 ] || fail "the header's chip is gpiochip0"
	grep -q '^chip *=' $CONF && fail "the example of docs/hardware.md names a chip"
	# Named, it is found with offsets, which alone could not find it.
	for spec in "" pinctrl-rp1 /dev/$CHIP $CHIP ${CHIP#gpiochip}; do
		agent ${spec:+--chip $spec $OFFSETS}
		drive f "forward 100 10000"
		expect_lines "chip '$spec'" "left_in1=1 left_en=1 right_in1=1"
		[ "$(holder left_in1)" = iotcar ] ||
			fail "chip '$spec': left_in1 held by '$(holder left_in1)'"
		agent_stop
		released "chip '$spec'"
		say "chips: --chip '$spec' drives $CHIP"
	done
	# Offsets alone do not say which chip.
	agent_fails "offsets, no chip" $OFFSETS
	err_says "no GPIO chip configured" pinctrl-rp1
	# Every line is pulled down while the car holds it (gpio-sim's own
	# default is down too: up first).
	for k in $OUTPUTS trigger echo; do pull $k up; done
	agent
	for k in $OUTPUTS trigger echo; do
		[ "$(cat $SIM/sim_gpio$(offset $k)/pull)" = pull-down ] ||
			fail "$k is not pulled down: $(cat $SIM/sim_gpio$(offset $k)/pull)"
	done
	say "chips: every line of the car is pulled down"
}

# ==== Any exit: the unit's watchdog and ExecStopPost ====

# How long after the watchdog's kill the motor lines may still be high.
STOP_POST_MS=1000

# outputs_low: every motor line reads low now.
outputs_low() { reads_are value "$(pin_levels "0 0 0 0 0 0")"; }
# after_exit WHAT T0: the agent is gone since about T0 (ms). Every motor
# line is low within the watchdog + STOP_POST_MS of T0, --stop-motors set
# each of them low last, and they stay low.
after_exit() {
	wait_until $((UNIT_WATCHDOG_MS + STOP_POST_MS)) outputs_low ||
		fail "$1: motor lines still high $((UNIT_WATCHDOG_MS + STOP_POST_MS)) ms later: $(levels $OUTPUTS)"
	_low=$(($(now_ms) - $2))
	supervised_end
	trace_off
	# On a Raspberry Pi kernel a released line keeps the level it was
	# last set to: only what --stop-motors set counts.
	set_low_last "$1" $OUTPUTS trigger
	motors_still "$1"
	say "$1: motor lines low $_low ms after, stop-post at" \
		"$(sed -n 's/^supervise: \([0-9]*\) stop-post.*/\1/p' \
			/tmp/supervise.log) ($(tr '\n' ' ' </tmp/supervise.log))"
}

check_watchdog() {
	[ "$UNIT_WATCHDOG_MS" -gt 0 ] || fail "car-agent.service has no WatchdogSec"
	supervised
	[ "$(awk '/^Uid:/ { print $2 }' /proc/$AGENT_PID/status)" = $UNIT_UID ] ||
		fail "car-agent does not run as the unit's User"
	[ "$(holder left_en)" = iotcar ] || fail "left_en held by '$(holder left_en)'"
	# Let the pings run: nothing happens while the loop turns.
	drive w "forward 60 10000"
	expect_lines "forward 60" "left_in1=1 right_in1=1"
	sample $((UNIT_WATCHDOG_MS * 2)) left_en
	grep -q 'watchdog' /tmp/supervise.log &&
		fail "the watchdog fired on a running agent"
	within "$DUTY_left_en" 60 $DUTY_TOL ||
		fail "left_en duty $DUTY_left_en% under the supervisor"
	# Frozen mid-drive: the PWM thread freezes too, maybe mid-pulse.
	trace_on
	t0=$(now_ms)
	kill -STOP $AGENT_PID
	after_exit "SIGSTOP" $t0
	grep -q 'watchdog' /tmp/supervise.log ||
		fail "the watchdog did not kill the frozen agent"
}

check_kill() {
	supervised
	drive k "forward 60 10000"
	expect_lines "forward 60" "left_in1=1 right_in1=1"
	trace_on
	t0=$(now_ms)
	kill -KILL $AGENT_PID
	after_exit "SIGKILL" $t0
	! grep -q 'watchdog' /tmp/supervise.log ||
		fail "the watchdog fired, though the agent was killed at once"
}

# ==== The PCA9685 on I2C: i2c-stub plays its registers ====

PCA_ADDR=0x40
# reg R: the PCA9685's register R as a number, read through i2c-dev
# (busybox's i2cget reads every number as hexadecimal; -f: also while
# the kernel's pwm-pca9685 has the address).
reg() {
	_v=$(i2cget -f -y $I2C_BUS $PCA_ADDR $(printf '0x%02x' $1)) ||
		fail "i2cget register $1"
	echo $((_v))
}
# channel CH: "off", "on" or the pulse's length in counts (of 4096).
channel() {
	_r=$((6 + 4 * $1))
	if [ $(($(reg $((_r + 3))) & 16)) -ne 0 ]; then
		echo off
	elif [ $(($(reg $((_r + 1))) & 16)) -ne 0 ]; then
		echo on
	else
		[ "$(reg $_r)" = 0 ] && [ "$(reg $((_r + 1)))" = 0 ] ||
			fail "channel $1 starts its pulse after 0"
		echo $(($(reg $((_r + 3))) * 256 + $(reg $((_r + 2)))))
	fi
}
# expect_channels WHAT "STEERING THROTTLE": channels 0 and 1.
expect_channels() { expect_reads "$1" channel "0=${2% *} 1=${2#* }"; }
# all_off WHAT: every one of the 16 channels fully off, the chip asleep.
all_off() {
	for _c in $(seq 0 15); do
		[ "$(channel $_c)" = off ] ||
			fail "$1: channel $_c is $(channel $_c), not off"
	done
	[ $(($(reg 0) & 16)) -ne 0 ] || fail "$1: MODE1 $(reg 0) is not asleep"
}
# pca_agent [options]: the Ackermann car of docs/hardware.md on the
# PCA9685: steering on channel 0, the ESC on channel 1.
pca_agent() {
	mark
	car-agent --config /tmp/pca.conf --broker tcp://127.0.0.1:1883 \
		--max-ttl-ms 10000 --log-level info "$@" >/tmp/agent.log 2>&1 &
	AGENT_PID=$!
	wait_mqtt 20000 '^iotcar/car1/status online' ||
		fail "car-agent did not come online on the PCA9685"
}
# pca_fails WHAT TEXT [options]: car-agent exits 1 saying TEXT.
pca_fails() {
	_what=$1
	_text=$2
	shift 2
	car-agent --config /tmp/pca.conf --broker tcp://127.0.0.1:1883 \
		"$@" >/tmp/agent.log 2>&1 && fail "$_what: car-agent started"
	grep -q "$_text" /tmp/agent.log ||
		fail "$_what: the error does not say '$_text': $(cat /tmp/agent.log)"
	say "pca9685: $_what: $(grep -o "$_text.*" /tmp/agent.log | head -n 1)"
}

# pca_conf STEERING THROTTLE: the Ackermann car's /tmp/pca.conf.
pca_conf() {
	cat >/tmp/pca.conf <<-CONF
	[car]
	drivetrain = ackermann
	[gpio]
	steering = $1
	throttle = $2
	[pca9685]
	pca9685_bus = ${I2C_BUS:-0}
	CONF
}
# i2c_stub: i2c-stub with a chip at PCA_ADDR; I2C_BUS is its bus.
i2c_stub() {
	insmod /lib/modules/i2c-stub.ko chip_addr=$(($PCA_ADDR)) ||
		fail "insmod i2c-stub"
	I2C_BUS=
	for d in /sys/bus/i2c/devices/i2c-*; do
		grep -q 'SMBus stub' $d/name && I2C_BUS=${d##*i2c-}
	done
	[ -n "$I2C_BUS" ] || fail "no i2c-stub adapter in /sys/bus/i2c/devices"
	[ -c /dev/i2c-$I2C_BUS ] || fail "/dev/i2c-$I2C_BUS is missing"
	# What car-agent/'s udev rule does to the buses (no udevd here).
	_rule=$(grep 'KERNEL=="i2c-' /etc/60-iotcar-gpio.rules)
	_group=$(echo "$_rule" | sed -n 's/.*GROUP="\([^"]*\)".*/\1/p')
	_mode=$(echo "$_rule" | sed -n 's/.*MODE="\([0-7]*\)".*/\1/p')
	[ -n "$(gid_of "$_group")" ] && [ -n "$_mode" ] ||
		fail "the udev rule for I2C: '$_rule'"
	chgrp "$(gid_of "$_group")" /dev/i2c-$I2C_BUS &&
		chmod "$_mode" /dev/i2c-$I2C_BUS || fail "applying the I2C rule"
}

check_pca9685() {
	pca_conf pca9685:0 pca9685:1
	# No bus yet: I2C is not enabled.
	pca_fails "no bus" "does not exist: enable I2C"
	i2c_stub
	pca_conf pca9685:0 pca9685:1
	# Nothing at that address.
	pca_fails "no device" "no device answers at 0x41" --pca9685-address 0x41
	# Set-up: awake with auto-increment, totem pole, 50 Hz.
	pca_agent
	[ "$(reg 0)" = $((0x20)) ] || fail "MODE1 is $(reg 0), not 0x20"
	[ "$(reg 1)" = 4 ] || fail "MODE2 is $(reg 1), not 0x04 (OUTDRV)"
	[ "$(reg 254)" = 121 ] || fail "PRE_SCALE is $(reg 254), not 121 (50 Hz)"
	# 1.5 ms is 307 counts at PRE_SCALE 121 (307.4; 1.0 ms 205, 2.0 ms 410).
	expect_channels "at the start" "307 307"
	drive f "forward 50 10000"
	expect_channels "forward 50" "307 359"
	drive l "left 30 10000"
	expect_channels "left 30" "205 338"
	drive r "drive 100 100 10000"
	expect_channels "full right, full forward" "410 410"
	drive b "drive -100 -100 10000"
	expect_channels "full left, full reverse" "205 205"
	drive s "stop"
	expect_channels "stop" "307 307"
	# The deadman: neutral and centred.
	drive d "drive 80 40 1000"
	expect_channels "drive 80 40" "348 389"
	wait_mqtt 3000 '^iotcar/car1/event .*"failsafe"' || fail "no failsafe"
	expect_channels "after the deadman" "307 307"
	# The e-stop.
	drive e "drive -60 -50 10000"
	expect_channels "drive -60 -50" "256 246"
	send set/estop ON
	expect_channels "e-stop" "307 307"
	# SIGTERM: every channel off, the chip asleep.
	agent_stop
	all_off "SIGTERM"
	say "pca9685: SIGTERM left every channel off"
	# SIGKILL under car-agent.service, as its user in its groups (the
	# udev rule's i2c): the chip keeps its pulses until the unit's
	# ExecStopPost (car-agent --stop-motors) switches them off.
	cp /tmp/pca.conf $CONF
	supervised
	drive k "forward 60 10000"
	expect_channels "forward 60" "307 369"
	kill -KILL $AGENT_PID
	supervised_end
	all_off "SIGKILL and the unit's ExecStopPost"
	say "pca9685: the unit's ExecStopPost after SIGKILL left every channel off"
}

# ==== The other motor drivers: two_pin and tb6612 on GPIO ====

# driver_conf DRIVER [LINE...]: the example of docs/hardware.md for
# motor_driver = DRIVER, without the enable lines for two_pin, with
# LINE ("key = value") added to [gpio]; it becomes $CONF.
driver_conf() {
	_d=$1
	shift
	{
		if [ $_d = two_pin ]; then grep -v '^\(left\|right\)_en' $EXAMPLE
		else cat $EXAMPLE; fi
		for _l in "$@"; do echo "$_l"; done
		printf '[car]\nmotor_driver = %s\n' $_d
	} >/tmp/$_d.conf
	CONF=/tmp/$_d.conf
}
# duty_is WHAT KEY WANT: KEY's sampled duty is WANT ± DUTY_TOL.
duty_is() {
	eval "_duty=\$DUTY_$2 _hz=\$HZ_$2"
	within "$_duty" "$3" $DUTY_TOL ||
		fail "$1: $2 duty $_duty%, want $3 ± $DUTY_TOL"
	say "$1: $2 duty $_duty% (want $3), $_hz Hz"
}

check_drivers() {
	EXAMPLE=$CONF
	# two_pin: PWM on the input of the direction, the other low.
	driver_conf two_pin
	OUTPUTS="left_in1 left_in2 right_in1 right_in2"
	agent
	expect_lines "two_pin at start" "left_in1=0 left_in2=0 right_in1=0 right_in2=0"
	drive f "forward 50 10000"
	sample 500 $OUTPUTS
	duty_is "two_pin forward 50" left_in1 50
	duty_is "two_pin forward 50" right_in1 50
	duty_is "two_pin forward 50" left_in2 0
	duty_is "two_pin forward 50" right_in2 0
	drive l "left 25 10000"
	sample 500 $OUTPUTS
	duty_is "two_pin left 25" left_in2 25
	duty_is "two_pin left 25" right_in1 25
	duty_is "two_pin left 25" left_in1 0
	duty_is "two_pin left 25" right_in2 0
	drive b "backward 100 10000"
	expect_lines "two_pin backward 100" "left_in1=0 left_in2=1 right_in1=0 right_in2=1"
	# Coast at 0 (the default): both inputs low; the deadman too.
	drive s stop
	motors_still "two_pin stop (coast)"
	drive d "forward 60 300"
	expect_lines "two_pin forward 60" "left_in2=0 right_in2=0"
	wait_mqtt 3000 '^iotcar/car1/event .*"failsafe"' || fail "no failsafe"
	motors_still "two_pin after the deadman (coast)"
	agent_stop
	say "drivers: two_pin forward, turning, backward, coast"
	# Brake at 0: both inputs high, after a stop and after the deadman.
	agent --motor-zero brake
	drive f "forward 60 10000"
	sample 300 $OUTPUTS
	duty_is "two_pin brake, forward 60" left_in1 60
	drive d "forward 60 300"
	wait_mqtt 3000 '^iotcar/car1/event .*"failsafe"' || fail "no failsafe"
	expect_lines "two_pin brake after the deadman" "left_in1=1 left_in2=1 right_in1=1 right_in2=1"
	agent_stop
	say "drivers: two_pin brakes with both inputs high"

	# tb6612: IN1/IN2 and PWM as an L298N, and STBY low whenever a
	# safety rule holds the car.
	driver_conf tb6612 "stby = GPIO25"
	OUTPUTS="left_in1 left_in2 left_en right_in1 right_in2 right_en stby"
	agent --motor-zero brake
	drive f "forward 50 10000"
	expect_lines "tb6612 forward 50" "left_in1=1 left_in2=0 right_in1=1 right_in2=0 stby=1"
	sample 500 left_en right_en stby
	duty_is "tb6612 forward 50" left_en 50
	duty_is "tb6612 forward 50" right_en 50
	duty_is "tb6612 forward 50" stby 100
	# A stop brakes: both inputs high, PWM low, not in standby.
	drive s stop
	expect_lines "tb6612 stop (brake)" "left_in1=1 left_in2=1 left_en=0 right_in1=1 right_in2=1 right_en=0 stby=1"
	# The deadman: standby.
	drive d "forward 60 1000"
	expect_lines "tb6612 forward 60" "left_in2=0 stby=1"
	wait_mqtt 3000 '^iotcar/car1/event .*"failsafe"' || fail "no failsafe"
	expect_lines "tb6612 after the deadman" "stby=0 left_en=0 right_en=0"
	sample 300 stby left_en right_en
	duty_is "tb6612 after the deadman" stby 0
	# The e-stop: standby.
	drive e "backward 40 10000"
	expect_lines "tb6612 backward 40" "left_in1=0 left_in2=1 stby=1"
	send set/estop ON
	expect_lines "tb6612 e-stop" "stby=0 left_en=0 right_en=0"
	# SIGTERM: every line low and released, STBY with them.
	agent_stop
	released "tb6612 after SIGTERM"
	say "drivers: tb6612 runs with STBY high, brakes on stop, stands by on the deadman and the e-stop"
	CONF=$EXAMPLE
}

# ==== Servos on /sys/class/pwm: the kernel's pwm-pca9685 on i2c-stub ====

check_pwm_sysfs() {
	i2c_stub
	insmod /lib/modules/pwm-pca9685.ko || fail "insmod pwm-pca9685"
	echo pca9685 $PCA_ADDR >/sys/bus/i2c/devices/i2c-$I2C_BUS/new_device ||
		fail "new_device pca9685"
	_dev=/sys/bus/i2c/devices/$I2C_BUS-00${PCA_ADDR#0x}
	wait_until 2000 ls -d $_dev/pwm/pwmchip* >/dev/null 2>&1 ||
		fail "pwm-pca9685 made no pwmchip under $_dev: $(dmesg | tail -n 5)"
	PWMCHIP=$(ls $_dev/pwm | head -n 1)
	[ "$(cat /sys/class/pwm/$PWMCHIP/npwm)" = 17 ] ||
		fail "$PWMCHIP has $(cat /sys/class/pwm/$PWMCHIP/npwm) channels, not 16 + all"
	say "pwm: pwm-pca9685 on i2c-stub is $PWMCHIP"
	N=${PWMCHIP#pwmchip}
	pca_conf pwmchip$N:0 pwmchip$N:1
	# The chip's address is the kernel driver's now.
	pca_fails "taken" "is taken by a kernel driver" --steering pca9685:0 \
		--throttle pca9685:1
	pca_fails "no chip" "pwmchip99 does not exist: enable the PWM" \
		--steering pwmchip99:0
	pca_fails "no channel" "has 17 channels: 0 to 16" --steering pwmchip$N:17
	pca_agent
	[ -d /sys/class/pwm/$PWMCHIP/pwm0 ] || fail "pwm0 is not exported"
	[ "$(cat /sys/class/pwm/$PWMCHIP/pwm0/period)" = 20000000 ] ||
		fail "pwm0's period is $(cat /sys/class/pwm/$PWMCHIP/pwm0/period)"
	[ "$(reg 254)" = 121 ] || fail "PRE_SCALE is $(reg 254), not 121 (50 Hz)"
	[ $(($(reg 0) & 16)) = 0 ] || fail "MODE1 $(reg 0): the chip sleeps"
	# The kernel rounds a duty up against the nominal 20 ms: 1.5 ms is
	# 308 counts here (205, 308, 410: the figures of issue 15).
	expect_channels "at the start" "308 308"
	drive f "forward 50 10000"
	expect_channels "forward 50" "308 359"
	drive l "left 30 10000"
	expect_channels "left 30" "205 338"
	drive r "drive 100 100 10000"
	expect_channels "full right, full forward" "410 410"
	drive d "drive -100 -100 1000"
	expect_channels "full left, full reverse" "205 205"
	wait_mqtt 3000 '^iotcar/car1/event .*"failsafe"' || fail "no failsafe"
	expect_channels "after the deadman" "308 308"
	drive e "drive 60 -50 10000"
	expect_channels "drive 60 -50" "256 369"
	send set/estop ON
	expect_channels "e-stop" "308 308"
	agent_stop
	expect_channels "SIGTERM" "off off"
	[ ! -d /sys/class/pwm/$PWMCHIP/pwm0 ] || fail "pwm0 is still exported"
	say "pwm: SIGTERM switched both channels off and unexported them"
	pca_agent
	drive k "forward 60 10000"
	expect_channels "forward 60" "308 369"
	kill -KILL $AGENT_PID
	wait $AGENT_PID
	AGENT_PID=
	[ "$(channel 1)" = 369 ] || fail "SIGKILL changed the throttle's pulse"
	car-agent --config /tmp/pca.conf --stop-motors >/tmp/stop-post.log 2>&1 ||
		fail "car-agent --stop-motors failed: $(cat /tmp/stop-post.log)"
	expect_channels "SIGKILL and --stop-motors" "off off"
	say "pwm: --stop-motors after SIGKILL switched both channels off"
}

# ==== A 4WD car's motors on a PCA9685: two_pin, two motors a side ====

# expect_levels WHAT "CH=LEVEL ...": PCA9685 channels.
expect_levels() { expect_reads "$1" channel "$2"; }

check_pca9685_motors() {
	i2c_stub
	# Freenove's 4WD car (docs/drivetrains.md): forward is PWM on 1 and 2
	# (left), 7 and 5 (right); both inputs high brakes.
	cat >/tmp/pca.conf <<-CONF
	[car]
	motor_driver = two_pin
	motor_zero = brake
	[gpio]
	left_in1 = pca9685:1,2
	left_in2 = pca9685:0,3
	right_in1 = pca9685:7,5
	right_in2 = pca9685:6,4
	[pca9685]
	pca9685_bus = $I2C_BUS
	CONF
	pca_agent
	[ "$(reg 254)" = 121 ] || fail "PRE_SCALE is $(reg 254), not 121 (50 Hz)"
	drive f "forward 50 10000"
	expect_levels "forward 50" "1=2048 2=2048 7=2048 5=2048 0=off 3=off 6=off 4=off"
	drive l "left 25 10000"
	expect_levels "left 25" "0=1024 3=1024 7=1024 5=1024 1=off 2=off 6=off 4=off"
	drive s stop
	expect_levels "stop (brake)" "0=on 1=on 2=on 3=on 4=on 5=on 6=on 7=on"
	drive b "backward 100 1000"
	expect_levels "backward 100" "0=on 3=on 6=on 4=on 1=off 2=off 7=off 5=off"
	wait_mqtt 3000 '^iotcar/car1/event .*"failsafe"' || fail "no failsafe"
	expect_levels "after the deadman (brake)" "0=on 1=on 2=on 3=on 4=on 5=on 6=on 7=on"
	agent_stop
	all_off "SIGTERM"
	say "pca9685: a 4WD car's two_pin motors, two to a side, brake and off"
}
