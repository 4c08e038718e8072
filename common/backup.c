/*
 * backup.c -- copies of the store: hot backups, restores, and checks.
 *
 * A backup is Berkeley DB's hot backup (DB_ENV->backup): the databases,
 * then the log files, while the service runs and commits; catastrophic
 * recovery over the copy makes it the store as of the backup's end.  A
 * restore copies a backup into a stopped CHATR_VAR and runs that
 * recovery there.  A check (chatrctl verify) backs the live store up
 * into run/, recovers the copy and verifies every database in it, so it
 * never reads pages a process is writing.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chatr.h"

/* Is name one of the store's files a backup holds (a database, a log)? */
static int
backup_file(const char *name)
{
	size_t n = strlen(name);

	return (n > 3 && strcmp(name + n - 3, ".db") == 0) ||
	    strncmp(name, "log.", 4) == 0;
}

/* Remove the store's files (and its regions) from dir. */
static int
backup_clear(const char *dir, char **cause)
{
	struct dirent *e;
	DIR *d;
	char *p;
	int ret = 0;

	if ((d = opendir(dir)) == NULL) {
		if (errno == ENOENT)
			return 0;
		*cause = ch_xprintf("%s: %s", dir, strerror(errno));
		return -1;
	}
	while (ret == 0 && (e = readdir(d)) != NULL) {
		if (!backup_file(e->d_name) &&
		    strncmp(e->d_name, "__db.", 5) != 0)
			continue;
		p = ch_xprintf("%s/%s", dir, e->d_name);
		if (unlink(p) != 0) {
			*cause = ch_xprintf("removing %s: %s", p,
			    strerror(errno));
			ret = -1;
		}
		free(p);
	}
	closedir(d);
	return ret;
}

/* Copy file from to to (made anew, mode 0600, synced). */
static int
backup_copy(const char *from, const char *to, char **cause)
{
	char buf[65536];
	ssize_t n, w, off;
	int in, out, ret = 0;

	if ((in = open(from, O_RDONLY | O_CLOEXEC)) < 0) {
		*cause = ch_xprintf("%s: %s", from, strerror(errno));
		return -1;
	}
	if ((out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600)) < 0) {
		*cause = ch_xprintf("%s: %s", to, strerror(errno));
		close(in);
		return -1;
	}
	while (ret == 0 && (n = read(in, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			*cause = ch_xprintf("reading %s: %s", from,
			    strerror(errno));
			ret = -1;
			break;
		}
		for (off = 0; off < n; off += w)
			if ((w = write(out, buf + off, (size_t)(n - off))) <
			    0) {
				*cause = ch_xprintf("writing %s: %s", to,
				    strerror(errno));
				ret = -1;
				break;
			}
	}
	if (ret == 0 && fsync(out) != 0) {
		*cause = ch_xprintf("syncing %s: %s", to, strerror(errno));
		ret = -1;
	}
	close(in);
	if (close(out) != 0 && ret == 0) {
		*cause = ch_xprintf("closing %s: %s", to, strerror(errno));
		ret = -1;
	}
	return ret;
}

/*
 * Catastrophic recovery of the store copy in dir, in an environment of
 * this process alone (nothing else has it open).  0, or -1 with *cause.
 */
static int
backup_recover(const char *dir, char **cause)
{
	DB_ENV *env;
	int ret;

	if ((ret = db_env_create(&env, 0)) != 0) {
		*cause = ch_xprintf("db_env_create: %s", db_strerror(ret));
		return -1;
	}
	if ((ret = env->open(env, dir, DB_CREATE | DB_INIT_LOCK |
	    DB_INIT_LOG | DB_INIT_MPOOL | DB_INIT_TXN | DB_RECOVER_FATAL |
	    DB_PRIVATE, 0600)) != 0) {
		*cause = ch_xprintf("recovering the copy in %s: %s", dir,
		    db_strerror(ret));
		(void)env->close(env, 0);
		return -1;
	}
	if ((ret = env->txn_checkpoint(env, 0, 0, DB_FORCE)) != 0 ||
	    (ret = env->close(env, 0)) != 0) {
		*cause = ch_xprintf("closing the copy in %s: %s", dir,
		    db_strerror(ret));
		return -1;
	}
	return 0;
}

/*
 * A hot backup of db's store into dir (made if need be; what a backup
 * there held before is replaced).  0, or -1 with an allocated *cause.
 */
