#!/bin/bash
# SPDX-License-Identifier: MIT
# check.sh: the system test, inside the booted VM (run.sh), as the unit
# iotcar-system-test.service once the system is up: it installs the
# packages with apt and checks what systemd and the journal make of them.
# Each step prints "vmtest: ..."; the last line is "VMTEST: PASS" or a
# failure with the journal, then the machine powers off.
set -u
export DEBIAN_FRONTEND=noninteractive PATH=/usr/sbin:/usr/bin:/sbin:/bin
cd /root/iotcar || exit 1

end() {
	echo "VMTEST: $1"
	systemctl poweroff --no-block
	exit 0
}
fail() {
	echo "vmtest: FAIL: $*"
	journalctl --no-pager -o short-monotonic -n 150
	end FAIL
}
step() { echo "vmtest: $*"; }
# wait_until SECONDS COMMAND...: until COMMAND succeeds, or fail.
wait_until() {
	t=$(($1 * 10))
	shift
	while ! "$@" >/dev/null 2>&1; do
		t=$((t - 1))
		[ $t -gt 0 ] || return 1
		sleep 0.1
	done
}
main_pid() { systemctl show -p MainPID --value car-agent; }
# ups: how often the agents said "link up" (online); more_ups N CAR:
# until it is more than N and the last one names CAR.
ups() { journalctl -u car-agent -o cat --no-pager | grep -c 'link up: '; }
more_ups() {
	[ "$(ups)" -gt "$1" ] && journalctl -u car-agent -o cat --no-pager |
		grep 'link up: ' | tail -n 1 | grep -q "link up: $2 online"
}

step "booted: $(uname -r), $(systemctl --version | head -n 1)"
wait_until 60 systemctl is-active mosquitto || fail "mosquitto did not start"

