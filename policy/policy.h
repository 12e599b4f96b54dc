/*
 * policy.h - the connection-stage policy: checks run as session host
 * stages (smtp/host.h) on the engine's events, with Postfix's replies.
 * Types: policy-t.h. Overview in docs/ARCHITECTURE.md ("Policy").
 *
 * SET. Everything the checks read - the parsed [policy] keys, the reply of
 * every check, the tables (accepted domains, trusted networks, recipient
 * list, special-use names) - is one immutable struct pol_set built on the
 * control thread from a configuration (pol_set_build()) and published with
 * RCU (pol_publish()). Workers read pol_current() without locks (liburcu
 * QSBR readers, between two quiescent states); the replaced set is retired
 * with call_rcu() and destroyed on the control thread afterwards (a
 * cds_lfht may not be destroyed from the call_rcu thread).
 *
 * TABLES. liburcu cds_lfht hash tables with a fixed bucket count sized at
 * build (no resize), keys stored in one arena: a million recipients load
 * from a file in about a second (bench/RESULTS.md). Keys are lower-cased;
 * networks are keyed by (family, prefix length, masked address) and
 * looked up once per prefix length present.
 *
 * CHECKS. pol_eval_class() runs the checks of one class over a struct
 * pol_input and returns the first verdict that is not CONTINUE; it is pure
 * (no I/O): DNS answers are in the input, and a check whose answer is
 * missing returns POL_PENDING. The stages (stage.c) and `mxgatectl policy
 * test` both use it.
 */
#ifndef MX_POLICY_POLICY_H
#define MX_POLICY_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "core/config-t.h"
#include "policy/policy-t.h"

struct smtp_stage_host;

/* ---- tables (table.c) --------------------------------------------------- */

/** An empty table for about @hint keys (buckets fixed now). Control
 * thread, registered with liburcu and online. NULL + errno (ENOMEM). */
struct pol_table *pol_table_new(size_t hint);

/** The same for networks (binary keys, pol_net_key()). */
struct pol_table *pol_table_new_nets(size_t hint);

/** Add @key (@len octets, lower-cased copy kept). Returns 1 added, 0
 * already there, -ENOMEM, -ENOSPC (more than @hint keys). Control thread,
 * online, before the table is published. */
int pol_table_add(struct pol_table *t, const void *key, size_t len);

/** Whether @key is in @t (case-insensitive). Inside an RCU read-side
 * section (a worker lcore, or the control thread online). */
bool pol_table_has(const struct pol_table *t, const void *key, size_t len);

/** Load the lines of @path (blank lines and #-comments skipped) into a new
 * table. Returns the table or NULL with the reason in @err. Control
 * thread, online. */
struct pol_table *pol_table_load_file(const char *path, char *err, size_t errlen);

/** Keys in @t, and bytes allocated for it. Any thread. */
size_t pol_table_count(const struct pol_table *t);
size_t pol_table_bytes(const struct pol_table *t);

/** Free @t: no reader may still see it (after a grace period). Control
 * thread, registered (it goes online itself). NULL is a no-op. */
void pol_table_free(struct pol_table *t);

/* Networks: keys for pol_table_add/_has. */
#define POL_NET_KEY_LEN 18
/** Parse "a.b.c.d[/n]" or "v6[/n]" into a network key. 0 or -EINVAL. */
int pol_net_key(const char *s, uint8_t key[POL_NET_KEY_LEN]);
/** Whether @addr (@family 4 or 6) is in a network of @t, given the set of
 * prefix lengths present (@plens: bit n for /n, IPv4 [0..32] in plens[0..1],
 * IPv6 [0..128] in plens[2..4]). Read side. */
bool pol_net_match(const struct pol_table *t, const uint64_t plens[5], int family,
		   const uint8_t *addr);

/* ---- sets and checks (policy.c) ----------------------------------------- */

/** Build a set from @c ([policy], [smtp] hostname, [ipv4] address); a
 * missing hostname means @sysname. Reads the recipient file. Returns the
 * set or NULL with the reason (file, line, key) in @err. Control thread,
 * registered with liburcu (online inside). */
struct pol_set *pol_set_build(const struct mx_config *c, const char *sysname, char *err,
			      size_t errlen);

/** Free @s now (never published, or after a grace period). Control thread. */
void pol_set_free(struct pol_set *s);

/** Publish @s (ownership taken; NULL: no policy) as the running set; the
 * previous one is retired (call_rcu, then destroyed on the control thread
 * by pol_collect()). Control thread only. */
void pol_publish(struct pol_set *s);

/** Destroy the sets whose grace period has passed. Control thread. */
void pol_collect(void);

/** Call pol_collect() every @ms on the control loop (core/loop.h). */
void pol_collect_every(uint64_t ms);

/** Build the set of @c and publish it (boot and reload): 0, or -1 with
 * the reason logged and in @err (nothing published). Control thread. */
int pol_load(const struct mx_config *c, char *err, size_t errlen);

/** Retire the running set, wait for the grace period (rcu_barrier) and
 * destroy everything. Control thread, after the workers stopped. */
void pol_shutdown(void);

