// SPDX-License-Identifier: MIT
/*
 * proto.c: the bridge's text protocol; see proto.h. Drive texts go through
 * the same parser as the car's set/drive topic (payload.c), so the bridge
 * accepts exactly what the car does.
 */
#include "proto.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "iotcar/text.h"

static const char *const err_names[PROTO_ERR_COUNT] = {
	[PROTO_ERR_NONE] = "none",
	[PROTO_ERR_UNKNOWN_COMMAND] = "unknown-command",
	[PROTO_ERR_BAD_ARGUMENT] = "bad-argument",
	[PROTO_ERR_OFFLINE] = "offline",
	[PROTO_ERR_TIMEOUT] = "timeout",
	[PROTO_ERR_ESTOP] = "estop",
	[PROTO_ERR_BLOCKED] = "blocked",
	[PROTO_ERR_TOO_LONG] = "too-long",
	[PROTO_ERR_RATE_LIMITED] = "rate-limited",
	[PROTO_ERR_AUTH_REQUIRED] = "auth-required",
	[PROTO_ERR_BUSY] = "busy",
};

/* Command words; the drive verbs are handled by the car's parser. */
static const struct {
	const char *word;
	enum proto_cmd cmd;
	/* Its argument: none, an integer 0..100, a car id, a token. */
	enum {
		ARG_NONE,
		ARG_PCT,
		ARG_CAR,
		ARG_TOKEN
	} arg;
} proto_words[] = {
	{"speed", PROTO_SPEED, ARG_PCT},
	{"estop", PROTO_ESTOP, ARG_NONE},
	{"release", PROTO_RELEASE, ARG_NONE},
	{"status", PROTO_STATUS, ARG_NONE},
	{"watch", PROTO_WATCH, ARG_NONE},
	{"unwatch", PROTO_UNWATCH, ARG_NONE},
	{"cars", PROTO_CARS, ARG_NONE},
	{"use", PROTO_USE, ARG_CAR},
	{"ping", PROTO_PING, ARG_NONE},
	{"help", PROTO_HELP, ARG_NONE},
	{"quit", PROTO_QUIT, ARG_NONE},
	{"auth", PROTO_AUTH, ARG_TOKEN},
};

static const char *const drive_words[] = {"forward", "backward", "left",
					  "right",   "drive",	 "stop"};

/* w/a/s/d/x: the game keys, with the arguments of the word they stand for. */
static const struct {
	char key;
	const char *word;
} drive_keys[] = {
	{'w', "forward"}, {'a', "left"}, {'s', "backward"},
	{'d', "right"},	  {'x', "stop"},
};

static const char *const cmd_names[PROTO_CMD_COUNT] = {
	[PROTO_DRIVE] = "drive",     [PROTO_SPEED] = "speed",
	[PROTO_ESTOP] = "estop",     [PROTO_RELEASE] = "release",
	[PROTO_STATUS] = "status",   [PROTO_WATCH] = "watch",
	[PROTO_UNWATCH] = "unwatch", [PROTO_CARS] = "cars",
	[PROTO_USE] = "use",	     [PROTO_PING] = "ping",
	[PROTO_HELP] = "help",	     [PROTO_QUIT] = "quit",
	[PROTO_AUTH] = "auth",
};

const char *proto_err_name(enum proto_err code)
{
	return (unsigned)code < PROTO_ERR_COUNT ? err_names[code] : "none";
}

const char *proto_cmd_name(enum proto_cmd cmd)
{
	return (unsigned)cmd < PROTO_CMD_COUNT ? cmd_names[cmd] : "?";
}

