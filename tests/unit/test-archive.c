/* test-archive.c: `--output` values as docker buildx parses them (buildx's util/buildflags
 * export.go cases, with strata's stricter keys), and the destination checks st_export_open
 * makes before any build. */
#include "unit.h"

#include <sys/stat.h>
#include <unistd.h>

#include "strata/archive.h"

struct good_case {
	const char *spec;
	enum st_export_type type;
	const char *dest;
	const char *name;
	bool dir;
};

static const struct good_case good[] = {
        {"type=oci,dest=out.tar", ST_EXPORT_OCI, "out.tar", NULL, false},
        {"dest=out.tar,type=docker", ST_EXPORT_DOCKER, "out.tar", NULL, false},
        {"type=local,dest=dir", ST_EXPORT_LOCAL, "dir", NULL, false},
        {"type=tar,dest=-", ST_EXPORT_TAR, "-", NULL, false},
        {"type=oci,dest=x,tar=false", ST_EXPORT_OCI, "x", NULL, true},
        {"type=docker,dest=x,tar=0", ST_EXPORT_DOCKER, "x", NULL, true},
        {"type=oci,dest=x,tar=true", ST_EXPORT_OCI, "x", NULL, false},
        {"type=docker,name=a/b:1,dest=x", ST_EXPORT_DOCKER, "x", "a/b:1", false},
        {"out", ST_EXPORT_LOCAL, "out", NULL, false}, /* a bare path: the local exporter */
        {"-", ST_EXPORT_TAR, "-", NULL, false},       /* "-": a tar on stdout */
        {"type=tar,dest=a=b", ST_EXPORT_TAR, "a=b", NULL, false},
};

static void parse_accepts_what_buildx_accepts(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct st_error err = ST_ERROR_INIT;
		struct st_export_opts o;
		int rc = st_export_parse(good[i].spec, &o, &err);
		if (rc != 0)
			fail_msg("%s: %s", good[i].spec, err.msg);
		assert_int_equal(o.type, good[i].type);
		assert_string_equal(o.dest, good[i].dest);
		if (good[i].name)
			assert_string_equal(o.name, good[i].name);
		else
			assert_null(o.name);
		assert_int_equal(o.dir, good[i].dir);
		assert_int_equal(o.compression, ST_LAYER_COMPRESS_GZIP); /* BuildKit's default */
		st_export_opts_release(&o);
	}
}

static void parse_takes_buildkit_compression_names(void **state)
{
	static const struct {
		const char *spec;
		enum st_layer_compression c;
	} cases[] = {{"type=oci,dest=x,compression=gzip", ST_LAYER_COMPRESS_GZIP},
	             {"type=oci,dest=x,compression=zstd", ST_LAYER_COMPRESS_ZSTD},
	             {"type=docker,dest=x,compression=uncompressed", ST_LAYER_COMPRESS_NONE}};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct st_error err = ST_ERROR_INIT;
		struct st_export_opts o;

		if (st_export_parse(cases[i].spec, &o, &err) != 0)
			fail_msg("%s: %s", cases[i].spec, err.msg);
		assert_int_equal(o.compression, cases[i].c);
		st_export_opts_release(&o);
	}
}

struct bad_case {
	const char *spec;
	const char *msg; /* a part of the message */
};

static const struct bad_case bad[] = {
        {"", "empty"},
        {"type=image,dest=x", "unknown type \"image\""},
        {"type=registry", "unknown type \"registry\""},
        {"type=oci", "dest= is required"},
        {"type=oci,dest=", "dest= is required"},
        {"dest=x", "type= is required"},
        {"type=oci,dest=x,oci-mediatypes=true", "unknown key \"oci-mediatypes\""},
        {"type=oci,dest=x,compression=lz4", "compression=lz4"},
        {"type=oci,dest=x,tar=maybe", "tar=maybe"},
        {"type=local,dest=x,tar=false", "tar= applies to"},
        {"type=tar,dest=x,name=a", "name= applies to"},
        {"type=local,dest=-", "dest=- writes a tar"},
        {"type=oci,dest=-,tar=false", "dest=- writes a tar"},
        {"type=oci,,dest=x", "'' is not KEY=VALUE"},
        {"type=oci,dest", "'dest' is not KEY=VALUE"},
};

