// SPDX-License-Identifier: MIT
/*
 * payload.c: parsers and formatters of protocol §2-4 payloads; see payload.h.
 * Every parser checks length and encoding before it looks at the content, and
 * every number is range-checked, so no payload can make a motor move by
 * accident: parsed unchecked, "fast" would have been a speed of 0.
 */
#include "iotcar/payload.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "iotcar/text.h"

/* Drive text is short; anything longer is not a drive command. */
#define DRIVE_TEXT_MAX 128
#define DRIVE_WORDS_MAX 4

static const char *const err_names[IOTCAR_ERR_COUNT] = {
	[IOTCAR_ERR_NONE] = "none",
	[IOTCAR_ERR_BAD_ARGUMENT] = "bad-argument",
	[IOTCAR_ERR_UNKNOWN_COMMAND] = "unknown-command",
	[IOTCAR_ERR_UNKNOWN_FIELD] = "unknown-field",
	[IOTCAR_ERR_BAD_JSON] = "bad-json",
	[IOTCAR_ERR_BAD_ENCODING] = "bad-encoding",
	[IOTCAR_ERR_TOO_LONG] = "too-long",
	[IOTCAR_ERR_ESTOP] = "estop",
	[IOTCAR_ERR_BLOCKED] = "blocked",
	[IOTCAR_ERR_RETAINED] = "retained",
	[IOTCAR_ERR_STALE] = "stale",
	[IOTCAR_ERR_INTERNAL] = "internal",
};

static const char *const mode_names[IOTCAR_MODE_COUNT] = {
	[IOTCAR_MODE_IDLE] = "idle",	     [IOTCAR_MODE_DRIVING] = "driving",
	[IOTCAR_MODE_FAILSAFE] = "failsafe", [IOTCAR_MODE_BLOCKED] = "blocked",
	[IOTCAR_MODE_ESTOP] = "estop",
};

const char *iotcar_err_name(enum iotcar_err code)
{
	if ((unsigned)code >= IOTCAR_ERR_COUNT)
		return "internal";
	return err_names[code];
}

const char *iotcar_mode_name(enum iotcar_mode mode)
{
	if ((unsigned)mode >= IOTCAR_MODE_COUNT)
		return "idle";
	return mode_names[mode];
}

