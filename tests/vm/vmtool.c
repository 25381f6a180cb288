// SPDX-License-Identifier: MIT
/*
 * vmtool.c: the instruments of the VM tests, run inside the VM next to the
 * car agent. The agent holds the lines, so the tools watch them from the
 * side the kernel offers: gpio-sim's sysfs files and the gpio tracepoints.
 *
 *   vmtool sample MS FILE...
 *	Read each gpio-sim "value" file about every 100 µs for MS milliseconds
 *	and print, a line per file, the share of the time it read 1 and the
 *	frequency from the median time between rising edges:
 *	"FILE duty=37.5 hz=99.8 rises=99 samples=9700 gaps=0". Each sample
 *	counts for the time since the one before; where the sampler itself was
 *	held up (over 1 ms between samples) that time and the edges around it
 *	are left out, so a busy machine costs samples, not accuracy.
 *
 *   vmtool hcsr04 TRACE GPIO PULL WIDTH
 *	Stand in for an HC-SR04: read tracefs's trace_pipe TRACE, and at every
 *	falling edge of the trigger (global GPIO number GPIO) read the echo
 *	width in µs from the file WIDTH and raise the echo line for that long
 *	through its gpio-sim pull file PULL ("pull-up", sleep, "pull-down");
 *	0 or a missing file answers nothing. On SIGTERM it prints
 *	"triggers=N echoes=M min_trigger_us=T" and exits 0.
 *
 *   vmtool supervise WATCHDOG_MS SIGNAL UID:GID:GROUP STOP-POST -- CMD ARG...
 *	Play systemd's part for car-agent.service, which has Type=notify,
 *	WatchdogSec=, WatchdogSignal= and ExecStopPost=: run CMD as UID, GID
 *	and the extra GROUP with $NOTIFY_SOCKET, $WATCHDOG_USEC and
 *	$WATCHDOG_PID set; send it SIGNAL (SIGKILL, SIGABRT, SIGTERM), then
 *	SIGCONT, when WATCHDOG_MS pass without a "WATCHDOG=1" once it has said
 *	"READY=1" (systemd starts the watchdog when the start-up is complete;
 *	WATCHDOG_MS 0: no watchdog); once it has exited, for any
 *	reason, run the shell command STOP-POST as the same user. What
 *	happens is printed as it happens, with CLOCK_MONOTONIC ms:
 *	"supervise: T pid P", "supervise: T ready", "supervise: T watchdog
 *	SIGNAL", "supervise: T exited STATUS", "supervise: T stop-post
 *	exited STATUS". Exits 0 once STOP-POST exited 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_until(int64_t ns)
{
	struct timespec ts = {.tv_sec = ns / 1000000000,
			      .tv_nsec = ns % 1000000000};

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
	       EINTR)
		;
}

static int open_or_die(const char *path, int flags)
{
	int fd = open(path, flags);

	if (fd < 0) {
		fprintf(stderr, "vmtool: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	return fd;
}

/* ==== sample ==== */

#define SAMPLE_NS 100000
#define GAP_NS 1000000

struct sampled {
	int fd;
	long samples;
	/* Time it read 1, and all time counted, ns. */
	int64_t high_ns;
	int64_t total_ns;
	long rises;
	/* -1: unknown (start, or after a gap). */
	int last;
	int64_t last_rise;
	/* Times between rising edges with no gap between them. */
	int64_t *periods;
	long nperiods;
};

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a;
	int64_t y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static int sample_main(int argc, char **argv)
{
	long ms = argc > 2 ? strtol(argv[2], NULL, 10) : 0;
	int n = argc - 3;
	long most = ms * 1000000 / SAMPLE_NS + 1;
	struct sampled *s;
	int64_t start;
	int64_t prev;
	int64_t now;
	long gaps = 0;

	if (ms <= 0 || n < 1) {
		fprintf(stderr, "usage: vmtool sample MS FILE...\n");
		return 2;
	}
	s = calloc((size_t)n, sizeof(*s));
	if (!s)
		return 1;
	for (int i = 0; i < n; i++) {
		s[i].fd = open_or_die(argv[3 + i], O_RDONLY);
		s[i].last = -1;
		s[i].periods = calloc((size_t)most, sizeof(int64_t));
		if (!s[i].periods)
			return 1;
	}
	start = now_ns();
	prev = start;
	do {
		bool gap;

		now = now_ns();
		gap = now - prev > GAP_NS;
		gaps += gap;
		for (int i = 0; i < n; i++) {
			struct sampled *x = &s[i];
			char c = '0';
			int v;

			if (pread(x->fd, &c, 1, 0) != 1) {
				fprintf(stderr, "vmtool: read %s: %s\n",
					argv[3 + i], strerror(errno));
				return 1;
			}
			v = c == '1';
			x->samples++;
			if (gap) {
				x->last = -1;
				x->last_rise = -1;
				continue;
			}
			x->total_ns += now - prev;
			if (v)
				x->high_ns += now - prev;
			if (x->last == 0 && v == 1) {
				x->rises++;
				if (x->last_rise > 0 && x->nperiods < most)
					x->periods[x->nperiods++] =
						now - x->last_rise;
				x->last_rise = now;
			}
			x->last = v;
		}
		prev = now;
		sleep_until(now + SAMPLE_NS);
	} while (now - start < ms * 1000000);
	for (int i = 0; i < n; i++) {
		struct sampled *x = &s[i];
		double hz = 0.0;

		if (x->nperiods) {
			qsort(x->periods, (size_t)x->nperiods, sizeof(int64_t),
			      cmp_i64);
			hz = 1e9 / (double)x->periods[x->nperiods / 2];
		}
		printf("%s duty=%.1f hz=%.1f rises=%ld samples=%ld gaps=%ld\n",
		       argv[3 + i],
		       x->total_ns ? 100.0 * (double)x->high_ns /
					     (double)x->total_ns
				   : 0.0,
		       hz, x->rises, x->samples, gaps);
		close(x->fd);
		free(x->periods);
	}
	free(s);
	return 0;
}

