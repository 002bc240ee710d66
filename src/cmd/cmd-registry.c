/* cmd-registry.c: `strata pull`, `push`, `login` and `logout`, and the progress display: one
 * line per blob redrawn in place on a terminal (bytes, rate, state), plain lines otherwise. */
#include "cmd.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "strata/registry.h"
#include "strata/strata.h"

/* ---- progress ---- */

struct row {
	struct st_digest digest;
	enum st_reg_kind kind;
	enum st_reg_state state;
	uint64_t done, total;
	double t0;
};

struct progress {
	bool tty, quiet, push;
	struct row *rows;
	size_t n, drawn;
	double last_draw;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *state_name(enum st_reg_state s, bool push)
{
	static const char *const names[] = {"Waiting",       "Already exists", "Mounted",
	                                    "Downloading",   "Uploading",      "Retrying",
	                                    "Pull complete", "Pushed"};

	if (s == ST_REG_EXISTS && push)
		return "Layer already exists";
	return names[s];
}

static void human(uint64_t b, char *out, size_t len)
{
	if (b >= 1000000)
		snprintf(out, len, "%.1fMB", (double)b / 1e6);
	else if (b >= 1000)
		snprintf(out, len, "%.1fkB", (double)b / 1e3);
	else
		snprintf(out, len, "%lluB", (unsigned long long)b);
}

static void draw_row(const struct progress *pg, const struct row *r)
{
	char hex[ST_DIGEST_HEX_MAX + 1], a[16], b[16], rate[24] = "";
	double dt = now_s() - r->t0;

	st_digest_hex(&r->digest, hex);
	hex[12] = '\0';
	human(r->done, a, sizeof(a));
	human(r->total, b, sizeof(b));
	if ((r->state == ST_REG_DOWNLOADING || r->state == ST_REG_UPLOADING) && dt > 0.05)
		snprintf(rate, sizeof(rate), "  %.1fMB/s", (double)r->done / dt / 1e6);
	fprintf(stderr, "\r\033[2K%s: %-14s %s/%s%s%s\n", hex, state_name(r->state, pg->push), a, b,
	        rate, r->kind == ST_REG_BLOB_CONFIG ? "  (config)" : "");
}

static void redraw(struct progress *pg, bool force)
{
	double t = now_s();

	if (!force && t - pg->last_draw < 0.1)
		return;
	pg->last_draw = t;
	if (pg->drawn)
		fprintf(stderr, "\033[%zuA", pg->drawn);
	for (size_t i = 0; i < pg->n; i++)
		draw_row(pg, &pg->rows[i]);
	pg->drawn = pg->n;
	fflush(stderr);
}

static struct row *row_of(struct progress *pg, const struct st_reg_progress *p)
{
	struct row *v;

