/*
 * conn_table.h - the live TCP connections of this incarnation, kept in a
 * memory-mapped file that outlives the process (issue 15, defect 5).
 *
 * WHY. mxgate's TCP state lives in the process: after a crash or kill -9 no
 * FIN or RST reaches the clients, and a client that sent its final "." and
 * waits for the reply sends nothing more, so it hangs until its own timeout
 * (RFC 5321 lets it wait 10 minutes). At start, the next incarnation reads
 * the previous one's table and sends each peer a SYN from the old 4-tuple:
 * a peer that still has the connection answers with an RFC 5961 challenge
 * ACK (4.2), the listener answers that ACK with a RST whose sequence number
 * is the ACK's acknowledgment number (RFC 9293 3.10.7.1), which is exactly
 * the peer's RCV.NXT, so the peer accepts it (RFC 5961 3.2) and its
 * connection ends at once: the sender retries within seconds. A peer that
 * no longer has the connection answers the SYN with a RST or ignores it.
 *
 * LAYOUT. A header (magic, version, workers, slots per worker) and, per
 * worker, one slot per TCB of its stack (slot = TCB index): a
 * struct tcp_key and a state word. A worker writes its own slots only,
 * with plain stores and no syscall (the page cache carries them; the
 * kernel writes them back on its own); the key is written before the
 * state (release), so a slot read after a crash is either free or whole.
 *
 * The file is opened (never following a link) and mapped at boot, before
 * privileges are dropped; the previous content is read then, and the table
 * cleared for this incarnation. Pure C (libc only): unit-tested.
 */
#ifndef MX_DATAPLANE_CONN_TABLE_H
#define MX_DATAPLANE_CONN_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "dataplane/tcp/tcp-t.h"

#define DP_CONN_TABLE_MAGIC   0x6d78636eu /* "mxcn" */
#define DP_CONN_TABLE_VERSION 1
/* Largest table read back (workers x slots): a damaged header cannot make
 * us read or allocate more. */
#define DP_CONN_TABLE_MAX_SLOTS (1u << 24)

struct dp_conn_table;

/** Open (create if absent, mode 0600, O_NOFOLLOW) the table at @path for
 * @workers workers of @slots TCBs each. The live entries the previous
 * incarnation left are returned in *@old (malloc'd, caller frees) and
 * *@nold; a missing, short or foreign file gives none (and is rewritten).
 * Returns the table, or NULL with errno. Boot, control thread. */
struct dp_conn_table *dp_conn_table_open(const char *path, unsigned workers, unsigned slots,
					 struct tcp_key **old, size_t *nold);

/** Record connection @key in slot @idx of worker @worker (@key NULL: the
 * slot is free again). Worker @worker only; no syscall. */
void dp_conn_table_set(struct dp_conn_table *t, unsigned worker, uint32_t idx,
		       const struct tcp_key *key);

/** Live slots of @worker (for tests and show stats). Any thread. */
size_t dp_conn_table_count(const struct dp_conn_table *t, unsigned worker);

/** Unmap and close. With @clear, every slot is freed first (a clean
 * shutdown has ended its connections itself). NULL is a no-op. */
void dp_conn_table_close(struct dp_conn_table *t, int clear);

#endif
