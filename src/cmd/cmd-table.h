/* cmd-table.h: the dispatch table's entries, one line per verb, included by main.c. */
