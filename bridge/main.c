// SPDX-License-Identifier: MIT
/*
 * main.c: car-bridge's start-up sequence and nothing else — settings, log,
 * loop and signals, token, server, run, tear down.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "iotcar/log.h"
#include "iotcar/loop.h"
#include "iotcar/service.h"
#include "iotcar/text.h"
#include "proto.h"
#include "server.h"
#include "settings.h"

static void main_on_signal(void *ctx, int signo)
{
	struct iotcar_loop *loop = ctx;

	log_info("%s: stopping", strsignal(signo));
	iotcar_loop_stop(loop);
}

/* A non-loopback listener without a token is a usage error. */
static int main_check_auth(const struct bridge_settings *s, bool has_token,
			   char *err, size_t errlen)
{
	struct settings_addr a;
	const char *listen[2 + SETTINGS_RAW_MAX];
	size_t n = 0;

	listen[n++] = s->listen;
	if (strcmp(s->udp, "off") && strcmp(s->udp, "same"))
		listen[n++] = s->udp;
	for (size_t i = 0; i < s->nraw; i++)
		listen[n++] = s->raw[i].listen;
	for (size_t i = 0; i < n && !has_token && !s->insecure; i++) {
		if (settings_parse_addr(listen[i], "listener", &a, err,
					errlen) == 0 &&
		    !a.loopback) {
			snprintf(err, errlen,
				 "%s is not a loopback address: clients must "
				 "authenticate; give --token-file, or "
				 "--insecure to let anyone in",
				 listen[i]);
			return -EINVAL;
		}
	}
	return 0;
}

static int main_run(const struct bridge_settings *s, const char *token)
{
	static const int signals[] = {SIGINT, SIGTERM};
	struct iotcar_loop *loop = iotcar_loop_new();
	struct iotcar_mqtt_opts mo;
	struct server *srv = NULL;
	struct iotcar_service *svc = NULL;
	char password[256];
	char client_id[64];
	char err[512];
	int ret = 1;

	if (!loop ||
	    iotcar_loop_watch_signals(loop, signals, 2, main_on_signal, loop)) {
		log_error("cannot set up the event loop");
		goto out;
	}
	snprintf(client_id, sizeof(client_id), "iotcar-bridge-%s", s->id);
	if (iotcar_mqtt_opts_from_settings(&s->common, client_id, &mo, password,
					   sizeof(password), err,
					   sizeof(err))) {
		log_error("%s", err);
		goto out;
	}
	srv = server_new(loop, s, token, &mo, err, sizeof(err));
	explicit_bzero(password, sizeof(password));
	if (!srv || server_start(srv, err, sizeof(err))) {
		log_error("%s", err);
		goto out;
	}
	/* Under systemd: ready, and the loop's watchdog pings. */
	svc = iotcar_service_start(loop);
	if (!svc) {
		log_error("cannot start the watchdog: %s", strerror(errno));
		goto out;
	}
	if (iotcar_loop_run(loop))
		log_error("event loop failed: %s", strerror(errno));
	else
		ret = 0;
out:
	iotcar_service_free(svc);
	server_free(srv);
	iotcar_loop_free(loop);
	return ret;
}

int main(int argc, char **argv)
{
	struct bridge_settings s = {0};
	enum iotcar_log_level level = IOTCAR_LOG_INFO;
	char token[PROTO_TOKEN_MAX + 1];
	char err[512];
	int ret;

	ret = settings_load(&s, argc, argv, err, sizeof(err));
	if (ret == 0 && s.token_file) {
		ret = iotcar_read_line(s.token_file, token, sizeof(token));
		if (ret) {
			fprintf(stderr, "car-bridge: --token-file: %s: %s\n",
				s.token_file,
				ret == -ENODATA ? "empty" : strerror(-ret));
			settings_cleanup(&s);
			return 1;
		}
	}
	if (ret == 0)
		ret = main_check_auth(&s, s.token_file != NULL, err,
				      sizeof(err));
	if (ret) {
		if (ret < 0)
			fprintf(stderr, "car-bridge: %s\n", err);
		settings_cleanup(&s);
		return ret < 0 ? 2 : 0;
	}
	iotcar_log_level_parse(s.common.log_level, &level);
	iotcar_log_init("car-bridge", level);
	signal(SIGPIPE, SIG_IGN);
	ret = main_run(&s, s.token_file ? token : NULL);
	explicit_bzero(token, sizeof(token));
	settings_cleanup(&s);
	return ret;
}
