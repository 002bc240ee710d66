/* layer/archive-api.h: libarchive, loaded on first use. Mapping libarchive costs every `strata`
 * process ~3 ms at start (it pulls in libxml2, ICU and libstdc++), and only the commands that
 * read or write tar streams need it (layer create and apply, save, ADD of archives), so its
 * users (layer/, archive/, build/) reach it through this table, filled by dlopen() the first time
 * an archive or entry is made: archive_read_new(), archive_write_new(), archive_write_disk_new()
 * and archive_entry_new() load it and return NULL when it cannot be loaded (st_libarchive_load
 * tells why); every other call takes an object one of them made. Include this, never <archive.h> or
 * <archive_entry.h>. */
#ifndef ST_ARCHIVE_API_H
#define ST_ARCHIVE_API_H

#include <archive.h>
#include <archive_entry.h>

#include "strata/common.h"

struct st_libarchive_api {
	struct archive_entry *(*entry_clear)(struct archive_entry *);
	void (*entry_copy_hardlink)(struct archive_entry *, const char *);
	void (*entry_copy_pathname)(struct archive_entry *, const char *);
	void (*entry_copy_symlink)(struct archive_entry *, const char *);
	mode_t (*entry_filetype)(struct archive_entry *);
	void (*entry_free)(struct archive_entry *);
	la_int64_t (*entry_gid)(struct archive_entry *);
	const char *(*entry_hardlink)(struct archive_entry *);
	time_t (*entry_mtime)(struct archive_entry *);
	int (*entry_mtime_is_set)(struct archive_entry *);
	long (*entry_mtime_nsec)(struct archive_entry *);
	struct archive_entry *(*entry_new)(void);
	const char *(*entry_pathname)(struct archive_entry *);
	mode_t (*entry_perm)(struct archive_entry *);
	dev_t (*entry_rdevmajor)(struct archive_entry *);
	dev_t (*entry_rdevminor)(struct archive_entry *);
	void (*entry_set_filetype)(struct archive_entry *, unsigned int);
	void (*entry_set_gid)(struct archive_entry *, la_int64_t);
	void (*entry_set_mode)(struct archive_entry *, mode_t);
	void (*entry_set_mtime)(struct archive_entry *, time_t, long);
	void (*entry_set_pathname)(struct archive_entry *, const char *);
	void (*entry_set_perm)(struct archive_entry *, mode_t);
	void (*entry_set_rdevmajor)(struct archive_entry *, dev_t);
	void (*entry_set_rdevminor)(struct archive_entry *, dev_t);
	void (*entry_set_size)(struct archive_entry *, la_int64_t);
	void (*entry_set_uid)(struct archive_entry *, la_int64_t);
	la_int64_t (*entry_size)(struct archive_entry *);
	int (*entry_sparse_count)(struct archive_entry *);
	const char *(*entry_symlink)(struct archive_entry *);
	la_int64_t (*entry_uid)(struct archive_entry *);
	void (*entry_xattr_add_entry)(struct archive_entry *, const char *, const void *, size_t);
	int (*entry_xattr_next)(struct archive_entry *, const char **, const void **, size_t *);
	int (*entry_xattr_reset)(struct archive_entry *);
	const char *(*error_string)(struct archive *);
	la_ssize_t (*read_data)(struct archive *, void *, size_t);
	int (*read_data_block)(struct archive *, const void **, size_t *, la_int64_t *);
	int (*read_free)(struct archive *);
	struct archive *(*read_new)(void);
	int (*read_next_header)(struct archive *, struct archive_entry **);
	int (*read_next_header2)(struct archive *, struct archive_entry *);
	int (*read_open)(struct archive *, void *, archive_open_callback *, archive_read_callback *,
	                 archive_close_callback *);
	int (*read_open_fd)(struct archive *, int, size_t);
	int (*read_support_filter_bzip2)(struct archive *);
	int (*read_support_filter_gzip)(struct archive *);
	int (*read_support_filter_xz)(struct archive *);
	int (*read_support_filter_zstd)(struct archive *);
	int (*read_support_format_raw)(struct archive *);
	int (*read_support_format_tar)(struct archive *);
	const char *(*version_details)(void);
	int (*write_add_filter_none)(struct archive *);
	int (*write_close)(struct archive *);
	la_ssize_t (*write_data)(struct archive *, const void *, size_t);
	struct archive *(*write_disk_new)(void);
	int (*write_disk_set_options)(struct archive *, int);
	int (*write_free)(struct archive *);
	int (*write_header)(struct archive *, struct archive_entry *);
	struct archive *(*write_new)(void);
	int (*write_open2)(struct archive *, void *, archive_open_callback *,
	                   archive_write_callback *, archive_close_callback *,
	                   archive_free_callback *);
	int (*write_open_fd)(struct archive *, int);
	int (*write_set_bytes_in_last_block)(struct archive *, int);
	int (*write_set_format_option)(struct archive *, const char *, const char *, const char *);
	int (*write_set_format_pax_restricted)(struct archive *);
	int (*write_set_format_ustar)(struct archive *);
};