void iotcar_error_set(struct iotcar_error *err, enum iotcar_err code,
		      const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	err->code = code;
	va_start(ap, fmt);
	/* Truncation is fine: the code carries the meaning. */
	iotcar_vformat_text(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
}

/* The checks every text payload goes through before its content is read. */
static int payload_check_text(const char *text, size_t len, size_t max,
			      const char *what, struct iotcar_error *err)
{
	if (len > max) {
		iotcar_error_set(err, IOTCAR_ERR_TOO_LONG,
				 "%s is %zu bytes, the limit is %zu", what, len,
				 max);
		return -EINVAL;
	}
	if (!iotcar_text_is_valid(text, len)) {
		iotcar_error_set(err, IOTCAR_ERR_BAD_ENCODING,
				 "%s is not UTF-8 text (binary or control "
				 "bytes)",
				 what);
		return -EINVAL;
	}
	return 0;
}

/* ==== Drive text ==== */

enum drive_verb {
	DRIVE_FORWARD,
	DRIVE_BACKWARD,
	DRIVE_LEFT,
	DRIVE_RIGHT,
	DRIVE_DRIVE,
	DRIVE_STOP,
};

static const struct {
	const char *name;
	enum drive_verb verb;
	int min_args;
	int max_args;
} drive_verbs[] = {
	{"forward", DRIVE_FORWARD, 0, 2}, {"backward", DRIVE_BACKWARD, 0, 2},
	{"left", DRIVE_LEFT, 0, 2},	  {"right", DRIVE_RIGHT, 0, 2},
	{"drive", DRIVE_DRIVE, 2, 3},	  {"stop", DRIVE_STOP, 0, 0},
};

static bool drive_is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Split buf in place into at most max words; returns the count or -1. */
static int drive_split(char *buf, char **words, int max)
{
	int n = 0;
	char *p = buf;

	for (;;) {
		while (drive_is_blank(*p))
			p++;
		if (!*p)
			return n;
		if (n == max)
			return -1;
		words[n++] = p;
		while (*p && !drive_is_blank(*p))
			p++;
		if (*p)
			*p++ = '\0';
	}
}

static int drive_number(const char *word, const char *name, long min, long max,
			int *out, struct iotcar_error *err)
{
	long v;

	if (iotcar_parse_long(word, min, max, &v)) {
		iotcar_error_set(err, IOTCAR_ERR_BAD_ARGUMENT,
				 "%s must be an integer %ld..%ld, got '%.*s'",
				 name, min, max,
				 iotcar_utf8_prefix(word, SIZE_MAX, 24), word);
		return -EINVAL;
	}
	*out = (int)v;
	return 0;
}

static int drive_find_verb(const char *word)
{
	for (size_t i = 0; i < sizeof(drive_verbs) / sizeof(drive_verbs[0]);
	     i++) {
		if (strcasecmp(word, drive_verbs[i].name) == 0)
			return (int)i;
	}
	return -1;
}

/* The arguments after the verb: [speed] [ms] or <throttle> <steer> [ms]. */
static int drive_args(enum drive_verb verb, char **args, int nargs,
		      struct iotcar_drive *d, struct iotcar_error *err)
{
	int speed = IOTCAR_DRIVE_DEFAULT_SPEED;
	int nspeed = verb == DRIVE_DRIVE ? 2 : 1;

	if (verb == DRIVE_STOP)
		return 0;
	if (verb == DRIVE_DRIVE) {
		if (drive_number(args[0], "throttle", -100, 100, &d->throttle,
				 err) ||
		    drive_number(args[1], "steer", -100, 100, &d->steer, err))
			return -EINVAL;
	} else if (nargs > 0 &&
		   drive_number(args[0], "speed", 0, 100, &speed, err)) {
		return -EINVAL;
	}
	if (nargs > nspeed &&
	    drive_number(args[nspeed], "ms", 1, IOTCAR_DRIVE_MS_MAX, &d->ttl_ms,
			 err))
		return -EINVAL;
	d->bare = verb != DRIVE_DRIVE && nargs == 0;
	d->turn = verb == DRIVE_LEFT || verb == DRIVE_RIGHT;
	switch (verb) {
	case DRIVE_FORWARD:
		d->throttle = speed;
		break;
	case DRIVE_BACKWARD:
		d->throttle = -speed;
		break;
	case DRIVE_LEFT:
		d->steer = -speed;
		break;
	case DRIVE_RIGHT:
		d->steer = speed;
		break;
	default:
		break;
	}
	return 0;
}

void iotcar_drive_use_speed(struct iotcar_drive *d, int speed)
{
	if (!d->bare)
		return;
	if (d->throttle)
		d->throttle = d->throttle > 0 ? speed : -speed;
	if (d->steer)
		d->steer = d->steer > 0 ? speed : -speed;
}

int iotcar_drive_parse(const char *text, size_t len, struct iotcar_drive *d,
		       struct iotcar_error *err)
{
	char buf[DRIVE_TEXT_MAX + 1];
	char *words[DRIVE_WORDS_MAX];
	int nwords;
	int v;

	memset(d, 0, sizeof(*d));
	if (payload_check_text(text, len, DRIVE_TEXT_MAX, "drive command", err))
		return -EINVAL;
	memcpy(buf, text, len);
	buf[len] = '\0';
	nwords = drive_split(buf, words, DRIVE_WORDS_MAX);
	if (nwords == 0) {
		iotcar_error_set(err, IOTCAR_ERR_UNKNOWN_COMMAND,
				 "empty drive command");
		return -EINVAL;
	}
	v = nwords < 0 ? -1 : drive_find_verb(words[0]);
	if (nwords > 0 && v < 0) {
		iotcar_error_set(err, IOTCAR_ERR_UNKNOWN_COMMAND,
				 "unknown drive command '%.*s' (forward, "
				 "backward, left, right, drive, stop)",
				 iotcar_utf8_prefix(words[0], SIZE_MAX, 24),
				 words[0]);
		return -EINVAL;
	}
	if (nwords < 0 || nwords - 1 < drive_verbs[v].min_args ||
	    nwords - 1 > drive_verbs[v].max_args) {
		static const char *const usage[] = {
			[DRIVE_FORWARD] = "forward [speed] [ms]",
			[DRIVE_BACKWARD] = "backward [speed] [ms]",
			[DRIVE_LEFT] = "left [speed] [ms]",
			[DRIVE_RIGHT] = "right [speed] [ms]",
			[DRIVE_DRIVE] = "drive <throttle> <steer> [ms]",
			[DRIVE_STOP] = "stop",
		};
		iotcar_error_set(err, IOTCAR_ERR_BAD_ARGUMENT,
				 "wrong number of arguments: %s",
				 v < 0 ? "too many words"
				       : usage[drive_verbs[v].verb]);
		return -EINVAL;
	}
	return drive_args(drive_verbs[v].verb, words + 1, nwords - 1, d, err);
}

/* ==== set/speed_limit and set/estop ==== */

/* Copy a short text payload, trimmed of blanks, into buf. */
static int payload_word(const char *text, size_t len, char *buf, size_t size,
			const char *what, struct iotcar_error *err)
{
	if (payload_check_text(text, len, size - 1, what, err))
		return -EINVAL;
	while (len && drive_is_blank(*text)) {
		text++;
		len--;
	}
	while (len && drive_is_blank(text[len - 1]))
		len--;
	memcpy(buf, text, len);
	buf[len] = '\0';
	return 0;
}

int iotcar_speed_limit_parse(const char *text, size_t len, int *limit,
			     struct iotcar_error *err)
{
	char buf[32];

	if (payload_word(text, len, buf, sizeof(buf), "speed limit", err))
		return -EINVAL;
	return drive_number(buf, "speed_limit", 0, 100, limit, err);
}

int iotcar_estop_parse(const char *text, size_t len, bool *on, uint32_t *latch,
		       struct iotcar_error *err)
{
	char buf[32];
	char *words[3];
	long n = 0;
	int nwords;

	if (latch)
		*latch = 0;
	if (payload_word(text, len, buf, sizeof(buf), "estop", err))
		return -EINVAL;
	nwords = drive_split(buf, words, 2);
	if (nwords == 1 &&
	    (!strcasecmp(words[0], "ON") || !strcasecmp(words[0], "OFF"))) {
		*on = !strcasecmp(words[0], "ON");
		return 0;
	}
	if (latch && nwords == 2 && !strcasecmp(words[0], "OFF") &&
	    !iotcar_parse_long(words[1], 1, IOTCAR_SERIAL_MAX, &n)) {
		*on = false;
		*latch = (uint32_t)n;
		return 0;
	}
	/* The words were cut apart in buf: quote the payload itself. */
	iotcar_error_set(err, IOTCAR_ERR_BAD_ARGUMENT,
			 "estop must be ON, OFF%s, got '%.*s'",
			 latch ? " or OFF <latch>" : "",
			 iotcar_utf8_prefix(text, len, 24), text);
	return -EINVAL;
}

/* ==== The JSON set object ==== */

static bool payload_is_blank(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!drive_is_blank(p[i]))
			return false;
	}
	return true;
}

