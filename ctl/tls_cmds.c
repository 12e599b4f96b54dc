/*
 * tls_cmds.c - STARTTLS certificates on the control thread: the
 * generation built at boot and on every reload, the file watch, `show
 * tls`, `tls reload` and the tls counters. See tls.h.
 *
 * A reload builds the whole new generation (every pair read and checked)
 * before it replaces the running one (smtp/tls_ctx.h): a bad pair is
 * refused with the file named and the old certificates keep serving;
 * sessions and handshakes in flight keep their generation.
 *
 * Memory: static state only; the generations are tls_ctx.c's. Control
 * thread only, except the counter read functions (relaxed loads).
 */
#include "ctl/tls.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/config.h"
#include "core/counters.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/tlsmem.h"
#include "ctl/ctl.h"
#include "ctl/daemon.h"
#include "dataplane/dp_counters.h"
#include "smtp/server.h"
#include "smtp/tls_ctx.h"
#include "smtp/transport_tls.h"

/* What the files looked like when they were last loaded (or tried). */
struct file_state {
	char path[MX_CFG_STR];
	time_t mtime;
	long mtime_ns;
	off_t size;
	ino_t ino;
};

static struct {
	bool on;
	struct mx_loop_timer watch;
	unsigned nfiles;
	struct file_state files[2 * SMTP_TLS_MAX_PAIRS + 1];
	time_t loaded_at;
	time_t warned_at;
	uint64_t reloads_ok, reloads_failed;
	char last_error[512];
} tls;

static void file_stat(struct file_state *f)
{
	struct stat st;

	if (stat(f->path, &st) != 0) {
		f->mtime = 0, f->mtime_ns = 0, f->size = -1, f->ino = 0;
		return;
	}
	f->mtime = st.st_mtim.tv_sec;
	f->mtime_ns = st.st_mtim.tv_nsec;
	f->size = st.st_size;
	f->ino = st.st_ino;
}

static void files_snapshot(const struct mx_config *c)
{
	unsigned n = 0;

	for (unsigned i = 0; i < c->tls_cert.n && n + 2 <= 2 * SMTP_TLS_MAX_PAIRS; i++) {
		snprintf(tls.files[n].path, sizeof(tls.files[n].path), "%s", c->tls_cert.v[i]);
		file_stat(&tls.files[n++]);
		snprintf(tls.files[n].path, sizeof(tls.files[n].path), "%s", c->tls_key.v[i]);
		file_stat(&tls.files[n++]);
	}
	if (c->tls_ticket_key_file[0]) {
		snprintf(tls.files[n].path, sizeof(tls.files[n].path), "%s",
			 c->tls_ticket_key_file);
		file_stat(&tls.files[n++]);
	}
	tls.nfiles = n;
}

/* Warn (once a day) about a certificate expiring within [tls]
 * expiry_warn_days. */
static void expiry_check(const struct mx_config *c, time_t now)
{
	int64_t left = smtp_tls_days_left(now);

	if (left == INT64_MAX || left >= c->tls_expiry_warn_days)
		return;
	if (tls.warned_at && now - tls.warned_at < 86400)
		return;
	tls.warned_at = now;
	MX_WARN("tls: a certificate expires in %lld day(s): renew it (mxgatectl show tls)",
		(long long)left);
}

