/* cmd-version.c: `strata version`. */
#include "cmd.h"

#include <stdio.h>

#include "layer/archive-api.h"

int cmd_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("strata %s\n%s\n", STRATA_VERSION, archive_version_details());
	return 0;
}
