// SPDX-License-Identifier: MIT
/* bench_util.c: the parts every benchmark shares; see bench_util.h. */
#include "bench_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "iotcar/loop.h"

/* Run argv with stdout on @p out (or /dev/null) and @p fd3 as its fd 3. */
static pid_t bench_spawn_fds(char *const argv[], int out, int fd3)
{
	pid_t pid = fork();

	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		/* Die with the benchmark, however it ends. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		unsetenv("MQTT_C_CLIENT_TRACE");
		dup2(out >= 0 ? out : null, STDOUT_FILENO);
		if (fd3 >= 0)
			dup2(fd3, 3);
		else
			dup2(null, STDERR_FILENO);
		execvp(argv[0], argv);
		/* Debian keeps mosquitto in /usr/sbin, off a user's PATH. */
		if (errno == ENOENT && !strchr(argv[0], '/')) {
			char path[256];

			snprintf(path, sizeof(path), "/usr/sbin/%s", argv[0]);
			execv(path, argv);
		}
		fprintf(stderr, "bench: cannot run %s: %s\n", argv[0],
			strerror(errno));
		_exit(127);
	}
	return pid;
}

pid_t bench_spawn(char *const argv[], int fd3)
{
	return bench_spawn_fds(argv, -1, fd3);
}

pid_t bench_spawn_out(char *const argv[], int out)
{
	return bench_spawn_fds(argv, out, -1);
}

void bench_reap(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
}

int bench_free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int port = -1;

	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

int bench_wait_port(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct timespec pause = {.tv_nsec = 10000000};

	for (int i = 0; i < 500; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		int ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;

		close(fd);
		if (ok)
			return 0;
		nanosleep(&pause, NULL);
	}
	return -ETIMEDOUT;
}

int bench_broker_start(struct bench_broker *br)
{
	char conf[128];
	char *argv[] = {"mosquitto", "-c", conf, NULL};
	FILE *f;

	br->pid = -1;
	snprintf(br->dir, sizeof(br->dir), "/tmp/iotcar-bench-XXXXXX");
	if (!mkdtemp(br->dir)) {
		br->dir[0] = '\0';
		perror("bench: mkdtemp");
		return -errno;
	}
	br->port = bench_free_port();
	snprintf(br->uri, sizeof(br->uri), "tcp://127.0.0.1:%d", br->port);
	snprintf(conf, sizeof(conf), "%s/mosquitto.conf", br->dir);
	f = fopen(conf, "w");
	if (!f || br->port < 0) {
		if (f)
			fclose(f);
		fprintf(stderr, "bench: cannot write %s\n", conf);
		return -EIO;
	}
	fprintf(f,
		"listener %d%s\nallow_anonymous true\n"
		"set_tcp_nodelay true\npersistence false\n",
		br->port, br->all_addresses ? "" : " 127.0.0.1");
	if (br->extra_conf)
		fputs(br->extra_conf, f);
	fclose(f);
	br->pid = bench_spawn(argv, -1);
	if (br->pid < 0 || bench_wait_port(br->port)) {
		fprintf(stderr, "bench: mosquitto did not start\n");
		return -ECHILD;
	}
	return 0;
}

void bench_broker_stop(struct bench_broker *br)
{
	char conf[128];

	bench_reap(br->pid);
	br->pid = -1;
	if (!br->dir[0])
		return;
	snprintf(conf, sizeof(conf), "%s/mosquitto.conf", br->dir);
	unlink(conf);
	rmdir(br->dir);
	br->dir[0] = '\0';
}

/* schedstat is exact, where /proc/PID/stat counts 10 ms ticks. */
double bench_cpu_s(pid_t pid)
{
	char path[300];
	struct dirent *de;
	double total = 0.0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	if (!dir)
		return 0.0;
	while ((de = readdir(dir)) != NULL) {
		unsigned long long ns = 0;
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/schedstat",
			 (int)pid, de->d_name);
		f = fopen(path, "r");
		if (f && fscanf(f, "%llu", &ns) == 1)
			total += (double)ns / 1e9;
		if (f)
			fclose(f);
	}
	closedir(dir);
	return total;
}

