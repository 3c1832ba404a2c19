# Reference implementation of the PheWAS R package's createPhenotypes() semantics (phecode 1.2),
# written from its documentation in base R only (the PheWAS package is not installable here).
# Semantics reproduced:
#   1. map (vocabulary_id, code) to phecodes with phecode_map (ICD9CM/ICD10CM) and, for WHO ICD-10,
#      phecode_map_icd10; roll up with phecode_rollup_map (code -> phecode_unrolled);
#   2. count = number of distinct index dates per id x phecode;
#   3. exclusions: every phecode a person has (count > 0) adds count -1 to each phecode `code`
#      whose exclusion_criteria it is; per id x phecode the maximum count is kept;
#   4. count >= min.code.count -> TRUE (case); otherwise (0 < count < min or -1) -> NA (excluded);
#      absent -> FALSE (control) for every id in the full population;
#   5. restrictPhecodesBySex: male-only phecodes are NA for non-males, female-only for non-females.
# Usage: Rscript create_phenotypes.R conditions.csv persons.csv maps_dir min_code_count out.csv
args <- commandArgs(trailingOnly = TRUE)
cond <- read.csv(args[1], colClasses = "character", na.strings = "")
pers <- read.csv(args[2], colClasses = "character", na.strings = "")
maps <- args[3]
min_count <- as.integer(args[4])
out <- args[5]

rd <- function(f) {
  p <- file.path(maps, f)
  if (!file.exists(p)) p <- paste0(p, ".gz") # the shipped maps are gzip-compressed; R reads both
  read.csv(p, colClasses = "character", na.strings = character(0))
}
vm <- rbind(rd("phecode_map.csv")[, c("vocabulary_id", "code", "phecode")],
            rd("phecode_map_icd10.csv")[, c("vocabulary_id", "code", "phecode")])
vm <- vm[vm$phecode != "", ]
roll <- rd("phecode_rollup_map.csv")
excl <- rd("phecode_exclude.csv")
sexr <- rd("sex_restriction.csv")
info <- rd("pheinfo.csv")

cond <- cond[!is.na(cond$date), ]
x <- merge(cond, vm, by.x = c("vocabulary", "code"), by.y = c("vocabulary_id", "code"))
x <- merge(x, roll, by.x = "phecode", by.y = "code")
x <- unique(data.frame(id = x$person_id, phecode = x$phecode_unrolled, date = x$date, stringsAsFactors = FALSE))
cnt <- aggregate(date ~ id + phecode, data = x, FUN = length)
names(cnt)[3] <- "count"

ex <- merge(unique(cnt[, c("id", "phecode")]), excl, by.x = "phecode", by.y = "exclusion_criteria")
ex <- unique(data.frame(id = ex$id, phecode = ex$code, count = -1, stringsAsFactors = FALSE))
all <- rbind(cnt, ex)
all <- aggregate(count ~ id + phecode, data = all, FUN = max)

ids <- unique(pers$person_id)
phecodes <- unique(info$phecode)
status <- matrix("control", nrow = length(ids), ncol = length(phecodes), dimnames = list(ids, phecodes))
all <- all[all$id %in% ids & all$phecode %in% phecodes, ]
status[cbind(all$id, all$phecode)] <- ifelse(all$count >= min_count, "case", "excluded")

male_only <- intersect(sexr$phecode[toupper(sexr$male_only) == "TRUE"], phecodes)
female_only <- intersect(sexr$phecode[toupper(sexr$female_only) == "TRUE"], phecodes)
sex <- pers$sex[match(ids, pers$person_id)]
not_m <- is.na(sex) | sex != "M"
not_f <- is.na(sex) | sex != "F"
status[not_m, male_only] <- "excluded"
status[not_f, female_only] <- "excluded"

idx <- which(status != "control", arr.ind = TRUE)
res <- data.frame(person_id = ids[idx[, 1]], phecode = phecodes[idx[, 2]], status = status[idx],
                  stringsAsFactors = FALSE)
res <- res[order(res$phecode, res$person_id), ]
write.csv(res, out, row.names = FALSE)
