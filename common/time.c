/*
 * time.c -- clocks.  Stored times use the wall clock (they are shared by
 * processes and survive restarts); timers use the monotonic clock.
 */
#include "config.h"

#include <stdio.h>
#include <time.h>

#include "chatr.h"

/* Milliseconds since the epoch. */
int64_t
ch_time_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		ch_fatal("clock_gettime(CLOCK_REALTIME) failed");
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds on the monotonic clock. */
int64_t
ch_time_mono_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		ch_fatal("clock_gettime(CLOCK_MONOTONIC) failed");
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Microseconds on the monotonic clock. */
int64_t
ch_time_mono_us(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		ch_fatal("clock_gettime(CLOCK_MONOTONIC) failed");
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*
 * Write ms (since the epoch) as ISO 8601 UTC with milliseconds and a Z,
 * "2024-01-15T12:00:00.000Z".  0 on success.
 */
int
ch_time_iso(int64_t ms, char *out, size_t outsz)
{
	struct tm tm;
	time_t t;
	int n;

	if (ms < 0)
		return -1;
	t = (time_t)(ms / 1000);
	if (gmtime_r(&t, &tm) == NULL)
		return -1;
	n = snprintf(out, outsz, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	    tm.tm_sec, (int)(ms % 1000));
	if (n < 0 || (size_t)n >= outsz)
		return -1;
	return 0;
}