int tls_reload(const struct mx_config *c, struct ctl_out *o)
{
	struct smtp_tls_conf conf = {.min_version = smtp_tls_version_of(c->tls_min_version),
				     .ticket_key_file = c->tls_ticket_key_file};
	struct smtp_tls_gen *g, *cur;
	char err[512];
	uint64_t running;

	files_snapshot(c); /* a failed attempt is not retried until they change */
	if (c->tls_cert.n == 0) {
		if (o)
			ctl_printf(o, "tls: no [tls] cert configured\n");
		return 0;
	}
	conf.npairs = c->tls_cert.n < SMTP_TLS_MAX_PAIRS ? c->tls_cert.n : SMTP_TLS_MAX_PAIRS;
	for (unsigned i = 0; i < conf.npairs; i++) {
		conf.cert[i] = c->tls_cert.v[i];
		conf.key[i] = c->tls_key.v[i];
	}
	cur = smtp_tls_acquire();
	running = smtp_tls_gen_id(cur);
	smtp_tls_release(cur);
	if (smtp_tls_build(&conf, &g, err, sizeof(err)) != 0) {
		tls.reloads_failed++;
		snprintf(tls.last_error, sizeof(tls.last_error), "%s", err);
		MX_ERR("tls: %s: refused, generation %llu keeps serving", err,
		       (unsigned long long)running);
		if (o)
			ctl_error(o, "tls: %s: refused, generation %llu keeps serving", err,
				  (unsigned long long)running);
		return -1;
	}
	smtp_tls_publish(g);
	tls.reloads_ok++;
	tls.last_error[0] = '\0';
	tls.loaded_at = time(NULL);
	tls.warned_at = 0;
	MX_NOTICE("tls: generation %llu: %u certificate(s) loaded",
		  (unsigned long long)smtp_tls_gen_id(g), smtp_tls_gen_ncerts(g));
	if (o)
		ctl_printf(o, "tls: generation %llu: %u certificate(s) loaded\n",
			   (unsigned long long)smtp_tls_gen_id(g), smtp_tls_gen_ncerts(g));
	expiry_check(c, tls.loaded_at);
	return 0;
}

static bool files_changed(void)
{
	for (unsigned i = 0; i < tls.nfiles; i++) {
		struct file_state now = tls.files[i];

		file_stat(&now);
		if (now.mtime != tls.files[i].mtime || now.mtime_ns != tls.files[i].mtime_ns ||
		    now.size != tls.files[i].size || now.ino != tls.files[i].ino)
			return true;
	}
	return false;
}

/* Without a key file: a new ticket key every [tls] ticket_key_rotate_s
 * (looked at each watch tick, 5 s at most when the watch is off). */
static void ticket_rotate(const struct mx_config *c)
{
	unsigned n;
	time_t newest;
	uint64_t rot;
	int rc;

	if (c->tls_ticket_key_file[0])
		return;
	rc = smtp_tls_ticket_rotate(time(NULL), c->tls_ticket_key_rotate_s);
	if (rc < 0) {
		MX_ERR("tls: cannot make a new session ticket key: %s", strerror(-rc));
	} else if (rc > 0) {
		smtp_tls_ticket_info(&n, &newest, &rot);
		MX_INFO("tls: new session ticket key (%u kept for tickets already issued)", n - 1);
	}
}

static void on_watch(struct mx_loop_timer *t, void *arg)
{
	const struct mx_config *c = daemon_config();

	(void)arg;
	ticket_rotate(c);
	if (c->tls_watch_s == 0) {
		mx_loop_timer_arm(t, 5000); /* off: look again whether it was turned on */
		return;
	}
	if (files_changed()) {
		MX_NOTICE("tls: certificate or key file changed: reloading");
		tls_reload(c, NULL);
	}
	expiry_check(c, time(NULL));
	mx_loop_timer_arm(t, (uint64_t)c->tls_watch_s * 1000);
}

int tls_boot(const struct mx_config *c)
{
	if (c->tls_cert.n == 0)
		return 0;
	if (tls_reload(c, NULL) != 0)
		return -1;
	tls.on = true;
	mx_loop_timer_init(&tls.watch, on_watch, NULL);
	mx_loop_timer_arm(&tls.watch, (uint64_t)(c->tls_watch_s ? c->tls_watch_s : 5) * 1000);
	return 0;
}

void tls_stop(void)
{
	if (tls.on)
		mx_loop_timer_cancel(&tls.watch);
	tls.on = false;
	smtp_tls_shutdown();
}

/* ---- ctl commands ------------------------------------------------------ */

