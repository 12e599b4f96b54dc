/*
 * sessions.h - `show sessions`, `kill session`, `kill sessions` (see
 * sessions.c). The drain (drain.c) uses the same requests to end what is
 * left at its deadline. Control thread only.
 */
#ifndef MX_CTL_SESSIONS_H
#define MX_CTL_SESSIONS_H

/** Ask every worker to end every live session (421 4.3.2, then close;
 * parked ones once answered). Answers nobody; logs how many. */
void sessions_kill_all(void);

/** Sessions open now over every worker (relaxed counters). */
unsigned sessions_open(void);

#endif
