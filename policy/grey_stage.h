/*
 * grey_stage.h - greylisting in the daemon: the [greylist] settings and
 * whitelists as one immutable set published with RCU (rebuilt at boot,
 * reload and `whitelist add|delete`), the shared table's life on the
 * control loop (clock, ager, snapshots), and the RCPT stage that runs after
 * the policy checks (policy/stage.c) and asks the table. Table: greylist.h.
 *
 * THE STAGE. At RCPT, after the policy stages: nothing for trusted clients
 * ([policy] mynetworks), clients on a DNS allowlist (a negative DNSBL
 * score), a whitelisted client network, client host name (the policy
 * stage's forward-confirmed reverse name, waited for when there are host
 * whitelists), sender or recipient; otherwise the table
 * decides (with the sender's domain as the key's origin when SPF passed
 * and [greylist] spf_domain is on). A deferral is "451 4.7.1 <rcpt>:
 * Recipient address rejected: <reply>"; each deferral and first pass is
 * logged with the key. Worker lcore; no lock, no allocation.
 */
#ifndef MX_POLICY_GREY_STAGE_H
#define MX_POLICY_GREY_STAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config-t.h"
#include "policy/greylist.h"

struct smtp_stage_host;
struct grey_wl;

/* Whitelist kinds (files of [greylist] whitelist_*). */
enum grey_wl_kind {
	GREY_WL_SENDERS = 0,
	GREY_WL_CLIENTS,
	GREY_WL_HOSTS,
	GREY_WL_RCPTS,
	GREY_WL_COUNT,
};

/** Name of a kind ("senders" ...), and the kind of a name (-1: none). */
const char *grey_wl_name(enum grey_wl_kind k);
int grey_wl_kind_of(const char *name);

/** Load the whitelists named by @c (plus the built-in Apple domains).
 * NULL with the reason (file, line) in @err. Control thread, registered
 * with liburcu (online inside). */
struct grey_wl *grey_wl_build(const struct mx_config *c, char *err, size_t errlen);
void grey_wl_free(struct grey_wl *w);

/** Whether the whitelist of kind @k matches @s (senders: an address or
 * its domain or a parent domain; hosts: the name or a parent; recipients:
 * the address, its domain or "local@"; clients: @s unused, @family/@addr
 * used). Read side. */
bool grey_wl_match(const struct grey_wl *w, enum grey_wl_kind k, const char *s, int family,
		   const uint8_t *addr);
/** Entries of kind @k. */
size_t grey_wl_count(const struct grey_wl *w, enum grey_wl_kind k);

/** Boot: build the set of @c, create the table for @nworkers workers,
 * load the snapshot, start the timers (clock 1 s, ager 60 s, snapshots)
 * on the control loop and register the counters. 0 or -1 (logged, @err).
 * Control thread, registered with liburcu QSBR (offline). */
int grey_boot(const struct mx_config *c, unsigned nworkers, char *err, size_t errlen);

/** Reload, in two steps so that a reload is refused as a whole: build a
 * new set from @c (whitelist files re-read, live keys): 0, or -1 with the
 * reason in @err; then grey_reload_commit(true) publishes it, (false)
 * drops it. Control thread. */
int grey_reload_prepare(const struct mx_config *c, char *err, size_t errlen);
void grey_reload_commit(bool apply);

/** Shutdown (workers stopped): last snapshot, free everything. */
void grey_shutdown(void);

/** The table (NULL before boot), the running set's whitelists (NULL: none)
 * and whether greylisting is on. */
struct grey_table *grey_table(void);
const struct grey_wl *grey_wl_current(void);
bool grey_enabled(void);
/** The whitelist file of kind @k in the running configuration ("" none). */
const char *grey_wl_path(enum grey_wl_kind k);

/** Add or delete @value in whitelist @k: the file is rewritten (temp +
 * rename) and the set rebuilt and published. 0, -ENOENT (delete: not
 * there), -EEXIST (add: there), -EINVAL (bad value), -ENOTDIR (no file
 * configured), -errno. Control thread. */
int grey_wl_edit(enum grey_wl_kind k, const char *value, bool add, char *err, size_t errlen);

/** Save the table now (ctl). Entries written or -errno. Control thread. */
long grey_save_now(void);

struct grey_stage;

/** Register the greylisting stage on @h for worker @worker (after the
 * policy stages @pol, a struct pol_stage for the client's reverse name,
 * before the spool's). Boot. NULL + errno. */
struct grey_stage *grey_stage_create(struct smtp_stage_host *h, unsigned worker, void *pol);
void grey_stage_destroy(struct grey_stage *gs);
/** Worker loop: resume the sessions that waited for their SPF result.
 * Returns how many. Owner lcore. */
unsigned grey_stage_poll(struct grey_stage *gs);

/** Register the "greylist" counter group (per worker) for @nworkers. Boot. */
int grey_counters_register(unsigned nworkers);

#endif
