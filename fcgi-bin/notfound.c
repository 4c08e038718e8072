/*
 * /api/... -- every path under /api/ that no other program serves: a JSON
 * 404.
 */
#include "config.h"

#include "chatr.h"

const struct ch_endpoint ep_notfound = {
	.name = "notfound",
	.path = NULL,
};