static int json_int(const cJSON *item, long min, long max, int *out,
		    struct iotcar_error *err)
{
	double v = item->valuedouble;

	if (!cJSON_IsNumber(item) || !isfinite(v) || v != floor(v) ||
	    v < (double)min || v > (double)max) {
		iotcar_error_set(err, IOTCAR_ERR_BAD_ARGUMENT,
				 "%s must be an integer %ld..%ld", item->string,
				 min, max);
		return -EINVAL;
	}
	*out = (int)v;
	return 0;
}

static int json_id(const cJSON *item, struct iotcar_cmd_id *id,
		   struct iotcar_error *err)
{
	double v = item->valuedouble;
	size_t n;

	if (cJSON_IsString(item)) {
		n = strlen(item->valuestring);
		if (n == 0 || n > IOTCAR_CMD_ID_MAX)
			goto bad;
		memcpy(id->text, item->valuestring, n + 1);
		id->present = true;
		return 0;
	}
	/* 2^53: the largest integer every JSON reader keeps exact. */
	if (cJSON_IsNumber(item) && isfinite(v) && v == floor(v) &&
	    fabs(v) <= 9007199254740992.0) {
		snprintf(id->text, sizeof(id->text), "%.0f", v);
		id->present = true;
		id->is_number = true;
		return 0;
	}
bad:
	iotcar_error_set(err, IOTCAR_ERR_BAD_ARGUMENT,
			 "id must be a string of 1..%d bytes or an integer",
			 IOTCAR_CMD_ID_MAX);
	return -EINVAL;
}

