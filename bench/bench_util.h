/* SPDX-License-Identifier: MIT */
/*
 * bench_util.h: what every benchmark needs — the programs under test
 * started and stopped, a Mosquitto on a free loopback port, CPU and memory
 * of a process read from /proc, percentiles, and the machine's name. It
 * measures and prints; it judges nothing.
 */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "iotcar/loop.h"

/* Samples at or above this are the Nagle/delayed-ACK signature. */
#define BENCH_NAGLE_MS 40.0

/** CPU and memory of a process at one moment. */
struct usage {
	double cpu_s;
	long rss_kb;
	long hwm_kb;
	int64_t at_ns;
};

/** The latency samples of one phase. */
struct samples {
	double *ms;
	int n;
	int lost;
	double seconds;
};

/** A Mosquitto of our own, in a temporary folder. */
struct bench_broker {
	pid_t pid;
	int port;
	/* tcp://127.0.0.1:<port>, for --broker and Paho. */
	char uri[40];
	char dir[64];
	/* Listen on every address of the host, not loopback only. */
	bool all_addresses;
	/* More lines of mosquitto.conf, or NULL. */
	const char *extra_conf;
};

/**
 * @brief Run @p argv (a bare name is also looked for in /usr/sbin) with its
 * stdout to /dev/null; it gets SIGTERM when we die. @p fd3, if >= 0,
 * becomes its fd 3 and its stderr stays ours; otherwise stderr is muted.
 */
pid_t bench_spawn(char *const argv[], int fd3);

/**
 * The car agent's --sim-trace, read from a pipe: a line
 * "<sec>.<nsec> <left> <right>" per change of its outputs.
 */
struct bench_trace {
	int fd;
	char buf[4096];
	size_t len;
	/* Called for each line: the outputs became @p left at @p t_ns. */
	void (*output)(void *ctx, int left, int64_t t_ns);
	/* Called once if the agent closes it. */
	void (*closed)(void *ctx);
	void *ctx;
};

/**
 * @brief Run the car agent @p argv (whose --sim-trace is /dev/fd/3) with
 * its trace on a pipe that @p loop reads into @p t.
 * @return Its pid, or -1.
 */
pid_t bench_spawn_traced(struct iotcar_loop *loop, char *const argv[],
			 struct bench_trace *t);

/** @brief bench_spawn(), with stdout on @p out; stderr muted. */
pid_t bench_spawn_out(char *const argv[], int out);

/** @brief SIGTERM and wait. Accepts pid <= 0. */
void bench_reap(pid_t pid);

/** @brief A TCP port free on 127.0.0.1 just now, or -1. */
int bench_free_port(void);

/** @brief Wait up to 5 s until something listens on 127.0.0.1:@p port. */
int bench_wait_port(int port);

/** @brief Start Mosquitto (set_tcp_nodelay, no persistence) on a free port.
 * @return 0, or a negative errno with a message printed. */
int bench_broker_start(struct bench_broker *br);

/** @brief Stop it and remove its folder. */
void bench_broker_stop(struct bench_broker *br);

/** @brief CPU time of every thread of @p pid, in seconds. */
double bench_cpu_s(pid_t pid);

/** @brief Read @p pid's CPU time, RSS and peak RSS now. */
int bench_usage(pid_t pid, struct usage *u);

/** @brief Percent of one core used between @p a and @p b. */
double bench_cpu_pct(const struct usage *a, const struct usage *b);

/** @brief The @p p th percentile of @p n sorted samples. */
double bench_pct(const double *sorted, int n, double p);

/** @brief Sort @p s and print n, p50/p90/p99/max/mean, >= 40 ms, lost
 * and rate on one line headed @p name. */
void bench_report(const char *name, struct samples *s);

/** @brief Print "machine: <kernel>, <cores>, <cpu model>". */
void bench_print_machine(void);

/** @brief Raise our open-file limit to its hard limit.
 * @return The limit now. */
long bench_raise_nofile(void);

#endif
