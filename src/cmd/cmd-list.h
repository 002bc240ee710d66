/* cmd-list.h: declarations of the verbs; one line each (kept apart to keep merges simple). */
int cmd_gc(int argc, char **argv);
int cmd_fsck(int argc, char **argv);
int cmd_dockerfile(int argc, char **argv);
int cmd_images(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_history(int argc, char **argv);
int cmd_tag(int argc, char **argv);
int cmd_rmi(int argc, char **argv);
int cmd_image(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_save(int argc, char **argv);
int cmd_load(int argc, char **argv);
int cmd_unpack(int argc, char **argv);
