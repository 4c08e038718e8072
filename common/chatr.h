/*
 * chatr.h -- the one public header of libchatr, the library every chatr
 * program links.  Sections follow the source files of common/.
 */
#ifndef CHATR_H
#define CHATR_H

#include <sys/types.h>

#include <pthread.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <db.h>
#include <json-c/json.h>

#ifndef __dead
#define __dead __attribute__((__noreturn__))
#endif
#define CH_PRINTF(a, b) __attribute__((__format__(__printf__, a, b)))

/* Sizes fixed by the product. */
#define CH_BODY_MAX 16384	     /* request body cap, bytes */
#define CH_JSON_DEPTH 8		     /* nesting allowed in a request */
#define CH_NAME_MIN 2		     /* agent name, characters */
#define CH_NAME_MAX 32
#define CH_AVATAR_MAX 64	     /* avatar, characters */
#define CH_CONTENT_MAX 250	     /* message content, characters */
#define CH_HISTORY 100		     /* messages in a history event */
#define CH_ID_LEN 36		     /* uuid text */
#define CH_KEY_PREFIX "chatr_"
#define CH_KEY_LEN (6 + 32)	     /* chatr_ + 32 hex digits */
#define CH_HASH_LEN 32		     /* SHA-256 */
#define CH_CODE_LEN 8		     /* verification code */
#define CH_ADDR_MAX 64		     /* client address text */

/* mem.c */
struct ch_buf {
	char *data;
	size_t len;
	size_t cap;
};
void *ch_xmalloc(size_t);
void *ch_xcalloc(size_t, size_t);
void *ch_xreallocarray(void *, size_t, size_t);
char *ch_xstrdup(const char *);
char *ch_xstrndup(const char *, size_t);
char *ch_xprintf(const char *, ...) CH_PRINTF(1, 2);
char *ch_xvprintf(const char *, va_list) CH_PRINTF(1, 0);
void ch_wipe(void *, size_t);
void ch_buf_add(struct ch_buf *, const void *, size_t);
void ch_buf_adds(struct ch_buf *, const char *);
void ch_buf_addf(struct ch_buf *, const char *, ...) CH_PRINTF(2, 3);
void ch_buf_reset(struct ch_buf *);
void ch_buf_free(struct ch_buf *);

/* log.c */
enum ch_log_level {
	CH_LOG_ERR,
	CH_LOG_WARN,
	CH_LOG_INFO,
	CH_LOG_DEBUG,
	CH_LOG__MAX
};
void ch_log_init(const char *);
void ch_log_set_level(enum ch_log_level);
int ch_log_parse_level(const char *, enum ch_log_level *);
void ch_log_set_reqid(unsigned long);
const char *ch_log_prog(void);
void ch_log_write(enum ch_log_level, const char *, int, const char *, ...)
    CH_PRINTF(4, 5);
__dead void ch_log_fatal(const char *, int, const char *, ...) CH_PRINTF(3, 4);
size_t ch_log_escape(char *, size_t, const char *, size_t);
#define ch_log_err(...) ch_log_write(CH_LOG_ERR, __FILE__, __LINE__, __VA_ARGS__)
#define ch_log_warn(...)                                                       \
	ch_log_write(CH_LOG_WARN, __FILE__, __LINE__, __VA_ARGS__)
#define ch_log_info(...)                                                       \
	ch_log_write(CH_LOG_INFO, __FILE__, __LINE__, __VA_ARGS__)
#define ch_log_debug(...)                                                      \
	ch_log_write(CH_LOG_DEBUG, __FILE__, __LINE__, __VA_ARGS__)
#define ch_fatal(...) ch_log_fatal(__FILE__, __LINE__, __VA_ARGS__)

/* watchdog.c: the exit status of a process the watchdog ended. */
#define CH_EXIT_STUCK 75
void ch_watchdog_start(unsigned int);
void ch_watchdog_stop(void);
void ch_watchdog_region(const char *, ino_t);
void ch_watchdog_mark(const char *);
void ch_watchdog_registry(const char *);
void ch_watchdog_opening(unsigned int);
__dead void ch_watchdog_recover(void);
void ch_watchdog_busy(void);
void ch_watchdog_idle(void);

