/* test-image.c: manifests, indexes and configs. Fixtures are shaped like what registries and
 * docker save produce; expected digests are sha256sum of the fixture bytes, and expected
 * canonical JSON is Python's json.dumps(sort_keys=True, separators=(',', ':')) of the same
 * document, hashed with sha256sum. */
#include "unit.h"

#include <sys/stat.h>
#include <unistd.h>

#include "strata/image.h"
#include "strata/store.h"

/* sha256sum of the fixtures below */
#define OCI_MANIFEST_SHA "sha256:691e19d75da4d7c40c0e91b12f685d9333442ebecca02a307b90869def8051d8"
#define DOCKER_MANIFEST_SHA \
	"sha256:fa09e71677f720788d5978e7e8558c4c1e6b8c710a0fad01cb840ffe54f1bf46"
#define DOCKER_LIST_SHA "sha256:7e42698bc898edb31962bb0fab1559701cb8ac0c63a5f7ae6ae951079d93f393"
#define BUILT_MANIFEST_SHA "sha256:cfec96b29550ed3a4b9515363c9afd17a399b5c6458a81cc31ea6a986617ebe0"
#define EDITED_CONFIG_SHA "sha256:8303a10e591e9d2fdd0e763d624a72920845a88ef688f8eda393a03dd199d8f8"
#define BUILT_INDEX_SHA "sha256:ce5b599b0508eaa0a27db95007e39336becba982038945aee5fc012fa7161037"

#define D1 "sha256:3d24ee258efc3bfe4066a1a9fb83febf6dc0b1548dfe896161533668281c9f4f"
#define D2 "sha256:ec562eabd705d25bfea8c8d79e4610775e375524af00552fe871d3338261563c"
#define D3 "sha256:9fa9226be034e47923c0457d916aa68474cdfb23af8d4525e9baeebc4760977a"
/* printf '%s %s' D1 D2 | sha256sum, then the same with that and D3 */
#define CHAIN2 "sha256:d220ab739b15d88341b6a7753da8a90c9b3789d7b1b576cfcca0fa133dd548cb"
#define CHAIN3 "sha256:4070a13648f7a80adcc8c9061c9bce71c5e6b4e966ecd26e204f4c8f9ad33d83"

static const char OCI_MANIFEST[] =
        "{\n"
        "  \"schemaVersion\": 2,\n"
        "  \"mediaType\": \"application/vnd.oci.image.manifest.v1+json\",\n"
        "  \"config\": {\n"
        "    \"mediaType\": \"application/vnd.oci.image.config.v1+json\",\n"
        "    \"digest\": \"sha256:a416a98b71e224a31ee99cff8e16063554498227d2b696152a9c3e0aa65e"
        "5824\",\n"
        "    \"size\": 581\n"
        "  },\n"
        "  \"layers\": [\n"
        "    {\n"
        "      \"mediaType\": \"application/vnd.oci.image.layer.v1.tar+gzip\",\n"
        "      \"digest\": \"sha256:ec562eabd705d25bfea8c8d79e4610775e375524af00552fe871d33382"
        "61563c\",\n"
        "      \"size\": 2152262\n"
        "    },\n"
        "    {\n"
        "      \"mediaType\": \"application/vnd.oci.image.layer.v1.tar+zstd\",\n"
        "      \"digest\": \"sha256:9fa9226be034e47923c0457d916aa68474cdfb23af8d4525e9baeebc47"
        "60977a\",\n"
        "      \"size\": 32\n"
        "    }\n"
        "  ],\n"
        "  \"subject\": {\n"
        "    \"mediaType\": \"application/vnd.oci.image.manifest.v1+json\",\n"
        "    \"digest\": \"sha256:5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a433350"
        "1270\",\n"
        "    \"size\": 1234\n"
        "  },\n"
        "  \"annotations\": {\n"
        "    \"org.opencontainers.image.url\": \"https://github.com/docker-library/busybox\","
        "\n"
        "    \"org.opencontainers.image.version\": \"1.36.1-glibc\"\n"
        "  }\n"
        "}\n";

static const char DOCKER_MANIFEST[] =
        "{\n"
        "   \"schemaVersion\": 2,\n"
        "   \"mediaType\": \"application/vnd.docker.distribution.manifest.v2+json\",\n"
        "   \"config\": {\n"
        "      \"mediaType\": \"application/vnd.docker.container.image.v1+json\",\n"
        "      \"size\": 1457,\n"
        "      \"digest\": \"sha256:beae173ccac6ad749f76713cf4440fe3d21d1043fe616dfbe30775815d"
        "1d0f6a\"\n"
        "   },\n"
        "   \"layers\": [\n"
        "      {\n"
        "         \"mediaType\": \"application/vnd.docker.image.rootfs.diff.tar.gzip\",\n"
        "         \"size\": 772788,\n"
        "         \"digest\": \"sha256:2db29710123e3e53a794f2694094b9b4338aa9ee5c40b930cb8063a"
        "1be392c54\"\n"
        "      }\n"
        "   ]\n"
        "}\n";

static const char DOCKER_LIST[] =
        "{\n"
        "   \"manifests\": [\n"
        "      {\n"
        "         \"digest\": \"sha256:1111111111111111111111111111111111111111111111111111111"
        "111111111\",\n"
        "         \"mediaType\": \"application/vnd.docker.distribution.manifest.v2+json\",\n"
        "         \"platform\": {\"architecture\": \"arm\", \"os\": \"linux\", \"variant\": \""
        "v6\"},\n"
        "         \"size\": 527\n"
        "      },\n"
        "      {\n"
        "         \"digest\": \"sha256:2222222222222222222222222222222222222222222222222222222"
        "222222222\",\n"
        "         \"mediaType\": \"application/vnd.docker.distribution.manifest.v2+json\",\n"
        "         \"platform\": {\"architecture\": \"arm\", \"os\": \"linux\", \"variant\": \""
        "v7\"},\n"
        "         \"size\": 527\n"
        "      },\n"
        "      {\n"
        "         \"digest\": \"sha256:3333333333333333333333333333333333333333333333333333333"
        "333333333\",\n"
        "         \"mediaType\": \"application/vnd.docker.distribution.manifest.v2+json\",\n"
        "         \"platform\": {\"architecture\": \"arm64\", \"os\": \"linux\", \"variant\": "
        "\"v8\"},\n"
        "         \"size\": 527\n"
        "      },\n"
        "      {\n"
        "         \"digest\": \"sha256:4444444444444444444444444444444444444444444444444444444"
        "444444444\",\n"
        "         \"mediaType\": \"application/vnd.docker.distribution.manifest.v2+json\",\n"
        "         \"platform\": {\"architecture\": \"386\", \"os\": \"linux\"},\n"
        "         \"size\": 527\n"
        "      },\n"
        "      {\n"
        "         \"digest\": \"sha256:5555555555555555555555555555555555555555555555555555555"
        "555555555\",\n"
        "         \"mediaType\": \"application/vnd.docker.distribution.manifest.v2+json\",\n"
        "         \"platform\": {\"architecture\": \"amd64\", \"os\": \"linux\"},\n"
        "         \"size\": 527\n"
        "      },\n"
        "      {\n"
        "         \"digest\": \"sha256:6666666666666666666666666666666666666666666666666666666"
        "666666666\",\n"
        "         \"mediaType\": \"application/vnd.docker.distribution.manifest.v2+json\",\n"
        "         \"platform\": {\"architecture\": \"s390x\", \"os\": \"linux\"},\n"
        "         \"size\": 527\n"
        "      }\n"
        "   ],\n"
        "   \"mediaType\": \"application/vnd.docker.distribution.manifest.list.v2+json\",\n"
        "   \"schemaVersion\": 2\n"
        "}\n";

static const char SCHEMA1[] =
        "{\n"
        "   \"schemaVersion\": 1,\n"
        "   \"name\": \"library/busybox\",\n"
        "   \"tag\": \"latest\",\n"
        "   \"architecture\": \"amd64\",\n"
        "   \"fsLayers\": [{\"blobSum\": \"sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb164"
        "22d00e8a7c22955b46d4\"}],\n"
        "   \"history\": [{\"v1Compatibility\": \"{}\"}],\n"
        "   \"signatures\": []\n"
        "}\n";

