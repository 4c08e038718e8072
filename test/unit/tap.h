/*
 * tap.h -- a tiny TAP producer for the unit tests: one "ok N - what" line
 * per check, with file:line on failure.  Not assert(): NDEBUG can't remove
 * it.  Each test-<module>.c ends main with "return tap_done();".
 */
#ifndef TAP_H
#define TAP_H

#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		int tap_ok = (cond) ? 1 : 0; /* evaluated once */            \
		tap_n++;                                                       \
		if (tap_ok) {                                                  \
			printf("ok %d - ", tap_n);                             \
		} else {                                                       \
			tap_failed++;                                          \
			printf("not ok %d - ", tap_n);                         \
		}                                                              \
		printf(__VA_ARGS__);                                           \
		printf("\n");                                                  \
		if (!tap_ok)                                                   \
			printf("#   %s:%d: failed: %s\n", __FILE__, __LINE__, \
			    #cond);                                            \
	} while (0)

#define CHECK_STR(got, want, ...)                                              \
	do {                                                                   \
		const char *tap_g = (got), *tap_w = (want);                    \
		CHECK(tap_g != NULL && strcmp(tap_g, tap_w) == 0, __VA_ARGS__); \
		if (tap_g == NULL || strcmp(tap_g, tap_w) != 0)                \
			printf("#   got \"%s\", want \"%s\"\n",                \
			    tap_g ? tap_g : "(null)", tap_w);                  \
	} while (0)

static int
tap_done(void)
{
	printf("1..%d\n", tap_n);
	fflush(stdout);
	return tap_failed ? 1 : 0;
}

#endif
