// Zhang et al.'s CIFAR-10 experiment with cifar_cnn. The full recipe (30 epochs of
// 50,000 images, four models) takes hours on 2 CPU cores; --subset and --epochs give
// shorter runs (docs/results.md lists measured times).
#include "watermark_table.h"

int main(int argc, char** argv) { return example::run_watermark_table("cifar10", argc, argv); }
