/*
 * tstore.h -- a real store in a temporary CHATR_VAR, for the unit tests
 * of the modules that use one (tstore.c).
 */
#ifndef TSTORE_H
#define TSTORE_H

#include "chatr.h"

void tstore_clear_env(void);
int tstore_setup(struct ch_db *, struct ch_cfg *, const char *);
int tstore_teardown(struct ch_db *, struct ch_cfg *);
const char *tstore_dir(void);
int tstore_run(struct ch_db *, int (*)(struct ch_db *, DB_TXN *, void *),
    void *);

#endif