static const char DOCKER_CONFIG[] =
        "{\n"
        "  \"architecture\": \"amd64\",\n"
        "  \"config\": {\n"
        "    \"Hostname\": \"\",\n"
        "    \"User\": \"nobody\",\n"
        "    \"ExposedPorts\": {\"8080/tcp\": {}, \"53/udp\": {}},\n"
        "    \"Env\": [\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\", "
        "\"LANG=C.UTF-8\"],\n"
        "    \"Entrypoint\": null,\n"
        "    \"Cmd\": [\"sh\"],\n"
        "    \"Volumes\": {\"/data\": {}},\n"
        "    \"WorkingDir\": \"/srv\",\n"
        "    \"Labels\": {\"maintainer\": \"someone@example.com\"},\n"
        "    \"StopSignal\": \"SIGTERM\",\n"
        "    \"Shell\": [\"/bin/sh\", \"-c\"],\n"
        "    \"Healthcheck\": {\"Test\": [\"CMD-SHELL\", \"true\"], \"Interval\": 30000000000,"
        " \"Retries\": 3},\n"
        "    \"OnBuild\": null,\n"
        "    \"ArgsEscaped\": true\n"
        "  },\n"
        "  \"container\": \"3bd1c2a5d8a0e3ba0a9d5a0f3c1c8b9b0a6b6d2f5f1f2e2d3c4b5a6978695a4b\""
        ",\n"
        "  \"container_config\": {\"Cmd\": [\"/bin/sh\", \"-c\", \"#(nop) CMD [\\\"sh\\\"]\"]}"
        ",\n"
        "  \"created\": \"2023-07-18T23:19:33.655005962Z\",\n"
        "  \"docker_version\": \"20.10.23\",\n"
        "  \"history\": [\n"
        "    {\"created\": \"2023-07-18T23:19:33.538571854Z\", \"created_by\": \"/bin/sh -c #("
        "nop) ADD file:7e9002edaafd4e4579b65c8f0aaabde1aeb7fd3f8d95579f7fd3443cef785fd1 in / "
        "\"},\n"
        "    {\"created\": \"2023-07-18T23:19:33.655005962Z\", \"created_by\": \"/bin/sh -c #("
        "nop)  CMD [\\\"sh\\\"]\", \"empty_layer\": true}\n"
        "  ],\n"
        "  \"os\": \"linux\",\n"
        "  \"rootfs\": {\n"
        "    \"type\": \"layers\",\n"
        "    \"diff_ids\": [\"sha256:3d24ee258efc3bfe4066a1a9fb83febf6dc0b1548dfe8961615336682"
        "81c9f4f\"]\n"
        "  }\n"
        "}\n";

static const char BUILT_MANIFEST[] =
        "{\"annotations\":{\"org.opencontainers.image.created\":\"2024-01-01T00:00:00Z\"},\"co"
        "nfig\":{\"digest\":\"sha256:a416a98b71e224a31ee99cff8e16063554498227d2b696152a9c3e0aa"
        "65e5824\",\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"size\":581},\""
        "layers\":[{\"digest\":\"sha256:ec562eabd705d25bfea8c8d79e4610775e375524af00552fe871d3"
        "338261563c\",\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"size\":2"
        "152262}],\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"schemaVersion"
        "\":2}";

static const char EDITED_CONFIG[] =
        "{\"architecture\":\"amd64\",\"config\":{\"ArgsEscaped\":true,\"Cmd\":[\"/bin/echo\","
        "\"hi\"],\"Entrypoint\":null,\"Env\":[\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:"
        "/usr/bin:/sbin:/bin\",\"LANG=en_US.UTF-8\",\"NEW=1\"],\"ExposedPorts\":{\"53/udp\":{}"
        ",\"80/tcp\":{},\"8080/tcp\":{}},\"Healthcheck\":{\"Interval\":30000000000,\"Retries\""
        ":3,\"Test\":[\"CMD-SHELL\",\"true\"]},\"Hostname\":\"\",\"Labels\":{},\"OnBuild\":nul"
        "l,\"Shell\":[\"/bin/sh\",\"-c\"],\"StopSignal\":\"SIGTERM\",\"User\":\"nobody\",\"Vol"
        "umes\":{\"/data\":{}},\"WorkingDir\":\"/srv\"},\"container\":\"3bd1c2a5d8a0e3ba0a9d5a"
        "0f3c1c8b9b0a6b6d2f5f1f2e2d3c4b5a6978695a4b\",\"container_config\":{\"Cmd\":[\"/bin/sh"
        "\",\"-c\",\"#(nop) CMD [\\\"sh\\\"]\"]},\"created\":\"2023-07-18T23:19:33.655005962Z"
        "\",\"docker_version\":\"20.10.23\",\"history\":[{\"created\":\"2023-07-18T23:19:33.53"
        "8571854Z\",\"created_by\":\"/bin/sh -c #(nop) ADD file:7e9002edaafd4e4579b65c8f0aaabd"
        "e1aeb7fd3f8d95579f7fd3443cef785fd1 in / \"},{\"created\":\"2023-07-18T23:19:33.655005"
        "962Z\",\"created_by\":\"/bin/sh -c #(nop)  CMD [\\\"sh\\\"]\",\"empty_layer\":true},{"
        "\"created\":\"2024-01-01T00:00:00Z\",\"created_by\":\"strata import\"}],\"os\":\"linu"
        "x\",\"rootfs\":{\"diff_ids\":[\"sha256:3d24ee258efc3bfe4066a1a9fb83febf6dc0b1548dfe89"
        "6161533668281c9f4f\",\"sha256:ec562eabd705d25bfea8c8d79e4610775e375524af00552fe871d33"
        "38261563c\"],\"type\":\"layers\"}}";

static const char BUILT_INDEX[] =
        "{\"manifests\":[{\"digest\":\"sha256:111111111111111111111111111111111111111111111111"
        "1111111111111111\",\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"pla"
        "tform\":{\"architecture\":\"arm64\",\"os\":\"linux\",\"variant\":\"v8\"},\"size\":527"
        "},{\"digest\":\"sha256:55555555555555555555555555555555555555555555555555555555555555"
        "55\",\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"platform\":{\"arc"
        "hitecture\":\"amd64\",\"os\":\"linux\"},\"size\":528}],\"mediaType\":\"application/vn"
        "d.oci.image.index.v1+json\",\"schemaVersion\":2}";

static void assert_digest(const struct st_digest *d, const char *want)
{
	char s[ST_DIGEST_STR_MAX];

	st_digest_str(d, s);
	assert_string_equal(s, want);
}

static void expect_error(int rc, int code, const struct st_error *err, const char *part)
{
	assert_int_equal(rc, -code);
	if (!strstr(err->msg, part))
		fail_msg("message '%s' lacks '%s'", err->msg, part);
}

static void oci_manifest_parses_with_identity_of_its_bytes(void **state)
{
	struct st_manifest m;
	struct st_error err = ST_ERROR_INIT;
	enum st_manifest_kind kind;

	(void)state;
	assert_int_equal(st_manifest_detect(OCI_MANIFEST, strlen(OCI_MANIFEST), NULL, &kind, &err),
	                 0);
	assert_int_equal(kind, ST_KIND_OCI_MANIFEST);
	assert_int_equal(
	        st_manifest_parse(OCI_MANIFEST, strlen(OCI_MANIFEST), ST_MT_OCI_MANIFEST, &m, &err),
	        0);
	assert_int_equal(m.kind, ST_KIND_OCI_MANIFEST);
	assert_digest(&m.digest, OCI_MANIFEST_SHA);
	assert_int_equal(m.size, strlen(OCI_MANIFEST));
	assert_string_equal(m.config.media_type, ST_MT_OCI_CONFIG);
	assert_int_equal(m.config.size, 581);
	assert_int_equal(m.n_layers, 2);
	assert_int_equal(m.layers[0].size, 2152262);
	assert_digest(&m.layers[1].digest, D3);
	assert_string_equal(m.layers[1].media_type, ST_MT_OCI_LAYER_ZSTD);
	assert_non_null(m.subject);
	assert_int_equal(m.subject->size, 1234);
	assert_int_equal(m.n_annotations, 2);
	assert_int_equal(st_manifest_check_image(&m, &err), 0);
	st_manifest_release(&m);
}

