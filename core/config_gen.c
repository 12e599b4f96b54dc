/*
 * config_gen.c - configuration generations: the running struct mx_config
 * published with RCU (liburcu QSBR), replaced by a reload, the old one
 * freed after a grace period.
 *
 * Memory: every published configuration comes from config_new() (malloc,
 * i.e. jemalloc in the daemon) inside a box that carries its rcu_head.
 * config_publish() takes ownership; the generation it replaces is handed
 * to call_rcu() and freed by liburcu's call_rcu thread once every worker
 * has passed a quiescent state.
 *
 * Why nothing here can stall the control loop: the control thread never
 * calls synchronize_rcu(). It registers as a QSBR thread (liburcu asks
 * call_rcu() callers to be registered and online) but stays offline except
 * for the few instructions around call_rcu(), so it never delays a grace
 * period either. The grace period itself is waited for by the call_rcu
 * thread: workers report a quiescent state every loop iteration and go
 * offline while idle-sleeping, so it lasts about one loop iteration.
 */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <urcu-qsbr.h>

#include "core/config.h"
#include "core/log.h"

struct config_box {
	struct rcu_head rcu;
	struct mx_config c;
};

static struct mx_config *current; /* RCU-protected */
static pthread_t writer;
static bool have_writer;

static struct config_box *box_of(struct mx_config *c)
{
	return (struct config_box *)((char *)c - offsetof(struct config_box, c));
}

struct mx_config *config_new(void)
{
	struct config_box *b = malloc(sizeof(*b));

	if (!b) {
		errno = ENOMEM;
		return NULL;
	}
	config_defaults(&b->c);
	return &b->c;
}

void config_free(struct mx_config *c)
{
	if (!c)
		return;
	config_clear(c);
	free(box_of(c));
}

static void free_rcu(struct rcu_head *h)
{
	struct config_box *b = caa_container_of(h, struct config_box, rcu);

	config_clear(&b->c);
	free(b);
}

/* The first caller becomes the writer: register it, offline. */
static void writer_check(void)
{
	if (!have_writer) {
		writer = pthread_self();
		have_writer = true;
		rcu_register_thread();
		rcu_thread_offline();
		return;
	}
	if (!pthread_equal(writer, pthread_self()))
		mx_panic("config_publish() called outside the control thread");
}

const struct mx_config *config_current(void)
{
	return rcu_dereference(current);
}

void config_publish(struct mx_config *c)
{
	struct mx_config *old;

	writer_check();
	/* Only this thread writes @current: a plain read is enough here. */
	c->generation = current ? current->generation + 1 : 1;
	old = rcu_xchg_pointer(&current, c);
	if (old) {
		rcu_thread_online();
		call_rcu(&box_of(old)->rcu, free_rcu);
		rcu_thread_offline();
	}
}

void config_shutdown(void)
{
	struct mx_config *old;

	if (!have_writer)
		return;
	old = rcu_xchg_pointer(&current, NULL);
	/* Readers still running (tests) may hold @old: wait for them, then
	 * for every pending free. */
	synchronize_rcu();
	rcu_barrier();
	config_free(old);
	rcu_unregister_thread();
	have_writer = false;
}