/* time.c */
int64_t ch_time_ms(void);
int64_t ch_time_mono_ms(void);
int64_t ch_time_mono_us(void);
int ch_time_iso(int64_t, char *, size_t);

/* utf8.c */
size_t ch_utf8_decode(const unsigned char *, size_t, uint32_t *);
int ch_utf8_count(const char *, size_t, size_t *);
int ch_utf8_blank(const char *, size_t);
int ch_utf8_space(uint32_t);
int ch_utf8_invisible(uint32_t);
int ch_utf8_bidi(uint32_t);
char *ch_utf8_strip_bidi(const char *, size_t, size_t *);

/* err.c */
enum ch_err {
	CH_ERR_OK,
	CH_ERR_INVAL,	  /* 400 */
	CH_ERR_AUTH,	  /* 401 */
	CH_ERR_FORBIDDEN, /* 403 */
	CH_ERR_NOTFOUND,  /* 404 */
	CH_ERR_METHOD,	  /* 405 */
	CH_ERR_CONFLICT,  /* 409 */
	CH_ERR_TOOBIG,	  /* 413 */
	CH_ERR_MEDIA,	  /* 415 */
	CH_ERR_LIMIT,	  /* 429 */
	CH_ERR_INTERNAL,  /* 500 */
	CH_ERR_UPSTREAM,  /* 502 */
	CH_ERR_UNAVAIL,	  /* 503 */
	CH_ERR__MAX
};
int ch_err_status(enum ch_err);
const char *ch_err_reason(enum ch_err);
const char *ch_err_text(enum ch_err);

/* addr.c */
struct ch_cidr {
	int family; /* AF_INET, AF_INET6 */
	unsigned int bits;
	unsigned char addr[16];
};
#define CH_CIDR_TEXT 64
int ch_cidr_parse(const char *, size_t, struct ch_cidr *);
void ch_cidr_text(const struct ch_cidr *, char *, size_t);
int ch_cidr_match(const struct ch_cidr *, const char *);
int ch_cidr_any(const struct ch_cidr *, size_t, const char *);
int ch_cidr_list(const char *, struct ch_cidr **, size_t *, char **);

/* cfg.c */
struct ch_limit {
	unsigned int count; /* 0: no limit */
	unsigned int seconds;
};
struct ch_hostport {
	char *host;
	unsigned int port;
};
struct ch_cfg {
	unsigned int port;
	char *var;
	char *public_url;
	char *moltbook_api;
	unsigned int stats_interval;
	struct ch_limit msg_verified;
	struct ch_limit msg_unverified;
	struct ch_limit register_ip;
	struct ch_limit requests_ip;
	struct ch_limit verify_agent;
	unsigned int streams_ip;
	unsigned int streams_max;
	unsigned int online_window;
	unsigned int db_cache_mb;
	unsigned int watchdog;
	unsigned int procs; /* FastCGI processes per endpoint; 0: chatrd's */
	enum ch_log_level log_level;
	/* Replication (none of it set: a single node). */
	char *repl_listen;	/* HOST:PORT of this node, or "" */
	char *repl_peers;	/* HOST:PORT,... to join through */
	unsigned int repl_priority;
	char *node_url;		/* base URL of this node's lighttpd */
	char *cluster_secret;	/* never logged nor dumped */
	char *trusted_proxies;	/* networks whose X-Forwarded-For is believed */
	char *metrics_allow;	/* networks that may read /metrics */
	/* Derived from the settings above. */
	struct ch_hostport *peers; /* repl_peers parsed */
	size_t npeers;
	struct ch_hostport listen; /* repl_listen parsed; host NULL if unset */
	struct ch_cidr *proxies;   /* trusted_proxies parsed */
	size_t nproxies;
	struct ch_cidr *metrics_nets; /* metrics_allow parsed */
	size_t nmetrics_nets;
	/* Derived from var. */
	char *db_home;
	char *msglog;
	char *msglock;
	char *relay_socket;
};
int ch_cfg_load(struct ch_cfg *, const char *, char **);
int ch_cfg_parse(struct ch_cfg *, const char *, size_t, const char *,
    char **);