static void docker_manifest_and_list_parse(void **state)
{
	struct st_manifest m;
	struct st_index ix;
	struct st_error err = ST_ERROR_INIT;

	(void)state;
	assert_int_equal(
	        st_manifest_parse(DOCKER_MANIFEST, strlen(DOCKER_MANIFEST), NULL, &m, &err), 0);
	assert_int_equal(m.kind, ST_KIND_DOCKER_MANIFEST);
	assert_digest(&m.digest, DOCKER_MANIFEST_SHA);
	assert_string_equal(m.config.media_type, ST_MT_DOCKER_CONFIG);
	assert_int_equal(m.n_layers, 1);
	assert_string_equal(m.layers[0].media_type, ST_MT_DOCKER_LAYER_GZIP);
	assert_null(m.subject);
	assert_int_equal(st_manifest_check_image(&m, &err), 0);
	st_manifest_release(&m);

	assert_int_equal(
	        st_index_parse(DOCKER_LIST, strlen(DOCKER_LIST), ST_MT_DOCKER_LIST, &ix, &err), 0);
	assert_int_equal(ix.kind, ST_KIND_DOCKER_LIST);
	assert_digest(&ix.digest, DOCKER_LIST_SHA);
	assert_int_equal(ix.n_manifests, 6);
	assert_string_equal(ix.manifests[1].arch, "arm");
	assert_string_equal(ix.manifests[1].variant, "v7");
	assert_null(ix.manifests[3].variant);
	st_index_release(&ix);

	/* each parser refuses the other kind */
	expect_error(st_manifest_parse(DOCKER_LIST, strlen(DOCKER_LIST), NULL, &m, &err),
	             ST_EINVALID, &err, "not an image manifest");
	expect_error(st_index_parse(DOCKER_MANIFEST, strlen(DOCKER_MANIFEST), NULL, &ix, &err),
	             ST_EINVALID, &err, "not an image index");
}

static void schema1_is_refused_clearly(void **state)
{
	struct st_manifest m;
	struct st_error err = ST_ERROR_INIT;
	enum st_manifest_kind kind;
	static const char signed_v1[] =
	        "{\"schemaVersion\":2,\"mediaType\":\"" ST_MT_DOCKER_MANIFEST_V1_SIGNED "\"}";

	(void)state;
	expect_error(st_manifest_parse(SCHEMA1, strlen(SCHEMA1), NULL, &m, &err), ST_EUNSUPPORTED,
	             &err, "schema 1 is not supported");
	expect_error(
	        st_manifest_detect(SCHEMA1, strlen(SCHEMA1), ST_MT_DOCKER_MANIFEST_V1, &kind, &err),
	        ST_EUNSUPPORTED, &err, "schema 1");
	expect_error(st_manifest_detect(signed_v1, strlen(signed_v1), NULL, &kind, &err),
	             ST_EUNSUPPORTED, &err, "schema 1");
}

struct bad_doc {
	const char *json;
	const char *hint;
	int code;
	const char *msg;
};

#define CFG_DESC \
	"\"config\":{\"mediaType\":\"" ST_MT_OCI_CONFIG "\",\"digest\":\"" D1 "\",\"size\":7}"
#define LAYER(size) \
	"{\"mediaType\":\"" ST_MT_OCI_LAYER_GZIP "\",\"digest\":\"" D2 "\",\"size\":" size "}"

static const struct bad_doc bad_manifests[] = {
        {"{\"schemaVersion\":2," CFG_DESC ",\"layers\":[" LAYER("1") "," LAYER("\"12\"") "]}", NULL,
         ST_EINVALID, "manifest.layers[1]: field \"size\" must be a non-negative integer"},
        {"{\"schemaVersion\":2," CFG_DESC ",\"layers\":[" LAYER("-1") "]}", NULL, ST_EINVALID,
         "manifest.layers[0]: field \"size\""},
        {"{\"schemaVersion\":2," CFG_DESC ",\"layers\":[" LAYER("1.5") "]}", NULL, ST_EINVALID,
         "manifest.layers[0]: field \"size\""},
        {"{\"schemaVersion\":2," CFG_DESC ",\"layers\":{}}", NULL, ST_EINVALID,
         "field \"layers\" must be an array"},
        {"{\"schemaVersion\":2," CFG_DESC "}", NULL, ST_EINVALID,
         "required field \"layers\" is missing"},
        {"{\"schemaVersion\":2,\"layers\":[]}", NULL, ST_EINVALID,
         "required field \"config\" is missing"},
        {"{\"schemaVersion\":\"2\"," CFG_DESC ",\"layers\":[]}", NULL, ST_EINVALID,
         "manifest: field \"schemaVersion\""},
        {"{\"schemaVersion\":3," CFG_DESC ",\"layers\":[]}", NULL, ST_EINVALID,
         "schemaVersion 3 is not 2"},
        {"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" ST_MT_OCI_CONFIG
         "\",\"digest\":\"sha256:xyz\",\"size\":7},\"layers\":[]}",
         NULL, ST_EINVALID, "manifest.config"},
        {"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" ST_MT_OCI_CONFIG
         "\",\"digest\":\"md5:d41d8cd98f00b204e9800998ecf8427e\",\"size\":7},\"layers\":[]}",
         NULL, ST_EUNSUPPORTED, "manifest.config"},
        {"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"not a type\",\"digest\":\"" D1
         "\",\"size\":7},\"layers\":[]}",
         NULL, ST_EINVALID, "manifest.config: invalid media type"},
        {"{\"schemaVersion\":2,\"mediaType\":\"" ST_MT_OCI_MANIFEST "\"," CFG_DESC
         ",\"layers\":[]}",
         ST_MT_DOCKER_MANIFEST, ST_EINVALID, "does not match the descriptor's"},
        {"{\"schemaVersion\":2,\"mediaType\":\"application/x-other\"," CFG_DESC ",\"layers\":[]}",
         NULL, ST_EUNSUPPORTED, "unsupported media type \"application/x-other\""},
        {"{\"schemaVersion\":2,\"mediaType\":7," CFG_DESC ",\"layers\":[]}", NULL, ST_EINVALID,
         "field \"mediaType\" must be a string"},
        {"{\"schemaVersion\":2," CFG_DESC ",\"layers\":[],\"annotations\":{\"a\":1}}", NULL,
         ST_EINVALID, "manifest.annotations: value of \"a\" must be a string"},
        {"{\"schemaVersion\":2," CFG_DESC ",\"layers\":[],\"subject\":\"x\"}", NULL, ST_EINVALID,
         "manifest.subject"},
        {"[1,2]", NULL, ST_EINVALID, "must be a JSON object"},
        {"{\"schemaVersion\":2,", NULL, ST_EINVALID, "invalid JSON"},
        {"{\"schemaVersion\":2,\"a\":1,\"a\":2}", NULL, ST_EINVALID, "invalid JSON"},
        {"{\"schemaVersion\":2}", NULL, ST_EINVALID, "neither a manifest nor an index"},
};

static void bad_manifests_name_the_field(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_manifests) / sizeof(bad_manifests[0]); i++) {
		const struct bad_doc *b = &bad_manifests[i];
		struct st_error err = ST_ERROR_INIT;
		struct st_manifest m = {0};
		int rc = st_manifest_parse(b->json, strlen(b->json), b->hint, &m, &err);
		if (rc != -b->code)
			fail_msg("%s: want code %d, got %d (%s)", b->json, b->code, -rc, err.msg);
		expect_error(rc, b->code, &err, b->msg);
		assert_null(m.layers);
	}
}

