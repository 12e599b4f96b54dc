/*
 * test_config.c - the INI loader: defaults, every value type, and that every
 * kind of error names file, line, key and what was expected; list keys and
 * their file:/abs/path form; live/restart classes, config_diff() and
 * config_keep_restart(); generations published with RCU while a QSBR
 * reader thread reads them. Also keeps etc/mxgate.conf complete: every key
 * of the table must appear in it, its comment saying (live) or (restart).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <unistd.h>
#include <urcu-qsbr.h>

#include "core/config.h"

#define MIN_OK \
	"[eal]\nlcores = 0@0,1@1\n[port]\ndevice = net_ring0\n[ipv4]\naddress = 198.18.0.2/24\n"

static char err[4096];

static void test_minimal_defaults(void **state)
{
	struct mx_config c;
	(void)state;
	assert_int_equal(config_load_string(&c, "t.conf", MIN_OK, err, sizeof(err)), 0);
	assert_string_equal(c.eal_lcores, "0@0,1@1");
	assert_string_equal(c.port_device, "net_ring0");
	assert_int_equal(c.ip4_addr, 0xc6120002u);
	assert_int_equal(c.ip4_prefix, 24);
	assert_int_equal(c.port_rx_desc, 1024);
	assert_int_equal(c.worker_burst, 32);
	assert_string_equal(c.daemon_user, "mxgate");
	assert_string_equal(c.ctl_socket, "/run/mxgate/ctl.sock");
	assert_false(config_fault_enabled(&c));
	assert_int_equal(c.eal_vdev.n, 0);
	config_clear(&c);
}

static void test_values(void **state)
{
	struct mx_config c;
	(void)state;
	const char *t = MIN_OK "[eal]\nno_huge = yes\nvdev = net_ring0\nvdev = net_ring1\n"
			       "[port]\nsteering = software\nrx_desc = 512\n"
			       "[ipv4]\ngateway = 198.18.0.1\n"
			       "[fault]\nrx_drop = 10%\ntx_dup = 2.5\n[log]\nlevel = debug\n";
	assert_int_equal(config_load_string(&c, "t.conf", t, err, sizeof(err)), 0);
	assert_true(c.eal_no_huge);
	assert_int_equal(c.eal_vdev.n, 2);
	assert_string_equal(c.eal_vdev.v[1], "net_ring1");
	assert_int_equal(c.port_steering, MX_STEER_SOFTWARE);
	assert_int_equal(c.port_rx_desc, 512);
	assert_int_equal(c.ip4_gateway, 0xc6120001u);
	assert_true(c.fault_rx.drop_pct == 10.0);
	assert_true(c.fault_tx.dup_pct == 2.5);
	assert_true(config_fault_enabled(&c));
	assert_int_equal(c.log_level, 4);
	assert_int_equal(c.relay_tls, 0);
	config_clear(&c);
	t = MIN_OK "[relay]\ntls = verify\nca_file = /etc/ssl/certs/ca-certificates.crt\n";
	assert_int_equal(config_load_string(&c, "t.conf", t, err, sizeof(err)), 0);
	assert_int_equal(c.relay_tls, 3);
	assert_string_equal(c.relay_ca_file, "/etc/ssl/certs/ca-certificates.crt");
	config_clear(&c);
}

/* Each bad input and the pieces its message must contain. */
static const struct {
	const char *text;
	const char *want[4];
} bad[] = {
	{MIN_OK "[port]\nrx_desc = lots\n", {"t.conf:8:", "[port] rx_desc", "64..16384", "'lots'"}},
	{MIN_OK "[daemon]\nuser = nobody\n",
	 {"t.conf:8:", "[daemon] user = nobody", "refused", "dedicated user"}},
	{MIN_OK "[port]\nrx_desc = 10\n", {"t.conf:8:", "[port] rx_desc", "integer"}},
	{MIN_OK "[port]\nbogus = 1\n", {"t.conf:8:", "[port] bogus", "unknown key"}},
	{MIN_OK "[nosuch]\nx = 1\n", {"t.conf:8:", "[nosuch] x", "unknown key"}},
	{"[eal]\nlcores = 1\n[ipv4]\naddress = 198.18.0.2/24\n",
	 {"t.conf:", "[port] device", "required key missing"}},
	{MIN_OK "[ipv4]\nfoo\n", {"t.conf:8:", "syntax error"}},
	{MIN_OK "[eal]\nno_huge = maybe\n", {"t.conf:8:", "[eal] no_huge", "yes or no"}},
	{MIN_OK "[fault]\nrx_drop = 101\n", {"t.conf:8:", "[fault] rx_drop", "0..100"}},
	{MIN_OK "[port]\nsteering = magic\n", {"[port] steering", "auto, rss or software"}},
	{MIN_OK "[ipv4]\ngateway = 1.2.3\n", {"t.conf:8:", "[ipv4] gateway", "a.b.c.d"}},
	{MIN_OK "[ipv4]\ngateway = 10.0.0.1\n", {"[ipv4] gateway", "inside"}},
	{"[eal]\nlcores = 1\n[port]\ndevice = x\n[ipv4]\naddress = 198.18.0.2\n",
	 {"t.conf:6:", "[ipv4] address", "prefix length"}},
	{MIN_OK "[log]\nlevel = loud\n", {"t.conf:8:", "[log] level", "debug"}},
	{MIN_OK "[port]\ndevice = again\n", {"t.conf:8:", "given twice", "line 4"}},
	{MIN_OK "[eal]\nno_pci = yes\npci_allow = 0000:00:04.0\n", {"pci_allow", "no_pci"}},
	{MIN_OK "[daemon]\nuser =\n", {"[daemon] user", "unprivileged"}},
	{MIN_OK "[relay]\ntls = yes\n", {"[relay] tls", "none, may, encrypt or verify"}},
	{MIN_OK "[relay]\ntls = verify\n", {"[relay] tls = verify", "ca_file"}},
	{MIN_OK "[relay]\ntls = may\nca_file = ca.pem\n", {"[relay] ca_file", "absolute"}},
	{MIN_OK "[relay]\nnexthop = smtp:x\n",
	 {"t.conf:8:", "[relay] nexthop = smtp:x", "smtp:HOST:PORT"}},
	{MIN_OK "[eal]\nvdev =\n", {"t.conf:8:", "[eal] vdev", "non-empty"}},
	{MIN_OK "[eal]\nvdev = file:list.txt\n", {"t.conf:8:", "[eal] vdev", "absolute path"}},
	{MIN_OK "[eal]\nvdev = file:/nonexistent/list.txt\n",
	 {"t.conf:8:", "[eal] vdev", "file:/nonexistent/list.txt", "cannot read"}},
	{MIN_OK "[cluster]\nredis = redis.example:6379\n",
	 {"t.conf:8:", "[cluster] redis = redis.example:6379", "ADDRESS:PORT"}},
	{MIN_OK "[cluster]\nsentinels = 10.0.0.1:26379, 10.0.0.2\nsentinel_master = m\n",
	 {"t.conf:8:", "[cluster] sentinels: 10.0.0.2", "ADDRESS:PORT"}},
	{MIN_OK "[cluster]\nsentinels = 10.0.0.1:26379\n",
	 {"t.conf:8:", "[cluster] sentinels", "sentinel_master"}},
};