/* Take the id if it is a good one; a bad one is reported later. */
static void json_id_peek(const cJSON *root, struct iotcar_cmd_id *id)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, "id");
	struct iotcar_error ignored;

	if (item && json_id(item, id, &ignored))
		memset(id, 0, sizeof(*id));
}

enum set_key {
	SET_KEY_THROTTLE,
	SET_KEY_STEER,
	SET_KEY_TTL,
	SET_KEY_DRIVE,
	SET_KEY_LINK,
	SET_KEY_MAX_AGE,
	SET_KEY_SPEED_LIMIT,
	SET_KEY_SPEED,
	SET_KEY_ESTOP,
	SET_KEY_ESTOP_LATCH,
	SET_KEY_ID,
	SET_KEY_COUNT,
};

static const char *const set_keys[SET_KEY_COUNT] = {
	[SET_KEY_THROTTLE] = "throttle",
	[SET_KEY_STEER] = "steer",
	[SET_KEY_TTL] = "ttl_ms",
	[SET_KEY_DRIVE] = "drive",
	[SET_KEY_LINK] = "link",
	[SET_KEY_MAX_AGE] = "max_age_ms",
	[SET_KEY_SPEED_LIMIT] = "speed_limit",
	[SET_KEY_SPEED] = "speed",
	[SET_KEY_ESTOP] = "estop",
	[SET_KEY_ESTOP_LATCH] = "estop_latch",
	[SET_KEY_ID] = "id",
};

/* Sort the object's members by key; unknown and repeated keys are errors. */
static int set_index(const cJSON *root, const cJSON *by_key[SET_KEY_COUNT],
		     struct iotcar_error *err)
{
	const cJSON *item;

	cJSON_ArrayForEach(item, root)
	{
		int k;

		for (k = 0; k < SET_KEY_COUNT; k++) {
			if (strcmp(item->string, set_keys[k]) == 0)
				break;
		}
		if (k == SET_KEY_COUNT) {
			iotcar_error_set(
				err, IOTCAR_ERR_UNKNOWN_FIELD,
				"unknown field '%.*s' (throttle, steer, "
				"ttl_ms, drive, link, max_age_ms, "
				"speed_limit, speed, estop, estop_latch, "
				"id)",
				iotcar_utf8_prefix(item->string, SIZE_MAX, 32),
				item->string);
			return -EINVAL;
		}
		if (by_key[k]) {
			iotcar_error_set(err, IOTCAR_ERR_BAD_ARGUMENT,
					 "field '%s' given twice", set_keys[k]);
			return -EINVAL;
		}
		by_key[k] = item;
	}
	return 0;
}

static int set_drive(const cJSON *const by_key[SET_KEY_COUNT],
		     struct iotcar_set *out, struct iotcar_error *err)
{
	const cJSON *drive = by_key[SET_KEY_DRIVE];
	bool axes = by_key[SET_KEY_THROTTLE] || by_key[SET_KEY_STEER];
	int ttl = 0;

	if (drive && axes) {
		iotcar_error_set(err, IOTCAR_ERR_BAD_ARGUMENT,
				 "give either drive or throttle/steer, not "
				 "both");
		return -EINVAL;
	}
	if ((by_key[SET_KEY_TTL] || by_key[SET_KEY_LINK] ||
	     by_key[SET_KEY_MAX_AGE]) &&
	    !drive && !axes) {
		iotcar_error_set(err, IOTCAR_ERR_BAD_ARGUMENT,
				 "ttl_ms, link and max_age_ms need throttle, "
				 "steer or drive");
		return -EINVAL;
	}
	if (by_key[SET_KEY_LINK]) {
		int n;

		if (json_int(by_key[SET_KEY_LINK], 1, IOTCAR_SERIAL_MAX, &n,
			     err))
			return -EINVAL;
		out->fresh.has_link = true;
		out->fresh.link = (uint32_t)n;
	}
	if (by_key[SET_KEY_MAX_AGE] &&
	    json_int(by_key[SET_KEY_MAX_AGE], 1, IOTCAR_MAX_AGE_MS_MAX,
		     &out->fresh.max_age_ms, err))
		return -EINVAL;
	if (by_key[SET_KEY_TTL] &&
	    json_int(by_key[SET_KEY_TTL], 1, IOTCAR_DRIVE_MS_MAX, &ttl, err))
		return -EINVAL;
	if (drive) {
		if (!cJSON_IsString(drive)) {
			iotcar_error_set(err, IOTCAR_ERR_BAD_ARGUMENT,
					 "drive must be a string such as "
					 "\"forward 60\"");
			return -EINVAL;
		}
		if (iotcar_drive_parse(drive->valuestring,
				       strlen(drive->valuestring), &out->drive,
				       err))
			return -EINVAL;
		if (ttl && out->drive.ttl_ms) {
			iotcar_error_set(err, IOTCAR_ERR_BAD_ARGUMENT,
					 "ms given both in drive and ttl_ms");
			return -EINVAL;
		}
	} else if (axes) {
		if ((by_key[SET_KEY_THROTTLE] &&
		     json_int(by_key[SET_KEY_THROTTLE], -100, 100,
			      &out->drive.throttle, err)) ||
		    (by_key[SET_KEY_STEER] &&
		     json_int(by_key[SET_KEY_STEER], -100, 100,
			      &out->drive.steer, err)))
			return -EINVAL;
	} else {
		return 0;
	}
	if (ttl)
		out->drive.ttl_ms = ttl;
	out->fields |= IOTCAR_SET_DRIVE;
	return 0;
}

