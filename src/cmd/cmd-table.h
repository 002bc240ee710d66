/* cmd-table.h: the dispatch table's entries, one line per verb, included by main.c. */
	{"gc", cmd_gc, "remove unreferenced blobs"},
	{"fsck", cmd_fsck, "verify every blob and reference in the store"},
