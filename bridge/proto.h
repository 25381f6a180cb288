/* SPDX-License-Identifier: MIT */
/*
 * proto.h: the bridge's text protocol (protocol §5). One message in — a text
 * command such as "forward 60" or a JSON line such as
 * {"cmd":"drive","throttle":40,"steer":0} — is parsed into a request; one
 * reply line out, "OK <detail>" / "ERR <code> <text>" or the JSON
 * {"ok":...}. Pure: no sockets, no MQTT.
 */
#ifndef PROTO_H
#define PROTO_H

#include <stdbool.h>
#include <stddef.h>

#include "iotcar/payload.h"
#include "iotcar/topic.h"

/** Longest reply line, '\n' included (protocol §5). */
#define PROTO_REPLY_MAX 1024
/** Longest auth token. */
#define PROTO_TOKEN_MAX 128

enum proto_cmd {
	PROTO_DRIVE,
	PROTO_SPEED,
	PROTO_ESTOP,
	PROTO_RELEASE,
	PROTO_STATUS,
	PROTO_WATCH,
	PROTO_UNWATCH,
	PROTO_CARS,
	PROTO_USE,
	PROTO_PING,
	PROTO_HELP,
	PROTO_QUIT,
	PROTO_AUTH,
	PROTO_CMD_COUNT,
};

/** The error codes of protocol §5. */
enum proto_err {
	PROTO_ERR_NONE,
	PROTO_ERR_UNKNOWN_COMMAND,
	PROTO_ERR_BAD_ARGUMENT,
	PROTO_ERR_OFFLINE,
	PROTO_ERR_TIMEOUT,
	PROTO_ERR_ESTOP,
	PROTO_ERR_BLOCKED,
	PROTO_ERR_TOO_LONG,
	PROTO_ERR_RATE_LIMITED,
	PROTO_ERR_AUTH_REQUIRED,
	PROTO_ERR_BUSY,
	PROTO_ERR_COUNT,
};

struct proto_request {
	/* PROTO_CMD_COUNT when the message named no known command. */
	enum proto_cmd cmd;
	/* It came as a JSON line: the reply is JSON too. */
	bool json;
	/* The JSON request's "id", echoed in the reply. */
	struct iotcar_cmd_id id;
	/* PROTO_DRIVE */
	struct iotcar_drive drive;
	/* PROTO_SPEED: 0..100 */
	int speed;
	/* PROTO_USE */
	char car[IOTCAR_ID_MAX + 1];
	/* PROTO_AUTH */
	char token[PROTO_TOKEN_MAX + 1];
};

struct proto_error {
	enum proto_err code;
	char message[160];
};

/** What to answer; fields a reply does not use stay NULL. */
struct proto_reply {
	enum proto_err code;
	/* OK: the detail after "OK "; ERR: the text after the code. */
	const char *text;
	/* OK, JSON replies: an extra member holding raw JSON ("state"). */
	const char *raw_key;
	const char *raw_json;
	/* OK: a list ("cars"), shown space-separated in text replies. */
	const char *const *list;
	size_t nlist;
};

/** @brief "unknown-command", "offline"...: the wire name of @p code. */
const char *proto_err_name(enum proto_err code);

/** @brief "drive", "status"...: the command's name in JSON replies. */
const char *proto_cmd_name(enum proto_cmd cmd);

/**
 * @brief Parse one message (without its '\n').
 * @return 0, or -EINVAL with @p err set; req->json and req->id are filled
 * even then, so that the error reply has the right form.
 */
int proto_parse(const char *msg, size_t len, struct proto_request *req,
		struct proto_error *err);

/**
 * @brief Whether a message cut short could still become a longer command:
 * a strict prefix of a command word that is not a command itself ("for",
 * "st"). A burst client's tail like that waits a moment for the rest.
 */
bool proto_is_incomplete(const char *msg, size_t len);

/**
 * @brief Describe a drive the way a person would type it: "forward 60",
 * "left 40", "drive 30 -20", "stop", with " <ms>ms" when it had its own.
 */
void proto_drive_words(const struct iotcar_drive *d, char *buf, size_t size);

/**
 * @brief Format the reply to @p req (or to an unparsable message when
 * @p req is NULL) as one '\n'-terminated line of at most PROTO_REPLY_MAX
 * bytes, cut if need be.
 * @return The length written.
 */
size_t proto_format(const struct proto_request *req,
		    const struct proto_reply *rep, char *buf, size_t size);

/** @brief Map a car's result error ("estop", "blocked"...) to a code. */
enum proto_err proto_err_from_car(const char *car_error);

#endif
