// SPDX-License-Identifier: MIT
/*
 * cli.c: the subcommands; see cli.h. One loop and one fleet, like the TUI:
 * connect and subscribe, ask (a request for a car not heard of yet waits
 * for it, as the fleet does), print the answer, and leave. `cars` lists
 * what was heard in the fleet's settle window.
 */
#include "cli.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "iotcar/fleet.h"
#include "iotcar/log.h"
#include "iotcar/text.h"
#include "iotcar/topic.h"
#include "naps.h"

/* ==== Parsing ==== */

static const char *const cli_names[] = {
	[CLI_DRIVE] = "drive", [CLI_STOP] = "stop",	[CLI_ESTOP] = "estop",
	[CLI_SPEED] = "speed", [CLI_STATUS] = "status", [CLI_WATCH] = "watch",
	[CLI_CARS] = "cars",
};

#define CLI_NCMDS (sizeof(cli_names) / sizeof(cli_names[0]))

/* The words after the command, joined by single spaces. */
static int cli_join(int nwords, const char *const *words, char *buf,
		    size_t size)
{
	size_t n = 0;

	buf[0] = '\0';
	for (int i = 1; i < nwords; i++) {
		int w = snprintf(buf + n, size - n, "%s%s", i > 1 ? " " : "",
				 words[i]);

		if (w < 0 || (size_t)w >= size - n)
			return -ENAMETOOLONG;
		n += (size_t)w;
	}
	return 0;
}

static int cli_words(const char *cmd, int nwords, int min, int max,
		     const char *usage, char *err, size_t errlen)
{
	if (nwords - 1 >= min && nwords - 1 <= max)
		return 0;
	snprintf(err, errlen, "%s: %s; usage: %s", cmd,
		 nwords - 1 < min ? "missing argument" : "too many arguments",
		 usage);
	return -EINVAL;
}

int cli_parse(int nwords, const char *const *words, struct cli_request *req,
	      char *err, size_t errlen)
{
	char text[IOTCAR_COMMAND_MAX];
	struct iotcar_error e;
	size_t c;

	*req = (struct cli_request){0};
	for (c = 0; c < CLI_NCMDS && strcmp(words[0], cli_names[c]); c++)
		;
	if (c == CLI_NCMDS) {
		snprintf(err, errlen,
			 "unknown command '%.40s' (drive, stop, estop, speed, "
			 "status, watch, cars; see --help)",
			 words[0]);
		return -EINVAL;
	}
	req->cmd = (enum cli_cmd)c;
	switch (req->cmd) {
	case CLI_DRIVE:
		if (cli_words("drive", nwords, 1, 8, "drive forward 60 [MS]",
			      err, errlen))
			return -EINVAL;
		if (cli_join(nwords, words, text, sizeof(text)) ||
		    iotcar_drive_parse(text, strlen(text), &req->set.drive,
				       &e)) {
			snprintf(err, errlen, "drive: %s",
				 e.code ? e.message : "too long");
			return -EINVAL;
		}
		req->set.fields = IOTCAR_SET_DRIVE;
		return 0;
	case CLI_STOP:
		req->set.fields = IOTCAR_SET_DRIVE;
		return cli_words("stop", nwords, 0, 0, "stop", err, errlen);
	case CLI_ESTOP:
		if (cli_words("estop", nwords, 1, 1, "estop on|off", err,
			      errlen))
			return -EINVAL;
		if (iotcar_estop_parse(words[1], strlen(words[1]),
				       &req->set.estop, NULL, &e)) {
			snprintf(err, errlen, "estop: '%.20s' is not on or off",
				 words[1]);
			return -EINVAL;
		}
		req->set.fields = IOTCAR_SET_ESTOP;
		return 0;
	case CLI_SPEED:
		if (cli_words("speed", nwords, 1, 1, "speed 0-100", err,
			      errlen))
			return -EINVAL;
		if (iotcar_speed_limit_parse(words[1], strlen(words[1]),
					     &req->set.speed_limit, &e)) {
			snprintf(err, errlen,
				 "speed: '%.20s' is not a number 0..100",
				 words[1]);
			return -EINVAL;
		}
		req->set.fields = IOTCAR_SET_SPEED_LIMIT;
		return 0;
	case CLI_WATCH:
		if (cli_words("watch", nwords, 0, 1, "watch [all]", err,
			      errlen))
			return -EINVAL;
		if (nwords == 2 && strcmp(words[1], IOTCAR_ALL_CARS)) {
			snprintf(err, errlen,
				 "watch: '%.40s': only `all` may follow "
				 "(--car picks one car)",
				 words[1]);
			return -EINVAL;
		}
		req->all_cars = nwords == 2;
		return 0;
	case CLI_STATUS:
	case CLI_CARS:
		return cli_words(cli_names[c], nwords, 0, 0, cli_names[c], err,
				 errlen);
	}
	return -EINVAL;
}

