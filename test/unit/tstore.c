/*
 * tstore.c -- a real store in a temporary CHATR_VAR for the unit tests:
 * every CHATR_* variable of the environment is cleared, the defaults are
 * loaded with CHATR_VAR set to a fresh directory, and the store is opened
 * there; teardown closes it and removes the directory.
 */
#include "config.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tstore.h"

extern char **environ;

static char tmpdir[256];

/* Unset every CHATR_* environment variable. */
void
tstore_clear_env(void)
{
	char name[256], *eq;
	int again = 1;
	size_t i, n;

	while (again) {
		again = 0;
		for (i = 0; environ[i] != NULL; i++) {
			if (strncmp(environ[i], "CHATR_", 6) != 0 ||
			    (eq = strchr(environ[i], '=')) == NULL)
				continue;
			n = (size_t)(eq - environ[i]);
			if (n >= sizeof(name))
				continue;
			memcpy(name, environ[i], n);
			name[n] = '\0';
			if (unsetenv(name) != 0)
				continue;
			again = 1;
			break;
		}
	}
}

/*
 * Make a temporary CHATR_VAR named after test and open the store there.
 * 0 on success; else -1, having said why (a TAP comment).
 */
int
tstore_setup(struct ch_db *db, struct ch_cfg *cfg, const char *test)
{
	const char *t;
	char *cause = NULL;

	tstore_clear_env();
	if ((t = getenv("TMPDIR")) == NULL || *t == '\0')
		t = "/tmp";
	snprintf(tmpdir, sizeof(tmpdir), "%s/%s.XXXXXX", t, test);
	if (mkdtemp(tmpdir) == NULL) {
		printf("# setup: mkdtemp %s failed\n", tmpdir);
		return -1;
	}
	if (setenv("CHATR_VAR", tmpdir, 1) != 0) {
		printf("# setup: setenv CHATR_VAR failed\n");
		return -1;
	}
	if (ch_cfg_load(cfg, NULL, &cause) != 0) {
		printf("# setup: ch_cfg_load: %s\n", cause);
		free(cause);
		return -1;
	}
	if (ch_db_open(db, cfg, &cause) != 0) {
		printf("# setup: ch_db_open: %s\n", cause);
		free(cause);
		ch_cfg_free(cfg);
		return -1;
	}
	return 0;
}

const char *
tstore_dir(void)
{
	return tmpdir;
}

/* Run fn in a transaction of its own (ch_db_run), returning its result. */
int
tstore_run(struct ch_db *db, int (*fn)(struct ch_db *, DB_TXN *, void *),
    void *arg)
{
	struct ch_txn t;

	memset(&t, 0, sizeof(t));
	t.run = fn;
	return ch_db_run(db, &t, arg);
}

/* nftw callback: remove one entry. */
static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(path);
}

/* Close the store and remove the temporary directory; 0 on success. */
int
tstore_teardown(struct ch_db *db, struct ch_cfg *cfg)
{
	int r;

	ch_db_close(db);
	ch_cfg_free(cfg);
	r = nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	tstore_clear_env();
	return r;
}
