/* cmd-list.h: declarations of the verbs; one line each (kept apart to keep merges simple). */
int cmd_gc(int argc, char **argv);
int cmd_fsck(int argc, char **argv);