# ---- apt installs the packages; the services start ----
apt-get install -y -q /root/iotcar/*.deb >/tmp/apt.log 2>&1 ||
	{ cat /tmp/apt.log; fail "apt-get install failed"; }
step "installed: $(dpkg-query -W -f '${Package} ${Version}\n' 'iotcar-*' | paste -sd' ' -)"
wait_until 30 systemctl is-active car-agent || fail "car-agent is not active"
wait_until 30 systemctl is-active car-bridge || fail "car-bridge is not active"
status=$(mosquitto_sub -t iotcar/car1/status -C 1 -W 30) ||
	fail "no status from car1"
[ "$status" = online ] || fail "car1 is '$status', not online"
step "car-agent and car-bridge active, car1 online"
getent passwd iotcar >/dev/null && id -nG iotcar | grep -qw gpio &&
	id -nG iotcar | grep -qw i2c ||
	fail "no user iotcar in the groups gpio and i2c: $(id iotcar 2>&1)"

# ---- mosquitto_pub drives it; so does a plain socket client ----
mosquitto_sub -t iotcar/car1/state -W 20 >/tmp/state.log 2>&1 &
sub=$!
# Subscribed once the retained state has come: the drive's cannot be missed.
wait_until 20 grep -q '"mode"' /tmp/state.log ||
	fail "no retained state of car1"
mosquitto_pub -t iotcar/car1/set/drive -m 'forward 60 1500'
wait_until 20 grep -q '"left":60' /tmp/state.log ||
	fail "mosquitto_pub did not drive car1: $(tail -n 3 /tmp/state.log)"
kill $sub 2>/dev/null
step "mosquitto_pub drove car1 at 60 %"
exec 3<>/dev/tcp/127.0.0.1/9999 || fail "the bridge does not listen on 9999"
echo 'forward 30 500' >&3
read -r reply <&3 || fail "no reply from the bridge"
exec 3>&-
case $reply in OK*) ;; *) fail "bridge: 'forward 30 500' -> '$reply'" ;; esac
step "the bridge drove car1: $reply"

# ---- a stalled agent: the watchdog kills it, systemd restarts it ----
pid=$(main_pid)
n=$(ups)
kill -STOP "$pid"
restarted() { p=$(main_pid) && [ "$p" != 0 ] && [ "$p" != "$pid" ] &&
	systemctl is-active car-agent; }
wait_until 30 restarted || fail "car-agent $pid, stopped, was not restarted"
journalctl -u car-agent --no-pager | grep -q 'Watchdog timeout' ||
	fail "no watchdog timeout in the journal"
systemctl show -p ExecStopPost car-agent | grep -q 'status=0/0' ||
	fail "ExecStopPost did not run: $(systemctl show -p ExecStopPost car-agent)"
wait_until 30 more_ups "$n" car1 || fail "car1 did not come back online"
step "SIGSTOP: the watchdog killed car-agent $pid, --stop-motors ran, car-agent $(main_pid) online"

# ---- warnings at their priority, no timestamps of our own ----
n=$(ups)
systemctl restart mosquitto
wait_until 30 more_ups "$n" car1 || fail "car1 not online after the broker's restart"
warn=$(journalctl -u car-agent -p warning -o cat --no-pager | grep 'car-agent: ')
echo "$warn" | grep -q '^car-agent: warning: mqtt: lost' ||
	fail "no 'mqtt: lost' warning at priority warning: $warn"
echo "$warn" | grep -q ': info: ' && fail "info lines at priority warning: $warn"
journalctl -u car-agent -p info..info -o cat --no-pager |
	grep -q '^car-agent: info: ' || fail "no info lines at priority info"
step "journalctl -p warning: $(echo "$warn" | tail -n 1)"

# ---- the sandbox ----
for unit in car-agent car-bridge; do
	score=$(systemd-analyze security --no-pager "$unit" 2>&1 |
		sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p')
	[ -n "$score" ] && awk -v s="$score" 'BEGIN { exit !(s <= 3.5) }' ||
		fail "$unit: exposure '$score', more than 3.5"
	step "$unit: exposure $score; $(systemctl show -p User -p ProtectSystem -p NoNewPrivileges "$unit" | paste -sd' ' -)"
done
systemctl show -p User -p ProtectSystem -p DeviceAllow car-agent |
	grep -q 'DeviceAllow=char-gpiochip rw' || fail "car-agent: no DeviceAllow for the GPIO chips"
systemctl show -p DeviceAllow car-agent |
	grep -q 'char-i2c rw' || fail "car-agent: no DeviceAllow for the I2C buses"

# ---- an upgrade keeps an edited config ----
sed -i 's/^id = car1$/id = car7/' /etc/iotcar/car-agent.conf
n=$(ups)
systemctl restart car-agent
wait_until 30 more_ups "$n" car7 || fail "car7 not online after the edit"
n=$(ups)
apt-get install -y -q /root/iotcar/next/*.deb >/tmp/apt.log 2>&1 ||
	{ cat /tmp/apt.log; fail "the upgrade failed"; }
version=$(dpkg-query -W -f '${Version}' iotcar-car-agent)
case $version in *+1) ;; *) fail "iotcar-car-agent is $version after the upgrade" ;; esac
grep -q '^id = car7$' /etc/iotcar/car-agent.conf || fail "the upgrade lost the edit"
wait_until 30 more_ups "$n" car7 || fail "car7 not back online after the upgrade"
step "upgraded to $version: the edited config kept, car7 online"

# ---- purge removes the units, the users and the config ----
apt-get purge -y -q iotcar-car-agent iotcar-bridge iotcar-console \
	iotcar-broker >/tmp/apt.log 2>&1 || { cat /tmp/apt.log; fail "purge failed"; }
for unit in car-agent car-bridge; do
	[ "$(systemctl show -p LoadState --value $unit)" = not-found ] ||
		fail "$unit is still known after the purge"
done
getent passwd iotcar iotcar-bridge && fail "users left after the purge"
[ -e /etc/iotcar ] && fail "/etc/iotcar left after the purge: $(ls -la /etc/iotcar)"
left=$(dpkg -l 'iotcar-*' 2>/dev/null | grep '^[a-z][a-z] ' | grep -v '^un')
[ -z "$left" ] || fail "packages left: $left"
step "purged: no unit, no user, no /etc/iotcar"
end PASS
