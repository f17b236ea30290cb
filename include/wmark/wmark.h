/// \file
/// Everything a user of wmark needs, in one include. Heavier to compile than the
/// one-concept headers it gathers; include those directly where build time matters.
#pragma once

#include "wmark/data/catalog.h"
#include "wmark/data/dataset.h"
#include "wmark/data/subset.h"
#include "wmark/models/checkpoint.h"
#include "wmark/models/load_network.h"
#include "wmark/models/module_adapter.h"
#include "wmark/models/network.h"
#include "wmark/models/registry.h"
#include "wmark/train/evaluate.h"
#include "wmark/train/trainer.h"
#include "wmark/util/error.h"
#include "wmark/util/runtime.h"
#include "wmark/verify/classifier.h"
#include "wmark/verify/sandboxed_classifier.h"
#include "wmark/verify/verifier.h"
#include "wmark/watermark/embed.h"
#include "wmark/watermark/embedder.h"
#include "wmark/watermark/key.h"
#include "wmark/watermark/output_keys.h"
#include "wmark/watermark/save_marked.h"
#include "wmark/watermark/whitebox/deepsigns.h"
#include "wmark/watermark/whitebox/uchida.h"
