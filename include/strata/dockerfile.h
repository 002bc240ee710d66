/* include/strata/dockerfile.h: the Dockerfile front end: parser (BuildKit-compatible AST, dump and
 * JSON forms), word expansion (BuildKit's shell lexer), ARG/ENV scoping across stages, and the
 * .dockerignore matcher with a directory walker. Nothing here runs a build. */
#ifndef ST_DOCKERFILE_H
#define ST_DOCKERFILE_H

#include <stdbool.h>

#include "strata/buf.h"
#include "strata/common.h"

/* Limits on untrusted input; going past one is -ST_ELIMIT with the limit in the message. */
#define ST_DF_MAX_FILE (32u << 20)   /* bytes in a Dockerfile */
#define ST_DF_MAX_LINE 65535u        /* bytes in one physical line (BuildKit's scanner cap) */
#define ST_DF_MAX_LOGICAL (1u << 20) /* bytes in one instruction after joining continuations */
#define ST_DF_MAX_NESTING 8          /* ONBUILD ONBUILD ... depth */
#define ST_SHLEX_MAX_DEPTH 64        /* ${a:-${b:-...}} nesting in one word */
#define ST_DOCKERIGNORE_MAX_PATTERNS 100000

/* ---- Parser ------------------------------------------------------------------------------ */

enum st_df_cmd {
	ST_DF_UNKNOWN = 0, /* only with ST_DF_PARSE_ALLOW_UNKNOWN */
	ST_DF_ADD,
	ST_DF_ARG,
	ST_DF_CMD,
	ST_DF_COPY,
	ST_DF_ENTRYPOINT,
	ST_DF_ENV,
	ST_DF_EXPOSE,
	ST_DF_FROM,
	ST_DF_HEALTHCHECK,
	ST_DF_LABEL,
	ST_DF_MAINTAINER,
	ST_DF_ONBUILD,
	ST_DF_RUN,
	ST_DF_SHELL,
	ST_DF_STOPSIGNAL,
	ST_DF_USER,
	ST_DF_VOLUME,
	ST_DF_WORKDIR,
};

struct st_df_heredoc {
	const char *name;    /* delimiter word, quotes removed */
	const char *content; /* body lines, each with its newline; leading tabs kept (see chomp) */
	uint64_t fd;         /* the N of N<<EOF, else 0 */
	bool expand;         /* delimiter unquoted: variables in the body are expanded */
	bool chomp;          /* <<-EOF: leading tabs are to be stripped */
};

/* One instruction. Arguments follow BuildKit's node shapes: shell form is one string, JSON form
 * one per element, ENV/LABEL are (key, value, separator) triples, HEALTHCHECK is the type then
 * the command, ONBUILD has no args and `sub` instead. Nothing is variable-expanded. */
struct st_df_instr {
	enum st_df_cmd cmd;
	const char *keyword;  /* as written ("Run") */
	const char *original; /* the logical line, continuations joined */
	const char **flags;   /* "--from=build", as written minus quoting */
	size_t n_flags;
	const char **args;
	const size_t *arg_lens; /* lengths: a JSON-form argument may hold "\u0000" */
	size_t n_args;
	bool json;                     /* exec (JSON array) form */
	const struct st_df_instr *sub; /* ONBUILD's instruction, else NULL */
	const struct st_df_heredoc *heredocs;
	size_t n_heredocs;
	const char **comments; /* the comment block above, '#' and spaces trimmed */
	size_t n_comments;
	int start_line, end_line; /* 1-based, inclusive, heredoc bodies included */
};

struct st_df_directive {
	const char *name; /* "syntax", "escape" or "check", lowercased */
	const char *value;
	int line;
};

struct st_df_warning {
	const char *msg;
	int line;
};

struct st_dockerfile {
	const char *name; /* as given to the parser; used in messages */
	char escape;      /* '\\' or '`' */
	const struct st_df_instr *instrs;
	size_t n_instrs;
	const struct st_df_directive *directives;
	size_t n_directives;
	const struct st_df_warning *warnings;
	size_t n_warnings;
	struct st_df_arena *arena; /* owns every string and array above */
};

enum st_df_parse_flags {
	/* Keep instructions BuildKit's parser ignores (dumped as BuildKit does) instead of
	 * failing with "unknown instruction". */
	ST_DF_PARSE_ALLOW_UNKNOWN = 1 << 0,
};

/* Parses data[0..len) (NUL bytes allowed). `name` ("Dockerfile") prefixes error messages as
 * "name:LINE: ...". Free *out with st_dockerfile_free(). -ST_EINVALID for a Dockerfile BuildKit
 * refuses (or an unknown instruction), -ST_ELIMIT past a limit above, -ST_ENOMEM. */