static int set_settings(const cJSON *const by_key[SET_KEY_COUNT],
			struct iotcar_set *out, struct iotcar_error *err)
{
	const cJSON *estop = by_key[SET_KEY_ESTOP];

	if (by_key[SET_KEY_SPEED_LIMIT]) {
		if (json_int(by_key[SET_KEY_SPEED_LIMIT], 0, 100,
			     &out->speed_limit, err))
			return -EINVAL;
		out->fields |= IOTCAR_SET_SPEED_LIMIT;
	}
	if (by_key[SET_KEY_SPEED]) {
		if (json_int(by_key[SET_KEY_SPEED], 0, 100, &out->speed, err))
			return -EINVAL;
		out->fields |= IOTCAR_SET_SPEED;
	}
	if (estop) {
		if (!cJSON_IsString(estop) ||
		    iotcar_estop_parse(estop->valuestring,
				       strlen(estop->valuestring), &out->estop,
				       NULL, err)) {
			iotcar_error_set(err, IOTCAR_ERR_BAD_ARGUMENT,
					 "estop must be \"ON\" or \"OFF\"");
			return -EINVAL;
		}
		out->fields |= IOTCAR_SET_ESTOP;
	}
	if (by_key[SET_KEY_ESTOP_LATCH]) {
		int n;

		if (!estop || out->estop) {
			iotcar_error_set(err, IOTCAR_ERR_BAD_ARGUMENT,
					 "estop_latch goes with \"estop\":"
					 "\"OFF\": the latch it releases");
			return -EINVAL;
		}
		if (json_int(by_key[SET_KEY_ESTOP_LATCH], 1, IOTCAR_SERIAL_MAX,
			     &n, err))
			return -EINVAL;
		out->estop_latch = (uint32_t)n;
	}
	return 0;
}

int iotcar_set_parse(const char *json, size_t len, struct iotcar_set *out,
		     struct iotcar_error *err)
{
	const cJSON *by_key[SET_KEY_COUNT] = {0};
	const char *end = NULL;
	cJSON *root;
	int ret = -EINVAL;

	memset(out, 0, sizeof(*out));
	if (payload_check_text(json, len, IOTCAR_COMMAND_MAX, "command", err))
		return -EINVAL;
	/*
	 * Not cJSON's require_null_terminated: it reads the byte after the
	 * buffer. Trailing bytes are checked here instead.
	 */
	root = cJSON_ParseWithLengthOpts(json, len, &end, false);
	if (root && !payload_is_blank(end, (size_t)(json + len - end))) {
		cJSON_Delete(root);
		root = NULL;
	}
	if (!root) {
		iotcar_error_set(err, IOTCAR_ERR_BAD_JSON,
				 "malformed JSON at byte %td",
				 end ? end - json : (ptrdiff_t)0);
		return -EINVAL;
	}
	if (!cJSON_IsObject(root)) {
		iotcar_error_set(err, IOTCAR_ERR_BAD_JSON,
				 "expected a JSON object such as "
				 "{\"throttle\":40,\"steer\":0}");
		goto out;
	}
	/* The id first, so that every error result can carry it. */
	json_id_peek(root, &out->id);
	if (iotcar_json_has_nul_escape(json, len)) {
		iotcar_error_set(err, IOTCAR_ERR_BAD_ENCODING,
				 "a string holds \\u0000, which would cut it "
				 "short");
		goto out;
	}
	if (set_index(root, by_key, err))
		goto out;
	if (by_key[SET_KEY_ID] && json_id(by_key[SET_KEY_ID], &out->id, err))
		goto out;
	if (set_drive(by_key, out, err) || set_settings(by_key, out, err))
		goto out;
	if (!out->fields) {
		iotcar_error_set(err, IOTCAR_ERR_BAD_ARGUMENT,
				 "nothing to do: give throttle/steer, drive, "
				 "speed_limit, speed or estop");
		goto out;
	}
	ret = 0;
out:
	cJSON_Delete(root);
	return ret;
}

