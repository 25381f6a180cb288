/* SPDX-License-Identifier: MIT */
/*
 * payload.h: the payloads of protocol §2-4 — drive text, the JSON `set` object,
 * state, result and event JSON — parsed and formatted in one place, through
 * cJSON, for every program. Parsers take (buffer, length): MQTT payloads are
 * not NUL-terminated.
 */
#ifndef IOTCAR_PAYLOAD_H
#define IOTCAR_PAYLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Longest command payload a car accepts (set, set/drive...). */
#define IOTCAR_COMMAND_MAX 4096
/** Longest command id echoed back in a result. */
#define IOTCAR_CMD_ID_MAX 64
/**
 * Largest link (ping) and e-stop latch number: 2^31 - 1, exact in every
 * C long and every JSON reader. Numbers start at random and wrap to 1.
 */
#define IOTCAR_SERIAL_MAX 2147483647
/** Speed of forward/backward/left/right when none is given (protocol §4). */
#define IOTCAR_DRIVE_DEFAULT_SPEED 50
/** Largest `ms` accepted before the car clamps it: one day. */
#define IOTCAR_DRIVE_MS_MAX 86400000

/** Why a command was refused: the `error` field of a result. */
enum iotcar_err {
	IOTCAR_ERR_NONE,
	IOTCAR_ERR_BAD_ARGUMENT,
	IOTCAR_ERR_UNKNOWN_COMMAND,
	IOTCAR_ERR_UNKNOWN_FIELD,
	IOTCAR_ERR_BAD_JSON,
	IOTCAR_ERR_BAD_ENCODING,
	IOTCAR_ERR_TOO_LONG,
	IOTCAR_ERR_ESTOP,
	IOTCAR_ERR_BLOCKED,
	IOTCAR_ERR_RETAINED,
	IOTCAR_ERR_STALE,
	IOTCAR_ERR_INTERNAL,
	IOTCAR_ERR_COUNT,
};

/** A machine-readable code and a sentence for people. */
struct iotcar_error {
	enum iotcar_err code;
	char message[160];
};

/** @brief "bad-argument", "estop"...: the wire name of @p code. */
const char *iotcar_err_name(enum iotcar_err code);