void ch_cfg_defaults(struct ch_cfg *);
void ch_cfg_free(struct ch_cfg *);
int ch_cfg_parse_limit(const char *, struct ch_limit *);
int ch_cfg_parse_uint(const char *, unsigned int, unsigned int,
    unsigned int *);
void ch_cfg_dump(const struct ch_cfg *, struct ch_buf *);
void ch_cfg_write(const struct ch_cfg *, struct ch_buf *);
int ch_cfg_parse_hostport(const char *, size_t, struct ch_hostport *);
int ch_cfg_replicated(const struct ch_cfg *);
void ch_addr_client(const struct ch_cfg *, const char *, const char *,
    char *, size_t);
void ch_addr_limit_key(const char *, char *, size_t);

/* json.c */
int ch_json_parse(const char *, size_t, struct json_object **, char **);
int ch_json_parse_deep(const char *, size_t, int, struct json_object **,
    char **);
const char *ch_json_str(struct json_object *, const char *, size_t *);
struct json_object *ch_json_str_or_null(const char *);
const char *ch_json_text(struct json_object *, size_t *);
int ch_json_addstr(struct json_object *, const char *, const char *);

/* Results of chatr's own, beside Berkeley DB's errors and errno values. */
#define CH_LIMITED 100001	  /* limit.c: over the limit */
#define CH_AGENT_EXISTS 100002	  /* agent.c: a name (or Moltbook name) taken */
#define CH_TXN_REFUSED 100003	  /* a handler failed the request */
#define CH_DB_UNAVAILABLE 100004 /* db.c: the store cannot be opened */
#define CH_DB_LOST 100005	  /* db.c: a commit lost to a recovery that
				     ran under it */
#define CH_DB_REPLICA 100006	  /* db.c: a write on a node that is not
				     the master */
#define CH_DB_UNACKED 100007	  /* db.c: a commit the replication group
				     did not acknowledge */

/* db.c */
struct ch_db {
	DB_ENV *env;  /* NULL while closed */
	DB *agents;   /* agent id -> agent record (JSON) */
	DB *names;    /* lower-case name -> agent id */
	DB *keys;     /* SHA-256 of API key -> agent id */
	DB *presence; /* big-endian last-seen seconds + agent id -> "" */
	DB *messages; /* big-endian message id -> message JSON */
	DB *meta;     /* counter name -> big-endian uint64 */
	DB *limits;   /* limit key -> window buckets */
	DB *mbnames;  /* lower-case Moltbook name -> agent id */
	DB *deletes;  /* be64 seq -> be64 id of a deleted message */
	DB *blocks;   /* blocked network -> {"reason","at"} */
	DB *audit;    /* be64 seq -> moderation action (JSON) */
	const struct ch_cfg *cfg; /* to reopen */
	int logfd;		  /* the newest log file, for ch_db_flush */
	unsigned long logno;
	int64_t last_checkpoint;
	int64_t last_failchk;
	int64_t last_sweep;
	int64_t tried_open;
	unsigned long reopens;
	ino_t region_ino;	/* of the regions' first file this process joined */
	int partial;		/* replica: some databases not there yet */
	char members_tag[64];	/* run/repl.members when this process joined */
	int rejoin;		/* a site joined since: end after this request */
	int64_t members_checked;
	int waiting_repl;	/* cannot open until chatr-repl says so */
};
/* repl.c */
enum ch_role { CH_ROLE_SINGLE, CH_ROLE_MASTER, CH_ROLE_REPLICA };
struct ch_repl_state {
	enum ch_role role;
	int master_eid;		/* DB_EID_INVALID when none is known */
	char master_host[256];	/* its replication address, if known */
	unsigned int master_port;
	int caught_up;		/* a replica done with its first sync */
};
int ch_repl_creator(const struct ch_cfg *);
int ch_repl_setup(DB_ENV *, const struct ch_cfg *, int, char **);
int ch_repl_start(DB_ENV *, int, char **);
int ch_repl_state(struct ch_db *, struct ch_repl_state *);
int ch_repl_is_master(struct ch_db *);
int ch_repl_ack_policy(struct ch_db *);
void ch_repl_nodelay(struct ch_db *);
char *ch_repl_master_url(struct ch_db *, const struct ch_repl_state *);
int ch_repl_publish(struct ch_db *);
int ch_repl_connected(struct ch_db *, int);
unsigned long ch_repl_unacked(void);
int ch_repl_panicked(void);
unsigned long ch_repl_joins(void);