/* ==== Formatting ==== */

/* Print @p root into buf and free it; the length or a negative errno. */
static int payload_print(cJSON *root, char *buf, size_t size)
{
	int ret = -ENOBUFS;

	if (!root)
		return -ENOMEM;
	if (size <= INT_MAX &&
	    cJSON_PrintPreallocated(root, buf, (int)size, false))
		ret = (int)strlen(buf);
	cJSON_Delete(root);
	return ret;
}

static const char *on_off(bool on)
{
	return on ? "ON" : "OFF";
}

/* One decimal is the sensor's real resolution, and prints short. */
static double round_tenth(double v)
{
	return round(v * 10.0) / 10.0;
}

/*
 * Distances are cut, not rounded: 24.96 cm must not print as 25.0 when the
 * stop distance is 25, so every "under the threshold" stays visibly under.
 */
static double distance_tenth(double cm)
{
	return floor(cm * 10.0) / 10.0;
}

int iotcar_state_format(const struct iotcar_state *st, char *buf, size_t size)
{
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return -ENOMEM;
	cJSON_AddStringToObject(o, "mode", iotcar_mode_name(st->mode));
	cJSON_AddNumberToObject(o, "throttle", st->throttle);
	cJSON_AddNumberToObject(o, "steer", st->steer);
	cJSON_AddNumberToObject(o, "left", st->left);
	cJSON_AddNumberToObject(o, "right", st->right);
	cJSON_AddStringToObject(o, "drivetrain",
				st->ackermann ? "ackermann" : "differential");
	cJSON_AddNumberToObject(o, "speed_limit", st->speed_limit);
	cJSON_AddNumberToObject(o, "speed", st->speed);
	cJSON_AddStringToObject(o, "estop", on_off(st->estop));
	cJSON_AddNumberToObject(o, "estop_latch", st->estop_latch);
	cJSON_AddStringToObject(o, "obstacle", on_off(st->obstacle));
	cJSON_AddStringToObject(o, "moving", on_off(st->moving));
	if (st->has_distance)
		cJSON_AddNumberToObject(o, "distance_cm",
					distance_tenth(st->distance_cm));
	else
		cJSON_AddNullToObject(o, "distance_cm");
	cJSON_AddNumberToObject(o, "ttl_ms", st->ttl_ms);
	cJSON_AddNumberToObject(o, "seq", (double)st->seq);
	return payload_print(o, buf, size);
}

static void add_id(cJSON *o, const struct iotcar_cmd_id *id)
{
	if (!id || !id->present)
		return;
	if (id->is_number)
		cJSON_AddRawToObject(o, "id", id->text);
	else
		cJSON_AddStringToObject(o, "id", id->text);
}

static void add_error(cJSON *o, const struct iotcar_error *err)
{
	cJSON_AddStringToObject(o, "error", iotcar_err_name(err->code));
	cJSON_AddStringToObject(o, "message", err->message);
}

