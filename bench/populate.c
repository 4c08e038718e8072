/*
 * populate.c -- fill a chatr store with registered agents, for
 * bench/scale-bench.sh: as many as it takes for the store to hold TOTAL,
 * made as POST /api/register makes them (ch_agent_create: a random id
 * and key, the name, key and presence indexes, the agents counter), a
 * thousand to a transaction.  Of those it makes, ONLINE (spread evenly)
 * are marked seen now, and the API keys of KEYS of them (spread evenly)
 * are written to KEYFILE, one per line, for the load client.
 *
 * usage: populate TOTAL ONLINE KEYS KEYFILE
 * The store is the one of CHATR_CONFIG / CHATR_* (as for every chatr
 * program); chatr may be running.  Names are scale-<n>.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chatr.h"

#define BATCH 1000

struct batch {
	uint64_t base;		/* agents the store held before */
	uint64_t first, n;	/* agents first .. first + n - 1 */
	uint64_t todo;		/* of all to make */
	uint64_t online, keys;	/* how many of them, evenly */
	int64_t now;
	FILE *keyfile;
	char (*k)[CH_KEY_LEN + 1]; /* the batch's keys, to write after */
	int *want;		/* whether agent i's key is written */
};

/* Is agent i (0-based among todo) one of every todo/of? */
static int
every(uint64_t i, uint64_t todo, uint64_t of)
{
	if (of == 0)
		return 0;
	if (of >= todo)
		return 1;
	return (i * of) / todo != ((i + 1) * of) / todo;
}

static int
batch_run(struct ch_db *db, DB_TXN *txn, void *arg)
{
	struct batch *b = arg;
	static char avatar[] = "\xf0\x9f\xa4\x96"; /* register.c's default */
	struct ch_agent a;
	char name[32];
	uint64_t i;
	int ret = 0;

	for (i = 0; i < b->n && ret == 0; i++) {
		memset(&a, 0, sizeof(a));
		if (ch_auth_new_uuid(a.id, sizeof(a.id)) != 0 ||
		    ch_auth_new_key(b->k[i], sizeof(b->k[i])) != 0)
			return EIO;
		ch_auth_hash(b->k[i], CH_KEY_LEN, a.keyhash);
		snprintf(name, sizeof(name), "scale-%" PRIu64,
		    b->base + b->first + i);
		a.name = name;
		a.avatar = avatar;
		a.created = b->now;
		if (every(b->first + i, b->todo, b->online))
			a.last_seen = b->now / 1000;
		b->want[i] = every(b->first + i, b->todo, b->keys);
		ret = ch_agent_create(db, txn, &a);
	}
	return ret == CH_AGENT_EXISTS ? EEXIST : ret;
}

static const struct ch_txn batch_txn = {.run = batch_run};

static int
total(struct ch_db *db, DB_TXN *txn, void *arg)
{
	return ch_db_counter_get(db, txn, "agents", arg);
}

static const struct ch_txn total_txn = {.run = total};

int
main(int argc, char **argv)
{
	struct ch_cfg cfg;
	struct ch_db db;
	struct batch b;
	uint64_t have = 0, want, i;
	char *cause = NULL, *end;
	int ret;

	ch_log_init("populate");
	if (argc != 5) {
		fprintf(stderr, "usage: populate TOTAL ONLINE KEYS KEYFILE\n");
		return 2;
	}
	memset(&b, 0, sizeof(b));
	want = strtoull(argv[1], &end, 10);
	b.online = strtoull(argv[2], &end, 10);
	b.keys = strtoull(argv[3], &end, 10);
	if (ch_cfg_load(&cfg, NULL, &cause) != 0 ||
	    ch_db_open(&db, &cfg, &cause) != 0) {
		fprintf(stderr, "populate: %s\n", cause);
		return 1;
	}
	if ((ret = ch_db_run(&db, &total_txn, &have)) != 0) {
		fprintf(stderr, "populate: %s\n", db_strerror(ret));
		return 1;
	}
	if ((b.keyfile = fopen(argv[4], "w")) == NULL) {
		fprintf(stderr, "populate: %s: %s\n", argv[4], strerror(errno));
		return 1;
	}
	b.base = have;
	b.todo = want > have ? want - have : 0;
	b.now = ch_time_ms();
	b.k = ch_xcalloc(BATCH, sizeof(*b.k));
	b.want = ch_xcalloc(BATCH, sizeof(*b.want));
	for (b.first = 0; b.first < b.todo; b.first += b.n) {
		b.n = b.todo - b.first < BATCH ? b.todo - b.first : BATCH;
		if ((ret = ch_db_run(&db, &batch_txn, &b)) != 0) {
			fprintf(stderr, "populate: agent %" PRIu64 ": %s\n",
			    have + b.first, ret == EEXIST ? "name taken" :
			    db_strerror(ret));
			return 1;
		}
		for (i = 0; i < b.n; i++)
			if (b.want[i])
				fprintf(b.keyfile, "%s\n", b.k[i]);
		if ((b.first / BATCH) % 100 == 99)
			ch_db_maintain(&db, 1); /* a checkpoint: old logs go */
	}
	if (fclose(b.keyfile) != 0 || ch_db_flush(&db) != 0) {
		fprintf(stderr, "populate: %s: %s\n", argv[4], strerror(errno));
		return 1;
	}
	printf("%" PRIu64 " agents (%" PRIu64 " new)\n", have + b.todo, b.todo);
	ch_wipe(b.k, BATCH * sizeof(*b.k));
	free(b.k);
	free(b.want);
	ch_db_close(&db);
	ch_cfg_free(&cfg);
	return 0;
}