static void manifest_without_media_type_is_detected_by_structure(void **state)
{
	static const char man[] = "{\"schemaVersion\":2," CFG_DESC ",\"layers\":[" LAYER("3") "]}";
	static const char ix[] = "{\"schemaVersion\":2,\"manifests\":[]}";
	struct st_manifest m;
	struct st_index i;
	enum st_manifest_kind kind;

	(void)state;
	assert_int_equal(st_manifest_parse(man, strlen(man), NULL, &m, NULL), 0);
	assert_int_equal(m.kind, ST_KIND_OCI_MANIFEST);
	st_manifest_release(&m);
	/* the descriptor's media type decides when the document has none */
	assert_int_equal(st_manifest_parse(man, strlen(man), ST_MT_DOCKER_MANIFEST, &m, NULL), 0);
	assert_int_equal(m.kind, ST_KIND_DOCKER_MANIFEST);
	/* an OCI layer in a Docker manifest: parsable, still an image */
	assert_int_equal(st_manifest_check_image(&m, NULL), 0);
	st_manifest_release(&m);
	assert_int_equal(st_manifest_detect(ix, strlen(ix), NULL, &kind, NULL), 0);
	assert_int_equal(kind, ST_KIND_OCI_INDEX);
	assert_int_equal(st_index_parse(ix, strlen(ix), NULL, &i, NULL), 0);
	assert_int_equal(i.n_manifests, 0);
	st_index_release(&i);
}

static void artifacts_are_not_images(void **state)
{
	static const char art[] =
	        "{\"schemaVersion\":2,\"artifactType\":\"application/vnd.example+type\","
	        "\"config\":{\"mediaType\":\"application/vnd.oci.empty.v1+json\",\"digest\":"
	        "\"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a\","
	        "\"size\":2},\"layers\":[{\"mediaType\":\"text/plain\",\"digest\":\"" D2
	        "\",\"size\":5}]}";
	struct st_manifest m;
	struct st_error err = ST_ERROR_INIT;

	(void)state;
	assert_int_equal(st_manifest_parse(art, strlen(art), NULL, &m, &err), 0);
	assert_string_equal(m.artifact_type, "application/vnd.example+type");
	expect_error(st_manifest_check_image(&m, &err), ST_EUNSUPPORTED, &err,
	             "is not an image config");
	free(m.config.media_type);
	m.config.media_type = strdup(ST_MT_OCI_CONFIG);
	expect_error(st_manifest_check_image(&m, &err), ST_EUNSUPPORTED, &err,
	             "layers[0]: unsupported media type \"text/plain\"");
	st_manifest_release(&m);
}

static void fill_desc(struct st_descriptor *d, const char *mt, const char *digest, uint64_t size)
{
	memset(d, 0, sizeof(*d));
	d->media_type = strdup(mt);
	assert_non_null(d->media_type);
	assert_int_equal(st_digest_parse_str(digest, &d->digest, NULL), 0);
	d->size = size;
}

static void built_manifest_is_canonical(void **state)
{
	struct st_manifest m, back;
	struct st_descriptor cfg, layer;
	cleanup_buf struct st_buf out = ST_BUF_INIT;

	(void)state;
	st_manifest_init(&m, ST_KIND_OCI_MANIFEST);
	fill_desc(&cfg, ST_MT_OCI_CONFIG,
	          "sha256:a416a98b71e224a31ee99cff8e16063554498227d2b696152a9c3e0aa65e5824", 581);
	fill_desc(&layer, ST_MT_OCI_LAYER_GZIP, D2, 2152262);
	assert_int_equal(st_manifest_dump(&m, &out, NULL), -ST_EINVALID); /* no config yet */
	assert_int_equal(st_manifest_set_config(&m, &cfg, NULL), 0);
	assert_int_equal(st_manifest_add_layer(&m, &layer, NULL), 0);
	assert_int_equal(
	        st_manifest_set_annotation(&m, ST_ANNOT_CREATED, "2024-01-01T00:00:00Z", NULL), 0);
	assert_int_equal(st_manifest_dump(&m, &out, NULL), 0);
	assert_string_equal(out.data, BUILT_MANIFEST);
	assert_digest(&m.digest, BUILT_MANIFEST_SHA);
	assert_int_equal(m.size, strlen(BUILT_MANIFEST));
	/* and it parses back to the same identity */
	assert_int_equal(st_manifest_parse(out.data, out.len, ST_MT_OCI_MANIFEST, &back, NULL), 0);
	assert_digest(&back.digest, BUILT_MANIFEST_SHA);
	st_manifest_release(&back);
	st_manifest_release(&m);
	st_descriptor_release(&cfg);
	st_descriptor_release(&layer);
}

static void built_index_is_canonical(void **state)
{
	struct st_index ix;
	struct st_descriptor a, b;
	cleanup_buf struct st_buf out = ST_BUF_INIT;

	(void)state;
	st_index_init(&ix, ST_KIND_OCI_INDEX);
	fill_desc(&a, ST_MT_OCI_MANIFEST,
	          "sha256:1111111111111111111111111111111111111111111111111111111111111111", 527);
	a.os = strdup("linux");
	a.arch = strdup("arm64");
	a.variant = strdup("v8");
	fill_desc(&b, ST_MT_OCI_MANIFEST,
	          "sha256:5555555555555555555555555555555555555555555555555555555555555555", 528);
	b.os = strdup("linux");
	b.arch = strdup("amd64");
	assert_int_equal(st_index_add_manifest(&ix, &a, NULL), 0);
	assert_int_equal(st_index_add_manifest(&ix, &b, NULL), 0);
	assert_int_equal(st_index_dump(&ix, &out, NULL), 0);
	assert_string_equal(out.data, BUILT_INDEX);
	assert_digest(&ix.digest, BUILT_INDEX_SHA);
	/* the host (linux/amd64 here) picks the second entry */
	assert_int_equal(st_index_select(&ix, NULL, NULL), 1);
	st_index_release(&ix);
	st_descriptor_release(&a);
	st_descriptor_release(&b);
}

static void config_parses_every_field(void **state)
{
	struct st_image_config c;
	struct st_error err = ST_ERROR_INIT;

	(void)state;
	assert_int_equal(st_image_config_parse(DOCKER_CONFIG, strlen(DOCKER_CONFIG), &c, &err), 0);
	assert_string_equal(c.architecture, "amd64");
	assert_string_equal(c.os, "linux");
	assert_null(c.variant);
	assert_string_equal(c.created, "2023-07-18T23:19:33.655005962Z");
	assert_string_equal(c.user, "nobody");
	assert_int_equal(c.exposed_ports.n, 2);
	assert_string_equal(c.exposed_ports.v[0], "53/udp"); /* sorted */
	assert_string_equal(c.exposed_ports.v[1], "8080/tcp");
	assert_int_equal(c.env.n, 2);
	assert_string_equal(c.env.v[1], "LANG=C.UTF-8");
	assert_null(c.env.v[2]);
	assert_null(c.entrypoint.v); /* null */
	assert_int_equal(c.cmd.n, 1);
	assert_string_equal(c.cmd.v[0], "sh");
	assert_int_equal(c.volumes.n, 1);
	assert_string_equal(c.volumes.v[0], "/data");
	assert_string_equal(c.working_dir, "/srv");
	assert_int_equal(c.n_labels, 1);
	assert_string_equal(c.labels[0].key, "maintainer");
	assert_string_equal(c.stop_signal, "SIGTERM");
	assert_int_equal(c.shell.n, 2);
	assert_non_null(c.healthcheck);
	assert_string_equal(c.healthcheck->test.v[0], "CMD-SHELL");
	assert_true(c.healthcheck->interval == 30000000000LL);
	assert_true(c.healthcheck->retries == 3);
	assert_null(c.on_build.v);
	assert_true(c.args_escaped);
	assert_int_equal(c.n_diff_ids, 1);
	assert_digest(&c.diff_ids[0], D1);
	assert_int_equal(c.n_history, 2);
	assert_false(c.history[0].empty_layer);
	assert_true(c.history[1].empty_layer);
	assert_string_equal(c.history[1].created_by, "/bin/sh -c #(nop)  CMD [\"sh\"]");
	st_image_config_release(&c);
}

