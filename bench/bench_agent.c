// SPDX-License-Identifier: MIT
/*
 * bench_agent.c: command-to-actuation latency of the car agent, and its CPU
 * and memory, measured on the real thing — a Mosquitto on a free loopback
 * port and the car-agent binary on the simulated car. A drive command is
 * timed from just before it is published until the agent's hardware layer
 * changes its outputs, which the agent reports on its --sim-trace pipe with
 * a CLOCK_MONOTONIC timestamp (the same clock as ours).
 *
 * Phases: idle (CPU, RSS); single commands after more than a second of
 * silence (what a driver's first key press meets); a stream at 50
 * commands/s (latency, CPU, RSS); lockstep, each command sent as soon as the
 * last one took effect (latency under load, throughput); then the floor —
 * the same client publishing to a topic it subscribes to, at the same
 * rates, with no agent in the path. Every command carries its own throttle
 * value, so each output change is matched to the command that caused it
 * even when late. It prints figures; it passes or fails nothing.
 *
 * With --link it measures the car's link layer instead, across silent
 * partitions in network namespaces (bench_link.c; needs root).
 *
 *   bench-agent [--agent PATH] [--quick] [--link]
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_link.h"
#include "bench_util.h"
#include "iotcar/log.h"
#include "iotcar/loop.h"
#include "iotcar/mqtt.h"
#include "iotcar/text.h"

#define CAR "benchcar"
#define TOPIC_STATUS "iotcar/" CAR "/status"
#define TOPIC_DRIVE "iotcar/" CAR "/set/drive"
/* The floor's topic: the same client, broker and rates, no car agent. */
#define TOPIC_ECHO "iotcar-bench/echo"
/* Throttle values cycle through this many; commands this far apart could be
 * confused, so one not actuated within the cycle counts as lost. */
#define VALUES 160
#define WATCHDOG_MS 1000

enum pace {
	/* One command every period_ms. */
	PACE_STREAM,
	/* The next command as soon as the last took effect. */
	PACE_LOCKSTEP,
	/* One command after a random silence of 1 to 3 s. */
	PACE_SPACED,
};

struct phase_def {
	const char *name;
	enum pace pace;
	/* No agent: the client publishes to itself. */
	bool floor;
};

enum phase {
	PHASE_SPACED,
	PHASE_STREAM,
	PHASE_LOCKSTEP,
	PHASE_FLOOR_SPACED,
	PHASE_FLOOR_STREAM,
	PHASE_FLOOR_LOCKSTEP,
	PHASE_COUNT,
};

static const struct phase_def phases[PHASE_COUNT] = {
	[PHASE_SPACED] = {"after >1 s of silence", PACE_SPACED, false},
	[PHASE_STREAM] = {"stream at 50/s", PACE_STREAM, false},
	[PHASE_LOCKSTEP] = {"lockstep", PACE_LOCKSTEP, false},
	[PHASE_FLOOR_SPACED] = {"after >1 s of silence", PACE_SPACED, true},
	[PHASE_FLOOR_STREAM] = {"stream at 50/s", PACE_STREAM, true},
	[PHASE_FLOOR_LOCKSTEP] = {"lockstep", PACE_LOCKSTEP, true},
};

struct bench {
	struct iotcar_loop *loop;
	struct iotcar_mqtt *mqtt;
	/* Paces the commands. */
	struct iotcar_timer *timer;
	/* Gives up on a command that never takes effect. */
	struct iotcar_timer *watchdog;
	struct bench_broker broker;
	pid_t agent;
	struct bench_trace trace;

	bool started;
	int phase;
	int idle_s;
	int n[PHASE_COUNT];
	/* This phase: when each command was sent; 0 once it took effect. */
	int64_t *sent_ns;
	int sent;
	int settled;
	int64_t phase_start_ns;
	struct samples results[PHASE_COUNT];
	struct usage u_start;
	struct usage u_idle;
	struct usage u_stream_start;
	struct usage u_stream;
	int failed;
};

/* ==== Driving ==== */

