/* SPDX-License-Identifier: MIT */
/*
 * log.h: one logger for every iotcar program, so that a line in the journal
 * or a test log always says which program wrote it, when, and how serious it
 * is.
 */
#ifndef IOTCAR_LOG_H
#define IOTCAR_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum iotcar_log_level {
	IOTCAR_LOG_ERROR,
	IOTCAR_LOG_WARNING,
	IOTCAR_LOG_INFO,
	IOTCAR_LOG_DEBUG,
};

/**
 * @brief Name the program in every line and set the threshold. When
 * stderr is the journal ($JOURNAL_STREAM), lines carry their priority
 * ("<4>") instead of a time of their own.
 * @param prog Program name; borrowed, must outlive every log call.
 * Context: main thread, before any other thread starts.
 */
void iotcar_log_init(const char *prog, enum iotcar_log_level level);

/**
 * @brief Parse "error", "warning", "info" or "debug".
 * @return 0, or -EINVAL for anything else.
 */
int iotcar_log_level_parse(const char *text, enum iotcar_log_level *level);

/** @brief True when messages of @p level are written. */
bool iotcar_log_enabled(enum iotcar_log_level level);

/**
 * @brief Write one line to stderr: time (or the journal's priority),
 * program, level, message.
 * Context: any thread; one write(2) per line, so lines never interleave.
 */
void iotcar_log(enum iotcar_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/**
 * A trouble that can happen thousands of times a second (commands dropped
 * by a flood, results that could not be published): logged once when a
 * burst of it starts and once when it ends, with the count, instead of
 * once a time. Loop thread.
 */
struct iotcar_log_burst {
	/* What happens, for people: "drive commands dropped: ...". */
	const char *what;
	uint64_t last;
	uint64_t start;
	int64_t start_ms;
	bool active;
};

/**
 * @brief Now and then (a few times a second), the running count of the
 * trouble at @p now_ms: a rise starts a burst, no rise ends it.
 */
void iotcar_log_burst_tick(struct iotcar_log_burst *b, uint64_t count,
			   int64_t now_ms);

/*
 * A warning that may come again and again (a broker that flaps, slow
 * clients dropped one after another): at most IOTCAR_LOG_LIMIT_BURST lines
 * per call site in IOTCAR_LOG_LIMIT_MS; the next line that is written says
 * how many were not. Any thread.
 */
#define IOTCAR_LOG_LIMIT_BURST 5
#define IOTCAR_LOG_LIMIT_MS 10000
struct iotcar_log_limit {
	int64_t window_ms;
	unsigned printed;
	uint64_t suppressed;
};
/**
 * @brief Whether a line may be written at @p now_ms (monotonic); when it
 * may, @p *suppressed is how many were not since the last one written.
 */
bool iotcar_log_limit_at(struct iotcar_log_limit *l, int64_t now_ms,
			 uint64_t *suppressed);
/** @brief iotcar_log_limit_at() now. */
bool iotcar_log_limit_pass(struct iotcar_log_limit *l, uint64_t *suppressed);

#define log_error(...) iotcar_log(IOTCAR_LOG_ERROR, __VA_ARGS__)
#define log_warning(...) iotcar_log(IOTCAR_LOG_WARNING, __VA_ARGS__)
#define log_info(...) iotcar_log(IOTCAR_LOG_INFO, __VA_ARGS__)
#define log_debug(...) iotcar_log(IOTCAR_LOG_DEBUG, __VA_ARGS__)
/* log_warning(), rate-limited per call site (struct iotcar_log_limit). */
#define log_warning_limited(fmt, ...)                                          \
	do {                                                                   \
		static struct iotcar_log_limit limit_;                         \
		uint64_t more_;                                                \
		if (!iotcar_log_limit_pass(&limit_, &more_))                   \
			break;                                                 \
		if (more_)                                                     \
			log_warning(fmt " (%llu more like it not logged)",     \
				    __VA_ARGS__, (unsigned long long)more_);   \
		else                                                           \
			log_warning(fmt, __VA_ARGS__);                         \
	} while (0)

#endif