int bench_usage(pid_t pid, struct usage *u)
{
	char path[64];
	char buf[256];
	FILE *f;

	u->at_ns = iotcar_clock_ns();
	u->cpu_s = bench_cpu_s(pid);
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	while (fgets(buf, sizeof(buf), f)) {
		sscanf(buf, "VmRSS: %ld", &u->rss_kb);
		sscanf(buf, "VmHWM: %ld", &u->hwm_kb);
	}
	fclose(f);
	return 0;
}

double bench_cpu_pct(const struct usage *a, const struct usage *b)
{
	return 100.0 * (b->cpu_s - a->cpu_s) /
	       ((double)(b->at_ns - a->at_ns) / 1e9);
}

static int bench_cmp(const void *a, const void *b)
{
	double x = *(const double *)a;
	double y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double bench_pct(const double *sorted, int n, double p)
{
	int i = (int)ceil(p / 100.0 * n) - 1;

	return sorted[i < 0 ? 0 : i >= n ? n - 1 : i];
}

void bench_report(const char *name, struct samples *s)
{
	double sum = 0.0;
	int slow = 0;

	if (s->n == 0) {
		printf("%-24s no samples, %d lost\n", name, s->lost);
		return;
	}
	qsort(s->ms, (size_t)s->n, sizeof(*s->ms), bench_cmp);
	for (int i = 0; i < s->n; i++) {
		sum += s->ms[i];
		slow += s->ms[i] >= BENCH_NAGLE_MS;
	}
	printf("%-24s n=%-5d p50=%.3f p90=%.3f p99=%.3f max=%.3f mean=%.3f "
	       "ms  >=40ms:%d lost:%d",
	       name, s->n, bench_pct(s->ms, s->n, 50),
	       bench_pct(s->ms, s->n, 90), bench_pct(s->ms, s->n, 99),
	       s->ms[s->n - 1], sum / s->n, slow, s->lost);
	/* Events that were not paced (partitions) have no rate. */
	if (s->seconds > 0)
		printf("  %.0f/s", s->n / s->seconds);
	printf("\n");
}

void bench_print_machine(void)
{
	struct utsname u;
	char line[256];
	FILE *f = fopen("/proc/cpuinfo", "r");

	uname(&u);
	printf("machine: %s %s %s, %ld cores", u.sysname, u.release, u.machine,
	       sysconf(_SC_NPROCESSORS_ONLN));
	while (f && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "model name", 10)) {
			char *c = strchr(line, ':');

			line[strcspn(line, "\n")] = '\0';
			printf(",%s", c ? c + 1 : line);
			break;
		}
	}
	if (f)
		fclose(f);
	printf("\n");
}

long bench_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return -1;
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	getrlimit(RLIMIT_NOFILE, &rl);
	return (long)rl.rlim_cur;
}

/* The trace pipe is readable: hand over every whole line. */
static void bench_on_trace(void *ctx, int fd, uint32_t events)
{
	struct bench_trace *t = ctx;
	ssize_t n;
	char *nl;

	(void)events;
	n = read(fd, t->buf + t->len, sizeof(t->buf) - t->len - 1);
	if (n <= 0) {
		if (n == 0 || errno != EAGAIN)
			t->closed(t->ctx);
		return;
	}
	t->len += (size_t)n;
	t->buf[t->len] = '\0';
	while ((nl = strchr(t->buf, '\n')) != NULL) {
		long long sec = 0;
		long long nsec = 0;
		int left = 0;

		*nl = '\0';
		if (sscanf(t->buf, "%lld.%lld %d", &sec, &nsec, &left) == 3)
			t->output(t->ctx, left, sec * 1000000000LL + nsec);
		t->len -= (size_t)(nl + 1 - t->buf);
		memmove(t->buf, nl + 1, t->len + 1);
	}
}

pid_t bench_spawn_traced(struct iotcar_loop *loop, char *const argv[],
			 struct bench_trace *t)
{
	int pipefd[2];
	pid_t pid;

	t->fd = -1;
	t->len = 0;
	if (pipe2(pipefd, O_CLOEXEC))
		return -1;
	/* The pipe's write end becomes the agent's fd 3: /dev/fd/3. */
	pid = bench_spawn(argv, pipefd[1]);
	close(pipefd[1]);
	t->fd = pipefd[0];
	fcntl(t->fd, F_SETFL, O_NONBLOCK);
	if (pid < 0 ||
	    iotcar_loop_add_fd(loop, t->fd, EPOLLIN, bench_on_trace, t))
		return -1;
	return pid;
}