/* One transaction for ch_db_run. */
struct ch_txn {
	int (*run)(struct ch_db *, DB_TXN *, void *);
	int (*committed)(struct ch_db *, DB_TXN *, void *);
	uint32_t flags;	 /* DB_ENV->txn_begin flags */
	int budget_ms;	 /* retries on contention: 0 default, <0 none */
};
#define CH_DB_BUSY_MS 3000
#define CH_REPL_CONNECT_MS 2000 /* a master's write waits for the group */
int ch_db_open(struct ch_db *, const struct ch_cfg *, char **);
void ch_db_replication_process(int);
void ch_db_reader(void);
int ch_db_rejoin(struct ch_db *);
void ch_db_close(struct ch_db *);
int ch_db_reopen(struct ch_db *, const char *);
int ch_db_ready(struct ch_db *);
int ch_db_run(struct ch_db *, const struct ch_txn *, void *);
int ch_db_begin(struct ch_db *, DB_TXN **, uint32_t);
int ch_db_commit(DB_TXN *, uint32_t);
void ch_db_abort(DB_TXN *);
void ch_db_backoff(int);
int ch_db_flush(struct ch_db *);
int ch_db_recovered_under(struct ch_db *);
int ch_db_durable(struct ch_db *, const struct ch_txn *, void *);
void ch_db_maintain(struct ch_db *, int);
int ch_db_cursor_done(DBC *, int);
int ch_db_counter_get(struct ch_db *, DB_TXN *, const char *, uint64_t *);
int ch_db_counter_add(struct ch_db *, DB_TXN *, const char *, int64_t,
    uint64_t *);
void ch_db_be64(unsigned char *, uint64_t);
uint64_t ch_db_get_be64(const unsigned char *);
void ch_db_dbt(DBT *, const void *, size_t);

/* backup.c */
int ch_db_backup(struct ch_db *, const char *, char **);
int ch_db_restore(const struct ch_cfg *, const char *, char **);
int ch_db_verify(struct ch_db *, unsigned int *, char **);

/* sock.c */
int ch_sock_listen(const char *, int, ino_t *);

/* hex.c */
int ch_hex_digit(int);
void ch_hex_encode(char *, const unsigned char *, size_t);
int ch_hex_decode(unsigned char *, const char *, size_t);

/* auth.c */
int ch_auth_new_key(char *, size_t);
int ch_auth_new_uuid(char *, size_t);
int ch_auth_random(void *, size_t);
int ch_auth_new_code(char *, size_t);
void ch_auth_hash(const char *, size_t, unsigned char *);
int ch_auth_bearer(const char *, const char **);
int ch_auth_equal(const void *, const void *, size_t);

/* agent.c */
struct ch_agent {
	char id[CH_ID_LEN + 1];
	char *name;
	char *avatar;
	unsigned char keyhash[CH_HASH_LEN];
	int64_t created;   /* ms since the epoch */
	int64_t last_seen; /* seconds since the epoch; 0: offline */
	int verified;
	char *mb_name;
	char *owner_twitter;
	char *verify_code;
	int banned;
	char *ban_reason;
};
struct ch_stats {
	uint64_t total_agents;
	uint64_t online_agents;
	uint64_t total_messages;
};
void ch_agent_free(struct ch_agent *);
int ch_agent_get(struct ch_db *, DB_TXN *, const char *, struct ch_agent *,
    uint32_t);
int ch_agent_by_key(struct ch_db *, DB_TXN *, const unsigned char *,
    struct ch_agent *, uint32_t);