ST_API int st_dockerfile_parse(const char *data, size_t len, const char *name, unsigned flags,
                               struct st_dockerfile **out, struct st_error *err) ST_NODISCARD;
ST_API void st_dockerfile_free(struct st_dockerfile *df); /* NULL is a no-op */

/* Appends BuildKit's AST.Dump() text (one "(cmd ...)" line per instruction, final newline). */
ST_API int st_dockerfile_dump(const struct st_dockerfile *df, struct st_buf *out,
                              struct st_error *err);
/* Appends the AST as one JSON document (directives, instructions with lines, flags, args,
 * heredocs, comments; warnings). */
ST_API int st_dockerfile_to_json(const struct st_dockerfile *df, struct st_buf *out,
                                 struct st_error *err);
/* The instruction checks BuildKit makes after parsing: argument counts, flags known to each
 * instruction, FROM ... AS name, HEALTHCHECK type and durations, SHELL in JSON form, ONBUILD
 * restrictions, nothing but ARG before the first FROM. -ST_EINVALID naming file:line. */
ST_API int st_dockerfile_validate(const struct st_dockerfile *df, struct st_error *err);

ST_API const char *st_df_cmd_name(enum st_df_cmd cmd); /* "copy"; "" for ST_DF_UNKNOWN */
/* The instruction for a keyword, case-insensitively; ST_DF_UNKNOWN if none. */
ST_API enum st_df_cmd st_df_cmd_lookup(const char *keyword, size_t len);
/* Appends Go's strconv.Quote(s) (the dump's quoting). */
ST_API int st_df_quote(const char *s, size_t len, struct st_buf *out, struct st_error *err);

/* Appends s with every byte that is not part of valid UTF-8 replaced by U+FFFD (as Go converts
 * bytes to runes); JSON output needs this. */
ST_API int st_df_to_utf8(const char *s, size_t len, struct st_buf *out, struct st_error *err);

/* ---- Word expansion (BuildKit's shell lexer) ------------------------------------------- */

/* Looks `name` up; returns true and sets *value (borrowed, NUL-terminated) when set. */
typedef bool (*st_shlex_lookup_fn)(void *ctx, const char *name, size_t name_len,
                                   const char **value);

enum st_shlex_flags {
	ST_SHLEX_RAW_QUOTES = 1 << 0,  /* keep quote characters in the result */
	ST_SHLEX_RAW_ESCAPES = 1 << 1, /* keep escape characters in the result */
	ST_SHLEX_SKIP_UNSET = 1 << 2,  /* leave $UNSET and ${UNSET...} as written */
	ST_SHLEX_SKIP_QUOTES = 1 << 3, /* quotes are ordinary characters */
};

struct st_shlex {
	char escape;    /* '\\' or '`' */
	unsigned flags; /* enum st_shlex_flags */
	st_shlex_lookup_fn lookup;
	void *lookup_ctx;
};

/* struct st_strv (a list of strings) is in strata/buf.h. */

/* Expands one word: quotes removed, variables substituted, no field splitting. Appends to
 * out. -ST_EINVALID with BuildKit's message ("failed to process \"${X:?}\": X: is not allowed to
 * be unset"), -ST_ELIMIT past ST_SHLEX_MAX_DEPTH. */
ST_API int st_shlex_word(const struct st_shlex *lx, const char *in, size_t len, struct st_buf *out,
                         struct st_error *err);
/* Expands and splits into fields where BuildKit splits (unquoted white space, including inside
 * unquoted variable values). Appends to out. */
ST_API int st_shlex_words(const struct st_shlex *lx, const char *in, size_t len,
                          struct st_strv *out, struct st_error *err);

/* ---- Environments, ARG/ENV scoping ------------------------------------------------------ */

/* Ordered NAME=VALUE list, names case-sensitive (Linux). */
struct st_df_env {
	char **names, **values;
	size_t n, cap;
};
#define ST_DF_ENV_INIT           \
	{                        \
		NULL, NULL, 0, 0 \
	}
ST_API int st_df_env_set(struct st_df_env *env, const char *name, const char *value,
                         struct st_error *err);
ST_API const char *st_df_env_get(const struct st_df_env *env, const char *name, size_t len);
ST_API int st_df_env_copy(struct st_df_env *dst, const struct st_df_env *src, struct st_error *err);
ST_API void st_df_env_release(struct st_df_env *env);
/* An st_shlex_lookup_fn over a `const struct st_df_env *` ctx. */
ST_API bool st_df_env_lookup(void *ctx, const char *name, size_t name_len, const char **value);