static void config_edits_keep_unknown_fields_and_are_canonical(void **state)
{
	static const char *const cmd[] = {"/bin/echo", "hi"};
	struct st_image_config c;
	struct st_history h = {.created = "2024-01-01T00:00:00Z", .created_by = "strata import"};
	struct st_digest d2;
	cleanup_buf struct st_buf out = ST_BUF_INIT;
	struct st_digest got;

	(void)state;
	assert_int_equal(st_image_config_parse(DOCKER_CONFIG, strlen(DOCKER_CONFIG), &c, NULL), 0);
	assert_int_equal(st_digest_parse_str(D2, &d2, NULL), 0);
	assert_int_equal(st_image_config_set_cmd(&c, cmd, 2, NULL), 0);
	assert_int_equal(st_image_config_setenv(&c, "LANG", "en_US.UTF-8", NULL), 0);
	assert_int_equal(st_image_config_setenv(&c, "NEW", "1", NULL), 0);
	assert_int_equal(st_image_config_add_exposed_port(&c, "80", NULL), 0);
	assert_int_equal(st_image_config_set_label(&c, "maintainer", NULL, NULL), 0);
	assert_int_equal(st_image_config_add_layer(&c, &d2, &h, NULL), 0);
	/* the view follows the edits */
	assert_string_equal(c.cmd.v[0], "/bin/echo");
	assert_int_equal(c.env.n, 3);
	assert_string_equal(c.env.v[1], "LANG=en_US.UTF-8");
	assert_int_equal(c.exposed_ports.n, 3);
	assert_int_equal(c.n_labels, 0);
	assert_int_equal(c.n_diff_ids, 2);
	assert_int_equal(c.n_history, 3);
	assert_int_equal(st_image_config_dump(&c, &out, NULL), 0);
	assert_string_equal(out.data, EDITED_CONFIG);
	assert_int_equal(st_digest_of(ST_DIGEST_SHA256, out.data, out.len, &got, NULL), 0);
	assert_digest(&got, EDITED_CONFIG_SHA);
	st_image_config_release(&c);
}

static void config_setters_cover_the_dockerfile_fields(void **state)
{
	static const char *const ep[] = {"/entry"};
	static const char *const sh[] = {"/bin/bash", "-c"};
	static const char *const test[] = {"CMD", "true"};
	struct st_image_config c, copy;
	struct st_healthcheck hc = {.test = {(char **)test, 2, 0}, .interval = 5, .retries = 2};
	struct st_history empty = {.created_by = "ENV A=1", .empty_layer = true};
	struct st_error err = ST_ERROR_INIT;
	cleanup_buf struct st_buf out = ST_BUF_INIT;

	(void)state;
	assert_int_equal(st_image_config_init(&c, "linux", "arm64", "v8", &err), 0);
	assert_string_equal(c.variant, "v8");
	assert_int_equal(c.n_diff_ids, 0);
	assert_int_equal(st_image_config_set_entrypoint(&c, ep, 1, &err), 0);
	assert_int_equal(st_image_config_set_cmd(&c, ep, 0, &err), 0); /* CMD [] */
	assert_non_null(c.cmd.v);
	assert_int_equal(c.cmd.n, 0);
	assert_int_equal(st_image_config_set_shell(&c, sh, 2, &err), 0);
	assert_int_equal(st_image_config_set_user(&c, "1000:1000", &err), 0);
	assert_int_equal(st_image_config_set_working_dir(&c, "/app", &err), 0);
	assert_int_equal(st_image_config_set_stop_signal(&c, "SIGINT", &err), 0);
	assert_int_equal(st_image_config_add_on_build(&c, "RUN make", &err), 0);
	assert_int_equal(st_image_config_add_volume(&c, "/v", &err), 0);
	assert_int_equal(st_image_config_add_exposed_port(&c, "8000-8002/udp", &err), 0);
	assert_int_equal(st_image_config_set_healthcheck(&c, &hc, &err), 0);
	assert_int_equal(st_image_config_set_args_escaped(&c, true, &err), 0);
	assert_int_equal(st_image_config_set_author(&c, "me", &err), 0);
	assert_int_equal(st_image_config_set_created(&c, "2024-01-01T00:00:00Z", &err), 0);
	assert_int_equal(st_image_config_add_history(&c, &empty, &err), 0);
	assert_int_equal(st_image_config_set_label(&c, "a", "b", &err), 0);
	assert_int_equal(st_image_config_setenv(&c, "A", "1", &err), 0);
	assert_int_equal(st_image_config_setenv(&c, "A", NULL, &err), 0);
	assert_int_equal(c.env.n, 0);
	/* bad input changes nothing */
	expect_error(st_image_config_add_exposed_port(&c, "80/http", &err), ST_EINVALID, &err,
	             "port \"80/http\"");
	expect_error(st_image_config_add_exposed_port(&c, "0", &err), ST_EINVALID, &err, "port");
	expect_error(st_image_config_add_exposed_port(&c, "9-1", &err), ST_EINVALID, &err,
	             "backwards");
	expect_error(st_image_config_setenv(&c, "A=B", "1", &err), ST_EINVALID, &err, "name");

	assert_string_equal(c.entrypoint.v[0], "/entry");
	assert_string_equal(c.shell.v[0], "/bin/bash");
	assert_string_equal(c.user, "1000:1000");
	assert_string_equal(c.working_dir, "/app");
	assert_string_equal(c.stop_signal, "SIGINT");
	assert_string_equal(c.on_build.v[0], "RUN make");
	assert_int_equal(c.exposed_ports.n, 3);
	assert_string_equal(c.exposed_ports.v[2], "8002/udp");
	assert_true(c.healthcheck && c.healthcheck->interval == 5 && c.healthcheck->retries == 2);
	assert_true(c.args_escaped);
	assert_string_equal(c.author, "me");
	assert_true(c.n_history == 1 && c.history[0].empty_layer);

	/* a copy is independent and dumps the same bytes */
	assert_int_equal(st_image_config_copy(&copy, &c, &err), 0);
	assert_int_equal(st_image_config_set_user(&copy, NULL, &err), 0);
	assert_null(copy.user);
	assert_string_equal(c.user, "1000:1000");
	assert_int_equal(st_image_config_set_healthcheck(&c, NULL, &err), 0);
	assert_null(c.healthcheck);
	assert_int_equal(st_image_config_set_platform(&c, "linux", "amd64", NULL, &err), 0);
	assert_null(c.variant);
	assert_int_equal(st_image_config_dump(&c, &out, &err), 0);
	assert_null(strstr(out.data, "Healthcheck"));
	assert_null(strstr(out.data, "variant"));
	assert_non_null(strstr(out.data, "\"ArgsEscaped\":true"));
	st_image_config_release(&copy);
	st_image_config_release(&c);
}

static const struct bad_doc bad_configs[] = {
        {"{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Env\":[\"A=1\",2]},"
         "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
         NULL, ST_EINVALID, "config.config.Env[1]: must be a string"},
        {"{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Cmd\":\"sh\"},"
         "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
         NULL, ST_EINVALID, "config.config: field \"Cmd\" must be an array"},
        {"{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"User\":0},"
         "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
         NULL, ST_EINVALID, "config.config: field \"User\" must be a string"},
        {"{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Labels\":{\"a\":[]}},"
         "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
         NULL, ST_EINVALID, "config.config.Labels: value of \"a\""},
        {"{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"ArgsEscaped\":1},"
         "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
         NULL, ST_EINVALID, "field \"ArgsEscaped\" must be true or false"},
        {"{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Healthcheck\":{\"Interval\":"
         "\"5s\"}},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
         NULL, ST_EINVALID, "config.config.Healthcheck: field \"Interval\" must be an integer"},
        {"{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"ExposedPorts\":[\"80\"]},"
         "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
         NULL, ST_EINVALID, "field \"ExposedPorts\" must be an object"},
        {"{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\","
         "\"diff_ids\":[\"" D1 "\",\"sha256:abc\"]}}",
         NULL, ST_EINVALID, "config.rootfs.diff_ids[1]"},
        {"{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\","
         "\"diff_ids\":[5]}}",
         NULL, ST_EINVALID, "config.rootfs.diff_ids[0]: must be a string"},
        {"{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"tar\","
         "\"diff_ids\":[]}}",
         NULL, ST_EINVALID, "config.rootfs.type: \"tar\" is not \"layers\""},
        {"{\"architecture\":\"amd64\",\"os\":\"linux\"}", NULL, ST_EINVALID,
         "config: required field \"rootfs\" is missing"},
        {"{\"architecture\":\"amd64\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}", NULL,
         ST_EINVALID, "required field \"os\" is missing"},
        {"{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\","
         "\"diff_ids\":[]},\"history\":[{\"empty_layer\":\"yes\"}]}",
         NULL, ST_EINVALID, "config.history[0]: field \"empty_layer\""},
        {"{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\","
         "\"diff_ids\":[]},\"history\":[\"x\"]}",
         NULL, ST_EINVALID, "config.history[0]: must be an object"},
        {"[\"config\"]", NULL, ST_EINVALID, "config: must be a JSON object"},
};