static void fmt_time(time_t t, char *b, size_t len)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(b, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void tls_totals(struct smtp_tls_counters *sum)
{
	unsigned n = dp_counters_workers(NULL);

	memset(sum, 0, sizeof(*sum));
	for (unsigned i = 0; i < n; i++) {
		struct smtp_tls_counters w;

		smtp_server_tls_counters(i, &w);
#define X(f, t, h) sum->f += w.f;
		SMTP_TLS_COUNTERS(X)
#undef X
	}
}

/* OpenSSL's heap per worker against [tls] mem_per_worker_mb (core/tlsmem.h). */
static void tls_mem_lines(struct ctl_out *o)
{
	unsigned n = dp_counters_workers(NULL);

	for (unsigned i = 0; i < n; i++) {
		struct smtp_tls_counters w;

		smtp_server_tls_counters(i, &w);
		ctl_printf(o,
			   "memory: worker %u %llu KiB (max %llu KiB) of %zu KiB, %llu refused\n",
			   i, (unsigned long long)w.mem_bytes / 1024,
			   (unsigned long long)w.mem_bytes_max / 1024, mx_tlsmem_budget() / 1024,
			   (unsigned long long)w.mem_refused);
	}
}

static void cmd_show_tls(struct ctl_out *o, int argc, char **argv)
{
	const struct mx_config *c = daemon_config();
	struct smtp_tls_gen *g;
	struct smtp_tls_counters sum;
	time_t now = time(NULL);
	char a[32], b[32];

	(void)argv;
	if (argc != 0)
		return ctl_error(o, "usage: show tls");
	g = smtp_tls_acquire();
	if (!g) {
		ctl_printf(o, "tls: off (no [tls] cert; [smtp] tls = %s)\n",
			   c->smtp_tls == 0   ? "none"
			   : c->smtp_tls == 1 ? "may"
					      : "encrypt");
	} else {
		fmt_time(tls.loaded_at, a, sizeof(a));
		ctl_printf(o,
			   "tls: generation %llu, %u certificate(s), loaded %s, min_version %s, "
			   "reloads ok %llu failed %llu\n",
			   (unsigned long long)smtp_tls_gen_id(g), smtp_tls_gen_ncerts(g), a,
			   c->tls_min_version == 3   ? "1.3"
			   : c->tls_min_version == 2 ? "1.2"
			   : c->tls_min_version == 1 ? "1.1"
						     : "1.0",
			   (unsigned long long)tls.reloads_ok,
			   (unsigned long long)tls.reloads_failed);
		for (unsigned i = 0; i < smtp_tls_gen_ncerts(g); i++) {
			struct smtp_tls_cert_info ci;

			if (smtp_tls_gen_cert(g, i, &ci) != 0)
				break;
			fmt_time(ci.not_before, a, sizeof(a));
			fmt_time(ci.not_after, b, sizeof(b));
			ctl_printf(o,
				   "cert %u: %s\n  names: %s%s\n  subject: %s\n  issuer: %s\n"
				   "  valid: %s .. %s (%lld days left)\n  key: %s\n"
				   "  handshakes: %llu\n",
				   i, ci.file, ci.names, ci.group == 0 ? " (default)" : "",
				   ci.subject, ci.issuer, a, b,
				   (long long)(((int64_t)ci.not_after - (int64_t)now) / 86400),
				   ci.key_type, (unsigned long long)ci.handshakes);
		}
	}
	if (g && c->tls_ticket_key_file[0]) {
		ctl_printf(o, "tickets: keys from %s (rotate the file)\n", c->tls_ticket_key_file);
	} else if (g) {
		unsigned nk;
		time_t newest;
		uint64_t rot;

		smtp_tls_ticket_info(&nk, &newest, &rot);
		fmt_time(newest, a, sizeof(a));
		ctl_printf(o,
			   "tickets: %u key(s), encrypting since %s, rotated every %llds "
			   "(%llu rotations)\n",
			   nk, a, (long long)c->tls_ticket_key_rotate_s, (unsigned long long)rot);
	}
	smtp_tls_release(g);
	tls_totals(&sum);
	ctl_printf(o,
		   "handshakes: ok %llu failed %llu eof %llu resumed %llu tls1.2 %llu tls1.3 "
		   "%llu old %llu\nsessions: %llu open, %llu refused (no slot), %llu refused (no "
		   "certificate)\n",
		   (unsigned long long)sum.handshakes_ok, (unsigned long long)sum.handshakes_failed,
		   (unsigned long long)sum.handshakes_eof,
		   (unsigned long long)sum.handshakes_resumed, (unsigned long long)sum.tls12,
		   (unsigned long long)sum.tls13, (unsigned long long)sum.tls_old,
		   (unsigned long long)sum.sessions, (unsigned long long)sum.no_slot,
		   (unsigned long long)sum.no_context);
	tls_mem_lines(o);
	if (tls.last_error[0])
		ctl_printf(o, "last reload refused: %s\n", tls.last_error);
}

static void cmd_tls_reload(struct ctl_out *o, int argc, char **argv)
{
	(void)argv;
	if (argc != 0)
		return ctl_error(o, "usage: tls reload");
	tls_reload(daemon_config(), o);
}

static const struct ctl_cmd tls_cmds[] = {
	{.words = {"show", "tls"},
	 .usage = "",
	 .help = "STARTTLS certificates (names, issuer, validity, days left, key type, "
		 "handshakes) and handshake counts",
	 .fn = cmd_show_tls},
	{.words = {"tls", "reload"},
	 .usage = "",
	 .help = "re-read the [tls] certificate and key files; a bad pair is refused and the "
		 "running one kept",
	 .flags = CTL_F_PRIV,
	 .fn = cmd_tls_reload},
};

/* ---- counters ---------------------------------------------------------- */

static const struct mx_ctr_def tls_defs[] = {SMTP_TLS_COUNTERS(MX_CTR_X_DEF)};

MX_CTR_LIST_READER(tls_read, SMTP_TLS_COUNTERS, smtp_tls_counters, smtp_server_tls_counters)

static const struct mx_ctr_group tls_group = {
	.name = "tls",
	.scope = MX_CTR_WORKER,
	.defs = tls_defs,
	.ndefs = sizeof(tls_defs) / sizeof(tls_defs[0]),
	.instances = dp_counters_workers,
	.read = tls_read,
};

static const struct mx_ctr_def tls_cert_defs[] = {
	{.name = "cert_days_left",
	 .help = "days until the first certificate expires (0: expired or no TLS)",
	 .type = MX_CTR_GAUGE},
	{.name = "generation", .help = "certificate generation serving", .type = MX_CTR_GAUGE},
	{.name = "reloads_failed",
	 .help = "certificate reloads refused (bad pair: the old kept)",
	 .type = MX_CTR_COUNTER},
};

static void tls_cert_read(void *arg, unsigned inst, uint64_t *vals)
{
	int64_t left = smtp_tls_days_left(time(NULL));
	struct smtp_tls_gen *g = smtp_tls_acquire();

	(void)arg, (void)inst;
	vals[0] = left == INT64_MAX || left < 0 ? 0 : (uint64_t)left;
	vals[1] = smtp_tls_gen_id(g);
	vals[2] = tls.reloads_failed;
	smtp_tls_release(g);
}

static const struct mx_ctr_group tls_cert_group = {
	.name = "tls",
	.scope = MX_CTR_GLOBAL,
	.defs = tls_cert_defs,
	.ndefs = sizeof(tls_cert_defs) / sizeof(tls_cert_defs[0]),
	.read = tls_cert_read,
};

__attribute__((constructor)) static void register_tls_cmds(void)
{
	for (unsigned i = 0; i < sizeof(tls_cmds) / sizeof(tls_cmds[0]); i++)
		ctl_register(&tls_cmds[i]);
	if (mx_ctr_register(&tls_group) != 0 || mx_ctr_register(&tls_cert_group) != 0)
		mx_panic("counter registry: the tls groups could not be registered");
}
