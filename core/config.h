/*
 * config.h - load and validate the mxgate INI configuration (libinih).
 *
 * Errors name the file, the line, the [section] key and what was expected,
 * e.g. "mxgate.conf:12: [port] rx_desc: expected an integer in 64..16384,
 * got 'lots'". Unknown keys, bad values, repeated single-valued keys and
 * missing required keys are all errors. Boot/control thread only.
 */
#ifndef MX_CORE_CONFIG_H
#define MX_CORE_CONFIG_H

#include <stddef.h>

#include "core/config-t.h"

/** Fill @c with the documented defaults. */
void config_defaults(struct mx_config *c);

/** Parse file @path into @c (defaults first). Returns 0, or -1 with every
 * error found written to @err (one per line, truncated to @errlen). */
int config_load(struct mx_config *c, const char *path, char *err, size_t errlen);

/** Same over an in-memory text; @name stands for the file in messages. */
int config_load_string(struct mx_config *c, const char *name, const char *text, char *err,
		       size_t errlen);

/*
 * Configuration generations. The running configuration is one immutable
 * struct mx_config published with rcu_assign_pointer(); a reload builds and
 * validates a new one, publishes it, and the old one is freed after a
 * grace period. c->generation counts publications (1 for the boot one).
 */

/** The running generation (NULL before the first config_publish()).
 * Worker lcores (liburcu QSBR readers): use it between two quiescent
 * states and never keep the pointer across rcu_quiescent_state(); copy
 * what must outlive the loop iteration. Control thread: any time (it is
 * the only writer). */
const struct mx_config *config_current(void);

/** Publish @c (heap-allocated, ownership taken) as the running generation,
 * setting its generation number. The previous generation is freed after a
 * grace period. Control thread only. */
void config_publish(struct mx_config *c);

/** Effective fault injection: true if any rate or delay is non-zero. */
int config_fault_enabled(const struct mx_config *c);

/** Iterate the key table (for the test that keeps etc/mxgate.conf complete):
 * returns the name of key @i and its @section, NULL past the end. */
const char *config_key_name(unsigned i, const char **section);

struct sockaddr_storage;
/** Parse a listen address "a.b.c.d:PORT" or "[IPv6]:PORT" (numeric, port
 * 1..65535) into @ss and its length @len (either may be NULL: check only).
 * Returns 0 or -1. Any thread. */
int config_parse_listen(const char *s, struct sockaddr_storage *ss, size_t *len);

#endif