/* ==== hcsr04 ==== */

static volatile sig_atomic_t quit;

static void on_term(int sig)
{
	(void)sig;
	quit = 1;
}

static long read_width_us(const char *path)
{
	char buf[32] = "";
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 ? strtol(buf, NULL, 10) : 0;
}

static void set_pull(int fd, const char *pull)
{
	if (pwrite(fd, pull, strlen(pull), 0) < 0) {
		fprintf(stderr, "vmtool: echo pull: %s\n", strerror(errno));
		exit(1);
	}
}

/*
 * One trace line: "  car-agent-71  [000] .....  12.345678: gpio_value: 529
 * set 1". Returns true with the GPIO, the value and the time in µs.
 */
static bool parse_trace(const char *line, unsigned *gpio, int *value,
			int64_t *us)
{
	const char *ev = strstr(line, ": gpio_value: ");
	const char *ts = ev;
	char op[8];
	long sec;
	long usec;

	if (!ev || sscanf(ev + 14, "%u %7s %d", gpio, op, value) != 3 ||
	    strcmp(op, "set"))
		return false;
	while (ts > line && ts[-1] != ' ')
		ts--;
	if (sscanf(ts, "%ld.%ld", &sec, &usec) != 2)
		return false;
	*us = (int64_t)sec * 1000000 + usec;
	return true;
}