void cli_session_id(char *buf, size_t size)
{
	uint32_t r;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
		r = (uint32_t)getpid() ^ (uint32_t)iotcar_clock_ns();
	snprintf(buf, size, "pc-%08x", r);
}

/* ==== Running ==== */

struct cli {
	const struct console_settings *s;
	const struct cli_request *req;
	struct iotcar_loop *loop;
	struct iotcar_fleet *fleet;
	struct iotcar_timer *deadline;
	bool subscribed;
	/* status: the car was not heard of yet when subscribed. */
	bool awaiting_car;
	bool asked;
	/* Answered: what else the same wake-up brings is not printed. */
	bool done;
	bool watching_stdout;
	int exit;
};

static void cli_finish(struct cli *c, int exit_status)
{
	if (c->done)
		return;
	c->done = true;
	c->exit = exit_status;
	iotcar_loop_stop(c->loop);
}

/* Print a cJSON object on one line and free it. */
static void cli_print_json(cJSON *o)
{
	char *s = cJSON_PrintUnformatted(o);

	if (s)
		printf("%s\n", s);
	free(s);
	cJSON_Delete(o);
}

/* A failure: JSON on stdout with --json, a sentence on stderr otherwise. */
static void cli_fail(struct cli *c, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void cli_fail(struct cli *c, const char *code, const char *fmt, ...)
{
	char msg[300];
	va_list ap;
	cJSON *o;

	if (c->done)
		return;
	va_start(ap, fmt);
	iotcar_vformat_text(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c->s->json) {
		o = cJSON_CreateObject();
		cJSON_AddBoolToObject(o, "ok", false);
		cJSON_AddStringToObject(o, "car", c->s->car);
		cJSON_AddStringToObject(o, "cmd", cli_names[c->req->cmd]);
		cJSON_AddStringToObject(o, "error", code);
		cJSON_AddStringToObject(o, "message", msg);
		cli_print_json(o);
	} else {
		fprintf(stderr, "pc-console: %s\n", msg);
	}
	cli_finish(c, 1);
}

static const char *cli_outcome_code(const struct iotcar_fleet_answer *a)
{
	switch (a->outcome) {
	case IOTCAR_FLEET_REFUSED:
		return a->error ? a->error : "refused";
	case IOTCAR_FLEET_TIMEOUT:
		return "timeout";
	case IOTCAR_FLEET_OFFLINE:
		return "offline";
	case IOTCAR_FLEET_NO_BROKER:
		return "no-broker";
	default:
		return "failed";
	}
}

static void cli_on_answer(void *ctx, const void *waiter,
			  const struct iotcar_fleet_answer *a)
{
	struct cli *c = ctx;
	cJSON *o;

	(void)waiter;
	if (c->done)
		return;
	if (a->outcome != IOTCAR_FLEET_OK) {
		if (a->outcome == IOTCAR_FLEET_REFUSED && c->s->json)
			cli_fail(c, cli_outcome_code(a), "%s", a->text);
		else if (a->error && !strcmp(a->error, "estop") && a->release)
			cli_fail(c, "estop",
				 "%s refused the release: a newer latch holds; "
				 "`pc-console estop off` again releases it",
				 a->car);
		else if (a->error && !strcmp(a->error, "estop"))
			/* The car's words name an MQTT topic; ours, the
			 * command. */
			cli_fail(c, "estop",
				 "%s refused: the e-stop is latched; "
				 "`pc-console estop off` releases it",
				 a->car);
		else if (a->outcome == IOTCAR_FLEET_REFUSED)
			cli_fail(c, cli_outcome_code(a), "%s refused: %s: %s",
				 a->car, cli_outcome_code(a), a->text);
		else
			cli_fail(c, cli_outcome_code(a), "%s", a->text);
		return;
	}
	if (c->s->json) {
		o = cJSON_CreateObject();
		cJSON_AddBoolToObject(o, "ok", true);
		cJSON_AddStringToObject(o, "car", a->car);
		cJSON_AddStringToObject(o, "cmd", cli_names[c->req->cmd]);
		cJSON_AddNumberToObject(o, "rtt_ms",
					(double)a->rtt_us / 1000.0);
		cli_print_json(o);
	} else {
		printf("%s: %s confirmed (%.2f ms)\n", a->car,
		       cli_names[c->req->cmd], (double)a->rtt_us / 1000.0);
	}
	cli_finish(c, 0);
}

/* watch: write a line now; a reader that went away ends the watch. */
static void cli_flush(struct cli *c)
{
	if (fflush(stdout) == EOF)
		cli_finish(c, errno == EPIPE ? 0 : 1);
}

static void cli_watch_line(struct cli *c, const char *car, const char *kind,
			   const char *payload, bool is_json)
{
	struct timeval tv;
	struct tm tm;
	cJSON *o;

	if (c->done || (!c->req->all_cars && strcmp(car, c->s->car)))
		return;
	gettimeofday(&tv, NULL);
	if (c->s->json) {
		o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "time_ms",
					(double)tv.tv_sec * 1000.0 +
						(double)(tv.tv_usec / 1000));
		cJSON_AddStringToObject(o, "car", car);
		cJSON_AddStringToObject(o, "kind", kind);
		if (is_json)
			cJSON_AddRawToObject(o, "data", payload);
		else
			cJSON_AddStringToObject(o, "data", payload);
		cli_print_json(o);
	} else {
		localtime_r(&tv.tv_sec, &tm);
		printf("%02d:%02d:%02d.%03ld %s %s %s\n", tm.tm_hour, tm.tm_min,
		       tm.tm_sec, (long)(tv.tv_usec / 1000), car, kind,
		       payload);
	}
	cli_flush(c);
}