	for (size_t i = 0; i < pg->n; i++)
		if (st_digest_equal(&pg->rows[i].digest, &p->digest))
			return &pg->rows[i];
	v = realloc(pg->rows, (pg->n + 1) * sizeof(*v));
	if (!v)
		return NULL;
	pg->rows = v;
	memset(&v[pg->n], 0, sizeof(v[pg->n]));
	v[pg->n].digest = p->digest;
	v[pg->n].kind = p->kind;
	v[pg->n].t0 = now_s();
	return &v[pg->n++];
}

static void on_progress(const struct st_reg_progress *p, void *ctx)
{
	struct progress *pg = ctx;
	char dg[ST_DIGEST_STR_MAX];
	struct row *r;
	bool changed;

	if (pg->quiet || p->kind == ST_REG_BLOB_MANIFEST)
		return;
	r = row_of(pg, p);
	if (!r)
		return;
	changed = r->state != p->state;
	r->state = p->state;
	if (p->total)
		r->total = p->total;
	r->done = p->done;
	if (pg->tty) {
		redraw(pg, changed);
	} else if (changed && p->state != ST_REG_WAITING && p->state != ST_REG_DOWNLOADING &&
	           p->state != ST_REG_UPLOADING) {
		st_digest_str(&p->digest, dg);
		fprintf(stderr, "%s: %s\n", dg, state_name(p->state, pg->push));
	}
}

static void progress_end(struct progress *pg)
{
	if (pg->tty && pg->n)
		redraw(pg, true);
	free(pg->rows);
}

/* ---- shared options ---- */

enum { OPT_TLS = 256, OPT_PLATFORM, OPT_ALL, OPT_PASSWORD_STDIN, OPT_COMPRESSION };

static int parse_tls(const char *v, struct st_registry_opts *o)
{
	if (!v || strcmp(v, "true") == 0)
		o->tls_verify = ST_TLS_VERIFY;
	else if (strcmp(v, "false") == 0)
		o->tls_verify = ST_TLS_NO_VERIFY;
	else
		return -1;
	return 0;
}

static const char pull_usage[] =
        "usage: strata pull [--platform OS/ARCH[/VARIANT]] [--all-platforms] [-q]\n"
        "                   [--tls-verify=false] NAME[:TAG|@DIGEST]\n\n"
        "Downloads an image from a registry: missing blobs in parallel, each verified against\n"
        "its digest. Credentials come from 'strata login' (Docker's config.json). Registries on\n"
        "localhost, and those listed in $STRATA_CONFIG or /etc/strata/registries.conf, may use\n"
        "plain HTTP.\n";

int cmd_pull(int argc, char **argv)
{
	static const struct option opts[] = {{"platform", required_argument, NULL, OPT_PLATFORM},
	                                     {"all-platforms", no_argument, NULL, OPT_ALL},
	                                     {"quiet", no_argument, NULL, 'q'},
	                                     {"tls-verify", optional_argument, NULL, OPT_TLS},
	                                     {NULL, 0, NULL, 0}};
	struct st_error err = ST_ERROR_INIT;
	struct st_registry_opts o = {0};
	struct progress pg = {0};
	struct st_pull_result res = {0};
	struct st_platform plat;
	struct st_store *s = NULL;
	char dg[ST_DIGEST_STR_MAX];
	int c, rc;

	if (cmd_wants_help(argc, argv, pull_usage))
		return 0;
	while ((c = getopt_long(argc, argv, "q", opts, NULL)) != -1) {
		if (c == 'q')
			pg.quiet = true;
		else if (c == OPT_ALL)
			o.all_platforms = true;
		else if (c == OPT_PLATFORM && st_platform_parse(optarg, &plat, &err) == 0)
			o.platform = &plat;
		else if (c != OPT_TLS || parse_tls(optarg, &o) < 0)
			return cmd_usage_error("pull", "bad option%s%s", err.msg[0] ? ": " : "",
			                       err.msg);
	}
	if (argc - optind != 1)
		return cmd_usage_error("pull", "needs one image reference");
	pg.tty = isatty(2);
	o.progress = on_progress;
	o.progress_ctx = &pg;
	if (cmd_open_store(&s))
		return 1;
	rc = st_registry_pull(s, argv[optind], &o, &res, &err);
	progress_end(&pg);
	st_store_free(s);
	if (rc < 0)
		return cmd_fail(&err, "pull '%s'", argv[optind]);
	st_digest_str(&res.digest, dg);
	if (!pg.quiet)
		printf("Digest: %s\n", dg);
	printf("%s\n", res.name ? res.name : dg);
	st_pull_result_release(&res);
	return 0;
}

static const char push_usage[] =
        "usage: strata push [--tls-verify=false] [--compression gzip|zstd|none] [-q]\n"
        "                   IMAGE [DESTINATION]\n\n"
        "Uploads an image to a registry: blobs the registry has are skipped, blobs known to\n"
        "live in another repository of it are mounted, manifests go last. DESTINATION is a\n"
        "reference (default: IMAGE's name). Layers kept uncompressed (a build's) are compressed\n"
        "first, once per layer (--compression, default gzip; none sends them as stored), so\n"
        "the pushed manifest has a digest of its own; the image ID stays.\n";

int cmd_push(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"quiet", no_argument, NULL, 'q'},
	        {"tls-verify", optional_argument, NULL, OPT_TLS},
	        {"compression", required_argument, NULL, OPT_COMPRESSION},
	        {"compression-format", required_argument, NULL, OPT_COMPRESSION}, /* podman's */
	        {NULL, 0, NULL, 0}};
	struct st_error err = ST_ERROR_INIT;
	struct st_registry_opts o = {0};
	struct progress pg = {.push = true};
	struct st_store *s = NULL;
	struct st_digest d;
	char dg[ST_DIGEST_STR_MAX];
	const char *dest;
	int c, rc;

	if (cmd_wants_help(argc, argv, push_usage))
		return 0;
	while ((c = getopt_long(argc, argv, "q", opts, NULL)) != -1) {
		if (c == 'q')
			pg.quiet = true;
		else if (c == OPT_COMPRESSION && strcmp(optarg, "gzip") == 0)
			o.push_compression = ST_LAYER_COMPRESS_GZIP;
		else if (c == OPT_COMPRESSION && strcmp(optarg, "zstd") == 0)
			o.push_compression = ST_LAYER_COMPRESS_ZSTD;
		else if (c == OPT_COMPRESSION &&
		         (strcmp(optarg, "none") == 0 || strcmp(optarg, "uncompressed") == 0))
			o.push_compression = ST_LAYER_COMPRESS_NONE;
		else if (c == OPT_COMPRESSION)
			return cmd_usage_error("push", "--compression must be gzip, zstd or none");
		else if (c != OPT_TLS || parse_tls(optarg, &o) < 0)
			return cmd_usage_error("push", "bad option");
	}
	if (argc - optind < 1 || argc - optind > 2)
		return cmd_usage_error("push", "needs IMAGE and optionally DESTINATION");
	dest = argc - optind == 2 ? argv[optind + 1] : argv[optind];
	pg.tty = isatty(2);
	o.progress = on_progress;
	o.progress_ctx = &pg;
	if (cmd_open_store(&s))
		return 1;
	rc = st_registry_push(s, argv[optind], dest, &o, &d, &err);
	progress_end(&pg);
	st_store_free(s);
	if (rc < 0)
		return cmd_fail(&err, "push '%s'", dest);
	st_digest_str(&d, dg);
	if (pg.quiet)
		printf("%s\n", dg);
	else
		printf("%s: digest: %s\n", dest, dg);
	return 0;
}

