/* SPDX-License-Identifier: MIT */
/*
 * fuzz.h: what a fuzz target defines. Built with clang -fsanitize=fuzzer it
 * is a libFuzzer target; built with any compiler next to replay.c it replays
 * a corpus, which is how CTest runs it in every preset.
 */
#ifndef FUZZ_H
#define FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant broke: say which and abort, so that libFuzzer saves the input
 * and the replay fails. */
#define FUZZ_CHECK(cond)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: invariant failed: %s\n",       \
				__FILE__, __LINE__, #cond);                    \
			abort();                                               \
		}                                                              \
	} while (0)

#endif