int iotcar_set_format(const struct iotcar_set *s, char *buf, size_t size)
{
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return -ENOMEM;
	if (s->fields & IOTCAR_SET_DRIVE) {
		cJSON_AddNumberToObject(o, "throttle", s->drive.throttle);
		cJSON_AddNumberToObject(o, "steer", s->drive.steer);
		if (s->drive.ttl_ms)
			cJSON_AddNumberToObject(o, "ttl_ms", s->drive.ttl_ms);
		if (s->fresh.has_link)
			cJSON_AddNumberToObject(o, "link", s->fresh.link);
		if (s->fresh.max_age_ms)
			cJSON_AddNumberToObject(o, "max_age_ms",
						s->fresh.max_age_ms);
	}
	if (s->fields & IOTCAR_SET_SPEED_LIMIT)
		cJSON_AddNumberToObject(o, "speed_limit", s->speed_limit);
	if (s->fields & IOTCAR_SET_SPEED)
		cJSON_AddNumberToObject(o, "speed", s->speed);
	if (s->fields & IOTCAR_SET_ESTOP)
		cJSON_AddStringToObject(o, "estop", on_off(s->estop));
	if ((s->fields & IOTCAR_SET_ESTOP) && !s->estop && s->estop_latch)
		cJSON_AddNumberToObject(o, "estop_latch", s->estop_latch);
	add_id(o, &s->id);
	return payload_print(o, buf, size);
}

int iotcar_result_format(const char *cmd, const struct iotcar_cmd_id *id,
			 const struct iotcar_error *err, uint32_t estop_latch,
			 char *buf, size_t size)
{
	bool ok = !err || err->code == IOTCAR_ERR_NONE;
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return -ENOMEM;
	add_id(o, id);
	cJSON_AddStringToObject(o, "cmd", cmd);
	cJSON_AddStringToObject(o, "status", ok ? "ok" : "error");
	if (!ok)
		add_error(o, err);
	else if (estop_latch)
		cJSON_AddNumberToObject(o, "estop_latch", estop_latch);
	return payload_print(o, buf, size);
}

int iotcar_event_format(const struct iotcar_event *ev, char *buf, size_t size)
{
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return -ENOMEM;
	cJSON_AddStringToObject(o, "event", ev->event);
	/* The same again under the key Home Assistant's event entity reads. */
	cJSON_AddStringToObject(o, "event_type", ev->event);
	if (ev->reason)
		cJSON_AddStringToObject(o, "reason", ev->reason);
	if (ev->has_down_ms)
		cJSON_AddNumberToObject(o, "down_ms", (double)ev->down_ms);
	if (ev->reason_code)
		cJSON_AddNumberToObject(o, "reason_code", ev->reason_code);
	if (ev->message)
		cJSON_AddStringToObject(o, "message", ev->message);
	if (ev->topic)
		cJSON_AddStringToObject(o, "topic", ev->topic);
	if (ev->err)
		add_error(o, ev->err);
	if (ev->estop)
		cJSON_AddStringToObject(o, "estop", ev->estop);
	if (ev->estop_latch)
		cJSON_AddNumberToObject(o, "estop_latch", ev->estop_latch);
	if (ev->has_distance)
		cJSON_AddNumberToObject(o, "distance_cm",
					distance_tenth(ev->distance_cm));
	return payload_print(o, buf, size);
}

static void add_optional(cJSON *o, const char *key, bool present, double v)
{
	if (present)
		cJSON_AddNumberToObject(o, key, v);
	else
		cJSON_AddNullToObject(o, key);
}

int iotcar_telemetry_format(const struct iotcar_telemetry *t, char *buf,
			    size_t size)
{
	cJSON *o = cJSON_CreateObject();
	time_t started = (time_t)t->started_s;
	char iso[32];
	struct tm tm;

	if (!o)
		return -ENOMEM;
	cJSON_AddNumberToObject(o, "uptime_s", (double)t->uptime_s);
	if (gmtime_r(&started, &tm) &&
	    strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%SZ", &tm))
		cJSON_AddStringToObject(o, "started", iso);
	add_optional(o, "distance_cm", t->has_distance,
		     distance_tenth(t->distance_cm));
	cJSON_AddNumberToObject(o, "left", t->left);
	cJSON_AddNumberToObject(o, "right", t->right);
	add_optional(o, "rssi_dbm", t->has_rssi, t->rssi_dbm);
	add_optional(o, "cpu_temp_c", t->has_cpu_temp,
		     round_tenth(t->cpu_temp_c));
	cJSON_AddNumberToObject(o, "rss_kb", (double)t->rss_kb);
	cJSON_AddStringToObject(o, "hal", t->hal);
	if (t->has_pose) {
		cJSON_AddNumberToObject(o, "x_cm", round_tenth(t->x_cm));
		cJSON_AddNumberToObject(o, "y_cm", round_tenth(t->y_cm));
		cJSON_AddNumberToObject(o, "heading_deg",
					round_tenth(t->heading_deg));
		cJSON_AddNumberToObject(o, "odometer_cm",
					round_tenth(t->odometer_cm));
	}
	cJSON_AddNumberToObject(o, "commands", (double)t->commands);
	cJSON_AddNumberToObject(o, "rejected", (double)t->rejected);
	cJSON_AddNumberToObject(o, "dropped", (double)t->dropped);
	cJSON_AddNumberToObject(o, "lost", (double)t->lost);
	return payload_print(o, buf, size);
}

/* An integer field within [min, max]; false when missing or wrong. */
static bool state_int(const cJSON *o, const char *key, long min, long max,
		      int *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!cJSON_IsNumber(v) || v->valuedouble < (double)min ||
	    v->valuedouble > (double)max ||
	    v->valuedouble != (double)(long)v->valuedouble)
		return false;
	*out = (int)v->valuedouble;
	return true;
}