static void test_errors(void **state)
{
	(void)state;
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct mx_config c;
		int rc = config_load_string(&c, "t.conf", bad[i].text, err, sizeof(err));
		if (rc != -1)
			fail_msg("case %u accepted: %s", i, bad[i].text);
		for (unsigned k = 0; k < 4 && bad[i].want[k]; k++)
			if (!strstr(err, bad[i].want[k]))
				fail_msg("case %u: message '%s' lacks '%s'", i, err,
					 bad[i].want[k]);
	}
}

static void test_all_errors_reported(void **state)
{
	struct mx_config c;
	(void)state;
	assert_int_equal(config_load_string(&c, "t.conf",
					    MIN_OK "[port]\nrx_desc = x\nmtu = y\nnope = 1\n", err,
					    sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "t.conf:8:"));
	assert_non_null(strstr(err, "t.conf:9:"));
	assert_non_null(strstr(err, "t.conf:10:"));
}

static void test_missing_file(void **state)
{
	struct mx_config c;
	(void)state;
	assert_int_equal(config_load(&c, "/nonexistent/mx.conf", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent/mx.conf: cannot open"));
}

/* Lines of @text, NUL-terminated in place (a copy the caller frees). */
static char **split_lines(const char *text, unsigned *n, char **copy)
{
	char **v = NULL;
	char *p;

	*copy = strdup(text);
	*n = 0;
	for (p = *copy; p && *p;) {
		char *nl = strchr(p, '\n');
		v = realloc(v, (*n + 1) * sizeof(*v));
		v[(*n)++] = p;
		if (!nl)
			break;
		*nl = '\0';
		p = nl + 1;
	}
	return v;
}

/* Does line @l start with key @name (then a space, '=', ':', '/' or ',')? */
static bool starts_with_key(const char *l, const char *name)
{
	size_t n = strlen(name);
	return strncmp(l, name, n) == 0 && strchr(" =:/,", l[n]) && l[n] != '\0';
}

/* The comment block documenting [@section] @name: the comment lines right
 * above its "name =" line (skipping other key lines of the same group), or
 * the block holding a "; name" line when the key is only described. Must
 * say "(live" or "(restart" as config_key_apply() does, never the other. */
static void check_doc_class(const char *text, unsigned key, const char *section, const char *name)
{
	unsigned n, at = 0, from, to;
	char *copy, hdr[64], block[8192] = "";
	char **l = split_lines(text, &n, &copy);
	bool in = false, found = false, live = config_key_apply(key) == MX_CFG_LIVE;

	snprintf(hdr, sizeof(hdr), "[%s]", section);
	for (unsigned i = 0; i < n && !found; i++) {
		if (l[i][0] == '[') {
			in = strcmp(l[i], hdr) == 0;
			continue;
		}
		if (in && starts_with_key(l[i], name))
			at = i, found = true;
	}
	if (found) {
		to = at;
		while (to > 0 && l[to - 1][0] != ';' && l[to - 1][0] != '[' && l[to - 1][0])
			to--; /* other keys of the same group */
		from = to;
		while (from > 0 && l[from - 1][0] == ';')
			from--;
	} else {
		for (unsigned i = 0; i < n && !found; i++) {
			const char *c = l[i] + 1;
			if (l[i][0] == '[') {
				in = strcmp(l[i], hdr) == 0;
				continue;
			}
			while (*c == ' ')
				c++;
			if (in && l[i][0] == ';' && starts_with_key(c, name))
				at = i, found = true;
		}
		if (!found)
			fail_msg("etc/mxgate.conf: [%s] %s has no 'name =' or '; name' line",
				 section, name);
		from = to = at;
		while (from > 0 && l[from - 1][0] == ';')
			from--;
		while (to < n && l[to][0] == ';')
			to++;
	}
	for (unsigned i = from; i < to; i++)
		snprintf(block + strlen(block), sizeof(block) - strlen(block), "%s\n", l[i]);
	if (!strstr(block, live ? "(live" : "(restart") ||
	    strstr(block, live ? "(restart" : "(live"))
		fail_msg("etc/mxgate.conf: the comment of [%s] %s must say %s:\n%s", section, name,
			 live ? "(live)" : "(restart)", block);
	free(l);
	free(copy);
}

/* The example config is valid and documents every key. */
static void test_example_config_complete(void **state)
{
	struct mx_config c;
	const char *path = getenv("MX_EXAMPLE_CONF");
	char *text;
	long n;
	FILE *f;
	const char *name, *section;

	(void)state;
	assert_non_null(path);
	assert_int_equal(config_load(&c, path, err, sizeof(err)), 0);
	config_clear(&c);
	f = fopen(path, "r");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	text = calloc(1, (size_t)n + 1);
	assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	for (unsigned i = 0; (name = config_key_name(i, &section)) != NULL; i++) {
		char want[128];
		snprintf(want, sizeof(want), "\n%s =", name);
		if (!strstr(text, want)) {
			snprintf(want, sizeof(want), "; %s", name);
			if (!strstr(text, want))
				fail_msg("etc/mxgate.conf does not document [%s] %s", section,
					 name);
		}
		check_doc_class(text, i, section, name);
	}
	free(text);
}

/* Exactly these keys apply live; every other one needs a restart. */
static void test_apply_classes(void **state)
{
	static const char *const live[] = {
		"log.level",
		"smtp.hostname",
		"smtp.max_msg_size",
		"smtp.max_errors",
		"smtp.max_commands",
		"smtp.greet_delay_ms",
		"smtp.pregreet",
		"smtp.greet_teaser",
		"smtp.timeout_cmd_s",
		"smtp.timeout_data_s",
		"spool.high_water_mb",
		"spool.min_free_mb",
		"spool.commit_interval_us",
		"spool.commit_batch",
		"relay.retry_min_s",
		"relay.retry_max_s",
		"relay.refuse_after_s",
		"relay.max_backlog_age_s",
		/* admission (smtp/admission.h) */
		"smtp.max_conn_per_ip",
		"smtp.max_conn_per_net",
		"smtp.conn_rate_per_net",
		"smtp.conn_burst_per_net",
		"smtp.reserve_pct",
		"smtp.connect_spool_check",
		/* policy (policy/policy.h): the set is rebuilt on every reload */
		"policy.enabled",
		"policy.delay_reject",
		"policy.mynetworks",
		"policy.domains",
		"policy.recipients",
		"policy.helo_checks",
		"policy.helo_special",
		"policy.helo_dns",
		"policy.sender_ours",
		"policy.sender_domain",
		"policy.dnsbl",
		"policy.dnsbl_threshold",
		"policy.reply",
		"policy.spf",
		"policy.tempfail_skip",
		"policy.pass_cache_ttl_s",
		"policy.verify_recipients",
		"policy.verify_nexthop",
		"policy.verify_pos_ttl_s",
		"policy.verify_neg_ttl_s",
		"policy.verify_timeout_ms",
		"policy.client_rdns",
		/* resolver (policy/dns.h) */
		"dns.servers",
		"dns.timeout_ms",
		"dns.tries",
		"dns.min_ttl",
		"dns.max_ttl",
		"dns.neg_ttl_max",
		"dns.cache_max",
		"dns.inflight_max",
		/* STARTTLS certificates (smtp/tls_ctx.h) */
		"tls.cert",
		"tls.key",
		"tls.min_version",
		"tls.watch_s",
		"tls.expiry_warn_days",
		"tls.ticket_key_file",
		"tls.ticket_key_rotate_s",
		/* the operator's toolbox (ctl/drain.c reads them at `drain`) */
		"daemon.drain_timeout_s",
		"daemon.drain_mode",
		"log.format",
		/* greylisting (policy/grey_stage.h): the set is rebuilt on every reload */
		"greylist.enabled",
		"greylist.delay_s",
		"greylist.window_s",
		"greylist.max_age_s",
		"greylist.awl_passes",
		"greylist.v4_prefix",
		"greylist.v6_prefix",
		"greylist.spf_domain",
		"greylist.reply",
		"greylist.whitelist_senders",
		"greylist.whitelist_clients",
		"greylist.whitelist_hosts",
		"greylist.whitelist_recipients",
		"greylist.ptr_org",
		"greylist.psl_file",
		"ratelimit.enabled",
		"ratelimit.msg_per_ip",
		"ratelimit.rcpt_per_ip",
		"ratelimit.msg_per_net",
		"ratelimit.rcpt_per_net",
	};
	const char *name, *section;
	unsigned nlive = 0;

	(void)state;
	for (unsigned i = 0; (name = config_key_name(i, &section)) != NULL; i++) {
		char full[64];
		bool want = false;
		snprintf(full, sizeof(full), "%s.%s", section, name);
		for (unsigned k = 0; k < sizeof(live) / sizeof(live[0]); k++)
			want |= strcmp(full, live[k]) == 0;
		if ((config_key_apply(i) == MX_CFG_LIVE) != want)
			fail_msg("[%s] %s: expected %s", section, name, want ? "live" : "restart");
		nlive += want;
	}
	assert_int_equal(nlive, sizeof(live) / sizeof(live[0]));
}

struct diff_seen {
	char keys[16][64];
	enum mx_cfg_apply apply[16];
	unsigned n;
};

static void on_diff(void *arg, unsigned key, enum mx_cfg_apply apply)
{
	struct diff_seen *d = arg;
	const char *section, *name = config_key_name(key, &section);

	assert_true(d->n < 16);
	snprintf(d->keys[d->n], sizeof(d->keys[0]), "%s.%s", section, name);
	d->apply[d->n++] = apply;
}

#define CHANGED                                                                           \
	"[smtp]\nmax_msg_size = 2048\n[tcp]\nmax_conns = 8192\n[eal]\nvdev = net_ring1\n" \
	"[log]\nlevel = debug\n[ipv4]\ngateway = 198.18.0.1\n"

/* config_diff() lists the keys whose values differ, each with its class;
 * config_keep_restart() then leaves only the live ones different. */
static void test_diff_keep_restart(void **state)
{
	struct mx_config a, b, copy;
	struct diff_seen d = {0};
	char v[128];

	(void)state;
	assert_int_equal(config_load_string(&a, "a.conf", MIN_OK "[eal]\nvdev = net_ring0\n", err,
					    sizeof(err)),
			 0);
	assert_int_equal(config_load_string(&b, "b.conf", MIN_OK CHANGED, err, sizeof(err)), 0);
	assert_int_equal(config_diff(&a, &a, on_diff, &d), 0);
	assert_int_equal(config_diff(&a, &b, on_diff, &d), 5);
	/* Table order. */
	assert_string_equal(d.keys[0], "eal.vdev");
	assert_int_equal(d.apply[0], MX_CFG_RESTART);
	assert_string_equal(d.keys[1], "ipv4.gateway");
	assert_int_equal(d.apply[1], MX_CFG_RESTART);
	assert_string_equal(d.keys[2], "tcp.max_conns");
	assert_int_equal(d.apply[2], MX_CFG_RESTART);
	assert_string_equal(d.keys[3], "smtp.max_msg_size");
	assert_int_equal(d.apply[3], MX_CFG_LIVE);
	assert_string_equal(d.keys[4], "log.level");
	assert_int_equal(d.apply[4], MX_CFG_LIVE);
	config_key_value(&b, 0, v, sizeof(v));
	assert_string_equal(v, "0@0,1@1");

	assert_int_equal(config_copy(&copy, &b), 0);
	assert_int_equal(config_diff(&b, &copy, NULL, NULL), 0);
	assert_ptr_not_equal(copy.eal_vdev.v, b.eal_vdev.v);

	assert_int_equal(config_keep_restart(&b, &a), 0);
	memset(&d, 0, sizeof(d));
	assert_int_equal(config_diff(&a, &b, on_diff, &d), 2);
	assert_int_equal(d.apply[0], MX_CFG_LIVE);
	assert_int_equal(d.apply[1], MX_CFG_LIVE);
	assert_int_equal(b.tcp_max_conns, 4096);
	assert_int_equal(b.ip4_gateway, 0);
	assert_int_equal(b.smtp_max_msg_size, 2048);
	assert_int_equal(b.eal_vdev.n, 1);
	assert_string_equal(b.eal_vdev.v[0], "net_ring0");
	assert_ptr_not_equal(b.eal_vdev.v, a.eal_vdev.v); /* a deep copy */
	config_clear(&a);
	assert_string_equal(b.eal_vdev.v[0], "net_ring0");
	config_clear(&b);
	config_clear(&copy);
}

static char tmpdir[64];

static const char *write_file(const char *name, const char *text)
{
	static char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static int make_tmpdir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_config.XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
	char cmd[128];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* file:/abs/path: thousands of entries, comments, blank lines, spaces;
 * mixed with values given inline, in order. */
static void test_file_list(void **state)
{
	struct mx_config c;
	char conf[512], *big = malloc(5000 * 40);
	size_t off = 0;
	const char *path;

	(void)state;
	off += (size_t)sprintf(big + off, "# vdevs\n\n");
	for (unsigned i = 0; i < 5000; i++)
		off += (size_t)sprintf(big + off, "%s net_ring%u  %s\n", i % 7 ? "" : "\t", i,
				       i % 3 ? "" : "# comment");
	path = write_file("vdevs.txt", big);
	snprintf(conf, sizeof(conf), MIN_OK "[eal]\nvdev = first\nvdev = file:%s\nvdev = last\n",
		 path);
	assert_int_equal(config_load_string(&c, "t.conf", conf, err, sizeof(err)), 0);
	assert_int_equal(c.eal_vdev.n, 5002);
	assert_string_equal(c.eal_vdev.v[0], "first");
	assert_string_equal(c.eal_vdev.v[1], "net_ring0");
	assert_string_equal(c.eal_vdev.v[4567], "net_ring4566");
	assert_string_equal(c.eal_vdev.v[5001], "last");
	config_clear(&c);
	free(big);

	path = write_file("hops.txt", "smtp:127.0.0.1:25\n# fallback\nlmtp:[::1]:24\n");
	snprintf(conf, sizeof(conf), MIN_OK "[relay]\nnexthop = file:%s\n", path);
	assert_int_equal(config_load_string(&c, "t.conf", conf, err, sizeof(err)), 0);
	assert_int_equal(c.relay_nexthop.n, 2);
	assert_string_equal(c.relay_nexthop.v[1], "lmtp:[::1]:24");
	config_clear(&c);
}

/* Errors in a list file name that file and its line, and the config line
 * and key that named it; every bad line is reported. */
static void test_file_list_errors(void **state)
{
	struct mx_config c;
	char conf[512], want[256], longline[400];
	const char *path;

	(void)state;
	path = write_file("bad.txt", "smtp:a:25\n# comment\nbogus\n\nsmtp:b:0\n");
	snprintf(conf, sizeof(conf), MIN_OK "[relay]\nthreads = 2\nnexthop = file:%s\n", path);
	assert_int_equal(config_load_string(&c, "t.conf", conf, err, sizeof(err)), -1);
	snprintf(want, sizeof(want),
		 "%s:3: [relay] nexthop = bogus: expected smtp:HOST:PORT or lmtp:HOST:PORT (file "
		 "named by t.conf:9: [relay] nexthop)",
		 path);
	if (!strstr(err, want))
		fail_msg("'%s' lacks '%s'", err, want);
	snprintf(want, sizeof(want), "%s:5: [relay] nexthop = smtp:b:0", path);
	assert_non_null(strstr(err, want));
	assert_int_equal(c.relay_nexthop.n, 0); /* nothing kept on failure */

	memset(longline, 'x', sizeof(longline) - 2);
	longline[sizeof(longline) - 2] = '\n';
	longline[sizeof(longline) - 1] = '\0';
	path = write_file("long.txt", longline);
	snprintf(conf, sizeof(conf), MIN_OK "[eal]\nvdev = file:%s\n", path);
	assert_int_equal(config_load_string(&c, "t.conf", conf, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:1: [eal] vdev: expected a non-empty value shorter", path);
	assert_non_null(strstr(err, want));
	assert_non_null(strstr(err, "t.conf:8: [eal] vdev)"));
}

/* More than MX_CFG_LIST_MAX entries: one clear error. */
static void test_list_cap(void **state)
{
	struct mx_config c;
	char conf[512];
	char path[128];
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/huge.txt", tmpdir);
	f = fopen(path, "w");
	assert_non_null(f);
	for (unsigned i = 0; i < MX_CFG_LIST_MAX + 1; i++)
		fputs("v\n", f);
	fclose(f);
	snprintf(conf, sizeof(conf), MIN_OK "[eal]\nvdev = file:%s\n", path);
	assert_int_equal(config_load_string(&c, "t.conf", conf, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "more than 1000000 entries"));
	assert_null(strstr(strstr(err, "more than") + 1, "more than")); /* reported once */
	unlink(path);
}

/* ---- generations ---- */

static volatile int reader_stop;
static unsigned long reader_reads;

/* A worker-like QSBR reader: reads the current generation between
 * quiescent states and checks it is whole and never goes back. */
static void *reader_main(void *arg)
{
	uint64_t last = 0;

	(void)arg;
	rcu_register_thread();
	while (!__atomic_load_n(&reader_stop, __ATOMIC_RELAXED)) {
		const struct mx_config *c = config_current();
		if (c) {
			uint64_t g = c->generation;
			if (g < last || c->smtp_max_msg_size != (int64_t)(100000 + g) ||
			    c->eal_vdev.n != 1 || strcmp(c->eal_vdev.v[0], "net_ring0") != 0)
				abort();
			last = g;
			__atomic_store_n(&reader_reads, reader_reads + 1, __ATOMIC_RELAXED);
		}
		rcu_quiescent_state();
	}
	rcu_unregister_thread();
	return NULL;
}

static void test_generations(void **state)
{
	pthread_t th;
	struct mx_config *c;

	(void)state;
	assert_null(config_current());
	assert_int_equal(pthread_create(&th, NULL, reader_main, NULL), 0);
	for (unsigned i = 1; i <= 300; i++) {
		c = config_new();
		assert_non_null(c);
		assert_int_equal(config_load_string(c, "g.conf", MIN_OK "[eal]\nvdev = net_ring0\n",
						    err, sizeof(err)),
				 0);
		c->smtp_max_msg_size = 100000 + i; /* what config_publish() will number it */
		config_publish(c);
		assert_ptr_equal(config_current(), c);
		assert_int_equal(config_current()->generation, i);
		if (i % 50 == 0)
			usleep(1000);
	}
	/* On a loaded machine the reader may not have run yet: let it read
	 * (the last generation stays current) before it is stopped, or the
	 * check below would depend on the scheduler. Bounded: 10 s. */
	for (unsigned i = 0; i < 10000 && !__atomic_load_n(&reader_reads, __ATOMIC_RELAXED); i++)
		usleep(1000);
	__atomic_store_n(&reader_stop, 1, __ATOMIC_RELAXED);
	pthread_join(th, NULL);
	assert_true(reader_reads > 0);
	config_shutdown();
	assert_null(config_current());
	/* A never-published one is freed by config_free(). */
	c = config_new();
	assert_int_equal(
		config_load_string(c, "g.conf", MIN_OK "[eal]\nvdev = x\n", err, sizeof(err)), 0);
	config_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_minimal_defaults),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_all_errors_reported),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_example_config_complete),
		cmocka_unit_test(test_apply_classes),
		cmocka_unit_test(test_diff_keep_restart),
		cmocka_unit_test(test_file_list),
		cmocka_unit_test(test_file_list_errors),
		cmocka_unit_test(test_list_cap),
		cmocka_unit_test(test_generations),
	};
	return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
