# DIABLO (mixOmics block.splsda) on one train/test split of benchmarks/peers.py.
#
# Usage: Rscript peer_diablo.R FOLDER SEED MAX_NCOMP FOLDS PERF_REPEATS TUNE_REPEATS GRID
#
# FOLDER holds blocks.txt (block names, one a line), levels.txt (class levels, one a line),
# train_<block>.csv and test_<block>.csv (one row per subject, one column per feature, already
# z-scored on the training subjects) and y.csv (column "y": the training labels).
# GRID is the keepX grid, comma separated (each value is capped at the block's width).
#
# Steps, all on the training subjects only:
#   1. design: every pair of blocks linked with 0.1, 0 on the diagonal;
#   2. ncomp: perf() of block.splsda with MAX_NCOMP components and every feature, Mfold CV
#      (FOLDS folds, PERF_REPEATS repeats), mixOmics' own choice for the overall BER of the
#      weighted vote with centroids.dist (its t-test rule needs at least 3 repeats);
#   3. keepX: tune.block.splsda at that ncomp over GRID per block, Mfold CV (FOLDS folds,
#      TUNE_REPEATS repeats), dist = "centroids.dist";
#   4. the final block.splsda with that ncomp and keepX predicts the test subjects.
#
# Writes FOLDER/scores.csv: one row per test subject, one column per class level holding the
# blocks' predicted values at the chosen ncomp averaged with the block weights (negative
# weights set to 0), and "vote", DIABLO's weighted vote with centroids.dist at that ncomp.
# Writes FOLDER/meta.csv: the chosen ncomp, keepX per block and component, block weights.

args <- commandArgs(trailingOnly = TRUE)
folder <- args[1]
seed <- as.integer(args[2])
max_ncomp <- as.integer(args[3])
folds <- as.integer(args[4])
perf_repeats <- as.integer(args[5])
tune_repeats <- as.integer(args[6])
grid <- as.integer(strsplit(args[7], ",", fixed = TRUE)[[1]])

suppressPackageStartupMessages(library(mixOmics))
set.seed(seed)
serial <- BiocParallel::SerialParam()

read_block <- function(part, block) {
  as.matrix(read.csv(file.path(folder, sprintf("%s_%s.csv", part, block))))
}

blocks <- readLines(file.path(folder, "blocks.txt"))
levels_y <- readLines(file.path(folder, "levels.txt"))
train <- setNames(lapply(blocks, function(b) read_block("train", b)), blocks)
test <- setNames(lapply(blocks, function(b) read_block("test", b)), blocks)
y <- factor(read.csv(file.path(folder, "y.csv"), colClasses = "character")$y,
            levels = levels_y)

design <- matrix(0.1, length(blocks), length(blocks), dimnames = list(blocks, blocks))
diag(design) <- 0

# 1-2. number of components by mixOmics' perf rule
full <- block.splsda(train, y, ncomp = max_ncomp, design = design)
checked <- perf(full, validation = "Mfold", folds = folds, nrepeat = perf_repeats,
                dist = "centroids.dist", BPPARAM = serial, seed = seed)
ncomp <- checked$choice.ncomp$WeightedVote["Overall.BER", "centroids.dist"]
if (is.null(ncomp) || is.na(ncomp)) ncomp <- 1
ncomp <- as.integer(ncomp)

# 3. keepX per block, tuned at that ncomp
grid_of <- function(block) sort(unique(pmin(grid, ncol(block))))
tuned <- tune.block.splsda(train, y, ncomp = ncomp,
                           test.keepX = lapply(train, grid_of), design = design,
                           validation = "Mfold", folds = folds, nrepeat = tune_repeats,
                           dist = "centroids.dist", BPPARAM = serial, seed = seed)
keepX <- tuned$choice.keepX

# 4. final model and prediction of the test subjects
final <- block.splsda(train, y, ncomp = ncomp, keepX = keepX, design = design)
pred <- predict(final, newdata = test, dist = "centroids.dist")
weights <- rowMeans(as.matrix(final$weights))[blocks]
used <- pmax(weights, 0)
if (sum(used) == 0) used[] <- 1
n_test <- nrow(test[[1]])
at_ncomp <- function(block) {
  matrix(pred$predict[[block]][, , ncomp], nrow = n_test, dimnames = list(NULL, levels_y))
}
scores <- Reduce(`+`, Map(function(b, w) w * at_ncomp(b), blocks, used)) / sum(used)
out <- data.frame(scores, check.names = FALSE)
out$vote <- as.character(pred$WeightedVote$centroids.dist[, ncomp])
write.csv(out, file.path(folder, "scores.csv"), row.names = FALSE)

meta <- data.frame(
  key = c("ncomp", paste0("keepX.", blocks), paste0("weight.", blocks)),
  value = c(ncomp, vapply(blocks, function(b) paste(keepX[[b]], collapse = "/"), ""),
            sprintf("%.3f", weights)))
write.csv(meta, file.path(folder, "meta.csv"), row.names = FALSE)
