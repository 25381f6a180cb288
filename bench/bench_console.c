// SPDX-License-Identifier: MIT
/*
 * bench_console.c: what a script pays for one pc-console subcommand, on the
 * real thing — a Mosquitto on a free loopback port, the car-agent on the
 * simulated car, and the pc-console binary run once per command. For each
 * run: the wall time from fork to exit (start-up, connect, the broker's
 * retained status, the command, the car's result, disconnect), the
 * round-trip the console itself measured (publish to result, its --json
 * rtt_ms), and the child's peak RSS; and, side by side, mosquitto_rr's wall
 * time for the same confirmed command (an MQTT v5 request on set/drive,
 * answered by the car's result on its response topic). It prints figures;
 * it judges nothing.
 *
 *   bench-console [--console PATH] [--agent PATH] [--quick]
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "iotcar/loop.h"

/*
 * Run @p argv once: its wall time from fork to exit, its peak RSS and what
 * it printed (@p out, @p size). False when it could not run or failed.
 */
static bool bench_time(char *const argv[], double *wall_ms, long *maxrss_kb,
		       char *out, size_t size)
{
	int64_t t0 = iotcar_clock_ns();
	struct rusage ru;
	ssize_t n = 0;
	int status;
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC))
		return false;
	pid = bench_spawn_out(argv, p[1]);
	close(p[1]);
	for (ssize_t r;
	     pid > 0 && (r = read(p[0], out + n, size - 1 - (size_t)n)) > 0;)
		n += r;
	close(p[0]);
	out[n] = '\0';
	if (pid < 0 || wait4(pid, &status, 0, &ru) != pid)
		return false;
	*wall_ms = (double)(iotcar_clock_ns() - t0) / 1e6;
	*maxrss_kb = ru.ru_maxrss;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* mosquitto_rr, the same command confirmed by the car's result. */
static bool bench_run_rr(int port, double *wall_ms)
{
	char p[8];
	char *argv[] = {"mosquitto_rr",
			"-h",
			"127.0.0.1",
			"-p",
			p,
			"-V",
			"mqttv5",
			"-q",
			"1",
			"-t",
			"iotcar/car1/set/drive",
			"-e",
			"iotcar/car1/reply/bench-rr",
			"-m",
			"left 30",
			"-W",
			"5",
			NULL};
	char out[512];
	long rss;

	snprintf(p, sizeof(p), "%d", port);
	if (!bench_time(argv, wall_ms, &rss, out, sizeof(out)) ||
	    !strstr(out, "\"status\":\"ok\"")) {
		fprintf(stderr, "bench: mosquitto_rr failed: %s", out);
		return false;
	}
	return true;
}

/* One run of the console; false when it failed. */
static bool bench_run(char *console, char *uri, double *wall_ms, double *rtt_ms,
		      long *maxrss_kb)
{
	char *argv[] = {console, "--broker", uri,  "--json",
			"drive", "left",     "30", NULL};
	char out[512];
	bool ok = bench_time(argv, wall_ms, maxrss_kb, out, sizeof(out));
	cJSON *o = cJSON_Parse(out);
	const cJSON *rtt = cJSON_GetObjectItemCaseSensitive(o, "rtt_ms");

	ok = ok && cJSON_IsNumber(rtt);
	if (ok)
		*rtt_ms = rtt->valuedouble;
	else
		fprintf(stderr, "bench: pc-console failed: %s", out);
	cJSON_Delete(o);
	return ok;
}

int main(int argc, char **argv)
{
	char *console = IOTCAR_CONSOLE_PATH;
	char *agent = IOTCAR_AGENT_PATH;
	struct bench_broker br = {.pid = -1};
	struct samples wall = {0};
	struct samples rtt = {0};
	struct samples rr = {0};
	struct timespec pause = {.tv_nsec = 100000000};
	int runs = 300;
	long maxrss = 0;
	pid_t agent_pid = -1;
	int64_t t0;
	int ret = 1;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick"))
			runs = 60;
		else if (!strcmp(argv[i], "--console") && i + 1 < argc)
			console = argv[++i];
		else if (!strcmp(argv[i], "--agent") && i + 1 < argc)
			agent = argv[++i];
		else {
			fprintf(stderr, "usage: bench-console [--console PATH] "
					"[--agent PATH] [--quick]\n");
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	bench_print_machine();
	if (bench_broker_start(&br))
		goto out;
	{
		char *aargv[] = {agent,	 "--broker",	br.uri,	 "--id",
				 "car1", "--log-level", "error", NULL};

		agent_pid = bench_spawn(aargv, -1);
	}
	wall.ms = calloc((size_t)runs, sizeof(double));
	rtt.ms = calloc((size_t)runs, sizeof(double));
	rr.ms = calloc((size_t)runs, sizeof(double));
	if (agent_pid < 0 || !wall.ms || !rtt.ms || !rr.ms)
		goto out;
	/* The car is online when a command is confirmed. */
	for (int i = 0; i < 50; i++) {
		double w, r;
		long m;

		if (bench_run(console, br.uri, &w, &r, &m))
			break;
		nanosleep(&pause, NULL);
	}
	t0 = iotcar_clock_ns();
	for (int i = 0; i < runs; i++) {
		long m = 0;

		if (bench_run(console, br.uri, &wall.ms[wall.n], &rtt.ms[rtt.n],
			      &m)) {
			wall.n++;
			rtt.n++;
			if (m > maxrss)
				maxrss = m;
		} else {
			wall.lost++;
			rtt.lost++;
		}
	}
	wall.seconds = rtt.seconds = (double)(iotcar_clock_ns() - t0) / 1e9;
	printf("pc-console --json drive left 30, %d runs, one after the "
	       "other:\n",
	       runs);
	bench_report("wall (fork to exit)", &wall);
	bench_report("rtt (publish->result)", &rtt);
	printf("peak RSS of one run: %ld kB\n", maxrss);
	t0 = iotcar_clock_ns();
	for (int i = 0; i < runs; i++) {
		if (bench_run_rr(br.port, &rr.ms[rr.n]))
			rr.n++;
		else
			rr.lost++;
	}
	rr.seconds = (double)(iotcar_clock_ns() - t0) / 1e9;
	printf("mosquitto_rr, the same command confirmed, %d runs:\n", runs);
	bench_report("wall (fork to exit)", &rr);
	ret = 0;
out:
	bench_reap(agent_pid);
	bench_broker_stop(&br);
	free(wall.ms);
	free(rtt.ms);
	free(rr.ms);
	return ret;
}