/** @brief Fill @p err (which may be NULL) with @p code and a message. */
void iotcar_error_set(struct iotcar_error *err, enum iotcar_err code,
		      const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/** One drive command of protocol §4. throttle = steer = 0 is a stop. */
struct iotcar_drive {
	/* -100..100, positive is forward. */
	int throttle;
	/* -100..100, positive turns right. */
	int steer;
	/* How long the command lives; 0 means the car's default. */
	int ttl_ms;
	/* forward, backward, left or right with no speed: the car's own
	 * speed applies (iotcar_drive_use_speed), IOTCAR_DRIVE_DEFAULT_SPEED
	 * until then. */
	bool bare;
	/* left or right: a turn (in place, or at full lock on an Ackermann
	 * car), its speed in steer. */
	bool turn;
};

/** @brief A bare drive (no speed given) at @p speed instead. */
void iotcar_drive_use_speed(struct iotcar_drive *d, int speed);

/**
 * @brief Parse drive text ("forward 60 500", "drive 40 -20", "stop").
 * Case-insensitive; blanks (spaces, tabs, CR, LF) around words ignored.
 * @return 0, or -EINVAL with @p err set (unknown-command, bad-argument,
 * bad-encoding, too-long).
 */
int iotcar_drive_parse(const char *text, size_t len, struct iotcar_drive *d,
		       struct iotcar_error *err);

/** A command id as the sender wrote it: a JSON string or integer. */
struct iotcar_cmd_id {
	bool present;
	bool is_number;
	char text[IOTCAR_CMD_ID_MAX + 1];
};

/**
 * What a command's sender says about its age (protocol §4, freshness): the
 * newest ping of the car it had heard when it wrote the command, and how
 * long it waits for the answer before giving up on it.
 */
struct iotcar_freshness {
	bool has_link;
	uint32_t link;
	/* 0: the car's own bound alone. */
	int max_age_ms;
};

/** Longest age bound a sender may state. */
#define IOTCAR_MAX_AGE_MS_MAX 60000

/** Which fields of a `set` object were given. */
enum {
	IOTCAR_SET_DRIVE = 1 << 0,
	IOTCAR_SET_SPEED_LIMIT = 1 << 1,
	IOTCAR_SET_ESTOP = 1 << 2,
	IOTCAR_SET_SPEED = 1 << 3,
};

/** The JSON object on `set` (protocol §4). */
struct iotcar_set {
	/* IOTCAR_SET_* bits. */
	unsigned fields;
	struct iotcar_drive drive;
	int speed_limit;
	/* The car's speed for drive texts that give none, 0..100. */
	int speed;
	bool estop;
	/* A release that names the latch it releases ("estop_latch"); 0 for
	 * a bare OFF. */
	uint32_t estop_latch;
	/* "link" and "max_age_ms", given with a drive. */
	struct iotcar_freshness fresh;
	struct iotcar_cmd_id id;
};

/**
 * @brief Parse a `set` object: throttle, steer, ttl_ms, drive (text),
 * link, max_age_ms, speed_limit, speed, estop ("ON"/"OFF"), estop_latch,
 * id.
 * Unknown and repeated fields are errors, and so is a string holding
 * \u0000 (it would cut the text short).
 * @p out->id is filled even when another field is bad, so that the error
 * result can carry it.
 * @return 0, or -EINVAL with @p err set.
 */
int iotcar_set_parse(const char *json, size_t len, struct iotcar_set *out,
		     struct iotcar_error *err);

/**
 * @brief Format @p s as the JSON of a `set` command (drive as throttle,
 * steer and ttl_ms when given, link and max_age_ms when given, then
 * speed_limit, estop, estop_latch and id).
 * @return Length written, or -ENOBUFS / -ENOMEM.
 */
int iotcar_set_format(const struct iotcar_set *s, char *buf, size_t size);

/**
 * @brief Parse the payload of set/speed_limit: an integer 0..100.
 * @return 0 or -EINVAL with @p err set.
 */
int iotcar_speed_limit_parse(const char *text, size_t len, int *limit,
			     struct iotcar_error *err);

/**
 * @brief Parse the payload of set/estop: ON, OFF, or OFF and the number of
 * the latch it releases ("OFF 3735928559"; any case).
 * @param latch Receives that number, 0 for a bare OFF; NULL: none allowed.
 * @return 0 or -EINVAL with @p err set.
 */
int iotcar_estop_parse(const char *text, size_t len, bool *on, uint32_t *latch,
		       struct iotcar_error *err);

enum iotcar_mode {
	IOTCAR_MODE_IDLE,
	IOTCAR_MODE_DRIVING,
	IOTCAR_MODE_FAILSAFE,
	IOTCAR_MODE_BLOCKED,
	IOTCAR_MODE_ESTOP,
	IOTCAR_MODE_COUNT,
};

/** @brief "idle", "driving"...: the wire name of @p mode. */
const char *iotcar_mode_name(enum iotcar_mode mode);

/** The state of protocol §3. */
struct iotcar_state {
	enum iotcar_mode mode;
	int throttle;
	int steer;
	/* Applied duties after mixing and limits, -100..100 (an Ackermann
	 * car: both are the throttle). */
	int left;
	int right;
	/* A steering servo and a throttle; absent from an older car's
	 * state: false, differential. */
	bool ackermann;
	int speed_limit;
	/* The speed of drive texts that give none; absent from an older
	 * car's state: IOTCAR_DRIVE_DEFAULT_SPEED. */
	int speed;
	bool estop;
	/* The number of the latest e-stop latch; 0 before the first. */
	uint32_t estop_latch;
	bool obstacle;
	bool moving;
	bool has_distance;
	double distance_cm;
	int ttl_ms;
	uint64_t seq;
};

/**
 * @brief Format @p st as the state JSON.
 * @return Length written (without NUL), or -ENOBUFS / -ENOMEM.
 */
int iotcar_state_format(const struct iotcar_state *st, char *buf, size_t size);

/**
 * @brief Parse a state JSON (what iotcar_state_format() writes). Fields it
 * does not know are ignored, so that a newer car still shows; estop_latch
 * may be missing (an older car).
 * @return 0, or -EINVAL (@p st zeroed) when a field of §3 is missing, of
 * the wrong type or out of range.
 */
int iotcar_state_parse(const char *json, size_t len, struct iotcar_state *st);

/**
 * @brief Format a result: ok when @p err is NULL or IOTCAR_ERR_NONE. An
 * e-stop that latched names its latch (@p estop_latch, 0 for none).
 * @return Length written, or -ENOBUFS / -ENOMEM.
 */
int iotcar_result_format(const char *cmd, const struct iotcar_cmd_id *id,
			 const struct iotcar_error *err, uint32_t estop_latch,
			 char *buf, size_t size);

/** An event of protocol §2; fields left NULL/unset are left out. */
struct iotcar_event {
	/* "failsafe", "obstacle", "estop", "bad_command", "retained_ignored",
	 * "link_lost", "overload" */
	const char *event;
	/* failsafe: "ttl" or "link_lost"; link_lost: "silent", "lost",
	 * "taken_over"; estop: "overload". */
	const char *reason;
	/* link_lost: how long the link was down. */
	bool has_down_ms;
	int64_t down_ms;
	/* link_lost: the MQTT v5 reason code the broker gave, 0 for none. */
	int reason_code;
	/* A sentence for people. */
	const char *message;
	/* bad_command, retained_ignored: where the command came from. */
	const char *topic;
	/* bad_command: what was wrong. */
	const struct iotcar_error *err;
	/* estop: the new latch state, and the latch's number. */
	const char *estop;
	uint32_t estop_latch;
	/* obstacle */
	bool has_distance;
	double distance_cm;
};

/** The telemetry of protocol §2: sensors and health. */
struct iotcar_telemetry {
	int64_t uptime_s;
	/* When the agent started, by the wall clock (Unix seconds): "started",
	 * ISO 8601 UTC; Home Assistant's timestamp sensor. */
	int64_t started_s;
	bool has_distance;
	double distance_cm;
	int left;
	int right;
	/* Wi-Fi signal; absent on a wired or simulated car. */
	bool has_rssi;
	int rssi_dbm;
	bool has_cpu_temp;
	double cpu_temp_c;
	long rss_kb;
	/* "sim" or "gpiod". */
	const char *hal;
	/* The simulated car's pose. */
	bool has_pose;
	double x_cm;
	double y_cm;
	double heading_deg;
	double odometer_cm;
	uint64_t commands;
	uint64_t rejected;
	/* Commands the car's inbox dropped, overloaded: never a safety one. */
	uint64_t dropped;
	/* Messages the car could not publish, its outgoing queue full: a
	 * drive command's result first, never an e-stop's event. */
	uint64_t lost;
};

/** @brief Format @p t. @return Length written, or -ENOBUFS / -ENOMEM. */
int iotcar_telemetry_format(const struct iotcar_telemetry *t, char *buf,
			    size_t size);

/** @brief Format @p ev. @return Length written, or -ENOBUFS / -ENOMEM. */
int iotcar_event_format(const struct iotcar_event *ev, char *buf, size_t size);

#endif
