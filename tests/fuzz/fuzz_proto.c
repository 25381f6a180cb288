// SPDX-License-Identifier: MIT
/*
 * fuzz_proto.c: any bytes as one bridge message. Parsing never fails other
 * than with an error code; every reply, to a good request or to a bad one,
 * is one line of valid UTF-8 within PROTO_REPLY_MAX bytes, and a reply to a
 * JSON request is valid JSON that carries the request's id.
 */
#include <cjson/cJSON.h>
#include <string.h>

#include "fuzz.h"
#include "iotcar/text.h"
#include "proto.h"

/* Check one formatted reply of @p n bytes in a buffer of @p size. */
static void check_line(const struct proto_request *req, const char *line,
		       size_t n, size_t size)
{
	FUZZ_CHECK(n >= 1 && n <= size && n <= PROTO_REPLY_MAX);
	FUZZ_CHECK(line[n - 1] == '\n');
	FUZZ_CHECK(memchr(line, '\n', n - 1) == NULL);
	FUZZ_CHECK(memchr(line, '\r', n) == NULL);
	FUZZ_CHECK(iotcar_text_is_valid(line, n - 1));
	if (req && req->json) {
		cJSON *o = cJSON_ParseWithLength(line, n - 1);
		const cJSON *id;

		FUZZ_CHECK(o != NULL);
		FUZZ_CHECK(cJSON_IsBool(
			cJSON_GetObjectItemCaseSensitive(o, "ok")));
		id = cJSON_GetObjectItemCaseSensitive(o, "id");
		FUZZ_CHECK(!id == !req->id.present);
		cJSON_Delete(o);
	} else {
		FUZZ_CHECK(!strncmp(line, "OK", 2) ||
			   !strncmp(line, "ERR ", 4));
	}
}

/* Format @p rep to @p req in the sizes the bridge uses (TCP, UDP). */
static void check_reply(const struct proto_request *req,
			const struct proto_reply *rep)
{
	char line[PROTO_REPLY_MAX];
	char small[513];

	check_line(req, line, proto_format(req, rep, line, sizeof(line)),
		   sizeof(line));
	check_line(req, small, proto_format(req, rep, small, sizeof(small)),
		   sizeof(small));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *msg = (const char *)data;
	struct proto_request req;
	struct proto_error err;
	struct proto_reply rep = {0};
	char words[64];

	(void)proto_is_incomplete(msg, size);
	if (proto_parse(msg, size, &req, &err)) {
		FUZZ_CHECK(err.code > PROTO_ERR_NONE &&
			   err.code < PROTO_ERR_COUNT);
		FUZZ_CHECK(memchr(err.message, '\0', sizeof(err.message)));
		rep.code = err.code;
		rep.text = err.message;
		check_reply(&req, &rep);
		/* What the bridge answers before it could parse at all. */
		check_reply(NULL, &rep);
		return 0;
	}
	FUZZ_CHECK(req.cmd < PROTO_CMD_COUNT);
	if (req.cmd == PROTO_DRIVE) {
		FUZZ_CHECK(req.drive.throttle >= -100 &&
			   req.drive.throttle <= 100);
		FUZZ_CHECK(req.drive.steer >= -100 && req.drive.steer <= 100);
		proto_drive_words(&req.drive, words, sizeof(words));
		rep.text = words;
	} else if (req.cmd == PROTO_SPEED) {
		FUZZ_CHECK(req.speed >= 0 && req.speed <= 100);
	} else if (req.cmd == PROTO_USE) {
		/* The id names an MQTT topic level: nothing that splits it. */
		FUZZ_CHECK(req.car[0] && !strpbrk(req.car, "/+#"));
	}
	check_reply(&req, &rep);
	/* Replies that echo what came from the car or from the request. */
	rep.text = req.car[0] ? req.car : msg[0] ? "x" : NULL;
	check_reply(&req, &rep);
	rep.code = proto_err_from_car(req.car);
	check_reply(&req, &rep);
	return 0;
}