static void bad_configs_name_the_field(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_configs) / sizeof(bad_configs[0]); i++) {
		const struct bad_doc *b = &bad_configs[i];
		struct st_error err = ST_ERROR_INIT;
		struct st_image_config c = {0};
		int rc = st_image_config_parse(b->json, strlen(b->json), &c, &err);
		if (rc != -b->code)
			fail_msg("%s: want code %d, got %d (%s)", b->json, b->code, -rc, err.msg);
		expect_error(rc, b->code, &err, b->msg);
		assert_null(c.priv);
	}
}

static void chain_ids_match_sha256sum(void **state)
{
	struct st_digest diff[3], chain[3], one;
	struct st_error err = ST_ERROR_INIT;

	(void)state;
	assert_int_equal(st_digest_parse_str(D1, &diff[0], NULL), 0);
	assert_int_equal(st_digest_parse_str(D2, &diff[1], NULL), 0);
	assert_int_equal(st_digest_parse_str(D3, &diff[2], NULL), 0);
	assert_int_equal(st_image_chain_ids(diff, 3, chain, &err), 0);
	assert_digest(&chain[0], D1);
	assert_digest(&chain[1], CHAIN2);
	assert_digest(&chain[2], CHAIN3);
	assert_int_equal(st_image_chain_id(diff, 3, &one, &err), 0);
	assert_digest(&one, CHAIN3);
	assert_int_equal(st_image_chain_id(diff, 1, &one, &err), 0);
	assert_digest(&one, D1);
	assert_int_equal(st_image_chain_id(diff, 0, &one, &err), -ST_EINVALID);
}

struct rank_case {
	const char *want, *os, *arch, *variant;
	int rank; /* -1: no match */
};

static const struct rank_case ranks[] = {
        {"linux/amd64", "linux", "amd64", NULL, 0},
        {"linux/amd64", "linux", "amd64", "v1", 0},
        {"linux/amd64", "linux", "386", NULL, 1},
        {"linux/amd64", "linux", "amd64", "v2", -1},
        {"linux/amd64", "linux", "arm64", NULL, -1},
        {"linux/amd64", "windows", "amd64", NULL, -1},
        {"linux/x86_64", "LINUX", "x86-64", NULL, 0},
        {"linux/amd64/v3", "linux", "amd64", "v3", 0},
        {"linux/amd64/v3", "linux", "amd64", "v2", 1},
        {"linux/amd64/v3", "linux", "amd64", NULL, 2},
        {"linux/amd64/v3", "linux", "386", NULL, 3},
        {"linux/amd64/v2", "linux", "amd64", "v3", -1},
        {"linux/arm/v7", "linux", "arm", "v7", 0},
        {"linux/arm/v7", "linux", "arm", NULL, 0},
        {"linux/arm/v7", "linux", "arm", "v6", 1},
        {"linux/arm/v7", "linux", "arm", "v5", 2},
        {"linux/arm/v6", "linux", "arm", "v7", -1},
        {"linux/armhf", "linux", "arm", "v7", 0},
        {"linux/arm64", "linux", "arm64", "v8", 0},
        {"linux/aarch64", "linux", "arm64", NULL, 0},
        {"linux/arm64", "linux", "arm", "v8", 1},
        {"linux/arm64", "linux", "arm", "v7", 2},
        {"linux/arm64/v8.2", "linux", "arm64", "v8.1", 1},
        {"linux/arm64/v8.2", "linux", "arm64", NULL, 2},
        {"linux/arm64/v9.1", "linux", "arm64", "v9", 1},
        {"linux/arm64/v9.1", "linux", "arm64", "v8.6", 2},
        {"linux/arm64", "linux", "arm64", "v8.1", -1},
};

static void platform_ranks_follow_containerd(void **state)
{
	char s[80];
	struct st_platform p, host;
	struct st_error err = ST_ERROR_INIT;

	(void)state;
	for (size_t i = 0; i < sizeof(ranks) / sizeof(ranks[0]); i++) {
		int rank;
		assert_int_equal(st_platform_parse(ranks[i].want, &p, &err), 0);
		rank = st_platform_rank(&p, ranks[i].os, ranks[i].arch, ranks[i].variant);
		if (rank != ranks[i].rank)
			fail_msg("%s vs %s/%s/%s: want rank %d, got %d", ranks[i].want, ranks[i].os,
			         ranks[i].arch, ranks[i].variant ? ranks[i].variant : "",
			         ranks[i].rank, rank);
	}
	assert_int_equal(st_platform_parse("linux/arm64/v8", &p, NULL), 0);
	st_platform_str(&p, s);
	assert_string_equal(s, "linux/arm64");
	assert_int_equal(st_platform_parse("linux", &p, &err), -ST_EINVALID);
	assert_int_equal(st_platform_parse("linux/amd64/v2/x", &p, &err), -ST_EINVALID);
	assert_int_equal(st_platform_parse("linux//v2", &p, &err), -ST_EINVALID);
	st_platform_host(&host);
#if defined(__x86_64__)
	st_platform_str(&host, s);
	assert_string_equal(s, "linux/amd64");
#endif
}

static void index_selects_the_best_platform(void **state)
{
	struct st_index ix;
	struct st_platform p;
	struct st_error err = ST_ERROR_INIT;

	(void)state;
	assert_int_equal(st_index_parse(DOCKER_LIST, strlen(DOCKER_LIST), NULL, &ix, NULL), 0);
	assert_int_equal(st_platform_parse("linux/amd64", &p, NULL), 0);
	assert_int_equal(st_index_select(&ix, &p, &err), 4);
	assert_int_equal(st_platform_parse("linux/arm/v7", &p, NULL), 0);
	assert_int_equal(st_index_select(&ix, &p, &err), 1);
	assert_int_equal(st_platform_parse("linux/arm/v8", &p, NULL), 0);
	assert_int_equal(st_index_select(&ix, &p, &err), 1); /* v7 beats v6 */
	assert_int_equal(st_platform_parse("linux/aarch64", &p, NULL), 0);
	assert_int_equal(st_index_select(&ix, &p, &err), 2);
	assert_int_equal(st_platform_parse("linux/amd64/v3", &p, NULL), 0);
	assert_int_equal(st_index_select(&ix, &p, &err), 4);
	assert_int_equal(st_platform_parse("linux/riscv64", &p, NULL), 0);
	expect_error(st_index_select(&ix, &p, &err), ST_ENOTFOUND, &err,
	             "no image for platform linux/riscv64");
	assert_non_null(strstr(err.msg, "linux/arm/v6, linux/arm/v7"));
	/* without amd64, an amd64 host falls back to 386 */
	ix.manifests[4].arch[0] = 'x';
	assert_int_equal(st_platform_parse("linux/amd64", &p, NULL), 0);
	assert_int_equal(st_index_select(&ix, &p, &err), 3);
	st_index_release(&ix);
}

/* ---- with a store ---- */

struct fixture {
	char *dir;
	struct st_store *store;
};

static int store_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || !(f->dir = unit_mkdtemp()) || st_store_open(f->dir, &f->store, NULL) < 0)
		return -1;
	*state = f;
	return 0;
}

