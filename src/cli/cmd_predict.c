/* cmd_predict.c - placeholder until the command lands. */
#include "cli/cli.h"

int cmd_predict(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_error("predict", "not built yet");
    return 1;
}