int ch_agent_by_name(struct ch_db *, DB_TXN *, const char *,
    struct ch_agent *, uint32_t);
int ch_agent_put(struct ch_db *, DB_TXN *, const struct ch_agent *);
int ch_agent_rekey(struct ch_db *, DB_TXN *, struct ch_agent *,
    const unsigned char *);
int ch_agent_create(struct ch_db *, DB_TXN *, struct ch_agent *);
unsigned int ch_agent_touch_every(unsigned int);
int ch_agent_touch_due(const struct ch_agent *, int64_t, unsigned int);
int ch_agent_touch(struct ch_db *, DB_TXN *, struct ch_agent *, int64_t,
    unsigned int);
int ch_agent_leave(struct ch_db *, DB_TXN *, struct ch_agent *);
int ch_agent_online(struct ch_db *, DB_TXN *, int64_t, unsigned int,
    int (*)(void *, const char *, const char *, size_t), void *,
    uint64_t *);
int ch_agent_stats(struct ch_db *, DB_TXN *, int64_t, unsigned int,
    struct ch_stats *);
void ch_agent_public(struct json_object *, const struct ch_agent *,
    const char *, const char *, int);
struct json_object *ch_agent_json(const struct ch_agent *, int);
struct json_object *ch_agent_stats_json(const struct ch_stats *);
int ch_agent_claim_mbname(struct ch_db *, DB_TXN *, const char *,
    const char *);

/* moder.c */
int ch_audit_add(struct ch_db *, DB_TXN *, const char *, const char *,
    const char *);
int ch_audit_walk(struct ch_db *, DB_TXN *,
    int (*)(void *, const char *, size_t), void *);
int ch_mod_delete(struct ch_db *, DB_TXN *, uint64_t);
int ch_mod_deletes(struct ch_db *, DB_TXN *, uint64_t, unsigned int,
    uint32_t, int (*)(void *, uint64_t, uint64_t), void *);
int ch_mod_purge(struct ch_db *, DB_TXN *, const char *, uint64_t *);
int ch_block_add(struct ch_db *, DB_TXN *, const struct ch_cidr *,
    const char *);
int ch_block_del(struct ch_db *, DB_TXN *, const struct ch_cidr *);
int ch_block_walk(struct ch_db *, DB_TXN *, const char *,
    int (*)(void *, const char *, const char *, size_t), void *);

/* moltbook.c */
struct ch_moltbook {
	char *name;	/* Moltbook's own spelling */
	char *x_handle; /* the owner's X handle, or NULL */
	int claimed;
	int posted; /* a recent post holds "[code]" */
};
enum ch_err ch_moltbook_profile(const char *, const char *, const char *,
    struct ch_moltbook *, char **);
void ch_moltbook_free(struct ch_moltbook *);

/* msg.c */
struct ch_msglog {
	int fd;
	int lockfd;
	dev_t dev;
	ino_t ino;
	const char *path;
	const char *lockpath;
	const struct ch_cfg *cfg;
};
/* A message to post, and what became of it (ch_msg_post). */
struct ch_post {
	const struct ch_agent *agent;
	const char *content; /* valid, len bytes */
	size_t len;
	int64_t now;		      /* ms since the epoch */
	const struct ch_limit *limit; /* the agent's message limit */
	uint64_t id;		      /* set: the id it was stored under */
	struct json_object *msg;      /* set: the wire object (owned) */
	unsigned int retry;	      /* set on CH_LIMITED: seconds */
};
struct json_object *ch_msg_new(const struct ch_agent *, uint64_t, const char *,
    size_t, int64_t);
int ch_msg_post(struct ch_db *, struct ch_msglog *, struct ch_post *);
void ch_msg_post_free(struct ch_post *);
int ch_msg_parse_line(const char *, size_t, uint64_t *, struct json_object **);
int ch_msg_range(struct ch_db *, DB_TXN *, uint64_t, uint64_t, unsigned int,
    int, uint32_t, int (*)(void *, uint64_t, const char *, size_t), void *,
    int *);
