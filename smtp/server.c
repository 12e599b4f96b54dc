/*
 * server.c - the SMTP service on every worker lcore (a dp_service): the
 * wiring of the pieces, nothing more.
 *
 *   host.c          stage lists per engine event, park tickets, deadlines;
 *                   owns the engine pool and the connection table (conn.c:
 *                   slots, timers, the pump between transport and engine)
 *   transport_tcp.c the plain transport and the listener on [smtp] port
 *   stage_spool.c   the spool as stages (admission, message, commit)
 *   policy/stage.c  the policy checks as stages, before the spool's
 *
 * One struct srv per worker, allocated at init, freed at fini. The poll
 * hook takes the spool's completions; the reconfig hook applies the live
 * [smtp] keys of a new configuration generation to the worker's engine.
 *
 * Worker lcore only, except init/fini (main lcore) and the counter
 * accessors (any thread, relaxed loads).
 */
#include "smtp/server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config-t.h"
#include "core/log.h"
#include "dataplane/dataplane.h"
#include "dataplane/tcp/tcp.h"
#include "policy/grey_stage.h"
#include "policy/policy.h"
#include "policy/rl_stage.h"
#include "queue/queue.h"
#include "queue/spool.h"
#include "smtp/admission.h"
#include "smtp/ctlbox.h"
#include "smtp/host.h"
#include "smtp/latency.h"
#include "smtp/smtp.h"
#include "smtp/stage_spool.h"
#include "smtp/transport_tcp.h"
#include "smtp/transport_tls.h"

#define SRV_MAX_WORKERS 128
/* [smtp] greet_delay_ms = -1 on port 25: about a second (postscreen's
 * postscreen_greet_wait is 6 s, 2 under stress). */
#define SMTP_GREET_DELAY_PORT25_MS 1000

struct srv {
	unsigned worker;
	char sysname[256]; /* gethostname() at boot: [smtp] hostname unset */
	struct smtp_stage_host *host;
	struct smtp_spool_stage *spool;
	struct pol_stage *pol;
	struct grey_stage *grey;
	struct rl_stage *rl;
	struct tcp_listener *l;
	struct smtp_adm_worker *adm;
	struct smtp_tls_worker *tls; /* NULL: no STARTTLS */
	struct smtp_ctlbox *box;     /* show/kill sessions, drain (ctlbox.h) */
	struct smtp_conn_lat *lat;   /* per-phase latency (latency.h) */
	bool spool_gate;	     /* [smtp] connect_spool_check (live) */
	struct tcp_listener *l_tls;  /* [tls] implicit_port, or NULL */
	struct smtp_tcp_accept tls_accept;
};

static struct srv *servers[SRV_MAX_WORKERS];
static struct smtp_adm *adm_shared; /* one for every worker: admission.c */
static unsigned adm_users;

/* The connect-time gate (conn.h): with [smtp] connect_spool_check, a
 * spool that refuses new transactions refuses new connections too, 421
 * 4.3.2 before a session exists (so a surge turns into retries, not into
 * sessions each answered 452 at MAIL). spool_admit() reads atomics only. */
static const char *srv_gate(void *arg)
{
	struct srv *srv = arg;
	struct spool_worker *w;

	if (!srv->spool_gate || !(w = smtp_spool_stage_worker(srv->spool)))
		return NULL;
	switch (spool_admit(w)) {
	case 0:
		return NULL;
	case -ENOSPC:
		return "spool full";
	case -EAGAIN:
		return "not accepting mail now";
	default:
		return "spool busy";
	}
}

/* [smtp] admission keys of @c, and the name of the 421, to @srv (live). */
static void srv_adm_set(struct srv *srv, const struct mx_config *c, const char *hostname)
{
	struct smtp_adm_limits lim = {
		.max_conn_per_ip = (uint32_t)c->smtp_max_conn_per_ip,
		.max_conn_per_net = (uint32_t)c->smtp_max_conn_per_net,
		.rate_per_net = (uint32_t)c->smtp_conn_rate_per_net,
		.burst_per_net = (uint32_t)c->smtp_conn_burst_per_net,
		.reserve_pct = (uint32_t)c->smtp_reserve_pct,
	};

	smtp_adm_worker_set(srv->adm, &lim, hostname);
	srv->spool_gate = c->smtp_connect_spool_check;
}

/* [smtp] greet_delay_ms, -1 (the default) resolved: postscreen's greet
 * wait of about a second on the MX port 25, none on any other port. */
static int64_t smtp_greet_delay_of(const struct mx_config *cfg)
{
	if (cfg->smtp_greet_delay_ms >= 0)
		return cfg->smtp_greet_delay_ms;
	return cfg->smtp_port == 25 ? SMTP_GREET_DELAY_PORT25_MS : 0;
}