struct st_df_eval_opts {
	const struct st_df_env *build_args; /* --build-arg NAME=VALUE, may be NULL */
	const char *target_platform;        /* "linux/amd64", "linux/arm64/v8"; NULL: host */
	const char *build_platform;         /* NULL: host */
};

/* One instruction after expansion with the variables in scope at that point. */
struct st_df_eval_instr {
	const struct st_df_instr *instr;
	int stage;            /* index into stages, -1 for global ARGs */
	struct st_strv args;  /* expanded arguments (unexpanded copies where BuildKit does not
	                       * expand: RUN, CMD, ENTRYPOINT, SHELL, HEALTHCHECK, ONBUILD) */
	struct st_strv flags; /* flags with values expanded ("--from=build") */
	/* COPY/ADD: each heredoc's body as its file gets it: leading tabs stripped for <<-, then,
	 * unless the delimiter was quoted, variables expanded as BuildKit's ExpandRaw does ('\\'
	 * escapes, quotes kept as ordinary characters) */
	struct st_strv heredocs;
};

struct st_df_stage {
	char *name;               /* AS name, lowercased, or NULL */
	char *base;               /* FROM image after expansion with global ARGs */
	int base_stage;           /* the earlier stage named by base, or -1 */
	char *platform;           /* FROM --platform after expansion, or NULL */
	struct st_df_env env;     /* ENV at the end of the stage, inherited ENV included */
	struct st_df_env args;    /* ARGs in scope at the end of the stage */
	struct st_df_env run_env; /* what RUN sees: args, then env (env wins), proxy args */
};

struct st_df_eval {
	struct st_df_env globals; /* global ARGs (with build-arg overrides) + predefined ARGs */
	struct st_df_stage *stages;
	size_t n_stages;
	struct st_df_eval_instr *instrs; /* one per df->instrs entry */
	size_t n_instrs;
};

/* Walks the stages applying BuildKit's ARG/ENV rules: global ARGs reach FROM lines only unless
 * re-declared (ARG NAME) in a stage; --build-arg overrides defaults; TARGET and BUILD platform
 * ARGs are predefined; proxy ARGs reach RUN without declaration; ENV wins over ARG and is
 * inherited by stages built FROM an earlier stage. Free *out with st_df_eval_free(). */
ST_API int st_df_eval_run(const struct st_dockerfile *df, const struct st_df_eval_opts *opts,
                          struct st_df_eval **out, struct st_error *err) ST_NODISCARD;
ST_API void st_df_eval_free(struct st_df_eval *ev);

/* ---- .dockerignore ---------------------------------------------------------------------- */

struct st_dockerignore;

/* Parses a .dockerignore (comments, blank lines, leading "/" and "./" cleaned, "!" exceptions).
 * -ST_EINVALID for a bad pattern (names the line), -ST_ELIMIT. */
ST_API int st_dockerignore_parse(const char *data, size_t len, const char *name,
                                 struct st_dockerignore **out, struct st_error *err) ST_NODISCARD;
/* Builds a matcher from patterns already split into lines (same cleaning). */
ST_API int st_dockerignore_new(const char *const *patterns, size_t n, struct st_dockerignore **out,
                               struct st_error *err) ST_NODISCARD;
ST_API void st_dockerignore_free(struct st_dockerignore *di);
/* True when the slash-separated, context-relative `path` is excluded: the last pattern that
 * matches it or one of its parent directories wins. "." is never excluded. */
ST_API bool st_dockerignore_match(const struct st_dockerignore *di, const char *path);
/* True when an exception ("!pattern") could re-include something below the directory `dir`
 * (so a walker must descend into it although it is excluded). */
ST_API bool st_dockerignore_may_include_below(const struct st_dockerignore *di, const char *dir);
ST_API size_t st_dockerignore_count(const struct st_dockerignore *di);

/* Picks the ignore file for a build: "<dockerfile>.dockerignore" next to the Dockerfile wins over
 * "<context>/.dockerignore". Sets *out to a malloc'd path, or NULL when neither exists. */
ST_API int st_dockerignore_locate(const char *context_dir, const char *dockerfile_path, char **out,
                                  struct st_error *err);

/* Called for every entry the walk keeps, parents before children; `rel` is context-relative
 * and slash-separated. A non-zero return stops the walk and is returned. */
typedef int (*st_dockerignore_walk_fn)(void *ctx, const char *rel, bool is_dir,
                                       struct st_error *err);
/* Walks `root` (no symlink following), skipping excluded entries and not descending into an
 * excluded directory unless an exception may re-include something below it. */
ST_API int st_dockerignore_walk(const struct st_dockerignore *di, const char *root,
                                st_dockerignore_walk_fn fn, void *ctx, struct st_error *err);

#endif