static int store_teardown(void **state)
{
	struct fixture *f = *state;

	st_store_free(f->store);
	unit_rmtree(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

/* Puts a small fake layer and returns its descriptor and diffID (the layer is stored as is). */
static void put_layer(struct st_store *s, const char *content, struct st_descriptor *d,
                      struct st_digest *diff_id)
{
	memset(d, 0, sizeof(*d));
	assert_int_equal(st_store_put_blob(s, content, strlen(content), NULL, &d->digest, NULL), 0);
	d->media_type = strdup(ST_MT_OCI_LAYER);
	d->size = strlen(content);
	*diff_id = d->digest;
}

/* Writes a two-layer image; returns its manifest descriptor. */
static void write_image(struct st_store *s, const char *arch, const char *tag,
                        struct st_descriptor *out)
{
	struct st_image_config c;
	struct st_manifest m;
	struct st_descriptor l;
	struct st_digest diff;
	char content[64];

	assert_int_equal(st_image_config_init(&c, "linux", arch, NULL, NULL), 0);
	st_manifest_init(&m, ST_KIND_OCI_MANIFEST);
	for (int i = 0; i < 2; i++) {
		(void)snprintf(content, sizeof(content), "layer %d of %s %s", i, arch, tag);
		put_layer(s, content, &l, &diff);
		assert_int_equal(st_image_config_add_layer(&c, &diff, NULL, NULL), 0);
		assert_int_equal(st_manifest_add_layer(&m, &l, NULL), 0);
		st_descriptor_release(&l);
	}
	assert_int_equal(st_image_config_set_label(&c, "tag", tag, NULL), 0);
	assert_int_equal(st_image_write(s, &c, &m, out, NULL), 0);
	assert_string_equal(out->media_type, ST_MT_OCI_MANIFEST);
	st_manifest_release(&m);
	st_image_config_release(&c);
}

static void written_image_loads_verified(void **state)
{
	struct fixture *f = *state;
	struct st_descriptor d;
	struct st_image img;
	struct st_error err = ST_ERROR_INIT;

	write_image(f->store, "amd64", "one", &d);
	assert_int_equal(st_image_load(f->store, &d, NULL, &img, &err), 0);
	assert_false(img.from_index);
	assert_true(st_digest_equal(&img.desc.digest, &d.digest));
	assert_int_equal(img.manifest.n_layers, 2);
	assert_int_equal(img.config.n_diff_ids, 2);
	assert_string_equal(img.config.labels[0].value, "one");
	assert_string_equal(img.manifest.config.media_type, ST_MT_OCI_CONFIG);
	st_image_release(&img);

	/* a descriptor whose size lies is refused */
	d.size++;
	expect_error(st_image_load(f->store, &d, NULL, &img, &err), ST_EDIGEST, &err,
	             "its descriptor says");
	d.size -= 2;
	expect_error(st_image_load(f->store, &d, NULL, &img, &err), ST_EDIGEST, &err,
	             "its descriptor says");
	d.size -= 10;
	expect_error(st_image_load(f->store, &d, NULL, &img, &err), ST_EDIGEST, &err,
	             "larger than its descriptor");
	st_descriptor_release(&d);
}

static void manifest_with_wrong_config_digest_is_refused(void **state)
{
	struct fixture *f = *state;
	static const char cfg[] = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":"
	                          "{\"type\":\"layers\",\"diff_ids\":[]}}";
	struct st_manifest m;
	struct st_descriptor cd = {0}, md = {0};
	cleanup_buf struct st_buf raw = ST_BUF_INIT;
	struct st_image img;
	struct st_error err = ST_ERROR_INIT;

	/* the config descriptor names the digest of other bytes of the same size */
	assert_int_equal(st_store_put_blob(f->store, cfg, strlen(cfg), NULL, NULL, NULL), 0);
	assert_int_equal(st_digest_of(ST_DIGEST_SHA256, "x", 1, &cd.digest, NULL), 0);
	cd.media_type = (char *)ST_MT_OCI_CONFIG;
	cd.size = strlen(cfg);
	st_manifest_init(&m, ST_KIND_OCI_MANIFEST);
	assert_int_equal(st_manifest_set_config(&m, &cd, NULL), 0);
	assert_int_equal(st_manifest_dump(&m, &raw, NULL), 0);
	assert_int_equal(st_store_put_blob(f->store, raw.data, raw.len, NULL, &md.digest, NULL), 0);
	md.media_type = (char *)ST_MT_OCI_MANIFEST;
	md.size = raw.len;
	/* the blob "x" is absent */
	expect_error(st_image_load(f->store, &md, NULL, &img, &err), ST_ENOTFOUND, &err, "config");
	/* present but with other bytes under its name: put "x" under the config's digest by
	 * pointing the descriptor at the stored config, yet with the size of "x" */
	st_manifest_release(&m);
	assert_int_equal(st_digest_of(ST_DIGEST_SHA256, cfg, strlen(cfg), &cd.digest, NULL), 0);
	cd.size = 1;
	st_manifest_init(&m, ST_KIND_OCI_MANIFEST);
	assert_int_equal(st_manifest_set_config(&m, &cd, NULL), 0);
	st_buf_reset(&raw);
	assert_int_equal(st_manifest_dump(&m, &raw, NULL), 0);
	assert_int_equal(st_store_put_blob(f->store, raw.data, raw.len, NULL, &md.digest, NULL), 0);
	md.size = raw.len;
	expect_error(st_image_load(f->store, &md, NULL, &img, &err), ST_EDIGEST, &err, "config");
	st_manifest_release(&m);
}

static void index_resolves_to_the_host_and_gc_keeps_everything(void **state)
{
	struct fixture *f = *state;
	struct st_descriptor a, b, ixd = {0};
	struct st_index ix;
	struct st_image img;
	struct st_platform p;
	struct st_gc_stats stats = {0};
	struct st_error err = ST_ERROR_INIT;
	cleanup_buf struct st_buf raw = ST_BUF_INIT;
	struct st_digest stray;

	write_image(f->store, "arm64", "arm", &a);
	write_image(f->store, "amd64", "x86", &b);
	a.os = strdup("linux");
	a.arch = strdup("arm64");
	b.os = strdup("linux");
	b.arch = strdup("amd64");
	st_index_init(&ix, ST_KIND_OCI_INDEX);
	assert_int_equal(st_index_add_manifest(&ix, &a, NULL), 0);
	assert_int_equal(st_index_add_manifest(&ix, &b, NULL), 0);
	assert_int_equal(st_index_dump(&ix, &raw, NULL), 0);
	assert_int_equal(st_store_put_blob(f->store, raw.data, raw.len, NULL, &ixd.digest, NULL),
	                 0);
	ixd.media_type = strdup(ST_MT_OCI_INDEX);
	ixd.size = raw.len;

	assert_int_equal(st_platform_parse("linux/amd64", &p, NULL), 0);
	assert_int_equal(st_image_load(f->store, &ixd, &p, &img, &err), 0);
	assert_true(img.from_index);
	assert_true(st_digest_equal(&img.index_digest, &ixd.digest));
	assert_true(st_digest_equal(&img.desc.digest, &b.digest));
	assert_string_equal(img.config.labels[0].value, "x86");
	st_image_release(&img);
	assert_int_equal(st_platform_parse("linux/arm64/v8", &p, NULL), 0);
	assert_int_equal(st_image_load(f->store, &ixd, &p, &img, &err), 0);
	assert_string_equal(img.config.labels[0].value, "arm");
	st_image_release(&img);
	assert_int_equal(st_platform_parse("linux/s390x", &p, NULL), 0);
	expect_error(st_image_load(f->store, &ixd, &p, &img, &err), ST_ENOTFOUND, &err,
	             "linux/s390x");

	/* gc: the tagged index keeps both images (2 manifests, 2 configs, 4 layers); a stray
	 * blob goes */
	assert_int_equal(st_image_register_gc(f->store, &err), 0);
	assert_int_equal(st_store_tag(f->store, "example.com/multi:1", &ixd, &err), 0);
	assert_int_equal(st_store_put_blob(f->store, "stray", 5, NULL, &stray, NULL), 0);
	assert_int_equal(st_store_gc(f->store, &stats, &err), 0);
	assert_false(st_store_has_blob(f->store, &stray));
	assert_true(st_store_has_blob(f->store, &ixd.digest));
	assert_int_equal(st_image_load(f->store, &ixd, NULL, &img, &err), 0);
	for (size_t i = 0; i < img.manifest.n_layers; i++)
		assert_true(st_store_has_blob(f->store, &img.manifest.layers[i].digest));
	st_image_release(&img);
	assert_int_equal(st_platform_parse("linux/arm64", &p, NULL), 0);
	assert_int_equal(st_image_load(f->store, &ixd, &p, &img, &err), 0);
	st_image_release(&img);

	/* untagged, everything goes */
	assert_int_equal(st_store_untag(f->store, "example.com/multi:1", &err), 0);
	assert_true(st_store_prune_untagged(f->store, &err) >= 0);
	memset(&stats, 0, sizeof(stats));
	assert_int_equal(st_store_gc(f->store, &stats, &err), 0);
	assert_false(st_store_has_blob(f->store, &ixd.digest));
	assert_false(st_store_has_blob(f->store, &a.digest));
	st_index_release(&ix);
	st_descriptor_release(&a);
	st_descriptor_release(&b);
	st_descriptor_release(&ixd);
}

/* Reads a blob and gunzips it with gzip(1). */
static char *gunzip_blob(struct fixture *f, const struct st_digest *d)
{
	cleanup_buf struct st_buf raw = ST_BUF_INIT;
	char *in, *cmd, *out = calloc(1, 256);
	FILE *p;

	assert_int_equal(st_store_read_blob(f->store, d, 0, &raw, NULL), 0);
	assert_true(asprintf(&in, "%s/gz.in", f->dir) > 0);
	unit_write_file(in, raw.data, raw.len);
	assert_true(asprintf(&cmd, "gzip -t '%s' 2>&1 && gzip -dc < '%s'", in, in) > 0);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_true(fread(out, 1, 255, p) > 0);
	assert_int_equal(pclose(p), 0);
	free(in), free(cmd);
	return out;
}

static void plain_layers_are_compressed_once_and_gc_keeps_them_with_their_tar(void **state)
{
	struct fixture *f = *state;
	struct st_descriptor d, z, z2, zs;
	struct st_image plain, packed;
	struct st_gc_stats stats = {0};
	struct st_error err = ST_ERROR_INIT;
	struct st_digest sib[2];
	struct stat rec1, rec2;
	char *rec, hex[ST_DIGEST_STR_MAX];

	write_image(f->store, "amd64", "one", &d);
	assert_int_equal(st_image_compress(f->store, &d, ST_LAYER_COMPRESS_GZIP, &z, &err), 0);
	assert_false(st_digest_equal(&z.digest, &d.digest));
	assert_int_equal(st_image_load(f->store, &d, NULL, &plain, &err), 0);
	assert_int_equal(st_image_load(f->store, &z, NULL, &packed, &err), 0);
	/* same config (image ID), layers gzip whose bytes gunzip to the tars */
	assert_true(st_digest_equal(&plain.manifest.config.digest, &packed.manifest.config.digest));
	for (size_t i = 0; i < 2; i++) {
		cleanup_buf struct st_buf tar = ST_BUF_INIT;
		char *back = gunzip_blob(f, &packed.manifest.layers[i].digest);

		assert_string_equal(packed.manifest.layers[i].media_type, ST_MT_OCI_LAYER_GZIP);
		assert_non_null(st_descriptor_annotation(&packed.manifest.layers[i],
		                                         ST_ANNOT_LAYER_COMPRESSOR));
		assert_int_equal(st_store_read_blob(f->store, &plain.manifest.layers[i].digest, 0,
		                                    &tar, NULL),
		                 0);
		assert_int_equal(strlen(back), tar.len);
		assert_memory_equal(back, tar.data, tar.len);
		sib[i] = packed.manifest.layers[i].digest;
		free(back);
	}
	/* the second time is a lookup: same manifest, record untouched */
	st_digest_str(&plain.manifest.layers[0].digest, hex);
	assert_true(asprintf(&rec, "%s/compressed/gzip/%s", f->dir, strchr(hex, ':') + 1) > 0);
	assert_int_equal(stat(rec, &rec1), 0);
	assert_int_equal(st_image_compress(f->store, &d, ST_LAYER_COMPRESS_GZIP, &z2, &err), 0);
	assert_true(st_digest_equal(&z.digest, &z2.digest));
	assert_int_equal(stat(rec, &rec2), 0);
	assert_int_equal(rec1.st_ino, rec2.st_ino);
	/* compressing the compressed image changes nothing */
	st_descriptor_release(&z2);
	assert_int_equal(st_image_compress(f->store, &z, ST_LAYER_COMPRESS_ZSTD, &z2, &err), 0);
	assert_true(st_digest_equal(&z.digest, &z2.digest));
	st_descriptor_release(&z2);
	/* zstd siblings are separate */
	assert_int_equal(st_image_compress(f->store, &d, ST_LAYER_COMPRESS_ZSTD, &zs, &err), 0);
	assert_false(st_digest_equal(&zs.digest, &z.digest));

	/* gc: the tagged plain image keeps its siblings (the compressed manifests go: nothing
	 * references them) */
	assert_int_equal(st_image_register_gc(f->store, &err), 0);
	assert_int_equal(st_store_tag(f->store, "example.com/plain:1", &d, &err), 0);
	assert_int_equal(st_store_gc(f->store, &stats, &err), 0);
	assert_true(st_store_has_blob(f->store, &sib[0]) && st_store_has_blob(f->store, &sib[1]));
	assert_false(st_store_has_blob(f->store, &z.digest));
	assert_int_equal(access(rec, F_OK), 0);
	/* made again after gc: the same digest */
	assert_int_equal(st_image_compress(f->store, &d, ST_LAYER_COMPRESS_GZIP, &z2, &err), 0);
	assert_true(st_digest_equal(&z.digest, &z2.digest));
	st_descriptor_release(&z2);
	/* untagged: the tars, the siblings and the records go */
	assert_int_equal(st_store_untag(f->store, "example.com/plain:1", &err), 0);
	assert_int_equal(st_store_gc(f->store, &stats, &err), 0);
	assert_false(st_store_has_blob(f->store, &sib[0]));
	assert_false(st_store_has_blob(f->store, &plain.manifest.layers[0].digest));
	assert_int_equal(access(rec, F_OK), -1);
	/* no compression is refused */
	expect_error(st_image_compress(f->store, &d, ST_LAYER_COMPRESS_NONE, &z2, &err),
	             ST_EINVALID, &err, "gzip or zstd");
	st_image_release(&plain);
	st_image_release(&packed);
	st_descriptor_release(&d);
	st_descriptor_release(&z);
	st_descriptor_release(&zs);
	free(rec);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(oci_manifest_parses_with_identity_of_its_bytes),
	        cmocka_unit_test(docker_manifest_and_list_parse),
	        cmocka_unit_test(schema1_is_refused_clearly),
	        cmocka_unit_test(bad_manifests_name_the_field),
	        cmocka_unit_test(manifest_without_media_type_is_detected_by_structure),
	        cmocka_unit_test(artifacts_are_not_images),
	        cmocka_unit_test(built_manifest_is_canonical),
	        cmocka_unit_test(built_index_is_canonical),
	        cmocka_unit_test(config_parses_every_field),
	        cmocka_unit_test(config_edits_keep_unknown_fields_and_are_canonical),
	        cmocka_unit_test(config_setters_cover_the_dockerfile_fields),
	        cmocka_unit_test(bad_configs_name_the_field),
	        cmocka_unit_test(chain_ids_match_sha256sum),
	        cmocka_unit_test(platform_ranks_follow_containerd),
	        cmocka_unit_test(index_selects_the_best_platform),
	        cmocka_unit_test_setup_teardown(written_image_loads_verified, store_setup,
	                                        store_teardown),
	        cmocka_unit_test_setup_teardown(manifest_with_wrong_config_digest_is_refused,
	                                        store_setup, store_teardown),
	        cmocka_unit_test_setup_teardown(
	                plain_layers_are_compressed_once_and_gc_keeps_them_with_their_tar,
	                store_setup, store_teardown),
	        cmocka_unit_test_setup_teardown(index_resolves_to_the_host_and_gc_keeps_everything,
	                                        store_setup, store_teardown),
	};
	return cmocka_run_group_tests_name("image", tests, NULL, NULL);
}