static int proto_fail(struct proto_error *err, enum proto_err code,
		      const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int proto_fail(struct proto_error *err, enum proto_err code,
		      const char *fmt, ...)
{
	va_list ap;

	err->code = code;
	va_start(ap, fmt);
	iotcar_vformat_text(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static enum proto_err proto_from_car_code(enum iotcar_err code)
{
	switch (code) {
	case IOTCAR_ERR_UNKNOWN_COMMAND:
		return PROTO_ERR_UNKNOWN_COMMAND;
	case IOTCAR_ERR_TOO_LONG:
		return PROTO_ERR_TOO_LONG;
	case IOTCAR_ERR_ESTOP:
		return PROTO_ERR_ESTOP;
	case IOTCAR_ERR_BLOCKED:
		return PROTO_ERR_BLOCKED;
	default:
		return PROTO_ERR_BAD_ARGUMENT;
	}
}

enum proto_err proto_err_from_car(const char *car_error)
{
	for (int e = 1; e < IOTCAR_ERR_COUNT; e++) {
		if (car_error && !strcmp(car_error, iotcar_err_name(e)))
			return proto_from_car_code((enum iotcar_err)e);
	}
	return PROTO_ERR_BAD_ARGUMENT;
}

/* ==== Text ==== */

static bool proto_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The first word of s (len bytes) and where the rest starts. */
static size_t proto_first_word(const char *s, size_t len, size_t *rest)
{
	size_t n = 0;

	while (n < len && !proto_blank(s[n]))
		n++;
	*rest = n;
	while (*rest < len && proto_blank(s[*rest]))
		(*rest)++;
	return n;
}

static bool proto_word_is(const char *w, size_t n, const char *word)
{
	return strlen(word) == n && strncasecmp(w, word, n) == 0;
}

/* A drive verb or key: reuse the car's parser on "<verb> <rest>". */
static int proto_parse_drive(const char *verb, const char *rest, size_t restlen,
			     struct proto_request *req, struct proto_error *err)
{
	struct iotcar_error e = {0};
	char text[160];
	int n = snprintf(text, sizeof(text), "%s %.*s", verb, (int)restlen,
			 rest);

	if (n < 0 || (size_t)n >= sizeof(text))
		return proto_fail(err, PROTO_ERR_BAD_ARGUMENT,
				  "drive command too long");
	if (iotcar_drive_parse(text, (size_t)n, &req->drive, &e))
		return proto_fail(err, proto_from_car_code(e.code), "%s",
				  e.message);
	req->cmd = PROTO_DRIVE;
	return 0;
}

static int proto_parse_arg(int arg, const char *rest, size_t restlen,
			   struct proto_request *req, struct proto_error *err)
{
	char buf[PROTO_TOKEN_MAX + 1];
	long v;

	if (arg == ARG_NONE) {
		if (restlen)
			return proto_fail(err, PROTO_ERR_BAD_ARGUMENT,
					  "%s takes no argument",
					  cmd_names[req->cmd]);
		return 0;
	}
	if (restlen == 0 || restlen > PROTO_TOKEN_MAX ||
	    memchr(rest, ' ', restlen) || memchr(rest, '\t', restlen))
		return proto_fail(err, PROTO_ERR_BAD_ARGUMENT,
				  arg == ARG_PCT   ? "usage: speed <0-100>"
				  : arg == ARG_CAR ? "usage: use <car>"
						   : "usage: auth <token>");
	memcpy(buf, rest, restlen);
	buf[restlen] = '\0';
	if (arg == ARG_PCT) {
		if (iotcar_parse_long(buf, 0, 100, &v))
			return proto_fail(err, PROTO_ERR_BAD_ARGUMENT,
					  "speed must be an integer 0..100, "
					  "got '%.*s'",
					  iotcar_utf8_prefix(buf, restlen, 24),
					  buf);
		req->speed = (int)v;
	} else if (arg == ARG_CAR) {
		if (!iotcar_topic_is_valid_id(buf))
			return proto_fail(err, PROTO_ERR_BAD_ARGUMENT,
					  "'%.*s' is not a car id",
					  iotcar_utf8_prefix(buf, restlen, 40),
					  buf);
		iotcar_strlcpy(req->car, buf, sizeof(req->car));
	} else {
		iotcar_strlcpy(req->token, buf, sizeof(req->token));
	}
	return 0;
}

static int proto_parse_text(const char *s, size_t len,
			    struct proto_request *req, struct proto_error *err)
{
	size_t rest;
	size_t n = proto_first_word(s, len, &rest);

	for (size_t i = 0; i < sizeof(drive_words) / sizeof(drive_words[0]);
	     i++) {
		if (proto_word_is(s, n, drive_words[i]))
			return proto_parse_drive(drive_words[i], s + rest,
						 len - rest, req, err);
	}
	for (size_t i = 0;
	     n == 1 && i < sizeof(drive_keys) / sizeof(drive_keys[0]); i++) {
		if ((s[0] | 0x20) == drive_keys[i].key)
			return proto_parse_drive(drive_keys[i].word, s + rest,
						 len - rest, req, err);
	}
	for (size_t i = 0; i < sizeof(proto_words) / sizeof(proto_words[0]);
	     i++) {
		if (proto_word_is(s, n, proto_words[i].word)) {
			req->cmd = proto_words[i].cmd;
			return proto_parse_arg(proto_words[i].arg, s + rest,
					       len - rest, req, err);
		}
	}
	return proto_fail(err, PROTO_ERR_UNKNOWN_COMMAND,
			  "unknown command '%.*s' (try help)",
			  iotcar_utf8_prefix(s, n, 24), s);
}

/* ==== JSON ==== */

static int proto_json_int(const cJSON *o, const char *key, long min, long max,
			  int *out, struct proto_error *err)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(o, key);
	double v;

	if (!item)
		return 1;
	v = item->valuedouble;
	if (!cJSON_IsNumber(item) || !isfinite(v) || v != floor(v) ||
	    v < (double)min || v > (double)max)
		return proto_fail(err, PROTO_ERR_BAD_ARGUMENT,
				  "%s must be an integer %ld..%ld", key, min,
				  max);
	*out = (int)v;
	return 0;
}

static const char *proto_json_str(const cJSON *o, const char *key)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(item) ? item->valuestring : NULL;
}

/* Every member must be one the command knows, and given once (as the
 * car's own parser wants). */
static int proto_json_fields(const cJSON *o, const char *allowed,
			     struct proto_error *err)
{
	const cJSON *item;

	cJSON_ArrayForEach(item, o)
	{
		char key[40];

		snprintf(key, sizeof(key), " %.30s ", item->string);
		if (strpbrk(item->string, " \t") || !strstr(allowed, key))
			return proto_fail(
				err, PROTO_ERR_BAD_ARGUMENT,
				"unknown field '%.*s'",
				iotcar_utf8_prefix(item->string, SIZE_MAX, 30),
				item->string);
		for (const cJSON *prev = o->child; prev != item;
		     prev = prev->next) {
			if (!strcmp(prev->string, item->string))
				return proto_fail(err, PROTO_ERR_BAD_ARGUMENT,
						  "field '%s' given twice",
						  item->string);
		}
	}
	return 0;
}

static int proto_json_drive(const cJSON *o, const char *cmd,
			    struct proto_request *req, struct proto_error *err)
{
	int throttle = 0;
	int steer = 0;
	int speed = IOTCAR_DRIVE_DEFAULT_SPEED;
	int ms = 0;

	if (strcmp(cmd, "drive") == 0) {
		if (proto_json_fields(o, " cmd id throttle steer ttl_ms ",
				      err) ||
		    proto_json_int(o, "throttle", -100, 100, &throttle, err) <
			    0 ||
		    proto_json_int(o, "steer", -100, 100, &steer, err) < 0 ||
		    proto_json_int(o, "ttl_ms", 1, IOTCAR_DRIVE_MS_MAX, &ms,
				   err) < 0)
			return -EINVAL;
	} else if (strcmp(cmd, "stop") == 0) {
		if (proto_json_fields(o, " cmd id ", err))
			return -EINVAL;
	} else {
		if (proto_json_fields(o, " cmd id speed ttl_ms ", err) ||
		    proto_json_int(o, "speed", 0, 100, &speed, err) < 0 ||
		    proto_json_int(o, "ttl_ms", 1, IOTCAR_DRIVE_MS_MAX, &ms,
				   err) < 0)
			return -EINVAL;
		if (!strcmp(cmd, "forward"))
			throttle = speed;
		else if (!strcmp(cmd, "backward"))
			throttle = -speed;
		else
			steer = !strcmp(cmd, "left") ? -speed : speed;
	}
	req->cmd = PROTO_DRIVE;
	req->drive = (struct iotcar_drive){.throttle = throttle,
					   .steer = steer,
					   .ttl_ms = ms,
					   .turn = !strcmp(cmd, "left") ||
						   !strcmp(cmd, "right")};
	return 0;
}

static int proto_json_other(const cJSON *o, const char *cmd,
			    struct proto_request *req, struct proto_error *err)
{
	const char *s;
	int i;

	for (i = 0; i < PROTO_CMD_COUNT; i++) {
		if (!strcmp(cmd, cmd_names[i]) && i != PROTO_DRIVE)
			break;
	}
	if (i == PROTO_CMD_COUNT)
		return proto_fail(err, PROTO_ERR_UNKNOWN_COMMAND,
				  "unknown command '%.*s'",
				  iotcar_utf8_prefix(cmd, SIZE_MAX, 24), cmd);
	req->cmd = (enum proto_cmd)i;
	switch (req->cmd) {
	case PROTO_SPEED:
		if (proto_json_fields(o, " cmd id value ", err))
			return -EINVAL;
		if (proto_json_int(o, "value", 0, 100, &req->speed, err))
			return err->code
				       ? -EINVAL
				       : proto_fail(err, PROTO_ERR_BAD_ARGUMENT,
						    "speed needs a value");
		return 0;
	case PROTO_USE:
	case PROTO_AUTH:
		if (proto_json_fields(o,
				      req->cmd == PROTO_USE ? " cmd id car "
							    : " cmd id token ",
				      err))
			return -EINVAL;
		s = proto_json_str(o, req->cmd == PROTO_USE ? "car" : "token");
		return proto_parse_arg(req->cmd == PROTO_USE ? ARG_CAR
							     : ARG_TOKEN,
				       s ? s : "", s ? strlen(s) : 0, req, err);
	default:
		return proto_json_fields(o, " cmd id ", err);
	}
}

static int proto_parse_json(const char *s, size_t len,
			    struct proto_request *req, struct proto_error *err)
{
	cJSON *o = cJSON_ParseWithLength(s, len);
	const cJSON *id;
	const char *cmd;
	int ret;

	req->json = true;
	if (!cJSON_IsObject(o)) {
		cJSON_Delete(o);
		return proto_fail(err, PROTO_ERR_BAD_ARGUMENT,
				  "malformed JSON request");
	}

	id = cJSON_GetObjectItemCaseSensitive(o, "id");
	if (cJSON_IsString(id) &&
	    strlen(id->valuestring) <= IOTCAR_CMD_ID_MAX &&
	    id->valuestring[0]) {
		req->id.present = true;
		iotcar_strlcpy(req->id.text, id->valuestring,
			       sizeof(req->id.text));
	} else if (cJSON_IsNumber(id) && isfinite(id->valuedouble) &&
		   id->valuedouble == floor(id->valuedouble) &&
		   fabs(id->valuedouble) <= 9007199254740992.0) {
		req->id.present = req->id.is_number = true;
		snprintf(req->id.text, sizeof(req->id.text), "%.0f",
			 id->valuedouble);
	}
	cmd = proto_json_str(o, "cmd");
	if (iotcar_json_has_nul_escape(s, len))
		ret = proto_fail(err, PROTO_ERR_BAD_ARGUMENT,
				 "a string holds \\u0000, which would cut it "
				 "short");
	else if (!cmd)
		ret = proto_fail(err, PROTO_ERR_BAD_ARGUMENT,
				 "a JSON request needs \"cmd\"");
	else if (id && !req->id.present)
		ret = proto_fail(err, PROTO_ERR_BAD_ARGUMENT,
				 "id must be a string of 1..%d bytes or an "
				 "integer",
				 IOTCAR_CMD_ID_MAX);
	else if (!strcmp(cmd, "drive") || !strcmp(cmd, "forward") ||
		 !strcmp(cmd, "backward") || !strcmp(cmd, "left") ||
		 !strcmp(cmd, "right") || !strcmp(cmd, "stop"))
		ret = proto_json_drive(o, cmd, req, err);
	else
		ret = proto_json_other(o, cmd, req, err);
	cJSON_Delete(o);
	return ret;
}

int proto_parse(const char *msg, size_t len, struct proto_request *req,
		struct proto_error *err)
{
	memset(req, 0, sizeof(*req));
	memset(err, 0, sizeof(*err));
	/* No command until one is recognised: replies then name none. */
	req->cmd = PROTO_CMD_COUNT;
	while (len && proto_blank(*msg)) {
		msg++;
		len--;
	}
	while (len && proto_blank(msg[len - 1]))
		len--;
	req->json = len && msg[0] == '{';
	if (!iotcar_text_is_valid(msg, len))
		return proto_fail(err, PROTO_ERR_BAD_ARGUMENT,
				  "not UTF-8 text (binary or control bytes)");
	if (len == 0)
		return proto_fail(err, PROTO_ERR_UNKNOWN_COMMAND,
				  "empty message");
	if (req->json)
		return proto_parse_json(msg, len, req, err);
	return proto_parse_text(msg, len, req, err);
}

bool proto_is_incomplete(const char *msg, size_t len)
{
	size_t i;

	if (len == 0 || memchr(msg, ' ', len) || memchr(msg, '\t', len))
		return false;
	for (i = 0; i < sizeof(drive_words) / sizeof(drive_words[0]); i++) {
		if (proto_word_is(msg, len, drive_words[i]))
			return false;
	}
	for (i = 0; i < sizeof(proto_words) / sizeof(proto_words[0]); i++) {
		if (proto_word_is(msg, len, proto_words[i].word))
			return false;
	}
	if (len == 1) {
		for (i = 0; i < sizeof(drive_keys) / sizeof(drive_keys[0]); i++)
			if ((msg[0] | 0x20) == drive_keys[i].key)
				return false;
	}
	for (i = 0; i < sizeof(drive_words) / sizeof(drive_words[0]); i++) {
		if (strlen(drive_words[i]) > len &&
		    !strncasecmp(msg, drive_words[i], len))
			return true;
	}
	for (i = 0; i < sizeof(proto_words) / sizeof(proto_words[0]); i++) {
		if (strlen(proto_words[i].word) > len &&
		    !strncasecmp(msg, proto_words[i].word, len))
			return true;
	}
	return false;
}

/* ==== Replies ==== */

void proto_drive_words(const struct iotcar_drive *d, char *buf, size_t size)
{
	int n;

	if (!d->throttle && !d->steer)
		n = snprintf(buf, size, "stop");
	else if (!d->steer)
		n = snprintf(buf, size, "%s %d",
			     d->throttle > 0 ? "forward" : "backward",
			     d->throttle > 0 ? d->throttle : -d->throttle);
	else if (d->turn)
		n = snprintf(buf, size, "%s %d",
			     d->steer < 0 ? "left" : "right",
			     d->steer < 0 ? -d->steer : d->steer);
	else
		n = snprintf(buf, size, "drive %d %d", d->throttle, d->steer);
	if (n > 0 && (size_t)n < size && d->ttl_ms && (d->throttle || d->steer))
		snprintf(buf + n, size - (size_t)n, " %dms", d->ttl_ms);
}

/*
 * End the line: cut it to the limit, keeping UTF-8 whole, make control
 * bytes echoed from a request or a foreign payload spaces, and add '\n'.
 */
static size_t proto_end_line(char *buf, size_t size, int n)
{
	size_t len = n < 0 ? 0 : (size_t)n;
	size_t cap = size < PROTO_REPLY_MAX ? size : PROTO_REPLY_MAX;

	len = (size_t)iotcar_utf8_prefix(buf, len, cap - 1);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)buf[i] < 0x20)
			buf[i] = ' ';
	buf[len++] = '\n';
	return len;
}

