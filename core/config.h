/*
 * config.h - load and validate the mxgate INI configuration (libinih).
 *
 * Errors name the file, the line, the [section] key and what was expected,
 * e.g. "mxgate.conf:12: [port] rx_desc: expected an integer in 64..16384,
 * got 'lots'". Unknown keys, bad values, repeated single-valued keys and
 * missing required keys are all errors. List keys are heap-allocated and
 * may name files ("file:/abs/path", one entry per line). Each key has an
 * apply class (live or restart) used by reload. Loading, copying and
 * freeing: any single thread on its own structs; generations (below): the
 * control thread writes, workers read under QSBR.
 */
#ifndef MX_CORE_CONFIG_H
#define MX_CORE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "core/config-t.h"

/** Fill @c with the documented defaults (empty lists). @c must hold no
 * list allocation (fresh, or after config_clear()). */
void config_defaults(struct mx_config *c);

/** Parse file @path into @c (defaults first; @c must hold no allocation).
 * List keys may name files ("file:/abs/path"), read now. Returns 0 (the
 * caller then owns the lists: config_clear() or config_free()), or -1 with
 * every error found written to @err (one per line, truncated to @errlen)
 * and @c holding no allocation. */
int config_load(struct mx_config *c, const char *path, char *err, size_t errlen);

/** Same over an in-memory text; @name stands for the file in messages. */
int config_load_string(struct mx_config *c, const char *name, const char *text, char *err,
		       size_t errlen);

/** Free the lists of @c (not @c itself) and leave them empty. */
void config_clear(struct mx_config *c);

/** Deep copy of @src into @dst (@dst holds no allocation). Returns 0 or
 * -ENOMEM (@dst then holds no allocation). */
int config_copy(struct mx_config *dst, const struct mx_config *src);

/*
 * The key table, for reload and tests. Keys are numbered 0 .. n-1.
 */

/** Name of key @i and its @section, NULL past the end. */
const char *config_key_name(unsigned i, const char **section);

/** Whether key @i applies live or needs a restart. */
enum mx_cfg_apply config_key_apply(unsigned i);

/** Key @i's value in @c as the config file would spell it (lists: the
 * entries joined by ", ", or "N entries" when long), into @buf. */
void config_key_value(const struct mx_config *c, unsigned i, char *buf, size_t len);

/** Call @fn for every key whose value differs between @a and @b, in table
 * order, with its index and apply class. Returns the number of keys that
 * differ. Pure; any thread (both configs must stay valid). */
typedef void (*config_diff_fn)(void *arg, unsigned key, enum mx_cfg_apply apply);
unsigned config_diff(const struct mx_config *a, const struct mx_config *b, config_diff_fn fn,
		     void *arg);

/** Give @next the values of @running for every restart-class key (deep
 * copies of lists), so that publishing @next changes live keys only.
 * Returns 0 or -ENOMEM (@next is then unchanged for the keys not yet
 * copied; free it). */
int config_keep_restart(struct mx_config *next, const struct mx_config *running);

/*
 * Configuration generations. The running configuration is one immutable
 * struct mx_config published with rcu_assign_pointer(); a reload builds and
 * validates a new one, publishes it, and the old one is freed after a
 * grace period. c->generation counts publications (1 for the boot one).
 *
 * The control thread (the only writer) registers itself as a liburcu QSBR
 * thread at its first config_publish() and stays offline, going online
 * only around call_rcu(): it never delays a grace period and never waits
 * for one (the old generation is freed by liburcu's call_rcu thread).
 */

/** A heap configuration with the defaults (NULL + errno ENOMEM). Owned by
 * the caller until config_publish() or config_free(). Any thread. */
struct mx_config *config_new(void);

/** Free @c (from config_new(), never published) and its lists. */
void config_free(struct mx_config *c);

/** The running generation (NULL before the first config_publish()).
 * Worker lcores (liburcu QSBR readers): use it between two quiescent
 * states and never keep the pointer across rcu_quiescent_state(); copy
 * what must outlive the loop iteration. Control thread: any time (it is
 * the only writer). */
const struct mx_config *config_current(void);

/** Publish @c (from config_new(), ownership taken) as the running
 * generation, setting c->generation to the previous one + 1. The previous
 * generation is freed by call_rcu() after a grace period; this never
 * blocks. Control thread only (the first caller becomes it). */
void config_publish(struct mx_config *c);

/** Shutdown, after the workers stopped: wait for pending frees
 * (rcu_barrier()), free the running generation, unregister the control
 * thread. config_current() is NULL afterwards. Control thread only. */
void config_shutdown(void);

/** Effective fault injection: true if any rate or delay is non-zero. */
int config_fault_enabled(const struct mx_config *c);

struct sockaddr_storage;
/** Parse a listen address "a.b.c.d:PORT" or "[IPv6]:PORT" (numeric, port
 * 1..65535) into @ss and its length @len (either may be NULL: check only).
 * Returns 0 or -1. Any thread. */
int config_parse_listen(const char *s, struct sockaddr_storage *ss, size_t *len);

#endif
