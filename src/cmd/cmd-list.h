/* cmd-list.h: declarations of the verbs; one line each (kept apart to keep merges simple). */