/* An ON/OFF field; false when missing or neither. */
static bool state_on_off(const cJSON *o, const char *key, bool *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!cJSON_IsString(v))
		return false;
	if (!strcmp(v->valuestring, "ON") || !strcmp(v->valuestring, "OFF")) {
		*out = v->valuestring[1] == 'N';
		return true;
	}
	return false;
}

int iotcar_state_parse(const char *json, size_t len, struct iotcar_state *st)
{
	cJSON *o = cJSON_ParseWithLength(json, len);
	const cJSON *mode = cJSON_GetObjectItemCaseSensitive(o, "mode");
	const cJSON *dist = cJSON_GetObjectItemCaseSensitive(o, "distance_cm");
	const cJSON *seq = cJSON_GetObjectItemCaseSensitive(o, "seq");
	bool ok;
	int m;

	*st = (struct iotcar_state){0};
	for (m = 0; m < IOTCAR_MODE_COUNT && cJSON_IsString(mode); m++) {
		if (!strcmp(mode->valuestring, mode_names[m]))
			break;
	}
	ok = cJSON_IsObject(o) && cJSON_IsString(mode) &&
	     m < IOTCAR_MODE_COUNT &&
	     state_int(o, "throttle", -100, 100, &st->throttle) &&
	     state_int(o, "steer", -100, 100, &st->steer) &&
	     state_int(o, "left", -100, 100, &st->left) &&
	     state_int(o, "right", -100, 100, &st->right) &&
	     state_int(o, "speed_limit", 0, 100, &st->speed_limit) &&
	     state_int(o, "ttl_ms", 0, IOTCAR_DRIVE_MS_MAX, &st->ttl_ms) &&
	     state_on_off(o, "estop", &st->estop) &&
	     state_on_off(o, "obstacle", &st->obstacle) &&
	     state_on_off(o, "moving", &st->moving) &&
	     (cJSON_IsNull(dist) ||
	      (cJSON_IsNumber(dist) && isfinite(dist->valuedouble) &&
	       dist->valuedouble >= 0)) &&
	     cJSON_IsNumber(seq) && seq->valuedouble >= 0;
	st->speed = IOTCAR_DRIVE_DEFAULT_SPEED;
	if (ok && cJSON_GetObjectItemCaseSensitive(o, "speed"))
		ok = state_int(o, "speed", 0, 100, &st->speed);
	if (ok && cJSON_GetObjectItemCaseSensitive(o, "estop_latch")) {
		int latch = 0;

		ok = state_int(o, "estop_latch", 0, IOTCAR_SERIAL_MAX, &latch);
		st->estop_latch = (uint32_t)latch;
	}
	if (ok) {
		const cJSON *dt =
			cJSON_GetObjectItemCaseSensitive(o, "drivetrain");

		st->ackermann = cJSON_IsString(dt) &&
				!strcmp(dt->valuestring, "ackermann");
		st->mode = (enum iotcar_mode)m;
		st->has_distance = cJSON_IsNumber(dist);
		st->distance_cm = st->has_distance ? dist->valuedouble : 0;
		st->seq = (uint64_t)seq->valuedouble;
	} else {
		*st = (struct iotcar_state){0};
	}
	cJSON_Delete(o);
	return ok ? 0 : -EINVAL;
}