static const struct phase_def *bench_def(const struct bench *b)
{
	return &phases[b->phase];
}

/* Command k's throttle: distinct from its neighbours, never 0. */
static int bench_value(int k)
{
	int v = 10 + k % (VALUES / 2);

	return k % 2 ? -v : v;
}

static void bench_send(struct bench *b)
{
	char cmd[64];
	int k = b->sent;
	int len;

	if (bench_def(b)->floor)
		len = snprintf(cmd, sizeof(cmd), "%d", k);
	else
		len = snprintf(cmd, sizeof(cmd), "drive %d 0 60000",
			       bench_value(k));
	b->sent_ns[k] = iotcar_clock_ns();
	b->sent++;
	if (bench_def(b)->pace != PACE_STREAM)
		iotcar_timer_start(b->watchdog, WATCHDOG_MS, 0);
	if (iotcar_mqtt_publish(b->mqtt,
				bench_def(b)->floor ? TOPIC_ECHO : TOPIC_DRIVE,
				cmd, (size_t)len, 0, false)) {
		fprintf(stderr, "bench: publish failed\n");
		b->failed = 1;
		iotcar_loop_stop(b->loop);
	}
}

static void bench_next_phase(struct bench *b);

/* Send the next command of a spaced or lockstep phase, or end it. */
static void bench_continue(struct bench *b)
{
	if (b->sent == b->n[b->phase]) {
		if (b->settled == b->sent)
			bench_next_phase(b);
	} else if (bench_def(b)->pace == PACE_LOCKSTEP) {
		bench_send(b);
	} else if (bench_def(b)->pace == PACE_SPACED) {
		iotcar_timer_start(b->timer, 1000 + random() % 2000, 0);
	}
}

/* Command k took effect at t_ns. */
static void bench_on_effect(struct bench *b, int k, int64_t t_ns)
{
	struct samples *s = &b->results[b->phase];

	if (k < 0 || k >= b->sent || !b->sent_ns[k])
		return;
	s->ms[s->n++] = (double)(t_ns - b->sent_ns[k]) / 1e6;
	b->sent_ns[k] = 0;
	b->settled++;
	iotcar_timer_stop(b->watchdog);
	if (bench_def(b)->pace != PACE_STREAM || b->sent == b->n[b->phase])
		bench_continue(b);
}

/* The agent's outputs became @p left at @p t_ns: which command was it? */
static void bench_on_output(struct bench *b, int left, int64_t t_ns)
{
	for (int k = b->sent - 1; k >= 0 && k >= b->sent - VALUES; k--) {
		if (bench_value(k) == left && b->sent_ns[k]) {
			bench_on_effect(b, k, t_ns);
			return;
		}
	}
}

/* The agent's outputs changed (its trace). */
static void bench_on_trace(void *ctx, int left, int64_t t_ns)
{
	struct bench *b = ctx;

	if (b->started && !bench_def(b)->floor)
		bench_on_output(b, left, t_ns);
}

static void bench_on_trace_closed(void *ctx)
{
	struct bench *b = ctx;

	fprintf(stderr, "bench: the agent closed its trace\n");
	b->failed = 1;
	iotcar_loop_stop(b->loop);
}

/* Give up on commands that had their chance: the oldest ones in flight. */
static void bench_give_up(struct bench *b, int64_t older_than_ns)
{
	struct samples *s = &b->results[b->phase];

	for (int k = 0; k < b->sent; k++) {
		if (b->sent_ns[k] && b->sent_ns[k] <= older_than_ns) {
			b->sent_ns[k] = 0;
			b->settled++;
			s->lost++;
		}
	}
}

static void bench_on_watchdog(void *ctx)
{
	struct bench *b = ctx;

	bench_give_up(b, iotcar_clock_ns());
	bench_continue(b);
}