static int hcsr04_main(int argc, char **argv)
{
	struct sigaction sa = {.sa_handler = on_term};
	struct sched_param fifo = {.sched_priority = 10};
	char buf[8192];
	size_t used = 0;
	unsigned trigger;
	int trace_fd;
	int pull_fd;
	long triggers = 0;
	long echoes = 0;
	int64_t rise_us = -1;
	int64_t min_pulse_us = -1;

	if (argc != 6) {
		fprintf(stderr, "usage: vmtool hcsr04 TRACE GPIO PULL WIDTH\n");
		return 2;
	}
	trigger = (unsigned)strtoul(argv[3], NULL, 10);
	trace_fd = open_or_die(argv[2], O_RDONLY);
	pull_fd = open_or_die(argv[4], O_WRONLY);
	/*
	 * Sleep the echo width, not the default 50 µs more, and wake ahead of
	 * the agent and Mosquitto; but below the kernel's IRQ threads (50),
	 * which read the echo line's level to tell a rising edge from a
	 * falling one while the pulse is still there.
	 */
	prctl(PR_SET_TIMERSLACK, 1UL);
	if (sched_setscheduler(0, SCHED_FIFO, &fifo) < 0)
		fprintf(stderr, "vmtool: SCHED_FIFO: %s\n", strerror(errno));
	sigaction(SIGTERM, &sa, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("hcsr04: ready\n");

	while (!quit) {
		ssize_t n = read(trace_fd, buf + used, sizeof(buf) - 1 - used);
		char *line = buf;
		char *end;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		used += (size_t)n;
		buf[used] = '\0';
		while ((end = strchr(line, '\n'))) {
			unsigned gpio;
			int value;
			int64_t us;

			*end = '\0';
			if (parse_trace(line, &gpio, &value, &us) &&
			    gpio == trigger) {
				if (value) {
					rise_us = us;
				} else if (rise_us >= 0) {
					long width = read_width_us(argv[5]);

					triggers++;
					if (min_pulse_us < 0 ||
					    us - rise_us < min_pulse_us)
						min_pulse_us = us - rise_us;
					rise_us = -1;
					if (width > 0) {
						int64_t t = now_ns();

						set_pull(pull_fd, "pull-up");
						sleep_until(t + width * 1000);
						set_pull(pull_fd, "pull-down");
						echoes++;
					}
				}
			}
			line = end + 1;
		}
		used = (size_t)(buf + used - line);
		memmove(buf, line, used);
		if (used == sizeof(buf) - 1)
			used = 0; /* A line this long is not a gpio event. */
	}
	printf("triggers=%ld echoes=%ld min_trigger_us=%lld\n", triggers,
	       echoes, (long long)min_pulse_us);
	return 0;
}

/* ==== supervise: systemd's watchdog and ExecStopPost ==== */

#define NOTIFY_PATH "/tmp/vmtool-notify"

static int64_t now_ms(void)
{
	return now_ns() / 1000000;
}

#define MAX_GROUPS 8

/* In a child: become the unit's user, or exit 127. */
static void become(uid_t uid, gid_t gid, const gid_t *groups, size_t ngroups)
{
	if (setgroups(ngroups, groups) < 0 || setgid(gid) < 0 ||
	    setuid(uid) < 0) {
		fprintf(stderr, "vmtool: cannot become %u: %s\n", (unsigned)uid,
			strerror(errno));
		_exit(127);
	}
}

static int supervise_main(int argc, char **argv)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX,
				   .sun_path = NOTIFY_PATH};
	static const struct {
		const char *name;
		int signo;
	} signals[] = {
		{"SIGKILL", SIGKILL},
		{"SIGABRT", SIGABRT},
		{"SIGTERM", SIGTERM},
	};
	unsigned uid;
	unsigned gid;
	gid_t groups[MAX_GROUPS];
	size_t ngroups = 0;
	int at = 0;
	int signo = 0;
	int64_t watchdog_ms;
	int64_t deadline;
	bool ready = false;
	bool killed = false;
	int status;
	pid_t pid;
	int fd;

	for (size_t i = 0; argc > 3 && i < sizeof(signals) / sizeof(signals[0]);
	     i++) {
		if (!strcmp(argv[3], signals[i].name))
			signo = signals[i].signo;
	}
	if (argc >= 5 && sscanf(argv[4], "%u:%u:%n", &uid, &gid, &at) == 2 &&
	    at > 0) {
		/* The supplementary groups: "997,996". */
		for (char *p = argv[4] + at, *end; ngroups < MAX_GROUPS;
		     p = end + 1) {
			groups[ngroups++] = (gid_t)strtoul(p, &end, 10);
			if (end == p || *end != ',')
				break;
		}
	}
	if (argc < 8 || strcmp(argv[6], "--") || !signo || ngroups == 0) {
		fprintf(stderr, "usage: vmtool supervise WATCHDOG_MS SIGNAL "
				"UID:GID:GROUP[,GROUP...] STOP-POST -- CMD "
				"ARG...\n");
		return 2;
	}
	watchdog_ms = strtol(argv[2], NULL, 10);
	setvbuf(stdout, NULL, _IOLBF, 0);
	unlink(NOTIFY_PATH);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    chmod(NOTIFY_PATH, 0666) < 0) {
		fprintf(stderr, "vmtool: %s: %s\n", NOTIFY_PATH,
			strerror(errno));
		return 1;
	}
	pid = fork();
	if (pid == 0) {
		char env[64];

		setenv("NOTIFY_SOCKET", NOTIFY_PATH, 1);
		if (watchdog_ms > 0) {
			snprintf(env, sizeof(env), "%lld",
				 (long long)watchdog_ms * 1000);
			setenv("WATCHDOG_USEC", env, 1);
			snprintf(env, sizeof(env), "%d", (int)getpid());
			setenv("WATCHDOG_PID", env, 1);
		}
		become(uid, gid, groups, ngroups);
		execvp(argv[7], argv + 7);
		_exit(127);
	}
	printf("supervise: %lld pid %d\n", (long long)now_ms(), (int)pid);
	deadline = INT64_MAX;
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int64_t left = deadline - now_ms();
		char msg[256];
		ssize_t n;

		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
		if (left <= 0) {
			kill(pid, signo);
			kill(pid, SIGCONT);
			printf("supervise: %lld watchdog %s\n",
			       (long long)now_ms(), argv[3]);
			killed = true;
			deadline = INT64_MAX;
			continue;
		}
		/* Wake at least every 10 ms to see the child's exit. */
		if (poll(&pfd, 1, left < 10 ? (int)left : 10) <= 0)
			continue;
		n = recv(fd, msg, sizeof(msg) - 1, 0);
		if (n <= 0)
			continue;
		msg[n] = '\0';
		if (strstr(msg, "READY=1") && !ready) {
			printf("supervise: %lld ready\n", (long long)now_ms());
			ready = true;
		}
		if (ready && !killed && watchdog_ms > 0 &&
		    (strstr(msg, "READY=1") || strstr(msg, "WATCHDOG=1")))
			deadline = now_ms() + watchdog_ms;
	}
	printf("supervise: %lld exited %d\n", (long long)now_ms(), status);
	pid = fork();
	if (pid == 0) {
		become(uid, gid, groups, ngroups);
		execl("/bin/sh", "sh", "-c", argv[5], (char *)NULL);
		_exit(127);
	}
	waitpid(pid, &status, 0);
	printf("supervise: %lld stop-post exited %d\n", (long long)now_ms(),
	       status);
	close(fd);
	unlink(NOTIFY_PATH);
	return status == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "sample"))
		return sample_main(argc, argv);
	if (argc > 1 && !strcmp(argv[1], "hcsr04"))
		return hcsr04_main(argc, argv);
	if (argc > 1 && !strcmp(argv[1], "supervise"))
		return supervise_main(argc, argv);
	fprintf(stderr, "usage: vmtool sample|hcsr04|supervise ...\n");
	return 2;
}