void ch_msglog_init(struct ch_msglog *, const struct ch_cfg *);
void ch_msglog_close(struct ch_msglog *);
int ch_msglog_lock(struct ch_msglog *);
void ch_msglog_unlock(struct ch_msglog *);
int ch_msglog_append(struct ch_msglog *, const char *, size_t);

/* limit.c */
enum ch_limit_kind {
	CH_LIMIT_REQUESTS, /* per address */
	CH_LIMIT_REGISTER, /* per address */
	CH_LIMIT_MESSAGES, /* per agent */
	CH_LIMIT_VERIFY,   /* per agent */
	CH_LIMIT__MAX
};
#define CH_LIMIT_SLICES 64			/* of a window: bucket span */
#define CH_LIMIT_BUCKETS (CH_LIMIT_SLICES + 2)	/* most a window holds */
struct ch_limit_bucket {
	int64_t first; /* ms since the epoch */
	int64_t last;
	uint32_t n;
};
int ch_limit_apply(struct ch_limit_bucket *, size_t *, const struct ch_limit *,
    int64_t, unsigned int *, int, int *);
int ch_limit_hit(struct ch_db *, DB_TXN *, enum ch_limit_kind, const char *,
    const struct ch_limit *, int64_t, unsigned int *);
int ch_limit_check(struct ch_db *, DB_TXN *, enum ch_limit_kind,
    const char *, const struct ch_limit *, int64_t, unsigned int *);
int ch_limit_sweep(struct ch_db *, DB_TXN *, enum ch_limit_kind,
    const struct ch_limit *, int64_t, unsigned int, int *);

/* shared.c */
#define CH_WINDOW_WAYS 8	/* slots an address may take */
#define CH_WINDOW_SETS 512	/* of CH_WINDOW_WAYS slots */
struct ch_window_slot {
	char addr[CH_ADDR_MAX];	/* "": free */
	uint32_t nb;		/* buckets in use */
	uint32_t unused;
	struct ch_limit_bucket b[CH_LIMIT_BUCKETS];
};
/* metrics.c: the counters of GET /metrics (in struct ch_shared) */
enum {
	CH_MEP_REGISTER, CH_MEP_HEARTBEAT, CH_MEP_DISCONNECT, CH_MEP_MESSAGES,
	CH_MEP_VERIFY_START, CH_MEP_VERIFY_COMPLETE, CH_MEP_AGENTS,
	CH_MEP_HEALTH, CH_MEP_NOTFOUND, CH_MEP_METRICS, CH_MEP_MCP, CH_MEP__MAX
};
#define CH_MET_STATUSES 14 /* 13 statuses counted apart, and the others */
#define CH_MET_BUCKETS 12  /* of the latency histogram, +Inf last */
enum { CH_DROP_LAGGING, CH_DROP_CLOSED, CH_DROP_REFUSED, CH_DROP__MAX };
struct ch_relay_metrics {
	uint64_t connects, deliveries, backlog, received;
	uint64_t drops[CH_DROP__MAX];
};
struct ch_metrics {
	uint64_t requests[CH_MEP__MAX][CH_MET_STATUSES];
	uint64_t latency[CH_MEP__MAX][CH_MET_BUCKETS];
	uint64_t latency_us[CH_MEP__MAX];
	uint64_t posted, deadlocks, retries, recoveries;
	struct ch_relay_metrics relay;
};
enum ch_metric { CH_MET_POSTED, CH_MET_DEADLOCK, CH_MET_RETRY,
	CH_MET_RECOVERY };
int ch_metrics_ep(const char *);
void ch_metrics_request(const struct ch_cfg *, int, int, int64_t);
void ch_metrics_count(const struct ch_cfg *, enum ch_metric);
void ch_metrics_relay(const struct ch_cfg *, const struct ch_relay_metrics *);
void ch_metrics_text(const struct ch_cfg *, struct ch_buf *);

