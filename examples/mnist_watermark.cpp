// Zhang et al.'s MNIST experiment: a clean mnist_cnn and one watermarked per trigger
// generator, verified against each key. Exit 0 when every watermark verifies and the
// clean model is never claimed. Full MNIST, 2 epochs: a few minutes on 2 cores.
#include "watermark_table.h"

int main(int argc, char** argv) { return example::run_watermark_table("mnist", argc, argv); }
