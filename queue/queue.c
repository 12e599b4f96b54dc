/*
 * queue.c - see queue.h. Turns [spool] and [relay] into spool_conf and
 * relay_conf and keeps the lifecycle order both libraries require:
 * spool_create (recovery) -> relay_create (takes recovered messages, hooks
 * on_commit) -> spool_start -> relay_start ... relay_stop -> spool_stop ->
 * relay_destroy -> spool_destroy. Reload: queue_reconfig() passes the live
 * [spool] and [relay] keys to spool_set_limits() / relay_set_limits().
 */
#include "queue/queue.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/loop.h"
#include "queue/relay.h"
#include "queue/spool.h"

static struct spool *sp;
static struct relay *rl;
static bool started;
/* Control thread: back-pressure from the queue even while every relay
 * thread is inside a slow transaction (relay_pressure_tick()). */
static struct mx_loop_timer pressure_timer;
#define QUEUE_PRESSURE_TICK_MS 250
static char hosts[RELAY_MAX_NEXTHOPS][MX_CFG_STR];
static char bounce_host[MX_CFG_STR];

/* "proto:host:port" (checked by the configuration) into @h, the host
 * copied into @host. */
static void hop_parse(struct relay_nexthop *h, char *host, const char *v, const struct mx_config *c)
{
	const char *colon = strrchr(v, ':');
	size_t hl = (size_t)(colon - (v + 5));

	memcpy(host, v + 5, hl);
	host[hl] = '\0';
	h->host = host;
	h->port = (uint16_t)atoi(colon + 1);
	h->proto = strncmp(v, "lmtp:", 5) == 0 ? RELAY_PROTO_LMTP : RELAY_PROTO_SMTP;
	h->tls = (uint8_t)c->relay_tls; /* same order as enum relay_tls */
}

/* Give the daemon user @name in directory @dfd if another non-root user
 * owns it (a spool written under an older [daemon] user, e.g. nobody).
 * Opened without following a link and checked through the fd: only a
 * regular file with no other name, or a directory (then its entries the
 * same way, one level: the spool's worker directories); root's entries
 * and symbolic links are left alone. Returns how many entries failed. */
static unsigned adopt(int dfd, const char *name, uid_t uid, gid_t gid, bool descend)
{
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	unsigned failed = 0;
	struct stat st;

	if (fd < 0)
		return errno == ELOOP ? 0 : 1; /* a symbolic link: not ours to fix */
	if (fstat(fd, &st) != 0 || st.st_uid == 0 || (st.st_uid == uid && st.st_gid == gid) ||
	    (S_ISREG(st.st_mode) && st.st_nlink != 1) ||
	    (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))) {
		close(fd);
		return 0;
	}
	if (fchown(fd, uid, gid) != 0)
		failed++;
	if (S_ISDIR(st.st_mode) && descend) {
		DIR *d = fdopendir(fd);
		struct dirent *e;
		if (!d) {
			close(fd);
			return failed + 1;
		}
		while ((e = readdir(d)))
			if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
				failed += adopt(dirfd(d), e->d_name, uid, gid, false);
		closedir(d);
		return failed;
	}
	close(fd);
	return failed;
}

/* The spool directory is the daemon user's (it writes every segment after
 * the privilege drop), so root touches it only through fds opened
 * without following a link: a symbolic link as the directory itself is
 * refused (give the real path), never chowned through; inside, only what
 * adopt() accepts changes owner. Components above
 * it are the operator's and must not be writable by that user. */
int queue_prepare(const struct mx_config *c, uid_t uid, gid_t gid)
{
	struct stat st;
	int fd;

	if (c->spool_dir[0] == '\0')
		return 0;
	if (mkdir(c->spool_dir, 0700) != 0 && errno != EEXIST) {
		MX_ERR("[spool] dir = %s: cannot create: %s", c->spool_dir, strerror(errno));
		return -1;
	}
	fd = open(c->spool_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		MX_ERR("[spool] dir = %s: cannot open: %s%s", c->spool_dir, strerror(errno),
		       errno == ELOOP || errno == ENOTDIR
			       ? " (a symbolic link or not a directory: give the real path)"
			       : "");
		return -1;
	}
	if (fstat(fd, &st) != 0 ||
	    ((st.st_uid != uid || st.st_gid != gid) && fchown(fd, uid, gid) != 0)) {
		MX_ERR("[spool] dir = %s: cannot give it to the daemon user: %s", c->spool_dir,
		       strerror(errno));
		close(fd);
		return -1;
	}
	/* Files of an older [daemon] user (e.g. nobody) become this one's. */
	if (uid != 0) {
		DIR *d = fdopendir(fd);
		struct dirent *e;
		unsigned failed = 0;
		if (!d) {
			MX_ERR("[spool] dir = %s: cannot read: %s", c->spool_dir, strerror(errno));
			close(fd);
			return -1;
		}
		while ((e = readdir(d)))
			if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
				failed += adopt(dirfd(d), e->d_name, uid, gid, true);
		closedir(d);
		if (failed)
			MX_WARN("[spool] dir = %s: %u entries of another user could not be given "
				"to the daemon user",
				c->spool_dir, failed);
		return 0;
	}
	close(fd);
	return 0;
}

