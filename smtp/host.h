/*
 * host.h - the SMTP session host: runs, for each engine event, an ordered
 * list of stages registered at boot, and parks sessions under tickets for
 * stages that answer later. Types: host-t.h.
 *
 * STAGES. For every event (connect, helo, mail, rcpt, data-begin,
 * data-chunk, data-end, txn-abort, close) the stages registered for it run
 * in registration order. A stage answers at once: CONTINUE (next stage),
 * REPLY (ends the list with its code, enhanced code and text) or PARK. When
 * the list runs out the engine's default applies, except at DATA_END where
 * the host answers 451 4.3.0 "Error: message not stored, try again later":
 * only a stage (the spool) may say 250 for a message.
 *
 * TICKETS. A stage parks by taking a ticket (smtp_stage_ticket(): kind,
 * slot, generation), handing it to whatever answers later (the spool's
 * commit thread, DNS, a shared store) and returning SMTP_STAGE_PARK. The
 * engine stops reading the session's input (pipelined commands wait in the
 * transport, in order). The answer comes back through smtp_host_resume()
 * on the worker: "continue" runs the next stages of the same list (which
 * may park again), a reply ends it. A ticket whose session ended, whose
 * slot was reused or which was superseded is stale: dropped and counted.
 *
 * At DATA_CHUNK a park only pauses the body (back-pressure): the engine
 * ignores the reply of an answer or of the deadline there, and the stages
 * after the parked one see the event without its octets (gone by then); a
 * stage that fails the message at a chunk remembers it and answers at
 * DATA_END. TXN_ABORT and CLOSE are notifications and never park.
 *
 * DEADLINES. The host arms the session's timer at the park's deadline (the
 * stage's park_ms); if no answer came by then the session is answered with
 * the stage's expiry reply (default 451 4.4.3 "Error: temporary lookup
 * failure") and the ticket becomes stale: never a stuck session.
 *
 * MEMORY. smtp_host_create() allocates the engine pool and the connection
 * table (conn.h) with every slot; the host owns both and frees them in
 * smtp_host_destroy(). Nothing is allocated afterwards.
 *
 * THREADING. A host belongs to one worker lcore. smtp_host_counters_read()
 * may be called from any thread; everything else on the owner only.
 */
#ifndef MX_SMTP_HOST_H
#define MX_SMTP_HOST_H

#include "smtp/conn.h"
#include "smtp/host-t.h"

/** Names and help texts of the host counters, in SMTP_HOST_COUNTERS order. */
extern const char *const smtp_host_counter_names[SMTP_HOST_CNT_COUNT];
extern const char *const smtp_host_counter_help[SMTP_HOST_CNT_COUNT];

/** Create a host: the engine pool (sized by @conf->smtp, events routed to
 * the stage lists) and its connection table (max_sessions slots). Boot
 * path. Returns the host, or NULL with errno (EINVAL bad config, ENOMEM). */
struct smtp_stage_host *smtp_host_create(const struct smtp_host_conf *conf);

/** Free @h, its pool and table. Every connection must have been released.
 * Boot/control path, owner stopped. NULL is a no-op. */
void smtp_host_destroy(struct smtp_stage_host *h);

/** Append stage @st (copied) to the list of @st->event. Boot only, before
 * the first connection. Returns 0, -EINVAL (no fn or name, bad event) or
 * -ENOSPC (SMTP_HOST_MAX_STAGES reached). */
int smtp_host_stage_add(struct smtp_stage_host *h, const struct smtp_stage *st);

/** The engine pool of @h (for smtp_pool_update(), counters). */
struct smtp_pool *smtp_host_pool(struct smtp_stage_host *h);

/** The connection table of @h (transports open connections on it). */
struct smtp_conn_table *smtp_host_conns(struct smtp_stage_host *h);

/** Hand out a ticket of @kind for the session of @call, to be returned by
 * the stage as SMTP_STAGE_PARK. Every call supersedes the previous ticket
 * of the session. Inside a stage only. */
uint64_t smtp_stage_ticket(struct smtp_stage_call *call, enum smtp_ticket_kind kind);

/** Answer @ticket: @ans NULL or code 0 runs the next stages of the parked
 * list ("continue"); code 200..599 ends it with that reply (@ans->enh and
 * text copied). The session's output is flushed and its kept input fed
 * again before returning. Returns 0; -ESTALE (dropped and counted: session
 * gone, slot reused, superseded or already answered); -EINVAL (bad code);
 * -EBUSY if called from a stage of the same session. Owner lcore only. */
int smtp_host_resume(struct smtp_stage_host *h, uint64_t ticket, const struct smtp_answer *ans);

/** Copy @h's counters (relaxed loads). Any thread. */
void smtp_host_counters_read(const struct smtp_stage_host *h, struct smtp_host_counters *out);

/** Parts of a ticket. */
static inline enum smtp_ticket_kind smtp_ticket_kind(uint64_t t)
{
	return (enum smtp_ticket_kind)(t >> 56);
}
static inline uint32_t smtp_ticket_slot(uint64_t t)
{
	return (uint32_t)(t >> 32) & 0xffffffu;
}
static inline uint32_t smtp_ticket_gen(uint64_t t)
{
	return (uint32_t)t;
}

#endif
