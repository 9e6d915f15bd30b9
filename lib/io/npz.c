/* placeholder until the model-file work lands */
typedef int mlp__placeholder_t;