int queue_boot(const struct mx_config *c, unsigned nworkers)
{
	struct spool_conf sc;
	struct relay_conf rc;

	if (c->spool_dir[0] == '\0') {
		MX_WARN("[spool] dir is empty: no spool, every message is answered 451 4.3.0");
		return 0;
	}
	spool_conf_defaults(&sc);
	sc.dir = c->spool_dir;
	/* One more context than worker lcores: the relay's, for the delivery
	 * status notifications it queues (spool_inject()). */
	sc.workers = nworkers + 1;
	sc.commit_threads = (unsigned)c->spool_commit_threads;
	sc.segment_size = (uint64_t)c->spool_segment_mb << 20;
	sc.commit_interval_us = (uint32_t)c->spool_commit_interval_us;
	sc.commit_batch = (uint32_t)c->spool_commit_batch;
	sc.high_water = (uint64_t)c->spool_high_water_mb << 20;
	sc.min_free = (uint64_t)c->spool_min_free_mb << 20;
	/* Port 25 opens once each worker's newest segment is checked; the
	 * backlog is verified and queued by a thread of its own (recover.c). */
	sc.recover_background = c->spool_recover_background;
	sp = spool_create(&sc);
	if (!sp) {
		MX_ERR("[spool] dir = %s: cannot open the spool: %s", c->spool_dir,
		       strerror(errno));
		return -1;
	}

	relay_conf_defaults(&rc);
	rc.threads = (unsigned)c->relay_threads;
	rc.helo_name = c->smtp_hostname[0] ? c->smtp_hostname : "localhost";
	rc.retry_min_ms = (uint32_t)(c->relay_retry_min_s * 1000);
	rc.retry_max_ms = (uint32_t)(c->relay_retry_max_s * 1000);
	rc.refuse_after_ms = (uint32_t)(c->relay_refuse_after_s * 1000);
	rc.max_backlog_age_ms = (uint32_t)(c->relay_max_backlog_age_s * 1000);
	rc.max_queue_lifetime_ms = (uint64_t)c->relay_max_queue_lifetime_s * 1000;
	rc.on_permanent_failure = (uint8_t)c->relay_on_permanent_failure; /* enum order */
	rc.dsn_worker = spool_worker_get(sp, nworkers);
	rc.ca_file = c->relay_ca_file[0] ? c->relay_ca_file : NULL;
	for (unsigned i = 0; i < c->relay_nexthop.n && i < RELAY_MAX_NEXTHOPS; i++) {
		hop_parse(&rc.nexthop[i], hosts[i], c->relay_nexthop.v[i], c);
		rc.nexthop[i].priority = i;
		rc.nnexthops = i + 1;
	}
	if (c->relay_bounce_nexthop.n > 1)
		MX_WARN("[relay] bounce_nexthop: %u given, the first is used",
			c->relay_bounce_nexthop.n);
	if (c->relay_bounce_nexthop.n > 0)
		hop_parse(&rc.bounce_nexthop, bounce_host, c->relay_bounce_nexthop.v[0], c);
	if (rc.nnexthops == 0) {
		MX_WARN("[relay] no nexthop: accepted mail stays in the spool until one is "
			"configured");
		return 0;
	}
	rl = relay_create(&rc, sp);
	if (!rl) {
		MX_ERR("[relay]: cannot create the relay: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static void pressure_tick(struct mx_loop_timer *t, void *arg)
{
	(void)arg;
	if (rl)
		relay_pressure_tick(rl);
	mx_loop_timer_arm(t, QUEUE_PRESSURE_TICK_MS);
}

int queue_start(void)
{
	if (!sp)
		return 0;
	if (spool_start(sp) != 0) {
		MX_ERR("spool: cannot start its commit thread: %s", strerror(errno));
		return -1;
	}
	started = true;
	if (rl && relay_start(rl) != 0) {
		MX_ERR("relay: cannot start its threads: %s", strerror(errno));
		return -1;
	}
	if (rl) {
		mx_loop_timer_init(&pressure_timer, pressure_tick, NULL);
		mx_loop_timer_arm(&pressure_timer, QUEUE_PRESSURE_TICK_MS);
	}
	MX_NOTICE("queue: spool %s, %s", "started",
		  rl ? "relay started" : "no relay (no [relay] nexthop)");
	return 0;
}

void queue_stop(void)
{
	if (mx_loop_timer_armed(&pressure_timer))
		mx_loop_timer_cancel(&pressure_timer);
	if (rl && started)
		relay_stop(rl);
	if (sp && started)
		spool_stop(sp);
	if (rl)
		relay_destroy(rl);
	if (sp)
		spool_destroy(sp);
	rl = NULL;
	sp = NULL;
	started = false;
}

struct spool_worker *queue_worker(unsigned i)
{
	return sp ? spool_worker_get(sp, i) : NULL;
}

struct spool *queue_spool(void)
{
	return sp;
}

struct relay *queue_relay(void)
{
	return rl;
}

void queue_reconfig(const struct mx_config *c)
{
	if (sp)
		spool_set_limits(sp, (uint64_t)c->spool_high_water_mb << 20,
				 (uint64_t)c->spool_min_free_mb << 20,
				 (uint32_t)c->spool_commit_interval_us,
				 (uint32_t)c->spool_commit_batch);
	if (rl)
		relay_set_limits(rl, (uint32_t)(c->relay_retry_min_s * 1000),
				 (uint32_t)(c->relay_retry_max_s * 1000),
				 (uint32_t)(c->relay_refuse_after_s * 1000),
				 (uint32_t)(c->relay_max_backlog_age_s * 1000));
}
