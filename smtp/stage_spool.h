/*
 * stage_spool.h - the spool (queue/spool.h) as stages of the SMTP session
 * host: admission at MAIL, the message opened at DATA/BDAT with its
 * envelope and Received: header, body chunks streamed in, the commit
 * awaited at end of data (parked under an SMTP_TICKET_SPOOL ticket), the
 * message dropped on a transaction abort.
 *
 * Replies: 452 4.3.1 at MAIL above the high-water mark or on a full disk;
 * 250 2.0.0 "Ok: queued as <id>" only after the commit thread's
 * completion (fdatasync done); the spool's 452 4.3.1 / 451 4.3.0
 * otherwise. Without a spool handle ([spool] dir empty) every stage
 * continues and the host answers 451 4.3.0 at end of data. A commit that
 * does not complete within SMTP_SPOOL_COMMIT_MS is answered 451 4.3.0
 * "Error: queue file write error" (the spool's own I/O error reply).
 *
 * Memory: per-slot message state for every slot of the host, allocated at
 * create, freed at destroy. Worker lcore only.
 */
#ifndef MX_SMTP_STAGE_SPOOL_H
#define MX_SMTP_STAGE_SPOOL_H

#include "smtp/host-t.h"

/* Deadline of the park at end of data: half of the 10 minutes a client
 * waits for the reply to the end of data (RFC 5321 4.5.3.2.6). */
#define SMTP_SPOOL_COMMIT_MS 300000

struct smtp_spool_stage;
struct spool_worker;

/** Register the spool stages on @h (appended to the MAIL, DATA_BEGIN,
 * DATA_CHUNK, DATA_END and TXN_ABORT lists: register policy stages first)
 * with room for @max_rcpt recipients per envelope. The spool handle comes
 * later (smtp_spool_stage_attach()). Boot only. Returns the stage set, or
 * NULL with errno (ENOMEM, EINVAL, ENOSPC: too many stages). */
struct smtp_spool_stage *smtp_spool_stage_create(struct smtp_stage_host *h, unsigned max_rcpt);

/** Use spool handle @w (NULL: none, 451 at end of data). Owner lcore, before
 * the first transaction. */
void smtp_spool_stage_attach(struct smtp_spool_stage *sp, struct spool_worker *w);

/* Trace information from the stages before the spool's: fill @buf with
 * header fields written above our Received: (e.g. Received-SPF, RFC 7208
 * 9.1; complete, CRLF-terminated) for the session in connection slot
 * @slot and return their length (0: none); set *@rdns to the client's
 * verified name for Received: (left NULL: "unknown"; the string must stay
 * valid during the stage). Called on the owner lcore at DATA_BEGIN. */
typedef int (*smtp_spool_header_fn)(void *arg, uint32_t slot, char *buf, size_t len,
				    const char **rdns);

/** Set the header callback (NULL: none). Boot only. */
void smtp_spool_stage_set_header(struct smtp_spool_stage *sp, smtp_spool_header_fn fn, void *arg);

/** The attached handle (NULL if none). Owner lcore. */
struct spool_worker *smtp_spool_stage_worker(const struct smtp_spool_stage *sp);

/** Once per worker loop: take the spool's completions and answer their
 * tickets (stale ones are dropped by the host and counted there: the
 * message is on disk and will be delivered; the client, having no 250,
 * may send it again). Returns the number of completions taken. Owner
 * lcore only. */
unsigned smtp_spool_stage_poll(struct smtp_spool_stage *sp);

/** Free @sp (NULL ok); its host must be destroyed or idle. Boot path. */
void smtp_spool_stage_destroy(struct smtp_spool_stage *sp);

#endif
