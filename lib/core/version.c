/* Runtime version of the loaded library. */
#include "core.h"

const char *mlp_version_string(void)
{
    return MLPNET_VERSION_STRING;
}

int mlp_version_number(void)
{
    return MLPNET_VERSION_NUMBER;
}
