/* The public header must compile alone, warning-free, as C99, C11 and C++. */
#include <mlpnet/mlpnet.h>

int main(void)
{
    return mlp_status_str(MLP_STATUS_OK)[0] == 's' ? 0 : 1;
}
