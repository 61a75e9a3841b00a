/* cmd_download.c - placeholder until the command lands. */
#include "cli/cli.h"

int cmd_download(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_error("download", "not built yet");
    return 1;
}