int
ch_db_backup(struct ch_db *db, const char *dir, char **cause)
{
	int ret;

	if (!ch_db_ready(db)) {
		*cause = ch_xstrdup("the store is not open");
		return -1;
	}
	if ((ret = db->env->backup(db->env, dir, DB_CREATE |
	    DB_BACKUP_CLEAN | DB_BACKUP_SINGLE_DIR)) != 0) {
		*cause = ch_xprintf("%s", db_strerror(ret));
		return -1;
	}
	return 0;
}

/*
 * Restore the backup in dir into cfg's store, which no process may have
 * open: the store's files are replaced by the backup's, recovered.  The
 * message log of the store that was is kept aside (messages.log.old), as
 * its ids are not the restored store's.  0, or -1 with *cause.
 */
int
ch_db_restore(const struct ch_cfg *cfg, const char *dir, char **cause)
{
	struct dirent *e;
	struct stat st;
	char *from, *to, *old;
	int n = 0, ret = 0;
	DIR *d;

	if ((d = opendir(dir)) == NULL) {
		*cause = ch_xprintf("%s: %s", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL)
		n += backup_file(e->d_name) &&
		    strcmp(e->d_name + strlen(e->d_name) - 3, ".db") == 0;
	if (n == 0) {
		closedir(d);
		*cause = ch_xprintf("%s holds no backup (no database files)",
		    dir);
		return -1;
	}
	if ((mkdir(cfg->var, 0700) != 0 && errno != EEXIST) ||
	    (mkdir(cfg->db_home, 0700) != 0 && errno != EEXIST)) {
		closedir(d);
		*cause = ch_xprintf("making %s: %s", cfg->db_home,
		    strerror(errno));
		return -1;
	}
	if (backup_clear(cfg->db_home, cause) != 0) {
		closedir(d);
		return -1;
	}
	rewinddir(d);
	while (ret == 0 && (e = readdir(d)) != NULL) {
		if (!backup_file(e->d_name))
			continue;
		from = ch_xprintf("%s/%s", dir, e->d_name);
		to = ch_xprintf("%s/%s", cfg->db_home, e->d_name);
		ret = backup_copy(from, to, cause);
		free(from);
		free(to);
	}
	closedir(d);
	if (ret != 0)
		return -1;
	if (backup_recover(cfg->db_home, cause) != 0)
		return -1;
	if (stat(cfg->msglog, &st) == 0) {
		old = ch_xprintf("%s.old", cfg->msglog);
		if (rename(cfg->msglog, old) != 0) {
			*cause = ch_xprintf("moving %s aside: %s",
			    cfg->msglog, strerror(errno));
			free(old);
			return -1;
		}
		free(old);
	}
	return 0;
}

/* Remove dir and the store's files in it. */
static void
backup_remove(const char *dir)
{
	char *cause = NULL;

	if (backup_clear(dir, &cause) != 0) {
		ch_log_warn("%s", cause);
		free(cause);
	}
	if (rmdir(dir) != 0 && errno != ENOENT)
		ch_log_warn("removing %s: %s", dir, strerror(errno));
}

/*
 * Check the integrity of db's store: a hot backup into $CHATR_VAR/run,
 * recovered, and every database in it verified (DB->verify, as db_verify
 * does); *files gets how many.  0, or -1 with *cause naming what is
 * damaged.
 */
int
ch_db_verify(struct ch_db *db, unsigned int *files, char **cause)
{
	struct dirent *e;
	char *dir, *path;
	DIR *d;
	DB *dbp;
	size_t n;
	int ret = 0;

	*files = 0;
	dir = ch_xprintf("%s/run/verify.%ld", db->cfg->var, (long)getpid());
	backup_remove(dir);
	if (ch_db_backup(db, dir, cause) != 0 ||
	    backup_recover(dir, cause) != 0) {
		backup_remove(dir);
		free(dir);
		return -1;
	}
	if ((d = opendir(dir)) == NULL) {
		*cause = ch_xprintf("%s: %s", dir, strerror(errno));
		backup_remove(dir);
		free(dir);
		return -1;
	}
	while (ret == 0 && (e = readdir(d)) != NULL) {
		n = strlen(e->d_name);
		if (n <= 3 || strcmp(e->d_name + n - 3, ".db") != 0)
			continue;
		path = ch_xprintf("%s/%s", dir, e->d_name);
		if ((ret = db_create(&dbp, NULL, 0)) != 0)
			*cause = ch_xprintf("db_create: %s", db_strerror(ret));
		else if ((ret = dbp->verify(dbp, path, NULL, NULL, 0)) != 0)
			*cause = ch_xprintf("%s: %s", e->d_name,
			    db_strerror(ret));
		else
			(*files)++;
		free(path);
	}
	closedir(d);
	backup_remove(dir);
	free(dir);
	return ret == 0 ? 0 : -1;
}