/* The engine configuration from [smtp]; an empty hostname means
 * @default_name. Returns 0, or -1 (logged) if the name is too long. */
static int smtp_config_from(const struct mx_config *cfg, const char *default_name,
			    struct smtp_config *sc)
{
	const char *hn = cfg->smtp_hostname[0] ? cfg->smtp_hostname : default_name;
	size_t len = strnlen(hn, sizeof(cfg->smtp_hostname));

	smtp_config_defaults(sc);
	if (len > SMTP_HOSTNAME_MAX) {
		MX_ERR("[smtp] hostname %.*s: longer than %d octets", (int)len, hn,
		       SMTP_HOSTNAME_MAX);
		return -1;
	}
	memcpy(sc->hostname, hn, len);
	sc->hostname[len] = '\0';
	sc->max_sessions = (uint32_t)cfg->smtp_max_sessions;
	sc->max_msg_size = (uint64_t)cfg->smtp_max_msg_size;
	sc->max_rcpt = (uint32_t)cfg->smtp_max_rcpt;
	sc->max_errors = (uint32_t)cfg->smtp_max_errors;
	sc->max_commands = (uint32_t)cfg->smtp_max_commands;
	sc->line_ext = (uint32_t)cfg->smtp_line_ext;
	sc->greet_delay_ms = (uint32_t)smtp_greet_delay_of(cfg);
	sc->pregreet_action = (enum smtp_pregreet_action)cfg->smtp_pregreet;
	sc->greet_teaser = cfg->smtp_greet_teaser;
	sc->timeout_cmd_ms = (uint32_t)cfg->smtp_timeout_cmd_s * 1000;
	sc->timeout_data_ms = (uint32_t)cfg->smtp_timeout_data_s * 1000;
	/* STARTTLS ([smtp] tls, [tls]): offered once a certificate is set. */
	sc->starttls_available = cfg->smtp_tls != 0 && cfg->tls_cert.n > 0;
	sc->tls_required = cfg->smtp_tls == 2;
	sc->timeout_tls_ms = (uint32_t)cfg->tls_handshake_timeout_s * 1000;
	return 0;
}

static void srv_free(struct srv *srv)
{
	smtp_spool_stage_destroy(srv->spool);
	pol_stage_destroy(srv->pol);
	grey_stage_destroy(srv->grey);
	rl_stage_destroy(srv->rl);
	smtp_host_destroy(srv->host);
	smtp_tls_worker_destroy(srv->tls);
	smtp_adm_worker_destroy(srv->adm);
	smtp_ctlbox_destroy(srv->box);
	free(srv->lat);
	if (srv->adm && --adm_users == 0) { /* the last worker: the table goes */
		smtp_adm_destroy(adm_shared);
		adm_shared = NULL;
	}
	free(srv);
}

/* The session host and its stages, in the order they run: the latency
 * marks first, the policy checks, rate limits, greylisting, then the
 * spool's. 0, or -1 (out of memory: the caller says so). */
static int srv_stages(struct srv *srv, const struct dp_service_ctx *ctx,
		      const struct mx_config *cfg, const struct smtp_config *sc)
{
	struct smtp_host_conf hc = {
		.worker = ctx->worker,
		.smtp = sc,
		.wheel = ctx->wheel,
		.now_us = ctx->now_us,
		.linger_ms = (uint32_t)cfg->smtp_linger_ms,
		.max_lifetime_s = (uint32_t)cfg->smtp_max_lifetime_s,
	};

	if (!(srv->host = smtp_host_create(&hc)) || !(srv->lat = malloc(sizeof(*srv->lat))))
		return -1;
	for (unsigned i = 0; i < SMTP_LAT_COUNT; i++)
		mx_hist_init(&srv->lat->h[i]);
	if (smtp_latency_stages_add(srv->host, srv->lat) != 0 ||
	    !(srv->pol = pol_stage_create(srv->host, ctx->worker)) ||
	    !(srv->rl = rl_stage_create(srv->host, ctx->worker)) ||
	    !(srv->grey = grey_stage_create(srv->host, ctx->worker, srv->pol)) ||
	    !(srv->spool = smtp_spool_stage_create(srv->host, sc->max_rcpt)))
		return -1;
	/* Received-SPF above our Received:, the client's verified name */
	smtp_spool_stage_set_header(srv->spool, pol_stage_trace, srv->pol);
	return 0;
}

/* Per-client admission (one table shared by the workers: two entries per
 * slot of every worker, plus idle networks), the ctl box, the connect-time
 * gate. 0, or -1 (out of memory). */
