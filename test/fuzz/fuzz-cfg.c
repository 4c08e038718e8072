/*
 * fuzz-cfg.c -- libFuzzer harness for the config file parser
 * (ch_cfg_parse).  Settings it accepts are written out (ch_cfg_dump) and
 * must read back (unless a line written out is past the 4 KB a line may
 * have).  The same bytes go to the HOST:PORT parser of the replication
 * settings (ch_cfg_parse_hostport), which must give a host and a port in
 * 1..65535 or nothing.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chatr.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ch_cfg cfg, again;
	struct ch_buf b = {0};
	char *cause = NULL;

	struct ch_hostport hp;

	if (size > 65536)
		return 0;
	if (ch_cfg_parse_hostport((const char *)data, size, &hp) == 0) {
		if (hp.host == NULL || hp.host[0] == '\0' || hp.port == 0 ||
		    hp.port > 65535)
			abort();
		free(hp.host);
	} else if (hp.host != NULL)
		abort();
	ch_cfg_defaults(&cfg);
	if (ch_cfg_parse(&cfg, (const char *)data, size, "fuzz", &cause) !=
	    0) {
		if (cause == NULL)
			abort();
		free(cause);
		ch_cfg_free(&cfg);
		return 0;
	}
	ch_cfg_dump(&cfg, &b);
	ch_cfg_defaults(&again);
	if (ch_cfg_parse(&again, b.data, b.len, "dump", &cause) != 0) {
		if (cause == NULL || strstr(cause, "line too long") == NULL)
			abort();
		free(cause);
	}
	ch_buf_free(&b);
	ch_cfg_free(&again);
	ch_cfg_free(&cfg);
	return 0;
}