static size_t proto_format_text(const struct proto_reply *rep, char *buf,
				size_t size)
{
	int n;

	if (rep->code != PROTO_ERR_NONE)
		return proto_end_line(buf, size,
				      snprintf(buf, size, "ERR %s %s",
					       err_names[rep->code],
					       rep->text ? rep->text : ""));
	if (rep->raw_json)
		return proto_end_line(
			buf, size, snprintf(buf, size, "OK %s", rep->raw_json));
	if (rep->list) {
		n = snprintf(buf, size, "OK");
		for (size_t i = 0; i < rep->nlist && n > 0 && (size_t)n < size;
		     i++)
			n += snprintf(buf + n, size - (size_t)n, " %s",
				      rep->list[i]);
		if (rep->nlist == 0)
			n = snprintf(buf, size, "OK none");
		return proto_end_line(buf, size, n);
	}
	return proto_end_line(
		buf, size,
		snprintf(buf, size, rep->text ? "OK %s" : "OK", rep->text));
}

static size_t proto_format_json(const struct proto_request *req,
				const struct proto_reply *rep, char *buf,
				size_t size)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *raw = NULL;
	int n = 0;

	cJSON_AddBoolToObject(o, "ok", rep->code == PROTO_ERR_NONE);
	if (req && req->cmd < PROTO_CMD_COUNT)
		cJSON_AddStringToObject(o, "cmd", cmd_names[req->cmd]);
	if (req && req->id.present) {
		if (req->id.is_number)
			cJSON_AddRawToObject(o, "id", req->id.text);
		else
			cJSON_AddStringToObject(o, "id", req->id.text);
	}
	if (rep->code != PROTO_ERR_NONE) {
		cJSON_AddStringToObject(o, "error", err_names[rep->code]);
		cJSON_AddStringToObject(o, "message",
					rep->text ? rep->text : "");
	} else if (rep->raw_json) {
		/* Cached JSON was checked when it arrived; parse to nest it. */
		raw = cJSON_Parse(rep->raw_json);
		if (raw)
			cJSON_AddItemToObject(o, rep->raw_key, raw);
	} else if (rep->list) {
		cJSON *arr = cJSON_AddArrayToObject(o, rep->raw_key);

		for (size_t i = 0; arr && i < rep->nlist; i++)
			cJSON_AddItemToArray(arr,
					     cJSON_CreateString(rep->list[i]));
	} else if (rep->text) {
		cJSON_AddStringToObject(o, "detail", rep->text);
	}
	if (!cJSON_PrintPreallocated(o, buf, (int)(size - 1), false))
		n = snprintf(buf, size,
			     "{\"ok\":false,\"error\":\"too-long\",\"message\":"
			     "\"reply too long\"}");
	else
		n = (int)strlen(buf);
	cJSON_Delete(o);
	return proto_end_line(buf, size, n);
}

size_t proto_format(const struct proto_request *req,
		    const struct proto_reply *rep, char *buf, size_t size)
{
	if (req && req->json)
		return proto_format_json(req, rep, buf, size);
	return proto_format_text(rep, buf, size);
}