static void cli_print_state(struct cli *c, const char *json)
{
	if (c->done)
		return;
	printf("%s\n", json);
	cli_finish(c, 0);
}

static void cli_on_state(void *ctx, const char *car, const char *json)
{
	struct cli *c = ctx;

	if (c->req->cmd == CLI_WATCH)
		cli_watch_line(c, car, "state", json, true);
	else if (c->req->cmd == CLI_STATUS && c->asked &&
		 !strcmp(car, c->s->car))
		cli_print_state(c, json);
}

static void cli_on_event(void *ctx, const char *car, const char *json)
{
	struct cli *c = ctx;

	if (c->req->cmd == CLI_WATCH)
		cli_watch_line(c, car, "event", json, true);
}

static void cli_status(struct cli *c);

static void cli_on_status(void *ctx, const char *car, bool online,
			  const char *why)
{
	struct cli *c = ctx;

	if (c->awaiting_car && !strcmp(car, c->s->car)) {
		c->awaiting_car = false;
		cli_status(c);
	} else if (c->req->cmd == CLI_WATCH)
		cli_watch_line(c, car, "status", online ? "online" : "offline",
			       false);
	else if (c->req->cmd == CLI_STATUS && c->asked && !online &&
		 !strcmp(car, c->s->car))
		cli_fail(c, "offline", "%s went offline (%s)", car, why);
}

static void cli_cars(struct cli *c)
{
	size_t max = iotcar_fleet_cars(c->fleet, false, NULL, 0);
	const char **ids = calloc(max + 1, sizeof(*ids));
	size_t n = ids ? iotcar_fleet_cars(c->fleet, false, ids, max) : 0;
	cJSON *a = cJSON_CreateArray();

	if (!ids || !a) {
		free(ids);
		cJSON_Delete(a);
		cli_fail(c, "failed", "out of memory");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		bool on = iotcar_fleet_car_status(c->fleet, ids[i], NULL) == 1;
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "car", ids[i]);
		cJSON_AddStringToObject(o, "status", on ? "online" : "offline");
		cJSON_AddItemToArray(a, o);
		if (!c->s->json)
			printf("%-32s %s\n", ids[i], on ? "online" : "offline");
	}
	if (c->s->json)
		cli_print_json(a);
	else
		cJSON_Delete(a);
	free(ids);
	cli_finish(c, 0);
}

/* status: the retained state is the car's current one; a car online with
 * none yet has been asked for it, or will be when it is heard (fleet.h). */
static void cli_status(struct cli *c)
{
	const char *why;
	int status = iotcar_fleet_car_status(c->fleet, c->s->car, &why);
	const char *state = iotcar_fleet_state(c->fleet, c->s->car);

	if (status < 0 && !iotcar_fleet_is_settled(c->fleet)) {
		/* Not heard of yet: its status or a ping may still come. */
		c->awaiting_car = true;
	} else if (status < 0) {
		cli_fail(c, "offline",
			 "%s is unknown: no car of that id on the broker (see "
			 "`pc-console cars`)",
			 c->s->car);
	} else if (status == 0) {
		cli_fail(c, "offline", "%s is offline (%s)", c->s->car, why);
	} else if (state) {
		cli_print_state(c, state);
	} else {
		c->asked = true;
		iotcar_timer_start(c->deadline, c->s->timeout_ms, 0);
	}
}

