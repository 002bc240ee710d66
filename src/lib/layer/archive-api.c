/* archive-api.c: the libarchive table of archive-api.h, filled by dlopen() on first use. */
#include "layer/archive-api.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#include "util/banned.h" /* last: it poisons names the system headers use */

struct st_libarchive_api st_libarchive;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char load_error[256];

#define SYM(field, name)                            \
	{                                           \
		(void **)&st_libarchive.field, name \
	}

static void load(void)
{
	const struct {
		void **slot;
		const char *name;
	} syms[] = {
	        SYM(entry_clear, "archive_entry_clear"),
	        SYM(entry_copy_hardlink, "archive_entry_copy_hardlink"),
	        SYM(entry_copy_pathname, "archive_entry_copy_pathname"),
	        SYM(entry_copy_symlink, "archive_entry_copy_symlink"),
	        SYM(entry_filetype, "archive_entry_filetype"),
	        SYM(entry_free, "archive_entry_free"),
	        SYM(entry_gid, "archive_entry_gid"),
	        SYM(entry_hardlink, "archive_entry_hardlink"),
	        SYM(entry_mtime, "archive_entry_mtime"),
	        SYM(entry_mtime_is_set, "archive_entry_mtime_is_set"),
	        SYM(entry_mtime_nsec, "archive_entry_mtime_nsec"),
	        SYM(entry_new, "archive_entry_new"),
	        SYM(entry_pathname, "archive_entry_pathname"),
	        SYM(entry_perm, "archive_entry_perm"),
	        SYM(entry_rdevmajor, "archive_entry_rdevmajor"),
	        SYM(entry_rdevminor, "archive_entry_rdevminor"),
	        SYM(entry_set_filetype, "archive_entry_set_filetype"),
	        SYM(entry_set_gid, "archive_entry_set_gid"),
	        SYM(entry_set_mode, "archive_entry_set_mode"),
	        SYM(entry_set_mtime, "archive_entry_set_mtime"),
	        SYM(entry_set_pathname, "archive_entry_set_pathname"),
	        SYM(entry_set_perm, "archive_entry_set_perm"),
	        SYM(entry_set_rdevmajor, "archive_entry_set_rdevmajor"),
	        SYM(entry_set_rdevminor, "archive_entry_set_rdevminor"),
	        SYM(entry_set_size, "archive_entry_set_size"),
	        SYM(entry_set_uid, "archive_entry_set_uid"),
	        SYM(entry_size, "archive_entry_size"),
	        SYM(entry_sparse_count, "archive_entry_sparse_count"),
	        SYM(entry_symlink, "archive_entry_symlink"),
	        SYM(entry_uid, "archive_entry_uid"),
	        SYM(entry_xattr_add_entry, "archive_entry_xattr_add_entry"),
	        SYM(entry_xattr_next, "archive_entry_xattr_next"),
	        SYM(entry_xattr_reset, "archive_entry_xattr_reset"),
	        SYM(error_string, "archive_error_string"),
	        SYM(read_data, "archive_read_data"),
	        SYM(read_data_block, "archive_read_data_block"),
	        SYM(read_free, "archive_read_free"),
	        SYM(read_new, "archive_read_new"),
	        SYM(read_next_header, "archive_read_next_header"),
	        SYM(read_next_header2, "archive_read_next_header2"),
	        SYM(read_open, "archive_read_open"),
	        SYM(read_open_fd, "archive_read_open_fd"),
	        SYM(read_support_filter_bzip2, "archive_read_support_filter_bzip2"),
	        SYM(read_support_filter_gzip, "archive_read_support_filter_gzip"),
	        SYM(read_support_filter_xz, "archive_read_support_filter_xz"),
	        SYM(read_support_filter_zstd, "archive_read_support_filter_zstd"),
	        SYM(read_support_format_raw, "archive_read_support_format_raw"),
	        SYM(read_support_format_tar, "archive_read_support_format_tar"),
	        SYM(version_details, "archive_version_details"),
	        SYM(write_add_filter_none, "archive_write_add_filter_none"),
	        SYM(write_close, "archive_write_close"),
	        SYM(write_data, "archive_write_data"),
	        SYM(write_disk_new, "archive_write_disk_new"),
	        SYM(write_disk_set_options, "archive_write_disk_set_options"),
	        SYM(write_free, "archive_write_free"),
	        SYM(write_header, "archive_write_header"),
	        SYM(write_new, "archive_write_new"),
	        SYM(write_open2, "archive_write_open2"),
	        SYM(write_open_fd, "archive_write_open_fd"),
	        SYM(write_set_bytes_in_last_block, "archive_write_set_bytes_in_last_block"),
	        SYM(write_set_format_option, "archive_write_set_format_option"),
	        SYM(write_set_format_pax_restricted, "archive_write_set_format_pax_restricted"),
	        SYM(write_set_format_ustar, "archive_write_set_format_ustar"),
	};
	void *h = dlopen("libarchive.so.13", RTLD_NOW | RTLD_LOCAL);

	if (!h) {
		(void)snprintf(load_error, sizeof(load_error), "cannot load libarchive: %s",
		               dlerror());
		return;
	}
	for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
		/* POSIX: a data pointer from dlsym may be converted to a function pointer */
		*syms[i].slot = dlsym(h, syms[i].name);
		if (!*syms[i].slot) {
			(void)snprintf(load_error, sizeof(load_error), "libarchive lacks %s",
			               syms[i].name);
			return;
		}
	}
}

int st_libarchive_load(struct st_error *err)
{
	(void)pthread_once(&once, load);
	if (load_error[0])
		return st_error_set(err, ST_EUNSUPPORTED, "%s", load_error);
	return 0;
}

const struct st_libarchive_api *st_libarchive_api(void)
{
	return st_libarchive_load(NULL) == 0 ? &st_libarchive : NULL;
}