struct ch_shared {
	uint32_t magic;
	uint32_t unused;
	char boot[40];		/* the boot it was made in */
	uint64_t changes;	/* to what GET /api/agents shows */
	uint32_t streams;	/* the relay's streams (GET /api/health) */
	int32_t repl_master;	/* the master's eid + 1 as the node's
				   replication process sees it, 0: none */
	uint64_t repl_seen_ms;	/* when it last said so (monotonic) */
	/* msg.c: where the last whole append left the message log */
	uint64_t log_dev, log_ino, log_end;
	/* window.c: the per-address request limit */
	pthread_mutex_t lock;	/* robust, shared by the processes */
	uint64_t seed;		/* of the address hash */
	int32_t editing;	/* slot being changed under lock, or -1 */
	uint32_t unused2;
	uint64_t evicted;	/* slots taken from addresses still counted */
	struct ch_window_slot slot[CH_WINDOW_SETS * CH_WINDOW_WAYS];
	struct ch_metrics metrics; /* metrics.c */
};
struct ch_shared *ch_shared(const struct ch_cfg *);
int ch_shared_mapped(const struct ch_cfg *);
void ch_shared_changed(const struct ch_cfg *);
uint64_t ch_shared_changes(const struct ch_cfg *);
void ch_shared_set_streams(const struct ch_cfg *, unsigned int);
unsigned int ch_shared_streams(const struct ch_cfg *);
void ch_shared_set_master(const struct ch_cfg *, int);
int ch_shared_master(const struct ch_cfg *, int, int *);

/* window.c */
int ch_window_hit(const struct ch_cfg *, const char *, const struct ch_limit *,
    int64_t, unsigned int *);

/* valid.c */
enum ch_ftype {
	CH_FT_STRING, /* JSON string, length in characters */
	CH_FT__MAX
};
struct ch_field {
	const char *name;
	enum ch_ftype type;
	int required;
	unsigned int min; /* characters */
	unsigned int max;
	int (*check)(const char *, size_t, const char **);
};
#define CH_FIELDS_MAX 8
struct ch_value {
	const char *str; /* NULL when absent; borrowed from the request */
	size_t len;	 /* bytes */
	size_t chars;	 /* characters */
};
int ch_valid_fields(const struct ch_field *, size_t, struct json_object *,
    struct ch_value *, char **);
int ch_valid_name(const char *, size_t, const char **);
int ch_valid_avatar(const char *, size_t, const char **);
int ch_valid_xhandle(const char *, size_t, const char **);
int ch_valid_mbname(const char *, size_t, const char **);
int ch_valid_has_url(const char *, size_t);

/* req.c */
enum ch_method {
	CH_GET,
	CH_POST,
	CH_HEAD,
	CH_PUT,
	CH_DELETE,
	CH_PATCH,
	CH_OPTIONS,
	CH_METHOD__MAX
};
struct ch_req;
struct ch_io {
	const char *(*param)(struct ch_req *, const char *);
	ssize_t (*read)(struct ch_req *, char *, size_t);
	int (*write)(struct ch_req *, const char *, size_t);
};
struct ch_endpoint;
struct ch_op;
struct ch_req {
	const struct ch_endpoint *ep;
	const struct ch_op *op;	  /* once routed */
	const struct ch_io *io;
	void *io_arg;
	const struct ch_cfg *cfg;
	struct ch_db *db;
	unsigned long id;
	int64_t now;   /* ms since the epoch, at accept */
	int64_t start; /* monotonic ms, at accept */
	enum ch_method method;
	char *path;	/* decoded-free request path */
	char *query;	/* raw query string, never NULL */
	char addr[CH_ADDR_MAX];
	char limkey[CH_ADDR_MAX]; /* addr as limits count it (ch_addr_limit_key) */
	char *body;
	size_t bodylen;
	struct json_object *json;
	struct ch_value val[CH_FIELDS_MAX];
	int authed;
	struct ch_agent agent;
	struct json_object *resp; /* success body, owned */
	struct ch_buf text;	  /* or as JSON text, when resp is NULL */
	int status;		  /* success status, 200 if 0 */
	enum ch_err err;
	char *errmsg;
	unsigned int retry_after;
	int errstatus; /* overrides err's status when set */
	struct json_object *errextra; /* members added to the error object */
	int dberr;
	int answered; /* the response is written (ch_resp_raw) */
	int forwarded; /* sent on by another node, its signature right */
	void *data; /* endpoint state, freed by the endpoint's reset */
	int inner; /* made in process by another endpoint (ch_serve_inner) */
};
int ch_req_method(const char *, enum ch_method *);
const char *ch_req_method_name(enum ch_method);
const char *ch_req_param(struct ch_req *, const char *);
int ch_req_query(struct ch_req *, const char *, char *, size_t);
int ch_query_get(const char *, const char *, char *, size_t);
int ch_fail(struct ch_req *, enum ch_err, const char *, ...) CH_PRINTF(3, 4);
int ch_fail_db(struct ch_req *, int);
int ch_fail_retry(struct ch_req *, enum ch_err, unsigned int, const char *,
    ...) CH_PRINTF(4, 5);