/* Reads one line (the password) from fd 0, without the newline; echo off on a terminal. */
static char *read_secret(bool prompt)
{
	struct termios old, quiet;
	bool tty = prompt && isatty(0) && tcgetattr(0, &old) == 0;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (tty) {
		fputs("Password: ", stderr);
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		(void)tcsetattr(0, TCSAFLUSH, &quiet);
	}
	n = getline(&line, &cap, stdin);
	if (tty) {
		(void)tcsetattr(0, TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	if (n < 0) {
		free(line);
		return NULL;
	}
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	return line;
}

static const char login_usage[] =
        "usage: strata login [-u USER] [-p PASSWORD | --password-stdin] [--tls-verify=false]\n"
        "                    REGISTRY\n\n"
        "Checks the credentials against REGISTRY and stores them in Docker's config.json\n"
        "($DOCKER_CONFIG/config.json or ~/.docker/config.json; a credsStore or credHelpers\n"
        "entry there sends them to docker-credential-<helper>).\n";

int cmd_login(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"username", required_argument, NULL, 'u'},
	        {"password", required_argument, NULL, 'p'},
	        {"password-stdin", no_argument, NULL, OPT_PASSWORD_STDIN},
	        {"tls-verify", optional_argument, NULL, OPT_TLS},
	        {NULL, 0, NULL, 0}};
	struct st_error err = ST_ERROR_INIT;
	struct st_registry_opts o = {0};
	const char *user = NULL;
	char *pass = NULL;
	bool from_stdin = false;
	int c, rc;

	if (cmd_wants_help(argc, argv, login_usage))
		return 0;
	while ((c = getopt_long(argc, argv, "u:p:", opts, NULL)) != -1) {
		if (c == 'u')
			user = optarg;
		else if (c == 'p')
			pass = strdup(optarg);
		else if (c == OPT_PASSWORD_STDIN)
			from_stdin = true;
		else if (c != OPT_TLS || parse_tls(optarg, &o) < 0)
			return cmd_usage_error("login", "bad option");
	}
	if (argc - optind != 1 || !user) {
		free(pass);
		return cmd_usage_error("login", "needs -u USER and REGISTRY");
	}
	if (!pass)
		pass = read_secret(!from_stdin);
	if (!pass)
		return cmd_usage_error("login", "no password given");
	rc = st_registry_login(argv[optind], user, pass, &o, &err);
	free(pass);
	if (rc < 0)
		return cmd_fail(&err, "login '%s'", argv[optind]);
	printf("Login Succeeded\n");
	return 0;
}

static const char logout_usage[] = "usage: strata logout REGISTRY\n\n"
                                   "Removes the credentials stored for REGISTRY.\n";

int cmd_logout(int argc, char **argv)
{
	struct st_error err = ST_ERROR_INIT;

	if (cmd_wants_help(argc, argv, logout_usage))
		return 0;
	if (argc != 2)
		return cmd_usage_error("logout", "needs REGISTRY");
	if (st_registry_logout(argv[1], NULL, &err) < 0)
		return cmd_fail(&err, "logout '%s'", argv[1]);
	printf("Removing login credentials for %s\n", argv[1]);
	return 0;
}