static void bench_on_timer(void *ctx)
{
	struct bench *b = ctx;

	if (!b->started) {
		bench_usage(b->agent, &b->u_idle);
		b->started = true;
		b->phase = -1;
		bench_next_phase(b);
		return;
	}
	if (bench_def(b)->pace == PACE_SPACED) {
		bench_send(b);
		return;
	}
	/* A stream tick: the next command, or after the last one a grace
	 * period for stragglers. */
	if (b->sent < b->n[b->phase]) {
		bench_send(b);
		return;
	}
	bench_give_up(b, iotcar_clock_ns() - WATCHDOG_MS * 1000000LL);
	if (b->settled == b->sent)
		bench_next_phase(b);
}

static void bench_next_phase(struct bench *b)
{
	int64_t now = iotcar_clock_ns();
	struct samples *s;

	iotcar_timer_stop(b->timer);
	iotcar_timer_stop(b->watchdog);
	if (b->phase >= 0) {
		b->results[b->phase].seconds =
			(double)(now - b->phase_start_ns) / 1e9;
		if (b->phase == PHASE_STREAM)
			bench_usage(b->agent, &b->u_stream);
	}
	if (++b->phase == PHASE_COUNT) {
		iotcar_loop_stop(b->loop);
		return;
	}
	if (b->phase == PHASE_STREAM)
		bench_usage(b->agent, &b->u_stream_start);
	s = &b->results[b->phase];
	s->ms = calloc((size_t)b->n[b->phase], sizeof(double));
	free(b->sent_ns);
	b->sent_ns = calloc((size_t)b->n[b->phase], sizeof(int64_t));
	b->sent = 0;
	b->settled = 0;
	printf("%d commands, %s%s...\n", b->n[b->phase], bench_def(b)->name,
	       bench_def(b)->floor ? " (floor)" : "");
	fflush(stdout);
	b->phase_start_ns = now;
	switch (bench_def(b)->pace) {
	case PACE_LOCKSTEP:
		bench_send(b);
		break;
	case PACE_STREAM:
		iotcar_timer_start(b->timer, 20, 20);
		break;
	case PACE_SPACED:
		iotcar_timer_start(b->timer, 1000 + random() % 2000, 0);
		break;
	}
}

static void bench_on_message(void *ctx, const struct iotcar_mqtt_msg *msg)
{
	struct bench *b = ctx;
	long k;

	if (!b->started) {
		if (!b->u_start.at_ns && !strcmp(msg->topic, TOPIC_STATUS) &&
		    msg->payload && !strcmp(msg->payload, "online")) {
			bench_usage(b->agent, &b->u_start);
			printf("idle for %d s...\n", b->idle_s);
			fflush(stdout);
			iotcar_timer_start(b->timer, b->idle_s * 1000, 0);
		}
		return;
	}
	if (bench_def(b)->floor && !strcmp(msg->topic, TOPIC_ECHO) &&
	    msg->payload && !iotcar_parse_long(msg->payload, 0, 1 << 30, &k))
		bench_on_effect(b, (int)k, iotcar_clock_ns());
}

static void bench_on_connected(void *ctx)
{
	struct bench *b = ctx;
	struct iotcar_mqtt_sub subs[] = {{.topic = TOPIC_STATUS, .qos = 1},
					 {.topic = TOPIC_ECHO, .qos = 0}};

	iotcar_mqtt_subscribe(b->mqtt, subs, 2);
}

/* ==== Set-up ==== */

static int bench_start_agent(struct bench *b, const char *agent)
{
	char *argv[] = {(char *)(uintptr_t)agent,
			"--broker",
			b->broker.uri,
			"--id",
			CAR,
			"--sim-trace",
			"/dev/fd/3",
			"--sim-wall-cm",
			"1000000",
			"--max-ttl-ms",
			"60000",
			"--log-level",
			"warning",
			NULL};

	b->trace = (struct bench_trace){.output = bench_on_trace,
					.closed = bench_on_trace_closed,
					.ctx = b};
	b->agent = bench_spawn_traced(b->loop, argv, &b->trace);
	return b->agent < 0 ? -ECHILD : 0;
}