extern struct st_libarchive_api st_libarchive;

/* Loads libarchive once; -ST_EUNSUPPORTED naming what is missing. */
int st_libarchive_load(struct st_error *err);
/* The table when libarchive is loaded (loading it now if need be), else NULL. */
const struct st_libarchive_api *st_libarchive_api(void);

static inline struct archive *st_libarchive_read_new(void)
{
	return st_libarchive_api() ? st_libarchive.read_new() : NULL;
}
static inline struct archive *st_libarchive_write_new(void)
{
	return st_libarchive_api() ? st_libarchive.write_new() : NULL;
}
static inline struct archive *st_libarchive_write_disk_new(void)
{
	return st_libarchive_api() ? st_libarchive.write_disk_new() : NULL;
}
static inline struct archive_entry *st_libarchive_entry_new(void)
{
	return st_libarchive_api() ? st_libarchive.entry_new() : NULL;
}
static inline const char *st_libarchive_version_details(void)
{
	return st_libarchive_api() ? st_libarchive.version_details() : "libarchive: not loadable";
}
/* NULL (nothing was made, maybe because libarchive could not be loaded) is a no-op */
static inline int st_libarchive_read_free(struct archive *a)
{
	return a ? st_libarchive.read_free(a) : ARCHIVE_OK;
}
static inline int st_libarchive_write_free(struct archive *a)
{
	return a ? st_libarchive.write_free(a) : ARCHIVE_OK;
}
static inline void st_libarchive_entry_free(struct archive_entry *e)
{
	if (e)
		st_libarchive.entry_free(e);
}