static int srv_sessions(struct srv *srv, const struct dp_service_ctx *ctx,
			const struct mx_config *cfg, const struct smtp_config *sc)
{
	struct smtp_conn_table *conns = smtp_host_conns(srv->host);

	if (!adm_shared &&
	    (adm_shared = smtp_adm_create(2 * sc->max_sessions * dp_nworkers() + 16384)))
		smtp_adm_ager_start(adm_shared, 1000);
	if (!adm_shared ||
	    !(srv->adm = smtp_adm_worker_create(adm_shared, ctx->worker, sc->max_sessions, conns)))
		return -1;
	adm_users++;
	srv_adm_set(srv, cfg, sc->hostname);
	smtp_conn_on_release(conns, smtp_adm_unbind, srv->adm);
	if (!(srv->box = smtp_ctlbox_create(ctx->worker, sc->max_sessions)))
		return -1;
	smtp_conn_on_finish(conns, smtp_ctlbox_account, srv->box);
	smtp_ctlbox_set_rdns(srv->box, pol_stage_rdns, srv->pol); /* show sessions */
	smtp_conn_set_gate(conns, srv_gate, srv);
	return 0;
}

/* TLS session slots, bounded per worker ([tls] max_sessions), and the
 * STARTTLS stages. 0 (also when TLS is not configured), or -1 (logged). */
static int srv_tls(struct srv *srv, const struct dp_service_ctx *ctx, const struct mx_config *cfg,
		   const struct smtp_config *sc)
{
	unsigned ntls =
		(unsigned)(cfg->tls_max_sessions ? cfg->tls_max_sessions : cfg->smtp_max_sessions);

	if (!sc->starttls_available && !(cfg->tls_implicit_port && cfg->tls_cert.n))
		return 0;
	if (!(srv->tls = smtp_tls_worker_create(ctx->worker, ntls))) {
		MX_ERR("worker %u: cannot create %u TLS sessions: %s (lower [tls] max_sessions)",
		       ctx->worker, ntls, strerror(errno));
		return -1;
	}
	if (!sc->starttls_available)
		return 0;
	if (smtp_tls_stages_add(srv->host, srv->tls) != 0) {
		MX_ERR("worker %u: cannot add the TLS stages", ctx->worker);
		return -1;
	}
	smtp_conn_on_starttls(smtp_host_conns(srv->host), smtp_tls_on_starttls, srv->tls);
	return 0;
}

/* The SMTP listener, and implicit TLS (RFC 8314) on [tls] implicit_port
 * with the same sessions. 0 or -1 (logged). */
static int srv_listen(struct srv *srv, const struct dp_service_ctx *ctx,
		      const struct mx_config *cfg)
{
	srv->l = smtp_tcp_listen(ctx->tcp, (uint16_t)cfg->smtp_port, (unsigned)cfg->tcp_backlog,
				 srv->adm);
	if (!srv->l) {
		MX_ERR("worker %u: cannot listen on SMTP port %lld: %s", ctx->worker,
		       (long long)cfg->smtp_port, strerror(errno));
		return -1;
	}
	if (!srv->tls || !cfg->tls_implicit_port)
		return 0;
	srv->tls_accept.adm = srv->adm;
	srv->tls_accept.on_open = smtp_tls_on_implicit;
	srv->tls_accept.arg = srv->tls;
	srv->l_tls = smtp_tcp_listen_hook(ctx->tcp, (uint16_t)cfg->tls_implicit_port,
					  (unsigned)cfg->tcp_backlog, &srv->tls_accept);
	if (!srv->l_tls) {
		MX_ERR("worker %u: cannot listen on TLS port %lld: %s", ctx->worker,
		       (long long)cfg->tls_implicit_port, strerror(errno));
		return -1;
	}
	return 0;
}

static void *srv_init(const struct dp_service_ctx *ctx, const struct mx_config *cfg)
{
	struct smtp_config sc;
	struct srv *srv;

	if (cfg->smtp_port == 0 || ctx->worker >= SRV_MAX_WORKERS)
		return (void *)1; /* no SMTP listener configured: nothing to do */
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return NULL;
	/* Resolved once here: the reconfig hook runs on the worker, where no
	 * syscall is made. */
	if (gethostname(srv->sysname, sizeof(srv->sysname)) != 0)
		snprintf(srv->sysname, sizeof(srv->sysname), "localhost");
	srv->sysname[sizeof(srv->sysname) - 1] = '\0';
	if (smtp_config_from(cfg, srv->sysname, &sc) != 0) {
		free(srv);
		return NULL;
	}
	srv->worker = ctx->worker;
	if (srv_stages(srv, ctx, cfg, &sc) != 0 || srv_sessions(srv, ctx, cfg, &sc) != 0) {
		MX_ERR("worker %u: cannot create %u SMTP sessions: %s (lower [smtp] max_sessions)",
		       ctx->worker, sc.max_sessions, strerror(errno));
		srv_free(srv);
		return NULL;
	}
	if (srv_tls(srv, ctx, cfg, &sc) != 0 || srv_listen(srv, ctx, cfg) != 0) {
		srv_free(srv);
		return NULL;
	}
	servers[ctx->worker] = srv;
	return srv;
}