static void parse_refuses_with_the_reason(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct st_error err = ST_ERROR_INIT;
		struct st_export_opts o = {0};
		int rc = st_export_parse(bad[i].spec, &o, &err);
		if (rc != -ST_EINVALID)
			fail_msg("%s: accepted or wrong code %d", bad[i].spec, rc);
		if (!strstr(err.msg, bad[i].msg))
			fail_msg("%s: message \"%s\" lacks \"%s\"", bad[i].spec, err.msg,
			         bad[i].msg);
	}
}

/* st_export_open of `spec` with dest dir/rel fails with code and a message holding msg. */
static void open_fails(const char *dir, const char *spec, const char *rel, int code,
                       const char *msg)
{
	struct st_error err = ST_ERROR_INIT;
	struct st_export_opts o;
	struct st_export *x = NULL;
	char path[4096];
	int rc;

	(void)snprintf(path, sizeof(path), "%s,dest=%s/%s", spec, dir, rel);
	assert_int_equal(st_export_parse(path, &o, &err), 0);
	rc = st_export_open(&o, 1, &x, &err);
	if (rc != code || !strstr(err.msg, msg))
		fail_msg("%s: got %d \"%s\", want %d \"%s\"", path, rc, err.msg, code, msg);
	assert_null(x);
	st_export_opts_release(&o);
}

static void open_checks_dest_before_any_work(void **state)
{
	char *dir = unit_mkdtemp(), p[4096];
	struct st_error err = ST_ERROR_INIT;
	struct st_export_opts o;
	struct st_export *x = NULL;
	struct stat st;

	(void)state;
	(void)snprintf(p, sizeof(p), "%s/adir", dir);
	assert_int_equal(mkdir(p, 0755), 0);
	(void)snprintf(p, sizeof(p), "%s/adir/f", dir);
	unit_write_file(p, "x", 1);
	(void)snprintf(p, sizeof(p), "%s/afile", dir);
	unit_write_file(p, "x", 1);
	open_fails(dir, "type=tar", "adir", -ST_EINVALID, "is a directory");
	open_fails(dir, "type=local", "afile", -ST_EINVALID, "not a directory");
	open_fails(dir, "type=oci,tar=false", "adir", -ST_EEXIST, "not empty");
	open_fails(dir, "type=oci", "missing/x.tar", -ST_ENOTFOUND, "cannot write");

	/* a good dest: a temporary beside it until the write, nothing once freed */
	(void)snprintf(p, sizeof(p), "type=docker,dest=%s/new.tar", dir);
	assert_int_equal(st_export_parse(p, &o, &err), 0);
	assert_int_equal(st_export_open(&o, 1, &x, &err), 0);
	(void)snprintf(p, sizeof(p), "%s/new.tar", dir);
	assert_int_equal(stat(p, &st), -1);
	st_export_free(x);
	st_export_opts_release(&o);
	(void)snprintf(p, sizeof(p), "%s/afile", dir);
	assert_int_equal(unlink(p), 0);
	(void)snprintf(p, sizeof(p), "%s/adir/f", dir);
	assert_int_equal(unlink(p), 0);
	(void)snprintf(p, sizeof(p), "%s/adir", dir);
	assert_int_equal(rmdir(p), 0);
	assert_int_equal(rmdir(dir), 0); /* empty: the temporary went with st_export_free */
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(parse_accepts_what_buildx_accepts),
	        cmocka_unit_test(parse_takes_buildkit_compression_names),
	        cmocka_unit_test(parse_refuses_with_the_reason),
	        cmocka_unit_test(open_checks_dest_before_any_work),
	};
	return cmocka_run_group_tests_name("archive", tests, NULL, NULL);
}