#define archive_read_new() st_libarchive_read_new()
#define archive_write_new() st_libarchive_write_new()
#define archive_write_disk_new() st_libarchive_write_disk_new()
#define archive_entry_new() st_libarchive_entry_new()
#define archive_version_details() st_libarchive_version_details()
#define archive_read_free(a) st_libarchive_read_free(a)
#define archive_write_free(a) st_libarchive_write_free(a)
#define archive_entry_free(e) st_libarchive_entry_free(e)
#define archive_entry_clear(...) st_libarchive.entry_clear(__VA_ARGS__)
#define archive_entry_copy_hardlink(...) st_libarchive.entry_copy_hardlink(__VA_ARGS__)
#define archive_entry_copy_pathname(...) st_libarchive.entry_copy_pathname(__VA_ARGS__)
#define archive_entry_copy_symlink(...) st_libarchive.entry_copy_symlink(__VA_ARGS__)
#define archive_entry_filetype(...) st_libarchive.entry_filetype(__VA_ARGS__)
#define archive_entry_gid(...) st_libarchive.entry_gid(__VA_ARGS__)
#define archive_entry_hardlink(...) st_libarchive.entry_hardlink(__VA_ARGS__)
#define archive_entry_mtime(...) st_libarchive.entry_mtime(__VA_ARGS__)
#define archive_entry_mtime_is_set(...) st_libarchive.entry_mtime_is_set(__VA_ARGS__)
#define archive_entry_mtime_nsec(...) st_libarchive.entry_mtime_nsec(__VA_ARGS__)
#define archive_entry_pathname(...) st_libarchive.entry_pathname(__VA_ARGS__)
#define archive_entry_perm(...) st_libarchive.entry_perm(__VA_ARGS__)
#define archive_entry_rdevmajor(...) st_libarchive.entry_rdevmajor(__VA_ARGS__)
#define archive_entry_rdevminor(...) st_libarchive.entry_rdevminor(__VA_ARGS__)
#define archive_entry_set_filetype(...) st_libarchive.entry_set_filetype(__VA_ARGS__)
#define archive_entry_set_gid(...) st_libarchive.entry_set_gid(__VA_ARGS__)
#define archive_entry_set_mode(...) st_libarchive.entry_set_mode(__VA_ARGS__)
#define archive_entry_set_mtime(...) st_libarchive.entry_set_mtime(__VA_ARGS__)
#define archive_entry_set_pathname(...) st_libarchive.entry_set_pathname(__VA_ARGS__)
#define archive_entry_set_perm(...) st_libarchive.entry_set_perm(__VA_ARGS__)
#define archive_entry_set_rdevmajor(...) st_libarchive.entry_set_rdevmajor(__VA_ARGS__)
#define archive_entry_set_rdevminor(...) st_libarchive.entry_set_rdevminor(__VA_ARGS__)
#define archive_entry_set_size(...) st_libarchive.entry_set_size(__VA_ARGS__)
#define archive_entry_set_uid(...) st_libarchive.entry_set_uid(__VA_ARGS__)
#define archive_entry_size(...) st_libarchive.entry_size(__VA_ARGS__)
#define archive_entry_sparse_count(...) st_libarchive.entry_sparse_count(__VA_ARGS__)
#define archive_entry_symlink(...) st_libarchive.entry_symlink(__VA_ARGS__)
#define archive_entry_uid(...) st_libarchive.entry_uid(__VA_ARGS__)
#define archive_entry_xattr_add_entry(...) st_libarchive.entry_xattr_add_entry(__VA_ARGS__)
#define archive_entry_xattr_next(...) st_libarchive.entry_xattr_next(__VA_ARGS__)
#define archive_entry_xattr_reset(...) st_libarchive.entry_xattr_reset(__VA_ARGS__)
#define archive_error_string(...) st_libarchive.error_string(__VA_ARGS__)
#define archive_read_data(...) st_libarchive.read_data(__VA_ARGS__)
#define archive_read_data_block(...) st_libarchive.read_data_block(__VA_ARGS__)
#define archive_read_next_header(...) st_libarchive.read_next_header(__VA_ARGS__)
#define archive_read_next_header2(...) st_libarchive.read_next_header2(__VA_ARGS__)
#define archive_read_open(...) st_libarchive.read_open(__VA_ARGS__)
#define archive_read_open_fd(...) st_libarchive.read_open_fd(__VA_ARGS__)
#define archive_read_support_filter_bzip2(...) st_libarchive.read_support_filter_bzip2(__VA_ARGS__)
#define archive_read_support_filter_gzip(...) st_libarchive.read_support_filter_gzip(__VA_ARGS__)
#define archive_read_support_filter_xz(...) st_libarchive.read_support_filter_xz(__VA_ARGS__)
#define archive_read_support_filter_zstd(...) st_libarchive.read_support_filter_zstd(__VA_ARGS__)
#define archive_read_support_format_raw(...) st_libarchive.read_support_format_raw(__VA_ARGS__)
#define archive_read_support_format_tar(...) st_libarchive.read_support_format_tar(__VA_ARGS__)
#define archive_write_add_filter_none(...) st_libarchive.write_add_filter_none(__VA_ARGS__)
#define archive_write_close(...) st_libarchive.write_close(__VA_ARGS__)
#define archive_write_data(...) st_libarchive.write_data(__VA_ARGS__)
#define archive_write_disk_set_options(...) st_libarchive.write_disk_set_options(__VA_ARGS__)
#define archive_write_header(...) st_libarchive.write_header(__VA_ARGS__)
#define archive_write_open2(...) st_libarchive.write_open2(__VA_ARGS__)
#define archive_write_open_fd(...) st_libarchive.write_open_fd(__VA_ARGS__)
#define archive_write_set_bytes_in_last_block(...) \
	st_libarchive.write_set_bytes_in_last_block(__VA_ARGS__)
#define archive_write_set_format_option(...) st_libarchive.write_set_format_option(__VA_ARGS__)
#define archive_write_set_format_pax_restricted(...) \
	st_libarchive.write_set_format_pax_restricted(__VA_ARGS__)
#define archive_write_set_format_ustar(...) st_libarchive.write_set_format_ustar(__VA_ARGS__)

#endif
