/*
 * window.c -- the per-address request limit (CHATR_LIMIT_REQUESTS_IP),
 * which every request meets, kept in the memory the processes share
 * (shared.c) rather than in the store: counting a request then writes
 * nothing to disk and takes no store lock, and a read-only request writes
 * nothing at all.  The count is as exact across processes as the store's
 * (one robust mutex orders them) and uses the same window arithmetic
 * (ch_limit_apply in limit.c).  It does not outlive the machine's boot;
 * the message, registration and verification limits, which must survive
 * a restart, stay in the store.
 *
 * The table holds CH_WINDOW_SETS sets of CH_WINDOW_WAYS slots; an address
 * may take any slot of the set its (seeded) hash names.  An address with
 * no slot takes a free one, or one whose events have all left the window,
 * or else the slot of the address in its set that was last counted
 * longest ago (that address then starts again from nothing: so only when
 * more than CH_WINDOW_WAYS addresses of one set are busy within a window,
 * which is more than 4,096 busy addresses in all, may one go over).
 *
 * A process that dies holding the mutex leaves it to the next one
 * (EOWNERDEAD), which resets the one slot that was being changed.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "chatr.h"

/* The seeded FNV-1a hash of an address. */
static uint64_t
window_hash(uint64_t seed, const char *addr)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ seed;

	for (; *addr != '\0'; addr++) {
		h ^= (unsigned char)*addr;
		h *= 0x100000001b3ULL;
	}
	return h ^ h >> 29;
}

/* The time of a slot's newest event (0 when it has none). */
static int64_t
window_last(const struct ch_window_slot *s)
{
	return s->nb == 0 || s->nb > CH_LIMIT_BUCKETS ? 0 : s->b[s->nb - 1].last;
}

/* The slot for addr in sh (taken for it when it has none). */
static struct ch_window_slot *
window_slot(struct ch_shared *sh, const char *addr, int64_t window,
    int64_t now)
{
	struct ch_window_slot *set, *s, *pick = NULL;
	size_t i;

	set = sh->slot + (window_hash(sh->seed, addr) % CH_WINDOW_SETS) *
	    CH_WINDOW_WAYS;
	for (i = 0; i < CH_WINDOW_WAYS; i++)
		if (strncmp(set[i].addr, addr, sizeof(set[i].addr)) == 0)
			return &set[i];
	for (i = 0; i < CH_WINDOW_WAYS; i++) {
		s = &set[i];
		if (s->addr[0] == '\0' || window_last(s) + window <= now) {
			pick = s; /* free, or all its events gone */
			break;
		}
		if (pick == NULL || window_last(s) < window_last(pick))
			pick = s;
	}
	if (pick->addr[0] != '\0' && window_last(pick) + window > now)
		__atomic_add_fetch(&sh->evicted, 1, __ATOMIC_RELAXED);
	memset(pick, 0, offsetof(struct ch_window_slot, b));
	snprintf(pick->addr, sizeof(pick->addr), "%s", addr);
	return pick;
}

/*
 * Count one request of address addr against l at now (ms) if l allows
 * it: 0 when allowed and counted; CH_LIMITED when not, with *retry the
 * seconds to wait; ENOSYS when the memory is not shared (the caller then
 * counts in the store); else an error of the mutex.
 */
int
ch_window_hit(const struct ch_cfg *cfg, const char *addr,
    const struct ch_limit *l, int64_t now, unsigned int *retry)
{
	struct ch_shared *sh;
	struct ch_window_slot *s;
	size_t nb;
	int ret, changed = 0;

	if (l->count == 0)
		return 0;
	if (!ch_shared_mapped(cfg))
		return ENOSYS;
	sh = ch_shared(cfg);
	ret = pthread_mutex_lock(&sh->lock);
	if (ret == EOWNERDEAD) {
		/* Its holder died: what it was changing is not to be trusted. */
		if (sh->editing >= 0 &&
		    sh->editing < CH_WINDOW_SETS * CH_WINDOW_WAYS)
			memset(&sh->slot[sh->editing], 0,
			    offsetof(struct ch_window_slot, b));
		sh->editing = -1;
		ch_log_warn("the request limit's lock was held by a process "
		    "that died; taking it over");
		ret = pthread_mutex_consistent(&sh->lock);
	}
	if (ret != 0)
		return ret;
	s = window_slot(sh, addr, (int64_t)l->seconds * 1000, now);
	sh->editing = (int32_t)(s - sh->slot);
	nb = s->nb <= CH_LIMIT_BUCKETS ? s->nb : 0;
	ret = ch_limit_apply(s->b, &nb, l, now, retry, 1, &changed);
	s->nb = (uint32_t)nb;
	if (nb == 0)
		s->addr[0] = '\0';
	sh->editing = -1;
	(void)pthread_mutex_unlock(&sh->lock);
	return ret;
}