static void srv_fini(void *state)
{
	struct srv *srv = state;

	if (state == (void *)1)
		return;
	servers[srv->worker] = NULL;
	/* The TCP stack is gone: every connection got CLOSED(STACK) and was
	 * released; what is left is the host and its pool. */
	if (smtp_spool_stage_worker(srv->spool))
		spool_worker_flush(smtp_spool_stage_worker(srv->spool));
	srv_free(srv);
}

/* Worker loop: completions of messages made durable (or failed). The
 * spool exists once the daemon has dropped privileges, after the workers
 * were set up and before they run: look the handle up on the first poll. */
static void srv_poll(void *state)
{
	struct srv *srv = state;

	if (state == (void *)1)
		return;
	if (!smtp_spool_stage_worker(srv->spool))
		smtp_spool_stage_attach(srv->spool, queue_worker(srv->worker));
	smtp_spool_stage_poll(srv->spool);
	pol_stage_poll(srv->pol);   /* DNS answers: parked sessions resume */
	grey_stage_poll(srv->grey); /* sessions that waited for SPF */
	smtp_ctlbox_poll(srv->box, smtp_host_conns(srv->host));
}

/* A new configuration generation: apply the live [smtp] keys to this
 * worker's engine and its admission limits. Slab sizes (max_sessions,
 * max_rcpt, line_ext) and the port need a restart: they are not looked at. */
static void srv_reconfig(void *state, const struct mx_config *c)
{
	struct srv *srv = state;
	struct smtp_config sc;
	int rc;

	if (state == (void *)1)
		return;
	if (smtp_config_from(c, srv->sysname, &sc) != 0)
		return;
	srv_adm_set(srv, c, sc.hostname);
	rc = smtp_pool_update(smtp_host_pool(srv->host), &sc);
	if (rc != 0)
		MX_ERR("worker %u: [smtp] of configuration %llu not applied: %s", srv->worker,
		       (unsigned long long)c->generation, strerror(-rc));
}

static const struct dp_service smtp_service = {
	.name = "smtp",
	.init = srv_init,
	.poll = srv_poll,
	.reconfig = srv_reconfig,
	.fini = srv_fini,
};

int smtp_server_register(void)
{
	return dp_service_register(&smtp_service);
}

void smtp_server_counters(unsigned i, struct smtp_counters *out)
{
	memset(out, 0, sizeof(*out));
	if (i < SRV_MAX_WORKERS && servers[i])
		smtp_counters_read(smtp_host_pool(servers[i]->host), out);
}

void smtp_server_host_counters(unsigned i, struct smtp_host_counters *out)
{
	memset(out, 0, sizeof(*out));
	if (i < SRV_MAX_WORKERS && servers[i])
		smtp_host_counters_read(servers[i]->host, out);
}

uint64_t smtp_server_refused(unsigned i)
{
	return i < SRV_MAX_WORKERS && servers[i]
		       ? smtp_conn_refused(smtp_host_conns(servers[i]->host))
		       : 0;
}

unsigned smtp_server_sessions(unsigned i)
{
	return i < SRV_MAX_WORKERS && servers[i]
		       ? smtp_conn_open_count(smtp_host_conns(servers[i]->host))
		       : 0;
}

void smtp_server_tls_counters(unsigned i, struct smtp_tls_counters *out)
{
	memset(out, 0, sizeof(*out));
	if (i < SRV_MAX_WORKERS && servers[i] && servers[i]->tls)
		smtp_tls_counters_read(servers[i]->tls, out);
}

struct smtp_ctlbox *smtp_server_ctlbox(unsigned i)
{
	return i < SRV_MAX_WORKERS && servers[i] ? servers[i]->box : NULL;
}

uint64_t smtp_server_gate_refused(unsigned i)
{
	return i < SRV_MAX_WORKERS && servers[i] && servers[i]->host
		       ? smtp_conn_gate_refused(smtp_host_conns(servers[i]->host))
		       : 0;
}

uint64_t smtp_server_drain_refused(unsigned i)
{
	return i < SRV_MAX_WORKERS && servers[i]
		       ? smtp_conn_drain_refused(smtp_host_conns(servers[i]->host))
		       : 0;
}

const struct smtp_conn_lat *smtp_server_latency(unsigned i)
{
	return i < SRV_MAX_WORKERS && servers[i] ? servers[i]->lat : NULL;
}