void ch_req_reset(struct ch_req *);

/* fwd.c */
void ch_fwd_trust(struct ch_req *);
int ch_fwd_needed(struct ch_req *, const struct ch_op *);
int ch_fwd(struct ch_req *);

/* resp.c */
int ch_resp_typed(struct ch_req *, int, const char *, const char *,
    const char *, size_t, const char *);
int ch_resp_raw(struct ch_req *, int, const char *, const char *, size_t,
    const char *);
int ch_resp_json(struct ch_req *, int, struct json_object *,
    const char *);
int ch_resp_error(struct ch_req *);
struct json_object *ch_resp_error_json(const char *, unsigned int);
struct json_object *ch_resp_ok(struct ch_req *);

/* serve.c */
enum ch_opflag {
	CH_OP_AUTH = 0x01,     /* Bearer key required */
	CH_OP_BODY = 0x02,     /* JSON object body (may be empty if no
				  required fields) */
	CH_OP_READONLY = 0x04, /* handler only reads */
	CH_OP_DURABLE = 0x08,  /* flush the log before answering */
	CH_OP_NOTOUCH = 0x10,  /* auth does not count as activity */
	CH_OP_CHANGES = 0x20,  /* a commit changes what GET /api/agents
				  shows (ch_shared_changed) */
	CH_OP_WRITE = 0x80,    /* a write: a replica sends it to the master */
	CH_OP_NOLIMIT = 0x40,  /* not counted against the request limit
				  (load balancers' health checks) */
	CH_OP_BLOCKABLE = 0x100, /* refused to a blocked address */
};
struct ch_op {
	unsigned int flags;
	const struct ch_field *fields;
	size_t nfields;
	/* Work outside any transaction, before the handler: a network call,
	 * or a store protocol of its own (ch_msg_post). */
	int (*outside)(struct ch_req *);
	/* The work in one transaction; it may run more than once. */
	int (*handler)(struct ch_req *, DB_TXN *);
	/* After a commit of unknown outcome: 1 when the handler's work is
	 * in the store (and the answer set), 0 when not.  NULL: running the
	 * handler again is harmless. */
	int (*committed)(struct ch_req *, DB_TXN *);
};
struct ch_endpoint {
	const char *name; /* program is chatr-<name> */
	const char *path; /* exact path, NULL for any /api/ path */
	const struct ch_op *op[CH_METHOD__MAX];
	void (*reset)(struct ch_req *);
};
int ch_serve(const struct ch_endpoint *, int, char **);
/* the endpoints (fcgi-bin/, in libendpoints.a) */
extern const struct ch_endpoint ep_register, ep_heartbeat, ep_disconnect,
    ep_messages, ep_verify_start, ep_verify_complete, ep_agents, ep_health,
    ep_notfound, ep_metrics, ep_mcp;
/* What a request served in process answered. */
struct ch_inner {
	int status;
	unsigned int retry;	 /* Retry-After, or 0 */
	struct ch_buf body;	 /* the answer's body */
};
void ch_serve_inner(struct ch_req *, const struct ch_endpoint *,
    const char *, const char *, const char *, const char *,
    struct ch_inner *);

#endif /* CHATR_H */
