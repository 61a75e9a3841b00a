/* cmd_eval.c - placeholder until the command lands. */
#include "cli/cli.h"

int cmd_eval(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_error("eval", "not built yet");
    return 1;
}