static void cli_on_subscribed(void *ctx)
{
	struct cli *c = ctx;

	if (c->subscribed)
		return;
	c->subscribed = true;
	iotcar_timer_stop(c->deadline);
	switch (c->req->cmd) {
	case CLI_CARS:
		/* Every live car pings within the settle window. */
		break;
	case CLI_STATUS:
		cli_status(c);
		break;
	case CLI_WATCH:
		break;
	default:
		iotcar_fleet_request(c->fleet, c->s->car, &c->req->set, NULL,
				     0);
		break;
	}
}

static void cli_on_settled(void *ctx)
{
	struct cli *c = ctx;

	if (c->req->cmd == CLI_CARS) {
		cli_cars(c);
	} else if (c->awaiting_car) {
		c->awaiting_car = false;
		cli_status(c);
	}
}

static void cli_on_deadline(void *ctx)
{
	struct cli *c = ctx;

	if (!c->subscribed)
		cli_fail(c, "no-broker",
			 "cannot reach the MQTT broker at %s within %d ms",
			 c->s->common.broker, c->s->timeout_ms);
	else
		cli_fail(c, "timeout", "no state from %s within %d ms",
			 c->s->car, c->s->timeout_ms);
}

/* watch: stdout is a pipe whose reader left (`| head -n 1`). */
static void cli_on_stdout(void *ctx, int fd, uint32_t events)
{
	struct cli *c = ctx;

	(void)fd;
	if (events & (EPOLLERR | EPOLLHUP))
		cli_finish(c, 0);
}

static void cli_on_signal(void *ctx, int signo)
{
	struct cli *c = ctx;

	if (c->req->cmd == CLI_WATCH)
		cli_finish(c, 0);
	else
		cli_fail(c, "interrupted", "%s", strsignal(signo));
}

int cli_run(const struct console_settings *s, const struct cli_request *req)
{
	static const int signals[] = {SIGINT, SIGTERM};
	static const struct iotcar_fleet_handlers fh = {
		.answer = cli_on_answer,
		.status = cli_on_status,
		.state = cli_on_state,
		.event = cli_on_event,
		.subscribed = cli_on_subscribed,
		.settled = cli_on_settled,
	};
	struct cli c = {.s = s, .req = req, .exit = 1};
	struct iotcar_fleet_config fc = {
		.prefix = s->common.prefix,
		.timeout_ms = s->timeout_ms,
	};
	struct iotcar_mqtt_opts mo;
	char session[32];
	char password[256];
	char err[512];

	cli_session_id(session, sizeof(session));
	fc.id_prefix = session;
	c.loop = iotcar_loop_new();
	if (!c.loop ||
	    iotcar_loop_watch_signals(c.loop, signals, 2, cli_on_signal, &c)) {
		log_error("cannot set up the event loop");
		goto out;
	}
	if (iotcar_mqtt_opts_from_settings(&s->common, session, &mo, password,
					   sizeof(password), err,
					   sizeof(err))) {
		fprintf(stderr, "pc-console: %s\n", err);
		c.exit = 2;
		goto out;
	}
	/* A command's time is the script's: no 100 ms in Paho's destroy, nor
	 * in its naps at connect. Not for watch, which outlives its connect
	 * and would nap a thousand times a second while the broker is away. */
	mo.exit_after_free = true;
	naps_short(req->cmd != CLI_WATCH);
	c.deadline = iotcar_timer_new(c.loop, cli_on_deadline, &c);
	c.fleet =
		c.deadline ? iotcar_fleet_new(c.loop, &fc, &mo, &fh, &c) : NULL;
	explicit_bzero(password, sizeof(password));
	if (!c.fleet || iotcar_fleet_start(c.fleet) ||
	    iotcar_timer_start(c.deadline, s->timeout_ms, 0)) {
		log_error("cannot start the MQTT client");
		goto out;
	}
	/* A reader that leaves is noticed at once, not at the next line;
	 * a regular file cannot be watched, and needs not be. */
	if (req->cmd == CLI_WATCH &&
	    iotcar_loop_add_fd(c.loop, STDOUT_FILENO, 0, cli_on_stdout, &c) ==
		    0)
		c.watching_stdout = true;
	if (iotcar_loop_run(c.loop))
		log_error("event loop failed: %s", strerror(errno));
out:
	if (c.watching_stdout)
		iotcar_loop_del_fd(c.loop, STDOUT_FILENO);
	iotcar_fleet_free(c.fleet);
	iotcar_timer_free(c.deadline);
	iotcar_loop_free(c.loop);
	if (fflush(stdout) == EOF && errno != EPIPE && c.exit == 0)
		c.exit = 1;
	return c.exit;
}