static void bench_print(struct bench *b)
{
	printf("\n");
	bench_print_machine();
	printf("\n-- car-agent: publish on set/drive -> hardware output "
	       "changed (simulated car)\n");
	for (int p = 0; p < PHASE_COUNT; p++) {
		if (p == PHASE_FLOOR_SPACED)
			printf("\n-- floor: the same client to itself through "
			       "the "
			       "broker, no agent\n");
		bench_report(phases[p].name, &b->results[p]);
	}
	printf("\n-- car-agent resources\n");
	printf("%-24s cpu=%.3f%% of a core  rss=%ld kB\n", "idle",
	       bench_cpu_pct(&b->u_start, &b->u_idle), b->u_idle.rss_kb);
	printf("%-24s cpu=%.3f%% of a core  rss=%ld kB  peak rss=%ld kB\n",
	       "stream at 50/s",
	       bench_cpu_pct(&b->u_stream_start, &b->u_stream),
	       b->u_stream.rss_kb, b->u_stream.hwm_kb);
}

static int bench_run(struct bench *b, const char *agent)
{
	static const struct iotcar_mqtt_handlers handlers = {
		.connected = bench_on_connected,
		.message = bench_on_message,
	};
	struct iotcar_mqtt_opts mo = {.client_id = "iotcar-bench",
				      .keepalive_s = 30};

	if (bench_broker_start(&b->broker))
		return 1;
	mo.uri = b->broker.uri;
	b->loop = iotcar_loop_new();
	if (!b->loop)
		return 1;
	b->timer = iotcar_timer_new(b->loop, bench_on_timer, b);
	b->watchdog = iotcar_timer_new(b->loop, bench_on_watchdog, b);
	b->mqtt = iotcar_mqtt_new(b->loop, &mo, &handlers, b);
	if (!b->timer || !b->watchdog || !b->mqtt ||
	    bench_start_agent(b, agent))
		return 1;
	iotcar_mqtt_start(b->mqtt);
	iotcar_loop_run(b->loop);
	if (b->failed || b->phase != PHASE_COUNT)
		return 1;
	bench_print(b);
	return 0;
}

int main(int argc, char **argv)
{
	struct bench b = {.idle_s = 10, .trace.fd = -1};
	int spaced_n = 40;
	int stream_n = 1000;
	int lockstep_n = 5000;
	const char *agent = IOTCAR_AGENT_PATH;
	bool link = false;
	int rounds = 20;
	int ret;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--agent") && i + 1 < argc) {
			agent = argv[++i];
		} else if (!strcmp(argv[i], "--quick")) {
			b.idle_s = 2;
			spaced_n = 4;
			stream_n = 200;
			lockstep_n = 1000;
			rounds = 5;
		} else if (!strcmp(argv[i], "--link")) {
			link = true;
		} else {
			fprintf(stderr, "usage: bench-agent [--agent PATH] "
					"[--quick] [--link]\n");
			return 2;
		}
	}
	iotcar_log_init("bench-agent", IOTCAR_LOG_WARNING);
	signal(SIGPIPE, SIG_IGN);
	if (link)
		return bench_link_run(agent, rounds, 2000);
	for (int p = 0; p < PHASE_COUNT; p++)
		b.n[p] = phases[p].pace == PACE_SPACED	 ? spaced_n
			 : phases[p].pace == PACE_STREAM ? stream_n
							 : lockstep_n;
	srandom((unsigned)getpid());
	iotcar_log_init("bench-agent", IOTCAR_LOG_WARNING);
	signal(SIGPIPE, SIG_IGN);
	ret = bench_run(&b, agent);
	iotcar_mqtt_free(b.mqtt);
	iotcar_timer_free(b.timer);
	iotcar_timer_free(b.watchdog);
	free(b.sent_ns);
	bench_reap(b.agent);
	bench_broker_stop(&b.broker);
	if (b.trace.fd >= 0)
		close(b.trace.fd);
	iotcar_loop_free(b.loop);
	for (int p = 0; p < PHASE_COUNT; p++)
		free(b.results[p].ms);
	if (ret)
		fprintf(stderr, "bench: failed\n");
	return ret;
}