/** The running set (NULL: none). Worker: between quiescent states. */
const struct pol_set *pol_current(void);

/** Run the checks of @cls over @in with @s. Pure; read side (tables).
 * @out->action is CONTINUE if no check decided. */
void pol_eval_class(const struct pol_set *s, enum pol_class cls, const struct pol_input *in,
		    struct pol_verdict *out);

/** Whether the client is trusted ([policy] mynetworks). Read side. */
bool pol_trusted(const struct pol_set *s, const struct pol_input *in);

/** Accessors for the stages and ctl. */
bool pol_enabled(const struct pol_set *s);
bool pol_delay_reject(const struct pol_set *s);
/** [policy] pass_cache_ttl_s: how long a pregreet pass is remembered (0:
 * no pass cache). */
uint32_t pol_pass_ttl(const struct pol_set *s);
/** Whether a failed lookup (TEMPFAIL) of check @id skips it ([policy]
 * tempfail_skip) instead of deferring (451 4.4.3). */
bool pol_tempfail_skips(const struct pol_set *s, unsigned id);
/* Which DNS answers the checks of @s want (POL_WANT_*). */
#define POL_WANT_HELO_A 0x1u
#define POL_WANT_SENDER 0x2u
#define POL_WANT_DNSBL	0x4u
#define POL_WANT_SPF	0x8u  /* evaluate SPF at MAIL (header, refusal) */
#define POL_WANT_RDNS	0x10u /* client PTR + forward confirmation at connect */
#define POL_WANT_VERIFY 0x20u /* recipient verification at the next hop (verify.c) */
unsigned pol_wants(const struct pol_set *s);
unsigned pol_dnsbl_zones(const struct pol_set *s);
const struct pol_dnsbl_zone *pol_dnsbl_zone(const struct pol_set *s, unsigned i);
int pol_dnsbl_threshold(const struct pol_set *s);
/** Whether the A answer @a (network order) of @z is a listing (1), not
 * one (0) or an error answer (-1: 127.255.255.0/24 or outside 127/8). */
int pol_dnsbl_classify(const struct pol_dnsbl_zone *z, const uint8_t a[4]);
/** The reversed-address query name of @in under @zone, into @buf. */
int pol_dnsbl_qname(const struct pol_input *in, const char *zone, char *buf, size_t len);
/** Table sizes for `show policy`. */
size_t pol_set_recipients(const struct pol_set *s);
size_t pol_set_domains(const struct pol_set *s);

/** Name of check @id ("helo_fqdn"), its class. */
const char *pol_check_name(unsigned id);
enum pol_class pol_check_class(unsigned id);
const char *pol_class_name(enum pol_class c);
const char *pol_action_name(enum pol_action a);

struct mx_dns_result;
/** Record @i's string of a PTR/MX/TXT answer, "" if the answer does not
 * hold one (offsets checked: answers come from the network). Any thread. */
const char *pol_dns_text(const struct mx_dns_result *r, unsigned i);

/** The domain part of an address (after the last '@'; NULL if none). */
const char *pol_addr_domain(const char *addr);

/* ---- stages (stage.c) ---------------------------------------------------- */

struct pol_stage;

/** Register the policy stages on @h (worker @worker), before the spool's.
 * Boot, owner's thread or before it runs. NULL + errno. */
struct pol_stage *pol_stage_create(struct smtp_stage_host *h, unsigned worker);
void pol_stage_destroy(struct pol_stage *ps);
/** The Received-SPF header field of the session in connection slot @slot
 * (with its final CRLF), for the spool stage to prepend: its length, or 0
 * (no SPF result). Worker lcore, inside a DATA_BEGIN stage. */
int pol_stage_received_spf(void *ps, uint32_t slot, char *buf, size_t len);

/** What the checks know of the session in connection slot @slot of
 * worker @worker (trusted, SPF result, DNSBL/DNSWL score, envelope), for
 * the stages after the policy's (greylisting): 0, or -ENOENT (no policy
 * stage or no session). Strings point into the stage's slot, valid until
 * the session's next event. Worker lcore @worker. */
int pol_session_input(unsigned worker, uint32_t slot, struct pol_input *out);

/** The spool stage's header callback (smtp/stage_spool.h): Received-SPF
 * and the verified client name (pol_stage_rdns()). Worker lcore. */
int pol_stage_trace(void *ps, uint32_t slot, char *buf, size_t len, const char **rdns);

/** The client's forward-confirmed reverse name of the session in @slot,
 * NULL if none (yet): Received: says "unknown" then. Worker lcore. */
const char *pol_stage_rdns(void *ps, uint32_t slot);

/** Worker loop: take DNS answers, resume parked sessions. Returns the
 * answers taken. Owner lcore. */
unsigned pol_stage_poll(struct pol_stage *ps);

/** Counters of worker @w: ctr[check][enum pol_ctr]; zone errors. Any
 * thread (relaxed loads). */
void pol_counters_read(unsigned w, uint64_t out[POL_CHK_COUNT][POL_CTR_COUNT]);
uint64_t pol_zone_errors_read(unsigned w, unsigned zone);
/** Register the "policy" counter group. Boot. */
int pol_counters_register(void);

#endif
